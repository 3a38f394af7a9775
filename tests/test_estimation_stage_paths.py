"""The quicker paths of the run's estimation stages give the numbers of the code they replace, bit for bit:
the bootstrap's signs from a byte table, the weights' influence function on distinct (cohort, weight) pairs,
the event-study dummies handed to the fit as arrays, the cells' outcome differences from period rows."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finsupport.estimate import cs_aggregate, cs_core, twfe
from finsupport.estimate.cs_aggregate import bootstrap_draws, rademacher_bits
from finsupport.estimate.event_study import event_study

MPDTA = pd.read_csv(Path(__file__).parent / "fixtures" / "did_r" / "mpdta.csv")


def _draws_by_unpacking(psi, bits, *, chunk=64, also=None):
    """The draws as they were computed before the byte table: unpack, to float32, ×2 − 1."""
    mats = [psi] if also is None else [psi, also]
    m = psi.shape[0]
    outs = [np.empty((bits.shape[0], p.shape[1])) for p in mats]
    mats32 = [p.astype(np.float32) for p in mats]
    for s in range(0, bits.shape[0], chunk):
        k = min(chunk, bits.shape[0] - s)
        v = np.unpackbits(bits[s:s + k], axis=1, count=m).astype(np.float32)
        v *= 2
        v -= 1
        for out, p32 in zip(outs, mats32, strict=True):
            out[s:s + k] = np.sqrt(m) * (v @ p32).astype(np.float64) / m
    return outs[0] if also is None else tuple(outs)


@pytest.mark.parametrize("m", [1, 7, 8, 13, 64, 501])
def test_signs_from_the_byte_table_are_the_unpacked_bits(m):
    bits = rademacher_bits(m, 150, 11)
    v = cs_aggregate._signs(bits[3:70], m)
    expected = np.unpackbits(bits[3:70], axis=1, count=m).astype(np.float32) * 2 - 1
    assert v.dtype == np.float32 and v.flags.c_contiguous and v.shape == (67, m)
    np.testing.assert_array_equal(v, expected)


@pytest.mark.parametrize("m", [203, 256])  # a number of units that fills the last byte, and one that does not
def test_bootstrap_draws_are_those_of_the_unpacked_signs(m):
    rng = np.random.default_rng(9)
    psi = rng.normal(size=(m, 12)) * 10.0 ** rng.integers(-6, 6, (m, 12))
    basis = rng.normal(size=(m, 3))
    bits = rademacher_bits(m, 199, 20240101)
    d_cells, d_basis = bootstrap_draws(psi, None, bits, also=basis)
    old_cells, old_basis = _draws_by_unpacking(psi, bits, also=basis)
    np.testing.assert_array_equal(d_cells, old_cells)
    np.testing.assert_array_equal(d_basis, old_basis)
    np.testing.assert_array_equal(bootstrap_draws(psi, None, bits), old_cells)


@pytest.mark.parametrize("weights", ["equal", "few", "every unit its own"])
def test_weights_influence_on_distinct_pairs_is_the_per_unit_one(weights):
    rng = np.random.default_rng(5)
    n = 2_000
    G = rng.choice([0.0, 2004, 2006, 2007], n)
    w = {"equal": np.ones(n), "few": rng.choice([0.5, 1.0, 2.5], n), "every unit its own": rng.random(n) * 3}[weights]
    w = w / w.mean()
    group = rng.choice([2004.0, 2006, 2007], 40)
    glist = np.unique(group)
    pgg = np.array([np.mean(w * (G == g)) for g in glist])
    pg = pgg[np.searchsorted(glist, group)]
    kinds = cs_aggregate._unit_kinds(G, w)
    for keepers in (np.arange(40), np.flatnonzero(group == 2006), np.array([3]), np.arange(0, 40, 3)):
        per_unit = cs_aggregate._wif(keepers, pg, w, G, group)
        np.testing.assert_array_equal(cs_aggregate._wif(keepers, pg, w, G, group, kinds=kinds), per_unit)


@pytest.mark.parametrize("bootstrap", [0, 199])
def test_aggregations_are_those_of_the_per_unit_weights_influence(bootstrap, monkeypatch):
    df = MPDTA.assign(wt=1 + (MPDTA["countyreal"] % 5) / 4)
    res = cs_core.att_gt(df, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                         weights="wt", bootstrap=bootstrap or None, seed=3)
    fast = {k: res.aggregate(k) for k in cs_aggregate.KINDS}
    monkeypatch.setattr(cs_aggregate, "_unit_kinds", lambda G, w: None)  # every unit's row computed
    for kind, agg in fast.items():
        slow = res.aggregate(kind)
        np.testing.assert_array_equal(agg.influence, slow.influence)
        pd.testing.assert_frame_equal(agg.components, slow.components, check_exact=True)
        assert (agg.overall_att, agg.overall_se, agg.crit_value) == (slow.overall_att, slow.overall_se,
                                                                     slow.crit_value)


def _staggered(n=240, T=9, seed=6, drop=40):
    rng = np.random.default_rng(seed)
    unit = np.repeat([f"u{i:03d}" for i in range(n)], T)
    year = np.tile(np.arange(2010, 2010 + T), n)
    cohort = np.repeat(rng.choice([0, 2012, 2014, 2016], n), T)
    y = 0.2 * ((cohort > 0) & (year >= cohort)) + np.repeat(rng.normal(size=n), T) + rng.normal(size=n * T)
    df = pd.DataFrame({"firm": unit, "year": year, "cohort": cohort, "y": y, "x": rng.normal(size=n * T)})
    return df.drop(index=rng.choice(len(df), drop, replace=False))  # rows dropped: not a grid


@pytest.mark.parametrize("drop", [0, 40])  # a balanced grid (grid sweeps) and an unbalanced panel
@pytest.mark.parametrize("covariates", [(), ("x",)])
def test_event_study_dummies_as_arrays_give_the_fit_on_frame_columns(drop, covariates):
    """The fit of the dummies handed over as arrays is the fit of the same dummies as float columns."""
    df = _staggered(drop=drop)
    kw = dict(outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3), covariates=list(covariates))
    res = event_study(df, **kw)
    e = np.clip(np.where(df["cohort"] > 0, df["year"] - df["cohort"], np.nan), -3, 3)
    names = [name for k, name in res.event_terms.items() if name in res.params.index]
    event_time = {name: k for k, name in res.event_terms.items()}
    framed = df.assign(**{name: ((df["cohort"] > 0) & (e == event_time[name])).astype(float) for name in names})
    ref, *_ = twfe._fit_panel(framed, outcome="y", regressors=[*names, *covariates], unit="firm", time="year",
                              cluster="firm", weights=None, hint="")
    np.testing.assert_array_equal(res.params.to_numpy(), ref.params.to_numpy())
    np.testing.assert_array_equal(res.std_errors.to_numpy(), ref.std_errors.to_numpy())
    # the wild bootstrap and the linearmodels engine see the same dummies
    wild = event_study(df, inference="wild", draws=99, seed=1, **kw)
    np.testing.assert_array_equal(wild.params.to_numpy(), res.params.to_numpy())
    lm = event_study(df, engine="linearmodels", **kw)
    np.testing.assert_allclose(lm.params.to_numpy(), res.params.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_cell_outcome_differences_from_period_rows(method):
    """ATT(g,t) with the cells' ΔY taken from rows of the periods × units array: the per-cell estimator on
    ΔY from the units × periods array gives the same numbers."""
    res = cs_core.att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                         control_group="not_yet_treated", method=method)
    Y = MPDTA.pivot(index="countyreal", columns="year", values="lemp").sort_index().to_numpy()
    G = MPDTA.drop_duplicates("countyreal").set_index("countyreal").sort_index()["first.treat"].to_numpy(float)
    periods = np.sort(MPDTA["year"].unique())
    w = np.ones(len(G))
    for j, row in res.cells.reset_index(drop=True).iterrows():
        cur, pret = np.searchsorted(periods, row["time"]), np.searchsorted(periods, row["base"])
        C = (G == 0) | ((G > periods[max(cur, pret)]) & (G != row["cohort"]))
        sel = (G == row["cohort"]) | C
        att, psi = cs_core._ESTIMATORS[method](Y[sel, cur] - Y[sel, pret], (G == row["cohort"])[sel].astype(float),
                                                np.ones((sel.sum(), 1)), w[sel])
        assert row["att"] == att
        np.testing.assert_array_equal(res.influence[sel, j], psi * (len(G) / sel.sum()))


def test_repeated_pairs_are_checked_once_per_pair_of_found_columns():
    from finsupport.errors import DataError
    from finsupport.estimate.reuse import shared_work
    from finsupport.estimate.twfe import twfe_did

    df = _staggered(n=60, drop=0).assign(d=lambda x: ((x["cohort"] > 0) & (x["year"] >= x["cohort"])).astype(int))
    dup = pd.concat([df, df.iloc[[7]]], ignore_index=True)
    with shared_work():
        first = twfe_did(df, outcome="y", treatment="d", unit="firm", time="year")
        again = twfe_did(df.assign(y2=df["y"] * 2), outcome="y2", treatment="d", unit="firm", time="year")
        with pytest.raises(DataError, match="repeat a"):
            twfe_did(dup, outcome="y", treatment="d", unit="firm", time="year")
        with pytest.raises(DataError, match="repeat a"):
            event_study(dup, outcome="y", unit="firm", time="year", cohort="cohort")
    assert again.params.iloc[0] == pytest.approx(2 * first.params.iloc[0], rel=1e-12)


def test_event_study_cohort_checks_keep_their_order():
    """A non-integer cohort is reported as such even in a unit whose cohort also varies; a varying
    integer cohort as varying; non-integer periods as non-integer."""
    from finsupport.errors import DataError, EstimationError

    df = _staggered(n=30, drop=0).astype({"cohort": float})
    both = df.copy()
    both.loc[both.index[3], "cohort"] = both.loc[both.index[3], "cohort"] + 0.5
    with pytest.raises(DataError, match="non-integer"):
        event_study(both, outcome="y", unit="firm", time="year", cohort="cohort")
    varying = df.copy()
    varying.loc[varying.index[3], "cohort"] = 2013
    with pytest.raises(EstimationError, match="changes within unit"):
        event_study(varying, outcome="y", unit="firm", time="year", cohort="cohort")
    halves = df.assign(year=df["year"] + 0.5, cohort=np.where(df["cohort"] > 0, df["cohort"] + 0.5, 0))
    with pytest.raises(DataError, match="non-integer"):
        event_study(halves, outcome="y", unit="firm", time="year", cohort="cohort")


def test_grid_sweeps_over_several_row_blocks_are_the_general_sweeps():
    """More rows than one block of the largest-magnitude scan (2**16): the same numbers as bincount's sweeps."""
    rng = np.random.default_rng(8)
    n1, n2 = 7_000, 10
    g1, g2 = np.repeat(np.arange(n1), n2), np.tile(np.arange(n2), n1)
    X = np.column_stack([rng.normal(size=n1 * n2) * 10.0 ** rng.integers(-8, 8, n1 * n2),
                         (rng.random(n1 * n2) < 0.2).astype(float)])
    X[-3, 0] = 1e9  # the largest value in the last block
    fast = twfe._twoway_residual(X, g1, g2)
    general = twfe._twoway_residual(X, g1, g2, grid=False)
    np.testing.assert_array_equal(fast, general)


