"""Support flows per firm-year: subsidy + guidance-fund equity + below-market debt."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..data.spec import STATE_INVESTOR_TYPES
from .debt import debt_flows
from .equity import equity_flows
from .subsidies import subsidy_flows

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
        Needs ``financials`` (firm_id, year, revenue, interest_bearing_debt,
        interest_expense); ``grants`` and ``equity`` are optional (no rows = zero).
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
    they are excluded from the flows and recorded in ``data.quality``.
    """
    opts = dict(subsidy_basis=subsidy_basis, equity_basis=equity_basis, benchmark=benchmark, spread_bp=spread_bp,
                aul_years=aul_years, expense_threshold=expense_threshold,
                state_investor_types=tuple(state_investor_types), first_year_debt=first_year_debt)
    methods = describe_methods(**opts)
    log = data.quality
    fin = data.require("financials", ["firm_id", "year", "revenue", "interest_bearing_debt", "interest_expense"],
                       purpose="support flows")
    keep = ["firm_id", "year", "revenue", "interest_bearing_debt", "interest_expense"]
    if "benchmark_rate" in fin:
        keep.append("benchmark_rate")
    base = fin[keep]
    panel_keys = pd.MultiIndex.from_frame(base[["firm_id", "year"]])

    out = debt_flows(base, benchmark=benchmark, spread_bp=spread_bp, first_year=first_year_debt, log=log)
    out = out.merge(base[["firm_id", "year", "revenue"]], on=["firm_id", "year"], how="left")

    if data.grants is not None and len(data.grants):
        grants = data.require("grants", ["firm_id", "year", "amount"], purpose="subsidies")
        if subsidy_basis == "received":
            _log_outside(grants, panel_keys, log, "grants")
        sub = subsidy_flows(grants, base[["firm_id", "year", "revenue"]], basis=subsidy_basis, aul_years=aul_years,
                            expense_threshold=expense_threshold, log=log)
        out = out.merge(sub, on=["firm_id", "year"], how="left")
    if data.equity is not None and len(data.equity):
        eq = data.require("equity", ["firm_id", "year", "amount", "investor_type"], purpose="equity support")
        if equity_basis == "gross":
            _log_outside(eq, panel_keys, log, "equity")
        ef = equity_flows(eq, basis=equity_basis, state_investor_types=state_investor_types,
                          unequityworthy=unequityworthy, aul_years=aul_years)
        out = out.merge(ef, on=["firm_id", "year"], how="left")
    for col in ("subsidy", "subsidy_received", "subsidy_expensed", "subsidy_allocated", "equity", "equity_state_gross"):
        out[col] = out[col].fillna(0.0) if col in out else 0.0
    for col in ("n_grants", "n_state_investments"):
        out[col] = out[col].fillna(0).astype(np.int64) if col in out else 0
    out["debt_missing"] = out["debt"].isna()
    out["total"] = out["subsidy"] + out["equity"] + out["debt"].fillna(0.0)
    rev = out["revenue"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.where(rev > 0, out["total"].to_numpy() / rev, np.nan)
    cols = ["firm_id", "year", "revenue", "subsidy", "equity", "debt", "total", "share",
            "subsidy_received", "n_grants", "subsidy_expensed", "subsidy_allocated",
            "equity_state_gross", "n_state_investments", "avg_debt", "effective_rate", "benchmark_rate",
            "rate_gap", "debt_basis", "debt_missing"]
    out = out[cols]
    if data.firms is not None:
        attrs = [c for c in ("sector", "province") if c in data.firms]
        if attrs:
            out = out.merge(data.firms[["firm_id", *attrs]], on="firm_id", how="left")
    out = out.sort_values(["firm_id", "year"], kind="stable").reset_index(drop=True)
    out.attrs["methods"] = methods
    out.attrs["options"] = opts
    return out


def _log_outside(table: pd.DataFrame, panel_keys: pd.MultiIndex, log, name: str) -> None:
    keys = pd.MultiIndex.from_frame(table[["firm_id", "year"]])
    outside = ~keys.isin(panel_keys)
    if outside.any():
        sel = table[outside]
        log.add(stage="measure", table=name, rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                issue="no financials for this firm-year", action="excluded",
                detail="amount cannot be related to revenue; not counted in flows")
