"""``PanelIndex`` shortcuts against the plain operations they replace.

Firm codes counted along sorted rows against ``pandas.factorize(sort=True)``; the table of
positions against a binary search of the sorted keys (the first row when a firm-year is there
twice); sums without the mask against the masked ``bincount``; the firms' sector and province on
the flows against a merge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from finsupport.measure.panel_index import PanelIndex


def _searchsorted_locate(px: PanelIndex, codes: np.ndarray, year) -> np.ndarray:
    """``locate`` as a binary search on the sorted keys (the rule the table of positions must follow)."""
    yr = np.asarray(year, dtype=np.int64)
    inside = (codes >= 0) & (yr >= px.ymin) & (yr < px.ymin + px.span)
    key = codes.astype(np.int64) * px.span + (yr - px.ymin)
    pos = np.searchsorted(px.key, key)
    pos_c = np.minimum(pos, max(px.n - 1, 0))
    found = inside & (pos < px.n) & (px.key[pos_c] == key) if px.n else np.zeros(len(key), bool)
    return np.where(found, pos_c, -1)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 30), n_years=st.integers(1, 12),
       fill=st.sampled_from([1.0, 0.7, 0.05]), shuffle=st.booleans(), twice=st.booleans(),
       dtype=st.sampled_from(["string[pyarrow]", "str", "object"]), spread=st.sampled_from([1, 500]))
def test_codes_and_positions_are_factorize_and_binary_search(seed, n_firms, n_years, fill, shuffle, twice, dtype,
                                                             spread):
    # spread 500: years far apart, a mostly empty firms × years grid (the binary search, not the table)
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:06d}" for i in rng.choice(10**6, n_firms, replace=False)])
    rows = [(f, 2010 + y * spread) for f in sorted(ids) for y in range(n_years) if rng.random() < fill] or [(ids[0], 2010)]
    df = pd.DataFrame(rows, columns=["firm_id", "year"])
    if twice:   # a firm-year twice: the first row is the one found
        df = pd.concat([df, df.sample(min(3, len(df)), random_state=seed)], ignore_index=True)
    if shuffle:
        df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df["firm_id"] = df["firm_id"].astype(dtype)
    px = PanelIndex(df["firm_id"], df["year"])
    codes, firms = pd.factorize(df["firm_id"], sort=True)
    pd.testing.assert_index_equal(px.firms, pd.Index(firms), exact=True)
    np.testing.assert_array_equal(px.codes, codes[px.order])
    # queries: known firms in and out of the panel's years, unknown firms (−1), years beyond the range
    q = rng.integers(-1, len(px.firms), 200)
    qy = 2010 + rng.integers(-3, n_years + 3, 200) * spread + rng.integers(0, 2, 200) * (spread > 1)
    np.testing.assert_array_equal(px.locate(q, qy), _searchsorted_locate(px, q, qy))
    np.testing.assert_array_equal(px.locate(px.codes, px.year), _searchsorted_locate(px, px.codes, px.year))
    # sums: every position known (no mask) and some unknown (masked), the same terms in the same order
    vals = rng.gamma(1.0, 1e6, 200) * 10.0 ** rng.integers(-6, 6, 200)
    pos = px.locate(q, qy)
    ok = pos >= 0
    want = np.bincount(pos[ok], weights=vals[ok], minlength=px.n)
    np.testing.assert_array_equal(px.total(pos, vals), want)
    inside = pos[ok]
    np.testing.assert_array_equal(px.total(inside, vals[ok]), want)


def test_a_sparse_panel_uses_the_binary_search():
    # two firms whose years are far apart: no table of positions (it would be mostly empty)
    px = PanelIndex(pd.Series(["A", "B"], dtype="string[pyarrow]"), pd.Series([1000, 3000]))
    assert px._positions_table() is None
    np.testing.assert_array_equal(px.locate(np.array([0, 1, 1, 0]), [1000, 3000, 1000, 3000]), [0, 1, -1, -1])
    dense = PanelIndex(pd.Series(["A", "B"], dtype="string[pyarrow]"), pd.Series([2019, 2020]))
    assert dense._positions_table() is not None


def test_firm_attributes_on_the_flows_are_those_of_a_merge():
    from finsupport.example import load_example
    from finsupport.measure.flows import support_flows

    data = load_example()
    flows = support_flows(data)
    firms = data.firms.drop_duplicates("firm_id")
    want = flows[["firm_id"]].merge(firms[["firm_id", "sector", "province"]], on="firm_id", how="left")
    for c in ("sector", "province"):
        pd.testing.assert_series_equal(flows[c], want[c].astype(firms[c].dtype), check_names=True)
        assert isinstance(flows[c].index, pd.RangeIndex)
