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


def analysis_panel(data, flows: pd.DataFrame | None = None, *, tier: str = "little_giant",
                   status: pd.DataFrame | None = None, **flow_options) -> pd.DataFrame:
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
    status : DataFrame, optional
        ``designation_status(data, tier=tier, years=<the years of flows>)`` when the caller
        has it already (a run computes it while certifying): the panel then takes cohort and
        status from it instead of computing them again. It must be for the same ``tier``;
        its years must be the panel's (checked: :class:`ConfigError` otherwise).

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
    df = _join_left(flows[["firm_id", "year", "revenue", "subsidy", "equity", "debt", "total", "effective_rate"]],
                    fin[["firm_id", "year", *cols]])
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
    # the firm ids coded once: the lag, the first-year covariates and the order use the codes
    codes, firms = pd.factorize(out["firm_id"])
    year = out["year"].to_numpy()
    runs = _firm_year_runs(codes, year)
    # growth over the previous calendar year of the same firm (a gap year gives no growth)
    if runs:  # rows by firm and year: the previous year is the previous row of the same firm
        lag = np.full(len(out), np.nan)
        same = (codes[1:] == codes[:-1]) & (year[1:] == year[:-1] + 1)
        lag[1:][same] = rev.to_numpy()[:-1][same]
    else:
        prev = pd.DataFrame({"firm_id": df["firm_id"], "year": df["year"].astype(np.int64) + 1, "prev": rev})
        lag = out[["firm_id", "year"]].merge(prev, on=["firm_id", "year"], how="left")["prev"].to_numpy()
    out["revenue_growth"] = rev.to_numpy() / lag - 1
    out["patents"] = df["invention_patents"].astype(float) if "invention_patents" in df else np.nan
    if data.designations is not None and len(data.designations):
        years = _sorted_unique(year)
        if status is None:
            st = designation_status(data, tier=tier, years=years.tolist())
        else:
            if not {"firm_id", "year", "cohort", "active"} <= set(status.columns) or \
                    not np.array_equal(_sorted_unique(status["year"].to_numpy()), years):
                raise ConfigError("analysis_panel(status=...): the status table is not designation_status() for "
                                  "the panel's years (it needs firm_id, year, cohort, active for every year of the "
                                  "flows); pass status=None to compute it")
            st = status
        out = _join_left(out, st[["firm_id", "year", "cohort", "active"]])
        out["cohort"] = out["cohort"].fillna(0).astype(np.int64)
        out["active"] = out["active"].fillna(False).astype(bool)
    else:
        out["cohort"] = 0
        out["active"] = False
    out["treated"] = ((out["cohort"] > 0) & (out["year"] >= out["cohort"])).astype(np.int64)
    out["event_time"] = (out["year"] - out["cohort"]).where(out["cohort"] > 0).astype("Int64")
    # the first non-missing value in the firm's earliest years (groupby(...).first() on the sorted panel)
    order = slice(None) if runs else np.lexsort((year, codes))
    for c in ("log_revenue", "rd_intensity", "leverage"):
        out[f"{c}_pre"] = _first_valid(out[c].to_numpy(dtype=float), codes, order, len(firms))
    if runs and firms.is_monotonic_increasing:  # already in firm and year order
        return out.reset_index(drop=True)
    return out.sort_values(["firm_id", "year"], ignore_index=True)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``numpy.unique(a)``; for integers by hashing then sorting the few distinct values (the same array)."""
    if isinstance(a, np.ndarray) and a.dtype.kind in "iu":
        return np.sort(pd.unique(a))
    return np.unique(a)


def _join_left(left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """``left.merge(right, on=["firm_id", "year"], how="left")``; by position when both have the
    same keys in the same order (the usual case: tables of one panel), without hashing the ids.

    Firm codes that are text on both sides keep the left's text type (a merge of two text types,
    such as ``string`` and ``str``, would make them Python objects, slow in every later step)."""
    extra = [c for c in right.columns if c not in ("firm_id", "year")]
    if _same_keys(left, right) and not set(extra) & set(left.columns):
        out = pd.concat([left.reset_index(drop=True), right[extra].reset_index(drop=True)], axis=1)
        # the key types the merge would give, but text stays text
        keys = left.iloc[:0].merge(right.iloc[:0], on=["firm_id", "year"], how="left")
        return out.astype({k: keys[k].dtype for k in ("firm_id", "year")
                           if keys[k].dtype != out[k].dtype and not _both_text(left[k], right[k])})
    out = left.merge(right, on=["firm_id", "year"], how="left")
    if _both_text(left["firm_id"], right["firm_id"]) and out["firm_id"].dtype != left["firm_id"].dtype:
        out["firm_id"] = out["firm_id"].astype(left["firm_id"].dtype)
    return out


def _both_text(a: pd.Series, b: pd.Series) -> bool:
    """Both columns of a pandas text type (not Python objects)."""
    return all(pd.api.types.is_string_dtype(s.dtype) and s.dtype != object for s in (a, b))


def _same_keys(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    if len(left) != len(right) or left["firm_id"].hasnans or right["firm_id"].hasnans:
        return False
    if not np.array_equal(left["year"].to_numpy(), right["year"].to_numpy()):
        return False
    try:
        return bool((left["firm_id"].reset_index(drop=True) == right["firm_id"].reset_index(drop=True)).all())
    except TypeError:  # ids of types that do not compare: let the merge decide
        return False


def _firm_year_runs(codes: np.ndarray, year: np.ndarray) -> bool:
    """Every firm's rows are together and in increasing years (so each firm-year once)."""
    if len(codes) < 2:
        return bool((codes >= 0).all())
    step = codes[1:] != codes[:-1]
    return bool((codes >= 0).all() and (np.diff(codes) >= 0).all() and (step | (year[1:] > year[:-1])).all())


def _first_valid(v: np.ndarray, codes: np.ndarray, order, n_firms: int) -> np.ndarray:
    """Per row, the first non-missing value of its firm in ``order`` (rows by firm, then year)."""
    vs, cs = v[order], codes[order]
    idx = np.flatnonzero(~np.isnan(vs) & (cs >= 0))
    first = idx[np.r_[True, cs[idx][1:] != cs[idx][:-1]]] if len(idx) else idx
    per_firm = np.full(n_firms, np.nan)
    per_firm[cs[first]] = vs[first]
    return np.where(codes >= 0, per_firm[np.maximum(codes, 0)], np.nan)


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
