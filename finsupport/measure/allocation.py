"""Allocation of non-recurring benefits over time (CVD declining balance, straight line).

:func:`allocate_declining_balance` and :func:`allocate_straight_line` list each
benefit's allocation year by year (one row per benefit and year of life: for reading
and small tables). :func:`allocate_at` gives the same sums for any firm-years without
that expansion, in memory proportional to the benefits and the firm-years asked for;
the measures use it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["allocate_declining_balance", "allocate_straight_line", "allocate_at", "GRID_CELLS"]


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


#: Cells of the firm × year grid filled at a time: bounds the memory of :func:`allocate_at`.
GRID_CELLS = 2_000_000


def allocate_at(
    codes: np.ndarray,
    year: np.ndarray,
    amount: np.ndarray,
    rate: np.ndarray | None,
    *,
    aul_years: int,
    at_codes: np.ndarray,
    at_years: np.ndarray,
    block_cells: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Allocated amounts falling in given firm-years, without one row per benefit and year of life.

    The formulas of :func:`allocate_declining_balance` (``rate`` given) and
    :func:`allocate_straight_line` (``rate=None``). With ``r = d/(1+d)`` the allocation
    in year k of a benefit ``y`` is linear in k,

        A_k = y/n + [y − (y/n)(k − 1)]·r = c0 − c1·(k − 1),  c0 = y(1/n + r),  c1 = y·r/n

    (``r = 0`` for straight line), so what firm i gets in year t from everything it
    received in the n years up to t is

        Σ_{j=0}^{n−1} [C0(i, t − j) − j·C1(i, t − j)],

    with ``C0(i, s)``, ``C1(i, s)`` the sums of ``c0``, ``c1`` over the benefits firm i
    received in year s: n shifted additions of two firm × year grids. The grids are
    filled for a block of firms at a time (``block_cells`` cells, default
    :data:`GRID_CELLS`), so memory does not grow with n; Python loops run over the n
    years of life and the blocks, never over rows.

    Parameters
    ----------
    codes : array of int
        Firm code of each benefit (negative: the firm is not among the queries; ignored).
    year : array of int
        Year of receipt (k = 1).
    amount : array of float
        The benefit ``y``.
    rate : array of float or None
        Discount rate ``d`` of each benefit, a decimal (the benchmark of its year of
        receipt); None for straight line.
    aul_years : int
        Average useful life n.
    at_codes, at_years : arrays of int
        The firm-years wanted (firm codes in the same coding as ``codes``).

    Returns
    -------
    (allocated, count) : arrays aligned with ``at_codes``
        The sum of the allocations falling in each firm-year wanted, and how many
        benefits allocate to it.
    """
    n = int(aul_years)
    at_codes = np.asarray(at_codes, dtype=np.int64)
    at_years = np.asarray(at_years, dtype=np.int64)
    allocated = np.zeros(len(at_codes))
    count = np.zeros(len(at_codes), dtype=np.int64)
    if len(at_codes) == 0 or len(amount) == 0:
        return allocated, count
    first, last = int(at_years.min()), int(at_years.max())
    width = last - first + 1
    base = first - n + 1                         # receipts from here on reach the years wanted
    wide = width + n - 1                         # receipt years base … last
    codes = np.asarray(codes, dtype=np.int64)
    year = np.asarray(year, dtype=np.int64)
    keep = (codes >= 0) & (year >= base) & (year <= last)
    codes, year, y = codes[keep], year[keep], np.asarray(amount, dtype=float)[keep]
    if rate is None:
        c0, c1 = y / n, None
    else:
        r = np.asarray(rate, dtype=float)[keep]
        r = r / (1.0 + r)
        c0, c1 = y / n + y * r, y * r / n
    g_order = np.argsort(codes, kind="stable")
    g_sorted = codes[g_order]
    q_order = np.argsort(at_codes, kind="stable")
    q_sorted = at_codes[q_order]
    n_firms = int(max(q_sorted[-1], g_sorted[-1] if len(g_sorted) else 0)) + 1
    per_block = max(1, (block_cells or GRID_CELLS) // (wide + width))
    for lo in range(0, n_firms, per_block):
        hi = min(lo + per_block, n_firms)
        qa, qb = np.searchsorted(q_sorted, [lo, hi])
        if qa == qb:
            continue
        ga, gb = np.searchsorted(g_sorted, [lo, hi])
        q = q_order[qa:qb]
        if ga == gb:
            continue
        g = g_order[ga:gb]
        rows = hi - lo
        flat = (codes[g] - lo) * wide + (year[g] - base)
        g0 = np.bincount(flat, weights=c0[g], minlength=rows * wide).reshape(rows, wide)
        g1 = (np.bincount(flat, weights=c1[g], minlength=rows * wide).reshape(rows, wide)
              if c1 is not None else None)
        gn = np.bincount(flat, minlength=rows * wide).reshape(rows, wide)
        out = np.zeros((rows, width))
        cnt = np.zeros((rows, width), dtype=np.int64)
        for j in range(n):
            # year first + t takes the receipts of year first + t − j: receipt column t + (n − 1) − j
            src = slice(n - 1 - j, n - 1 - j + width)
            out += g0[:, src]
            if g1 is not None and j:
                out -= j * g1[:, src]
            cnt += gn[:, src]
        r_i, c_i = at_codes[q] - lo, at_years[q] - first
        allocated[q] = out[r_i, c_i]
        count[q] = cnt[r_i, c_i]
    return allocated, count
