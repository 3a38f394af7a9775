"""Support flows per firm-year: subsidy + guidance-fund equity + below-market debt."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..data.spec import STATE_INVESTOR_TYPES
from ..errors import ConfigError, DataError
from ..reference.rates import BENCHMARKS
from .debt import FIRST_YEAR_RULES, debt_arrays, log_debt
from .equity import EQUITY_BASES, equity_events, investor_type_warning, log_investor_types
from .panel_index import PanelIndex
from .subsidies import SUBSIDY_BASES, log_subsidy_events, subsidy_events

__all__ = ["support_flows", "COMPONENTS", "describe_methods"]

COMPONENTS = ("subsidy", "equity", "debt")


def describe_methods(**opts) -> dict[str, str]:
    """Plain-words description of the measurement choices, for reports and manifests."""
    sb, eb = opts["subsidy_basis"], opts["equity_basis"]
    subsidy = {
        "received": "grants counted in full in the year received (gross view of the published study)",
        "cvd": (f"19 CFR 351.524: recurring grants expensed; non-recurring grants allocated over an AUL of "
                f"{opts['aul_years']} years by the declining-balance formula of 351.524(d)(1), discounted at the "
                f"year's five-year-plus benchmark; grants below {opts['expense_threshold']:.1%} of sales expensed (351.524(b)(2))"),
        "straight_line": f"recurring grants expensed; non-recurring grants spread equally over {opts['aul_years']} years (EU practice)",
    }[sb]
    types = ", ".join(opts["state_investor_types"])
    equity = {
        "gross": f"gross contributions by state-linked investors ({types}) in the year of the round",
        "grant_equivalent": ("19 CFR 351.507(a)(6): infusions into unequityworthy firms treated as non-recurring grants "
                             f"allocated over {opts['aul_years']} years"),
    }[eb]
    bench = {"lpr_1y": "one-year PBOC benchmark lending rate, one-year LPR from 2019-08-20",
             "lpr_5y": "over-five-year PBOC benchmark lending rate, five-year-plus LPR from 2019-08-20"}[opts["benchmark"]]
    spread = f" plus {opts['spread_bp']:g} bp" if opts["spread_bp"] else ""
    debt = (f"max(0, benchmark − effective rate) × average interest-bearing debt; benchmark = day-weighted annual "
            f"average of the {bench}{spread}; effective rate = interest expense / average of opening and closing "
            f"interest-bearing debt; first year: {opts['first_year_debt']} (WTO SCM Art. 14(b))")
    return {"subsidy": subsidy, "equity": equity, "debt": debt,
            "share": "total support (subsidy + equity + debt) / operating revenue"}


def support_flows(
    data,
    *,
    subsidy_basis: str = "received",
    equity_basis: str = "gross",
    benchmark: str = "lpr_1y",
    spread_bp: float = 0.0,
    aul_years: int = 10,
    expense_threshold: float = 0.005,
    state_investor_types: Iterable[str] = STATE_INVESTOR_TYPES,
    unequityworthy: Iterable[str] | None = None,
    first_year_debt: str = "closing",
) -> pd.DataFrame:
    """Support flows per firm-year and their share of revenue.

    ``total = subsidy + equity + debt`` and ``share = total / revenue`` for every
    firm-year of ``data.financials``. Each component follows a documented rule:

    * subsidy — :func:`finsupport.measure.subsidies.subsidy_flows` (``received``,
      ``cvd`` = 19 CFR 351.524 declining balance with the 0.5 % expense test,
      ``straight_line``);
    * equity — :func:`finsupport.measure.equity.equity_flows` (``gross`` state-linked
      contributions as in the published study, or CVD ``grant_equivalent``, 351.507);
    * debt — :func:`finsupport.measure.debt.debt_flows`
      (max(0, benchmark − effective) × average debt; WTO SCM Art. 14(b)).

    Parameters
    ----------
    data : Dataset
        Needs ``financials`` (firm_id, year, revenue; for the debt component also interest_bearing_debt
        and interest_expense: a table without interest_bearing_debt (the industrial survey) has no debt
        component, flagged in the quality log; debt without interest_expense is an error); ``grants`` and ``equity`` are optional (no rows = zero).
    subsidy_basis, equity_basis, benchmark, spread_bp, aul_years, expense_threshold,
    state_investor_types, unequityworthy, first_year_debt
        See the component functions.

    Returns
    -------
    DataFrame, one row per firm-year in ``financials``, sorted by firm and year:
    ``firm_id, year, revenue, subsidy, equity, debt, total, share`` then the inputs
    behind them (``subsidy_received, n_grants, subsidy_expensed, subsidy_allocated,
    equity_state_gross, n_state_investments, avg_debt, effective_rate, benchmark_rate,
    rate_gap, debt_basis, debt_missing``) and ``sector``/``province`` when ``firms``
    has them. A component that cannot be computed (e.g. debt with interest missing)
    counts as zero in ``total`` and is flagged (``debt_missing``, quality log). ``share``
    is missing where revenue is zero, negative or missing. ``attrs["methods"]`` holds
    the plain-words method description.

    Grants and equity rows in years without financials cannot be related to revenue:
    they are excluded from the flows and recorded in ``data.quality``. Equity rows whose
    investor type is neither state-linked nor a known private type (or missing) count as
    not state-linked; they are *flagged* in ``data.quality`` and summed up in
    ``attrs["warnings"]`` (printed by ``finsupport run``).
    """
    if type(data).__name__ == "PartitionedDataset":
        # registry scale: the same computation on every firm partition (a Dask DataFrame)
        from ..data.partitioned import partitioned_flows

        return partitioned_flows(data, subsidy_basis=subsidy_basis, equity_basis=equity_basis, benchmark=benchmark,
                                 spread_bp=spread_bp, aul_years=aul_years, expense_threshold=expense_threshold,
                                 state_investor_types=tuple(state_investor_types), unequityworthy=unequityworthy,
                                 first_year_debt=first_year_debt)
    opts = dict(subsidy_basis=subsidy_basis, equity_basis=equity_basis, benchmark=benchmark, spread_bp=spread_bp,
                aul_years=aul_years, expense_threshold=expense_threshold,
                state_investor_types=tuple(state_investor_types), first_year_debt=first_year_debt)
    _check_options(opts)
    methods = describe_methods(**opts)
    log = data.quality
    fin = data.require("financials", ["firm_id", "year", "revenue"], purpose="support flows")
    lacking = [c for c in ("interest_bearing_debt", "interest_expense") if c not in fin.columns]
    if lacking == ["interest_expense"]:  # debt without interest: a mapping mistake, not a panel without debt
        data.require("financials", lacking, purpose="support flows (the below-market debt component)")
    if lacking:  # e.g. the industrial survey: no borrowings in the data, so no debt benefit
        log.add(stage="measure", table="financials", column=", ".join(lacking), issue="debt component not measured",
                action="flagged", detail=f"financials has no {' / '.join(lacking)}: the below-market debt benefit "
                                         "is missing for every firm-year and counts as 0 in the total")
        fin = fin.assign(**{c: np.nan for c in lacking})
    if fin.empty:
        raise DataError(problems=[{"table": "financials", "message": "no rows to measure (the table is empty, or "
                                   "every row was excluded: see the data-quality log)",
                                   "hint": "provide at least one firm-year with revenue"}])
    px = PanelIndex(fin["firm_id"], fin["year"])
    # only the columns measured here: a copy of every column of a national panel costs gigabytes
    used = [c for c in ("firm_id", "year", "revenue", "interest_bearing_debt", "interest_expense", "benchmark_rate")
            if c in fin.columns]
    f = fin.iloc[px.order, [fin.columns.get_loc(c) for c in used]]
    revenue = f["revenue"].to_numpy(dtype=float)
    own = f["benchmark_rate"].to_numpy(dtype=float) if "benchmark_rate" in f else None
    debt = debt_arrays(px.codes, px.year, f["interest_bearing_debt"].to_numpy(dtype=float),
                       f["interest_expense"].to_numpy(dtype=float), own, benchmark=benchmark, spread_bp=spread_bp,
                       first_year=first_year_debt)
    if not lacking:
        log_debt(debt, f, log, first_year_debt)
    zeros = np.zeros(px.n)
    sub = dict(subsidy_received=zeros, n_grants=zeros.astype(np.int64), subsidy_expensed=zeros, subsidy_allocated=zeros)
    if data.grants is not None and len(data.grants):
        grants = data.require("grants", ["firm_id", "year", "amount"], purpose="subsidies")
        known = grants["amount"].notna()
        g = grants if known.all() else grants[known]   # no copy of millions of grant rows when none is missing
        codes = px.firm_codes(g["firm_id"])
        pos = px.locate(codes, g["year"])
        sales = np.where(pos >= 0, revenue[np.maximum(pos, 0)], np.nan)
        ev = subsidy_events(g, sales, basis=subsidy_basis, aul_years=aul_years,
                            expense_threshold=expense_threshold, discount_benchmark="lpr_5y")
        log_subsidy_events(ev, g, log)
        amount = g["amount"].to_numpy(dtype=float)
        if subsidy_basis == "received":
            _log_outside(g, pos, log, "grants")
        sub = dict(subsidy_received=px.total(pos, amount), n_grants=px.count(pos),
                   subsidy_expensed=px.total(pos, np.where(ev.expensed, amount, 0.0)),
                   subsidy_allocated=ev.allocated_at(codes, g["year"], amount, at_codes=px.codes,
                                                     at_years=px.year)[0])
    eq = dict(equity=zeros, equity_state_gross=zeros, n_state_investments=zeros.astype(np.int64))
    warnings: list[str] = []
    if data.equity is not None and len(data.equity):
        e = data.require("equity", ["firm_id", "year", "amount", "investor_type"], purpose="equity support")
        ev = equity_events(e, basis=equity_basis, state_investor_types=state_investor_types,
                           unequityworthy=unequityworthy, aul_years=aul_years, discount_benchmark="lpr_5y")
        log_investor_types(e, ev.types, log)
        w = investor_type_warning(e, ev.types)
        if w:
            warnings.append(w)
        codes = px.firm_codes(e["firm_id"])
        pos = px.locate(codes, e["year"])
        amount = e["amount"].to_numpy(dtype=float)
        state_pos = np.where(ev.state, pos, -1)
        if equity_basis == "gross":
            _log_outside(e[ev.state], pos[ev.state], log, "equity")
        eq = dict(equity=px.total(state_pos, np.where(ev.in_year, amount, 0.0))
                  + px.total(px.locate(codes[ev.alloc_row], ev.alloc_year), ev.alloc_amount),
                  equity_state_gross=px.total(state_pos, amount), n_state_investments=px.count(state_pos))
    subsidy = sub["subsidy_expensed"] + sub["subsidy_allocated"]
    total = subsidy + eq["equity"] + np.nan_to_num(debt["debt"], nan=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(revenue > 0, total / revenue, np.nan)
    out = pd.DataFrame({"firm_id": f["firm_id"].reset_index(drop=True), "year": px.year, "revenue": revenue,
                        "subsidy": subsidy, "equity": eq["equity"], "debt": debt["debt"], "total": total,
                        "share": share, **sub, "equity_state_gross": eq["equity_state_gross"],
                        "n_state_investments": eq["n_state_investments"]})
    for c in ("avg_debt", "effective_rate", "benchmark_rate", "rate_gap", "debt_basis"):
        out[c] = debt[c]
    out["debt_missing"] = np.isnan(debt["debt"])
    if data.firms is not None:
        attrs = [c for c in ("sector", "province") if c in data.firms]
        if attrs:
            by_firm = data.firms.drop_duplicates("firm_id").set_index("firm_id")[attrs].reindex(px.firms)
            for c in attrs:
                out[c] = by_firm[c].take(px.codes).reset_index(drop=True)
    out.attrs["methods"] = methods
    out.attrs["options"] = opts
    out.attrs["not_measured"] = ["debt"] if lacking else []
    out.attrs["warnings"] = warnings
    return out


def _check_options(opts: dict) -> None:
    allowed = {"subsidy_basis": SUBSIDY_BASES, "equity_basis": EQUITY_BASES, "benchmark": tuple(BENCHMARKS),
               "first_year_debt": FIRST_YEAR_RULES}
    for key, values in allowed.items():
        if opts[key] not in values:
            raise ConfigError(f"{key} '{opts[key]}' is not known; use one of {', '.join(values)}")
    if not float(opts["aul_years"]).is_integer() or opts["aul_years"] < 1:
        raise ConfigError(f"aul_years must be a whole number of years ≥ 1, got {opts['aul_years']}")


def _log_outside(table: pd.DataFrame, pos: np.ndarray, log, name: str) -> None:
    outside = pos < 0
    if outside.any():
        sel = table[outside]
        log.add(stage="measure", table=name, rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                issue="no financials for this firm-year", action="excluded",
                detail="amount cannot be related to revenue; not counted in flows")
