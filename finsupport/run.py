"""The pipeline: read → validate → measure → certify → estimate → report, with a manifest.

``run(config)`` does from Python exactly what ``finsupport run CONFIG`` does.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import Config, load_config
from .data.arrow_text import isin_values
from .errors import ConfigError, DataError, EstimationError
from .progress import Progress

__all__ = ["run", "prepare", "RunResult", "output_paths", "check_outputs"]

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
    findings: list = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    #: the specification grid (``[sensitivity]``), when enabled
    sensitivity: Any = None
    #: wall time of each stage in seconds, in the order the stages ran (not in the manifest: it varies)
    timings: dict[str, float] = field(default_factory=dict)
    #: wall time of parts of stages (each workbook sheet), not included in ``timings``
    timing_details: dict[str, float] = field(default_factory=dict)

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
                         f"{est.overall_att * 100:.2f} percentage points of revenue (SE {est.overall_se * 100:.2f})")
        if self.sensitivity is not None:
            g = self.sensitivity.headline_range()
            lines.append(f"  specification grid: pooled support share {g['min']:.2%} to {g['max']:.2%} across "
                         f"{g['n_specifications']} specifications of {', '.join(self.sensitivity.varied)} "
                         f"(Sensitivity sheet)")
        n = len(self.findings)
        lines.append(f"  plausibility checks: {n} warning(s), see the Headline and Data quality sheets" if n
                     else "  plausibility checks: none triggered")
        for name, p in self.outputs.items():
            lines.append(f"  {name}: {p}")
        return "\n".join(lines)


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


def check_outputs(workbook: Path, folder: Path) -> list[Path]:
    """Check, before any computation, that the run can write its outputs; create their folders.

    The workbook must not be a folder, the run's folder (figures, tables, detail files,
    manifest) must not be a file, and both folders must accept a new file. Returns the
    folders created here, so that a run that fails later can remove them if still empty.

    Raises
    ------
    ConfigError
        Naming the path and what to do (exit code 3 on the command line).
    """
    if workbook.is_dir():
        raise ConfigError(f"the output '{workbook}' is a folder, not a workbook file: name a new .xlsx file, or give "
                          "a folder path that does not end in .xlsx and the workbook is written inside it")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"'{folder}' is a file, but the run writes its figures, tables and manifest into a folder "
                          "of that name beside the workbook: move the file or choose another --out")
    created: list[Path] = []
    try:
        for d in (workbook.parent, folder):
            for p in [d, *d.parents]:
                if p.exists() and not p.is_dir():
                    raise ConfigError(f"cannot write the outputs into '{d}': '{p}' is a file, not a folder")
            missing = [p for p in [d, *d.parents] if not p.exists()]
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot write the outputs into '{d}': {e.strerror or e}; choose another --out "
                                  "or output_dir") from None
            created.extend(reversed(missing))
            try:
                with tempfile.TemporaryFile(dir=d):
                    pass
            except OSError as e:
                raise ConfigError(f"cannot write the outputs into '{d}': {e.strerror or e}; choose a folder you "
                                  "can write to (--out or output_dir)") from None
    except ConfigError:
        _remove_empty(created)
        raise
    return created


def _remove_empty(folders: list[Path]) -> None:
    for d in reversed(folders):
        try:
            d.rmdir()   # only if empty: a failed run leaves no empty folders behind
        except OSError:
            pass


def _load_data(cfg: Config, prog: Progress, *, after_load=None):
    """The configured data, read and validated; ``after_load()`` called once they are."""
    from .data.readers import read_dataset
    from .data.validate import validate_dataset
    from .example import load_example

    d = cfg["data"]
    with prog.stage("read") as task:
        if cfg.data_path is None:
            data = load_example()
        else:
            data = read_dataset(cfg.data_path, mapping=d["mapping"] or None, preset=d["preset"] or None,
                                units=d["units"] or None, validate=False)
            task.note(", ".join(f"{n} {len(df):,} rows" for n, df in data.tables().items()))
    if cfg.data_path is not None:
        # validation apart from reading, so that each has its own time
        with prog.stage("validate"):
            validate_dataset(data)
    if after_load is not None:
        after_load()
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
            keep &= isin_values(f["firm_id"], [str(x) for x in s["firms"]])
        firms = f.loc[keep, "firm_id"]
    years = range(s["years"][0], s["years"][1] + 1) if s["years"] else None
    for name, df in data.tables().items():
        m = pd.Series(True, index=df.index)
        if firms is not None and "firm_id" in df:
            m &= isin_values(df["firm_id"], firms)
        if years is not None and "year" in df and name not in ("designations", "grants", "equity", "land",
                                                                  "land_benchmarks"):
            m &= df["year"].isin(years)
        if (~m).any():
            sel = df[~m]
            data.quality.add(stage="sample", table=name, rows=sel.index, firm_id=sel.get("firm_id"),
                             year=sel.get("year"), issue="outside the configured sample", action="excluded",
                             detail="[sample] in the run configuration")
    return data.subset(firms=firms, years=years)


def _check_designations(cfg: Config, data, notes: list[str]) -> None:
    """Stop when the configuration or the files expect certified firms and there are none.

    Without certified firms the headline would be computed over every firm, not over the
    cohorts the configuration names (or, with ``headline_cohorts = []``, the certified firms):
    a different number under the same heading. A run given no designations at all measures
    every firm and says so in the headline; a designations table that is empty (a file with a
    header only, or every row excluded) is a broken export, not that choice. A ``[sample]``
    that leaves out every certified firm (a sample of uncertified firms) is a choice: without
    ``headline_cohorts`` the run measures the sample's firms, with a note."""
    des = data.designations
    if des is not None and len(des):
        return
    cohorts = cfg["shares"]["headline_cohorts"]
    if des is None and not cohorts:
        return
    by_sample = 0
    if des is None:
        why = "no designations table was given"
    else:
        read = ((getattr(data, "provenance", None) or {}).get("tables", {}).get("designations", {})
                .get("rows_read", 0))
        log = data.quality.to_frame()
        by_sample = int(((log["table"] == "designations") & (log["stage"] == "sample")).sum())
        if by_sample:
            why = (f"the configured [sample] leaves no designations (its firms, sectors or years exclude "
                   f"{by_sample:,} of the {read:,} rows read; see the data-quality log)")
        elif read:
            why = (f"the designations table has no rows left: every one of its {read:,} rows read was excluded "
                   "(see the data-quality log)")
        else:
            why = "the designations table has no rows"
    if by_sample and not cohorts:
        notes.append(f"{why}: the headline covers every firm of the sample")
        return
    if cohorts:
        message = (f"[shares] headline_cohorts = {list(cohorts)} selects the firms first certified in those "
                   f"years, but {why}; the headline would silently cover every firm instead")
        hint = (("widen [sample], or set headline_cohorts = [] to report every firm of the sample") if by_sample
                else ("give the designations (firm_id, tier, year of each certification), or set "
                      "headline_cohorts = [] to report every firm"))
    else:
        message = (f"{why}: the headline's certified firms, the criteria audit and the regressions "
                   "need the certifications; the headline would silently cover every firm instead")
        hint = ("give the designations (firm_id, tier, year of each certification), or remove the empty "
                "designations file to measure every firm")
    raise DataError(problems=[{"table": "designations", "column": "", "message": message, "hint": hint}])


