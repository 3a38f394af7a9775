"""Direct subsidies (government grants) per firm-year, under three allocation rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..reference.rates import annual_benchmark
from .allocation import allocate_at
from .core import Component, Panel, log_outside, panel_of_keys
from .options import MeasureOptions

__all__ = ["subsidy_flows", "measure_subsidy", "SUBSIDY_BASES", "SubsidyEvents", "subsidy_events"]

SUBSIDY_BASES = ("received", "cvd", "straight_line")
_COLUMNS = ["firm_id", "year", "subsidy", "subsidy_received", "n_grants", "subsidy_expensed", "subsidy_allocated"]


@dataclass
class SubsidyEvents:
    """Where each grant's benefit falls: expensed in the year of receipt, or allocated.

    ``expensed`` is a mask over the grant rows; ``alloc_row`` lists the grant rows
    allocated over the AUL and ``alloc_rate`` their discount rate (a decimal; None for
    straight line). :meth:`allocated_at` sums the allocations into any firm-years
    without expanding a grant into its years of life.
    """

    expensed: np.ndarray
    alloc_row: np.ndarray
    alloc_rate: np.ndarray | None
    aul_years: int
    no_sales: np.ndarray  # mask: 0.5 % test not applicable (sales unknown)
    recurring_missing: np.ndarray

    def allocated_at(self, codes: np.ndarray, year, amount, *, at_codes: np.ndarray,
                     at_years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Allocated subsidy and number of allocating grants in each firm-year ``(at_codes, at_years)``.

        ``codes``, ``year`` and ``amount`` are aligned with the grant rows (firm codes in
        the coding of ``at_codes``; negative for firms not wanted). See
        :func:`finsupport.measure.allocation.allocate_at`.
        """
        rows = self.alloc_row
        return allocate_at(np.asarray(codes)[rows], np.asarray(year, dtype=np.int64)[rows],
                           np.asarray(amount, dtype=float)[rows], self.alloc_rate, aul_years=self.aul_years,
                           at_codes=at_codes, at_years=at_years)


def subsidy_events(
    grants: pd.DataFrame,
    sales: np.ndarray,
    *,
    basis: str,
    aul_years: int,
    expense_threshold: float,
    discount_benchmark: str,
) -> SubsidyEvents:
    """Vectorised core of :func:`subsidy_flows` (rows of ``grants`` with a known amount).

    ``sales`` is the firm's revenue in the year of receipt, aligned with the grant rows
    (NaN when unknown).
    """
    n = len(grants)
    amount = grants["amount"].to_numpy(dtype=float)
    year = grants["year"].to_numpy(dtype=np.int64)
    if basis == "received":
        return SubsidyEvents(np.ones(n, bool), np.empty(0, np.int64), None, int(aul_years), np.zeros(n, bool),
                             np.zeros(n, bool))
    rec = grants["recurring"] if "recurring" in grants else pd.Series(pd.NA, index=grants.index, dtype="boolean")
    rec = rec.astype("boolean")
    recurring_missing = rec.isna().to_numpy()
    recurring = rec.fillna(False).to_numpy(dtype=bool)
    expensed = recurring.copy()
    no_sales = np.zeros(n, bool)
    if basis == "cvd":
        fcode, _ = pd.factorize(grants["firm_id"])  # own codes: firms outside the panel group correctly too
        if "programme" in grants:
            prog = grants["programme"].astype("string").fillna("")
            pcode, _ = pd.factorize(prog)
            has_prog = (prog != "").to_numpy()
        else:
            pcode, has_prog = np.zeros(n, np.int64), np.zeros(n, bool)
        # grants under one programme in one year are tested together; without a programme, one by one
        y0 = year.min() if n else 0
        span, npg = int(year.max() - y0 + 1) if n else 1, int(pcode.max()) + 1 if n else 1
        key = (fcode.astype(np.int64) * span + (year - y0)) * npg + pcode
        key = np.where(has_prog, key, key.max(initial=0) + 1 + np.arange(n))
        gid, _ = pd.factorize(key)
        nonrec_total = np.bincount(gid, weights=np.where(recurring, 0.0, amount))[gid]
        no_sales = ~recurring & np.isnan(sales)
        with np.errstate(invalid="ignore"):
            expensed |= (nonrec_total < expense_threshold * sales) & ~np.isnan(sales)
    rows = np.flatnonzero(~expensed)
    rate = None
    if basis == "cvd":
        d = annual_benchmark(np.unique(year[rows]), benchmark=discount_benchmark) / 100.0 if len(rows) else None
        rate = d.reindex(year[rows]).to_numpy() if len(rows) else np.empty(0)
    return SubsidyEvents(expensed, rows, rate, int(aul_years), no_sales, recurring_missing)


