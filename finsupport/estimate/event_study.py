"""Event study: relative-time dummies with unit and time effects, pre-trend test, plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConfigError, DataError, EstimationError
from .twfe import (
    SE_NOTE,
    DroppedRows,
    FittedPanel,
    _cluster_option,
    _engine,
    _fit_panel,
    _prepare_panel,
    _problem,
    _require_columns,
    _se_label,
)

__all__ = ["event_study", "EventStudyResult", "PretrendTest"]


@dataclass(frozen=True)
class PretrendTest:
    """Joint Wald test that all pre-period event-study coefficients are zero.

    Attributes
    ----------
    terms : tuple of str
        The coefficients tested (event times < 0 other than the reference).
    chi2, chi2_df, chi2_pvalue : float, int, float
        W = b' V⁻¹ b with V the (clustered) covariance of those coefficients, referred to
        χ²(q), q = number of coefficients.
    f, f_df1, f_df2, f_pvalue : float, int, int, float
        F = W / q referred to F(q, G − 1) with G clusters, or F(q, n − k − d) for
        classical standard errors.
    """

    terms: tuple
    chi2: float
    chi2_df: int
    chi2_pvalue: float
    f: float
    f_df1: int
    f_df2: int
    f_pvalue: float

    @property
    def statistic(self) -> float:
        """The F statistic (the headline version)."""
        return self.f

    @property
    def df(self) -> tuple[int, int]:
        """(numerator, denominator) degrees of freedom of the F version."""
        return (self.f_df1, self.f_df2)

    @property
    def pvalue(self) -> float:
        """p-value of the F version."""
        return self.f_pvalue

    def as_dict(self) -> dict:
        return {"terms": list(self.terms), "f": self.f, "f_df1": self.f_df1, "f_df2": self.f_df2,
                "f_pvalue": self.f_pvalue, "chi2": self.chi2, "chi2_df": self.chi2_df,
                "chi2_pvalue": self.chi2_pvalue}

    def __str__(self) -> str:
        return (f"Pre-trend test ({len(self.terms)} coefficients = 0): "
                f"F({self.f_df1}, {self.f_df2}) = {self.f:.3f}, p = {self.f_pvalue:.4f}; "
                f"chi2({self.chi2_df}) = {self.chi2:.3f}, p = {self.chi2_pvalue:.4f}")


class EventStudyResult(FittedPanel):
    """A fitted event study (:func:`event_study`).

    Attributes
    ----------
    table : DataFrame
        One row per event time in the window: ``event_time, term, coef, se, t, p,
        ci_lower, ci_upper`` (95 %), ``binned`` (True for the end-point bins),
        ``reference`` (True for the omitted period: coef 0, se NaN) and ``n_obs``
        (treated observations at that event time). Event times with no observation
        are not estimated (coef NaN, listed in ``notes``).
    params, std_errors, tstats, pvalues : Series
        The estimated event-time coefficients (terms ``e<=-4``, ``e=-3``, …, ``e>=4``).
    nobs, n_units, n_periods, n_clusters, df_resid : int
        Sample sizes; ``n_clusters`` is None for classical standard errors.
    dropped : DroppedRows
        Rows left out for missing values.
    model_result : linearmodels PanelEffectsResults
    notes : list of str
    """

    def __init__(self, model_result, *, outcome, unit, time, cohort, window, reference, covariates,
                 cluster, n_units, n_periods, n_clusters, dropped, event_terms, n_obs, notes):
        self.model_result = model_result
        self.outcome, self.unit, self.time, self.cohort = outcome, unit, time, cohort
        self.window = tuple(window)
        self.reference = reference
        self.covariates = tuple(covariates)
        self.cluster = cluster
        self.n_units, self.n_periods, self.n_clusters = n_units, n_periods, n_clusters
        self.dropped: DroppedRows = dropped
        self.event_terms: dict[int, str] = event_terms  # event time → term (estimated or empty)
        self.n_obs_by_event: dict[int, int] = n_obs
        self.notes = list(notes)
        self.fixed_effects = {"Unit FE": True, "Time FE": True}
        self.se_type = _se_label(cluster, n_clusters)
        self.se_note = SE_NOTE

    def _table(self, level: float = 0.95) -> pd.DataFrame:
        lo, hi = self.window
        ci = self.conf_int(level)
        rows = []
        for e in range(lo, hi + 1):
            term = self.event_terms[e]
            row = dict(event_time=e, term=term, coef=np.nan, se=np.nan, t=np.nan, p=np.nan,
                       ci_lower=np.nan, ci_upper=np.nan, binned=e in (lo, hi),
                       reference=e == self.reference, n_obs=self.n_obs_by_event.get(e, 0))
            if e == self.reference:
                row.update(coef=0.0, ci_lower=0.0, ci_upper=0.0)
            elif term in self.params.index:
                row.update(coef=float(self.params[term]), se=float(self.std_errors[term]),
                           t=float(self.tstats[term]), p=float(self.pvalues[term]),
                           ci_lower=float(ci.loc[term].iloc[0]), ci_upper=float(ci.loc[term].iloc[1]))
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def table(self) -> pd.DataFrame:
        return self._table()

    def pretrend_test(self) -> PretrendTest:
        """Joint Wald test that every pre-period coefficient (event time < 0, reference excluded) is 0.

        Uses the covariance of the fit (clustered unless ``cluster=None``):
        W = b' V⁻¹ b ~ χ²(q); F = W/q ~ F(q, G − 1) with G clusters (the usual
        reference distribution for cluster-robust Wald tests), or F(q, n − k − d) with
        classical standard errors.

        Returns
        -------
        PretrendTest

        Raises
        ------
        EstimationError
            When the window has no pre-period coefficient besides the reference.
        """
        pre = [self.event_terms[e] for e in sorted(self.event_terms)
               if e < 0 and e != self.reference and self.event_terms[e] in self.params.index]
        if not pre:
            raise EstimationError(
                f"no pre-period coefficient to test (window {self.window}, reference "
                f"{self.reference}). Fix: widen the window to include event times before "
                f"{self.reference}.")
        b = self.params[pre].to_numpy()
        V = self.cov.loc[pre, pre].to_numpy()
        try:
            W = float(b @ np.linalg.solve(V, b))
        except np.linalg.LinAlgError:
            W = float(b @ np.linalg.pinv(V) @ b)
        q = len(pre)
        df2 = (self.n_clusters - 1) if self.n_clusters is not None else self.df_resid
        F = W / q
        return PretrendTest(terms=tuple(pre), chi2=W, chi2_df=q, chi2_pvalue=float(stats.chi2.sf(W, q)),
                            f=F, f_df1=q, f_df2=int(df2), f_pvalue=float(stats.f.sf(F, q, df2)))

    def plot(self, *, level: float = 0.95, title: str | None = None, ax=None):
        """Event-study chart: coefficients with a confidence band, zero line, treatment onset.

        Builds a :class:`matplotlib.figure.Figure` directly (no pyplot, so it works with
        any backend and leaves no global state).

        Parameters
        ----------
        level : float
            Confidence level of the band.
        title : str, optional
        ax : matplotlib Axes, optional
            Draw into this axes instead of a new figure.

        Returns
        -------
        matplotlib.figure.Figure
        """
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(7, 4), dpi=100)
            ax = fig.add_subplot(1, 1, 1)
        else:
            fig = ax.figure
        tab = self._table(level).dropna(subset=["coef"])
        x = tab["event_time"].to_numpy()
        ax.fill_between(x, tab["ci_lower"].to_numpy(), tab["ci_upper"].to_numpy(), alpha=0.25,
                        color="C0", linewidth=0, label=f"{level:.0%} confidence interval")
        ax.plot(x, tab["coef"].to_numpy(), marker="o", color="C0", label="estimate")
        ref = tab[tab["reference"]]
        ax.plot(ref["event_time"], ref["coef"], marker="o", linestyle="none", markerfacecolor="white",
                color="C0", label=f"reference (e = {self.reference})")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.axvline(-0.5, color="grey", linestyle="--", linewidth=0.8)
        lo, hi = self.window
        ticks = list(range(lo, hi + 1))
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"≤{t}" if t == lo else f"≥{t}" if t == hi else str(t) for t in ticks])
        ax.set_xlabel(f"periods relative to treatment ({self.time} − {self.cohort})")
        ax.set_ylabel(f"effect on {self.outcome}")
        ax.set_title(title or f"Event study: {self.outcome}")
        ax.legend(loc="best", fontsize="small", frameon=False)
        return fig

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
            f"Dropped: {self.dropped}",
            *self.notes,
            "",
            self.table.drop(columns=["term"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ]
        try:
            lines += ["", str(self.pretrend_test())]
        except EstimationError as exc:
            lines += ["", f"Pre-trend test: not available ({exc})"]
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
                engine: str = "fast") -> EventStudyResult:
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

    Returns
    -------
    EventStudyResult
        ``.table``, ``.pretrend_test()``, ``.plot()``, ``.summary()``.

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
    _require_columns(df, {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort,
                         **{f"covariate {c}": c for c in covariates}, "cluster": cl})
    required = [outcome, *covariates] + ([cl] if cl is not None and cl != unit else [])
    data, dropped = _prepare_panel(df, unit=unit, time=time, required=required,
                                  numeric=[outcome, *covariates], keep=[cohort])
    for col in (time, cohort):
        s = data[col]
        if s.dtype == bool or not pd.api.types.is_numeric_dtype(s):
            raise DataError(problems=[_problem(col, f"{col} must be numeric periods (e.g. years), "
                                               f"got {s.dtype}", f"convert {col} to integer periods")])
    g = data[cohort].fillna(0).to_numpy(dtype=float)
    tt = data[time].to_numpy(dtype=float)
    if not (np.all(np.mod(tt, 1) == 0) and np.all(np.mod(g, 1) == 0)):
        raise DataError(problems=[_problem(time, "time or cohort has non-integer values",
                                           "use integer periods (years, or period numbers) for both")])
    varying = pd.Series(g, index=data.index).groupby(data[unit].to_numpy()).nunique()
    if (varying > 1).any():
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
        data[name] = col.astype(float)
        regressors.append(name)
    if not regressors:
        raise EstimationError(f"no treated observation falls in the window {window!r} outside the "
                              f"reference period. Fix: widen the window.")
    res, n_u, n_t, n_c = _fit_panel(
        data, outcome=outcome, regressors=[*regressors, *covariates], unit=unit, time=time,
        cluster=cl, weights=None, engine=_engine(engine),
        hint="include never-treated units, bin the end points inside the observed event times "
             "(narrow the window) or drop covariates that are constant within units or periods")
    return EventStudyResult(res, outcome=outcome, unit=unit, time=time, cohort=cohort,
                            window=(lo, hi), reference=reference, covariates=covariates, cluster=cl,
                            n_units=n_u, n_periods=n_t, n_clusters=n_c, dropped=dropped,
                            event_terms=terms, n_obs=n_obs, notes=notes)
