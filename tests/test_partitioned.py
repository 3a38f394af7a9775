"""Registry-scale data on Dask: the partitioned path gives the in-memory numbers and findings."""

from __future__ import annotations

import pandas as pd
import pytest

import finsupport as fs
from finsupport.errors import ConfigError, DataError

dask = pytest.importorskip("dask")
from finsupport.data.partitioned import PartitionedDataset, bucket_of  # noqa: E402


def _write(d, folder):
    folder.mkdir(exist_ok=True)
    for t, df in d.tables().items():
        df.to_parquet(folder / f"{t}.parquet")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _write(fs.simulate(n_firms=600, seed=11), tmp_path_factory.mktemp("pq"))


@pytest.fixture(scope="module")
def both(folder):
    with dask.config.set(scheduler="sync"):
        p = fs.read_dataset(folder, engine="dask", npartitions=3)
    return p, fs.read_dataset(folder)


def _sorted(df):
    return df.sort_values(["firm_id", "year"]).reset_index(drop=True)


@pytest.mark.parametrize("options", [{}, {"subsidy_basis": "cvd", "equity_basis": "grant_equivalent"},
                                     {"subsidy_basis": "straight_line", "benchmark": "lpr_5y", "spread_bp": 50.0},
                                     {"components": ["subsidy", "equity", "debt", "tax", "land"],
                                      "land_allocation": "purchase_year"}])
def test_flows_equal_the_in_memory_flows(both, options):
    p, d = both
    assert isinstance(p, PartitionedDataset) and p.npartitions == 3
    got = fs.support_flows(p, **options)
    assert type(got).__module__.startswith("dask")
    with dask.config.set(scheduler="sync"):
        g = got.compute()
    mem = fs.support_flows(d, **options)
    pd.testing.assert_frame_equal(_sorted(g), _sorted(mem), check_dtype=False, rtol=1e-12)
    # land purchases are partitioned with their firm and the benchmarks go to every partition
    assert p.land is not None and p.land_benchmarks is not None
    assert g["land"].sum() > 0 and g["tax"].sum() > 0


def test_shares_equal_the_in_memory_shares(both):
    p, d = both
    fp, fm = fs.support_flows(p), fs.support_flows(d)
    st = fs.designation_status(d)
    firms = sorted(fm["firm_id"].unique())[:150]
    with dask.config.set(scheduler="sync"):
        for kw in ({}, {"by": "year"}, {"by": ["year", "cohort"], "status": st},
                   {"firms": firms, "years": (2016, 2021)}):
            a, b = fs.support_share(fp, **kw), fs.support_share(fm, **kw)
            pd.testing.assert_frame_equal(a, b, rtol=1e-9, check_dtype=False)


def test_every_firm_is_in_exactly_one_partition_of_every_table(both):
    p, _ = both
    with dask.config.set(scheduler="sync"):
        parts = dask.compute(p.partitions())[0]
    seen: dict[str, int] = {}
    for i, part in enumerate(parts):
        for t in ("financials", "grants", "equity"):
            for f in getattr(part, t)["firm_id"].unique():
                assert seen.setdefault(f, i) == i
    assert len(seen) == 600


def test_bucket_is_a_stable_hash_of_the_code():
    ids = pd.Series(["000001", "600519", "300024", "1"])
    a = bucket_of(ids, 7)
    assert list(a) == list(bucket_of(ids.astype(object), 7))
    assert list(bucket_of(ids[::-1].reset_index(drop=True), 7)) == list(a[::-1])
    assert ((a >= 0) & (a < 7)).all()


def test_findings_and_errors_are_those_of_the_in_memory_path(tmp_path):
    d = fs.simulate(n_firms=200, seed=2)
    fin = d.financials.copy()
    fin.loc[fin.index[:3], "revenue"] = 0.0          # no defined share: counted as excluded by the shares
    grants = d.grants.copy()
    extra = grants.iloc[:2].assign(firm_id="UNKNOWN9")  # grants of a firm that is not in the firms table
    grants = pd.concat([grants, extra], ignore_index=True)
    folder = _write(fs.Dataset(firms=d.firms, financials=fin, grants=grants, equity=d.equity,
                               designations=d.designations, validate=False), tmp_path / "bad")

    def outcome(**kw):
        try:
            data = fs.read_dataset(folder, **kw)
        except DataError as e:
            return "error", sorted(p["message"] for p in e.problems)
        log = data.quality.to_frame()
        return "ok", sorted(map(tuple, log[["table", "issue", "action"]].astype(str).drop_duplicates().to_numpy()))

    with dask.config.set(scheduler="sync"):
        assert outcome(engine="dask", npartitions=4) == outcome()


