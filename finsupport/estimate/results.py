"""Regression tables shared by the estimators: significance stars, a tidy table, renderers.

:func:`regression_table` collects one or more fitted models (:class:`TwfeResult`,
:class:`EventStudyResult`, or any object with ``params``, ``std_errors``, ``pvalues`` and
``nobs``) into one tidy DataFrame; :func:`display_table` turns it into the usual
publication layout (coefficient with stars, standard error in parentheses below it,
then N, clusters and fixed-effect rows), and :func:`to_markdown` / :func:`to_latex`
render that layout as strings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "STAR_LEVELS",
    "STAR_NOTE",
    "stars",
    "regression_table",
]

#: (threshold, symbol) pairs, most significant first: p < 0.01 ``***``, < 0.05 ``**``, < 0.10 ``*``.
STAR_LEVELS: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))

#: The footnote that explains the stars.
STAR_NOTE = "* p<0.10, ** p<0.05, *** p<0.01"

TIDY_COLUMNS = ["model", "term", "kind", "coef", "se", "t", "p", "stars", "ci_lower", "ci_upper", "value"]


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


def _series(obj, name) -> pd.Series | None:
    val = getattr(obj, name, None)
    if val is None:
        return None
    return pd.Series(val, dtype=float) if not isinstance(val, pd.Series) else val.astype(float)


def regression_table(
    *results,
    names: Sequence[str] | None = None,
    terms: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Collect fitted models into one tidy table.

    Parameters
    ----------
    *results
        Fitted models: :class:`~finsupport.estimate.twfe.TwfeResult`,
        :class:`~finsupport.estimate.event_study.EventStudyResult`, or any object with
        ``params``, ``std_errors``, ``pvalues`` (Series indexed by term) and ``nobs``; a
        linearmodels result works too. Optional attributes used when present:
        ``tstats``, ``conf_int(level)``, ``n_clusters``, ``fixed_effects`` (mapping of
        label → bool, e.g. ``{"Unit FE": True, "Year FE": True}``), ``label``.
    names : sequence of str, optional
        Model (column) names; default ``"(1)", "(2)", …``.
    terms : sequence of str, optional
        Terms to keep, in this order; default all terms of all models in order of
        first appearance.
    labels : mapping, optional
        Display labels for terms (``{"treated": "Designated × post"}``); applied to the
        ``term`` column.
    level : float
        Confidence level of ``ci_lower`` / ``ci_upper``.

    Returns
    -------
    DataFrame
        One row per model and term with columns ``model, term, kind, coef, se, t, p,
        stars, ci_lower, ci_upper, value``. ``kind`` is ``"coef"`` for coefficients,
        ``"stat"`` for the ``N`` and ``Clusters`` rows (number in ``value``) and
        ``"fe"`` for fixed-effect rows (``"Yes"`` / ``"No"`` in ``value``). Rows keep
        the display order (terms, then N, Clusters, FE rows), so the table can be
        pivoted or rendered with :func:`display_table`.
    """
    if not results:
        raise ValueError("regression_table needs at least one fitted model")
    if names is None:
        names = [f"({i + 1})" for i in range(len(results))]
    names = [str(n) for n in names]
    if len(names) != len(results):
        raise ValueError(f"{len(names)} names for {len(results)} models")
    labels = dict(labels or {})

    all_terms: list[str] = []
    for res in results:
        for t in _series(res, "params").index:
            if t not in all_terms:
                all_terms.append(t)
    keep = list(terms) if terms is not None else all_terms

    fe_labels: list[str] = []
    for res in results:
        for lab in (getattr(res, "fixed_effects", None) or {}):
            if lab not in fe_labels:
                fe_labels.append(lab)

    rows = []
    for name, res in zip(names, results, strict=True):
        params = _series(res, "params")
        se = _series(res, "std_errors")
        pv = _series(res, "pvalues")
        tst = _series(res, "tstats")
        ci = None
        if callable(getattr(res, "conf_int", None)):
            try:
                ci = res.conf_int(level=level)
            except TypeError:
                ci = res.conf_int()
        for term in keep:
            if term not in params.index:
                continue
            b = float(params[term])
            s = float(se[term]) if se is not None else np.nan
            p = float(pv[term]) if pv is not None else np.nan
            t = float(tst[term]) if tst is not None else (b / s if s else np.nan)
            lo = hi = np.nan
            if ci is not None and term in ci.index:
                lo, hi = (float(v) for v in ci.loc[term].iloc[:2])
            rows.append(dict(model=name, term=labels.get(term, term), kind="coef", coef=b, se=s,
                             t=t, p=p, stars=stars(p), ci_lower=lo, ci_upper=hi, value=None))
        rows.append(dict(model=name, term="N", kind="stat", value=int(res.nobs)))
        ncl = getattr(res, "n_clusters", None)
        rows.append(dict(model=name, term="Clusters", kind="stat",
                         value=int(ncl) if ncl is not None else None))
        fes = getattr(res, "fixed_effects", None) or {}
        for lab in fe_labels:
            rows.append(dict(model=name, term=lab, kind="fe", value="Yes" if fes.get(lab) else "No"))
    out = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    out["stars"] = out["stars"].fillna("")
    return out
