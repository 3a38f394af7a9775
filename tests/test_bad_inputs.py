"""One test per case of the bad-input catalogue (docs/bad_inputs.md).

Each test is named after its catalogue number (``test_b07_...`` is case B07). Fixture
files are written into ``tmp_path`` by the tests themselves.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from finsupport.data.readers import read_dataset
from finsupport.data.safety import Limits
from finsupport.errors import ConfigError, DataError, EstimationError, FinsupportError

FIRMS = "firm_id,name\n000001,A\n000002,B\n"
FIN = "firm_id,year,revenue,total_liabilities\n000001,2019,100,50\n000001,2020,120,60\n000002,2019,200,80\n"
GRANTS = "firm_id,year,amount\n000001,2019,10\n000002,2020,5\n"


def folder(tmp_path: Path, files: dict | None = None, *, base: bool = True) -> Path:
    """A folder of table files: the three small good tables, with ``files`` added or replaced (None drops)."""
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    content = {"firms": FIRMS, "financials": FIN, "grants": GRANTS} if base else {}
    content.update(files or {})
    for name, text in content.items():
        if text is None:
            continue
        p = d / (name if "." in name else f"{name}.csv")
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return d


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    """Write an .xlsx with XlsxWriter; cells that are dicts are formulas ``{"f": "=A1", "v": cached}``."""
    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if isinstance(v, dict):
                    ws.write_formula(i, j, v["f"], None, v.get("v", 0))
                elif isinstance(v, dt.datetime):
                    ws.write_datetime(i, j, v, date_fmt)
                elif v is not None:
                    ws.write(i, j, v)
    wb.close()
    return path


def good_book(path: Path) -> Path:
    return workbook(path, {
        "firms": [["firm_id", "name"], ["000001", "A"], ["000002", "B"]],
        "financials": [["firm_id", "year", "revenue"], ["000001", 2019, 100], ["000002", 2019, 200]],
    })


def rezip(src: Path, dst: Path, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> Path:
    """Copy a zip archive, replacing or adding members."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))
        for name, data in add.items():
            zout.writestr(name, data)
    return dst


def records(data, issue: str | None = None, action: str | None = None, table: str | None = None) -> pd.DataFrame:
    log = data.quality.to_frame()
    if issue is not None:
        log = log[log["issue"] == issue]
    if action is not None:
        log = log[log["action"] == action]
    if table is not None:
        log = log[log["table"] == table]
    return log


def problem(err: pytest.ExceptionInfo, **match) -> dict:
    for p in err.value.problems:
        if all(p.get(k) == v for k, v in match.items()):
            return p
    raise AssertionError(f"no problem matching {match} in {err.value.problems}")


# ---------------------------------------------------------------- files and formats
def test_b01_folder_without_table_files(tmp_path):
    d = folder(tmp_path, {"notes.txt": "x", "other.csv": "a,b\n1,2\n"}, base=False)
    with pytest.raises(DataError, match="no table files") as e:
        read_dataset(d)
    assert "financials.csv" in str(e.value) and "firms.csv" in str(e.value)