def _headline(cfg: Config, flows: pd.DataFrame, status: pd.DataFrame | None):
    from .measure.shares import support_share

    yrs = tuple(cfg["shares"]["years"]) or (int(flows["year"].min()), int(flows["year"].max()))
    cohorts = cfg["shares"]["headline_cohorts"]
    firms, who = None, "all firms"
    if status is not None:
        # a firm's cohort is the same in each of its years (designation_status): the firms of the
        # selected cohorts are those of the rows that carry them, without grouping every row
        coh = status["cohort"].to_numpy()
        if cohorts:   # a cohort without a firm (a typo, another tier) would narrow the headline unseen
            found = sorted(int(c) for c in pd.unique(coh[coh > 0]))
            missing = [c for c in cohorts if c not in found]
            if missing:
                tier = cfg["sample"]["tier"]
                raise ConfigError(
                    f"[shares] headline_cohorts names {', '.join(map(str, missing))}, but no firm"
                    + (f" of tier {tier}" if tier else "") + " was first certified in "
                    + ("that year" if len(missing) == 1 else "those years")
                    + f" (first certification years in the data: {', '.join(map(str, found)) or 'none'}); "
                    "correct headline_cohorts ([] = every certified firm)")
        pick = np.isin(coh, cohorts) if cohorts else coh > 0
        if not pick.any():   # no certified firm of the tier: a NaN headline over no firm
            tier = cfg["sample"]["tier"]
            raise ConfigError(f"no firm of tier {tier} is certified in the designations ([sample] tier = "
                              f"{tier!r}); correct the tier, or the designations' tier column")
        # the ids taken from their own array (pyarrow text), not made a million Python strings first
        firms = pd.Index(status["firm_id"].array[pick].unique())
        who = (f"firms first certified in {', '.join(map(str, cohorts))}" if cohorts else "certified firms")
    tab = support_share(flows, years=yrs, firms=firms, extended=True).set_index("component")
    tot = tab.loc["total"]
    text = (f"pooled support share {tot['pooled_share']:.1%} of revenue (Σ support / Σ revenue), "
            f"{who}, {yrs[0]}–{yrs[1]}, {int(tot['n_firms'])} firms, {int(tot['n_firm_years'])} firm-years")
    return tab.reset_index(), {"text": text, "pooled_share": float(tot["pooled_share"]),
                               "mean_firm_share": float(tot["mean_firm_share"]),
                               "median_firm_share": float(tot["median_firm_share"]),
                               "years": list(yrs), "firms": who, "n_firms": int(tot["n_firms"]),
                               "n_firm_years": int(tot["n_firm_years"]),
                               "components": list(flows.attrs.get("components", [])),
                               "extended_pooled_share": float(tab.loc["total_extended", "pooled_share"])}


