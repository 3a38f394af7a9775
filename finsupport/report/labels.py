"""One registry of what every report column is: label, unit, number format and meaning.

Every table of the workbook, the Markdown/LaTeX tables, the figures and the notebook
helper :func:`format_frame` take their column headers from :data:`COLUMNS` (machine
name → :class:`Column`). The workbook's *Columns* sheet lists, for every sheet, the
header a reader sees beside the machine name a program uses, its unit and its meaning,
so the workbook can be read back by a program.

Unit convention (the same on the console, in the README, the workbook, the tables and
the figures):

* shares of revenue are shown in percent (``13.70%``; stored as fractions, ``0.137``);
* effects on a share are in **percentage points** (``2.68 pp``; stored ×100 in the
  workbook, so a cell reads as it is labelled);
* amounts are in yuan with thousands separators, or in 万元 (10,000 yuan) / 亿元
  (100 million yuan) when ``[report] amount_unit`` says ``"wan"`` / ``"yi"``;
* interest rates are in percent a year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = ["Column", "COLUMNS", "AMOUNT_UNITS", "Labeller", "format_frame", "header", "label_of",
           "effect_kind", "pp", "outcome_label", "short_outcome", "COMPONENT_LABELS", "cohort_label"]


@dataclass(frozen=True)
class Column:
    """What one column is.

    Parameters
    ----------
    label : str
        Words a reader understands ("Pooled share").
    unit : str
        Unit shown after the label: ``"share"`` (% of revenue), ``"amount"`` (yuan or the
        configured unit), ``"effect"`` (percentage points when the outcome is a share),
        or literal text (``"% a year"``, ``"firms"``); ``""`` for none.
    kind : str
        Number-format kind (see :data:`finsupport.report.formats.NUMBER_FORMATS`);
        ``"amount"`` and ``"effect"`` are resolved by the :class:`Labeller`.
    meaning : str
        One sentence: what the number is and how it is formed.
    """

    label: str
    unit: str
    kind: str
    meaning: str


#: (divisor, unit label, number format kind) by ``[report] amount_unit``
AMOUNT_UNITS = {"yuan": (1.0, "yuan", "yuan"), "wan": (1e4, "万元, 10,000 yuan", "amount2"),
                "yi": (1e8, "亿元, 100 million yuan", "amount2")}

_A, _S, _E = "amount", "share", "effect"

#: Machine name → Column, for every column the report writes.
COLUMNS: dict[str, Column] = {
    # identifiers and keys
    "firm_id": Column("Firm code", "", "text", "firm identifier as in the data (text, leading zeros kept)"),
    "name": Column("Firm name", "", "text", "firm name as in the firms table"),
    "sector": Column("Sector", "", "text", "sector of the firm"),
    "province": Column("Province", "", "text", "province of registration"),
    "parent_id": Column("Parent firm code", "", "text", "code of the controlling parent, if any"),
    "parent_share": Column("Parent's stake", "%", "rate_pct", "percent of the firm held by the parent"),
    "listed_exchange": Column("Exchange", "", "text", "stock exchange of the listing, if listed"),
    "year": Column("Year", "", "year", "calendar (financial) year"),
    "time": Column("Calendar year", "", "year", "calendar year of the group-time effect"),
    "cohort": Column("Cohort (first certified)", "", "cohort",
                     "year the firm first obtained the certification; 'never certified' for the others"),
    "base": Column("Base year", "", "year", "comparison year of the group-time effect"),
    "component": Column("Support component", "", "text", "subsidies, guidance-fund equity, below-market debt, "
                                                         "or their total"),
    "certified": Column("Certification", "", "text", "ever certified in the tier studied, or never certified"),
    "tier": Column("Tier", "", "text", "certification tier (little_giant = 专精特新'小巨人')"),
    "batch": Column("Batch", "", "int", "certification batch number"),
    "valid_until": Column("Valid until", "", "year", "last year the award is in force"),
    "revoked_year": Column("Revoked from", "", "year", "year from which the award was revoked"),
    "regime": Column("Rules of", "", "year", "year of the selection rules the batch was judged by"),
    # support and shares
    "pooled_share": Column("Pooled share", _S, "pct", "Σ support / Σ revenue over the firms and years of the row"),
    "mean_firm_share": Column("Mean of firm shares", _S, "pct",
                              "mean over firms of Σ_t support / Σ_t revenue"),
    "median_firm_share": Column("Median of firm shares", _S, "pct",
                                "median over firms of Σ_t support / Σ_t revenue"),
    "share": Column("Support", _S, "pct", "total support / revenue of the firm-year"),
    "amount": Column("Support", _A, _A, "Σ support of the component over the firms and years of the row"),
    "revenue": Column("Revenue", _A, _A, "operating revenue"),
    "subsidy": Column("Subsidies", _A, _A, "direct subsidies counted by the run's subsidy rule"),
    "equity": Column("Guidance-fund equity", _A, _A, "equity from state-linked investors by the run's equity rule"),
    "debt": Column("Below-market debt", _A, _A, "max(0, benchmark − effective rate) × average interest-bearing debt"),
    "tax": Column("Tax relief", _A, _A, "tax support (preferential rates, refunds) counted by the run's tax rule"),
    "land": Column("Land-price support", _A, _A,
                   "land support (below-benchmark land prices) counted by the run's land rule"),
    "total": Column("Total support", _A, _A, "sum of the support components"),
    "subsidy_received": Column("Subsidies received", _A, _A, "grants received in the year"),
    "subsidy_expensed": Column("Subsidies expensed", _A, _A, "grants expensed in the year (allocated over the "
                                                              "life of the asset they fund)"),
    "subsidy_allocated": Column("Subsidies allocated (CVD)", _A, _A,
                                "grants allocated to the year by 19 CFR 351.524"),
    "equity_state_gross": Column("State-linked equity, gross", _A, _A,
                                 "gross contributions of state-linked investors in the year"),
    "avg_debt": Column("Average interest-bearing debt", _A, _A, "mean of opening and closing interest-bearing debt"),
    "n_grants": Column("Grants", "number", "int", "grants received in the year"),
    "n_state_investments": Column("State-linked investments", "number", "int", "state-linked equity rounds"),
    "effective_rate": Column("Effective interest rate", "% a year", "rate_pct",
                             "interest expense / average interest-bearing debt"),
    "benchmark_rate": Column("Benchmark rate", "% a year", "rate_pct",
                             "day-weighted one-year PBOC benchmark lending rate / LPR"),
    "rate_gap": Column("Rate gap", "% a year", "rate_pct", "benchmark − effective rate"),
    "debt_basis": Column("Debt basis", "", "text", "how average debt was formed (average, closing only, …)"),
    "debt_missing": Column("Debt missing", "", "bool", "TRUE: no debt figure, debt support set to 0"),
    "n_firms": Column("Firms", "number", "int", "distinct firms in the row"),
    "firms": Column("Firms", "number", "int", "distinct firms"),
    "firm_years": Column("Firm-years", "number", "int", "firm-years in the row"),
    "n_firm_years": Column("Firm-years", "number", "int", "firm-years in the row"),
    "n_excluded_firm_years": Column("Firm-years excluded", "number", "int",
                                    "firm-years left out of the ratios (no or non-positive revenue)"),
    "in_force": Column("Awards in force", "number", "int", "firms whose award is in force in the year"),
    "newly_designated": Column("Newly certified", "number", "int", "firms certified in the year"),
    # criteria audit
    "passes_all": Column("Meets every tested criterion", "", "bool", "FALSE: misses at least one tested criterion"),
    "n_failed": Column("Criteria missed", "number", "int", "tested criteria the firm misses"),
    "failed_tests": Column("Criteria missed (names)", "", "text", "the tested criteria the firm misses"),
    "untestable_tests": Column("Cannot be judged", "", "text", "criteria the data cannot judge for this firm"),
    "criteria_not_tested": Column("Criteria not in the data", "", "text",
                                  "criteria of the batch's rules no table of the data holds"),
    "sme_size": Column("SME size met", "", "bool", "employees and revenue within the SME limits"),
    "sme_size_value": Column("Revenue (SME test)", _A, _A, "revenue of the year before the award"),
    "sme_size_threshold": Column("SME limit", "", "text", "the SME size limit of the rules"),
    "sme_size_employees": Column("Employees (SME test)", "persons", "int", "employees of the year before the award"),
    "revenue_growth": Column("Growth met", "", "bool", "revenue (or profit) growth at or above the threshold"),
    "revenue_growth_value": Column("Revenue growth", "%", "pct", "mean annual revenue growth before the award"),
    "revenue_growth_threshold": Column("Growth threshold", "%", "pct", "minimum growth of the rules"),
    "revenue_growth_profit_value": Column("Profit growth", "%", "pct", "mean annual net-profit growth before the award"),
    "leverage": Column("Leverage met", "", "bool", "liabilities / assets at or below the threshold"),
    "leverage_value": Column("Leverage", "%", "pct", "total liabilities / total assets"),
    "leverage_threshold": Column("Leverage ceiling", "%", "pct", "maximum leverage of the rules"),
    "main_business": Column("Main business met", "", "bool", "main-business revenue share at or above the threshold"),
    "main_business_value": Column("Main-business share", "% of revenue", "pct",
                                  "main-business revenue / operating revenue"),
    "main_business_threshold": Column("Main-business minimum", "% of revenue", "pct", "minimum of the rules"),
    "rd_intensity": Column("R&D met", "", "bool", "R&D expense / revenue at or above the threshold"),
    "rd_intensity_value": Column("R&D intensity", "% of revenue", "pct", "R&D expense / operating revenue"),
    "rd_intensity_threshold": Column("R&D minimum", "% of revenue", "pct", "minimum of the rules"),
    "patents": Column("Patents met", "", "bool", "invention patents at or above the threshold"),
    "patents_value": Column("Invention patents", "number", "int", "invention patents held"),
    "patents_threshold": Column("Patents minimum", "number", "int", "minimum of the rules"),
    "independent": Column("Independent", "", "bool", "not a fully owned subsidiary of a larger group"),
    "independent_value": Column("Parent's stake (test)", "%", "int", "stake of the parent, percent"),
    "independent_threshold": Column("Stake ceiling", "%", "int", "largest parent stake the rules allow"),
    "independent_parent": Column("Parent (test)", "", "text", "parent firm code used by the independence test"),
    "item": Column("Item", "", "text", "what the row counts"),
    "test": Column("Criterion", "", "text", "selection criterion"),
    "measure": Column("Measure", "", "text", "what the criterion measures"),
    "threshold": Column("Threshold", "", "text", "threshold of the rules"),
    "status": Column("Status", "", "text", "whether the criterion is tested"),
    "source": Column("Source", "", "text", "regulation the criterion comes from"),
    "share_of_firms": Column("Share of firms", "%", "pct", "firms of the row / firms audited"),
    # estimates
    "outcome": Column("Outcome", "", "text", "dependent variable"),
    "estimator": Column("Estimator", "", "text", "estimator and aggregation"),
    "term": Column("Term", "", "text", "coefficient or group-time cell"),
    "estimate": Column("Estimate", _E, _E, "estimated effect of certification"),
    "std_error": Column("Standard error", _E, _E, "standard error of the estimate"),
    "se": Column("Standard error", _E, _E, "standard error of the estimate"),
    "conf_low": Column("Interval, lower", _E, _E, "lower end of the confidence interval (type on the sheet)"),
    "conf_high": Column("Interval, upper", _E, _E, "upper end of the confidence interval (type on the sheet)"),
    "ci_95_low": Column("95% interval, lower", _E, _E, "lower end of the pointwise 95% interval"),
    "ci_95_high": Column("95% interval, upper", _E, _E, "upper end of the pointwise 95% interval"),
    "true_effect": Column("True effect", _E, _E, "effect built into the synthetic data"),
    "att_true": Column("True effect", _E, _E, "effect built into the synthetic data"),
    "overall_att": Column("Overall ATT", _E, _E, "aggregated average effect on the treated"),
    "overall_se": Column("Standard error", _E, _E, "standard error of the overall ATT"),
    "statistic": Column("t statistic", "", "coef", "estimate / standard error"),
    "p_value": Column("p-value", "", "pvalue", "two-sided p-value"),
    "event_time": Column("Years since certification", "years", "int", "calendar year − cohort"),
    "binned": Column("End bin", "", "bool", "TRUE: the point pools every event time beyond it"),
    "reference": Column("Reference period", "", "bool", "TRUE: normalised to zero"),
    "n_obs": Column("Firm-years", "number", "int", "firm-years behind the estimate"),
    "post": Column("After certification", "", "bool", "TRUE: calendar year at or after the cohort"),
    "n_treated": Column("Certified firms", "number", "int", "firms of the cohort"),
    "n_control": Column("Control firms", "number", "int", "firms in the comparison group"),
    "overall": Column("Overall", "", "bool", "TRUE: the overall aggregate row"),
    "aggregation": Column("Aggregation", "", "text", "how the group-time effects are averaged"),
    "inference": Column("Inference", "", "text", "how standard errors were computed"),
    "group": Column("Subgroup", "", "text", "subgroup of firms"),
    "type": Column("Comparison", "", "text", "Goodman-Bacon comparison type"),
    "comparisons": Column("Comparisons", "number", "int", "2×2 comparisons of that type"),
    "weight": Column("Weight", "%", "pct", "weight of the comparisons in the TWFE coefficient"),
    "contribution": Column("Contribution", _E, _E, "weight × estimate"),
    # data quality
    "stage": Column("Stage", "", "text", "where the finding arose (read, validate, measure)"),
    "table": Column("Table", "", "text", "input table"),
    "row": Column("Row", "", "int", "row of the input table (1 = first data row)"),
    "column": Column("Column", "", "text", "input column"),
    "issue": Column("Finding", "", "text", "what was found"),
    "action": Column("Action", "", "text", "what was done: excluded, repaired or flagged"),
    "detail": Column("Detail", "", "text", "more about the finding"),
    "changes_numbers": Column("Changes the figures", "", "text", "yes: rows excluded or values repaired"),
    "rows": Column("Records", "number", "int", "records of the finding"),
    "n_firms_affected": Column("Firms", "number", "int", "distinct firms concerned"),
    "examples": Column("Examples", "", "text", "first firm-years concerned"),
    "rows_read": Column("Rows read", "number", "int", "rows read from the input"),
    "rows_used": Column("Rows used", "number", "int", "rows used by the run"),
    "rows_excluded": Column("Rows excluded", "number", "int", "rows left out (see the findings)"),
    "balanced": Column("Balanced", "", "bool", "rows read = rows used + rows excluded"),
    "rule": Column("Rule", "", "text", "plausibility rule"),
    "message": Column("Message", "", "text", "what the rule found"),
    # distribution / figures
    "bin": Column("Support share range", "% of revenue", "text", "range of firm support shares"),
    "headline_firms": Column("Headline firms", "number", "int", "headline firms whose share is in the range"),
    "other_firms": Column("Other firms", "number", "int", "other firms whose share is in the range"),
    "pct_headline": Column("Headline firms", "% of the group's firms", "pct",
                           "headline firms in the range / all headline firms"),
    "pct_other": Column("Other firms", "% of the group's firms", "pct", "other firms in the range / all other firms"),
    "failing_firms": Column("Firms missing it", "number", "int", "firms that miss the criterion"),
    "untestable_firms": Column("Firms not judged", "number", "int", "firms the data cannot judge on it"),
}

#: Words for support components (rows of the share tables, figure legends).
COMPONENT_LABELS = {"subsidy": "Subsidies", "equity": "Guidance-fund equity", "debt": "Below-market debt",
                    "tax": "Tax relief", "land": "Land-price support", "total": "Total support",
                    "total_extended": "Total support with tax relief and land-price support (all five components)"}

_OUTCOMES = {"share": "support share of revenue", "subsidy_share": "subsidy share of revenue",
             "equity_share": "equity share of revenue", "debt_share": "debt-support share of revenue",
             "tax_share": "tax-relief share of revenue", "land_share": "land-support share of revenue"}


def outcome_label(outcome: str) -> str:
    """Words for an outcome ("share" → "support share of revenue")."""
    if outcome in _OUTCOMES:
        return _OUTCOMES[outcome]
    if outcome.endswith("_share"):
        return f"{outcome[:-6].replace('_', ' ')} share of revenue"
    return outcome.replace("_", " ")


def effect_kind(outcome: str) -> str:
    """``"pp"`` when effects on ``outcome`` are in percentage points (a share of revenue), else ``"coef"``."""
    return "pp" if outcome == "share" or outcome.endswith("_share") else "coef"


def short_outcome(outcome: str) -> str:
    """The outcome's label without " of revenue", for sheet names and chart titles."""
    return outcome_label(outcome).removesuffix(" of revenue")


