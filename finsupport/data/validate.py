"""Validation and normalisation of the data contract.

Collects every problem before raising one `DataError`; what it repairs or excludes is
recorded row by row in the dataset's `QualityLog`. Row labels in messages and in the log
are the frame's index labels: for files read with `read_dataset` they are the line
numbers of the source (the header is line 1).

Rules (each logged):

* missing-value markers (``""``, ``-``, ``--``, ``—``, ``NA``, ``N/A``, ``null``, ``nan``, ``无``)
  in numeric columns become missing (*repaired*);
* other text in a numeric column is an error (names the cells);
* a fiscal year written as a date (``2019-12-31``, ``2019/12/31``, ``2019年``) becomes the
  year (*repaired*);
* rows without a firm code or year cannot be attributed (*excluded*);
* exact duplicate rows of a keyed table are kept once (*excluded*); duplicated keys with
  different values are an error;
* rows whose firm is not in ``firms`` (orphans) are *excluded* when ``firms`` is given;
* zero or negative revenue is *flagged*: the share of revenue is undefined there;
* negative values in columns that cannot be negative are an error;
* infinite values (``inf``, ``1e999``) in numeric columns are an error;
* tiers named in Chinese (``专精特新“小巨人”企业``, ``创新型中小企业`` …) become the tier
  codes (*repaired*); other unknown tiers are an error;
* a designation year after the current calendar year is *flagged*.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import re
import unicodedata
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..errors import DataError
from ..progress import current_task
from .periods import parse_periods
from .spec import TABLES

__all__ = ["validate_dataset", "MISSING_MARKERS", "normalise_table", "exclude_interim"]

MISSING_MARKERS = frozenset(
    {"", "-", "--", "---", "—", "——", "–", "na", "n/a", "nan", "null", "none", "#n/a", "无", "不适用", "."}
)
#: pandas 3 copies on write: a shallow copy whose columns are replaced leaves the caller's frame as it was
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "true.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否"}


# bytes that may begin or end a cell that str.strip() changes. Python's white space (the same
# set as Arrow's utf8_trim_whitespace) is ASCII or a character of two bytes led by C2 (U+0085,
# U+00A0) or of three led by E1, E2 or E3 (U+1680, U+2000–U+205F, U+3000); Chinese characters
# (led by E4–E9) and any other text cannot begin or end with it.
_SPACE_BYTES = np.zeros(256, dtype=bool)
_SPACE_BYTES[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_SPACE_LEAD = np.zeros(256, dtype=bool)
_SPACE_LEAD[[0xC2, 0xE1, 0xE2, 0xE3]] = True


#: Arrow text arrays known to hold neither an empty cell nor white space at a cell's edge (the
#: reader's stripped columns), by id; an Arrow array never changes, so the check holds while it lives
_CLEAN_TEXT: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def mark_clean_text(col: pd.Series) -> pd.Series:
    """Record that ``col`` (stripped, its empty cells missing) needs neither check again; returns it."""
    arr = getattr(col.array, "_pa_array", None)
    if arr is not None and str(arr.type) in ("string", "large_string"):
        _CLEAN_TEXT[id(arr)] = arr
    return col


def _clean_text(arr) -> bool:
    return _CLEAN_TEXT.get(id(arr)) is arr


#: the white space beyond ASCII (Python's str.isspace, the same as Arrow's): code points
_SPACE_POINTS = np.array([0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000])


def _space_characters(data: np.ndarray, at: np.ndarray) -> bool:
    """Whether a character of two or three bytes that begins at one of the byte positions ``at``
    (each a lead byte C2 or E1–E3) is white space."""
    if not len(at):
        return False
    b0, b1, b2 = (data.take(at + k, mode="clip").astype(np.int64) for k in range(3))
    point = np.where(b0 == 0xC2, ((b0 & 0x1F) << 6) | (b1 & 0x3F), ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F))
    return bool(np.isin(point, _SPACE_POINTS).any())


def _text_chunks(arr):
    """``(offsets, data, chunk)`` for each non-empty chunk of a pyarrow text array: the chunk's
    ``len + 1`` offsets into ``data``, its buffer of bytes as uint8 (may hold other cells' bytes
    beyond them). Raises TypeError for an array that is not text."""
    import pyarrow as pa

    for ch in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        large = pa.types.is_large_string(ch.type)
        if not (large or pa.types.is_string(ch.type)):
            raise TypeError(ch.type)
        if not len(ch):
            continue
        bufs = ch.buffers()
        offs = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[ch.offset: ch.offset + len(ch) + 1]
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
        yield offs, data, ch


def _edge_space(col: pd.Series) -> bool | None:
    """Whether a cell of an Arrow text column may begin or end with white space, from the bytes of
    the characters at its edges (no string is made); None for any other column.

    An empty cell's edge bytes belong to a neighbouring cell (or are clipped into the buffer), so
    they can only add a "may", never hide one."""
    arr = getattr(col.array, "_pa_array", None)
    if arr is None:
        return None
    if _clean_text(arr):
        return False
    try:
        for offs, data, _ in _text_chunks(arr):
            if not data.size:   # every cell empty
                continue
            first, last = data.take(offs[:-1], mode="clip"), data.take(offs[1:] - 1, mode="clip")
            if last.max() < 0x80 and first.max() < 0x80:   # ASCII edges (white space is 9–13 and 28–32)
                if min(first.min(), last.min()) <= 32 and (
                        _SPACE_BYTES.take(first).any() or _SPACE_BYTES.take(last).any()):
                    return True
                continue
            if _SPACE_BYTES.take(first).any() or _SPACE_BYTES.take(last).any():
                return True
            # a character of two or three bytes led by C2, E1–E3 at either edge: decoded (dashes and
            # quotation marks share those lead bytes with white space)
            at = [offs[:-1][_SPACE_LEAD.take(first)]]
            ends = offs[1:][last >= 0x80]   # cells ending in a character of two or more bytes
            if len(ends):
                before, lead = data.take(ends - 2, mode="clip"), data.take(ends - 3, mode="clip")
                at += [(ends - 2)[before == 0xC2], (ends - 3)[(lead >= 0xE1) & (lead <= 0xE3)]]
            if _space_characters(data, np.concatenate(at)):
                return True
    except TypeError:
        return None
    return False


def _ascii_bytes(arr) -> bool:
    """Whether every byte of a pyarrow text array's cells is ASCII (one pass over its bytes)."""
    for offs, data, _ in _text_chunks(arr):
        cells = data[offs[0]: offs[-1]]
        if cells.size and cells.max() >= 0x80:
            return False
    return True


