"""Two-way fixed effects DiD: parity with statsmodels dummy-variable OLS, a hand-computed 2×2,
dropped rows, errors, and the regression-table renderers."""

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from finsupport.errors import DataError, EstimationError
from finsupport.estimate.results import (
    regression_table,
    stars,
)
from finsupport.estimate.twfe import TwfeResult, twfe_did
from finsupport.report.tables import regression_layout as display_table
from finsupport.report.tables import to_latex, to_markdown

# mpdta: teen employment in 500 US counties, 2003-2007, from the R package `did`
# (Callaway & Sant'Anna 2021); columns year, countyreal, lpop, lemp, first.treat, treat.
MPDTA = Path(__file__).parent / "fixtures" / "did_r" / "mpdta.csv"


def staggered_panel(n_units=80, n_periods=7, seed=0, unbalanced=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "firm": np.repeat([f"F{i:03d}" for i in range(n_units)], n_periods),
        "year": np.tile(np.arange(2010, 2010 + n_periods), n_units),
    })
    cohort = rng.choice([0, 2012, 2013, 2015], n_units)
    df["cohort"] = np.repeat(cohort, n_periods)
    df["d"] = ((df["cohort"] > 0) & (df["year"] >= df["cohort"])).astype(int)
    df["x"] = rng.normal(size=len(df))
    df["industry"] = np.repeat(rng.integers(0, 9, n_units), n_periods)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["y"] = (np.repeat(rng.normal(size=n_units), n_periods) + 0.2 * (df["year"] - 2010)
               + 0.7 * df["d"] + 0.4 * df["x"] + rng.normal(size=len(df)))
    if unbalanced:
        df = df.drop(index=rng.choice(df.index, size=len(df) // 10, replace=False)).reset_index(drop=True)
    return df


def _sm_cluster(df, groups, formula="y ~ d + x + C(firm) + C(year)"):
    return smf.ols(formula, df).fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(groups)[0]})


@pytest.mark.parametrize("unbalanced", [False, True])
def test_clustered_by_unit_matches_statsmodels_dummies(unbalanced):
    df = staggered_panel(unbalanced=unbalanced)
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"])
    sm = _sm_cluster(df, df["firm"])
    n, G = len(df), df["firm"].nunique()
    assert res.nobs == n and res.n_clusters == G
    # coefficients: identical up to rounding
    for term in ("d", "x"):
        assert res.params[term] == pytest.approx(sm.params[term], abs=1e-10)
    # Small-sample factors. statsmodels (use_correction=True) scales the cluster sandwich by
    #   G/(G-1) * (n-1)/(n-K), K = all columns incl. the dummies = k + d;
    # linearmodels (debiased=True, effects counted) scales the same sandwich by n/(n-k-d).
    # Hence Var_sm / Var_lm = G/(G-1) * (n-1)/n exactly.
    factor = G / (G - 1) * (n - 1) / n
    K = len(sm.params)
    assert res.df_resid == n - K
    for term in ("d", "x"):
        assert (sm.bse[term] / res.std_errors[term]) ** 2 == pytest.approx(factor, rel=1e-9)


def test_clustered_by_other_column_matches_statsmodels():
    df = staggered_panel(seed=3)
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"],
                   cluster="industry")
    sm = _sm_cluster(df, df["industry"])
    n, G = len(df), df["industry"].nunique()
    assert res.n_clusters == G
    assert res.coef == pytest.approx(sm.params["d"], abs=1e-10)
    assert (sm.bse["d"] / res.se) ** 2 == pytest.approx(G / (G - 1) * (n - 1) / n, rel=1e-9)


def test_classical_matches_statsmodels_nonrobust():
    df = staggered_panel(seed=1, unbalanced=True)
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"], cluster=None)
    sm = smf.ols("y ~ d + x + C(firm) + C(year)", df).fit()
    # same residual degrees of freedom n - k - (N + T - 1) and the same s^2 (X'X)^-1
    assert res.df_resid == int(sm.df_resid) == len(df) - 2 - (df["firm"].nunique() + df["year"].nunique() - 1)
    assert res.n_clusters is None
    for term in ("d", "x"):
        assert res.params[term] == pytest.approx(sm.params[term], abs=1e-10)
        assert res.std_errors[term] == pytest.approx(sm.bse[term], rel=1e-9)
        assert res.pvalues[term] == pytest.approx(sm.pvalues[term], rel=1e-6)


