"""fs.honest_did: parity with the honestdid port of R HonestDiD and diff-diff, hand cases, errors, contract.

Reference numbers: tests/fixtures/honestdid/reference.json, written by
``python tests/fixtures/honestdid/make_reference.py`` (honestdid 0.1.1, diff-diff 3.13).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import finsupport as fs
from finsupport.errors import ConfigError, EstimationError
from finsupport.estimate import honest_core as core
from finsupport.estimate.results import TIDY_COLUMNS

HERE = Path(__file__).parent
REF = json.loads((HERE / "fixtures" / "honestdid" / "reference.json").read_text())
MPDTA = pd.read_csv(HERE / "fixtures" / "did_r" / "mpdta.csv")


def _case(name):
    c = REF["cases"][name]
    return np.array(c["beta"]), np.array(c["sigma"]), c["npre"], c["npost"], c["results"]


def _lvec(target, npost):
    if target == "average":
        return np.full(npost, 1 / npost)
    lv = np.zeros(npost)
    lv[target] = 1.0
    return lv


@pytest.mark.parametrize("name", sorted(REF["cases"]))
def test_flci_matches_diff_diff_and_honestdid(name):
    beta, sigma, npre, npost, results = _case(name)
    for r in (r for r in results if r["method"] == "smoothness"):
        ours = core.flci(beta, sigma, npre, _lvec(r["target"], npost), r["value"], 0.05)
        half_ref = (r["upper"] - r["lower"]) / 2
        if r["package"] == "diff-diff":
            # both exact folded-normal quantiles; diff-diff's grid zoom over h leaves ~1e-5 of the half-length
            tol = 1e-4 * half_ref
        else:
            # honestdid (as R) draws 10^6 normals for the folded-normal quantile (±0.1%) and bisects over the
            # estimator's sd to 1% of its range, so its weights are near-optimal: ours are never longer
            # (beyond the simulation error) and the end points agree to 1% of the half-length
            assert ours["half_length"] <= half_ref * 1.002
            tol = 1e-2 * half_ref
        assert abs(ours["lower"] - r["lower"]) <= tol, (name, r)
        assert abs(ours["upper"] - r["upper"]) <= tol, (name, r)


@pytest.mark.parametrize("name", sorted(REF["cases"]))
def test_relative_magnitudes_sets_match_honestdid_on_its_grid(name):
    """honestdid reads the set off a 1,000-point grid; our test accepts its end points and rejects the
    grid points just outside them, and our refined end points lie within one grid step."""
    beta, sigma, npre, npost, results = _case(name)
    for r in (r for r in results if r["method"] == "relative_magnitudes"):
        lv = _lvec(r["target"], npost)
        hybrid = {"C-LF": "LF", "Conditional": "ARP"}[r["test"]]
        lo_g, hi_g, n = r["grid"]
        step = (hi_g - lo_g) / (n - 1)
        pts = [r["lower"], r["upper"], r["lower"] - step, r["upper"] + step]
        acc = core.rm_accepts(beta, sigma, npre, npost, lv, r["value"], pts, hybrid=hybrid)
        assert acc.tolist() == [True, True, False, False], (name, r)
        cs = core.rm_confidence_set(beta, sigma, npre, npost, lv, r["value"], hybrid=hybrid)
        assert r["lower"] - step <= cs["lower"] <= r["lower"] + 1e-12
        assert r["upper"] - 1e-12 <= cs["upper"] <= r["upper"] + step


def test_flci_by_hand_with_one_pre_period_and_no_curvature():
    """One pre period (e = -2) and one post period (e = 0), M = 0: δ is linear through δ_-1 = 0, so
    δ_0 = −δ_-2 and the estimator is β_0 + β_-2 with half-length 1.96·sd(β_0 + β_-2)."""
    beta = np.array([0.03, 0.20])
    sigma = np.array([[0.0004, 0.0001], [0.0001, 0.0009]])
    f = core.flci(beta, sigma, 1, np.array([1.0]), 0.0)
    sd = np.sqrt(0.0004 + 0.0009 + 2 * 0.0001)  # var(β_0 + β_-2) = 0.0015
    assert f["center"] == pytest.approx(0.23, abs=1e-12)
    assert f["half_length"] == pytest.approx(stats.norm.ppf(0.975) * sd, rel=1e-10)
    # with curvature M the worst-case bias is M (δ_0 = −δ_-2 + M at most): half-length = sd·cv(M/sd)
    f = core.flci(beta, sigma, 1, np.array([1.0]), 0.01)
    assert f["half_length"] == pytest.approx(sd * core.folded_normal_quantile(0.01 / sd, 0.05), rel=1e-10)


def test_folded_normal_quantile():
    assert core.folded_normal_quantile(0.0, 0.05) == pytest.approx(stats.norm.ppf(0.975), abs=1e-12)
    for t in (0.3, 2.0, 8.0):
        c = core.folded_normal_quantile(t, 0.05)
        assert stats.norm.cdf(c - t) - stats.norm.cdf(-c - t) == pytest.approx(0.95, abs=1e-12)


@pytest.fixture(scope="module")
def dynamic():
    cs = fs.att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat",
                   base_period="universal")
    return cs.aggregate("dynamic")


@pytest.fixture(scope="module")
def rm(dynamic):
    return fs.honest_did(dynamic, mbar=[0, 0.5, 1.0])


def test_honest_did_on_the_dynamic_aggregation_matches_the_stored_case(dynamic, rm):
    beta, sigma, npre, npost, results = _case("mpdta")
    np.testing.assert_allclose(rm.beta, beta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rm.sigma, sigma, rtol=1e-12, atol=0)
    assert (npre, npost) == (len(rm.pre_event_times), len(rm.post_event_times))
    assert rm.pre_event_times == [-4, -3, -2] and rm.post_event_times == [0, 1, 2, 3]
    ref = {r["value"]: r for r in results if r["method"] == "relative_magnitudes" and r["test"] == "C-LF"
           and r["target"] == "average"}
    tab = rm.tidy().set_index("term")
    step = 40 * rm.original["std_error"] / 999
    for v in (0.5, 1.0):
        assert abs(tab.loc[f"Mbar={v:g}", "conf_low"] - ref[v]["lower"]) <= step
        assert abs(tab.loc[f"Mbar={v:g}", "conf_high"] - ref[v]["upper"]) <= step


def test_breakdown_is_where_the_set_first_contains_zero(dynamic, rm):
    b = rm.breakdown
    assert 0 < b < 1
    acc = core.rm_accepts(rm.beta, rm.sigma, 3, 4, rm.l_vec, b, [0.0])[0]
    below = core.rm_accepts(rm.beta, rm.sigma, 3, 4, rm.l_vec, b * 0.99, [0.0])[0]
    assert acc and not below
    tab = rm.tidy()
    assert not tab.loc[tab["value"] == 0, "contains_zero"].item()
    assert tab.loc[tab["value"] == 1.0, "contains_zero"].item()
    sm = fs.honest_did(dynamic, method="smoothness", target=1, m=[0.0, 0.01])
    f = core.flci(sm.beta, sm.sigma, 3, sm.l_vec, sm.breakdown, 0.05)
    assert f["lower"] <= 1e-6 and f["upper"] >= -1e-6


def test_result_contract(rm):
    tab = rm.tidy()
    assert tuple(tab.columns[:7]) == TIDY_COLUMNS
    assert list(tab.columns[7:]) == ["restriction", "parameter", "value", "ci_method", "contains_zero", "target"]
    assert tab["term"].tolist() == ["original", "Mbar=0", "Mbar=0.5", "Mbar=1"]
    assert (tab["estimate"] == rm.original["estimate"]).all()
    assert tab["std_error"].notna().tolist() == [True, False, False, False]
    z = stats.norm.ppf(0.975)
    assert tab.loc[0, "conf_low"] == pytest.approx(rm.original["estimate"] - z * rm.original["std_error"])
    # robust sets widen with Mbar
    assert (np.diff(tab["conf_low"].iloc[1:]) < 0).all() and (np.diff(tab["conf_high"].iloc[1:]) > 0).all()
    assert "Breakdown value: Mbar" in rm.summary() and "C-LF" in rm.summary()
    assert "<table" in rm._repr_html_()
    ci90 = rm.conf_int(0.90)
    assert (ci90["lower"] > rm.conf_int()["lower"]).all() and (ci90["upper"] < rm.conf_int()["upper"]).all()
    with pytest.raises(EstimationError, match="uniform"):
        rm.conf_int(kind="uniform")

    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot(1, 1, 1)
    assert rm.plot(ax=ax) is fig and ax.has_data()


def test_event_study_input_excludes_the_bins():
    rng = np.random.default_rng(5)
    n, T = 300, 10
    unit = np.repeat(np.arange(n), T)
    year = np.tile(np.arange(2010, 2010 + T), n)
    cohort = np.repeat(rng.choice([0, 2014, 2016], n), T)
    y = 0.3 * ((cohort > 0) & (year >= cohort)) + rng.normal(size=n)[unit] + rng.normal(size=n * T)
    df = pd.DataFrame({"firm": unit, "year": year, "cohort": cohort, "y": y})
    es = fs.event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-4, 4))
    h = fs.honest_did(es, method="smoothness", m=[0.0, 0.05])
    assert h.pre_event_times == [-3, -2] and h.post_event_times == [0, 1, 2, 3]
    terms = [es.event_terms[e] for e in (-3, -2, 0, 1, 2, 3)]
    np.testing.assert_allclose(h.beta, es.params[terms].to_numpy())
    np.testing.assert_allclose(h.sigma, es.cov.loc[terms, terms].to_numpy())
    h2 = fs.honest_did(es, target=2, mbar=1)
    assert h2.target == "event time 2" and h2.l_vec.tolist() == [0, 0, 1, 0]
    es2 = fs.event_study(df, outcome="y", unit="firm", time="year", cohort="cohort", window=(-4, 4), reference=-2)
    with pytest.raises(EstimationError, match="reference=-1"):
        fs.honest_did(es2)


def test_errors(dynamic):
    varying = fs.att_gt(MPDTA, outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    with pytest.raises(EstimationError, match="base_period='universal'"):
        fs.honest_did(varying.aggregate("dynamic"))
    with pytest.raises(EstimationError, match="dynamic"):
        fs.honest_did(varying.aggregate("group"))
    with pytest.raises(EstimationError, match="event_study result or att_gt"):
        fs.honest_did(varying)
    with pytest.raises(ConfigError, match="method"):
        fs.honest_did(dynamic, method="linear")
    with pytest.raises(ConfigError, match="post-treatment event time"):
        fs.honest_did(dynamic, target=-2)
    with pytest.raises(ConfigError, match="give mbar"):
        fs.honest_did(dynamic, m=0.1)
    with pytest.raises(ConfigError, match="≥ 0"):
        fs.honest_did(dynamic, mbar=[-1])


def test_the_run_reports_the_robust_sets(tmp_path):
    """analysis.honest_did in the run: a 'Parallel trends' sheet per outcome with the robust
    sets in percentage points, a native chart per source and the breakdown value in the notes."""
    from openpyxl import load_workbook

    cfg = {"analysis": {"honest_did": "relative_magnitudes", "base_period": "universal", "bootstrap": 0},
           "sensitivity": {"enabled": False}}
    r = fs.run(cfg, out=tmp_path / "h.xlsx", progress=False)
    res = r.estimates["share"]["honest_did"]
    ws = load_workbook(r.report_path)["Parallel trends (support share)"]
    rows = [row for row in ws.iter_rows(values_only=True) if any(v is not None for v in row)]
    assert any(res["event_study"].breakdown_text() in str(row[0]) for row in rows)
    heads = [i for i, row in enumerate(rows) if row[0] == "Term"]
    assert len(heads) == 2 and len(ws._charts) == 2   # event study, then the dynamic aggregation
    for i, key in zip(heads, ("event_study", "dynamic"), strict=True):
        t = res[key].tidy()
        got = pd.DataFrame(rows[i + 1:i + 1 + len(t)], columns=rows[i])
        assert list(got["Term"]) == list(t["term"])
        np.testing.assert_allclose(got["Interval, lower (percentage points)"].astype(float), t["conf_low"] * 100,
                                   rtol=1e-12)
        np.testing.assert_allclose(got["Interval, upper (percentage points)"].astype(float), t["conf_high"] * 100,
                                   rtol=1e-12)
