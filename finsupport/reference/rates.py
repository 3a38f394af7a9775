"""Chinese benchmark lending rates and their day-weighted annual averages.

The table (``benchmark_rates.csv``, package data) has one row per change of the
People's Bank of China benchmark lending rate (one-year and over-five-year, until
2019-08-19) and of the Loan Prime Rate (one-year and five-year-plus, from the LPR reform
of 2019-08-20). A rate holds until the next row. ``status`` says how each row was
checked (``verified``, ``verified_1y`` = only the one-year value, ``recalled`` = from the
published series, still to be checked against the notice); ``source`` names the source.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError

__all__ = ["benchmark_rates", "annual_benchmark", "BENCHMARKS", "LAST_KNOWN_YEAR"]

#: Benchmark names accepted by ``annual_benchmark`` and ``support_flows(benchmark=...)``.
BENCHMARKS = {
    "lpr_1y": "rate_1y_pct",  # one-year PBOC benchmark, then one-year LPR from 2019-08-20
    "lpr_5y": "rate_5y_plus_pct",  # over-five-year benchmark, then five-year-plus LPR
}
#: Rates are held constant after the last change up to the end of this year.
LAST_KNOWN_YEAR = 2026


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    with resources.files("finsupport.reference").joinpath("benchmark_rates.csv").open("r", encoding="utf-8") as f:
        df = pd.read_csv(f, parse_dates=["effective_date"])
    return df.sort_values("effective_date").reset_index(drop=True)


def benchmark_rates() -> pd.DataFrame:
    """The table of rate changes (a copy), with ``status`` and ``source`` columns."""
    return _table().copy()


@lru_cache(maxsize=64)
def _annual(series: str) -> pd.Series:
    tab = _table()
    col = BENCHMARKS[series]
    first = tab["effective_date"].iloc[0].year + 1  # first full year covered
    days = pd.date_range(f"{first}-01-01", f"{LAST_KNOWN_YEAR}-12-31", freq="D")
    idx = np.searchsorted(tab["effective_date"].to_numpy(), days.to_numpy(), side="right") - 1
    # rates are whole hundredths of a percent: sum them as integers so a flat year is exact
    daily = np.rint(tab[col].to_numpy() * 100).astype(np.int64)[idx]
    g = pd.Series(daily, index=days).groupby(days.year)
    return g.sum() / g.size() / 100.0


def annual_benchmark(years, *, benchmark: str = "lpr_1y", spread_bp: float = 0.0) -> pd.Series:
    """Day-weighted annual average benchmark lending rate, in percent a year.

    Formula: r̄_y = (1 / D_y) Σ_{days d in year y} r(d), where r(d) is the rate in force on
    day d (the last change on or before d) and D_y is 365 or 366; plus ``spread_bp``/100.

    Parameters
    ----------
    years : iterable of int
        Calendar years.
    benchmark : {"lpr_1y", "lpr_5y"}
        ``lpr_1y``: PBOC one-year benchmark lending rate, then the one-year Loan Prime
        Rate from 2019-08-20. ``lpr_5y``: over-five-year benchmark, then the five-year-plus LPR.
    spread_bp : float
        Basis points added to every year (e.g. a risk premium for a firm's credit rating).

    Returns
    -------
    Series indexed by year (percent a year).

    Sources: PBOC benchmark lending rate notices; National Interbank Funding Center LPR
    announcements (see the ``source`` column of ``benchmark_rates()``). The averaging
    follows the annual-average benchmark used for below-market loans in WTO SCM Art. 14(b)
    practice.
    """
    if benchmark not in BENCHMARKS:
        raise ConfigError(f"benchmark '{benchmark}' is not known; use one of {', '.join(BENCHMARKS)}")
    annual = _annual(benchmark)
    years = pd.Index(pd.unique(np.asarray(list(years), dtype=int)))
    out = annual.reindex(years)
    if out.isna().any():
        bad = sorted(int(y) for y in years[out.isna().to_numpy()])
        raise DataError(
            problems=[{"table": "financials", "column": "year", "rows": None,
                       "message": f"no benchmark rate for year(s) {bad}; the rate table covers "
                                  f"{annual.index.min()}–{annual.index.max()}",
                       "hint": "restrict the years, or supply firm-specific rates in financials.benchmark_rate"}]
        )
    return out + spread_bp / 100.0
