"""Corporate income tax schedules of the PRC used by the tax-concession measure (package data).

* ``small_low_profit.csv``: the small low-profit enterprise (小型微利企业) regime by year:
  brackets of taxable income with their effective rate and the eligibility limits
  (taxable income, employees, total assets; the limits of industrial firms before 2019).
  ``regime = whole``: before 2019 the rate of the row whose range holds the firm's whole
  taxable income applies to all of it; ``regime = brackets``: from 2019 each bracket's
  rate applies to the part of income inside it.
* ``rd_additional_deduction.csv``: the R&D additional deduction (研发费用加计扣除) rate by
  year and firm type (``all``, ``manufacturer``, ``tech_sme`` = technology-based SME).

Each row names its source (law, Caishui circular or MOF/SAT announcement).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["STATUTORY_RATE", "HNTE_RATE", "FIRST_TAX_YEAR", "small_low_profit_schedule", "rd_deduction_schedule",
           "small_low_profit_tax", "small_low_profit_limits", "small_low_profit_rate", "rd_deduction_rate"]

#: Statutory enterprise income tax rate (EIT Law Art. 4, in force from 2008).
STATUTORY_RATE = 0.25
#: Rate of high- and new-technology enterprises (EIT Law Art. 28(2)).
HNTE_RATE = 0.15
#: First year of the 2008 EIT Law (earlier years had a 33 % rate and other preferences: not measured).
FIRST_TAX_YEAR = 2008


def _read(name: str) -> pd.DataFrame:
    with resources.files("finsupport.reference").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


@lru_cache(maxsize=1)
def _slp() -> pd.DataFrame:
    return _read("small_low_profit.csv")


@lru_cache(maxsize=1)
def _rd() -> pd.DataFrame:
    return _read("rd_additional_deduction.csv")


def _years(year) -> tuple[np.ndarray, np.ndarray]:
    """The calendar years spanned and each firm-year's position in them (no sort of a million years)."""
    year = np.asarray(year, dtype=np.int64)
    if not len(year):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    y0 = int(year.min())
    return np.arange(y0, int(year.max()) + 1), year - y0


def small_low_profit_schedule() -> pd.DataFrame:
    """The small low-profit enterprise schedule (a copy), one row per bracket and period, with sources."""
    return _slp().copy()


def rd_deduction_schedule() -> pd.DataFrame:
    """The R&D additional deduction rates (a copy), one row per period and firm type, with sources."""
    return _rd().copy()


def small_low_profit_limits(year) -> dict[str, np.ndarray]:
    """Eligibility limits in force in each year (NaN where the regime did not exist)."""
    uy, inv = _years(year)
    lim = _slp().drop_duplicates(["first_year", "last_year"])
    out = {k: np.full(len(uy), np.nan) for k in ("income_limit", "employees_limit", "assets_limit")}
    for r in lim.itertuples(index=False):   # a dozen periods over the distinct years, not firm-years
        m = (uy >= r.first_year) & (uy <= r.last_year)
        for k in out:
            out[k][m] = getattr(r, k)
    return {k: v[inv] for k, v in out.items()}


def small_low_profit_tax(income, year) -> np.ndarray:
    """Tax on taxable ``income`` under the small low-profit regime of ``year`` (NaN where none applies).

    ``income`` must be within the year's income limit (the caller tests eligibility).
    """
    income = np.asarray(income, dtype=float)
    year = np.asarray(year, dtype=np.int64)
    tax = np.zeros(len(income))
    covered = np.zeros(len(income), bool)
    for r in _slp().itertuples(index=False):   # about twenty schedule rows
        m = (year >= r.first_year) & (year <= r.last_year)
        if not m.any():
            continue
        covered |= m
        if r.regime == "brackets":
            tax += np.where(m, r.effective_rate * np.clip(income - r.lower, 0.0, r.upper - r.lower), 0.0)
        else:   # the whole income at the rate of the range it falls in
            inside = m & (income > r.lower) & (income <= r.upper)
            tax += np.where(inside, r.effective_rate * income, 0.0)
    return np.where(covered, tax, np.nan)


def small_low_profit_rate(income, year) -> np.ndarray:
    """Effective rate of the bracket (or range) ``income`` falls in, small low-profit regime of ``year``.

    An income of 0 falls in the first bracket; NaN where no bracket holds it.
    """
    income = np.asarray(income, dtype=float)
    year = np.asarray(year, dtype=np.int64)
    rate = np.full(len(income), np.nan)
    for r in _slp().itertuples(index=False):
        m = (year >= r.first_year) & (year <= r.last_year) & ((income > r.lower) | ((r.lower == 0) & (income >= 0)))
        rate = np.where(m & (income <= r.upper), r.effective_rate, rate)
    return rate


def rd_deduction_rate(year, *, manufacturer=None, tech_sme=None) -> np.ndarray:
    """Additional deduction as a fraction of eligible R&D expense, by year and firm type (NaN before 2008).

    ``manufacturer`` and ``tech_sme`` are boolean arrays (None: no firm is of that type);
    a firm gets the highest rate it qualifies for.
    """
    uy, inv = _years(year)
    by_type = {}
    for t in ("all", "manufacturer", "tech_sme"):   # rates of the distinct years, then one take per firm-year
        rate = np.full(len(uy), np.nan)
        for r in _rd()[_rd()["firm_type"] == t].itertuples(index=False):
            rate = np.where((uy >= r.first_year) & (uy <= r.last_year), np.fmax(rate, r.rate), rate)
        by_type[t] = rate[inv]
    rate = by_type["all"]
    if manufacturer is not None:
        rate = np.where(np.asarray(manufacturer, bool), np.fmax(rate, by_type["manufacturer"]), rate)
    if tech_sme is not None:
        rate = np.where(np.asarray(tech_sme, bool), np.fmax(rate, by_type["tech_sme"]), rate)
    return rate