def test_layouts_the_dask_reader_does_not_take(tmp_path, folder):
    with pytest.raises(ConfigError, match="engine='dask' reads Parquet in the contract's layout"):
        fs.read_dataset(folder, engine="dask", preset="csmar")
    with pytest.raises(ConfigError, match="engine = 'spark'"):
        fs.read_dataset(folder, engine="spark")
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame({"Stkcd": ["000001"], "Accper": ["2019-12-31"], "B001101000": [1.0]}).to_parquet(
        raw / "financials.parquet")
    with pytest.raises(DataError, match="not in the data contract's layout"):
        fs.read_dataset(raw, engine="dask")


def test_without_persisting_every_use_reads_again_and_gives_the_same(folder, both):
    """Data larger than the workers' memory are not kept after checking (persist=False, chosen
    automatically from the Parquet metadata): measures then read and check each partition
    again, with the same flows and the same quality log."""
    from finsupport.data.partitioned import _fits_in_memory, read_partitioned

    p, _ = both
    assert _fits_in_memory(folder) and p.provenance["persisted"] is True
    q = read_partitioned(folder, npartitions=3, persist=False)
    assert q.provenance["persisted"] is False and q._validated_parts is None
    with dask.config.set(scheduler="sync"):
        a, b = fs.support_flows(p).compute(), fs.support_flows(q).compute()
    pd.testing.assert_frame_equal(_sorted(a), _sorted(b))
    pd.testing.assert_frame_equal(p.quality.to_frame(), q.quality.to_frame())


def _write_by_file(d, folder, groups, *, move=None):
    """Each firm-year table as a folder of files, firm group k in part-k of every table;
    ``move`` = (firm, k): that firm's financials rows go to file k instead (a broken layout)."""
    folder.mkdir(exist_ok=True)
    firms = sorted(d.financials["firm_id"].unique())
    group = {f: i % groups for i, f in enumerate(firms)}
    for t, df in d.tables().items():
        if t in ("financials", "grants", "equity", "land"):
            (folder / t).mkdir(exist_ok=True)
            g = df["firm_id"].map(group)
            if move is not None and t == "financials":
                g = g.where(df["firm_id"] != move[0], move[1])
            for k in range(groups):
                df[g == k].reset_index(drop=True).to_parquet(folder / t / f"part-{k}.parquet")
        else:
            df.to_parquet(folder / f"{t}.parquet")
    return folder


def test_a_layout_already_by_firm_is_read_without_a_shuffle(tmp_path):
    d = fs.simulate(n_firms=400, seed=5)
    folder = _write_by_file(d, tmp_path / "byfile", 4)
    mem = fs.read_dataset(_write(d, tmp_path / "flat"))
    with dask.config.set(scheduler="sync"):
        p = fs.read_dataset(folder, engine="dask")
        assert p.by_file and p.npartitions == 4 and p.provenance["layout"] == "by file"
        # no shuffle in the graph: each partition is one file read
        assert not any("shuffle" in str(k) for k in dict(p.financials.dask).keys())
        got = fs.support_flows(p, components=["subsidy", "equity", "debt", "tax", "land"]).compute()
        shares = fs.support_share(fs.support_flows(p), by="year")
    want = fs.support_flows(mem, components=["subsidy", "equity", "debt", "tax", "land"])
    pd.testing.assert_frame_equal(_sorted(got), _sorted(want), check_dtype=False, rtol=1e-12)
    pd.testing.assert_frame_equal(shares, fs.support_share(fs.support_flows(mem), by="year"), rtol=1e-9,
                                  check_dtype=False)
    # asking for a number of partitions shuffles instead, with the same result
    with dask.config.set(scheduler="sync"):
        q = fs.read_dataset(folder, engine="dask", npartitions=3)
        assert not q.by_file
        pd.testing.assert_frame_equal(_sorted(fs.support_flows(q).compute()), _sorted(fs.support_flows(mem)),
                                      check_dtype=False, rtol=1e-12)


def test_a_firm_in_two_files_is_refused(tmp_path):
    d = fs.simulate(n_firms=200, seed=6)
    firm = sorted(d.financials["firm_id"].unique())[0]    # group 0; its financials go to part-1
    folder = _write_by_file(d, tmp_path / "broken", 2, move=(firm, 1))
    with dask.config.set(scheduler="sync"), pytest.raises(DataError, match=r"more than one file") as e:
        fs.read_dataset(folder, engine="dask")
    assert firm in str(e.value) and "part-0.parquet" in str(e.value) and "npartitions" in str(e.value)
