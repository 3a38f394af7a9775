"""The faster paths of issue 10 give the numbers of the general code: att_gt's reg without covariates,
one set of multiplier-bootstrap draws for ATT(g,t) and its aggregations, one demeaning per regression."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finsupport.estimate import cs_core
from finsupport.estimate.cs_aggregate import _se_crit, bootstrap_se
from finsupport.estimate.event_study import event_study
from finsupport.estimate.twfe import twfe_did

MPDTA = pd.read_csv(Path(__file__).parent / "fixtures" / "did_r" / "mpdta.csv")


@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_reg_without_covariates_equals_the_general_outcome_regression(control_group):
    df = MPDTA.assign(wt=1 + (MPDTA["countyreal"] % 7) / 3)  # unit-level sampling weights
    res = cs_core.att_gt(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                         control_group=control_group, method="reg", weights="wt")
    Y = df.pivot(index="countyreal", columns="year", values="lemp").sort_index()
    first = df.drop_duplicates("countyreal").set_index("countyreal").sort_index()
    G, w = first["first.treat"].to_numpy(float), first["wt"].to_numpy(float)
    w = w / w.mean()
    periods = Y.columns.to_numpy()
    n = len(G)
    for j, row in res.cells.reset_index(drop=True).iterrows():
        cur, pret = np.searchsorted(periods, row["time"]), np.searchsorted(periods, row["base"])
        C = G == 0 if control_group == "never_treated" else (G == 0) | ((G > periods[max(cur, pret)]) & (G != row["cohort"]))
        Dg = G == row["cohort"]
        sel = Dg | C
        dY = Y.to_numpy()[sel, cur] - Y.to_numpy()[sel, pret]
        att, psi = cs_core._reg(dY, Dg[sel].astype(float), np.ones((sel.sum(), 1)), w[sel])
        full = np.zeros(n)
        full[sel] = psi * n / sel.sum()
        assert row["att"] == pytest.approx(att, abs=1e-13)
        np.testing.assert_allclose(res.influence[:, j], full, rtol=1e-10, atol=1e-12)


def test_aggregations_reuse_the_draws_of_att_gt():
    res = cs_core.att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                         bootstrap=199, seed=5)
    bits = res.boot_bits(199, 5)
    draws = res.boot_draws(199, 5)
    for kind in ("simple", "group", "dynamic", "calendar"):
        agg = res.aggregate(kind)
        assert res.boot_bits(199, 5) is bits and res.boot_draws(199, 5) is draws  # drawn once
        # the draws are those of the aggregation's own influence functions with the same signs
        # (R mboot per aggte call), here computed in double precision: the combination of the
        # kept draws differs from them only by the single-precision rounding of the products
        v = np.unpackbits(bits, axis=1, count=agg.influence.shape[0]).astype(float) * 2 - 1
        m = agg.influence.shape[0]
        out = np.sqrt(m) * (v @ agg.influence) / m
        sigma, _ = _se_crit(out, 0.05)
        np.testing.assert_allclose(agg.std_errors.to_numpy(), sigma / np.sqrt(m), rtol=2e-6)
        if kind != "simple":
            _, crit = _se_crit(out[:, 1:], 0.05)
            assert agg.crit_value == pytest.approx(crit, rel=2e-6)
        # and as drawing again for the aggregation with the same seed
        se_again, _ = bootstrap_se(agg.influence, None, 199, 5, 0.05)
        np.testing.assert_allclose(agg.std_errors.to_numpy(), se_again, rtol=2e-6)
    other = res.aggregate("group", seed=6)  # another seed: new draws
    assert (199, 6) in res._bits and (199, 6) in res._draws and other.crit_value > 0


def test_att_gt_bootstrap_is_the_single_product_of_its_influence_functions():
    """Drawing the cohort basis in the same pass leaves ATT(g,t)'s own bootstrap numbers unchanged."""
    res = cs_core.att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                         bootstrap=199, seed=5)
    se, crit = bootstrap_se(res.influence, None, 199, 5, 0.05)
    np.testing.assert_array_equal(res.cells["se"].to_numpy(), se)
    assert res.crit_value == crit
    clustered = MPDTA.assign(state=MPDTA["countyreal"] // 7)
    res = cs_core.att_gt(clustered, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                         cluster="state", bootstrap=199, seed=5)
    se, crit = bootstrap_se(res.influence, res.clusters, 199, 5, 0.05)
    np.testing.assert_array_equal(res.cells["se"].to_numpy(), se)
    agg = res.aggregate("dynamic")
    se_again, _ = bootstrap_se(agg.influence, res.clusters, 199, 5, 0.05)
    np.testing.assert_allclose(agg.std_errors.to_numpy(), se_again, rtol=2e-6)


def test_one_demeaning_gives_the_linearmodels_numbers():
    rng = np.random.default_rng(3)
    n, T = 200, 8
    unit = np.repeat(np.arange(n), T)
    year = np.tile(np.arange(2010, 2010 + T), n)
    cohort = np.repeat(rng.choice([0, 2013, 2015], n), T)
    y = 0.4 * ((cohort > 0) & (year >= cohort)) + rng.normal(size=n)[unit] + rng.normal(size=n * T)
    df = pd.DataFrame({"firm": unit, "year": year, "cohort": cohort, "y": y, "x": rng.normal(size=n * T),
                       "d": ((cohort > 0) & (year >= cohort)).astype(int)})
    kw = dict(outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3), covariates=["x"])
    fast, lm = event_study(df, **kw), event_study(df, engine="linearmodels", **kw)
    np.testing.assert_allclose(fast.params, lm.params, rtol=1e-9)
    np.testing.assert_allclose(fast.std_errors, lm.std_errors, rtol=1e-9)
    # the wild bootstrap runs on the fit's own residuals
    w1 = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year", inference="wild", draws=199, seed=1)
    assert w1.model_result.demeaned[0].shape == (len(df), 2)