def test_b02_optional_table_missing(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": None}))
    assert data.grants is None and data.equity is None
    with pytest.raises(DataError, match="grants"):
        data.require("grants", ["amount"], purpose="subsidies")


def test_b03_path_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        read_dataset(tmp_path / "nowhere")


def test_b04_single_csv_file(tmp_path):
    d = folder(tmp_path)
    with pytest.raises(DataError, match="single CSV file") as e:
        read_dataset(d / "financials.csv")
    assert "pass the folder" in str(e.value)


def test_b05_completely_empty_file(tmp_path):
    with pytest.raises(DataError, match="empty") as e:
        read_dataset(folder(tmp_path, {"grants": ""}))
    p = problem(e, table="grants")
    assert "grants.csv" in p["message"] and "remove" in p["hint"]


def test_b06_empty_table_header_only(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount\n"}))
    assert len(data.grants) == 0 and list(data.grants.columns) == ["firm_id", "year", "amount"]
    assert len(records(data, "table is empty", "flagged", "grants")) == 1
    assert data.quality.accounting().set_index("table").loc["grants", "rows_read"] == 0


def test_b06_empty_firms_table_is_an_error(tmp_path):
    """A header-only firms file would exclude every other row as an unknown firm (and the run then
    said "financials: no rows to measure"): the error names the firms table."""
    with pytest.raises(DataError) as e:
        read_dataset(folder(tmp_path, {"firms": "firm_id,name,sector\n"}))
    p = problem(e, table="firms", column="firm_id")
    assert "the firms table has no rows: every row of financials, grants would be excluded" in p["message"]
    assert [q["table"] for q in e.value.problems] == ["firms"]
    # without the file no code is checked: the tables are read as they are
    (tmp_path / "b").mkdir()
    data = read_dataset(folder(tmp_path / "b", {"firms": None}))
    assert data.firms is None and len(data.financials) == 3


def test_b07_two_files_for_one_table(tmp_path):
    d = folder(tmp_path)
    pd.DataFrame({"firm_id": ["000001"], "year": [2019]}).to_parquet(d / "financials.parquet")
    with pytest.raises(DataError, match="more than one file"):
        read_dataset(d)


def test_b08_broken_csv_quoting(tmp_path):
    bad = 'firm_id,year,amount\n000001,2019,10\n000002,2020,"5\n000001,2021,3\n'
    with pytest.raises(DataError, match="broken CSV quoting") as e:
        read_dataset(folder(tmp_path, {"grants": bad}))
    p = problem(e, table="grants")
    assert p["rows"] == [3] and "double quotes" in p["hint"]


def test_b09_more_fields_than_header_unquoted_thousands(tmp_path):
    bad = "firm_id,year,revenue\n000001,2019,100\n000002,2019,1,234\n"
    with pytest.raises(DataError, match="more fields") as e:
        read_dataset(folder(tmp_path, {"financials": bad}))
    p = problem(e, table="financials")
    assert p["rows"] == [3] and "1,234" in p["hint"]


def test_b10_gb18030_encoded_file(tmp_path):
    text = "证券代码,公司名称\n000001,甲公司\n000002,乙公司\n"
    data = read_dataset(folder(tmp_path, {"firms": text.encode("gb18030")}))
    assert list(data.firms["name"]) == ["甲公司", "乙公司"]
    assert "GB18030" in records(data, "text encoding", table="firms")["detail"].iloc[0]


def test_b11_utf8_bom(tmp_path):
    data = read_dataset(folder(tmp_path, {"firms": b"\xef\xbb\xbf" + FIRMS.encode()}))
    assert "firm_id" in data.firms.columns  # the BOM does not stick to the first header
    assert "BOM" in records(data, "text encoding", table="firms")["detail"].iloc[0]


def test_b12_undecodable_encoding(tmp_path):
    text = "firm_id,name\n000001,Caf\xe9,\n".encode("latin-1")
    with pytest.raises(DataError, match="neither UTF-8 nor GB18030") as e:
        read_dataset(folder(tmp_path, {"firms": text}))
    assert problem(e, table="firms")["rows"] == [2]


def test_b13_utf16_tab_delimited(tmp_path):
    text = FIRMS.replace(",", "\t").encode("utf-16")
    data = read_dataset(folder(tmp_path, {"firms": text}))
    assert list(data.firms["firm_id"]) == ["000001", "000002"]
    assert len(records(data, "delimiter", table="firms")) == 1


def test_b14_semicolon_delimited(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": GRANTS.replace(",", ";")}))
    assert list(data.grants["amount"]) == [10.0, 5.0]
    assert "';'" in records(data, "delimiter", table="grants")["detail"].iloc[0]


def test_b15_blank_lines_title_and_footer(tmp_path):
    text = ("Financial data 2019\n"
            "firm_id,year,revenue\n"
            "000001,2019,100\n"
            "\n"
            ",,\n"
            "000002,2019,200\n"
            "数据来源：Wind\n")
    data = read_dataset(folder(tmp_path, {"financials": text}))
    assert list(data.financials.index) == [3, 6]  # source line numbers
    assert len(records(data, "title row skipped")) == 1
    assert len(records(data, "footer line skipped")) == 1
    assert set(records(data, "blank row skipped")["row"]) == {4, 5}


def test_b16_damaged_parquet(tmp_path):
    with pytest.raises(DataError, match="cannot open financials.parquet as Parquet"):
        read_dataset(folder(tmp_path, {"financials": None, "financials.parquet": b"PAR1 not really PAR1"}))


def test_b17_csv_that_is_a_workbook(tmp_path):
    book = good_book(tmp_path / "b.xlsx").read_bytes()
    with pytest.raises(DataError, match="not a CSV file: it is a zip archive"):
        read_dataset(folder(tmp_path, {"financials": book}))


# ---------------------------------------------------------------- workbooks
def test_b18_wrong_sheet_names(tmp_path):
    path = workbook(tmp_path / "w.xlsx", {"Sheet1": [["firm_id", "year", "revenue"], ["000001", 2019, 1]]})
    with pytest.raises(DataError, match="no sheet named after a table") as e:
        read_dataset(path)
    assert "Sheet1" in str(e.value) and "财务" in str(e.value)
    data = read_dataset(path, sheets={"financials": "Sheet1"})
    assert list(data.financials["revenue"]) == [1.0]


def test_b19_two_sheets_for_one_table(tmp_path):
    rows = [["firm_id", "year"], ["000001", 2019]]
    path = workbook(tmp_path / "w.xlsx", {"Financials": rows, "财务": rows})
    with pytest.raises(DataError, match="more than one sheet"):
        read_dataset(path)


@pytest.mark.parametrize("content, what", [
    (FIN.encode(), "text file"),
    (b"<html><table><tr><td>1</td></tr></table></html>", "HTML"),
    (b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>', "XML"),
])
def test_b20_xlsx_that_is_text(tmp_path, content, what):
    path = tmp_path / "data.xlsx"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"not an Excel workbook \(\.xlsx\)") as e:
        read_dataset(path)
    assert what in str(e.value)


def test_b21_xlsx_that_is_a_zip_of_other_files(tmp_path):
    path = tmp_path / "data.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("firms.csv", FIRMS)
        z.writestr("readme.txt", "hello")
    with pytest.raises(DataError, match="zip archive of other files"):
        read_dataset(path)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    with pytest.raises(DataError, match="Word document"):
        read_dataset(path)


def test_b22_old_xls_or_password_protected(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(DataError, match="old Excel .xls file or a password-protected workbook"):
        read_dataset(path)
    xls = tmp_path / "data.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    with pytest.raises(DataError, match="save it as .xlsx"):
        read_dataset(xls)


_LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
           + "]>")
_SHEET = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
          '<row r="1"><c r="A1" t="inlineStr"><is><t>firm_id</t></is></c></row>'
          '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>')


@pytest.mark.parametrize("padding", [0, 70_000], ids=["dtd-at-start", "dtd-after-long-comment"])
def test_b23_billion_laughs(tmp_path, padding):
    base = workbook(tmp_path / "base.xlsx", {"firms": [["firm_id"], ["000001"]]})
    prolog = '<?xml version="1.0" encoding="UTF-8"?>\n' + (f"<!--{'x' * padding}-->\n" if padding else "")
    bomb = rezip(base, tmp_path / "bomb.xlsx", replace={"xl/worksheets/sheet1.xml": (prolog + _LAUGHS + _SHEET).encode()})
    # caught by the DTD scan of the first 64 KiB, or else by defusedxml inside openpyxl
    with pytest.raises(DataError, match="entit") as e:
        read_dataset(bomb)
    assert "do not open this file" in str(e.value)


def test_b24_zip_bomb_ratio(tmp_path):
    base = good_book(tmp_path / "base.xlsx")
    bomb = rezip(base, tmp_path / "bomb.xlsx", add={"xl/media/image1.bin": b"\0" * (5 * 1024 * 1024)})
    with pytest.raises(DataError, match=r"inflates [\d,]+:1, above the limit of 100:1"):
        read_dataset(bomb)
    assert read_dataset(bomb, limits=Limits(max_ratio=1e6)).financials is not None


def test_b25_size_and_member_limits(tmp_path):
    book = good_book(tmp_path / "w.xlsx")
    with pytest.raises(DataError, match="MiB, above the limit"):
        read_dataset(book, limits=Limits(max_file_bytes=1000))
    with pytest.raises(DataError, match="members, above the limit"):
        read_dataset(book, limits=Limits(max_entries=3))
    with pytest.raises(DataError, match="would inflate"):
        read_dataset(book, limits=Limits(max_uncompressed_bytes=2000))
    with pytest.raises(DataError, match="more than 5 cells"):
        read_dataset(book, limits=Limits(max_cells=5))


def test_b26_macros(tmp_path):
    macro = rezip(good_book(tmp_path / "w.xlsx"), tmp_path / "w.xlsm", add={"xl/vbaProject.bin": b"\0" * 64})
    data = read_dataset(macro)
    assert "never runs" in records(data, "workbook contains macros", "info")["detail"].iloc[0]
    with pytest.raises(DataError, match="contains macros"):
        read_dataset(macro, limits=Limits(macros="refuse"))


def test_b27_external_links(tmp_path):
    link = rezip(good_book(tmp_path / "w.xlsx"), tmp_path / "l.xlsx",
                 add={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    data = read_dataset(link)
    assert len(records(data, "workbook links to other workbooks", "flagged")) == 1
    with pytest.raises(DataError, match="external workbook"):
        read_dataset(link, limits=Limits(external_links="refuse"))


def test_b28_formulas_read_as_cached_values(tmp_path):
    path = workbook(tmp_path / "f.xlsx", {"financials": [
        ["firm_id", "year", "revenue"], ["000001", 2019, {"f": "=2*60", "v": 120}]]})
    assert read_dataset(path).financials["revenue"].tolist() == [120.0]
    # a formula saved without a cached value (written by a program, never opened in Excel) reads as missing
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "financials"
    ws.append(["firm_id", "year", "revenue"])
    ws.append(["000001", 2019, "=2*60"])
    wb.save(tmp_path / "g.xlsx")
    assert read_dataset(tmp_path / "g.xlsx").financials["revenue"].isna().all()


def test_b29_excel_error_values(tmp_path):
    path = workbook(tmp_path / "e.xlsx", {"financials": [
        ["firm_id", "year", "revenue", "total_assets"],
        ["000001", 2019, {"f": "=1/0", "v": "#DIV/0!"}, {"f": "=NA()", "v": "#N/A"}]]})
    with pytest.raises(DataError, match="#DIV/0!") as e:
        read_dataset(path)
    assert problem(e, table="financials", column="revenue")["rows"] == [2]


def test_b30_firm_codes_stored_as_numbers_in_excel(tmp_path):
    path = workbook(tmp_path / "n.xlsx", {
        "firms": [["firm_id", "name"], ["000001", "A"], ["000002", "B"]],
        "financials": [["firm_id", "year", "revenue"], [1, 2019, 100], [2, 2019, 200]],
    })
    data = read_dataset(path)
    assert list(data.financials["firm_id"]) == ["000001", "000002"]
    assert len(records(data, "firm code stored as a number", "repaired", "financials")) == 2


def test_b31_empty_sheet(tmp_path):
    path = workbook(tmp_path / "e.xlsx", {"firms": [["firm_id"], ["000001"]], "grants": []})
    with pytest.raises(DataError, match="sheet is empty") as e:
        read_dataset(path)
    assert "'grants'" in problem(e, table="grants")["message"]


# ---------------------------------------------------------------- headers
def test_b32_missing_required_column(tmp_path):
    with pytest.raises(DataError, match="required column is missing") as e:
        read_dataset(folder(tmp_path, {"financials": "firm_id,fiscal_yr,revenue\n000001,2019,1\n"}))
    p = problem(e, table="financials", column="year")
    assert "'fiscal_yr'" in p["hint"] and "mapping=" in p["hint"]


def test_b33_misnamed_column_fixed_by_mapping(tmp_path):
    d = folder(tmp_path, {"financials": "firm_id,year,turnover\n000001,2019,100\n"})
    data = read_dataset(d)
    assert "revenue" not in data.financials and "turnover" in data.financials
    assert len(records(data, "extra column kept", table="financials")) == 1
    data = read_dataset(d, mapping={"financials": {"turnover": "revenue"}})
    assert data.financials["revenue"].tolist() == [100.0]


def test_b34_contract_column_mapped_twice(tmp_path):
    d = folder(tmp_path, {"financials": "firm_id,year,营业收入,revenue\n000001,2019,100,100\n"})
    with pytest.raises(DataError, match="mapped twice") as e:
        read_dataset(d)
    assert "'营业收入'" in problem(e, table="financials", column="revenue")["message"]
    # the user's mapping wins; the other header stays an extra column
    data = read_dataset(d, mapping={"financials": {"营业收入": "revenue"}})
    assert list(data.financials.columns) == ["firm_id", "year", "revenue", "revenue_unmapped"]
    assert len(records(data, "header not mapped")) == 1
    # or map the other header to another name
    data = read_dataset(d, mapping={"financials": {"revenue": "revenue_reported"}})
    assert list(data.financials.columns) == ["firm_id", "year", "revenue", "revenue_reported"]


def test_b35_header_repeated(tmp_path):
    with pytest.raises(DataError, match="header repeats 'amount'"):
        read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount,amount\n000001,2019,1,2\n"}))


def test_b36_chinese_headers(tmp_path):
    data = read_dataset(folder(tmp_path, {
        "firms": "证券代码,公司名称\n000001,甲\n",
        "financials": "股票代码,会计年度,营业收入,资产总计,负债合计,利息支出,研发费用,员工人数,主营业务收入,发明专利数,净利润\n"
                      "000001,2019,100,500,200,3,7,50,90,2,10\n",
        "grants": "企业代码,年份,政府补助金额\n000001,2019,10\n",
    }))
    assert list(data.financials.columns) == ["firm_id", "year", "revenue", "total_assets", "total_liabilities",
                                             "interest_expense", "rd_expense", "employees",
                                             "main_business_revenue", "invention_patents", "net_profit"]
    assert data.grants["amount"].tolist() == [10.0]


def test_b37_three_header_rows(tmp_path):
    text = ("Stkcd,Accper,B001101000\n"
            "证券代码,会计期间,营业收入\n"
            "没有单位,没有单位,元\n"
            "000001,2019-12-31,100\n000002,2019-12-31,200\n")
    d = folder(tmp_path, {"financials": text})
    data = read_dataset(d)  # detected; the Chinese label row maps the columns
    assert list(data.financials.index) == [4, 5]
    assert data.financials["revenue"].tolist() == [100.0, 200.0]
    assert set(records(data, "extra header rows")["row"]) == {2, 3}
    data = read_dataset(d, header_rows={"financials": 3}, preset="csmar")  # or header_rows=3 for every table
    assert data.financials["revenue"].tolist() == [100.0, 200.0]


def test_b38_unknown_extra_columns_kept(tmp_path):
    data = read_dataset(folder(tmp_path, {"firms": "firm_id,name,ceo,founded\n000001,A,Li,1999\n"}))
    assert data.firms.loc[2, "ceo"] == "Li" and data.firms.loc[2, "founded"] == "1999"
    assert set(records(data, "extra column kept", "info")["column"]) == {"ceo", "founded"}


@pytest.mark.parametrize("kwargs, match", [
    ({"mapping": {"nosuch": {"a": "b"}}}, "unknown table"),
    ({"mapping": {"grants": {"x": "revenue"}}}, "not a column of 'grants'"),
    ({"mapping": ["营业收入", "revenue"]}, "mapping must be a dict"),
    ({"preset": "bloomberg"}, "unknown preset"),
    ({"header_rows": 0}, "header_rows"),
    ({"sheets": {"nosuch": "Sheet1"}}, "unknown table"),
    ({"units": {"financials": {"employees": "wan"}}}, "only amount columns"),
])
def test_b39_malformed_options(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        read_dataset(folder(tmp_path), **kwargs)


# ---------------------------------------------------------------- units
def test_b40_amounts_in_wan_in_the_header(tmp_path):
    d = folder(tmp_path, {"financials": "证券代码,年度,营业收入(万元),revenue_note\n000001,2019,1.23,x\n",
                          "grants": 'firm_id,year,"amount (10,000 yuan)"\n000001,2019,0.5\n'})
    data = read_dataset(d)
    assert data.financials["revenue"].tolist() == [12300.0]
    assert data.grants["amount"].tolist() == [5000.0]
    units = {(u["table"], u["column"]): u for u in data.provenance["units"]}
    assert units[("financials", "revenue")]["factor"] == 10_000 and units[("financials", "revenue")]["origin"] == "header"
    assert len(records(data, "unit converted", "info")) == 2


def test_b41_units_given_as_option(tmp_path):
    d = folder(tmp_path)
    data = read_dataset(d, units={"financials": "wan", "grants": {"amount": "亿元"}})
    assert data.financials["revenue"].tolist() == [1_000_000.0, 1_200_000.0, 2_000_000.0]
    assert data.grants["amount"].tolist() == [1e9, 5e8]
    assert {u["origin"] for u in data.provenance["units"]} == {"units option"}


def test_b42_unit_conflict_header_and_option(tmp_path):
    d = folder(tmp_path, {"financials": "firm_id,year,营业收入(万元)\n000001,2019,1\n"})
    with pytest.raises(DataError, match="unit conflict") as e:
        read_dataset(d, units={"financials": {"revenue": "亿元"}})
    assert "万元" in problem(e, table="financials", column="revenue")["message"]
    assert read_dataset(d, units={"financials": "wan"}).financials["revenue"].tolist() == [10_000.0]


def test_b43_unknown_unit_spelling(tmp_path):
    with pytest.raises(ConfigError, match="unknown unit 'lakh'"):
        read_dataset(folder(tmp_path), units={"financials": "lakh"})


def test_b44_foreign_currency_header(tmp_path):
    with pytest.raises(DataError, match="foreign currency"):
        read_dataset(folder(tmp_path, {"financials": "firm_id,year,revenue (USD)\n000001,2019,1\n"}))


# ---------------------------------------------------------------- values
def test_b45_duplicate_rows_identical(tmp_path):
    data = read_dataset(folder(tmp_path, {"financials": FIN + "000001,2019,100,50\n"}))
    assert len(data.financials) == 3
    assert list(records(data, "exact duplicate row", "excluded")["row"]) == [5]


def test_b46_duplicate_keys_conflicting(tmp_path):
    with pytest.raises(DataError, match="same key appears with different values") as e:
        read_dataset(folder(tmp_path, {"financials": FIN + "000001,2019,999,50\n"}))
    assert problem(e, table="financials")["rows"] == [2, 5]


def test_b47_text_in_numeric_cells(tmp_path):
    bad = FIN.replace("120,60", "about 120,60")
    with pytest.raises(DataError, match="text in a numeric column") as e:
        read_dataset(folder(tmp_path, {"financials": bad}))
    p = problem(e, table="financials", column="revenue")
    assert p["rows"] == [3] and "'about 120'" in p["message"]


def test_b48_missing_value_markers(tmp_path):
    text = "firm_id,year,revenue,total_liabilities\n000001,2019,--,—\n000001,2020,NA,无\n000002,2019,200,80\n"
    data = read_dataset(folder(tmp_path, {"financials": text}))
    assert data.financials.loc[[2, 3], ["revenue", "total_liabilities"]].isna().all().all()
    assert len(records(data, "missing-value marker", "repaired")) == 4


@pytest.mark.parametrize("many", [False, True])
def test_b48_markers_in_a_yes_no_column_are_logged(tmp_path, many):
    """``NA`` in a yes/no column is read as missing and logged, as in a number column; an empty
    cell is simply missing. ``many``: enough rows for the spellings to be judged once each."""
    rows = ["000001,2019,100,NA", "000001,2020,110,", "000002,2019,200,yes", "000002,2020,210,无"]
    if many:
        rows += [f"000002,{y},210,no" for y in range(1990, 2010)]
    data = read_dataset(folder(tmp_path, {"financials": "firm_id,year,revenue,hnte\n" + "\n".join(rows) + "\n"}))
    assert data.financials.loc[[2, 3, 5], "hnte"].isna().all() and data.financials.loc[4, "hnte"]
    rec = records(data, "missing-value marker", "repaired")
    assert sorted(rec["row"].astype(int)) == [2, 5] and set(rec["column"]) == {"hnte"}
    assert sorted(rec["detail"]) == ["'NA' read as missing", "'无' read as missing"]


def test_b49_zero_or_negative_revenue(tmp_path):
    data = read_dataset(folder(tmp_path, {"financials": FIN.replace("100,50", "0,50").replace("200,80", "-5,80")}))
    assert sorted(records(data, "zero or negative revenue", "flagged")["row"]) == [2, 4]
    assert len(data.financials) == 3


def test_b50_negative_debt(tmp_path):
    with pytest.raises(DataError, match="negative values") as e:
        read_dataset(folder(tmp_path, {"financials": FIN.replace("120,60", "120,-60")}))
    p = problem(e, table="financials", column="total_liabilities")
    assert p["rows"] == [3] and "sign" in p["hint"]


def test_b51_orphan_grants(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": GRANTS + "999999,2019,7\n"}))
    assert "999999" not in set(data.grants["firm_id"])
    assert list(records(data, "firm not in firms table", "excluded", "grants")["row"]) == [4]


def test_b52_fiscal_years_as_dates(tmp_path):
    csv_data = read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount\n000001,2019-12-31,1\n"
                                                        "000002,2020年,2\n000002,2021/6/30,3\n"}))
    assert csv_data.grants["year"].tolist() == [2019, 2020, 2021]
    assert len(records(csv_data, "year given as a date", "repaired")) == 3
    path = workbook(tmp_path / "d.xlsx", {"financials": [["firm_id", "year", "revenue"],
                                                         ["000001", dt.datetime(2019, 12, 31), 1]]})
    assert read_dataset(path).financials["year"].tolist() == [2019]


def test_b53_year_out_of_range(tmp_path):
    with pytest.raises(DataError, match="not a year") as e:
        read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount\n000001,19,1\n000002,3019,2\n"
                                                 "000003,1899,3\n"}))
    probs = [p for p in e.value.problems if p["table"] == "grants" and p["column"] == "year"]
    assert [(p["message"], p["rows"]) for p in probs] == [
        ("not a year ('19')", [2]), ("year outside 1900–2200 ('3019', '1899')", [3, 4])]