def test_weighted_matches_statsmodels_wls():
    df = staggered_panel(seed=2)
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", weights="w", cluster=None)
    sm = smf.wls("y ~ d + C(firm) + C(year)", df, weights=df["w"]).fit()
    assert res.coef == pytest.approx(sm.params["d"], abs=1e-10)
    assert res.se == pytest.approx(sm.bse["d"], rel=1e-8)


def test_hand_computed_2x2():
    # Two treated firms (A, B) and two controls (C, D), periods 1 (pre) and 2 (post):
    #   A: 10 -> 15 (+5)   B: 12 -> 19 (+7)   mean change treated = 6
    #   C:  8 -> 10 (+2)   D:  6 -> 10 (+4)   mean change control = 3
    #   DiD = 6 - 3 = 3.
    # Classical SE: with T = 2, TWFE = OLS of the change on a treated dummy; residual changes
    # are (-1, +1, -1, +1), so the level residuals are ±1/2 and e'e = 8 * 1/4 = 2;
    # dof = n - k - (N + T - 1) = 8 - 1 - 5 = 2, s^2 = 1. Demeaned D is ±1/4 in every cell,
    # so D~'D~ = 8/16 = 1/2 and Var(beta) = s^2 / (1/2) = 2, SE = sqrt(2).
    df = pd.DataFrame({
        "firm": list("AABBCCDD"), "t": [1, 2] * 4,
        "y": [10, 15, 12, 19, 8, 10, 6, 10],
        "post_treated": [False, True, False, True, False, False, False, False],
    })
    res = twfe_did(df, outcome="y", treatment="post_treated", unit="firm", time="t", cluster=None)
    assert res.coef == pytest.approx(3.0, abs=1e-12)
    assert res.se == pytest.approx(np.sqrt(2.0), rel=1e-12)
    assert res.df_resid == 2
    assert (res.n_units, res.n_periods, res.nobs) == (4, 2, 8)
    # bool and 0/1 treatment give the same fit
    res01 = twfe_did(df.assign(post_treated=df["post_treated"].astype(int)), outcome="y",
                     treatment="post_treated", unit="firm", time="t", cluster=None)
    assert res01.coef == res.coef


def test_result_object_and_table():
    df = staggered_panel(seed=4)
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"])
    assert isinstance(res, TwfeResult)
    assert list(res.table.columns) == ["term", "coef", "se", "t", "p", "ci_lower", "ci_upper"]
    assert list(res.table["term"]) == ["d", "x"]
    ci = res.conf_int()
    assert ci.shape == (2, 2) and (ci.iloc[:, 0] < res.params).all() and (ci.iloc[:, 1] > res.params).all()
    assert res.conf_int(0.99).iloc[0, 0] < ci.iloc[0, 0]
    assert res.n_units == 80 and res.n_periods == 7
    assert res.model_result.params.equals(res.params)
    text = res.summary()
    assert "clustered by firm (80 clusters)" in text and "no rows dropped" in text
    assert not res.dropped and res.dropped.count == 0


def test_missing_values_are_dropped_and_reported():
    df = staggered_panel(seed=5)
    df.loc[[3, 10], "y"] = np.nan
    df.loc[[10, 20], "x"] = np.nan
    df.loc[30, "d"] = np.nan
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"])
    assert res.dropped.count == 4
    assert res.dropped.rows == [3, 10, 20, 30]
    assert res.dropped.units == sorted(df.loc[[3, 10, 20, 30], "firm"].unique())
    assert res.dropped.by_column == {"y": 2, "d": 1, "x": 2}
    assert res.nobs == len(df) - 4
    assert "4 row(s)" in str(res.dropped) and "Dropped: 4 row(s)" in res.summary()
    clean = twfe_did(df.dropna(subset=["y", "x", "d"]), outcome="y", treatment="d", unit="firm",
                     time="year", covariates=["x"])
    assert clean.coef == pytest.approx(res.coef, abs=1e-12)