def _staggered_panel(n=300, T=8, seed=4):
    rng = np.random.default_rng(seed)
    unit = np.repeat([f"f{i:04d}" for i in range(n)], T)
    year = np.tile(np.arange(2010, 2010 + T), n)
    cohort = np.repeat(rng.choice([0, 2012, 2013, 2015], n), T)
    d = ((cohort > 0) & (year >= cohort)).astype(int)
    y = 0.3 * d + np.repeat(rng.normal(size=n), T) * 1e3 + rng.normal(size=n * T) * 10.0 ** rng.integers(-6, 3, n * T)
    return pd.DataFrame({"firm": unit, "year": year, "cohort": cohort, "d": d, "y": y})


def test_balanced_demeaning_is_the_general_one_to_the_last_digit():
    """On a balanced panel in (unit, period) order the grid sweeps make the same additions as bincount."""
    from finsupport.estimate import twfe

    rng = np.random.default_rng(7)
    n1, n2 = 500, 9
    g1, g2 = np.repeat(np.arange(n1), n2), np.tile(np.arange(n2), n1)
    X = np.column_stack([rng.normal(size=n1 * n2) * 10.0 ** rng.integers(-8, 8, n1 * n2),
                         (rng.random(n1 * n2) < 0.3).astype(float), np.repeat(rng.normal(size=n1), n2) * 1e6
                         + rng.normal(size=n1 * n2), -0.0 * np.ones(n1 * n2)])
    assert twfe._is_grid(g1, g2, n1, n2)
    fast = twfe._twoway_residual(X, g1, g2)
    general = X.copy()
    c1, c2 = np.bincount(g1).astype(float), np.bincount(g2).astype(float)
    for j in range(X.shape[1]):  # the general sweeps, written out
        x = general[:, j]
        scale = max(np.abs(x).max(), 1e-300)
        for _ in range(200):
            m1 = np.bincount(g1, weights=x) / c1
            x -= m1[g1]
            m2 = np.bincount(g2, weights=x) / c2
            x -= m2[g2]
            if max(np.abs(m1).max(), np.abs(m2).max()) < 1e-11 * scale:
                break
    np.testing.assert_array_equal(fast, general)
    # not a grid: a missing row, or rows out of order
    assert not twfe._is_grid(g1[1:], g2[1:], n1, n2)
    assert not twfe._is_grid(g1[::-1].copy(), g2[::-1].copy(), n1, n2)


