"""The analysis panel: outcomes, treatment timing and covariates per firm-year."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = ["analysis_panel", "PANEL_OUTCOMES"]

class _OutcomeDescriptions(dict):
    """Derived outcomes and their definitions; any other name is a financials column used as read."""

    def __missing__(self, key: str) -> str:
        return f"the financials column {key}, as read"


#: Definitions of the derived outcomes. A run may also name any numeric financials column as an
#: outcome (``[analysis] outcomes``); looking such a name up here gives "the financials column …".
PANEL_OUTCOMES = _OutcomeDescriptions({
    "share": "total support / revenue",
    "subsidy_share": "subsidy / revenue",
    "equity_share": "state-linked equity / revenue",
    "debt_share": "below-market debt benefit / revenue",
    "log_revenue": "ln(revenue)",
    "rd_intensity": "R&D expense / revenue",
    "leverage": "total liabilities / total assets",
    "effective_rate": "interest expense / average interest-bearing debt (percent)",
    "revenue_growth": "revenue / revenue of the previous year − 1 (missing without the previous year)",
    "patents": "invention patents (count)",
})


def analysis_panel(data, flows: pd.DataFrame | None = None, *, tier: str = "little_giant", **flow_options) -> pd.DataFrame:
    """Firm-year panel for comparing certified and uncertified firms before and after designation.

    Parameters
    ----------
    data : Dataset
        Needs ``financials``; ``designations`` gives the treatment timing (without it
        every firm is never treated).
    flows : DataFrame, optional
        Output of :func:`support_flows`; computed with ``flow_options`` when omitted.
    tier : str
        The certification whose first award defines the cohort.

    Returns
    -------
    DataFrame with ``firm_id, year`` and

    * outcomes (:data:`PANEL_OUTCOMES`): ``share``, ``subsidy_share``,
      ``equity_share``, ``debt_share`` (component / revenue), ``log_revenue``,
      ``rd_intensity`` (R&D / revenue), ``leverage`` (liabilities / assets),
      ``effective_rate`` (percent), ``revenue_growth`` (revenue over the previous calendar
      year's revenue − 1; missing when that year is absent or its revenue is not positive)
      and ``patents`` (``invention_patents``, missing when the column is absent);
    * treatment: ``cohort`` (first year the firm obtained ``tier``; 0 = never),
      ``active`` (tier in force), ``treated`` (1 from the cohort year on: the absorbing
      "ever designated" indicator used by the DiD estimators), ``event_time``
      (year − cohort; missing for never-designated firms);
    * time-invariant pre-designation covariates measured in the firm's first year in
      the panel: ``log_revenue_pre``, ``rd_intensity_pre``, ``leverage_pre``.

    Ratios with a zero or missing denominator are missing.
    """
    from ..certify.status import designation_status
    from ..measure.flows import support_flows

    if flows is None:
        flows = support_flows(data, **flow_options)
    fin = data.require("financials", ["firm_id", "year", "revenue"], purpose="the analysis panel")
    cols = [c for c in ("rd_expense", "total_liabilities", "total_assets", "invention_patents") if c in fin]
    df = flows[["firm_id", "year", "revenue", "subsidy", "equity", "debt", "total", "effective_rate"]].merge(
        fin[["firm_id", "year", *cols]], on=["firm_id", "year"], how="left")
    rev = df["revenue"].where(df["revenue"] > 0)
    out = pd.DataFrame({"firm_id": df["firm_id"], "year": df["year"].astype(np.int64)})
    out["share"] = df["total"] / rev
    for c in ("subsidy", "equity", "debt"):
        out[f"{c}_share"] = df[c] / rev
    out["log_revenue"] = np.log(rev)
    out["rd_intensity"] = df["rd_expense"] / rev if "rd_expense" in df else np.nan
    if {"total_liabilities", "total_assets"} <= set(df.columns):
        out["leverage"] = df["total_liabilities"] / df["total_assets"].where(df["total_assets"] > 0)
    else:
        out["leverage"] = np.nan
    out["effective_rate"] = df["effective_rate"]
    # growth over the previous calendar year of the same firm (a gap year gives no growth)
    prev = pd.DataFrame({"firm_id": df["firm_id"], "year": df["year"].astype(np.int64) + 1, "prev": rev})
    lag = out[["firm_id", "year"]].merge(prev, on=["firm_id", "year"], how="left")["prev"].to_numpy()
    out["revenue_growth"] = rev.to_numpy() / lag - 1
    out["patents"] = df["invention_patents"].astype(float) if "invention_patents" in df else np.nan
    if data.designations is not None and len(data.designations):
        st = designation_status(data, tier=tier, years=sorted(out["year"].unique()))
        out = out.merge(st[["firm_id", "year", "cohort", "active"]], on=["firm_id", "year"], how="left")
        out["cohort"] = out["cohort"].fillna(0).astype(np.int64)
        out["active"] = out["active"].fillna(False).astype(bool)
    else:
        out["cohort"] = 0
        out["active"] = False
    out["treated"] = ((out["cohort"] > 0) & (out["year"] >= out["cohort"])).astype(np.int64)
    out["event_time"] = (out["year"] - out["cohort"]).where(out["cohort"] > 0).astype("Int64")
    first = out.sort_values(["firm_id", "year"]).groupby("firm_id", sort=False).first()
    for c in ("log_revenue", "rd_intensity", "leverage"):
        out[f"{c}_pre"] = out["firm_id"].map(first[c])
    return out.sort_values(["firm_id", "year"], ignore_index=True)


def check_financial_outcomes(outcomes, data, *, key: str = "outcomes") -> None:
    """Every outcome is a derived ratio (:data:`PANEL_OUTCOMES`) or a numeric column of the
    financials table; otherwise a :class:`ConfigError` naming ``key``, the names and the columns."""
    from ..config import OUTCOMES

    extra = [o for o in outcomes if o not in OUTCOMES]
    if not extra:
        return
    fin = data.financials
    cols = [] if fin is None else list(fin.columns)
    unknown = [o for o in extra if o not in cols]
    if unknown:
        raise ConfigError(f"{key}: {unknown} are neither derived outcomes ({', '.join(OUTCOMES)}) nor "
                          f"columns of the financials table (columns: {', '.join(map(str, cols)) or 'none'}); "
                          f"fix the names or add the columns")
    bad = [o for o in extra if not pd.api.types.is_numeric_dtype(fin[o]) or pd.api.types.is_bool_dtype(fin[o])]
    if bad:
        raise ConfigError(f"{key}: financials column(s) {bad} are not numeric; an outcome must be "
                          f"a number per firm-year")


def add_financial_outcomes(panel: pd.DataFrame, data, outcomes) -> pd.DataFrame:
    """The financials columns named in ``outcomes`` (not derived ratios), joined to the
    analysis panel by firm and year."""
    from ..config import OUTCOMES

    extra = [o for o in dict.fromkeys(outcomes) if o not in OUTCOMES and o not in panel.columns]
    if not extra:
        return panel
    fin = data.financials[["firm_id", "year", *extra]].copy()
    fin["year"] = fin["year"].astype(np.int64)
    return panel.merge(fin.astype({c: float for c in extra}), on=["firm_id", "year"], how="left")
