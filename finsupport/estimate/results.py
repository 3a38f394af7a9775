"""The result contract shared by every estimator, its test-statistic type and the regression table.

Every fitted estimator (:class:`~finsupport.estimate.twfe.TwfeResult`,
:class:`~finsupport.estimate.event_study.EventStudyResult`,
:class:`~finsupport.estimate.cs_core.AttGtResult`,
:class:`~finsupport.estimate.cs_aggregate.AggregateResult`,
:class:`~finsupport.estimate.sun_abraham.SunAbrahamResult`,
:class:`~finsupport.estimate.imputation.ImputationResult`) derives from
:class:`EstimateResult` and so answers the same accessors:

``params``, ``std_errors``, ``pvalues``, ``cov``, ``nobs``,
``conf_int(level=0.95, kind="pointwise" | "uniform")``, ``tidy()``, ``summary()``,
``_repr_html_()`` and ``plot(ax=...)``.

``tidy()`` has one schema: :data:`TIDY_COLUMNS` (``term, estimate, std_error,
statistic, p_value, conf_low, conf_high``) followed by the estimator's own columns
(event time, cohort, period, …). How the standard errors were computed travels with the
result as an :class:`Inference` record, so a table never has to guess it.

Every hypothesis test (pre-trend Wald/F tests, joint tests) returns one type,
:class:`TestResult`; a test that cannot be computed raises
:class:`~finsupport.errors.EstimationError` saying why, never a record of NaNs.

:func:`regression_table` collects fitted models into one long table (one row per model
and term plus footer rows) that :mod:`finsupport.report.tables` renders.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError
from . import dist as stats

__all__ = [
    "STAR_LEVELS",
    "STAR_NOTE",
    "TIDY_COLUMNS",
    "DEPRECATED_COLUMNS",
    "FinsupportDeprecationWarning",
    "EstimateResult",
    "Inference",
    "TestResult",
    "stars",
    "regression_table",
    "wald_test",
]

#: (threshold, symbol) pairs, most significant first: p < 0.01 ``***``, < 0.05 ``**``, < 0.10 ``*``.
STAR_LEVELS: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))

#: The footnote that explains the stars.
STAR_NOTE = "* p<0.10, ** p<0.05, *** p<0.01"

#: The columns every ``tidy()`` starts with, in this order.
TIDY_COLUMNS = ("term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high")

#: Old column names (release 0.1) → the names of :data:`TIDY_COLUMNS`. Accepted, with a
#: :class:`FinsupportDeprecationWarning`, for one release.
DEPRECATED_COLUMNS = {"coef": "estimate", "se": "std_error", "t": "statistic", "p": "p_value",
                      "pvalue": "p_value", "ci_lower": "conf_low", "ci_upper": "conf_high"}

#: Columns of :func:`regression_table`.
TABLE_COLUMNS = ["model", "term", "kind", "estimate", "std_error", "statistic", "p_value", "stars",
                 "conf_low", "conf_high", "value"]


class FinsupportDeprecationWarning(FutureWarning):
    """A name that still works but goes away in the next release (the message names its replacement)."""


def deprecated(old: str, new: str) -> None:
    """Warn that ``old`` is a deprecated alias of ``new``."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}",
                  FinsupportDeprecationWarning, stacklevel=3)


def stars(p) -> str:
    """Significance stars for a p-value: ``***`` below 0.01, ``**`` below 0.05, ``*`` below 0.10.

    Parameters
    ----------
    p : float
        Two-sided p-value. Missing values give ``""``.

    Returns
    -------
    str
    """
    try:
        p = float(p)
    except (TypeError, ValueError):
        return ""
    if math.isnan(p):
        return ""
    for level, sym in STAR_LEVELS:
        if p < level:
            return sym
    return ""


# ---------------------------------------------------------------------------
# inference metadata


