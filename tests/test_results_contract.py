"""One result contract for every estimator: accessors, tidy schema, tests, tables, plots, deprecations."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from finsupport.errors import EstimationError
from finsupport.estimate.cs_core import att_gt
from finsupport.estimate.event_study import event_study
from finsupport.estimate.imputation import imputation_did
from finsupport.estimate.results import (
    TIDY_COLUMNS,
    EstimateResult,
    FinsupportDeprecationWarning,
    Inference,
    TestResult,
    regression_table,
    wald_test,
)
from finsupport.estimate.sun_abraham import sun_abraham
from finsupport.estimate.twfe import twfe_did
from finsupport.report.tables import regression_layout, to_latex, to_markdown

MPDTA = pd.read_csv(Path(__file__).parent / "fixtures" / "did_r" / "mpdta.csv")


def panel(n_units=120, n_periods=8, seed=0):
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    year = np.tile(np.arange(2010, 2010 + n_periods), n_units)
    cohort = np.repeat(rng.choice([0, 2013, 2015], n_units), n_periods)
    treated = ((cohort > 0) & (year >= cohort)).astype(int)
    y = 0.5 * treated + rng.normal(size=n_units)[unit] + 0.1 * (year - 2010) + rng.normal(size=len(unit))
    return pd.DataFrame({"firm": unit, "year": year, "cohort": cohort, "d": treated, "y": y,
                         "x": rng.normal(size=len(unit))})


DF = panel()


def fits():
    cs = att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    return {
        "twfe": twfe_did(DF, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"]),
        "twfe_classical": twfe_did(DF, outcome="y", treatment="d", unit="firm", time="year", cluster=None),
        "event_study": event_study(DF, outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3)),
        "att_gt": cs,
        "simple": cs.aggregate("simple"),
        "dynamic": cs.aggregate("dynamic"),
        "sun_abraham": sun_abraham(DF, outcome="y", unit="firm", time="year", cohort="cohort"),
        "imputation": imputation_did(DF, outcome="y", unit="firm", time="year", cohort="cohort", pretrends=2),
    }


FITS = fits()


@pytest.mark.parametrize("name", list(FITS))
def test_every_result_has_the_same_accessors(name):
    res = FITS[name]
    assert isinstance(res, EstimateResult) and isinstance(res.inference, Inference)
    p, se, pv = res.params, res.std_errors, res.pvalues
    assert list(se.index) == list(p.index) == list(pv.index) and len(p)
    assert list(res.cov.index) == list(p.index)
    assert res.nobs > 0
    ci = res.conf_int(0.9)
    assert list(ci.columns) == ["lower", "upper"] and (ci["lower"] <= p).all() and (p <= ci["upper"]).all()
    tidy = res.tidy()
    assert tuple(tidy.columns[:7]) == TIDY_COLUMNS
    est = tidy.dropna(subset=["std_error"]).set_index("term")
    np.testing.assert_allclose(est.loc[p.index, "estimate"], p, rtol=0, atol=0)
    np.testing.assert_allclose(est.loc[p.index, "statistic"], p / se, rtol=1e-12)
    np.testing.assert_allclose(est.loc[p.index, "p_value"], pv, rtol=1e-12)
    assert "<table" in res._repr_html_() and res.inference.describe() in res.summary()


def test_standard_errors_equal_the_root_of_the_covariance_diagonal():
    for name in ("twfe", "event_study", "att_gt", "dynamic", "sun_abraham", "imputation"):
        res = FITS[name]
        np.testing.assert_allclose(np.sqrt(np.diag(res.cov)), res.std_errors, rtol=1e-10)


def test_normal_p_values_and_intervals_for_influence_function_estimators():
    res = FITS["simple"]
    z = res.params / res.std_errors
    np.testing.assert_allclose(res.pvalues, 2 * stats.norm.sf(np.abs(z)), rtol=1e-12)
    ci = res.conf_int(0.95)
    np.testing.assert_allclose(ci["upper"] - res.params, 1.959963984540054 * res.std_errors, rtol=1e-12)


def test_extras_per_estimator():
    es = FITS["event_study"].tidy()
    assert {"event_time", "binned", "reference", "n_obs"} <= set(es.columns)
    ref = es[es["reference"]]
    assert ref["event_time"].tolist() == [-1] and ref["estimate"].item() == 0 and np.isnan(ref["std_error"].item())
    cs = FITS["att_gt"].tidy()
    assert {"cohort", "time", "post", "base", "n_treated", "n_control"} <= set(cs.columns)
    assert cs["term"].iloc[0] == "ATT(2004,2004)"
    dyn = FITS["dynamic"].tidy()
    assert dyn["term"].iloc[0] == "overall" and dyn["overall"].iloc[0] and "e=0" in set(dyn["term"])
    assert dyn.loc[dyn["term"] == "e=-3", "event_time"].item() == -3
    assert FITS["twfe"].tidy()["term"].tolist() == ["d", "x"]


def test_uniform_bands_only_where_bootstrap_draws_exist():
    with pytest.raises(EstimationError, match="uniform confidence band needs bootstrap draws"):
        FITS["twfe"].conf_int(kind="uniform")
    with pytest.raises(EstimationError, match="kind"):
        FITS["twfe"].conf_int(kind="simultaneous")
    boot = att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                  bootstrap=499, seed=3)
    uni, pw = boot.conf_int(kind="uniform"), boot.conf_int()
    assert ((uni["upper"] - uni["lower"]) > (pw["upper"] - pw["lower"])).all()
    np.testing.assert_allclose(uni["upper"] - boot.params, boot.crit_value * boot.std_errors)
    assert boot.inference.method == "multiplier_bootstrap" and "499 draws" in boot.inference.describe()
    dyn = boot.aggregate("dynamic")
    u = dyn.conf_int(kind="uniform")
    assert (u.loc["overall", "upper"] - dyn.overall_att) == pytest.approx(1.959964 * dyn.overall_se, rel=1e-5)
    with pytest.raises(EstimationError, match="refit with alpha"):
        boot.conf_int(0.9, kind="uniform")


def test_one_test_type_never_a_dict_of_nans():
    pt = FITS["event_study"].pretrend_test()
    cs = FITS["att_gt"].pretest()
    assert isinstance(pt, TestResult) and isinstance(cs, TestResult)
    assert pt.kind == "F" and cs.kind == "chi2" and cs.df == 5
    assert pt.chi2 == pytest.approx(pt.statistic * pt.df[0])
    with pytest.warns(FinsupportDeprecationWarning):
        assert cs["pvalue"] == cs.pvalue
    with pytest.raises(AttributeError):
        _ = cs.f
    # no pre-treatment cell: the test raises and says why
    universal = att_gt(MPDTA[MPDTA["first.treat"].isin([0, 2004])], outcome="lemp", unit="countyreal",
                       time="year", cohort="first.treat")
    with pytest.raises(EstimationError, match="no pre-treatment cell"):
        universal.pretest()
    assert "not available" in universal.summary()
    with pytest.raises(EstimationError, match="singular"):
        wald_test(np.ones(2), np.ones((2, 2)), name="dependent")


def test_wald_test_by_hand():
    # b = (1, 2), V = diag(0.5, 2): W = 1/0.5 + 4/2 = 4; chi2(2) p = exp(-2)
    t = wald_test(np.array([1.0, 2.0]), np.diag([0.5, 2.0]), name="h")
    assert t.statistic == pytest.approx(4.0) and t.pvalue == pytest.approx(np.exp(-2.0))
    f = wald_test(np.array([1.0, 2.0]), np.diag([0.5, 2.0]), name="h", df2=30)
    assert f.statistic == pytest.approx(2.0) and f.df == (2, 30) and f.pvalue == pytest.approx(stats.f.sf(2, 2, 30))


def test_regression_table_states_the_inference_of_each_model():
    tab = regression_table(FITS["twfe"], FITS["twfe_classical"], names=["clustered", "classical"])
    inf = tab[tab["kind"] == "inference"].set_index("model")["value"]
    assert inf["clustered"] == "Clustered by firm" and inf["classical"] == "Classical"
    md = to_markdown(tab)
    assert "| Standard errors | Clustered by firm | Classical |" in md
    assert "classical: standard errors classical (homoskedastic, not clustered)" in md
    assert "clustered: standard errors clustered by firm (120 clusters), analytic" in md
    tex = to_latex(tab)
    assert "Standard errors & Clustered by firm & Classical" in tex
    # results go straight into the renderers too
    assert to_markdown([FITS["twfe"], FITS["twfe_classical"]]) == to_markdown(
        regression_table(FITS["twfe"], FITS["twfe_classical"]))
    grid = regression_layout(FITS["event_study"])
    assert grid.iloc[0, 0] == "e<=-3" and "e=-1" not in set(grid.iloc[:, 0])  # reference row left out


def test_deprecated_names_warn_and_still_work():
    tab = regression_table(FITS["twfe"])
    with pytest.warns(FinsupportDeprecationWarning, match="use column 'estimate'"):
        old = tab["coef"]
    np.testing.assert_array_equal(old.to_numpy(), tab["estimate"].to_numpy())
    for res, cols in ((FITS["twfe"], ["term", "coef", "se", "t", "p", "ci_lower", "ci_upper"]),
                      (FITS["event_study"], None), (FITS["att_gt"], None), (FITS["dynamic"], None)):
        with pytest.warns(FinsupportDeprecationWarning):
            t = res.table
        if cols:
            assert list(t.columns) == cols


def test_plots_draw_on_the_given_axes_without_pyplot_state():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.pyplot import get_fignums

    for name, res in FITS.items():
        fig = Figure()
        ax = fig.add_subplot(1, 1, 1)
        out = res.plot(ax=ax)
        assert out is fig, name
        assert ax.has_data(), name
    assert FITS["att_gt"].plot().axes and len(FITS["att_gt"].plot().axes) == 3
    assert get_fignums() == []
