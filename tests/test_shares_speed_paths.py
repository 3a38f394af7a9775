"""The share tables' shortcuts against the straightforward pandas formula, bit for bit.

Each shortcut of ``finsupport.measure.shares`` (the status taken in place when its rows are the
flows' firm-years, firm codes counted along sorted rows, integer group codes ranked without
hashing, group codes kept for the next table, medians of long runs found in place, Kahan sums of
equal-length runs on a strided view, the one-row Kahan step done in place) is compared here with
what it replaces: ``DataFrame.merge``, ``pandas.factorize``, pandas' ``groupby`` median and
``reference_share`` (the documented arithmetic written out firm by firm).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_shares_exact import _assert_bits, _kahan, reference_share
from test_shares_fast import _panel

import finsupport.measure.shares as shares
from finsupport.measure.shares import share_tables, support_share, with_status


def _aligned(seed: int, n_firms: int, holes: bool = True):
    """Flows in (firm, year) order and a status with the same firm-years row by row (designation_status')."""
    flows, status = _panel(seed, n_firms=n_firms, holes=holes)
    flows = flows.assign(firm_id=flows["firm_id"].astype("string[pyarrow]"))
    status = status.sort_values(["firm_id", "year"]).reset_index(drop=True)
    return flows, status.assign(firm_id=status["firm_id"].astype("string[pyarrow]"))


def _merged(flows: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    extra = [c for c in status.columns if c not in flows.columns or c in ("firm_id", "year")]
    return flows.merge(status[extra], on=["firm_id", "year"], how="left")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 30),
       change=st.sampled_from(["none", "year", "firm", "twice", "order", "missing"]))
def test_the_status_attached_in_place_is_the_merge(seed, n_firms, change):
    flows, status = _aligned(seed, n_firms)
    status = status.copy()
    if change == "year" and len(status):
        status.loc[len(status) // 2, "year"] += 1   # a firm-year the flows lack (and one they have, missing)
    elif change == "firm" and len(status):
        status.loc[0, "firm_id"] = "999999"
    elif change == "twice" and len(status) > 1:   # one firm-year twice: the merge repeats the flows row
        status.loc[1, ["firm_id", "year"]] = status.loc[0, ["firm_id", "year"]].to_numpy()
        flows = flows.copy()
        flows.loc[1, ["firm_id", "year"]] = flows.loc[0, ["firm_id", "year"]].to_numpy()
    elif change == "order":
        status = status.iloc[::-1].reset_index(drop=True)
    elif change == "missing" and len(status):
        status.loc[0, "firm_id"] = pd.NA
    got = with_status(flows, status)
    want = _merged(flows, status)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


def test_the_in_place_check_says_no_unless_every_row_matches():
    flows, status = _aligned(3, 12)
    assert shares._same_firm_years(flows, status)
    assert not shares._same_firm_years(flows, status.iloc[::-1].reset_index(drop=True))
    assert not shares._same_firm_years(flows.iloc[:-1], status)
    bumped = status.assign(year=status["year"] + 1)
    assert not shares._same_firm_years(flows, bumped)
    # rows in the same order in both, but a firm-year twice: a merge would repeat rows
    twice_f, twice_s = flows.copy(), status.copy()
    for d in (twice_f, twice_s):
        d.loc[1, ["firm_id", "year"]] = d.loc[0, ["firm_id", "year"]].to_numpy()
    assert not shares._same_firm_years(twice_f, twice_s)
    # the same rows, not sorted by firm: equal row by row but the order check fails, so the general match runs
    rev_f, rev_s = flows.iloc[::-1].reset_index(drop=True), status.iloc[::-1].reset_index(drop=True)
    assert not shares._same_firm_years(rev_f, rev_s)
    pd.testing.assert_frame_equal(with_status(rev_f, rev_s), _merged(rev_f, rev_s))
    # object codes: the general match decides
    assert not shares._same_firm_years(flows.assign(firm_id=flows["firm_id"].astype(object)), status)


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.sampled_from(["A", "B", "C", "D", "AA", ""]), min_size=0, max_size=30),
       sort=st.booleans(), dtype=st.sampled_from(["string[pyarrow]", "str", "object"]))