@dataclass(frozen=True)
class Inference:
    """How the standard errors, p-values and intervals of a result were computed.

    Attributes
    ----------
    method : {"classical", "cluster", "influence", "multiplier_bootstrap", "wild_bootstrap"}
        ``classical``: homoskedastic OLS variance; ``cluster``: analytic cluster-robust
        sandwich; ``influence``: variance of estimated influence functions (by unit, or
        summed within clusters); ``multiplier_bootstrap``: R ``did``'s multiplier
        bootstrap of the influence functions; ``wild_bootstrap``: wild cluster
        bootstrap with the null imposed (WCR).
    cluster : str or None
        Column the errors are clustered by (None: not clustered).
    n_clusters : int or None
    distribution : {"t", "normal"}
        Reference distribution of analytic p-values and intervals.
    df : int or None
        Degrees of freedom of the t distribution.
    draws : int or None
        Bootstrap draws (None for analytic inference).
    weights : str or None
        Bootstrap weight distribution (``rademacher``, ``webb``).
    seed : int or None
    enumerated : bool
        The wild bootstrap enumerated every sign vector (2^G ≤ draws).
    warnings : tuple of str
        Warnings about the reliability of the inference (e.g. few clusters).
    """

    method: str
    cluster: str | None = None
    n_clusters: int | None = None
    distribution: str = "normal"
    df: int | None = None
    draws: int | None = None
    weights: str | None = None
    seed: int | None = None
    enumerated: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def clustered(self) -> bool:
        return self.cluster is not None

    def describe(self) -> str:
        """One line for tables and summaries, e.g. ``clustered by firm_id (44 clusters), analytic``."""
        where = (f"clustered by {self.cluster} ({self.n_clusters:,} clusters)" if self.cluster is not None
                 else "not clustered")
        if self.method == "classical":
            return "classical (homoskedastic, not clustered)"
        if self.method == "cluster":
            return f"{where}, analytic"
        if self.method == "influence":
            return f"{where}, analytic (influence functions)"
        if self.method == "multiplier_bootstrap":
            return f"{where}, multiplier bootstrap ({self.draws:,} draws)"
        if self.method == "wild_bootstrap":
            how = "all sign vectors enumerated" if self.enumerated else f"{self.draws:,} draws"
            return f"{where}, wild cluster bootstrap (WCR, {self.weights} weights, {how})"
        return f"{where}, {self.method}"

    def short(self) -> str:
        """A short label for a table footer."""
        if self.method == "classical":
            return "Classical"
        where = f"Clustered by {self.cluster}" if self.cluster is not None else "Not clustered"
        if self.method == "wild_bootstrap":
            return f"{where}; wild bootstrap (WCR)"
        if self.method == "multiplier_bootstrap":
            return f"{where}; multiplier bootstrap"
        return where


