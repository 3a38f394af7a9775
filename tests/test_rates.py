import pytest

from finsupport.errors import ConfigError, DataError
from finsupport.reference.rates import annual_benchmark, benchmark_rates


def test_day_weighted_2019_one_year():
    # 2019: 4.35 % from 1 Jan to 19 Aug (231 days), LPR 4.25 % 20 Aug–19 Sep (31 days),
    # 4.20 % 20 Sep–19 Nov (61 days), 4.15 % 20 Nov–31 Dec (42 days); 365 days.
    expected = (231 * 4.35 + 31 * 4.25 + 61 * 4.20 + 42 * 4.15) / 365  # = 4.293424…
    assert annual_benchmark([2019])[2019] == pytest.approx(expected, abs=1e-12)


def test_day_weighted_2015_six_changes():
    # 5.60 (59 days to 28 Feb), 5.35 (71: 1 Mar–10 May), 5.10 (48: 11 May–27 Jun),
    # 4.85 (59: 28 Jun–25 Aug), 4.60 (59: 26 Aug–23 Oct), 4.35 (69: 24 Oct–31 Dec)
    expected = (59 * 5.60 + 71 * 5.35 + 48 * 5.10 + 59 * 4.85 + 59 * 4.60 + 69 * 4.35) / 365
    assert annual_benchmark([2015])[2015] == pytest.approx(expected, abs=1e-12)


def test_leap_year_and_five_year_series_and_spread():
    # 2020 is a leap year: 4.80 % (50 days to 19 Feb), 4.75 % (60: 20 Feb–19 Apr), 4.65 % (256 days)
    expected = (50 * 4.80 + 60 * 4.75 + 256 * 4.65) / 366
    assert annual_benchmark([2020], benchmark="lpr_5y")[2020] == pytest.approx(expected, abs=1e-12)
    assert annual_benchmark([2017], spread_bp=150)[2017] == pytest.approx(4.35 + 1.5)


def test_flat_years_and_errors():
    assert annual_benchmark([2016, 2017, 2018]).tolist() == [4.35, 4.35, 4.35]
    with pytest.raises(DataError, match="no benchmark rate"):
        annual_benchmark([1990])
    with pytest.raises(ConfigError, match="lpr_1y"):
        annual_benchmark([2019], benchmark="libor")


def test_table_has_sources_and_status():
    tab = benchmark_rates()
    assert {"status", "source"} <= set(tab.columns)
    assert tab["source"].str.len().gt(10).all()
    assert set(tab["status"]) <= {"verified", "verified_1y", "recalled"}


def test_rows_confirmed_by_published_reports_are_no_longer_recalled():
    """Every row was checked against a published report (status and source name it).

    Reuters reports of the 2008-12-23, 2015-03-01 and 2015-05-11 cuts give the one-year
    rate only (``verified_1y``); the 2015-06-28 row is in bank-news rate histories with
    both rates; China Daily reported the 2019-09-20 LPR fixing (4.20 / 4.85); Reuters and
    Xinhua the 2025-05-20 fixing (3.00 / 3.50).
    """
    tab = benchmark_rates().set_index(benchmark_rates()["effective_date"].dt.strftime("%Y-%m-%d"))
    assert "recalled" not in set(tab["status"])
    expected = {"2008-12-23": ("verified_1y", 5.31, "Reuters"), "2015-03-01": ("verified_1y", 5.35, "Reuters"),
                "2015-05-11": ("verified_1y", 5.10, "Reuters"), "2015-06-28": ("verified", 4.85, "China Banking News"),
                "2019-09-20": ("verified", 4.20, "China Daily"), "2025-05-20": ("verified", 3.00, "Reuters")}
    for day, (status, rate, source) in expected.items():
        assert tab.loc[day, "status"] == status, day
        assert tab.loc[day, "rate_1y_pct"] == pytest.approx(rate), day
        assert source in tab.loc[day, "source"], day
    assert tab.loc["2019-09-20", "rate_5y_plus_pct"] == pytest.approx(4.85)
    assert tab.loc["2025-05-20", "rate_5y_plus_pct"] == pytest.approx(3.50)
