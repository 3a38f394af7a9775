"""Work shared across the outcomes of a run (``finsupport.estimate.reuse.shared_work``) gives the numbers
of the per-outcome path bit for bit, and is used only for inputs equal to the stored ones."""

import numpy as np
import pandas as pd
import pytest

import finsupport as fs
from finsupport.config import load_config
from finsupport.errors import ConfigError
from finsupport.estimate import reuse, twfe
from finsupport.estimate.panel import analysis_panel
from finsupport.progress import Progress
from finsupport.run import _estimate


def _all_numbers(r: dict) -> dict:
    """Every figure the run keeps of one outcome's estimates, as arrays (exact comparison)."""
    out = {}
    for name in ("twfe", "event_study"):
        fit = r[name]
        out[name] = np.concatenate([fit.params.to_numpy(), fit.cov.to_numpy().ravel(),
                                    fit.tidy().select_dtypes("number").to_numpy(dtype=float).ravel()])
        out[name + " residuals"] = fit.model_result.demeaned[0]
    cs = r["att_gt"]
    out["att_gt"] = cs.tidy().select_dtypes("number").to_numpy(dtype=float).ravel()
    out["att_gt influence"] = cs.influence
    out["att_gt draws"] = np.concatenate([a.ravel() for a in cs._draws[next(iter(cs._draws))][:2]])
    for k, agg in r["aggregates"].items():
        out[f"aggregate {k}"] = agg.tidy().select_dtypes("number").to_numpy(dtype=float).ravel()
        out[f"aggregate {k} influence"] = agg.influence
    out["bacon"] = np.r_[r["bacon"].table[["estimate", "weight"]].to_numpy().ravel(), r["bacon"].twfe_estimate]
    return out


@pytest.fixture(scope="module")
def setting():
    data = fs.simulate(n_firms=400, seed=11)
    cfg = load_config({"analysis": {"outcomes": ["share", "subsidy_share", "log_revenue"], "bootstrap": 99,
                                    "estimators": ["twfe", "event_study", "att_gt", "bacon"]}})
    panel = analysis_panel(data, fs.support_flows(data, options=cfg.measure_options))
    return cfg, panel, data


