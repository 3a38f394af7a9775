"""The specification grid: which specifications it builds, that each row is what the
measurement and estimation functions give for its options, and that the scheduler does
not change a digit."""

from __future__ import annotations

import importlib.util
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

import finsupport as fs
from finsupport.errors import ConfigError
from finsupport.sensitivity import sensitivity
from finsupport.sensitivity.specs import base_estimate, base_measure, build_specs, derive_seed

HAVE_DISTRIBUTED = importlib.util.find_spec("distributed") is not None

MEASURE = {"subsidy_basis": ["received", "cvd"], "equity_basis": ["gross", "grant_equivalent"],
           "benchmark": ["lpr_1y", "lpr_5y"], "spread_bp": [0.0, 100.0]}
ESTIMATE = {"estimator": ["twfe", "att_gt", "imputation"], "control_group": ["never_treated", "not_yet_treated"],
            "method": ["dr", "reg"]}
HEADLINE = {"cohorts": [2019, 2020], "years": (2016, 2021)}


@pytest.fixture(scope="module")
def data():
    return fs.load_example()


def _specs(measure=None, estimate=None, mode="full", seed=1):
    return build_specs(measure=measure, estimate=estimate, mode=mode, base_measure_options=base_measure(),
                       base_estimate_options=base_estimate() if estimate else None, seed=seed)


# -- which specifications -------------------------------------------------------------

def test_full_grid_is_the_cross_product_without_options_an_estimator_does_not_use():
    specs, skipped = _specs(MEASURE, ESTIMATE)
    # 16 measurement combinations × (twfe 1 + att_gt 2 control groups × 2 methods + imputation 1) = 16 × 6:
    # TWFE and the imputation estimator use neither the control group nor the method, so each is fitted
    # once per measurement combination, not four times
    assert len(specs) == 16 * 6
    assert skipped == []
    twfe = [s for s in specs if dict(s.estimate)["estimator"] == "twfe"]
    assert len(twfe) == 16 and all("method" not in dict(s.estimate) for s in twfe)
    assert len({(s.measure, s.estimate) for s in specs}) == len(specs)


def test_one_at_a_time_varies_one_option_from_the_base():
    specs, _ = _specs(MEASURE, ESTIMATE, mode="one_at_a_time")
    # base + one other value for each of 4 measurement options + 2 other estimators
    # + the other control group (base: not_yet_treated) + the other method (base: dr)
    assert len(specs) == 1 + 4 + 2 + 1 + 1
    base = specs[0]
    assert base.varied == "base"
    for s in specs[1:]:
        diff_m = {k for (k, v), (_, b) in zip(s.measure, base.measure, strict=True) if v != b}
        if s.varied in MEASURE:
            assert diff_m == {s.varied}
            assert s.estimate == base.estimate
        else:
            assert diff_m == set()


def test_combinations_an_estimator_cannot_run_are_listed_not_dropped_silently():
    specs, skipped = _specs(None, {"estimator": ["sun_abraham"], "control_group": ["never_treated", "not_yet_treated"]})
    assert len(specs) == 1 and dict(specs[0].estimate)["control_group"] == "never_treated"
    assert len(skipped) == 1 and "not_yet_treated" in skipped[0]["reason"]


def test_varying_the_estimator_alone_uses_its_own_control_group():
    # base control group is not_yet_treated, which Sun–Abraham does not offer: the row shows never_treated
    specs, skipped = _specs(None, {"estimator": ["att_gt", "sun_abraham"]}, mode="one_at_a_time")
    sa = [dict(s.estimate) for s in specs if dict(s.estimate)["estimator"] == "sun_abraham"]
    assert sa and sa[0]["control_group"] == "never_treated" and skipped == []


@pytest.mark.parametrize("grid, words", [
    ({"subsidy_basis": ["received", "gross"]}, "sensitivity.measure.subsidy_basis = 'gross' is not allowed"),
    ({"aul": [5]}, "sensitivity.measure.aul is not an option a grid can vary"),
    ({"spread_bp": 100}, "sensitivity.measure.spread_bp must be a non-empty list"),
    ({"aul_years": [0]}, "sensitivity.measure.aul_years = 0 must be at least 1"),
])
def test_bad_measurement_options_name_the_field(grid, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(".", r"\.")):
        _specs(grid)


def test_bad_estimation_options_name_the_field():
    with pytest.raises(ConfigError, match=r"sensitivity\.estimate\.estimator = 'bacon'"):
        _specs(None, {"estimator": ["twfe", "bacon"]})
    with pytest.raises(ConfigError, match=r"sensitivity\.estimate\.outcome"):
        _specs(None, {"outcome": ["share", "not a name"]})
    # a name that could be a financials column is checked against the data when the grid runs
    with pytest.raises(ConfigError, match=r"sensitivity\.estimate\.outcome: \['profit'\] are neither"):
        fs.sensitivity(fs.load_example(), estimate={"estimator": ["twfe"], "outcome": ["share", "profit"]},
                       scheduler="sync")