def _empty(col: pd.Series) -> np.ndarray | None:
    """``col == ""`` for an Arrow text column (missing cells are not empty); None for any other column."""
    arr = getattr(col.array, "_pa_array", None)
    if arr is None or str(arr.type) not in ("string", "large_string"):
        return None
    if _clean_text(arr):
        return np.zeros(len(arr), dtype=bool)
    if not arr.null_count:   # every cell present: empty where its offsets are equal
        parts = [offs[1:] == offs[:-1] for offs, _, _ in _text_chunks(arr)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(pc.equal(pc.binary_length(arr), 0), False), dtype=bool)


def _blank_text(s: pd.Series, *, stripped: bool = False) -> np.ndarray:
    """Text cells that are empty or white space only (``s.str.strip() == ""``; missing cells are not),
    for Arrow text without new strings. ``stripped``: the cells are stripped already (blank is empty)."""
    empty = _empty(s)
    if empty is None:
        txt = s.astype("string")
        return (txt if stripped else txt.str.strip()).eq("").fillna(False).to_numpy(dtype=bool)
    if stripped or _edge_space(s) is False:   # no cell begins or ends with white space: only empty ones
        return empty
    import pyarrow.compute as pc

    # a cell of white space only begins with it; white space as Python's str.strip sees it
    return empty | np.asarray(pc.fill_null(pc.utf8_is_space(s.array._pa_array), False), dtype=bool)


def _log_markers(log, stage: str, table: str, column: str, cells: pd.Series) -> None:
    """One "missing-value marker" record per cell in ``cells`` (indexed by row): its text read as missing."""
    if len(cells):
        log.add(stage=stage, table=table, column=column, rows=cells.index, issue="missing-value marker",
                action="repaired", detail=[f"'{v}' read as missing" for v in cells])


