import numpy as np
import pandas as pd
import pytest

from finsupport.errors import ConfigError, DataError
from finsupport.measure.allocation import allocate_declining_balance
from finsupport.measure.flows import support_flows
from finsupport.measure.shares import support_share
from finsupport.measure.subsidies import subsidy_flows


def test_received_basis_by_hand(tiny):
    f = support_flows(tiny).set_index(["firm_id", "year"])
    # firm 001: 2016 grant 50, 2017 grant 20; firm 002: 2018 grant 30
    assert f.loc[("001", 2016), "subsidy"] == 50
    assert f.loc[("001", 2017), "subsidy"] == 20
    assert f.loc[("002", 2018), "subsidy"] == 30
    # equity: only the guidance fund's 40 in 2017 (private 60 excluded); 'SOE' matches 'soe'
    assert f.loc[("001", 2017), "equity"] == 40
    assert f.loc[("002", 2018), "equity"] == 90


def test_debt_benefit_by_hand(tiny):
    f = support_flows(tiny).set_index(["firm_id", "year"])
    # 2016, first year: average debt = closing 100; effective 5/100 = 5 % > 4.35 % -> benefit 0
    assert f.loc[("001", 2016), "avg_debt"] == 100
    assert f.loc[("001", 2016), "debt"] == 0
    assert f.loc[("001", 2016), "debt_basis"] == "closing_only"
    # 2017: average (100 + 300) / 2 = 200; effective 6 / 200 = 3 %; benchmark 4.35 %
    # benefit = (4.35 % - 3 %) * 200 = 2.7
    assert f.loc[("001", 2017), "effective_rate"] == pytest.approx(3.0)
    assert f.loc[("001", 2017), "debt"] == pytest.approx(2.7)
    # 2018: average 300, effective 15/300 = 5 % -> no benefit
    assert f.loc[("001", 2018), "debt"] == 0
    # no debt -> zero benefit, not missing
    assert f.loc[("002", 2017), "debt"] == 0 and not f.loc[("002", 2017), "debt_missing"]
    # total and share: 001/2017 = 20 + 40 + 2.7 = 62.7 on revenue 1000
    assert f.loc[("001", 2017), "total"] == pytest.approx(62.7)
    assert f.loc[("001", 2017), "share"] == pytest.approx(0.0627)


def test_first_year_exclude_and_missing_interest_logged(make_tiny):
    d = make_tiny()
    d.financials.loc[4, "interest_expense"] = np.nan  # 002 / 2017, debt 0 -> benefit 0 anyway
    d.financials.loc[1, "interest_expense"] = np.nan  # 001 / 2017
    f = support_flows(d, first_year_debt="exclude").set_index(["firm_id", "year"])
    assert np.isnan(f.loc[("001", 2016), "debt"])
    assert np.isnan(f.loc[("001", 2017), "debt"]) and f.loc[("001", 2017), "debt_missing"]
    # a missing component counts as zero in the total
    assert f.loc[("001", 2017), "total"] == pytest.approx(60.0)
    log = d.quality.to_frame()
    assert (log["issue"] == "debt benefit not computable").sum() == 1
    assert (log["issue"] == "no opening debt (first year or gap)").sum() == 2


def test_cvd_declining_balance_formula():
    # y = 1,000,000; n = 10; d = 4.90 % (2016 five-year benchmark, flat all year)
    # A_1 = 100,000 + 1,000,000 * 0.049 / 1.049 = 146,711.1535
    # A_2 = 100,000 +   900,000 * 0.049 / 1.049 = 142,040.0381
    # A_10 = 100,000 + 100,000 * 0.049 / 1.049 = 104,671.1153
    a = allocate_declining_balance(pd.Series(["x"]), pd.Series([2016]), pd.Series([1e6]), pd.Series([0.049]),
                                   aul_years=10)
    assert a["year"].tolist() == list(range(2016, 2026))
    assert a["allocated"].iloc[0] == pytest.approx(146711.15348, abs=1e-4)
    assert a["allocated"].iloc[1] == pytest.approx(142040.03813, abs=1e-4)
    assert a["allocated"].iloc[9] == pytest.approx(104671.11535, abs=1e-4)


def test_cvd_basis_expense_test_and_recurring():
    grants = pd.DataFrame({
        "firm_id": ["a", "a", "a", "a"], "year": [2016, 2016, 2016, 2017],
        "amount": [4000.0, 1_000_000.0, 500.0, 300.0], "recurring": [False, False, True, pd.NA],
        "programme": ["small", "big", "big", ""],
    })
    revenue = pd.DataFrame({"firm_id": ["a", "a"], "year": [2016, 2017], "revenue": [1e6, 1e8]})
    out = subsidy_flows(grants, revenue, basis="cvd").set_index(["firm_id", "year"])
    # 4,000 < 0.5 % of 1,000,000 (= 5,000): expensed in 2016; 500 is recurring: expensed.
    # 1,000,000 (programme 'big', non-recurring) >= 5,000: allocated, A_1 = 146,711.1535.
    assert out.loc[("a", 2016), "subsidy_expensed"] == 4500
    assert out.loc[("a", 2016), "subsidy"] == pytest.approx(4500 + 146711.15348, abs=1e-4)
    # 2017: A_2 of the big grant + 300 (missing flag = non-recurring, but 300 < 0.5 % of 1e8: expensed)
    assert out.loc[("a", 2017), "subsidy"] == pytest.approx(142040.03813 + 300, abs=1e-4)
    # allocation continues after the panel
    assert out.loc[("a", 2025), "subsidy"] == pytest.approx(104671.11535, abs=1e-4)
    assert out.loc[("a", 2016), "subsidy_received"] == 1_004_500