def test_seeds_depend_on_the_options_not_on_the_order():
    a, _ = _specs(MEASURE, ESTIMATE, seed=7)
    rev_m = {k: list(reversed(v)) for k, v in reversed(list(MEASURE.items()))}
    rev_e = {k: list(reversed(v)) for k, v in reversed(list(ESTIMATE.items()))}
    b, _ = _specs(rev_m, rev_e, seed=7)
    assert {s.key: s.seed for s in a} == {s.key: s.seed for s in b}
    assert len({s.seed for s in a}) == len(a)
    # and on the run seed
    assert derive_seed(8, a[0].measure, a[0].estimate) != a[0].seed


# -- what each row holds ---------------------------------------------------------------

def test_measurement_rows_equal_support_share_under_their_options(data):
    res = sensitivity(data, measure=MEASURE, scheduler="sync", **HEADLINE)
    t = res.tidy()
    assert len(t) == 16 and t["is_base"].sum() == 1
    # the base specification is the run's default: the study's 13.70 % (README)
    assert t.loc[t["is_base"], "share"].iloc[0] == pytest.approx(0.1370, abs=5e-5)
    # the headline firms: first certified as Little Giants in 2019 or 2020 (other tiers are not counted)
    coh = fs.designation_status(data).groupby("firm_id")["cohort"].max()
    firms = coh.index[coh.isin([2019, 2020])]
    for _, row in t.sample(4, random_state=0).iterrows():
        opts = {k: row[k] for k in MEASURE}
        tab = fs.support_share(fs.support_flows(data, **opts), years=(2016, 2021), firms=firms).set_index("component")
        assert row["share"] == tab.loc["total", "pooled_share"]
        for c in ("subsidy", "equity", "debt"):
            assert row[f"{c}_share"] == tab.loc[c, "pooled_share"]
        assert row["n_firms"] == 44
    h = res.headline_range()
    assert h["min"] == t["share"].min() and h["max"] == t["share"].max() and h["n_specifications"] == 16
    # the README's CVD variant is one of the rows
    cvd = t[(t["subsidy_basis"] == "cvd") & (t["equity_basis"] == "gross") & (t["benchmark"] == "lpr_1y")
            & (t["spread_bp"] == 0)]
    assert cvd["share"].iloc[0] == pytest.approx(0.1064, abs=5e-5)


def test_grid_leaves_the_quality_log_alone(data):
    before = len(data.quality.to_frame())
    sensitivity(data, measure={"subsidy_basis": ["received", "cvd"]}, scheduler="sync")
    assert len(data.quality.to_frame()) == before


@pytest.fixture(scope="module")
def panel(data):
    return fs.analysis_panel(data, fs.support_flows(data))


def test_effect_rows_equal_the_estimators(data, panel):
    res = sensitivity(data, estimate={"estimator": ["twfe", "att_gt", "event_study", "imputation"],
                                      "bootstrap": [0]}, mode="full", scheduler="sync", **HEADLINE)
    t = res.tidy().set_index("estimator")
    tw = fs.twfe_did(panel, outcome="share", treatment="treated", unit="firm_id", time="year").tidy()
    assert t.loc["twfe", "estimate"] == tw.loc[0, "estimate"]
    assert t.loc["twfe", "std_error"] == tw.loc[0, "std_error"]
    cs = fs.att_gt(panel, outcome="share", unit="firm_id", time="year", cohort="cohort",
                   control_group="not_yet_treated", method="dr").aggregate("simple")
    assert t.loc["att_gt", "estimate"] == pytest.approx(cs.overall_att, rel=1e-12)
    assert t.loc["att_gt", "std_error"] == pytest.approx(cs.overall_se, rel=1e-12)
    imp = fs.imputation_did(panel, outcome="share", unit="firm_id", time="year", cohort="cohort").tidy()
    assert t.loc["imputation", "estimate"] == imp.set_index("term").loc["ATT", "estimate"]
    # event study: equally weighted mean of e=0..3 (the window's ≥4 bin is excluded), SE = sqrt(w'Vw)
    es = fs.event_study(panel, outcome="share", unit="firm_id", time="year", cohort="cohort", window=(-4, 4))
    terms = ["e=0", "e=1", "e=2", "e=3"]
    w = np.full(4, 0.25)
    assert t.loc["event_study", "estimate"] == pytest.approx(float(w @ es.params[terms]), rel=1e-12)
    assert t.loc["event_study", "std_error"] == pytest.approx(
        float(np.sqrt(w @ es.cov.loc[terms, terms].to_numpy() @ w)), rel=1e-12)
    assert t.loc["event_study", "effect_term"] == "mean of e=0…e=3"
    assert (t["error"] == "").all()
    assert res.effect_range()["n_estimated"] == 4


