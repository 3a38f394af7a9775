"""Row-by-row cell writing for constant_memory worksheets.

Why not only ``worksheet.write_*``
----------------------------------
1. Speed. XlsxWriter spends ~5-8 µs per cell in its generic cell API; a 100,000 × 20
   panel took ~17-20 s on a modest machine. Rendering a whole column of a chunk at once
   and writing each row's XML in one call brings that to a few seconds.
2. Safety. XlsxWriter writes any string that starts with ``<r>`` and ends with
   ``</r>`` as raw rich-text XML, unescaped (in constant_memory mode and in the shared
   strings table alike), so a data cell such as ``<r>&</r>`` makes the file unreadable.
   The streamer escapes every string.

The fast path writes the ``<row>``/``<c>`` markup XlsxWriter itself writes in
constant_memory mode (inline strings, ``t="b"`` booleans, the same ``xml:space`` and
``_xHHHH_`` control-character rules) into the worksheet's row file, and keeps XlsxWriter's
own bookkeeping (dimensions, the row it buffers) consistent, so everything else - formats,
freeze panes, autofilters, charts, hyperlinks, print settings - is still XlsxWriter's.
One deliberate difference: numbers are written as the shortest text that reads back as the
same double (:func:`number_text`), where XlsxWriter's ``{:.16G}`` rounds 17-digit doubles.
The tests check that both paths give the same workbooks but for those digits. If an
XlsxWriter release drops the internals used here, :func:`make_stream` falls back to the
public API (slower; a ``<r>…</r>`` string then gets a trailing zero-width space so it stays
text).

3. Tables at national scale. With pyarrow installed, a table's cells are built a whole
   column of a chunk at a time by Arrow's C++ string kernels (:func:`_arrow_cells`), the
   same bytes as the cell-by-cell Python path, about 3× faster on a report of 100,000 firms.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name

try:   # optional: renders whole columns of cells in C++ (see _arrow_cells)
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError:   # pragma: no cover - exercised by switching ARROW_ROWS off in the tests
    pa = pc = None

__all__ = ["make_stream", "as_text", "excel_serial", "ColumnFormats", "FAST_ROWS", "ARROW_ROWS", "number_text"]

#: Use the fast row writer when the installed XlsxWriter allows it (tests switch it off).
FAST_ROWS = True
#: Render the cells of a table column by column with pyarrow when it is installed (tests switch it off).
ARROW_ROWS = True

MAX_STRING = 32_767
BIG_INT = 2**53
_INTERNALS = ("fh", "previous_row", "_write_single_row", "_check_dimensions", "table", "row_info",
              "default_row_height")

_CTRL_ESC = re.compile("(_x[0-9a-fA-F]{4}_)")
_CTRL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_RICH = re.compile(r"^<r>.*</r>$", re.DOTALL)


def as_text(v: Any) -> str:
    """Text of a value that is neither a number, a boolean, a date nor a string.

    Parameters
    ----------
    v : object
        A dict (JSON with sorted keys), a list/tuple/set (comma-joined) or anything else (``str``).

    Returns
    -------
    str
        Stable text for the cell.
    """
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
    if isinstance(v, list | tuple | set | frozenset):
        items = sorted(v, key=str) if isinstance(v, set | frozenset) else v
        return ", ".join(str(x) for x in items)
    return str(v)


_EPOCH = datetime(1899, 12, 31)


def excel_serial(v: datetime | date) -> float:
    """Excel serial date number of a date or datetime (1900 system), as XlsxWriter computes it.

    Parameters
    ----------
    v : datetime.date or datetime.datetime
        The value; a time zone is dropped (wall-clock time kept).

    Returns
    -------
    float
        Days since 1899-12-31, counting Excel's phantom 1900-02-29.
    """
    if isinstance(v, datetime):
        dt = v.replace(tzinfo=None)
    else:
        dt = datetime.fromordinal(v.toordinal())
    delta = dt - _EPOCH
    serial = delta.days + (float(delta.seconds) + float(delta.microseconds) / 1e6) / 86400
    if isinstance(v, datetime) and dt.isocalendar() == (1900, 1, 1):
        serial -= 1
    if serial > 59:
        serial += 1
    return serial


def _clip(text: str) -> str:
    """Cut a string to Excel's limit of 32,767 UTF-16 units, ending with an ellipsis."""
    if len(text) <= MAX_STRING // 2 or len(text.encode("utf-16-le")) // 2 <= MAX_STRING:
        return text
    out = text[: MAX_STRING - 1]
    while len(out.encode("utf-16-le")) // 2 > MAX_STRING - 1:
        out = out[:-1]
    return out + "…"


