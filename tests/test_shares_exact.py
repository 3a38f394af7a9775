"""The share tables bit for bit: ``support_share`` and ``share_tables`` against the arithmetic their
docstrings state, written out plainly (a Python loop per firm for the compensated sums), against
pandas' groupby where pandas sums the same way, and against a case computed by hand.
"""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.core.groupby import ops as _pandas_groupby_ops
from test_shares_fast import _panel

from finsupport.measure.flows import COMPONENTS
from finsupport.measure.shares import SHARE_COLUMNS, share_tables, support_share

COMPS = [*COMPONENTS, "total"]


def _kahan(values) -> float:
    """pandas' ``group_sum`` for one group: Kahan summation in the given order, missing values skipped."""
    s = c = 0.0
    for v in values:
        if v != v:
            continue
        y = v - c
        t = s + y
        c = (t - s) - y
        if c != c:
            c = 0.0
        s = t
    return s


def _pairwise(values: np.ndarray) -> float:
    return float(np.add.reduceat(np.asarray(values, dtype=float), [0])[0])


def reference_share(flows: pd.DataFrame, by: list[str], years=None, components=COMPS) -> pd.DataFrame:
    """The documented arithmetic, group by group and firm by firm.

    Firm sums: pairwise (``add.reduceat``) when the valid rows are already in (group, firm
    code) order and no amount is missing, else Kahan in row order; group sums and means:
    pairwise over the firm sums in firm-code order; medians: ``statistics.median``.
    """
    df = flows if years is None else flows[flows["year"].between(*years)]
    firm = pd.factorize(df["firm_id"])[0]            # codes by first appearance
    valid = df["revenue"].to_numpy(dtype=float) > 0
    cols = [*components, "revenue"]
    d = df[valid].reset_index(drop=True)
    gkeys = [tuple(r) for r in d[by].itertuples(index=False)] if by else [()] * len(d)
    excl = df[~valid]
    ekeys = [tuple(r) for r in excl[by].itertuples(index=False)] if by else [()] * len(excl)
    fv = firm[valid]
    order_key = list(zip(gkeys, fv, strict=True))
    group_rank = {g: i for i, g in enumerate(sorted(set(gkeys), key=_nan_last))}
    key = np.array([group_rank[g] for g in gkeys], dtype=np.int64) * (firm.max() + 1 if len(firm) else 1) + fv
    in_order = bool(len(key) < 2 or (np.diff(key) >= 0).all())
    plain = in_order and not d[cols].isna().to_numpy().any()
    pairs: dict = {}
    for i, k in enumerate(order_key):
        pairs.setdefault(k, []).append(i)
    rows = []
    for g in sorted(set(gkeys), key=_nan_last):
        firms = sorted(f for (gg, f) in pairs if gg == g)
        fsum = {c: np.array([(_pairwise if plain else _kahan)(d[c].to_numpy()[pairs[(g, f)]]) for f in firms])
                for c in cols}
        rev = _pairwise(fsum["revenue"])
        for comp in components:
            amt = _pairwise(fsum[comp])
            ratio = fsum[comp] / fsum["revenue"]
            rows.append({**dict(zip(by, g, strict=True)), "component": comp,
                         "pooled_share": amt / rev, "mean_firm_share": _pairwise(ratio) / len(ratio),
                         "median_firm_share": statistics.median(ratio.tolist()), "amount": amt, "revenue": rev,
                         "n_firms": len(firms), "n_firm_years": sum(len(pairs[(g, f)]) for f in firms),
                         "n_excluded_firm_years": sum(1 for e in ekeys if _same(e, g))})
    out = pd.DataFrame(rows)
    if by:   # component-major, as support_share lays the rows out
        out["_c"] = out["component"].map({c: i for i, c in enumerate(components)})
        out = out.sort_values("_c", kind="stable").drop(columns="_c").reset_index(drop=True)
    return out[[*by, *SHARE_COLUMNS]]


def _nan_last(g):
    return tuple((v != v, "" if v != v else v) for v in g)


def _same(a, b) -> bool:
    return all((x == y) or (x != x and y != y) for x, y in zip(a, b, strict=True))