def test_a_specification_that_cannot_be_estimated_says_why(data):
    # a sample of never-certified firms has no treated observation: each row carries the
    # estimator's own error instead of a number, and the summary says so
    never = sorted(set(data.firms["firm_id"]) - set(data.designations["firm_id"]))[:60]
    res = sensitivity(data.subset(firms=never), estimate={"estimator": ["twfe", "att_gt"]}, scheduler="sync")
    t = res.tidy()
    assert len(t) == 2 and t["estimate"].isna().all()
    assert t["error"].str.startswith("EstimationError: no treated").all()
    assert "all 2 specifications failed" in res.summary()
    assert res.effect_range()["n_failed"] == 2


def test_unknown_base_section_and_conflicting_firms_are_errors(data):
    with pytest.raises(ConfigError, match="base has unknown section"):
        sensitivity(data, measure=MEASURE, base={"measures": {}}, scheduler="sync")
    with pytest.raises(ConfigError, match="firms or cohorts"):
        sensitivity(data, measure=MEASURE, firms=["1"], cohorts=[2019], scheduler="sync")
    with pytest.raises(ConfigError, match="scheduler = 'threads'"):
        sensitivity(data, measure=MEASURE, scheduler="threads")


def test_specification_curve_draws_every_specification(data):
    res = sensitivity(data, measure={"subsidy_basis": ["received", "cvd"]},
                      estimate={"estimator": ["twfe", "att_gt"], "bootstrap": [0]}, scheduler="sync", **HEADLINE)
    fig = res.plot()
    top = fig.axes[0]
    assert len(top.lines[0].get_xdata()) + len(top.lines[-1].get_xdata()) >= len(res.tidy()) - 1
    labels = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert "subsidy basis = cvd" in labels and "estimator = twfe" in labels
    assert not any(label.endswith("= nan") for label in labels)


# -- schedulers ---------------------------------------------------------------------------

GRID = {"measure": MEASURE, "estimate": {"estimator": ["twfe", "att_gt", "sun_abraham"],
                                         "control_group": ["never_treated", "not_yet_treated"],
                                         "method": ["dr", "reg"]}}


@pytest.mark.skipif(not HAVE_DISTRIBUTED, reason="needs the [dask] extra")
def test_same_table_under_sync_and_a_local_dask_cluster(data):
    # at least 4 measurement and 3 estimation options (the check), one at a time and in full
    a = sensitivity(data, **GRID, mode="one_at_a_time", scheduler="sync", **HEADLINE)
    b = sensitivity(data, **GRID, mode="one_at_a_time", scheduler="local", **HEADLINE)
    assert "dask local cluster" in b.scheduler
    pd.testing.assert_frame_equal(a.tidy(), b.tidy())
    assert len(a.tidy()) == 1 + 4 + 2 + 1 + 1


def test_seeded_bootstrap_rows_do_not_depend_on_grid_order(data):
    grid = {"estimator": ["att_gt"], "method": ["dr", "reg"], "bootstrap": [199]}
    a = sensitivity(data, estimate=grid, scheduler="sync").tidy().set_index("spec")
    rev = {k: list(reversed(v)) for k, v in grid.items()}
    b = sensitivity(data, estimate=rev, scheduler="sync").tidy().set_index("spec")
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index())
    # a bootstrapped interval is not the analytic one
    assert set(a["se_method"]) == {next(iter(set(a["se_method"])))}


def test_config_section_is_validated_with_field_names():
    with pytest.raises(ConfigError, match=r"sensitivity\.measure\.benchmark = 'lpr_10y'"):
        fs.load_config({"sensitivity": {"measure": {"benchmark": ["lpr_10y"]}}})
    with pytest.raises(ConfigError, match=r"sensitivity\.scheduler = 'threads'"):
        fs.load_config({"sensitivity": {"scheduler": "threads"}})
    with pytest.raises(ConfigError, match=r"sensitivity\.estimate\.method must be a non-empty list"):
        fs.load_config({"sensitivity": {"estimate": {"method": "dr"}}})


