"""Direct subsidies (government grants) per firm-year, under three allocation rules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..reference.rates import annual_benchmark
from .allocation import allocate_declining_balance, allocate_straight_line

__all__ = ["subsidy_flows", "SUBSIDY_BASES"]

SUBSIDY_BASES = ("received", "cvd", "straight_line")


def subsidy_flows(
    grants: pd.DataFrame,
    revenue: pd.DataFrame,
    *,
    basis: str = "received",
    aul_years: int = 10,
    expense_threshold: float = 0.005,
    discount_benchmark: str = "lpr_5y",
    log=None,
) -> pd.DataFrame:
    """Subsidy benefit per firm-year from a table of grants.

    Parameters
    ----------
    grants : DataFrame
        ``firm_id, year, amount`` and, for ``cvd`` and ``straight_line``, ``recurring``
        (missing counts as non-recurring, logged); ``programme`` is used by the 0.5 % test.
    revenue : DataFrame
        ``firm_id, year, revenue``: the firm's sales, the denominator of the 0.5 % test.
    basis : {"received", "cvd", "straight_line"}
        ``received`` (default, the published study's gross view): every grant counts in
        full in the year received.

        ``cvd``: 19 CFR 351.524. Recurring grants are expensed in the year of receipt
        (351.524(c)). Non-recurring grants are allocated over the AUL by the
        declining-balance formula of 351.524(d)(1),
        ``A_k = y/n + [y − (y/n)(k − 1)]·d/(1 + d)``, with ``d`` the day-weighted
        long-term (five-year-plus) benchmark lending rate of the year of receipt
        (``discount_benchmark``). The 0.5 % test of 351.524(b)(2): non-recurring grants
        under one programme (``programme``; each grant on its own when absent) whose
        total in a year is below ``expense_threshold`` × the firm's sales of that year are
        expensed in that year. Where sales are unknown the test cannot be applied and
        the grant is allocated (logged).

        ``straight_line``: recurring grants expensed, non-recurring grants spread
        equally over the AUL (EU practice; OJ C 394, 17.12.1998).
    aul_years : int
        Average useful life n (default 10, the US Department of Commerce's usual AUL
        when no IRS class life applies).

    Returns
    -------
    DataFrame with ``firm_id, year, subsidy, subsidy_received, n_grants,
    subsidy_expensed, subsidy_allocated`` (amounts in yuan); years outside ``revenue``
    may appear (allocations before or after the panel).
    """
    if basis not in SUBSIDY_BASES:
        raise ConfigError(f"subsidy_basis '{basis}' is not known; use one of {', '.join(SUBSIDY_BASES)}")
    if int(aul_years) < 1:
        raise ConfigError(f"aul_years must be a whole number of years ≥ 1, got {aul_years}")
    g = grants[["firm_id", "year", "amount"]].copy()
    g = g[g["amount"].notna()]
    received = g.groupby(["firm_id", "year"], sort=False).agg(
        subsidy_received=("amount", "sum"), n_grants=("amount", "size")
    )
    if basis == "received":
        out = received.assign(
            subsidy=received["subsidy_received"], subsidy_expensed=received["subsidy_received"], subsidy_allocated=0.0
        )
        return out.reset_index()[_COLUMNS]

    rec = grants.loc[g.index, "recurring"] if "recurring" in grants else pd.Series(pd.NA, index=g.index)
    if log is not None and rec.isna().any():
        miss = g.index[rec.isna().to_numpy()]
        log.add(stage="measure", table="grants", column="recurring", rows=miss, firm_id=g.loc[miss, "firm_id"],
                year=g.loc[miss, "year"], issue="recurring flag missing", action="flagged",
                detail="treated as non-recurring (allocated over the AUL)")
    recurring = rec.fillna(False).astype(bool).to_numpy()
    expensed = recurring.copy()
    if basis == "cvd":
        prog = grants.loc[g.index, "programme"].fillna("") if "programme" in grants else pd.Series("", index=g.index)
        key = g["firm_id"].astype(str) + "\x1f" + g["year"].astype(str) + "\x1f" + prog.astype(str)
        # grants without a programme are tested one by one
        key = key.where(prog.astype(str) != "", key + "\x1f" + g.index.astype(str))
        nonrec_total = g["amount"].where(~recurring, 0.0).groupby(key).transform("sum")
        sales = g[["firm_id", "year"]].merge(
            revenue[["firm_id", "year", "revenue"]], on=["firm_id", "year"], how="left"
        )["revenue"].to_numpy()
        small = (nonrec_total.to_numpy() < expense_threshold * sales) & ~np.isnan(sales)
        expensed |= small
        no_sales = ~recurring & np.isnan(sales)
        if log is not None and no_sales.any():
            rows = g.index[no_sales]
            log.add(stage="measure", table="grants", column="amount", rows=rows, firm_id=g.loc[rows, "firm_id"],
                    year=g.loc[rows, "year"], issue="0.5% expense test not applicable",
                    action="flagged", detail="no sales for the year of receipt; grant allocated over the AUL")
    exp_part = g[expensed].groupby(["firm_id", "year"], sort=False)["amount"].sum().rename("subsidy_expensed")
    alloc_src = g[~expensed]
    if basis == "cvd":
        d = annual_benchmark(alloc_src["year"].unique(), benchmark=discount_benchmark) / 100.0
        rate = alloc_src["year"].map(d)
        alloc = allocate_declining_balance(alloc_src["firm_id"], alloc_src["year"], alloc_src["amount"], rate,
                                           aul_years=aul_years)
    else:
        alloc = allocate_straight_line(alloc_src["firm_id"], alloc_src["year"], alloc_src["amount"],
                                       aul_years=aul_years)
    alloc_part = alloc.groupby(["firm_id", "year"], sort=False)["allocated"].sum().rename("subsidy_allocated")
    out = pd.concat([received, exp_part, alloc_part], axis=1)
    out[["subsidy_received", "subsidy_expensed", "subsidy_allocated"]] = out[
        ["subsidy_received", "subsidy_expensed", "subsidy_allocated"]].fillna(0.0)
    out["n_grants"] = out["n_grants"].fillna(0).astype(np.int64)
    out["subsidy"] = out["subsidy_expensed"] + out["subsidy_allocated"]
    out.index.names = ["firm_id", "year"]
    return out.reset_index()[_COLUMNS]


_COLUMNS = ["firm_id", "year", "subsidy", "subsidy_received", "n_grants", "subsidy_expensed", "subsidy_allocated"]
