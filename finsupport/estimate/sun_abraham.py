"""Sun & Abraham (2021) interaction-weighted event-study estimator.

A two-way fixed effects regression saturated in cohort × event-time interactions,

    y_it = α_i + λ_t + Σ_g Σ_{e ≠ r} δ_{g,e} 1[G_i = g] 1[t − g = e] + X_it'γ + ε_it,

estimated on the treated cohorts and a control cohort (never-treated units, or the
last-treated cohort before it is treated). Each δ_{g,e} is the cohort-specific average
treatment effect CATT(g, e) relative to the reference event time r (−1) — free of the
contamination by other periods' effects that afflicts the binned event study. The
interaction-weighted (IW) event-study coefficient averages them with the cohorts'
shares among the treated observations at that event time,

    β_e = Σ_g w_{g,e} δ_{g,e},   w_{g,e} = n_{g,e} / Σ_h n_{h,e},

and the overall ATT averages every post-treatment δ_{g,e} (e ≥ 0) with weights
n_{g,e} / Σ_{e ≥ 0} n (each treated observation counts once). Standard errors are the
cluster-robust covariance of the δ (the same sandwich as :func:`twfe_did`) carried
through these fixed weights: Var(β) = A V A'.

Source: Sun, L. & Abraham, S. (2021), "Estimating dynamic treatment effects in event
studies with heterogeneous treatment effects", Journal of Econometrics 225(2), 175–199.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, EstimationError
from .results import (
    TIDY_COLUMNS,
    EstimateResult,
    Inference,
    StoredEstimates,
    TestResult,
    equality_test,
    wald_test,
)
from .staggered import StaggeredPanel, prepare_staggered
from .twfe import DroppedRows, _check_identified, _FastPanelResult, _twoway_residual

__all__ = ["sun_abraham", "SunAbrahamResult", "CONTROL_GROUPS"]

CONTROL_GROUPS = ("never_treated", "last_treated")


def _eterm(e: float) -> str:
    return f"e={int(e)}"


class SunAbrahamResult(StoredEstimates, EstimateResult):
    """Interaction-weighted event study (:func:`sun_abraham`).

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`.
    ``params``: ``ATT`` (the average of all post-treatment cohort effects, each
    treated observation weighted equally) and the IW event-time coefficients ``e=k``.
    ``tidy()`` adds ``event_time`` (missing for ``ATT``), ``reference`` (the omitted
    event time, estimate 0), ``n_obs`` (treated observations) and ``n_cohorts``.

    Attributes
    ----------
    cohort_effects : DataFrame
        The interaction coefficients δ_{g,e}: ``cohort, event_time, estimate, std_error,
        weight`` (w_{g,e} in β_e) and ``n_obs``.
    control_group, reference : str, int
    n_units, n_periods : int
    dropped : DroppedRows
    notes : list of str
    """

    estimator = "Sun–Abraham interaction-weighted event study"

    def __init__(self, *, outcome, params, cov, nobs, inference, cohort_effects, reference, n_obs_by_e,
                 control_group, n_units, n_periods, dropped, notes, covariates, by_terms=()):
        self.outcome = outcome
        self._params = params
        self._cov = cov
        self._nobs = nobs
        self.inference = inference
        self.cohort_effects = cohort_effects
        self.reference = reference
        self.n_obs_by_e = n_obs_by_e
        self.control_group = control_group
        self.n_units, self.n_periods = n_units, n_periods
        self.dropped: DroppedRows = dropped
        self.notes = list(notes)
        self.covariates = tuple(covariates)
        self.fixed_effects = {"Unit FE": True, "Time FE": True}
        self.by_terms = list(by_terms)

    def equality_test(self) -> TestResult:
        """Wald test that the subgroup ATTs (``by=``) are equal: χ²(S − 1) with their joint covariance."""
        return equality_test(self._params, self._cov, self.by_terms, name="Equality of the subgroup ATTs")

    @property
    def att(self) -> float:
        return float(self._params["ATT"])

    @property
    def event_times(self) -> list[int]:
        return sorted(int(t[2:]) for t in self._params.index if t.startswith("e="))

    def tidy(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        est = super().tidy(level, kind)
        et = [int(t[2:]) if t.startswith("e=") else np.nan for t in est["term"]]
        est["event_time"] = et
        ref = pd.DataFrame([dict(term=_eterm(self.reference), estimate=0.0, std_error=np.nan, statistic=np.nan,
                                 p_value=np.nan, conf_low=0.0, conf_high=0.0, event_time=self.reference)])
        out = pd.concat([est, ref], ignore_index=True)
        out["reference"] = out["event_time"] == self.reference
        out = pd.concat([out.iloc[:1], out.iloc[1:].sort_values("event_time")], ignore_index=True)
        ncoh = self.cohort_effects.groupby("event_time")["cohort"].nunique()
        out["n_obs"] = pd.array([pd.NA if np.isnan(e) else self.n_obs_by_e.get(int(e), 0)
                                 for e in out["event_time"]], dtype="Int64")
        out.loc[out["term"] == "ATT", "n_obs"] = sum(v for k, v in self.n_obs_by_e.items() if k >= 0)
        out["n_cohorts"] = pd.array([pd.NA if np.isnan(e) else int(ncoh.get(e, 0)) for e in out["event_time"]],
                                    dtype="Int64")
        out["event_time"] = out["event_time"].astype("Int64")
        return out[[*TIDY_COLUMNS, "event_time", "reference", "n_obs", "n_cohorts"]]

    def pretrend_test(self) -> TestResult:
        """Joint Wald test that the IW pre-period coefficients (e < 0, reference excluded) are zero.

        W = b' V⁻¹ b; reported as F = W/q on (q, G − 1) with G clusters (or (q, n − k − d)
        without clustering), as :meth:`EventStudyResult.pretrend_test`.
        """
        pre = [_eterm(e) for e in self.event_times if e < 0 and e != self.reference]
        if not pre:
            raise EstimationError("no pre-period IW coefficient to test: every cohort is observed only from "
                                  "the reference period on. Fix: use a panel with earlier periods.")
        inf = self.inference
        df2 = (inf.n_clusters - 1) if inf.n_clusters is not None else inf.df
        return wald_test(self.params[pre].to_numpy(), self.cov.loc[pre, pre].to_numpy(),
                         name="Pre-trend test (IW pre-period coefficients = 0)", terms=pre, df2=int(df2))

    def _title(self) -> str:
        return f"Sun–Abraham IW event study of {self.outcome} ({self.control_group.replace('_', '-')} controls)"

    def summary(self) -> str:
        lines = self._header() + [f"Units: {self.n_units:,}   periods: {self.n_periods}   "
                                  f"reference event time: {self.reference}", f"Dropped: {self.dropped}",
                                  *self.notes, "",
                                  self.tidy().to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        lines += self._pretrend_lines()
        return "\n".join(lines)

    def plot(self, *, ax=None, level: float = 0.95, title: str | None = None):
        """IW event-study coefficients with their confidence band (:mod:`.plotting`)."""
        from .plotting import plot_event_study

        t = self.tidy(level)
        t = t[t["event_time"].notna()]
        e = self.event_times + [self.reference]
        return plot_event_study(t, window=(min(e), max(e)), reference=self.reference, ax=ax,
                                title=title or self._title(), xlabel="periods relative to treatment",
                                ylabel=f"effect on {self.outcome}", level=level, binned=False)

    def __repr__(self) -> str:
        return f"<SunAbrahamResult {self.outcome}: ATT = {self.att:.4g}, n = {self.nobs:,}>"


def sun_abraham(df: pd.DataFrame, *, outcome: str, unit: str, time: str, cohort: str,
                covariates: Sequence[str] = (), control_group: str = "never_treated",
                cluster: str | None = "unit", reference: int = -1, by: str | None = None) -> SunAbrahamResult:
    """Sun & Abraham (2021) interaction-weighted event study and overall ATT.

    Fits y_it = α_i + λ_t + Σ_g Σ_{e≠r} δ_{g,e} 1[G_i = g, t − g = e] + X_it'γ + ε_it
    (every observed event time of every treated cohort, no binning) with unit and time
    effects absorbed, then aggregates: β_e = Σ_g w_{g,e} δ_{g,e} with w_{g,e} the
    cohort's share of treated observations at event time e; ATT = Σ_{e≥0} Σ_g
    (n_{g,e}/N_post) δ_{g,e}.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit and period.
    outcome, unit, time : str
        Outcome, unit id and integer period columns.
    cohort : str
        First treated period (0 or missing = never treated); constant within a unit.
    covariates : sequence of str
        Time-varying controls X.
    control_group : {"never_treated", "last_treated"}
        ``never_treated`` (default): never-treated units are the controls (all
        cohorts are estimated; needs never-treated units). ``last_treated``: the
        last-treated cohort is the control, the sample stops the period before it is
        treated and never-treated units are left out (Sun & Abraham 2021, sec. 4.1:
        the control cohort when no unit is never treated).
    cluster : str or None
        ``"unit"`` (default), another column, or None (classical errors).
    reference : int
        The omitted event time (default −1).
    by : str, optional
        A firm-level column splitting the treated firms into subgroups: the interactions
        become cohort × subgroup × event time (controls shared) and the result adds the
        ATT of each subgroup (terms ``<by>=<value>``) and ``equality_test()``.

    Returns
    -------
    SunAbrahamResult

    Notes
    -----
    Standard errors: the cluster-robust covariance of the δ_{g,e} exactly as
    :func:`twfe_did` computes it (linearmodels' ``debiased`` sandwich with the absorbed
    effects counted, factor n/(n − k − d), no G/(G − 1)); the aggregation weights are
    treated as fixed. p-values and intervals use t(n − k − d). diff-diff's
    ``SunAbraham`` (hc1) uses the CR1 factor instead; see ``docs/estimation.md``.

    Raises
    ------
    DataError, EstimationError
        Bad columns or values; no control units; cohort effects not identified.
    """
    if control_group not in CONTROL_GROUPS:
        raise EstimationError(f"control_group={control_group!r} is not known; use one of "
                              f"{', '.join(CONTROL_GROUPS)}")
    p = prepare_staggered(df, outcome=outcome, unit=unit, time=time, cohort=cohort, covariates=covariates,
                          cluster=cluster, extra=[by] if by else [])
    return _compute_sun_abraham(p, outcome=outcome, control_group=control_group, reference=int(reference), by=by)


def _compute_sun_abraham(p: StaggeredPanel, *, outcome: str, control_group: str, reference: int, by=None
                         ) -> SunAbrahamResult:
    notes: list[str] = []
    g, t, e = p.g, p.t, p.e
    keep = np.ones(len(g), bool)
    if control_group == "never_treated":
        if not (g == 0).any():
            raise EstimationError("no never-treated unit for control_group='never_treated'. Fix: use "
                                  "control_group='last_treated' (the last-treated cohort as the control).")
        control = g == 0
    else:
        last = g.max()
        keep = (t < last) & (g > 0)
        control = g == last
        if (g == 0).any():
            notes.append(f"control_group='last_treated': {len(np.unique(p.ucode[g == 0]))} never-treated "
                         f"unit(s) left out; cohort {last:g} is the control, periods from {last:g} on dropped")
        else:
            notes.append(f"control_group='last_treated': cohort {last:g} is the control; periods from "
                         f"{last:g} on dropped")
    treated = (g > 0) & ~control & keep
    if not treated.any():
        raise EstimationError("no treated cohort besides the control cohort. Fix: use control_group="
                              "'never_treated' or data with more than one cohort.")
    cells = treated & (e != reference)
    sg = np.zeros(len(g), dtype=np.int64)
    levels: list = []
    if by is not None:
        raw = p.data[by].to_numpy()
        if pd.isna(raw[treated]).any():
            raise DataError(problems=[{"table": "panel", "column": by, "message": f"{by} is missing for treated "
                                       f"firms", "hint": f"fill {by} for every treated firm"}])
        if (pd.Series(raw[treated]).groupby(p.ucode[treated]).nunique() > 1).any():
            raise DataError(problems=[{"table": "panel", "column": by, "message": f"{by} changes within a firm",
                                       "hint": "subgroups are firm-level: use one value per firm"}])
        levels = sorted(pd.unique(raw[treated]).tolist(), key=str)
        code = {v: i for i, v in enumerate(levels)}
        sg[treated] = [code[v] for v in raw[treated]]
    ge = pd.MultiIndex.from_arrays([g[cells], sg[cells], e[cells]])
    col, pairs = pd.factorize(ge, sort=True)
    pairs = pd.MultiIndex.from_tuples(pairs, names=["cohort", "subgroup", "event_time"]) if not isinstance(
        pairs, pd.MultiIndex) else pairs.set_names(["cohort", "subgroup", "event_time"])
    idx = np.flatnonzero(keep)
    pos = np.full(len(g), -1)
    pos[idx] = np.arange(len(idx))
    n, k = len(idx), len(pairs)
    names = [f"g{int(a)}:e{int(b)}" if by is None else f"g{int(a)}:s{int(c)}:e{int(b)}" for a, c, b in pairs]
    D = np.zeros((n, k))
    D[pos[cells], col] = 1.0
    X = np.column_stack([D, p.X[keep]]) if p.covariates else D
    ucode, uu = pd.factorize(p.ucode[keep])
    tcode, tt = pd.factorize(p.tcode[keep], sort=True)
    R = _twoway_residual(np.column_stack([p.y[keep], X]), ucode, tcode)
    gram = R[:, 1:].T @ R[:, 1:]
    _check_identified(X, names + p.covariates, ucode, tcode, R=R[:, 1:], gram=gram,
                      hint="every treated cohort needs control observations in each of its periods; "
                           "drop covariates constant within units or periods")
    ccode = None
    if p.ccode is not None:
        ccode, _ = pd.factorize(p.ccode[keep])
    fit = _FastPanelResult.from_residuals(R[:, 0], R[:, 1:], names + p.covariates, ccode,
                                          n_effects=len(uu) + len(tt) - 1, gram=gram)
    delta = fit.params.to_numpy()[:k]
    V = fit.cov.to_numpy()[:k, :k]
    # IW weights: cohort shares of treated observations at each event time (estimation sample)
    counts = pd.Series(1, index=ge).groupby(level=[0, 1, 2]).sum().reindex(pairs).to_numpy(dtype=float)
    ev = pairs.get_level_values("event_time").to_numpy(dtype=float)
    etimes = np.unique(ev)
    A = np.zeros((1 + len(etimes), k))
    for j, et in enumerate(etimes):
        m = ev == et
        A[1 + j, m] = counts[m] / counts[m].sum()
    post = ev >= 0
    if not post.any():
        raise EstimationError("no post-treatment observation of a treated cohort in the sample. Fix: check "
                              "the cohort coding and the periods.")
    A[0, post] = counts[post] / counts[post].sum()
    terms = ["ATT", *[_eterm(x) for x in etimes]]
    csg = pairs.get_level_values("subgroup").to_numpy()
    by_terms = []
    for i, lev in enumerate(levels):
        m = post & (csg == i)
        if not m.any():
            raise EstimationError(f"subgroup {by}={lev} has no post-treatment observation")
        row = np.zeros((1, k))
        row[0, m] = counts[m] / counts[m].sum()
        A = np.vstack([A, row])
        by_terms.append(f"{by}={lev}")
    terms += by_terms
    params = pd.Series(A @ delta, index=terms, name="estimate")
    cov = pd.DataFrame(A @ V @ A.T, index=terms, columns=terms)
    ce = pd.DataFrame({"cohort": pairs.get_level_values("cohort").astype(np.int64),
                       **({"subgroup": [levels[i] for i in csg]} if by is not None else {}),
                       "event_time": ev.astype(np.int64), "estimate": delta, "std_error": np.sqrt(np.diag(V)),
                       "weight": A[1:1 + len(etimes)][np.searchsorted(etimes, ev), np.arange(k)],
                       "n_obs": counts.astype(np.int64)})
    n_obs_by_e = {int(x): int(counts[ev == x].sum()) for x in etimes}
    inference = Inference(method="cluster" if p.cluster is not None else "classical", cluster=p.cluster,
                          n_clusters=int(ccode.max() + 1) if ccode is not None else None, distribution="t",
                          df=int(fit.df_resid))
    return SunAbrahamResult(outcome=outcome, params=params, cov=cov, nobs=n, inference=inference,
                            cohort_effects=ce, reference=reference, n_obs_by_e=n_obs_by_e,
                            control_group=control_group, n_units=len(uu), n_periods=len(tt), dropped=p.dropped,
                            notes=notes, covariates=p.covariates, by_terms=by_terms)
