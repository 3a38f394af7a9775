"""Effects by subgroup with an equality test; the run config's choice of estimators and inference."""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import finsupport as fs
from finsupport.errors import ConfigError, DataError
from finsupport.estimate.cs_core import att_gt
from finsupport.estimate.subgroups import SubgroupResult

MPDTA = pd.read_csv(Path(__file__).parent / "fixtures" / "did_r" / "mpdta.csv")
MPDTA["size"] = np.where(MPDTA.groupby("countyreal")["lpop"].transform("first") > 3.5, "large", "small")


def _by(df=MPDTA, **kw):
    return att_gt(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", by="size", **kw)


def test_subgroups_share_controls_and_the_equality_test_is_the_wald_test():
    res = _by()
    assert isinstance(res, SubgroupResult) and list(res.params.index) == ["size=large", "size=small"]
    # each subgroup's own standard error is the diagonal of the stacked covariance
    np.testing.assert_allclose(res.std_errors, [a.overall_se for a in res.aggregates.values()], rtol=1e-12)
    # each subgroup equals att_gt on its treated firms plus every never-treated firm
    small = MPDTA[(MPDTA["first.treat"] == 0) | (MPDTA["size"] == "small")]
    alone = att_gt(small, outcome="lemp", unit="countyreal", time="year", cohort="first.treat").aggregate("simple")
    assert res.params["size=small"] == pytest.approx(alone.overall_att, abs=1e-12)
    # two groups: W = (θ2 − θ1)² / (V11 + V22 − 2 V12), chi2(1)
    V, th = res.cov.to_numpy(), res.params.to_numpy()
    t = res.equality_test()
    assert t.statistic == pytest.approx((th[1] - th[0]) ** 2 / (V[0, 0] + V[1, 1] - 2 * V[0, 1]), rel=1e-12)
    assert t.kind == "chi2" and t.df == 1
    # the shared never-treated controls make the two estimates positively correlated
    assert V[0, 1] > 0
    assert res.tidy()["n_treated"].sum() == (MPDTA.drop_duplicates("countyreal")["first.treat"] > 0).sum()


def test_a_planted_difference_is_detected():
    df = MPDTA.copy()
    post = (df["first.treat"] > 0) & (df["year"] >= df["first.treat"]) & (df["size"] == "small")
    df.loc[post, "lemp"] += 0.2
    res = _by(df)
    base = _by()
    assert res.params["size=small"] - base.params["size=small"] == pytest.approx(0.2, abs=1e-10)
    assert res.equality_test().pvalue < 1e-6 and base.equality_test().pvalue > 0.01


def test_subgroup_errors():
    with pytest.raises(DataError, match="nosuch"):
        att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", by="nosuch")
    varying = MPDTA.assign(size=np.where(MPDTA["year"] == 2004, "large", MPDTA["size"]))
    with pytest.raises(DataError, match="changes within"):
        _by(varying)


def test_run_config_chooses_estimators_and_wild_inference(tmp_path):
    folder = fs.write_example(tmp_path / "data")
    raw = tomllib.loads((folder / "config.toml").read_text(encoding="utf-8"))
    raw["analysis"].update(estimators=["twfe", "event_study", "att_gt", "sun_abraham", "imputation"],
                           outcomes=["share"], bootstrap=99, inference="wild", wild_weights="webb", by="criteria")
    raw["output"].update(figures=[], tables=["md"], progress=False)
    res = fs.run(fs.load_config(raw, base_dir=folder), out=tmp_path / "out" / "r.xlsx", progress=False)
    est = res.estimates["share"]
    assert isinstance(est["sun_abraham"], fs.SunAbrahamResult) and isinstance(est["imputation"], fs.ImputationResult)
    assert est["twfe"].inference.method == "wild_bootstrap" and est["twfe"].inference.weights == "webb"
    from openpyxl import load_workbook

    ws = load_workbook(res.report_path, read_only=True)["Regression tables"]
    text = [str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    for label in ("Sun–Abraham, ATT over certified firm-years", "Imputation (Borusyak–Jaravel–Spiess), ATT",
                  "Callaway–Sant'Anna, simple ATT", "TWFE (certified × post)"):
        assert label in text
    assert any("wild cluster bootstrap (WCR, webb weights" in t for t in text)
    assert "Standard errors" in text and "Clustered by firm_id; wild bootstrap (WCR)" in text
    # effects by the selection-criteria audit, with the equality test, in the workbook
    sub = est["by"]
    assert set(sub.params.index) == {"criteria=meets every criterion", "criteria=misses a criterion"}
    assert any(t.startswith("Callaway–Sant'Anna simple ATT by criteria (support share of revenue)") and "Equality" in t
               for t in text)
    treated = res.audit.by_firm()
    in_panel = set(res.panel.loc[res.panel["cohort"] > 0, "firm_id"])
    fails = treated[treated["firm_id"].isin(in_panel) & (treated["passes_all"] == False)]  # noqa: E712
    assert sub.tidy().set_index("subgroup").loc["misses a criterion", "n_treated"] <= len(fails)
    with pytest.raises(ConfigError, match="analysis.inference"):
        fs.load_config({**raw, "analysis": {**raw["analysis"], "inference": "jackknife"}}, base_dir=folder)


@pytest.mark.parametrize("estimator", ["sun_abraham", "imputation"])
def test_by_on_the_new_estimators(estimator):
    from finsupport.estimate.imputation import imputation_did
    from finsupport.estimate.sun_abraham import sun_abraham

    fn = sun_abraham if estimator == "sun_abraham" else imputation_did
    kw = dict(outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    res = fn(MPDTA, by="size", **kw)
    plain = fn(MPDTA, **kw)
    # splitting the treated firms leaves the pooled ATT unchanged (never-treated controls, balanced panel)
    assert res.params["ATT"] == pytest.approx(plain.params["ATT"], abs=1e-12)
    for s in ("large", "small"):
        alone = fn(MPDTA[(MPDTA["first.treat"] == 0) | (MPDTA["size"] == s)], **kw)
        if estimator == "sun_abraham":  # the saturated regression: a subgroup's cells do not depend on the other's
            assert res.params[f"size={s}"] == pytest.approx(alone.params["ATT"], abs=1e-12)
    if estimator == "imputation":  # one step-1 fit for both subgroups: the ATT is their weighted mean
        n = res.n_obs_by_term
        pooled = sum(res.params[t] * n[t] for t in res.by_terms) / sum(n[t] for t in res.by_terms)
        assert pooled == pytest.approx(res.params["ATT"], abs=1e-12)
    t = res.equality_test()
    V = res.cov.loc[res.by_terms, res.by_terms].to_numpy()
    d = res.params["size=small"] - res.params["size=large"]
    assert t.statistic == pytest.approx(d ** 2 / (V[0, 0] + V[1, 1] - 2 * V[0, 1]), rel=1e-10)
    with pytest.raises(fs.EstimationError, match="subgroups"):
        plain.equality_test()


def test_outcomes_beyond_support():
    from finsupport.estimate.panel import analysis_panel

    data = fs.load_example()
    fin = data.financials.copy()
    firm = fin["firm_id"].iloc[0]
    # drop one year of one firm: the next year has no growth (no previous year), others are r_t / r_{t−1} − 1
    gap_year = int(fin.loc[fin["firm_id"] == firm, "year"].sort_values().iloc[2])
    data.financials = fin[~((fin["firm_id"] == firm) & (fin["year"] == gap_year))]
    p = analysis_panel(data).set_index(["firm_id", "year"])
    rev = data.financials.set_index(["firm_id", "year"])["revenue"]
    y0 = int(rev.loc[firm].index.min())
    assert p.loc[(firm, y0 + 1), "revenue_growth"] == pytest.approx(rev.loc[(firm, y0 + 1)] / rev.loc[(firm, y0)] - 1)
    assert np.isnan(p.loc[(firm, y0), "revenue_growth"]) and np.isnan(p.loc[(firm, gap_year + 1), "revenue_growth"])
    assert (p["patents"] == data.financials.set_index(["firm_id", "year"])["invention_patents"]
            .reindex(p.index)).all()
    cfg = fs.load_config({"analysis": {"outcomes": ["revenue_growth", "patents"]}})
    assert cfg["analysis"]["outcomes"] == ["revenue_growth", "patents"]


def test_run_with_a_financials_column_as_outcome_and_honest_did(tmp_path):
    """An outcome that is a financials column is estimated; an unknown one stops the run before measuring;
    honest_did is computed for the event study and the dynamic aggregation and stored for the report."""
    folder = fs.write_example(tmp_path / "data")
    raw = tomllib.loads((folder / "config.toml").read_text(encoding="utf-8"))
    raw["analysis"].update(estimators=["event_study", "att_gt"], outcomes=["share", "total_assets"], bootstrap=0,
                           base_period="universal", honest_did="relative_magnitudes", honest_mbar=[0.0, 1.0])
    raw["output"].update(figures=[], tables=["md"], progress=False)
    res = fs.run(fs.load_config(raw, base_dir=folder), out=tmp_path / "out" / "r.xlsx", progress=False)
    fin = res.data.financials.set_index(["firm_id", "year"])["total_assets"]
    p = res.panel.set_index(["firm_id", "year"])
    np.testing.assert_allclose(p["total_assets"], fin.reindex(p.index).astype(float))
    assert res.estimates["total_assets"]["event_study"].outcome == "total_assets"
    hd = res.estimates["share"]["honest_did"]
    notes = " ".join(res.notes)
    for key in ("event_study", "dynamic"):
        if key in hd:
            t = hd[key].tidy()
            assert t["term"].tolist() == ["original", "Mbar=0", "Mbar=1"]
        else:  # a panel too short for the window is said, never silently skipped
            assert f"honest_did on the {key.replace('_', ' ')} not computed" in notes
    assert hd, notes
    raw["analysis"]["outcomes"] = ["share", "profit_margin"]
    with pytest.raises(ConfigError, match=r"profit_margin.*columns of the financials table"):
        fs.run(fs.load_config(raw, base_dir=folder), out=tmp_path / "out2" / "r.xlsx", progress=False)