def pp(x: float) -> str:
    """An effect on a share as text in percentage points: ``0.0268`` → ``"2.68 pp"``."""
    return f"{x * 100:.2f} pp"


def cohort_label(v: Any) -> Any:
    """Cohort code to what a reader sees: 0 → ``"never certified"``, years unchanged."""
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return "never certified" if int(v) == 0 else int(v)


_UNIT_WORDS = {"share": "% of revenue", "effect_pp": "percentage points", "effect_coef": ""}
_BARE = re.compile(r"^[a-z_][a-z0-9_]*$")


def label_of(name: str) -> str:
    """Label of a machine name: the registry's, else the name in words (``n_obs`` → ``"N obs"``)."""
    c = COLUMNS.get(name)
    if c is not None:
        return c.label
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def _unit_text(unit: str, *, amount_unit: str, effect: str) -> str:
    if unit == "amount":
        return AMOUNT_UNITS[amount_unit][1]
    if unit == "effect":
        return _UNIT_WORDS[f"effect_{effect}"]
    return _UNIT_WORDS.get(unit, unit)


def header(label: str, unit: str) -> str:
    """Header text: ``"Pooled share (% of revenue)"``."""
    return f"{label} ({unit})" if unit and unit != "number" else label


class Labeller:
    """Turns machine-named tables into labelled ones and records them for the Columns sheet.

    Parameters
    ----------
    amount_unit : {"yuan", "wan", "yi"}
        Unit of amounts (``[report] amount_unit``): amounts are divided by 1, 10,000 or
        100,000,000 and labelled so.
    """

    def __init__(self, amount_unit: str = "yuan"):
        if amount_unit not in AMOUNT_UNITS:
            raise ConfigError(f"[report] amount_unit = {amount_unit!r} is not known; use one of "
                              f"{', '.join(AMOUNT_UNITS)}")
        self.amount_unit = amount_unit
        self.records: list[dict[str, str]] = []
        self._seen: set[tuple[str, str]] = set()

    def frame(self, df: pd.DataFrame, sheet: str, *, effect: str = "coef",
              override: dict[str, Column] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
        """The table with labelled headers and converted units, and its number formats.

        Parameters
        ----------
        df : pandas.DataFrame
            Machine-named table (a named index is made a column).
        sheet : str
            Sheet name, for the Columns sheet.
        effect : {"pp", "coef"}
            Unit of effect columns: percentage points (values ×100) or the outcome's own unit.
        override : dict, optional
            Machine name → Column for this table only (same name, other meaning).

        Returns
        -------
        (pandas.DataFrame, dict)
            The labelled table and ``{header: format kind}``.
        """
        if isinstance(df.index, pd.MultiIndex) or df.index.name is not None:
            df = df.reset_index()
        out = {}
        formats: dict[str, str] = {}
        divisor, _, amount_kind = AMOUNT_UNITS[self.amount_unit]
        for name in df.columns:
            key = str(name)
            col = (override or {}).get(key) or COLUMNS.get(key)
            s = df[name]
            if col is None:   # not in the registry: words from the name, format from the values
                if pd.api.types.is_bool_dtype(s):
                    kind = "bool"
                elif pd.api.types.is_integer_dtype(s):
                    kind = "int"
                elif pd.api.types.is_numeric_dtype(s):
                    kind = "coef"
                else:
                    kind = "text"
                col = Column(label_of(key), "", kind, "")
            kind, unit = col.kind, _unit_text(col.unit, amount_unit=self.amount_unit, effect=effect)
            if kind == "amount":
                kind = amount_kind
                if divisor != 1.0:
                    s = s / divisor
            elif kind == "effect":
                kind = effect
                if effect == "pp":
                    s = s * 100.0
            h = header(col.label, unit)
            base, k = h, 2
            while h in out:
                h = f"{base} ({k})"
                k += 1
            out[h] = s
            formats[h] = kind
            if (sheet, h) not in self._seen:
                self._seen.add((sheet, h))
                self.records.append({"sheet": sheet, "header": h, "machine_name": key,
                                     "unit": unit, "meaning": col.meaning})
        return pd.DataFrame(out, index=df.index).reset_index(drop=True), formats

    def columns_table(self) -> pd.DataFrame:
        """Columns sheet: sheet, header as shown, machine name, unit, meaning."""
        return pd.DataFrame(self.records, columns=["sheet", "header", "machine_name", "unit", "meaning"])


def format_frame(df: pd.DataFrame, *, outcome: str | None = None, amount_unit: str = "yuan",
                 text: bool = True) -> pd.DataFrame:
    """A DataFrame with the workbook's headers, units and number formats, for notebooks.

    Headers become the workbook's labels with their units; values are converted to the
    unit the header states (effects on shares ×100, in percentage points; amounts in
    万元/亿元 when asked) and, with ``text=True``, shown as the workbook shows them
    (``13.70%``, ``2.68 pp``, ``1,234,567``). The frame the API returned is not changed.

    Parameters
    ----------
    df : pandas.DataFrame
        A table the API returns (``support_flows``, ``support_share``, a result's ``tidy()``).
    outcome : str, optional
        The outcome whose effects the table holds; effects on shares (``share``,
        ``subsidy_share``) are shown in percentage points.
    amount_unit : {"yuan", "wan", "yi"}
        Unit of amounts.
    text : bool, default True
        Format the numbers as text like the workbook's number formats; ``False`` keeps
        numbers (labelled and unit-converted), e.g. for further computation.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import pandas as pd
    >>> from finsupport.report.labels import format_frame
    >>> format_frame(pd.DataFrame({"component": ["total"], "pooled_share": [0.137]}))
      Support component Pooled share (% of revenue)
    0             total                      13.70%
    """
    from .formats import python_format

    lab = Labeller(amount_unit)
    table, kinds = lab.frame(df, "notebook", effect=effect_kind(outcome) if outcome else "coef")
    if not text:
        return table
    out = {}
    for h, k in kinds.items():
        f = python_format(k)
        col = table[h]
        out[h] = col.map(lambda v, f=f: "" if v is None or (isinstance(v, float) and np.isnan(v)) else
                         (f(v) if f else v)) if f else col
    return pd.DataFrame(out)