@pytest.mark.parametrize("n_kinds", [1, 4, 50])
def test_sweeps_on_kinds_of_units_are_the_sweeps_on_every_unit(n_kinds):
    """Columns of very different magnitudes (some stop sweeping before others) and a zero column."""
    rng = np.random.default_rng(n_kinds)
    n1, n2, k = 900, 7, 5
    T = np.stack([rng.normal(size=(n_kinds, n2)) * 10.0 ** rng.integers(-9, 9, (n_kinds, n2)),
                  (rng.random((n_kinds, n2)) < 0.4).astype(float), np.zeros((n_kinds, n2)),
                  rng.normal(size=(n_kinds, n2)) + 1e7, -0.0 * np.ones((n_kinds, n2))], axis=2)
    kind = np.r_[np.arange(n_kinds), rng.integers(0, n_kinds, n1 - n_kinds)]
    rng.shuffle(kind)
    g1, g2 = np.repeat(np.arange(n1), n2), np.tile(np.arange(n2), n1)
    X = T[kind].reshape(n1 * n2, k)
    np.testing.assert_array_equal(twfe._balanced_residual_by_kind(T, kind), twfe._twoway_residual(X, g1, g2))
    np.testing.assert_array_equal(twfe._balanced_residual_by_kind(T, kind),
                                  twfe._twoway_residual(X, g1, g2, grid=False))


