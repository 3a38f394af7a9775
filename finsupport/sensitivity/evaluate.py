"""One specification of a grid, computed: the headline share and, optionally, one effect.

These functions run inside workers (Dask or the calling process); they take plain
option dictionaries and return plain dictionaries, so that results do not depend on
where they ran.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data.dataset import Dataset
from ..data.quality import QualityLog
from ..errors import FinsupportError
from ..estimate import dist as stats

__all__ = ["measure_spec", "estimate_spec", "overall_effect", "EFFECT_COLUMNS"]

EFFECT_COLUMNS = ("effect_term", "estimate", "std_error", "p_value", "conf_low", "conf_high", "nobs",
                  "n_clusters", "se_method", "error")


def _detached(data: Dataset) -> Dataset:
    """The same tables with a quality log of their own: a grid measures the data many
    times, and the run's log must record each finding once."""
    return Dataset(**data.tables(), provenance=dict(data.provenance), quality=QualityLog(), validate=False)


def measure_spec(data: Dataset, options: dict[str, Any], *, years: tuple[int, int] | None,
                 firms: pd.Index | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Flows under ``options`` and the headline figures of the selected firms and years.

    Returns the flows (for estimation) and a row: ``share`` (pooled, Σ support /
    Σ revenue), ``<component>_share`` for each component, ``mean_firm_share``,
    ``median_firm_share``, ``n_firms``, ``n_firm_years``.
    """
    from ..measure.flows import support_flows
    from ..measure.shares import support_share

    flows = support_flows(_detached(data), **options)
    tab = support_share(flows, years=years, firms=firms).set_index("component")
    tot = tab.loc["total"]
    row: dict[str, Any] = {"share": float(tot["pooled_share"])}
    for c in tab.index.drop("total"):
        row[f"{c}_share"] = float(tab.loc[c, "pooled_share"])
    row.update(mean_firm_share=float(tot["mean_firm_share"]), median_firm_share=float(tot["median_firm_share"]),
               n_firms=int(tot["n_firms"]), n_firm_years=int(tot["n_firm_years"]))
    return flows, row


def panel_for(data: Dataset, flows: pd.DataFrame, *, tier: str, outcomes=()) -> pd.DataFrame:
    """The analysis panel of one measurement specification, with the financials columns
    named as outcomes."""
    from ..estimate.panel import add_financial_outcomes, analysis_panel

    return add_financial_outcomes(analysis_panel(_detached(data), flows, tier=tier), data, outcomes)


def estimate_spec(panel: pd.DataFrame, options: dict[str, Any], *, seed: int, alpha: float) -> dict[str, Any]:
    """Fit one estimator on the analysis panel and return its overall effect.

    A specification that cannot be estimated (too few units, a singular design) gives a
    row with the reason in ``error`` and no numbers, never a silent gap.
    """
    est = options["estimator"]
    outcome = options["outcome"]
    d = panel.dropna(subset=[outcome])
    cluster = "unit" if options.get("cluster", "unit") == "unit" else None
    wild = ({"inference": "wild", "draws": max(int(options.get("bootstrap") or 999), 99), "seed": seed}
            if options.get("inference") == "wild" else {})
    common = {"outcome": outcome, "unit": "firm_id", "time": "year"}
    try:
        if est == "twfe":
            from ..estimate.twfe import twfe_did

            res = twfe_did(d, treatment="treated", cluster=cluster, **common, **wild)
        elif est == "event_study":
            from ..estimate.event_study import event_study

            res = event_study(d, cohort="cohort", window=tuple(options["event_window"]), cluster=cluster,
                              **common, **wild)
        elif est == "sun_abraham":
            from ..estimate.sun_abraham import sun_abraham

            res = sun_abraham(d, cohort="cohort", covariates=list(options.get("covariates") or ()),
                              control_group=options["control_group"], cluster=cluster, **common)
        elif est == "imputation":
            from ..estimate.imputation import imputation_did

            res = imputation_did(d, cohort="cohort", covariates=list(options.get("covariates") or ()),
                                 cluster=cluster, **common)
        else:
            from ..estimate.cs_core import att_gt

            res = att_gt(d, cohort="cohort", covariates=list(options.get("covariates") or ()) or None,
                         control_group=options["control_group"], method=options["method"],
                         anticipation=options["anticipation"], base_period=options["base_period"],
                         bootstrap=options["bootstrap"] or None, seed=seed, alpha=alpha, **common)
        return overall_effect(res, est, alpha=alpha)
    except FinsupportError as e:
        return {c: np.nan for c in EFFECT_COLUMNS} | {"effect_term": "", "se_method": "",
                                                      "error": f"{type(e).__name__}: {e}"}


def overall_effect(res, estimator: str, *, alpha: float) -> dict[str, Any]:
    """The one number a grid compares across estimators.

    * TWFE: the coefficient on the treatment indicator;
    * event study: the equally weighted mean of the post-designation coefficients
      (e = 0 … upper end of the window, binned end point excluded), its standard error
      from the coefficients' covariance, √(w′Vw);
    * Callaway–Sant'Anna: the simple aggregation (ATT over all treated group-times);
    * Sun–Abraham and imputation: their overall ATT.
    """
    z = stats.norm.ppf(1 - alpha / 2)
    if estimator == "att_gt":
        agg = res.aggregate("simple", alpha=alpha) if _takes_alpha(res) else res.aggregate("simple")
        b, se = float(agg.overall_att), float(agg.overall_se)
        lo, hi = (float(x) for x in agg.overall_ci) if getattr(agg, "overall_ci", None) is not None \
            else (b - z * se, b + z * se)
        term, nobs, ncl, inf = "simple ATT", agg.nobs, agg.n_clusters, agg.inference
    elif estimator == "event_study":
        tid = res.tidy()
        post = tid[tid["term"].str.match(r"^e=\d+$") & tid["estimate"].notna() & ~tid["reference"].astype(bool)]
        terms = list(post["term"])
        if not terms:
            raise ValueError("the event study has no post-designation coefficient")
        w = np.full(len(terms), 1 / len(terms))
        b = float(w @ res.params[terms].to_numpy())
        se = float(np.sqrt(w @ res.cov.loc[terms, terms].to_numpy() @ w))
        lo, hi = b - z * se, b + z * se
        term, nobs, ncl, inf = f"mean of {terms[0]}…{terms[-1]}", res.nobs, res.n_clusters, res.inference
    else:
        tid = res.tidy(level=1 - alpha)
        row = tid[tid["term"] == ("treated" if estimator == "twfe" else "ATT")].iloc[0]
        b, se, lo, hi = (float(row[c]) for c in ("estimate", "std_error", "conf_low", "conf_high"))
        term, nobs, ncl, inf = str(row["term"]), res.nobs, res.n_clusters, res.inference
    p = float(2 * stats.norm.sf(abs(b / se))) if se > 0 else np.nan
    if estimator not in ("att_gt", "event_study"):
        p = float(tid.loc[tid["term"] == term, "p_value"].iloc[0])
    return {"effect_term": term, "estimate": b, "std_error": se, "p_value": p, "conf_low": lo, "conf_high": hi,
            "nobs": int(nobs) if nobs is not None else np.nan,
            "n_clusters": int(ncl) if ncl is not None else np.nan,
            "se_method": inf.short() if hasattr(inf, "short") else str(inf), "error": ""}


def _takes_alpha(res) -> bool:
    import inspect

    return "alpha" in inspect.signature(res.aggregate).parameters
