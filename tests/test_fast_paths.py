"""The fast paths of reading and validation give what the general paths give.

Reading a CSV file takes shortcuts when it can: UTF-8 bytes go straight to pyarrow's
parser (``_utf8_frame``), the plain-number columns of a plain table are parsed as numbers
by that parser (``_typed_csv``), a column of plain numbers is parsed once while the grid is
read (``_plain_numbers``), duplicate rows are looked for among rows whose hash repeats
(``repeated_rows.duplicated_rows``), yes/no columns are judged once per distinct spelling. Each test here
switches a shortcut off and checks that the tables, the data-quality log and the errors
stay the same.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import finsupport.data.arrow_text as arrow_text
import finsupport.data.readers as readers
import finsupport.data.repeated_rows as repeated_rows
import finsupport.data.validate as validate
from finsupport.data.readers import read_dataset
from finsupport.errors import DataError
from finsupport.measure.flows import support_flows

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])
NUMBERS = ["1", "2.5", "-3", "1e3", "0", "1,234", "１２３", " 7 ", "7 ", "--", "NA", "nan", "inf", "1e999", "",
           "无", "12abc", "+4", ".5", "5.", "00012", "1E-2", "\u30007"]
IDS = ["000001", "000002", "1", "2", " 000001", "０００００１", "000003", "", "NA", "000001.SZ"]
YEARS = ["2019", "2020", "2019.0", "2019-12-31", "2019年", "2019-06-30", "", "--", "2019A", " 2020"]
BOOLS = ["true", "False", "是", "否", "1", "0", "yes", "", "maybe", "TRUE", " no", "1.0", "Y", "nO"]


def _write(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _outcome(folder: Path):
    try:
        d = read_dataset(folder)
    except DataError as e:
        return "error", sorted((p.get("table"), p.get("column"), str(p.get("message")), tuple(p.get("rows") or ()))
                               for p in e.problems)
    log = d.quality.to_frame().astype(str).sort_values(list(d.quality.to_frame().columns)).reset_index(drop=True)
    return "ok", {n: df for n, df in d.tables().items()}, log


def _same(a, b) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1] == b[1]
        return
    assert a[1].keys() == b[1].keys()
    for n in a[1]:
        pd.testing.assert_frame_equal(a[1][n], b[1][n], check_dtype=False)
        assert [str(t) for t in a[1][n].dtypes] == [str(t) for t in b[1][n].dtypes], n
    pd.testing.assert_frame_equal(a[2], b[2])


def _general(monkeypatch) -> None:
    monkeypatch.setattr(readers, "_utf8_frame", lambda *a, **k: None)
    monkeypatch.setattr(readers, "_plain_numbers", lambda *a: None)


row = st.tuples(st.sampled_from(IDS), st.sampled_from(YEARS), st.sampled_from(NUMBERS), st.sampled_from(NUMBERS),
                st.sampled_from(BOOLS))


@SETTINGS
@given(rows=st.lists(row, min_size=1, max_size=12), plain=st.booleans())
@example(rows=[("", "2019-06-30", "1", "1", "true")], plain=False)   # the log's missing firm code: None vs NA
def test_shortcuts_give_the_tables_log_and_errors_of_the_general_path(tmp_path_factory, rows, plain):
    folder = tmp_path_factory.mktemp("fast")
    if plain:  # mostly clean files, where every shortcut is taken
        rows = [(f"{i % 3 + 1:06d}", str(2015 + i % 5), str(i * 1.5), str(i), "true") for i in range(len(rows))] + rows[:1]
    _write(folder, "firms", ["firm_id", "name"], [["000001", "a"], ["000002", "b"], ["000003", "c"]])
    _write(folder, "financials", ["firm_id", "year", "revenue", "employees"], [r[:4] for r in rows])
    _write(folder, "grants", ["firm_id", "year", "amount", "recurring"], [[r[0], r[1], r[3], r[4]] for r in rows])
    fast = _outcome(folder)
    with pytest.MonkeyPatch.context() as mp:
        _general(mp)
        _same(fast, _outcome(folder))
    with pytest.MonkeyPatch.context() as mp:  # pandas' C parser instead of pyarrow's
        _general(mp)
        mp.setattr(readers, "_arrow_csv", lambda *a: None)
        slow = _outcome(folder)
    assert fast[0] == slow[0]
    if fast[0] == "ok":
        for n in fast[1]:
            pd.testing.assert_frame_equal(fast[1][n], slow[1][n], check_dtype=False)
        pd.testing.assert_frame_equal(fast[2], slow[2])


def test_bom_semicolons_crlf_and_quotes_take_the_same_path_as_the_text(tmp_path, monkeypatch):
    folder = tmp_path / "d"
    folder.mkdir()
    text = ('\ufefffirm_id;year;revenue;name\r\n000001;2019;"1,5";"a; b"\r\n000002;2020; 3 ;\u3000\r\n'
            '000003;2021;4;"say ""hi"""\r\n')
    (folder / "financials.csv").write_bytes(text.encode("utf-8"))
    fast = _outcome(folder)
    assert fast[0] == "ok" and fast[1]["financials"]["revenue"].tolist() == [15.0, 3.0, 4.0]
    _general(monkeypatch)
    _same(fast, _outcome(folder))


