"""Registry-scale data on Dask: the firm-year tables partitioned by firm.

``read_dataset(path, engine="dask")`` reads a folder of Parquet files in the data
contract's layout (one file, or one folder of files, per table) into a
:class:`PartitionedDataset`: ``financials``, ``grants`` and ``equity`` become Dask
DataFrames whose partition *i* holds every row of exactly the firms whose bucket
(a stable hash of the firm code, modulo the number of partitions) is *i*, in all three
tables alike; ``firms`` and ``designations`` stay in memory (one row per firm or award).

Because a firm never spans two partitions, everything the measures need of a firm —
its grants and their allocation over later years, its debt of the previous year — is in
its own partition, and each partition is validated and measured by the same in-memory
code as a whole dataset (:func:`validate_dataset`, :func:`support_flows`). The checks
that in memory look across rows (duplicate firm-years, grants of firms that are not in
the firms table) are therefore exact per partition; their findings are gathered into
one quality log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .dataset import Dataset
from .quality import QualityLog
from .spec import TABLES

__all__ = ["PartitionedDataset", "read_partitioned", "bucket_of", "PARTITIONED_TABLES"]

#: the tables kept on Dask, partitioned by firm
PARTITIONED_TABLES = ("financials", "grants", "equity", "land")
#: small tables every partition gets whole
WHOLE_TABLES = ("firms", "designations", "land_benchmarks")


def bucket_of(firm_id: pd.Series, n: int) -> np.ndarray:
    """Partition of each firm code: a stable 64-bit hash of the text code, modulo ``n``
    (the same on every machine and in every run)."""
    h = pd.util.hash_pandas_object(firm_id.astype("string"), index=False).to_numpy()
    return (h % np.uint64(n)).astype(np.int64)


def _require_dask():
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ConfigError("engine='dask' needs Dask: pip install \"finsupport[dask]\"") from None
    return dd


@dataclass
class PartitionedDataset:
    """The data contract's tables with the firm-year tables on Dask, partitioned by firm.

    Use it wherever a :class:`Dataset` goes into :func:`finsupport.support_flows` and
    :func:`finsupport.support_share`; :meth:`compute` gives the in-memory
    :class:`Dataset` (for the run, the audit and the estimators).
    """

    firms: pd.DataFrame | None
    designations: pd.DataFrame | None
    financials: Any = None
    grants: Any = None
    equity: Any = None
    land: Any = None
    land_benchmarks: pd.DataFrame | None = None
    npartitions: int = 1
    #: partitions are the input files (a firm's rows in the same file name of every table),
    #: not hash buckets of a shuffle
    by_file: bool = False
    #: every partition passes the in-memory checks when it is used (their findings were
    #: gathered into ``quality`` when the data were read)
    validated: bool = False
    #: one firm's validated rows: the layout that measures produce on every partition
    sample: Dataset | None = None
    #: the validated partitions, persisted (in the workers' memory, spilled to disk when
    #: short) so that measuring does not read, shuffle and check the files again
    _validated_parts: list | None = field(default=None, repr=False)
    provenance: dict[str, Any] = field(default_factory=dict)
    quality: QualityLog = field(default_factory=QualityLog)

    def partitions(self) -> list:
        """One delayed :class:`Dataset` per partition (the firm-year tables of its firms, and
        those firms' rows of ``firms``; ``designations`` whole)."""
        import dask

        if self._validated_parts is not None:
            return list(self._validated_parts)

        parts = {t: (getattr(self, t).to_delayed() if getattr(self, t) is not None else [None] * self.npartitions)
                 for t in PARTITIONED_TABLES}
        return [dask.delayed(_part_dataset)(i, self.npartitions, self.firms, self.designations,
                                            parts["financials"][i], parts["grants"][i], parts["equity"][i],
                                            parts["land"][i], self.land_benchmarks, self.validated, self.by_file)
                for i in range(self.npartitions)]

    def compute(self, **kwargs) -> Dataset:
        """All tables in memory, as one :class:`Dataset` (validated per partition already)."""
        import dask

        parts = dask.compute(self.partitions(), **kwargs)[0]
        tabs = {t: pd.concat([getattr(p, t) for p in parts], ignore_index=True)
                for t in PARTITIONED_TABLES if getattr(self, t) is not None}
        return Dataset(firms=self.firms, designations=self.designations, land_benchmarks=self.land_benchmarks, **tabs,
                       provenance=dict(self.provenance), quality=self.quality, validate=False)

    def tables(self) -> dict[str, Any]:
        return {t: getattr(self, t) for t in ("firms", *PARTITIONED_TABLES, "designations", "land_benchmarks")
                if getattr(self, t) is not None}

    def __repr__(self) -> str:
        return (f"PartitionedDataset({self.npartitions} partitions by firm; "
                + ", ".join(f"{t}={'dask' if t in PARTITIONED_TABLES else len(df)}" for t, df in self.tables().items())
                + ")")


def _part_dataset(i: int, n: int, firms, designations, fin, grants, equity, land=None, land_benchmarks=None,
                  validated: bool = False, by_file: bool = False) -> Dataset:
    """The in-memory Dataset of partition ``i`` (tables without the bucket index)."""
    def strip(df):
        return None if df is None else df.reset_index(drop=True)

    if firms is None:
        f = None
    elif by_file:   # the firms whose rows this file holds
        ids = pd.concat([d["firm_id"] for d in (fin, grants, equity, land) if d is not None], ignore_index=True)
        f = firms[firms["firm_id"].astype("string").isin(ids.unique())]
    else:
        f = firms[bucket_of(firms["firm_id"], n) == i]
    ds = Dataset(firms=f, financials=strip(fin), grants=strip(grants), equity=strip(equity), land=strip(land),
                 land_benchmarks=land_benchmarks, validate=False)
    if validated:
        from .validate import validate_dataset

        validate_dataset(ds)
    ds.designations = designations
    return ds


def _first_firm(ds: Dataset) -> Dataset | None:
    fin = ds.financials
    if fin is None or not len(fin):
        return None
    f = fin["firm_id"].iloc[0]
    return Dataset(**{t: (df[df["firm_id"] == f] if "firm_id" in df else df) for t, df in ds.tables().items()
                      if t != "designations"},
                   designations=ds.designations, validate=False)


def _parquet_files(src: Path) -> list[Path]:
    """The Parquet files of a table: the file itself, or every file below its folder, sorted."""
    return [src] if src.is_file() else sorted(src.rglob("*.parquet"))


def _table_source(folder: Path, table: str) -> Path | None:
    for p in (folder / f"{table}.parquet", folder / table):
        if p.exists():
            return p
    return None


def read_partitioned(path, *, npartitions: int | None = None, validate: bool = True,
                     persist: bool | None = None) -> PartitionedDataset:
    """Read a folder of Parquet tables in the contract's layout, partitioned by firm.

    Parameters
    ----------
    path : folder
        ``financials.parquet`` or a folder ``financials/`` of Parquet files (likewise
        ``grants``, ``equity``, ``land``: partitioned by firm); ``firms``,
        ``designations`` and ``land_benchmarks`` as Parquet file or folder (given
        whole to every partition).
        When every firm-year table is a folder with the same file names and each firm's
        rows are in one file name of every table (as a registry written by region or by
        firm range), file *k* of every table is partition *k* and nothing is shuffled; a
        firm found in two files is an error. Otherwise rows are moved to partitions by a
        hash of the firm code (a shuffle).
        Columns must carry the contract's names and yuan amounts: export mappings,
        presets and unit conversion are for the in-memory reader (read the export once
        with :func:`finsupport.read_dataset` and write the tables to Parquet).
    npartitions : int, optional
        Number of firm buckets of the shuffle (given, it shuffles a by-file layout too);
        default one per 1,000,000 financials rows (at least the number of input
        partitions of ``financials``).
    validate : bool
        Validate every partition with the in-memory checks (default). Problems raise a
        :class:`DataError` naming the table, column and rows, as in memory.
    persist : bool, optional
        Keep the validated partitions in the workers' memory, so that measuring does not
        read, shuffle and check the files again. Default: when the tables' in-memory size
        (estimated from the Parquet metadata) is at most half the memory of the Dask
        workers (of this machine without a cluster); otherwise every use reads the files
        again, which bounds memory by a few partitions at a time.
    """
    dd = _require_dask()
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(problems=[{"table": "(all)", "message": f"'{folder}' is not a folder",
                                   "hint": "engine='dask' reads a folder of Parquet files, one file or folder per table"}])
    small: dict[str, pd.DataFrame | None] = {}
    for t in WHOLE_TABLES:
        src = _table_source(folder, t)
        small[t] = None if src is None else pd.read_parquet(src)
    files = _aligned_files(folder) if npartitions is None else None
    big: dict[str, Any] = {}
    for t in PARTITIONED_TABLES:
        src = _table_source(folder, t)
        if files is not None and src is not None:
            # already partitioned by firm: file k of every table is partition k, no shuffle
            big[t] = _read_files(src, files, dd)
            _check_layout(t, list(big[t].columns), src)
            continue
        if src is None:
            if t == "financials":
                raise DataError(problems=[{"table": "financials", "message": f"no financials.parquet or financials/ in '{folder}'",
                                           "hint": "write the firm-year table as Parquet in the contract's layout"}])
            continue
        # one input partition per row group (pyarrow writes one per 1,048,576 rows): a file read as
        # one partition would have to be held and split whole by a single worker in the shuffle
        big[t] = dd.read_parquet(str(src), split_row_groups=True)
        _check_layout(t, list(big[t].columns), src)
    for t, df in small.items():
        if df is not None:
            _check_layout(t, list(df.columns), _table_source(folder, t))
    quality = QualityLog()
    if validate and small["designations"] is not None:
        # awards are few and refer to firms of every partition: checked once, against the whole firms table
        from .validate import validate_dataset

        dq = Dataset(firms=small["firms"], designations=small["designations"].copy(), quality=quality, validate=False)
        validate_dataset(dq)
        small["designations"] = dq.designations  # (firm findings recur per partition; the log keeps one)
    n = len(files) if files is not None else npartitions or max(
        big["financials"].npartitions, -(-_nrows(_table_source(folder, "financials")) // 1_000_000))
    for t, df in (big.items() if files is None else ()):
        df = df.assign(firm_id=df["firm_id"].astype("string"))
        df = df.assign(_bucket=df["firm_id"].map_partitions(bucket_of, n, meta=("_bucket", "int64")))
        # divisions 0, 1, …, n: partition i holds bucket i exactly, in every table
        big[t] = df.set_index("_bucket", divisions=list(range(n + 1)), sort=True)
    out = PartitionedDataset(firms=small["firms"], designations=small["designations"],
                             land_benchmarks=small["land_benchmarks"], npartitions=n, by_file=files is not None,
                             provenance={"path": str(folder), "engine": "dask", "partitions": n,
                                         "layout": "by file" if files is not None else "hash of the firm code",
                                         **({"files": files} if files is not None else {})},
                             quality=quality,
                             **big)
    if validate:
        keep = persist if persist is not None else _fits_in_memory(folder)
        out.provenance["persisted"] = keep
        _validate(out, persist=keep)
    return out


#: in-memory bytes of the firm-year tables per byte of Parquet data, uncompressed: 2.7 measured
#: (``fs.simulate``, 50,000 firms × 9 years: ``memory_usage(deep=True)`` over the row groups'
#: ``total_byte_size``; grants 7.9, financials 1.4), with room for the copies made while checking
_MEMORY_PER_PARQUET_BYTE = 4.0


def _fits_in_memory(folder: Path) -> bool:
    """Whether the partitioned tables, in memory, take at most half of the workers' memory."""
    import pyarrow.parquet as pq

    size = 0
    for t in PARTITIONED_TABLES:
        src = _table_source(folder, t)
        if src is None:
            continue
        for f in _parquet_files(src):
            md = pq.ParquetFile(f).metadata
            size += sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
    return size * _MEMORY_PER_PARQUET_BYTE <= 0.5 * _workers_memory()


def _workers_memory() -> float:
    """Memory limit summed over the workers of the current Dask cluster, else this machine's RAM."""
    try:
        from distributed import default_client

        info = default_client().scheduler_info(n_workers=-1)
        limits = [w.get("memory_limit") or 0 for w in info.get("workers", {}).values()]
        if sum(limits):
            return float(sum(limits))
    except (ImportError, ValueError, TypeError):
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _aligned_files(folder: Path) -> list[str] | None:
    """The file names shared by every firm-year table when each is a folder holding the same
    names (``financials/part-000.parquet``, ``grants/part-000.parquet``, …): the writer's
    partitions by firm, used as they are. None for any other layout (rows are then shuffled)."""
    names = {}
    for t in PARTITIONED_TABLES:
        src = _table_source(folder, t)
        if src is None:
            continue
        if src.is_file():
            return None
        names[t] = [p.relative_to(src).as_posix() for p in _parquet_files(src)]
    fin = names.get("financials")
    if not fin or any(v != fin for v in names.values()):
        return None
    return fin


def _read_file(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    return df.assign(firm_id=df["firm_id"].astype("string"))


def _read_files(src: Path, files: list[str], dd):
    """One partition per file, in the order of ``files`` (the same in every table)."""
    import dask
    import pyarrow.parquet as pq

    meta = pq.read_schema(src / files[0]).empty_table().to_pandas()
    meta = meta.assign(firm_id=meta["firm_id"].astype("string"))
    return dd.from_delayed([dask.delayed(_read_file)(src / f) for f in files], meta=meta, verify_meta=False)


def _nrows(src: Path) -> int:
    """Rows of a Parquet file or folder, from the files' metadata (no data read)."""
    import pyarrow.parquet as pq

    files = _parquet_files(src)
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _check_layout(table: str, columns: list[str], src) -> None:
    known = set(TABLES[table].column_names)
    missing = [c for c in TABLES[table].key if c not in columns]
    if missing or not set(columns) & known - {"firm_id", "year"}:
        raise DataError(problems=[{"table": table, "column": ", ".join(missing) or "(all)",
                                   "message": f"'{src}' is not in the data contract's layout (columns {columns[:8]})",
                                   "hint": "engine='dask' reads contract columns in yuan; read exports with "
                                           "fs.read_dataset(path, preset=...) and write each table with to_parquet"}])


def _validate(data: PartitionedDataset, *, persist: bool = True) -> None:
    """Run the in-memory checks on every partition now (a problem raises here, naming its
    rows), gather their findings into one quality log and, with ``persist``, keep the
    checked partitions (without it each later use reads and checks its partition again)."""
    import dask

    checked = [dask.delayed(_checked)(p) for p in data.partitions()]
    if persist:
        checked = list(dask.persist(*checked))
    out = dask.compute([dask.delayed(_findings)(c, data.by_file) for c in checked])[0]
    if data.by_file:
        _check_disjoint([ids for _, _, ids in out], data.provenance.get("files") or [])
    for lg, _, _ in out:
        if len(lg):
            data.quality.append_frame(lg)
    data.sample = next((s for _, s, _ in out if s is not None), None)
    if persist:
        data._validated_parts = [dask.delayed(_dataset_of)(c) for c in checked]
    data.validated = True


def _checked(ds: Dataset) -> Dataset:
    from .validate import validate_dataset

    designations, ds.designations = ds.designations, None  # checked once when read
    validate_dataset(ds)
    ds.designations = designations
    return ds


def _findings(ds: Dataset, by_file: bool = False) -> tuple[pd.DataFrame, Dataset | None, np.ndarray | None]:
    ids = None
    if by_file:   # the firms of this file, to check that no firm is in two files
        ids = pd.concat([d["firm_id"] for d in (ds.financials, ds.grants, ds.equity, ds.land) if d is not None],
                        ignore_index=True).astype(str).unique()
    return ds.quality.to_frame(), _first_firm(ds), ids


def _check_disjoint(ids: list, files: list[str]) -> None:
    """A firm in two files of a by-file layout would be measured twice, half in each: refuse."""
    s = pd.Series(np.concatenate(ids) if ids else np.array([], dtype=object))
    part = np.repeat(np.arange(len(ids)), [len(x) for x in ids])
    dup = s.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    names = [files[k] if k < len(files) else f"partition {k}" for k in part[dup]]
    shown = pd.DataFrame({"firm_id": s[dup].to_numpy(), "file": names}).groupby("firm_id", sort=True)["file"]
    examples = "; ".join(f"{f}: {', '.join(v)}" for f, v in list(shown)[:5])
    raise DataError(problems=[{"table": "financials, grants, equity, land", "column": "firm_id",
                               "message": f"{shown.ngroups} firm(s) have rows in more than one file of the "
                                          f"tables' folders (e.g. {examples})",
                               "hint": "write each firm's rows into one file name in every table folder, or read "
                                       "with npartitions=N to move rows to their firm's partition (a shuffle)"}])


def _dataset_of(ds: Dataset) -> Dataset:
    """The checked partition with a fresh quality log (its findings are in the dataset's log)."""
    return Dataset(**ds.tables(), validate=False)


def partitioned_flows(data: PartitionedDataset, **options):
    """:func:`support_flows` on every partition: a Dask DataFrame of firm-year flows.

    Each partition's flows depend only on its own firms' rows and the benchmark rates,
    so the result equals the in-memory flows row for row (partition order, not sorted).
    """
    import dask
    import dask.dataframe as dd

    from ..measure.flows import support_flows

    if data.sample is None and not data.validated:
        _validate(data)
    if data.sample is None:
        raise DataError(problems=[{"table": "financials", "message": "no rows to measure in any partition",
                                   "hint": "provide at least one firm-year with revenue"}])
    meta = support_flows(_copy(data.sample), **options).iloc[:0]
    parts = [dask.delayed(_flows_of)(p, options, meta) for p in data.partitions()]
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _copy(ds: Dataset) -> Dataset:
    return Dataset(**ds.tables(), validate=False)


def _flows_of(ds: Dataset, options: dict, meta: pd.DataFrame):
    from ..measure.flows import support_flows

    if ds.financials is None or not len(ds.financials):
        return meta  # a bucket that no firm fell into
    return support_flows(ds, **options)


def partitioned_share(flows, *, by, years, firms, status, components) -> pd.DataFrame:
    """:func:`support_share` of partitioned flows, reduced across partitions.

    Each partition gives, per group and firm, the sums of every component and of revenue
    and its firm-year count, and the count of firm-years without positive revenue per
    group; firms never span partitions, so concatenating these is exact and small (one
    row per firm and group). The shares, firm means and medians are then taken as in
    memory; sums over partitions differ from the in-memory sums only by rounding order.
    """
    import dask

    from ..measure.shares import SHARE_COLUMNS

    by = [by] if isinstance(by, str) else list(by or [])
    firm_set = None if firms is None else pd.Index(list(firms)).astype(str)
    parts = dask.compute([dask.delayed(_firm_sums)(p, by, years, firm_set, status, tuple(components))
                          for p in flows.to_delayed()])[0]
    fs_ = pd.concat([p[0] for p in parts], ignore_index=True)
    exc = pd.concat([p[1] for p in parts], ignore_index=True)
    rows = []
    for comp in components:
        ratio = fs_[comp] / fs_["revenue"]
        if by:
            g = fs_.assign(_r=ratio).groupby(by, sort=True, dropna=False)
            res = pd.DataFrame({"pooled_share": g[comp].sum() / g["revenue"].sum(), "mean_firm_share": g["_r"].mean(),
                                "median_firm_share": g["_r"].median(), "amount": g[comp].sum(),
                                "revenue": g["revenue"].sum(), "n_firms": g.size(), "n_firm_years": g["_n"].sum()})
            res.insert(0, "component", comp)
            rows.append(res.reset_index())
        else:
            amt, rev = fs_[comp].sum(), fs_["revenue"].sum()
            rows.append(pd.DataFrame([{"component": comp, "pooled_share": amt / rev if rev > 0 else np.nan,
                                       "mean_firm_share": ratio.mean(), "median_firm_share": ratio.median(),
                                       "amount": amt, "revenue": rev, "n_firms": len(fs_),
                                       "n_firm_years": int(fs_["_n"].sum())}]))
    out = pd.concat(rows, ignore_index=True)
    if by:
        e = exc.groupby(by, dropna=False)["n_excluded_firm_years"].sum().reset_index() if len(exc) else \
            pd.DataFrame(columns=[*by, "n_excluded_firm_years"])
        out = out.merge(e, on=by, how="left")
        out["n_excluded_firm_years"] = out["n_excluded_firm_years"].fillna(0).astype(np.int64)
    else:
        out["n_excluded_firm_years"] = int(exc["n_excluded_firm_years"].sum()) if len(exc) else 0
    out["n_firms"] = out["n_firms"].astype(np.int64)
    out["n_firm_years"] = out["n_firm_years"].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    out.attrs["partitions"] = len(parts)
    return out


def _firm_sums(df: pd.DataFrame, by: list[str], years, firms, status, components) -> tuple[pd.DataFrame, pd.DataFrame]:
    if status is not None:
        extra = [c for c in status.columns if c not in df.columns or c in ("firm_id", "year")]
        df = df.merge(status[extra], on=["firm_id", "year"], how="left")
    if years is not None:
        df = df[df["year"].between(years[0], years[1])] if isinstance(years, tuple) and len(years) == 2 \
            else df[df["year"].isin(list(years))]
    if firms is not None:
        df = df[df["firm_id"].isin(firms)]
    valid = df["revenue"].to_numpy(dtype=float) > 0
    if by:
        exc = df.loc[~valid, by].value_counts(dropna=False).rename("n_excluded_firm_years").reset_index()
    else:
        exc = pd.DataFrame({"n_excluded_firm_years": [int((~valid).sum())]})
    d = df[valid]
    g = d.groupby([*by, "firm_id"], sort=False, dropna=False)
    sums = g[[*components, "revenue"]].sum()
    sums["_n"] = g.size()
    return sums.reset_index(), exc