def _as_text(s: pd.Series) -> pd.Series:
    """Firm codes and other identifiers as stripped strings; floats like 1.0 become '1'."""
    if pd.api.types.is_float_dtype(s):
        txt = s.map(lambda v: pd.NA if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
        return txt.astype("string")
    out = s.astype("string")
    if _edge_space(out) is not False:   # nothing to strip in a column read by finsupport's reader
        out = out.str.strip()
    marker = _is_marker(out)
    return out.mask(marker) if marker.any() else out   # no copy of a column without markers


_MARKER_LEN = max(len(m) for m in MISSING_MARKERS)
# every spelling of a marker that lower-cases to it ("NA", "Null", "nAn" …): only ASCII letters
# change (no other character lower-cases to a letter of a marker), so these are all of them
_MARKER_SPELLINGS = sorted({"".join(p) for m in MISSING_MARKERS for p in itertools.product(
    *[(c, c.upper()) if c.isascii() and c.isalpha() else (c,) for c in m])})


_MARKER_FIRST = np.zeros(256, dtype=bool)
_MARKER_FIRST[[m.encode()[0] for m in _MARKER_SPELLINGS if m]] = True


def _may_begin(arr, first: np.ndarray) -> bool:
    """Whether a cell of a pyarrow text array is empty or begins with a byte where ``first`` holds
    (a missing cell counts as empty: it only sends the column to the full look-up)."""
    for offs, data, _ in _text_chunks(arr):
        if not data.size or (offs[1:] <= offs[:-1]).any() or first.take(data.take(offs[:-1], mode="clip")).any():
            return True
    return False


def _is_marker(txt: pd.Series) -> pd.Series:
    """``txt.str.lower().isin(MISSING_MARKERS)``: for Arrow text, one look-up of each cell among
    the markers' spellings in either case (no lower-cased copy); otherwise lower-casing only the
    cells short enough to be a marker."""
    arr = getattr(txt.array, "_pa_array", None)
    if arr is not None and str(arr.type) in ("string", "large_string"):
        import pyarrow as pa
        import pyarrow.compute as pc

        if not _may_begin(arr, _MARKER_FIRST):   # firm codes begin with a digit or a letter no marker begins with
            return pd.Series(np.zeros(len(txt), dtype=bool), index=txt.index)
        hit = pc.is_in(arr, value_set=pa.array(_MARKER_SPELLINGS, type=arr.type))
        return pd.Series(np.asarray(pc.fill_null(hit, False), dtype=bool), index=txt.index)
    short = (txt.str.len() <= _MARKER_LEN).fillna(False).astype(bool)
    if short.all():
        return txt.str.lower().isin(MISSING_MARKERS).fillna(False).astype(bool)
    out = pd.Series(False, index=txt.index)
    if short.any():
        out[short.to_numpy()] = txt[short.to_numpy()].str.lower().isin(MISSING_MARKERS).fillna(False).to_numpy(bool)
    return out


def _numeric(s: pd.Series, table: str, column: str, log, problems: list, stage: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype(float)
        _not_finite(out, table, column, problems)
        return out
    fast = to_float(s.astype("string"))
    if fast is not None:  # every cell a plain number (the common case): one correctly rounded cast
        words = fast.isna() & s.notna()  # 'nan' written as text is read as missing, and said so
        _log_markers(log, stage, table, column, s[words])
        _not_finite(fast, table, column, problems)
        return fast
    txt = s.astype("string").str.strip()
    # thousands separators and full-width minus are common in exports
    cleaned = txt
    if txt.str.contains("[,，−]", regex=True).fillna(False).any():
        cleaned = txt.str.replace(",", "", regex=False).str.replace("，", "", regex=False).str.replace(
            "−", "-", regex=False)
    is_marker = txt.isna() | txt.str.lower().isin(MISSING_MARKERS)
    num = to_float(cleaned.mask(is_marker.fillna(True)))
    if num is None:  # some cell is not a plain number: find which
        num = pd.to_numeric(cleaned, errors="coerce")
    _log_markers(log, stage, table, column, txt[is_marker.fillna(True) & s.notna() & txt.notna()])
    bad = num.isna() & ~is_marker.fillna(True)
    if bad.any():
        rows = list(s.index[bad])
        examples = ", ".join(repr(v) for v in txt[bad].head(3))
        problems.append({"table": table, "column": column, "rows": rows,
                         "message": f"text in a numeric column ({examples})",
                         "hint": "correct the cells, or use an empty cell or '--' for missing"})
    num = num.astype(float)
    _not_finite(num, table, column, problems)
    return num


def _arrow_strings(s: pd.Series):
    """The column as a pyarrow string array, or None without pyarrow (then pandas' own paths are used)."""
    try:
        import pyarrow as pa
    except ImportError:
        return None
    arr = getattr(s.array, "_pa_array", None)
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pa.array(s.astype(object).where(s.notna(), None).to_numpy(), type=pa.string(), from_pandas=True)
    return arr


class TextCodes:
    """A text column encoded once: ``index`` (int64; -1 where missing) into the distinct ``values``
    (a pyarrow array). Equal cells get equal codes, so the checks that compare firm codes (repeated
    rows and keys, codes missing from the firms table) hash each code once, not once per check."""

    def __init__(self, index: np.ndarray, values) -> None:
        self.index = index
        self.values = values

    @classmethod
    def of(cls, s: pd.Series) -> TextCodes | None:
        """The codes of an Arrow text column (None for any other column or without pyarrow)."""
        arr = getattr(s.array, "_pa_array", None)
        if arr is None or str(arr.type) not in ("string", "large_string"):
            return None
        return cls.of_arrow(arr)

    @classmethod
    def of_arrow(cls, arr) -> TextCodes:
        """The codes of a pyarrow text array (chunked or not)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(arr):   # (pyarrow 14 cannot combine the chunks of an empty dictionary array)
            return cls(np.zeros(0, dtype=np.int64), pa.array([], type=arr.type))

        enc = arr.dictionary_encode()   # one dictionary for every chunk
        enc = enc.combine_chunks() if hasattr(enc, "combine_chunks") else enc
        return cls(np.asarray(pc.fill_null(enc.indices, -1), dtype=np.int64), enc.dictionary)

    def keep(self, mask: np.ndarray) -> TextCodes:
        """The codes of the rows where ``mask`` holds (the column after excluding the others)."""
        return TextCodes(self.index[mask], self.values)


def to_float(s: pd.Series) -> pd.Series | None:
    """Text cells to floats, correctly rounded (pyarrow's parser); None where a cell is not a plain number."""
    arr = _arrow_strings(s)
    if arr is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        out = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(out.to_numpy(zero_copy_only=False), index=s.index, dtype=float)


def non_ascii(s: pd.Series) -> pd.Series:
    """Cells with a character outside ASCII (full-width forms to normalise), without a regex where possible."""
    arr = _arrow_strings(s)
    if arr is not None:
        import pyarrow.compute as pc

        if _ascii_bytes(arr):   # the common case, from the bytes at once
            return pd.Series(np.zeros(len(s), dtype=bool), index=s.index)
        return pd.Series(np.asarray(pc.fill_null(pc.invert(pc.string_is_ascii(arr)), False), dtype=bool),
                         index=s.index)
    return s.astype("string").str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).astype(bool)


def isin_values(s: pd.Series, values, *, codes: TextCodes | None = None) -> np.ndarray:
    """``s.isin(values)`` as a boolean array, fast for many text values (firm codes).

    ``codes``: the column's :class:`TextCodes`, if made: each distinct code is looked up once."""
    if codes is not None and len(codes.index) == len(s):
        hit = isin_values(pd.Series(pd.arrays.ArrowStringArray(codes.values)), values)
        return np.append(hit, False)[codes.index]   # -1 (missing) takes the appended False
    if pd.api.types.is_string_dtype(s.dtype):
        arr = _arrow_strings(s)
        if arr is not None:
            import pyarrow as pa
            import pyarrow.compute as pc

            # pandas' own isin converts a large set of Arrow strings cell by cell (about 1 s per
            # 100,000 firm codes); pyarrow's hash set takes milliseconds
            given = getattr(getattr(values, "array", None), "_pa_array", None)
            if given is not None and (pa.types.is_string(given.type) or pa.types.is_large_string(given.type)):
                value_set = pc.drop_null(given).combine_chunks().cast(arr.type)
            else:
                vals = pd.Series(values).dropna().astype(str).to_numpy(dtype=object)
                value_set = pa.array(vals, type=pa.string()).cast(arr.type)
            return np.asarray(pc.fill_null(pc.is_in(arr, value_set=value_set), False), dtype=bool)
    return s.isin(values).to_numpy(dtype=bool)


def in_known(codes: dict[str, TextCodes], known) -> dict[str, np.ndarray]:
    """``isin_values(column, known, codes=...)`` for several tables' firm codes at once: the distinct
    codes of every table are looked up in one pass, so the hash set of the ``known`` codes is
    built once, not once per table. ``{}`` without pyarrow (then each table is looked up alone)."""
    codes = {name: c for name, c in codes.items() if c is not None}
    if not codes:
        return {}
    try:
        import pyarrow as pa
    except ImportError:
        return {}
    distinct = pa.concat_arrays([c.values.cast(pa.large_string()) for c in codes.values()])
    hit = isin_values(pd.Series(pd.arrays.ArrowStringArray(distinct)), known)
    out, start = {}, 0
    for name, c in codes.items():
        k = len(c.values)
        out[name] = np.append(hit[start:start + k], False)[c.index]   # -1 (missing) takes the appended False
        start += k
    return out


def _not_finite(num: pd.Series, table: str, column: str, problems: list) -> None:
    """Infinite values (``inf``, ``1e999``) are an error, not a number."""
    inf = np.isinf(num.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        problems.append({"table": table, "column": column, "rows": list(num.index[inf]),
                         "message": "infinite or overflowing value",
                         "hint": "correct the cells (a number out of range or an 'inf' written by a program)"})


def _years(s: pd.Series, table: str, column: str, log, problems: list, stage: str) -> pd.Series:
    """Calendar years from years, dates and report periods (see :mod:`finsupport.data.periods`)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.year.astype("Int64")
        rows = s.index[s.notna()]
        if len(rows):
            log.add(stage=stage, table=table, column=column, rows=rows, issue="year given as a date",
                    action="repaired", detail="date reduced to its calendar year")
        return out
    if s.dtype == np.int64 and (not len(s) or (s.min() >= 1900 and s.max() <= 2200)):
        return pd.Series(pd.arrays.IntegerArray(s.to_numpy(), np.zeros(len(s), dtype=bool)), index=s.index)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        f = s.astype(float)
        plain = f.isna() | ((f % 1 == 0) & (f >= 1900) & (f <= 2200))
        if plain.all():
            return f.round().astype("Int64")
        txt = s.astype(float).map(lambda v: str(int(v)) if float(v).is_integer() else str(v),
                                  na_action="ignore").astype("string")
    else:
        fast = to_float(s.astype("string"))
        if fast is not None and (fast.isna() | ((fast % 1 == 0) & (fast >= 1900) & (fast <= 2200))).all() \
                and not (fast.isna() & s.notna()).any():
            return fast.round().astype("Int64")  # plain years written as text (every CSV)
        txt = s.astype("string").str.strip()
    is_marker = txt.isna() | txt.str.lower().isin(MISSING_MARKERS)
    per = parse_periods(txt)
    out = per["year"].astype("Float64")
    plain_text = txt.str.fullmatch(r"\d{4}(?:\.0)?").fillna(False).astype(bool)
    repaired = per["ok"] & ~plain_text
    if repaired.any():
        log.add(stage=stage, table=table, column=column, rows=s.index[repaired],
                issue="year given as a date", action="repaired",
                detail=("'" + txt[repaired].astype(str) + "' read as " + per["year"][repaired].astype(str)).tolist())
    unread = (~per["ok"] & ~is_marker.fillna(True)).fillna(False).astype(bool)
    outside = (out.notna() & ((out < 1900) | (out > 2200))).fillna(False).astype(bool) & ~unread
    for bad, what, hint in (
            (unread, "not a year", "use four-digit years such as 2019 (2019-12-31, 20191231, 2019年报 and 2019A "
                                   "are also read)"),
            (outside, "year outside 1900–2200", "correct the year (a typo, or a code or amount in the year "
                                               "column: check the column mapping)")):
        if bad.any():
            examples = ", ".join(repr(v) for v in txt[bad].head(3))
            problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                             "message": f"{what} ({examples})", "hint": hint})
    bad = unread | outside
    return out.where(~bad).round().astype("Int64")


def exclude_interim(df: pd.DataFrame, table: str, log, stage: str, *, report_dates: bool = False) -> pd.DataFrame:
    """Drop financial rows whose period is not a fiscal year end (interim reports, opening balances).

    Chinese firms' fiscal year is the calendar year, so a report date other than 12-31
    (``2019-06-30``, CSMAR's opening-balance ``2019-01-01``) or a Wind interim period
    (``2019中报``) is not an annual figure. The rows are excluded and logged. ``report_dates``:
    the table's dates are report dates whatever the table (a vendor's note table, such as
    CSMAR's subsidy note FN_Fn056, whose 06-30 rows are half-year amounts).
    """
    if not (table == "financials" or report_dates) or "year" not in df.columns or \
            pd.api.types.is_bool_dtype(df["year"]):
        return df
    if pd.api.types.is_numeric_dtype(df["year"]) and (df["year"].dropna() <= 2200).all():
        return df  # plain years carry no period
    if _plain_years(df["year"]):
        return df  # the same written as text (every CSV): no cell names a period
    per = parse_periods(df["year"])
    interim = (per["annual"] == False).fillna(False).astype(bool)  # noqa: E712 (NA stays NA)
    if not interim.any():
        return df
    sel = df[interim]
    log.add(stage=stage, table=table, rows=sel.index, column="year", issue="not an annual report",
            action="excluded", firm_id=sel["firm_id"] if "firm_id" in sel else None,
            detail=("period '" + sel["year"].astype(str)
                    + "' is not a fiscal year end (interim report or opening balance); annual rows are used").tolist())
    return df[~interim]


def _plain_years(s: pd.Series) -> bool:
    """Every cell a plain number from 1900 to 2200 or missing (text such as ``2019`` or ``2019.0``):
    no cell can be an interim period, so the period parser is not needed."""
    if not pd.api.types.is_string_dtype(s.dtype):
        return False
    fast = to_float(s.astype("string"))
    if fast is None:
        return False
    v = fast.to_numpy(dtype=float)
    return bool(np.all(np.isnan(v) | ((v >= 1900) & (v <= 2200))))


def _bools(s: pd.Series, table: str, column: str, problems: list, log=None, stage: str = "validate") -> pd.Series:
    """Yes/no cells as a boolean column (missing where empty or a missing-value marker).

    ``log``: where a marker (``NA``, ``-``, ``无``) is read as missing, as numbers' markers are."""
    out = _bool_values(s, table, column, problems)
    if log is not None and not pd.api.types.is_bool_dtype(s):
        miss = out.isna().to_numpy() & s.notna().to_numpy()
        if miss.any():   # an empty cell is simply missing; a marker is said so
            txt = s[miss].astype("string").str.strip()
            _log_markers(log, stage, table, column, txt[(txt.ne("") & _is_marker(txt)).fillna(False)])
    return out


def _bool_values(s: pd.Series, table: str, column: str, problems: list) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    codes, uniq = pd.factorize(s)
    if len(uniq) < len(s) // 2:  # a handful of distinct spellings: judge each once
        one = _bool_values(pd.Series(uniq, dtype=object), table, column, found := [])
        if found:  # name the rows that hold the bad spellings
            bad = pd.Series(codes).isin(found[0]["rows"]).to_numpy()
            problems.append({**found[0], "rows": list(s.index[bad])})
        vals = pd.array(list(one) + [pd.NA], dtype="boolean")
        return pd.Series(vals[np.where(codes < 0, len(uniq), codes)], index=s.index)
    txt = s.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[txt.isin(_TRUE).fillna(False)] = True
    out[txt.isin(_FALSE).fillna(False)] = False
    bad = out.isna() & txt.notna() & ~txt.isin(MISSING_MARKERS).fillna(True)
    if bad.any():
        examples = ", ".join(repr(v) for v in s[bad].astype(str).unique()[:3])
        problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                         "message": f"not a yes/no value ({examples})", "hint": "use true/false, yes/no or 1/0"})
    return out


#: Chinese names of the certification tiers (quotes, spaces and a trailing 企业 are ignored).
TIER_NAMES_ZH = {
    "创新型中小": "innovative_sme",
    "专精特新中小": "specialized_sme",
    "专精特新": "specialized_sme",
    "专精特新小巨人": "little_giant",
    "小巨人": "little_giant",
    "国家级专精特新小巨人": "little_giant",
    "专精特新重点小巨人": "little_giant",  # the subset of Little Giants singled out for central funds
    "重点小巨人": "little_giant",
    "制造业单项冠军": "manufacturing_champion",
    "单项冠军": "manufacturing_champion",
}


def _tier_from_chinese(v) -> str | None:
    t = unicodedata.normalize("NFKC", str(v))
    t = re.sub(r"[\s\"'“”‘’「」《》]", "", t)
    t = re.sub(r"(企业|示范企业)$", "", t)
    return TIER_NAMES_ZH.get(t)


_ZH_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_BATCH_RE = r"^\s*第?\s*(?P<n>[一二三四五六七八九十]{1,2}|\d+)\s*批(?:次)?\s*$"


def _batch_numbers(s: pd.Series, log, stage: str) -> pd.Series:
    """MIIT writes batches as 第一批, 第三批: read as 1, 3 (repaired, logged)."""
    if pd.api.types.is_numeric_dtype(s):
        return s
    txt = s.astype("string")
    m = txt.str.extract(_BATCH_RE)["n"]
    hit = m.notna().to_numpy()
    if not hit.any():
        return s

    def value(n: str) -> int:
        if n.isdigit():
            return int(n)
        if len(n) == 2:  # 十一 … 十九
            return 10 + _ZH_DIGITS[n[1]] if n[0] == "十" else _ZH_DIGITS[n[0]] * 10
        return _ZH_DIGITS[n]

    nums = m[hit].map(value)
    log.add(stage=stage, table="designations", column="batch", rows=s.index[hit], issue="batch written in words",
            action="repaired", detail=("'" + txt[hit].astype(str) + "' read as " + nums.astype(str)).tolist())
    return s.astype(object).where(~hit, nums.reindex(s.index).astype(object))


def normalise_table(df: pd.DataFrame, table: str, log, problems: list, *, stage: str = "validate") -> pd.DataFrame:
    """Coerce the known columns of ``table`` to their kinds; unknown columns are kept as is."""
    spec = TABLES[table]
    df = df.copy(deep=not _COPY_ON_WRITE)  # columns are replaced, never written into
    if table == "designations" and "batch" in df.columns:
        df["batch"] = _batch_numbers(df["batch"], log, stage)
    for col in df.columns:
        kind = spec.kind(col)
        if kind is None:
            continue
        if kind == "id":
            df[col] = _as_text(df[col])
        elif kind == "text":
            if not pd.api.types.is_string_dtype(df[col]) or df[col].dtype == object:
                df[col] = df[col].astype("string")
            if _edge_space(df[col]) is not False:   # stripped whatever the format (a clean column: no copy)
                df[col] = df[col].str.strip()
            blank = _blank_text(df[col], stripped=True)
            if blank.any():   # an empty cell is missing whatever the format (CSV's reader already says so)
                df[col] = df[col].mask(blank)
        elif kind == "year":
            df[col] = _years(df[col], table, col, log, problems, stage)
        elif kind in ("amount", "number", "count"):
            df[col] = _numeric(df[col], table, col, log, problems, stage)
        elif kind == "bool":
            df[col] = _bools(df[col], table, col, problems, log, stage)
    return df


def _exclude(df: pd.DataFrame, mask: pd.Series, log, table: str, issue: str, detail, stage: str, column: str = "") -> pd.DataFrame:
    if not mask.any():
        return df
    sel = df[mask]
    log.add(stage=stage, table=table, rows=sel.index, column=column, issue=issue, action="excluded",
            firm_id=sel["firm_id"] if "firm_id" in sel else None,
            year=sel["year"] if "year" in sel else None, detail=detail)
    return df[~mask]


_EXCHANGE = r"^([0-9A-Za-z]+)\.(?:SZ|SH|BJ|HK|SS|NQ|OC|SZE|SHE)$"


def _canonical_ids(ids: pd.Series) -> pd.Series:
    """A code without its exchange suffix and, if all digits, without leading zeros (``'002001.SZ'`` → ``'2001'``)."""
    s = ids.astype("string").str.strip().str.upper().str.replace(_EXCHANGE, r"\1", regex=True, case=False)
    digits = s.str.fullmatch(r"\d+").fillna(False).astype(bool)
    stripped = s.str.lstrip("0").mask(lambda x: x == "", "0")
    return s.where(~digits, stripped)


def _reconcile_ids(df: pd.DataFrame, known: pd.Index, table: str, log, problems: list, stage: str, *,
                   found: np.ndarray | None = None) -> tuple[pd.DataFrame, bool]:
    """Match firm codes that differ from the firms table only by leading zeros or an exchange suffix.

    ``2001`` (a CSV that lost the zeros) or ``002001.SZ`` (a Wind code) is read as the firms
    table's ``002001`` when exactly one firm code has that canonical form; the repair is
    logged row by row. A code whose canonical form fits several firms is an error. ``found``: the
    codes already in ``known``, if looked up. Returns the frame and whether a code was changed.
    """
    ids = df["firm_id"]
    unknown = ids.notna() & ~(isin_values(ids, known) if found is None else found)
    if not unknown.any() or not len(known):
        return df, False
    known_s = pd.Series(known.astype(str))
    canon = pd.Series(_canonical_ids(known_s).to_numpy(), index=known_s.to_numpy())
    several = canon.duplicated(keep=False).to_numpy()
    single = pd.Series(canon.index[~several], index=canon[~several].to_numpy())  # canonical form -> firm code
    u = pd.Series(ids[unknown].unique())
    uc = pd.Series(_canonical_ids(u).to_numpy(), index=u.to_numpy())
    amb_canon = set(canon[several])
    ambiguous = uc[uc.isin(amb_canon)]
    if len(ambiguous):
        rows = list(df.index[ids.isin(ambiguous.index)])
        fits = canon[several]
        ex = "; ".join(f"'{k}' could be {', '.join(repr(x) for x in fits.index[fits == c])}"
                       for k, c in ambiguous.head(3).items())
        problems.append({"table": table, "column": "firm_id", "rows": rows,
                         "message": f"firm codes match several firms of the firms table after adding leading "
                                    f"zeros or removing an exchange suffix ({ex})",
                         "hint": "write the firm codes in full, as in the firms table (e.g. six digits, as text)"})
    unique = uc.map(single).dropna()
    if unique.empty:
        return df, False
    hit = pd.Series(isin_values(ids, unique.index), index=ids.index)
    new = ids[hit].map(unique)
    log.add(stage=stage, table=table, rows=df.index[hit], column="firm_id", issue="firm code matched to the firms table",
            action="repaired", firm_id=new,
            detail=("'" + ids[hit].astype(str) + "' read as '" + new.astype(str)
                    + "' (leading zeros or exchange suffix differ from the firms table)").tolist())
    df = df.copy()
    df.loc[hit, "firm_id"] = new.astype(df["firm_id"].dtype)
    return df, True


def _row_hash(df: pd.DataFrame, codes: dict[str, TextCodes] | None = None) -> np.ndarray:
    """A 64-bit hash of each row over every column; equal rows (as ``duplicated`` compares them) hash alike.

    Each column's values as 64-bit words times an odd constant of its own, summed. A product carries
    every bit of a word into the leading bits that :func:`_repeats` sorts by. Unequal rows collide
    only by chance or by a relation between their words that real columns do not hold; a collision
    only adds a row to the exact comparison.

    ``codes``: :class:`TextCodes` of text columns, by name, used instead of encoding them again."""
    h = np.zeros(len(df), dtype=np.uint64)
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        given = (codes or {}).get(df.columns[j])
        if given is None or len(given.index) != len(s):
            given = TextCodes.of(s)   # pyarrow text: its hash table, one dictionary for every chunk
        if given is not None:
            x = given.index.view(np.uint64)   # -1 for missing wraps to one value
        elif pd.api.types.is_float_dtype(s.dtype) and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
            v = s.to_numpy(dtype=float) + 0.0  # -0.0 equals 0.0
            v[np.isnan(v)] = np.nan  # one NaN
            x = v.view(np.uint64)
        elif isinstance(s.dtype, (pd.Int64Dtype, pd.Int32Dtype, pd.BooleanDtype)) or (
                pd.api.types.is_integer_dtype(s.dtype) and not isinstance(s.dtype, pd.ArrowDtype)):
            # whole numbers as they are, missing as one sentinel (a value equal to it only adds a row)
            x = s.to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min).view(np.uint64)
        else:
            x = pd.factorize(s)[0].astype(np.int64).view(np.uint64)
        h += x * _COLUMN_WORDS[j % len(_COLUMN_WORDS)]
    return h


def _splitmix64(n: int) -> list[int]:
    """The first ``n`` outputs of splitmix64 seeded with 0 (Steele, Lea & Flood 2014)."""
    out, state, m = [], 0, (1 << 64) - 1
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & m
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out.append(z ^ (z >> 31))
    return out


#: one odd 64-bit constant per column position (the low bit set: multiplying by it loses no bit)
_COLUMN_WORDS = [np.uint64(c | 1) for c in _splitmix64(16)]


def _rows_at(df: pd.DataFrame, at: np.ndarray) -> pd.DataFrame:
    """The rows at the increasing positions ``at`` for comparing them (``df.iloc[at]``; Arrow text as
    Python strings, taken chunk by chunk: pyarrow joins a chunked array's chunks to take from it,
    about 30 ms a column of two million cells however few rows are taken)."""
    if len(at) > 10_000:
        return df.iloc[at]
    cols = {}
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        arr = getattr(s.array, "_pa_array", None)
        if arr is not None and str(arr.type) in ("string", "large_string") and getattr(arr, "num_chunks", 1) > 1:
            import pyarrow as pa

            bounds = np.cumsum([0] + [len(c) for c in arr.chunks])
            which = np.searchsorted(bounds, at, side="right") - 1
            vals: list = []
            for k in np.unique(which):
                vals += arr.chunk(int(k)).take(pa.array(at[which == k] - bounds[k])).to_pylist()
            cols[j] = pd.Series(vals, dtype=object)
        else:
            cols[j] = s.iloc[at].reset_index(drop=True)
    out = pd.DataFrame(cols)
    out.index = df.index[at]
    return out


def _duplicated(df: pd.DataFrame, *, keep, within: list[str] | None = None,
                codes: dict[str, TextCodes] | None = None) -> pd.Series:
    """``df.duplicated(keep=keep)`` over every column, comparing whole rows only where a few columns agree.

    Identical rows agree on any columns and hash alike, so the rows whose hash over the
    ``within`` columns (the table's key; by default the firm, the year and the float columns)
    repeats hold every identical row: the whole-row comparison runs on those few rows
    instead of on the whole table.
    """
    if not within:   # the firm, the year and the amounts tell rows apart nearly always: hash those
        within = [c for c in df.columns if c in ("firm_id", "year")
                  or (pd.api.types.is_float_dtype(df[c].dtype) and not isinstance(df[c].dtype, pd.ArrowDtype))]
    # rows whose hash repeats (equal rows hash alike; a collision only adds a row to compare)
    h = _row_hash(df[within] if within else df, codes)
    cand = _repeats(h)
    out = np.zeros(len(df), dtype=bool)
    if cand.any():   # by position: a mask would be converted for every column of the whole table
        at = np.flatnonzero(cand)
        out[at] = _rows_at(df, at).duplicated(keep=keep).to_numpy()
    return pd.Series(out, index=df.index)


def _repeats(v: np.ndarray, n_values: int | None = None) -> np.ndarray:
    """Rows whose value occurs more than once (``duplicated(keep=False)``).

    Values from 0 to ``n_values`` (not many more than rows) are counted directly. For 64-bit
    hashes (``n_values=None``) the leading 32 bits are sorted (half the bytes of the hashes): no
    two equal neighbours, the common case, means no repeat. Otherwise the repeated leading halves
    mark their buckets in a table small enough to stay in cache, and only the rows in a marked
    bucket (every row of a repeated value among them) are compared exactly."""
    n = len(v)
    if n_values is not None and n_values <= 8 * n + 1024:
        return np.bincount(v, minlength=n_values)[v] > 1 if n else np.zeros(0, dtype=bool)
    if n_values is not None or n < 1 << 16:   # sparse values, or few rows: pandas' hash table
        return pd.Series(v).duplicated(keep=False).to_numpy()
    top = (v.astype(np.uint64, copy=False) >> np.uint64(32)).astype(np.uint32)
    s = np.sort(top)
    same = s[1:] == s[:-1]
    if not same.any():
        return np.zeros(n, dtype=bool)
    rep = s[1:][same]
    rep = rep[np.append(True, rep[1:] != rep[:-1])]   # each repeated leading half once
    bits = min(max(len(rep).bit_length() + 10, 12), 32)   # about one bucket in a thousand marked
    shift = np.uint32(32 - bits)
    marked = np.zeros(1 << bits, dtype=bool)
    marked[(rep >> shift).astype(np.intp)] = True
    cand = np.flatnonzero(marked[top >> shift])
    out = np.zeros(n, dtype=bool)
    out[cand] = pd.Series(v[cand]).duplicated(keep=False).to_numpy()
    return out


def _duplicated_key(df: pd.DataFrame, key: list[str], ids: TextCodes | None) -> pd.Series:
    """``df.duplicated(key, keep=False)``; for the firm, or the firm and a whole-number year, from the firm codes."""
    if ids is not None and key == ["firm_id"] and len(ids.index) == len(df):
        return pd.Series(_repeats(ids.index + 1, len(ids.values) + 1), index=df.index)
    if ids is not None and key == ["firm_id", "year"] and len(ids.index) == len(df):
        year = df["year"]
        if pd.api.types.is_integer_dtype(year.dtype) and not year.isna().any() and len(df):
            y = year.to_numpy(dtype=np.int64)
            # one int64 per (firm, year): the firm's code (missing: -1) times the span of years, plus the year
            span = int(y.max() - y.min()) + 1
            both = (ids.index + 1) * span + (y - y.min())
            return pd.Series(_repeats(both, (len(ids.values) + 1) * span), index=df.index)
    return df.duplicated(key, keep=False)


class _EarlyCodes:
    """The firm codes of every table encoded on a second thread while the tables are normalised
    one by one (pyarrow's hashing lets go of the interpreter lock). A table's codes are used
    only if its firm-code column is still the very array that was encoded (normalising a clean
    column keeps it; stripping, markers or excluded rows make a new one, encoded again)."""

    def __init__(self, tables: dict) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[str, tuple[object, Future]] = {}
        for name, df in tables.items():
            arr = getattr(df["firm_id"].array, "_pa_array", None) if "firm_id" in df.columns else None
            if arr is None or len(arr) < 1 << 16:   # small tables: not worth a thread
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="finsupport-codes")
            self._jobs[name] = (arr, self._pool.submit(TextCodes.of_arrow, arr))   # exactly what of() compares

    def of(self, name: str, s: pd.Series) -> TextCodes | None:
        job = self._jobs.pop(name, None)
        if job is not None and getattr(s.array, "_pa_array", None) is job[0]:
            return job[1].result()
        return TextCodes.of(s)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def validate_dataset(data, *, stage: str = "validate") -> None:
    """Normalise and check every table of ``data`` in place; raise one DataError listing all problems."""
    early = _EarlyCodes({n: d for n, d in data.tables().items() if not d.columns.duplicated().any()})
    try:
        _validate_dataset(data, early, stage)
    finally:
        early.close()