def test_mpdta_twfe_pinned_and_crosschecked():
    m = pd.read_csv(MPDTA)
    m["treat_post"] = m["treat"] * (m["year"] >= m["first.treat"]).astype(int)
    res = twfe_did(m, outcome="lemp", treatment="treat_post", unit="countyreal", time="year")
    sm = smf.ols("lemp ~ treat_post + C(countyreal) + C(year)", m).fit(
        cov_type="cluster", cov_kwds={"groups": m["countyreal"]})
    assert res.coef == pytest.approx(-0.036548936674066945, abs=1e-12)
    assert res.coef == pytest.approx(sm.params["treat_post"], abs=1e-12)
    assert res.se == pytest.approx(0.014819763208491724, rel=1e-9)
    assert sm.bse["treat_post"] == pytest.approx(0.014831638020660242, rel=1e-9)
    assert (res.n_units, res.n_periods, res.n_clusters, res.nobs) == (500, 5, 500, 2500)


# --- errors -----------------------------------------------------------------------------


def test_missing_columns_raise_data_error():
    df = staggered_panel()
    with pytest.raises(DataError) as exc:
        twfe_did(df, outcome="sales", treatment="d", unit="firm", time="yr", covariates=["x", "z"])
    cols = [p["column"] for p in exc.value.problems]
    assert cols == ["sales", "yr", "z"]
    assert all(p["table"] == "panel" and p["hint"] and p["message"] for p in exc.value.problems)
    with pytest.raises(DataError, match="cluster"):
        twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", cluster="region")


def test_no_treated_or_no_variation_raise_estimation_error():
    df = staggered_panel()
    with pytest.raises(EstimationError, match="no treated"):
        twfe_did(df.assign(d=0), outcome="y", treatment="d", unit="firm", time="year")
    with pytest.raises(EstimationError, match="1 in every row"):
        twfe_did(df.assign(d=1), outcome="y", treatment="d", unit="firm", time="year")
    # treatment constant within firms (ever-treated dummy): absorbed by the firm effects
    with pytest.raises(EstimationError, match="no variation left"):
        twfe_did(df.assign(d=(df["cohort"] > 0).astype(int)), outcome="y", treatment="d",
                 unit="firm", time="year")
    # a covariate collinear with the treatment
    with pytest.raises(EstimationError, match="collinear"):
        twfe_did(df.assign(x=2 * df["d"] + df["year"]), outcome="y", treatment="d", unit="firm",
                 time="year", covariates=["x"])


def test_bad_values_raise_data_error():
    df = staggered_panel()
    with pytest.raises(DataError, match="not 0/1"):
        twfe_did(df.assign(d=df["d"] * 2), outcome="y", treatment="d", unit="firm", time="year")
    with pytest.raises(DataError, match="repeat"):
        twfe_did(pd.concat([df, df.iloc[:2]]), outcome="y", treatment="d", unit="firm", time="year")
    with pytest.raises(DataError, match="not numbers"):
        twfe_did(df.assign(y=df["y"].astype(object).where(df.index != 5, "n/a")), outcome="y",
                 treatment="d", unit="firm", time="year")
    with pytest.raises(DataError, match="no firm"):
        twfe_did(df.assign(firm=df["firm"].where(df.index != 7)), outcome="y", treatment="d",
                 unit="firm", time="year")
    with pytest.raises(DataError, match="zero or negative"):
        twfe_did(df.assign(w=df["w"] - 1.0), outcome="y", treatment="d", unit="firm", time="year",
                 weights="w")


# --- regression tables ------------------------------------------------------------------


def test_stars_thresholds():
    assert [stars(p) for p in (0.0001, 0.0099, 0.01, 0.049, 0.05, 0.0999, 0.1, 0.5, np.nan, None)] == \
        ["***", "***", "**", "**", "*", "*", "", "", "", ""]


