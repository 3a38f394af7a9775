"""Event study: relative-time dummies with unit and time effects, pre-trend test, plot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, EstimationError
from .results import TIDY_COLUMNS, TestResult, deprecated, wald_test
from .twfe import (
    _OLD_NAMES,
    SE_NOTE,
    DroppedRows,
    FittedPanel,
    _cluster_option,
    _engine,
    _fit_panel,
    _inference_option,
    _prepare_panel,
    _problem,
    _require_columns,
    _treated_clusters,
    _wild_fit,
)

__all__ = ["event_study", "EventStudyResult", "PretrendTest"]


#: The pre-trend test is a :class:`~finsupport.estimate.results.TestResult` (kind ``"F"``;
#: ``chi2``, ``chi2_df`` and ``chi2_pvalue`` give the χ² version). The name stays for one release.
PretrendTest = TestResult


class EventStudyResult(FittedPanel):
    """A fitted event study (:func:`event_study`).

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`.

    Attributes
    ----------
    params, std_errors, tstats, pvalues : Series
        The estimated event-time coefficients (terms ``e<=-4``, ``e=-3``, …, ``e>=4``),
        then covariates.
    nobs, n_units, n_periods, n_clusters, df_resid : int
        Sample sizes; ``n_clusters`` is None for classical standard errors.
    inference : Inference
    dropped : DroppedRows
        Rows left out for missing values.
    model_result : linearmodels PanelEffectsResults
    notes : list of str

    ``tidy()`` has one row per event time in the window (the reference period with
    estimate 0 and no standard error; event times with no observation with a missing
    estimate) and then the covariates, with the extra columns ``event_time``, ``binned``
    (end-point bins), ``reference`` and ``n_obs`` (treated observations at that event
    time).
    """

    estimator = "Event study"

    def __init__(self, model_result, *, outcome, unit, time, cohort, window, reference, covariates,
                 cluster, n_units, n_periods, n_clusters, dropped, event_terms, n_obs, notes, wild=None,
                 warnings=()):
        self.model_result = model_result
        self.outcome, self.unit, self.time, self.cohort = outcome, unit, time, cohort
        self.window = tuple(window)
        self.reference = reference
        self.covariates = tuple(covariates)
        self.cluster = cluster
        self.n_units, self.n_periods = n_units, n_periods
        self.dropped: DroppedRows = dropped
        self.event_terms: dict[int, str] = event_terms  # event time → term (estimated or empty)
        self.n_obs_by_event: dict[int, int] = n_obs
        self.notes = list(notes)
        self.fixed_effects = {"Unit FE": True, "Time FE": True}
        self._attach_inference(cluster, n_clusters, wild, warnings)
        self.se_type = self.inference.describe()
        self.se_note = SE_NOTE

    def _uniform_terms(self) -> list[str]:
        return [t for t in self.params.index if t not in self.covariates]

    def tidy(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        """One row per event time in the window, then the covariates (see the class docstring)."""
        est = super().tidy(level, kind).set_index("term")
        lo, hi = self.window
        rows = []
        for e in range(lo, hi + 1):
            term = self.event_terms[e]
            row = dict(term=term, estimate=np.nan, std_error=np.nan, statistic=np.nan, p_value=np.nan,
                       conf_low=np.nan, conf_high=np.nan)
            if e == self.reference:
                row.update(estimate=0.0, conf_low=0.0, conf_high=0.0)
            elif term in est.index:
                row.update(est.loc[term, list(TIDY_COLUMNS[1:])].to_dict())
            row.update(event_time=e, binned=e in (lo, hi), reference=e == self.reference,
                       n_obs=self.n_obs_by_event.get(e, 0))
            rows.append(row)
        out = pd.DataFrame(rows)
        cov = est.loc[[c for c in self.covariates if c in est.index]].reset_index()
        if len(cov):
            cov = cov.assign(event_time=pd.NA, binned=False, reference=False, n_obs=pd.NA)
            out = pd.concat([out, cov], ignore_index=True)
        out["event_time"] = out["event_time"].astype("Int64")
        out["n_obs"] = out["n_obs"].astype("Int64")
        return out

    def _table(self, level: float = 0.95) -> pd.DataFrame:
        t = self.tidy(level)
        t = t[t["event_time"].notna()].rename(columns=_OLD_NAMES)
        t["event_time"] = t["event_time"].astype(np.int64)
        t["n_obs"] = t["n_obs"].astype(np.int64)
        return t[["event_time", "term", "coef", "se", "t", "p", "ci_lower", "ci_upper", "binned",
                  "reference", "n_obs"]].reset_index(drop=True)

    @property
    def table(self) -> pd.DataFrame:
        """Deprecated: the release-0.1 layout (``coef, se, t, p, ci_lower, ci_upper``); use :meth:`tidy`."""
        deprecated("EventStudyResult.table", "EventStudyResult.tidy()")
        return self._table()

    def pretrend_test(self) -> TestResult:
        """Joint Wald test that every pre-period coefficient (event time < 0, reference excluded) is 0.

        Uses the covariance of the fit (clustered unless ``cluster=None``):
        W = b' V⁻¹ b ~ χ²(q); F = W/q ~ F(q, G − 1) with G clusters (the usual
        reference distribution for cluster-robust Wald tests), or F(q, n − k − d) with
        classical standard errors.

        Returns
        -------
        TestResult
            kind ``"F"``; ``chi2``, ``chi2_df``, ``chi2_pvalue`` give the χ² version.

        Raises
        ------
        EstimationError
            When the window has no pre-period coefficient besides the reference, or
            their covariance is singular.
        """
        pre = [self.event_terms[e] for e in sorted(self.event_terms)
               if e < 0 and e != self.reference and self.event_terms[e] in self.params.index]
        if not pre:
            raise EstimationError(
                f"no pre-period coefficient to test (window {self.window}, reference "
                f"{self.reference}). Fix: widen the window to include event times before "
                f"{self.reference}.")
        df2 = (self.n_clusters - 1) if self.n_clusters is not None else self.df_resid
        return wald_test(self.params[pre].to_numpy(), self.cov.loc[pre, pre].to_numpy(),
                         name="Pre-trend test (pre-period coefficients = 0)", terms=pre, df2=int(df2),
                         note="Wald test with the fit's covariance; F = W/q on (q, G − 1) with G clusters, "
                              "or (q, n − k − d) with classical errors")

    def plot(self, *, ax=None, level: float = 0.95, title: str | None = None):
        """Event-study chart: coefficients with a confidence band, zero line, treatment onset.

        Drawn by :func:`finsupport.estimate.plotting.plot_event_study` on ``ax`` or on a new
        :class:`matplotlib.figure.Figure` (no pyplot, so it works with any backend and
        leaves no global state).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .plotting import plot_event_study

        return plot_event_study(self.tidy(level), window=self.window, reference=self.reference, ax=ax,
                                title=title or f"Event study: {self.outcome}",
                                xlabel=f"periods relative to treatment ({self.time} − {self.cohort})",
                                ylabel=f"effect on {self.outcome}", level=level)

    def _title(self) -> str:
        return f"Event study of {self.outcome}, window {self.window}, reference {self.reference}"

    def summary(self) -> str:
        """Plain-text summary: model, sample, standard errors, coefficients, pre-trend test."""
        lo, hi = self.window
        lines = [
            "Event study (PanelOLS, unit and time effects absorbed)",
            f"Model: {self.outcome}_it = α_i + λ_t + Σ_(e≠{self.reference}) β_e 1[{self.time} − "
            f"{self.cohort} = e]_it" + (" + X'γ" if self.covariates else "") + " + ε_it; "
            f"end points binned (e ≤ {lo}, e ≥ {hi})",
            f"Observations: {self.nobs:,}   units: {self.n_units:,}   periods: {self.n_periods}",
            f"Standard errors: {self.se_type}; df_resid = {self.df_resid:,}",
            *[f"Warning: {w}" for w in self.inference.warnings],
            f"Dropped: {self.dropped}",
            *self.notes,
            "",
            self.tidy().drop(columns=["term"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ]
        lines += self._pretrend_lines()
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<EventStudyResult {self.outcome}, window {self.window}, n = {self.nobs:,}>"


def _term(e: int, lo: int, hi: int) -> str:
    if e == lo:
        return f"e<={e}"
    if e == hi:
        return f"e>={e}"
    return f"e={e}"


def event_study(df: pd.DataFrame, *, outcome: str, unit: str, time: str, cohort: str,
                window: tuple[int, int] = (-4, 4), reference: int = -1,
                covariates: Sequence[str] = (), cluster: str | None = "unit",
                engine: str = "fast", inference: str = "analytic", draws: int = 999,
                bootstrap_weights: str = "rademacher", seed: int | None = None) -> EventStudyResult:
    """Dynamic (event-study) two-way fixed effects regression.

    .. math:: y_{it} = \\alpha_i + \\lambda_t + \\sum_{e \\ne r} \\beta_e
              1[t - g_i = e] + X_{it}'\\gamma + \\varepsilon_{it}

    with :math:`g_i` the unit's first treated period (cohort) and r the reference period.
    Event time e = time − cohort is binned at the end points (e ≤ window[0] counts as
    window[0], e ≥ window[1] as window[1]); never-treated units (cohort 0 or missing)
    have all dummies zero and, with the not-yet-treated periods, identify λ_t. Unit and
    time effects are absorbed by linearmodels ``PanelOLS`` (Angrist & Pischke 2009).

    With staggered adoption and heterogeneous effects each β_e can be contaminated by
    effects at other relative times, and pre-period coefficients can be non-zero
    without any pre-trend (Sun & Abraham 2021, J. Econometrics 225(2)); compare with
    the cohort-specific estimates of :func:`~finsupport.estimate.att_gt.att_gt`.

    Parameters
    ----------
    df : DataFrame
        Long panel, one row per unit and period.
    outcome, unit, time : str
        Outcome, unit id and (integer) period columns.
    cohort : str
        First treated period of the unit, in the units of ``time``; 0 or missing =
        never treated. Must be constant within a unit.
    window : (int, int)
        Lowest and highest event time; the end points are bins.
    reference : int
        The omitted event time (default −1, the period before treatment), inside the window.
    covariates : sequence of str
        Time-varying controls.
    cluster : str or None
        ``"unit"`` (default), another column to cluster by, or ``None`` for classical
        standard errors. Same covariance as :func:`~finsupport.estimate.twfe.twfe_did`:
        linearmodels' with ``debiased=True`` and the absorbed effects counted, i.e. the
        sandwich times n/(n − k − d) and no G/(G − 1) factor.
    inference, draws, bootstrap_weights, seed
        ``inference="wild"``: p-values and intervals of every coefficient from the wild
        cluster bootstrap (WCR), as in :func:`~finsupport.estimate.twfe.twfe_did`.

    Returns
    -------
    EventStudyResult
        ``.tidy()``, ``.pretrend_test()``, ``.plot()``, ``.summary()``.

    Raises
    ------
    DataError
        Missing columns or ids, duplicate unit-period rows, non-numeric time or cohort.
    ConfigError
        A window or reference out of range.
    EstimationError
        No treated unit, a cohort that changes within a unit, or event-time dummies
        that the effects absorb (e.g. every unit treated and no bin restriction).
    """
    covariates = list(covariates)
    try:
        lo, hi = (int(v) for v in window)
        reference = int(reference)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"window must be two integers and reference an integer, got "
                          f"window={window!r}, reference={reference!r}") from exc
    if not lo < hi:
        raise ConfigError(f"window={window!r}: the first event time must be below the second "
                          f"(e.g. (-4, 4))")
    if not lo <= reference <= hi:
        raise ConfigError(f"reference={reference} is outside window={window!r}; choose a reference "
                          f"period inside the window (usually -1)")
    cl = _cluster_option(cluster, unit)
    wild = _inference_option(inference, cl, None)
    _require_columns(df, {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort,
                         **{f"covariate {c}": c for c in covariates}, "cluster": cl})
    required = [outcome, *covariates] + ([cl] if cl is not None and cl != unit else [])
    data, dropped, codes = _prepare_panel(df, unit=unit, time=time, required=required,
                                         numeric=[outcome, *covariates], keep=[cohort], codes=True)
    for col in (time, cohort):
        s = data[col]
        if s.dtype == bool or not pd.api.types.is_numeric_dtype(s):
            raise DataError(problems=[_problem(col, f"{col} must be numeric periods (e.g. years), "
                                               f"got {s.dtype}", f"convert {col} to integer periods")])
    g = data[cohort].fillna(0).to_numpy(dtype=float)
    tt = data[time].to_numpy(dtype=float)
    # one cohort per unit: checked on the unit codes; the ids of offending units only when there are any
    gmin = np.full(len(codes.units), np.inf)
    gmax = np.full(len(codes.units), -np.inf)
    np.minimum.at(gmin, codes.unit, g)
    np.maximum.at(gmax, codes.unit, g)
    constant = not (gmin != gmax).any()
    # whole numbers: the periods checked on their distinct values, the cohorts on one value per unit
    # when constant within units (every row's value), else on every row (this error comes first)
    if not (np.all(np.mod(np.asarray(codes.times, dtype=float), 1) == 0)
            and np.all(np.mod(gmin if constant else g, 1) == 0)):
        raise DataError(problems=[_problem(time, "time or cohort has non-integer values",
                                           "use integer periods (years, or period numbers) for both")])
    if not constant:
        varying = pd.Series(g, index=data.index).groupby(data[unit].to_numpy()).nunique()
        bad = varying.index[varying > 1].tolist()
        raise EstimationError(
            f"{cohort} changes within unit(s) {', '.join(map(str, bad[:8]))}"
            f"{' …' if len(bad) > 8 else ''}; the event study needs one first-treatment period per "
            f"unit. Fix: set {cohort} to the unit's first treated period in every row (0 if never).")
    treated = g > 0
    if not treated.any():
        raise EstimationError(f"no treated unit: {cohort} is 0 or missing in every row used. "
                              f"Fix: check the cohort coding (first treated period, 0 = never).")
    e = np.where(treated, tt - g, np.nan)
    eb = np.clip(e, lo, hi)
    terms, n_obs, notes, regressors = {}, {}, [], []
    dummies: dict[str, np.ndarray] = {}  # the fit takes them as arrays: no columns added to the frame
    for k in range(lo, hi + 1):
        name = _term(k, lo, hi)
        terms[k] = name
        col = treated & (eb == k)
        n_obs[k] = int(col.sum())
        if k == reference:
            continue
        if n_obs[k] == 0:
            notes.append(f"Note: no treated observation at event time {name}; not estimated.")
            continue
        dummies[name] = col
        regressors.append(name)
    if not regressors:
        raise EstimationError(f"no treated observation falls in the window {window!r} outside the "
                              f"reference period. Fix: widen the window.")
    res, n_u, n_t, n_c = _fit_panel(
        data, outcome=outcome, regressors=[*regressors, *covariates], unit=unit, time=time,
        cluster=cl, weights=None, engine=_engine(engine), codes=codes, columns=dummies,
        # without covariates a row's dummies depend only on its unit's cohort and its period
        unit_kinds=None if covariates else gmin,
        # the dummies are functions of cohort, period, window and reference; covariates as they are
        design_key=("event study", g, tt, lo, hi, reference,
                    *(data[c].to_numpy(dtype=float) for c in covariates)),
        hint="include never-treated units, bin the end points inside the observed event times "
             "(narrow the window) or drop covariates that are constant within units or periods")
    from .wild import cluster_warnings

    sizes = pd.Series(g[treated]).groupby(codes.unit[treated]).first().value_counts().to_dict()
    warns = cluster_warnings(n_clusters=n_c, n_treated_clusters=_treated_clusters(data, treated, cl, unit=unit,
                                                                                  codes=codes),
                             cohort_sizes=sizes, wild=wild)
    if wild:  # the wild bootstrap refits from the frame's columns when the fit kept no residuals
        data = data.assign(**{name: col.astype(float) for name, col in dummies.items()})
    boot = _wild_fit(data, outcome=outcome, regressors=[*regressors, *covariates], unit=unit, time=time,
                     cluster=cl, draws=draws, weights=bootstrap_weights, seed=seed, fitted=res) if wild else None
    return EventStudyResult(res, outcome=outcome, unit=unit, time=time, cohort=cohort,
                            window=(lo, hi), reference=reference, covariates=covariates, cluster=cl,
                            n_units=n_u, n_periods=n_t, n_clusters=n_c, dropped=dropped,
                            event_terms=terms, n_obs=n_obs, notes=notes, wild=boot, warnings=warns)