def _shares(flows: pd.DataFrame, status: pd.DataFrame | None, years) -> dict[str, pd.DataFrame]:
    from .measure.shares import share_tables

    tables: dict[str, dict] = {"by year": {"by": "year"}}
    st = None
    if status is not None:
        # the two labels taken by position (a text column made from a million Python strings is slow)
        labels = pd.Series(["ever certified", "never certified"], dtype="str").array
        st = status[["firm_id", "year", "active", "cohort"]].assign(
            certified=lambda d: labels.take(np.where(d["cohort"].to_numpy() > 0, 0, 1)))
        tables["by certification"] = {"by": "certified", "years": years, "status": True}
        tables["by cohort"] = {"by": "cohort", "years": years, "status": True}
        tables["by year and certification"] = {"by": ["year", "certified"], "status": True}
    if "sector" in flows:
        tables["by sector"] = {"by": "sector", "years": years}
    # firm codes and amounts prepared once, the status attached once, for every table; the
    # extended view (all five components) beside the study's
    return share_tables(flows, tables, status=st, extended=True)


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


def _estimate(cfg: Config, panel: pd.DataFrame, data, notes: list[str], prog: Progress,
              on_outcome=None) -> dict[str, dict[str, Any]]:
    from .estimate.event_study import event_study
    from .estimate.twfe import twfe_did

    a = cfg["analysis"]
    cluster = "unit" if a["cluster"] == "unit" else None
    wild = ({"inference": "wild", "draws": max(a["bootstrap"], 99), "bootstrap_weights": a["wild_weights"],
             "seed": cfg["run"]["seed"]} if a["inference"] == "wild" else {})
    cov = a["covariates"] or None
    res: dict[str, dict[str, Any]] = {}
    for outcome in a["outcomes"]:
        # only the columns the estimators read (dropping rows copies every column kept); a missing
        # one is left for the estimator to report
        keep = [c for c in dict.fromkeys(["firm_id", "year", "treated", "cohort", outcome, *(cov or [])]) if c in panel]
        d = panel[keep].dropna(subset=[outcome])
        r: dict[str, Any] = {}
        try:
            if "twfe" in a["estimators"]:
                # covariates are time-invariant pre-designation values: the firm effects absorb them,
                # so they enter only the Callaway–Sant'Anna propensity score and outcome regression
                with prog.stage(f"estimate: twfe ({outcome})"):
                    r["twfe"] = twfe_did(d, outcome=outcome, treatment="treated", unit="firm_id", time="year",
                                         cluster=cluster, **wild)
            if "event_study" in a["estimators"]:
                with prog.stage(f"estimate: event_study ({outcome})"):
                    r["event_study"] = event_study(d, outcome=outcome, unit="firm_id", time="year",
                                                   cohort="cohort", window=tuple(a["event_window"]),
                                                   cluster=cluster, **wild)
                if a["honest_did"]:
                    with prog.stage(f"estimate: honest_did, event study ({outcome})"):
                        _honest(a, r, "event_study", r["event_study"], outcome, notes)
            if "sun_abraham" in a["estimators"]:
                from .estimate.sun_abraham import sun_abraham

                with prog.stage(f"estimate: sun_abraham ({outcome})"):
                    r["sun_abraham"] = sun_abraham(d, outcome=outcome, unit="firm_id", time="year",
                                                   cohort="cohort", cluster=cluster)
            if "imputation" in a["estimators"]:
                from .estimate.imputation import imputation_did

                with prog.stage(f"estimate: imputation ({outcome})"):
                    r["imputation"] = imputation_did(d, outcome=outcome, unit="firm_id", time="year",
                                                     cohort="cohort", pretrends=True, cluster=cluster)
            if "att_gt" in a["estimators"]:
                from .estimate.cs_core import att_gt

                with prog.stage(f"estimate: att_gt ({outcome})"):
                    cs = att_gt(d, outcome=outcome, unit="firm_id", time="year", cohort="cohort", covariates=cov,
                                control_group=a["control_group"], method=a["method"],
                                anticipation=a["anticipation"], base_period=a["base_period"],
                                bootstrap=a["bootstrap"] or None, seed=cfg["run"]["seed"], alpha=a["alpha"])
                r["att_gt"] = cs
                if len(cs.dropped):
                    notes.append(f"{outcome}: att_gt left out {len(cs.dropped)} unit(s) "
                                 f"({'; '.join(sorted(set(cs.dropped['reason'])))})")
                kinds = ("simple", "group", "dynamic", "calendar")
                with prog.stage(f"estimate: att_gt aggregations ({outcome})", total=len(kinds),
                                unit="aggregations") as task:
                    r["aggregates"] = {}
                    for k in kinds:
                        task.note(k)
                        r["aggregates"][k] = cs.aggregate(k)
                        task.advance()
                if a["honest_did"]:
                    with prog.stage(f"estimate: honest_did, dynamic aggregation ({outcome})"):
                        _honest(a, r, "dynamic", r["aggregates"]["dynamic"], outcome, notes)
            if a["by"] and "att_gt" in a["estimators"]:
                from .estimate.cs_core import att_gt

                with prog.stage(f"estimate: att_gt by {a['by']} ({outcome})"):
                    r["by"] = att_gt(d.assign(**{a["by"]: d["firm_id"].map(_subgroups(a["by"], data))}), by=a["by"],
                                     outcome=outcome, unit="firm_id", time="year", cohort="cohort", covariates=cov,
                                     control_group=a["control_group"], method=a["method"],
                                     anticipation=a["anticipation"], base_period=a["base_period"], alpha=a["alpha"])
            if "bacon" in a["estimators"]:
                from .estimate.bacon import bacon_decomposition

                with prog.stage(f"estimate: bacon ({outcome})"):
                    r["bacon"] = bacon_decomposition(d, outcome=outcome, unit="firm_id", time="year",
                                                     cohort="cohort")
        except EstimationError as e:
            notes.append(f"{outcome}: estimation stopped: {e}")
        res[outcome] = r
        if on_outcome is not None:   # the report's figures of this outcome, drawn while the next is estimated
            on_outcome(outcome, r)
    return res


