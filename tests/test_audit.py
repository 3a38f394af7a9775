import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finsupport as fs
from finsupport.certify.audit import TESTS, audit_criteria
from finsupport.errors import DataError


def _fin(firm, rev, emp=500, lev=0.5, mb=0.9, rd=0.05, pat=5, np_=None, years=(2016, 2017, 2018, 2019, 2020, 2021)):
    """Revenue path ``rev`` (one value per year) with constant ratios."""
    rev = np.asarray(rev, dtype=float)
    return pd.DataFrame({
        "firm_id": firm, "year": list(years), "revenue": rev, "employees": emp, "total_assets": 100.0,
        "total_liabilities": 100.0 * lev, "main_business_revenue": rev * mb, "rd_expense": rev * rd,
        "invention_patents": pat, "net_profit": rev * 0.05 if np_ is None else np_,
    })


def _dataset(fin, des, parents=None):
    ids = sorted(set(fin["firm_id"]))
    firms = pd.DataFrame({"firm_id": ids, "parent_id": [(parents or {}).get(i) for i in ids]})
    return fs.Dataset(firms=firms, financials=fin, designations=des)


M = 1e6
GROWING = [100 * M, 100 * M, 100 * M, 120 * M, 144 * M, 172.8 * M]  # +20 % a year from 2018


def test_each_rule_by_hand():
    fin = pd.concat([
        _fin("ok", GROWING),
        _fin("big", [v * 5 for v in GROWING], emp=1500),   # 2020 award: 2019 revenue 600m and 1,500 staff
        _fin("bigstaff", GROWING, emp=1500),                # many staff but revenue below 400m: still an SME
        _fin("flat", [100 * M] * 6),                        # growth 0 % < 5 %
        _fin("lev", GROWING, lev=0.71),
        _fin("mb", GROWING, mb=0.69),
        _fin("rd", GROWING, rd=0.029),
        _fin("pat", GROWING, pat=1),
        _fin("sub", GROWING),
    ], ignore_index=True)
    firms = fin["firm_id"].unique()
    # all awarded in 2022 (batch 4, 2022 rules): tested on 2021 (t-1) and 2019–2021 growth
    des = pd.DataFrame({"firm_id": firms, "tier": "little_giant", "year": 2022, "batch": 4})
    a = audit_criteria(_dataset(fin, des, parents={"sub": "GROUP1"})).table.set_index("firm_id")
    assert a.loc["ok", "passes_all"] is True or a.loc["ok", "passes_all"] == True  # noqa: E712
    # growth 2019→2020 = 144/120 − 1 = 20 %, 2020→2021 = 172.8/144 − 1 = 20 %: mean 20 %
    assert a.loc["ok", "revenue_growth_value"] == pytest.approx(0.20)
    expected_fail = {"big": "sme_size", "flat": "revenue_growth", "lev": "leverage", "mb": "main_business",
                     "rd": "rd_intensity", "pat": "patents", "sub": "independent"}
    for firm, test in expected_fail.items():
        assert a.loc[firm, "failed_tests"] == test, firm
        assert a.loc[firm, test] == False  # noqa: E712
    assert a.loc["bigstaff", "sme_size"] == True  # noqa: E712  (OR rule: revenue < 400m)
    assert a.loc["lev", "leverage_value"] == pytest.approx(0.71)
    assert a.loc["rd", "rd_intensity_threshold"] == pytest.approx(0.03)  # revenue ≥ 100m tier


def test_batch_regimes_differ():
    # growth 7 %: passes the 5 % bar of 2022, fails the 10 % bar of 2018 (profit growth too low as well)
    rev = [100 * M * 1.07 ** k for k in range(6)]
    fin = pd.concat([_fin("x", rev, np_=1.0 * M), _fin("y", rev, np_=1.0 * M)], ignore_index=True)
    des = pd.DataFrame({"firm_id": ["x", "y"], "tier": "little_giant", "year": [2020, 2022], "batch": [2, 4]})
    a = audit_criteria(_dataset(fin, des)).table.set_index("firm_id")
    assert a.loc["x", "regime"] == 2018 and a.loc["x", "revenue_growth_threshold"] == pytest.approx(0.10)
    assert a.loc["x", "revenue_growth"] == False  # noqa: E712
    assert a.loc["y", "regime"] == 2022 and a.loc["y", "revenue_growth"] == True  # noqa: E712


