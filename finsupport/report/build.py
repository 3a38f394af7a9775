"""Assemble a run's results into report sheets, and write every output of a run.

The sheet order: About, Headline, Shares, Support over time, Distribution, Flows, Firms,
Designations, Criteria audit, Regression tables, one Event study and one ATT(g,t) sheet
per outcome, Parallel trends (honest_did, per outcome), Sensitivity (the specification grid), Data quality, Columns, Manifest. Figures go out as PNG and PDF (and as
native charts in the workbook), regression tables as Markdown and LaTeX. Headers, units
and number formats come from the registry in :mod:`finsupport.report.labels`.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import EstimationError
from ..estimate.panel import PANEL_OUTCOMES
from ..estimate.results import EstimateResult
from ..manifest import build_manifest, data_location, write_manifest
from ..measure.plausibility import findings_frame
from ..progress import Progress
from ..simulate import true_aggregates
from .detail import DetailFile, column_summary, file_stem, write_detail
from .figure_worker import FigureJob, FigureWorker, draw_here
from .honest import honest_sheets
from .labels import (
    AMOUNT_UNITS,
    COLUMNS,
    COMPONENT_LABELS,
    Column,
    Labeller,
    effect_kind,
    outcome_label,
    pp,
    short_outcome,
)
from .sensitivity import (
    sensitivity_headline_rows,
    sensitivity_manifest,
    sensitivity_sheet,
)
from .tables import regression_layout, to_latex, to_markdown
from .workbook import ChartSpec, Report, Sheet, write_workbook

__all__ = ["build_report", "write_outputs", "hand_over_effects", "regression_long", "scalar_effects", "quality_summary"]

QUESTION = ("How much financial support (direct subsidies, state-linked equity and below-market debt) do firms "
            "receive relative to their revenue, do certified firms meet the selection criteria of their batch, "
            "and does certification change the support a firm receives?")

ESTIMATOR_SOURCES = {
    "twfe": "Two-way fixed effects DiD: firm and year effects (linearmodels PanelOLS)",
    "event_study": ("Event study: relative-time indicators, reference period −1, binned end points, firm and year "
                    "effects; joint Wald pre-trend test"),
    "att_gt": ("Callaway & Sant'Anna (2021, J. Econometrics 225(2)) group-time ATTs, doubly robust (Sant'Anna & "
               "Zhao 2020); aggregations as R did::aggte"),
    "sun_abraham": ("Sun & Abraham (2021, J. Econometrics 225(2)) interaction-weighted event study, never-treated "
                    "controls; overall ATT over treated firm-years"),
    "imputation": ("Borusyak, Jaravel & Spiess (2024, Rev. Econ. Stud. 91(6)) imputation estimator with conservative "
                   "standard errors and lead-based pre-trend test"),
}


def _truth(result) -> pd.DataFrame | None:
    t = result.data.provenance.get("truth")
    if not t or not result.data.provenance.get("synthetic"):
        return None
    return pd.DataFrame(t)


def _true_aggregates(result) -> dict | None:
    truth = _truth(result)
    if truth is None or result.panel is None:
        return None
    sizes = result.panel.groupby("cohort")["firm_id"].nunique().to_dict()
    return true_aggregates(truth, sizes, sorted(result.panel["year"].unique()))


def _years(df: pd.DataFrame, col: str = "year") -> str:
    return f"{int(df[col].min())}–{int(df[col].max())}"


def _firm_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's firm as an integer code (-1 where missing) and the firms, in order of appearance.

    The ids are hashed once; grouping on the codes afterwards is cheap, where every
    ``groupby("firm_id")`` hashes a million text ids again (~0.1 s each at 100,000 firms).
    Pyarrow text already in sorted order (the flows, the status panel: firm by firm) is not
    hashed: a firm's code is the number of changes of id before its first row, the same
    codes and firms as ``pandas.factorize`` gives.
    """
    arr = getattr(ids.array, "_pa_array", None)
    if arr is not None and len(arr) > 1 and not arr.null_count:
        import pyarrow.compute as pc

        if not pc.any(pc.less(arr[1:], arr[:-1])).as_py():
            new = np.asarray(pc.not_equal(arr[1:], arr[:-1]), dtype=bool)
            codes = np.concatenate([[0], np.cumsum(new, dtype=np.intp)])
            firms = ids.iloc[np.flatnonzero(np.r_[True, new])].array
            return codes, pd.Index(firms, name=ids.name)
    codes, firms = pd.factorize(ids)
    return codes, pd.Index(firms, name=ids.name)


def _firm_max(values: pd.Series, codes: tuple[np.ndarray, pd.Index]) -> pd.Series:
    """``values.groupby(firm_id).max()`` from :func:`_firm_codes` of the same rows (indexed by
    firm in order of appearance, not sorted: callers look firms up, they do not list them)."""
    c, firms = codes
    arr = values.to_numpy()
    if arr.dtype.kind in "iu" and len(c) and c[0] == 0 and (np.diff(c) >= 0).all() and c[-1] == len(firms) - 1:
        # integers (no missing value) on codes counted along sorted rows, every firm present: the
        # maximum of each run, exact, in firm order (groupby's order)
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        if len(starts) == len(firms):
            return pd.Series(np.maximum.reduceat(arr, starts), index=firms.take(np.arange(len(firms))),
                             name=values.name)
    v = pd.Series(arr, copy=False)
    if (c < 0).any():   # rows without a firm belong to no group, as in groupby
        keep = c >= 0
        v, c = v[keep], c[keep]
    m = v.groupby(c, sort=True).max()
    return pd.Series(m.to_numpy(), index=firms.take(m.index.to_numpy()), name=values.name)


class _Who:
    """Population lines of the report, formed once from the run."""

    def __init__(self, result):
        f, cfg = result.flows, result.config
        self.tier = cfg["sample"]["tier"].replace("_", " ")
        #: the flows' and the status panel's firm codes (:func:`_firm_codes`), for every sheet's per-firm sums
        self.flow_codes = _firm_codes(f["firm_id"])
        self.status_codes = None
        self.all = (f"all {len(self.flow_codes[1]):,} firms of the data, {_years(f)} ({len(f):,} firm-years)")
        h = result.headline
        self.headline = f"{h['firms']} ({h['n_firms']:,} firms), {h['years'][0]}–{h['years'][1]}"
        yrs = result.config["shares"]["years"] or [int(f["year"].min()), int(f["year"].max())]
        self.share_years = f"{yrs[0]}–{yrs[1]}"
        self.certified = None
        #: each firm's cohort (0 = never certified): one groupby over the status panel for every sheet
        self.cohort = None
        if result.status is not None:
            self.status_codes = _firm_codes(result.status["firm_id"])
            coh = self.cohort = _firm_max(result.status["cohort"], self.status_codes)
            c = coh[coh > 0]
            if len(c):
                self.certified = (f"all {len(c):,} firms ever certified {self.tier} "
                                  f"(first awards {int(c.min())}–{int(c.max())})")
        self.panel = None
        self._panel_of = None     # the estimation panel the line describes
        self._true: tuple | None = None
        self.add_panel(result)

    def add_panel(self, result) -> None:
        """The estimation panel's line: the panel is built after the descriptive sheets."""
        p = result.panel
        if p is None or p is self._panel_of:
            return
        self._panel_of = p
        if len(p):
            coh = _firm_max(p["cohort"], _firm_codes(p["firm_id"]))   # one group per firm: len(coh) firms
            self.panel = (f"estimation panel: {len(coh):,} firms ({int((coh > 0).sum()):,} certified, "
                          f"{int((coh == 0).sum()):,} never certified), {_years(p)}, {len(p):,} firm-years")

    def true_aggregates(self, result) -> dict | None:
        """:func:`_true_aggregates` of the run, computed once (five sheets ask for it)."""
        if self._true is None or self._true[0] is not result.panel:
            self._true = (result.panel, _true_aggregates(result))
        return self._true[1]


#: component rows that are totals of others, not parts
_TOTALS = ("total", "total_extended")


def _components(table: pd.DataFrame) -> list[str]:
    """Support components present in a share table, in its order, total last."""
    comps = [c for c in pd.unique(table["component"].astype(str)) if c != "total"]
    return comps + (["total"] if (table["component"] == "total").any() else [])


def _component_words(df: pd.DataFrame) -> pd.DataFrame:
    if "component" in df:
        df = df.assign(component=df["component"].map(lambda c: COMPONENT_LABELS.get(c, str(c).replace("_", " "))))
    return df