def log_subsidy_events(ev: SubsidyEvents, grants: pd.DataFrame, log) -> None:
    """Record grants whose treatment rests on an assumption (missing flag, unknown sales)."""
    if log is None:
        return
    for mask, column, issue, detail in (
        (ev.recurring_missing, "recurring", "recurring flag missing", "treated as non-recurring"),
        (ev.no_sales, "amount", "0.5% expense test not applicable",
         "no sales for the year of receipt; grant allocated over the AUL"),
    ):
        if mask.any():
            sel = grants[mask]
            log.add(stage="measure", table="grants", column=column, rows=sel.index, firm_id=sel["firm_id"],
                    year=sel["year"], issue=issue, action="flagged", detail=detail)


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
        ``A_k = y/n + [y − (y/n)(k − 1)]·d/(1 + d)``, k = 1 in the year of receipt, with
        ``d`` the day-weighted long-term (five-year-plus) benchmark lending rate of the
        year of receipt (``discount_benchmark``). The 0.5 % test of 351.524(b)(2):
        non-recurring grants under one programme (``programme``; each grant on its own
        when absent) whose total in a year is below ``expense_threshold`` × the firm's
        sales of that year are expensed in that year. Where sales are unknown the test
        cannot be applied and the grant is allocated (logged).

        ``straight_line``: recurring grants expensed, non-recurring grants spread
        equally over the AUL (EU practice; OJ C 394, 17.12.1998).
    aul_years : int
        Average useful life n (default 10, the US Department of Commerce's usual AUL
        when no IRS class life applies).

    This is a view of :func:`measure_subsidy`, the function :func:`support_flows` uses,
    on the firm-years the grants fall in or are allocated to.

    Returns
    -------
    DataFrame with ``firm_id, year, subsidy, subsidy_received, n_grants,
    subsidy_expensed, subsidy_allocated`` (amounts in yuan); years outside ``revenue``
    may appear (allocations before or after the panel).
    """
    opts = MeasureOptions(subsidy_basis=basis, aul_years=aul_years, expense_threshold=expense_threshold)
    g = grants[grants["amount"].notna()]
    # the firm-years the view covers: those of the grants and, where grants are allocated, the years they reach
    fid, yr = g["firm_id"].to_numpy(dtype=object), g["year"].to_numpy(dtype=np.int64)
    if basis != "received":
        n = int(aul_years)
        reach = np.arange(n)
        fid, yr = np.repeat(fid, n), np.repeat(yr, n) + np.tile(reach, len(g))
    panel = panel_of_keys(fid, yr, log=log, revenue=revenue[["firm_id", "year", "revenue"]])
    comp = measure_subsidy(g, panel, opts, discount_benchmark=discount_benchmark)
    hit = (comp.columns["n_grants"] > 0) | (comp.columns["_n_allocating"] > 0)
    out = pd.DataFrame({"firm_id": panel.frame["firm_id"].to_numpy()[hit], "year": panel.px.year[hit],
                        "subsidy": comp.amount[hit]})
    for c in _COLUMNS[3:]:
        out[c] = comp.columns[c][hit]
    return out.reset_index(drop=True)


def measure_subsidy(grants: pd.DataFrame | None, panel: Panel, options: MeasureOptions, *,
                    discount_benchmark: str = "lpr_5y") -> Component:
    """Subsidy benefit in each firm-year of ``panel`` (the rules of :func:`subsidy_flows`).

    Columns behind it: ``subsidy_received`` (grants received in the year), ``n_grants``,
    ``subsidy_expensed`` (counted in the year received), ``subsidy_allocated`` (the
    year's share of allocated grants). Grants without an amount are ignored (the reader
    logs them); grants in firm-years outside the panel are logged as excluded under
    ``received``.
    """
    px = panel.px
    zeros = np.zeros(px.n)
    cols = dict(subsidy_received=zeros, n_grants=zeros.astype(np.int64), subsidy_expensed=zeros,
                subsidy_allocated=zeros, _n_allocating=zeros.astype(np.int64))
    if grants is None or not len(grants):
        return Component("subsidy", zeros.copy(), cols)
    known = grants["amount"].notna()
    g = grants if known.all() else grants[known]   # no copy of millions of grant rows when none is missing
    codes = px.firm_codes(g["firm_id"])
    pos = px.locate(codes, g["year"])
    sales = np.where(pos >= 0, panel.revenue[np.maximum(pos, 0)], np.nan)
    ev = subsidy_events(g, sales, basis=options.subsidy_basis, aul_years=options.aul_years,
                        expense_threshold=options.expense_threshold, discount_benchmark=discount_benchmark)
    log_subsidy_events(ev, g, panel.log)
    amount = g["amount"].to_numpy(dtype=float)
    if options.subsidy_basis == "received":
        log_outside(g, pos, panel, "grants")
    alloc, n_alloc = ev.allocated_at(codes, g["year"], amount, at_codes=px.codes, at_years=px.year)
    cols = dict(subsidy_received=px.total(pos, amount), n_grants=px.count(pos),
                subsidy_expensed=px.total(pos, np.where(ev.expensed, amount, 0.0)), subsidy_allocated=alloc,
                _n_allocating=n_alloc)
    return Component("subsidy", cols["subsidy_expensed"] + cols["subsidy_allocated"], cols)