def test_b54_firm_codes_with_leading_zeros(tmp_path):
    data = read_dataset(folder(tmp_path))
    assert list(data.firms["firm_id"]) == ["000001", "000002"]
    assert set(data.grants["firm_id"]) <= set(data.firms["firm_id"])


def test_b55_spaces_around_codes(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount\n000001  ,2019,1\n 000002,2019,2\n"}))
    assert list(data.grants["firm_id"]) == ["000001", "000002"]
    assert sorted(records(data, "spaces around a code", "repaired")["row"]) == [2, 3]


def test_b56_thousands_separators(tmp_path):
    data = read_dataset(folder(tmp_path, {"financials": 'firm_id,year,revenue\n000001,2019,"1,234"\n'
                                                        '000002,2019,"12,345,678.5"\n'}))
    assert data.financials["revenue"].tolist() == [1234.0, 12345678.5]


def test_b57_full_width_characters(tmp_path):
    data = read_dataset(folder(tmp_path, {"financials": "firm_id,year,revenue\n０００００１,２０１９,１２３４．５\n"}))
    row = data.financials.iloc[0]
    assert (row["firm_id"], row["year"], row["revenue"]) == ("000001", 2019, 1234.5)
    assert set(records(data, "full-width characters", "repaired")["column"]) == {"firm_id", "year", "revenue"}


def test_b58_rows_without_code_or_year(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": GRANTS + ",2019,3\n000001,--,4\n"}))
    assert len(data.grants) == 2
    assert sorted(records(data, action="excluded", table="grants")["row"]) == [4, 5]


def test_b59_bool_columns(tmp_path):
    data = read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount,recurring,asset_related\n"
                                                    "000001,2019,1,是,否\n000002,2019,2,yes,0\n"}))
    assert data.grants["recurring"].tolist() == [True, True]
    assert data.grants["asset_related"].tolist() == [False, False]
    with pytest.raises(DataError, match=r"not a yes/no value \('maybe'\)") as e:
        read_dataset(folder(tmp_path, {"grants": "firm_id,year,amount,recurring\n000001,2019,1,maybe\n"}))
    assert problem(e, table="grants", column="recurring")["rows"] == [2]


