"""Invariants of support_flows: unit scaling and row order (hypothesis)."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finsupport as fs
from finsupport.measure.flows import support_flows
from finsupport.simulate import simulate

BASE = simulate(n_firms=30, years=(2015, 2020), seed=3)
AMOUNTS = {
    "financials": ["revenue", "total_assets", "total_liabilities", "interest_bearing_debt", "interest_expense",
                   "rd_expense", "main_business_revenue", "net_profit"],
    "grants": ["amount"],
    "equity": ["amount"],
}
BASES = st.sampled_from(["received", "cvd", "straight_line"])


def _copy(data, **tables):
    kw = {n: getattr(data, n).copy() for n in ("firms", "financials", "grants", "equity", "designations")}
    kw.update(tables)
    return fs.Dataset(**kw)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.sampled_from([1e-4, 0.01, 10.0, 1e4]), basis=BASES, equity=st.sampled_from(["gross", "grant_equivalent"]))
def test_unit_scaling(k, basis, equity):
    """Amounts scale with the unit; shares and rates do not (e.g. yuan vs 10,000 yuan)."""
    scaled = {t: getattr(BASE, t).assign(**{c: getattr(BASE, t)[c] * k for c in cols}) for t, cols in AMOUNTS.items()}
    a = support_flows(_copy(BASE), subsidy_basis=basis, equity_basis=equity)
    b = support_flows(_copy(BASE, **scaled), subsidy_basis=basis, equity_basis=equity)
    for c in ("subsidy", "equity", "debt", "total", "avg_debt"):
        np.testing.assert_allclose(b[c].to_numpy(), a[c].to_numpy() * k, rtol=1e-9)
    for c in ("share", "effective_rate", "rate_gap"):
        np.testing.assert_allclose(b[c].to_numpy(), a[c].to_numpy(), rtol=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), basis=BASES)
def test_row_order(seed, basis):
    """Shuffling the rows of every table changes nothing."""
    rng = np.random.default_rng(seed)
    shuffled = {t: getattr(BASE, t).sample(frac=1.0, random_state=rng).reset_index(drop=True)
                for t in ("firms", "financials", "grants", "equity")}
    a = support_flows(_copy(BASE), subsidy_basis=basis)
    b = support_flows(_copy(BASE, **shuffled), subsidy_basis=basis)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