def test_2022_rd_tiers():
    # revenue 80m (50–100m tier) needs 6 %; 5 % fails. Revenue 40m: equity route, cannot be judged
    fin = pd.concat([_fin("mid", [80 * M] * 6, rd=0.05), _fin("small", [40 * M] * 6, rd=0.05)], ignore_index=True)
    des = pd.DataFrame({"firm_id": ["mid", "small"], "tier": "little_giant", "year": 2022, "batch": 4})
    a = audit_criteria(_dataset(fin, des)).table.set_index("firm_id")
    assert a.loc["mid", "rd_intensity_threshold"] == pytest.approx(0.06) and a.loc["mid", "rd_intensity"] == False  # noqa: E712
    assert pd.isna(a.loc["small", "rd_intensity"]) and "rd_intensity" in a.loc["small", "untestable_tests"]


def test_missing_data_is_na_not_pass_or_fail():
    fin = _fin("m", GROWING)
    fin.loc[fin["year"] == 2021, ["total_liabilities", "invention_patents"]] = np.nan
    des = pd.DataFrame({"firm_id": ["m"], "tier": "little_giant", "year": [2022], "batch": [4]})
    a = audit_criteria(_dataset(fin, des)).table.iloc[0]
    assert pd.isna(a["leverage"]) and pd.isna(a["patents"])
    assert pd.isna(a["passes_all"]) and a["n_failed"] == 0
    assert a["untestable_tests"] == "leverage, patents"
    # no financials before the award at all: every financial test untestable
    des2 = pd.DataFrame({"firm_id": ["m"], "tier": "little_giant", "year": [2016], "batch": [1]})
    b = audit_criteria(_dataset(fin, des2)).table.iloc[0]
    assert b["n_failed"] == 0 and pd.isna(b["passes_all"]) and b["independent"] == True  # noqa: E712


def test_summary_counts_and_overlaps():
    fin = pd.concat([_fin("a", GROWING), _fin("b", GROWING, lev=0.8), _fin("c", GROWING, lev=0.8)], ignore_index=True)
    des = pd.DataFrame({"firm_id": ["a", "b", "c"], "tier": "little_giant", "year": 2022, "batch": 4})
    res = audit_criteria(_dataset(fin, des, parents={"c": "G"}))
    s = res.summary().set_index("item")["firms"]
    assert s["certified firms"] == 3 and s["fail at least one test"] == 2 and s["pass every test"] == 1
    assert s["fail leverage"] == 2 and s["fail independent"] == 1
    assert s["fail both leverage and independent"] == 1
    assert s["fail exactly: leverage, independent"] == 1
    assert res.summary_text().startswith("2 of 3 certified firms (66.7%)")


def test_requires_designations():
    with pytest.raises(DataError, match="designations"):
        audit_criteria(fs.Dataset(financials=_fin("a", GROWING)))


def test_embedded_example_finds_what_it_was_built_with():
    """Among the 44 Little Giants of 2019–2020: 2 too big, 2 weak performers, 9 subsidiaries, 31 pass."""
    res = audit_criteria(fs.load_example())
    firms = res.by_firm()
    lg44 = firms[firms["year"].isin([2019, 2020])]
    assert len(lg44) == 44
    fails = {t: int((lg44[t] == False).sum()) for t in TESTS}  # noqa: E712
    assert fails == {"sme_size": 2, "revenue_growth": 1, "leverage": 1, "main_business": 0, "rd_intensity": 0,
                     "patents": 0, "independent": 9}
    assert int((lg44["n_failed"] > 0).sum()) == 13 and int((lg44["passes_all"] == True).sum()) == 31  # noqa: E712
    assert (lg44["n_failed"] <= 1).all()  # 13 distinct firms, no overlaps
    later = firms[firms["year"].isin([2021, 2022])]
    assert (later["passes_all"] == True).all()  # noqa: E712


def test_batch_counts_with_their_sources():
    b = fs.little_giant_batches().set_index("batch")
    assert list(b.index) == [1, 2, 3, 4, 5, 6, 7]
    # batch 4: 4,328 in the ministry's figures (2022-09-08 conference) vs 4,357 in one compilation: both shown
    assert b.loc[4, "announced_firms"] == 4328 and b.loc[4, "other_count"] == 4357
    assert "vice-minister" in b.loc[4, "source"] and "4,357" in b.loc[4, "other_count_source"]
    assert b.loc[2, "announced_firms"] == 1584 and b.loc[2, "other_count"] == 1744
    assert pd.isna(b.loc[3, "other_count"])
    assert (b.loc[6, "year"], b.loc[6, "announced_firms"]) == (2024, 3012)
    assert (b.loc[7, "year"], b.loc[7, "announced_firms"]) == (2025, 3482)
    assert set(b["status"]) <= {"verified", "reported", "weak"}
    assert b["source"].str.len().gt(40).all()
    # selection rules: the 2018 notice for batches 1-3, the 2022 measures from batch 4 on
    assert b["criteria_regime"].to_dict() == {1: 2018, 2: 2018, 3: 2018, 4: 2022, 5: 2022, 6: 2022, 7: 2022}
    assert all("381号" in b.loc[k, "criteria_source"] for k in (1, 2, 3))
    assert all("〔2022〕63号" in b.loc[k, "criteria_source"] for k in (4, 5, 6, 7))


