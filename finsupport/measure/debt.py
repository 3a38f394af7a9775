"""Below-market debt: the interest a firm saved against a benchmark lending rate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..reference.rates import annual_benchmark
from .core import Component, Panel, build_panel
from .options import MeasureOptions

__all__ = ["debt_flows", "measure_debt", "FIRST_YEAR_RULES"]

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
    zero (or negative) benefit. A view of :func:`measure_debt`, the function
    :func:`support_flows` uses, on the firm-years of ``financials``. Returns ``firm_id, year, debt, avg_debt, effective_rate,
    benchmark_rate, rate_gap, debt_basis`` with rates in percent a year.
    """
    opts = MeasureOptions(benchmark=benchmark, spread_bp=spread_bp, first_year_debt=first_year)
    panel = build_panel(financials, log=log)
    comp = measure_debt(panel, opts)
    out = pd.DataFrame({"firm_id": panel.frame["firm_id"].to_numpy(), "year": panel.px.year, "debt": comp.amount})
    for c in ("avg_debt", "effective_rate", "benchmark_rate", "rate_gap", "debt_basis"):
        out[c] = comp.columns[c]
    return out


def measure_debt(panel: Panel, options: MeasureOptions) -> Component:
    """Below-market debt benefit in each firm-year of ``panel`` (the rules of :func:`debt_flows`).

    Columns behind it: ``avg_debt, effective_rate, benchmark_rate, rate_gap, debt_basis,
    debt_missing``. A panel without ``interest_bearing_debt`` (e.g. the industrial
    survey) has no debt component: the amount is missing everywhere, logged once.
    """
    lacking = [c for c in ("interest_bearing_debt", "interest_expense") if not panel.has(c)]
    if lacking and panel.log is not None:
        panel.log.add(stage="measure", table="financials", column=", ".join(lacking),
                      issue="debt component not measured", action="flagged",
                      detail=f"financials has no {' / '.join(lacking)}: the below-market debt benefit is missing for "
                             "every firm-year and counts as 0 in the total")
    own = panel.column("benchmark_rate") if panel.has("benchmark_rate") else None
    arr = debt_arrays(panel.px.codes, panel.px.year, panel.column("interest_bearing_debt"),
                      panel.column("interest_expense"), own, benchmark=options.benchmark, spread_bp=options.spread_bp,
                      first_year=options.first_year_debt)
    if not lacking:
        log_debt(arr, panel.frame, panel.log, options.first_year_debt)
    cols = {c: arr[c] for c in ("avg_debt", "effective_rate", "benchmark_rate", "rate_gap", "debt_basis")}
    cols["debt_missing"] = np.isnan(arr["debt"])
    return Component("debt", arr["debt"], cols, measured=not lacking,
                     why="the data have no interest-bearing debt" if lacking else "")


def debt_arrays(codes, year, closing, interest, own_benchmark, *, benchmark: str, spread_bp: float,
                first_year: str) -> dict[str, np.ndarray]:
    """Vectorised core of :func:`debt_flows` on arrays sorted by firm and year."""
    same_firm = np.r_[False, codes[1:] == codes[:-1]]
    consecutive = same_firm & np.r_[False, year[1:] == year[:-1] + 1]
    opening = np.where(consecutive, np.r_[np.nan, closing[:-1]], np.nan)
    has_open = consecutive & ~np.isnan(opening)
    avg = np.where(has_open, (opening + closing) / 2.0, closing if first_year == "closing" else np.nan)
    # a categorical, not a million Python strings
    basis = pd.Categorical.from_codes(np.where(has_open, 0, 1).astype(np.int8),
                                      categories=["average", "closing_only" if first_year == "closing"
                                                  else "no_opening"])
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(avg > 0, interest / avg, np.nan)
    # only years with debt need a benchmark (a panel without borrowings needs none)
    needed = np.unique(year[~np.isnan(avg)])
    national = (annual_benchmark(needed, benchmark=benchmark, spread_bp=spread_bp) if len(needed)
                else pd.Series(dtype=float))
    bench = national.reindex(year).to_numpy(dtype=float)
    if own_benchmark is not None:
        bench = np.where(np.isnan(own_benchmark), bench, own_benchmark)
    gap = bench / 100.0 - eff
    with np.errstate(invalid="ignore"):
        benefit = np.where(avg <= 0, 0.0, np.maximum(gap, 0.0) * avg)
    missing = np.isnan(avg) | (np.isnan(interest) & ~(avg <= 0))
    benefit = np.where(missing, np.nan, benefit)
    return {"debt": benefit, "avg_debt": avg, "effective_rate": eff * 100.0, "benchmark_rate": bench,
            "rate_gap": gap * 100.0, "debt_basis": basis, "first": ~has_open, "missing": missing}


def log_debt(arr: dict, f: pd.DataFrame, log, first_year: str) -> None:
    """Record first years (no opening debt) and firm-years whose benefit cannot be computed."""
    if log is None:
        return
    first = arr["first"]
    if first.any():
        sel = f.loc[first, ["firm_id", "year"]]
        log.add(stage="measure", table="financials", column="interest_bearing_debt", rows=sel.index,
                firm_id=sel["firm_id"], year=sel["year"], issue="no opening debt (first year or gap)",
                action="flagged",
                detail="average debt = closing debt" if first_year == "closing" else "debt benefit left missing")
    miss = arr["missing"] & ~(first & (first_year == "exclude"))
    if miss.any():
        sel = f.loc[miss, ["firm_id", "year"]]
        log.add(stage="measure", table="financials", column="interest_expense", rows=sel.index,
                firm_id=sel["firm_id"], year=sel["year"], issue="debt benefit not computable", action="flagged",
                detail="interest expense or interest-bearing debt missing; counted as zero in totals")
