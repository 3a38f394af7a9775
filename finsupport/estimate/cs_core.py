"""Callaway & Sant'Anna (2021) group-time average treatment effects, ATT(g,t).

Panel data. For each cohort g (year of first treatment) and period t, with base period
b (the last period before g − anticipation for post-treatment cells, or t − 1 for
pre-treatment cells under a varying base),

    ATT(g,t) = E[Y_t − Y_b | G = g] − E[Y_t − Y_b | C]

where C is the never-treated group or the not-yet-treated group (never treated, or first
treated after max(t, b) + anticipation). The comparison is the doubly robust estimator
of Sant'Anna & Zhao (2020) (``dr``: logit propensity score and OLS outcome regression of
ΔY on covariates among controls), standardised inverse probability weighting (``ipw``)
or outcome regression (``reg``). Each cell's influence function is that of R package
DRDID, scaled by n/n_gt, so that standard errors equal R ``did`` 2.5.1:
se = sqrt(Σ_i ψ_i²) / n.

Sources: Callaway, B. & Sant'Anna, P. H. C. (2021), "Difference-in-Differences with
multiple time periods", Journal of Econometrics 225(2), 200–230; Sant'Anna, P. H. C. &
Zhao, J. (2020), "Doubly robust difference-in-differences estimators", Journal of
Econometrics 219(1), 101–122; R packages ``did`` 2.5.1 and ``DRDID``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DataError, EstimationError
from . import dist as stats
from .results import EstimateResult, Inference, TestResult, deprecated, wald_test
from .reuse import factorize_ids, ids, keep, lookup, recall

__all__ = ["att_gt", "AttGtResult"]

CONTROL_GROUPS = ("never_treated", "not_yet_treated")
METHODS = ("dr", "ipw", "reg")
_PS_MAX = 1 - 1e-6  # DRDID trims fitted propensity scores at this value


# ---------------------------------------------------------------------------
# the three 2x2 estimators with their influence functions (DRDID panel versions)


# Products with a design of one column (the intercept of a model without covariates) are made
# elementwise, and its sums by numpy: a BLAS call on a vector starts BLAS's threads, which on a busy
# machine (the run draws its figures meanwhile) wait for a core far longer than the sum takes.


def _xb(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A @ b`` (b a vector or a matrix); with one column of A the products themselves (the same numbers)."""
    if A.shape[1] != 1:
        return A @ b
    return A[:, 0] * b[0] if b.ndim == 1 else A * b[0][None, :]