def _about(result, who: _Who) -> Sheet:
    cfg, prov = result.config, result.data.provenance
    methods = result.flows.attrs.get("methods", {})
    a = cfg["analysis"]
    unit = cfg["report"].get("amount_unit", "yuan")
    rows: list[tuple[str, Any]] = [
        ("Report", cfg["run"]["title"]),
        ("Question", QUESTION),
        ("Data", prov.get("description") or prov.get("source", "")),
        ("Synthetic data", "YES: generated by the finsupport simulator; no real firm is described"
         if prov.get("synthetic") else "no"),
        ("Data source", data_location(prov, cfg)),
        ("Sample", f"years {cfg['sample']['years'] or 'all'}; sectors {cfg['sample']['sectors'] or 'all'}; "
                   f"certification studied: {who.tier}"),
        ("Units", "shares of revenue in % (Σ support / Σ revenue); effects of certification on a share in "
                  "percentage points (pp) of revenue; interest rates in % a year; amounts in "
                  f"{AMOUNT_UNITS[unit][1]} ([report] amount_unit); the Columns sheet gives every column's "
                  "unit and machine name"),
        ("Amounts", "inputs in 10,000 yuan (wan) or 100 million yuan (yi) are converted to yuan on reading"),
    ]
    for comp, text in methods.items():
        if comp in ("share",) or not text:
            continue
        rows.append((COMPONENT_LABELS.get(comp, comp.replace("_", " ").capitalize()), text))
    rows += [
        ("Share of revenue", methods.get("share", "")),
        ("Headline ratio", "pooled share = Σ support / Σ revenue over the firms and years named on the Headline "
                           "sheet; mean and median firm ratios shown beside it"),
        ("Certification status", "an award is in force from its year to valid_until (default year + 2); renewals "
                                 "extend it; a revocation ends it from revoked_year; cohort = year first certified, "
                                 "'never certified' for the others"),
        ("Criteria audit", "selection criteria in force for each batch (see finsupport.selection_criteria()); "
                           "values from the financial years before the award; untestable where data are missing"),
    ]
    if a["enabled"]:
        for est in a["estimators"]:
            if est in ESTIMATOR_SOURCES:
                rows.append((f"Estimator: {ESTIMATOR_NAMES.get(est, est)}", ESTIMATOR_SOURCES[est]))
        rows += [
            ("Treatment", "first year the firm obtained the tier (cohort); treated from then on (absorbing)"),
            ("Control group (Callaway–Sant'Anna)", a["control_group"].replace("_", "-")),
            ("Estimation method (Callaway–Sant'Anna)", {"dr": "doubly robust", "ipw": "inverse probability weighting",
                                                       "reg": "outcome regression"}[a["method"]]),
            ("Inference (Callaway–Sant'Anna)", f"multiplier bootstrap, {a['bootstrap']} draws, seed "
                                              f"{cfg['run']['seed']}, uniform bands"
             if a["bootstrap"] else "analytic influence-function standard errors, pointwise intervals"),
            ("Outcomes", "; ".join(f"{outcome_label(o)} ({o}) = {PANEL_OUTCOMES.get(o, o)}" for o in a["outcomes"])),
        ]
    if _truth(result) is not None:
        rows.append(("True effects", "the data are synthetic with a known certification effect on the support "
                                     "share; estimates are shown beside the truth"))
    rows += [("Notes", "; ".join(result.notes) or "none"), ("Generated by", f"finsupport {__version__}")]
    sens = getattr(result, "sensitivity", None)
    if sens is not None:
        rows.append(("Specification grid", f"{sens.summary().splitlines()[0]} ([sensitivity] of the run "
                     "configuration; every specification's seed is derived from the run seed and its options, "
                     "so the table does not depend on the scheduler)"))
    return Sheet(name="About", title="About this report", table=None, kv=rows, population=who.all)


def _simple_att(result, outcome: str = "share"):
    return result.estimates.get(outcome, {}).get("aggregates", {}).get("simple") if result.estimates else None


def _audit_once(audit):
    """The run's audit with its one-row-per-firm table and its summaries computed once.

    ``AuditResult.summary`` and ``summary_text`` each sort every award again to find the
    firms' first awards; the report asks for them a dozen times (0.7 s of 35,000 awards).
    A copy answers every call after the first from memory; the run's own object is left as
    it is.
    """
    if audit is None:
        return None
    once = replace(audit)   # a new AuditResult with the same fields
    memo: dict = {}

    def remember(name, fn):
        def call(*, years=None):
            key = (name, None if years is None else tuple(years))
            if key not in memo:
                memo[key] = fn(years=years)
            return memo[key]
        return call

    firms = audit.by_firm()
    once.by_firm = lambda: firms
    once.summary = remember("summary", once.summary)            # bound to the copy: uses its by_firm
    once.summary_text = remember("summary_text", once.summary_text)
    return once


def _headline(result, who: _Who, audit=None) -> Sheet:
    h = result.headline
    tab = result.shares["headline"].set_index("component")
    pct = "(% of revenue)"
    rows: list[tuple[str, Any]] = [
        ("Headline", h["text"]),
        (f"Pooled support share {pct}, Σ support / Σ revenue", h["pooled_share"]),
        (f"Mean of firm shares {pct}", h["mean_firm_share"]),
        (f"Median of firm shares {pct}", h["median_firm_share"]),
    ]
    inner = h.get("components") or [c for c in tab.index if c not in _TOTALS]
    for comp in _components(tab.reset_index()):
        if comp == "total":
            continue
        # "of which" only for the parts of the headline's total; the extended view's rows are beside it
        words = COMPONENT_LABELS.get(comp, comp)
        label = f"of which {words.lower()}" if comp in inner else f"Extended view: {words[0].lower() + words[1:]}"
        rows.append((f"{label}, pooled {pct}", float(tab.loc[comp, "pooled_share"])))
    rows += [("Firms", h["n_firms"]), ("Firm-years", h["n_firm_years"]),
             ("Years", f"{h['years'][0]}–{h['years'][1]}")]
    formats = {"value": "pct"}
    # plausibility warnings go right under the headline sentence: they qualify every figure below it
    findings = getattr(result, "findings", [])
    rows[1:1] = [("Plausibility checks", f"{len(findings)} WARNING(S): read them before quoting the figures below "
                  "(also on the Data quality sheet)" if findings else "none triggered (rules on the Data quality sheet)"),
                 *[(f"Warning ({f.rule})", f.message) for f in findings]]
    if audit is not None:
        cohorts = result.config["shares"]["headline_cohorts"] or None
        rows.append(("Criteria audit (headline firms)", audit.summary_text(years=cohorts).splitlines()[0]))
        if cohorts:
            rows.append(("Criteria audit (all certified firms)", audit.summary_text().splitlines()[0]))
    agg = _simple_att(result)
    if agg is not None:
        lo, hi = agg.overall_ci
        key = "Certification effect on the support share (Callaway–Sant'Anna simple ATT), percentage points"
        rows += [(key, agg.overall_att * 100),
                 ("Standard error (percentage points)", agg.overall_se * 100),
                 (f"{int(round((1 - agg.alpha) * 100))}% confidence interval", f"{pp(lo)} to {pp(hi)}")]
        formats[key] = formats["Standard error (percentage points)"] = "pp"
        tv = who.true_aggregates(result)
        if tv is not None:
            rows.append(("True effect (synthetic data), percentage points", tv["simple"] * 100))
            formats["True effect (synthetic data), percentage points"] = "pp"
    rows += sensitivity_headline_rows(getattr(result, "sensitivity", None))
    return Sheet(name="Headline", title="Headline", table=None, kv=rows, formats=formats, population=who.headline)


def _shares(result, who: _Who) -> Sheet:
    blocks = [(f"{k.capitalize()}, {who.share_years}" if k in ("by certification", "by cohort", "by sector") else
               k.capitalize(), v) for k, v in result.shares.items() if k not in ("by year", "headline")]
    return Sheet(name="Shares", title="Support as a share of revenue, by year",
                 population=f"{who.all}; blocks by certification, cohort and sector over {who.share_years}",
                 notes=["Pooled share = Σ support / Σ revenue; mean/median over firms of Σ_t support / Σ_t revenue",
                        "Headline firms and years are on the Headline sheet"],
                 table=result.shares["by year"], blocks=blocks)


def _support_over_time(result, who: _Who, meta: dict) -> tuple[Sheet, pd.DataFrame, dict] | None:
    """Pooled share by year, component and certification, wide: the stacked charts' table."""
    t = result.shares.get("by year and certification")
    if t is None or not len(t):
        return None
    # the parts stacked; a total (the three-part one, the extended one) is never a part of the stack
    comps = [c for c in _components(t) if c not in _TOTALS]
    wide = t[t["component"].isin(comps)].pivot_table(index="year", columns=["certified", "component"],
                                                    values="pooled_share", aggfunc="first")
    statuses = [s for s in ("ever certified", "never certified") if s in wide.columns.get_level_values(0)]
    statuses += [s for s in pd.unique(wide.columns.get_level_values(0)) if s not in statuses]
    cols, override, groups = {}, {}, {}
    for s in statuses:
        g = []
        for c in comps:
            if (s, c) not in wide.columns:
                continue
            key = f"pooled_share[{s}, {c}]"
            cols[key] = wide[(s, c)]
            override[key] = Column(f"{s.capitalize()}: {COMPONENT_LABELS.get(c, c)}", "share", "pct",
                                   f"Σ {c} / Σ revenue of the {s} firms in the year")
            g.append((key, COMPONENT_LABELS.get(c, c)))
        groups[f"{s.capitalize()} firms"] = g
    table = pd.DataFrame(cols, index=wide.index).reset_index()
    totals = [table[[k for k, _ in g]].sum(axis=1).max() for g in groups.values()]
    top = float(np.ceil(max(totals) * 100 / 2.0) * 2.0 / 100) if totals else None
    charts = [ChartSpec(kind="column", x="year", y=g[0][0], series=tuple(k for k, _ in g[1:]), stacked=True,
                        title=f"Support by component, {name.lower()} (% of revenue)", x_title="year",
                        y_title="% of revenue", y_min=0.0, y_max=top, y_format="0%", row_offset=21 * i)
              for i, (name, g) in enumerate(groups.items()) if g]
    meta["Support over time"] = {"override": override}
    sheet = Sheet(name="Support over time", title="Support over time: certified versus never-certified firms",
                  population=f"{who.all}; certified = ever certified {who.tier} (before and after the award)",
                  notes=["Pooled share of revenue (Σ component / Σ revenue of the group in the year), stacked by "
                         "component; both charts on the same scale"],
                  table=table, chart=charts[0] if charts else None, charts=charts[1:])
    return sheet, table, groups