def _normalised(df: pd.DataFrame, name: str, log, problems: list, stage: str) -> pd.DataFrame:
    """One table normalised, its rows without a key excluded and its impossible negatives reported."""
    df = exclude_interim(df, name, log, stage)
    df = normalise_table(df, name, log, problems, stage=stage)
    spec = TABLES[name]
    # rows without the key cannot be attributed to a firm-year
    for kcol in [c for c in ("firm_id", "year") if c in df.columns and (c in spec.key or name != "firms")]:
        miss = df[kcol].isna()
        df = _exclude(df, miss, log, name, f"missing {kcol}", "row cannot be attributed", stage, kcol)
    for col in spec.nonnegative:
        if col in df.columns:
            neg = df[col] < 0
            if neg.any():
                problems.append({"table": name, "column": col, "rows": list(df.index[neg.fillna(False)]),
                                 "message": "negative values where none are possible",
                                 "hint": "check the sign convention of the export"})
    return df


def _repeated_rows(df: pd.DataFrame, name: str, ids: TextCodes | None, log, problems: list,
                   stage: str) -> tuple[pd.DataFrame, TextCodes | None]:
    """Identical rows flagged (a table without a key) or kept once (a keyed table), and keys that
    repeat with different values reported; returns the table and its firm codes, kept in step."""
    spec = TABLES[name]
    codes = {"firm_id": ids} if ids is not None else None
    # a grant or investment listed twice with every value equal: often a file appended twice
    # (a row repeats an earlier one exactly when some row is duplicated: one pass finds both)
    rep = _duplicated(df, keep="first", codes=codes) if not spec.key and len(df) else None
    if rep is not None and rep.any():
        sel = df[rep]
        log.add(stage=stage, table=name, rows=sel.index, issue="identical rows", action="flagged",
                firm_id=sel["firm_id"] if "firm_id" in sel else None, year=sel.get("year"),
                detail="every value equals an earlier row's; both are counted — remove one if the file was "
                       "appended twice")
    if spec.key and all(k in df.columns for k in spec.key):
        # identical rows share their key: both checks look only at the rows whose key repeats
        repeats = _duplicated_key(df, list(spec.key), ids).to_numpy()
        dup_all = np.zeros(len(df), dtype=bool)
        if repeats.any():   # (by position, as in _duplicated)
            at = np.flatnonzero(repeats)
            dup_all[at] = _rows_at(df, at).duplicated(keep="first").to_numpy()
        df = _exclude(df, pd.Series(dup_all, index=df.index), log, name, "exact duplicate row",
                      "identical to an earlier row; kept once", stage)
        if dup_all.any():
            repeats = repeats[~dup_all]
            ids = ids.keep(~dup_all) if ids is not None else None
        dup_key = np.zeros(len(df), dtype=bool)
        if repeats.any():   # a key that repeated only in a row now excluded is single again
            at = np.flatnonzero(repeats)
            dup_key[at] = _rows_at(df[list(spec.key)], at).duplicated(keep=False).to_numpy()
        if dup_key.any():
            keys = df.loc[dup_key, list(spec.key)].astype(str).agg("/".join, axis=1)
            problems.append({"table": name, "column": ", ".join(spec.key), "rows": list(df.index[dup_key]),
                             "message": f"the same key appears with different values ({', '.join(keys.unique()[:3])})",
                             "hint": "remove the conflicting duplicates (often a bad merge) so that each key appears once"})
    return df, ids