def _xtx(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``(X * W[:, None]).T @ X``; with one column a numpy sum."""
    if X.shape[1] != 1:
        return (X * W[:, None]).T @ X
    return np.array([[((X[:, 0] * W) * X[:, 0]).sum()]])


def _xtv(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``X.T @ v``; with one column a numpy sum."""
    return X.T @ v if X.shape[1] != 1 else np.array([(X[:, 0] * v).sum()])


def _logit(X: np.ndarray, D: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted logistic regression by Newton–Raphson; returns fitted p and (X'WX)⁻¹ (= vcov of glm)."""
    beta = np.zeros(X.shape[1])
    p0 = np.clip(np.average(D, weights=w), 1e-10, 1 - 1e-10)
    beta[0] = np.log(p0 / (1 - p0)) if np.allclose(X[:, 0], 1) else 0.0
    for _ in range(100):
        eta = _xb(X, beta)
        p = 1.0 / (1.0 + np.exp(-eta))
        W = w * p * (1 - p)
        H = _xtx(X, W)
        step = np.linalg.solve(H, _xtv(X, w * (D - p)))
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    p = 1.0 / (1.0 + np.exp(-_xb(X, beta)))
    W = w * p * (1 - p)
    return p, np.linalg.inv(_xtx(X, W))


def _ols_controls(dY, X, D, w):
    """OLS of ΔY on X among controls (weights w); fitted values for everyone and the OLS influence part."""
    n = len(dY)
    wc = w * (1 - D)
    if X.shape[1] == 1:  # intercept only: the weighted control mean, without matrix products
        s = wc.sum()
        if not s > 0:
            raise EstimationError("the outcome regression among controls has no control unit with positive weight")
        mean = float((wc * dY).sum()) / s
        return np.full(n, mean), ((wc * (dY - mean)) * (n / s))[:, None]
    XtWX = (X * wc[:, None]).T @ X
    try:
        coef = np.linalg.solve(XtWX, (X * wc[:, None]).T @ dY)
    except np.linalg.LinAlgError:
        raise EstimationError("the outcome regression among controls is singular: a covariate has no variation "
                              "among the control units; drop it or use method='ipw'") from None
    fit = X @ coef
    asy = (wc * (dY - fit))[:, None] * X @ np.linalg.inv(XtWX / n)
    return fit, asy


def _dr(dY, D, X, w, ps_fit=None):
    n = len(dY)
    ps, vcov = ps_fit or _logit(X, D, w)
    ps = np.minimum(ps, _PS_MAX)
    out_delta, asy_ols = _ols_controls(dY, X, D, w)
    w_t = w * D
    w_c = w * ps * (1 - D) / (1 - ps)
    att_t, att_c = w_t * (dY - out_delta), w_c * (dY - out_delta)
    eta_t, eta_c = att_t.mean() / w_t.mean(), att_c.mean() / w_c.mean()
    asy_ps = _xb((w * (D - ps))[:, None] * X, vcov * n)
    inf_t = (att_t - w_t * eta_t - _xb(asy_ols, (w_t[:, None] * X).mean(0))) / w_t.mean()
    m2 = (w_c * (dY - out_delta - eta_c))[:, None] * X
    inf_c = (att_c - w_c * eta_c + _xb(asy_ps, m2.mean(0)) - _xb(asy_ols, (w_c[:, None] * X).mean(0))) / w_c.mean()
    return eta_t - eta_c, inf_t - inf_c


def _ipw(dY, D, X, w, ps_fit=None):
    n = len(dY)
    ps, vcov = ps_fit or _logit(X, D, w)
    ps = np.minimum(ps, _PS_MAX)
    w_t = w * D
    w_c = w * ps * (1 - D) / (1 - ps)
    att_t, att_c = w_t * dY, w_c * dY
    eta_t, eta_c = att_t.mean() / w_t.mean(), att_c.mean() / w_c.mean()
    asy_ps = _xb((w * (D - ps))[:, None] * X, vcov * n)
    inf_t = (att_t - w_t * eta_t) / w_t.mean()
    m2 = ((w_c * (dY - eta_c))[:, None] * X).mean(0)
    inf_c = (att_c - w_c * eta_c + _xb(asy_ps, m2)) / w_c.mean()
    return eta_t - eta_c, inf_t - inf_c


def _reg(dY, D, X, w, ps_fit=None):
    w_t = w * D
    if X.shape[1] == 1:  # no covariates: difference of weighted means, influence function in closed form
        # η_c = the weighted control mean m; inf_c = (w_t·m − w_t·η_c + asy·mean(w_t)) / mean(w_t) = asy
        fit, asy = _ols_controls(dY, X, D, w)
        eta_t = float(w_t @ dY) / w_t.sum()
        inf_t = w_t * (dY - eta_t) / w_t.mean()
        return eta_t - float(fit[0]), inf_t - asy[:, 0]
    out_delta, asy_ols = _ols_controls(dY, X, D, w)
    att_t, att_c = w_t * dY, w_t * out_delta
    eta_t, eta_c = att_t.mean() / w_t.mean(), att_c.mean() / w_t.mean()
    inf_t = (att_t - w_t * eta_t) / w_t.mean()
    inf_c = (att_c - w_t * eta_c + asy_ols @ (w_t[:, None] * X).mean(0)) / w_t.mean()
    return eta_t - eta_c, inf_t - inf_c


_ESTIMATORS = {"dr": _dr, "ipw": _ipw, "reg": _reg}


# ---------------------------------------------------------------------------
# result


def _cell_term(g, t) -> str:
    return f"ATT({g:g},{t:g})"


@dataclass
class AttGtResult(EstimateResult):
    """Group-time average treatment effects and what is needed to aggregate them.

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`:
    ``params`` are the ATT(g,t) (terms ``ATT(g,t)``), ``cov`` their influence-function
    covariance Ψ'Ψ/n² (clustered: Ψ summed within clusters), p-values and pointwise
    intervals use the normal distribution; with bootstrap draws ``conf_int(kind="uniform")``
    gives the sup-t band. ``tidy()`` adds ``cohort, time, post, base, n_treated,
    n_control`` (and, under a universal base period, the base cells with estimate 0 and
    ``reference`` True).

    Attributes
    ----------
    cells : DataFrame
        ``cohort, time, att, se, ci_lower, ci_upper, post, base, n_treated, n_control``;
        bands are pointwise (analytic) or uniform (multiplier bootstrap).
    influence : ndarray (n_units × n_cells)
        Influence functions ψ of every ATT(g,t) (rows = units in ``units``).
    units : Index
        Unit ids of the rows of ``influence``.
    cohorts : ndarray
        Cohort of each unit (0 = never treated).
    dropped : DataFrame
        Units left out (``unit, reason``): unbalanced, missing values, treated before
        the first period.
    notes : list of str
    """

    cells: pd.DataFrame
    influence: np.ndarray
    units: pd.Index
    cohorts: np.ndarray
    weights: np.ndarray
    periods: np.ndarray
    options: dict
    dropped: pd.DataFrame
    clusters: np.ndarray | None = None
    crit_value: float = float("nan")
    notes: list[str] = field(default_factory=list)
    _bits: dict = field(default_factory=dict, repr=False)
    _draws: dict = field(default_factory=dict, repr=False)

    estimator = "Callaway–Sant'Anna ATT(g,t)"

    def boot_bits(self, draws: int, seed) -> np.ndarray:
        """The multiplier bootstrap's signs for ``draws`` and ``seed`` (drawn once, then reused)."""
        from .cs_aggregate import rademacher_bits

        key = (int(draws), seed)
        if key not in self._bits:
            m = len(np.unique(self.clusters)) if self.clusters is not None else self.influence.shape[0]
            self._bits[key] = rademacher_bits(m, int(draws), seed)
        return self._bits[key]

    def boot_draws(self, draws: int, seed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Multiplier-bootstrap draws of every cell's influence function and of the cohort basis.

        Returns ``(cells, basis, cohorts)``: draws × cells, draws × cohorts (the columns of
        :func:`~finsupport.estimate.cs_aggregate.cohort_basis`) and the cohorts; made once
        per ``draws`` and ``seed`` with the signs of :meth:`boot_bits`, then reused by every
        aggregation (their draws are linear combinations of these).
        """
        from .cs_aggregate import bootstrap_draws, cohort_basis

        key = (int(draws), seed)
        if key not in self._draws:
            cohorts = np.unique(self.cells["cohort"].to_numpy(dtype=float))
            self._draws[key] = (*bootstrap_draws(self.influence, self.clusters, self.boot_bits(draws, seed),
                                                 also=cohort_basis(self.cohorts, self.weights, cohorts)), cohorts)
        return self._draws[key]

    @property
    def table(self) -> pd.DataFrame:
        """Deprecated: the release-0.1 layout (``att, se, ci_lower, ci_upper``, …); use :meth:`tidy` or ``cells``."""
        deprecated("AttGtResult.table", "AttGtResult.tidy() (or .cells)")
        return self.cells

    # -- the contract ------------------------------------------------------------------
    @property
    def outcome(self) -> str:
        return self.options["outcome"]

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def nobs(self) -> int:
        """Units used (each contributes all its periods; the influence functions are per unit)."""
        return self.n_units

    def _estimated(self) -> np.ndarray:
        return self.cells["se"].notna().to_numpy()

    @property
    def params(self) -> pd.Series:
        c = self.cells[self._estimated()]
        return pd.Series(c["att"].to_numpy(dtype=float),
                         index=[_cell_term(g, t) for g, t in zip(c["cohort"], c["time"], strict=True)],
                         name="estimate")

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(self.cells.loc[self._estimated(), "se"].to_numpy(dtype=float), index=self.params.index,
                         name="std_error")

    @property
    def cov(self) -> pd.DataFrame:
        """Influence-function covariance Ψ'Ψ/n² of the estimated ATT(g,t) (analytic, also under the bootstrap)."""
        psi = self.influence[:, self._estimated()]
        if self.clusters is not None:
            psi = pd.DataFrame(psi).groupby(self.clusters).sum().to_numpy()
        V = psi.T @ psi / self.n_units ** 2
        return pd.DataFrame(V, index=self.params.index, columns=self.params.index)

    @property
    def inference(self) -> Inference:
        o = self.options
        cl = o["cluster"] or o["unit"]
        ncl = len(np.unique(self.clusters)) if self.clusters is not None else self.n_units
        if o["bootstrap"]:
            return Inference(method="multiplier_bootstrap", cluster=cl, n_clusters=ncl, draws=o["bootstrap"],
                             weights="rademacher", seed=o["seed"])
        return Inference(method="influence", cluster=cl, n_clusters=ncl)

    def _uniform_crit(self, level: float) -> float:
        if not self.options["bootstrap"]:
            return super()._uniform_crit(level)
        if not np.isclose(level, 1 - self.options["alpha"]):
            raise EstimationError(f"the uniform band was computed at level {1 - self.options['alpha']:g}; "
                                  f"refit with alpha={1 - level:g} for level {level:g}")
        return self.crit_value

    def tidy(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        """One row per (g, t) cell: the tidy schema, then ``cohort, time, post, base, n_treated,
        n_control, reference`` (universal-base cells: estimate 0, no standard error)."""
        est = super().tidy(level, kind).set_index("term")
        c = self.cells
        terms = [_cell_term(g, t) for g, t in zip(c["cohort"], c["time"], strict=True)]
        out = est.reindex(terms).reset_index().rename(columns={"index": "term"})
        out["term"] = terms
        ref = ~self._estimated()
        for col in ("estimate", "conf_low", "conf_high"):
            out.loc[ref, col] = c.loc[ref, "att"].to_numpy()
        for col in ("cohort", "time", "post", "base", "n_treated", "n_control"):
            out[col] = c[col].to_numpy()
        out["reference"] = ref
        return out

    def aggregate(self, kind: str = "simple", *, min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None, bootstrap: int | None = None, seed: int | None = None,
                  alpha: float | None = None):
        """Aggregate ATT(g,t) as R ``did::aggte``; see :func:`finsupport.estimate.cs_aggregate.aggregate`."""
        from .cs_aggregate import aggregate

        return aggregate(self, kind, min_e=min_e, max_e=max_e, balance_e=balance_e,
                         bootstrap=self.options["bootstrap"] if bootstrap is None else bootstrap,
                         seed=self.options["seed"] if seed is None else seed,
                         alpha=self.options["alpha"] if alpha is None else alpha)

    def pretest(self) -> TestResult:
        """Wald test that every pre-treatment ATT(g,t) is zero (R ``did``'s parallel-trends pre-test).

        ``W = n · a' V⁻¹ a`` with a the pre-treatment ATTs and V = Ψ'Ψ / n their
        influence-function covariance (Ψ summed within clusters when clustering),
        referred to χ²(q).

        Returns
        -------
        TestResult
            kind ``"chi2"``, ``statistic``, ``df`` = q, ``pvalue``.

        Raises
        ------
        EstimationError
            When there is no pre-treatment cell or V is singular.
        """
        pre = ~self.cells["post"].to_numpy() & self._estimated()
        q = int(pre.sum())
        name = "Pre-test of parallel trends (pre-treatment ATT(g,t) = 0)"
        if q == 0:
            raise EstimationError(f"{name}: no pre-treatment cell with a standard error (every cohort is "
                                  f"treated from its first observed period, or base_period='universal' "
                                  f"left only base cells). Fix: use periods before treatment.")
        c = self.cells[pre]
        terms = [_cell_term(g, t) for g, t in zip(c["cohort"], c["time"], strict=True)]
        return wald_test(c["att"].to_numpy(), self.cov.loc[terms, terms].to_numpy(), name=name, terms=terms,
                         note="W = n a' V⁻¹ a with V the influence-function covariance, chi2(q)")

    def summary(self) -> str:
        o = self.options
        lines = [f"Group-time ATT (Callaway & Sant'Anna), outcome {o['outcome']}, {o['control_group'].replace('_', '-')}"
                 f" controls, method {o['method']}, {self.n_units} units",
                 f"Standard errors: {self.inference.describe()}",
                 self.cells[["cohort", "time", "att", "se", "ci_lower", "ci_upper"]].to_string(index=False)]
        try:
            pt = self.pretest()
            lines.append(f"Pre-test of parallel trends: W = {pt.statistic:.4f}, df = {pt.df}, "
                         f"p = {pt.pvalue:.4f}")
        except EstimationError as exc:
            lines.append(f"Pre-test of parallel trends: not available ({exc})")
        band = "uniform (bootstrap)" if o["bootstrap"] else "pointwise"
        lines.append(f"{int(round((1 - o['alpha']) * 100))}% confidence bands: {band}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _title(self) -> str:
        return f"ATT(g,t): {self.outcome}"

    def plot(self, *, ax=None, level: float | None = None, title: str | None = None):
        """ATT(g,t) by cohort with confidence bands (a matplotlib Figure).

        Drawn by :func:`finsupport.estimate.plotting.plot_att_gt`: one panel per cohort on a
        new figure, or on ``ax`` (one Axes for every cohort, or one per cohort). Bands are
        uniform when the fit has bootstrap draws, pointwise otherwise.
        """
        from .plotting import plot_att_gt

        level = 1 - self.options["alpha"] if level is None else level
        kind = "uniform" if self.options["bootstrap"] and np.isclose(level, 1 - self.options["alpha"]) \
            else "pointwise"
        return plot_att_gt(self.tidy(level, kind), ax=ax, title=title or f"ATT(g,t): {self.outcome}",
                           level=level)


# ---------------------------------------------------------------------------
# estimation


def _prepare(df, outcome, unit, time, cohort, covariates, weights, cluster, panel):
    cols = [outcome, unit, time, cohort, *(covariates or []), *([weights] if weights else []),
            *([cluster] if cluster else [])]
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise DataError(problems=[{"table": "panel", "column": c, "message": "column not found",
                                   "hint": "pass the name of a column of the panel"} for c in missing])
    for c in [outcome, time, *(covariates or [])]:
        if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]) and c == outcome:
            if not pd.api.types.is_numeric_dtype(df[c]):
                raise DataError(problems=[{"table": "panel", "column": c, "message": "must be numeric",
                                           "hint": "convert the column to numbers"}])
    d = df[list(dict.fromkeys(cols))].copy()
    d[cohort] = pd.to_numeric(d[cohort], errors="coerce").fillna(0)
    dropped = []
    bad = d[[outcome, time, *(covariates or [])]].isna().any(axis=1)
    if bad.any():
        dropped.append(pd.DataFrame({"unit": d.loc[bad, unit].unique(), "reason": "missing outcome or covariate"}))
        d = d[~bad]
    # checks on integer codes (one factorisation each) rather than pandas group-bys
    unit_ids = ids(d[unit])  # found once (shared_work): the codes now, the sorted codes below
    ucode, uniq = unit_ids.factorize(False)
    tcode, periods = factorize_ids(d[time], sort=True)
    periods = np.asarray(periods)
    key = ucode.astype(np.int64) * len(periods) + tcode
    if np.bincount(key, minlength=len(uniq) * len(periods)).max(initial=0) > 1:
        dup = d.duplicated([unit, time], keep=False)
        raise DataError(problems=[{"table": "panel", "column": f"{unit}, {time}",
                                   "rows": list(d.index[dup])[:20],
                                   "message": "a unit appears twice in the same period",
                                   "hint": "keep one row per unit and period"}])
    g = d[cohort].to_numpy(dtype=float)
    gmin = np.full(len(uniq), np.inf)
    gmax = np.full(len(uniq), -np.inf)
    np.minimum.at(gmin, ucode, g)
    np.maximum.at(gmax, ucode, g)
    if (gmin != gmax).any():
        raise DataError(problems=[{"table": "panel", "column": cohort, "message": "cohort varies within a unit",
                                   "hint": "the cohort is the year of first treatment, constant for a unit"}])
    if panel == "balanced":
        counts = np.bincount(ucode, minlength=len(uniq))  # no duplicates: rows = periods observed
        unbalanced = uniq[counts < len(periods)]
        if len(unbalanced):
            dropped.append(pd.DataFrame({"unit": unbalanced, "reason": "not observed in every period (balanced panel)"}))
            d = d[~d[unit].isin(unbalanced)]
            return d, periods, dropped, None
    # the units sorted from these codes, for the computation (no second factorisation of the ids)
    return d, periods, dropped, unit_ids.sorted_from_unsorted()


def att_gt(df: pd.DataFrame, *, outcome: str, unit: str, time: str, cohort: str,
           covariates: Sequence[str] | None = None, control_group: str = "never_treated", method: str = "dr",
           anticipation: int = 0, base_period: str = "varying", cluster: str | None = None,
           bootstrap: int | None = None, seed: int | None = None, alpha: float = 0.05,
           weights: str | None = None, panel: str = "balanced", by: str | None = None,
           by_aggregation: str = "simple"):
    """Callaway–Sant'Anna group-time average treatment effects on panel data.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit and period.
    outcome, unit, time, cohort : str
        Column names. ``cohort`` is the period of first treatment; 0 or missing = never
        treated. Units treated in the first period are dropped (no pre-period), as in R.
    covariates : list of str, optional
        Covariates of the propensity score and outcome regression, taken at the base
        period of each comparison (constant over time in most uses).
    control_group : {"never_treated", "not_yet_treated"}
    method : {"dr", "ipw", "reg"}
        Doubly robust (Sant'Anna & Zhao 2020; DRDID ``drdid_panel``), standardised IPW
        (``std_ipw_did_panel``) or outcome regression (``reg_did_panel``).
    anticipation : int
        Periods of anticipation δ: the base period is g − 1 − δ.
    base_period : {"varying", "universal"}
        ``varying``: pre-treatment cells compare t with t − 1 (R's default);
        ``universal``: every cell compares with g − 1 − δ (the base cell is reported
        as 0).
    cluster : str, optional
        A column to cluster by (constant within unit); influence functions are summed
        within clusters: se = sqrt(Σ_c (Σ_{i∈c} ψ_i)²) / n.
    bootstrap : int, optional
        Multiplier-bootstrap draws (Rademacher weights, by cluster when clustering): then
        standard errors are the bootstrap's interquartile-range estimates and bands are
        uniform over cells (sup-t critical value), as R ``mboot``. ``None`` or 0:
        analytic standard errors and pointwise bands.
    seed : int, optional
        Seed of the bootstrap (numpy ``default_rng``): same seed, same numbers.
    alpha : float
        1 − confidence level.
    weights : str, optional
        Sampling weights (constant within unit).
    panel : {"balanced", "unbalanced"}
        ``balanced`` (default): units not observed in every period are dropped and
        listed in ``result.dropped`` (R ``did`` with ``allow_unbalanced_panel = FALSE``).
        ``unbalanced``: every unit is kept and each ATT(g,t) uses the units observed in
        both of its periods (t and the base period); influence functions are scaled by
        n / n_gt over all n units, so aggregation weights π_g use every unit. This is a
        cell-by-cell balanced estimator, not R's repeated-cross-section estimator for
        ``allow_unbalanced_panel = TRUE``; on a balanced panel both options coincide.

    by : str, optional
        A firm-level column splitting the treated firms into subgroups (e.g. pass / fail
        the selection criteria); every subgroup is compared with the same controls and
        the result is a :class:`~finsupport.estimate.subgroups.SubgroupResult` with the
        ``by_aggregation`` ATT of each subgroup and ``equality_test()``.
    by_aggregation : {"simple", "group", "dynamic", "calendar"}
        Which aggregation ``by`` compares.

    Returns
    -------
    AttGtResult
        ``.tidy()``, ``.aggregate(kind)``, ``.pretest()``, ``.plot()``, ``.summary()``
        (a ``SubgroupResult`` with ``by``).
    """
    if by is not None:
        from .subgroups import att_gt_by

        return att_gt_by(df, by=by, outcome=outcome, unit=unit, time=time, cohort=cohort, kind=by_aggregation,
                         control_group=control_group, cluster=cluster, covariates=covariates, method=method,
                         anticipation=anticipation, base_period=base_period, seed=seed, alpha=alpha,
                         weights=weights, panel=panel)
    if control_group not in CONTROL_GROUPS:
        raise EstimationError(f"control_group '{control_group}' is not known; use one of {', '.join(CONTROL_GROUPS)}")
    if method not in METHODS:
        raise EstimationError(f"method '{method}' is not known; use one of {', '.join(METHODS)}")
    if base_period not in ("varying", "universal"):
        raise EstimationError("base_period must be 'varying' or 'universal'")
    if panel not in ("balanced", "unbalanced"):
        raise EstimationError("panel must be 'balanced' or 'unbalanced'")
    covariates = list(covariates or [])
    d, periods, dropped, unit_codes = _prepare(df, outcome, unit, time, cohort, covariates, weights, cluster, panel)
    return _compute_att_gt(d, periods, dropped, unit_codes=unit_codes, outcome=outcome, unit=unit, time=time, cohort=cohort,
                           covariates=covariates, control_group=control_group, method=method,
                           anticipation=anticipation, base_period=base_period, cluster=cluster,
                           bootstrap=bootstrap, seed=seed, alpha=alpha, weights=weights, panel=panel)


def _closed_cell(YT: np.ndarray, w: np.ndarray, it: np.ndarray, ic: np.ndarray, cur: int, pret: int,
                 infl: list) -> tuple[float, int, int]:
    """One ATT(g,t) of the outcome regression without covariates, in closed form.

    ATT = the weighted mean of ΔY among the treated ``it`` minus that among the controls
    ``ic``; scaled by n/n_gt the influence function is n·w_i(ΔY_i − η_t)/W_t for treated
    and −n·w_i(ΔY_i − η_c)/W_c for control units (appended to ``infl``). ``YT``: outcomes,
    periods × units.
    """
    n = YT.shape[1]
    dyt, dyc = YT[cur, it] - YT[pret, it], YT[cur, ic] - YT[pret, ic]
    wt, wc = w[it], w[ic]
    Wt, Wc = wt.sum(), wc.sum()
    # elementwise sums, not BLAS dot products: a threaded BLAS call costs more than it saves here
    eta_t, eta_c = float((wt * dyt).sum()) / Wt, float((wc * dyc).sum()) / Wc
    full = np.zeros(n)
    full[it] = wt * (dyt - eta_t) * (n / Wt)
    full[ic] = -wc * (dyc - eta_c) * (n / Wc)
    infl.append(full)
    return eta_t - eta_c, len(it), len(ic)


def _compute_att_gt(d: pd.DataFrame, periods: np.ndarray, dropped: list, *, outcome, unit, time, cohort,
                    covariates, control_group, method, anticipation, base_period, cluster, bootstrap, seed,
                    alpha, weights, panel, unit_codes=None) -> AttGtResult:
    """The computation of :func:`att_gt` on a checked and prepared panel (see ``_prepare``);
    ``unit_codes``: ``pandas.factorize(d[unit], sort=True)`` when the caller has it."""
    notes: list[str] = []
    if not len(d):
        reasons = "; ".join(sorted({r for x in dropped for r in x["reason"]})) or "no rows"
        raise EstimationError(f"no unit left to estimate ATT(g,t) with ({reasons}). Fix: keep units observed in "
                              f"every period with their outcome, or pass panel='unbalanced'")
    first = periods[0]
    # integer codes instead of sorting the frame: units sorted, each unit's values taken from
    # its earliest period (as R did's first row of the unit)
    codes, units = unit_codes if unit_codes is not None else pd.factorize(d[unit], sort=True)
    tpos = np.searchsorted(periods, d[time].to_numpy())
    # (tpos is this call's own array; the codes are never changed: kept without copies)
    order = recall("lexsort", (tpos, codes), lambda: np.lexsort((tpos, codes)), copy=False)
    lead = order[np.r_[True, codes[order][1:] != codes[order][:-1]]]  # earliest row of every unit
    g_unit = d[cohort].to_numpy(dtype=float)[lead]
    early_mask = (g_unit > 0) & (g_unit <= first + anticipation)
    if early_mask.any():
        early = units[early_mask]
        dropped.append(pd.DataFrame({"unit": early, "reason": "treated in the first period (no pre-period)"}))
        notes.append(f"{len(early)} unit(s) treated in or before the first period were dropped")
        keep_rows = ~early_mask[codes]
        d = d[keep_rows]
        codes, units = pd.factorize(d[unit], sort=True)
        tpos = tpos[keep_rows]
        order = np.lexsort((tpos, codes))
        lead = order[np.r_[True, codes[order][1:] != codes[order][:-1]]]
    n, T = len(units), len(periods)
    Y = np.full((n, T), np.nan)
    Y[codes, tpos] = d[outcome].to_numpy(dtype=float)
    G = d[cohort].to_numpy(dtype=float)[lead]
    w = d[weights].to_numpy(dtype=float)[lead] if weights else np.ones(n)
    w = w / w.mean()
    cl = d[cluster].to_numpy()[lead] if cluster else None
    Xs = {}
    if covariates:
        for c in covariates:
            M = np.full((n, T), np.nan)
            M[codes, tpos] = d[c].to_numpy(dtype=float)
            Xs[c] = M
    glist = np.sort(np.unique(G[G > 0]))
    if not len(glist):
        raise EstimationError(f"no treated units: every unit has {cohort} = 0 or missing")
    never = G == 0
    if control_group == "never_treated" and not never.any():
        raise EstimationError("no never-treated units for control_group='never_treated'; use "
                              "control_group='not_yet_treated'")
    est = _ESTIMATORS[method]
    # time-invariant covariates give the same propensity score for every cell with the same
    # cohort and control set: fit it once (never-treated controls: once per cohort)
    invariant = all(np.allclose(Xs[c], Xs[c][:, :1], equal_nan=True) for c in covariates)
    ps_cache: dict = {}
    # the propensity scores of the cells depend on the units' cohorts, weights and covariates, not on
    # the outcome: another outcome on the same units (shared_work) finds them under the same cell key
    # (cohort, base period and the selected units; G, w and the covariates are this call's own arrays)
    ps_shared = (recall("att_gt propensity scores", (G, w, *[Xs[c] for c in covariates]), dict, copy=False)
                 if method != "reg" else {})
    rows, infl = [], []
    tfac = 1 if base_period == "varying" else 0
    closed = method == "reg" and not covariates
    # periods as rows: a cell's outcomes are gathered from two contiguous rows, not strided columns
    YT = np.ascontiguousarray(Y.T)
    if closed:
        # never-treated controls of a balanced panel: the same units in every cell, found once
        fixed = control_group == "never_treated" and panel != "unbalanced"
        ic_never = np.flatnonzero(never) if fixed else None
    for g in glist:
        pre_idx = np.flatnonzero(periods + anticipation < g)
        if not len(pre_idx):
            notes.append(f"cohort {g:g}: no pre-treatment period; skipped")
            continue
        g_base = pre_idx[-1]
        it_g = np.flatnonzero(G == g) if closed and fixed else None
        for ti in range(T - tfac):
            cur = ti + tfac
            pret = ti if (base_period == "varying" and periods[cur] + anticipation < g) else g_base
            if base_period == "universal" and pret == cur:
                rows.append(dict(cohort=g, time=periods[cur], att=0.0, se=np.nan, post=False, n_treated=0,
                                 n_control=0, base=periods[pret]))
                infl.append(np.zeros(n))
                continue
            if it_g is not None:
                # the cohort's units against the never-treated, every unit observed in every period:
                # the same sets as the selection below gives, found once
                att, nt, nc = _closed_cell(YT, w, it_g, ic_never, cur, pret, infl)
                rows.append(dict(cohort=g, time=periods[cur], att=att, se=np.nan, post=bool(periods[cur] >= g),
                                 n_treated=nt, n_control=nc, base=periods[pret]))
                continue
            if control_group == "never_treated":
                C = never
            else:
                C = never | ((G > periods[max(cur, pret)] + anticipation) & (G != g))
            Dg = G == g
            sel = Dg | C
            if panel == "unbalanced":  # units observed in both periods of this comparison
                sel = sel & ~np.isnan(Y[:, cur]) & ~np.isnan(Y[:, pret])
                if covariates:
                    sel &= ~np.isnan(np.column_stack([Xs[c][:, pret] for c in covariates])).any(axis=1)
            if not C[sel].any() or not Dg[sel].any():
                notes.append(f"cohort {g:g}, period {periods[cur]:g}: no control units; skipped")
                continue
            if closed:   # outcome regression on an intercept (the general path below gives the same numbers)
                it, ic = np.flatnonzero(sel & Dg), np.flatnonzero(sel & ~Dg)
                att, nt, nc = _closed_cell(YT, w, it, ic, cur, pret, infl)
                rows.append(dict(cohort=g, time=periods[cur], att=att, se=np.nan, post=bool(periods[cur] >= g),
                                 n_treated=nt, n_control=nc, base=periods[pret]))
                continue
            dY = YT[cur][sel] - YT[pret][sel]   # Y[sel, cur] − Y[sel, pret], from contiguous rows
            Dsub = Dg[sel].astype(float)
            X = np.ones((int(sel.sum()), 1))
            if covariates:
                X = np.column_stack([X] + [Xs[c][sel, pret] for c in covariates])
            ps_fit = None
            if method != "reg":
                key = (g, sel.tobytes()) if invariant else None
                ps_fit = ps_cache.get(key) if key else None
                if ps_fit is None:
                    # the propensity score depends on the cell's units and covariates, not on the
                    # outcome: another outcome on the same panel (shared_work) takes it as fitted
                    cell = (g, pret, sel.tobytes())
                    ps_fit = ps_shared.get(cell)
                    if ps_fit is None:
                        ps_fit = ps_shared[cell] = _logit(X, Dsub, w[sel])
                    if key:
                        ps_cache[key] = ps_fit
            att, psi = est(dY, Dsub, X, w[sel], ps_fit)
            full = np.zeros(n)
            full[sel] = psi * (n / sel.sum())
            infl.append(full)
            rows.append(dict(cohort=g, time=periods[cur], att=att, se=np.nan, post=bool(periods[cur] >= g),
                             n_treated=int(Dg[sel].sum()), n_control=int(C[sel].sum()), base=periods[pret]))
    if not rows:
        raise EstimationError("no ATT(g,t) cell could be estimated (" + ("; ".join(notes) or f"{len(periods)} period(s)")
                              + "). Fix: a cohort needs a period before its treatment and control units")
    table = pd.DataFrame(rows)
    psi = np.column_stack(infl) if infl else np.zeros((n, 0))
    from .cs_aggregate import (
        _se_crit,
        bootstrap_draws,
        cohort_basis,
        rademacher_bits,
        se_from_influence,
    )

    se = se_from_influence(psi, cl)
    zero = table["se"].isna().to_numpy() & (table["att"].to_numpy() == 0) & (base_period == "universal")
    crit = stats.norm.ppf(1 - alpha / 2)
    bits, draws = {}, {}
    if bootstrap:
        key = (int(bootstrap), seed)
        m = len(np.unique(cl)) if cl is not None else n
        bits[key] = (rademacher_bits(m, int(bootstrap), seed) if seed is None else
                     recall("rademacher bits", (m, int(bootstrap), seed),
                            lambda: rademacher_bits(m, int(bootstrap), seed)))
        # the draws of the cohort basis are made with the same signs in the same pass and kept:
        # the aggregations combine them with these (no new product with the signs). They do not
        # depend on the outcome: another outcome on the same panel (shared_work) takes them as drawn
        cohorts = np.unique(table["cohort"].to_numpy(dtype=float))
        basis = cohort_basis(G, w, cohorts)
        basis_key = (basis, cl, bits[key])
        d_basis = lookup("att_gt bootstrap draws of the cohort basis", basis_key)
        if d_basis is None:
            d_cells, d_basis = bootstrap_draws(psi, cl, bits[key], also=basis)
            # basis and clusters are this call's own arrays, the signs never changed: no copies
            keep("att_gt bootstrap draws of the cohort basis", basis_key, d_basis, copy=False)
        else:
            d_cells = bootstrap_draws(psi, cl, bits[key])
        draws[key] = (d_cells, d_basis, cohorts)
        sigma, crit = _se_crit(d_cells, alpha)
        se_b = sigma / np.sqrt(m)
        se = np.where(np.isnan(se_b), se, se_b)
    se = np.where(zero, np.nan, se)
    table["se"] = se
    table["ci_lower"] = table["att"] - crit * table["se"]
    table["ci_upper"] = table["att"] + crit * table["se"]
    for c in ("cohort", "time", "base"):
        table[c] = table[c].astype(np.int64) if np.all(np.mod(table[c], 1) == 0) else table[c]
    drop = pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=["unit", "reason"])
    opts = dict(outcome=outcome, unit=unit, time=time, cohort=cohort, covariates=covariates,
                control_group=control_group, method=method, anticipation=anticipation, base_period=base_period,
                cluster=cluster, bootstrap=int(bootstrap or 0), seed=seed, alpha=alpha)
    return AttGtResult(cells=table[["cohort", "time", "att", "se", "ci_lower", "ci_upper", "post", "base",
                                    "n_treated", "n_control"]],
                       influence=psi, units=pd.Index(units), cohorts=G, weights=w, periods=periods, options=opts,
                       dropped=drop, clusters=cl, crit_value=float(crit), notes=notes, _bits=bits, _draws=draws)
