"""Two-way fixed effects difference-in-differences (unit and time effects).

The estimator is linearmodels' ``PanelOLS`` with entity and time effects, which absorbs
both sets of effects by demeaning instead of building dummy matrices, so it runs on
millions of firm-years. The helpers here (column checks, the accounting of dropped
rows, the clustering options and the fit) are shared with :mod:`.event_study`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, EstimationError
from . import dist as stats
from .results import EstimateResult, Inference, deprecated
from .reuse import ids, keep, lookup

__all__ = ["twfe_did", "TwfeResult", "DroppedRows"]

TABLE = "panel"


# ---------------------------------------------------------------------------
# shared data preparation


@dataclass(frozen=True)
class DroppedRows:
    """Rows left out of an estimation because a variable it needs is missing.

    Attributes
    ----------
    count : int
        Number of rows dropped.
    units : list
        Unit ids that lost at least one row (sorted, unique).
    rows : list
        Index labels of the dropped rows in the input DataFrame.
    by_column : dict
        For each column used, how many rows were missing in it (a row missing in two
        columns counts in both).
    """

    count: int = 0
    units: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    by_column: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        if not self.count:
            return "no rows dropped"
        cols = ", ".join(f"{c}: {n}" for c, n in self.by_column.items() if n)
        shown = ", ".join(map(str, self.units[:8])) + (f" … (+{len(self.units) - 8} more)"
                                                        if len(self.units) > 8 else "")
        return (f"{self.count} row(s) of {len(self.units)} unit(s) dropped for missing values "
                f"(missing per column: {cols}); units {shown}")


def _problem(column: str, message: str, hint: str, rows=None) -> dict:
    p = {"table": TABLE, "column": column, "message": message, "hint": hint}
    if rows is not None:
        p["rows"] = list(rows)
    return p


def _require_columns(df: pd.DataFrame, columns: dict[str, str]) -> None:
    """Raise :class:`DataError` listing every role → column that ``df`` lacks."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(problems=[_problem("", f"expected a pandas DataFrame, got {type(df).__name__}",
                                           "pass the firm-year panel as a DataFrame")])
    problems = []
    seen = set()
    for role, col in columns.items():
        if col is None or col in seen:
            continue
        seen.add(col)
        if col not in df.columns:
            problems.append(_problem(
                str(col), f"column {col!r} (the {role}) is not in the panel",
                f"add the column or pass the right name as {role}= (columns present: "
                f"{', '.join(map(str, list(df.columns)[:12]))}{' …' if df.shape[1] > 12 else ''})"))
    if problems:
        raise DataError(problems=problems)


@dataclass(frozen=True)
class PanelCodes:
    """Integer codes of the unit and period columns of a prepared panel (one factorisation each).

    ``unit``: ``pandas.factorize(units, sort=False)`` codes (order of first appearance) and
    ``units`` the ids; ``time``: ``factorize(periods, sort=True)`` codes and ``times``.
    """

    unit: np.ndarray
    units: pd.Index
    time: np.ndarray
    times: pd.Index


def _prepare_panel(df: pd.DataFrame, *, unit: str, time: str, required: Sequence[str],
                  numeric: Sequence[str] = (), keep: Sequence[str] = (), codes: bool = False):
    """Select columns, check keys, drop (and account for) rows missing a required value.

    ``required`` columns must be present in a row for it to be used; ``numeric`` ones
    must also be numeric (bool is converted to float); ``keep`` columns are carried
    along (missing allowed). Unit and time must be present in every row and the pair
    unique. Returns ``(data, dropped)``, with ``codes=True`` ``(data, dropped, PanelCodes)``:
    the codes of the duplicate check, for the fit to reuse (factorising text ids is the
    costly part of preparing a large panel).
    """
    cols = list(dict.fromkeys([unit, time, *required, *keep]))
    # a shallow copy: columns converted below are replaced in this frame, never written into df's arrays
    data = df[cols].copy(deep=False)
    problems = []
    keys = {key: ids(data[key]) for key in (unit, time)}  # found once per column (shared_work)
    for key in (unit, time):
        if not keys[key].hasnans:  # the same column of an earlier estimation is not checked again
            continue
        miss = data[key].isna()
        if miss.any():
            problems.append(_problem(key, f"{int(miss.sum())} row(s) have no {key}",
                                     f"fill {key} or drop those rows", rows=data.index[miss][:50]))
    for c in numeric:
        s = data[c]
        if s.dtype == bool or str(s.dtype) == "boolean":
            data[c] = s.astype("float64")
        elif not pd.api.types.is_numeric_dtype(s):
            conv = pd.to_numeric(s, errors="coerce")
            bad = conv.isna() & s.notna()
            if bad.any():
                problems.append(_problem(c, f"{int(bad.sum())} value(s) are not numbers",
                                         f"convert {c} to numbers (missing values may stay empty)",
                                         rows=data.index[bad][:50]))
            else:
                data[c] = conv.astype("float64")
        else:
            data[c] = s.astype("float64")
    if problems:
        raise DataError(problems=problems)
    for c in numeric:
        inf = np.isinf(data[c].to_numpy())
        if inf.any():
            raise DataError(problems=[_problem(c, f"{int(inf.sum())} value(s) are infinite",
                                               f"recode or drop the infinite values of {c}",
                                               rows=data.index[inf][:50])])
    miss = data[list(dict.fromkeys(required))].isna()
    any_miss = miss.any(axis=1).to_numpy()
    dropped = DroppedRows()
    if any_miss.any():
        dropped = DroppedRows(
            count=int(any_miss.sum()),
            units=sorted(pd.unique(data.loc[any_miss, unit]).tolist(), key=_sort_key),
            rows=data.index[any_miss].tolist(),
            by_column={c: int(miss[c].sum()) for c in miss.columns},
        )
        data = data.loc[~any_miss]
        keys = {key: ids(data[key]) for key in (unit, time)}  # other rows than those checked above
    ucode, uniq_u = keys[unit].factorize(False)
    tcode, uniq_t = keys[time].factorize(True)
    # the codes of found columns (shared_work) are those of an earlier estimation: checked once
    dup = keys[unit].with_other("repeated pairs", keys[time], lambda: _repeated(
        ucode.astype(np.int64) * max(len(uniq_t), 1) + tcode, len(uniq_u) * len(uniq_t)))
    if dup.any():
        raise DataError(problems=[_problem(
            f"{unit}, {time}", f"{int(dup.sum())} row(s) repeat a ({unit}, {time}) pair",
            "keep one row per unit and period (aggregate or deduplicate first)",
            rows=data.index[dup][:50])])
    if codes:
        return data, dropped, PanelCodes(ucode, pd.Index(uniq_u), tcode, pd.Index(uniq_t))
    return data, dropped


