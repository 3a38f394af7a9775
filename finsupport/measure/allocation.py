"""Allocation of non-recurring benefits over time (CVD declining balance, straight line).

Both functions are vectorised: each benefit row is expanded into its ``n`` allocation
years with ``numpy.repeat``; no Python loop runs over rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["allocate_declining_balance", "allocate_straight_line"]


def allocate_declining_balance(
    firm_id: pd.Series, year: pd.Series, amount: pd.Series, rate: pd.Series, *, aul_years: int
) -> pd.DataFrame:
    """Allocate non-recurring benefits by the formula of 19 CFR 351.524(d)(1).

    ``A_k = y/n + [y − (y/n)(k − 1)] · d / (1 + d)``, k = 1 … n, where ``y`` is the
    benefit, ``n`` the average useful life (AUL) in years, ``d`` the discount rate (a
    decimal: the long-term benchmark rate of the year of receipt) and k = 1 is the year
    of receipt. The allocated amounts have a present value (discounted at ``d``) equal
    to ``y``.

    Returns one row per benefit and allocation year: ``firm_id, year, k, allocated``.
    """
    n = int(aul_years)
    m = len(amount)
    k = np.tile(np.arange(1, n + 1), m)
    y = np.repeat(amount.to_numpy(dtype=float), n)
    d = np.repeat(rate.to_numpy(dtype=float), n)
    alloc = y / n + (y - (y / n) * (k - 1)) * d / (1.0 + d)
    return pd.DataFrame(
        {
            "firm_id": np.repeat(firm_id.to_numpy(), n),
            "year": np.repeat(year.to_numpy(dtype=np.int64), n) + k - 1,
            "k": k,
            "allocated": alloc,
        }
    )


def allocate_straight_line(firm_id: pd.Series, year: pd.Series, amount: pd.Series, *, aul_years: int) -> pd.DataFrame:
    """Allocate each benefit in equal parts ``y/n`` over ``n`` years from the year of receipt.

    Straight-line allocation over the normal depreciation period of the assets, as in the
    European Commission's guidelines for the calculation of the amount of subsidy in
    countervailing duty investigations (OJ C 394, 17.12.1998, section F), without the
    interest component.
    """
    n = int(aul_years)
    m = len(amount)
    k = np.tile(np.arange(1, n + 1), m)
    return pd.DataFrame(
        {
            "firm_id": np.repeat(firm_id.to_numpy(), n),
            "year": np.repeat(year.to_numpy(dtype=np.int64), n) + k - 1,
            "k": k,
            "allocated": np.repeat(amount.to_numpy(dtype=float), n) / n,
        }
    )
