"""Real exports in, right numbers out: CSMAR downloads, Wind sheets and the industrial survey.

The folders are built by ``tests/fixtures/vendor_exports.py`` exactly as the vendors lay them out. Every
expected number below is computed by hand in the comments.

Benchmark used for the debt component in 2020 (one-year LPR, day-weighted, 366 days):
4.15 % for 1 Jan–19 Feb (50 days), 4.05 % for 20 Feb–19 Apr (60 days), 3.85 % from
20 Apr (256 days): (50·4.15 + 60·4.05 + 256·3.85) / 366 = 1436.1 / 366 = 3.9237705 %.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import finsupport as fs
from finsupport.config import load_config
from finsupport.data.mapping import split_header
from finsupport.data.periods import parse_periods
from finsupport.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from vendor_exports import (  # noqa: E402
    FN056_CSV,
    WIND_FIN,
    csmar_folder,
    survey_folder,
    wind_book,
    write_book,
    write_text,
)

B2020 = 1436.1 / 366 / 100  # the 2020 benchmark as a fraction


def issues(data, issue=None, action=None):
    q = data.quality.to_frame()
    if issue is not None:
        q = q[q["issue"] == issue]
    if action is not None:
        q = q[q["action"] == action]
    return q


def flows_by_key(data):
    f = fs.support_flows(data)
    return f.set_index(["firm_id", "year"])


# -- CSMAR ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def csmar(tmp_path_factory):
    return fs.read_dataset(csmar_folder(tmp_path_factory.mktemp("csmar")), preset="csmar")


def test_files_merged_into_one_table_are_read_as_text(tmp_path, monkeypatch):
    """The files merged into one table (balance sheet + income statement + …) are compared cell by
    cell as read: none of them takes the typed parse, so a value typed in one file and written as
    text in the other cannot look different (or a repeated row distinct). A table read from one
    file does."""
    import finsupport.data.readers as readers

    offered: dict[str, bool] = {}
    real = readers._read_csv

    def spy(path, table, info, *, typed=None):
        offered[path.name] = typed is not None
        return real(path, table, info, typed=typed)

    monkeypatch.setattr(readers, "_read_csv", spy)
    data = fs.read_dataset(csmar_folder(tmp_path), preset="csmar")
    merged = [s["file"] for s in data.provenance["tables"]["financials"]["sources"] if s["file"].endswith(".csv")]
    assert merged and not any(offered[f] for f in merged)
    assert offered["FN_Fn056.csv"] and offered["TRD_Co.csv"]   # grants and firms: one file each


def test_b74_csmar_files_recognised_by_their_own_names_and_merged(csmar):
    src = csmar.provenance["tables"]["financials"]
    assert [s["file"] for s in src["sources"]] == ["CG_Ybasic.csv", "FS_Combas.xlsx", "FS_Comins.csv",
                                                   "PT_LCRDSPENDING.csv"]
    assert csmar.provenance["tables"]["grants"]["file"] == "FN_Fn056.csv"
    assert csmar.provenance["tables"]["firms"]["file"] == "TRD_Co.csv"
    assert "FS_Combas[DES][csv].txt" not in str(csmar.provenance.get("ignored_files"))  # not a table file
    fin = csmar.financials.set_index(["firm_id", "year"]).sort_index()
    assert list(fin.index) == [("000001", 2019), ("000001", 2020), ("002001", 2019), ("002001", 2020),
                               ("300750", 2020)]
    # balance sheet + income statement + employees in one row
    assert fin.loc[("000001", 2019), ["total_assets", "revenue", "employees"]].tolist() == [1000.0, 2000.0, 300.0]
    assert csmar.quality.accounting()["balanced"].all()


def test_csmar_statement_type_and_report_date_rules(csmar):
    # FS_Combas: the opening balance (2019-01-01) and the interim report (2020-06-30) are not annual;
    # Typrep B (FS) and Typrep 2 (FN) are parent-company statements
    assert len(issues(csmar, "not an annual report", "excluded")) == 2
    parent = issues(csmar, "parent-company statement", "excluded")
    assert sorted(parent["table"]) == ["financials", "financials", "grants"]
    assert csmar.financials.loc[csmar.financials["firm_id"] == "000001", "revenue"].tolist() == [2000.0, 2400.0]


def test_csmar_codes_padded_to_six_digits_in_every_file_type(csmar):
    assert sorted(csmar.firms["firm_id"]) == ["000001", "002001", "300750"]
    assert sorted(csmar.designations["firm_id"]) == ["002001", "300750"]  # typed as 2001 in designations.csv
    assert len(issues(csmar, "firm code without its leading zeros", "repaired")) >= 4
    assert not len(issues(csmar, "firm not in firms table"))


def test_csmar_interest_bearing_debt_from_its_four_parts(csmar):
    fin = csmar.financials.set_index(["firm_id", "year"])
    # 100 short-term + 20 current portion of non-current liabilities + 200 long-term + 80 bonds = 400
    assert fin.loc[("000001", 2019), "interest_bearing_debt"] == 400.0
    assert fin.loc[("002001", 2020), "interest_bearing_debt"] == 50.0  # missing parts count as 0


def test_csmar_rd_from_the_rd_table_before_the_new_statement_format(csmar):
    fin = csmar.financials.set_index(["firm_id", "year"])
    assert fin.loc[("000001", 2019), "rd_expense"] == 80.0  # RDExpenses: no R&D line in FS_Comins for 2019
    assert fin.loc[("000001", 2020), "rd_expense"] == 120.0  # the income statement's line
    assert len(issues(csmar, "R&D expense from the R&D table", "repaired")) == 1


def test_b75_csmar_subsidy_note_items_totals_and_accounts(csmar):
    g = csmar.grants.sort_values(["firm_id", "year", "programme"])
    # items counted, 合计 rows never; the parent row (Typrep 2) and the repeat in account 2 excluded
    assert g[["firm_id", "year", "programme", "amount"]].values.tolist() == [
        ["000001", 2019, "研发补助", 30.0], ["000001", 2019, "稳岗补贴", 10.0],
        ["000001", 2020, "专精特新奖励", 50.0], ["002001", 2020, "技改补助", 20.0],
        ["300750", 2020, "产业扶持资金", 300.0]]
    assert len(issues(csmar, "total row (合计)", "excluded")) == 5
    assert len(issues(csmar, "subsidy item booked to several accounts", "excluded")) == 1
    mismatch = issues(csmar, "subsidy items do not add up to their total", "flagged")
    assert mismatch["firm_id"].tolist() == ["002001"] and "25.00" in mismatch["detail"].iloc[0]


def test_csmar_flows_by_hand(csmar):
    f = flows_by_key(csmar)
    # 000001: effective rate 40 / 400 = 10 % and 45 / 450 = 10 %, above the benchmark: no debt benefit
    assert f.loc[("000001", 2019), ["subsidy", "equity", "debt", "total"]].tolist() == [40.0, 0.0, 0.0, 40.0]
    assert f.loc[("000001", 2020), ["subsidy", "equity", "debt", "total"]].tolist() == [50.0, 100.0, 0.0, 150.0]
    assert f.loc[("000001", 2020), "share"] == pytest.approx(150 / 2400, rel=1e-12)
    # 002001 in 2020: average debt (0 + 50) / 2 = 25 at 0 % interest: 25 × 3.9237705 % = 0.98094262
    assert f.loc[("002001", 2020), "debt"] == pytest.approx(25 * B2020, rel=1e-9)
    assert f.loc[("002001", 2020), "total"] == pytest.approx(20 + 25 * B2020, rel=1e-9)
    # 300750 in 2020 (first year: closing debt 1000): (3.9237705 % − 30 / 1000) × 1000 = 9.2377049
    assert f.loc[("300750", 2020), "debt"] == pytest.approx((B2020 - 0.03) * 1000, rel=1e-9)
    assert f.loc[("300750", 2020), "share"] == pytest.approx((300 + (B2020 - 0.03) * 1000) / 10000, rel=1e-9)


def test_b74_csmar_files_that_disagree_are_an_error(tmp_path):
    d = csmar_folder(tmp_path / "c")
    # CG_Ybasic and an FS file both give revenue? No: employees twice, with another value
    write_text(d / "CG_Ybasic.csv", "Stkcd,Reptdt,Y0601b,B001101000\n1,2019-12-31,300,2100\n")
    with pytest.raises(DataError, match="different values for the same firm-year") as e:
        fs.read_dataset(d, preset="csmar")
    assert "000001/2019" in str(e.value) and "FS_Comins.csv" in str(e.value)


def test_csmar_numeric_typrep_and_chinese_statement_header(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "financials.csv", "证券代码,会计期间,报表类型,营业收入\n000001,2019-12-31,合并报表,100\n"
                                     "000001,2019-12-31,母公司报表,90\n000002,2019-12-31,1,50\n000002,2019-12-31,2,40\n")
    data = fs.read_dataset(d)
    assert data.financials["revenue"].tolist() == [100.0, 50.0]
    assert len(issues(data, "parent-company statement", "excluded")) == 2  # one record per row


def test_sgnyea_is_not_a_year(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "financials.csv", "Stkcd,Accper,Sgnyea,B001101000\n000001,2019-12-31,1,100\n")
    data = fs.read_dataset(d, preset="csmar")
    assert data.financials["year"].tolist() == [2019] and "Sgnyea" in data.financials


# -- Wind ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wind(tmp_path_factory):
    return fs.read_dataset(wind_book(tmp_path_factory.mktemp("wind") / "wind.xlsx"), preset="wind")


def test_b68_wind_wide_panel_reshaped_with_units_from_every_header_form(wind):
    fin = wind.financials.set_index(["firm_id", "year"]).sort_index()
    assert list(fin.index) == [("000001", 2019), ("000001", 2020), ("600000", 2019)]  # 乙 2020 is empty
    # 120.5 万元 (multi-line header) and 0.15 亿元 (single-line header)
    assert fin.loc[("000001", 2019), "revenue"] == 1_205_000.0
    assert fin.loc[("000001", 2020), "revenue"] == 15_000_000.0
    assert fin.loc[("000001", 2020), "total_assets"] == 10_000_000.0  # period written 20201231
    assert len(issues(wind, "interim or parent-company column skipped", "excluded")) == 1
    assert len(issues(wind, "footer line skipped")) == 1
    assert wind.quality.accounting()["balanced"].all()


def test_wind_interest_bearing_debt_computed_from_parts_not_from_dai_xi_zhai_wu(wind):
    fin = wind.financials.set_index(["firm_id", "year"])
    # 100 + 200 万元 of borrowings, not Wind's 999 万元 带息债务
    assert fin.loc[("000001", 2019), "interest_bearing_debt"] == 3_000_000.0
    assert fin.loc[("000001", 2019), "interest_bearing_debt_vendor"] == 9_990_000.0


def test_b76_wind_aggregate_used_only_when_parts_are_absent_and_flagged(tmp_path):
    book = write_book(tmp_path / "w.xlsx", {"财务": [["证券代码", "报告期", "营业收入(万元)", "带息债务(万元)"],
                                                     ["000001.SZ", "2019年报", 100, 30]]})
    data = fs.read_dataset(book, preset="wind")
    assert data.financials["interest_bearing_debt"].tolist() == [300_000.0]
    assert len(issues(data, "vendor aggregate used for interest-bearing debt", "flagged")) == 1


@pytest.mark.parametrize("header", ["营业收入[报告期]2019年报[单位]百元", "营业收入\n[报告期]2019年报\n[单位]",
                                    "营业收入(万美元)", "营业收入[单位]万港元"])
def test_b66_unit_tag_that_cannot_be_parsed_is_an_error(tmp_path, header):
    book = write_book(tmp_path / "w.xlsx", {"财务": [["证券代码", "报告期", header], ["000001.SZ", "2019年报", 1]]})
    with pytest.raises(DataError, match="unit|currency"):
        fs.read_dataset(book, preset="wind")


def test_b69_period_header_disagreeing_with_the_year_column_is_an_error(tmp_path):
    book = write_book(tmp_path / "w.xlsx", {"财务": [["证券代码", "报告期", "营业收入[报告期]2019年报[单位]万元"],
                                                     ["000001.SZ", "2020-12-31", 1]]})
    with pytest.raises(DataError, match="wrong year"):
        fs.read_dataset(book, preset="wind")


@pytest.mark.parametrize("text, year, annual", [
    ("2019", 2019, None), ("2019-12-31", 2019, True), ("20191231", 2019, True), ("2019年报", 2019, True),
    ("2019A", 2019, True), ("2019年12月31日", 2019, True), ("2019-06-30", 2019, False), ("2019三季报", 2019, False),
    ("2019-01-01", 2019, False)])
def test_report_periods_as_wind_and_csmar_write_them(text, year, annual):
    p = parse_periods(pd.Series([text])).iloc[0]
    assert p["year"] == year and (pd.isna(p["annual"]) if annual is None else p["annual"] == annual)


def test_b71_interim_financial_rows_excluded_without_a_preset(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "financials.csv", "firm_id,year,revenue\n000001,2019-06-30,5\n000001,2019-12-31,9\n"
                                     "000001,2020中报,4\n000001,2020年报,11\n")
    data = fs.read_dataset(d)
    assert data.financials[["year", "revenue"]].values.tolist() == [[2019, 9.0], [2020, 11.0]]
    assert len(issues(data, "not an annual report", "excluded")) == 2


@pytest.mark.parametrize("value", ["2019", "2019-12-31", "20191231", "2019年报", "2019A"])
def test_b70_year_values_in_every_vendor_form(tmp_path, value):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "financials.csv", f"firm_id,year,revenue\n000001,{value},5\n")
    assert fs.read_dataset(d).financials["year"].tolist() == [2019]


def test_wind_header_forms_split_into_name_unit_and_period():
    one = split_header("营业收入[报告期]2019年报[单位]亿元")
    multi = split_header("营业收入\n[报告期]2019年报\n[单位]万元")
    mixed = split_header("营业收入(万元)\n[报告期]2019年报")
    assert (one.base, one.unit_text, one.period) == ("营业收入", "亿元", "2019年报")
    assert (multi.base, multi.unit_text, multi.period) == ("营业收入", "万元", "2019年报")
    assert (mixed.base, mixed.unit_text, mixed.period) == ("营业收入", "万元", "2019年报")


# -- industrial survey ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    return fs.read_dataset(survey_folder(tmp_path_factory.mktemp("survey")), preset="industrial_survey")


def test_b77_survey_thousand_yuan_and_subsidy_income_as_grants(survey):
    fin = survey.financials.set_index(["firm_id", "year"]).sort_index()
    # 5,000 千元 of main-business revenue = 5,000,000 yuan (used as revenue: no 营业收入合计 column)
    assert fin.loc[("100000001", 2005), "revenue"] == 5_000_000.0
    assert fin.loc[("100000001", 2006), "total_assets"] == 8_500_000.0
    g = survey.grants.sort_values(["firm_id", "year"])
    assert g[["firm_id", "year", "amount"]].values.tolist() == [["100000001", 2005, 20_000.0],
                                                               ["100000001", 2006, 12_500.0]]
    assert set(g["programme"]) == {"补贴收入 (industrial survey)"}
    assert len(issues(survey, "no subsidy income", "excluded")) == 2  # a zero and an empty cell
    assert len(issues(survey, "revenue from main-business revenue", "flagged")) == 1
    assert survey.quality.accounting()["balanced"].all()


def test_survey_firms_take_their_latest_attributes(survey):
    firms = survey.firms.set_index("firm_id")
    assert firms.loc["100000001", "name"] == "甲公司" and firms.loc["100000002", "province"] == "江苏省"


def test_b78_survey_flows_without_debt_say_so(survey):
    f = flows_by_key(survey)
    assert f.loc[("100000001", 2005), "share"] == pytest.approx(20_000 / 5_000_000, rel=1e-12)
    assert f["debt"].isna().all()
    assert len(issues(survey, "debt component not measured", "flagged")) == 1


def test_survey_header_unit_wins_over_the_preset_default(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    write_text(d / "asif.csv", "法人代码,年份,主营业务收入(元),补贴收入\n1,2005,5000,20\n")
    data = fs.read_dataset(d, preset="industrial_survey")
    assert data.financials["revenue"].tolist() == [5000.0]  # the header says 元
    assert data.grants["amount"].tolist() == [20_000.0]  # no unit in the header: the preset's 千元


# -- units, codes and labels that cannot go wrong quietly ------------------------------------
def test_b65_regression_units_wan_for_every_table_from_the_config(tmp_path):
    """Issue: grants and equity in 万元 stayed in yuan and the run printed a 0.0 % share."""
    ex = tmp_path / "ex"
    fs.write_example(ex)
    for name, cols in {"financials": ["revenue", "total_assets", "total_liabilities", "interest_bearing_debt",
                                      "interest_expense", "rd_expense", "main_business_revenue", "net_profit"],
                       "grants": ["amount"], "equity": ["amount"]}.items():
        df = pd.read_csv(ex / f"{name}.csv", dtype={"firm_id": str})
        df[cols] = df[cols] / 10_000
        df.to_csv(ex / f"{name}.csv", index=False)
    text = (ex / "config.toml").read_text(encoding="utf-8").replace("units = {}", 'units = "wan"')
    text = text.replace("enabled = true", "enabled = false")
    (ex / "config.toml").write_text(text, encoding="utf-8")
    assert load_config(ex / "config.toml")["data"]["units"] == "wan"
    res = fs.run(ex / "config.toml", out=tmp_path / "out.xlsx", progress=False)
    assert res.headline["pooled_share"] == pytest.approx(0.1370, abs=5e-5)
    default = fs.prepare(None)
    assert res.headline["pooled_share"] == pytest.approx(default.headline["pooled_share"], rel=1e-9)


def test_b65_units_string_header_wins_and_per_table_conflict_is_an_error(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "financials.csv", "firm_id,year,营业收入(亿元),total_assets\n000001,2019,1,3\n")
    data = fs.read_dataset(d, units="wan")
    assert data.financials[["revenue", "total_assets"]].values.tolist() == [[100_000_000.0, 30_000.0]]
    assert len(issues(data, "unit from the header")) == 1
    with pytest.raises(DataError, match="unit conflict"):
        fs.read_dataset(d, units={"financials": "wan"})
    with pytest.raises(ConfigError, match="data.units"):
        load_config({"data": {"units": "wan dollars"}})


def test_b72_regression_stkcd_without_zeros_in_csv_keeps_certified_firms(tmp_path):
    """Issue: Stkcd 2001 in a CSV was not padded; the certified firms were excluded as unknown."""
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "firms.csv", "Stkcd,Stknme\n002001,乙\n")
    write_text(d / "financials.csv", "Stkcd,Accper,B001101000\n2001,2019-12-31,100\n")
    write_text(d / "designations.csv", "Stkcd,tier,year\n2001,little_giant,2019\n")
    data = fs.read_dataset(d, preset="csmar")
    assert data.financials["firm_id"].tolist() == ["002001"] and data.designations["firm_id"].tolist() == ["002001"]


def test_b73_ids_matched_after_zero_padding_or_suffix_without_preset(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "firms.csv", "firm_id\n002001\n600000\n")
    write_text(d / "financials.csv", "firm_id,year,revenue\n2001,2019,100\n600000.SH,2019,5\n999,2019,1\n")
    data = fs.read_dataset(d)
    assert sorted(data.financials["firm_id"]) == ["002001", "600000"]
    assert len(issues(data, "firm code matched to the firms table", "repaired")) == 2
    orphan = issues(data, "firm not in firms table", "excluded")
    assert orphan["detail"].iloc[0].startswith("firm code not in the firms table (1 code(s): 999")


def test_b73_ambiguous_id_match_is_an_error(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "firms.csv", "firm_id\n02001\n002001\n")
    write_text(d / "financials.csv", "firm_id,year,revenue\n2001,2019,100\n")
    with pytest.raises(DataError, match="several firms"):
        fs.read_dataset(d)


def test_b67_regression_wind_single_line_and_mixed_headers(tmp_path):
    """Issue: 营业收入[报告期]2019年报[单位]亿元 was not mapped; a mixed header lost its unit."""
    book = write_book(tmp_path / "w.xlsx", {"财务": [
        ["证券代码", "营业收入[报告期]2019年报[单位]亿元", "资产总计(万元)\n[报告期]2019年报"],
        ["000001.SZ", 2, 3]]})
    data = fs.read_dataset(book, preset="wind")
    assert data.financials[["year", "revenue", "total_assets"]].values.tolist() == [[2019, 200_000_000.0, 30_000.0]]


# -- validate applies the run's requirements --------------------------------------------------
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "finsupport.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_b79_regression_validate_exits_non_zero_where_the_run_would_stop(tmp_path):
    ex = tmp_path / "ex"
    fs.write_example(ex)
    cases = {}
    no_fin = tmp_path / "no_fin"
    no_fin.mkdir()
    for t in ("firms", "grants", "equity", "designations"):
        (no_fin / f"{t}.csv").write_bytes((ex / f"{t}.csv").read_bytes())
    cases["no financials"] = no_fin
    no_rev = tmp_path / "no_rev"
    no_rev.mkdir()
    for t in ("firms", "grants", "equity", "designations", "financials"):
        (no_rev / f"{t}.csv").write_bytes((ex / f"{t}.csv").read_bytes())
    fin = pd.read_csv(ex / "financials.csv", dtype=str)
    fin.drop(columns="revenue").to_csv(no_rev / "financials.csv", index=False)
    cases["no revenue"] = no_rev
    header_only = tmp_path / "header_only"
    header_only.mkdir()
    for t in ("firms", "grants", "equity", "designations"):
        (header_only / f"{t}.csv").write_bytes((ex / f"{t}.csv").read_bytes())
    fin.head(0).to_csv(header_only / "financials.csv", index=False)
    cases["header only"] = header_only
    for what, path in cases.items():
        r = _cli("validate", path)
        assert r.returncode == 2, (what, r.stdout, r.stderr)
        assert "financials" in r.stderr and "Traceback" not in r.stderr
    ok = _cli("validate", ex / "config.toml")
    assert ok.returncode == 0 and "usable for every stage before estimation" in ok.stdout
    assert "pooled support share 13.7%" in ok.stdout


def test_validate_a_csmar_download_from_the_command_line(tmp_path):
    d = csmar_folder(tmp_path / "csmar")
    r = _cli("validate", d, "--preset", "csmar")
    assert r.returncode == 0, r.stderr
    assert "financials: 21 rows read, 17 used, 4 excluded" in r.stdout
    assert "subsidy items do not add up to their total" in r.stdout


def test_wind_fixture_layout_is_what_the_test_says():
    assert "\n" in WIND_FIN[0][2] and "\n" not in WIND_FIN[0][3]


# -- invariants (hypothesis) ------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

UNITS = {"元": 1, "千元": 1_000, "万元": 10_000, "百万元": 1_000_000, "亿元": 100_000_000}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False), min_size=2, max_size=2),
       units=st.lists(st.sampled_from(sorted(UNITS)), min_size=2, max_size=2), single_line=st.booleans())
def test_wind_unit_scaling_is_exact_in_every_header_form(tmp_path_factory, values, units, single_line):
    """A value written in any unit and header form is read as exactly value × unit yuan."""
    def head(year, unit):
        return (f"营业收入[报告期]{year}年报[单位]{unit}" if single_line
                else f"营业收入\n[报告期]{year}年报\n[单位]{unit}")
    book = write_book(tmp_path_factory.mktemp("w") / "w.xlsx", {"财务": [
        ["证券代码", head(2019, units[0]), head(2020, units[1])], ["000001.SZ", str(values[0]), str(values[1])]]})
    fin = fs.read_dataset(book, preset="wind").financials.set_index("year")["revenue"]
    for y, v, u in zip((2019, 2020), values, units, strict=True):
        assert fin.loc[y] == float(v * UNITS[u])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6))
def test_csmar_row_order_does_not_change_the_tables(tmp_path_factory, seed):
    """Shuffling the rows of every CSMAR CSV file gives the same tables and flows."""
    import random

    base = csmar_folder(tmp_path_factory.mktemp("a"))
    other = csmar_folder(tmp_path_factory.mktemp("b"))
    rng = random.Random(seed)
    for f in other.glob("*.csv"):
        head, *rows = f.read_text(encoding="utf-8").splitlines()
        rng.shuffle(rows)
        f.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    a, b = fs.read_dataset(base, preset="csmar"), fs.read_dataset(other, preset="csmar")
    for t in ("financials", "grants", "firms", "designations"):
        key = ["firm_id", "year", "programme"] if t == "grants" else ["firm_id", "year"] if t != "firms" else ["firm_id"]
        x = getattr(a, t).sort_values(key).reset_index(drop=True)
        y = getattr(b, t).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(x[sorted(x.columns)], y[sorted(y.columns)], check_dtype=False)
    fa = fs.support_flows(a).sort_values(["firm_id", "year"]).reset_index(drop=True)
    fb = fs.support_flows(b).sort_values(["firm_id", "year"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(fa, fb)


# -- cases found by trying the command line as a new user would -------------------------------
def test_b80_interim_rows_of_the_subsidy_note_are_not_grants(tmp_path):
    d = csmar_folder(tmp_path / "c")
    with open(d / "FN_Fn056.csv", "a", encoding="utf-8") as fh:  # a half-year note: 06-30 amounts
        fh.write("300750,丙,2020-06-30,1,1,产业扶持资金,150,\n300750,丙,2020-06-30,1,1,合计,150,\n")
    data = fs.read_dataset(d, preset="csmar")
    assert data.grants.loc[data.grants["firm_id"] == "300750", "amount"].tolist() == [300.0]
    assert len(issues(data, "not an annual report", "excluded").query("table == 'grants'")) == 2


def test_b81_the_same_vendor_table_downloaded_twice_counts_once(tmp_path):
    d = csmar_folder(tmp_path / "c")
    (d / "FN_Fn0561.csv").write_bytes((d / "FN_Fn056.csv").read_bytes())  # a second copy of the download
    data = fs.read_dataset(d, preset="csmar")
    assert data.grants["amount"].sum() == 410.0  # 10 + 30 + 50 + 20 + 300, not twice that
    # the copy's five item rows (its totals, parent and repeated rows go by the file's own rules)
    assert len(issues(data, "row repeated in another file", "excluded")) == 5


def test_b82_csmar_missing_value_codes(tmp_path):
    d = csmar_folder(tmp_path / "c")
    text = (d / "FS_Comins.csv").read_text(encoding="utf-8").replace("000001,甲,2020-12-31,A,2400,45,120,150",
                                                                     "000001,甲,2020-12-31,A,2400,-95,-99,150")
    (d / "FS_Comins.csv").write_text(text, encoding="utf-8")
    data = fs.read_dataset(d, preset="csmar")
    row = data.financials.set_index(["firm_id", "year"]).loc[("000001", 2020)]
    assert pd.isna(row["interest_expense"])
    assert row["rd_expense"] == 120.0  # -99 is missing: the R&D table's figure fills it
    assert len(issues(data, "CSMAR missing-value code", "repaired")) == 2
    # no invented debt benefit: the interest expense is missing, not -95
    assert pd.isna(flows_by_key(data).loc[("000001", 2020), "debt"])


def test_b83_merged_rows_name_every_file_and_conflicts_the_right_one(csmar, tmp_path):
    label = csmar.financials.index[csmar.financials["firm_id"].eq("000001")][0]
    assert "FS_Combas.xlsx:" in label and "FS_Comins.csv:" in label and "CG_Ybasic.csv:" in label
    d = csmar_folder(tmp_path / "c")
    write_text(d / "FS_Comins1.csv", "Stkcd,Accper,Typrep,B001101000\n000001,2019-12-31,A,999\n")
    with pytest.raises(DataError, match="FS_Comins.csv and FS_Comins1.csv give different values") as e:
        fs.read_dataset(d, preset="csmar")
    assert "FS_Comins1.csv:2" in str(e.value)


def test_b84_vendor_files_without_their_preset_are_an_error_naming_it(tmp_path):
    d = csmar_folder(tmp_path / "c")
    with pytest.raises(DataError, match="preset='csmar'") as e:
        fs.read_dataset(d)
    assert "FS_Combas.xlsx" in str(e.value)
    stata = tmp_path / "s"
    stata.mkdir()
    (stata / "survey.dta").write_bytes(b"\x00")
    with pytest.raises(DataError, match="survey.dta: Stata"):
        fs.read_dataset(stata, preset="industrial_survey")


def test_b85_a_qualified_indicator_is_not_the_indicator(tmp_path):
    """营业收入(同比增长率) is a growth rate: it must not be read as revenue."""
    book = write_book(tmp_path / "w.xlsx", {"财务": [
        ["证券代码", "营业收入[报告期]2019年报[单位]万元", "营业收入(同比增长率)\n[报告期]2019年报\n[单位]%",
         "资产负债率(%)\n[报告期]2019年报"],
        ["000001.SZ", 120, 15.5, 40]]})
    fin = fs.read_dataset(book, preset="wind").financials
    assert fin["revenue"].tolist() == [1_200_000.0]
    assert "营业收入(同比增长率) [单位]%" in " ".join(map(str, fin.columns)).replace("\n", " ")
    d = tmp_path / "d"
    d.mkdir()
    write_text(d / "financials.csv", "firm_id,year,营业收入(同比增长率)\n000001,2019,15\n")
    with pytest.raises(DataError, match="revenue"):  # not silently taken for revenue
        fs.prepare({"data": {"path": str(d), "synthetic": False}, "sample": {"years": []},
                    "shares": {"years": [], "headline_cohorts": []}})


def test_b86_survey_headers_without_brackets_and_batches_in_words(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    write_text(d / "asif.csv", "法人代码,年份,主营业务收入千元,补贴收入千元,资产总计千元\n1,2005,5000,20,8000\n")
    data = fs.read_dataset(d, preset="industrial_survey")
    assert data.financials[["revenue", "total_assets"]].values.tolist() == [[5_000_000.0, 8_000_000.0]]
    assert data.grants["amount"].tolist() == [20_000.0]
    nofirm = tmp_path / "n"
    nofirm.mkdir()
    write_text(nofirm / "asif.csv", "企业,nf,主营业务收入千元\n1,2005,5000\n")
    with pytest.raises(DataError, match="no column for firm_id, year"):
        fs.read_dataset(nofirm, preset="industrial_survey")
    e = tmp_path / "e"
    e.mkdir()
    write_text(e / "designations.csv", "firm_id,tier,year,batch\n000001,小巨人,2019,第一批\n000002,小巨人,2021,第三批\n")
    assert fs.read_dataset(e).designations["batch"].tolist() == [1.0, 3.0]


def test_b87_validate_checks_a_folder_as_its_config_runs_it(tmp_path):
    ex = tmp_path / "ex"
    fs.write_example(ex)
    r = _cli("validate", ex)
    assert r.returncode == 0 and "pooled support share 13.7%" in r.stdout  # the config's headline, as run
    r = _cli("validate", ex, "--preset", "csmar")
    assert r.returncode == 3 and "config.toml" in r.stderr


def test_b88_the_same_note_downloaded_as_csv_and_xlsx_counts_once(tmp_path):
    """Second round: a copy differing only in number formatting or a renamed short name."""
    d = csmar_folder(tmp_path / "c")
    rows = [r.split(",") for r in FN056_CSV.strip().splitlines()]
    book = [rows[0]] + [[r[0].lstrip("0") or "0", r[1] + "ST", r[2], int(r[3]), int(r[4]), r[5],
                         float(r[6]) if r[6] else None, float(r[7]) if r[7] else None] for r in rows[1:]]
    write_book(d / "FN_Fn056.xlsx", {"FN_Fn056": book})
    data = fs.read_dataset(d, preset="csmar")
    assert data.grants["amount"].sum() == 410.0
    assert len(issues(data, "row repeated in another file", "excluded")) == 5


def test_b89_wind_parent_company_columns_are_not_the_group_figure(tmp_path):
    head = "营业收入\n[报告期]{y}年报\n[报表类型]{k}\n[单位]万元"
    book = write_book(tmp_path / "w.xlsx", {"财务": [
        ["证券代码", head.format(y=2019, k="合并报表"), head.format(y=2019, k="母公司报表")],
        ["000001.SZ", 120, 80]]})
    data = fs.read_dataset(book, preset="wind")
    assert data.financials["revenue"].tolist() == [1_200_000.0]
    only_parent = write_book(tmp_path / "p.xlsx", {"财务": [
        ["证券代码", "报告期", "营业收入\n[报表类型]母公司报表\n[单位]万元"], ["000001.SZ", "2019年报", 80]]})
    with pytest.raises(DataError, match="revenue"):  # never read as the group's revenue
        fs.prepare({"data": {"path": str(only_parent), "preset": "wind", "synthetic": False},
                    "sample": {"years": []}, "shares": {"years": [], "headline_cohorts": []}})
    grants = tmp_path / "g"
    grants.mkdir()
    write_text(grants / "grants.csv", "firm_id,year,amount\n000001,2019,5\n000001,2019,5\n")
    flagged = issues(fs.read_dataset(grants), "identical rows", "flagged")
    assert len(flagged) == 1