class ColumnFormats:
    """The formats a column's cells can take.

    Parameters
    ----------
    base : Format or None
        Format of ordinary cells.
    false : Format or None
        Format of FALSE cells (highlighted columns only).
    na : Format or None
        Format of missing cells (highlighted columns only); missing cells are
        otherwise not written at all.
    date : Format or None
        Format of date and datetime cells.
    text : Format or None
        Format of cells of a ``"text"`` column.
    """

    __slots__ = ("base", "false", "na", "date", "text", "_attrs")

    def __init__(self, base=None, false=None, na=None, date=None, text=None):
        self.base, self.false, self.na, self.date, self.text = base, false, na, date, text
        self._attrs = None

    def attrs(self) -> tuple[str, str, str | None, str, str]:
        """The ``s="…"`` attribute text of each format (computed once, after formats exist)."""
        if self._attrs is None:
            def s(f):
                return f' s="{f._get_xf_index()}"' if f is not None else ""

            self._attrs = (s(self.base), s(self.false) if self.false is not None else s(self.base),
                           s(self.na) if self.na is not None else None, s(self.date), s(self.text))
        return self._attrs


# --------------------------------------------------------------------------- numbers


def number_text(v: float | int) -> str:
    """The text of a number cell: the shortest decimal that reads back as the same double.

    XlsxWriter writes ``{:.16G}``, which rounds 17-digit doubles (``0.1 + 0.2`` would read
    back as ``0.3``). This writes Python's ``repr`` digits (shortest round trip) in the layout
    pyarrow's float-to-string cast gives, so the cell-by-cell and the column-at-a-time paths
    write the same bytes: plain digits for decimal exponents -6 to 9 (``123``, ``0.000015``),
    otherwise ``d.ddde±x`` (``1.5e-7``, ``1.2345678901e+10``); no trailing zeros or point.

    Parameters
    ----------
    v : float or int
        A finite float, or an int below 2**53 in magnitude.

    Returns
    -------
    str
        Valid ``xsd:double`` text; ``float(number_text(v)) == v``.
    """
    if type(v) is int:
        return str(v)
    r = repr(float(v))
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    whole, _, frac = mant.partition(".")
    if exp:                      # "d.ddde±xx"
        e, digits = int(exp), whole + frac
    elif whole != "0":           # "ddd.ddd"
        e, digits = len(whole) - 1, whole + frac
    else:                        # "0.000ddd"
        zeros = len(frac) - len(frac.lstrip("0"))
        e, digits = -zeros - 1, frac[zeros:]
    digits = digits.rstrip("0")
    if not digits:
        return sign + "0"
    n = len(digits)
    if -6 <= e < 10:
        if e < 0:
            return sign + "0." + "0" * (-e - 1) + digits
        if n <= e + 1:
            return sign + digits + "0" * (e + 1 - n)
        return sign + digits[:e + 1] + "." + digits[e + 1:]
    return sign + digits[0] + ("." + digits[1:] if n > 1 else "") + ("e-" if e < 0 else "e+") + str(abs(e))


# --------------------------------------------------------------------------- XML of one cell


def _str_xml(ref: str, s: str, text: str) -> str:
    if "_x" in text:
        text = _CTRL_ESC.sub(r"_x005F\1", text)
    if not text.isprintable():   # cheap test first: control characters are not printable
        text = _CTRL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text).replace("\ufffe", "_xFFFE_").replace(
            "\uffff", "_xFFFF_")
    preserve = ' xml:space="preserve"' if (text[:1].isspace() or text[-1:].isspace()) else ""
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{preserve}>{text}</t></is></c>'


