"""Callaway–Sant'Anna ATT(g,t): parity with R `did` 2.5.1 on mpdta (fixtures/did_r/README.md)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finsupport.errors import DataError, EstimationError
from finsupport.estimate.cs_core import att_gt

FIX = Path(__file__).parent / "fixtures" / "did_r"
MPDTA = pd.read_csv(FIX / "mpdta.csv")
REF = pd.read_csv(FIX / "ref_attgt.csv")
AGG = pd.read_csv(FIX / "ref_aggte.csv")
SCENARIOS = {"mpdta_nev_dr": "never_treated", "mpdta_nyt_dr": "not_yet_treated"}


def _fit(control_group, **kw):
    return att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                  control_group=control_group, **kw)


@pytest.fixture(scope="module", params=list(SCENARIOS))
def scenario(request):
    return request.param, _fit(SCENARIOS[request.param])


def test_att_gt_matches_r(scenario):
    name, res = scenario
    ref = REF[REF["scenario"] == name]
    got = res.table.merge(ref, left_on=["cohort", "time"], right_on=["group", "t"], suffixes=("", "_r"))
    assert len(got) == len(ref) == 12
    np.testing.assert_allclose(got["att"], got["att_r"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["se"], got["se_r"], rtol=1e-3)


@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_r(scenario, kind):
    name, res = scenario
    ref = AGG[(AGG["scenario"] == name) & (AGG["type"] == kind)]
    agg = res.aggregate(kind)
    assert agg.overall_att == pytest.approx(ref["overall_att"].iloc[0], abs=1e-6)
    assert agg.overall_se == pytest.approx(ref["overall_se"].iloc[0], rel=1e-3)
    if kind != "simple":
        key = agg.table.columns[0]
        got = agg.table.merge(ref, left_on=key, right_on="egt")
        assert len(got) == len(ref)
        np.testing.assert_allclose(got["att"], got["att_egt"], atol=1e-6)
        np.testing.assert_allclose(got["se"], got["se_egt"], rtol=1e-3)


def test_pretest_matches_r():
    pt = _fit("never_treated").pretest()
    assert pt["statistic"] == pytest.approx(7.79124, abs=1e-5)
    assert pt["pvalue"] == pytest.approx(0.16812, abs=1e-5)
    assert pt["df"] == 5


def test_methods_agree_without_covariates():
    """With only an intercept, dr, ipw and reg are the same difference of mean changes."""
    base = _fit("never_treated", method="dr").table
    for m in ("ipw", "reg"):
        other = _fit("never_treated", method=m).table
        np.testing.assert_allclose(other["att"], base["att"], atol=1e-12)


def test_methods_with_a_covariate_are_close():
    simple = {m: _fit("never_treated", method=m, covariates=["lpop"]).aggregate("simple") for m in ("dr", "ipw", "reg")}
    atts = np.array([a.overall_att for a in simple.values()])
    assert np.ptp(atts) < 0.001 and np.all(atts < 0)
    assert all(0.009 < a.overall_se < 0.014 for a in simple.values())


def test_bootstrap_reproducible_and_close_to_analytic():
    a = _fit("never_treated", bootstrap=999, seed=11)
    b = _fit("never_treated", bootstrap=999, seed=11)
    pd.testing.assert_frame_equal(a.table, b.table)
    analytic = _fit("never_treated").table["se"].to_numpy()
    np.testing.assert_allclose(a.table["se"], analytic, rtol=0.12)
    # a uniform band is wider than the pointwise one
    assert a.crit_value > 1.96
    c = _fit("never_treated", bootstrap=999, seed=12)
    assert not np.allclose(c.table["se"], a.table["se"])
    dyn = a.aggregate("dynamic")
    assert dyn.overall_se == pytest.approx(_fit("never_treated").aggregate("dynamic").overall_se, rel=0.12)


def test_clustering_by_a_coarser_column():
    m = MPDTA.assign(state=MPDTA["countyreal"] // 1000)
    res = att_gt(m, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", cluster="state")
    plain = _fit("never_treated")
    np.testing.assert_allclose(res.table["att"], plain.table["att"])
    assert not np.allclose(res.table["se"], plain.table["se"])
    # clustering by the unit itself reproduces the unclustered standard errors
    by_unit = att_gt(MPDTA.assign(c=MPDTA["countyreal"]), outcome="lemp", unit="countyreal", time="year",
                     cohort="first.treat", cluster="c")
    np.testing.assert_allclose(by_unit.table["se"], plain.table["se"], rtol=1e-12)


def test_unbalanced_units_are_dropped_and_listed():
    m = MPDTA.drop(index=MPDTA.index[(MPDTA["countyreal"] == 8001) & (MPDTA["year"] == 2005)])
    res = att_gt(m, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    assert res.dropped["unit"].tolist() == [8001]
    assert "balanced" in res.dropped["reason"].iloc[0]
    assert res.n_units == 499


def test_universal_base_period_reports_the_base_cell_as_zero():
    res = _fit("never_treated", base_period="universal").table
    base = res[(res["cohort"] == 2006) & (res["time"] == 2005)]
    assert base["att"].item() == 0 and np.isnan(base["se"].item())
    # post-treatment cells do not depend on the base-period choice
    varying = _fit("never_treated").table
    post = res["post"].to_numpy()
    np.testing.assert_allclose(res.loc[post, "att"].to_numpy(), varying.loc[varying["post"], "att"].to_numpy())


def test_errors_are_the_projects():
    with pytest.raises(DataError, match="panel.lemp_x"):
        att_gt(MPDTA, outcome="lemp_x", unit="countyreal", time="year", cohort="first.treat")
    with pytest.raises(EstimationError, match="never-treated"):
        att_gt(MPDTA[MPDTA["first.treat"] > 0], outcome="lemp", unit="countyreal", time="year",
               cohort="first.treat")
    with pytest.raises(EstimationError, match="no treated units"):
        att_gt(MPDTA.assign(g=0), outcome="lemp", unit="countyreal", time="year", cohort="g")
    with pytest.raises(EstimationError, match="aggregation"):
        _fit("never_treated").aggregate("weekly")


def test_summary_and_plot():
    res = _fit("never_treated")
    assert "Pre-test" in res.summary()
    fig = res.plot()
    assert len(fig.axes) == 3


def test_unbalanced_option_keeps_units_cell_by_cell():
    # on a balanced panel the two options coincide
    a = _fit("never_treated", panel="unbalanced")
    pd.testing.assert_frame_equal(a.table, _fit("never_treated").table)
    # drop county 8001 (cohort 2007) in 2005: it leaves only the cells that use 2005
    m = MPDTA.drop(index=MPDTA.index[(MPDTA["countyreal"] == 8001) & (MPDTA["year"] == 2005)])
    res = att_gt(m, outcome="lemp", unit="countyreal", time="year", cohort="first.treat", panel="unbalanced")
    assert res.n_units == 500 and res.dropped.empty
    t = res.table.set_index(["cohort", "time"])
    full = _fit("never_treated").table.set_index(["cohort", "time"])
    uses_2005 = (t["base"] == 2005) | (t.index.get_level_values("time") == 2005)
    assert (t.loc[uses_2005 & (t.index.get_level_values("cohort") == 2007), "n_treated"]
            == full.loc[uses_2005 & (full.index.get_level_values("cohort") == 2007), "n_treated"] - 1).all()
    same = ~uses_2005
    np.testing.assert_allclose(t.loc[same, "att"], full.loc[same, "att"], atol=1e-12)
    with pytest.raises(EstimationError, match="panel"):
        _fit("never_treated", panel="ragged")