def test_b60_tiers_unknown_and_chinese(tmp_path):
    text = "firm_id,tier,year\n000001,专精特新“小巨人”企业,2019\n000002,Little Giant,2020\n"
    data = read_dataset(folder(tmp_path, {"designations": text}))
    assert data.designations["tier"].tolist() == ["little_giant", "little_giant"]
    assert len(records(data, "tier named in Chinese", "repaired")) == 1
    with pytest.raises(DataError, match="unknown tier") as e:
        read_dataset(folder(tmp_path, {"designations": "firm_id,tier,year\n000001,giant,2019\n"}))
    assert "little_giant" in problem(e, table="designations", column="tier")["hint"]


def test_b61_future_designation_year(tmp_path):
    future = dt.date.today().year + 3
    data = read_dataset(folder(tmp_path, {"designations": f"firm_id,tier,year\n000001,little_giant,{future}\n"}))
    assert len(data.designations) == 1
    assert list(records(data, "designation year in the future", "flagged")["row"]) == [2]


def test_b62_infinite_numbers(tmp_path):
    with pytest.raises(DataError, match="infinite or overflowing") as e:
        read_dataset(folder(tmp_path, {"financials": "firm_id,year,revenue\n000001,2019,1e999\n000002,2019,inf\n"}))
    assert problem(e, table="financials", column="revenue")["rows"] == [2, 3]