def _sorted_codes(codes: np.ndarray, uniques) -> tuple[np.ndarray, object] | None:
    """The codes and uniques of ``pandas.factorize(x, sort=True)`` from those of ``sort=False``:
    sorting the distinct ids instead of factorising every row again; None for ids that do not
    sort (mixed types), where the caller factorises with ``sort=True``."""
    try:
        perm = np.asarray(uniques.argsort())
    except TypeError:
        return None
    rank = np.empty(len(perm), dtype=np.intp)
    rank[perm] = np.arange(len(perm))
    return np.where(codes >= 0, rank[np.maximum(codes, 0)], -1), uniques[perm]


def _repeated(key: np.ndarray, n_keys: int) -> np.ndarray:
    """Rows whose integer key (0 ≤ key < n_keys) occurs more than once."""
    if len(key) == 0:
        return np.zeros(0, bool)
    if n_keys <= 8 * len(key) + 1024:
        return np.bincount(key, minlength=n_keys)[key] > 1
    ks = np.sort(key)  # sparse keys: no count array as long as every possible key
    return np.isin(key, ks[1:][ks[1:] == ks[:-1]])


def _sort_key(v):
    return (0, v, "") if isinstance(v, (int, float, np.integer, np.floating)) else (1, 0, str(v))


def _twoway_residual(X: np.ndarray, g1: np.ndarray, g2: np.ndarray, *, maxiter: int = 200,
                     tol: float = 1e-11, grid: bool | None = None) -> np.ndarray:
    """Residual of the columns of X after projecting off unit and time effects.

    Alternating projections (exact after one sweep on a balanced panel); used only to
    detect regressors that the effects absorb or that are collinear. When the rows are
    every unit × every period in (unit, period) order, the sweeps run on the unit × period
    grid (:func:`_balanced_residual`), with the same additions in the same order, so the
    same numbers. ``grid``: :func:`_is_grid` of the codes when the caller has it.
    """
    X = np.array(X, dtype=float, copy=True)
    n1, n2 = int(g1.max()) + 1, int(g2.max()) + 1
    if _is_grid(g1, g2, n1, n2) if grid is None else grid:
        return _balanced_residual(X, n1, n2, maxiter=maxiter, tol=tol)
    c1 = np.bincount(g1, minlength=n1).astype(float)
    c2 = np.bincount(g2, minlength=n2).astype(float)
    for j in range(X.shape[1]):
        x = X[:, j]
        scale = max(np.abs(x).max(), 1e-300)
        for _ in range(maxiter):
            m1 = np.bincount(g1, weights=x, minlength=n1) / c1
            x -= m1[g1]
            m2 = np.bincount(g2, weights=x, minlength=n2) / c2
            x -= m2[g2]
            if max(np.abs(m1).max(), np.abs(m2).max()) < tol * scale:
                break
        X[:, j] = x
    return X


def _is_grid(g1: np.ndarray, g2: np.ndarray, n1: int, n2: int) -> bool:
    """Rows are unit 0's periods 0 … n2 − 1, then unit 1's, …: a balanced panel in (unit, period) order."""
    if len(g1) != n1 * n2:
        return False
    grid1, grid2 = g1.reshape(n1, n2), g2.reshape(n1, n2)
    return bool((grid1 == np.arange(n1)[:, None]).all() and (grid2 == np.arange(n2)[None, :]).all())


def _balanced_residual(X: np.ndarray, n1: int, n2: int, *, maxiter: int, tol: float) -> np.ndarray:
    """:func:`_twoway_residual` on a balanced panel in (unit, period) order, in place on ``X``.

    ``numpy.bincount`` adds a group's values one after another in row order starting
    from 0; here the unit sums add the period columns one after another and the period
    sums reduce over units (axis 0, sequential, starting from 0), i.e. the same additions
    in the same order: identical numbers, without the scatter and gather of codes.
    All columns are swept together on the unit × period × column array; a column stops
    when its own sweep converged (the others go on), so each column gets the sweeps and
    additions it would get alone.
    """
    k = X.shape[1]
    # the columns' largest magnitudes, a block of rows at a time (no n × k temporary, no strided passes)
    scale = np.zeros(k)
    for a in range(0, len(X), 1 << 16):
        np.maximum(scale, np.abs(X[a:a + (1 << 16)]).max(axis=0), out=scale)
    _sweep(X.reshape(n1, n2, k), n1, np.maximum(scale, 1e-300),
           lambda x: np.add.reduce(x, axis=0, initial=0.0), maxiter=maxiter, tol=tol)
    return X


