"""The share tables' integer-code path against pandas' groupby on the columns themselves.

``reference_share`` is ``support_share`` as it was before it grouped on integer codes (a
groupby and a merge on the text firm codes per component); the figures must not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsupport.errors import DataError
from finsupport.measure.flows import COMPONENTS
from finsupport.measure.shares import SHARE_COLUMNS, support_share


def reference_share(
    flows: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    years: Iterable[int] | tuple[int, int] | None = None,
    firms: Iterable[str] | None = None,
    status: pd.DataFrame | None = None,
    components: Sequence[str] = (*COMPONENTS, "total"),
) -> pd.DataFrame:
    by = [by] if isinstance(by, str) else list(by or [])
    df = flows
    if status is not None:
        extra = [c for c in status.columns if c not in df.columns or c in ("firm_id", "year")]
        df = df.merge(status[extra], on=["firm_id", "year"], how="left")
    missing = [c for c in [*by, *components, "revenue", "firm_id"] if c not in df.columns]
    if missing:
        raise DataError(problems=[{"table": "flows", "column": c, "message": "column not found",
                                   "hint": "group by a column of the flows table or pass status= (designation_status)"}
                                  for c in missing])
    if years is not None:
        if isinstance(years, tuple) and len(years) == 2:
            df = df[df["year"].between(years[0], years[1])]
        else:
            df = df[df["year"].isin(list(years))]
    if firms is not None:
        df = df[df["firm_id"].isin(pd.Index(list(firms)).astype(str))]
    valid = df["revenue"].to_numpy(dtype=float) > 0
    excluded = df.loc[~valid, by].value_counts(dropna=False) if by else pd.Series([int((~valid).sum())])
    d = df[valid]
    keys = by if by else None
    rows = []
    firm_keys = [*by, "firm_id"]
    firm_sums = d.groupby(firm_keys, sort=True, dropna=False)[[*components, "revenue"]].sum()
    for comp in components:
        ratio = (firm_sums[comp] / firm_sums["revenue"]).rename("r")
        if keys:
            g_ratio = ratio.groupby(level=list(range(len(by))), dropna=False)
            mean, median = g_ratio.mean(), g_ratio.median()
            g = d.groupby(keys, sort=True, dropna=False)
            amt, rev = g[comp].sum(), g["revenue"].sum()
            nf, nfy = g["firm_id"].nunique(), g.size()
            res = pd.DataFrame({"pooled_share": amt / rev, "mean_firm_share": mean, "median_firm_share": median,
                                "amount": amt, "revenue": rev, "n_firms": nf, "n_firm_years": nfy})
            res.insert(0, "component", comp)
            rows.append(res.reset_index())
        else:
            amt, rev = d[comp].sum(), d["revenue"].sum()
            rows.append(pd.DataFrame([{"component": comp, "pooled_share": amt / rev if rev > 0 else np.nan,
                                       "mean_firm_share": ratio.mean(), "median_firm_share": ratio.median(),
                                       "amount": amt, "revenue": rev, "n_firms": d["firm_id"].nunique(),
                                       "n_firm_years": len(d)}]))
    out = pd.concat(rows, ignore_index=True)
    if by:
        exc = excluded.rename("n_excluded_firm_years").reset_index()
        out = out.merge(exc, on=by, how="left")
        out["n_excluded_firm_years"] = out["n_excluded_firm_years"].fillna(0).astype(np.int64)
    else:
        out["n_excluded_firm_years"] = int((~valid).sum())
    out["n_firms"] = out["n_firms"].astype(np.int64)
    out["n_firm_years"] = out["n_firm_years"].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    return out


def _panel(seed: int, n_firms: int = 40, years=(2015, 2020), holes: bool = True):
    rng = np.random.default_rng(seed)
    ids = [f"{i:06d}" for i in range(n_firms)]
    rows = [(f, y) for f in ids for y in range(years[0], years[1] + 1) if rng.random() > 0.15]
    df = pd.DataFrame(rows, columns=["firm_id", "year"])
    n = len(df)
    for c in COMPONENTS:
        df[c] = rng.gamma(1.0, 10.0, n) * (rng.random(n) > 0.3)
    df["total"] = df[list(COMPONENTS)].sum(axis=1)
    df["revenue"] = rng.gamma(2.0, 1000.0, n)
    if holes:
        df.loc[rng.random(n) < 0.1, "revenue"] = 0.0
        df.loc[rng.random(n) < 0.05, "revenue"] = -5.0
        df.loc[rng.random(n) < 0.05, "revenue"] = np.nan
        df.loc[rng.random(n) < 0.05, "debt"] = np.nan
    df["sector"] = rng.choice(["robots", "sensors", "drives"], n)
    df.loc[rng.random(n) < 0.05, "sector"] = np.nan
    cohort = pd.Series(rng.choice([0, 2016, 2018, 2019], n_firms), index=ids)
    status = pd.DataFrame({"firm_id": df["firm_id"], "year": df["year"]})
    status["cohort"] = status["firm_id"].map(cohort).astype("int64")
    status["active"] = (status["cohort"] > 0) & (status["year"] >= status["cohort"])
    status["certified"] = np.where(status["cohort"] > 0, "ever certified", "never certified")
    return df, status.sample(frac=1.0, random_state=seed).reset_index(drop=True)


CASES = [dict(), dict(by="year"), dict(by="sector"), dict(by="cohort", status=True),
         dict(by="certified", status=True, years=(2016, 2019)), dict(by=["year", "certified"], status=True),
         dict(by=["sector", "year"], years=[2015, 2017, 2020]), dict(firms=["000001", "000003", "000010"]),
         dict(by="active", status=True), dict(components=("subsidy", "total"), by="year")]


@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_integer_codes_give_the_figures_of_the_groupby(case):
    flows, status = _panel(1)
    kw = dict(case)
    if kw.pop("status", False):
        kw["status"] = status
    got, want = support_share(flows, **kw), reference_share(flows, **kw)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)
    assert list(got.columns) == [*([kw["by"]] if isinstance(kw.get("by"), str) else kw.get("by", [])),
                                 *SHARE_COLUMNS]


def test_status_with_repeated_firm_years_is_merged_as_before():
    flows, status = _panel(2)
    twice = pd.concat([status, status.head(5)], ignore_index=True)  # a merge repeats those flows rows
    got = support_share(flows, by="cohort", status=twice)
    pd.testing.assert_frame_equal(got, reference_share(flows, by="cohort", status=twice), rtol=1e-12)


def test_no_valid_revenue_and_missing_columns():
    flows, _ = _panel(3)
    none = flows.assign(revenue=0.0)
    pd.testing.assert_frame_equal(support_share(none), reference_share(none))
    with pytest.raises(DataError):
        support_share(flows, by="nowhere")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_firms=st.integers(1, 25), by=st.sampled_from(
    [None, "year", "cohort", "certified", ["year", "certified"], "sector"]))
def test_row_order_and_codes_do_not_change_the_figures(seed, n_firms, by):
    flows, status = _panel(seed, n_firms=n_firms)
    kw = {"by": by, "status": status}
    want = reference_share(flows, **kw)
    shuffled = flows.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    for f in (flows, shuffled):
        pd.testing.assert_frame_equal(support_share(f, **kw), want, check_exact=False, rtol=1e-9, atol=1e-12)
