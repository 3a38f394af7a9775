"""Tax concessions: enterprise income tax a firm did not pay because of preferential treatment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..reference.tax import (
    FIRST_TAX_YEAR,
    HNTE_RATE,
    STATUTORY_RATE,
    rd_deduction_rate,
    small_low_profit_limits,
    small_low_profit_rate,
    small_low_profit_tax,
)
from .core import Component, Panel, build_panel
from .options import MeasureOptions

__all__ = ["tax_flows", "measure_tax", "TAX_STATUS_COLUMNS"]

#: Financial columns that make the preferential basis measurable (``tax_basis="auto"``).
TAX_STATUS_COLUMNS = ("hnte", "small_low_profit", "rd_additional_deduction")
_COLUMNS = ("tax_taxable_profit", "tax_rd_deduction", "tax_regime", "tax_applicable_rate", "tax_rate_part",
            "tax_rd_part", "tax_accrued", "tax_basis_used", "tax_missing")


def tax_flows(financials: pd.DataFrame, *, tax_basis: str = "auto", tax_timing: str = "accrual",
              log=None) -> pd.DataFrame:
    """Tax concessions per firm-year of ``financials`` (a view of :func:`measure_tax`).

    Parameters
    ----------
    financials : DataFrame
        ``firm_id, year, profit_before_tax`` and, by basis, ``income_tax_expense``;
        ``hnte``, ``small_low_profit``, ``tech_sme``, ``manufacturer`` (yes/no by year),
        ``rd_expense`` or a disclosed ``rd_additional_deduction``, ``employees`` and
        ``total_assets`` (small low-profit limits).
    tax_basis, tax_timing
        See :func:`measure_tax`.

    Returns
    -------
    DataFrame ``firm_id, year, tax`` and the inputs behind it (see :func:`measure_tax`).
    """
    opts = MeasureOptions(tax_basis=tax_basis, tax_timing=tax_timing)
    panel = build_panel(financials, log=log)
    comp = measure_tax(panel, opts)
    out = pd.DataFrame({"firm_id": panel.frame["firm_id"].to_numpy(), "year": panel.px.year, "tax": comp.amount})
    for c in _COLUMNS:
        out[c] = comp.columns[c]
    return out


def _log(panel: Panel, mask, issue: str, action: str, detail: str, column: str = "profit_before_tax") -> None:
    if panel.log is None:
        return
    if mask is None:
        panel.log.add(stage="measure", table="financials", column=column, issue=issue, action=action, detail=detail)
        return
    if mask.any():
        sel = panel.frame.loc[mask, ["firm_id", "year"]]   # the columns logged, not every financial column
        panel.log.add(stage="measure", table="financials", column=column, rows=sel.index, firm_id=sel["firm_id"],
                      year=sel["year"], issue=issue, action=action, detail=detail)


def measure_tax(panel: Panel, options: MeasureOptions) -> Component:
    """Tax concession in each firm-year of ``panel``.

    Taxable profit ``TP`` is profit before tax (利润总额) as reported: book-tax
    differences are ignored and losses are not carried forward (both logged). A year
    with ``TP ≤ 0`` gives no concession. Rates: statutory 25 % (EIT Law Art. 4).

    ``tax_basis="preferential"`` (the two parts are added; they are never added to the
    effective basis)::

        D   = disclosed rd_additional_deduction, else rate_t × rd_expense
              (rate_t: 50 % from 2008; 75 % from 2018 (technology-based SMEs from 2017);
              100 % for manufacturers from 2021, technology-based SMEs from 2022, all
              firms from 2023: reference/rd_additional_deduction.csv)
        D'  = min(D, TP)                      the deduction cannot make a loss count
        TI  = TP − D'                         taxable income after the deduction
        T   = tax on TI under the regime the firm is in: HNTE 15 % (EIT Law Art. 28(2),
              ``hnte`` = yes that year), small low-profit brackets of the year
              (reference/small_low_profit.csv; eligible when TI, employees and total
              assets are within the year's limits, or ``small_low_profit`` = yes and TI
              is within the income limit; ``small_low_profit`` = no rules it out), else
              25 %; a firm in both takes the lower tax
        r   = applicable rate: 15 %, 25 %, or the small low-profit rate of the bracket TI
              falls in
        rd part   = D' × r                    (b) the R&D additional deduction × rate
        rate part = 25 % × TP − T − D' × r    (a) = (25 % − r) × TP at a flat rate
        tax       = 25 % × TP − T             = (a) + (b)

    ``tax_basis="effective"`` (an approximation): ``max(0, 25 % × TP − income tax
    expense)``; deferred taxes, exempt income and loss carry-forwards move it either way.
    ``"auto"`` is ``preferential`` when the panel has a column of
    :data:`TAX_STATUS_COLUMNS` with a value, else ``effective``.

    ``tax_timing="cvd"``: the benefit counts in the year the return is filed, the year
    after the profit (19 CFR 351.509(b)(1)); a benefit whose next year is not in the
    panel is excluded (logged). ``accrual``: the year of the profit.

    Years before 2008 (the 2008 EIT Law) and firm-years without profit before tax (or,
    for ``effective``, income tax expense) give a missing amount, flagged and counted 0
    in totals. Columns behind the amount: ``tax_taxable_profit, tax_rd_deduction,
    tax_regime, tax_applicable_rate, tax_rate_part, tax_rd_part, tax_accrued
    (before timing), tax_basis_used, tax_missing``.
    """
    n = panel.n
    year = panel.px.year
    nan = np.full(n, np.nan)
    wanted = "tax" in options.components
    if not panel.has("profit_before_tax"):
        _log(panel, None, "tax component not measured", "flagged" if wanted else "info",
             "financials has no profit_before_tax (利润总额): the tax concession is missing for every firm-year "
             "and counts as 0 in the totals")
        cols = {c: nan.copy() for c in _COLUMNS}
        cols.update(tax_regime=np.full(n, "", dtype=object), tax_basis_used=np.full(n, "", dtype=object),
                    tax_missing=np.ones(n, bool))
        return Component("tax", nan.copy(), cols, measured=False, why="the data have no profit before tax")
    has_status = any(panel.has(c) and panel.frame[c].notna().any() for c in TAX_STATUS_COLUMNS)
    basis = options.tax_basis if options.tax_basis != "auto" else ("preferential" if has_status else "effective")
    if basis == "effective" and not panel.has("income_tax_expense"):
        _log(panel, None, "tax component not measured", "flagged" if wanted else "info",
             "the effective basis needs income_tax_expense (所得税费用); add it, or preferential status columns "
             "(hnte, small_low_profit) or rd_additional_deduction for the preferential basis",
             column="income_tax_expense")
        cols = {c: nan.copy() for c in _COLUMNS}
        cols.update(tax_regime=np.full(n, "", dtype=object), tax_basis_used=np.full(n, "", dtype=object),
                    tax_missing=np.ones(n, bool))
        return Component("tax", nan.copy(), cols, measured=False, why="the data have no income tax expense")
    tp = panel.column("profit_before_tax")
    before = year < FIRST_TAX_YEAR
    loss = tp <= 0
    tp_pos = np.where(loss, 0.0, tp)
    _log(panel, None, "tax: assumptions", "info",
         "taxable profit = profit before tax (利润总额): book-tax differences ignored; losses give no concession "
         "and are not carried forward")
    _log(panel, loss & ~before, "loss year: no tax concession", "info", "profit before tax ≤ 0")
    _log(panel, before, "tax concession not measured before 2008", "flagged",
         "the 2008 Enterprise Income Tax Law is the rule measured; earlier years are missing (counted 0)")
    if basis == "effective":
        ite = panel.column("income_tax_expense")
        accrued = np.where(loss, 0.0, np.maximum(0.0, STATUTORY_RATE * tp_pos - ite))
        accrued = np.where(np.isnan(ite) & ~loss, np.nan, accrued)
        with np.errstate(divide="ignore", invalid="ignore"):
            app = np.where(tp > 0, ite / tp, np.nan)
        d = nan.copy()
        regime = pd.Categorical.from_codes(np.zeros(n, np.int8), categories=["effective"])
        rate_part, rd_part = accrued, np.where(np.isnan(accrued), np.nan, 0.0)
        _log(panel, None, "tax: effective basis", "info",
             "max(0, 25 % × profit before tax − income tax expense): an approximation (deferred taxes, exempt income "
             "and loss carry-forwards move it either way)", column="income_tax_expense")
    else:
        accrued, rate_part, rd_part, app, d, regime = _preferential(panel, tp_pos, year)
    missing = np.isnan(tp) | before | np.isnan(accrued)
    _log(panel, missing & ~before, "tax concession not computable", "flagged",
         "profit before tax (or income tax expense under the effective basis) missing; counted as 0 in totals")
    accrued = np.where(missing, np.nan, accrued)
    amount = accrued
    if options.tax_timing == "cvd":
        px = panel.px
        nxt = px.locate(px.codes, year + 1)
        lost = (nxt < 0) & (np.nan_to_num(accrued) != 0)
        _log(panel, lost, "tax benefit falls after the panel", "excluded",
             "19 CFR 351.509(b)(1): counted in the year the return is filed (the next year), which is not in the data")
        amount = px.total(nxt, np.nan_to_num(accrued))
        # the filing year's amount is unknown where last year's concession is (or last year is not in the data)
        prev = px.locate(px.codes, year - 1)
        unknown = (prev < 0) | missing[np.maximum(prev, 0)]
        _log(panel, (prev < 0) & (year > FIRST_TAX_YEAR), "tax (cvd timing): previous year not in the data", "flagged",
             "the return filed this year is for last year's profit, which is not in the data; counted as 0")
        amount = np.where(unknown, np.nan, amount)
    cols = dict(tax_taxable_profit=tp, tax_rd_deduction=d, tax_regime=regime, tax_applicable_rate=app,
                tax_rate_part=rate_part, tax_rd_part=rd_part, tax_accrued=accrued,
                tax_basis_used=pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[basis]),
                tax_missing=np.isnan(amount))
    return Component("tax", amount, cols)


def _preferential(panel: Panel, tp: np.ndarray, year: np.ndarray):
    """Preferential-rate and R&D-deduction parts (see :func:`measure_tax`); ``tp`` is max(0, TP)."""
    hnte_flag = panel.flag("hnte")
    hnte = hnte_flag == 1
    slp_flag = panel.flag("small_low_profit")
    if not panel.has("hnte"):
        _log(panel, None, "tax: no HNTE status", "info", "financials has no hnte column: no firm-year is taxed at "
             "the 15 % high- and new-technology rate", column="hnte")
    else:   # an empty cell is not a no: say where it decides the rate
        _log(panel, np.isnan(hnte_flag) & (tp > 0), "HNTE status missing", "flagged",
             "no hnte value for this profitable firm-year: taxed as not a high- and new-technology enterprise "
             "(no 15 % rate)", column="hnte")
    manuf_flag = panel.flag("manufacturer")
    manuf, tsme = manuf_flag == 1, panel.flag("tech_sme") == 1
    rate = rd_deduction_rate(year, manufacturer=manuf, tech_sme=tsme)
    disclosed = panel.column("rd_additional_deduction")
    rd = panel.column("rd_expense")
    est = np.isnan(disclosed)
    d = np.where(est, rate * rd, disclosed)
    if panel.has("manufacturer"):
        _log(panel, np.isnan(manuf_flag) & est & (rd > 0) & (tp > 0), "manufacturer status missing", "flagged",
             "no manufacturer value where the R&D deduction is estimated: the general rate of the year is used",
             column="manufacturer")
    n_est = int((est & ~np.isnan(d) & (tp > 0)).sum())
    if n_est:   # one entry, not one per firm-year: it is the rule wherever nothing is disclosed
        _log(panel, None, "R&D additional deduction estimated", "info",
             f"{n_est:,} profitable firm-year(s) without a disclosed rd_additional_deduction: deduction rate of the "
             "year (reference/rd_additional_deduction.csv; manufacturer / tech_sme columns select the higher rates) "
             "× rd_expense, which may include R&D that does not qualify", column="rd_additional_deduction")
    no_d = np.isnan(d) & (tp > 0) & (year >= FIRST_TAX_YEAR)
    _log(panel, no_d, "R&D additional deduction unknown", "flagged",
         "neither rd_additional_deduction nor rd_expense: the R&D part counts as 0", column="rd_expense")
    dc = np.minimum(np.nan_to_num(d), tp)
    ti = tp - dc
    # small low-profit eligibility: income within the year's limit; size from the status or the data
    lim = small_low_profit_limits(year)
    with np.errstate(invalid="ignore"):
        income_ok = ti <= lim["income_limit"]
        emp, assets = panel.column("employees"), panel.column("total_assets")
        size_ok = (emp <= lim["employees_limit"]) & (assets <= lim["assets_limit"])
    size_unknown = np.isnan(emp) | np.isnan(assets)
    slp = income_ok & np.where(slp_flag == 1, True, np.where(slp_flag == 0, False, size_ok))
    _log(panel, np.isnan(slp_flag) & income_ok & size_unknown & (tp > 0), "small low-profit status unknown",
         "flagged", "no small_low_profit status and employees or total assets missing: taxed as not small "
                    "low-profit", column="small_low_profit")
    if np.isnan(slp_flag).any():
        _log(panel, None, "tax: small low-profit status inferred", "info",
             "where small_low_profit is not given, a firm-year within the year's limits of taxable income, year-end "
             "employees and total assets (industrial limits before 2019) is taxed as small low-profit",
             column="small_low_profit")
    t_stat = STATUTORY_RATE * ti
    t_hnte = np.where(hnte, HNTE_RATE * ti, np.inf)
    t_slp = np.full(len(ti), np.inf)
    slp_rate = np.full(len(ti), np.nan)
    k = np.flatnonzero(slp)          # the schedule is applied to the eligible firm-years only
    if len(k):
        t_slp[k] = np.where(np.isnan(v := small_low_profit_tax(ti[k], year[k])), np.inf, v)
        slp_rate[k] = small_low_profit_rate(ti[k], year[k])
    t = np.minimum(t_stat, np.minimum(t_hnte, t_slp))
    is_slp = slp & (t_slp <= t_hnte) & (t_slp <= t_stat)
    is_hnte = hnte & ~is_slp
    code = np.where(tp <= 0, 3, np.where(is_slp, 2, np.where(is_hnte, 1, 0)))
    regime = pd.Categorical.from_codes(code, categories=["statutory", "hnte", "small_low_profit", "loss"])
    r = np.where(is_slp, slp_rate, np.where(is_hnte, HNTE_RATE, STATUTORY_RATE))
    rd_part = dc * r
    total = STATUTORY_RATE * tp - t
    rate_part = total - rd_part
    return total, rate_part, rd_part, r, d, regime
