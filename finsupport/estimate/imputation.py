"""Borusyak, Jaravel & Spiess (2024) imputation estimator of staggered treatment effects.

1. Fit y_it = α_i + λ_t + X_it'γ + ε_it by OLS on the untreated observations Ω0
   (never-treated units, and treated units before their cohort period).
2. Impute the untreated outcome of every treated observation (i, t) ∈ Ω1 and take
   τ̂_it = y_it − α̂_i − λ̂_t − X_it'γ̂.
3. Average: the ATT is the mean of τ̂ over Ω1 (each treated observation weighs the
   same); the effect at horizon h is the mean over treated observations h periods after
   treatment.

Each estimate is linear in the outcomes, τ̂_w = Σ v_it y_it, with v_it = w_it on Ω1
and v = −A0 (A0'A0)⁻¹ A1' w on Ω0 (A the fixed-effect and covariate design). The
conservative variance of Theorem 3 is Σ_c (Σ_{(i,t) ∈ c} v_it ε̃_it)² over clusters c,
with ε̃ the step-1 residual on Ω0 and τ̂_it − τ̃_it on Ω1, where τ̃ is the average of τ̂
within cohort × horizon cells weighted by v² (equation 8; R ``didimputation``).

The pre-trend test (Test 1 of the paper) adds indicators of the periods before
treatment (leads, the period just before treatment being the reference) to the step-1
regression on Ω0 and tests them jointly.

Source: Borusyak, K., Jaravel, X. & Spiess, J. (2024), "Revisiting event-study
designs: robust and efficient estimation", Review of Economic Studies 91(6), 3253–3285.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import DataError, EstimationError
from .results import (
    EstimateResult,
    Inference,
    StoredEstimates,
    TestResult,
    equality_test,
    wald_test,
)
from .staggered import StaggeredPanel, prepare_staggered
from .twfe import DroppedRows, _check_identified, _FastPanelResult, _twoway_residual

__all__ = ["imputation_did", "ImputationResult"]


class ImputationResult(StoredEstimates, EstimateResult):
    """The imputation estimator (:func:`imputation_did`).

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`.
    ``params``: ``ATT`` (mean of τ̂ over all treated observations) and ``e=h`` for each
    horizon; ``cov`` is the conservative (Theorem 3) covariance Σ_c ψ_c ψ_c' of these
    estimates; p-values and intervals use the normal distribution. ``tidy()`` adds
    ``event_time`` and ``n_obs``.

    Attributes
    ----------
    effects : DataFrame
        τ̂ for every imputed treated observation: ``unit, time, cohort, event_time, tau``.
    lead_coefficients : DataFrame or None
        The pre-trend regression's lead coefficients (``event_time, estimate,
        std_error``) when ``pretrends`` was requested.
    n_units, n_periods, n_untreated : int
    dropped : DroppedRows
    notes : list of str
    """

    estimator = "Imputation estimator (Borusyak–Jaravel–Spiess)"

    def __init__(self, *, outcome, params, cov, nobs, inference, n_obs, effects, pretrend, leads, n_units,
                 n_periods, n_untreated, dropped, notes, covariates, by_terms=()):
        self.outcome = outcome
        self._params, self._cov, self._nobs = params, cov, nobs
        self.inference = inference
        self.n_obs_by_term = n_obs
        self.effects = effects
        self._pretrend = pretrend
        self.lead_coefficients = leads
        self.n_units, self.n_periods, self.n_untreated = n_units, n_periods, n_untreated
        self.dropped: DroppedRows = dropped
        self.notes = list(notes)
        self.covariates = tuple(covariates)
        self.fixed_effects = {"Unit FE": True, "Time FE": True}
        self.by_terms = list(by_terms)

    @property
    def att(self) -> float:
        return float(self._params["ATT"])

    def _extras(self) -> pd.DataFrame:
        t = self._params.index
        return pd.DataFrame({
            "event_time": pd.array([int(x[2:]) if x.startswith("e=") else pd.NA for x in t], dtype="Int64"),
            "n_obs": pd.array([self.n_obs_by_term[x] for x in t], dtype="Int64")}, index=t)

    def equality_test(self) -> TestResult:
        """Wald test that the subgroup ATTs (``by=``) are equal: χ²(S − 1) with their joint covariance."""
        return equality_test(self._params, self._cov, self.by_terms, name="Equality of the subgroup ATTs")

    def pretrend_test(self) -> TestResult:
        """Test 1 of Borusyak, Jaravel & Spiess (2024): the leads added to the step-1 regression are jointly zero.

        W = b' V⁻¹ b with the clustered covariance of the lead coefficients; F = W/q on
        (q, G − 1). Requested with ``pretrends`` in :func:`imputation_did`.
        """
        if self._pretrend is None:
            raise EstimationError("no pre-trend test was requested. Fix: call imputation_did(..., pretrends=K) "
                                  "(K leads) or pretrends=True (every lead).")
        if isinstance(self._pretrend, str):
            raise EstimationError(self._pretrend)
        return self._pretrend

    def _title(self) -> str:
        return f"Imputation estimator (Borusyak–Jaravel–Spiess) of {self.outcome}"

    def summary(self) -> str:
        lines = self._header() + [
            f"Units: {self.n_units:,}   periods: {self.n_periods}   untreated observations (step 1): "
            f"{self.n_untreated:,}   treated observations imputed: {len(self.effects):,}",
            f"Dropped: {self.dropped}", *self.notes, "",
            self.tidy().to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        if self._pretrend is not None:
            lines += self._pretrend_lines()
        return "\n".join(lines)

    def plot(self, *, ax=None, level: float = 0.95, title: str | None = None):
        """Horizon effects with a confidence band, and the pre-trend leads when estimated (:mod:`.plotting`)."""
        from .plotting import plot_event_study

        t = self.tidy(level)
        t = t[t["event_time"].notna()].assign(reference=False)
        if self.lead_coefficients is not None and len(self.lead_coefficients):
            from . import dist as stats

            q = stats.norm.ppf(1 - (1 - level) / 2)
            lc = self.lead_coefficients
            t = pd.concat([lc.assign(term=[f"lead {e}" for e in lc["event_time"]],
                                     conf_low=lc["estimate"] - q * lc["std_error"],
                                     conf_high=lc["estimate"] + q * lc["std_error"], reference=False),
                           pd.DataFrame([dict(term="reference", estimate=0.0, event_time=-1, reference=True,
                                              conf_low=0.0, conf_high=0.0)]), t], ignore_index=True)
        e = t["event_time"].astype(float)
        return plot_event_study(t, window=(int(e.min()), int(e.max())), reference=-1, ax=ax,
                                title=title or self._title(), xlabel="periods relative to treatment",
                                ylabel=f"effect on {self.outcome}", level=level, binned=False)

    def __repr__(self) -> str:
        return f"<ImputationResult {self.outcome}: ATT = {self.att:.4g}, n = {self.nobs:,}>"


def imputation_did(df: pd.DataFrame, *, outcome: str, unit: str, time: str, cohort: str,
                   covariates: Sequence[str] = (), horizons: Sequence[int] | None = None,
                   pretrends: int | bool | None = None, cluster: str | None = "unit",
                   by: str | None = None) -> ImputationResult:
    """Borusyak–Jaravel–Spiess (2024) imputation estimator, its conservative standard errors and pre-trend test.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit and period.
    outcome, unit, time : str
        Outcome, unit id and integer period columns.
    cohort : str
        First treated period (0 or missing = never treated); constant within a unit.
    covariates : sequence of str
        Time-varying controls X, in the step-1 model.
    horizons : sequence of int, optional
        Horizons h ≥ 0 (periods since treatment) to report; default every observed one.
    pretrends : int, True or None
        ``None`` (default): no pre-trend test. ``K``: test the K leads closest to
        treatment (event times −2, …, −(K+1); −1 is the reference); ``True``: every lead.
    cluster : str or None
        ``"unit"`` (default) or another column: ψ is summed within clusters. ``None``
        treats each unit as its own cluster (the influence functions are per unit).
    by : str, optional
        A firm-level column splitting the treated firms into subgroups: adds the ATT of
        each subgroup (terms ``<by>=<value>``, mean τ̂ over its treated observations) from
        the same step-1 fit, so the controls are shared and ``cov`` holds their joint
        covariance; ``equality_test()`` tests that they are equal.

    Returns
    -------
    ImputationResult

    Notes
    -----
    Treated observations whose unit has no untreated period (treated in the first
    period) or whose period has no untreated observation cannot be imputed: they are
    left out and counted in ``notes``. The conservative variance has no small-sample
    factor (as R ``didimputation`` and diff-diff's ``ImputationDiD``).

    Raises
    ------
    DataError, EstimationError
        Bad columns or values; no imputable treated observation; covariates without
        variation among untreated observations.
    """
    p = prepare_staggered(df, outcome=outcome, unit=unit, time=time, cohort=cohort, covariates=covariates,
                          cluster=cluster if cluster is not None else "unit", extra=[by] if by else [])
    if pretrends is False:
        pretrends = None
    return _compute_imputation(p, outcome=outcome, horizons=horizons, pretrends=pretrends, by=by)


def _fe_solve(u0: np.ndarray, t0: np.ndarray, nu: int, nt: int, Ru: np.ndarray, Rt: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Solve the two-way fixed-effect normal equations A0'A0 (α, λ) = (Ru, Rt) for several right-hand sides.

    With n_u, n_t the untreated counts per unit and period and B the unit × period
    incidence of Ω0: α = (Ru − Bλ)/n_u and (diag(n_t) − B' diag(1/n_u) B) λ = Rt − B'(Ru/n_u),
    a small period × period system solved by least squares (the effects are identified
    up to a constant; fitted values α_i + λ_t are unique).
    """
    nu_ = np.bincount(u0, minlength=nu).astype(float)
    nt_ = np.bincount(t0, minlength=nt).astype(float)
    inv_u = np.divide(1.0, nu_, out=np.zeros(nu), where=nu_ > 0)
    B = sparse.csr_matrix((np.ones(len(u0)), (u0, t0)), shape=(nu, nt))
    S = np.diag(nt_) - (B.T @ sparse.diags(inv_u) @ B).toarray()
    rhs = Rt - B.T @ (Ru * inv_u[:, None])
    lam = np.linalg.lstsq(S, rhs, rcond=None)[0]
    alpha = (Ru - B @ lam) * inv_u[:, None]
    return alpha, lam


def _compute_imputation(p: StaggeredPanel, *, outcome: str, horizons, pretrends, by=None) -> ImputationResult:
    notes: list[str] = []
    g, t, e = p.g, p.t, p.e
    u, tc = p.ucode, p.tcode
    nu, nt = p.n_units, p.n_periods
    om0 = (g == 0) | (t < g)
    n_u0 = np.bincount(u[om0], minlength=nu)
    n_t0 = np.bincount(tc[om0], minlength=nt)
    om1 = ~om0
    bad = om1 & ((n_u0[u] == 0) | (n_t0[tc] == 0))
    if bad.any():
        notes.append(f"{int(bad.sum())} treated observation(s) of {len(np.unique(u[bad]))} unit(s) cannot be "
                     f"imputed (unit treated in every observed period, or a period with no untreated "
                     f"observation) and are left out")
        om1 = om1 & ~bad
    if not om1.any():
        raise EstimationError("no treated observation can be imputed: every treated unit is treated from its "
                              "first period or no period has untreated observations. Fix: include untreated "
                              "periods or never-treated units.")
    y0, y1 = p.y[om0], p.y[om1]
    u0, t0, u1, t1 = u[om0], tc[om0], u[om1], tc[om1]
    k = len(p.covariates)
    X0, X1 = p.X[om0], p.X[om1]
    # step 1 on the untreated observations (covariates by Frisch–Waugh–Lovell)
    gamma = np.zeros(k)
    Xt0 = np.zeros((len(y0), 0))
    if k:
        R = _twoway_residual(np.column_stack([y0, X0]), u0, t0, maxiter=10_000)
        Xt0 = R[:, 1:]
        _check_identified(X0, p.covariates, u0, t0, R=Xt0,
                          hint="drop covariates that are constant within units or periods among untreated rows")
        gamma = np.linalg.lstsq(Xt0, R[:, 0], rcond=None)[0]
    z0 = y0 - X0 @ gamma
    a, lam = _fe_solve(u0, t0, nu, nt, np.bincount(u0, z0, nu)[:, None], np.bincount(t0, z0, nt)[:, None])
    a, lam = a[:, 0], lam[:, 0]
    eps0 = z0 - a[u0] - lam[t0]
    tau = y1 - a[u1] - lam[t1] - X1 @ gamma
    e1 = e[om1]
    # estimands: ATT and each horizon
    avail = np.unique(e1).astype(int)
    if horizons is None:
        hs = avail
    else:
        hs = np.array(sorted({int(h) for h in horizons}))
        missing = sorted(set(hs) - set(avail))
        if missing or (hs < 0).any():
            raise EstimationError(f"horizons {missing or hs[hs < 0].tolist()} have no imputable treated "
                                  f"observation; available horizons: {avail.tolist()}")
    terms = ["ATT", *[f"e={h}" for h in hs]]
    masks = [np.ones(len(y1), bool), *[e1 == h for h in hs]]
    by_terms = []
    if by is not None:
        s1 = p.data[by].to_numpy()[om1]
        if pd.isna(s1).any():
            raise DataError(problems=[{"table": "panel", "column": by, "message": f"{by} is missing for "
                                       f"{int(pd.isna(s1).sum())} treated observation(s)",
                                       "hint": f"fill {by} for every treated firm"}])
        if (pd.Series(p.data[by].to_numpy()[om1]).groupby(u1).nunique() > 1).any():
            raise DataError(problems=[{"table": "panel", "column": by, "message": f"{by} changes within a firm",
                                       "hint": "subgroups are firm-level: use one value per firm"}])
        for lev in sorted(pd.unique(s1).tolist(), key=str):
            by_terms.append(f"{by}={lev}")
            masks.append(s1 == lev)
        terms += by_terms
    W = np.zeros((len(y1), len(terms)))
    for j, m in enumerate(masks):
        W[m, j] = 1.0 / m.sum()
    est = W.T @ tau
    # v on the untreated observations: v0 = −A0 (A0'A0)⁻¹ A1' w (FWL for the covariate block)
    Ru = np.column_stack([np.bincount(u1, W[:, j], nu) for j in range(W.shape[1])])
    Rt = np.column_stack([np.bincount(t1, W[:, j], nt) for j in range(W.shape[1])])
    fa, fl = _fe_solve(u0, t0, nu, nt, Ru, Rt)
    f = fa[u0] + fl[t0]
    if k:
        bX = np.linalg.solve(Xt0.T @ Xt0, X1.T @ W - X0.T @ f)
        f = f + Xt0 @ bX
    V0 = -f
    # auxiliary τ̃: v²-weighted mean of τ̂ within cohort × horizon cells, per estimand (eq. 8)
    cell, _ = pd.factorize(pd.MultiIndex.from_arrays([g[om1], e1]))
    ncell = cell.max() + 1
    eps1 = np.empty_like(W)
    for j in range(W.shape[1]):
        w2 = W[:, j] ** 2
        num = np.bincount(cell, w2 * tau, ncell)
        den = np.bincount(cell, w2, ncell)
        tt = np.divide(num, den, out=np.zeros(ncell), where=den > 0)
        eps1[:, j] = tau - tt[cell]
    cl = p.ccode
    ncl = int(cl.max()) + 1
    S = np.zeros((ncl, W.shape[1]))
    for j in range(W.shape[1]):
        S[:, j] = np.bincount(cl[om0], V0[:, j] * eps0, ncl) + np.bincount(cl[om1], W[:, j] * eps1[:, j], ncl)
    cov = S.T @ S
    params = pd.Series(est, index=terms, name="estimate")
    n_obs = {t: int(m.sum()) for t, m in zip(terms, masks, strict=True)}
    effects = pd.DataFrame({"unit": p.units[u1], "time": p.t[om1].astype(np.int64),
                            "cohort": g[om1].astype(np.int64), "event_time": e1.astype(np.int64), "tau": tau})
    pretrend, leads = None, None
    if pretrends is not None:
        pretrend, leads = _pretrend(p, om0, pretrends)
    inference = Inference(method="influence", cluster=p.cluster, n_clusters=ncl)
    return ImputationResult(outcome=outcome, params=params, cov=pd.DataFrame(cov, index=terms, columns=terms),
                            nobs=int(om0.sum() + om1.sum()), inference=inference, n_obs=n_obs, effects=effects,
                            pretrend=pretrend, leads=leads, n_units=nu, n_periods=nt, n_untreated=int(om0.sum()),
                            dropped=p.dropped, notes=notes, covariates=p.covariates, by_terms=by_terms)


def _pretrend(p: StaggeredPanel, om0: np.ndarray, pretrends) -> tuple[TestResult | str, pd.DataFrame | None]:
    """Leads (event times before −1) added to the step-1 regression on Ω0; clustered Wald F test."""
    e0 = p.e[om0]
    pre = sorted({int(x) for x in e0[np.isfinite(e0)] if x < -1}, reverse=True)
    if pretrends is not True:
        pre = pre[:int(pretrends)]
    if not pre:
        return ("pre-trend test: no untreated period before the reference (event time −1) of any treated unit. "
                "Fix: use a panel with earlier periods."), None
    pre = sorted(pre)
    names = [f"lead{h}" for h in pre]
    L = np.column_stack([(e0 == h).astype(float) for h in pre])
    X = np.column_stack([L, p.X[om0]]) if p.covariates else L
    u0, _ = pd.factorize(p.ucode[om0])
    t0, _ = pd.factorize(p.tcode[om0], sort=True)
    R = _twoway_residual(np.column_stack([p.y[om0], X]), u0, t0, maxiter=10_000)
    _check_identified(X, names + p.covariates, u0, t0, R=R[:, 1:],
                      hint="the leads need untreated periods of several cohorts; test fewer leads")
    cl, uniq = pd.factorize(p.ccode[om0])
    fit = _FastPanelResult.from_residuals(R[:, 0], R[:, 1:], names + p.covariates, cl,
                                          n_effects=u0.max() + 1 + t0.max() + 1 - 1)
    b = fit.params[names]
    V = fit.cov.loc[names, names]
    test = wald_test(b.to_numpy(), V.to_numpy(), name="Pre-trend test (leads in the untreated model = 0)",
                     terms=names, df2=len(uniq) - 1,
                     note="Borusyak, Jaravel & Spiess (2024) Test 1; clustered covariance as twfe_did")
    leads = pd.DataFrame({"event_time": pre, "estimate": b.to_numpy(), "std_error": np.sqrt(np.diag(V))})
    return test, leads