def _honest(a: dict, r: dict, key: str, fitted, outcome: str, notes: list[str]) -> None:
    """``r["honest_did"][key]``: the Rambachan–Roth sensitivity of one fitted event study; a note if impossible."""
    from .estimate.honest import honest_did

    grid = {"mbar": a["honest_mbar"] or None} if a["honest_did"] == "relative_magnitudes" else \
        {"m": a["honest_m"] or None}
    try:
        r.setdefault("honest_did", {})[key] = honest_did(fitted, method=a["honest_did"], target=a["honest_target"],
                                                         alpha=a["alpha"], **grid)
    except (EstimationError, ConfigError) as e:
        notes.append(f"{outcome}: honest_did on the {key.replace('_', ' ')} not computed: {e}")


def _strict_error(findings) -> DataError:
    return DataError(problems=[{"table": ", ".join(f.tables), "message": f"plausibility check '{f.rule}': {f.message}",
                                "hint": "correct the input, or run without --strict to write the report with "
                                        "this warning on its Headline and Data quality sheets"}
                               for f in findings])


def run(config: str | Path | dict | Config | None = None, *, out: str | Path | None = None,
        progress: bool | None = None, progress_to: Progress | None = None, strict: bool = False,
        scheduler=None) -> RunResult:
    """Run a complete analysis and write its report.

    Parameters
    ----------
    config : path to a TOML file, a dict, a Config, or None
        ``None`` runs the embedded default dataset with the default configuration.
    scheduler : str or dask.distributed Client, optional
        Where the ``[sensitivity]`` grid runs; overrides ``sensitivity.scheduler``
        (``--scheduler`` on the command line).
    out : path, optional
        The workbook (``….xlsx``) or a folder for it; default
        ``<output_dir>/<run.name>.xlsx`` relative to the config file (the working
        directory for the embedded default). Figures, regression tables and
        ``manifest.json`` go to a folder of the same name beside the workbook.
    progress : bool, optional
        Show progress on standard error (default: ``output.progress``): one line rewritten
        in place on a terminal, timestamped lines otherwise (see :mod:`finsupport.progress`).
    progress_to : Progress, optional
        A :class:`~finsupport.progress.Progress` to report to instead (another stream, a
        test's captured stream); ``progress`` is then ignored.
    strict : bool
        Make any plausibility finding (:func:`finsupport.measure.plausibility.check_plausibility`)
        a :class:`DataError`, raised before estimation and before any output is written.
        Without it the findings are warnings: in ``RunResult.findings``, on the Headline
        and Data quality sheets and in ``manifest.json``.

    Returns
    -------
    RunResult with the flows, shares, status, audit, panel, estimates, plausibility
    findings and output paths.
    """
    from .estimate.panel import add_financial_outcomes, analysis_panel
    from .estimate.reuse import shared_work
    from .report import figure_worker
    from .report.build import (
        build_report,
        early_parts,
        hand_over_effects,
        start_early_details,
        write_outputs,
    )
    from .report.detail import detail_format

    cfg = load_config(config)
    workbook, folder = output_paths(cfg, out)
    # everything knowable before the data are read is checked now, not after minutes of work
    created = check_outputs(workbook, folder)
    notes: list[str] = []
    _, why = detail_format(cfg["report"]["detail_format"])
    if why:
        notes.append(why)
    show = cfg["output"]["progress"] if progress is None else progress
    prog = progress_to if progress_to is not None else Progress(enabled=show)
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    ok = False
    # the figure process starts once the data are read and validated: its imports then overlap with
    # measurement, certification and the share tables, which keep one core busy, not with the parse
    # or validation, which use both (a data error then also starts no process)
    worker: list = []

    def start_figures() -> None:
        if cfg["output"]["figures"]:
            worker.append(figure_worker.start())

    figures = None
    beside = ThreadPoolExecutor(max_workers=1)   # detail files written while the run estimates
    early: dict = {}
    try:
        result = _prepare(cfg, prog, notes, after_load=start_figures)
        figures = worker[0] if worker else None
        if strict and result.findings:
            raise _strict_error(result.findings)
        early = start_early_details(result, folder, beside)
        # the descriptive sheets now, their figures drawn by the figure process while the run estimates
        with prog.stage("report: descriptive sheets"):
            parts = early_parts(result, folder=folder, figures=figures)
        if result.status is not None and cfg["analysis"]["enabled"]:
            with prog.stage("analysis panel"):
                result.panel = add_financial_outcomes(
                    analysis_panel(result.data, result.flows, tier=cfg["sample"]["tier"], status=result.status),
                    result.data,
                    cfg["analysis"]["outcomes"])
            # the outcomes share the work that depends only on the panel (codes, demeaned designs, …)
            with shared_work():
                result.estimates = _estimate(cfg, result.panel, result.data, notes, prog, on_outcome=lambda o, r: (
                    hand_over_effects(result, parts, o, r, folder=folder, figures=figures)))
        if cfg["sensitivity"]["enabled"]:
            result.sensitivity = _sensitivity(cfg, result, scheduler, prog)
        result.timings, result.timing_details = prog.timings, prog.details
        with prog.stage("report: build"):
            report = build_report(result, folder=folder, figures=figures, parts=parts)
        write_outputs(result, report, workbook=workbook, folder=folder, run_time=started, progress=prog,
                      figures=figures, early=early)
        ok = True
    finally:
        figures = worker[0] if worker else None
        if figures is not None:
            figures.close()
        beside.shutdown(wait=True)
        if not ok:   # a failed run leaves no half of its outputs behind
            drawn = [folder / f"{j.stem}.{fmt}" for j in (figures.jobs if figures else [])
                     for fmt in cfg["output"]["figures"]]
            for path in [*early, *drawn]:
                path.unlink(missing_ok=True)
        prog.close()
        if not ok:
            _remove_empty(created)
    return result


