"""Fuzz support_flows: any input either works or raises the project's error type."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finsupport as fs
from finsupport.errors import FinsupportError

CELL = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-10**12, 10**12),
    st.sampled_from(["", "--", "NA", "无", "1,234", "2019-12-31", "abc", "=1+1", "-5", "0", "2019", "1e999"]),
)
YEAR = st.one_of(st.integers(1890, 2230), st.sampled_from(["2019", "2019-12-31", "x", None, 2019.5]))
FIRM = st.sampled_from(["001", "002", "003", None, "", 1.0])


def _table(draw, columns, n):
    return pd.DataFrame({c: draw(st.lists(gen, min_size=n, max_size=n)) for c, gen in columns.items()})


@st.composite
def datasets(draw):
    n = draw(st.integers(0, 6))
    fin = _table(draw, {"firm_id": FIRM, "year": YEAR, "revenue": CELL, "interest_bearing_debt": CELL,
                        "interest_expense": CELL}, n)
    m = draw(st.integers(0, 5))
    grants = _table(draw, {"firm_id": FIRM, "year": YEAR, "amount": CELL,
                           "recurring": st.sampled_from([True, False, None, "是", "maybe"])}, m)
    k = draw(st.integers(0, 4))
    equity = _table(draw, {"firm_id": FIRM, "year": YEAR, "amount": CELL,
                           "investor_type": st.sampled_from(["guidance_fund", "private", None, "SOE "])}, k)
    with_firms = draw(st.booleans())
    firms = pd.DataFrame({"firm_id": ["001", "002"]}) if with_firms else None
    return dict(firms=firms, financials=fin, grants=grants, equity=equity)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables=datasets(), basis=st.sampled_from(["received", "cvd", "straight_line"]))
def test_support_flows_works_or_raises_project_error(tables, basis):
    try:
        data = fs.Dataset(**tables)
        flows = fs.support_flows(data, subsidy_basis=basis)
    except FinsupportError:
        return
    assert len(flows) == len(data.financials)
    assert flows["share"].replace([np.inf, -np.inf], np.nan).notna().sum() <= len(flows)
    fs.support_share(flows)