def test_the_default_run_carries_a_measurement_grid(tmp_path):
    res = fs.run(None, out=tmp_path / "r.xlsx", progress=False)
    g = res.sensitivity
    assert g is not None and g.scheduler.startswith("sync")
    t = g.tidy()
    assert len(t) == 3 * 2 * 2 * 2
    assert t.loc[t["is_base"], "share"].iloc[0] == pytest.approx(res.headline["pooled_share"], rel=1e-12)
    assert g.varied == ["subsidy_basis", "equity_basis", "benchmark", "spread_bp"]
    assert set(itertools.chain(t["subsidy_basis"])) == {"received", "cvd", "straight_line"}
    # the report: a Sensitivity sheet with its native curve, the figure, the headline's range, the manifest
    wb = load_workbook(res.report_path)
    ws = wb["Sensitivity"]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[0] == "Rank")
    table = pd.DataFrame(rows[head + 1:], columns=rows[head]).dropna(how="all", axis=0)
    assert len(table) == 24 and list(table["Rank"]) == list(range(1, 25))
    shares = table["Pooled support share (% of revenue)"].astype(float)
    assert shares.is_monotonic_increasing and shares.min() == pytest.approx(t["share"].min(), rel=1e-12)
    chosen = table["Chosen specification (% of revenue)"].dropna()
    assert len(chosen) == 1 and chosen.iloc[0] == pytest.approx(res.headline["pooled_share"], rel=1e-12)
    (chart,) = ws._charts
    assert [s.marker.symbol for s in chart.series] == ["circle", "diamond"]
    assert res.outputs["specification_curve_png"].stat().st_size > 0 and res.outputs["specification_curve_pdf"].exists()
    headline = {r[0]: r[1] for r in wb["Headline"].iter_rows(values_only=True) if r[0]}
    key = next(k for k in headline if str(k).startswith("Range across the specification grid (24 specifications"))
    assert f"{t['share'].min():.2%} to {t['share'].max():.2%}" in headline[key]
    manifest = json.loads(res.outputs["manifest"].read_text())
    assert manifest["sensitivity"]["scheduler"] == "sync (this process)"
    assert manifest["sensitivity"]["n_specifications"] == 24


def test_an_estimation_grid_from_the_command_line(tmp_path):
    # four measurement and three estimation options, one at a time, from a config file and the command line
    from finsupport.cli import main

    cfg = tmp_path / "grid.toml"
    cfg.write_text("""
[analysis]
bootstrap = 0
estimators = ["twfe", "att_gt"]
[sensitivity]
mode = "one_at_a_time"
scheduler = "local"
[sensitivity.measure]
subsidy_basis = ["received", "cvd"]
equity_basis = ["gross", "grant_equivalent"]
benchmark = ["lpr_1y", "lpr_5y"]
spread_bp = [0.0, 100.0]
[sensitivity.estimate]
estimator = ["att_gt", "twfe", "imputation"]
control_group = ["never_treated", "not_yet_treated"]
method = ["dr", "reg"]
""", encoding="utf-8")
    out = tmp_path / "out" / "grid.xlsx"
    assert main(["run", str(cfg), "--out", str(out), "--scheduler", "sync", "--quiet"]) == 0
    manifest = json.loads((out.parent / "grid" / "manifest.json").read_text())
    assert manifest["sensitivity"]["scheduler"] == "sync (this process)"   # --scheduler overrides the file
    ws = load_workbook(out)["Sensitivity"]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if r[0] == "Rank")
    table = pd.DataFrame(rows[head + 1:], columns=rows[head]).dropna(how="all", axis=0)
    # 1 base + 4 measurement variations + 2 estimators + 1 control group + 1 method
    assert len(table) == 9
    est = table["Estimate (percentage points)"].astype(float)
    assert est.is_monotonic_increasing
    # effects stored in percentage points: the base row equals the run's simple ATT × 100
    py = fs.sensitivity(fs.load_example(), measure={"subsidy_basis": ["received"]},
                        estimate={"estimator": ["att_gt"], "bootstrap": [0]}, cohorts=[2019, 2020],
                        years=(2016, 2021), scheduler="sync").tidy()
    base = table.loc[table["Base specification"].astype(bool)]
    assert float(base["Estimate (percentage points)"].iloc[0]) == pytest.approx(py["estimate"].iloc[0] * 100, rel=1e-9)
    (chart,) = ws._charts
    assert len(chart.series) == 4   # estimates, the two interval lines, the chosen specification


def test_a_financials_column_as_outcome_is_estimated():
    res = fs.sensitivity(fs.load_example(), measure={"spread_bp": [0.0]},
                         estimate={"estimator": ["twfe"], "outcome": ["net_profit"]}, scheduler="sync")
    row = res.tidy().iloc[0]
    assert row["outcome"] == "net_profit" and not row["error"] and np.isfinite(row["estimate"])