def test_firm_codes_counted_along_sorted_rows_are_factorize(ids, sort, dtype):
    s = pd.Series(sorted(ids) if sort else ids, dtype=dtype)
    want = pd.factorize(s)[0].astype(np.int64)
    np.testing.assert_array_equal(shares._codes(s), want)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(-3, 6), min_size=1, max_size=40),
       dtype=st.sampled_from(["int8", "int32", "int64"]), wide=st.booleans())
def test_integer_group_codes_are_sorted_factorize(values, dtype, wide):
    v = np.array(values, dtype=np.int64)
    if wide:   # a range far wider than the rows: factorize's own path
        v = v * 10**6 if dtype == "int64" else v
    s = pd.Series(v.astype(dtype))
    k, u = shares._sorted_codes(s)
    wk, wu = pd.factorize(s, sort=True, use_na_sentinel=False)
    np.testing.assert_array_equal(k, wk.astype(np.int64))
    pd.testing.assert_index_equal(pd.Index(u), pd.Index(wu))


@settings(max_examples=80, deadline=None)
@given(runs=st.lists(st.tuples(st.sampled_from(["ever certified", "never certified", "b", "", None]),
                               st.integers(1, 30)), min_size=0, max_size=12),
       shuffle=st.booleans(), chunks=st.integers(1, 3))
def test_text_group_codes_encoded_run_by_run_are_sorted_factorize(runs, shuffle, chunks):
    # a firm's attribute on firm-by-firm rows (runs of one value, each encoded once) or shuffled rows, missing
    # values (a group of their own, last), empty text, pyarrow text in several chunks
    import pyarrow as pa

    values = [v for v, n in runs for _ in range(n)]
    if shuffle:
        values = [values[i] for i in np.random.default_rng(len(values)).permutation(len(values))]
    cut = np.linspace(0, len(values), chunks + 1).astype(int)
    arr = pa.chunked_array([pa.array(values[a:b], pa.string()) for a, b in zip(cut[:-1], cut[1:], strict=True)],
                           type=pa.string())
    s = pd.Series(pd.arrays.ArrowStringArray(arr))
    k, u = shares._sorted_codes(s)
    wk, wu = pd.factorize(s, sort=True, use_na_sentinel=False)
    np.testing.assert_array_equal(k, wk.astype(np.int64))
    pd.testing.assert_index_equal(pd.Index(u), pd.Index(wu))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60),
       by=st.sampled_from([["year"], ["sector"], ["year", "sector"], ["sector", "cohort", "year"]]))
def test_group_codes_from_the_cache_are_those_of_factorize(seed, n, by):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"year": rng.integers(2015, 2020, n), "cohort": rng.choice([0, 2016, 2019], n),
                       "sector": pd.Series(rng.choice(["a", "b", "c"], n), dtype="str")})
    df.loc[rng.random(n) < 0.2, "sector"] = np.nan
    cache: dict = {}
    shares._group_codes(df, by[::-1], cache)   # another table first: its codes are kept
    group, labels = shares._group_codes(df, by, cache)
    codes = [pd.factorize(df[c], sort=True, use_na_sentinel=False)[0] for c in by]
    sizes = [int(df[c].nunique(dropna=False)) for c in by]
    want, combos = pd.factorize(np.ravel_multi_index(codes, sizes) if len(by) > 1 else codes[0], sort=True)
    np.testing.assert_array_equal(group, want)
    # the labels are the groupby's keys in order
    keys = df.groupby(by, sort=True, dropna=False).size().reset_index()[by]
    pd.testing.assert_frame_equal(labels.reset_index(drop=True), keys.reset_index(drop=True), check_dtype=False,
                                  check_column_type=False)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_runs=st.integers(1, 8), threshold=st.sampled_from([1, 5, 10**9]))
def test_medians_of_long_runs_found_in_place_are_pandas_medians(seed, n_runs, threshold):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, n_runs)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    x = rng.choice([0.0, 0.5, 1.0, 2.0], (3, n)) + rng.normal(size=(3, n)) * (rng.random((3, n)) > 0.5)
    x[0, rng.random(n) < 0.1] = np.inf
    ids = np.repeat(np.arange(n_runs), sizes)
    want = pd.DataFrame(x.T).groupby(ids).median().to_numpy().T
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shares, "_MEDIAN_IN_PLACE", threshold)
        got = shares._run_medians(x, ids, np.arange(n_runs), starts, sizes)
    assert (got.view(np.int64) == want.view(np.int64)).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 25), holes=st.booleans(),
       threshold=st.sampled_from([1, 4]))