def _cell_xml(ref: str, v: Any, kind: str | None, a: tuple) -> str:
    """XML of one cell, or "" for no cell. Same semantics as :meth:`_ApiStream.cell`."""
    s, s_false, s_na, s_date, s_text = a
    t = type(v)
    if t is float:
        if v != v:
            return f'<c r="{ref}"{s_na}/>' if s_na is not None else ""
        if v == math.inf or v == -math.inf:
            return _str_xml(ref, s, "inf" if v > 0 else "-inf")
        if kind == "bool" and v in (0.0, 1.0):
            return f'<c r="{ref}"{s if v else s_false} t="b"><v>{int(v)}</v></c>'
        if kind == "text":
            return _str_xml(ref, s_text, repr(v))
        return f'<c r="{ref}"{s}><v>{number_text(v)}</v></c>'
    if t is str:
        if v == "":
            return f'<c r="{ref}"{s_na}/>' if s_na is not None else ""
        return _str_xml(ref, s_text if kind == "text" else s, _clip(v))
    if v is None:
        return f'<c r="{ref}"{s_na}/>' if s_na is not None else ""
    if t is bool or t is np.bool_:
        if kind == "text":
            return _str_xml(ref, s_text, "TRUE" if v else "FALSE")
        return f'<c r="{ref}"{s if v else s_false} t="b"><v>{1 if v else 0}</v></c>'
    if t is int:
        if kind == "bool" and v in (0, 1):
            return f'<c r="{ref}"{s if v else s_false} t="b"><v>{v}</v></c>'
        if kind == "text" or abs(v) >= BIG_INT:
            return _str_xml(ref, s_text, str(v))
        return f'<c r="{ref}"{s}><v>{v}</v></c>'
    if isinstance(v, np.generic):
        return _cell_xml(ref, v.item(), kind, a)
    if v is pd.NaT:
        return f'<c r="{ref}"{s_na}/>' if s_na is not None else ""
    if isinstance(v, datetime | date):
        if isinstance(v, pd.Timestamp):
            v = v.to_pydatetime()
        return f'<c r="{ref}"{s_date}><v>{number_text(excel_serial(v))}</v></c>'
    if isinstance(v, Decimal | Fraction):
        return _cell_xml(ref, float(v), kind, a)
    return _cell_xml(ref, as_text(v), kind, a)


# --------------------------------------------------------------------------- streams


def _values(block: pd.DataFrame, j: int) -> list:
    return block.iloc[:, j].to_numpy(dtype=object, na_value=None).tolist()


