"""The byte-level checks on Arrow text that let reading and validation skip work give what the
string methods give: white space at a cell's edge (``str.strip``), empty cells, ASCII-only
columns, missing-value markers in any letter case (``str.lower().isin``), the rows compared for
exact repeats, and columns the reader has already cleaned."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finsupport.data.arrow_text as arrow_text
import finsupport.data.repeated_rows as repeated_rows
import finsupport.data.validate as validate
from finsupport.data.readers import read_dataset

DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def _column(cells, chunks: int = 1, large: bool = True) -> pd.Series:
    typ = pa.large_string() if large else pa.string()
    arr = pa.array(cells, type=typ)
    cut = np.linspace(0, len(cells), chunks + 1).astype(int)
    parts = [arr.slice(int(a), int(b - a)) for a, b in zip(cut[:-1], cut[1:], strict=True)]
    return pa.chunked_array(parts, type=typ).to_pandas(types_mapper=lambda t: DTYPE)


SPACES = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


@pytest.mark.parametrize("where", ["begins", "ends"])
def test_every_white_space_character_at_an_edge_is_seen(where):
    """Each of the 29 characters ``str.strip`` removes, at either edge of a cell in Chinese or
    ASCII text (in a column of clean cells, in several chunks), makes the column one to strip."""
    assert len(SPACES) == 29
    for sp in SPACES:
        for text in ("中国制造", "abc", "é", "—"):
            cell = sp + text if where == "begins" else text + sp
            col = _column(["小巨人企业", "000001", cell, "专精特新"], chunks=2)
            assert arrow_text.edge_space(col) is True, (hex(ord(sp)), text)


def test_chinese_and_other_non_ascii_text_needs_no_strip():
    """A column of Chinese names, dashes, accents, emoji and zero-width spaces (which
    ``str.strip`` keeps) is not stripped: its cells' edges are read from the bytes."""
    cells = ["专精特新“小巨人”企业", "深圳市优必选科技股份有限公司", "—", "–", "café", "😀", "a\u200b",
             "\u200bb", "无", "", None, "国家级", "“引号”", "——", "…", "\u2030", "\u3001", "x\xa9", "\xb7"]
    assert all(c is None or c == c.strip() for c in cells)
    for chunks in (1, 3):
        for large in (True, False):
            assert arrow_text.edge_space(_column(cells, chunks, large)) is False


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    ["a", "1", " ", "\t", "\x1c", "\x85", "\xa0", "\u1680", "\u2003", "\u205f", "\u3000", "中", "é", "—",
     "\u200b", "😀", "\u2029", "\u201c", "\u3001", "\xa9"]), max_size=4)), max_size=14), chunks=st.integers(1, 3), start=st.integers(0, 3))
def test_edge_space_never_misses_a_cell_strip_changes(cells, chunks, start):
    col = _column(cells, chunks).iloc[start:]
    kept = cells[start:]
    if any(c is not None and c != c.strip() for c in kept):
        assert arrow_text.edge_space(col) is True
    assert arrow_text.empty_cells(col).tolist() == [c == "" for c in kept]
    assert arrow_text.blank_text(col).tolist() == [c is not None and not c.strip() for c in kept]
    assert arrow_text.ascii_bytes(col.array._pa_array) == all(c is None or c.isascii() for c in kept)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.sampled_from(sorted(validate.MISSING_MARKERS)).flatmap(
    lambda m: st.tuples(*[st.sampled_from([c, c.upper()]) for c in m]).map("".join) if m else st.just(m)),
    st.sampled_from(["000001", "600519.SH", "N", "nana", "non", "NaN0", "-1", "无锡", "不", "—a", ".5", "#"])),
    max_size=14), chunks=st.integers(1, 3))
def test_markers_in_any_letter_case_found_as_lower_isin_finds_them(cells, chunks):
    col = _column(cells, chunks)
    expected = [c is not None and c.lower() in validate.MISSING_MARKERS for c in cells]
    assert validate._is_marker(col).tolist() == expected
    assert validate._is_marker(col.astype(object).astype("string[python]")).tolist() == expected


def test_marker_spellings_are_every_spelling_that_lower_cases_to_a_marker():
    """Only ASCII letters lower-case to a letter of a marker, so the spellings listed are all."""
    letters = {ch for m in validate.MISSING_MARKERS for ch in m}
    others = [c for c in range(sys.maxunicode + 1) if not chr(c).isascii() and chr(c).lower() != chr(c)
              and any(ch in letters for ch in chr(c).lower())]
    assert others == []
    assert len(validate._MARKER_SPELLINGS) == len(set(validate._MARKER_SPELLINGS)) == 62
    assert {s.lower() for s in validate._MARKER_SPELLINGS} == set(validate.MISSING_MARKERS)


