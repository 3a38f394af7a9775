"""Below-market debt: the interest a firm saved against a benchmark lending rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..reference.rates import annual_benchmark

__all__ = ["debt_flows", "FIRST_YEAR_RULES"]

FIRST_YEAR_RULES = ("closing", "exclude")


def debt_flows(
    financials: pd.DataFrame,
    *,
    benchmark: str = "lpr_1y",
    spread_bp: float = 0.0,
    first_year: str = "closing",
    log=None,
) -> pd.DataFrame:
    """Benefit from below-market borrowing per firm-year.

    Formula (WTO SCM Agreement Art. 14(b); OECD below-market-borrowing estimates)::

        avg_debt_t   = (D_{t-1} + D_t) / 2           D = interest_bearing_debt at year end
        effective_t  = interest_expense_t / avg_debt_t
        benchmark_t  = day-weighted average benchmark rate of year t + spread_bp / 10,000
        debt_t       = max(0, benchmark_t − effective_t) × avg_debt_t

    Parameters
    ----------
    financials : DataFrame
        ``firm_id, year, interest_bearing_debt, interest_expense``; an optional
        ``benchmark_rate`` column (percent a year) gives firm-specific benchmarks that
        replace the national one where present.
    benchmark : {"lpr_1y", "lpr_5y"}
        National benchmark: the PBOC one-year benchmark lending rate until 2019-08-19 and
        the one-year Loan Prime Rate from 2019-08-20 (``lpr_1y``, default), or the
        over-five-year / five-year-plus series (``lpr_5y``), averaged by days in force.
    spread_bp : float
        Basis points added to the national benchmark (not to firm-specific ones).
    first_year : {"closing", "exclude"}
        A firm's first year in the data has no opening debt. ``closing`` (default) uses
        the closing balance as the average; ``exclude`` leaves the benefit missing. A
        gap in a firm's years is treated like a first year. Either way the firm-year is
        logged.

    Missing interest or debt leaves the benefit missing (logged); zero average debt gives
    zero (or negative) benefit. Returns ``firm_id, year, debt, avg_debt, effective_rate,
    benchmark_rate, rate_gap, debt_basis`` with rates in percent a year.
    """
    if first_year not in FIRST_YEAR_RULES:
        raise ConfigError(f"first_year '{first_year}' is not known; use one of {', '.join(FIRST_YEAR_RULES)}")
    f = financials.sort_values(["firm_id", "year"], kind="stable")
    firm = f["firm_id"].to_numpy()
    year = f["year"].to_numpy(dtype=np.int64)
    closing = f["interest_bearing_debt"].to_numpy(dtype=float)
    same_firm = np.r_[False, firm[1:] == firm[:-1]]
    consecutive = same_firm & np.r_[False, year[1:] == year[:-1] + 1]
    opening = np.r_[np.nan, closing[:-1]]
    opening = np.where(consecutive, opening, np.nan)
    has_open = consecutive & ~np.isnan(opening)
    avg = np.where(has_open, (opening + closing) / 2.0, closing if first_year == "closing" else np.nan)
    basis = np.where(has_open, "average", np.where(first_year == "closing", "closing_only", "no_opening"))
    interest = f["interest_expense"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(avg > 0, interest / avg, np.nan)
    national = annual_benchmark(np.unique(year), benchmark=benchmark, spread_bp=spread_bp)
    bench = national.reindex(year).to_numpy()
    if "benchmark_rate" in f:
        own = f["benchmark_rate"].to_numpy(dtype=float)
        bench = np.where(np.isnan(own), bench, own)
    gap = bench / 100.0 - eff
    benefit = np.where(avg <= 0, 0.0, np.maximum(gap, 0.0) * avg)
    benefit = np.where(np.isnan(avg) | (np.isnan(interest) & (avg != 0)), np.nan, benefit)
    out = pd.DataFrame(
        {
            "firm_id": firm,
            "year": year,
            "debt": benefit,
            "avg_debt": avg,
            "effective_rate": eff * 100.0,
            "benchmark_rate": bench,
            "rate_gap": gap * 100.0,
            "debt_basis": basis,
        },
        index=f.index,
    )
    if log is not None:
        first = ~has_open
        if first.any():
            rows = f.index[first]
            log.add(stage="measure", table="financials", column="interest_bearing_debt", rows=rows,
                    firm_id=out.loc[rows, "firm_id"], year=out.loc[rows, "year"],
                    issue="no opening debt (first year or gap)", action="flagged",
                    detail="average debt = closing debt" if first_year == "closing" else "debt benefit left missing")
        miss = np.isnan(benefit) & ~(first & (first_year == "exclude"))
        if miss.any():
            rows = f.index[miss]
            log.add(stage="measure", table="financials", column="interest_expense", rows=rows,
                    firm_id=out.loc[rows, "firm_id"], year=out.loc[rows, "year"],
                    issue="debt benefit not computable", action="flagged",
                    detail="interest expense or interest-bearing debt missing; counted as zero in totals")
    return out.reset_index(drop=True)
