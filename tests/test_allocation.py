"""Allocation without expansion equals the year-by-year expansion of every grant."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsupport.measure.allocation import (
    allocate_at,
    allocate_declining_balance,
    allocate_straight_line,
)
from finsupport.measure.subsidies import subsidy_flows


def _expanded(codes, year, amount, rate, n):
    """Reference: one row per grant and year of life, summed by firm-year."""
    if rate is None:
        a = allocate_straight_line(pd.Series(codes), pd.Series(year), pd.Series(amount), aul_years=n)
    else:
        a = allocate_declining_balance(pd.Series(codes), pd.Series(year), pd.Series(amount), pd.Series(rate),
                                       aul_years=n)
    return a.groupby(["firm_id", "year"])["allocated"].agg(["sum", "size"])


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(0, 40),
    n=st.integers(1, 12),
    firms=st.integers(1, 6),
    straight=st.booleans(),
    block=st.sampled_from([1, 7, 50, 10_000]),
    seed=st.integers(0, 10_000),
)
def test_allocate_at_equals_the_expansion(m, n, firms, straight, block, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, firms, m)
    year = rng.integers(2000, 2015, m)
    amount = rng.uniform(0, 1e6, m).round(2)
    rate = None if straight else rng.uniform(0.02, 0.08, m)
    # every firm-year from 1995 to 2030, and a firm no grant names
    qc = np.repeat(np.arange(firms + 1), 36)
    qy = np.tile(np.arange(1995, 2031), firms + 1)
    got, count = allocate_at(codes, year, amount, rate, aul_years=n, at_codes=qc, at_years=qy, block_cells=block)
    ref = _expanded(codes, year, amount, rate, n)
    want = ref.reindex(pd.MultiIndex.from_arrays([qc, qy]))
    np.testing.assert_allclose(got, want["sum"].fillna(0.0).to_numpy(), rtol=1e-12, atol=1e-6)
    np.testing.assert_array_equal(count, want["size"].fillna(0).to_numpy().astype(np.int64))


def test_hand_computed_declining_balance_by_firm_year():
    """Two grants of one firm, 19 CFR 351.524(d)(1) with n = 3.

    Grant 1: y = 300, d = 0.05 in 2016, r = d/(1+d) = 0.047619…:
      A_1 = 100 + 300·r = 114.285714…, A_2 = 100 + 200·r = 109.523809…, A_3 = 100 + 100·r = 104.761904…
    Grant 2: y = 600, d = 0.10 in 2017, r = 0.090909…:
      A_1 = 200 + 600·r = 254.545454…, A_2 = 200 + 400·r = 236.363636…, A_3 = 200 + 200·r = 218.181818…
    By year: 2016 114.2857; 2017 109.5238 + 254.5455 = 364.0693; 2018 104.7619 + 236.3636 = 341.1255;
    2019 218.1818; 2015 and 2020 nothing.
    """
    got, count = allocate_at(np.array([0, 0]), np.array([2016, 2017]), np.array([300.0, 600.0]),
                             np.array([0.05, 0.10]), aul_years=3, at_codes=np.zeros(6, np.int64),
                             at_years=np.arange(2015, 2021))
    r1, r2 = 0.05 / 1.05, 0.10 / 1.10
    want = [0.0, 100 + 300 * r1, 100 + 200 * r1 + 200 + 600 * r2, 100 + 100 * r1 + 200 + 400 * r2,
            200 + 200 * r2, 0.0]
    assert got == pytest.approx(want, abs=1e-9)
    assert count.tolist() == [0, 1, 2, 2, 1, 0]


def test_subsidy_flows_rows_and_values_as_the_expansion():
    rng = np.random.default_rng(3)
    m = 300
    grants = pd.DataFrame({"firm_id": rng.choice(["a", "b", "c", "d"], m), "year": rng.integers(2010, 2020, m),
                           "amount": rng.uniform(1e3, 1e6, m).round(0), "recurring": rng.random(m) < 0.3,
                           "programme": rng.choice(["p", "q"], m)})
    revenue = pd.DataFrame({"firm_id": np.repeat(["a", "b", "c", "d"], 10), "year": np.tile(range(2010, 2020), 4),
                            "revenue": rng.uniform(1e6, 1e8, 40)})
    out = subsidy_flows(grants, revenue, basis="cvd", aul_years=7)
    # the expansion, rebuilt from the same events
    from finsupport.measure.subsidies import subsidy_events

    sales = grants.merge(revenue, on=["firm_id", "year"], how="left")["revenue"].to_numpy()
    ev = subsidy_events(grants, sales, basis="cvd", aul_years=7, expense_threshold=0.005,
                        discount_benchmark="lpr_5y")
    rows = ev.alloc_row
    ref = allocate_declining_balance(grants["firm_id"].iloc[rows].reset_index(drop=True),
                                     grants["year"].iloc[rows].reset_index(drop=True),
                                     grants["amount"].iloc[rows].reset_index(drop=True), pd.Series(ev.alloc_rate),
                                     aul_years=7).groupby(["firm_id", "year"])["allocated"].sum()
    keys = set(ref.index) | set(zip(grants["firm_id"], grants["year"], strict=True))
    assert set(zip(out["firm_id"], out["year"], strict=True)) == keys
    got = out.set_index(["firm_id", "year"])["subsidy_allocated"]
    np.testing.assert_allclose(got.reindex(ref.index).to_numpy(), ref.to_numpy(), rtol=1e-12)
    assert out["subsidy_received"].sum() == grants["amount"].sum()