class _ApiStream:
    """Writes through XlsxWriter's public cell API (fallback path)."""

    fast = False

    def __init__(self, ws):
        self.ws = ws

    def cell(self, r: int, c: int, v: Any, kind: str | None, f: ColumnFormats) -> None:
        ws = self.ws
        t = type(v)
        if t is float:
            if v != v:
                if f.na is not None:
                    ws.write_blank(r, c, None, f.na)
            elif v == math.inf or v == -math.inf:
                self._string(r, c, "inf" if v > 0 else "-inf", f.base)
            elif kind == "bool" and v in (0.0, 1.0):
                ws.write_boolean(r, c, bool(v), f.base if v or f.false is None else f.false)
            elif kind == "text":
                self._string(r, c, repr(v), f.text)
            else:
                ws.write_number(r, c, v, f.base)
        elif t is str:
            if v == "":
                if f.na is not None:
                    ws.write_blank(r, c, None, f.na)
            else:
                self._string(r, c, _clip(v), f.text if kind == "text" else f.base)
        elif v is None:
            if f.na is not None:
                ws.write_blank(r, c, None, f.na)
        elif t is bool or t is np.bool_:
            if kind == "text":
                self._string(r, c, "TRUE" if v else "FALSE", f.text)
            else:
                ws.write_boolean(r, c, bool(v), f.base if v or f.false is None else f.false)
        elif t is int:
            if kind == "bool" and v in (0, 1):
                ws.write_boolean(r, c, bool(v), f.base if v or f.false is None else f.false)
            elif kind == "text" or abs(v) >= BIG_INT:
                self._string(r, c, str(v), f.text)
            else:
                ws.write_number(r, c, v, f.base)
        elif isinstance(v, np.generic):
            self.cell(r, c, v.item(), kind, f)
        elif v is pd.NaT:
            if f.na is not None:
                ws.write_blank(r, c, None, f.na)
        elif isinstance(v, datetime | date):
            if isinstance(v, pd.Timestamp):
                v = v.to_pydatetime()
            ws.write_datetime(r, c, v, f.date)
        elif isinstance(v, Decimal | Fraction):
            self.cell(r, c, float(v), kind, f)
        else:
            self.cell(r, c, as_text(v), kind, f)

    def _string(self, r: int, c: int, text: str, fmt) -> None:
        if _RICH.match(text):
            text += "\u200b"   # XlsxWriter would write it as raw XML
        self.ws.write_string(r, c, text, fmt)

    def row(self, r: int, cells: list[tuple[int, Any, str | None, ColumnFormats]],
            height: float | None = None) -> None:
        """Write one row of cells ``(column, value, kind, formats)``, optionally with a height in points."""
        for _, _, _, f in cells:
            f.attrs()   # register formats in the same order as the fast path
        if height is not None:
            self.ws.set_row(r, height)
        for c, v, kind, f in cells:
            self.cell(r, c, v, kind, f)

    def frame(self, top: int, df: pd.DataFrame, kinds: list, fmts: list[ColumnFormats], chunk: int) -> None:
        """Write the rows of ``df`` starting at row ``top`` (no header)."""
        ncol = df.shape[1]
        for f in fmts:
            f.attrs()
        r = top
        for start in range(0, len(df), chunk):
            block = df.iloc[start:start + chunk]
            cols = [_values(block, j) for j in range(ncol)]
            for row in zip(*cols, strict=True):
                for j in range(ncol):
                    self.cell(r, j, row[j], kinds[j], fmts[j])
                r += 1


