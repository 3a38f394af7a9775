"""The pipeline: read → validate → measure → certify → estimate → report, with a manifest.

``run(config)`` does from Python exactly what ``finsupport run CONFIG`` does.
"""

from __future__ import annotations

import datetime as _dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, load_config
from .errors import ConfigError, EstimationError

__all__ = ["run", "RunResult", "output_paths"]

STEPS = ("read", "measure", "certify", "estimate", "report")


@dataclass
class RunResult:
    """Everything a run computed, as DataFrames and result objects, plus where it wrote."""

    config: Config
    data: Any
    flows: pd.DataFrame
    shares: dict[str, pd.DataFrame]
    headline: dict[str, Any]
    status: pd.DataFrame | None = None
    audit: Any = None
    panel: pd.DataFrame | None = None
    estimates: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def report_path(self) -> Path | None:
        return self.outputs.get("workbook")

    def summary(self) -> str:
        h = self.headline
        lines = [f"finsupport run '{self.config['run']['name']}'",
                 f"  headline: {h['text']}"]
        if self.audit is not None:
            cohorts = self.config["shares"]["headline_cohorts"] or None
            lines.append(f"  criteria audit: {self.audit.summary_text(years=cohorts).splitlines()[0]}")
        est = self.estimates.get("share", {}).get("aggregates", {}).get("simple")
        if est is not None:
            lines.append(f"  certification effect on the support share (Callaway–Sant'Anna, simple ATT): "
                         f"{est.overall_att:.4f} (SE {est.overall_se:.4f})")
        for name, p in self.outputs.items():
            lines.append(f"  {name}: {p}")
        return "\n".join(lines)