@pytest.mark.parametrize("estimator", ["twfe", "event_study"])
def test_fit_is_the_same_in_any_row_order_and_without_the_grid_path(estimator, monkeypatch):
    """Balanced panels take the grid sweeps (same numbers to the digit as the general sweeps); sorted rows
    skip the reordering copy (shuffled rows give other unit codes, so other orders of the sums)."""
    from finsupport.estimate import twfe

    df = _staggered_panel()

    def fit(frame):
        if estimator == "twfe":
            return twfe_did(frame, outcome="y", treatment="d", unit="firm", time="year")
        return event_study(frame, outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3))

    base = fit(df)
    shuffled = fit(df.sample(frac=1, random_state=1))
    monkeypatch.setattr(twfe, "_is_grid", lambda *a: False)
    general = fit(df)
    np.testing.assert_array_equal(base.params.to_numpy(), general.params.to_numpy())
    np.testing.assert_array_equal(base.std_errors.to_numpy(), general.std_errors.to_numpy())
    np.testing.assert_allclose(base.params.to_numpy(), shuffled.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(base.std_errors.to_numpy(), shuffled.std_errors.to_numpy(), rtol=1e-10)
    assert base.inference.n_clusters == 300


def test_duplicate_unit_periods_are_found_on_codes():
    from finsupport.errors import DataError

    df = _staggered_panel(n=20, T=4)
    dup = pd.concat([df, df.iloc[[5]]], ignore_index=True)
    with pytest.raises(DataError, match="repeat a"):
        twfe_did(dup, outcome="y", treatment="d", unit="firm", time="year")
    from finsupport.estimate.twfe import _repeated

    key = np.array([3, 10**12, 5, 10**12, 3, 7])  # sparse keys take the sorting path
    np.testing.assert_array_equal(_repeated(key, 10**13), [True, True, False, True, True, False])
    np.testing.assert_array_equal(_repeated(np.array([0, 2, 2, 1]), 3), [False, True, True, False])


def test_analysis_panel_joins_by_position_give_the_merges(monkeypatch):
    """Tables of one panel in firm-year order are joined by position and the lag and first-year values
    read off neighbouring rows; the same frame, to the digit and dtype, as the merges on firm and year."""
    import finsupport as fs
    from finsupport.estimate import panel as panel_mod

    data = fs.simulate(n_firms=400, years=(2013, 2020), seed=5)
    flows = fs.support_flows(data)
    fast = panel_mod.analysis_panel(data, flows)
    gaps = flows.drop(flows.index[::5])  # firm-years missing: the lag from neighbouring rows skips gap years
    for ordered in (flows, gaps):
        shuffled = panel_mod.analysis_panel(data, ordered.sample(frac=1, random_state=3))  # not aligned: the merges
        pd.testing.assert_frame_equal(panel_mod.analysis_panel(data, ordered), shuffled, check_exact=True)
    monkeypatch.setattr(panel_mod, "_same_keys", lambda *a: False)
    monkeypatch.setattr(panel_mod, "_firm_year_runs", lambda *a: False)
    pd.testing.assert_frame_equal(fast, panel_mod.analysis_panel(data, flows), check_exact=True)
    assert fast["revenue_growth"].notna().any() and fast["log_revenue_pre"].notna().all()


def test_firm_codes_stay_text_when_the_joined_tables_use_two_text_types(monkeypatch):
    """Flows and status with their codes in two text types (as ``string`` and ``str`` in a run): the
    panel's codes stay text (a merge would make them Python objects), by position and by merge
    alike, with the same values."""
    import finsupport as fs
    from finsupport.certify.status import designation_status
    from finsupport.estimate import panel as panel_mod

    data = fs.simulate(n_firms=300, years=(2013, 2020), seed=6)
    flows = fs.support_flows(data)
    flows["firm_id"] = flows["firm_id"].astype(pd.StringDtype("pyarrow"))
    status = designation_status(data, tier="little_giant", years=sorted(flows["year"].unique()))
    status["firm_id"] = status["firm_id"].astype(pd.StringDtype("python"))   # another text type
    fast = panel_mod.analysis_panel(data, flows, status=status)
    assert fast["firm_id"].dtype == flows["firm_id"].dtype
    monkeypatch.setattr(panel_mod, "_same_keys", lambda *a: False)
    merged = panel_mod.analysis_panel(data, flows, status=status)
    pd.testing.assert_frame_equal(fast, merged, check_exact=True)
    plain = panel_mod.analysis_panel(data, flows.assign(firm_id=flows["firm_id"].astype(object)), status=status)
    pd.testing.assert_frame_equal(fast, plain.assign(firm_id=plain["firm_id"].astype(flows["firm_id"].dtype)),
                                  check_exact=True)


def test_units_sorted_from_the_first_codes_give_the_factorised_order(monkeypatch):
    """att_gt and bacon sort the distinct ids of the duplicate check instead of factorising every row again:
    the same numbers as ``factorize(sort=True)`` (forced here), which mixed-type ids still use."""
    from finsupport.estimate import bacon as bacon_mod
    from finsupport.estimate.twfe import _sorted_codes

    df = _staggered_panel(n=120, T=6)
    kw = dict(outcome="y", unit="firm", time="year", cohort="cohort")
    att = cs_core.att_gt(df, **kw, control_group="not_yet_treated")
    bac = bacon_mod.bacon_decomposition(df, **kw)
    from finsupport.estimate import twfe as twfe_mod

    monkeypatch.setattr(twfe_mod, "_sorted_codes", lambda *a: None)  # both take it from there (reuse.ids)
    att2 = cs_core.att_gt(df, **kw, control_group="not_yet_treated")
    bac2 = bacon_mod.bacon_decomposition(df, **kw)
    pd.testing.assert_frame_equal(att.cells, att2.cells, check_exact=True)
    np.testing.assert_array_equal(att.influence, att2.influence)
    assert att.units.equals(att2.units) and att.units.dtype == att2.units.dtype
    pd.testing.assert_frame_equal(bac.table, bac2.table, check_exact=True)
    mixed = pd.Series([3, "a", 1.5, "b"], dtype=object)
    assert _sorted_codes(*pd.factorize(mixed)) is None
