"""Property tests: whatever the file holds, ``read_dataset`` returns a Dataset or raises DataError.

Never another exception type (a raw pandas/csv/openpyxl traceback is a bug).
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsupport.data.dataset import Dataset
from finsupport.data.readers import read_dataset
from finsupport.data.spec import TABLES
from finsupport.errors import ConfigError, DataError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = ["000001", "000002", "1", "2019", "2020", "2019-12-31", "2019年", "19", "3019", "--", "—", "NA", "无",
          "1,234", "１２３", "０００００１", "-5", "0", "1e999", "inf", "nan", "是", "否", "true", "little_giant",
          "小巨人", "giant", " 000001 ", "1.5", ".", "万元", "#DIV/0!", "=1+1", '"', ",", ";", "\t", "\n", "",
          "𠀀", "\x00", "\ufeff", "1e-400", "999999999999999999999999", "2019/6/30", "12月"]
cell = st.one_of(st.sampled_from(TOKENS), st.text(max_size=10))
HEADERS = sorted({c for t in TABLES.values() for c in t.column_names}) + [
    "营业收入(万元)", "revenue (10,000 yuan)", "证券代码", "年度", "Stkcd", "Accper", "amount (USD)", "x", "",
    "营业收入\n[单位]亿元", "firm_id"]


def _read(folder: Path, **kw):
    try:
        out = read_dataset(folder, **kw)
    except DataError as e:
        assert str(e)  # a readable message
        return None
    assert isinstance(out, Dataset)
    return out


@SETTINGS
@given(table=st.sampled_from(list(TABLES)), content=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_file_content(table, content):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        data = content if isinstance(content, bytes) else content.encode("utf-8", errors="surrogatepass")
        (d / f"{table}.csv").write_bytes(data)
        _read(d)


@SETTINGS
@given(
    table=st.sampled_from(list(TABLES)),
    extra=st.lists(st.sampled_from(HEADERS), max_size=4),
    rows=st.lists(st.lists(cell, min_size=0, max_size=8), max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_random_cells_in_contract_columns(table, extra, rows, encoding):
    header = list(TABLES[table].column_names[:3]) + extra
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / f"{table}.csv").write_bytes(buf.getvalue().encode(encoding, errors="replace"))
        data = _read(d)
        if data is not None and getattr(data, table) is not None:
            df = getattr(data, table)
            acct = data.quality.accounting({table: len(df)}).set_index("table")
            assert acct.loc[table, "balanced"]


@SETTINGS
@given(
    rows=st.lists(st.lists(cell, min_size=1, max_size=5), max_size=6),
    units=st.sampled_from([None, "wan", {"financials": "yi"}, {"financials": {"revenue": "元"}}]),
    preset=st.sampled_from([None, "csmar", "wind"]),
    header_rows=st.sampled_from([None, 1, 2, 3]),
)
def test_random_cells_with_options(rows, units, preset, header_rows):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["证券代码", "年度", "营业收入(万元)", "资产总计", "Typrep"])
    w.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "financials.csv").write_text(buf.getvalue(), encoding="utf-8", errors="replace")
        try:
            _read(d, units=units, preset=preset, header_rows=header_rows)
        except ConfigError:
            pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(st.one_of(cell, st.integers(-10**6, 10**6), st.floats(allow_nan=True)),
                           min_size=1, max_size=4), max_size=5),
    sheet=st.sampled_from(["financials", "Financials", "财务", "Sheet1"]),
)
def test_random_cells_in_a_workbook(rows, sheet):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.xlsx"
        wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True, "strings_to_formulas": False,
                                             "strings_to_urls": False})
        ws = wb.add_worksheet(sheet)
        ws.write_row(0, 0, ["firm_id", "year", "revenue", "total_assets"])
        for i, r in enumerate(rows, start=1):
            for j, v in enumerate(r):
                ws.write(i, j, v)
        wb.close()
        _read(path)
