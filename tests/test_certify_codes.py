"""The criteria audit's and the status's lookups on integer codes give what the merges and
reindexing on text codes gave."""

from __future__ import annotations

import numpy as np
import pandas as pd

from finsupport.certify.audit import _lagged
from finsupport.certify.status import _firm_positions


def test_lagged_financials_equal_the_left_merge_after_drop_duplicates():
    rng = np.random.default_rng(3)
    firms = [f"{i:06d}" for i in range(30)]
    fin = pd.DataFrame({"firm_id": pd.array(rng.choice(firms, 200), dtype="str"),
                        "year": rng.integers(2012, 2022, 200),
                        "revenue": rng.gamma(2.0, 100.0, 200),
                        "employees": pd.array(rng.integers(1, 900, 200), dtype="Int64")})
    fin.loc[rng.random(200) < 0.1, "revenue"] = np.nan
    fin.loc[rng.random(200) < 0.1, "employees"] = pd.NA
    # awards of firms with and without financials, in years inside and outside the panel
    aw = pd.DataFrame({"firm_id": pd.array(rng.choice([*firms, "999999"], 50), dtype="str"),
                       "year": rng.integers(2010, 2025, 50)})
    cols = ["revenue", "employees", "rd_expense"]
    got = _lagged(fin, aw, cols, (1, 2, 3))
    f = fin.drop_duplicates(["firm_id", "year"]).assign(rd_expense=np.nan)
    for k in (1, 2, 3):
        want = aw.assign(year=aw["year"] - k).merge(f, on=["firm_id", "year"], how="left")[cols].astype(float)
        pd.testing.assert_frame_equal(got[k], want.reset_index(drop=True), check_exact=True)


def test_firm_positions_equal_get_indexer():
    firms = pd.Index(pd.array(["000001", "000003", "000007"], dtype="str"))
    ids = pd.Series(pd.array(["000007", None, "000002", "000001", "000007"], dtype="str"))
    assert list(_firm_positions(ids, firms)) == [2, -1, -1, 0, 2]
    assert list(_firm_positions(ids.astype(object), pd.Index(["000001", "000003", "000007"], dtype=object))) \
        == list(pd.Index(["000001", "000003", "000007"], dtype=object).get_indexer(ids.astype(object)))
