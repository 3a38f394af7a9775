"""Event study: recovery of known dynamic effects, binning, the pre-trend test, plot, errors."""

import io

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from finsupport.errors import ConfigError, DataError, EstimationError
from finsupport.estimate.event_study import EventStudyResult, PretrendTest, event_study

# true effect by event time; constant beyond the window ends so that the bins are correct
EFFECTS = {0: 1.0, 1: 1.5, 2: 2.0, 3: 2.5, 4: 3.0}


def true_effect(e):
    if np.isnan(e) or e < 0:
        return 0.0
    return EFFECTS[min(int(e), 4)]


def simulate(n_units=400, n_periods=12, seed=0, pretrend=0.0, noise=1.0):
    """Staggered panel, homogeneous dynamic effects EFFECTS; ``pretrend`` adds slope·e before
    treatment for treated units (a violation of parallel trends)."""
    rng = np.random.default_rng(seed)
    years = np.arange(2008, 2008 + n_periods)
    df = pd.DataFrame({"firm": np.repeat(np.arange(n_units), n_periods), "year": np.tile(years, n_units)})
    cohort = rng.choice([0, 2012, 2013, 2015, 2016], n_units)
    df["cohort"] = np.repeat(cohort, n_periods)
    e = np.where(df["cohort"] > 0, df["year"] - df["cohort"], np.nan)
    effect = np.array([true_effect(v) for v in e])
    pre = np.where((df["cohort"] > 0) & (e < 0), pretrend * e, 0.0)
    df["y"] = (np.repeat(rng.normal(size=n_units), n_periods) + 0.3 * (df["year"] - 2008)
               + effect + pre + noise * rng.normal(size=len(df)))
    df["x"] = rng.normal(size=len(df))
    return df


def test_recovers_known_dynamic_effects():
    df = simulate(noise=0.5)
    res = event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-4, 4))
    assert isinstance(res, EventStudyResult)
    tab = res.table.set_index("event_time")
    for e in range(-4, 5):
        if e == -1:
            continue
        truth = true_effect(e)
        assert abs(tab.loc[e, "coef"] - truth) < 4 * tab.loc[e, "se"], (e, tab.loc[e, "coef"], truth)
        assert abs(tab.loc[e, "coef"] - truth) < 0.15
        assert tab.loc[e, "ci_lower"] < tab.loc[e, "coef"] < tab.loc[e, "ci_upper"]


def test_table_layout_reference_and_bins():
    df = simulate(n_units=120, seed=1)
    res = event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 2))
    tab = res.table
    assert list(tab.columns) == ["event_time", "term", "coef", "se", "t", "p", "ci_lower", "ci_upper",
                                 "binned", "reference", "n_obs"]
    assert list(tab["event_time"]) == [-3, -2, -1, 0, 1, 2]
    assert list(tab["binned"]) == [True, False, False, False, False, True]
    ref = tab[tab["reference"]]
    assert len(ref) == 1 and ref["event_time"].item() == -1
    assert ref["coef"].item() == 0.0 and np.isnan(ref["se"].item())
    # bins count every treated observation at or beyond the end points
    e = (df["year"] - df["cohort"])[df["cohort"] > 0]
    assert tab["n_obs"].iloc[0] == (e <= -3).sum() and tab["n_obs"].iloc[-1] == (e >= 2).sum()
    assert tab["n_obs"].sum() == len(e)
    assert list(res.params.index) == ["e<=-3", "e=-2", "e=0", "e=1", "e>=2"]


def test_matches_hand_built_dummies_in_statsmodels():
    """Binning, the omitted reference and zeros for never-treated units, checked against OLS
    with explicitly constructed dummies (and cluster SEs with the documented factor)."""
    df = simulate(n_units=60, n_periods=9, seed=2)
    df.loc[df["cohort"] == 0, "cohort"] = np.nan  # missing cohort = never treated
    res = event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3),
                      covariates=["x"])
    g = df["cohort"].fillna(0)
    e = (df["year"] - g).where(g > 0).clip(-3, 3)
    names = {-3: "m3", -2: "m2", 0: "p0", 1: "p1", 2: "p2", 3: "p3"}
    for k, nm in names.items():
        df[nm] = (e == k).astype(float)
    sm = smf.ols("y ~ " + " + ".join(names.values()) + " + x + C(firm) + C(year)", df).fit(
        cov_type="cluster", cov_kwds={"groups": df["firm"]})
    n, G = len(df), df["firm"].nunique()
    tab = res.table.set_index("event_time")
    for k, nm in names.items():
        assert tab.loc[k, "coef"] == pytest.approx(sm.params[nm], abs=1e-10)
        assert (sm.bse[nm] / tab.loc[k, "se"]) ** 2 == pytest.approx(G / (G - 1) * (n - 1) / n, rel=1e-9)
    assert res.params["x"] == pytest.approx(sm.params["x"], abs=1e-10)