def _sweep(X3: np.ndarray, n_units: int, scale: np.ndarray, units_sum, *, maxiter: int, tol: float) -> None:
    """The alternating demeaning of a (rows of units) × periods × columns array, in place.

    Each sweep subtracts the unit means (the period columns added one after another from 0),
    then the period means (``units_sum(x)``: the sum over the ``n_units`` units, one after
    another from 0; ``X3`` may hold one row per unit or one per kind of unit). A column stops
    when its largest mean is below ``tol`` × its largest magnitude ``scale`` (the others go on).
    """
    m, n2, k = X3.shape
    c1 = np.full((m, 1), float(n2))
    c2 = np.full((n2, 1), float(n_units))
    active = np.arange(k)
    for _ in range(maxiter):
        whole = len(active) == k
        x = X3 if whole else X3[:, :, active]
        s1 = np.zeros((m, len(active)))
        for t in range(n2):  # from 0, one period after another
            s1 += x[:, t, :]
        m1 = s1 / c1
        x -= m1[:, None, :]
        m2 = units_sum(x) / c2   # over units, one after another from 0
        x -= m2[None, :, :]
        if not whole:
            X3[:, :, active] = x
        done = np.maximum(np.abs(m1).max(axis=0), np.abs(m2).max(axis=0)) < tol * scale[active]
        active = active[~done]
        if not len(active):
            break


def _check_identified(X: np.ndarray | None, names: Sequence[str], g1: np.ndarray, g2: np.ndarray,
                     *, hint: str, R: np.ndarray | None = None, gram: np.ndarray | None = None,
                     orig: np.ndarray | None = None) -> None:
    """Raise :class:`EstimationError` if a regressor is absorbed by the effects or collinear.

    ``R`` is the two-way residual of ``X`` and ``gram`` = R'R when the caller has them; ``orig``
    the Euclidean norms of X's columns (then ``X`` may be None).
    """
    R = _twoway_residual(X, g1, g2) if R is None else R
    gram = R.T @ R if gram is None else gram
    orig = np.sqrt(np.einsum("ij,ij->j", X, X)) if orig is None else orig
    res = np.sqrt(np.clip(np.diag(gram), 0, None))
    absorbed = [n for n, o, r in zip(names, orig, res, strict=True) if o == 0 or r <= 1e-8 * o]
    if absorbed:
        raise EstimationError(
            f"no variation left in {', '.join(absorbed)} once unit and time effects are removed "
            f"(constant within units or within periods), so the coefficient is not identified. "
            f"Fix: {hint}")
    if gram.shape[1] > 1:
        lam, vec = np.linalg.eigh(gram / np.outer(res, res))  # correlation-scaled Gram matrix, k × k
        if lam[0] <= 1e-13 * lam[-1]:
            involved = [n for n, v in zip(names, np.abs(vec[:, 0]), strict=True) if v > 1e-6]
            raise EstimationError(
                f"the regressors {', '.join(involved)} are collinear once unit and time effects "
                f"are removed, so their coefficients are not identified. Fix: {hint}")


def _cluster_option(cluster, unit: str) -> str | None:
    """Normalise the ``cluster`` option: ``None``, the unit column, or another column."""
    if cluster is None:
        return None
    if cluster == "unit" or cluster == unit:
        return unit
    return str(cluster)


def _engine(engine: str) -> str:
    if engine not in ("fast", "linearmodels"):
        raise EstimationError(f"engine '{engine}' is not known; use 'fast' or 'linearmodels'")
    return engine


class _FastPanelResult:
    """The numbers of linearmodels ``PanelOLS(entity_effects=True, time_effects=True)``, computed directly.

    Same estimator and covariance as the PanelOLS call below (``debiased=True``,
    ``auto_df=False``, ``count_effects=True``; see ``SE_NOTE``): the design and outcome
    are demeaned by alternating projections on integer codes (``numpy.bincount``),
    which on a million firm-years is several times faster than PanelOLS's pandas-based
    demeaning. Tests check it against PanelOLS and statsmodels to 1e-10.
    """

    def __init__(self, params, cov, nobs, df_resid):
        self.params, self.cov, self.nobs, self.df_resid = params, cov, nobs, df_resid
        self.std_errors = pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=params.index, name="std_error")
        self.tstats = (params / self.std_errors).rename("tstat")
        self.pvalues = pd.Series(2 * stats.t.sf(np.abs(self.tstats.to_numpy()), df_resid), index=params.index,
                                 name="pvalue")

    @classmethod
    def fit(cls, y, X, names, g1, g2, clusters, *, n_effects: int):
        R = _twoway_residual(np.column_stack([y, X]), g1, g2)
        return cls.from_residuals(R[:, 0], R[:, 1:], names, clusters, n_effects=n_effects)

    @classmethod
    def from_residuals(cls, yt, Xt, names, clusters, *, n_effects: int, gram: np.ndarray | None = None,
                       grid: tuple[int, int] | None = None):
        """OLS and its covariance on outcome and design already demeaned by unit and time (``gram`` = Xt'Xt).

        ``grid = (n1, n2)``: the clusters are the units of a balanced panel in (unit, period)
        order (:func:`_is_grid`); the cluster score sums then add each unit's n2 rows in row
        order as ``numpy.bincount`` does (same numbers), all columns at once.
        """
        XtX_inv = np.linalg.inv(Xt.T @ Xt if gram is None else gram)
        beta = XtX_inv @ (Xt.T @ yt)
        e = yt - Xt @ beta
        n, k = Xt.shape
        df_resid = n - k - n_effects
        if clusters is None:
            V = XtX_inv * (e @ e / df_resid)
        else:
            ng = int(clusters.max()) + 1
            if grid is not None and grid[0] == ng and k > 1:
                # a reduction over the middle axis (not the last: with one coefficient numpy would
                # sum the periods pairwise) adds the periods one after another from 0: bincount's
                # order of additions
                S = np.add.reduce((Xt * e[:, None]).reshape(grid[0], grid[1], k), axis=1, initial=0.0)
            else:
                S = np.column_stack([np.bincount(clusters, weights=Xt[:, j] * e, minlength=ng) for j in range(k)])
            V = XtX_inv @ (S.T @ S) @ XtX_inv * (n / df_resid)
        params = pd.Series(beta, index=names, name="parameter")
        return cls(params, pd.DataFrame(V, index=names, columns=names), n, df_resid)

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        q = stats.t.ppf(1 - (1 - level) / 2, self.df_resid)
        return pd.DataFrame({"lower": self.params - q * self.std_errors, "upper": self.params + q * self.std_errors})