@pytest.mark.parametrize("n_repeats", [3, 12_000])
def test_repeats_of_chunked_text_rows_compared_as_pandas_compares_them(n_repeats):
    """Rows whose hash repeats are taken chunk by chunk (few) or with ``iloc`` (many) for the exact
    comparison: either way the repeats found equal ``DataFrame.duplicated`` on 70,000 rows."""
    rng = np.random.default_rng(n_repeats)
    n = 70_000
    firm = np.array([f"{i:06d}" for i in rng.integers(0, 5_000, n)], dtype=object)
    year = rng.integers(2015, 2022, n)
    amount = rng.integers(0, 10**9, n).astype(float)
    programme = rng.choice(np.array(["技术改造", "研发补助", "稳岗"], dtype=object), n)
    src, dst = rng.choice(n, n_repeats, replace=False), rng.choice(n, n_repeats, replace=False)
    for v in (firm, year, amount, programme):   # planted: a row copied over another
        v[dst] = v[src]
    programme[dst[-1]] = "其他"   # one of them differs in the text column alone
    df = pd.DataFrame({"firm_id": _column(list(firm), chunks=5), "year": year, "amount": amount,
                       "programme": _column(list(programme), chunks=4)})
    df.index = np.arange(n) + 2
    for keep in ("first", False):
        got = repeated_rows.duplicated_rows(df, keep=keep)
        expected = df.duplicated(keep=keep)
        pd.testing.assert_series_equal(got, expected, check_names=False)
    assert expected.sum() >= (n_repeats - 1) * 0.9


def test_columns_the_reader_cleaned_are_not_checked_again_and_validate_the_same(tmp_path, monkeypatch):
    """The reader's stripped text columns are recorded as clean; validation then skips their
    white-space and empty-cell checks, and gives the same tables and log as when it checks them."""
    folder = tmp_path / "d"
    folder.mkdir()
    pd.DataFrame({"firm_id": [" 000001", "000002", "000003 ", "NA", ""], "name": ["a", "b", "c", "d", "e"]}).to_parquet(
        folder / "firms.parquet")
    pd.DataFrame({"firm_id": ["000001", "000002", "000003", "000001"], "year": [2019, 2019, 2019, 2020],
                  "revenue": [1.0, 2.0, 3.0, 4.0]}).to_parquet(folder / "financials.parquet")
    raw = read_dataset(folder, validate=False)
    col = raw.financials["firm_id"]
    if hasattr(col.array, "_pa_array"):   # Arrow text (pandas 3; pandas 2.3 reads Python strings)
        assert arrow_text.clean_text(col.array._pa_array)
        assert arrow_text.edge_space(col) is False and not arrow_text.empty_cells(col).any()
    fresh = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([pa.array(col.tolist())])))
    assert not arrow_text.clean_text(fresh.array._pa_array)   # the same cells in another array: checked

    def outcome():
        d = read_dataset(folder)
        return d.tables(), d.quality.to_frame()

    skipped = outcome()
    monkeypatch.setattr(arrow_text, "clean_text", lambda arr: False)
    checked = outcome()
    for n in skipped[0]:
        pd.testing.assert_frame_equal(skipped[0][n], checked[0][n])
    pd.testing.assert_frame_equal(skipped[1], checked[1])
    assert skipped[0]["firms"]["firm_id"].tolist() == ["000001", "000002", "000003"]


def test_an_empty_cell_is_a_marker_in_a_column_of_codes():
    """``may_begin`` sends a column with an empty cell to the look-up whatever its other cells begin
    with: the empty firm code is a missing-value marker (then excluded as a missing firm code)."""
    for cells in (["", "000001", None], ["000001", "", "000002"], ["000001", None, "000002", ""]):
        for chunks in (1, 2):
            col = _column(cells, chunks)
            assert validate._is_marker(col).tolist() == [c == "" for c in cells]
            assert arrow_text.may_begin(col.array._pa_array, validate._MARKER_FIRST)
    assert not arrow_text.may_begin(_column(["000001", "600519"]).array._pa_array, validate._MARKER_FIRST)
    assert arrow_text.may_begin(_column(["000001", "N1"]).array._pa_array, validate._MARKER_FIRST)