def test_tables_of_the_run_with_every_median_in_place_are_the_documented_arithmetic(seed, n_firms, holes,
                                                                                     threshold):
    # the run's tables (share_tables on aligned status), the medians found in place down to runs of
    # `threshold` firms, against the arithmetic written out firm by firm
    flows, status = _aligned(seed, n_firms, holes=holes)
    specs = {"year": {"by": "year"}, "cert": {"by": "certified", "years": (2016, 2019), "status": True},
             "cohort": {"by": "cohort", "years": (2016, 2019), "status": True},
             "year_cert": {"by": ["year", "certified"], "status": True},
             "sector": {"by": "sector", "years": (2016, 2019)}, "all": {}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(shares, "_MEDIAN_IN_PLACE", threshold)
        got = share_tables(flows, specs, status=status)
        alone = support_share(flows, by="year", status=status)
    joined = _merged(flows, status)
    for name, spec in specs.items():
        by = spec.get("by")
        _assert_bits(got[name], reference_share(joined, [by] if isinstance(by, str) else list(by or []),
                                                years=spec.get("years")))
    _assert_bits(alone, got["year"])


@pytest.mark.parametrize("length", [1, 6, 64])
def test_kahan_sums_of_runs_of_one_length_are_kahan_in_row_order(length):
    rng = np.random.default_rng(length)
    n_runs = 37
    vals = rng.gamma(1.0, 1e6, (3, n_runs * length)) * 10.0 ** rng.integers(-8, 8, (3, n_runs * length))
    vals[1, ::5] = np.nan
    vals[2, 3] = -0.0
    starts = np.arange(n_runs) * length
    got = shares._kahan_runs(vals, starts)
    want = np.array([[_kahan(vals[j, s:s + length]) for s in starts] for j in range(3)])
    assert (got.view(np.int64) == want.view(np.int64)).all()


def test_one_row_per_firm_and_group_keeps_kahans_first_step():
    # by year each (year, firm) pair is one row: its sum is 0 + (v − 0), so −0 becomes 0 and a
    # missing amount 0, as pandas' group_sum gives
    flows = pd.DataFrame({"firm_id": ["A", "A", "B", "B"], "year": [2020, 2021, 2020, 2021],
                          "subsidy": [-0.0, 2.0, np.nan, 1.0], "equity": 0.0, "debt": 0.0,
                          "revenue": [10.0, 20.0, 30.0, 40.0]})
    flows["total"] = flows["subsidy"].fillna(0.0)
    y = support_share(flows, by="year", components=["subsidy"]).set_index("year")
    assert y.loc[2020, "amount"] == 0.0 and not np.signbit(y.loc[2020, "amount"])
    assert y.loc[2020, "mean_firm_share"] == 0.0 and not np.signbit(y.loc[2020, "median_firm_share"])
    assert y.loc[2021, "amount"] == 3.0


@settings(max_examples=80, deadline=None)
@given(runs=st.lists(st.tuples(st.sampled_from(["000001", "000002", "000010", "x", "", None]), st.integers(1, 30)),
                     max_size=12),
       pick=st.lists(st.sampled_from(["000001", "000010", "", "y"]), max_size=3), shuffle=st.booleans())
def test_firm_selection_is_isin(runs, pick, shuffle):
    # the headline firms' rows (pyarrow's hash set) = isin on every row: runs of one firm's rows, missing ids,
    # empty text, firms not in the rows, rows shuffled
    ids = [v for v, n in runs for _ in range(n)]
    if shuffle:
        ids = [ids[i] for i in np.random.default_rng(len(ids)).permutation(len(ids))]
    df = pd.DataFrame({"firm_id": pd.Series(ids, dtype="string[pyarrow]"), "year": 2020})
    want = df["firm_id"].isin(pick).to_numpy(dtype=bool)
    np.testing.assert_array_equal(shares._selection(df, None, pick), want)