def _unit_time_order(ucode: np.ndarray, tcode: np.ndarray):
    """Row order by unit, then period: a slice (no copy) when the rows are in that order already."""
    if len(ucode) < 2 or ((np.diff(ucode) >= 0).all() and ((ucode[1:] != ucode[:-1]) | (tcode[1:] > tcode[:-1])).all()):
        return slice(None)
    return np.lexsort((tcode, ucode))


def _units_sum(x: np.ndarray, kind: np.ndarray, *, block: int = 2048) -> np.ndarray:
    """``numpy.add.reduce(x[kind], axis=0, initial=0.0)`` without the units × … array: a block of
    units at a time, each block's first row added to the sum so far (the same additions in the same
    order: one after another from 0)."""
    acc = np.zeros(x.shape[1:])
    for a in range(0, len(kind), block):
        part = np.take(x, kind[a:a + block], axis=0)
        part[0] += acc
        acc = np.add.reduce(part, axis=0, initial=0.0)  # 0 + (acc + first row): the running sum is never −0
    return acc


def _balanced_residual_by_kind(T: np.ndarray, kind: np.ndarray, *, maxiter: int = 200,
                               tol: float = 1e-11, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`_balanced_residual` of a grid design whose units come in a few kinds, on one unit per kind.

    ``T`` (kinds × periods × k): the rows of one unit of each kind; ``kind`` (units): each unit's
    kind, every kind used. When every unit's rows equal those of its kind (the event study's
    dummies are functions of the cohort and the period), every step of the sweeps but the sum
    over units gives equal rows to units of one kind: the unit sums and means, the subtractions
    and the convergence test are made once per kind. The period sums add the units' rows one
    after another from 0 as before (:func:`_units_sum`). Returns the n × k residual, the numbers
    of :func:`_twoway_residual` on the full design; ``out`` (units × periods × k, may be a view):
    written there instead.
    """
    nk, n2, k = T.shape
    n1 = len(kind)
    T = np.array(T, dtype=float, copy=True)
    scale = np.maximum(np.abs(T).max(axis=(0, 1)), 1e-300) if nk else np.full(k, 1e-300)
    _sweep(T, n1, scale, lambda x: _units_sum(x, kind), maxiter=maxiter, tol=tol)
    if out is None:
        return np.take(T, kind, axis=0).reshape(n1 * n2, k)
    for a in range(0, n1, 2048):
        out[a:a + 2048] = np.take(T, kind[a:a + 2048], axis=0)
    return out


def _demeaned_design(X: np.ndarray, names: list[str], g1: np.ndarray, g2: np.ndarray, hint: str,
                     grid: bool | None = None, kinds: tuple[np.ndarray, np.ndarray] | None = None):
    """An n × (1 + k) array with the design demeaned by unit and time effects in columns 1 … k
    (column 0 left for the outcome) and the Gram matrix of those columns, after the identification check.

    The Gram matrix is taken on the columns 1 … k of the n × (1 + k) array, the layout in
    which the fit always computed it (the layout decides the order of BLAS's sums).
    ``kinds = (T, kind)``: ``X`` is a grid design equal to ``T[kind]`` (see
    :func:`_balanced_residual_by_kind`), demeaned on the kinds' rows.
    """
    if kinds is None:
        R = np.empty((X.shape[0], 1 + X.shape[1]))
        R[:, 1:] = _twoway_residual(X, g1, g2, grid=grid)
        orig = None
    else:
        T, kind = kinds
        n1, n2, k = len(kind), T.shape[1], T.shape[2]
        R = np.empty((n1 * n2, 1 + k))
        _balanced_residual_by_kind(T, kind, out=R.reshape(n1, n2, 1 + k)[:, :, 1:])
        # the columns' norms per kind (exact for 0/1 dummies; they only decide the check below)
        orig = np.sqrt(np.einsum("c,ctj->j", np.bincount(kind, minlength=len(T)).astype(float), T * T))
    gram = R[:, 1:].T @ R[:, 1:]
    _check_identified(X, names, g1, g2, hint=hint, R=R[:, 1:], gram=gram, orig=orig)
    return R, gram


def _design_kinds(columns: dict, data: pd.DataFrame, regressors: Sequence[str], order,
                  unit_kinds: np.ndarray, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, kind)`` of :func:`_balanced_residual_by_kind`: the grid rows of the first unit of every kind.

    ``order`` puts the rows in (unit, period) order (a grid: unit u's periods at u·n2 …);
    ``unit_kinds`` one value per unit code.
    """
    _, first, kind = np.unique(unit_kinds, return_index=True, return_inverse=True)
    rows = (first[:, None] * n2 + np.arange(n2)[None, :]).ravel()   # grid positions of the kinds' units
    at = np.arange(len(data))[order][rows]                          # and their rows in data
    T = np.empty((len(first), n2, len(regressors)))
    for j, c in enumerate(regressors):
        T[:, :, j] = (columns[c][at] if c in columns else data[c].to_numpy(dtype=float)[at]).reshape(len(first), n2)
    return T, kind.ravel()


def _fit_panel(data: pd.DataFrame, *, outcome: str, regressors: Sequence[str], unit: str, time: str,
              cluster: str | None, weights: str | None, hint: str, engine: str = "fast",
              codes: PanelCodes | None = None, design_key: tuple | None = None,
              columns: dict[str, np.ndarray] | None = None, unit_kinds: np.ndarray | None = None):
    """Fit y on regressors with unit and time effects.

    Returns ``(result, n_units, n_periods, n_clusters)``. ``engine="fast"`` (unweighted
    fits) computes PanelOLS's numbers directly (:class:`_FastPanelResult`);
    ``engine="linearmodels"`` and weighted fits call PanelOLS itself. Unit and time are
    replaced by integer codes (time codes follow the sort order of ``time``); ``codes``
    from :func:`_prepare_panel` of the same rows saves factorising them again. ``design_key``:
    inputs that determine the regressors' values in the rows of ``data`` completely (the event
    study's cohorts, periods and window), compared instead of the regressors themselves when
    looking for the demeaned design of an earlier fit (:func:`~finsupport.estimate.reuse.shared_work`);
    its arrays must be the caller's own, never changed afterwards (they are kept without a copy).
    ``columns``: regressors given as arrays in the rows of ``data`` (name → values, e.g. the event
    study's dummies as booleans) instead of columns of ``data``; each is taken as float, the values
    a float column of ``data`` would hold. ``unit_kinds``: a value per unit code such that the
    regressors of a row depend only on its unit's value and its period (the event study's dummies:
    the unit's cohort); on a balanced panel the design is then demeaned once per kind of unit
    (:func:`_balanced_residual_by_kind`, the same numbers).
    """
    if codes is None:
        ucode, uniq_u = pd.factorize(data[unit], sort=False)
        tcode, uniq_t = pd.factorize(data[time], sort=True)
    else:
        ucode, uniq_u, tcode, uniq_t = codes.unit, codes.units, codes.time, codes.times
    order = _unit_time_order(ucode, tcode)
    columns = columns or {}

    def design() -> np.ndarray:
        # row-major as the reordered copy always was: the layout decides the order of BLAS's sums
        # (filled column by column: no column-major copy of the frame first)
        X = np.empty((len(data), len(regressors)))
        for j, c in enumerate(regressors):
            X[:, j] = (columns[c] if c in columns else data[c].to_numpy(dtype=float))[order]
        return X

    if weights is None and engine == "fast":
        ccode = None
        n_clusters = None
        if cluster is not None:
            ccode, uniq_c = pd.factorize(data[cluster]) if cluster != unit else (ucode, uniq_u)
            ccode, n_clusters = ccode[order], len(uniq_c)
        y = data[outcome].to_numpy(dtype=float)[order]
        # demean outcome and design once: the identification check, the fit and a wild
        # bootstrap (``_wild_fit``) all use these residuals. The design's part depends only on
        # the regressors and the panel: another outcome on the same design (shared_work) takes it
        # as computed (each column is demeaned on its own, so the numbers are the same)
        g1, g2 = ucode[order], tcode[order]
        # every code occurs (factorised), so the grid is that of _twoway_residual's own check: found once
        is_grid = _is_grid(g1, g2, len(uniq_u), len(uniq_t)) if len(g1) else False
        # with a design_key the regressors themselves are needed only when no earlier fit demeaned them
        X = design() if design_key is None else None
        key = (design_key if design_key is not None else X, g1, g2, tuple(regressors))
        found = lookup("twoway demeaned design", key)
        if found is None:
            kinds = None
            if unit_kinds is not None and is_grid:  # (X itself is not needed: the key is design_key)
                kinds = _design_kinds(columns, data, regressors, order, unit_kinds, len(uniq_t))
            else:
                X = design() if X is None else X
            R, gram = _demeaned_design(X, list(regressors), g1, g2, hint, grid=is_grid, kinds=kinds)
            # the design's columns of this fit's own residuals are kept (no copy); X and the codes
            # are this call's own arrays, never changed
            keep("twoway demeaned design", key, (R[:, 1:], gram), copy=False)
        else:
            XR, gram = found
            R = np.empty((len(y), 1 + len(regressors)))
            R[:, 1:] = XR
        R[:, 0] = _twoway_residual(y[:, None], g1, g2, grid=is_grid)[:, 0]
        grid = (len(uniq_u), len(uniq_t)) if cluster == unit and is_grid else None
        res = _FastPanelResult.from_residuals(R[:, 0], R[:, 1:], list(regressors), ccode,
                                              n_effects=len(uniq_u) + len(uniq_t) - 1, gram=gram, grid=grid)
        res.demeaned = (R, g1, g2, ccode)
        return res, len(uniq_u), len(uniq_t), n_clusters
    X = design()
    _check_identified(X, list(regressors), ucode[order], tcode[order], hint=hint)
    idx = pd.MultiIndex.from_arrays([ucode[order], tcode[order]], names=["unit", "time"])
    from linearmodels.panel import PanelOLS
    from linearmodels.panel.utility import AbsorbingEffectError

    y = pd.Series(data[outcome].to_numpy(dtype=float)[order], index=idx, name=outcome)
    exog = pd.DataFrame(X, index=idx, columns=list(regressors))
    w = None
    if weights is not None:
        w = pd.Series(data[weights].to_numpy(dtype=float)[order], index=idx, name=weights)
    mod = PanelOLS(y, exog, weights=w, entity_effects=True, time_effects=True)
    n_clusters = None
    if cluster is None:
        cov = dict(cov_type="unadjusted")
    elif cluster == unit:
        cov = dict(cov_type="clustered", cluster_entity=True)
        n_clusters = len(uniq_u)
    else:
        ccode, uniq_c = pd.factorize(data[cluster])
        cov = dict(cov_type="clustered", clusters=pd.DataFrame({"cluster": ccode[order]}, index=idx))
        n_clusters = len(uniq_c)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            res = mod.fit(debiased=True, auto_df=False, count_effects=True, **cov)
    except AbsorbingEffectError as exc:  # pragma: no cover - caught by _check_identified first
        raise EstimationError(f"{exc}. Fix: {hint}") from exc
    return res, len(uniq_u), len(uniq_t), n_clusters


SE_NOTE = (
    "linearmodels PanelOLS covariance with debiased=True and the absorbed effects counted "
    "(auto_df=False, count_effects=True): clustered V = (X̃'X̃)⁻¹ [Σ_g s_g s_g'] (X̃'X̃)⁻¹ · n/(n − k − d), "
    "where X̃ is the two-way demeaned design, s_g the score sum of cluster g, k the number of "
    "regressors and d = N_units + N_periods − 1 the number of absorbed effects; no G/(G − 1) "
    "factor. This is statsmodels' default cluster covariance on the dummy-variable regression "
    "divided by G/(G − 1) · (n − 1)/n. Classical: s² (X̃'X̃)⁻¹ with s² = e'e/(n − k − d). "
    "t and p-values use the t distribution with n − k − d degrees of freedom."
)


# ---------------------------------------------------------------------------
# TWFE DiD


class FittedPanel(EstimateResult):
    """Accessors shared by the fitted regressions (``model_result`` is the fit of PanelOLS or the fast engine).

    p-values and intervals use t(df_resid), as linearmodels reports them.
    """

    model_result: object

    @property
    def params(self) -> pd.Series:
        return self.model_result.params

    @property
    def std_errors(self) -> pd.Series:
        return self.model_result.std_errors

    @property
    def tstats(self) -> pd.Series:
        return self.model_result.tstats

    wild = None  # WildBootstrap when inference="wild"

    def _pvalues(self) -> pd.Series:
        if self.wild is not None:
            return self.wild.pvalues().reindex(self.params.index)
        return self.model_result.pvalues

    @property
    def cov(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients."""
        return self.model_result.cov

    @property
    def nobs(self) -> int:
        return int(self.model_result.nobs)

    @property
    def df_resid(self) -> int:
        return int(self.model_result.df_resid)

    def _bounds(self, level: float) -> pd.DataFrame:
        if self.wild is not None:  # test inversion of the wild cluster bootstrap
            return self.wild.conf_int(level).reindex(self.params.index)
        ci = self.model_result.conf_int(level=level)
        return pd.DataFrame({"lower": ci.iloc[:, 0], "upper": ci.iloc[:, 1]})

    def _uniform_terms(self) -> list[str]:
        """Coefficients a uniform band covers (all; the event study: its event-time terms)."""
        return list(self.params.index)

    def conf_int(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        """Confidence intervals; ``kind="uniform"`` with ``inference="wild"`` gives the sup-t band of the
        wild bootstrap draws over :meth:`_uniform_terms` (other coefficients keep pointwise intervals)."""
        if kind == "uniform" and self.wild is not None:
            if not 0 < level < 1:
                raise EstimationError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
            out = self._bounds(level).copy()
            terms = self._uniform_terms()
            band = self.wild.uniform_band(terms, level)
            out.loc[terms, ["lower", "upper"]] = band[["lower", "upper"]].to_numpy()
            return out
        return super().conf_int(level, kind)

    def _attach_inference(self, cluster, n_clusters, wild, warns) -> None:
        self.wild = wild
        if wild is None:
            self.inference = Inference(method="cluster" if cluster is not None else "classical", cluster=cluster,
                                       n_clusters=n_clusters, distribution="t", df=int(self.df_resid),
                                       warnings=tuple(warns))
        else:
            self.inference = Inference(method="wild_bootstrap", cluster=cluster, n_clusters=n_clusters,
                                       distribution="t", df=int(self.df_resid), draws=wild.draws,
                                       weights=wild.weights, seed=wild.seed, enumerated=wild.enumerated,
                                       warnings=tuple(warns))


def _panel_inference(cluster: str | None, n_clusters: int | None, df_resid: int) -> Inference:
    return Inference(method="cluster" if cluster is not None else "classical", cluster=cluster,
                     n_clusters=n_clusters, distribution="t", df=int(df_resid))


def _inference_option(inference: str, cluster: str | None, weights: str | None) -> bool:
    """Validate ``inference``; True for the wild cluster bootstrap."""
    if inference not in ("analytic", "wild"):
        raise ConfigError(f"inference={inference!r} is not known; use 'analytic' or 'wild'")
    if inference == "wild":
        if cluster is None:
            raise ConfigError("inference='wild' is the wild *cluster* bootstrap: it needs cluster='unit' (or "
                              "another cluster column), not cluster=None")
        if weights is not None:
            raise ConfigError("inference='wild' is not available for weighted regressions; drop weights= or "
                              "use inference='analytic'")
    return inference == "wild"


def _wild_fit(data: pd.DataFrame, *, outcome: str, regressors: Sequence[str], unit: str, time: str,
              cluster: str, draws: int, weights: str, seed, fitted=None):
    """The WCR bootstrap of the fit of :func:`_fit_panel` (same codes and demeaning)."""
    from .wild import wild_bootstrap

    if fitted is not None and getattr(fitted, "demeaned", None) is not None:
        R, ucode, tcode, ccode = fitted.demeaned  # the fit's own residuals: no second demeaning
        if ccode is not None:
            return wild_bootstrap(R[:, 0], R[:, 1:], list(regressors), ccode, units=ucode, periods=tcode,
                                  draws=draws, weights=weights, seed=seed)
    ucode, _ = pd.factorize(data[unit], sort=False)
    tcode, _ = pd.factorize(data[time], sort=True)
    ccode, _ = pd.factorize(data[cluster]) if cluster != unit else (ucode, None)
    R = _twoway_residual(np.column_stack([data[outcome].to_numpy(dtype=float),
                                          data[list(regressors)].to_numpy(dtype=float)]), ucode, tcode)
    return wild_bootstrap(R[:, 0], R[:, 1:], list(regressors), ccode, units=ucode, periods=tcode, draws=draws,
                          weights=weights, seed=seed)


def _treated_clusters(data: pd.DataFrame, treated: np.ndarray, cluster: str | None, *,
                      unit: str | None = None, codes: PanelCodes | None = None) -> int | None:
    """Clusters with at least one treated row (on the unit codes when clustering by unit)."""
    if cluster is None:
        return None
    if codes is not None and cluster == unit:
        return int((np.bincount(codes.unit[treated], minlength=len(codes.units)) > 0).sum())
    return int(pd.Series(treated).groupby(data[cluster].to_numpy()).any().sum())


class TwfeResult(FittedPanel):
    """A fitted two-way fixed effects DiD (:func:`twfe_did`).

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`
    (``params``, ``std_errors``, ``pvalues``, ``cov``, ``conf_int()``, ``nobs``,
    ``tidy()``, ``summary()``, ``plot()``).

    Attributes
    ----------
    params, std_errors, tstats, pvalues : Series
        Coefficients (treatment first, then covariates), their standard errors,
        t-statistics and two-sided p-values (t distribution with ``df_resid`` degrees
        of freedom, as linearmodels reports them).
    coef, se : float
        The treatment coefficient and its standard error.
    nobs, n_units, n_periods : int
        Observations, units and periods in the estimation sample.
    n_clusters : int or None
        Number of clusters (``None`` for classical standard errors).
    df_resid : int
        n − k − d (k regressors, d absorbed effects).
    inference : Inference
        How the standard errors were computed.
    dropped : DroppedRows
        Rows left out for missing values (count, unit ids, row labels).
    model_result : linearmodels PanelEffectsResults
        The underlying fit.
    fixed_effects : dict
        ``{"Unit FE": True, "Time FE": True}`` (for :func:`regression_table`).
    se_type : str
        Description of the standard errors.
    """

    estimator = "Two-way fixed effects DiD"

    def __init__(self, model_result, *, outcome: str, treatment: str, unit: str, time: str,
                 covariates: Sequence[str], cluster: str | None, weights: str | None,
                 n_units: int, n_periods: int, n_clusters: int | None, dropped: DroppedRows,
                 wild=None, warnings: Sequence[str] = ()):
        self.model_result = model_result
        self.outcome = outcome
        self.treatment = treatment
        self.unit = unit
        self.time = time
        self.covariates = tuple(covariates)
        self.cluster = cluster
        self.weights = weights
        self.n_units = n_units
        self.n_periods = n_periods
        self.dropped = dropped
        self.fixed_effects = {"Unit FE": True, "Time FE": True}
        self._attach_inference(cluster, n_clusters, wild, warnings)
        self.se_type = self.inference.describe()
        self.se_note = SE_NOTE

    @property
    def coef(self) -> float:
        return float(self.params[self.treatment])

    @property
    def se(self) -> float:
        return float(self.std_errors[self.treatment])

    @property
    def table(self) -> pd.DataFrame:
        """Deprecated: the release-0.1 layout ``term, coef, se, t, p, ci_lower, ci_upper``; use :meth:`tidy`."""
        deprecated("TwfeResult.table", "TwfeResult.tidy()")
        return self.tidy().rename(columns=_OLD_NAMES)

    def _title(self) -> str:
        return f"Two-way fixed effects DiD of {self.outcome} on {self.treatment}"

    def summary(self) -> str:
        """Plain-text summary: the model, sample, standard errors and coefficient table."""
        cov = f" + X'γ ({', '.join(self.covariates)})" if self.covariates else ""
        lines = [
            "Two-way fixed effects DiD (PanelOLS, unit and time effects absorbed)",
            f"Model: {self.outcome}_it = α_i + λ_t + β {self.treatment}_it{cov} + ε_it",
            f"Observations: {self.nobs:,}   units ({self.unit}): {self.n_units:,}   "
            f"periods ({self.time}): {self.n_periods}",
            f"Standard errors: {self.se_type}; small-sample factor n/(n − k − d), "
            f"df_resid = {self.df_resid:,}",
        ]
        lines += [f"Warning: {w}" for w in self.inference.warnings]
        if self.weights:
            lines.append(f"Weights: {self.weights}")
        lines.append(f"Dropped: {self.dropped}")
        lines.append("")
        tab = self.tidy().set_index("term")
        lines.append(tab.to_string(float_format=lambda v: f"{v:.4f}"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<TwfeResult {self.outcome} on {self.treatment}: β = {self.coef:.4g} "
                f"(se {self.se:.3g}), n = {self.nobs:,}>")


#: tidy() column names → the release-0.1 ``table`` names (deprecated accessors)
_OLD_NAMES = {"estimate": "coef", "std_error": "se", "statistic": "t", "p_value": "p",
              "conf_low": "ci_lower", "conf_high": "ci_upper"}


def twfe_did(df: pd.DataFrame, *, outcome: str, treatment: str, unit: str, time: str,
             covariates: Sequence[str] = (), cluster: str | None = "unit",
             weights: str | None = None, engine: str = "fast", inference: str = "analytic",
             draws: int = 999, bootstrap_weights: str = "rademacher", seed: int | None = None) -> TwfeResult:
    """Two-way fixed effects difference-in-differences.

    Estimates, by OLS with unit and time effects absorbed (linearmodels ``PanelOLS`` with
    ``entity_effects=True, time_effects=True``),

    .. math:: y_{it} = \\alpha_i + \\lambda_t + \\beta D_{it} + X_{it}'\\gamma + \\varepsilon_{it}

    where :math:`D_{it}` is the 0/1 treatment indicator (Angrist & Pischke 2009, *Mostly
    Harmless Econometrics*, ch. 5). With staggered adoption and effects that vary over
    time, β is a weighted average of all 2×2 DiD comparisons, some with negative weights
    on treatment effects (Goodman-Bacon 2021, J. Econometrics 225(2); see
    :func:`~finsupport.estimate.bacon.bacon_decomposition`) — compare it with
    group-time ATTs before reading it as an average effect.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit and period.
    outcome : str
        Outcome column y.
    treatment : str
        Treatment column D: bool or 0/1.
    unit, time : str
        Unit id and period columns (any sortable period type; ids of any type).
    covariates : sequence of str
        Time-varying controls X (time-invariant ones are absorbed by α_i and raise
        :class:`~finsupport.errors.EstimationError`).
    cluster : str or None
        ``"unit"`` (default) clusters by the unit column; another column name clusters
        by that column; ``None`` gives classical (homoskedastic) standard errors.
    weights : str, optional
        Column of positive regression weights (weighted least squares).
    engine : {"fast", "linearmodels"}
        ``fast`` (default) computes exactly PanelOLS's estimates and covariance with a
        numpy within-transformation (several times faster on millions of rows; weighted
        fits always use PanelOLS); ``linearmodels`` fits ``PanelOLS`` itself and exposes
        its results object as ``model_result``.
    inference : {"analytic", "wild"}
        ``analytic`` (default): cluster-robust (or classical) t tests. ``wild``: p-values
        of H0: β = 0 and confidence intervals (by test inversion) from the wild cluster
        bootstrap with the null imposed (WCR; :mod:`finsupport.estimate.wild`); standard
        errors stay the analytic ones. Needs clustering and no weights.
    draws : int
        Bootstrap draws for ``inference="wild"`` (every sign vector is enumerated when the
        weights are Rademacher and 2^G ≤ draws).
    bootstrap_weights : {"rademacher", "webb"}
        Distribution of the cluster weights of the wild bootstrap (Webb's six-point
        weights are preferable with fewer than about 12 clusters).
    seed : int, optional
        Seed of the bootstrap draws.

    Returns
    -------
    TwfeResult
        ``inference.warnings`` lists few-cluster warnings (fewer than 50 clusters or 20
        treated clusters; see :func:`finsupport.estimate.wild.cluster_warnings`); they are
        also issued as :class:`~finsupport.estimate.wild.FewClustersWarning`.

    Notes
    -----
    Standard errors are linearmodels' with its default small-sample correction
    (``debiased=True``; the absorbed effects are counted): the clustered covariance is
    :math:`(\\tilde X'\\tilde X)^{-1} \\sum_g \\tilde X_g' e_g e_g' \\tilde X_g
    (\\tilde X'\\tilde X)^{-1} \\cdot n/(n-k-d)` with d = N + T − 1 absorbed effects and no
    G/(G − 1) factor; statsmodels' cluster covariance of the same regression with
    explicit dummies equals it times G/(G − 1)·(n − 1)/n. Classical:
    :math:`s^2 (\\tilde X'\\tilde X)^{-1}`, :math:`s^2 = e'e/(n-k-d)`, identical to OLS
    with dummies. p-values and intervals use t(n − k − d).

    Rows with a missing outcome, treatment, covariate, weight or cluster id are dropped
    and listed in ``result.dropped``.

    Raises
    ------
    DataError
        Missing columns, missing unit/period ids, duplicate unit-period rows, a
        treatment that is not 0/1, non-numeric values, non-positive weights.
    EstimationError
        No treated observations, a treatment that never varies, or regressors absorbed
        by the effects or collinear.
    """
    covariates = list(covariates)
    cl = _cluster_option(cluster, unit)
    wild = _inference_option(inference, cl, weights)
    _require_columns(df, {"outcome": outcome, "treatment": treatment, "unit": unit, "time": time,
                         **{f"covariate {c}": c for c in covariates},
                         "cluster": cl, "weights": weights})
    required = [outcome, treatment, *covariates]
    if weights is not None:
        required.append(weights)
    if cl is not None and cl != unit:
        required.append(cl)
    data, dropped, codes = _prepare_panel(df, unit=unit, time=time, required=required, codes=True,
                                         numeric=[outcome, treatment, *covariates] + ([weights] if weights else []))
    _check_binary(data, treatment)
    if weights is not None and (data[weights] <= 0).any():
        bad = data.index[(data[weights] <= 0).to_numpy()]
        raise DataError(problems=[_problem(weights, f"{len(bad)} weight(s) are zero or negative",
                                           "use strictly positive weights or drop those rows", rows=bad[:50])])
    d = data[treatment]
    if len(data) == 0 or d.sum() == 0:
        raise EstimationError(f"no treated observations: {treatment} is 0 in every row used. "
                              f"Fix: check the treatment coding (1 = treated) and the sample.")
    if (d == 1).all():
        raise EstimationError(f"{treatment} is 1 in every row used, so there is no untreated "
                              f"comparison. Fix: include untreated units or pre-treatment periods.")
    res, n_u, n_t, n_c = _fit_panel(
        data, outcome=outcome, regressors=[treatment, *covariates], unit=unit, time=time,
        cluster=cl, weights=weights, engine=_engine(engine), codes=codes,
        hint=f"the treatment must switch on within units at different times (or for some units "
             f"only); drop covariates that are constant within {unit} or within {time}")
    from .wild import cluster_warnings

    warns = cluster_warnings(n_clusters=n_c, n_treated_clusters=_treated_clusters(data, d.to_numpy() == 1, cl,
                                                                               unit=unit, codes=codes),
                             wild=wild)
    boot = _wild_fit(data, outcome=outcome, regressors=[treatment, *covariates], unit=unit, time=time, cluster=cl,
                     draws=draws, weights=bootstrap_weights, seed=seed, fitted=res) if wild else None
    return TwfeResult(res, outcome=outcome, treatment=treatment, unit=unit, time=time,
                      covariates=covariates, cluster=cl, weights=weights, n_units=n_u,
                      n_periods=n_t, n_clusters=n_c, dropped=dropped, wild=boot, warnings=warns)


def _check_binary(data: pd.DataFrame, col: str) -> None:
    vals = data[col].to_numpy()
    bad = ~np.isin(vals, (0.0, 1.0))
    if bad.any():
        raise DataError(problems=[_problem(
            col, f"{int(bad.sum())} value(s) are not 0/1 (e.g. {vals[bad][0]!r})",
            f"code {col} as 0/1 or True/False (1 = treated in that period)",
            rows=data.index[bad][:50])])
