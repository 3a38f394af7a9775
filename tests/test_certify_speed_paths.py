"""The certification stage's shortcuts against the pandas operations they replace.

``_lagged`` (awarded firms coded, financials rows looked up among them) against the left merge
after ``drop_duplicates`` that the audit falls back to; ``designation_status``' nullable columns
(``years_since``, ``batch``) against the float-then-``Int64`` formula.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsupport.certify.audit import _lagged

COLS = ["revenue", "employees", "rd_expense"]


def _merge_lags(fin: pd.DataFrame, aw: pd.DataFrame, lags) -> dict[int, pd.DataFrame]:
    f = fin[["firm_id", "year", *[c for c in COLS if c in fin]]].drop_duplicates(["firm_id", "year"])
    for c in COLS:
        if c not in f:
            f[c] = np.nan
    return {k: aw[["firm_id", "year"]].assign(year=aw["year"] - k).merge(f, on=["firm_id", "year"], how="left")[COLS]
            .astype(float).reset_index(drop=True) for k in lags}


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 25), n_awards=st.integers(1, 15),
       twice=st.booleans(), dtype=st.sampled_from(["string[pyarrow]", "str", "object"]),
       aw_dtype=st.sampled_from(["string[pyarrow]", "object"]))
def test_lagged_financials_are_the_left_merge(seed, n_firms, n_awards, twice, dtype, aw_dtype):
    rng = np.random.default_rng(seed)
    ids = [f"{i:06d}" for i in range(n_firms)]
    rows = [(f, y) for f in ids for y in range(2014, 2023) if rng.random() > 0.2] or [(ids[0], 2018)]
    fin = pd.DataFrame(rows, columns=["firm_id", "year"])
    fin["revenue"] = rng.gamma(2.0, 1e6, len(fin))
    fin["employees"] = rng.integers(1, 900, len(fin)).astype(float)
    fin.loc[rng.random(len(fin)) < 0.2, "employees"] = np.nan
    if twice:   # a firm-year twice: the first row counts
        fin = pd.concat([fin, fin.sample(min(4, len(fin)), random_state=seed).assign(revenue=-1.0)],
                        ignore_index=True)
    fin = fin.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    fin["firm_id"] = fin["firm_id"].astype(dtype)
    # awards of firms with and without financials ("9…" codes have none)
    pool = ids + ["900000", "900001"]
    aw = pd.DataFrame({"firm_id": rng.choice(pool, n_awards), "year": rng.integers(2015, 2025, n_awards)})
    aw = aw.sort_values(["firm_id", "year"], kind="stable").reset_index(drop=True)
    aw["firm_id"] = aw["firm_id"].astype(aw_dtype)
    got = _lagged(fin, aw, COLS, (1, 2, 3))
    want = _merge_lags(fin.assign(firm_id=fin["firm_id"].astype(object)),
                       aw.assign(firm_id=aw["firm_id"].astype(object)), (1, 2, 3))
    assert got is not None
    for k in (1, 2, 3):
        pd.testing.assert_frame_equal(got[k], want[k], check_exact=True)


@pytest.mark.parametrize("batch", [True, False])
def test_status_nullable_columns_are_the_float_formula(batch):
    from finsupport.certify.status import designation_status
    from finsupport.example import load_example

    data = load_example()
    if not batch and "batch" in data.designations:
        data.designations = data.designations.drop(columns="batch")
    st_ = designation_status(data)
    want_since = (st_["year"] - st_["cohort"]).where(st_["cohort"] > 0).astype("Int64")
    pd.testing.assert_series_equal(st_["years_since"], want_since, check_names=False)
    assert st_["batch"].dtype == "Int64" and st_["years_since"].dtype == "Int64"
    first = (data.designations[data.designations["tier"] == "little_giant"].sort_values(["firm_id", "year"])
             .drop_duplicates("firm_id").set_index("firm_id"))
    if batch:
        want_batch = st_["firm_id"].map(pd.to_numeric(first["batch"], errors="coerce")).astype("Int64")
    else:
        want_batch = pd.Series(pd.NA, index=st_.index, dtype="Int64")
    pd.testing.assert_series_equal(st_["batch"].reset_index(drop=True), want_batch.reset_index(drop=True),
                                   check_names=False)
    # a batch that is not a whole number stays an error, as the row-by-row conversion raised
    if batch:
        des = data.designations.copy()
        des["batch"] = des["batch"].astype(float)
        des.loc[des.index[des["tier"] == "little_giant"][0], "batch"] = 1.5
        data.designations = des
        with pytest.raises(TypeError):
            designation_status(data)