def test_a_file_that_is_not_utf8_is_decoded_as_before(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "financials.csv").write_bytes("firm_id,year,营业收入\n000001,2019,5\n".encode("gb18030"))
    d = read_dataset(folder)
    assert d.financials["revenue"].tolist() == [5.0]
    assert d.provenance["tables"]["financials"]["encoding"] == "gb18030"


def test_numbers_parsed_with_the_grid_only_below_a_first_line_header(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    # a title line above the header: the body does not start on line 2, so no shortcut is taken
    (folder / "financials.csv").write_text("Financials 2019\nfirm_id,year,revenue\n000001,2019,5\n",
                                           encoding="utf-8")
    d = read_dataset(folder)
    assert d.financials["revenue"].tolist() == [5.0] and list(d.financials.index) == [3]


def test_whitespace_cells_count_as_empty_as_python_strip_says(tmp_path):
    cells = ["", " ", "\t", "\u3000", "\xa0", " x ", "x", "\u2003\u2003", "0"]
    col = pd.Series(cells, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    assert readers._filled(col).tolist() == [bool(c.strip()) for c in cells]


def test_blank_text_cells_are_missing_whatever_the_format(tmp_path):
    """An empty or white-space-only text cell is missing in a Parquet file as in a CSV file (whose
    reader leaves it empty), and text is stripped in both: same tables, same log ("investor type
    missing", not "not recognised"), with pandas 3 and with pandas 2.3 (which reads Parquet text
    as Python objects)."""
    cells = ["", " ", "\u3000", "guidance_fund", " guidance_fund ", "private", "\t"]
    col = pd.Series(cells + [None], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    assert arrow_text.blank_text(col).tolist() == [not c.strip() for c in cells] + [False]
    assert arrow_text.blank_text(col.astype(object)).tolist() == [not c.strip() for c in cells] + [False]
    firms = pd.DataFrame({"firm_id": ["000001", "000002"], "name": ["a", " "]})
    equity = pd.DataFrame({"firm_id": ["000001"] * len(cells), "year": range(2015, 2015 + len(cells)),
                           "investor": ["fund"] * len(cells), "investor_type": cells,
                           "amount": [1.0] * len(cells)})
    fin = pd.DataFrame({"firm_id": ["000001"], "year": [2019], "revenue": [10.0]})
    got = {}
    for fmt in ("csv", "parquet"):
        d = tmp_path / fmt
        d.mkdir()
        for name, df in (("firms", firms), ("equity", equity), ("financials", fin)):
            df.to_csv(d / f"{name}.csv", index=False) if fmt == "csv" else df.to_parquet(d / f"{name}.parquet")
        data = read_dataset(d)
        support_flows(data)   # the measure judges the investor types
        log = data.quality.to_frame()

        def cells(s):
            return [None if pd.isna(v) else v for v in s]

        got[fmt] = (cells(data.equity["investor_type"]), cells(data.firms["name"]),
                    sorted(log["issue"]))   # (rows are lines in CSV, from 2; records in Parquet, from 1)
    assert got["csv"] == got["parquet"]
    assert got["parquet"][0] == [None] * 3 + ["guidance_fund"] * 2 + ["private", None]
    assert got["parquet"][1] == ["a", None]
    assert got["parquet"][2].count("investor type missing") == 4   # "", " ", "\u3000", "\t"


frames = st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from([1.0, 2.0, -0.0, 0.0, np.nan]),
                            st.sampled_from([1, 2, None]), st.booleans()), max_size=30)


@settings(max_examples=80, deadline=None)
@given(rows=frames, keep=st.sampled_from(["first", False]), key=st.booleans())
def test_duplicate_rows_by_hash_equal_pandas_duplicated(rows, keep, key):
    df = pd.DataFrame(rows, columns=["firm_id", "amount", "year", "flag"])
    df["firm_id"] = df["firm_id"].astype("str")
    df["year"] = df["year"].astype("Int64")
    df.index = np.arange(len(df)) * 3 + 2   # source line numbers
    got = repeated_rows.duplicated_rows(df, keep=keep, within=["firm_id", "year"] if key else None)
    pd.testing.assert_series_equal(got, df.duplicated(keep=keep), check_names=False)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["000001", "000002", "600519", "", None]),
                               st.sampled_from([2019, 2020, 2200]), st.sampled_from([1.0, -0.0, 0.0, np.nan])),
                     max_size=30),
       cut=st.integers(0, 30), keep=st.sampled_from(["first", False]),
       known=st.lists(st.sampled_from(["000001", "600519", "9"]), max_size=3))
