"""Goodman-Bacon decomposition: weights, the identity Σ w·β̂ = β̂_TWFE, each 2×2, errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finsupport.errors import DataError, EstimationError
from finsupport.estimate.bacon import COMPARISON_TYPES, BaconDecomposition, bacon_decomposition
from finsupport.estimate.twfe import twfe_did

# mpdta: teen employment in 500 US counties, 2003-2007, from the R package `did`
# (Callaway & Sant'Anna 2021); columns year, countyreal, lpop, lemp, first.treat, treat.
MPDTA = Path(__file__).parent / "fixtures" / "did_r" / "mpdta.csv"


def staggered(n_units=240, n_periods=9, seed=0, cohorts=(0, 2012, 2014, 2016, 2018)):
    """Balanced panel with effects that grow with time since treatment (so the forbidden
    comparisons are biased) and cohort-specific levels."""
    rng = np.random.default_rng(seed)
    years = np.arange(2010, 2010 + n_periods)
    df = pd.DataFrame({"unit": np.repeat(np.arange(n_units), n_periods), "year": np.tile(years, n_units)})
    df["g"] = np.repeat(rng.choice(cohorts, n_units), n_periods)
    df["d"] = ((df["g"] > 0) & (df["year"] >= df["g"])).astype(int)
    gap = np.where(df["d"] == 1, df["year"] - df["g"], 0)
    df["y"] = (np.repeat(rng.normal(size=n_units), n_periods) + 0.1 * (df["year"] - 2010)
               + df["d"] * (1.0 + 0.5 * gap + 0.0001 * df["g"]) + rng.normal(size=len(df)))
    df["y2"] = rng.normal(size=len(df))
    df["y3"] = rng.exponential(size=len(df)) + df["d"] * df["year"] / 1000
    return df


def _twfe(df, outcome="y"):
    return twfe_did(df, outcome=outcome, treatment="d", unit="unit", time="year").coef


@pytest.mark.parametrize("outcome", ["y", "y2", "y3"])
def test_identity_and_weights_on_simulated_panel(outcome):
    df = staggered()
    res = bacon_decomposition(df, outcome=outcome, unit="unit", time="year", cohort="g")
    assert isinstance(res, BaconDecomposition)
    tab = res.table
    assert list(tab.columns) == ["type", "treated_cohort", "control_cohort", "estimate", "weight"]
    # 4 timing groups + never treated: 4 vs U, 6 earlier-vs-later, 6 later-vs-earlier
    assert tab["type"].value_counts().to_dict() == {
        "Earlier vs Later Treated": 6, "Later vs Earlier Treated": 6, "Treated vs Untreated": 4}
    assert (tab["weight"] > 0).all()
    assert tab["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    twfe = _twfe(df, outcome)  # PanelOLS
    assert res.twfe_estimate == pytest.approx(twfe, abs=1e-10)
    assert abs((tab["weight"] * tab["estimate"]).sum() - twfe) < 1e-8
    assert abs(res.identity_residual) < 1e-12
    bt = res.by_type()
    assert bt["weight"].sum() == pytest.approx(1.0)
    assert bt["contribution"].sum() == pytest.approx(twfe, abs=1e-10)
    assert list(bt.index) == [t for t in COMPARISON_TYPES if t in bt.index]


def test_each_2x2_is_the_twfe_of_its_subsample():
    """Each comparison equals the TWFE coefficient on its two groups and its periods."""
    df = staggered(seed=1, cohorts=(0, 2013, 2016))
    res = bacon_decomposition(df, outcome="y", unit="unit", time="year", cohort="g")
    for r in res.table.itertuples(index=False):
        sub = df[df["g"].isin([r.treated_cohort, r.control_cohort])]
        if r.type == "Earlier vs Later Treated":    # before the later group is treated
            sub = sub[sub["year"] < r.control_cohort]
        elif r.type == "Later vs Earlier Treated":  # after the earlier group is treated
            sub = sub[sub["year"] >= r.control_cohort]
        assert r.estimate == pytest.approx(_twfe(sub), abs=1e-10), r


def test_always_treated_and_late_cohorts():
    # 2005: treated before the panel starts (always treated); 2030: after it ends (never treated)
    df = staggered(seed=2, cohorts=(0, 2005, 2013, 2016, 2030))
    res = bacon_decomposition(df, outcome="y", unit="unit", time="year", cohort="g")
    assert "Later vs Always Treated" in set(res.table["type"])
    always = res.table[res.table["type"] == "Later vs Always Treated"]
    assert set(always["control_cohort"]) == {2010}  # labelled by the first period of the panel
    assert res.table["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert abs(res.identity_residual) < 1e-8
    assert res.twfe_estimate == pytest.approx(_twfe(df), abs=1e-10)
    assert any("after the last period" in n for n in res.notes)
    kinds = res.groups.set_index("cohort")["kind"]
    assert kinds[2010] == "always treated" and kinds[0] == "never treated"


def test_mpdta_decomposition():
    m = pd.read_csv(MPDTA)
    res = bacon_decomposition(m, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    # the TWFE coefficient on treat x post (also pinned in test_twfe against statsmodels)
    assert res.twfe_estimate == pytest.approx(-0.036548936674066945, abs=1e-12)
    m["treat_post"] = m["treat"] * (m["year"] >= m["first.treat"]).astype(int)
    lm = twfe_did(m, outcome="lemp", treatment="treat_post", unit="countyreal", time="year")
    tab = res.table
    assert abs((tab["weight"] * tab["estimate"]).sum() - lm.coef) < 1e-8
    assert tab["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert len(tab) == 9  # cohorts 2004, 2006, 2007 and never treated
    bt = res.by_type()
    assert bt.loc["Treated vs Untreated", "weight"] == pytest.approx(0.862774418, abs=1e-8)
    assert bt.loc["Treated vs Untreated", "estimate"] == pytest.approx(-0.040739695, abs=1e-8)
    assert bt.loc["Earlier vs Later Treated", "weight"] == pytest.approx(0.083301354, abs=1e-8)
    assert bt.loc["Later vs Earlier Treated", "weight"] == pytest.approx(0.053924228, abs=1e-8)
    row = tab[(tab["type"] == "Treated vs Untreated") & (tab["treated_cohort"] == 2004)].iloc[0]
    # 2004 vs never treated: the plain DiD of group means, post 2004-07 vs pre 2003
    means = m.assign(post=m["year"] >= 2004).groupby([m["first.treat"], "post"])["lemp"].mean()
    assert row["estimate"] == pytest.approx(
        (means[(2004, True)] - means[(2004, False)]) - (means[(0, True)] - means[(0, False)]), abs=1e-12)
    assert "Σ weight × estimate" in res.summary()


def test_errors():
    df = staggered(n_units=40, seed=3)
    with pytest.raises(DataError) as exc:
        bacon_decomposition(df, outcome="y", unit="unit", time="year", cohort="first_treat")
    assert exc.value.problems[0]["column"] == "first_treat"
    with pytest.raises(EstimationError, match=r"unbalanced.*unit.*Fix"):
        bacon_decomposition(df.drop(index=5), outcome="y", unit="unit", time="year", cohort="g")
    with pytest.raises(EstimationError, match=r"y is missing.*Fix"):
        bacon_decomposition(df.assign(y=df["y"].where(df.index != 5)), outcome="y", unit="unit",
                            time="year", cohort="g")
    switching = df.copy()
    switching.loc[switching.index[switching["g"] > 0][0], "g"] = 0  # treated unit "leaves" treatment
    with pytest.raises(EstimationError, match=r"g changes within.*absorbing.*Fix"):
        bacon_decomposition(switching, outcome="y", unit="unit", time="year", cohort="g")
    with pytest.raises(EstimationError, match="no treated"):
        bacon_decomposition(df.assign(g=0), outcome="y", unit="unit", time="year", cohort="g")
    with pytest.raises(EstimationError, match="no variation"):
        bacon_decomposition(df.assign(g=2013), outcome="y", unit="unit", time="year", cohort="g")
