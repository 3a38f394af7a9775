"""The Sensitivity sheet, the specification-curve figure and the headline's range across the grid.

Reads only the :class:`~finsupport.sensitivity.SensitivityResult` contract (``tidy()``,
``headline_range()``, ``effect_range()``, ``varied``, ``scheduler``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .charts import ChartSpec
from .labels import Column, effect_kind, outcome_label
from .workbook import Sheet

__all__ = ["sensitivity_sheet", "sensitivity_headline_rows", "sensitivity_manifest"]

#: the sheet's own meaning of a few registry names (the grid's shares are pooled over the headline firms)
OVERRIDE = {
    "share": Column("Pooled support share", "share", "pct",
                    "Σ support / Σ revenue over the headline firms and years under this specification"),
    "rank": Column("Rank", "", "int", "position of the specification when sorted by the plotted number"),
    "spec": Column("Specification key", "", "text", "stable key of the specification's options (12 hex digits)"),
    "varied": Column("Varies", "", "text", "the option this row varies from the base (one at a time), or 'full'"),
    "is_base": Column("Base specification", "", "bool", "TRUE: the run's own options (the chosen specification)"),
    "effect_term": Column("Effect", "", "text", "which overall effect the estimator gives (see the notes)"),
    "se_method": Column("Standard errors", "", "text", "how the standard error was computed"),
    "error": Column("Not estimated because", "", "text", "why this specification gave no estimate"),
    "seed": Column("Seed", "", "int", "random seed of the specification (run seed and a hash of its options)"),
    "nobs": Column("Firm-years", "number", "int", "firm-years behind the estimate"),
    "n_clusters": Column("Clusters", "number", "int", "clusters (firms) of the standard error"),
}


_OPTION_WORDS = {
    "subsidy_basis": ("Subsidy rule", ""), "equity_basis": ("Equity rule", ""), "benchmark": ("Benchmark rate", ""),
    "spread_bp": ("Spread over the benchmark", "basis points"), "aul_years": ("Average useful life", "years"),
    "expense_threshold": ("Expensing threshold", "share of sales"),
    "state_investor_types": ("State-linked investor types", ""), "components": ("Components in the total", ""),
    "unequityworthy": ("Unequityworthy firm-years", ""), "first_year_debt": ("Average debt in the first year", ""),
    "tax_basis": ("Tax rule", ""), "tax_timing": ("Tax timing", ""), "land_benchmark": ("Land benchmark", ""),
    "land_allocation": ("Land allocation", ""), "control_group": ("Control group", ""),
    "method": ("Estimation method", ""), "covariates": ("Covariates", ""), "base_period": ("Base period", ""),
    "anticipation": ("Anticipation years", "years"), "cluster": ("Clustered by", ""),
    "bootstrap": ("Bootstrap draws", "number"),
}


def _overrides() -> dict[str, Column]:
    from ..measure.options import COMPONENT_LABELS, FIELDS

    out = dict(OVERRIDE)
    for k, (label, unit) in _OPTION_WORDS.items():
        kind = {"years": "int", "number": "int", "basis points": "amount2", "share of sales": "pct"}.get(
            unit, "coef" if unit else "text")
        help_ = FIELDS[k].help if k in FIELDS else "estimation option"
        out[k] = Column(label, unit, kind, f"option of the specification: {help_}")
    for c, words in COMPONENT_LABELS.items():
        out[f"{c}_share"] = Column(f"of which {words.lower()}", "share", "pct",
                                   f"Σ {c} / Σ revenue over the headline firms and years, pooled")
    return out


def _effect_kind(t: pd.DataFrame) -> str:
    kinds = {effect_kind(str(o)) for o in t["outcome"].dropna()} if "outcome" in t else {"coef"}
    return "pp" if kinds == {"pp"} else "coef"


def sensitivity_sheet(sens, population: str, meta: dict) -> Sheet | None:
    """The grid as a sheet: one row per specification sorted by the plotted number, the
    options that vary beside it, a native specification-curve chart (rank against the
    number, the interval as dashed lines, the chosen specification as a red diamond)."""
    if sens is None:
        return None
    t = sens.tidy()
    what = sens.plotted()
    col = "estimate" if what == "effect" else "share"
    t = t.sort_values([col, "spec"], kind="mergesort", na_position="last").reset_index(drop=True)
    t.insert(0, "rank", np.arange(1, len(t) + 1, dtype=np.int64))
    t["base_mark"] = t[col].where(t["is_base"].astype(bool))
    options = list(sens.varied)
    shares = ["share", *[c for c in t.columns if c.endswith("_share") and c != "share"]]
    effect = [c for c in ("outcome", "estimator", "effect_term", "estimate", "std_error", "conf_low", "conf_high",
                          "p_value", "nobs", "n_clusters", "se_method", "error") if c in t and what == "effect"]
    keep = ["rank", "spec", "varied", "is_base", *options, *shares, "mean_firm_share", "median_firm_share",
            "n_firms", "n_firm_years", *[c for c in effect if c not in options], "base_mark", "seed"]
    table = t[[c for c in dict.fromkeys(keep) if c in t]].copy()
    for c in options:   # lists (investor-type sets, components) as text a reader can filter on
        table[c] = table[c].map(lambda v: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v)
    kind = _effect_kind(t) if what == "effect" else "pp"
    h = sens.headline_range()
    notes = [sens.summary().splitlines()[0],
             f"Pooled support share across the grid: {h['min']:.2%} to {h['max']:.2%}"
             + (f" (base specification {h['base']:.2%})." if h["base"] == h["base"] else "."),
             "Each row is one specification: the options that vary are in the columns after 'Base specification'; "
             "every other option is held at the run's own value (the [measure] and [analysis] sections on the "
             "Manifest sheet)."]
    e = sens.effect_range()
    if what == "effect":
        unit = "percentage points of revenue" if kind == "pp" else "units of each outcome (shares as fractions)"
        notes.append(f"Effects ({unit}): {e['n_excluding_zero']} of {e['n_estimated']} "
                     f"{1 - sens.alpha:.0%} intervals exclude zero"
                     + (f"; {e['n_failed']} specification(s) could not be estimated (column 'Not estimated because')."
                        if e["n_failed"] else "."))
        notes.append("The effect compared across estimators is one number each: the TWFE coefficient, the mean "
                     "of the post-certification event-study coefficients, the simple Callaway–Sant'Anna ATT, "
                     "or the overall ATT of Sun–Abraham and of the imputation estimator.")
    if len(sens.skipped):
        notes.append(f"Left out: {len(sens.skipped)} combination(s) that cannot run ("
                     + "; ".join(sorted(set(sens.skipped["reason"]))) + ").")
    notes.append("Sorted by the plotted number; the figure specification_curve.png/.pdf beside the workbook marks "
                 "each specification's options beneath the curve (Simonsohn, Simmons & Nelson 2020).")
    if what == "effect":
        y_title = ("percentage points of revenue" if kind == "pp"
                   else (outcome_label(str(t["outcome"].iloc[0])) if t["outcome"].nunique() == 1 else "effect"))
        chart = ChartSpec(kind="scatter", x="rank", y="estimate", lower="conf_low", upper="conf_high",
                          truth="base_mark", reference_line=0.0,
                          title=f"Specification curve: {len(t)} effect estimates, sorted "
                                f"({1 - sens.alpha:.0%} intervals dashed)",
                          x_title="specification (rank)", y_title=y_title)
    else:
        chart = ChartSpec(kind="scatter", x="rank", y="share", truth="base_mark",
                          title=f"Specification curve: pooled support share under {len(t)} specifications, sorted",
                          x_title="specification (rank)", y_title="% of revenue", y_format="0.0%")
    meta["Sensitivity"] = {"effect": kind,
                           "override": {**_overrides(), "base_mark": Column(
                               "Chosen specification", "effect" if what == "effect" else "share",
                               "effect" if what == "effect" else "pct",
                               "the plotted number of the base specification only (the red diamond of the chart)")}}
    return Sheet(name="Sensitivity", title="How much the answer depends on the method: the specification grid",
                 notes=notes, table=table, chart=chart, population=population)


def sensitivity_headline_rows(sens) -> list[tuple[str, Any]]:
    """Rows for the Headline sheet: the range of the headline (and of the effect) across the grid."""
    if sens is None:
        return []
    h = sens.headline_range()
    varied = ", ".join(o.replace("_", " ") for o in sens.varied) or "nothing"
    rows: list[tuple[str, Any]] = [
        (f"Range across the specification grid ({h['n_specifications']} specifications varying {varied})",
         f"{h['min']:.2%} to {h['max']:.2%} of revenue (pooled; this run's options: "
         + (f"{h['base']:.2%})" if h["base"] == h["base"] else "not in the grid)") + "; see the Sensitivity sheet")]
    e = sens.effect_range()
    if e is not None and e["n_estimated"]:
        kind = _effect_kind(sens.tidy())
        fmt = (lambda x: f"{x * 100:.2f} pp") if kind == "pp" else (lambda x: f"{x:.4f}")
        rows.append(("Range of the certification effect across the grid",
                     f"{fmt(e['min'])} to {fmt(e['max'])}; {e['n_excluding_zero']} of {e['n_estimated']} "
                     f"{1 - sens.alpha:.0%} intervals exclude zero"))
    return rows


def sensitivity_manifest(sens) -> dict[str, Any] | None:
    """What the manifest records of the grid: scheduler, mode, size, options varied."""
    if sens is None:
        return None
    h = sens.headline_range()
    return {"scheduler": sens.scheduler, "mode": sens.mode, "n_specifications": h["n_specifications"],
            "varied": list(sens.varied), "n_left_out": int(len(sens.skipped))}