def _firm_shares(result, who: _Who) -> tuple[pd.DataFrame, list, str, str]:
    """Each firm's Σ support / Σ revenue over the share years, and which firms are the headline's."""
    f = result.flows
    yrs = result.config["shares"]["years"] or [int(f["year"].min()), int(f["year"].max())]
    codes, firms = who.flow_codes
    keep = ((f["year"] >= yrs[0]) & (f["year"] <= yrs[1]) & (f["revenue"] > 0)).to_numpy() & (codes >= 0)
    # grouped on the firm codes formed once (the same sums as a groupby on the ids, in another order)
    g = pd.DataFrame({"total": f["total"].to_numpy()[keep], "revenue": f["revenue"].to_numpy()[keep]}).groupby(
        codes[keep], sort=True).sum()
    g.index = firms.take(g.index.to_numpy())
    share = g["total"] / g["revenue"]
    cohorts = result.config["shares"]["headline_cohorts"]
    head = pd.Series(False, index=share.index)
    if result.status is not None:
        coh = who.cohort.reindex(share.index).fillna(0)
        head = coh.isin(cohorts) if cohorts else coh > 0
    first = f"headline firms ({result.headline['firms']})"
    return share, head, first, "other firms"


def _distribution(result, who: _Who) -> tuple[Sheet, pd.DataFrame, str, str] | None:
    share, head, first, second = _firm_shares(result, who)
    if not len(share):
        return None
    top = float(np.nanquantile(share, 0.98))
    step = 0.01 if top <= 0.15 else 0.025 if top <= 0.4 else 0.05
    edges = np.arange(0, np.ceil(top / step) * step + step / 2, step)
    idx = np.clip(np.searchsorted(edges, share.to_numpy(float), side="right") - 1, 0, len(edges) - 1)
    labels = [f"{edges[i] * 100:g}–{edges[i + 1] * 100:g}%" for i in range(len(edges) - 1)] + \
             [f"≥ {edges[-1] * 100:g}%"]
    h = np.bincount(idx[head.to_numpy()], minlength=len(edges))
    o = np.bincount(idx[~head.to_numpy()], minlength=len(edges))
    keep = np.nonzero(h + o)[0]
    keep = np.arange(keep.min(), keep.max() + 1)   # no empty bins at the ends of the axis
    dist = pd.DataFrame({"bin": [labels[i] for i in keep], "headline_firms": h[keep], "other_firms": o[keep]})
    dist["pct_headline"] = dist["headline_firms"] / max(int(h.sum()), 1)
    dist["pct_other"] = dist["other_firms"] / max(int(o.sum()), 1)
    chart = ChartSpec(kind="column", x="bin", y="pct_headline", series=("pct_other",),
                      title="Firms by support share of revenue", x_title="firm's support share of revenue",
                      y_title="% of the group's firms", y_min=0.0, y_format="0%")
    return (Sheet(name="Distribution", title="Distribution of firm support shares: headline firms versus the rest",
                  population=f"{who.all}; each firm's Σ support / Σ revenue over {who.share_years}; "
                             f"{first}: {int(h.sum()):,} firms; {second}: {int(o.sum()):,} firms",
                  notes=["Share of each group's firms whose support share falls in the range"],
                  table=dist, chart=chart), dist, first, second)


def _flows(result, who: _Who) -> Sheet:
    return Sheet(name="Flows", title="Support flows per firm-year", table=result.flows, population=who.all,
                 notes=["Total support = the sum of the components; support share = total / revenue",
                        "Rates in % a year; debt basis says how average debt was formed"])


def _firms(result, who: _Who) -> Sheet:
    firms = result.data.firms
    if firms is None:
        firms = pd.DataFrame({"firm_id": result.flows["firm_id"].unique()})
    t = firms.copy(deep=False)   # a column added to the sheet's table, none changed: no copy of the firms
    if result.status is not None:
        coh = who.cohort
        t["cohort"] = t["firm_id"].map(coh).fillna(0).astype(int)
    return Sheet(name="Firms", title="Firms", table=t, population=f"all {len(t):,} firms of the firms table")


def _designations(result, who: _Who) -> Sheet:
    d = result.data.designations
    blocks = []
    if result.status is not None:
        s = result.status
        # firms counted on their codes (formed once), awards of the year without a function per group
        codes = who.status_codes[0]
        g = pd.DataFrame({"in_force": s["active"].to_numpy(),
                          "newly_designated": s["years_since"].eq(0).fillna(False).to_numpy(bool)},
                         index=s.index).groupby(s["year"])
        by_year = g.agg({"in_force": "sum", "newly_designated": "sum"})
        year = g.ngroup().fillna(-1).to_numpy(dtype=np.int64)   # -1: no year, in no group
        by_year.insert(0, "firms", _distinct_firsts(year, np.where(year >= 0, codes, -1), len(by_year))[0])
        if pd.api.types.is_integer_dtype(s["years_since"].dtype):   # the count in the type of the column counted
            by_year = by_year.astype({"newly_designated": s["years_since"].dtype})
        blocks.append((f"{who.tier.capitalize()} in force by year (firms of the panel)", by_year.reset_index()))
    return Sheet(name="Designations", title="Designations (one row per award)", table=d, blocks=blocks,
                 population=f"all {len(d):,} awards of the designations table, every tier")


_TESTS = ("sme_size", "revenue_growth", "leverage", "main_business", "rd_intensity", "patents", "independent")


def _test_words(summary: pd.DataFrame) -> pd.DataFrame:
    """Criterion names in the summary's items in words ("fail sme_size" → "fail SME size")."""
    item = summary["item"].astype(str)
    for t in _TESTS:
        item = item.str.replace(rf"\b{t}\b", COLUMNS[t].label.removesuffix(" met"), regex=True)
    return summary.assign(item=item)


def _audit_by_test(table: pd.DataFrame) -> pd.DataFrame:
    rows = [{"test": COLUMNS[t].label.removesuffix(" met"), "failing_firms": int((table[t] == False).sum()),  # noqa: E712
             "untestable_firms": int(table[t].isna().sum())} for t in _TESTS if t in table]
    return pd.DataFrame(rows, columns=["test", "failing_firms", "untestable_firms"])


def _audit(result, who: _Who, meta: dict, a=None) -> tuple[Sheet, Sheet, pd.DataFrame] | None:
    if a is None:
        return None
    table = a.by_firm()
    tests = [c for c in (*_TESTS, "passes_all") if c in table]
    cohorts = result.config["shares"]["headline_cohorts"] or None
    by_test = _audit_by_test(table)
    summary = _test_words(a.summary().rename(columns={"share": "share_of_firms"}))
    # thresholds are the rules' (one per batch regime): a block, not a column repeated on every firm
    thr = [c for c in table.columns if str(c).endswith("_threshold")]
    fixed = [c for c in thr if (table.groupby("regime")[c].nunique(dropna=False) <= 1).all()]
    rules = table[["regime", *fixed]].drop_duplicates("regime").sort_values("regime").reset_index(drop=True)
    table = table.drop(columns=fixed)
    blocks = [("Summary (all certified firms)", summary)]
    if cohorts:
        blocks.append((f"Summary (headline firms, first certified {', '.join(map(str, cohorts))})",
                       _test_words(a.summary(years=cohorts).rename(columns={"share": "share_of_firms"}))))
    if fixed:
        blocks.append(("Thresholds of the rules each batch was judged by", rules))
    not_tested = a.not_tested[a.not_tested["regime"].isin(table["regime"].unique())] if len(a.not_tested) else None
    if not_tested is not None and len(not_tested):
        blocks.append(("Criteria not tested: no table of the data holds them, so no firm is judged on them",
                       not_tested.reset_index(drop=True)))
    lines = [f"All certified firms: {a.summary_text().splitlines()[0]}"]
    if cohorts:
        lines.append(f"Headline firms (first certified {', '.join(map(str, cohorts))}): "
                     f"{a.summary_text(years=cohorts).splitlines()[0]}")
    chart = ChartSpec(kind="bar", x="test", y="failing_firms", series=("untestable_firms",), stacked=True,
                      title="Certified firms missing each selection criterion", x_title="criterion",
                      y_title="certified firms", y_min=0.0)
    population = who.certified or f"all {len(table):,} certified firms"
    summary_sheet = Sheet(
        name="Criteria audit", title="Selection-criteria audit: which criteria certified firms miss",
        population=population,
        notes=[*lines, "Firm by firm on the sheet 'Audit by firm'", "Criteria not in the data: criteria of the "
               "batch's rules that the data cannot show (block 'Criteria not tested' below); a firm admitted on "
               "them can still appear as missing a tested one", *a.summary_text().splitlines()[1:]],
        table=by_test, chart=chart, blocks=blocks)
    firm_sheet = Sheet(name="Audit by firm", title="Selection-criteria audit, one row per certified firm (first award)",
                       population=population,
                       notes=["FALSE (red) = the firm misses that criterion; empty (grey) = cannot be judged "
                              "(missing data); thresholds on the sheet 'Criteria audit'"],
                       table=table, highlight_false=tests)
    return summary_sheet, firm_sheet, by_test


