"""The fast cell writer: every value read back is the frame's, and both fast paths write the same bytes.

The workbook's tables are rendered a whole column at a time (pyarrow kernels) or cell by cell
(plain Python, when pyarrow is absent or a column is not covered); numbers are written as the
shortest text that reads back as the same double (:func:`finsupport.report.stream.number_text`).
"""

from __future__ import annotations

import math
import re

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsupport.report import Report, Sheet, write_workbook
from finsupport.report import stream as stream_mod
from finsupport.report.stream import number_text

pa = pytest.importorskip("pyarrow")

EDGE = [0.0, -0.0, 1.0, -1.0, 0.1, 0.1 + 0.2, 1 / 3, 2 / 3, 1e-7, 1.5e-7, 1e-6, 1.5e-6, 9.999999e-7, 1e-5,
        123456789.0, 999999999.0, 999999999.5, 1e9, 1e10, 12345678901.0, 1e15, 1e16, 2.0**53, 2.0**53 + 2,
        1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 0.30000000000000004, 123456.789e3,
        4.35, 0.0042813569053831825, 44377.520833333336, 1e21, 1e22, 1e100, 1e-100]


def test_number_text_is_exact_and_is_what_pyarrow_writes():
    rng = np.random.default_rng(3)
    values = np.concatenate([EDGE, [-v for v in EDGE], rng.normal(size=5_000) * 10.0 ** rng.integers(-12, 14, 5_000),
                             rng.lognormal(18, 3, 5_000), rng.random(5_000), rng.integers(-10**6, 10**6, 2_000) / 100,
                             np.frombuffer(rng.bytes(8 * 5_000), dtype=np.float64)])
    values = values[np.isfinite(values)]
    ours = [number_text(v) for v in values.tolist()]
    assert [float(t) for t in ours] == values.tolist()                     # read back exactly
    assert ours == pa.array(values).cast(pa.string()).to_pylist()         # the column path's text
    assert number_text(0.1 + 0.2) == "0.30000000000000004" and f"{0.1 + 0.2:.16G}" == "0.3"
    assert [number_text(v) for v in (123.0, 1e16, 1.5e-7, 1e-5, -0.0, 7)] == ["123", "1e+16", "1.5e-7", "0.00001",
                                                                             "-0", "7"]


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=500, deadline=None)
def test_number_text_round_trips(v):
    text = number_text(v)
    assert float(text) == v and math.copysign(1, float(text)) == math.copysign(1, v)
    assert text == pa.array([v], pa.float64()).cast(pa.string())[0].as_py()


def _nasty_frame() -> pd.DataFrame:
    n = 9
    return pd.DataFrame({
        "float": [0.1 + 0.2, np.nan, np.inf, -np.inf, 1e16, -0.0, 5e-324, 1.5, 2.0],
        "float_clean": np.linspace(-1, 1, n) / 3,
        "int": np.arange(n) - 4,
        "big": [2**60, 1, -3, 4, 5, 6, 7, 8, 9],
        "Int64": pd.array([1, None, 3, 4, 5, 6, 7, 8, None], dtype="Int64"),
        "bool": [True, False] * 4 + [True],
        "bool_na": [True, None, np.False_, False, True, None, True, True, np.nan],
        "boolean": pd.array([True, None, False] * 3, dtype="boolean"),
        "str": pd.array(["a & b", "<r>x</r>", " lead", "trail ", "\u3000ideographic", "", None, "_x0041_", "中文 企业"],
                        dtype="str"),
        "string": pd.array(["plain", "tab\there", "nl\n", "ok", None, "\u00a0nbsp", "x", "y>z", "q"], dtype="string"),
        "obj_str": ["a", "b", None, "", "c", np.nan, "e\"'", "f", "g"],
        "ctrl": ["bell\x07", "ok", "\ufffe", "x", "y", "z", "", None, "w"],
        "long": ["y" * 40_000] + ["s"] * 8,
        "mixed": ["a", 1, None, 2.5, "b", True, 3, "c", 0.1 + 0.2],
        "cat": pd.Categorical(["u", "v", None, "u", "v", "u", "v", "u", "v"]),
        "when": pd.to_datetime(["2020-01-31", None, "2021-06-30 12:30", "2020-01-01", "2020-01-02", "2020-01-03",
                                "2020-01-04", "2020-01-05", "2020-01-06"], format="ISO8601"),
        "text_num": [1, 2.5, True, None, "x", 0.1 + 0.2, 7, 8, 9],
    })


def test_column_and_cell_paths_write_the_same_bytes(tmp_path, monkeypatch):
    df = _nasty_frame()
    formats = {"text_num": "text", "bool_na": "bool", "boolean": "bool", "float_clean": "pct", "string": "text"}
    rep = Report([Sheet("Nasty", df, title="t", formats=formats, highlight_false=["bool_na", "boolean"],
                        blocks=[("block", df.iloc[::-1])]),
                  Sheet("Plain", df.drop(columns=["bool_na", "boolean"]))])
    arrow, python = tmp_path / "arrow.xlsx", tmp_path / "python.xlsx"
    write_workbook(rep, arrow)
    monkeypatch.setattr(stream_mod, "ARROW_ROWS", False)
    write_workbook(rep, python)
    assert arrow.read_bytes() == python.read_bytes()


