"""read_dataset: formats, header mapping, presets, units, row labels and provenance."""

from __future__ import annotations

import hashlib
import shutil
import sys
from importlib import resources
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from finsupport.data import mapping as fm
from finsupport.data.readers import read_dataset
from finsupport.errors import ConfigError, DataError

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from vendor_exports import write_book  # noqa: E402


def write_csvs(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    return folder


def log(data, issue=None):
    df = data.quality.to_frame()
    return df if issue is None else df[df["issue"] == issue]


TABLES = {
    "firms": pd.DataFrame({"firm_id": ["000001", "000002", "300750"], "name": ["甲", "乙", "丙"],
                           "sector": ["robots"] * 3}),
    "financials": pd.DataFrame({
        "firm_id": ["000001", "000001", "000002", "300750"], "year": [2019, 2020, 2019, 2019],
        "revenue": [100.5, 120.25, 300.0, 0.07], "total_liabilities": [10.0, 20.0, 30.0, 40.0],
        "employees": [10.0, 12.0, 30.0, 5.0]}),
    "grants": pd.DataFrame({"firm_id": ["000001", "000002"], "year": [2019, 2020], "amount": [1.5, 2.0],
                            "recurring": [True, False], "programme": ["a", "b"]}),
    "designations": pd.DataFrame({"firm_id": ["000001"], "tier": ["little_giant"], "year": [2019]}),
}


def test_reads_the_embedded_example_folder():
    with resources.as_file(resources.files("finsupport.datasets").joinpath("robotics44")) as folder:
        data = read_dataset(folder)
        sha = hashlib.sha256((Path(folder) / "financials.csv").read_bytes()).hexdigest()
        n_fin = sum(1 for _ in open(Path(folder) / "financials.csv", encoding="utf-8")) - 1
    assert set(data.tables()) == {"firms", "financials", "grants", "equity", "designations", "land", "land_benchmarks"}
    assert data.financials["firm_id"].str.len().eq(6).all() and data.financials["firm_id"].iloc[0] == "000001"
    assert data.financials.index[0] == 2  # row labels are source lines; the header is line 1
    t = data.provenance["tables"]["financials"]
    assert (t["file"], t["sha256"], t["rows_read"], t["format"]) == ("financials.csv", sha, n_fin, "csv")
    assert data.provenance["format"] == "csv" and "truth.csv" in data.provenance["ignored_files"]
    assert data.quality.accounting()["balanced"].all()


def test_same_tables_from_csv_workbook_and_parquet(tmp_path):
    from_csv = read_dataset(write_csvs(tmp_path / "csv", TABLES))
    sheets = {n: [list(df.columns)] + df.astype(object).values.tolist() for n, df in TABLES.items()}
    from_xlsx = read_dataset(write_book(tmp_path / "book.xlsx", sheets))
    pq = tmp_path / "pq"
    pq.mkdir()
    for n, df in TABLES.items():
        df.to_parquet(pq / f"{n}.parquet")
    from_pq = read_dataset(pq)
    for name in TABLES:
        a = getattr(from_csv, name).reset_index(drop=True)
        for other in (from_xlsx, from_pq):
            pd.testing.assert_frame_equal(a, getattr(other, name).reset_index(drop=True), check_dtype=False)
    assert list(from_xlsx.financials.index) == [2, 3, 4, 5]  # spreadsheet rows
    assert list(from_pq.financials.index) == [1, 2, 3, 4]  # Parquet record numbers
    assert from_xlsx.provenance["tables"]["financials"]["sheet"] == "financials"


def test_row_labels_in_errors_are_spreadsheet_rows(tmp_path):
    path = write_book(tmp_path / "b.xlsx", {"Financials": [
        ["firm_id", "year", "revenue"], ["000001", 2019, 1], [None], ["000002", 2019, "n/a?"]]})
    with pytest.raises(DataError) as e:
        read_dataset(path)
    assert e.value.problems[0]["rows"] == [4] and "row 4" in str(e.value)


def test_sheet_names_any_case_and_chinese(tmp_path):
    path = write_book(tmp_path / "b.xlsx", {
        "企业": [["证券代码", "公司名称"], ["000001", "甲"]],
        "FINANCIALS": [["股票代码", "年份", "营业收入"], ["000001", 2019, 5]],
        "补助": [["企业代码", "年度", "补助金额"], ["000001", 2019, 1]],
        "说明": [["not a table"]],
    })
    data = read_dataset(path)
    assert data.financials["revenue"].tolist() == [5.0] and data.grants["amount"].tolist() == [1.0]
    assert data.provenance["ignored_sheets"] == ["说明"]


def test_csmar_workbook_with_three_header_rows(tmp_path):
    rows = [
        ["Stkcd", "ShortName", "Accper", "Typrep", "A001000000", "A002000000", "A002101000", "A002201000",
         "A002203000", "B001101000", "B001211101"],
        ["证券代码", "证券简称", "会计期间", "报表类型", "资产总计", "负债合计", "短期借款", "长期借款", "应付债券",
         "营业收入", "利息费用"],
        ["没有单位", "没有单位", "没有单位", "没有单位", "元", "元", "元", "元", "元", "元", "元"],
        ["000001", "甲", "2019-12-31", "A", 1000, 600, 100, 200, None, 900, 12],
        ["000001", "甲", "2019-12-31", "B", 800, 500, 100, 100, None, 700, 10],
        ["000002", "乙", "2019-12-31", "A", 500, 100, None, None, None, 300, 0],
    ]
    data = read_dataset(write_book(tmp_path / "FS.xlsx", {"financials": rows}), preset="csmar")
    fin = data.financials
    assert list(fin.index) == [4, 6]
    assert fin["interest_bearing_debt"].tolist()[0] == 300.0 and pd.isna(fin["interest_bearing_debt"].iloc[1])
    assert fin["interest_expense"].tolist() == [12.0, 0.0] and "name" not in fin  # ShortName: firms only
    assert len(log(data, "column derived")) == 1
    assert {u["unit"] for u in data.provenance["units"]} == {"yuan"}
    assert data.provenance["tables"]["financials"]["header_rows"] == 3


def test_csmar_codes_without_preset_use_the_label_row(tmp_path):
    text = "Stkcd,Accper,A001000000\n证券代码,会计期间,资产总计\n没有单位,没有单位,万元\n000001,2019-12-31,1.5\n"
    d = tmp_path / "d"
    d.mkdir()
    (d / "financials.csv").write_text(text, encoding="utf-8")
    data = read_dataset(d)
    assert data.financials["total_assets"].tolist() == [15000.0]  # the unit row says 万元
    assert data.provenance["units"][0]["origin"] == "header"


def test_wind_workbook_units_in_headers(tmp_path):
    path = write_book(tmp_path / "wind.xlsx", {"财务": [
        ["证券代码", "证券简称", "报告期", "营业收入(万元)", "资产总计\n[单位]亿元\n[报告期]2019年报", "研发费用（单位：元）",
         "员工总数(人)"],
        ["000001.SZ", "甲", "2019-12-31", 1.23, 0.5, 7, 100],
        ["数据来源：Wind"],
    ]})
    data = read_dataset(path, preset="wind")
    row = data.financials.iloc[0]
    assert (row["firm_id"], row["revenue"], row["total_assets"], row["rd_expense"], row["employees"]) == (
        "000001", 12300.0, 50_000_000.0, 7.0, 100.0)
    assert {(u["column"], u["factor"]) for u in data.provenance["units"]} == {
        ("revenue", 10_000), ("total_assets", 100_000_000), ("rd_expense", 1)}


def test_unit_conversion_is_decimal_exact(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "financials.csv").write_text("firm_id,year,revenue\n000001,2019,0.07\n000002,2019,1.1\n", encoding="utf-8")
    data = read_dataset(d, units={"financials": "wan"})
    assert data.financials["revenue"].tolist() == [700.0, 11000.0]  # not 700.0000000000001


def test_units_by_column_and_for_every_table(tmp_path):
    d = write_csvs(tmp_path / "d", TABLES)
    data = read_dataset(d, units={"financials": {"revenue": "yi"}})
    assert data.financials["revenue"].iloc[0] == 100.5e8
    assert data.financials["total_liabilities"].iloc[0] == 10.0  # not converted
    everywhere = read_dataset(d, units="10k")
    assert everywhere.grants["amount"].tolist() == [15000.0, 20000.0]
    assert everywhere.financials["employees"].iloc[0] == 10.0  # counts are not amounts


def test_flat_and_nested_mapping_and_unused_entries(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "financials.csv").write_text("code,FY,Sales Income,Debt\n000001,2019,5,1\n", encoding="utf-8")
    data = read_dataset(d, mapping={"Sales Income": "revenue", "typo_header": "net_profit",
                                    "financials": {"Debt": "interest_bearing_debt"}})
    assert list(data.financials.columns) == ["firm_id", "year", "revenue", "interest_bearing_debt"]
    unused = log(data, "mapping entry not used")
    assert list(unused["column"]) == ["net_profit"]
    assert data.provenance["tables"]["financials"]["columns"]["Sales Income"] == "revenue"


def test_parquet_integer_codes_get_their_zeros_back(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    pd.DataFrame({"firm_id": ["000001", "000002"]}).to_csv(d / "firms.csv", index=False)
    pd.DataFrame({"firm_id": [1, 2], "year": [2019, 2019], "revenue": [1.0, 2.0]}).to_parquet(d / "financials.parquet")
    data = read_dataset(d)
    assert list(data.financials["firm_id"]) == ["000001", "000002"]
    assert data.provenance["format"] == "csv+parquet"
    raw = (d / "financials.parquet").read_bytes()   # hashed from the bytes it was read from
    t = data.provenance["tables"]["financials"]
    assert (t["sha256"], t["size"]) == (hashlib.sha256(raw).hexdigest(), len(raw))


def test_validate_false_returns_tables_as_read(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "financials.csv").write_text("firm_id,year,revenue\n000001,2019,1\n000001,2019,1\n", encoding="utf-8")
    raw = read_dataset(d, validate=False)
    # as read: nothing excluded; a plain column comes as the parser typed it (years as whole numbers)
    assert len(raw.financials) == 2 and raw.financials["year"].tolist() == [2019, 2019]
    assert len(read_dataset(d).financials) == 1


def test_header_rows_option_errors(tmp_path):
    d = write_csvs(tmp_path / "d", {"firms": TABLES["firms"]})
    with pytest.raises(DataError, match="header_rows=5"):
        read_dataset(d, header_rows=5)
    with pytest.raises(ConfigError):
        read_dataset(d, header_rows="3")


def test_openpyxl_parses_xml_through_defusedxml():
    assert openpyxl.xml.DEFUSEDXML is True


def test_header_parsing_and_units():
    assert fm.split_header("营业收入(万元)").unit_text == "万元"
    assert fm.split_header("revenue (10,000 yuan)").base == "revenue"
    assert fm.parse_unit("10,000 yuan") == ("wan", 10_000)
    assert fm.parse_unit("100m") == ("yi", 100_000_000)
    assert fm.parse_unit("元") == ("yuan", 1)
    assert fm.parse_unit("%", strict=False) is None
    with pytest.raises(ConfigError):
        fm.parse_unit("lakh")
    assert fm.header_key(" Firm  ID ") == "firm_id"
    assert fm.table_for_name("认定") == "designations"


def test_example_tables_round_trip_through_a_workbook(tmp_path):
    with resources.as_file(resources.files("finsupport.datasets").joinpath("robotics44")) as folder:
        a = read_dataset(folder)
        tmp = tmp_path / "copy"
        shutil.copytree(folder, tmp)
    with pd.ExcelWriter(tmp_path / "all.xlsx", engine="xlsxwriter") as xw:
        for n in ("firms", "designations"):
            pd.read_csv(tmp / f"{n}.csv", dtype=str, keep_default_na=False).to_excel(xw, sheet_name=n, index=False)
    b = read_dataset(tmp_path / "all.xlsx")
    for n in ("firms", "designations"):
        pd.testing.assert_frame_equal(getattr(a, n), getattr(b, n), check_dtype=False)


@pytest.mark.parametrize("grants", ["firm_id,year,amount\n", "firm_id,year,amount\nNA,2019,5\n--,2020,6\n"])
def test_a_table_left_empty_is_read_and_validated(tmp_path, grants):
    """A header-only file, or one whose rows all lack a firm code, gives an empty table (the rows
    excluded and logged), not a crash; so does financials holding only an interim report."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "firms.csv").write_text("firm_id\n000001\n", encoding="utf-8")
    (d / "grants.csv").write_text(grants, encoding="utf-8")
    (d / "financials.csv").write_text("firm_id,year,revenue\n000001,2019-06-30,5\n", encoding="utf-8")
    data = read_dataset(d)
    assert len(data.grants) == 0 and len(data.financials) == 0 and len(data.firms) == 1
    log = data.quality.to_frame()
    assert (log["issue"] == "not an annual report").sum() == 1
    assert (log["issue"] == "missing firm_id").sum() == grants.count("\n") - 1


@pytest.mark.parametrize("extra", ["grants_2019.csv", "grants (2).csv", "grants/"])
def test_a_part_of_a_table_beside_it_is_an_error_not_left_out(tmp_path, extra):
    """A file or folder named like a part of a table is not read as that table: the read stops and
    names it, instead of measuring without its rows (a file of another name is still ignored)."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "firms.csv").write_text("firm_id\n000001\n", encoding="utf-8")
    (d / "grants.csv").write_text("firm_id,year,amount\n000001,2018,5\n", encoding="utf-8")
    (d / "notes.csv").write_text("anything\n1\n", encoding="utf-8")
    part = "firm_id,year,amount\n000001,2019,7\n"
    if extra.endswith("/"):
        (d / extra).mkdir()
        (d / extra / "part-0.csv").write_text(part, encoding="utf-8")
    else:
        (d / extra).write_text(part, encoding="utf-8")
    with pytest.raises(DataError) as e:
        read_dataset(d)
    p = e.value.problems[0]
    assert p["table"] == "grants" and extra in p["message"] and "left out" in p["message"]
    (d / extra).unlink() if not extra.endswith("/") else shutil.rmtree(d / extra)
    data = read_dataset(d)
    assert len(data.grants) == 1 and "notes.csv" in data.provenance["ignored_files"]