# --------------------------------------------------------------------------- estimates

ESTIMATOR_NAMES = {"twfe": "TWFE (certified × post)", "event_study": "Event study", "att_gt": "Callaway–Sant'Anna",
                   "sun_abraham": "Sun–Abraham, ATT over certified firm-years",
                   "imputation": "Imputation (Borusyak–Jaravel–Spiess), ATT", "bacon": "Goodman-Bacon"}
AGGREGATION_NAMES = {"simple": "Callaway–Sant'Anna, simple ATT",
                     "dynamic": "Callaway–Sant'Anna, mean of event-time ATTs (e ≥ 0)",
                     "group": "Callaway–Sant'Anna, mean of cohort ATTs",
                     "calendar": "Callaway–Sant'Anna, mean of calendar-year ATTs"}
#: Column heads of the regression table (short: a paper's table has many columns).
SHORT_NAMES = {"twfe": "TWFE", "aggregates:simple": "CS simple ATT", "aggregates:group": "CS by cohort",
               "aggregates:dynamic": "CS event time", "aggregates:calendar": "CS calendar",
               "sun_abraham": "Sun–Abraham", "imputation": "Imputation"}
_OVERALL_TERMS = ("treated", "ATT", "overall")


def _overall_term(res) -> str | None:
    """The term that carries a result's overall effect, or None (an event study: many terms)."""
    params = getattr(res, "params", None)
    if params is None or not len(params):
        return None
    for t in _OVERALL_TERMS:
        if t in params.index:
            return t
    return str(params.index[0]) if len(params) == 1 else None


def scalar_effects(result) -> list[dict]:
    """Every estimate of an overall effect the run made, whatever its estimator.

    One entry per (outcome, estimator[, aggregation]) whose result has an overall term
    (TWFE's ``treated``, an ``ATT``, an aggregation's ``overall``): ``outcome, key, name,
    result, term``. Results without one (event studies, decompositions) are left to their
    own sheets.
    """
    out = []
    for outcome, r in (result.estimates or {}).items():
        for key, v in r.items():
            items = ([(f"{key}:{k}", AGGREGATION_NAMES.get(k, f"{ESTIMATOR_NAMES.get('att_gt')}, {k}"), a)
                      for k, a in v.items()] if key == "aggregates" and isinstance(v, dict) else
                     [(key, ESTIMATOR_NAMES.get(key, getattr(v, "estimator", key)), v)])
            for k, name, res in items:
                if not isinstance(res, EstimateResult):
                    continue
                term = _overall_term(res)
                if term is None or key == "event_study":
                    continue
                out.append({"outcome": outcome, "key": k, "name": name, "result": res, "term": term})
    return out


def _true_for(key: str, tv: dict | None) -> float:
    if tv is None:
        return np.nan
    if key == "aggregates:dynamic":
        return float(tv["dynamic"].query("event_time >= 0")["att_true"].mean())
    if key in ("aggregates:group", "aggregates:calendar") and key.split(":")[1] in tv:
        return np.nan
    return float(tv["simple"])


def _comparison(result, outcome: str, who: _Who) -> pd.DataFrame:
    tv = who.true_aggregates(result) if outcome in truth_outcomes(result) else None
    rows = []
    for e in scalar_effects(result):
        if e["outcome"] != outcome:
            continue
        res, term = e["result"], e["term"]
        lo, hi = res.conf_int(0.95).loc[term]
        rows.append({"estimator": e["name"], "estimate": float(res.params[term]),
                     "se": float(res.std_errors[term]), "p_value": float(res.pvalues[term]),
                     "ci_95_low": float(lo), "ci_95_high": float(hi), "inference": res.inference.describe(),
                     "true_effect": _true_for(e["key"], tv)})
    comp = pd.DataFrame(rows)
    if len(comp) and comp["true_effect"].isna().all():
        comp = comp.drop(columns="true_effect")
    return comp


def regression_long(result, *, scale: bool = True) -> pd.DataFrame | None:
    """The esttab-style table of every overall effect the run estimated, as a long table.

    One model (column) per outcome and estimator; one coefficient row "Effect of
    certification" (in percentage points when the outcome is a share); footer rows N,
    clusters, fixed effects, comparison group, inference and the dependent-variable mean.
    """
    from ..estimate.results import regression_table

    effects = scalar_effects(result)
    if not effects:
        return None
    parts = []
    names = []
    means: dict[str, float] = {}   # the dependent variable's mean, once per outcome (a pass over the panel)
    for e in effects:
        res, outcome = e["result"], e["outcome"]
        name = f"{SHORT_NAMES.get(e['key'], e['name'])} · {short_outcome(outcome)}"
        names.append(name)
        t = regression_table(res, names=[name], terms=[e["term"]], labels={e["term"]: "Effect of certification"})
        t = pd.DataFrame(t)
        factor = 100.0 if scale and effect_kind(outcome) == "pp" else 1.0
        coef = t["kind"] == "coef"
        t.loc[coef, ["estimate", "std_error"]] = t.loc[coef, ["estimate", "std_error"]] * factor
        fe = getattr(res, "fixed_effects", None) or {}
        extra = []
        if result.panel is not None and outcome in result.panel:
            if outcome not in means:
                means[outcome] = float(result.panel[outcome].dropna().mean())
            mean = means[outcome]
            extra.append(("Dep. var. mean", f"{mean:.2%}" if effect_kind(outcome) == "pp" else f"{mean:.4f}"))
        extra.insert(0, ("Estimator", e["name"]))
        extra.insert(1, ("Outcome", outcome_label(outcome)))
        extra.append(("Firm and year effects", ("Yes" if all(fe.values()) else "No") if fe else "n/a"))
        t = t[~t["kind"].eq("fe")]
        parts += [t, *(pd.DataFrame([{"model": name, "term": k, "kind": "stat", "value": v}]) for k, v in extra)]
    out = pd.concat(parts, ignore_index=True)
    out.attrs["notes"] = []
    return out


def _regression_notes(result) -> list[str]:
    kinds = {effect_kind(o) for o in (result.estimates or {})}
    unit = ("Effects on shares of revenue in percentage points; dependent-variable mean in % of revenue"
            if kinds == {"pp"} else "Effects in percentage points for shares of revenue, else in the outcome's unit")
    a = result.config["analysis"]
    return [unit, "Standard errors in parentheses; * p<0.10, ** p<0.05, *** p<0.01",
            f"Callaway–Sant'Anna: {a['control_group'].replace('_', '-')} controls, "
            f"{ {'dr': 'doubly robust', 'ipw': 'inverse probability weighting', 'reg': 'outcome regression'}[a['method']]}"
            f"; N of aggregations = firms; CS = Callaway–Sant'Anna",
            "Firm and year effects n/a: the estimator compares differences, not a fixed-effects regression"]


def _regressions(result, who: _Who, meta: dict, long: pd.DataFrame | None) -> Sheet | None:
    if long is None:
        return None
    grid = regression_layout(long, digits=2)
    grid = grid.rename(columns={"": "Row"})
    blocks = []
    for outcome in result.estimates:
        comp = _comparison(result, outcome, who)
        if len(comp):
            title = f"Every estimate of the effect on the {outcome_label(outcome)}"
            if "true_effect" in comp:
                title += " (true effect: the data are synthetic)"
            blocks.append((title, comp))
            meta.setdefault("Regression tables", {}).setdefault("block_effect", {})[len(blocks) - 1] = \
                effect_kind(outcome)
    for outcome, r in result.estimates.items():
        if "by" in r:
            sub = r["by"]
            try:
                test = str(sub.equality_test())
            except EstimationError as exc:
                test = f"equality test not available: {exc}"
            blocks.append((f"Callaway–Sant'Anna simple ATT by {sub.by} ({outcome_label(outcome)}); shared controls. "
                           f"{test}", sub.tidy()))
            meta.setdefault("Regression tables", {}).setdefault("block_effect", {})[len(blocks) - 1] = \
                effect_kind(outcome)
        if "bacon" in r:
            blocks.append((f"Goodman-Bacon decomposition of the TWFE coefficient ({outcome_label(outcome)})",
                           r["bacon"].by_type().reset_index()))
            meta.setdefault("Regression tables", {}).setdefault("block_effect", {})[len(blocks) - 1] = \
                effect_kind(outcome)
    meta.setdefault("Regression tables", {})["keep_headers"] = True
    return Sheet(name="Regression tables", title="Effect of certification: every estimator of the run",
                 population=who.panel or who.all, blocks=blocks,
                 notes=[*_regression_notes(result),
                        "Under staggered adoption with effects that change over time, TWFE can be biased: "
                        "compare the heterogeneity-robust estimates below and the ATT(g,t) sheets"],
                 table=grid)