def test_column_path_chunks_and_sparse_rows(tmp_path, monkeypatch):
    """Chunk boundaries, rows with no cell at all, and a column with no cell at all."""
    rng = np.random.default_rng(5)
    n = 2_500
    x = rng.normal(size=n)
    x[rng.random(n) < 0.5] = np.nan
    df = pd.DataFrame({"empty": [None] * n, "x": x, "s": np.where(np.isnan(x), "", "v&w")})
    monkeypatch.setattr("finsupport.report.workbook.CHUNK_ROWS", 1_000)
    paths = []
    for arrow in (True, False):
        monkeypatch.setattr(stream_mod, "ARROW_ROWS", arrow)
        paths.append(write_workbook(Report([Sheet("S", df)]), tmp_path / f"{arrow}.xlsx"))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    ws = openpyxl.load_workbook(paths[0])["S"]
    got = [ws.cell(r, 2).value for r in range(2, n + 2)]
    assert ws.max_row <= n + 1 and got == [None if np.isnan(v) else v for v in x]


_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("&<>\"' \t\n_x"), max_size=12)
_CELL = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False), st.integers(-2**53 + 1, 2**53 - 1),
                  _TEXT)


def _expected(v):
    """What openpyxl reads back for a value the frame holds.

    Text that looks like an OOXML escape (``_x0041_``) is written escaped, ``_x005F_x0041_``,
    which Excel shows as the original text; openpyxl returns the escaped form as it is."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return None
    if isinstance(v, str):
        return re.sub(r"(_x[0-9a-fA-F]{4}_)", r"_x005F\1", v)
    return v


@given(floats=st.lists(st.floats(allow_nan=True, allow_infinity=False), min_size=1, max_size=30),
       ints=st.lists(st.integers(-2**53 + 1, 2**53 - 1), min_size=1, max_size=30),
       texts=st.lists(st.none() | _TEXT, min_size=1, max_size=30),
       mixed=st.lists(_CELL, min_size=1, max_size=30), arrow=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_values_read_back_are_the_frames(tmp_path_factory, floats, ints, texts, mixed, arrow):
    """Whatever the column path writes, openpyxl reads back the frame's values exactly."""
    n = max(map(len, (floats, ints, texts, mixed)))
    cols = {"f": pd.Series(floats, dtype="float64"), "i": pd.Series(ints, dtype="int64"),
            "s": pd.Series(texts, dtype="str"), "o": pd.Series(mixed, dtype=object)}
    df = pd.DataFrame({k: v.reindex(range(n)) for k, v in cols.items()})
    stream_mod.ARROW_ROWS = arrow
    try:
        path = write_workbook(Report([Sheet("V", df)]), tmp_path_factory.mktemp("v") / "v.xlsx")
    finally:
        stream_mod.ARROW_ROWS = True
    rows = list(openpyxl.load_workbook(path)["V"].iter_rows(min_row=2, max_row=n + 1, values_only=True))
    rows += [(None,) * 4] * (n - len(rows))
    for j, c in enumerate(df.columns):
        got = [r[j] if j < len(r) else None for r in rows]
        want = [_expected(None if v is pd.NA else v) for v in df[c].astype(object).tolist()]
        for g, w in zip(got, want, strict=True):
            if isinstance(w, bool):
                assert g is w
            elif isinstance(w, int | float):
                assert type(g) in (int, float) and g == w, (c, g, w)   # (-0.0 reads back as 0)
            else:
                assert g == w, (c, g, w)


def test_arrow_rows_used_when_available(tmp_path, monkeypatch):
    """The column path really runs (a regression would silently fall back to the slower path)."""
    calls = []
    real = stream_mod._arrow_cells

    def spy(*args):
        out = real(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(stream_mod, "_arrow_cells", spy)
    write_workbook(Report([Sheet("S", pd.DataFrame({"x": [1.5, 2.0], "s": ["a", "b"], "b": [True, False]}))]),
                   tmp_path / "a.xlsx")
    assert calls == [True, True, True]


def test_rows_copied_as_bytes_at_close_change_nothing(tmp_path, monkeypatch):
    """Copying each sheet's row file as bytes at close gives the file XlsxWriter's text copy gives."""
    df = _nasty_frame()
    rep = Report([Sheet("A", df, title="Ünïcode title ≥ 1", formats={"text_num": "text"}),
                  Sheet("Empty", None, title=""), Sheet("B", df.iloc[:3])])
    a, b = tmp_path / "bytes.xlsx", tmp_path / "text.xlsx"
    write_workbook(rep, a)
    monkeypatch.setattr("finsupport.report.workbook.BYTE_COPY", False)
    write_workbook(rep, b)
    assert a.read_bytes() == b.read_bytes()


def test_text_like_an_escape_is_written_escaped(tmp_path):
    """``_x0000_`` as text is written ``_x005F_x0000_`` (Excel shows ``_x0000_``; openpyxl reads the escape)."""
    texts = ["_x0000_", "a_x0041_b", "_x005F_", "plain_x"]
    path = write_workbook(Report([Sheet("E", pd.DataFrame({"s": texts}))]), tmp_path / "e.xlsx")
    got = [r[0] for r in openpyxl.load_workbook(path)["E"].iter_rows(min_row=2, values_only=True)]
    assert got == ["_x005F_x0000_", "a_x005F_x0041_b", "_x005F_x005F_", "plain_x"] == [_expected(t) for t in texts]
