"""Arrow text read from its bytes, without making strings: white space at a cell's edge, empty
cells, ASCII-only columns, the first byte of cells; columns the reader has already cleaned;
text columns encoded once (:class:`TextCodes`) and fast look-ups of firm codes.

Every check here answers "may" where it cannot be sure (a column is then handled by pandas'
string methods), never "no" where the string methods would find something.
"""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

__all__ = ["TextCodes", "arrow_strings", "ascii_bytes", "blank_text", "clean_text", "edge_space", "empty_cells",
           "in_known", "isin_values", "mark_clean_text", "may_begin", "non_ascii", "text_array", "text_chunks"]


def text_array(col: pd.Series):
    """The pyarrow array behind a column of Arrow text (string or large_string), or None."""
    arr = getattr(col.array, "_pa_array", None)
    return arr if arr is not None and str(arr.type) in ("string", "large_string") else None


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
    arr = text_array(col)
    if arr is not None:
        _CLEAN_TEXT[id(arr)] = arr
    return col


def clean_text(arr) -> bool:
    """Whether the pyarrow array ``arr`` is one :func:`mark_clean_text` recorded (this very array)."""
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


def text_chunks(arr):
    """``(offsets, data, chunk)`` for each non-empty chunk of a pyarrow text array (string or
    large_string): the chunk's ``len + 1`` offsets into ``data``, its buffer of bytes as uint8 (may
    hold other cells' bytes beyond them)."""
    import pyarrow as pa

    for ch in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        large = pa.types.is_large_string(ch.type)
        if not len(ch):
            continue
        bufs = ch.buffers()
        offs = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[ch.offset: ch.offset + len(ch) + 1]
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
        yield offs, data, ch


def edge_space(col: pd.Series) -> bool | None:
    """Whether a cell of an Arrow text column may begin or end with white space, from the bytes of
    the characters at its edges (no string is made); None for any other column.

    An empty cell's edge bytes belong to a neighbouring cell (or are clipped into the buffer), so
    they can only add a "may", never hide one."""
    arr = text_array(col)
    if arr is None:
        return None
    if clean_text(arr):
        return False
    for offs, data, _ in text_chunks(arr):
        if not data.size:   # every cell empty
            continue
        first, last = data.take(offs[:-1], mode="clip"), data.take(offs[1:] - 1, mode="clip")
        # ASCII white space (bytes 9–13 and 28–32), looked up only where some edge byte is that low
        if min(first.min(), last.min()) <= 32 and (_SPACE_BYTES.take(first).any() or _SPACE_BYTES.take(last).any()):
            return True
        if last.max() < 0x80 and first.max() < 0x80:   # ASCII edges: nothing else to look at
            continue
        # a character of two or three bytes led by C2, E1–E3 at either edge: decoded (dashes and
        # quotation marks share those lead bytes with white space)
        at = [offs[:-1][_SPACE_LEAD.take(first)]]
        ends = offs[1:][last >= 0x80]   # cells ending in a character of two or more bytes
        if len(ends):
            before, lead = data.take(ends - 2, mode="clip"), data.take(ends - 3, mode="clip")
            at += [(ends - 2)[before == 0xC2], (ends - 3)[(lead >= 0xE1) & (lead <= 0xE3)]]
        if _space_characters(data, np.concatenate(at)):
            return True
    return False


def ascii_bytes(arr) -> bool:
    """Whether every byte of a pyarrow text array's cells is ASCII (one pass over its bytes)."""
    for offs, data, _ in text_chunks(arr):
        cells = data[offs[0]: offs[-1]]
        if cells.size and cells.max() >= 0x80:
            return False
    return True


def empty_cells(col: pd.Series) -> np.ndarray | None:
    """``col == ""`` for an Arrow text column (missing cells are not empty); None for any other column."""
    arr = text_array(col)
    if arr is None:
        return None
    if clean_text(arr):
        return np.zeros(len(arr), dtype=bool)
    if not arr.null_count:   # every cell present: empty where its offsets are equal
        parts = [offs[1:] == offs[:-1] for offs, _, _ in text_chunks(arr)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(pc.equal(pc.binary_length(arr), 0), False), dtype=bool)


def blank_text(s: pd.Series, *, stripped: bool = False) -> np.ndarray:
    """Text cells that are empty or white space only (``s.str.strip() == ""``; missing cells are not),
    for Arrow text without new strings. ``stripped``: the cells are stripped already (blank is empty)."""
    empty = empty_cells(s)
    if empty is None:
        txt = s.astype("string")
        return (txt if stripped else txt.str.strip()).eq("").fillna(False).to_numpy(dtype=bool)
    if stripped or edge_space(s) is False:   # no cell begins or ends with white space: only empty ones
        return empty
    import pyarrow.compute as pc

    # a cell of white space only begins with it; white space as Python's str.strip sees it
    return empty | np.asarray(pc.fill_null(pc.utf8_is_space(s.array._pa_array), False), dtype=bool)


def may_begin(arr, first: np.ndarray) -> bool:
    """Whether a cell of a pyarrow text array is empty or begins with a byte where ``first`` holds
    (a missing cell counts as empty: it only sends the column to the full look-up)."""
    for offs, data, _ in text_chunks(arr):
        if not data.size or (offs[1:] <= offs[:-1]).any() or first.take(data.take(offs[:-1], mode="clip")).any():
            return True
    return False


def arrow_strings(s: pd.Series):
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
        arr = text_array(s)
        return None if arr is None else cls.of_arrow(arr)

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


def non_ascii(s: pd.Series) -> pd.Series:
    """Cells with a character outside ASCII (full-width forms to normalise), without a regex where possible."""
    arr = arrow_strings(s)
    if arr is not None:
        import pyarrow.compute as pc

        if ascii_bytes(arr):   # the common case, from the bytes at once
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
        arr = arrow_strings(s)
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