def _interval(res) -> tuple[str, str]:
    uniform = res.inference.method == "multiplier_bootstrap"
    return ("uniform", "95% uniform (sup-t) band") if uniform else ("pointwise", "95% pointwise intervals")


def _event_study_sheets(result, who: _Who, meta: dict) -> list[tuple[Sheet, str, pd.DataFrame]]:
    out = []
    tv = who.true_aggregates(result)
    for outcome, r in result.estimates.items():
        es = r.get("event_study")
        if es is None:
            continue
        t = es.tidy()
        t = t[t["event_time"].notna()].astype({"event_time": "int64", "n_obs": "int64"})
        t = t[(t["n_obs"] > 0) | t["reference"].astype(bool)]   # no empty bins on the axis
        if tv is not None and outcome in truth_outcomes(result):
            t["true_effect"] = t["event_time"].map(tv["dynamic"].set_index("event_time")["att_true"]).where(
                t["event_time"] >= 0, 0.0)
        try:
            pretrend = str(es.pretrend_test())
        except EstimationError as e:
            pretrend = f"pre-trend test not available: {e}"
        kind = effect_kind(outcome)
        unit = "percentage points of revenue" if kind == "pp" else outcome_label(outcome)
        name = f"Event study ({short_outcome(outcome)})"
        title = f"Effect of certification on the {outcome_label(outcome)}, by years since certification"
        chart = ChartSpec(kind="line", x="event_time", y="estimate", lower="conf_low", upper="conf_high",
                          truth="true_effect" if "true_effect" in t else None,
                          title=f"Effect of certification on the {short_outcome(outcome)} (95% pointwise)",
                          x_title="years since certification (−1 = reference year)", y_title=unit,
                          reference_line=0.0)
        meta[name] = {"effect": kind}
        out.append((Sheet(name=name, title=f"Event study: {title} (reference year −1)",
                          population=who.panel or who.all,
                          notes=[pretrend, f"Intervals: 95% pointwise; end points binned; standard errors "
                                 f"{es.inference.describe()}", *es.inference.warnings],
                          table=t, chart=chart), outcome, t))
    return out


def _att_gt_sheets(result, who: _Who, meta: dict) -> list[tuple[Sheet, str, pd.DataFrame, pd.DataFrame | None]]:
    out = []
    truth = _truth(result)
    for outcome, r in result.estimates.items():
        cs = r.get("att_gt")
        if cs is None:
            continue
        band = "uniform" if cs.options["bootstrap"] else "pointwise"
        t = cs.tidy(1 - cs.options["alpha"], band)
        blocks = []
        tv = None
        if truth is not None and outcome in truth_outcomes(result):
            t = t.merge(truth.rename(columns={"year": "time"})[["cohort", "time", "att_true"]],
                        on=["cohort", "time"], how="left")
            tv = who.true_aggregates(result)
        rows = []
        dyn = None
        for kind, agg in r.get("aggregates", {}).items():
            rows.append({"aggregation": AGGREGATION_NAMES.get(kind, kind), "overall_att": agg.overall_att,
                         "overall_se": agg.overall_se,
                         **({"true_effect": _true_for(f"aggregates:{kind}", tv)} if tv else {})})
            at = agg.tidy(1 - agg.alpha, "uniform" if agg.inference.method == "multiplier_bootstrap" else "pointwise")
            if tv is not None and kind in ("group", "dynamic", "calendar"):
                ref = tv[kind].set_index(tv[kind].columns[0])["att_true"]
                at["true_effect"] = at[agg.key].map(ref)
            if kind == "dynamic":
                dyn = at
            blocks.append((f"Aggregation: {AGGREGATION_NAMES.get(kind, kind)}", at))
        blocks.insert(0, ("Overall", pd.DataFrame(rows)))
        cg = result.config["analysis"]["control_group"].replace("_", "-")
        ek = effect_kind(outcome)
        name = f"ATT(g,t) ({short_outcome(outcome)})"
        meta[name] = {"effect": ek}
        block_charts = {}
        if dyn is not None:
            d_index = 1 + list(r["aggregates"]).index("dynamic")
            unit = "percentage points of revenue" if ek == "pp" else outcome_label(outcome)
            block_charts[d_index] = ChartSpec(
                kind="line", x="event_time", y="estimate", lower="conf_low", upper="conf_high",
                truth="true_effect" if "true_effect" in dyn else None,
                title=f"Effect on the {short_outcome(outcome)}, Callaway–Sant'Anna (95% {band})",
                x_title="years since certification", y_title=unit, reference_line=0.0)
        out.append((Sheet(name=name, title=f"Callaway–Sant'Anna ATT(g,t) on the {outcome_label(outcome)} "
                                           f"({cg} controls)",
                          population=who.panel or who.all,
                          notes=["Cohort = year first certified; calendar year = year of the effect",
                                 f"standard errors {cs.inference.describe()}; intervals: 95% {band}"
                                 + (" (sup-t) bands" if band == "uniform" else ""),
                                 "true effect shown where the data are synthetic"],
                          table=t, blocks=blocks, block_charts=block_charts), outcome, t, dyn))
    return out


def truth_outcomes(result) -> list[str]:
    """Outcomes whose true effect the synthetic data carry (the award grant moves both shares equally)."""
    return list(result.data.provenance.get("truth_outcomes", ["share"]))


PLAUSIBILITY_RULES = ("plausibility rules: headline share 0, NaN or above 100 %; a component whose median "
                      "firm-year ratio to revenue is below 1e-5 or above 1; a component 10^3, 10^4 or 10^8 off its "
                      "typical scale (unit mismatch between tables); certified firms out of the sample; a component "
                      "zero everywhere although its table has rows; a table whose every row read was excluded; unknown "
                      "investor types")

_CHANGES = ("excluded", "dropped", "repaired", "replaced", "converted", "merged", "set")


def quality_summary(log: pd.DataFrame) -> pd.DataFrame:
    """One row per data-quality rule: records, firms, examples; rules that change the figures first.

    A rule changes the figures when its action excludes rows or repairs values (anything
    but a flag); those rows lead, then the rest, each by number of records.
    """
    keys = ["stage", "table", "column", "issue", "action"]
    if not len(log):
        return pd.DataFrame(columns=["changes_numbers", *keys, "rows", "n_firms_affected", "examples"])
    log = log.assign(**{k: log[k].astype("string").fillna("") for k in keys})
    # a check adds its rows together: each run of rows with the same keys is grouped once, at its first row
    change = np.zeros(len(log) - 1, dtype=bool)
    for k in keys:
        a = log[k].array
        change |= (a[1:] != a[:-1]).to_numpy(dtype=bool)
    starts = np.flatnonzero(np.r_[True, change])
    lengths = np.diff(np.r_[starts, len(log)])
    g = log.iloc[starts].groupby(keys, sort=True, dropna=False)
    out = g.size().rename("rows").to_frame()
    head_rule = g.ngroup().to_numpy(dtype=np.int64)
    out["rows"] = np.bincount(head_rule, weights=lengths, minlength=len(out)).astype(np.int64)
    if "firm_id" in log:
        # each row's rule as its number in the order of ``out``; firms counted on integer codes, examples
        # from the first rows of each rule, not by a function called on every rule's rows
        rule = np.repeat(head_rule, lengths)
        out["n_firms_affected"] = _distinct_firsts(rule, pd.factorize(_as_text(log["firm_id"]))[0], len(out))[0]

        def examples(rows: np.ndarray) -> pd.Series:   # "firm year" of the rows
            sub = log.iloc[rows]
            return sub["firm_id"].astype("string").fillna("?") + (
                " " + sub["year"].astype("Int64").astype("string") if "year" in log else "").fillna("")

        members = np.argsort(rule, kind="stable")   # each rule's rows, in row order
        bounds = np.r_[0, np.cumsum(np.bincount(rule, minlength=len(out)))]
        texts, dtype = [], None
        for i in range(len(out)):
            rows = members[bounds[i]:bounds[i + 1]]
            take = 16
            while True:   # the first rows until four distinct examples (or all rows) are seen
                if 4 * take >= len(rows):
                    take = len(rows)
                ex = examples(rows[:take])
                dtype = ex.dtype
                seen = pd.unique(ex.dropna())
                if len(seen) > 3 or take >= len(rows):
                    break
                take *= 8
            texts.append(", ".join(seen[:3]) + (", …" if len(seen) > 3 else ""))
        out["examples"] = pd.array(texts, dtype=dtype)
    out = out.reset_index()
    act = out["action"].str.lower()
    changes = act.apply(lambda a: any(w in a for w in _CHANGES)) & ~act.str.contains("flag")
    out.insert(0, "changes_numbers", np.where(changes, "yes", "no"))
    out = out.sort_values(["changes_numbers", "rows"], ascending=[False, False], kind="stable")
    return out.reset_index(drop=True)