def test_checks_on_encoded_firm_codes_equal_pandas(rows, cut, keep, known):
    """Repeated rows, repeated (firm, year) keys and firm codes missing from the firms table, found
    from the codes encoded once (:class:`TextCodes`, over a column in two chunks), equal pandas'
    ``duplicated`` and ``isin``; so do the codes kept after excluding rows."""
    import pyarrow as pa

    ids = [r[0] for r in rows]
    chunked = pa.chunked_array([pa.array(ids[:cut], type=pa.string()), pa.array(ids[cut:], type=pa.string())])
    df = pd.DataFrame({"firm_id": pd.Series(pd.arrays.ArrowStringArray(chunked)),
                       "year": pd.Series([r[1] for r in rows], dtype="Int64"),
                       "amount": pd.Series([r[2] for r in rows], dtype=float)})
    df.index = np.arange(len(df)) * 3 + 2
    codes = arrow_text.TextCodes.of(df["firm_id"])
    for within in (None, ["firm_id", "year"]):
        got = repeated_rows.duplicated_rows(df, keep=keep, within=within, codes={"firm_id": codes})
        pd.testing.assert_series_equal(got, df.duplicated(keep=keep), check_names=False)
    pd.testing.assert_series_equal(repeated_rows.duplicated_key(df, ["firm_id", "year"], codes),
                                   df.duplicated(["firm_id", "year"], keep=False), check_names=False)
    expected = df["firm_id"].astype(object).isin(known).to_numpy() & df["firm_id"].notna().to_numpy()
    np.testing.assert_array_equal(arrow_text.isin_values(df["firm_id"], pd.Index(known, dtype="string[pyarrow]"),
                                                       codes=codes), expected)
    mask = (np.arange(len(df)) % 2 == 0)
    kept = codes.keep(mask)
    np.testing.assert_array_equal(arrow_text.isin_values(df["firm_id"][mask], known, codes=kept), expected[mask])
    # several tables at once (one in large_string, one empty): each equals its own look-up
    large = arrow_text.TextCodes.of(pd.Series(pd.arrays.ArrowStringArray(
        pa.chunked_array([pa.array(ids[::-1], type=pa.large_string())]))))
    empty = arrow_text.TextCodes.of(pd.Series(pd.array([], dtype="string[pyarrow]")))
    both = arrow_text.in_known({"a": codes, "b": large, "c": empty, "d": kept}, pd.Index(known, dtype="string[pyarrow]"))
    np.testing.assert_array_equal(both["a"], expected)
    np.testing.assert_array_equal(both["b"], expected[::-1])
    assert both["c"].shape == (0,)
    np.testing.assert_array_equal(both["d"], expected[mask])


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["000001", "000002", "000003"]), st.sampled_from([2019, 2020]),
                               st.sampled_from([1.0, 2.0])), min_size=1, max_size=14))