@pytest.mark.parametrize("seed", [11, 13])
def test_pretrend_test_rejects_planted_pretrend_only(seed):
    clean = event_study(simulate(seed=seed), outcome="y", unit="firm", time="year", cohort="cohort")
    planted = event_study(simulate(seed=seed, pretrend=0.25), outcome="y", unit="firm", time="year",
                          cohort="cohort")
    t0, t1 = clean.pretrend_test(), planted.pretrend_test()
    assert isinstance(t0, PretrendTest)
    assert t0.terms == ("e<=-4", "e=-3", "e=-2")
    assert t0.pvalue > 0.10 and t0.chi2_pvalue > 0.10
    assert t1.pvalue < 0.001 and t1.chi2_pvalue < 0.001
    # F = chi2 / q on (q, G - 1) degrees of freedom
    assert t0.f == pytest.approx(t0.chi2 / 3) and t0.df == (3, clean.n_clusters - 1)
    assert t0.statistic == t0.f


def test_pretrend_chi2_equals_linearmodels_wald_test():
    res = event_study(simulate(seed=4, pretrend=0.1), outcome="y", unit="firm", time="year", cohort="cohort",
                      engine="linearmodels")
    pt = res.pretrend_test()
    R = np.zeros((len(pt.terms), len(res.params)))
    for i, term in enumerate(pt.terms):
        R[i, list(res.params.index).index(term)] = 1.0
    wald = res.model_result.wald_test(restriction=R, value=np.zeros(len(pt.terms)))
    assert pt.chi2 == pytest.approx(wald.stat, rel=1e-10)
    assert pt.chi2_pvalue == pytest.approx(wald.pval, rel=1e-8)


def test_classical_standard_errors_and_summary():
    res = event_study(simulate(n_units=100, seed=5), outcome="y", unit="firm", time="year",
                      cohort="cohort", cluster=None)
    assert res.n_clusters is None
    pt = res.pretrend_test()
    assert pt.df == (3, res.df_resid)
    text = res.summary()
    assert "classical" in text and "Pre-trend test" in text and "e ≤ -4" in text


def test_plot_returns_figure():
    from matplotlib.figure import Figure

    res = event_study(simulate(n_units=100, seed=6), outcome="y", unit="firm", time="year", cohort="cohort")
    fig = res.plot(title="test")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "≤-4"
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_empty_event_time_noted_and_reference_at_bin():
    df = simulate(n_units=100, n_periods=6, seed=7)  # 2008-2013: cohort 2015/2016 units never post
    res = event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-2, 8))
    tab = res.table.set_index("event_time")
    assert tab.loc[8, "n_obs"] == 0 and np.isnan(tab.loc[8, "coef"])
    assert any("e>=8" in n for n in res.notes)
    res2 = event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-1, 3))
    assert res2.table["reference"].iloc[0] and res2.table["binned"].iloc[0]
    with pytest.raises(EstimationError, match="no pre-period"):
        res2.pretrend_test()


def test_errors():
    df = simulate(n_units=50, seed=8)
    with pytest.raises(DataError) as exc:
        event_study(df, outcome="y", unit="firm", time="year", cohort="first_treat")
    assert exc.value.problems[0]["column"] == "first_treat" and exc.value.problems[0]["table"] == "panel"
    with pytest.raises(EstimationError, match="no treated"):
        event_study(df.assign(cohort=0), outcome="y", unit="firm", time="year", cohort="cohort")
    with pytest.raises(ConfigError):
        event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(2, -2))
    with pytest.raises(ConfigError):
        event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", reference=-6)
    varying = df.copy()
    varying.loc[varying.index[varying["cohort"] > 0][0], "cohort"] = 2009
    with pytest.raises(EstimationError, match="cohort changes within"):
        event_study(varying, outcome="y", unit="firm", time="year", cohort="cohort")
    with pytest.raises(DataError, match="numeric"):
        event_study(df.assign(year=df["year"].astype(str)), outcome="y", unit="firm", time="year",
                    cohort="cohort")
    # every unit treated at the same time and a window wide enough to be unbinned: the
    # relative-time dummies are collinear with the year effects
    same = df.assign(cohort=2013)
    with pytest.raises(EstimationError, match="collinear|no variation"):
        event_study(same, outcome="y", unit="firm", time="year", cohort="cohort", window=(-6, 7))


def test_missing_outcome_rows_reported():
    df = simulate(n_units=50, seed=9)
    df.loc[[0, 1, 50], "y"] = np.nan
    res = event_study(df, outcome="y", unit="firm", time="year", cohort="cohort")
    assert res.dropped.count == 3 and res.nobs == len(df) - 3
    assert res.dropped.units == sorted(df.loc[[0, 1, 50], "firm"].unique())