def test_b63_csmar_parent_statements_and_opening_balances(tmp_path):
    text = ("Stkcd,Accper,Typrep,B001101000\n证券代码,会计期间,报表类型,营业收入\n没有单位,没有单位,没有单位,元\n"
            "000001,2019-12-31,A,100\n000001,2019-12-31,B,90\n000001,2019-01-01,A,80\n")
    d = folder(tmp_path, {"financials": text, "grants": None})
    data = read_dataset(d, preset="csmar")
    assert data.financials["revenue"].tolist() == [100.0]
    assert list(records(data, "parent-company statement", "excluded")["row"]) == [5]
    assert list(records(data, "not an annual report", "excluded")["row"]) == [6]
    # the statement type (Typrep / 报表类型) and the report date are read without the preset too
    plain = read_dataset(d)
    assert plain.financials["revenue"].tolist() == [100.0]  # from the label row 营业收入
    assert len(records(plain, "parent-company statement", "excluded")) == 1


def test_b64_wind_codes_with_exchange_suffix(tmp_path):
    d = folder(tmp_path, {"firms": "证券代码,证券简称\n000001.SZ,甲\n600000.SH,乙\n",
                          "financials": "证券代码,报告期,营业收入(亿元)\n000001.SZ,2019-12-31,1.5\n",
                          "grants": None})
    data = read_dataset(d, preset="wind")
    assert list(data.firms["firm_id"]) == ["000001", "600000"]
    assert data.financials["revenue"].tolist() == [150_000_000.0]
    assert len(records(data, "exchange suffix removed", "repaired")) == 3