def _sensitivity(cfg: Config, result: RunResult, scheduler, prog: Progress):
    """The ``[sensitivity]`` grid around the run's own options (its base specification)."""
    from .sensitivity import sensitivity
    from .sensitivity.specs import ESTIMATE_OPTIONS, ESTIMATORS

    g, a = cfg["sensitivity"], cfg["analysis"]
    estimate = g["estimate"] or None
    base_e = None
    if estimate:
        if result.status is None:
            raise ConfigError("[sensitivity.estimate] needs a designations table (certification timing)")
        effect = [e for e in a["estimators"] if e in ESTIMATORS]
        base_e = {k: a[k] for k in ESTIMATE_OPTIONS if k in a}
        base_e.update(estimator="att_gt" if "att_gt" in effect else (effect or ["att_gt"])[0],
                      outcome=a["outcomes"][0])
    cohorts = cfg["shares"]["headline_cohorts"] if result.status is not None else None
    return sensitivity(result.data, measure=g["measure"] or None, estimate=estimate, mode=g["mode"],
                       base={"measure": dict(cfg["measure"]), **({"estimate": base_e} if base_e else {})},
                       years=tuple(cfg["shares"]["years"]) or None, cohorts=cohorts or None,
                       tier=cfg["sample"]["tier"], seed=cfg["run"]["seed"], alpha=a["alpha"],
                       scheduler=scheduler if scheduler is not None else (g["scheduler"] or None), progress=prog)