def test_straight_line_basis():
    grants = pd.DataFrame({"firm_id": ["a"], "year": [2016], "amount": [1000.0], "recurring": [False]})
    out = subsidy_flows(grants, pd.DataFrame(columns=["firm_id", "year", "revenue"]), basis="straight_line",
                        aul_years=4)
    assert out["year"].tolist() == [2016, 2017, 2018, 2019]
    assert out["subsidy"].tolist() == [250.0] * 4


def test_bad_options_raise_config_error(tiny):
    with pytest.raises(ConfigError, match="subsidy_basis"):
        support_flows(tiny, subsidy_basis="paid")
    with pytest.raises(ConfigError, match="equity_basis"):
        support_flows(tiny, equity_basis="net")
    with pytest.raises(ConfigError, match="benchmark"):
        support_flows(tiny, benchmark="shibor")


def test_missing_column_named(make_tiny):
    d = make_tiny()
    d.financials = d.financials.drop(columns=["interest_expense"])
    with pytest.raises(DataError, match=r"financials\.interest_expense"):
        support_flows(d)


def test_grants_outside_panel_are_logged_not_silent(make_tiny):
    d = make_tiny(grants=pd.DataFrame({"firm_id": ["001", "001"], "year": [2016, 2030], "amount": [1.0, 2.0]}))
    f = support_flows(d)
    assert f["subsidy"].sum() == 1.0
    log = d.quality.to_frame()
    row = log[log["issue"] == "no financials for this firm-year"]
    assert len(row) == 1 and row["action"].iloc[0] == "excluded" and row["year"].iloc[0] == 2030


def test_share_aggregations_by_hand():
    flows = pd.DataFrame({
        "firm_id": ["A", "B", "C"], "year": [2016, 2016, 2016],
        "revenue": [100.0, 300.0, 0.0], "subsidy": [10.0, 15.0, 5.0], "equity": [0.0] * 3, "debt": [0.0] * 3,
        "total": [10.0, 15.0, 5.0],
    })
    s = support_share(flows).set_index("component")
    # pooled = (10 + 15) / (100 + 300) = 6.25 %; firm ratios 10 % and 5 %: mean = median = 7.5 %
    # firm C has zero revenue: left out and counted
    assert s.loc["total", "pooled_share"] == pytest.approx(0.0625)
    assert s.loc["total", "mean_firm_share"] == pytest.approx(0.075)
    assert s.loc["total", "median_firm_share"] == pytest.approx(0.075)
    assert s.loc["total", "n_firms"] == 2 and s.loc["total", "n_excluded_firm_years"] == 1


def test_share_by_year_and_firm_ratio_over_period(tiny):
    f = support_flows(tiny)
    by_year = support_share(f, by="year")
    assert set(by_year["year"]) == {2016, 2017, 2018}
    t = by_year[(by_year["component"] == "total")].set_index("year")
    # 2016: (50 + 0) / (1000 + 3000)
    assert t.loc[2016, "pooled_share"] == pytest.approx(50 / 4000)
    overall = support_share(f, years=(2016, 2017)).set_index("component")
    # firm 001 over 2016–2017: (50 + 62.7) / 2000; firm 002: 0 / 6000
    assert overall.loc["total", "mean_firm_share"] == pytest.approx((112.7 / 2000 + 0) / 2)
    with pytest.raises(DataError, match="flows.cohort"):
        support_share(f, by="cohort")


def test_cvd_expense_test_groups_by_firm_programme_and_year_only():
    # two firms, same programme and year: each is tested against its own sales.
    # a: 4,000 < 0.5 % of 1,000,000 -> expensed; b: 4,000 >= 0.5 % of 100,000 -> allocated.
    # c has no programme: its grant is tested alone even next to a's programme grant.
    grants = pd.DataFrame({"firm_id": ["a", "b", "a"], "year": [2016, 2016, 2016],
                           "amount": [4000.0, 4000.0, 1000.0], "recurring": [False, False, False],
                           "programme": ["p", "p", None]})
    revenue = pd.DataFrame({"firm_id": ["a", "b"], "year": [2016, 2016], "revenue": [1e6, 1e5]})
    out = subsidy_flows(grants, revenue, basis="cvd").set_index(["firm_id", "year"])
    assert out.loc[("a", 2016), "subsidy_expensed"] == 5000  # 4,000 + the lone 1,000 (< 5,000)
    assert out.loc[("b", 2016), "subsidy_expensed"] == 0
    assert out.loc[("b", 2016), "subsidy_allocated"] == pytest.approx(400 + 4000 * 0.049 / 1.049)


def test_flow_columns_own_their_memory():
    """The flows are built without copying every column once more; no column may then share
    memory with another column or with the input tables (changing one changes nothing else)."""
    import finsupport as fs

    data = fs.load_example()
    revenue_before = data.financials["revenue"].to_numpy().copy()
    flows = fs.support_flows(data)   # received basis: subsidy is the grants received
    arrays = {c: flows[c].to_numpy() for c in flows.columns if flows[c].dtype.kind in "fiub"}
    names = list(arrays)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.shares_memory(arrays[a], arrays[b]), (a, b)
        for c in data.financials.columns:
            if data.financials[c].dtype.kind in "fiub":
                assert not np.shares_memory(arrays[a], data.financials[c].to_numpy()), (a, c)
    flows.loc[:, "revenue"] = 0.0
    flows.loc[:, "subsidy"] = -1.0
    assert (flows["subsidy_received"] >= 0).all()
    np.testing.assert_array_equal(data.financials["revenue"].to_numpy(), revenue_before)