def _as_text(s: pd.Series) -> pd.Series:
    """An object column of text as pyarrow text (hashed without a Python call per value); anything else as is."""
    if s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) == "string":
        return s.astype("string[pyarrow]")
    return s


def _distinct_firsts(group: np.ndarray, codes: np.ndarray, n_groups: int, keep: int = 0):
    """Per group: how many distinct codes (``-1``, a missing value, not counted), and the rows where
    the first ``keep`` of them first occur, in row order: ``groupby(group).nunique()`` and
    ``pd.unique(s.dropna())[:keep]`` of the values the codes stand for."""
    ok = codes >= 0
    g, c = group[ok], codes[ok].astype(np.int64)
    rows = np.flatnonzero(ok)
    width = int(c.max()) + 1 if len(c) else 1
    if not keep and n_groups * width <= 4 * len(c) + 1024:
        # a table of every (group, value) cell (years × firms of a panel): no sorting
        present = np.zeros(n_groups * width, dtype=bool)
        present[g * width + c] = True
        return present.reshape(n_groups, width).sum(axis=1, dtype=np.int64), None
    pairs, at = np.unique(g * width + c, return_index=True)   # each (group, value) once, at its first row
    pair_group = pairs // width
    counts = np.bincount(pair_group, minlength=n_groups).astype(np.int64)
    if not keep:
        return counts, None
    order = np.lexsort((at, pair_group))   # by group, then by first row
    pair_group, first_row = pair_group[order], rows[at[order]]
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank = np.arange(len(pair_group)) - starts[pair_group]
    firsts = [[] for _ in range(n_groups)]
    for gi, r in zip(pair_group[rank < keep].tolist(), first_row[rank < keep].tolist(), strict=True):
        firsts[gi].append(r)
    return counts, firsts


def _quality(result, who: _Who, folder_name: str, fmt: str) -> Sheet:
    log = result.data.quality.to_frame()
    acct = result.data.quality.accounting()
    findings = getattr(result, "findings", [])
    blocks = [("Row accounting", acct)]
    if findings:
        blocks.insert(0, (f"Plausibility checks: {len(findings)} warning(s)", findings_frame(findings)))
    return Sheet(name="Data quality", title="Data quality: one row per rule, what changes the figures first",
                 population=f"every row of every input table ({who.all})",
                 notes=[f"{len(log):,} records in all; every record, row by row, is in '{folder_name}/data_quality."
                        f"{fmt}' beside this workbook",
                        "rows read = rows used + rows excluded, per table (see the accounting block)",
                        f"plausibility checks: {len(findings)} warning(s), listed in the first block below"
                        if findings else "plausibility checks: none triggered", PLAUSIBILITY_RULES],
                 table=quality_summary(log), blocks=blocks)


def _columns_sheet(lab: Labeller) -> Sheet:
    return Sheet(name="Columns", title="Columns: what every header means, and its machine name for programs",
                 notes=["Read a sheet back with its machine names: rename its headers with this table "
                        "(columns 'Header' → 'Machine name')"],
                 table=lab.columns_table().rename(columns={"sheet": "Sheet", "header": "Header",
                                                           "machine_name": "Machine name", "unit": "Unit",
                                                           "meaning": "Meaning"}))