def test_batches_6_and_7_are_judged_under_the_2022_rules():
    fin = pd.concat([_fin("s", GROWING, years=tuple(range(2019, 2025))),
                     _fin("t", GROWING, years=tuple(range(2019, 2025)))], ignore_index=True)
    des = pd.DataFrame({"firm_id": ["s", "t"], "tier": "little_giant", "year": [2024, 2025], "batch": [6, 7]})
    a = audit_criteria(_dataset(fin, des)).table.set_index("firm_id")
    assert (a["regime"] == 2022).all()
    assert a["revenue_growth_threshold"].tolist() == pytest.approx([0.05, 0.05])


def test_untested_criteria_are_listed_not_failed():
    """A firm that qualified by the innovation direct-pass route is not silently called a failure.

    The firm misses the R&D bar (2.9 % < 3 %); the data cannot show that it was admitted
    through a route that does not need it, so the summary names the criteria it cannot
    test and says that the count is of firms missing a *tested* criterion.
    """
    fin = pd.concat([_fin("route", GROWING, rd=0.029), _fin("ok", GROWING)], ignore_index=True)
    des = pd.DataFrame({"firm_id": ["route", "ok"], "tier": "little_giant", "year": 2022, "batch": 4})
    res = audit_criteria(_dataset(fin, des))
    t = res.table.set_index("firm_id")
    assert t.loc["route", "failed_tests"] == "rd_intensity"
    assert t.loc["route", "criteria_not_tested"] == "niche_years, market_share, innovation_route"
    assert set(res.not_tested["test"]) >= {"niche_years", "market_share", "innovation_route"}
    s = res.summary().set_index("item")["firms"]
    for test in ("niche_years", "market_share", "innovation_route"):
        assert s[f"not tested (no data): {test}"] == 2
    text = res.summary_text()
    assert text.splitlines()[0] == "1 of 2 certified firms (50.0%) miss at least one tested criterion of their batch"
    assert "years in the niche market (≥ 3)" in text and "national niche market share (≥ 10%)" in text
    assert "innovation direct-pass route" in text and "not of firms wrongly selected" in text
    # the 2018 rules have no such route: no such sentence for a 2019 award
    des18 = pd.DataFrame({"firm_id": ["route"], "tier": "little_giant", "year": [2019], "batch": [1]})
    fin18 = _fin("route", GROWING, rd=0.029, years=tuple(range(2014, 2020)))
    text18 = audit_criteria(_dataset(fin18, des18)).summary_text()
    assert "qualitative requirements (2018 rules)" in text18 and "direct-pass" not in text18


def test_criteria_without_direction_column_still_audit():
    crit = fs.selection_criteria().drop(columns="direction")
    res = audit_criteria(_dataset(_fin("a", GROWING), pd.DataFrame(
        {"firm_id": ["a"], "tier": "little_giant", "year": [2022], "batch": [4]})), criteria=crit)
    assert res.table.loc[0, "criteria_not_tested"] == "" and len(res.not_tested) == 0
    assert "not tested" not in res.summary_text()


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from([300.0, 1000.0, 0.0, -0.0, np.nan]),
                                st.sampled_from([1e8, 2e8, -0.0, 0.0, np.nan])), max_size=30))
def test_threshold_pairs_factorized_as_a_multiindex(pairs):
    # codes of the (employees, revenue) threshold pairs without a tuple per award: the same codes and the same
    # first pair of each code as MultiIndex.factorize, with missing thresholds and a zero of either sign
    from finsupport.certify.audit import _factorize_pairs

    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    codes, got = _factorize_pairs(a, b)
    want_codes, want = pd.MultiIndex.from_arrays([a, b]).factorize()
    np.testing.assert_array_equal(codes, want_codes)
    words = [f"{e:,.0f} {r:,.0f}" for e, r in got]
    assert words == [f"{e:,.0f} {r:,.0f}" for e, r in want]