def _validate_dataset(data, early: _EarlyCodes, stage: str) -> None:
    log = data.quality
    problems: list[dict] = []
    tables = data.tables()
    task = current_task()  # a run's "validate" stage: each table, then the checks across tables
    task.expect(len(tables) + 1, "tables")
    normalised: list[str] = []
    for name, df in tables.items():
        task.note(f"{name}, {len(df):,} rows")
        task.advance(1)
        if df.columns.duplicated().any():
            dup = sorted(set(df.columns[df.columns.duplicated()].astype(str)))
            problems.append({"table": name, "column": ", ".join(dup), "message": "column appears more than once",
                             "hint": "rename or remove the duplicate columns (check the header mapping)"})
            continue
        tables[name] = _normalised(df, name, log, problems, stage)
        normalised.append(name)
    # the firm codes were encoded on the second thread while every table was normalised: the checks
    # that compare them come after, so that they seldom wait for it
    task.note("repeated rows and keys")
    firm_codes: dict[str, TextCodes] = {}
    for name in normalised:
        df = tables[name]
        ids = early.of(name, df["firm_id"]) if "firm_id" in df.columns else None
        tables[name], ids = _repeated_rows(df, name, ids, log, problems, stage)
        if ids is not None:
            firm_codes[name] = ids
    # orphans: rows for firms that are not in the firms table
    task.note("firm codes across tables")
    firms = tables.get("firms")
    others = [n for n, d in tables.items() if n != "firms" and "firm_id" in d.columns and len(d)]
    if firms is not None and "firm_id" in firms and not len(firms) and others:
        # every other row would be excluded as an unknown firm, and each table reported as empty
        read = log.accounting().set_index("table")["rows_read"].get("firms", 0)
        none = (f"has no rows left (every one of its {read:,} rows read was excluded: see the data-quality log)"
                if read else "has no rows")
        problems.append({"table": "firms", "column": "firm_id", "rows": [],
                         "message": f"the firms table {none}: every row of " + ", ".join(others)
                                    + " would be excluded as a firm not in the firms table",
                         "hint": "give the firms (one row per firm_id), or leave the firms file out "
                                 "(the table is optional: without it no firm code is checked against it)"})
        firms = None
    if firms is not None and "firm_id" in firms:
        known = pd.Index(firms["firm_id"].dropna().unique())
        looked_up = in_known({n: c for n, c in firm_codes.items() if n != "firms" and n in tables
                              and "firm_id" in tables[n].columns and len(c.index) == len(tables[n])}, known)
        for name, df in tables.items():
            if name == "firms" or "firm_id" not in df.columns:
                continue
            found = looked_up.get(name)
            if found is None:
                found = isin_values(df["firm_id"], known, codes=firm_codes.get(name))
            df, repaired = _reconcile_ids(df, known, name, log, problems, stage, found=found)
            orphan = ~(isin_values(df["firm_id"], known) if repaired else found) & df["firm_id"].notna()
            if orphan.any():
                ids = df.loc[orphan, "firm_id"].unique()
                shown = ", ".join(map(str, ids[:5])) + (f" … (+{len(ids) - 5} more)" if len(ids) > 5 else "")
                detail = f"firm code not in the firms table ({len(ids)} code(s): {shown})"
            else:
                detail = "orphan row"
            tables[name] = _exclude(df, orphan, log, name, "firm not in firms table", detail, stage, "firm_id")
    fin = tables.get("financials")
    if fin is not None and "revenue" in fin.columns:
        nonpos = fin["revenue"] <= 0
        if nonpos.any():
            sel = fin[nonpos]
            log.add(stage=stage, table="financials", column="revenue", rows=sel.index, firm_id=sel["firm_id"],
                    year=sel.get("year"), issue="zero or negative revenue", action="flagged",
                    detail="share of revenue is undefined for this firm-year")
    des = tables.get("designations")
    if des is not None and "tier" in des.columns:
        from .spec import TIERS

        raw = des["tier"].astype("string")
        t = raw.str.strip().str.lower().str.replace(" ", "_").str.replace("-", "_")
        codes, uniq = pd.factorize(raw)  # few distinct tiers: each read once
        zh_u = pd.Series([_tier_from_chinese(v) for v in uniq] + [None], dtype="string")
        zh = pd.Series(zh_u.to_numpy()[np.where(codes < 0, len(uniq), codes)], index=raw.index, dtype="string")
        named = zh.notna() & ~t.isin(TIERS)
        if named.any():
            log.add(stage=stage, table="designations", column="tier", rows=des.index[named],
                    firm_id=des.loc[named, "firm_id"] if "firm_id" in des else None, issue="tier named in Chinese",
                    action="repaired", detail=[f"'{a}' read as {b}" for a, b in zip(raw[named], zh[named], strict=True)])
            t = t.mask(named, zh)
        bad = t.notna() & ~t.isin(TIERS)
        if bad.any():
            problems.append({"table": "designations", "column": "tier", "rows": list(des.index[bad]),
                             "message": f"unknown tier ({', '.join(repr(v) for v in des['tier'][bad].unique()[:3])})",
                             "hint": f"use one of {', '.join(TIERS)}"})
        tables["designations"] = des.assign(tier=t)
    if (des is not None and "year" in des.columns and not des.columns.duplicated().any()
            and pd.api.types.is_numeric_dtype(des["year"])):
        # a designation dated after the current calendar year is kept but flagged (a typo or a planned award)
        this_year = _dt.date.today().year
        future = (des["year"] > this_year).fillna(False).astype(bool)
        if future.any():
            sel = des[future]
            log.add(stage=stage, table="designations", column="year", rows=sel.index,
                    firm_id=sel["firm_id"] if "firm_id" in sel else None, year=sel["year"],
                    issue="designation year in the future", action="flagged",
                    detail=f"award year after {this_year}; check the date")
    task.advance(1)
    if problems:
        raise DataError(problems=problems)
    for name, df in tables.items():
        # complete year columns become plain int64 (fast keys downstream)
        for col in TABLES[name].columns_of_kind("year"):
            if col in df.columns and str(df[col].dtype) == "Int64" and not df[col].isna().any():
                df[col] = df[col].astype("int64")
        setattr(data, name, df)