# ---------------------------------------------------------------- accounting and exit codes
def test_accounting_rows_read_equal_used_plus_excluded(tmp_path):
    text = ("Stkcd,Accper,Typrep,B001101000\n证券代码,会计期间,报表类型,营业收入\n没有单位,没有单位,没有单位,元\n"
            "000001,2019-12-31,A,100\n000001,2019-12-31,B,90\n000001,2019-01-01,A,80\n"
            "000001,2019-12-31,A,100\n,2020-12-31,A,5\n999999,2019-12-31,A,5\n000002,2019-12-31,A,--\n")
    d = folder(tmp_path, {"financials": text, "grants": GRANTS + GRANTS.splitlines()[1] + "\n,2019,1\n888888,2019,1\n"})
    data = read_dataset(d, preset="csmar")
    used = {t: len(df) for t, df in data.tables().items()}
    acct = data.quality.accounting(used).set_index("table")
    assert acct["balanced"].all(), acct
    assert acct.loc["financials", "rows_read"] == 7 and acct.loc["financials", "rows_used"] == 2
    assert acct.loc["financials", "rows_excluded"] == 5
    assert acct.loc["grants", "rows_read"] == 5 and acct.loc["grants", "rows_used"] == 3  # grants have no key
    # the default (used = read − excluded) agrees with the tables' lengths
    default = data.quality.accounting().set_index("table")
    assert (default["rows_used"] == pd.Series(used)).all()


def test_cli_exit_codes_documented():
    assert (FinsupportError.exit_code, DataError.exit_code, ConfigError.exit_code, EstimationError.exit_code) == (1, 2, 3, 4)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md").read_text(encoding="utf-8")
    for code in ("| 2 |", "| 3 |", "| 4 |", "| 1 |"):
        assert code in doc
    cases = sorted({int(m) for m in re.findall(r"^\| B(\d\d) \|", doc, flags=re.M)})
    assert cases == list(range(1, len(cases) + 1)) and len(cases) >= 89
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for n in cases:  # every case has a test named after it
        assert f"def test_b{n:02d}_" in tests, f"no test for case B{n:02d}"