class _Progress:
    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            # disable=None: no display when standard error is not a terminal (logs, CI)
            self.bar = tqdm(total=len(STEPS), desc="finsupport", unit="step", file=sys.stderr, disable=None,
                            bar_format="{desc}: {n_fmt}/{total_fmt} {postfix}", leave=False)

    def step(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(name)
            self.bar.update(0)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def output_paths(cfg: Config, out: str | Path | None) -> tuple[Path, Path]:
    """The workbook path and the folder for figures, tables and the manifest."""
    name = cfg["run"]["name"]
    if any(ch in name for ch in "/\\") or name in ("", ".", "..") or ".." in name:
        raise ConfigError(f"run.name = {name!r} must be a plain file name (no folders, no '..')")
    if out is None:
        base = cfg.base_dir / cfg["run"]["output_dir"]
        workbook = base / f"{name}.xlsx"
    else:
        out = Path(out)
        workbook = out if out.suffix.lower() == ".xlsx" else out / f"{name}.xlsx"
    return workbook, workbook.with_suffix("")


def _load_data(cfg: Config):
    from .data.readers import read_dataset
    from .example import load_example

    d = cfg["data"]
    if cfg.data_path is None:
        data = load_example()
    else:
        data = read_dataset(cfg.data_path, mapping=d["mapping"] or None, preset=d["preset"] or None,
                            units=d["units"] or None)
    if d["synthetic"]:
        data.provenance["synthetic"] = True
    if d["description"]:
        data.provenance["description"] = d["description"]
    return data


def _restrict_sample(cfg: Config, data):
    s = cfg["sample"]
    if not (s["years"] or s["sectors"] or s["firms"]):
        return data
    firms = None
    if s["sectors"] or s["firms"]:
        f = data.require("firms", ["firm_id", "sector"] if s["sectors"] else ["firm_id"], purpose="sample.sectors")
        keep = pd.Series(True, index=f.index)
        if s["sectors"]:
            keep &= f["sector"].isin(s["sectors"])
        if s["firms"]:
            keep &= f["firm_id"].isin(s["firms"])
        firms = f.loc[keep, "firm_id"]
    years = range(s["years"][0], s["years"][1] + 1) if s["years"] else None
    for name, df in data.tables().items():
        m = pd.Series(True, index=df.index)
        if firms is not None and "firm_id" in df:
            m &= df["firm_id"].isin(firms)
        if years is not None and "year" in df and name not in ("designations", "grants", "equity"):
            m &= df["year"].isin(years)
        if (~m).any():
            sel = df[~m]
            data.quality.add(stage="sample", table=name, rows=sel.index, firm_id=sel.get("firm_id"),
                             year=sel.get("year"), issue="outside the configured sample", action="excluded",
                             detail="[sample] in the run configuration")
    return data.subset(firms=firms, years=years)


def _headline(cfg: Config, flows: pd.DataFrame, status: pd.DataFrame | None):
    from .measure.shares import support_share

    yrs = tuple(cfg["shares"]["years"]) or (int(flows["year"].min()), int(flows["year"].max()))
    cohorts = cfg["shares"]["headline_cohorts"]
    firms, who = None, "all firms"
    if status is not None:
        coh = status.groupby("firm_id")["cohort"].max()
        sel = coh[coh.isin(cohorts)] if cohorts else coh[coh > 0]
        firms = sel.index
        who = (f"firms first certified in {', '.join(map(str, cohorts))}" if cohorts else "certified firms")
    tab = support_share(flows, years=yrs, firms=firms).set_index("component")
    tot = tab.loc["total"]
    text = (f"pooled support share {tot['pooled_share']:.1%} of revenue (Σ support / Σ revenue), "
            f"{who}, {yrs[0]}–{yrs[1]}, {int(tot['n_firms'])} firms, {int(tot['n_firm_years'])} firm-years")
    return tab.reset_index(), {"text": text, "pooled_share": float(tot["pooled_share"]),
                               "mean_firm_share": float(tot["mean_firm_share"]),
                               "median_firm_share": float(tot["median_firm_share"]),
                               "years": list(yrs), "firms": who, "n_firms": int(tot["n_firms"]),
                               "n_firm_years": int(tot["n_firm_years"])}


def _shares(flows: pd.DataFrame, status: pd.DataFrame | None, years) -> dict[str, pd.DataFrame]:
    from .measure.shares import support_share

    out = {"by year": support_share(flows, by="year")}
    if status is not None:
        st = status[["firm_id", "year", "active", "cohort"]].assign(
            certified=lambda d: np.where(d["cohort"] > 0, "ever certified", "never certified"))
        out["by certification"] = support_share(flows, by="certified", status=st, years=years)
        out["by cohort"] = support_share(flows, by="cohort", status=st, years=years)
        out["by year and certification"] = support_share(flows, by=["year", "certified"], status=st)
    if "sector" in flows:
        out["by sector"] = support_share(flows, by="sector", years=years)
    return out


def _subgroups(by: str, data) -> pd.Series:
    """Firm-level subgroup labels for ``analysis.by`` (indexed by firm_id)."""
    if by == "criteria":
        from .certify.audit import audit_criteria

        f = audit_criteria(data).by_firm().set_index("firm_id")["passes_all"]
        return f.map({True: "meets every criterion", False: "misses a criterion"}).fillna("cannot be judged")
    firms = data.require("firms", ["firm_id"], purpose=f"subgroups by {by}").set_index("firm_id")
    if by == "subsidiary":
        parent = firms["parent_id"] if "parent_id" in firms else pd.Series(pd.NA, index=firms.index)
        has = parent.notna() & (parent.astype("string").str.strip() != "")
        return has.map({True: "subsidiary", False: "independent"})
    return firms["sector"].astype("string").fillna("unknown sector")


def _estimate(cfg: Config, panel: pd.DataFrame, data, notes: list[str]) -> dict[str, dict[str, Any]]:
    from .estimate.event_study import event_study
    from .estimate.twfe import twfe_did

    a = cfg["analysis"]
    cluster = "unit" if a["cluster"] == "unit" else None
    wild = ({"inference": "wild", "draws": max(a["bootstrap"], 99), "bootstrap_weights": a["wild_weights"],
             "seed": cfg["run"]["seed"]} if a["inference"] == "wild" else {})
    cov = a["covariates"] or None
    res: dict[str, dict[str, Any]] = {}
    for outcome in a["outcomes"]:
        d = panel.dropna(subset=[outcome])
        r: dict[str, Any] = {}
        try:
            if "twfe" in a["estimators"]:
                # covariates are time-invariant pre-designation values: the firm effects absorb them,
                # so they enter only the Callaway–Sant'Anna propensity score and outcome regression
                r["twfe"] = twfe_did(d, outcome=outcome, treatment="treated", unit="firm_id", time="year",
                                     cluster=cluster, **wild)
            if "event_study" in a["estimators"]:
                r["event_study"] = event_study(d, outcome=outcome, unit="firm_id", time="year", cohort="cohort",
                                               window=tuple(a["event_window"]), cluster=cluster, **wild)
            if "sun_abraham" in a["estimators"]:
                from .estimate.sun_abraham import sun_abraham

                r["sun_abraham"] = sun_abraham(d, outcome=outcome, unit="firm_id", time="year", cohort="cohort",
                                               cluster=cluster)
            if "imputation" in a["estimators"]:
                from .estimate.imputation import imputation_did

                r["imputation"] = imputation_did(d, outcome=outcome, unit="firm_id", time="year", cohort="cohort",
                                                 pretrends=True, cluster=cluster)
            if "att_gt" in a["estimators"]:
                from .estimate.cs_core import att_gt

                cs = att_gt(d, outcome=outcome, unit="firm_id", time="year", cohort="cohort", covariates=cov,
                            control_group=a["control_group"], method=a["method"], anticipation=a["anticipation"],
                            base_period=a["base_period"], bootstrap=a["bootstrap"] or None, seed=cfg["run"]["seed"],
                            alpha=a["alpha"])
                r["att_gt"] = cs
                if len(cs.dropped):
                    notes.append(f"{outcome}: att_gt left out {len(cs.dropped)} unit(s) "
                                 f"({'; '.join(sorted(set(cs.dropped['reason'])))})")
                r["aggregates"] = {k: cs.aggregate(k) for k in ("simple", "group", "dynamic", "calendar")}
            if a["by"] and "att_gt" in a["estimators"]:
                from .estimate.cs_core import att_gt

                r["by"] = att_gt(d.assign(**{a["by"]: d["firm_id"].map(_subgroups(a["by"], data))}), by=a["by"],
                                 outcome=outcome, unit="firm_id", time="year", cohort="cohort", covariates=cov,
                                 control_group=a["control_group"], method=a["method"],
                                 anticipation=a["anticipation"], base_period=a["base_period"], alpha=a["alpha"])
            if "bacon" in a["estimators"]:
                from .estimate.bacon import bacon_decomposition

                r["bacon"] = bacon_decomposition(d, outcome=outcome, unit="firm_id", time="year", cohort="cohort")
        except EstimationError as e:
            notes.append(f"{outcome}: estimation stopped: {e}")
        res[outcome] = r
    return res


def run(config: str | Path | dict | Config | None = None, *, out: str | Path | None = None,
        progress: bool | None = None) -> RunResult:
    """Run a complete analysis and write its report.

    Parameters
    ----------
    config : path to a TOML file, a dict, a Config, or None
        ``None`` runs the embedded default dataset with the default configuration.
    out : path, optional
        The workbook (``….xlsx``) or a folder for it; default
        ``<output_dir>/<run.name>.xlsx`` relative to the config file (the working
        directory for the embedded default). Figures, regression tables and
        ``manifest.json`` go to a folder of the same name beside the workbook.
    progress : bool, optional
        Show a progress line on standard error (default: ``output.progress``).

    Returns
    -------
    RunResult with the flows, shares, status, audit, panel, estimates and output paths.
    """
    from .certify.audit import audit_criteria
    from .certify.status import designation_status
    from .estimate.panel import analysis_panel
    from .measure.flows import support_flows
    from .report.build import build_report, write_outputs

    cfg = load_config(config)
    workbook, folder = output_paths(cfg, out)
    prog = _Progress(cfg["output"]["progress"] if progress is None else progress)
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    try:
        prog.step("reading data")
        data = _restrict_sample(cfg, _load_data(cfg))
        prog.done()
        prog.step("measuring support")
        m = cfg["measure"]
        flows = support_flows(data, subsidy_basis=m["subsidy_basis"], equity_basis=m["equity_basis"],
                              benchmark=m["benchmark"], spread_bp=m["spread_bp"], aul_years=m["aul_years"],
                              expense_threshold=m["expense_threshold"],
                              state_investor_types=m["state_investor_types"], first_year_debt=m["first_year_debt"])
        prog.done()
        prog.step("certification")
        tier = cfg["sample"]["tier"]
        status = audit = None
        notes: list[str] = []
        if data.designations is not None and len(data.designations):
            status = designation_status(data, tier=tier, years=sorted(flows["year"].unique()))
            audit = audit_criteria(data, tier=tier)
        else:
            notes.append("no designations table: certification status, audit and regressions skipped")
        headline_table, headline = _headline(cfg, flows, status)
        years = tuple(cfg["shares"]["years"]) or None
        shares = {"headline": headline_table, **_shares(flows, status, years)}
        prog.done()
        prog.step("estimating")
        panel, estimates = None, {}
        if status is not None and cfg["analysis"]["enabled"]:
            panel = analysis_panel(data, flows, tier=tier)
            estimates = _estimate(cfg, panel, data, notes)
        prog.done()
        prog.step("writing report")
        result = RunResult(config=cfg, data=data, flows=flows, shares=shares, headline=headline, status=status,
                           audit=audit, panel=panel, estimates=estimates, notes=notes)
        report = build_report(result)
        write_outputs(result, report, workbook=workbook, folder=folder, run_time=started)
        prog.done()
    finally:
        prog.close()
    return result
