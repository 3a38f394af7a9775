"""Sensitivity of an event study to violations of parallel trends: ``fs.honest_did``.

Rambachan & Roth (2023), "A More Credible Approach to Parallel Trends", Review of
Economic Studies 90(5). Given event-study coefficients β = (β_pre, β_post) and their
covariance Σ, the post-period coefficients are τ_post + δ_post, where δ is the
difference in trends that parallel trends sets to zero. Instead of assuming δ = 0,
restrict δ to a set Δ and report a confidence set for θ = l'τ_post that is valid for
every δ in Δ:

* relative magnitudes, Δ^RM(M̄): no post-period change in δ is larger than M̄ times the
  largest pre-period change, |δ_{t+1} − δ_t| ≤ M̄ · max_{s<0} |δ_{s+1} − δ_s|. M̄ = 1:
  the violation after treatment is no worse than the worst one before it.
* smoothness, Δ^SD(M): the slope of δ changes by at most M per period,
  |(δ_{t+1} − δ_t) − (δ_t − δ_{t−1})| ≤ M. M = 0 allows any linear trend.

The computations are in :mod:`finsupport.estimate.honest_core`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, EstimationError
from . import dist as stats
from . import honest_core as core
from .results import TIDY_COLUMNS, EstimateResult, Inference

__all__ = ["honest_did", "HonestDidResult", "HONEST_METHODS"]

#: method → (restriction name, parameter name)
HONEST_METHODS = {"relative_magnitudes": ("relative magnitudes", "Mbar"), "smoothness": ("smoothness", "M")}
RM_TESTS = {"C-LF": "LF", "conditional": "ARP"}


class HonestDidResult(EstimateResult):
    """Robust confidence sets for one target over a grid of violations (:func:`honest_did`).

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`:
    one term per row — ``original`` (the usual interval, parallel trends assumed) and
    ``Mbar=0.5`` / ``M=0.01`` … (the robust sets). ``params`` is the target's estimate
    θ̂ = l'β_post on every row; ``std_errors`` and ``pvalues`` exist for the original row
    only (a robust set is not estimate ± z·SE). ``conf_int(level)`` gives the sets at the
    level they were computed at (1 − alpha); another level raises.

    ``tidy()`` adds ``restriction`` (``parallel trends``, ``relative magnitudes`` or
    ``smoothness``), ``parameter`` (``Mbar``/``M``), ``value`` (its value; missing on the
    original row), ``ci_method`` (``normal``, ``C-LF``, ``conditional``, ``FLCI``),
    ``contains_zero`` and ``target``. ``breakdown`` is the smallest value of the
    parameter at which the robust set contains zero (0.0 when the original interval
    already does; ``inf`` when no value up to ``breakdown_limit`` makes it).

    Attributes
    ----------
    method, ci_method, parameter : str
    target : str
        ``average over event times 0..k`` or ``event time e``.
    l_vec : ndarray
        Weights on the post-period coefficients.
    pre_event_times, post_event_times : list of int
    beta, sigma : ndarray
        The coefficients (pre then post, reference omitted) and covariance used.
    grid : DataFrame
        ``value, lower, upper`` of the robust sets.
    original : dict
        ``estimate, std_error, lower, upper`` under parallel trends.
    breakdown : float
    source : str
        The estimator whose coefficients were used.
    """

    estimator = "Honest DiD sensitivity"

    def __init__(self, *, method, ci_method, alpha, target, l_vec, pre, post, beta, sigma, grid, original,
                 breakdown, breakdown_limit, source, outcome, inference, nobs):
        self.method = method
        self.restriction, self.parameter = HONEST_METHODS[method]
        self.ci_method = ci_method
        self.alpha = float(alpha)
        self.target = target
        self.l_vec = np.asarray(l_vec, float)
        self.pre_event_times, self.post_event_times = list(pre), list(post)
        self.beta, self.sigma = np.asarray(beta, float), np.asarray(sigma, float)
        self.grid = grid.reset_index(drop=True)
        self.original = original
        self.breakdown = float(breakdown)
        self.breakdown_limit = float(breakdown_limit)
        self.source = source
        self.outcome = outcome
        self.inference = inference
        self._nobs = int(nobs)

    def _recompute(self, alpha: float) -> pd.DataFrame:
        """The robust sets at another level (computed again, same grid)."""
        npre = len(self.pre_event_times)
        rows = []
        for v in self.grid["value"]:
            if self.method == "relative_magnitudes":
                cs = core.rm_confidence_set(self.beta, self.sigma, npre, len(self.post_event_times), self.l_vec,
                                            float(v), alpha=alpha, hybrid=RM_TESTS[self.ci_method])
            else:
                cs = core.flci(self.beta, self.sigma, npre, self.l_vec, float(v), alpha)
            rows.append({"value": v, "lower": cs["lower"], "upper": cs["upper"]})
        return pd.DataFrame(rows)

    # -- the contract ------------------------------------------------------------------
    def _terms(self) -> list[str]:
        return ["original", *[f"{self.parameter}={v:g}" for v in self.grid["value"]]]

    @property
    def params(self) -> pd.Series:
        return pd.Series(self.original["estimate"], index=self._terms(), dtype=float, name="estimate")

    @property
    def std_errors(self) -> pd.Series:
        se = np.full(len(self.grid) + 1, np.nan)
        se[0] = self.original["std_error"]
        return pd.Series(se, index=self._terms(), name="std_error")

    @property
    def cov(self) -> pd.DataFrame:
        """Variance of θ̂ on the original row; missing elsewhere (the robust sets have none)."""
        t = self._terms()
        v = np.full((len(t), len(t)), np.nan)
        v[0, 0] = self.original["std_error"] ** 2
        return pd.DataFrame(v, index=t, columns=t)

    @property
    def nobs(self) -> int:
        return self._nobs

    def _pvalues(self) -> pd.Series:
        p = np.full(len(self.grid) + 1, np.nan)
        p[0] = 2 * stats.norm.sf(abs(self.original["estimate"] / self.original["std_error"]))
        return pd.Series(p, index=self._terms(), name="p_value")

    def conf_int(self, level: float | None = None, kind: str = "pointwise") -> pd.DataFrame:
        """The original interval and the robust sets (``lower``, ``upper``); default level 1 − alpha.

        Another level computes the robust sets again at that level."""
        level = 1 - self.alpha if level is None else level
        if kind != "pointwise":
            raise EstimationError("honest_did gives one confidence set per value of the restriction; there is no "
                                  "uniform band. Use kind='pointwise'")
        if not 0 < level < 1:
            raise EstimationError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
        grid = self.grid if np.isclose(level, 1 - self.alpha) else self._recompute(1 - level)
        z = stats.norm.ppf(1 - (1 - level) / 2)
        est, se = self.original["estimate"], self.original["std_error"]
        lo = [est - z * se, *grid["lower"]]
        hi = [est + z * se, *grid["upper"]]
        return pd.DataFrame({"lower": lo, "upper": hi}, index=self._terms())

    def tidy(self, level: float | None = None, kind: str = "pointwise") -> pd.DataFrame:
        """One row per set: :data:`TIDY_COLUMNS`, then ``restriction, parameter, value, ci_method,
        contains_zero, target``."""
        ci = self.conf_int(level, kind)
        out = pd.DataFrame({
            "term": self._terms(),
            "estimate": self.params.to_numpy(),
            "std_error": self.std_errors.to_numpy(),
            "statistic": (self.params / self.std_errors).to_numpy(),
            "p_value": self._pvalues().to_numpy(),
            "conf_low": ci["lower"].to_numpy(),
            "conf_high": ci["upper"].to_numpy(),
        })
        out["restriction"] = ["parallel trends"] + [self.restriction] * len(self.grid)
        out["parameter"] = [None] + [self.parameter] * len(self.grid)
        out["value"] = [np.nan, *self.grid["value"].astype(float)]
        out["ci_method"] = ["normal"] + [self.ci_method] * len(self.grid)
        out["contains_zero"] = (out["conf_low"] <= 0) & (out["conf_high"] >= 0)
        out["target"] = self.target
        return out[list(TIDY_COLUMNS) + ["restriction", "parameter", "value", "ci_method", "contains_zero",
                                         "target"]]

    def _title(self) -> str:
        return f"Sensitivity to parallel trends ({self.restriction}): {self.outcome}"

    def _header(self) -> list[str]:
        lines = [self._title(),
                 f"Coefficients: {self.source}; pre periods e = {self.pre_event_times[0]}…"
                 f"{self.pre_event_times[-1]}, post periods e = {self.post_event_times[0]}…"
                 f"{self.post_event_times[-1]}; reference e = -1",
                 f"Target: {self.target}",
                 f"Robust sets: {self.ci_method}, level {1 - self.alpha:g}",
                 f"Original standard errors: {self.inference.describe()}"]
        if self.inference.method == "wild_bootstrap":
            lines.append("Covariance used: the analytic cluster-robust one (the wild bootstrap gives p-values and "
                         "intervals, not a covariance); the original row is its normal interval")
        return lines + [f"Warning: {w}" for w in self.inference.warnings]

    def breakdown_text(self) -> str:
        """One sentence on the breakdown value."""
        p = self.parameter
        if self.breakdown == 0:
            return f"Breakdown: the interval under parallel trends already contains 0 ({p} = 0)."
        if np.isinf(self.breakdown):
            return f"Breakdown: the robust set excludes 0 for every {p} up to {self.breakdown_limit:g}."
        return f"Breakdown value: {p} = {self.breakdown:.3g} (the smallest {p} whose robust set contains 0)."

    def summary(self) -> str:
        tab = self.tidy().set_index("term")[["estimate", "conf_low", "conf_high", "ci_method", "contains_zero"]]
        return "\n".join(self._header() + ["", tab.to_string(float_format=lambda v: f"{v:.4f}"), "",
                                           self.breakdown_text()])

    def plot(self, *, ax=None, level: float | None = None, title: str | None = None):
        """Original interval and robust sets against the restriction's parameter (see :mod:`.plotting`)."""
        from .plotting import plot_honest_did

        return plot_honest_did(self.tidy(level), ax=ax, title=title or self._title(), parameter=self.parameter,
                               ylabel=f"effect on {self.outcome} ({self.target})", breakdown=self.breakdown)


# ---------------------------------------------------------------------------
# coefficients from the supported results


def _event_study_coefficients(res):
    if res.reference != -1:
        raise EstimationError(f"honest_did needs the event study's reference period at e = -1 (it is "
                              f"{res.reference}); refit with reference=-1")
    lo, hi = res.window
    pre = list(range(lo + 1, -1))  # the end points are bins: excluded
    post = list(range(0, hi))
    if not post:
        raise EstimationError(f"the event window {res.window} has no post-treatment event time inside its "
                              f"binned end points; widen the window (e.g. window=(-4, 4))")
    terms = [res.event_terms[e] for e in pre + post]
    missing = [t for t in terms if t not in res.params.index or not np.isfinite(res.params[t])]
    if missing:
        raise EstimationError(f"honest_did needs every event-time coefficient between the binned end points; "
                              f"{', '.join(missing)} could not be estimated (no observation). Narrow the window")
    return (res.params[terms].to_numpy(float), res.cov.loc[terms, terms].to_numpy(float), pre, post,
            "event study (binned end points excluded)")


def _dynamic_coefficients(res):
    if res.kind != "dynamic":
        raise EstimationError(f"honest_did works on the dynamic (event-time) aggregation of att_gt, not on "
                              f"'{res.kind}'; use aggregate(res, 'dynamic')")
    if getattr(res, "base_period", None) != "universal":
        raise EstimationError("honest_did on Callaway–Sant'Anna needs base_period='universal' (with the "
                              "default 'varying' base the pre-period estimates are short differences, not "
                              "event-study coefficients against one reference period); refit att_gt with "
                              "base_period='universal' and aggregate(res, 'dynamic')")
    if getattr(res, "anticipation", 0):
        raise EstimationError("honest_did needs the reference period at e = -1; att_gt with anticipation > 0 "
                              "moves it. Refit with anticipation=0")
    e = res.components["event_time"].to_numpy()
    cov = res.cov.to_numpy()[1:, 1:]  # influence-function covariance; drop the overall effect
    keep = e != -1  # the reference period (estimate 0 by construction) if present
    e, b, cov = e[keep], res.components["att"].to_numpy(float)[keep], cov[np.ix_(keep, keep)]
    pre = [int(v) for v in e if v < 0]
    post = [int(v) for v in e if v >= 0]
    if pre != list(range(-len(pre) - 1, -1)) or post != list(range(len(post))):
        raise EstimationError(f"honest_did needs consecutive event times ending at -2 before and starting at 0 "
                              f"after treatment; the aggregation has {e.tolist()}")
    if not post:
        raise EstimationError("the dynamic aggregation has no post-treatment event time")
    return b, cov, pre, post, "Callaway–Sant'Anna dynamic aggregation (influence-function covariance)"


def _coefficients(result):
    from .cs_aggregate import AggregateResult
    from .event_study import EventStudyResult

    if isinstance(result, EventStudyResult):
        return _event_study_coefficients(result)
    if isinstance(result, AggregateResult):
        return _dynamic_coefficients(result)
    raise EstimationError(f"honest_did takes an event_study result or att_gt's dynamic aggregation, not "
                          f"{type(result).__name__}")


def _grid(values, default) -> np.ndarray:
    if values is None:
        return np.asarray(default, float)
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"the grid of violations must be finite values ≥ 0, got {values!r}")
    return np.unique(arr)


# ---------------------------------------------------------------------------
# the entry point


def honest_did(result, *, method: str = "relative_magnitudes", mbar: float | Sequence[float] | None = None,
               m: float | Sequence[float] | None = None, target: str | int = "average", alpha: float = 0.05,
               rm_test: str = "C-LF", breakdown_limit: float | None = None) -> HonestDidResult:
    """Confidence sets robust to bounded violations of parallel trends (Rambachan & Roth 2023).

    Parameters
    ----------
    result : EventStudyResult or AggregateResult
        An :func:`~finsupport.estimate.event_study.event_study` fit with reference
        period −1 (the binned end points are left out), or the ``dynamic`` aggregation of
        :func:`~finsupport.estimate.att_gt.att_gt` fitted with ``base_period="universal"``
        (its covariance is the influence-function covariance, clustered as the fit).
        Pre periods must run consecutively up to e = −2 and post periods from e = 0.
    method : {"relative_magnitudes", "smoothness"}
        The restriction Δ on the difference in trends δ:
        ``relative_magnitudes`` — Δ^RM(M̄): every post-period change
        |δ_{t+1} − δ_t| is at most M̄ times the largest pre-period change;
        ``smoothness`` — Δ^SD(M): |(δ_{t+1} − δ_t) − (δ_t − δ_{t−1})| ≤ M (M = 0: linear
        trends). Both take δ at the reference period as 0.
    mbar : float or sequence, optional
        Values of M̄ (relative magnitudes); default 0, 0.25, …, 2.
    m : float or sequence, optional
        Values of M (smoothness, in units of the outcome per period²); default ten values
        from 0 to the upper 95% bound of the largest pre-period second difference (R's
        ``DeltaSD_upperBound_Mpre``).
    target : "average" or int
        θ = l'τ_post: ``"average"`` weights the post event times 0…k equally; an
        integer e picks that event time.
    alpha : float
        1 − confidence level.
    rm_test : {"C-LF", "conditional"}
        For relative magnitudes: the conditional least-favourable hybrid test (R's
        default; first stage of size α/10) or the conditional test of Andrews, Roth &
        Pakes (2023). Smoothness always uses the optimal fixed-length confidence
        interval (FLCI), R's default for Δ^SD.
    breakdown_limit : float, optional
        Largest M̄ (or M) searched for the breakdown value (default 100 for M̄, and 1,000
        times the target's standard error per period² for M).

    Returns
    -------
    HonestDidResult
        The original interval, the robust set for every value of the grid and the
        breakdown value.

    Notes
    -----
    The confidence sets follow R HonestDiD (Rambachan & Roth 2023): for Δ^RM the union
    over the location of the largest pre-period change and its sign of ARP confidence
    sets, each inverting the conditional (or hybrid) moment-inequality test of
    Andrews, Roth & Pakes (2023, Econometrica 91(6)); for Δ^SD the affine estimator
    v'β whose fixed-length interval, with the folded-normal critical value for its
    worst-case bias, is shortest (Armstrong & Kolesár 2018). Numbers agree with the
    ``honestdid`` Python port of R HonestDiD and with diff-diff's FLCI; differences of
    method (exact quantiles and end points instead of simulation and a 1,000-point
    grid) are listed in docs/estimation.md.
    """
    if method not in HONEST_METHODS:
        raise ConfigError(f"method={method!r} is not known; use 'relative_magnitudes' or 'smoothness'")
    if rm_test not in RM_TESTS:
        raise ConfigError(f"rm_test={rm_test!r} is not known; use 'C-LF' or 'conditional'")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"alpha={alpha!r} must be between 0 and 0.5")
    if method == "relative_magnitudes" and m is not None:
        raise ConfigError("m is the smoothness bound; for relative magnitudes give mbar")
    if method == "smoothness" and mbar is not None:
        raise ConfigError("mbar is the relative-magnitudes bound; for smoothness give m")
    beta, sigma, pre, post, source = _coefficients(result)
    npre, npost = len(pre), len(post)
    if npre < 1:
        raise EstimationError("honest_did needs at least one pre-treatment coefficient besides the reference "
                              "period (e = -2); widen the window before treatment")
    if method == "relative_magnitudes" and npre < 1:
        raise EstimationError("relative magnitudes need a pre-period change to scale by")
    if target == "average":
        l_vec = np.full(npost, 1 / npost)
        label = f"average over event times 0…{npost - 1}" if npost > 1 else "event time 0"
    else:
        try:
            e = int(target)
        except (TypeError, ValueError):
            raise ConfigError(f"target={target!r}: use 'average' or a post-treatment event time") from None
        if e not in post:
            raise ConfigError(f"target={e} is not a post-treatment event time of this result ({post[0]}…{post[-1]})")
        l_vec = np.zeros(npost)
        l_vec[post.index(e)] = 1.0
        label = f"event time {e}"
    eig = np.linalg.eigvalsh((sigma + sigma.T) / 2)
    if eig.min() < -1e-10 * max(1.0, eig.max()):
        raise EstimationError("the covariance of the event-study coefficients is not positive semi-definite")
    est = float(l_vec @ beta[npre:])
    se = float(np.sqrt(l_vec @ sigma[npre:, npre:] @ l_vec))
    if not se > 0:
        raise EstimationError("the target has zero variance; honest_did cannot form confidence sets")
    z = stats.norm.ppf(1 - alpha / 2)
    original = {"estimate": est, "std_error": se, "lower": est - z * se, "upper": est + z * se}

    if method == "relative_magnitudes":
        hybrid = RM_TESTS[rm_test]
        values = _grid(mbar, np.arange(0, 2.01, 0.25))
        rows = []
        for v in values:
            cs = core.rm_confidence_set(beta, sigma, npre, npost, l_vec, float(v), alpha=alpha, hybrid=hybrid)
            rows.append({"value": v, "lower": cs["lower"], "upper": cs["upper"]})
        limit = 100.0 if breakdown_limit is None else float(breakdown_limit)

        def contains_zero(v):
            return bool(core.rm_accepts(beta, sigma, npre, npost, l_vec, v, [0.0], alpha=alpha, hybrid=hybrid)[0])

        ci_method = rm_test
    else:
        values = _grid(m, np.linspace(0, max(core.sd_upper_bound_m(beta, sigma, npre), 0.0), 10))
        rows = []
        for v in values:
            f = core.flci(beta, sigma, npre, l_vec, float(v), alpha)
            rows.append({"value": v, "lower": f["lower"], "upper": f["upper"]})
        limit = 1000.0 * se if breakdown_limit is None else float(breakdown_limit)

        def contains_zero(v):
            f = core.flci(beta, sigma, npre, l_vec, v, alpha)
            return f["lower"] <= 0 <= f["upper"]

        ci_method = "FLCI"
    breakdown = _breakdown(contains_zero, limit, scale=1.0 if method == "relative_magnitudes" else se)
    return HonestDidResult(method=method, ci_method=ci_method, alpha=alpha, target=label, l_vec=l_vec, pre=pre,
                           post=post, beta=beta, sigma=sigma, grid=pd.DataFrame(rows), original=original,
                           breakdown=breakdown, breakdown_limit=limit, source=source,
                           outcome=getattr(result, "outcome", ""),
                           inference=getattr(result, "inference", None) or Inference(method="influence"),
                           nobs=result.nobs)


def _breakdown(contains_zero, limit: float, *, scale: float, rel_tol: float = 1e-4) -> float:
    """Smallest value in [0, limit] whose robust set contains 0, by doubling then bisection."""
    if contains_zero(0.0):
        return 0.0
    hi = 0.01 * scale
    while not contains_zero(hi):
        if hi >= limit:
            return float("inf")
        hi = min(hi * 2, limit)
    lo = hi / 2 if hi > 0.01 * scale else 0.0
    while hi - lo > rel_tol * max(hi, scale * 1e-3):
        mid = (lo + hi) / 2
        if contains_zero(mid):
            hi = mid
        else:
            lo = mid
    return float(hi)
