"""Aggregation of support flows into shares of revenue."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from .flows import COMPONENTS

__all__ = ["support_share", "SHARE_COLUMNS"]

SHARE_COLUMNS = ["component", "pooled_share", "mean_firm_share", "median_firm_share", "amount", "revenue",
                 "n_firms", "n_firm_years", "n_excluded_firm_years"]


def support_share(
    flows: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    years: Iterable[int] | tuple[int, int] | None = None,
    firms: Iterable[str] | None = None,
    status: pd.DataFrame | None = None,
    components: Sequence[str] = (*COMPONENTS, "total"),
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
    components : sequence of str
        Components to report (default: subsidy, equity, debt, total).

    Returns
    -------
    Tidy DataFrame: the ``by`` columns, then ``SHARE_COLUMNS``; one row per group and
    component.
    """
    if type(flows).__module__.startswith("dask"):
        # registry scale: flows of a PartitionedDataset, reduced across firm partitions
        from ..data.partitioned import partitioned_share

        return partitioned_share(flows, by=by, years=years, firms=firms, status=status, components=components)
    by = [by] if isinstance(by, str) else list(by or [])
    df = flows
    if status is not None:
        extra = [c for c in status.columns if c not in df.columns or c in ("firm_id", "year")]
        df = df.merge(status[extra], on=["firm_id", "year"], how="left")
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
        df = df[df["firm_id"].isin(pd.Index(list(firms)).astype(str))]
    valid = df["revenue"].to_numpy(dtype=float) > 0
    excluded = df.loc[~valid, by].value_counts(dropna=False) if by else pd.Series([int((~valid).sum())])
    d = df[valid]
    keys = by if by else None
    rows = []
    firm_keys = [*by, "firm_id"]
    firm_sums = d.groupby(firm_keys, sort=True, dropna=False)[[*components, "revenue"]].sum()
    for comp in components:
        ratio = (firm_sums[comp] / firm_sums["revenue"]).rename("r")
        if keys:
            g_ratio = ratio.groupby(level=list(range(len(by))), dropna=False)
            mean, median = g_ratio.mean(), g_ratio.median()
            g = d.groupby(keys, sort=True, dropna=False)
            amt, rev = g[comp].sum(), g["revenue"].sum()
            nf, nfy = g["firm_id"].nunique(), g.size()
            res = pd.DataFrame({"pooled_share": amt / rev, "mean_firm_share": mean, "median_firm_share": median,
                                "amount": amt, "revenue": rev, "n_firms": nf, "n_firm_years": nfy})
            res.insert(0, "component", comp)
            rows.append(res.reset_index())
        else:
            amt, rev = d[comp].sum(), d["revenue"].sum()
            rows.append(pd.DataFrame([{"component": comp, "pooled_share": amt / rev if rev > 0 else np.nan,
                                       "mean_firm_share": ratio.mean(), "median_firm_share": ratio.median(),
                                       "amount": amt, "revenue": rev, "n_firms": d["firm_id"].nunique(),
                                       "n_firm_years": len(d)}]))
    out = pd.concat(rows, ignore_index=True)
    if by:
        exc = excluded.rename("n_excluded_firm_years").reset_index()
        out = out.merge(exc, on=by, how="left")
        out["n_excluded_firm_years"] = out["n_excluded_firm_years"].fillna(0).astype(np.int64)
    else:
        out["n_excluded_firm_years"] = int((~valid).sum())
    out["n_firms"] = out["n_firms"].astype(np.int64)
    out["n_firm_years"] = out["n_firm_years"].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    return out
