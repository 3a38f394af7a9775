"""Sun–Abraham and the imputation estimator: parity with diff-diff, hand-checked cases, recovery of the truth.

Reference numbers: tests/fixtures/diffdiff/reference.csv, produced by diff-diff 3.13.0 with
``python tests/fixtures/diffdiff/make_reference.py`` (see the README there).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finsupport.errors import EstimationError
from finsupport.estimate.imputation import imputation_did
from finsupport.estimate.sun_abraham import sun_abraham

FIX = Path(__file__).parent / "fixtures"
REF = pd.read_csv(FIX / "diffdiff" / "reference.csv")
SETS = {"mpdta": (pd.read_csv(FIX / "did_r" / "mpdta.csv"), "lemp", "countyreal", "first.treat"),
        "sim": (pd.read_csv(FIX / "diffdiff" / "sim_panel.csv"), "share", "firm_id", "cohort")}


def _ref(dataset, estimator):
    return REF[(REF["dataset"] == dataset) & (REF["estimator"] == estimator)].set_index("term")


def _fit(fn, dataset, **kw):
    df, y, unit, cohort = SETS[dataset]
    return fn(df, outcome=y, unit=unit, time="year", cohort=cohort, **kw)


def _cr1_over_ours(n, k, n_units, n_periods, n_clusters):
    """Variance factor of diff-diff's CR1 (hc1) relative to ours.

    Ours (linearmodels' debiased sandwich, absorbed effects counted): n/(n − k − d), d = N + T − 1.
    diff-diff: G/(G − 1) · (n − 1)/(n − k − T) (unit effects nested in the clusters are not
    counted; the T period effects are).
    """
    d = n_units + n_periods - 1
    return (n_clusters / (n_clusters - 1) * (n - 1) / (n - k - n_periods)) / (n / (n - k - d))


@pytest.mark.parametrize("dataset", list(SETS))
def test_sun_abraham_matches_diff_diff(dataset):
    res = _fit(sun_abraham, dataset)
    ref = _ref(dataset, "sun_abraham")
    assert set(ref.index) == set(res.params.index)
    np.testing.assert_allclose(res.params[ref.index], ref["estimate"], rtol=0, atol=1e-8)
    # standard errors differ only by the documented small-sample factor
    fac = _cr1_over_ours(res.nobs, len(res.cohort_effects), res.n_units, res.n_periods, res.n_clusters)
    np.testing.assert_allclose(res.std_errors[ref.index] * np.sqrt(fac), ref["std_error"], rtol=1e-8)
    coh = _ref(dataset, "sun_abraham_cohort")
    mine = res.cohort_effects.set_index("g" + res.cohort_effects["cohort"].astype(str) + ":e"
                                        + res.cohort_effects["event_time"].astype(str))
    assert set(coh.index) == set(mine.index)
    np.testing.assert_allclose(mine.loc[coh.index, "estimate"], coh["estimate"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(mine.loc[coh.index, "std_error"] * np.sqrt(fac), coh["std_error"], rtol=1e-8)


@pytest.mark.parametrize("dataset", list(SETS))
def test_imputation_matches_diff_diff(dataset):
    res = _fit(imputation_did, dataset, pretrends=True)
    ref = _ref(dataset, "imputation")
    assert set(ref.index) == set(res.params.index)
    np.testing.assert_allclose(res.params[ref.index], ref["estimate"], rtol=0, atol=1e-8)
    # the conservative variance of Theorem 3 has no small-sample factor in either package
    np.testing.assert_allclose(res.std_errors[ref.index], ref["std_error"], rtol=1e-6)
    leads = _ref(dataset, "imputation_lead")
    np.testing.assert_allclose(res.lead_coefficients["estimate"], leads["estimate"], rtol=0, atol=1e-8)
    # the pre-trend F differs by the same covariance factor as Sun–Abraham's standard errors
    df = SETS[dataset][0]
    cohort = SETS[dataset][3]
    untreated = (df[cohort] == 0) | (df["year"] < df[cohort])
    n_units0 = df.loc[untreated, SETS[dataset][2]].nunique()
    pt = res.pretrend_test()
    fac = _cr1_over_ours(int(untreated.sum()), len(pt.terms), n_units0, df["year"].nunique(), res.n_clusters)
    assert pt.statistic / fac == pytest.approx(_ref(dataset, "imputation_pretrend")["estimate"].item(), rel=1e-8)
    assert pt.df == (len(pt.terms), res.n_clusters - 1)


def _tiny(with_never=True):
    # periods 0, 1, 2, 3; cohort 2 (units A, B) and cohort 3 (units C, D), and a never-treated unit N
    y = {"A": [0, 2, 5, 9], "B": [2, 2, 6, 7], "C": [0, 1, 1, 4], "D": [1, 1, 2, 3], "N": [5, 5, 5, 5]}
    g = {"A": 2, "B": 2, "C": 3, "D": 3, "N": 0}
    rows = [dict(unit=u, year=t, cohort=g[u], y=float(v)) for u, ys in y.items() for t, v in enumerate(ys)
            if with_never or u != "N"]
    return pd.DataFrame(rows)


def test_sun_abraham_last_treated_hand_check():
    # control_group="last_treated": cohort 3 (C, D) is the control, periods 0-2 only.
    # δ(2, 0) = (mean_2 y2 − mean_2 y1) − (mean_C y2 − mean_C y1)
    #         = ((5 + 6)/2 − (2 + 2)/2) − ((1 + 2)/2 − (1 + 1)/2) = 3.5 − 0.5 = 3.0
    # δ(2,−2) = (mean_2 y0 − mean_2 y1) − (mean_C y0 − mean_C y1)
    #         = ((0 + 2)/2 − 2) − ((0 + 1)/2 − 1) = −1 + 0.5 = −0.5
    res = sun_abraham(_tiny(), outcome="y", unit="unit", time="year", cohort="cohort",
                      control_group="last_treated", cluster=None)
    assert res.params["e=0"] == pytest.approx(3.0, abs=1e-12)
    assert res.params["e=-2"] == pytest.approx(-0.5, abs=1e-12)
    assert res.params["ATT"] == pytest.approx(3.0, abs=1e-12)  # one treated cohort, one post period
    assert res.nobs == 12 and any("never-treated" in n for n in res.notes)
    # with never-treated controls the same cells use unit N (constant y): δ(2, 0) = 3.5, and
    # cohort 3 is estimated too: δ(3, 0) = mean(4 − 1, 3 − 2) − 0 = 2.0; ATT weights the 2 + 2 + 2
    # treated observations of (2, 0), (2, 1), (3, 0): δ(2, 1) = mean(9 − 2, 7 − 2) − 0 = 6.0
    nev = sun_abraham(_tiny(), outcome="y", unit="unit", time="year", cohort="cohort", cluster=None)
    ce = nev.cohort_effects.set_index(["cohort", "event_time"])["estimate"]
    assert ce[(2, 0)] == pytest.approx(3.5) and ce[(3, 0)] == pytest.approx(2.0) and ce[(2, 1)] == pytest.approx(6.0)
    assert nev.params["e=0"] == pytest.approx((3.5 + 2.0) / 2)
    assert nev.params["ATT"] == pytest.approx((3.5 + 2.0 + 6.0) / 3)


def test_imputation_hand_check():
    # Untreated observations: N in every period, A and B in 0-1, C and D in 0-2. With one
    # never-treated unit the imputed counterfactual of unit i at t is y_i,b + (y_N,t − y_N,b) only
    # when the panel is exactly identified; here compare with the two-way fit by hand instead:
    # every treated unit's α_i is its mean untreated y minus the mean λ of its untreated periods,
    # and N constant makes λ flat except where the cohort-3 units add information on periods 0-2.
    res = imputation_did(_tiny(), outcome="y", unit="unit", time="year", cohort="cohort")
    import statsmodels.formula.api as smf

    d = _tiny()
    d0 = d[(d["cohort"] == 0) | (d["year"] < d["cohort"])]
    fit = smf.ols("y ~ C(unit) + C(year)", d0).fit()
    d1 = d[(d["cohort"] > 0) & (d["year"] >= d["cohort"])]
    tau = d1["y"] - fit.predict(d1)
    assert res.params["ATT"] == pytest.approx(tau.mean(), abs=1e-12)
    assert res.params["e=0"] == pytest.approx(tau[d1["year"] == d1["cohort"]].mean(), abs=1e-12)
    np.testing.assert_allclose(res.effects.sort_values(["unit", "time"])["tau"].to_numpy(),
                               tau.to_numpy(), atol=1e-12)
    # two units, two periods: τ̂ = (y_T1 − y_T0) − (y_N1 − y_N0) = (7 − 3) − (4 − 2) = 2
    two = pd.DataFrame({"unit": [1, 1, 2, 2], "year": [0, 1, 0, 1], "cohort": [1, 1, 0, 0],
                        "y": [3.0, 7.0, 2.0, 4.0]})
    assert imputation_did(two, outcome="y", unit="unit", time="year", cohort="cohort").att == pytest.approx(2.0)


def test_covariates_match_dummy_regressions():
    import statsmodels.formula.api as smf

    df = SETS["sim"][0]
    df = df[df["firm_id"].isin(sorted(df["firm_id"].unique())[:120])].copy()
    df["x"] = np.random.default_rng(0).normal(size=len(df))
    # imputation: step 1 is OLS with unit and year dummies and x on the untreated rows
    res = imputation_did(df, outcome="share", unit="firm_id", time="year", cohort="cohort", covariates=["x"])
    d0 = df[(df["cohort"] == 0) | (df["year"] < df["cohort"])]
    d1 = df[(df["cohort"] > 0) & (df["year"] >= df["cohort"])]
    tau = d1["share"] - smf.ols("share ~ x + C(firm_id) + C(year)", d0).fit().predict(d1)
    assert res.att == pytest.approx(tau.mean(), abs=1e-10)
    # Sun–Abraham: cohort × event-time dummies (reference −1) with x and both sets of dummies
    sa = sun_abraham(df, outcome="share", unit="firm_id", time="year", cohort="cohort", covariates=["x"])
    e = (df["year"] - df["cohort"]).where(df["cohort"] > 0)
    cells = sa.cohort_effects[["cohort", "event_time"]].itertuples(index=False)
    names = []
    for g, k in cells:
        name = f"d_{g}_{k + 10}"
        df[name] = ((df["cohort"] == g) & (e == k)).astype(float)
        names.append(name)
    ols = smf.ols("share ~ " + " + ".join(names) + " + x + C(firm_id) + C(year)", df).fit()
    np.testing.assert_allclose(sa.cohort_effects["estimate"], ols.params[names], atol=1e-10)
    assert sa.params.name == "estimate"


def test_recover_the_simulators_truth():
    from finsupport.estimate.panel import analysis_panel
    from finsupport.simulate import simulate, true_aggregates

    data = simulate(n_firms=3000, years=(2014, 2022), cohorts={2017: 0.15, 2019: 0.15, 2021: 0.15}, seed=5,
                    equity_rate=0.0, effect=0.03, effect_slope=0.02)
    p = analysis_panel(data)
    truth = true_aggregates(pd.DataFrame(data.provenance["truth"]), p.groupby("cohort")["firm_id"].nunique().to_dict(),
                            range(2014, 2023))
    dyn = truth["dynamic"].set_index("event_time")["att_true"]
    for res in (sun_abraham(p, outcome="share", unit="firm_id", time="year", cohort="cohort"),
                imputation_did(p, outcome="share", unit="firm_id", time="year", cohort="cohort")):
        assert abs(res.att - truth["simple"]) < 3 * res.std_errors["ATT"], type(res).__name__
        post = [f"e={e}" for e in dyn.index if e >= 0]
        z = (res.params[post].to_numpy() - dyn[dyn.index >= 0].to_numpy()) / res.std_errors[post].to_numpy()
        assert np.all(np.abs(z) < 3.5), (type(res).__name__, z)


def test_errors_say_why():
    tiny = _tiny(with_never=False)
    with pytest.raises(EstimationError, match="no never-treated unit"):
        sun_abraham(tiny, outcome="y", unit="unit", time="year", cohort="cohort")
    with pytest.raises(EstimationError, match="control_group"):
        sun_abraham(tiny, outcome="y", unit="unit", time="year", cohort="cohort", control_group="not_yet")
    with pytest.raises(EstimationError, match="horizons"):
        imputation_did(_tiny(), outcome="y", unit="unit", time="year", cohort="cohort", horizons=[5])
    res = imputation_did(_tiny(), outcome="y", unit="unit", time="year", cohort="cohort")
    with pytest.raises(EstimationError, match="pretrends"):
        res.pretrend_test()
    # a unit treated from its first period has no untreated observation: its rows cannot be imputed
    late = _tiny().assign(year=lambda d: d["year"] + 10, cohort=lambda d: np.where(d["cohort"] > 0,
                                                                                   d["cohort"] + 10, 0))
    late.loc[late["unit"] == "A", "cohort"] = 10
    res = imputation_did(late, outcome="y", unit="unit", time="year", cohort="cohort")
    assert res.n_obs_by_term["ATT"] == 2 + 2  # B at 12 and 13, C and D at 13; A (treated from 10) left out
    assert any("cannot be imputed" in n for n in res.notes)