def _assert_bits(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal to the last bit, the sign of zero included."""
    got = got.reset_index(drop=True)
    want = want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for c in got.columns:
        a, b = got[c].to_numpy(), want[c].to_numpy()
        if got[c].dtype.kind == "f":
            b = np.asarray(b, dtype=float)
            same = (a.view(np.int64) == b.view(np.int64)) | (np.isnan(a) & np.isnan(b))
            assert same.all(), f"{c}: {a[~same]} != {b[~same]}"
        else:
            assert [str(x) for x in a] == [str(x) for x in b], c


def test_a_case_computed_by_hand():
    # firm A: 2020 subsidy 5 of revenue 100, 2021 15 of 300 -> firm share 20/400 = 0.05
    # firm B: 2020 subsidy 30 of revenue 200 -> 0.15; 2021 revenue 0: excluded
    flows = pd.DataFrame({"firm_id": ["A", "A", "B", "B"], "year": [2020, 2021, 2020, 2021],
                          "subsidy": [5.0, 15.0, 30.0, 7.0], "equity": 0.0, "debt": 0.0,
                          "revenue": [100.0, 300.0, 200.0, 0.0]})
    flows["total"] = flows["subsidy"]
    t = support_share(flows, components=["subsidy"]).iloc[0]
    assert t["pooled_share"] == 50 / 600          # (5 + 15 + 30) / (100 + 300 + 200)
    assert t["mean_firm_share"] == 0.1            # (0.05 + 0.15) / 2
    assert t["median_firm_share"] == 0.1          # the mean of the two middle ratios
    assert (t["amount"], t["revenue"]) == (50.0, 600.0)
    assert (t["n_firms"], t["n_firm_years"], t["n_excluded_firm_years"]) == (2, 3, 1)
    y = support_share(flows, by="year", components=["subsidy"]).set_index("year")
    assert y.loc[2020, "pooled_share"] == 35 / 300 and y.loc[2020, "mean_firm_share"] == (0.05 + 0.15) / 2
    assert y.loc[2021, "pooled_share"] == 15 / 300 and y.loc[2021, "n_firms"] == 1
    assert y.loc[2021, "n_excluded_firm_years"] == 1


CASES = [[], ["year"], ["sector"], ["cohort"], ["year", "cohort"]]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 20), by=st.sampled_from(CASES),
       shuffle=st.booleans(), holes=st.booleans())
def test_figures_are_the_documented_arithmetic_bit_for_bit(seed, n_firms, by, shuffle, holes):
    flows, status = _panel(seed, n_firms=n_firms, holes=holes)
    flows = flows.merge(status[["firm_id", "year", "cohort"]], on=["firm_id", "year"])
    if shuffle:   # rows in any order: the compensated sums follow it, as documented
        flows = flows.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    got = support_share(flows, by=by or None)
    _assert_bits(got, reference_share(flows, by))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 20), power=st.integers(-30, 30),
       by=st.sampled_from(CASES[:3]))
def test_units_scaled_by_a_power_of_two_give_the_same_shares_bit_for_bit(seed, n_firms, power, by):
    # yuan to 2**power yuan: every sum scales exactly, so every share is the same number
    flows, _ = _panel(seed, n_firms=n_firms)
    scaled = flows.assign(**{c: flows[c] * 2.0 ** power for c in [*COMPS, "revenue"]})
    a, b = support_share(flows, by=by or None), support_share(scaled, by=by or None)
    _assert_bits(a[[c for c in a if "share" in c]], b[[c for c in b if "share" in c]])
    _assert_bits(a[["amount", "revenue"]] * 2.0 ** power, b[["amount", "revenue"]])


def test_several_tables_at_once_equal_each_table_alone():
    flows, status = _panel(7, n_firms=60)
    specs = {"year": {"by": "year"}, "cert": {"by": "certified", "years": (2016, 2019), "status": True},
             "year_cert": {"by": ["year", "certified"], "status": True}, "sector": {"by": "sector", "years": (2016, 2019)},
             "firms": {"firms": ["000001", "000004"]}, "all": {}}
    got = share_tables(flows, specs, status=status)
    for name, spec in specs.items():
        spec = dict(spec)
        st_ = status if spec.pop("status", False) else None
        _assert_bits(got[name], support_share(flows, status=st_, **spec))
        assert got[name].attrs == support_share(flows, status=st_, **spec).attrs


@pytest.mark.skipif(not hasattr(_pandas_groupby_ops.BaseGrouper, "_reduceat_aggregate"),
                    reason="this pandas sums sorted groups with Kahan's loop, not numpy's reduceat")
@pytest.mark.parametrize("by", [None, "year", "sector", ["year", "sector"]])
def test_the_figures_of_pandas_groupby_sums_bit_for_bit(by):
    # the earlier implementation: pandas' groupby on the same integer keys
    flows, _ = _panel(11, n_firms=80)
    bys = [by] if isinstance(by, str) else list(by or [])
    valid = flows["revenue"].to_numpy(dtype=float) > 0
    d = flows[valid]
    firm = pd.factorize(flows["firm_id"])[0][valid]
    if bys:
        codes = [pd.factorize(flows[c], sort=True, use_na_sentinel=False)[0][valid] for c in bys]
        sizes = [int(flows[c].nunique(dropna=False)) for c in bys]
        group = pd.factorize(np.ravel_multi_index(codes, sizes), sort=True)[0]
    else:
        group = np.zeros(len(d), dtype=np.int64)
    # one block of columns (as the earlier implementation built it): pandas chooses its summation per
    # block, Kahan's loop for all of them when any amount is missing
    values = pd.DataFrame(np.ascontiguousarray(d[[*COMPS, "revenue"]].to_numpy().T).T, columns=[*COMPS, "revenue"],
                          copy=False)
    n = int(firm.max()) + 1
    firm_sums = values.groupby(group.astype(np.int64) * n + firm, sort=True).sum()
    pair_group = firm_sums.index.to_numpy() // n
    ratios = firm_sums[COMPS].div(firm_sums["revenue"], axis=0)
    sums = firm_sums.groupby(pair_group).sum()
    got = support_share(flows, by=by)
    for comp in COMPS:
        part = got[got["component"] == comp]
        _assert_bits(part[["amount", "revenue"]], pd.DataFrame({"amount": sums[comp].to_numpy(),
                                                                "revenue": sums["revenue"].to_numpy()}))
        _assert_bits(part[["mean_firm_share", "median_firm_share"]],
                     pd.DataFrame({"mean_firm_share": ratios[comp].groupby(pair_group).mean().to_numpy(),
                                   "median_firm_share": ratios[comp].groupby(pair_group).median().to_numpy()}))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_runs=st.integers(1, 6), missing=st.floats(0.0, 0.9))
def test_medians_of_runs_with_missing_values_are_pandas_medians(seed, n_runs, missing):
    from finsupport.measure.shares import _run_medians

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, n_runs)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    x = rng.choice([0.0, 0.5, 1.0, 2.0, 3.25], (3, int(sizes.sum()))) + rng.normal(size=(3, int(sizes.sum())))
    x[rng.random(x.shape) < missing] = np.nan
    x[0, rng.random(x.shape[1]) < 0.05] = np.inf
    ids = np.repeat(np.arange(n_runs), sizes)
    want = pd.DataFrame(x.T).groupby(ids).median().to_numpy().T
    got = _run_medians(x, ids, np.arange(n_runs), starts, sizes)
    assert ((got.view(np.int64) == want.view(np.int64)) | (np.isnan(got) & np.isnan(want))).all()


@pytest.mark.parametrize("lengths", [[200], [3, 150, 1, 70]])
def test_long_runs_are_kahan_sums_in_row_order(lengths):
    from finsupport.measure.shares import _kahan_runs

    rng = np.random.default_rng(5)
    vals = rng.gamma(1.0, 1e6, (2, sum(lengths))) * 10.0 ** rng.integers(-8, 8, (2, sum(lengths)))
    vals[1, ::7] = np.nan
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    got = _kahan_runs(vals, starts)
    want = np.array([[_kahan(vals[j, s:s + n]) for s, n in zip(starts, lengths, strict=True)] for j in range(2)])
    assert (got.view(np.int64) == want.view(np.int64)).all()


@pytest.mark.parametrize("components", [None, ["subsidy", "tax"]])
def test_tables_grouped_by_status_have_the_flows_components(components):
    """A table grouped by certification status lists the components of the flows' total and of the
    extended view, as one grouped by year does (the status join keeps the flows' declaration)."""
    from finsupport.certify.status import designation_status
    from finsupport.example import load_example
    from finsupport.measure.flows import support_flows
    from finsupport.measure.shares import share_tables, support_share, with_status

    data = load_example()
    flows = support_flows(data, **({"components": components} if components else {}))
    status = designation_status(data)[["firm_id", "year", "cohort"]]
    joined = with_status(flows, status)
    assert joined.attrs == flows.attrs
    pd.testing.assert_frame_equal(support_share(joined, by="cohort", extended=True),
                                  support_share(flows, by="cohort", status=status, extended=True))
    tabs = share_tables(flows, {"by year": {"by": "year"}, "by cohort": {"by": "cohort", "status": True}},
                        status=status, extended=True)
    want = list(dict.fromkeys(tabs["by year"]["component"]))
    assert list(dict.fromkeys(tabs["by cohort"]["component"])) == want
    inner = components or ["subsidy", "equity", "debt"]
    assert want[: len(inner) + 1] == [*inner, "total"] and want[-1] == "total_extended"
    assert set(want) == {"subsidy", "equity", "debt", "tax", "land", "total", "total_extended"}
