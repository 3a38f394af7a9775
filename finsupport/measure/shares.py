"""Aggregation of support flows into shares of revenue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..data.validate import isin_values
from ..errors import DataError
from .flows import COMPONENTS

__all__ = ["support_share", "share_components", "with_status", "SHARE_COLUMNS"]

SHARE_COLUMNS = ["component", "pooled_share", "mean_firm_share", "median_firm_share", "amount", "revenue",
                 "n_firms", "n_firm_years", "n_excluded_firm_years"]


def share_components(flows: pd.DataFrame, components: Sequence[str] | None = None, *,
                     extended: bool = False) -> list[str]:
    """The component rows of a shares table: the flows' total components and ``total``, then the extended view."""
    if components is None:
        inner = list(flows.attrs.get("components") or COMPONENTS)
        components = [*inner, "total"]
        if extended and "total_extended" in flows.columns:
            extra = [c for c in flows.attrs.get("all_components", []) if c not in inner and c in flows.columns]
            components += [*extra, "total_extended"]
    return list(components)


def support_share(
    flows: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    years: Iterable[int] | tuple[int, int] | None = None,
    firms: Iterable[str] | None = None,
    status: pd.DataFrame | None = None,
    components: Sequence[str] | None = None,
    extended: bool = False,
) -> pd.DataFrame:
    """Support as a share of revenue, aggregated, with the counts behind each figure.

    For each group (``by``) and component c ∈ {subsidy, equity, debt, total}:

    * ``pooled_share`` = Σ_{i,t} c_it / Σ_{i,t} revenue_it (the aggregate ratio: large
      firms weigh more; this is the figure of the published study's headline);
    * ``mean_firm_share`` and ``median_firm_share`` of the firm ratios
      r_i = Σ_t c_it / Σ_t revenue_it over the firm's years in the group (every firm
      weighs the same);
    * ``amount`` and ``revenue`` (yuan), ``n_firms``, ``n_firm_years``.

    Firm-years with zero, negative or missing revenue have no defined share; they are
    left out of every figure and counted in ``n_excluded_firm_years``.

    Parameters
    ----------
    flows : DataFrame
        Output of :func:`support_flows`.
    by : str or list of str, optional
        Grouping columns of ``flows`` (e.g. ``"year"``, ``"sector"``) or of ``status``
        (e.g. ``"ever"``, ``"active"``, ``"cohort"``). With ``"year"`` the firm ratio is
        the firm-year share.
    years : iterable of int or (first, last), optional
        Years to include; a 2-tuple is an inclusive range.
    firms : iterable of firm codes, optional
        Firms to include.
    status : DataFrame, optional
        Firm-year certification status (``designation_status``), merged on firm and
        year so that ``by`` can name its columns.
    components : sequence of str, optional
        Columns to report; default the components in the flows' total
        (``flows.attrs["components"]``, the study's subsidy, equity, debt when absent)
        and ``total``.
    extended : bool
        Also report the other measured components (of tax, land …) and
        ``total_extended`` (all five components): the extended view beside the
        headline's.

    Returns
    -------
    Tidy DataFrame: the ``by`` columns, then ``SHARE_COLUMNS``; one row per group and
    component. ``attrs["components"]`` lists the component rows in order.
    """
    if type(flows).__module__.startswith("dask"):
        # registry scale: flows of a PartitionedDataset, reduced across firm partitions
        from ..data.partitioned import partitioned_share

        comps = share_components(flows._meta, components, extended=extended)   # the layout's attrs
        out = partitioned_share(flows, by=by, years=years, firms=firms, status=status, components=comps)
        out.attrs["components"] = list(comps)
        return out
    by = [by] if isinstance(by, str) else list(by or [])
    components = share_components(flows, components, extended=extended)
    df = flows if status is None else with_status(flows, status)
    missing = [c for c in [*by, *components, "revenue", "firm_id"] if c not in df.columns]
    if missing:
        raise DataError(problems=[{"table": "flows", "column": c, "message": "column not found",
                                   "hint": "group by a column of the flows table or pass status= (designation_status)"}
                                  for c in missing])
    if years is not None:
        if isinstance(years, tuple) and len(years) == 2:
            df = df[df["year"].between(years[0], years[1])]
        else:
            df = df[df["year"].isin(list(years))]
    if firms is not None:
        df = df[isin_values(df["firm_id"], pd.Index(list(firms)).astype(str))]
    if "firm_id" in by:
        return _shares_by_pandas(df, by, components)
    valid = df["revenue"].to_numpy(dtype=float) > 0
    # integer codes, once: the firm of each row, and its group (groups sorted as groupby sorts them)
    firm = _codes(df["firm_id"])
    group, labels = _group_codes(df, by)
    gv, fv = group[valid], firm[valid]
    n_groups = len(labels)
    # the amounts of the valid rows as one block of columns: one compensated sum over all of them
    cols = [*components, "revenue"]
    block = np.empty((len(cols), int(valid.sum())))   # a column per row: pandas' own layout
    for j, c in enumerate(cols):
        block[j] = df[c].to_numpy(dtype=float)[valid]
    values = pd.DataFrame(block.T, columns=cols, copy=False)
    # Σ over each group's firm: one sum per (group, firm) pair, with pandas' compensated sums
    n_codes = int(firm.max()) + 1 if len(firm) else 1
    firm_sums = values.groupby(gv.astype(np.int64) * n_codes + fv, sort=True).sum()
    pair_group = (firm_sums.index.to_numpy() // n_codes).astype(np.int64)
    ratios = firm_sums[list(components)].div(firm_sums["revenue"], axis=0)
    by_group = ratios.groupby(pair_group, sort=True)
    mean, median = by_group.mean(), by_group.median()
    # each group's sums from its firms' sums (compensated again): the same figures to about 1e-16,
    # from as many rows as there are firms in the groups instead of firm-years
    sums = firm_sums.groupby(pair_group, sort=True).sum()
    present = sums.index.to_numpy()
    n_fy = np.bincount(gv, minlength=n_groups)[present]
    n_f = np.bincount(pair_group, minlength=n_groups)[present]
    n_exc = np.bincount(group[~valid], minlength=n_groups)[present]
    keys = labels.iloc[present].reset_index(drop=True)
    rows = []
    for comp in components:
        amt, rev = sums[comp].to_numpy(), sums["revenue"].to_numpy()
        res = pd.DataFrame({"component": comp,
                            "pooled_share": amt / rev if by else np.where(rev > 0, amt / np.where(rev > 0, rev, 1), np.nan),
                            "mean_firm_share": mean[comp].to_numpy(), "median_firm_share": median[comp].to_numpy(),
                            "amount": amt, "revenue": rev, "n_firms": n_f, "n_firm_years": n_fy,
                            "n_excluded_firm_years": n_exc})
        rows.append(pd.concat([keys, res], axis=1) if by else res)
    if not by and not len(present):  # no valid firm-year: one row per component, as the sums of nothing
        rows = [pd.DataFrame([{"component": comp, "pooled_share": np.nan, "mean_firm_share": np.nan,
                               "median_firm_share": np.nan, "amount": 0.0, "revenue": 0.0, "n_firms": 0,
                               "n_firm_years": 0, "n_excluded_firm_years": int((~valid).sum())}])
                for comp in components]
    out = pd.concat(rows, ignore_index=True)
    for c in ("n_firms", "n_firm_years", "n_excluded_firm_years"):
        out[c] = out[c].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["components"] = list(components)
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    return out


def with_status(flows: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """The flows with the certification-status columns they lack, for grouping share tables.

    Rule: a left join on (``firm_id``, ``year``): every flows row keeps its place and gains the
    status of its firm-year (missing where the status has none). With one status row per
    firm-year it is matched by integer position, otherwise by ``DataFrame.merge``.
    ``support_share(with_status(flows, status), by=…)`` equals
    ``support_share(flows, by=…, status=status)``: attach once for several tables.

    Parameters
    ----------
    flows : DataFrame
        Output of :func:`~finsupport.measure.flows.support_flows`.
    status : DataFrame
        Firm-year status (:func:`~finsupport.certify.status.designation_status`, or a
        subset of its columns with ``firm_id`` and ``year``).

    Returns
    -------
    DataFrame: the rows of ``flows`` in their order, with the columns of ``status`` that
    ``flows`` lacks.
    """
    extra = [c for c in status.columns if c not in flows.columns or c in ("firm_id", "year")]
    return _attach(flows, status[extra])


def _attach(df: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """``df.merge(status, on=["firm_id", "year"], how="left")``, matched on integer codes when the
    status has one row per firm-year (the rows of ``df`` keep their order and number)."""
    key_df, key_st = _firm_year_keys(df, status)
    if key_df is None or pd.Index(key_st).has_duplicates:
        return df.merge(status, on=["firm_id", "year"], how="left")
    cols = [c for c in status.columns if c not in ("firm_id", "year")]
    top = int(max(key_df.max(initial=0), key_st.max(initial=0))) + 1
    if top > 8 * (len(df) + len(status)) + 1024:  # keys too sparse for a table of positions
        add = status[cols].set_axis(pd.Index(key_st)).reindex(pd.Index(key_df))
    else:
        where = np.full(top, -1, dtype=np.int64)
        where[key_st] = np.arange(len(key_st))
        take = where[key_df]
        if (take < 0).any():  # firm-years without a status: missing values, typed as a merge types them
            add = status[cols].set_axis(pd.Index(key_st)).reindex(pd.Index(key_df))
        else:
            add = status[cols].iloc[take]
    return pd.concat([df.reset_index(drop=True), add.reset_index(drop=True)], axis=1)


def _firm_year_keys(df: pd.DataFrame, status: pd.DataFrame):
    """One integer per firm-year in both frames (same firm and year, same integer), or (None, None)."""
    if not (pd.api.types.is_integer_dtype(df["year"]) and pd.api.types.is_integer_dtype(status["year"])):
        return None, None
    if df["year"].isna().any() or status["year"].isna().any():
        return None, None
    if df["firm_id"].isna().any() or status["firm_id"].isna().any():
        return None, None
    codes, uniques = _codes(df["firm_id"], uniques=True)
    # a status firm that is not in df gets its own code (beyond df's), so that no two keys merge
    st = _positions(status["firm_id"], uniques)
    other = st < 0
    if other.any():
        st[other] = len(uniques) + pd.factorize(status["firm_id"][other])[0]
    codes = np.concatenate([codes, st]).astype(np.int64)
    years = np.concatenate([df["year"].to_numpy(dtype=np.int64), status["year"].to_numpy(dtype=np.int64)])
    lo = years.min() if len(years) else 0
    span = int(years.max() - lo + 1) if len(years) else 1
    key = codes * span + (years - lo)
    return key[: len(df)], key[len(df):]


def _positions(s: pd.Series, uniques) -> np.ndarray:
    """Position of each value of ``s`` among ``uniques`` (-1 where absent)."""
    arr = getattr(s.array, "_pa_array", None)
    if not isinstance(uniques, pd.Index):  # a pyarrow array (from _codes)
        import pyarrow.compute as pc

        if arr is not None:
            values = uniques if uniques.type == arr.type else uniques.cast(arr.type)
            return np.asarray(pc.fill_null(pc.index_in(arr, value_set=values), -1), dtype=np.int64)
        uniques = pd.Index(uniques.to_pylist(), dtype=object)
    return pd.Index(uniques).get_indexer(s.astype(object)).astype(np.int64)


def _codes(s: pd.Series, *, uniques: bool = False):
    """Integer codes of the values of ``s`` (equal values, equal codes; no missing values), with pyarrow's
    hash table for pyarrow text; and the distinct values in code order if ``uniques``."""
    arr = getattr(s.array, "_pa_array", None)
    if arr is not None:
        enc = arr.dictionary_encode()
        enc = enc.combine_chunks() if hasattr(enc, "combine_chunks") else enc
        codes = np.asarray(enc.indices, dtype=np.int64)
        return (codes, enc.dictionary) if uniques else codes
    codes, u = pd.factorize(s)
    return (codes.astype(np.int64), pd.Index(u)) if uniques else codes.astype(np.int64)


def _group_codes(df: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's group as an integer, groups numbered in ``groupby(by, sort=True, dropna=False)`` order,
    and the ``by`` values of each group (one row per code)."""
    if not by:
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=range(1))
    codes, uniques = [], []
    for c in by:
        k, u = pd.factorize(df[c], sort=True, use_na_sentinel=False)
        codes.append(k.astype(np.int64))
        uniques.append(u)
    sizes = [max(len(u), 1) for u in uniques]
    flat = np.ravel_multi_index(codes, sizes) if len(by) > 1 else codes[0]
    group, combos = pd.factorize(flat, sort=True)
    parts = np.unravel_index(np.asarray(combos), sizes) if len(by) > 1 else (np.asarray(combos),)
    labels = pd.DataFrame({c: uniques[j].take(parts[j]) for j, c in enumerate(by)})
    return group.astype(np.int64), labels


def _shares_by_pandas(df: pd.DataFrame, by: list[str], components) -> pd.DataFrame:
    """The figures with pandas' groupby on the columns themselves (grouping by firm code)."""
    valid = df["revenue"].to_numpy(dtype=float) > 0
    excluded = df.loc[~valid, by].value_counts(dropna=False)
    d = df[valid]
    firm_keys = list(dict.fromkeys([*by, "firm_id"]))
    firm_sums = d.groupby(firm_keys, sort=True, dropna=False)[[*components, "revenue"]].sum()
    rows = []
    for comp in components:
        ratio = (firm_sums[comp] / firm_sums["revenue"]).rename("r")
        g_ratio = ratio.groupby(level=list(range(len(by))), dropna=False)
        g = d.groupby(by, sort=True, dropna=False)
        amt, rev = g[comp].sum(), g["revenue"].sum()
        res = pd.DataFrame({"pooled_share": amt / rev, "mean_firm_share": g_ratio.mean(),
                            "median_firm_share": g_ratio.median(), "amount": amt, "revenue": rev,
                            "n_firms": g["firm_id"].nunique(), "n_firm_years": g.size()})
        res.insert(0, "component", comp)
        rows.append(res.reset_index())
    out = pd.concat(rows, ignore_index=True)
    out = out.merge(excluded.rename("n_excluded_firm_years").reset_index(), on=by, how="left")
    out["n_excluded_firm_years"] = out["n_excluded_firm_years"].fillna(0).astype(np.int64)
    out["n_firms"] = out["n_firms"].astype(np.int64)
    out["n_firm_years"] = out["n_firm_years"].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["components"] = list(components)
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    return out