class _FastStream(_ApiStream):
    """Writes rows of XML straight into the worksheet's constant_memory row file."""

    fast = True

    def _begin(self, first: int) -> None:
        # XlsxWriter buffers the row it is filling; write it out before our rows.
        self.ws._write_single_row(first)

    def _end(self, last: int, rows_cols: tuple | None) -> None:
        ws = self.ws
        if rows_cols is not None:
            r0, r1, c0, c1 = rows_cols
            ws._check_dimensions(r0, c0)
            ws._check_dimensions(r1, c1)
        ws.previous_row = last

    def row(self, r: int, cells: list[tuple[int, Any, str | None, ColumnFormats]],
            height: float | None = None) -> None:
        """Write one row of cells ``(column, value, kind, formats)``, optionally with a height in points."""
        ws = self.ws
        attrs_of = [f.attrs() for _, _, _, f in cells]   # formats get their index before the flush, as in the API path
        self._begin(r)
        rn = str(r + 1)
        parts = []
        c0 = c1 = None
        for (c, v, kind, _), a in zip(cells, attrs_of, strict=True):
            x = _cell_xml(xl_col_to_name(c) + rn, v, kind, a)
            if x:
                parts.append(x)
                c0 = c if c0 is None else min(c0, c)
                c1 = c if c1 is None else max(c1, c)
        attrs = ""
        if height is not None:
            px = int(height * 4.0 / 3.0 + 0.5)
            if px != ws.default_row_height:
                attrs = f' ht="{px * 0.75:.16g}" customHeight="1"'
            # as set_row() does: charts anchored below this row are placed by the row heights
            ws.row_sizes[r] = [px, False]
        if parts:
            ws.fh.write(f'<row r="{rn}"{attrs}>{"".join(parts)}</row>')
        elif attrs:
            ws.fh.write(f'<row r="{rn}"{attrs}/>')
        self._end(r, (r, r, c0, c1) if parts else None)

    def frame(self, top: int, df: pd.DataFrame, kinds: list, fmts: list[ColumnFormats], chunk: int) -> None:
        """Write the rows of ``df`` starting at row ``top`` (no header), a chunk of rows at a time."""
        if pa is not None and ARROW_ROWS and df.shape[1]:
            return self._frame_arrow(top, df, kinds, fmts, chunk)
        ws = self.ws
        ncol = df.shape[1]
        letters = [xl_col_to_name(j) for j in range(ncol)]
        attrs = [f.attrs() for f in fmts]
        for start in range(0, len(df), chunk):
            block = df.iloc[start:start + chunk]
            r0 = top + start
            m = len(block)
            rns = [str(r + 1) for r in range(r0, r0 + m)]
            cols = [self._column(block.iloc[:, j], kinds[j], attrs[j], letters[j], rns) for j in range(ncol)]
            self._begin(r0)
            used = [j for j in range(ncol) if any(cols[j])]
            out = []
            first = last = None
            for i, (rn, cells) in enumerate(zip(rns, zip(*cols, strict=True), strict=True)):
                body = "".join(cells)
                if body:
                    out.append(f'<row r="{rn}">{body}</row>')
                    if first is None:
                        first = i
                    last = i
            ws.fh.write("".join(out))
            self._end(r0 + m - 1, (r0 + first, r0 + last, used[0], used[-1]) if out else None)

    def _frame_arrow(self, top: int, df: pd.DataFrame, kinds: list, fmts: list[ColumnFormats], chunk: int) -> None:
        """:meth:`frame` with the cells of each column built by :func:`_arrow_cells`."""
        ncol = df.shape[1]
        letters = [xl_col_to_name(j) for j in range(ncol)]
        attrs = [f.attrs() for f in fmts]
        columns = [df.iloc[:, j] for j in range(ncol)]   # sliced per chunk: slicing the frame would copy it
        for start in range(0, len(df), chunk):
            stop = min(start + chunk, len(df))
            r0 = top + start
            rn = pc.cast(pa.array(np.arange(r0 + 1, top + stop + 1, dtype=np.int64)), pa.string())
            pieces: list = ['<row r="', rn, '">']
            sparse = {}   # column -> its cells, where some rows have none
            for j in range(ncol):
                s = columns[j].iloc[start:stop]
                out = _arrow_cells(s, kinds[j], attrs[j], letters[j], rn)
                if out is None:
                    out = [pa.array(self._column(s, kinds[j], attrs[j], letters[j], rn.to_pylist()), pa.string())], False
                col, dense = out
                if not dense:
                    sparse[j] = col[0]
                pieces += col
            pieces.append("</row>")
            merged: list = []
            for p in pieces:   # adjacent constant strings as one piece
                if isinstance(p, str) and merged and isinstance(merged[-1], str):
                    merged[-1] += p
                else:
                    merged.append(p)
            rows = _join(*merged)
            used = [j for j in range(ncol) if j not in sparse or pc.max(pc.binary_length(sparse[j])).as_py()]
            if len(sparse) == ncol:   # rows whose every cell is missing are not written
                size = sum(pc.binary_length(c).to_numpy(zero_copy_only=False) for c in sparse.values())
                written = np.flatnonzero(size)
                if len(written) < len(rows):
                    rows = rows.take(pa.array(written))
            else:
                written = np.array([0, stop - start - 1])
            self._begin(r0)
            if len(written):
                self._write_bytes(rows)
                self._end(top + stop - 1, (r0 + written[0], r0 + written[-1], used[0], used[-1]))
            else:
                self._end(top + stop - 1, None)

    def _write_bytes(self, rows) -> None:
        """Append the UTF-8 bytes of an Arrow string array, all strings one after another, to the row file."""
        if isinstance(rows, pa.ChunkedArray):
            rows = rows.combine_chunks()
        data = _data_bytes(rows)
        fh = self.ws.fh
        if hasattr(fh, "buffer"):   # the text file XlsxWriter opened: flush its text layer, then add the bytes
            fh.flush()
            fh.buffer.write(data)
        else:
            fh.write(bytes(data).decode("utf-8"))

    @staticmethod
    def _column(s: pd.Series, kind: str | None, a: tuple, letter: str, rns: list[str]) -> list[str]:
        """The XML of every cell of one column of a chunk ("" where no cell is written)."""
        if kind not in ("bool", "text"):
            s = _whole_numbers_as_floats(s)
        dt = s.dtype
        numeric = (isinstance(dt, np.dtype) and dt.kind in "fiu") and kind not in ("bool", "text")
        if numeric and dt.kind in "iu":
            arr = s.to_numpy()
            if len(arr) and (arr.max() >= BIG_INT or (dt.kind == "i" and arr.min() <= -BIG_INT)):
                numeric = False
        if numeric:
            sa = a[0]
            if dt.kind == "f" and not np.isfinite(s.to_numpy()).all():
                return [f'<c r="{letter}{rn}"{sa}><v>{number_text(v)}</v></c>' if v - v == 0
                        else _cell_xml(letter + rn, v, kind, a) for v, rn in zip(s.tolist(), rns, strict=True)]
            return [f'<c r="{letter}{rn}"{sa}><v>{number_text(v)}</v></c>' for v, rn in zip(s.tolist(), rns, strict=True)]
        if dt == np.bool_ and kind != "text":
            t, f = f'{a[0]} t="b"><v>1</v></c>', f'{a[1]} t="b"><v>0</v></c>'
            return [f'<c r="{letter}{rn}"{t if v else f}' for v, rn in zip(s.tolist(), rns, strict=True)]
        vals = s.to_numpy(dtype=object, na_value=None).tolist()
        if kind != "text" and vals and all(v is None or type(v) is bool or type(v) is np.bool_ for v in vals):
            # booleans with missing values (the criteria audit): the markup _cell_xml gives, built directly
            t, f = f'{a[0]} t="b"><v>1</v></c>', f'{a[1]} t="b"><v>0</v></c>'
            na = a[2]
            return [(f'<c r="{letter}{rn}"{na}/>' if na is not None else "") if v is None
                    else f'<c r="{letter}{rn}"{t if v else f}' for v, rn in zip(vals, rns, strict=True)]
        if kind != "bool" and _plain_strings(s, vals):
            # text that needs no escaping, clipping or xml:space: the markup _str_xml would give, built directly
            sa = a[4] if kind == "text" else a[0]
            empty = f"{a[2]}/>" if a[2] is not None else None
            if empty is None:
                return [f'<c r="{letter}{rn}"{sa} t="inlineStr"><is><t>{v}</t></is></c>' if v else ""
                        for v, rn in zip(vals, rns, strict=True)]
            return [f'<c r="{letter}{rn}"{sa} t="inlineStr"><is><t>{v}</t></is></c>' if v
                    else f'<c r="{letter}{rn}"{empty}' for v, rn in zip(vals, rns, strict=True)]
        return [_cell_xml(letter + rn, v, kind, a) for v, rn in zip(vals, rns, strict=True)]