def prepare(config: str | Path | dict | Config | None = None) -> RunResult:
    """Every stage of :func:`run` before estimation: read, validate, measure, certify, headline.

    ``finsupport validate CONFIG`` calls this, so it stops wherever the run would stop
    before estimating (missing tables or columns, no rows left after exclusions), with
    the same error, and reports the same plausibility findings. Nothing is written.
    """
    return _prepare(load_config(config), Progress(enabled=False), [])


def _prepare(cfg: Config, prog: Progress, notes: list[str], *, after_load=None) -> RunResult:
    from .certify.audit import audit_criteria
    from .certify.status import designation_status
    from .estimate.panel import check_financial_outcomes
    from .measure.flows import support_flows
    from .measure.plausibility import check_plausibility

    data = _load_data(cfg, prog, after_load=after_load)
    if cfg["analysis"]["enabled"]:
        # an unknown outcome stops the run now, not after measuring
        check_financial_outcomes(cfg["analysis"]["outcomes"], data, key="analysis.outcomes")
    with prog.stage("sample"):
        data = _restrict_sample(cfg, data)
        _check_designations(cfg, data, notes)
    with prog.stage("measure"):
        flows = support_flows(data, options=cfg.measure_options)
    why = flows.attrs.get("not_measured_why", {})
    if why:
        notes.append("not measured: " + "; ".join(f"{c} ({w})" for c, w in why.items())
                     + "; the totals and the shares leave it out")
    tier = cfg["sample"]["tier"]
    status = audit = None
    with prog.stage("certify"):
        if data.designations is not None and len(data.designations):
            status = designation_status(data, tier=tier, years=sorted(flows["year"].unique()))
            audit = audit_criteria(data, tier=tier)
        else:
            notes.append("no designations table: certification status, audit and regressions skipped")
    with prog.stage("shares"):
        headline_table, headline = _headline(cfg, flows, status)
        years = tuple(cfg["shares"]["years"]) or None
        shares = {"headline": headline_table, **_shares(flows, status, years)}
    with prog.stage("plausibility"):
        findings = check_plausibility(data, flows, headline_table, tier=tier)
    return RunResult(config=cfg, data=data, flows=flows, shares=shares, headline=headline, status=status,
                     audit=audit, notes=notes, findings=findings)