@pytest.mark.parametrize("shuffle", [False, True])
def test_event_study_design_demeaned_by_cohort_is_the_full_demeaning(shuffle, monkeypatch):
    df = _staggered(n=400, drop=0)
    if shuffle:  # rows out of (unit, period) order: the fit reorders them first
        df = df.sample(frac=1, random_state=2)
    kw = dict(outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3))
    by_kind = event_study(df, **kw)
    calls = []
    real = twfe._balanced_residual_by_kind
    monkeypatch.setattr(twfe, "_balanced_residual_by_kind", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert event_study(df, **kw).params.equals(by_kind.params) and calls  # the kinds path was taken
    monkeypatch.setattr(twfe, "_design_kinds", None)
    import finsupport.estimate.event_study as es_mod

    real_fit = es_mod._fit_panel
    monkeypatch.setattr(es_mod, "_fit_panel", lambda *a, **k: real_fit(*a, **{**k, "unit_kinds": None}))
    full = event_study(df, **kw)
    np.testing.assert_array_equal(by_kind.params.to_numpy(), full.params.to_numpy())
    np.testing.assert_array_equal(by_kind.cov.to_numpy(), full.cov.to_numpy())
    np.testing.assert_array_equal(by_kind.model_result.demeaned[0], full.model_result.demeaned[0])


@pytest.mark.parametrize("values", [np.array([2015, 2013, 2013, 2020, -4], dtype=np.int64),
                                    np.array([3, 1, 3], dtype=np.uint8), np.array([], dtype=np.int64),
                                    np.array([2.5, 1.0, np.nan, 1.0]), np.array(["b", "a", "b"], dtype=object)])
def test_sorted_unique_is_numpy_unique(values):
    from finsupport.estimate.panel import _sorted_unique

    got, expected = _sorted_unique(values), np.unique(values)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n_units", [1, 2047, 2048, 2049, 5000])
def test_units_sum_by_blocks_is_the_sum_over_every_unit(n_units):
    rng = np.random.default_rng(n_units)
    x = rng.normal(size=(6, 4, 3)) * 10.0 ** rng.integers(-12, 12, (6, 4, 3))
    x[0, 0, 0], x[1, 0, 0] = -0.0, -0.0  # the signs of zero kept as the one-pass sum keeps them
    kind = rng.integers(0, 6, n_units)
    expected = np.add.reduce(np.take(x, kind, axis=0), axis=0, initial=0.0)
    got = twfe._units_sum(x, kind)
    np.testing.assert_array_equal(got, expected)
    assert (np.signbit(got) == np.signbit(expected)).all()
    np.testing.assert_array_equal(twfe._units_sum(x[:, :, :1], np.zeros(n_units, int)),
                                  np.add.reduce(np.take(x[:, :, :1], np.zeros(n_units, int), axis=0), axis=0,
                                                initial=0.0))


def test_event_study_on_cohorts_still_finds_collinear_dummies():
    """Every unit treated in one cohort on a balanced panel: the dummies are collinear with the period
    effects, found on the path that demeans once per cohort as on the full design."""
    from finsupport.errors import EstimationError

    df = _staggered(n=50, drop=0).assign(cohort=2014)
    with pytest.raises(EstimationError, match="collinear|no variation"):
        event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3))
    with pytest.raises(EstimationError, match="collinear|no variation"):
        event_study(df.iloc[1:], outcome="y", unit="firm", time="year", cohort="cohort", window=(-3, 3))


def test_weights_influence_tells_signed_zero_weights_apart():
    G = np.array([0.0, 2004, 2004, 0.0, -0.0, 2006])
    w = np.array([0.0, -0.0, 1.5, -0.0, 2.0, 1.5])
    group = np.array([2004.0, 2006])
    pg = np.array([0.0, 0.25])
    kinds = cs_aggregate._unit_kinds(G, w)
    for keepers in (np.array([0, 1]), np.array([1])):  # a weight share of 0 next to one that is not
        per_unit = cs_aggregate._wif(keepers, pg, w, G, group)
        fast = cs_aggregate._wif(keepers, pg, w, G, group, kinds=kinds)
        np.testing.assert_array_equal(fast, per_unit)
        assert (np.signbit(fast) == np.signbit(per_unit)).all()