# --------------------------------------------------------------------------- whole columns with pyarrow
#
# The per-cell list comprehensions above cost ~0.5-1 µs a cell in Python; a report of a national
# panel has ~2 million cells. Here each column of a chunk becomes one Arrow string array of cell
# XML, built by C++ kernels (number casts, substring replacement, element-wise joins), and the
# rows are joined the same way and written as one buffer. The markup is byte for byte what the
# per-cell path writes (the tests compare the two); columns these kernels do not cover
# (mixed objects, dates, text that needs control characters escaped or clipping) still go
# cell by cell.

_SPACES = None


_CTRL_BYTES = bytes([*range(0x09), *range(0x0B, 0x20)])   # what _CTRL matches, as UTF-8 bytes


def _spaces() -> str:
    """Characters ``str.isspace`` accepts (the ``xml:space="preserve"`` rule of :func:`_str_xml`)."""
    global _SPACES
    if _SPACES is None:   # the last one is U+3000
        _SPACES = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
    return _SPACES


def _arrow(values, type_):
    """One contiguous Arrow array of a Series or numpy array (pandas may hold Arrow data in chunks)."""
    out = pa.array(values, type=type_, from_pandas=True)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _join(*parts):
    """Element-wise concatenation of Arrow string arrays and Python strings."""
    return pc.binary_join_element_wise(*parts, "")