def test_keyed_tables_exclude_identical_rows_and_name_conflicting_keys_as_pandas_does(rows):
    """Financials (key: firm, year): a row identical to an earlier one is excluded and logged; the keys
    that still repeat are an error naming every row that holds them — as ``duplicated`` says."""
    from finsupport.data.dataset import Dataset

    fin = pd.DataFrame(rows, columns=["firm_id", "year", "revenue"]).astype({"firm_id": "string[pyarrow]"})
    fin.index = np.arange(len(fin)) + 2
    exact = fin.duplicated(keep="first")
    left = fin[~exact]
    conflict = list(left.index[left.duplicated(["firm_id", "year"], keep=False)])
    firms = pd.DataFrame({"firm_id": pd.Series(["000001", "000002", "000003"], dtype="string[pyarrow]")})
    try:
        d = Dataset(firms=firms, financials=fin)
    except DataError as e:
        assert conflict and [p["rows"] for p in e.problems if p["column"] == "firm_id, year"] == [conflict]
        return
    assert not conflict
    log = d.quality.to_frame()
    excluded = log[log["issue"] == "exact duplicate row"]
    assert sorted(int(r) for r in excluded["row"]) == list(fin.index[exact])
    assert list(d.financials.index) == list(left.index)


@pytest.mark.parametrize("planted", [True, False])
@pytest.mark.parametrize("n", [10, 70_000, 300_000])
def test_repeated_values_found_by_bucket_equal_pandas(n, planted):
    """``repeats`` on 64-bit hashes (above 65,536 rows: sorted, then the buckets of the repeated
    values compared exactly, so values that share a bucket but differ are told apart; without
    repeats, none found) and on dense integer keys (counted directly)."""
    rng = np.random.default_rng(n)
    h = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    if planted:
        h[rng.integers(0, n, n // 50)] = h[rng.integers(0, n, n // 50)]   # planted repeats
        h[: n // 10] >>= np.uint64(40)   # many distinct values in the first bucket
        h[n // 10] = h[0] + np.uint64(2)   # a value in a repeated value's bucket, itself single
        h[n // 10 + 1] = h[0]
    else:
        h = np.unique(h)
        rng.shuffle(h)
    expected = pd.Series(h).duplicated(keep=False).to_numpy()
    assert expected.any() == planted
    np.testing.assert_array_equal(repeated_rows.repeats(h), expected)
    k = rng.integers(0, 2 * n, n)
    np.testing.assert_array_equal(repeated_rows.repeats(k, 2 * n), pd.Series(k).duplicated(keep=False).to_numpy())
    twice = np.concatenate([h[: n // 2], h[: n // 2]])   # a table appended twice: many repeats
    np.testing.assert_array_equal(repeated_rows.repeats(twice), pd.Series(twice).duplicated(keep=False).to_numpy())
    np.testing.assert_array_equal(repeated_rows.repeats(k, 100 * n), pd.Series(k).duplicated(keep=False).to_numpy())


def test_whole_number_years_read_as_the_float_path_reads_them():
    years = pd.Series([2019, 1900, 2200, 2019], index=[5, 6, 7, 9], dtype=np.int64)
    fast = validate._years(years, "financials", "year", None, [], "validate")
    general = validate._years(years.astype(float), "financials", "year", None, [], "validate")
    pd.testing.assert_series_equal(fast, general)
    assert str(fast.dtype) == "Int64"
    problems: list = []   # out of range: the general path judges (and names the rows)
    validate._years(pd.Series([2019, 1800], dtype=np.int64), "financials", "year", None, problems, "validate")
    assert problems and problems[0]["rows"] == [1]


def test_yes_no_judged_once_per_spelling_names_the_same_rows():
    spellings = ["true", "no", "maybe", "1", None, "是", "maybe", " YES"]
    s = pd.Series(spellings * 5, index=range(100, 140))
    fast, general = [], []
    got = validate._bools(s, "grants", "recurring", fast)
    # each spelling once: as many distinct values as cells, so the cell-by-cell path runs
    once = validate._bools(pd.Series(spellings), "grants", "recurring", general)
    assert got.tolist() == once.tolist() * 5
    assert once.tolist()[:4] == [True, False, pd.NA, True]
    assert fast[0]["rows"] == [i for i in range(100, 140) if spellings[(i - 100) % 8] == "maybe"]
    assert general[0]["rows"] == [2, 6]
    assert {k: v for k, v in fast[0].items() if k != "rows"} == {k: v for k, v in general[0].items() if k != "rows"}


def test_firm_codes_matched_as_pandas_matches_them():
    """``isin_values`` (pyarrow's hash set) against pandas' own ``isin``, with missing codes and
    value sets given as Arrow-backed text, a list, and numbers written as text."""
    from finsupport.data.arrow_text import isin_values

    arrow = pd.StringDtype("pyarrow", na_value=np.nan)
    s = pd.Series(["000001", "000002", None, "600519", " 000003", "000001"], dtype=arrow)
    for values in (pd.Index(["000001", "600519", None], dtype=arrow), ["000002", "000003"],
                   pd.Series(["600519"], dtype=arrow), pd.Index([], dtype=arrow)):
        expected = s.astype(object).isin([v for v in pd.Series(values).dropna().astype(str)]).to_numpy()
        np.testing.assert_array_equal(isin_values(s, values), expected)


TYPED_HEADERS = [["firm_id", "year", "revenue", "employees"], ["firm_id", "year", "revenue(万元)", "employees"],
                 ["firm_id", "year", "revenue", "employees", ""], ["firm_id", "year", "2019 revenue", "employees"]]


@SETTINGS
@given(rows=st.lists(row, min_size=1, max_size=12), plain=st.integers(0, 3), header=st.sampled_from(TYPED_HEADERS),
       tail=st.sampled_from(["", "\n", "数据来源：Wind\n", ",,,\n", "\n000001,2019,1,2\n"]),
       crlf=st.booleans())
def test_typed_parse_gives_the_tables_log_and_errors_of_the_text_path(tmp_path_factory, rows, plain, header, tail,
                                                                      crlf):
    """Numbers, years and yes/no parsed by the CSV parser equal the text path's, whatever the cells:
    markers, separators, spaces, full-width digits, ``nan``/``inf``, years with periods, yes/no in
    any spelling, units in the header, blank lines, footers, CRLF."""
    folder = tmp_path_factory.mktemp("typed")
    clean = [(f"{i % 3 + 1:06d}", str(2015 + i), str(i * 1.5 + 0.1), str(i), "true") for i in range(8)]
    rows = clean + rows[:plain]   # mostly clean: a few cells that the typed parse must hand back
    _write(folder, "firms", ["firm_id", "name"], [["000001", "a"], ["000002", "b"], ["000003", "c"]])
    _write(folder, "financials", header, [list(r[:4]) + ([""] if len(header) == 5 else []) for r in rows])
    _write(folder, "grants", ["firm_id", "year", "amount", "recurring"], [[r[0], r[1], r[3], r[4]] for r in rows])
    p = folder / "financials.csv"
    text = p.read_text(encoding="utf-8") + tail
    p.write_bytes((text.replace("\r\n", "\n").replace("\n", "\r\n") if crlf else text).encode("utf-8"))
    typed = _outcome(folder)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "_typed_csv", lambda *a, **k: None)
        _same(typed, _outcome(folder))


@pytest.fixture
def typed_columns(monkeypatch) -> list:
    """The number columns of each file the typed parse read (None: the file went to the text path)."""
    taken: list = []
    real = readers._typed_csv

    def spy(*a, **k):
        out = real(*a, **k)
        taken.append(None if out is None else sorted(out.numbers))
        return out

    monkeypatch.setattr(readers, "_typed_csv", spy)
    return taken


def test_a_plain_file_takes_the_typed_parse(tmp_path, typed_columns):
    """The comparison above is not empty: a plain file's number columns come from the typed parse,
    a column with a marker is parsed again as text, and a unit in the header keeps the text path."""
    taken = typed_columns
    folder = tmp_path / "d"
    _write(folder, "firms", ["firm_id", "name"], [["000001", "a"]])
    _write(folder, "financials", ["firm_id", "year", "revenue", "employees"],
           [["000001", "2019", "10.5", "3"], ["000001", "2020", "11", "--"]])
    d = read_dataset(folder)
    assert taken == [None, [1, 2]]   # firms: no numbers; year and revenue typed, employees ('--') handed back
    assert d.financials["revenue"].tolist() == [10.5, 11.0]
    assert d.financials["employees"].isna().tolist() == [False, True]
    taken.clear()
    _write(folder, "financials", ["firm_id", "year", "revenue(万元)", "employees"], [["000001", "2019", "1.5", "3"]])
    d = read_dataset(folder)
    assert taken == [None, [1, 3]]   # the amount in 万元 is converted from its text; year and count are typed
    assert d.financials["revenue"].tolist() == [15000.0]


def test_years_and_yes_no_take_the_typed_parse_when_plain(tmp_path, typed_columns):
    """Plain years and yes/no spellings are parsed as values; a year with a period, a year out of
    range or an unknown spelling hands the column back to the text path (which reads or rejects it);
    a file whose only typed columns would be yes/no is read as text (label rows cannot be ruled out)."""
    taken = typed_columns
    folder = tmp_path / "d"
    _write(folder, "firms", ["firm_id", "name"], [["000001", "a"]])
    _write(folder, "grants", ["firm_id", "year", "amount", "recurring", "asset_related"],
           [["000001", "2019", "5", "TRUE", "是"], ["000001", " 2020.0", "6", "no", "0"]])
    d = read_dataset(folder)
    assert taken == [None, [1, 2, 3, 4]]
    assert d.grants["year"].tolist() == [2019, 2020] and d.grants["year"].dtype == "int64"
    assert d.grants["recurring"].tolist() == [True, False] and d.grants["asset_related"].tolist() == [True, False]
    raw = read_dataset(folder, validate=False).grants   # as read: the typed values themselves
    assert raw["year"].dtype == "int64" and raw["recurring"].dtype == bool
    taken.clear()
    _write(folder, "grants", ["firm_id", "year", "amount", "recurring"],
           [["000001", "2019-06-30", "5", "maybe"], ["000001", "1800", "6", "yes"]])
    with pytest.raises(DataError) as e:
        read_dataset(folder)
    assert taken == [None, [2]]   # year (a period, 1800) and recurring ('maybe') handed back as text
    assert {p["column"] for p in e.value.problems} == {"year", "recurring"}
    taken.clear()
    _write(folder, "grants", ["firm_id", "year", "amount", "recurring"], [["000001", "2019-12-31", "--", "yes"]])
    typed = _outcome(folder)
    assert taken == [None, None]   # year and amount handed back: yes/no alone does not take the typed parse
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(readers, "_typed_csv", lambda *a, **k: None)
        _same(typed, _outcome(folder))


@pytest.mark.parametrize("label_row", [False, True])
def test_typed_parse_of_a_long_file_hands_back_columns_found_in_the_head_and_below(tmp_path, monkeypatch,
                                                                                   typed_columns, label_row):
    """Past the first 64 KiB: a marker near the top (or a label row under the header) is found by
    parsing the head; a ``nan`` far below by the full parse; the clean column stays typed, and
    everything equals the text path."""
    taken = typed_columns
    folder = tmp_path / "d"
    _write(folder, "firms", ["firm_id", "name"], [[f"{i:06d}", "x"] for i in range(1, 301)])
    rows = [[f"{i % 300 + 1:06d}", str(2000 + i // 300), f"{i * 1.25 + 0.3}", str(i % 50), f"{i * 7.5}"]
            for i in range(4000)]
    rows[10][3] = "--"      # in the head
    rows[3500][2] = "nan"   # far below it
    if label_row:
        rows.insert(0, ["Code", "Year", "Revenue", "Employees", "Assets"])
    _write(folder, "financials", ["firm_id", "year", "revenue", "employees", "total_assets"], rows)
    text = (folder / "financials.csv").read_text(encoding="utf-8")
    assert text.index("nan") > 65536 > text.index("--")   # the head is the first 64 KiB
    typed = _outcome(folder)
    assert taken == [None, None if label_row else [1, 4]]
    monkeypatch.setattr(readers, "_typed_csv", lambda *a, **k: None)
    _same(typed, _outcome(folder))


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    ["a", "1", " ", "\t", "\n", "\x1c", "\u3000", "\xa0", "\u2003", "é", "０", "\r"]), max_size=4)), max_size=12),
       start=st.integers(0, 3), chunks=st.booleans())
def test_cells_with_white_space_at_an_edge_are_always_seen(cells, start, chunks):
    """The byte check that lets reading skip ``strip`` never misses a cell that ``strip`` changes,
    in a slice of an array and across chunks; cells of white space only are never 'filled'."""
    import pyarrow as pa

    arr = pa.array(cells, type=pa.large_string())
    half = len(cells) // 2
    parts = [arr.slice(0, half), arr.slice(half)] if chunks else [arr]
    dtype = pd.StringDtype("pyarrow", na_value=np.nan)
    col = pa.chunked_array(parts, type=pa.large_string()).to_pandas(types_mapper=lambda t: dtype).iloc[start:]
    kept = cells[start:]
    if any(c is not None and c != c.strip() for c in kept):
        assert arrow_text.edge_space(col) is True
    assert readers._filled(col).tolist() == [c is None or bool(c.strip()) for c in kept]   # missing: not judged
    assert arrow_text.empty_cells(col).tolist() == [c == "" for c in kept]


@pytest.mark.parametrize("dirt", ["clean", "spaces", "markers", "orphans and repeats"])
def test_firm_codes_encoded_early_give_what_encoding_after_normalising_gives(tmp_path, dirt):
    """Tables of 65,536 rows or more have their firm codes encoded on a thread before they are
    normalised; the codes are used only when normalising left the column as it was. Whatever
    the column holds, the tables, the log and the errors equal those of encoding afterwards."""
    n = 70_000
    codes = [f"{i % 5000 + 1:06d}" for i in range(n)]
    if dirt == "spaces":
        codes[::7] = [" " + c for c in codes[::7]]
    elif dirt == "markers":
        codes[::11] = ["NA"] * len(codes[::11])
    elif dirt == "orphans and repeats":
        codes[::13] = ["999999"] * len(codes[::13])
    rows = [[c, str(2000 + i % 20), str(i % 997 * 1.5)] for i, c in enumerate(codes)]
    if dirt == "orphans and repeats":
        rows[5:9] = [rows[4]] * 4   # identical grants
    _write(tmp_path, "firms", ["firm_id", "name"], [[f"{i:06d}", f"f{i}"] for i in range(1, 5001)])
    _write(tmp_path, "grants", ["firm_id", "year", "amount"], rows)
    used = []
    real_of = validate._EarlyCodes.of

    def of(self, name, s):
        if name in self._jobs:
            used.append((name, getattr(s.array, "_pa_array", None) is self._jobs[name][0]))
        return real_of(self, name, s)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(validate._EarlyCodes, "of", of)
        early = _outcome(tmp_path)
    # the reader strips the spaces; the markers are masked in validation: a new column, encoded again
    # (only Arrow text columns are encoded early; firms has 5,000 rows: no thread)
    arrow = getattr(read_dataset(tmp_path, validate=False).grants["firm_id"].array, "_pa_array", None) is not None
    assert used == ([("grants", dirt != "markers")] if arrow else [])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(validate._EarlyCodes, "of", lambda self, name, s: arrow_text.TextCodes.of(s))
        _same(early, _outcome(tmp_path))
    if dirt == "orphans and repeats":
        assert early[0] == "ok"
        log = early[2]
        assert (log["issue"] == "firm not in firms table").sum() == len(range(0, n, 13))
        assert (log["issue"] == "identical rows").sum() == 4


@pytest.mark.parametrize("path", ["typed", "text", "parquet"])
@pytest.mark.parametrize("validated", [True, False])
def test_every_column_read_can_be_written_into(tmp_path, path, validated):
    """The tables are the user's: a cell of any column can be set (the typed parse keeps its own
    arrays without a copy; they must not be read-only views of Arrow's or pandas' memory)."""
    n = 300
    fin = pd.DataFrame({"firm_id": [f"{i % 30 + 1:06d}" for i in range(n)], "year": [2000 + i // 30 for i in range(n)],
                        "revenue": np.arange(n) * 1.5 + 1, "employees": np.arange(n) % 7 * 1.0,
                        "hnte": np.arange(n) % 2 == 0})
    firms = pd.DataFrame({"firm_id": [f"{i:06d}" for i in range(1, 31)], "name": ["x"] * 30})
    for name, df in (("financials", fin), ("firms", firms)):
        df.to_parquet(tmp_path / f"{name}.parquet") if path == "parquet" else df.to_csv(tmp_path / f"{name}.csv",
                                                                                        index=False)
    with pytest.MonkeyPatch.context() as mp:
        if path == "text":
            _general(mp)
        data = read_dataset(tmp_path, validate=validated)
    got = data.financials
    for col in got.columns:
        first = got.index[0]
        value = got.loc[got.index[1], col]
        got.loc[first, col] = value   # raises "assignment destination is read-only" on a read-only view
        assert got.loc[first, col] == value, col


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_mapped_into_memory_read_as_files_read_at_once(tmp_path, monkeypatch, fmt):
    """CSV and Parquet files are parsed and hashed from their pages mapped into memory; the tables,
    the log, the hashes and the errors equal those of the files read into memory at once (the path
    of an empty file), in UTF-8 with quotes and CRLF, with a BOM and in GB18030."""
    folder = tmp_path / "d"
    folder.mkdir()
    fin = pd.DataFrame({"firm_id": ["000001", "000002", "000003"], "year": [2019, 2019, 2020],
                        "revenue": [1.5, 2.0, 3.25]})
    firms = pd.DataFrame({"firm_id": ["000001", "000002", "000003"], "name": ['A "one", Ltd', "乙公司", "丙"]})
    if fmt == "csv":
        fin.to_csv(folder / "financials.csv", index=False, lineterminator="\r\n")
        (folder / "firms.csv").write_bytes(b"\xef\xbb\xbf" + firms.to_csv(index=False).encode("utf-8"))
        (folder / "equity.csv").write_bytes("firm_id,year,amount,investor,investor_type\n"
                                            "000001,2019,5,国资基金,guidance_fund\n".encode("gb18030"))
    else:
        fin.to_parquet(folder / "financials.parquet")
        firms.to_parquet(folder / "firms.parquet")

    def outcome():
        d = read_dataset(folder)
        return ({n: df for n, df in d.tables().items()}, d.quality.to_frame(),
                {t: v.get("sha256") for t, v in d.provenance["tables"].items()})

    mapped = outcome()
    monkeypatch.setattr(readers, "_mapped_bytes", readers._file_bytes)
    at_once = outcome()
    for n in mapped[0]:
        pd.testing.assert_frame_equal(mapped[0][n], at_once[0][n])
    pd.testing.assert_frame_equal(mapped[1], at_once[1])
    assert mapped[2] == at_once[2] and all(mapped[2].values())
    assert mapped[0]["firms"]["name"].tolist() == ['A "one", Ltd', "乙公司", "丙"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_b90_a_file_rewritten_while_it_is_read_is_an_error(tmp_path, monkeypatch, fmt):
    folder = tmp_path / "d"
    folder.mkdir()
    fin = pd.DataFrame({"firm_id": ["000001"], "year": [2019], "revenue": [1.5]})
    fin.to_csv(folder / "financials.csv", index=False) if fmt == "csv" else fin.to_parquet(folder / "financials.parquet")
    stamps = iter([(10, 1), (11, 2)])   # the size and time before reading, then after
    monkeypatch.setattr(readers, "_stamp", lambda path: next(stamps))
    with pytest.raises(DataError, match=f"financials.{fmt} changed while it was read"):
        read_dataset(folder)


def test_a_file_rewritten_before_the_general_path_decodes_it_is_an_error(tmp_path, monkeypatch):
    """A GB18030 file goes to the general path, which copies the mapped bytes and checks the file
    once more before decoding them: a write after the first check is an error, never a table that
    differs from the bytes hashed."""
    folder = tmp_path / "d"
    folder.mkdir()
    f = folder / "firms.csv"
    f.write_bytes("firm_id,name\n000001,甲公司\n000002,乙公司\n".encode("gb18030"))
    real = readers._unchanged
    calls = []

    def late_write(path, stamp, table):
        real(path, stamp, table)
        calls.append(path.name)
        if len(calls) == 1:   # the first check passes; the file is rewritten just after it
            with open(path, "r+b") as fh:
                fh.seek(13)
                fh.write(b"999999")

    monkeypatch.setattr(readers, "_unchanged", late_write)
    with pytest.raises(DataError, match="firms.csv changed while it was read"):
        read_dataset(folder)
    assert calls == ["firms.csv"]


def test_a_broken_parquet_file_being_rewritten_is_said_to_change(tmp_path, monkeypatch):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "financials.parquet").write_bytes(b"PAR1 not a whole file")
    with pytest.raises(DataError, match="cannot open financials.parquet as Parquet"):
        read_dataset(folder)
    stamps = iter([(10, 1), (0, 2)])
    monkeypatch.setattr(readers, "_stamp", lambda path: next(stamps))
    with pytest.raises(DataError, match="financials.parquet changed while it was read"):
        read_dataset(folder)