def _manifest_sheet(manifest: dict) -> Sheet:
    rows: list[tuple[str, Any]] = []

    def flat(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                flat(f"{prefix}.{k}" if prefix else str(k), x)
        else:
            rows.append((prefix, v if isinstance(v, int | float | str | bool) or v is None else str(v)))

    flat("", {k: v for k, v in manifest.items() if k not in ("outputs", "run_time")})
    return Sheet(name="Manifest", title="Manifest (run time and output hashes are in manifest.json)", table=None,
                 kv=rows)


def _flows_summary(flows: pd.DataFrame, codes: tuple[np.ndarray, pd.Index] | None = None) -> pd.DataFrame:
    """Firm-years, firms and the sums of the amounts, by year (what the Flows sheet shows when the detail is beside).

    ``codes``: :func:`_firm_codes` of ``flows`` when already formed (firms are counted on them).
    """
    amounts = [c for c in flows.columns if COLUMNS.get(str(c)) is not None and COLUMNS[str(c)].kind == "amount"]
    g = flows.groupby("year", sort=True)
    c = (codes if codes is not None else _firm_codes(flows["firm_id"]))[0]
    size = g.size()
    year = g.ngroup().fillna(-1).to_numpy(dtype=np.int64)   # -1: no year, in no group
    firms = pd.Series(_distinct_firsts(year, np.where(year >= 0, c, -1), len(size))[0], index=size.index)
    out = pd.concat([size.rename("firm_years"), firms.rename("firms"), g[amounts].sum()], axis=1)
    if "debt_missing" in flows:
        out["debt_missing"] = g["debt_missing"].sum().astype(np.int64)
    return out.reset_index()


_SUMMARIES = {"Flows": (_flows_summary, "totals by year")}


def _move_detail(report: Report, result, folder: Path, who: _Who | None = None) -> list[tuple[DetailFile, pd.DataFrame]]:
    """Tables longer than ``[report] max_sheet_rows``: replaced on their sheet by a summary, to be written beside."""
    limit, fmt = result.config["report"]["max_sheet_rows"], _detail_format(result)
    moved = []
    for i, sh in enumerate(report.sheets):
        path = _beside_path(sh.table, sh.name, result, folder)
        if path is None:
            continue
        table = sh.table
        where = f"{folder.name}/{path.name}"
        df = DetailFile(sheet=sh.name, path=path, rows=len(table), columns=table.shape[1], format=fmt)
        summarise, what = _SUMMARIES.get(sh.name, (column_summary, "one row per column"))
        summary = (_flows_summary(table, who.flow_codes) if summarise is _flows_summary and who is not None
                   and table is result.flows else summarise(table))
        note = (f"Detail beside this workbook: {len(table):,} rows × {table.shape[1]} columns in '{where}' "
                f"(more than [report] max_sheet_rows = {limit:,}); this sheet shows {what}. "
                f"Its sha256 is in {folder.name}/manifest.json.")
        report.sheets[i] = replace(sh, notes=[note, *sh.notes], table=summary, chart=None, charts=[])
        msg = (f"{sh.name}: {len(table):,} rows written to {where} (more than [report] "
               f"max_sheet_rows = {limit:,}); the sheet shows {what}")
        if msg not in result.notes:   # building the report again gives the same report
            result.notes.append(msg)
        moved.append((df, table))
    return moved


def _beside_path(table: pd.DataFrame | None, sheet: str, result, folder: Path) -> Path | None:
    """Where ``table`` of ``sheet`` is written beside the workbook, or None when it stays on its
    sheet (at most ``[report] max_sheet_rows`` rows)."""
    if table is None or len(table) <= result.config["report"]["max_sheet_rows"]:
        return None
    return folder / f"{file_stem(sheet)}.{_detail_format(result)}"


def _detail_format(result) -> str:
    from .detail import detail_format

    return detail_format(result.config["report"]["detail_format"])[0]


def _relabel_chart(spec: ChartSpec | None, mapping: dict[str, str]) -> ChartSpec | None:
    if spec is None:
        return None
    m = lambda c: mapping.get(c, c) if c is not None else None  # noqa: E731
    return replace(spec, x=m(spec.x), y=m(spec.y), lower=m(spec.lower), upper=m(spec.upper), truth=m(spec.truth),
                   series=tuple(m(c) for c in spec.series))


def _label_sheet(sh: Sheet, lab: Labeller, meta: dict) -> Sheet:
    """Machine names → labelled headers, units converted, number formats from the registry."""
    m = meta.get(sh.name, {})
    effect, override = m.get("effect", "coef"), m.get("override")
    formats = dict(sh.formats or {})
    table, chart, charts = sh.table, sh.chart, list(sh.charts)
    if table is not None and not m.get("keep_headers"):
        src = _component_words(table.reset_index() if table.index.name is not None else table)
        table, f = lab.frame(src, sh.name, effect=effect, override=override)
        formats.update(f)
        mapping = dict(zip(map(str, src.columns), table.columns, strict=True))
        chart = _relabel_chart(chart, mapping)
        charts = [_relabel_chart(c, mapping) for c in charts]
    elif table is not None:
        for c in table.columns:
            lab.records.append({"sheet": sh.name, "header": str(c), "machine_name": "model" if c != "Row" else "term",
                                "unit": "", "meaning": "regression table: effect (standard error), footer rows"})
    blocks, block_charts = [], {}
    for i, (title, b) in enumerate(sh.blocks or []):
        ek = m.get("block_effect", {}).get(i, effect)
        src = _component_words(b.reset_index() if b.index.name is not None else b)
        lb, f = lab.frame(src, sh.name, effect=ek, override=override)
        formats.update(f)
        blocks.append((title, lb))
        if i in (sh.block_charts or {}):
            block_charts[i] = _relabel_chart(sh.block_charts[i], dict(zip(map(str, src.columns), lb.columns,
                                                                        strict=True)))
    highlight = [mapping.get(c, c) for c in sh.highlight_false] if sh.highlight_false and table is not None \
        and not m.get("keep_headers") else list(sh.highlight_false or [])
    return replace(sh, table=table, formats=formats, blocks=blocks, chart=chart, charts=charts,
                   block_charts=block_charts, highlight_false=highlight)


class EarlyParts:
    """The sheets with descriptive figures, built as soon as the data are measured.

    Support over time, the distribution of firm shares and the criteria audit depend only
    on the flows, shares, status and audit, not on the estimates: :func:`early_parts`
    builds them right after measurement and hands their figures to the figure process,
    which draws them while the run estimates; :func:`build_report` then uses these sheets
    instead of building them again.
    """

    def __init__(self, result) -> None:
        self.meta: dict[str, dict] = {}
        who = self.who = _Who(result)   # build_report adds the estimation panel's line
        self.audit = _audit_once(result.audit)
        self.sot = _support_over_time(result, who, self.meta)
        self.dist = _distribution(result, who)
        self.aud = _audit(result, who, self.meta, self.audit)

    def figures(self) -> dict[str, Any]:
        figs: dict[str, Any] = {}
        if self.sot is not None:
            figs["support_over_time"] = self.sot[1:]
        if self.dist is not None:
            figs["share_distribution"] = self.dist[1:]
        if self.aud is not None:
            figs["criteria_audit"] = self.aud[2]
        return figs


def _hand_over(figures: FigureWorker | None, result, figs: dict[str, Any], folder: Path, *, more: bool) -> None:
    """Send the figures of ``figs`` that ``figures`` has not had yet (``more=False``: the last batch)."""
    formats = result.config["output"]["figures"]
    if figures is None or figures.ended or not formats:
        return
    jobs = [j for j in _figure_jobs(result, figs) if not figures.submitted(j.stem)]
    if jobs:
        folder.mkdir(parents=True, exist_ok=True)
    figures.submit(jobs, folder, formats, more=more)


def early_parts(result, *, folder: Path, figures: FigureWorker | None) -> EarlyParts:
    """Build the descriptive sheets (:class:`EarlyParts`) and send their figures to ``figures``."""
    parts = EarlyParts(result)
    _hand_over(figures, result, parts.figures(), folder, more=True)
    return parts


def hand_over_effects(result, parts: EarlyParts | None, outcome: str, estimates: dict[str, Any], *, folder: Path,
                      figures: FigureWorker | None) -> None:
    """Send one outcome's effect figures to the figure process as soon as the outcome is estimated.

    The event-study, ATT(g,t) and dynamic-effect figures of ``outcome`` (``estimates``: what
    the run estimated for it) go to ``figures`` at once, so that they are drawn while the
    run estimates the next outcome rather than after the last one; :func:`build_report`
    then sends only the figures not sent yet. The figures' tables are those of the
    outcome's sheets (:func:`_event_study_sheets`, :func:`_att_gt_sheets`); ``parts``: the
    descriptive sheets (their population lines are reused).
    """
    if figures is None or figures.ended or figures.failed or not result.config["output"]["figures"]:
        return
    view = replace(result, estimates={outcome: estimates})
    who = parts.who if parts is not None else _Who(view)
    who.add_panel(view)
    figs = {"event_study": [(o, t) for _, o, t in _event_study_sheets(view, who, {})],
            "att_gt": [(o, t, d) for _, o, t, d in _att_gt_sheets(view, who, {})]}
    _hand_over(figures, view, figs, folder, more=True)


def build_report(result, *, folder: Path | None = None, figures: FigureWorker | None = None,
                 parts: EarlyParts | None = None) -> Report:
    """The report of a run as a :class:`Report` (sheets in the brief's order).

    Every table is built with machine names, then labelled from the registry of
    :mod:`finsupport.report.labels` (headers in words with units, values in the unit the
    header states, a number format for every numeric column); the Columns sheet maps
    every header back to its machine name. Tables longer than ``[report] max_sheet_rows``
    are replaced on their sheet by a summary and a note naming the file in ``folder``
    (default: a folder named after the run) that :func:`write_outputs` writes them to;
    they keep their machine names there and are listed in ``report.attachments``.

    ``figures``: a started :mod:`.figure_worker` process. The sheets that have a figure
    are built first and their figures handed to it at once, so that it draws them while
    the other sheets are built and the workbook is written (:func:`write_outputs`).
    ``parts``: the descriptive sheets already built (:func:`early_parts`).
    """
    folder = Path(folder) if folder is not None else Path(result.config["run"]["name"])
    parts = parts if parts is not None else EarlyParts(result)
    who = parts.who
    who.add_panel(result)
    meta: dict[str, dict] = dict(parts.meta)
    audit, sot, dist, aud = parts.audit, parts.sot, parts.dist, parts.aud
    # the sheets with figures first (built in this order, placed in the brief's order below)
    figs = parts.figures()
    es = cs = []
    if result.estimates:
        es = _event_study_sheets(result, who, meta)
        cs = _att_gt_sheets(result, who, meta)
        figs["event_study"] = [(o, t) for _, o, t in es]
        figs["att_gt"] = [(o, t, d) for _, o, t, d in cs]
    sens = sensitivity_sheet(getattr(result, "sensitivity", None), who.headline, meta)
    if sens is not None:
        figs["specification_curve"] = result.sensitivity
    _hand_over(figures, result, figs, folder, more=False)
    sheets = [_about(result, who), _headline(result, who, audit), _shares(result, who)]
    if sot is not None:
        sheets.append(sot[0])
    if dist is not None:
        sheets.append(dist[0])
    sheets += [_flows(result, who), _firms(result, who)]
    if result.data.designations is not None:
        sheets.append(_designations(result, who))
    if aud is not None:
        sheets += [aud[0], aud[1]]
    long = regression_long(result) if result.estimates else None   # the sheet's and the paper tables' one table
    if result.estimates:
        reg = _regressions(result, who, meta, long)
        if reg is not None:
            sheets.append(reg)
        sheets += [s for s, *_ in es] + [s for s, *_ in cs]
        sheets += honest_sheets(result, who.panel or who.all, meta)
    if sens is not None:
        sheets.append(sens)
    sheets.append(_quality(result, who, folder.name, _detail_format(result)))
    report = Report(sheets=sheets, title=result.config["run"]["title"],
                    synthetic=bool(result.data.provenance.get("synthetic")))
    moved = _move_detail(report, result, folder, who)
    if moved:
        report.sheets[0] = _about(result, who)   # the About sheet lists the notes, now with the files beside
    lab = Labeller(result.config["report"].get("amount_unit", "yuan"))
    report.sheets = [_label_sheet(s, lab, meta) for s in report.sheets]
    report.sheets.append(_columns_sheet(lab))
    report.attachments = moved
    report.figures = figs
    report.regressions = long
    return report


def _write_details(files: list[tuple[Path, pd.DataFrame, str]], early: dict[Path, Future]) -> float:
    """Write the detail files (waiting for those begun early); their seconds."""
    t = time.perf_counter()
    for path, table, fmt in files:
        if path in early:
            early[path].result()
        else:
            write_detail(table, path, fmt)
    return time.perf_counter() - t


def start_early_details(result, folder: Path, pool: ThreadPoolExecutor) -> dict[Path, Future]:
    """Begin writing the firm-year flows and the data-quality log beside the workbook as soon
    as they are measured.

    The Flows sheet holds ``result.flows`` and moves beside the workbook by the rule of
    :func:`_move_detail` (:func:`_beside_path`), so its file is known before estimation;
    the full data-quality log always goes beside it. Written on ``pool`` while the run
    estimates (Parquet runs outside the interpreter lock), they cost the run little and
    leave the workbook's seconds to the workbook. Nothing changes ``result.flows`` after
    measurement; a log that gets more records later is written again by
    :func:`write_outputs` (each early write carries the table it wrote as ``.table``).
    Returns {path: the write}; :func:`write_outputs` waits for them.
    """
    fmt = _detail_format(result)
    jobs: dict[Path, Future] = {}
    flows = getattr(result, "flows", None)
    path = _beside_path(flows, "Flows", result, folder)
    if path is not None:
        folder.mkdir(parents=True, exist_ok=True)
        jobs[path] = pool.submit(write_detail, flows, path, fmt)
        jobs[path].table = flows
    quality = getattr(getattr(result, "data", None), "quality", None)
    if quality is not None:
        log = quality.to_frame()
        folder.mkdir(parents=True, exist_ok=True)
        q = folder / f"data_quality.{fmt}"
        jobs[q] = pool.submit(write_detail, log, q, fmt)
        jobs[q].table = log
    return jobs


def _figure_jobs(result, figs: dict[str, Any]) -> list[FigureJob]:
    """The report's figures, each as a drawing function of :mod:`.figures` and its arguments:
    descriptive ones, then each outcome's effects."""
    jobs: list[FigureJob] = []
    if "support_over_time" in figs:
        wide, groups = figs["support_over_time"]
        jobs.append(FigureJob("support_over_time", "support_over_time", (
            wide, {k: [(c, lab) for c, lab in v] for k, v in groups.items()}),
            {"title": "Support as a share of revenue, by component: certified versus never-certified firms"}))
    if "share_distribution" in figs:
        dist, first, second = figs["share_distribution"]
        jobs.append(FigureJob("support_share_distribution", "share_distribution", (dist,), {
            "title": "Firms by their support share of revenue", "first": first.capitalize(),
            "second": second.capitalize()}))
    if "criteria_audit" in figs and len(figs["criteria_audit"]):
        jobs.append(FigureJob("criteria_audit", "audit_failures", (figs["criteria_audit"],), {
            "title": "Certified firms missing each selection criterion of their batch"}))
    for outcome, t in figs.get("event_study", []):
        k = 100.0 if effect_kind(outcome) == "pp" else 1.0
        unit = "percentage points of revenue" if k == 100.0 else outcome_label(outcome)
        d = t.assign(**{c: t[c] * k for c in ("estimate", "conf_low", "conf_high", "true_effect") if c in t})
        jobs.append(FigureJob(f"event_study_{outcome}", "effect_profile", (d,), {
            "x": "event_time", "title": f"Effect of certification on the {outcome_label(outcome)}\n"
                                        "by years since certification (event study, reference year −1)",
            "x_label": "years since certification (end points pool the years beyond)", "y_label": unit,
            "interval": "95% pointwise interval", "truth": "true_effect"}))
    for outcome, t, dyn in figs.get("att_gt", []):
        k = 100.0 if effect_kind(outcome) == "pp" else 1.0
        unit = "percentage points of revenue" if k == 100.0 else outcome_label(outcome)
        band = "uniform" if result.config["analysis"]["bootstrap"] else "pointwise"
        d = t.assign(**{c: t[c] * k for c in ("estimate", "conf_low", "conf_high", "att_true") if c in t})
        jobs.append(FigureJob(f"att_gt_{outcome}", "effects_by_cohort", (d,), {
            "title": f"Effect of certification on the {outcome_label(outcome)}, by cohort and year "
                     "(Callaway–Sant'Anna)", "y_label": unit, "interval": f"95% {band} band", "truth": "att_true"}))
        if dyn is not None:
            dd = dyn.assign(**{c: dyn[c] * k for c in ("estimate", "conf_low", "conf_high", "true_effect")
                               if c in dyn})
            jobs.append(FigureJob(f"att_dynamic_{outcome}", "effect_profile", (dd,), {
                "x": "event_time", "title": f"Effect of certification on the {outcome_label(outcome)}\n"
                                            "by years since certification (Callaway–Sant'Anna, dynamic)",
                "x_label": "years since certification", "y_label": unit, "interval": f"95% {band} band",
                "truth": "true_effect"}))
    if "specification_curve" in figs:
        sens = figs["specification_curve"]
        jobs.append(FigureJob("specification_curve", "specification_curve", (sens.table, sens.varied), {
            "what": sens.plotted(), "level": 1 - sens.alpha}))
    return jobs


def write_outputs(result, report: Report, *, workbook: Path, folder: Path, run_time: str,
                  progress: Progress | None = None, figures: FigureWorker | None = None,
                  early: dict[Path, Future] | None = None) -> None:
    """Write the workbook, figures, regression tables and the manifest; fill ``result.outputs``.

    ``figures``: a started :mod:`.figure_worker` process; the figures are then drawn there
    while this process writes the detail files and the workbook (else here, first).
    ``early``: detail files already being written (:func:`start_early_details`).
    """
    prog = progress if progress is not None else Progress(enabled=False)
    workbook.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}
    out_cfg = result.config["output"]
    figs = getattr(report, "figures", {}) or {}
    formats = out_cfg["figures"]
    jobs = _figure_jobs(result, figs) if formats else []   # no file asked for: no figure drawn
    _hand_over(figures, result, figs, folder, more=False)   # what build_report did not hand over
    beside = figures is not None and figures.ended and not figures.failed and bool(jobs)
    if figures is not None and not beside:
        figures.close()
    if not beside:
        with prog.stage("report: figures", total=len(jobs) * len(formats), unit="files") as task:
            draw_here(jobs, folder, formats, lambda key, p: (outputs.__setitem__(key, p), task.advance()))
    # regression tables for papers
    with prog.stage("report: tables"):
        long = report.regressions   # formed once by build_report for its sheet
        if long is None and result.estimates:
            long = regression_long(result)
        if long is not None:
            notes = _regression_notes(result)
            for fmt in out_cfg["tables"]:
                p = folder / f"regressions.{fmt}"
                if fmt == "md":
                    p.write_text(to_markdown(long, digits=2, note=None) + "\n" + "  \n".join(notes) + "\n",
                                 encoding="utf-8")
                elif fmt == "tex":
                    p.write_text(to_latex(long, digits=2, note="; ".join(notes) + "."), encoding="utf-8")
                else:
                    from .workbook import write_csv

                    write_csv(regression_layout(long, digits=2), p)
                outputs[f"regressions_{fmt}"] = p
    # the manifest sheet describes inputs and configuration; output hashes live in manifest.json
    findings = getattr(result, "findings", [])
    extra = {"plausibility": [f.as_dict() for f in findings]}
    grid = sensitivity_manifest(getattr(result, "sensitivity", None))
    if grid is not None:
        extra["sensitivity"] = grid
    # the sheet shows one row per finding (the firm lists are in manifest.json)
    shown = {"plausibility": {f"{k + 1}. {f.rule}": f.message for k, f in enumerate(findings)} or "none triggered"}
    if grid is not None:
        shown["sensitivity"] = grid
    pre = build_manifest(config=result.config, data=result.data, outputs={}, run_time="", extra=shown)
    report.sheets.append(_manifest_sheet(pre))
    fmt = _detail_format(result)
    # detail files in a thread while the workbook is written: Parquet and zstd run outside the GIL
    detail = [(d.path, table, d.format) for d, table in report.attachments]
    q = folder / f"data_quality.{fmt}"
    early = dict(early or {})
    begun = early.get(q)
    if not any(d.sheet == "Data quality" for d, _ in report.attachments):
        # the full data-quality log, beside the workbook whatever its length
        log = result.data.quality.to_frame()
        if begun is not None and not log.equals(getattr(begun, "table", None)):
            begun.result()   # records added since it was begun: written again below
            del early[q]
        detail.append((q, log, fmt))
    elif begun is not None:   # the sheet's own table goes to that file instead
        begun.result()
        del early[q]
    wanted = {path for path, _, _ in detail}
    for path, job in early.items():
        if path not in wanted:   # begun for a sheet the report does not move after all
            job.result()
            path.unlink(missing_ok=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        writing = pool.submit(_write_details, detail, early)
        with prog.stage("report: workbook", total=len(report.sheets), unit="sheets") as task:
            last = [prog.clock()]

            def sheet_done(name: str) -> None:
                now = prog.clock()
                prog.detail(f"report: workbook / {name}", now - last[0])
                last[0] = now
                task.note(name)
                task.advance()

            write_workbook(report, workbook, on_sheet=sheet_done)
        with prog.stage("report: detail files", total=len(detail), unit="files") as task:
            seconds = writing.result()   # the files' own time, partly hidden behind the workbook
            task.advance(len(detail))
        prog.detail("report: detail files / written beside the workbook in", seconds)
    for path, _, _ in detail:
        outputs["data_quality" if path == q else f"detail_{path.stem}"] = path
    if beside:
        with prog.stage("report: figures", total=len(jobs) * len(formats), unit="files") as task:
            why = figures.collect(lambda key, p: (outputs.__setitem__(key, p), task.advance()))
        if figures.seconds is not None:
            prog.detail("report: figures / drawn beside the workbook in", figures.seconds)
        if why:
            result.notes.append(f"{why}; the figures were drawn in the run's own process")
    # listed in the order of a run that draws them first: figures, tables, detail, workbook
    drawn = [k for k in (f"{j.stem}_{f}" for j in jobs for f in formats) if k in outputs]
    outputs = {**{k: outputs[k] for k in drawn}, **{k: v for k, v in outputs.items() if k not in drawn}}
    outputs["workbook"] = workbook
    with prog.stage("report: manifest"):
        manifest = build_manifest(config=result.config, data=result.data, outputs=outputs, run_time=run_time,
                                  extra=extra)
        outputs["manifest"] = write_manifest(manifest, folder / "manifest.json")
    result.outputs = outputs
    result.manifest = manifest