# ---------------------------------------------------------------------------
# test statistics


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test: one type for every test statistic the estimators report.

    Attributes
    ----------
    name : str
        What is tested (``"pre-trends: all pre-period coefficients = 0"``).
    kind : {"F", "chi2", "wald_bootstrap"}
        Reference distribution of ``statistic``.
    statistic : float
    df : int or (int, int)
        Degrees of freedom: q for χ²(q), (q, d) for F(q, d).
    pvalue : float
    terms : tuple of str
        The coefficients involved.
    note : str
        How the statistic and its distribution were obtained.

    For an F test of q restrictions the χ² version W = q·F is available as ``chi2``,
    ``chi2_df``, ``chi2_pvalue`` (and ``f``, ``f_df1``, ``f_df2``, ``f_pvalue`` name the
    F version), as the event study's pre-trend test reported them.
    """

    __test__ = False  # not a pytest test class

    name: str
    kind: str
    statistic: float
    df: int | tuple[int, int]
    pvalue: float
    terms: tuple = ()
    note: str = ""

    # -- the F / chi2 versions of a Wald test
    @property
    def f(self) -> float:
        self._need("F")
        return self.statistic

    @property
    def f_df1(self) -> int:
        self._need("F")
        return self.df[0]

    @property
    def f_df2(self) -> int:
        self._need("F")
        return self.df[1]

    @property
    def f_pvalue(self) -> float:
        self._need("F")
        return self.pvalue

    @property
    def chi2(self) -> float:
        if self.kind == "F":
            return self.statistic * self.df[0]
        self._need("chi2")
        return self.statistic

    @property
    def chi2_df(self) -> int:
        if self.kind == "F":
            return self.df[0]
        self._need("chi2")
        return int(self.df)

    @property
    def chi2_pvalue(self) -> float:
        if self.kind == "F":
            return float(stats.chi2.sf(self.chi2, self.df[0]))
        self._need("chi2")
        return self.pvalue

    def _need(self, kind: str) -> None:
        if self.kind != kind:
            raise AttributeError(f"this is a {self.kind} test, not a {kind} test")

    def __getitem__(self, key: str):
        # release 0.1 returned {"statistic", "df", "pvalue"} dicts from AttGtResult.pretest()
        if key not in ("statistic", "df", "pvalue"):
            raise KeyError(key)
        deprecated(f"test[{key!r}]", f"test.{key}")
        return getattr(self, key)

    def as_dict(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "statistic": self.statistic,
               "df": list(self.df) if isinstance(self.df, tuple) else self.df, "pvalue": self.pvalue,
               "terms": list(self.terms)}
        if self.kind == "F":
            out.update(chi2=self.chi2, chi2_df=self.chi2_df, chi2_pvalue=self.chi2_pvalue)
        return out

    def __str__(self) -> str:
        if self.kind == "F":
            return (f"{self.name} ({len(self.terms) or self.df[0]} restrictions): "
                    f"F({self.df[0]}, {self.df[1]}) = {self.statistic:.3f}, p = {self.pvalue:.4f}; "
                    f"chi2({self.df[0]}) = {self.chi2:.3f}, p = {self.chi2_pvalue:.4f}")
        if self.kind == "chi2":
            return f"{self.name}: chi2({self.df}) = {self.statistic:.4f}, p = {self.pvalue:.4f}"
        return f"{self.name}: {self.kind} = {self.statistic:.4f}, p = {self.pvalue:.4f}"


def wald_test(b: np.ndarray, V: np.ndarray, *, name: str, terms: Sequence[str] = (),
              df2: int | None = None, note: str = "") -> TestResult:
    """Wald test of H0: b = 0 given the covariance V of b.

    W = b' V⁻¹ b. With ``df2`` the test is reported as F = W/q on (q, df2) degrees of
    freedom (the χ² version stays available); without, as χ²(q).

    Raises
    ------
    EstimationError
        When there is nothing to test or V is singular (the restrictions are linearly
        dependent or a coefficient has zero variance).
    """
    b = np.asarray(b, dtype=float)
    V = np.asarray(V, dtype=float)
    q = len(b)
    if q == 0:
        raise EstimationError(f"{name}: nothing to test (no coefficient). Fix: include periods that "
                              f"provide the coefficients tested.")
    if not (np.isfinite(b).all() and np.isfinite(V).all()):
        raise EstimationError(f"{name}: a coefficient or its variance is not finite; the test cannot be "
                              f"computed. Fix: check the terms {', '.join(map(str, terms))}.")
    if np.linalg.cond(V) > 1 / np.finfo(float).eps:
        raise EstimationError(f"{name}: the covariance of the {q} coefficients is singular, so the Wald "
                              f"statistic is not defined (a coefficient without variance, or linearly "
                              f"dependent coefficients). Fix: test fewer terms.")
    W = float(b @ np.linalg.solve(V, b))
    if df2 is not None:
        F = W / q
        return TestResult(name=name, kind="F", statistic=F, df=(q, int(df2)),
                          pvalue=float(stats.f.sf(F, q, df2)), terms=tuple(terms), note=note)
    return TestResult(name=name, kind="chi2", statistic=W, df=q, pvalue=float(stats.chi2.sf(W, q)),
                      terms=tuple(terms), note=note)


def equality_test(params: pd.Series, cov: pd.DataFrame, terms: Sequence[str], *, name: str) -> TestResult:
    """Wald test that the coefficients ``terms`` are all equal: contrasts θ_s − θ_1, χ²(S − 1)."""
    terms = list(terms)
    if len(terms) < 2:
        raise EstimationError(f"{name}: fewer than two subgroups to compare. Fix: pass by= a column that takes "
                              f"at least two values among the treated firms.")
    R = np.hstack([-np.ones((len(terms) - 1, 1)), np.eye(len(terms) - 1)])
    return wald_test(R @ params[terms].to_numpy(), R @ cov.loc[terms, terms].to_numpy() @ R.T, name=name,
                     terms=[f"{t} − {terms[0]}" for t in terms[1:]])


# ---------------------------------------------------------------------------
# the result contract


class EstimateResult:
    """Accessors shared by every fitted estimator.

    Subclasses provide ``params``, ``std_errors``, ``cov``, ``nobs``, ``inference``
    (an :class:`Inference`) and ``outcome``; they may override ``_extras()`` (their own
    tidy columns, indexed by term), ``_pvalues()`` and ``_bounds()`` (e.g. bootstrap
    p-values and test-inversion intervals), ``_uniform_crit(level)`` (when bootstrap
    draws give a uniform band) and ``_title()``.
    """

    inference: Inference
    outcome: str = ""
    estimator: str = "estimate"
    fixed_effects: dict | None = None

    # -- numbers -----------------------------------------------------------------------
    @property
    def n_clusters(self) -> int | None:
        return self.inference.n_clusters

    @property
    def tstats(self) -> pd.Series:
        """estimate / std_error."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.params / self.std_errors).rename("statistic")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of H0: coefficient = 0 (see ``inference`` for how)."""
        return self._pvalues()

    def _pvalues(self) -> pd.Series:
        z = np.abs(self.tstats.to_numpy(dtype=float))
        if self.inference.distribution == "t" and self.inference.df:
            p = 2 * stats.t.sf(z, self.inference.df)
        else:
            p = 2 * stats.norm.sf(z)
        return pd.Series(p, index=self.params.index, name="p_value")

    def _crit(self, level: float) -> float:
        a = 1 - (1 - level) / 2
        if self.inference.distribution == "t" and self.inference.df:
            return float(stats.t.ppf(a, self.inference.df))
        return float(stats.norm.ppf(a))

    def _uniform_crit(self, level: float) -> float:
        raise EstimationError(
            f"a uniform confidence band needs bootstrap draws, and this {self.estimator} result has "
            f"{self.inference.describe()} inference. Fix: refit with bootstrap draws (att_gt: bootstrap=999) "
            f"or use kind='pointwise'.")

    def _bounds(self, level: float) -> pd.DataFrame:
        q = self._crit(level)
        return pd.DataFrame({"lower": self.params - q * self.std_errors,
                             "upper": self.params + q * self.std_errors})

    def conf_int(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        """Confidence intervals, one row per coefficient (columns ``lower``, ``upper``).

        Parameters
        ----------
        level : float
            Confidence level.
        kind : {"pointwise", "uniform"}
            ``pointwise``: each interval covers its coefficient with probability
            ``level`` (critical value of the t or normal distribution, or bootstrap
            test inversion); ``uniform``: all intervals cover jointly (sup-t critical
            value from bootstrap draws; only where draws exist).
        """
        if not 0 < level < 1:
            raise EstimationError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
        if kind == "pointwise":
            return self._bounds(level)
        if kind == "uniform":
            q = self._uniform_crit(level)
            return pd.DataFrame({"lower": self.params - q * self.std_errors,
                                 "upper": self.params + q * self.std_errors})
        raise EstimationError(f"kind={kind!r} is not known; use 'pointwise' or 'uniform'")

    # -- tables ------------------------------------------------------------------------
    def _extras(self) -> pd.DataFrame | None:
        return None

    def _rows(self) -> pd.DataFrame:
        """Rows of ``tidy()`` beyond the estimated coefficients (e.g. the reference period)."""
        return pd.DataFrame()

    def tidy(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        """One row per coefficient: :data:`TIDY_COLUMNS`, then this estimator's own columns.

        Parameters
        ----------
        level : float
            Level of ``conf_low`` / ``conf_high``.
        kind : {"pointwise", "uniform"}
            Pointwise intervals or a uniform band (see :meth:`conf_int`).
        """
        ci = self.conf_int(level, kind)
        out = pd.DataFrame({
            "term": self.params.index.astype(str),
            "estimate": self.params.to_numpy(dtype=float),
            "std_error": self.std_errors.to_numpy(dtype=float),
            "statistic": self.tstats.to_numpy(dtype=float),
            "p_value": self.pvalues.to_numpy(dtype=float),
            "conf_low": ci["lower"].to_numpy(dtype=float),
            "conf_high": ci["upper"].to_numpy(dtype=float),
        })
        extra = self._extras()
        if extra is not None and len(extra.columns):
            out = out.merge(extra, left_on="term", right_index=True, how="left")
        more = self._rows()
        if len(more):
            out = self._merge_rows(out, more)
        return out.reset_index(drop=True)

    def _merge_rows(self, out: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
        return pd.concat([out, more], ignore_index=True)

    def _title(self) -> str:
        return f"{self.estimator}: {self.outcome}"

    def _header(self) -> list[str]:
        lines = [self._title(), f"Observations: {self.nobs:,}",
                 f"Standard errors: {self.inference.describe()}"]
        lines += [f"Warning: {w}" for w in self.inference.warnings]
        return lines

    def _pretrend_lines(self) -> list[str]:
        """The pre-trend test for a summary, or why it cannot be computed (never a silent omission)."""
        from ..errors import EstimationError

        try:
            return ["", str(self.pretrend_test())]
        except EstimationError as exc:
            return ["", f"Pre-trend test: not available ({exc})"]

    def summary(self) -> str:
        """Plain-text summary: the estimator, the sample, the inference and the tidy table."""
        tab = self.tidy().set_index("term")
        return "\n".join(self._header() + ["", tab.to_string(float_format=lambda v: f"{v:.4f}")])

    def _repr_html_(self) -> str:
        head = "".join(f"<p>{html.escape(line)}</p>" for line in self._header())
        return (f"<div class='finsupport-result'>{head}"
                f"{self.tidy().to_html(index=False, float_format=lambda v: f'{v:.4f}', na_rep='')}</div>")

    def plot(self, *, ax=None, level: float = 0.95, title: str | None = None):
        """Coefficients with confidence intervals (see :mod:`finsupport.estimate.plotting`).

        Draws on ``ax`` when given (nothing global is touched), otherwise on a new
        :class:`matplotlib.figure.Figure`; returns the figure.
        """
        from .plotting import plot_coefficients

        return plot_coefficients(self.tidy(level), ax=ax, title=title or self._title(),
                                 ylabel=f"effect on {self.outcome}", level=level)


# ---------------------------------------------------------------------------
# regression table


class StoredEstimates:
    """The accessors of a result that holds its estimates as ``_params``, ``_cov`` and ``_nobs``."""

    @property
    def params(self) -> pd.Series:
        return self._params

    @property
    def std_errors(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._cov.to_numpy())), index=self._params.index, name="std_error")

    @property
    def cov(self) -> pd.DataFrame:
        return self._cov

    @property
    def nobs(self) -> int:
        return self._nobs


class TidyFrame(pd.DataFrame):
    """A DataFrame in which the release-0.1 column names still work, with a deprecation warning.

    ``frame["coef"]`` returns ``frame["estimate"]`` (renamed) and warns; see
    :data:`DEPRECATED_COLUMNS`.
    """

    @property
    def _constructor(self):
        return TidyFrame

    def __getitem__(self, key):
        if isinstance(key, str) and key in DEPRECATED_COLUMNS and key not in self.columns \
                and DEPRECATED_COLUMNS[key] in self.columns:
            new = DEPRECATED_COLUMNS[key]
            deprecated(f"column {key!r}", f"column {new!r}")
            return super().__getitem__(new).rename(key)
        return super().__getitem__(key)


def regression_table(
    *results,
    names: Sequence[str] | None = None,
    terms: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Collect fitted models into one long table, built from each model's ``tidy()`` and metadata.

    Parameters
    ----------
    *results
        Fitted models of this package (anything with ``tidy()``, ``nobs`` and
        ``inference``), or any object with ``params``, ``std_errors``, ``pvalues`` and
        ``nobs`` (a linearmodels result works too).
    names : sequence of str, optional
        Model (column) names; default ``"(1)", "(2)", …``.
    terms : sequence of str, optional
        Terms to keep, in this order; default all estimated terms of all models in order
        of first appearance (reference periods and unestimated terms are left out).
    labels : mapping, optional
        Display labels for terms (``{"treated": "Designated × post"}``).
    level : float
        Confidence level of ``conf_low`` / ``conf_high``.

    Returns
    -------
    DataFrame
        Columns ``model, term, kind, estimate, std_error, statistic, p_value, stars,
        conf_low, conf_high, value``. ``kind`` is ``"coef"`` for coefficients, ``"stat"``
        for the ``N`` and ``Clusters`` rows (number in ``value``), ``"fe"`` for
        fixed-effect rows (``"Yes"``/``"No"``) and ``"inference"`` for the ``Standard
        errors`` row, which states how each model's errors were computed (from its
        ``inference``). The release-0.1 column names (``coef, se, t, p, ci_lower,
        ci_upper``) still work for one release, with a deprecation warning.
    """
    if not results:
        raise EstimationError("regression_table needs at least one fitted model")
    if names is None:
        names = [f"({i + 1})" for i in range(len(results))]
    names = [str(n) for n in names]
    if len(names) != len(results):
        raise EstimationError(f"{len(names)} names for {len(results)} models")
    labels = dict(labels or {})
    tidies = [_coef_rows(r, level) for r in results]
    all_terms: list[str] = []
    for t in tidies:
        for term in t["term"]:
            if term not in all_terms:
                all_terms.append(term)
    keep = [str(t) for t in terms] if terms is not None else all_terms
    fe_labels: list[str] = []
    for res in results:
        for lab in (getattr(res, "fixed_effects", None) or {}):
            if lab not in fe_labels:
                fe_labels.append(lab)
    rows = []
    for name, res, tid in zip(names, results, tidies, strict=True):
        by_term = tid.set_index("term")
        for term in keep:
            if term not in by_term.index:
                continue
            r = by_term.loc[term]
            rows.append(dict(model=name, term=labels.get(term, term), kind="coef",
                             estimate=float(r["estimate"]), std_error=float(r["std_error"]),
                             statistic=float(r["statistic"]), p_value=float(r["p_value"]),
                             stars=stars(r["p_value"]), conf_low=float(r["conf_low"]),
                             conf_high=float(r["conf_high"]), value=None))
        rows.append(dict(model=name, term="N", kind="stat", value=int(res.nobs)))
        inf = getattr(res, "inference", None)
        ncl = inf.n_clusters if isinstance(inf, Inference) else getattr(res, "n_clusters", None)
        rows.append(dict(model=name, term="Clusters", kind="stat", value=int(ncl) if ncl is not None else None))
        fes = getattr(res, "fixed_effects", None) or {}
        for lab in fe_labels:
            rows.append(dict(model=name, term=lab, kind="fe", value="Yes" if fes.get(lab) else "No"))
        if isinstance(inf, Inference):
            rows.append(dict(model=name, term="Standard errors", kind="inference", value=inf.short()))
    out = TidyFrame(pd.DataFrame(rows, columns=TABLE_COLUMNS))
    out["stars"] = out["stars"].fillna("")
    out.attrs["notes"] = _table_notes(results, names)
    return out


def _table_notes(results, names) -> list[str]:
    notes = []
    for name, res in zip(names, results, strict=True):
        inf = getattr(res, "inference", None)
        if isinstance(inf, Inference):
            notes.append(f"{name}: standard errors {inf.describe()}")
            notes += [f"{name}: {w}" for w in inf.warnings]
    return notes


def _coef_rows(res, level: float) -> pd.DataFrame:
    """Estimated coefficients of a model as TIDY_COLUMNS (reference/unestimated rows left out)."""
    if isinstance(res, EstimateResult):
        t = res.tidy(level)
        keep = t["estimate"].notna() & t["std_error"].notna()
        return t.loc[keep, list(TIDY_COLUMNS)]
    # a foreign results object (e.g. linearmodels): params, std_errors, pvalues, conf_int
    params = pd.Series(res.params, dtype=float)
    se = pd.Series(res.std_errors, dtype=float)
    pv = pd.Series(res.pvalues, dtype=float)
    lo = hi = pd.Series(np.nan, index=params.index)
    if callable(getattr(res, "conf_int", None)):
        try:
            ci = res.conf_int(level=level)
        except TypeError:
            ci = res.conf_int()
        lo, hi = ci.iloc[:, 0], ci.iloc[:, 1]
    return pd.DataFrame({"term": params.index.astype(str), "estimate": params.to_numpy(),
                         "std_error": se.reindex(params.index).to_numpy(),
                         "statistic": (params / se).to_numpy(), "p_value": pv.reindex(params.index).to_numpy(),
                         "conf_low": lo.reindex(params.index).to_numpy(),
                         "conf_high": hi.reindex(params.index).to_numpy()})