def test_regression_table_and_renderers():
    df = staggered_panel(seed=6)
    r1 = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year")
    r2 = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", covariates=["x"], cluster=None)
    tab = regression_table(r1, r2, names=["Base", "Controls"], labels={"d": "Certified_x_post"})
    coef = tab[tab["kind"] == "coef"]
    assert list(coef["model"]) == ["Base", "Controls", "Controls"]
    assert list(coef["term"]) == ["Certified_x_post", "Certified_x_post", "x"]
    assert coef["coef"].iloc[0] == pytest.approx(r1.coef) and coef["se"].iloc[0] == pytest.approx(r1.se)
    assert coef["stars"].iloc[0] == stars(r1.pvalues["d"])
    stat = tab.set_index(["model", "term"])["value"]
    assert stat[("Base", "N")] == len(df) and stat[("Base", "Clusters")] == 80
    assert stat[("Controls", "Clusters")] is None and stat[("Controls", "Unit FE")] == "Yes"

    disp = display_table(tab, digits=3)
    assert list(disp.columns) == ["", "Base", "Controls"]
    assert disp.iloc[1, 1] == f"({r1.se:.3f})"
    assert disp.iloc[2, 1] == "" and disp.iloc[2, 2].startswith(f"{r2.params['x']:.3f}")

    md = to_markdown(tab)
    assert md.splitlines()[0] == "|  | Base | Controls |"
    assert "| N | 560 | 560 |" in md and "* p<0.10" in md

    tex = to_latex(tab, caption="TWFE & friends", label="tab:twfe")
    assert r"Certified\_x\_post" in tex and r"TWFE \& friends" in tex
    assert "$^{***}$" in tex or "$^{**}$" in tex or "$^{*}$" in tex
    assert tex.count(r"\\") >= len(disp) + 1  # header and every row end a line
    assert tex.strip().endswith(r"\end{table}")


def test_regression_table_latex_escapes_event_terms():
    tab = pd.DataFrame([dict(model="(1)", term="e<=-4", kind="coef", coef=0.1, se=0.05, t=2.0, p=0.04,
                             stars="**", ci_lower=0, ci_upper=0.2, value=None)])
    tex = to_latex(tab, note=None, digits=3)
    assert r"e\textless{}=-4" in tex and "0.100$^{**}$" in tex


@pytest.mark.slow
def test_twfe_one_million_rows_is_fast():
    rng = np.random.default_rng(0)
    n_units, n_periods = 100_000, 10
    cohort = np.repeat(rng.choice([0, 2013, 2015, 2017], n_units), n_periods)
    year = np.tile(np.arange(2010, 2010 + n_periods), n_units)
    d = ((cohort > 0) & (year >= cohort)).astype(int)
    df = pd.DataFrame({"firm": np.repeat(np.arange(n_units), n_periods), "year": year, "d": d,
                       "y": np.repeat(rng.normal(size=n_units), n_periods) + 0.5 * d
                       + rng.normal(size=n_units * n_periods)})
    t0 = time.perf_counter()
    res = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year")
    elapsed = time.perf_counter() - t0
    assert res.nobs == 1_000_000 and abs(res.coef - 0.5) < 5 * res.se
    assert elapsed < 30, f"twfe_did on 1M rows took {elapsed:.1f}s"
    io.StringIO(res.summary())


def test_fast_engine_equals_panelols():
    """The default engine reproduces linearmodels PanelOLS (two-way effects) to 1e-10."""
    from finsupport.estimate.event_study import event_study
    from finsupport.estimate.panel import analysis_panel
    from finsupport.simulate import simulate

    p = analysis_panel(simulate(n_firms=300, seed=4))
    p = p.drop(index=p.sample(frac=0.05, random_state=1).index)  # unbalanced
    p["prov"] = p["firm_id"].str[-1]
    for cluster in ("unit", None, "prov"):
        a = twfe_did(p, outcome="share", treatment="treated", unit="firm_id", time="year",
                     covariates=["log_revenue"], cluster=cluster)
        b = twfe_did(p, outcome="share", treatment="treated", unit="firm_id", time="year",
                     covariates=["log_revenue"], cluster=cluster, engine="linearmodels")
        np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=1e-8)
        np.testing.assert_allclose(a.pvalues, b.pvalues, rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(a.conf_int(), b.conf_int(), rtol=1e-8)
        assert a.nobs == b.nobs and a.df_resid == b.df_resid
    ea = event_study(p, outcome="share", unit="firm_id", time="year", cohort="cohort")
    eb = event_study(p, outcome="share", unit="firm_id", time="year", cohort="cohort", engine="linearmodels")
    np.testing.assert_allclose(ea.table["coef"], eb.table["coef"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ea.table["se"], eb.table["se"], rtol=1e-7)
    assert ea.pretrend_test().f == pytest.approx(eb.pretrend_test().f, rel=1e-7)