def _arrow_cells(s: pd.Series, kind: str | None, a: tuple, letter: str, rn) -> tuple[list, bool] | None:
    """The XML of every cell of one column of a chunk, as pieces to join element-wise.

    Returns ``(pieces, dense)``: Python strings and Arrow string arrays whose element-wise
    concatenation is each row's cell ("" where no cell), and whether every row has a cell.
    A dense column is left in pieces so that the whole row is joined in one pass (joining
    each column first and the row after copies every byte twice: ~2× slower). Same markup
    as :meth:`_FastStream._column`; None for a column it does not cover, which is then
    rendered cell by cell.
    """
    sa, s_false, s_na, _, s_text = a
    ref = f'<c r="{letter}'
    none = "" if s_na is None else _join(ref, rn, f'"{s_na}/>')   # a missing value's cell
    if kind not in ("bool", "text"):
        s = _whole_numbers_as_floats(s)
    dt = s.dtype
    if isinstance(dt, np.dtype) and dt.kind in "fiu" and kind not in ("bool", "text"):
        arr = s.to_numpy()
        if dt.kind in "iu":
            if len(arr) and (arr.max() >= BIG_INT or (dt.kind == "i" and arr.min() <= -BIG_INT)):
                return None   # beyond 2**53 integers are written as text, cell by cell
            text = pc.cast(pa.array(arr), pa.string())
        else:
            # shortest round-trip digits, as number_text() writes them (a test checks the two agree)
            text = pc.cast(pa.array(arr, pa.float64()), pa.string())
        if dt.kind != "f" or np.isfinite(arr).all():
            return [ref, rn, f'"{sa}><v>', text, "</v></c>"], True
        cells = _join(ref, rn, f'"{sa}><v>', text, "</v></c>")
        nan, inf = np.isnan(arr), np.isinf(arr)
        if nan.any():
            cells = pc.if_else(pa.array(nan), none, cells)
        if inf.any():   # written as the text "inf" / "-inf"
            sign = pc.if_else(pa.array(arr > 0), "inf", "-inf")
            cells = pc.if_else(pa.array(inf), _join(ref, rn, f'"{sa} t="inlineStr"><is><t>', sign, "</t></is></c>"),
                               cells)
        return [cells], False
    if kind == "text":
        inferred = "string" if isinstance(dt, pd.StringDtype) else pd.api.types.infer_dtype(s, skipna=True)
        if inferred not in ("string", "empty"):
            return None
    elif dt == np.bool_ or (not isinstance(dt, pd.StringDtype)
                            and pd.api.types.infer_dtype(s, skipna=True) == "boolean"):
        flags = _arrow(s, pa.bool_())
        if not flags.null_count:
            return [ref, rn, '"', pc.if_else(flags, f'{sa} t="b"><v>1', f'{s_false} t="b"><v>0'), "</v></c>"], True
        cells = pc.if_else(flags, _join(ref, rn, f'"{sa} t="b"><v>1</v></c>'),
                           _join(ref, rn, f'"{s_false} t="b"><v>0</v></c>'))
        return [pc.fill_null(cells, none)], False
    elif kind == "bool":
        return None
    elif not (isinstance(dt, pd.StringDtype)
              or (dt == np.dtype(object) and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"))):
        return None
    text = _arrow(s, pa.large_string()).cast(pa.string())
    n = len(text)
    if text.null_count == n:
        return [none if s_na is not None else pa.array([""] * n, pa.string())], False
    nbytes = pc.binary_length(text)
    # the checks of _str_xml on the bytes of all strings at once (fast C scans), not string by string
    data = bytes(_data_bytes(text))
    if ((pc.max(nbytes).as_py() > MAX_STRING // 2 and pc.max(pc.utf8_length(text)).as_py() > MAX_STRING // 2)
            or len(data.translate(None, _CTRL_BYTES)) != len(data) or b"\xef\xbf\xbe" in data or b"\xef\xbf\xbf" in data):
        return None   # clipping or control characters: cell by cell (rare)
    if b"_x" in data:
        text = pc.replace_substring_regex(text, "(_x[0-9a-fA-F]{4}_)", "_x005F\\1")
    # xml:space="preserve" where trimming the characters str.isspace() accepts shortens the text
    preserve = pc.fill_null(pc.not_equal(pc.binary_length(pc.utf8_trim(text, _spaces())), pc.binary_length(text)),
                            False)
    opening = pc.if_else(preserve, '<t xml:space="preserve">', "<t>") if pc.any(preserve).as_py() else "<t>"
    if b"&" in data or b"<" in data or b">" in data:
        for ch, esc in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            text = pc.replace_substring(text, ch, esc)
    pieces = [ref, rn, f'"{s_text if kind == "text" else sa} t="inlineStr"><is>', opening, text, "</t></is></c>"]
    if not text.null_count and pc.min(nbytes).as_py() > 0:
        return pieces, True
    return [pc.if_else(pc.fill_null(pc.equal(nbytes, 0), True), none, _join(*pieces))], False


def _data_bytes(strings) -> memoryview | bytes:
    """The UTF-8 bytes of an Arrow string array's values, one after another (missing values add none)."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=len(strings) + 1, offset=strings.offset * 4)
    data = strings.buffers()[2]
    if data is None:
        return b""
    return memoryview(data)[offsets[0]:offsets[-1]]


def _whole_numbers_as_floats(s: pd.Series) -> pd.Series:
    """Nullable integers (``Int64``, or Python ints and missing values in an object column) as float64.

    Below 2**53 a whole number and its float give the same cell (``{:.16G}``), and a missing
    value becomes NaN, which is written as the missing value was: so the column takes the
    numeric path instead of being rendered cell by cell. Anything else is returned unchanged.
    """
    dt = s.dtype
    if isinstance(dt, np.dtype):
        if dt.kind != "O" or pd.api.types.infer_dtype(s, skipna=True) != "integer":
            return s
    elif not pd.api.types.is_integer_dtype(dt):
        return s
    arr = s.to_numpy(dtype=float, na_value=np.nan)
    finite = arr[~np.isnan(arr)]
    if len(finite) and np.abs(finite).max() >= BIG_INT:
        return s
    return pd.Series(arr, index=s.index)


def _plain_strings(s: pd.Series, vals: list) -> bool:
    """Whether every value is a string (or missing) that :func:`_str_xml` would write unchanged.

    That is: no ``&``, ``<``, ``>``, no ``_xHHHH_``-like text, nothing unprintable, no space at
    either end and short enough not to be clipped. Checked on the joined column, not cell by cell.
    """
    if isinstance(s.dtype, pd.StringDtype):
        texts = [v for v in vals if v is not None]       # a string column holds only str and missing values
    elif s.dtype == object:
        texts = [v for v in vals if v is not None]
        if not all(type(v) is str for v in texts):
            return False
    else:
        return False
    if not texts:
        return True
    if max(map(len, texts)) > MAX_STRING // 2:
        return False
    joined = " ".join(texts)
    if "&" in joined or "<" in joined or ">" in joined or "_x" in joined:
        return False
    # printable text has no whitespace but the ASCII space (other spaces are Unicode separators, not printable)
    if not joined.isprintable():
        return False
    if " " not in joined:
        return True
    ends = "\x00".join(texts)
    return not (ends[0] == " " or ends[-1] == " " or " \x00" in ends or "\x00 " in ends)


def make_stream(ws):
    """The row writer for a worksheet: fast when possible, XlsxWriter's public API otherwise.

    Parameters
    ----------
    ws : xlsxwriter.worksheet.Worksheet
        A worksheet of a workbook opened with ``constant_memory``.

    Returns
    -------
    object
        An object with ``row(r, cells, height=None)`` and ``frame(top, df, kinds, fmts, chunk)``.
    """
    if FAST_ROWS and getattr(ws, "constant_memory", False) and all(hasattr(ws, n) for n in _INTERNALS):
        return _FastStream(ws)
    return _ApiStream(ws)