def _compare(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for outcome in a:
        na, nb = _all_numbers(a[outcome]), _all_numbers(b[outcome])
        for key in na:
            np.testing.assert_array_equal(na[key], nb[key], err_msg=f"{outcome}: {key}", strict=True)


def test_shared_work_gives_the_per_outcome_numbers_bit_for_bit(setting):
    cfg, panel, data = setting
    alone = _estimate(cfg, panel, data, [], Progress(enabled=False))
    with reuse.shared_work():
        shared = _estimate(cfg, panel, data, [], Progress(enabled=False))
    _compare(alone, shared)


def test_outcomes_with_different_rows_share_only_what_is_equal(setting):
    """An outcome missing in some rows has other firm-years: nothing of the first outcome's design fits it."""
    cfg, panel, data = setting
    p = panel.copy()
    p.loc[p.index[:200:7], "subsidy_share"] = np.nan   # unbalanced: att_gt drops those firms, bacon stops
    notes_a, notes_b = [], []
    alone = _estimate(cfg, p, data, notes_a, Progress(enabled=False))
    with reuse.shared_work():
        shared = _estimate(cfg, p, data, notes_b, Progress(enabled=False))
    assert notes_a == notes_b
    for outcome in alone:
        for name in ("twfe", "event_study"):
            assert alone[outcome][name].tidy().equals(shared[outcome][name].tidy())
            np.testing.assert_array_equal(alone[outcome][name].cov.to_numpy(), shared[outcome][name].cov.to_numpy())
        np.testing.assert_array_equal(alone[outcome]["att_gt"].influence, shared[outcome]["att_gt"].influence)
        assert alone[outcome]["att_gt"].tidy().equals(shared[outcome]["att_gt"].tidy())
    assert alone["share"]["twfe"].nobs != alone["subsidy_share"]["twfe"].nobs
    assert "bacon" not in alone["subsidy_share"] and "bacon" in alone["share"]


def test_att_gt_without_units_left_says_why():
    from finsupport.errors import EstimationError
    from finsupport.estimate.cs_core import att_gt

    # every unit misses its outcome in one period: the balanced panel has no unit left
    df = pd.DataFrame({"u": [1, 1, 2, 2], "t": [1, 2, 1, 2], "g": [2, 2, 0, 0], "y": [1.0, np.nan, np.nan, 2.0]})
    with pytest.raises(EstimationError, match="no unit left"):
        att_gt(df, outcome="y", unit="u", time="t", cohort="g")
    # one period observed: no cell has a pre-period
    df = pd.DataFrame({"u": [1, 1, 2, 2], "t": [1, 2, 1, 2], "g": [2, 2, 0, 0], "y": [1.0, np.nan, 2.0, np.nan]})
    with pytest.raises(EstimationError, match="no ATT"):
        att_gt(df, outcome="y", unit="u", time="t", cohort="g")


def test_a_result_is_used_only_for_equal_inputs_and_not_after_the_block():
    calls = []

    def compute(tag):
        calls.append(tag)
        return tag

    a = np.arange(10.0)
    with reuse.shared_work():
        assert reuse.recall("k", (a, "x"), lambda: compute(1)) == 1
        assert reuse.recall("k", (a.copy(), "x"), lambda: compute(2)) == 1      # equal values: stored result
        assert reuse.recall("k", (a, "y"), lambda: compute(3)) == 3             # another option
        b = a.copy()
        b[4] = 4.5
        assert reuse.recall("k", (b, "x"), lambda: compute(4)) == 4             # one value differs
        a[0] = -1.0  # changing the caller's array after storing cannot make the old result match it
        assert reuse.recall("k", (a, "x"), lambda: compute(5)) == 5
        nan = np.array([np.nan, 1.0])
        assert reuse.recall("k", (nan,), lambda: compute(6)) == 6
        assert reuse.recall("k", (nan,), lambda: compute(7)) == 7               # a missing value never matches
        ids = np.array(["a", "b", None], dtype=object)
        assert reuse.recall("k", (ids,), lambda: compute(8)) == 8
        assert reuse.recall("k", (ids.astype(str),), lambda: compute(9)) == 9   # another dtype
    assert reuse.recall("k", (np.arange(10.0), "y"), lambda: compute(10)) == 10  # nothing kept after the block
    assert not reuse.active()
    assert calls == [1, 3, 4, 5, 6, 7, 8, 9, 10]


def test_ids_factorised_once_per_equal_column():
    s = pd.Series(["b", "a", "b", "c"], dtype=object)
    with reuse.shared_work():
        first = reuse.ids(s)
        assert reuse.ids(s.copy()) is first
        assert reuse.ids(s.astype("string")) is not first       # another type of column
        codes, uniq = first.factorize(False)
        exp_codes, exp_uniq = pd.factorize(s)
        np.testing.assert_array_equal(codes, exp_codes)
        assert uniq.equals(exp_uniq)
        assert not first.hasnans and reuse.ids(pd.Series(["a", None], dtype=object)).hasnans


def test_grid_cluster_scores_are_bincount_s():
    """Clustered by unit on a balanced panel in (unit, period) order: the score sums made period by
    period are numpy.bincount's, to the last digit."""
    rng = np.random.default_rng(3)
    for n2, k in ((7, 3), (10, 1), (10, 2), (13, 8), (30, 3)):  # 8 or more periods: numpy's pairwise sums
        n1 = 300
        Xt = rng.normal(size=(n1 * n2, k)) * 10.0 ** rng.integers(-6, 6, (n1 * n2, k))
        yt = rng.normal(size=n1 * n2) * 1e3
        clusters = np.repeat(np.arange(n1), n2)
        names = [f"x{j}" for j in range(k)]
        general = twfe._FastPanelResult.from_residuals(yt, Xt, names, clusters, n_effects=n1 + n2 - 1)
        fast = twfe._FastPanelResult.from_residuals(yt, Xt, names, clusters, n_effects=n1 + n2 - 1,
                                                    grid=(n1, n2))
        np.testing.assert_array_equal(general.cov.to_numpy(), fast.cov.to_numpy())


def test_analysis_panel_takes_the_run_s_status(setting):
    from finsupport.certify.status import designation_status

    _, panel, data = setting
    flows = fs.support_flows(data)
    st = designation_status(data, years=sorted(flows["year"].unique()))
    pd.testing.assert_frame_equal(analysis_panel(data, flows, status=st), analysis_panel(data, flows),
                                  check_exact=True)
    with pytest.raises(ConfigError, match="status table"):
        analysis_panel(data, flows, status=st[st["year"] > st["year"].min()])
