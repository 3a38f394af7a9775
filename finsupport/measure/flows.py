"""Support flows per firm-year: the five components composed on one panel, their total and share."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import DataError
from .core import build_panel
from .debt import measure_debt
from .equity import measure_equity
from .land import measure_land
from .options import ALL_COMPONENTS, STUDY_COMPONENTS, MeasureOptions
from .subsidies import measure_subsidy
from .tax import measure_tax

__all__ = ["support_flows", "COMPONENTS", "ALL_COMPONENTS", "describe_methods"]

#: The components of the study's headline (the default of ``components``).
COMPONENTS = STUDY_COMPONENTS


def describe_methods(**opts) -> dict[str, str]:
    """Plain-words description of the measurement choices (see :meth:`MeasureOptions.describe`)."""
    return MeasureOptions.coerce(opts).describe()


def support_flows(
    data,
    *,
    options: MeasureOptions | None = None,
    components: Iterable[str] | None = None,
    subsidy_basis: str | None = None,
    equity_basis: str | None = None,
    benchmark: str | None = None,
    spread_bp: float | None = None,
    aul_years: int | None = None,
    expense_threshold: float | None = None,
    state_investor_types: Iterable[str] | None = None,
    unequityworthy: Iterable[str] | None = None,
    first_year_debt: str | None = None,
    tax_basis: str | None = None,
    tax_timing: str | None = None,
    land_benchmark: str | None = None,
    land_allocation: str | None = None,
) -> pd.DataFrame:
    """Support flows per firm-year and their share of revenue.

    Every component is measured for every firm-year of ``data.financials``;
    ``total`` adds the ``components`` chosen (default the study's three: subsidy,
    equity, debt) and ``share = total / revenue``; ``total_extended`` and
    ``share_extended`` add all five. Each component follows a documented rule:

    * subsidy — :func:`finsupport.measure.subsidies.measure_subsidy` (``received``,
      ``cvd`` = 19 CFR 351.524 declining balance with the 0.5 % expense test,
      ``straight_line``);
    * equity — :func:`finsupport.measure.equity.measure_equity` (``gross`` state-linked
      contributions as in the published study, or CVD ``grant_equivalent``, 351.507);
    * debt — :func:`finsupport.measure.debt.measure_debt`
      (max(0, benchmark − effective) × average debt; WTO SCM Art. 14(b));
    * tax — :func:`finsupport.measure.tax.measure_tax` (preferential rates and the R&D
      additional deduction, or the effective-rate approximation; accrual or CVD timing);
    * land — :func:`finsupport.measure.land.measure_land` (max(0, benchmark − paid) ×
      area, non-recurring: 0.5 % test, allocated over the use-right term by default).

    Parameters
    ----------
    data : Dataset
        Needs ``financials`` (firm_id, year, revenue; for the debt component also interest_bearing_debt
        and interest_expense: a table without interest_bearing_debt (the industrial survey) has no debt
        component, flagged in the quality log; debt without interest_expense is an error; for the tax
        component profit_before_tax and, by basis, income_tax_expense or preferential status columns);
        ``grants``, ``equity``, ``land`` and ``land_benchmarks`` are optional (no grant or equity rows =
        zero; no land table = land not measured).
    options : MeasureOptions, optional
        All measurement choices in one validated object; keyword options given here
        override its fields (and are validated the same way).
    components, subsidy_basis, …, land_allocation
        The fields of :class:`~finsupport.measure.options.MeasureOptions`.

    Returns
    -------
    DataFrame, one row per firm-year in ``financials``, sorted by firm and year:
    ``firm_id, year, revenue, subsidy, equity, debt, tax, land, total, share,
    total_extended, share_extended`` then the inputs behind them (``subsidy_received,
    n_grants, subsidy_expensed, subsidy_allocated, equity_state_gross,
    n_state_investments, avg_debt, effective_rate, benchmark_rate, rate_gap,
    debt_basis, debt_missing, tax_…, land_…``) and ``sector``/``province`` when
    ``firms`` has them. A component that cannot be computed counts as zero in the
    totals and is flagged (``debt_missing``, ``tax_missing``, ``land_missing``,
    quality log). ``share`` is missing where revenue is zero, negative or missing.

    ``attrs``: ``components`` (those in ``total``), ``all_components`` (the five
    component columns, in order), ``options`` (the plain values of the
    :class:`MeasureOptions` used: ``MeasureOptions.from_mapping(flows.attrs["options"])``
    rebuilds it; attrs stay JSON-serialisable for Parquet), ``methods`` (plain-words rules), ``not_measured``
    (components the data cannot give, with ``not_measured_why``) and ``warnings``.

    Grants, equity and land rows in years without financials cannot be related to revenue:
    they are excluded from the flows and recorded in ``data.quality``. Equity rows whose
    investor type is neither state-linked nor a known private type (or missing) count as
    not state-linked; they are *flagged* in ``data.quality`` and summed up in
    ``attrs["warnings"]`` (printed by ``finsupport run``).
    """
    given = dict(components=components, subsidy_basis=subsidy_basis, equity_basis=equity_basis, benchmark=benchmark,
                 spread_bp=spread_bp, aul_years=aul_years, expense_threshold=expense_threshold,
                 state_investor_types=state_investor_types, unequityworthy=unequityworthy,
                 first_year_debt=first_year_debt, tax_basis=tax_basis, tax_timing=tax_timing,
                 land_benchmark=land_benchmark, land_allocation=land_allocation)
    opts = MeasureOptions.coerce(options, **{k: v for k, v in given.items() if v is not None})
    if type(data).__name__ == "PartitionedDataset":
        # registry scale: the same computation on every firm partition (a Dask DataFrame)
        from ..data.partitioned import partitioned_flows

        return partitioned_flows(data, options=opts)
    log = data.quality
    fin = data.require("financials", ["firm_id", "year", "revenue"], purpose="support flows")
    lacking = [c for c in ("interest_bearing_debt", "interest_expense") if c not in fin.columns]
    if lacking == ["interest_expense"]:  # debt without interest: a mapping mistake, not a panel without debt
        data.require("financials", lacking, purpose="support flows (the below-market debt component)")
    if fin.empty:
        raise DataError(problems=[{"table": "financials", "message": "no rows to measure (the table is empty, or "
                                   "every row was excluded: see the data-quality log)",
                                   "hint": "provide at least one firm-year with revenue"}])
    panel = build_panel(fin, log=log)
    px, revenue = panel.px, panel.revenue
    grants = equity = None
    if data.grants is not None and len(data.grants):
        grants = data.require("grants", ["firm_id", "year", "amount"], purpose="subsidies")
    if data.equity is not None and len(data.equity):
        equity = data.require("equity", ["firm_id", "year", "amount", "investor_type"], purpose="equity support")
    land = getattr(data, "land", None)
    if land is not None:
        land = data.require("land", ["firm_id", "year", "area_m2", "price_paid"], purpose="below-market land")
        if opts.land_benchmark == "user" and len(land) and "land" in opts.components:
            # land in the total without a benchmark is an error; outside it, land is missing (flagged) instead
            data.require("land", ["place"], purpose="below-market land (benchmarks by place)")
            data.require("land_benchmarks", ["place", "year", "price_per_m2"], purpose="below-market land")
    bench = getattr(data, "land_benchmarks", None)
    if bench is not None and not {"place", "year", "price_per_m2"} <= set(bench.columns):
        bench = None
    parts = [measure_subsidy(grants, panel, opts), measure_equity(equity, panel, opts), measure_debt(panel, opts),
             measure_tax(panel, opts), measure_land(land, bench, panel, opts)]
    by = {c.name: c for c in parts}
    total = sum(np.nan_to_num(by[c].amount, nan=0.0) for c in opts.components)
    extended = sum(np.nan_to_num(c.amount, nan=0.0) for c in parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(revenue > 0, total / revenue, np.nan)
        share_ext = np.where(revenue > 0, extended / revenue, np.nan)
    out = {"firm_id": panel.frame["firm_id"].reset_index(drop=True), "year": px.year, "revenue": revenue,
           **{c.name: c.amount for c in parts}, "total": total, "share": share, "total_extended": extended,
           "share_extended": share_ext}
    for c in parts:
        out.update({k: v for k, v in c.columns.items() if not k.startswith("_")})
    # the columns as they are (copy=False): consolidating them into one block would copy every
    # number once more while the parts are still held (+2 GB at 10 million firm-years)
    out = pd.DataFrame(_own_columns(out), copy=False)
    if data.firms is not None:
        attrs = [c for c in ("sector", "province") if c in data.firms]
        if attrs:
            by_firm = data.firms.drop_duplicates("firm_id").set_index("firm_id")[attrs].reindex(px.firms)
            for c in attrs:   # the values only: taking the firm-code index along would gather a million codes
                out[c] = pd.Series(by_firm[c].array.take(px.codes), copy=False)
    out.attrs["components"] = list(opts.components)
    out.attrs["all_components"] = list(ALL_COMPONENTS)
    out.attrs["methods"] = opts.describe()
    out.attrs["options"] = opts.to_dict()
    out.attrs["not_measured"] = [c.name for c in parts if not c.measured]
    out.attrs["not_measured_why"] = {c.name: c.why for c in parts if not c.measured}
    out.attrs["warnings"] = [w for c in parts for w in c.warnings]
    return out


def _own_columns(cols: dict) -> dict:
    """Each array its own writable memory: an array given twice (a rule's amount that is also
    its input column), or a read-only view of an input table, is copied, so that changing one
    column of the flows never changes another column or the input data."""
    seen: set[int] = set()
    out = {}
    for k, v in cols.items():
        if isinstance(v, np.ndarray):
            root = v
            while isinstance(root.base, np.ndarray):
                root = root.base
            if id(root) in seen or not v.flags.writeable or root.base is not None:
                v = v.copy()
                root = v
            seen.add(id(root))
        out[k] = v
    return out
