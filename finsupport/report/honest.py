"""The "Parallel trends" sheets: Rambachan–Roth robust confidence sets of a run's event studies.

Reads only the :class:`~finsupport.estimate.honest.HonestDidResult` contract (``tidy()``,
``summary()``, ``breakdown_text()``) kept in ``result.estimates[outcome]["honest_did"]``.
"""

from __future__ import annotations

from .charts import ChartSpec
from .labels import Column, effect_kind, outcome_label, short_outcome
from .workbook import Sheet

__all__ = ["honest_sheets"]

_SOURCES = {"event_study": "event study", "dynamic": "Callaway–Sant'Anna dynamic aggregation"}

OVERRIDE = {
    "restriction": Column("Restriction on the violation", "", "text",
                          "parallel trends (the original interval), relative magnitudes or smoothness"),
    "parameter": Column("Parameter", "", "text", "Mbar (relative magnitudes) or M (smoothness)"),
    "value": Column("Parameter value", "", "coef",
                    "Mbar: post-period violations at most Mbar × the largest pre-period one (no unit); "
                    "M: bound on the change in the violation's slope, in the outcome's unit (shares as fractions)"),
    "ci_method": Column("Confidence set", "", "text",
                        "normal (original), C-LF / hybrid (relative magnitudes), FLCI (smoothness)"),
    "contains_zero": Column("Contains zero", "", "bool", "TRUE: the robust set includes no effect"),
    "target": Column("Effect", "", "text", "which combination of post-period coefficients is bounded"),
}


def _chart(parameter: str, source: str, unit: str, row_offset: int = 0) -> ChartSpec:
    return ChartSpec(kind="line", x="value", y="estimate", lower="conf_low", upper="conf_high",
                     title=f"Robust 95% set of the {source} effect as the allowed violation grows",
                     x_title=f"{parameter} (0 = parallel trends)", y_title=unit, reference_line=0.0,
                     row_offset=row_offset)


def honest_sheets(result, population: str, meta: dict) -> list[Sheet]:
    """One sheet per outcome with an ``honest_did`` sensitivity: its robust sets over the
    grid of violations (a table and a native chart per source) and the breakdown value."""
    out = []
    for outcome, r in (result.estimates or {}).items():
        found = {k: v for k, v in (r.get("honest_did") or {}).items() if v is not None}
        if not found:
            continue
        kind = effect_kind(outcome)
        unit = "percentage points of revenue" if kind == "pp" else outcome_label(outcome)
        frames, notes = [], []
        for key, res in found.items():
            t = res.tidy()
            frames.append((key, t))
            head = res.summary().splitlines()
            src = _SOURCES.get(key, key)
            notes.append(f"{src[0].upper() + src[1:]}: {head[1] if len(head) > 1 else ''} "
                         f"{res.breakdown_text()}")
        notes += ["Rambachan & Roth (2023), 'A more credible approach to parallel trends', Review of Economic "
                  "Studies 90(5): each row is the set of effects consistent with the data when the violation of "
                  "parallel trends after certification may be as large as the parameter allows; the breakdown "
                  "value is the smallest parameter whose set contains zero.",
                  "The chart draws the point estimate and the lower and upper ends of each robust set (dashed) "
                  "against the parameter."]
        (k0, t0), rest = frames[0], frames[1:]
        param = str(t0["parameter"].dropna().iloc[0]) if t0["parameter"].notna().any() else "parameter"
        chart = _chart(param, _SOURCES.get(k0, k0), unit)
        blocks, block_charts = [], {}
        for i, (k, t) in enumerate(rest):
            blocks.append((f"Robust sets of the {_SOURCES.get(k, k)}", t))
            block_charts[i] = _chart(param, _SOURCES.get(k, k), unit)
        name = f"Parallel trends ({short_outcome(outcome)})"
        meta[name] = {"effect": kind, "override": OVERRIDE}
        out.append(Sheet(name=name, title=f"Sensitivity to parallel trends: the effect on the {outcome_label(outcome)}"
                                          f" ({_SOURCES.get(k0, k0)} first)",
                         notes=notes, table=t0, chart=chart, blocks=blocks, block_charts=block_charts,
                         population=population))
    return out
