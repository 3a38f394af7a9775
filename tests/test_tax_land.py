"""Tax concessions and below-market land: hand-computed cases with the arithmetic written out."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import finsupport as fs
from finsupport.errors import ConfigError
from finsupport.measure.land import land_flows
from finsupport.measure.options import MeasureOptions
from finsupport.measure.tax import tax_flows
from finsupport.reference.rates import annual_benchmark
from finsupport.reference.tax import rd_deduction_schedule, small_low_profit_schedule


def _fin(rows):
    cols = ["firm_id", "year", "revenue", "profit_before_tax", "income_tax_expense", "rd_expense", "employees",
            "total_assets", "hnte", "manufacturer"]
    return pd.DataFrame(rows, columns=cols)


# Firm A: a large firm (500 employees, CNY 100m assets: never small low-profit) that becomes an HNTE in 2019,
# makes a loss in 2020 and is a manufacturer in 2021.
FIRM_A = [
    ("A", 2018, 200e6, 10e6, np.nan, 2e6, 500, 100e6, False, False),
    ("A", 2019, 200e6, 10e6, np.nan, 2e6, 500, 100e6, True, False),
    ("A", 2020, 200e6, -3e6, np.nan, 2e6, 500, 100e6, True, False),
    ("A", 2021, 200e6, 4e6, np.nan, 1e6, 500, 100e6, True, True),
]
# Firm B: small low-profit (50 employees, CNY 20m assets), not HNTE, no R&D, across the bracket years.
FIRM_B = [("B", y, 30e6, p, np.nan, 0.0, 50, 20e6, False, False)
          for y, p in ((2017, 400e3), (2018, 800e3), (2019, 2e6), (2020, 3.5e6), (2021, 2e6), (2022, 2e6),
                       (2023, 2e6))]


def test_preferential_hnte_status_changes_mid_panel_and_loss_year():
    out = tax_flows(_fin(FIRM_A), tax_basis="preferential").set_index("year")
    # 2018, not HNTE: D = 75 % × 2.0m = 1.5m (Caishui [2018] 99); TI = 10m − 1.5m = 8.5m at 25 %
    #   rd part = 1.5m × 25 % = 375,000; rate part = 25 % × 10m − 25 % × 8.5m − 375,000 = 0
    assert out.loc[2018, "tax_rd_deduction"] == pytest.approx(1.5e6)
    assert out.loc[2018, "tax_rd_part"] == pytest.approx(375_000)
    assert out.loc[2018, "tax_rate_part"] == pytest.approx(0.0, abs=1e-6)
    assert out.loc[2018, "tax"] == pytest.approx(375_000)
    assert out.loc[2018, "tax_regime"] == "statutory"
    # 2019, HNTE: tax = 15 % × 8.5m = 1,275,000; concession = 25 % × 10m − 1,275,000 = 1,225,000
    #   = (25 % − 15 %) × 10m = 1,000,000 (rate part) + 1.5m × 15 % = 225,000 (R&D part)
    assert out.loc[2019, "tax"] == pytest.approx(1_225_000)
    assert out.loc[2019, "tax_rate_part"] == pytest.approx(1_000_000)
    assert out.loc[2019, "tax_rd_part"] == pytest.approx(225_000)
    assert out.loc[2019, "tax_regime"] == "hnte" and out.loc[2019, "tax_applicable_rate"] == pytest.approx(0.15)
    # 2020, a loss: no concession
    assert out.loc[2020, "tax"] == 0.0 and out.loc[2020, "tax_regime"] == "loss"
    # 2021, HNTE manufacturer: D = 100 % × 1m (MOF/SAT 2021 No. 13); TI = 3m; tax = 15 % × 3m = 450,000
    #   concession = 25 % × 4m − 450,000 = 550,000 = 10 % × 4m (400,000) + 1m × 15 % (150,000)
    assert out.loc[2021, "tax"] == pytest.approx(550_000)
    assert out.loc[2021, "tax_rate_part"] == pytest.approx(400_000)
    assert out.loc[2021, "tax_rd_part"] == pytest.approx(150_000)


def test_an_empty_hnte_or_manufacturer_cell_is_flagged_where_it_decides_the_tax():
    """A missing hnte value is read as not HNTE (statutory rate) — and said, row by row, for the
    profitable firm-years; a missing manufacturer value where the R&D deduction is estimated too.
    A loss year, where the status changes nothing, is not flagged."""
    from finsupport.data.quality import QualityLog

    rows = [list(r) for r in FIRM_A]
    rows[1][8] = pd.NA   # 2019: hnte missing (profitable)
    rows[2][8] = pd.NA   # 2020: hnte missing (a loss)
    rows[3][9] = pd.NA   # 2021: manufacturer missing, R&D deduction estimated
    fin = _fin(rows).astype({"hnte": "boolean", "manufacturer": "boolean"})
    fin.index = [2, 3, 4, 5]
    log = QualityLog()
    out = tax_flows(fin, tax_basis="preferential", log=log).set_index("year")
    assert out.loc[2019, "tax_regime"] == "statutory"   # the rule is unchanged: missing is not HNTE
    q = log.to_frame()
    hn = q[q["issue"] == "HNTE status missing"]
    assert hn["row"].tolist() == [3] and (hn["action"] == "flagged").all()
    mf = q[q["issue"] == "manufacturer status missing"]
    assert mf["row"].tolist() == [5]


def test_small_low_profit_firm_across_bracket_years():
    out = tax_flows(_fin(FIRM_B), tax_basis="preferential").set_index("year")["tax"]
    # 2017: 400,000 ≤ 500,000 (Caishui [2017] 43): all at 10 % = 40,000; concession 100,000 − 40,000
    assert out[2017] == pytest.approx(60_000)
    # 2018: 800,000 ≤ 1m (Caishui [2018] 77): 10 % = 80,000; concession 200,000 − 80,000
    assert out[2018] == pytest.approx(120_000)
    # 2019: 2m: 5 % × 1m + 10 % × 1m = 150,000 (Caishui [2019] 13); concession 500,000 − 150,000
    assert out[2019] == pytest.approx(350_000)
    # 2020: 3.5m is above the CNY 3m limit: taxed at 25 %, no concession
    assert out[2020] == pytest.approx(0.0)
    # 2021: 2.5 % × 1m + 10 % × 1m = 125,000 (Caishui [2021] 12); concession 375,000
    assert out[2021] == pytest.approx(375_000)
    # 2022: 2.5 % × 1m + 5 % × 1m = 75,000 (Caishui [2022] 13); concession 425,000
    assert out[2022] == pytest.approx(425_000)
    # 2023: 5 % × 2m = 100,000 (MOF/SAT 2023 No. 6, No. 12); concession 400,000
    assert out[2023] == pytest.approx(400_000)


def test_small_low_profit_status_given_overrides_the_inference():
    fin = _fin(FIRM_B).assign(employees=np.nan, small_low_profit=[True, False, True, True, True, True, True])
    out = tax_flows(fin, tax_basis="preferential").set_index("year")["tax"]
    assert out[2017] == pytest.approx(60_000)        # status yes: employees unknown does not matter
    assert out[2018] == 0.0                          # status no: taxed at 25 %
    # employees unknown and no status: not small low-profit (flagged)
    log = fs.Dataset(validate=False).quality
    tax_flows(_fin(FIRM_B).assign(employees=np.nan), tax_basis="preferential", log=log)
    assert "small low-profit status unknown" in set(log.to_frame()["issue"])


def test_effective_basis_and_losses():
    fin = _fin([("E", 2019, 50e6, 10e6, 1.5e6, 0, 500, 1e8, False, False),    # 2.5m − 1.5m = 1.0m
                ("E", 2020, 50e6, 10e6, 3.0e6, 0, 500, 1e8, False, False),    # 2.5m − 3.0m < 0 → 0
                ("E", 2021, 50e6, -1e6, 0.2e6, 0, 500, 1e8, False, False),    # loss → 0
                ("E", 2022, 50e6, np.nan, 0.2e6, 0, 500, 1e8, False, False)])  # unknown → missing, flagged
    out = tax_flows(fin, tax_basis="effective").set_index("year")
    assert out.loc[2019, "tax"] == pytest.approx(1e6)
    assert out.loc[2020, "tax"] == 0.0 and out.loc[2021, "tax"] == 0.0
    assert np.isnan(out.loc[2022, "tax"]) and out.loc[2022, "tax_missing"]
    assert (out["tax_basis_used"] == "effective").all()


def test_cvd_timing_counts_the_benefit_in_the_filing_year():
    log = fs.Dataset(validate=False).quality
    out = tax_flows(_fin(FIRM_A), tax_basis="preferential", tax_timing="cvd", log=log).set_index("year")
    # 19 CFR 351.509(b)(1): year t's concession counts in t + 1
    assert np.isnan(out.loc[2018, "tax"])                 # filed in 2018 for 2017: not in the data
    assert out.loc[2019, "tax"] == pytest.approx(375_000)   # 2018's
    assert out.loc[2020, "tax"] == pytest.approx(1_225_000)  # 2019's
    assert out.loc[2021, "tax"] == 0.0                     # 2020 was a loss
    assert out.loc[2021, "tax_accrued"] == pytest.approx(550_000)
    issues = set(log.to_frame()["issue"])
    assert "tax benefit falls after the panel" in issues   # 2021's 550,000 would count in 2022


def test_auto_basis_and_not_measured():
    fin = _fin(FIRM_A)
    assert (tax_flows(fin)["tax_basis_used"] == "preferential").all()   # hnte column present
    plain = fin.drop(columns=["hnte"]).assign(income_tax_expense=1e6)
    assert (tax_flows(plain)["tax_basis_used"] == "effective").all()
    data = fs.Dataset(financials=fin.drop(columns=["profit_before_tax"]).assign(
        interest_bearing_debt=0.0, interest_expense=0.0), validate=False)
    f = fs.support_flows(data, components=["subsidy", "tax"])
    assert f.attrs["not_measured"] == ["tax", "land"] and f["tax"].isna().all()
    assert (f["total"] == 0).all()


def test_schedules_ship_with_sources():
    for table in (small_low_profit_schedule(), rd_deduction_schedule()):
        assert table["source"].str.len().min() > 10
    rd = rd_deduction_schedule()
    assert set(rd["firm_type"]) == {"all", "manufacturer", "tech_sme"}


# -- land ----------------------------------------------------------------------------------------------------
def _land_data():
    fin = pd.DataFrame({"firm_id": "L", "year": range(2018, 2023), "revenue": 100e6, "interest_bearing_debt": 0.0,
                        "interest_expense": 0.0})
    land = pd.DataFrame({
        "firm_id": ["L", "L", "L", "L"], "year": [2018, 2020, 2021, 2022],
        "area_m2": [10_000.0, 1_000.0, 2_000.0, 500.0],
        "price_paid": [2_000_000.0, 400_000.0, 2_000_000.0, 100_000.0],
        "place": ["Suzhou", "Suzhou", "Suzhou", "Nowhere"], "land_use": "industrial", "term_years": 50.0})
    bench = pd.DataFrame({"place": "Suzhou", "year": [2018, 2020, 2021], "price_per_m2": [500.0, 600.0, 700.0]})
    return fs.Dataset(financials=fin, land=land, land_benchmarks=bench, validate=False)


def test_land_use_right_allocated_over_its_term():
    data = _land_data()
    f = fs.support_flows(data, components=["land"]).set_index("year")
    # 2018: benefit = (500 − 200) × 10,000 = 3,000,000 ≥ 0.5 % × 100m = 500,000: allocated over the 50-year term
    #   A_k = y/n + [y − (y/n)(k − 1)]·d/(1 + d), d = 4.90 % (five-year-plus benchmark of 2018)
    d = annual_benchmark([2018], benchmark="lpr_5y").iloc[0] / 100
    assert d == pytest.approx(0.049)
    y, n = 3_000_000.0, 50
    a = [y / n + (y - (y / n) * (k - 1)) * d / (1 + d) for k in range(1, 6)]
    assert a[0] == pytest.approx(60_000 + 140_133.4604, rel=1e-9)        # 3m × 0.049 / 1.049 = 140,133.46
    # 2020: (600 − 400) × 1,000 = 200,000 < 500,000: expensed in 2020
    # 2021: (700 − 1,000) × 2,000 < 0: no benefit; 2022: no benchmark for Nowhere: missing, flagged
    expected = np.array(a) + np.array([0, 0, 200_000, 0, 0])
    np.testing.assert_allclose(f["land"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(f["land_received"].to_numpy(), [3e6, 0, 200_000, 0, 0])
    assert f.loc[2022, "land_missing"] and not f.loc[2018, "land_missing"]
    assert f["share"].to_numpy() == pytest.approx(expected / 100e6)
    assert "no land benchmark" in set(data.quality.to_frame()["issue"])
    # the last year of the term, 2067, gets y/n + (y/n)·d/(1 + d)
    longer = fs.Dataset(financials=pd.DataFrame({"firm_id": "L", "year": [2018, 2067, 2068], "revenue": 100e6}),
                        land=data.land.iloc[:1], land_benchmarks=data.land_benchmarks, validate=False)
    tail = fs.support_flows(longer).set_index("year")["land"]
    assert tail[2067] == pytest.approx(y / n + (y / n) * d / (1 + d)) and tail[2068] == 0


def test_land_allocation_options():
    data = _land_data()
    pur = fs.support_flows(data, land_allocation="purchase_year").set_index("year")["land"]
    np.testing.assert_allclose(pur.to_numpy(), [3e6, 0, 200_000, 0, 0])
    aul = fs.support_flows(data, land_allocation="aul", aul_years=10).set_index("year")["land"]
    d = 0.049
    assert aul[2018] == pytest.approx(300_000 + 3e6 * d / (1 + d))      # y/10 + y·d/(1+d)
    assert aul[2019] == pytest.approx(300_000 + 2.7e6 * d / (1 + d))    # y/10 + (y − y/10)·d/(1+d)


def test_land_median_of_comparables_is_labelled():
    land = pd.DataFrame({"firm_id": ["a", "b", "c"], "year": 2020, "area_m2": [1000.0, 1000.0, 1000.0],
                         "price_paid": [100_000.0, 200_000.0, 400_000.0], "place": "X", "land_use": "industrial"})
    rev = pd.DataFrame({"firm_id": ["a", "b", "c"], "year": 2020, "revenue": 1e9})
    out = land_flows(land, None, rev, land_benchmark="median_comparables").set_index("firm_id")
    # median price 200 /m²: a gains (200 − 100) × 1,000 = 100,000; b and c nothing
    assert out.loc["a", "land_received"] == pytest.approx(100_000)
    assert out.loc["b", "land_received"] == 0 and out.loc["c", "land_received"] == 0
    assert "NOT a CVD benchmark" in MeasureOptions(land_benchmark="median_comparables").describe()["land"]


def test_components_choose_total_and_extended_adds_all():
    d = fs.simulate(n_firms=40, seed=5)
    base = fs.support_flows(d)
    assert base.attrs["components"] == ["subsidy", "equity", "debt"]
    np.testing.assert_allclose(base["total"], base[["subsidy", "equity", "debt"]].sum(axis=1))
    np.testing.assert_allclose(base["total_extended"],
                               base[["subsidy", "equity", "debt", "tax", "land"]].fillna(0).sum(axis=1))
    five = fs.support_flows(d, components=["land", "tax", "subsidy", "equity", "debt"])
    assert five.attrs["components"] == ["subsidy", "equity", "debt", "tax", "land"]   # report order
    np.testing.assert_allclose(five["total"], base["total_extended"])
    sh = fs.support_share(base, extended=True)
    assert list(sh["component"]) == ["subsidy", "equity", "debt", "total", "tax", "land", "total_extended"]
    assert sh.attrs["components"] == list(sh["component"])


def test_simulated_truth_is_recovered():
    d = fs.simulate(n_firms=300, seed=11)
    t = d.provenance["truth_flows"]
    for basis, tol in (("preferential", 1e-6), ("effective", 1.0)):   # effective: income tax rounded to yuan
        m = fs.support_flows(d, tax_basis=basis).merge(t, on=["firm_id", "year"])
        np.testing.assert_allclose(m["tax"], m["tax_true"], atol=tol)
        np.testing.assert_allclose(m["land_received"], m["land_received_true"], atol=1e-6)
    assert t["land_received_true"].sum() > 0 and (t["tax_true"] > 0).mean() > 0.5


def test_options_are_validated_in_one_place():
    with pytest.raises(ConfigError, match="tax_basis"):
        MeasureOptions(tax_basis="book")
    with pytest.raises(ConfigError, match="components"):
        MeasureOptions(components=("subsidy", "grants"))
    with pytest.raises(ConfigError, match="measure.land_allocation"):
        fs.load_config({"measure": {"land_allocation": "forever"}})
    with pytest.raises(ConfigError, match="land_benchmark"):
        fs.support_flows(fs.simulate(n_firms=5), land_benchmark="thai")
    rows = MeasureOptions().rows()
    assert rows[0] == ("Components in total", "Subsidies, Guidance-fund equity, Below-market debt")
    assert {r[0] for r in rows} >= {"Tax concessions", "Below-market land", "Extended share of revenue"}
    cfg = fs.load_config({"measure": {"components": ["tax", "subsidy"], "tax_timing": "cvd"}})
    assert cfg.measure_options == MeasureOptions(components=("subsidy", "tax"), tax_timing="cvd")


# -- invariants (hypothesis) -----------------------------------------------------------------------------------
BASE = fs.simulate(n_firms=40, years=(2015, 2022), seed=3, land_rate=0.5)
TABLES = ("firms", "financials", "grants", "equity", "designations", "land", "land_benchmarks")
AMOUNTS = {"financials": ["revenue", "total_assets", "total_liabilities", "interest_bearing_debt", "interest_expense",
                          "rd_expense", "main_business_revenue", "net_profit", "profit_before_tax",
                          "income_tax_expense"],
           "grants": ["amount"], "equity": ["amount"], "land": ["price_paid"], "land_benchmarks": ["price_per_m2"]}
OPTIONS = st.fixed_dictionaries({
    "tax_basis": st.sampled_from(["preferential", "effective"]), "tax_timing": st.sampled_from(["accrual", "cvd"]),
    "land_allocation": st.sampled_from(["term", "aul", "purchase_year"]),
    "land_benchmark": st.sampled_from(["user", "median_comparables"])})


def _copy(**tables):
    kw = {n: getattr(BASE, n).copy() for n in TABLES}
    kw.update(tables)
    return fs.Dataset(**kw)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.sampled_from([1e-4, 0.01, 10.0, 1e4]), opts=OPTIONS)
def test_tax_and_land_scale_with_the_unit(k, opts):
    """Amounts (and the land price per m²) × k: tax and land × k, shares unchanged.

    The simulated firms are not small low-profit (a regime with limits in yuan, which a
    change of unit does move): HNTE and statutory rates are proportional.
    """
    scaled = {t: getattr(BASE, t).assign(**{c: getattr(BASE, t)[c] * k for c in cols}) for t, cols in AMOUNTS.items()}
    a = fs.support_flows(_copy(), components=["tax", "land"], **opts)
    b = fs.support_flows(_copy(**scaled), components=["tax", "land"], **opts)
    for c in ("tax", "land", "land_received", "tax_rd_part", "total", "total_extended"):
        np.testing.assert_allclose(b[c].to_numpy(), a[c].to_numpy() * k, rtol=1e-9, atol=1e-6 * k)   # zero vs 1e-13: float noise
    for c in ("share", "share_extended", "tax_applicable_rate"):
        np.testing.assert_allclose(b[c].to_numpy(), a[c].to_numpy(), rtol=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), opts=OPTIONS)
def test_tax_and_land_ignore_row_order(seed, opts):
    rng = np.random.default_rng(seed)
    shuffled = {t: getattr(BASE, t).sample(frac=1.0, random_state=rng).reset_index(drop=True)
                for t in ("firms", "financials", "land", "land_benchmarks")}
    a = fs.support_flows(_copy(), components=["tax", "land"], **opts)
    b = fs.support_flows(_copy(**shuffled), components=["tax", "land"], **opts)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_land_without_benchmarks_is_an_error_only_when_land_is_in_the_total():
    data = _land_data()
    data.land_benchmarks = None
    with pytest.raises(fs.DataError, match="land_benchmarks"):
        fs.support_flows(data, components=["subsidy", "land"])
    f = fs.support_flows(data)                       # land outside the total: missing, flagged
    assert f["land"].eq(0).all() and f["land_missing"].any()
    assert "no land benchmark" in set(data.quality.to_frame()["issue"])


def test_a_purchase_before_the_panel_still_allocates_into_it():
    data = _land_data()
    data.financials = data.financials[data.financials["year"] >= 2019]
    f = fs.support_flows(data).set_index("year")
    d = 0.049
    assert f.loc[2019, "land"] == pytest.approx(60_000 + (3e6 - 60_000) * d / (1 + d))   # k = 2 of the 2018 right
    assert f.loc[2019, "land_received"] == 0
