"""Read a dataset from a folder of CSV/Parquet files or from one Excel workbook.

``read_dataset(path)`` returns a validated :class:`~finsupport.data.dataset.Dataset`.
Everything it repairs, skips or converts is recorded in ``data.quality`` (stage
``read``) and ``data.provenance``; every problem it cannot repair is a
:class:`~finsupport.errors.DataError` naming the table, file, column and source rows
with a fix. See ``docs/bad_inputs.md`` for the catalogue of malformed inputs.

Row labels: each table's index holds the source row number — the line of a CSV file
on which the record starts, or the spreadsheet row — with the header on row 1; for
Parquet files the record number (first record = 1). Validation messages and the
quality log name rows by these labels.
"""

from __future__ import annotations

import csv
import datetime as _dt
import difflib
import functools
import hashlib
import io
import math
import mmap
import numbers
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..progress import current_task
from .arrow_text import blank_text, edge_space, empty_cells, mark_clean_text, non_ascii, text_array
from .csmar import merge_on_key, subsidy_items
from .dataset import Dataset
from .mapping import (
    DERIVED_COLUMNS,
    HELPER_COLUMNS,
    PRESETS,
    SYNONYMS,
    TABLE_ALIASES,
    TABLE_SYNONYMS,
    Resolved,
    column_kind,
    header_key,
    is_foreign_currency,
    nfkc,
    normalise_mapping,
    normalise_units,
    parse_unit,
    resolve_header,
    split_header,
    table_for_name,
)
from .periods import parse_periods
from .quality import QualityLog
from .safety import Limits, open_workbook, sniff, workbook_error
from .spec import TABLE_NAMES, TABLES
from .validate import (
    _COPY_ON_WRITE,
    _FALSE,
    _TRUE,
    MISSING_MARKERS,
    _numeric,
    exclude_interim,
    to_float,
)
from .wide import reshape_wide

__all__ = ["read_dataset", "REQUIRED_COLUMNS", "TABLE_FILE_SUFFIXES"]

STAGE = "read"
#: Columns without which a table cannot be used at all.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "firms": ("firm_id",),
    "financials": ("firm_id", "year"),
    "grants": ("firm_id", "year", "amount"),
    "equity": ("firm_id", "year", "amount"),
    "designations": ("firm_id", "tier", "year"),
    "land": ("firm_id", "year", "area_m2", "price_paid"),
    "land_benchmarks": ("place", "year", "price_per_m2"),
}
#: File suffixes read in a folder of tables.
TABLE_FILE_SUFFIXES = (".csv", ".parquet", ".pq")
_NUMERIC_KINDS = ("amount", "number", "count", "year")
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_YEARLIKE_RE = re.compile(r"^\s*\d{4}(?:\s*年)?(?:[-/.年]\s*\d{1,2}(?:[-/.月]\s*\d{1,2}\s*日?)?)?\s*$")
_FOOTER_RE = re.compile(r"^\s*(数据来源|资料来源|来源[:：]|source\s*:|data\s+source)", re.I)
_EXCHANGE_RE = re.compile(r"^([0-9A-Za-z]+)\.(SZ|SH|BJ|HK|SS|NQ|OC|SZE|SHE)$", re.I)
#: statement-type columns (CSMAR Typrep / StateTypeCode, Chinese 报表类型) and their values
_STATEMENT_TYPE_KEYS = {"typrep", "statetypecode", "statetype", "报表类型"}
_PARENT_STATEMENT = {"B", "2", "母公司", "母公司报表"}
_CSMAR_MISSING_CODES = (-95.0, -97.0, -99.0)
_CONSOLIDATED = {"A", "1", "合并", "合并报表"}
_MAX_HEADER_ROWS = 10


# -- options ----------------------------------------------------------------------
@dataclass
class _Options:
    mapping: dict
    preset: str | None
    units: dict
    sheets: dict[str, str]
    header_rows: dict[str | None, int]
    limits: Limits


def _options(mapping, preset, units, sheets, header_rows, limits) -> _Options:
    if preset in (None, ""):
        preset = None
    elif not isinstance(preset, str) or preset.strip().lower() not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets are {', '.join(PRESETS)}")
    else:
        preset = preset.strip().lower()
    sh: dict[str, str] = {}
    if sheets is not None:
        if not isinstance(sheets, Mapping):
            raise ConfigError("sheets must be a dict such as {'financials': 'Sheet1'} (table → sheet or file name)")
        for t, name in sheets.items():
            tt = str(t).strip().lower()
            if tt not in TABLES:
                raise ConfigError(f"sheets names an unknown table {t!r}; tables are {', '.join(TABLE_NAMES)}")
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"sheets['{tt}'] must be a sheet or file name, got {name!r}")
            sh[tt] = name
    hr: dict[str | None, int] = {}
    if header_rows is not None:
        items = header_rows.items() if isinstance(header_rows, Mapping) else [(None, header_rows)]
        for t, n in items:
            tt = None if t is None else str(t).strip().lower()
            if tt is not None and tt not in TABLES:
                raise ConfigError(f"header_rows names an unknown table {t!r}; tables are {', '.join(TABLE_NAMES)}")
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= _MAX_HEADER_ROWS:
                raise ConfigError(f"header_rows must be a whole number from 1 to {_MAX_HEADER_ROWS}, got {n!r}")
            hr[tt] = n
    if limits is not None and not isinstance(limits, Limits):
        raise ConfigError("limits must be a finsupport.data.safety.Limits")
    return _Options(normalise_mapping(mapping), preset, normalise_units(units), sh, hr, limits or Limits())


# -- sources ------------------------------------------------------------------------
@dataclass
class _Source:
    """One table's raw content: a grid of cells (CSV, Excel) or a typed frame (Parquet)."""

    table: str
    file: str
    fmt: str  # csv | xlsx | parquet
    sheet: str | None = None
    rows: list[tuple[int, list]] | None = None  # (source row number, cells)
    frame: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}, sheet '{self.sheet}'" if self.sheet else self.file


def _problem(table: str, message: str, hint: str, *, column: str = "", rows=None) -> dict:
    p = {"table": table, "message": message, "hint": hint}
    if column:
        p["column"] = column
    if rows:
        p["rows"] = list(rows)
    return p


def _file_info(path: Path) -> dict:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return {"sha256": h.hexdigest(), "size": size}


_PART_RE = re.compile(r"^(?P<table>" + "|".join(sorted((re.escape(t) for t in TABLE_NAMES), key=len, reverse=True))
                      + r")(?:[\s_\-.(]+[\w\s()\-.]*|\d+)$", re.I)


def _part_of(name: str, wanted: dict) -> str | None:
    """The table a data file's name makes it look part of (``grants_2019.csv``, ``grants (2).csv``),
    unless the user named another file for that table in ``sheets=``; None for anything else."""
    path = Path(name)
    if path.suffix.lower() not in TABLE_FILE_SUFFIXES or name.startswith("~$"):
        return None
    m = _PART_RE.match(path.stem.strip())
    if m is None:
        return None
    t = m.group("table").lower()
    return None if t in wanted else t


def _file_bytes(path: Path, table: str) -> bytes:
    """The file's bytes (read once: parsed and hashed from them)."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(problems=[_problem(table, f"cannot read {path.name} ({e.strerror or e})",
                                           "check the file's permissions")]) from None


def _mapped_bytes(path: Path, table: str) -> bytes | mmap.mmap:
    """The file's bytes mapped into memory: the parser and the hash read the same pages as they touch
    them, with no copy of the whole file first (an empty file, or one that cannot be mapped, is
    read as bytes). Both support slicing into bytes, ``find``, ``len`` and the buffer protocol."""
    try:
        with open(path, "rb") as fh:
            if fh.seek(0, 2) > 0:
                return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        pass
    return _file_bytes(path, table)   # (which names the file and the reason it cannot be read)


def _stamp(path: Path) -> tuple[int, int]:
    """The file's size and time of last change (a file that cannot be stat'ed fails when it is read)."""
    try:
        st = path.stat()
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def _unchanged(path: Path, stamp: tuple[int, int], table: str) -> None:
    """A file rewritten while it was read (its bytes mapped) is an error, not a table of mixed bytes."""
    if _stamp(path) != stamp:
        raise DataError(problems=[_problem(table, f"{path.name} changed while it was read",
                                           "read it again once the program writing it has finished")])


def _newlines(data: bytes | mmap.mmap) -> int:
    """The number of line feeds in ``data`` (one pass over its bytes; a mapped file has no ``count``)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10)) if len(data) else 0


class _Hashing:
    """The sha256 of a file's bytes, computed on a second thread while they are parsed (hashing and
    parsing both let go of the interpreter lock); :meth:`info` waits for it."""

    def __init__(self, data) -> None:
        self._digest = hashlib.sha256()
        self._size = len(data)
        self._thread = threading.Thread(target=self._digest.update, args=(memoryview(data),))
        self._thread.start()

    def info(self) -> dict:
        self._thread.join()
        return {"sha256": self._digest.hexdigest(), "size": self._size}


def _expected_files() -> str:
    return ", ".join(f"{t}.csv" for t in TABLE_NAMES)


def _folder_sources(folder: Path, opts: _Options, prov: dict,
                    log: QualityLog) -> tuple[list[_Source], list[dict]]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    wanted = {t: name for t, name in opts.sheets.items()}
    preset = PRESETS.get(opts.preset) if opts.preset else None
    found: dict[str, list[Path]] = {}
    survey: list[Path] = []
    ignored = []
    for p in files:
        if p.suffix.lower() not in TABLE_FILE_SUFFIXES + (".xlsx",) or p.name.startswith("~$"):
            continue
        table = None
        for t, name in wanted.items():
            if p.name == name or p.stem == name:
                table = t
        if table is None:
            table = table_for_name(p.stem, opts.preset)
            if table in wanted:  # the user chose another file for this table
                table = None
        if table is None and preset is not None and preset.splits:
            survey.append(p)  # a file of a survey feeds several tables
            continue
        if table is None:
            ignored.append(p.name)
            continue
        found.setdefault(table, []).append(p)
    prov["ignored_files"] = ignored
    problems = []
    # a file or folder named like a part of a table (grants_2019.csv, "grants 2.csv", grants/) is not
    # read: say so rather than measure without it
    if preset is None:
        parts = [(n, _part_of(n, wanted)) for n in ignored]
        parts += [(q.name + "/", q.name.lower() if q.name.lower() in TABLE_NAMES and q.name.lower() not in wanted
                   else _part_of(q.name + ".csv", wanted)) for q in sorted(folder.iterdir()) if q.is_dir()]
        for name, t in parts:
            if t is None:
                continue
            read = found[t][0].name if t in found else None
            how = ("engine='dask' reads a folder of Parquet parts in the contract's layout" if name.endswith("/")
                   else "a folder holds one file per table")
            problems.append(_problem(
                t, f"'{name}' looks like a part of the {t} table, but it is not read"
                   + (f" (only {read} is)" if read else "") + ", so its rows would be left out",
                f"put every {t} row into one file named {t}.csv (or {t}.parquet), or move '{name}' out of the "
                f"folder if it is not {t} data ({how})"))
    if preset is None:  # a vendor's download read without its preset: say so rather than skip the files
        for name in PRESETS:
            vendor = [f for f in ignored if PRESETS[name].files and table_for_name(Path(f).stem, name)]
            lost = sorted({table_for_name(Path(f).stem, name) for f in vendor} - set(found))
            if lost:
                problems.append(_problem(
                    lost[0], f"files named like {name.upper()} downloads ({', '.join(vendor[:6])}) are not read "
                             f"without the {name!r} preset, and no {', '.join(lost)} table was found",
                    f"read them with preset='{name}' (command line: --preset {name}; config: [data] preset = "
                    f"\"{name}\")"))
    for t, name in wanted.items():
        if t not in found:
            problems.append(_problem(t, f"file '{name}' given in sheets= is not in the folder",
                                     f"files present: {', '.join(p.name for p in files) or 'none'}"))
    for t, ps in found.items():
        vendor = preset is not None and all(table_for_name(p.stem) is None for p in ps)
        if len(ps) > 1 and not vendor:
            problems.append(_problem(t, f"more than one file for the table ({', '.join(p.name for p in ps)})",
                                     "keep one file per table"
                                     + ("" if preset else " (a vendor's own file names, such as CSMAR's "
                                        "FS_Combas and FS_Comins, are merged with preset='csmar')")))
    if problems:
        raise DataError(problems=problems)
    for p in survey:
        for t in preset.splits:
            found.setdefault(t, []).append(p)
    if not found:
        books = [p.name for p in files if p.suffix.lower() in (".xlsx", ".xlsm")]
        other = [p.name for p in files if p.suffix.lower() in (".dta", ".sav", ".sas7bdat", ".xls", ".rds")]
        hint = (f"{', '.join(other)}: Stata/SPSS/SAS/R and old Excel files are not read — export them as CSV; "
                if other else "")
        hint += (f"name the files after the tables ({_expected_files()}; .parquet also accepted)"
                + (f"; to read the workbook {books[0]!r} pass its path instead of the folder" if books else ""))
        raise DataError(problems=[_problem(folder.name or str(folder), "no table files in the folder (found: "
                                           + (", ".join(p.name for p in files[:12]) or "nothing") + ")", hint)])
    out = []
    grids: dict[Path, _Source] = {}
    files = {p for ps in found.values() for p in ps}
    sources = sum(len(ps) for ps in found.values())
    task = current_task()  # a run's "read" stage: each file as it is parsed, then each table built
    task.expect(len(files) + sources, "files and tables")
    for t in TABLE_NAMES:
        for p in found.get(t, []):
            try:  # collect the problems of every file before raising
                if p not in grids:
                    task.note(f"parsing {p.name}, {p.stat().st_size / 1e6:,.1f} MB")
                    suffix = p.suffix.lower()
                    # a CSV or Parquet file is read once, and hashed from the bytes read
                    info = {} if suffix in (".csv", ".parquet", ".pq") else _file_info(p)
                    # plain columns parsed as values straight away, for a table read from one file:
                    # not for a survey file (its columns feed several tables), nor for the files of
                    # one table that are merged or stacked (their rows are compared as text)
                    typed = (None if p in survey or len(found[t]) > 1
                             else functools.partial(_typed_columns, t, opts))
                    grids[p] = (_read_csv(p, t, info, typed=typed) if suffix == ".csv" else
                                _read_xlsx_table(p, t, opts, log, prov, info) if suffix == ".xlsx" else
                                _read_parquet(p, t, info))
                    task.advance(1)
                g = grids[p]
                src = _Source(t, g.file, g.fmt, sheet=g.sheet, rows=g.rows, frame=g.frame, meta=dict(g.meta))
                src.meta["multi"] = len(found[t]) > 1
                src.meta["split"] = p in survey
                out.append(src)
            except DataError as e:
                problems.extend(e.problems)
    return out, problems


# -- CSV ---------------------------------------------------------------------------
def _decode(data: bytes, table: str, name: str) -> tuple[str, str]:
    kind = sniff(data[:8192])
    if kind in ("zip", "ole2", "parquet", "binary"):
        what = {"zip": "a zip archive (an Excel .xlsx workbook?)", "ole2": "an old Excel .xls file",
                "parquet": "a Parquet file", "binary": "a binary file"}[kind]
        hint = {"zip": "give the workbook its .xlsx name and pass its path to read_dataset",
                "ole2": "open it in Excel and save as .xlsx or CSV (UTF-8)",
                "parquet": f"rename it to {table}.parquet"}.get(kind, "export the table again as CSV (UTF-8)")
        raise DataError(problems=[_problem(table, f"{name} is not a CSV file: it is {what}", hint)])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise DataError(problems=[_problem(table, f"{name}: damaged UTF-16 text",
                                               "save the file again as CSV UTF-8")]) from None
    try:
        return data.decode("utf-8-sig"), ("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as e:
        first = e
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        line = data[: first.start].count(b"\n") + 1
        raise DataError(problems=[_problem(
            table, f"{name}: the text encoding is neither UTF-8 nor GB18030 (first undecodable byte on line {line})",
            "save the file as 'CSV UTF-8' (Excel: Save As → CSV UTF-8)", rows=[line])]) from None


def _delimiter(text: str) -> str:
    for line in text[:65536].splitlines():
        if line.strip():
            counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
            if counts[","]:
                return ","
            best = max(counts, key=counts.get)
            return best if counts[best] else ","
    return ","


def _read_csv(path: Path, table: str, info: dict, *, typed: Callable[[list[str]], dict[int, str]] | None = None) -> _Source:
    name = path.name
    stamp = _stamp(path)
    data = _mapped_bytes(path, table)
    if not data[:65536].strip(b" \t\r\n\xef\xbb\xbf") and not data[:].strip(b" \t\r\n\xef\xbb\xbf"):
        raise DataError(problems=[_problem(table, f"{name} is empty (no header, no rows)",
                                           f"export the table again, or remove {name} if there is no {table} data")])
    hashed = _Hashing(data)
    try:
        frame = _utf8_frame(data, table, name, typed=typed)
    finally:
        info = {**info, **hashed.info()}
    _unchanged(path, stamp, table)
    src = _Source(table, name, "csv", meta=dict(info))
    if frame is not None:  # the common case: UTF-8 bytes straight into pyarrow's parser
        frame, enc, delim = frame
        src.meta["encoding"] = enc
        src.meta["delimiter"] = delim
        src.meta["text_grid"] = True   # every cell read from text (the numbers too, as the text path would)
        if isinstance(frame, _TypedCSV):
            src.frame = frame.body
            src.meta["typed"] = frame
        else:
            src.frame = frame
        return src
    # the general path decodes the whole file: its bytes copied, then the file checked once more,
    # so that the text decoded is the text hashed
    raw = data[:]
    _unchanged(path, stamp, table)
    text, enc = _decode(raw, table, name)
    src.meta["encoding"] = enc
    delim = _delimiter(text)
    src.meta["delimiter"] = delim
    frame = _csv_frame(text, delim)
    if frame is not None:  # pandas' C parser (or pyarrow's), one record per line
        src.frame = frame
        src.meta["text_grid"] = True
        return src
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    rows: list[tuple[int, list]] = []
    start = 1
    try:
        for rec in reader:
            rows.append((start, rec))
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(problems=[_problem(
            table, f"{name}: broken CSV quoting in the record starting on line {start} ({e})",
            "a field that contains the delimiter, a quote or a line break must be enclosed in double quotes, "
            "and a quote inside it doubled (\"\"); check that line in a text editor", rows=[start])]) from None
    src.rows = rows
    return src


def _utf8_frame(data: bytes | mmap.mmap, table: str, name: str, *, typed: Callable[[list[str]], dict[int, str]] | None = None
                ) -> tuple[pd.DataFrame | _TypedCSV, str, str] | None:
    """A UTF-8 file parsed from its bytes by pyarrow, without decoding it to Python text first.

    The same frame as ``_csv_frame(data.decode("utf-8-sig"), delimiter)`` — pyarrow checks that
    every cell is valid UTF-8 — or ``None`` for anything else (another encoding, a binary file,
    a file the record-by-record reader must judge), which then takes the general path.
    ``typed``: which columns of a header may be parsed as numbers (:func:`_typed_columns`); when
    the file is a plain table whose columns hold plain numbers, a :class:`_TypedCSV` instead."""
    if sniff(data[:8192]) != "text" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    bom = data[:3] == b"\xef\xbb\xbf"
    body = memoryview(data)[3:] if bom else memoryview(data)
    # the delimiter from the first lines (a character cut at the end of the prefix is ignored)
    delim = _delimiter(bytes(body[:65536]).decode("utf-8", errors="ignore"))
    d = delim.encode()
    quoted = data.find(b'"') >= 0
    if quoted and re.search(rb'[^\s' + re.escape(d) + rb']"[^"\s' + re.escape(d) + rb']', body):
        return None  # a quote inside an unquoted field: let the strict reader judge it
    # without quotes and carriage returns every line is one record: nothing to count
    lines = (None if not quoted and data.find(b"\r") < 0
             else _newlines(data) + (0 if data[-1:] == b"\n" else 1))
    if typed is not None:
        fast = _typed_csv(body, delim, typed, lines)
        if fast is not None:
            return fast, ("utf-8-sig" if bom else "utf-8"), delim
    df = _arrow_csv(body, delim)
    if df is None or (lines is not None and len(df) != lines):
        return None
    df.index = pd.RangeIndex(1, len(df) + 1)
    return df, ("utf-8-sig" if bom else "utf-8"), delim


def _csv_frame(text: str, delim: str) -> pd.DataFrame | None:
    """Every cell as text (``""`` when empty), row ``i`` being line ``i + 1``; ``None`` when the file
    needs the record-by-record reader: a quoted line break (records and lines differ), rows wider
    than the first line, or quoting the C parser reads differently from Python's strict reader."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if '"' in text and re.search(r'[^\s' + re.escape(delim) + r']"[^"\s' + re.escape(delim) + r']', text):
        return None  # a quote inside an unquoted field: let the strict reader judge it
    df = _arrow_csv(text, delim)
    if df is None:
        try:
            df = pd.read_csv(io.StringIO(text), sep=delim, header=None, dtype=str, keep_default_na=False,
                             na_filter=False, skip_blank_lines=False, engine="c", quoting=csv.QUOTE_MINIMAL,
                             doublequote=True)
        except (pd.errors.ParserError, ValueError):
            return None
    if len(df) != lines:
        return None
    df.index = pd.RangeIndex(1, len(df) + 1)
    return df


def _arrow_csv(text: str | memoryview, delim: str) -> pd.DataFrame | None:
    """pyarrow's multithreaded CSV parser, every cell as text (when pyarrow is installed, as with the
    ``[parquet]`` extra); None when it is absent, the file has rows wider than its first line or
    (UTF-8 bytes given) a cell that is not valid UTF-8."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    raw = isinstance(text, memoryview)
    if raw:
        head = text[:65536].tobytes()
        while b"\n" not in head and len(head) < len(text):  # a first line longer than the prefix
            head = text[: 2 * len(head)].tobytes()
        try:
            first_line = head[: head.find(b"\n") + 1 or len(head)].decode("utf-8")
        except UnicodeDecodeError:
            return None
    else:
        first_line = text[: text.find("\n") + 1 or len(text)]
    try:
        first = next(csv.reader(io.StringIO(first_line, newline=""), delimiter=delim), [])
    except csv.Error:  # a stray carriage return or quote: the record-by-record reader judges the file
        return None
    names = [f"c{j}" for j in range(max(len(first), 1))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(text)) if raw else io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, block_size=_block_size(len(text))),
            parse_options=pacsv.ParseOptions(delimiter=delim, ignore_empty_lines=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    df = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    df.columns = range(df.shape[1])
    return df


@dataclass
class _TypedCSV:
    """A CSV file whose header is its first line and whose plain columns pyarrow parsed as values.

    ``body``: the lines after the header (index: line numbers from 2), text columns as text
    (``""`` when empty); the ``numbers`` columns as float64 (numbers; every cell a plain finite
    number, parsed with the correctly rounded conversion the text path uses, ``pc.cast``), int64
    (years; every cell a whole number from 1900 to 2200) or bool (yes/no; every cell a spelling
    of yes or no that validation reads)."""

    header: list[str]
    body: pd.DataFrame
    #: the typed columns' own arrays, by position (new and writable: the tables keep them as they are;
    #: ``body[j].to_numpy()`` would be a read-only view under pandas' copy-on-write)
    arrays: dict[int, np.ndarray]

    @property
    def numbers(self) -> frozenset[int]:
        """The positions of the typed columns."""
        return frozenset(self.arrays)


_ARROW_COLUMN_ERROR = re.compile(r"In CSV column #(\d+)")


def _spellings(words) -> list[str]:
    """Each yes/no word as written in lower, upper and title case (pyarrow matches exactly)."""
    return sorted({w for v in words for w in (v, v.upper(), v.title())})


def _fits(kind: str, v: np.ndarray) -> bool:
    """Every value of a typed column is what the text path makes of its cell without a remark:
    numbers finite; years whole, from 1900 to 2200 (the range and form validation reads plainly)."""
    if kind == "bool":
        return True
    if kind == "year":
        return bool(np.all((v >= 1900) & (v <= 2200) & (v == np.round(v))))
    return bool(np.isfinite(v).all())


def _typed_csv(body: memoryview, delim: str, typed: Callable[[list[str]], dict[int, str]], lines: int | None,
               retries: int = 2) -> _TypedCSV | None:
    """The file parsed with its plain columns as values, or None (the text path reads it).

    ``typed(header)`` names the columns that may be parsed as values, with their kind: amounts,
    numbers and counts in yuan (no unit to convert) as ``"number"``, years as ``"year"``, yes/no
    as ``"bool"``, in a plain table (:func:`_typed_columns`). A column with a cell that is not a
    plain value (an empty cell, a marker, a thousands separator, ``nan`` or ``inf``, a year with a
    period such as ``2019-06-30`` or out of range, a yes/no spelled otherwise) is parsed again as
    text: found in the first 64 KiB at the cost of parsing those (CSMAR's label rows), below them
    up to ``retries`` times; any other irregularity (a ragged row, a blank line, a footer, a
    quoted line break) sends the whole file to the text path, which judges and logs it. Each
    value equals what the text path and validation make of the cell: pyarrow's CSV conversion
    and ``pc.cast`` are one parser, the CSV conversion's trimming of spaces is the text path's
    ``strip``, and the yes/no spellings are validation's.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    end = bytes(body[:65536]).find(b"\n")
    if end < 0:
        return None
    line = pa.py_buffer(bytes(body[: end + 1]))
    try:   # the header line, parsed as text by the same parser as the rest
        width = pacsv.read_csv(line, read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                               parse_options=pacsv.ParseOptions(delimiter=delim)).num_columns
        head = pacsv.read_csv(line, read_options=pacsv.ReadOptions(column_names=[f"c{j}" for j in range(width)]),
                              parse_options=pacsv.ParseOptions(delimiter=delim),
                              convert_options=pacsv.ConvertOptions(
                                  column_types={f"c{j}": pa.string() for j in range(width)},
                                  strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if head.num_rows != 1:
        return None
    header = [head.column(j)[0].as_py() for j in range(head.num_columns)]
    kinds = {j: k for j, k in typed(header).items() if j < len(header)}
    names = [f"c{j}" for j in range(len(header))]
    arrow_type = {"number": pa.float64(), "year": pa.float64(), "bool": pa.bool_()}

    def parse(buf, kinds: dict[int, str]):
        """The table, or the column that cannot be typed (None: the file is not for this path)."""
        try:
            table = pacsv.read_csv(
                pa.BufferReader(pa.py_buffer(buf)),
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_block_size(len(buf))),
                parse_options=pacsv.ParseOptions(delimiter=delim, ignore_empty_lines=False, newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: arrow_type[kinds[j]] if j in kinds else pa.string() for j, c in enumerate(names)},
                    true_values=_spellings(_TRUE), false_values=_spellings(_FALSE),
                    null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False))
        except pa.ArrowInvalid as e:
            m = _ARROW_COLUMN_ERROR.search(str(e))
            return int(m.group(1)) if m and int(m.group(1)) in kinds else None
        except pa.ArrowNotImplementedError:
            return None
        return table

    # the first lines first (label rows, a marker near the top): a failed column costs no full parse
    cut = bytes(body[: 1 << 16]).rfind(b"\n")
    if 0 < cut < len(body) - 1:
        while any(k != "bool" for k in kinds.values()):
            got = parse(body[: cut + 1], kinds)
            if got is None:
                return None
            if isinstance(got, int):
                del kinds[got]
                continue
            kinds = {j: k for j, k in kinds.items() if _fits(k, got.column(j).to_numpy())}
            break
    for _ in range(retries + 1):
        # a column of numbers or years parsed on every line is what rules out label rows under the header
        if not any(k != "bool" for k in kinds.values()):
            return None
        table = parse(body, kinds)
        if table is None:
            return None
        if isinstance(table, int):
            del kinds[table]
            continue
        if lines is not None and table.num_rows != lines - 1:   # a quoted line break: records and lines differ
            return None
        # each typed column to numpy once (a new, writable array: the chunks are joined or unpacked)
        values = {j: table.column(j).to_numpy() if k == "year" else _writable(table.column(j).to_numpy())
                  for j, k in kinds.items()}   # (years become a new int64 array below)
        bad = [j for j, k in kinds.items() if not _fits(k, values[j])]
        if bad:
            kinds = {j: k for j, k in kinds.items() if j not in bad}
            continue
        index = pd.RangeIndex(2, table.num_rows + 2)
        cols: dict[int, object] = {}
        for j in range(len(names)):
            col = table.column(j)
            if kinds.get(j) == "year":
                cols[j] = values[j].astype(np.int64)   # whole numbers (checked): exact
            elif j in kinds:
                cols[j] = values[j]
            else:
                cols[j] = col.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
                cols[j].index = index
        df = pd.DataFrame(cols, index=index, copy=False)
        return _TypedCSV(header, df, {j: cols[j] for j in kinds})
    return None


def _block_size(n_bytes: int) -> int:
    """pyarrow's CSV block for a file of ``n_bytes``: about an eighth of it, from 1 MiB (pyarrow's
    default) to 16 MiB. Both cores still parse, and a large file's columns come in a few chunks
    instead of one per MiB (each check over a column's chunks costs per chunk)."""
    return min(max(n_bytes // 8, 1 << 20), 1 << 24)


def _writable(v: np.ndarray) -> np.ndarray:
    """``v``, or a copy where it is a read-only view of Arrow's memory (a column parsed in one chunk):
    the tables' columns are arrays that later steps may write into."""
    return v if v.flags.writeable else v.copy()


#: the kinds of the contract's columns that the typed parse reads, by the type it reads them as
_TYPED_KINDS = {"amount": "number", "number": "number", "count": "number", "year": "year", "bool": "bool"}
#: the typed parse's array for each kind (numpy dtype kind)
_TYPED_DTYPE_KIND = {"f": "number", "i": "year", "b": "bool"}


def _typed_columns(table: str, opts: _Options, header: list[str]) -> dict[int, str]:
    """The columns of a CSV header that :func:`_typed_csv` may parse as values, with their kind.

    Those the contract reads as amounts, numbers or counts (``"number"``), years (``"year"``)
    and yes/no (``"bool"``), and, for amounts, with no unit to convert (no unit or currency in the
    header, none in ``units=`` for the table, no preset unit): their values are used as parsed.
    None at all when the table's layout is not plain: ``header_rows=`` given, an empty header
    cell, report periods in the headers (a wide panel), fewer than two columns.
    """
    if opts.header_rows.get(table, opts.header_rows.get(None)) is not None:
        return {}
    cells = [str(h).strip() for h in header]
    if len(cells) < 2 or not all(cells) or any(split_header(h).period for h in cells):
        return {}
    unit_given = bool(opts.units.get(table)) or bool(opts.preset and PRESETS[opts.preset].default_unit)
    out = {}
    for j, h in enumerate(cells):
        r = resolve_header(h, table, user=opts.mapping, preset=opts.preset)
        kind = column_kind(table, r.target) if r.target else None
        if kind not in _TYPED_KINDS:
            continue
        if kind == "amount" and (unit_given or r.unit_texts or r.required_units or r.currency):
            continue
        out[j] = _TYPED_KINDS[kind]
    return out


# -- Parquet -----------------------------------------------------------------------
def _read_parquet(path: Path, table: str, info: dict) -> _Source:
    stamp = _stamp(path)
    data = _mapped_bytes(path, table)
    hashed = _Hashing(data)
    try:
        try:   # Arrow's own reader over the bytes (a Python file object is read through the interpreter)
            import pyarrow as pa

            source = pa.BufferReader(pa.py_buffer(data))
        except ImportError:
            source = io.BytesIO(data)
        df = pd.read_parquet(source)
    except ImportError as e:
        raise DataError(problems=[_problem(table, f"cannot read {path.name}: {e}",
                                           "install pyarrow (pip install 'finsupport[parquet]') or use CSV")]) from None
    except Exception as e:  # any failure of an untrusted file is a data problem
        _unchanged(path, stamp, table)   # (a file being rewritten is said so, not called broken)
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise DataError(problems=[_problem(table, f"cannot open {path.name} as Parquet ({type(e).__name__}: {msg})",
                                           "export the table again (or as CSV)")]) from None
    finally:
        info = {**info, **hashed.info()}
    _unchanged(path, stamp, table)
    df = df.reset_index(drop=True) if not isinstance(df.index, pd.RangeIndex) else df
    df.index = pd.RangeIndex(1, len(df) + 1)
    return _Source(table, path.name, "parquet", frame=df, meta=dict(info))


# -- Excel -------------------------------------------------------------------------
def _workbook_sources(path: Path, opts: _Options, log: QualityLog, prov: dict) -> list[_Source]:
    info = _file_info(path)
    wb, check = open_workbook(path, opts.limits)
    for n in check.notes:
        log.add(stage=STAGE, table="", issue=n["issue"], action=n["action"], detail=n["detail"])
    import openpyxl.xml

    prov["workbook"] = {"macros": check.macros, "external_links": check.external_links,
                        "defusedxml": bool(openpyxl.xml.DEFUSEDXML)}
    try:
        names = list(wb.sheetnames)
        chosen: dict[str, str] = {}
        problems = []
        for t, sheet in opts.sheets.items():
            match = [n for n in names if n == sheet] or [n for n in names if n.strip().lower() == sheet.strip().lower()]
            if not match:
                problems.append(_problem(t, f"sheet '{sheet}' given in sheets= is not in {path.name}",
                                         f"sheets present: {', '.join(names)}"))
            else:
                chosen[t] = match[0]
        by_table: dict[str, list[str]] = {}
        for n in names:
            t = table_for_name(n)
            if t is not None and t not in chosen:
                by_table.setdefault(t, []).append(n)
        for t, ns in by_table.items():
            if len(ns) > 1:
                problems.append(_problem(t, f"more than one sheet for the table ({', '.join(ns)})",
                                         "keep one sheet per table, or choose one with sheets={'" + t + "': '…'}"))
            else:
                chosen[t] = ns[0]
        if problems:
            raise DataError(problems=problems)
        if not chosen:
            expected = "; ".join(f"{t} ({'/'.join(a for a in TABLE_ALIASES[t] if not a.isascii())})"
                                 for t in TABLE_NAMES)
            raise DataError(problems=[_problem(
                path.name, f"no sheet named after a table (sheets found: {', '.join(names) or 'none'}; "
                           f"expected, in any letter case: {expected})",
                "rename the sheets after the tables, or pass sheets={'financials': 'Sheet1', …}")])
        prov["ignored_sheets"] = [n for n in names if n not in chosen.values()]
        out = []
        cells = 0
        for t in TABLE_NAMES:
            if t not in chosen:
                continue
            sheet = chosen[t]
            rows, cells = _sheet_rows(wb[sheet], path, t, sheet, opts.limits, cells)
            out.append(_Source(t, path.name, "xlsx", sheet=sheet, rows=rows, meta=dict(info)))
        return out
    finally:
        wb.close()


def _sheet_rows(ws, path: Path, t: str, sheet: str, limits: Limits, cells: int) -> tuple[list, int]:
    if not hasattr(ws, "iter_rows"):
        raise DataError(problems=[_problem(t, f"sheet '{sheet}' of {path.name} is a chart, not a table",
                                           "put the table on a worksheet")])
    rows: list[tuple[int, list]] = []
    try:
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # do not trust the stored sheet size
        for i, row in enumerate(ws.iter_rows(min_row=1, min_col=1, values_only=True), start=1):
            cells += len(row)
            if cells > limits.max_cells:
                raise DataError(problems=[_problem(
                    t, f"{path.name}: more than {limits.max_cells:,} cells",
                    "use CSV/Parquet for very large data, or raise safety.Limits(max_cells=...)")])
            rows.append((i, list(row)))
    except DataError:
        raise
    except Exception as e:
        raise workbook_error(path, e) from None
    return rows, cells


def _read_xlsx_table(path: Path, table: str, opts: _Options, log: QualityLog, prov: dict, info: dict) -> _Source:
    """One table from a workbook in a folder (a vendor download such as CSMAR's FS_Combas.xlsx): its first sheet."""
    wb, check = open_workbook(path, opts.limits)
    for n in check.notes:
        log.add(stage=STAGE, table=table, issue=n["issue"], action=n["action"], detail=n["detail"])
    try:
        sheets = [n for n in wb.sheetnames if hasattr(wb[n], "iter_rows")]
        if not sheets:
            raise DataError(problems=[_problem(table, f"{path.name} has no worksheet", "export the table again")])
        rows, _ = _sheet_rows(wb[sheets[0]], path, table, sheets[0], opts.limits, 0)
        if len(sheets) > 1:
            log.add(stage=STAGE, table=table, issue="other sheets not read", action="info",
                    detail=f"{path.name}: read sheet '{sheets[0]}'; not read: {', '.join(sheets[1:])}")
        return _Source(table, path.name, "xlsx", sheet=sheets[0], rows=rows, meta=dict(info))
    finally:
        wb.close()


# -- cells -------------------------------------------------------------------------
def _row_blank(r) -> bool:
    for v in r:
        if v is None:
            continue
        if isinstance(v, str):
            if v.strip():
                return False
        elif not _blank(v):
            return False
    return True


def _is_number(v) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


def _cell_text(v) -> str:
    """A cell as text (Excel values: numbers without a spurious .0, dates as ISO dates)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime):
        return v.date().isoformat() if v.time() == _dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, _dt.date | _dt.time):
        return v.isoformat()
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e16:
            return str(int(v))
        return repr(v)
    if isinstance(v, Decimal):
        return format(v, "f") if v.is_finite() and abs(v.adjusted()) < 30 else str(v)
    return str(v)


def _blank(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _looks_numeric(v) -> bool:
    if _is_number(v):
        return True
    if isinstance(v, _dt.date | _dt.datetime):
        return True
    t = nfkc(str(v)).strip().replace(",", "")
    return bool(_NUMBER_RE.match(t)) or bool(_YEARLIKE_RE.match(t))


def _is_marker(v) -> bool:
    return isinstance(v, str) and v.strip().lower() in MISSING_MARKERS


def _to_decimal(v) -> Decimal | None:
    """A cell as an exact decimal number, or None if it is not a plain number."""
    if _is_number(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        try:
            d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        except (InvalidOperation, ValueError, TypeError):
            return None
    elif isinstance(v, str):
        t = nfkc(v).strip().replace(",", "").replace("−", "-")
        if not _NUMBER_RE.match(t):
            return None
        d = Decimal(t)
    else:
        return None
    if not d.is_finite() or abs(d.adjusted()) > 300:
        return None
    return d


# -- building a table --------------------------------------------------------------
class _Builder:
    def __init__(self, opts: _Options, log: QualityLog, prov: dict) -> None:
        self.opts = opts
        self.log = log
        self.prov = prov
        self.numeric_ids: list[tuple[str, str, pd.Index]] = []
        self.used_mapping: set[tuple[str | None, str]] = set()

    # ---- helpers ----
    def note(self, table: str, issue: str, action: str, *, rows=None, column: str = "", detail="",
             firm_id=None) -> None:
        self.log.add(stage=STAGE, table=table, rows=rows, column=column, issue=issue, action=action, detail=detail,
                     firm_id=firm_id)

    def build(self, src: _Source, problems: list) -> pd.DataFrame | None:
        if src.rows is not None:
            parsed = self._grid(src, problems)
        elif src.meta.get("typed") is not None:
            parsed = self._typed_grid(src, problems)
        elif src.meta.get("text_grid"):
            parsed = self._text_grid(src, problems)
        else:
            parsed = self._frame(src)
        if parsed is None:
            return None
        headers, labels, body, index = parsed
        n_before = len(problems)
        resolved = self._resolve(src, headers, labels, problems)
        if len(problems) > n_before:
            return None
        if src.meta.get("split"):
            resolved, body = self._split_columns(src, resolved, body)
            if resolved is None:
                if isinstance(body, str):
                    problems.append(_problem(src.table, f"{src.where}: {body}",
                                             "map the headers, e.g. mapping={'financials': {'nf': 'year'}}"))
                return None
        n_ids = len(self.numeric_ids)
        df = self._columns(src, resolved, body, index, problems)
        if df is None:
            return None
        if src.meta.get("multi"):  # several files feed the table: rows are named file:row
            df.index = pd.Index([f"{src.file}:{i}" for i in df.index], dtype=object)
            self.numeric_ids[n_ids:] = [(t, c, pd.Index([f"{src.file}:{i}" for i in ix], dtype=object))
                                        for t, c, ix in self.numeric_ids[n_ids:]]
        n_read = len(df)
        self.log.add_read(src.table, n_read)
        preset = PRESETS.get(self.opts.preset) if self.opts.preset else None
        if preset is not None and preset.code_width:  # before any rule logs a code
            self._pad_codes([(src.table, df)], preset)
        df = self._preset_rules(src, df)
        if n_read == 0:
            self.note(src.table, "table is empty", "flagged", detail=f"{src.where} has a header but no data rows")
        info = {"file": src.file, "format": src.fmt, "rows_read": n_read,
                "columns": {r.source: (r.target or r.source) for r in resolved}}
        if src.sheet:
            info["sheet"] = src.sheet
        info.update({k: v for k, v in src.meta.items() if k not in ("multi", "split", "numbers", "typed")})
        tinfo = self.prov["tables"].setdefault(src.table, {})
        if src.meta.get("multi"):
            tinfo.setdefault("sources", []).append(info)
            tinfo["file"] = " + ".join(i["file"] for i in tinfo["sources"])
            tinfo["format"] = "+".join(sorted({i["format"] for i in tinfo["sources"]}))
            tinfo["rows_read"] = sum(i["rows_read"] for i in tinfo["sources"])
        else:
            tinfo.update(info)
        return df

    def _split_columns(self, src: _Source, resolved: list[Resolved], body):
        """A survey file feeds several tables: keep the columns of ``src.table`` (and the year, to order firms)."""
        t = src.table
        targets = set(TABLES[t].column_names) | set(HELPER_COLUMNS.get(t, {}))
        keep = [j for j, r in enumerate(resolved) if r.target in targets or (t == "firms" and r.target == "year")]
        have = {resolved[j].target for j in keep}
        missing = [c for c in REQUIRED_COLUMNS[t] if c not in have]
        if missing and t == "financials":  # without firm and year nothing in the file can be used
            return None, f"no column for {', '.join(missing)} (headers found: " + ", ".join(
                repr(r.source) for r in resolved[:15]) + ")"
        if missing:
            self.note(t, "table not in this file", "flagged", column=", ".join(missing),
                      detail=f"{src.where} has no column for {', '.join(missing)}: no {t} rows are read from it"
                             + (" (this release has no 补贴收入: subsidies are not measured)" if t == "grants" else ""))
            return None, None
        if t == "financials":
            unused = [r.source for r in resolved if r.target is None]
            if unused:
                self.note(t, "column not read", "info", column=", ".join(_one_line(u) for u in unused[:10]),
                          detail=f"{src.where}: {len(unused)} column(s) match no column of the data contract "
                                 "(map them with mapping= if they are needed)")
        if t == "grants":  # the survey's 补贴收入 is a yearly total: one grant row per firm-year
            self.note(t, "subsidy income as a grant", "info", column="amount",
                      detail=f"{src.where}: each firm-year's subsidy income (补贴收入) is one grant row, programme "
                             "'补贴收入 (industrial survey)'; recurrence and level are not recorded")
        res = [resolved[j] for j in keep]
        if isinstance(body, pd.DataFrame):
            return res, body.iloc[:, keep]
        return res, [[row[j] for j in keep] for row in body]

    # ---- grid (CSV, Excel) ----
    def _grid(self, src: _Source, problems: list):
        t = src.table
        rows, blank = [], []
        for i, r in src.rows:
            (blank if _row_blank(r) else rows).append((i, r))
        blank = [i for i, _ in blank]
        if not rows:
            what = "sheet" if src.sheet else "file"
            problems.append(_problem(t, f"{src.where}: the {what} is empty (no header, no rows)",
                                     f"fill it in, or remove the {what} if there is no {t} data"))
            return None
        self._source_notes(src)
        # a title line above the header: one filled cell, followed by a wider row
        first_filled = sum(not _blank(v) for v in rows[0][1])
        if len(rows) > 1 and first_filled == 1 and sum(not _blank(v) for v in rows[1][1]) > 1:
            self.note(t, "title row skipped", "info", rows=[rows[0][0]],
                      detail=f"'{_cell_text(next(v for v in rows[0][1] if not _blank(v)))[:60]}' above the header")
            rows = rows[1:]
        # trailing footers such as 数据来源：Wind
        footer = []
        while len(rows) > 1:
            cells = [v for v in rows[-1][1] if not _blank(v)]
            if len(cells) == 1 and isinstance(cells[0], str) and _FOOTER_RE.match(cells[0]):
                footer.append(rows[-1][0])
                rows = rows[:-1]
            else:
                break
        if footer:
            self.note(t, "footer line skipped", "info", rows=sorted(footer), detail="source note below the table")
        header_line, header_cells = rows[0]
        body_rows = rows[1:]
        header = self._header(src, header_cells, header_line, problems)
        if header is None:
            return None
        ncol = len(header)
        ragged = [i for i, r in body_rows if len(r) > ncol and not _row_blank(r[ncol:])]
        if ragged:
            width = max(len(r) - next(k for k, v in enumerate(reversed(r)) if not _blank(v))
                        for _, r in body_rows if len(r) > ncol and any(not _blank(v) for v in r[ncol:]))
            problems.append(_problem(
                t, f"{src.where}: rows with more fields than the {ncol} header columns (up to {width})",
                "quote fields that contain the delimiter — a thousands separator such as 1,234 must be written "
                "\"1,234\" or 1234 — or add the missing header names", rows=ragged))
            return None
        if blank:
            inner = [b for b in blank if header_line < b < (body_rows[-1][0] if body_rows else 0)]
            if inner:
                self.note(t, "blank row skipped", "info", rows=inner, detail="empty line inside the table")
        grid = [list(r[:ncol]) + [None] * (ncol - len(r)) for _, r in body_rows]
        index = [i for i, _ in body_rows]
        # empty header cells: name the column if it holds data, drop it otherwise
        keep = []
        for j, h in enumerate(header):
            if h:
                keep.append(j)
            elif any(not _blank(r[j]) for r in grid):
                header[j] = f"unnamed_{j + 1}"
                keep.append(j)
                self.note(t, "column without a header", "info", column=header[j],
                          detail=f"column {j + 1} of {src.where} has data but no header; kept as '{header[j]}'")
        header = [header[j] for j in keep]
        grid = [[r[j] for j in keep] for r in grid]
        found = self._label_rows(src, header, grid, len(grid), index, problems)
        if found is None:
            return None
        n_extra, labels = found
        grid, index = grid[n_extra:], index[n_extra:]
        return self._wide(src, header, labels, grid, index, problems)

    def _label_rows(self, src: _Source, header: list[str], head: list[list], n_rows: int, index,
                    problems: list) -> tuple[int, list[list[str]]] | None:
        """Rows under the header that label it (CSMAR: Chinese name, unit): how many, and their text."""
        t = src.table
        n_extra = self.opts.header_rows.get(t, self.opts.header_rows.get(None))
        detected = n_extra is None
        if detected:
            kinds = [self._kind_of(t, h) for h in header]
            n_extra = 1 + _detect_label_rows(head, kinds)
        n_extra -= 1
        if n_extra > n_rows:
            problems.append(_problem(t, f"{src.where}: header_rows={n_extra + 1} but the file has only "
                                        f"{n_rows + 1} non-empty rows", "check header_rows"))
            return None
        labels = [[_cell_text(r[j]).strip() for r in head[:n_extra]] for j in range(len(header))]
        if n_extra:
            self.note(t, "extra header rows", "info", rows=np.asarray(index[:n_extra]).tolist(),
                      detail=f"{n_extra} row(s) under the header read as labels/units ("
                             + ("detected" if detected else "header_rows") + ")")
        src.meta["header_rows"] = 1 + n_extra
        return n_extra, labels

    def _wide(self, src: _Source, header, labels, grid, index, problems):
        """Reshape a grid whose headers carry report periods (Wind); otherwise return it as it is."""
        t = src.table
        try:
            year_cols = [j for j, h in enumerate(header) if self._target_of(t, h) == "year"]
            wide = reshape_wide(header, labels, grid, index, year_columns=year_cols)
        except DataError as e:
            for p in e.problems:
                p["table"] = t
                p["message"] = f"{src.where}: {p['message']}"
            problems.extend(e.problems)
            return None
        if wide is not None:
            src.meta["wide"] = {"periods": wide.years, "rows": wide.rows_in, "firm_years": len(wide.grid)}
            self.note(t, "wide panel reshaped", "info",
                      detail=f"{src.where}: one column per report period ({', '.join(map(str, wide.years))}); "
                             f"{wide.rows_in} rows became {len(wide.grid)} firm-years; year taken from the headers")
            if wide.interim_columns:
                self.note(t, "interim or parent-company column skipped", "excluded",
                          column=", ".join(_one_line(h) for h in wide.interim_columns[:5]),
                          detail=f"{len(wide.interim_columns)} column(s) of interim report periods or of the "
                                 "parent company's own statement are not the annual consolidated figures and are "
                                 "not read")
            if wide.empty_firm_years:
                self.note(t, "empty firm-year in a wide panel", "info",
                          detail=f"{wide.empty_firm_years} firm-year(s) with no value in any period column "
                                 "were not turned into rows")
            return wide.header, wide.labels, wide.grid, wide.index
        return header, labels, grid, index

    def _text_grid(self, src: _Source, problems: list):
        """:meth:`_grid` on a frame of text cells (a CSV file): the same rules, column by column."""
        t = src.table
        raw = src.frame
        # a column whose cells below the first line are all plain numbers has no empty cell there;
        # its numbers are kept for _columns (one parse of each cell instead of a check and a parse)
        numbers: dict = {}
        fill: list[np.ndarray] = []  # by column: the cells that hold something
        first = [str(v).strip() for v in raw.iloc[0]] if len(raw) else []
        for j, c in enumerate(raw.columns):
            # tried on the columns whose first-line name is that of an amount (a guess checked by the parse)
            numeric = self._kind_of(t, first[j]) in ("amount", "number", "count") if first[j] else False
            num = _plain_numbers(raw[c].iloc[1:]) if numeric else None
            if num is None:
                fill.append(_filled(raw[c]).to_numpy(dtype=bool))
            else:
                numbers[c] = num
                fill.append(np.concatenate([_filled(raw[c].iloc[:1]).to_numpy(dtype=bool), np.ones(len(num), bool)]))
        nfilled = np.zeros(len(raw), dtype=np.int64)
        for f in fill:
            nfilled += f
        line = raw.index.to_numpy()
        pos = np.flatnonzero(nfilled > 0)
        if not len(pos):
            problems.append(_problem(t, f"{src.where}: the file is empty (no header, no rows)",
                                     f"fill it in, or remove the file if there is no {t} data"))
            return None
        self._source_notes(src)
        first_cell = lambda k: next(v for v in raw.iloc[k] if v.strip())  # noqa: E731
        if len(pos) > 1 and nfilled[pos[0]] == 1 and nfilled[pos[1]] > 1:
            self.note(t, "title row skipped", "info", rows=[int(line[pos[0]])],
                      detail=f"'{first_cell(pos[0])[:60]}' above the header")
            pos = pos[1:]
        end = len(pos)
        while end > 1 and nfilled[pos[end - 1]] == 1 and _FOOTER_RE.match(first_cell(pos[end - 1])):
            end -= 1
        if end < len(pos):
            self.note(t, "footer line skipped", "info", rows=sorted(int(x) for x in line[pos[end:]]),
                      detail="source note below the table")
            pos = pos[:end]
        head_pos, body_pos = pos[0], pos[1:]
        header = self._header(src, list(raw.iloc[head_pos]), int(line[head_pos]), problems)
        if header is None:
            return None
        ncol = len(header)
        # the body's rows: a slice (no copy) when they follow each other, as they nearly always do
        contiguous = len(body_pos) and body_pos[-1] - body_pos[0] == len(body_pos) - 1
        rows = slice(int(body_pos[0]), int(body_pos[-1]) + 1) if contiguous else body_pos
        body_filled = [f[rows] for f in fill]
        if raw.shape[1] > ncol:
            over = np.zeros(len(body_pos), dtype=bool)
            for f in body_filled[ncol:]:
                over |= f
            if over.any():
                width = max(j for j in range(ncol, raw.shape[1]) if body_filled[j][over].any()) + 1
                problems.append(_problem(
                    t, f"{src.where}: rows with more fields than the {ncol} header columns (up to {width})",
                    "quote fields that contain the delimiter — a thousands separator such as 1,234 must be "
                    "written \"1,234\" or 1234 — or add the missing header names",
                    rows=[int(x) for x in line[body_pos][over]]))
                return None
        if len(body_pos):
            inner = np.flatnonzero((nfilled == 0) & (np.arange(len(raw)) > head_pos)
                                   & (np.arange(len(raw)) < body_pos[-1]))
            if len(inner):
                self.note(t, "blank row skipped", "info", rows=[int(x) for x in line[inner]],
                          detail="empty line inside the table")
        keep = []
        for j, h in enumerate(header):
            if h:
                keep.append(j)
            elif body_filled[j].any():
                header[j] = f"unnamed_{j + 1}"
                keep.append(j)
                self.note(t, "column without a header", "info", column=header[j],
                          detail=f"column {j + 1} of {src.where} has data but no header; kept as '{header[j]}'")
        header = [header[j] for j in keep]
        body = raw.iloc[rows, keep]
        cols = {}
        for k, c in enumerate(body.columns):  # empty cells are missing; columns without any are kept as they are
            full = body_filled[keep[k]]
            cols[k] = body[c] if full.all() else body[c].mask(~full)
        body = pd.DataFrame(cols, index=body.index)
        index = line[body_pos]  # an array: an Index is made of it without a Python list
        head = body.iloc[:502].astype(object).where(body.iloc[:502].notna(), None).values.tolist()
        found = self._label_rows(src, header, head, len(body), index, problems)
        if found is None:
            return None
        n_extra, labels = found
        body, index = body.iloc[n_extra:], index[n_extra:]
        if any(split_header(h).period for h in header):  # a wide panel: the list-based reshaping
            grid = body.astype(object).where(body.notna(), None).values.tolist()
            return self._wide(src, header, labels, grid, index.tolist(), problems)
        body.columns = range(len(header))
        if numbers and head_pos == 0 and len(body) == len(raw) - 1:  # the body is every line after the header
            src.meta["numbers"] = {k: numbers[c] for k, c in enumerate(keep) if c in numbers}
        return header, labels, body, index

    def _typed_grid(self, src: _Source, problems: list):
        """:meth:`_text_grid` for a file read by :func:`_typed_csv`: the same result, by construction
        of what that parser accepts (a header on line 1 with every cell named, every line after it a
        record of the header's width, the number columns without an empty cell, so no blank line)."""
        typed: _TypedCSV = src.meta["typed"]
        self._source_notes(src)
        header = self._header(src, list(typed.header), 1, problems)
        if header is None:
            return None
        raw = typed.body
        cols = {}
        for j, c in enumerate(raw.columns):   # empty text cells are missing
            if j in typed.numbers:
                cols[j] = raw[c]
                continue
            full = _filled(raw[c]).to_numpy(dtype=bool)
            cols[j] = raw[c] if full.all() else raw[c].mask(~full)
        body = pd.DataFrame(cols, index=raw.index, copy=False)
        index = raw.index   # line numbers from 2 (a RangeIndex: nothing to copy)
        # no label rows under the header: a label row has text in every number column, and the typed
        # columns include one of numbers or years on every line (header_rows= given never comes here)
        src.meta["header_rows"] = 1
        labels: list[list[str]] = [[] for _ in header]
        body.columns = range(len(header))
        src.meta["numbers"] = {j: typed.arrays[j] for j in typed.numbers}
        return header, labels, body, index

    def _header(self, src: _Source, cells: list, line: int, problems: list) -> list[str] | None:
        """The column names of the header row, without trailing empty cells; None (a problem) if it is empty."""
        header = [_cell_text(v).strip() for v in cells]
        while header and not header[-1]:
            header.pop()
        if not header:
            problems.append(_problem(src.table, f"{src.where}: the header row {line} is empty",
                                     "put the column names in the first row"))
            return None
        return header

    def _source_notes(self, src: _Source) -> None:
        t = src.table
        if src.meta.get("encoding") not in (None, "utf-8"):
            enc = src.meta["encoding"]
            self.note(t, "text encoding", "info",
                      detail={"utf-8-sig": f"{src.file}: UTF-8 with a byte-order mark (BOM); BOM removed",
                              "gb18030": f"{src.file}: not UTF-8; decoded as GB18030 (Chinese Windows)",
                              "utf-16": f"{src.file}: decoded as UTF-16"}.get(enc, enc))
        if src.meta.get("delimiter", ",") != ",":
            self.note(t, "delimiter", "info", detail=f"{src.file}: fields separated by {src.meta['delimiter']!r}")

    def _target_of(self, table: str, header: str) -> str | None:
        return resolve_header(header, table, user=self.opts.mapping, preset=self.opts.preset).target

    def _kind_of(self, table: str, header: str) -> str | None:
        r = resolve_header(header, table, user=self.opts.mapping, preset=self.opts.preset)
        return column_kind(table, r.target) if r.target else None

    # ---- typed frame (Parquet) ----
    def _frame(self, src: _Source):
        df = src.frame
        header = [str(c) for c in df.columns]
        src.meta["header_rows"] = 1
        return header, [[] for _ in header], df, df.index

    # ---- header resolution ----
    def _resolve(self, src: _Source, headers: list[str], labels: list[list[str]], problems: list) -> list[Resolved]:
        t = src.table
        seen: dict[str, int] = {}
        for h in headers:
            seen[h] = seen.get(h, 0) + 1
        dup_src = [h for h, n in seen.items() if n > 1]
        if dup_src:
            problems.append(_problem(t, f"{src.where}: the header repeats {', '.join(repr(h) for h in dup_src)}",
                                     "give every column a distinct name", column=", ".join(dup_src)))
            return []
        res = [resolve_header(h, t, user=self.opts.mapping, preset=self.opts.preset, labels=tuple(lab))
               for h, lab in zip(headers, labels, strict=True)]
        for r in res:
            if r.how == "mapping":
                self.used_mapping.add((t, r.target))
        by_target: dict[str, list[Resolved]] = {}
        for r in res:
            if r.target:
                by_target.setdefault(r.target, []).append(r)
        for target, rs in by_target.items():
            if len(rs) < 2:
                continue
            user = [r for r in rs if r.how == "mapping"]
            if len(user) == 1:  # the user's choice wins; the others stay as extra columns
                for r in rs:
                    if r is not user[0]:
                        self.note(t, "header not mapped", "info", column=r.source,
                                  detail=f"'{r.source}' would match '{target}', but mapping= assigns "
                                         f"'{user[0].source}' to it; kept as an extra column")
                        r.target, r.how = None, "extra"
                continue
            srcs = ", ".join(repr(r.source) for r in rs)
            problems.append(_problem(
                t, f"{src.where}: the contract column is mapped twice (from {srcs})",
                f"keep one of these columns, or map the others to different names, e.g. "
                f"mapping={{'{t}': {{{rs[-1].source!r}: '{target}_2'}}}}", column=target))
        targets = {r.target for r in res if r.target}
        for r in res:  # an extra column named like a mapped column is renamed, not lost
            if r.target is None and r.source in targets:
                new = f"{r.source}_unmapped"
                self.note(t, "extra column renamed", "info", column=new,
                          detail=f"'{r.source}' is not used (another header is mapped to '{r.source}'); kept as '{new}'")
                r.target, r.how = new, "renamed"
        names = [r.target or r.source for r in res]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash and not any(p.get("table") == t for p in problems):
            problems.append(_problem(t, f"{src.where}: after mapping, column names repeat ({', '.join(clash)})",
                                     "map the columns to distinct names", column=", ".join(clash)))
        present = {r.target for r in res if r.target}
        derivable = {c for c, parts in DERIVED_COLUMNS.get(t, {}).items() if present & set(parts)}
        for col in REQUIRED_COLUMNS[t]:
            if col in present or col in derivable or src.meta.get("split"):
                continue
            guess = _suggest(t, col, [r.source for r in res if not r.target])
            problems.append(_problem(
                t, f"{src.where}: required column is missing (headers found: "
                   f"{', '.join(repr(h) for h in headers[:15])}{' …' if len(headers) > 15 else ''})",
                f"add a '{col}' column or map your header to it: mapping={{'{t}': {{{guess!r}: '{col}'}}}}",
                column=col))
        for r in res:
            if r.how == "parent":
                self.note(t, "parent-company statement column not read", "excluded", column=_one_line(r.source),
                          detail="[报表类型]母公司报表: the parent company's own statement, not the consolidated "
                                 "figure; export the consolidated statement (合并报表)")
            if r.target is None and r.how == "extra" and not src.meta.get("split"):
                self.note(t, "extra column kept", "info", column=r.source,
                          detail=f"'{r.source}' is not a column of the data contract; kept unchanged")
        return res

    # ---- columns ----
    def _columns(self, src: _Source, resolved: list[Resolved], body, index, problems: list):
        t = src.table
        # source rows (int64), or "5 (2019)" = row 5, period 2019 for reshaped wide panels (object)
        idx = pd.Index(index) if len(index) else pd.Index([], dtype="int64")
        out: dict[str, pd.Series] = {}
        n_before = len(problems)
        typed = isinstance(body, pd.DataFrame)
        # numbers parsed while the grid was read (CSV columns of plain numbers), by body column
        numbers = src.meta.pop("numbers", None) if typed and not src.meta.get("split") else None
        for j, r in enumerate(resolved):
            name = r.target or r.source
            kind = column_kind(t, r.target) if r.target else None
            unit = self._unit(t, r, kind, problems)
            if (numbers is not None and j in numbers and unit in (None, 1) and len(numbers[j]) == len(idx)
                    and _TYPED_KINDS.get(kind) == _TYPED_DTYPE_KIND.get(numbers[j].dtype.kind)):
                # what validation would make of the text; the parser's own new array (no copy)
                out[name] = pd.Series(numbers[j], index=idx, copy=False)
                continue
            if typed:
                raw = body.iloc[:, j]
            else:
                raw = pd.Series([row[j] for row in body], index=idx, dtype=object)
            out[name] = self._convert(t, name, kind, raw, unit, idx)
        if len(problems) > n_before:
            return None
        return pd.DataFrame(out, index=idx, copy=False)   # the columns are new: no copy into one block

    def _unit(self, t: str, r: Resolved, kind: str | None, problems: list):
        if kind != "amount":
            return None
        col = r.target
        header_units = {}
        texts = list(r.unit_texts) + ([r.currency] if r.currency else [])
        for u in texts:
            if is_foreign_currency(u):
                problems.append(_problem(t, f"amounts in a foreign currency ('{r.source}')",
                                         "convert the amounts to yuan (CNY) before reading", column=col))
                return None
        for u in list(r.unit_texts) + [u for u in r.required_units if u not in r.unit_texts]:
            pu = parse_unit(u, strict=False)
            if pu:
                header_units[pu[0]] = (pu, u)
            elif u in r.required_units:
                problems.append(_problem(
                    t, f"the header '{_one_line(r.source)}' gives the unit {u!r}, which is not a known unit",
                    "write the unit as 元, 千元, 万元, 百万元, 千万元 or 亿元 in the header (or remove it and give "
                    f"units={{'{t}': '…'}})", column=col))
                return None
        if len(header_units) > 1:
            problems.append(_problem(t, f"the header rows give different units ({', '.join(v[1] for v in header_units.values())})",
                                     "correct the header", column=col))
            return None
        spec = self.opts.units.get(t, {})
        user = spec.get(col) or spec.get(None)
        head = next(iter(header_units.values())) if header_units else None
        if head and user and head[0][0] != user[0] and user[3] != "all":
            problems.append(_problem(
                t, f"unit conflict: the header '{_one_line(r.source)}' says {head[1]} but units= says {user[2]}",
                f"remove '{col}' from units= (the header's unit is used) or correct the header", column=col))
            return None
        if head:
            (name, factor), text = head
            origin = "header"
            if user and head[0][0] != user[0]:
                self.note(t, "unit from the header", "info", column=col,
                          detail=f"'{_one_line(r.source)}' says {text}; it wins over units = {user[2]!r} "
                                 "given for every table")
        elif user:
            name, factor, text, _ = user
            origin = "units option"
        elif self.opts.preset and PRESETS[self.opts.preset].default_unit:
            text = PRESETS[self.opts.preset].default_unit
            name, factor = parse_unit(text)
            origin = f"{self.opts.preset} preset (its releases report amounts in {name} yuan)"
        else:
            return None
        rec = {"table": t, "column": col, "source": r.source, "unit": name, "factor": factor, "origin": origin}
        self.prov["units"].append(rec)
        if factor != 1:
            self.note(t, "unit converted", "info", column=col,
                      detail=f"'{_one_line(r.source)}': values in {name} ({text}, from the {origin}) multiplied "
                             f"by {factor:,} to yuan")
        return factor

    def _convert(self, t: str, name: str, kind: str | None, raw: pd.Series, factor, idx) -> pd.Series:
        raw = raw.copy(deep=not _COPY_ON_WRITE)   # a new index on the same values (shared only copy-on-write)
        raw.index = idx
        if isinstance(raw.dtype, pd.CategoricalDtype):
            raw = raw.astype(object)
        if kind is None and raw.dtype != object:  # a typed extra column (Parquet) stays as it is
            return raw
        text_dtype = pd.api.types.is_string_dtype(raw.dtype) and raw.dtype != object
        if kind == "text" and text_dtype:
            return raw
        if kind not in (None, "text") and text_dtype:  # a column of text cells (CSV): vectorised
            return self._convert_strings(t, name, kind, raw, factor, idx)
        is_num_dtype = pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw)
        if kind in ("amount", "number", "count") and is_num_dtype:
            s = raw.astype(float)
            if factor and factor != 1:
                s = s.map(lambda v: v if math.isnan(v) else _scale(v, factor)).astype(float)
            return s
        if kind == "year" and (is_num_dtype or pd.api.types.is_datetime64_any_dtype(raw)):
            return raw
        if kind == "bool" and pd.api.types.is_bool_dtype(raw):
            return raw
        vals = raw.astype(object).tolist()
        if kind not in (None, "text") and all(v is None or type(v) is str for v in vals):
            return self._convert_strings(t, name, kind, vals, factor, idx)
        n = len(vals)
        out: list = [None] * n
        changed, spaced, numeric_origin = [], [], []
        for i, v in enumerate(vals):
            if _blank(v) or v is pd.NA or v is pd.NaT:
                continue
            if isinstance(v, bytes):
                v = v.decode("utf-8", errors="replace")
            if kind in (None, "text"):
                out[i] = _cell_text(v) if not isinstance(v, str) else v
                continue
            if isinstance(v, str):
                w = nfkc(v)
                if w != v:
                    changed.append(i)
                s = w.strip()
                if kind == "id" and s != w and s:
                    spaced.append(i)
                out[i] = s if s else None
            elif kind == "id" and _is_number(v):
                out[i] = _cell_text(v)
                numeric_origin.append(i)
            elif kind in ("amount", "number", "count") and _is_number(v):
                out[i] = float(v)
            else:
                out[i] = _cell_text(v)
        if changed:
            self.note(t, "full-width characters", "repaired", rows=idx[changed], column=name,
                      detail=[f"'{vals[i]}' read as '{nfkc(vals[i]).strip()}'" for i in changed])
        if spaced:
            self.note(t, "spaces around a code", "repaired", rows=idx[spaced], column=name,
                      detail="leading/trailing spaces removed")
        if numeric_origin:
            self.numeric_ids.append((t, name, idx[numeric_origin]))
        if kind in ("amount", "number", "count"):
            if factor and factor != 1:
                for i, v in enumerate(out):
                    if v is None:
                        continue
                    d = _to_decimal(v)
                    if d is not None:
                        out[i] = float(d * factor)
            if all(v is None or isinstance(v, float) for v in out):
                return pd.Series([math.nan if v is None else v for v in out], index=idx, dtype=float)
        return pd.Series(out, index=idx, dtype=object)

    def _convert_strings(self, t: str, name: str, kind: str, vals: list, factor, idx) -> pd.Series:
        """Vectorised :meth:`_convert` for a column of text cells (every CSV column)."""
        st = vals.astype("string") if isinstance(vals, pd.Series) else pd.Series(vals, index=idx, dtype="string")
        nonascii = non_ascii(st)
        w = st
        if nonascii.any():
            w = st.copy()
            w[nonascii] = st[nonascii].map(nfkc)
            changed = nonascii & (w != st).fillna(False).astype(bool)
            if changed.any():
                self.note(t, "full-width characters", "repaired", rows=idx[changed.to_numpy()], column=name,
                          detail=[f"'{a}' read as '{b.strip()}'" for a, b in zip(st[changed], w[changed], strict=True)])
        # nothing to strip when no cell begins or ends with white space (read from the bytes)
        stripped = w if edge_space(w) is False else w.str.strip()
        if kind == "id" and stripped is not w:
            spaced = ((stripped != w) & (stripped != "")).fillna(False).astype(bool)
            if spaced.any():
                self.note(t, "spaces around a code", "repaired", rows=idx[spaced.to_numpy()], column=name,
                          detail="leading/trailing spaces removed")
        empty = empty_cells(stripped)
        empty = empty if empty is not None else (stripped == "").fillna(False).to_numpy(dtype=bool)
        if empty.any():   # no copy of a column without empty cells
            stripped = stripped.mask(empty)
        if not (kind in ("amount", "number", "count") and factor and factor != 1):
            return mark_clean_text(stripped)   # validation need not look for blanks or spaces again
        out = stripped.astype(object).where(stripped.notna(), None)
        cleaned = stripped.str.replace(",", "", regex=False).str.replace("−", "-", regex=False)
        ok = cleaned.str.fullmatch(_NUMBER_RE.pattern).fillna(False).astype(bool)
        exp = int(round(math.log10(factor)))
        simple = ok & ~cleaned.str.contains("[eE]", regex=True).fillna(False).astype(bool)
        if 10**exp != factor:
            simple[:] = False
        # shifting the decimal exponent is exact: float("0.07e4") == 700.0 (a correctly rounded parse)
        shifted = to_float(cleaned[simple] + f"e{exp}")
        out[simple] = (shifted.to_numpy(dtype=object) if shifted is not None
                       else [float(f"{x}e{exp}") for x in cleaned[simple].tolist()])
        rest = ok & ~simple
        for i in rest[rest].index:
            d = _to_decimal(cleaned[i])
            if d is not None:
                out[i] = float(d * factor)
        if out.map(lambda v: v is None or isinstance(v, float)).all():
            return out.astype(float)
        return out

    # ---- preset rules ----
    def _preset_rules(self, src: _Source, df: pd.DataFrame) -> pd.DataFrame:
        t = src.table
        p = PRESETS.get(self.opts.preset) if self.opts.preset else None
        df = self._consolidated_only(t, df)
        vendor_file = p is not None and bool(p.files) and table_for_name(Path(src.file).stem) is None
        df = exclude_interim(df, t, self.log, STAGE, report_dates=vendor_file)
        if p is None:
            return df
        if "csmar_missing_codes" in p.rules:
            df = self._csmar_missing_codes(t, df)
        if "csmar_subsidy_items" in p.rules and t == "grants" and "programme" in df.columns:
            df = subsidy_items(df, self.log, STAGE, where=src.where)
        if p.splits and t == "grants":
            df = df.assign(programme="补贴收入 (industrial survey)")
            none = ~(df["amount"].map(_positive))
            if none.any():
                df = self._exclude(t, df, none, "no subsidy income",
                                   "补贴收入 missing or zero this year: no grant row", "amount")
        if "strip_exchange_suffix" in p.rules:
            for col in TABLES[t].columns_of_kind("id"):
                if col in df.columns:
                    s = df[col].astype("string")
                    m = s.str.match(_EXCHANGE_RE).fillna(False).astype(bool)
                    if m.any():
                        new = s.str.replace(_EXCHANGE_RE, r"\1", regex=True)
                        self.note(t, "exchange suffix removed", "repaired", rows=df.index[m], column=col,
                                  detail=[f"'{a}' read as '{b}'" for a, b in zip(s[m], new[m], strict=True)])
                        df[col] = df[col].where(~m, new.astype(object))
        return df

    def _csmar_missing_codes(self, t: str, df: pd.DataFrame) -> pd.DataFrame:
        """GTA/CSMAR extracts write -95, -97, -99 for 'not applicable / not disclosed / missing'."""
        copied = False
        for col in df.columns:
            if column_kind(t, col) not in ("amount", "number", "count"):
                continue
            v = df[col]
            num = v if pd.api.types.is_numeric_dtype(v) else pd.to_numeric(
                v.astype("string").str.strip().str.replace(",", "", regex=False), errors="coerce")
            code = num.isin(_CSMAR_MISSING_CODES).to_numpy()
            if code.any():
                self.note(t, "CSMAR missing-value code", "repaired", rows=df.index[code], column=col,
                          firm_id=df.loc[code, "firm_id"] if "firm_id" in df else None,
                          detail=[f"{x:g} read as missing (-95, -97 and -99 are CSMAR's codes for missing values)"
                                  for x in num[code]])
                if not copied:   # the frame may be a slice of the one read: its own columns from here
                    df, copied = df.copy(deep=not _COPY_ON_WRITE), True
                df[col] = v.mask(code)
        return df

    def _consolidated_only(self, t: str, df: pd.DataFrame) -> pd.DataFrame:
        """Keep consolidated statements: CSMAR ``Typrep`` A (FS tables) or 1 (FN tables), 报表类型 合并报表."""
        col = next((c for c in df.columns if header_key(split_header(c).base) in _STATEMENT_TYPE_KEYS), None)
        if col is None:
            return df
        v = df[col].astype("string").str.strip().str.upper().str.replace(r"\.0$", "", regex=True)
        parent = v.isin(_PARENT_STATEMENT).fillna(False).astype(bool)
        if parent.any():
            df = self._exclude(t, df, parent, "parent-company statement",
                               f"{col} = {', '.join(sorted(set(v[parent].dropna())))} (parent company only); "
                               "the consolidated statement is used", col)
        unknown = ~v.isin(_CONSOLIDATED | _PARENT_STATEMENT).fillna(True).astype(bool) & ~parent
        if unknown.any():
            self.note(t, "unknown statement type", "flagged", rows=df.index[unknown], column=col,
                      detail=f"{col} = {', '.join(sorted(set(v[unknown].dropna()))[:5])}: neither consolidated "
                             "(A, 1, 合并报表) nor parent (B, 2, 母公司报表); rows kept")
        return df

    def _exclude(self, t, df, mask, issue, detail, column) -> pd.DataFrame:
        sel = df[mask]
        self.log.add(stage=STAGE, table=t, rows=sel.index, column=column, issue=issue, action="excluded",
                     firm_id=sel["firm_id"] if "firm_id" in sel else None, detail=detail)
        return df[~mask]

    # ---- several files for one table ----
    def combine(self, table: str, parts: list[tuple[_Source, pd.DataFrame]], problems: list) -> pd.DataFrame | None:
        """One table from the files that feed it: merged on its key (CSMAR's balance sheet + income
        statement + …), or stacked (grants; survey files of different years)."""
        if len(parts) == 1:
            return parts[0][1]
        frames = [df for _, df in parts]
        names = [src.file for src, _ in parts]
        if table == "firms":
            return self._combine_firms(frames, names, problems)
        key = list(TABLES[table].key)
        if not key:
            return self._stack(table, frames, names)
        return merge_on_key(table, frames, names, key, self.log, problems, STAGE)

    def _stack(self, table: str, frames: list[pd.DataFrame], names: list[str]) -> pd.DataFrame:
        """Rows of several files of one table (a download split by years); a row that an earlier file
        already holds (the same table downloaded twice, as CSV and as Excel) is counted once."""
        df = pd.concat(frames)
        src = np.repeat(np.arange(len(frames)), [len(f) for f in frames])
        h = pd.util.hash_pandas_object(_content(df, table), index=False).to_numpy()
        first = pd.Series(src).groupby(h).transform("min").to_numpy()
        repeat = src != first
        if repeat.any():
            sel = df[repeat]
            self.log.add(stage=STAGE, table=table, rows=sel.index, issue="row repeated in another file",
                         action="excluded", firm_id=sel["firm_id"] if "firm_id" in sel else None,
                         detail=[f"the same row is in {names[k]}; counted once" for k in first[repeat]])
            df = df[~repeat]
        return df

    def _combine_firms(self, frames, names, problems) -> pd.DataFrame | None:
        df = pd.concat(frames)
        if "firm_id" not in df:
            return df
        ids = df["firm_id"].astype("string").str.strip()
        order = df["year"].astype("string") if "year" in df else pd.Series("", index=df.index)
        later = pd.DataFrame({"id": ids, "o": order}).sort_values("o", kind="stable").duplicated("id", keep="last")
        later = later.reindex(df.index)
        if later.any():
            df = self._exclude("firms", df, later, "firm listed again",
                               "the firm's attributes are taken from its latest year (name, sector and province "
                               "may change over time)", "firm_id")
        return df.drop(columns=["year"], errors="ignore")

    # ---- derived columns ----
    def derive(self, t: str, df: pd.DataFrame, problems: list) -> pd.DataFrame:
        """Contract columns computed from their parts (one definition on every preset; logged)."""
        helpers = [c for c in HELPER_COLUMNS.get(t, {}) if c in df.columns]
        for c in helpers:
            df[c] = _numeric(df[c], t, c, self.log, problems, STAGE)
        if t != "financials":
            return df
        if "revenue" not in df.columns and "main_business_revenue" in df.columns and self.opts.preset and \
                PRESETS[self.opts.preset].splits:
            df["revenue"] = df["main_business_revenue"]
            self.note(t, "revenue from main-business revenue", "flagged", column="revenue",
                      detail="the survey file has no total operating revenue (营业收入合计): main-business revenue "
                             "(主营业务收入) is used, so shares of revenue are slightly larger than with total revenue")
        parts = DERIVED_COLUMNS["financials"]["interest_bearing_debt"]
        have = [c for c in parts if c in df.columns]
        if "interest_bearing_debt" not in df.columns and have:
            df["interest_bearing_debt"] = df[have].sum(axis=1, min_count=1)
            lacking = [c for c in parts if c not in df.columns]
            self.note(t, "column derived", "info", column="interest_bearing_debt",
                      detail=f"interest_bearing_debt = {' + '.join(have)} (missing parts count as 0)"
                             + (f"; not in the data: {', '.join(lacking)}" if lacking else ""))
        elif "interest_bearing_debt" not in df.columns and "interest_bearing_debt_vendor" in df.columns:
            df["interest_bearing_debt"] = df["interest_bearing_debt_vendor"]
            self.note(t, "vendor aggregate used for interest-bearing debt", "flagged", column="interest_bearing_debt",
                      detail="带息债务 (Wind) is used because its parts are not in the data; Wind's aggregate "
                             "also counts trading financial liabilities and other interest-bearing items, so the "
                             "debt base (and the debt benefit) can be larger than the project's definition "
                             f"({' + '.join(parts)}); export those columns to use it")
        if "rd_expense_note" in df.columns:
            fill = df["rd_expense_note"].notna()
            if "rd_expense" in df.columns:
                fill &= df["rd_expense"].isna()
            if fill.any():
                base = df["rd_expense"] if "rd_expense" in df.columns else pd.Series(float("nan"), index=df.index)
                df["rd_expense"] = base.where(~fill, df["rd_expense_note"])
                self.note(t, "R&D expense from the R&D table", "repaired", rows=df.index[fill], column="rd_expense",
                          detail="no R&D line in the income statement (before the 2018 statement format): the "
                                 "expensed R&D of the R&D table (RDExpenses) is used")
        if "rd_expense" in df.columns and "year" in df.columns:
            miss = df["rd_expense"].isna()
            if miss.any():
                yrs = df.loc[miss, "year"].astype("string").str[:4].value_counts().sort_index()
                self.note(t, "R&D expense missing", "flagged", rows=df.index[miss], column="rd_expense",
                          firm_id=df.loc[miss, "firm_id"] if "firm_id" in df else None,
                          detail="no R&D expense for this firm-year (by year: "
                                 + ", ".join(f"{y}: {n}" for y, n in yrs.items())
                                 + "); R&D intensity tests are not applied to it")
        return df

    # ---- firm codes stored as numbers ----
    def harmonise_codes(self, tables: list[tuple[str, pd.DataFrame]]) -> None:
        """Restore leading zeros of firm codes (``tables``: (table, frame) for every file read)."""
        preset = PRESETS.get(self.opts.preset) if self.opts.preset else None
        if (preset is not None and preset.code_width) or not self.numeric_ids:
            return  # a preset's codes were padded as each file was read
            return
        width = None
        origin = "preset"
        numeric = {(t, c): set(ix) for t, c, ix in self.numeric_ids}
        text_codes = []
        for t, df in tables:
            for c in TABLES[t].columns_of_kind("id"):
                if c in df.columns:
                    s = df[c]
                    rows = numeric.get((t, c), set())
                    vals = s[[i not in rows for i in s.index]].dropna().astype(str)
                    text_codes.extend(v for v in vals if v.strip().lower() not in MISSING_MARKERS)
        lengths = {len(v) for v in text_codes}
        if text_codes and all(v.isdigit() for v in text_codes) and len(lengths) == 1:
            width = lengths.pop()
            origin = "the other codes"
        for t, c, ix in self.numeric_ids:
            for tt, df in tables:
                if tt != t or not len(ix.intersection(df.index)):
                    continue
                self._restore_width(t, c, df, ix.intersection(df.index), width, origin)

    def _restore_width(self, t, c, df, ix, width, origin) -> None:
        s = df.loc[ix, c].astype(str)
        if not width:
            self.note(t, "firm code stored as a number", "info", rows=ix, column=c,
                      detail="stored as a number in the source: leading zeros, if any, are lost; "
                             "store codes as text or use preset='csmar'/'wind'")
            return
        short = s[s.str.isdigit() & (s.str.len() < width)]
        if len(short):
            padded = short.str.zfill(width)
            df.loc[short.index, c] = padded.to_numpy(dtype=object)
            self.note(t, "firm code stored as a number", "repaired", rows=short.index, column=c,
                      detail=[f"{a} read as '{b}' (leading zeros restored to {width} digits, as in {origin})"
                              for a, b in zip(short, padded, strict=True)])

    def _pad_codes(self, tables: list[tuple[str, pd.DataFrame]], preset) -> None:
        """A preset's codes have a fixed width (CSMAR ``Stkcd``: six digits): restore lost zeros in any file type."""
        width = preset.code_width
        for t, df in tables:
            for c in TABLES[t].columns_of_kind("id"):
                if c not in df.columns:
                    continue
                s = df[c].astype("string").str.strip()
                s = s.str.replace(r"^(\d+)\.0$", r"\1", regex=True)  # a code written as 2001.0
                short = (s.str.fullmatch(r"\d+").fillna(False) & (s.str.len() < width)).astype(bool)
                if not short.any():
                    continue
                padded = s[short].str.zfill(width)
                df.loc[short, c] = padded.to_numpy(dtype=object)
                self.note(t, "firm code without its leading zeros", "repaired", rows=df.index[short], column=c,
                          detail=("'" + s[short].astype(str) + "' read as '" + padded.astype(str)
                                  + f"' ({preset.name} codes have {width} digits)").tolist())

    def unused_mapping(self, tables_read: set[str]) -> None:
        for table, entries in self.opts.mapping.items():
            for key, target in entries.items():
                if table is not None and table not in tables_read:
                    continue
                tabs = [table] if table else sorted(tables_read)
                if not any((tt, target) in self.used_mapping for tt in tabs):
                    self.note(table or "", "mapping entry not used", "info", column=target,
                              detail=f"no header matching {key!r} in {table or 'any table'}")


def _filled(col: pd.Series) -> pd.Series:
    """Cells holding something other than white space (``col.str.strip().ne("")``, without new strings)."""
    if text_array(col) is not None:
        return pd.Series(~blank_text(col), index=col.index)
    return col.str.strip().ne("")


def _plain_numbers(col: pd.Series) -> np.ndarray | None:
    """The cells as float64 when every one is a plain finite number (pyarrow's correctly rounded parser,
    as validation uses); None otherwise (an empty cell, a marker, text, ``nan``, ``inf``, or no pyarrow).
    A column of text fails at its first cell, so the attempt costs little."""
    arr = getattr(col.array, "_pa_array", None)
    if arr is None or not len(col):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return _writable(out) if np.isfinite(out).all() else None


def _content(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """What makes two rows of a table the same record, written the same way whatever the file format:
    the contract's columns (numbers as numbers, years as years, text stripped) and the account a CSMAR
    note books the row to. Descriptive extras (a short name that changed between downloads) are left out."""
    out = {}
    for c in df.columns:
        kind = column_kind(table, c)
        if kind in ("amount", "number", "count"):
            out[c] = pd.to_numeric(df[c].astype("string").str.strip().str.replace(",", "", regex=False),
                                   errors="coerce").astype("string")
        elif kind == "year":
            out[c] = parse_periods(df[c])["year"].astype("string")
        elif kind is not None or str(c).lower() in ("datasources", "列报会计科目"):
            out[c] = df[c].astype("string").str.strip().str.replace(r"\.0$", "", regex=True)
    return pd.DataFrame(out, index=df.index)


def _positive(v) -> bool:
    d = _to_decimal(v) if not isinstance(v, float) else (None if math.isnan(v) else Decimal(repr(v)))
    return d is not None and d > 0


def _one_line(header: str) -> str:
    """A header as one line for messages (Wind headers span several lines)."""
    return " ".join(str(header).split())


def _suggest(table: str, col: str, extras: list[str]) -> str:
    """The extra header most likely meant as ``col`` (for the hint of a missing-column error)."""
    names = [col, *SYNONYMS.get(col, ()), *TABLE_SYNONYMS.get(table, {}).get(col, ())]
    keys = [header_key(n) for n in names]
    best, score = "<your header>", 0.6
    for h in extras:
        k = header_key(split_header(h).base)
        if not k:
            continue
        s = max(difflib.SequenceMatcher(None, k, n).ratio() for n in keys)
        if any(len(n) >= 2 and re.search(rf"(^|_){re.escape(n)}($|_)", k) for n in keys):
            s = max(s, 0.9)
        if s > score:
            best, score = h, s
    return best


def _scale(v: float, factor: int) -> float:
    d = _to_decimal(v)
    return v * factor if d is None else float(d * factor)


def _detect_label_rows(grid: list[list], kinds: list[str | None], max_extra: int = 2) -> int:
    """How many rows under the header are label rows (non-numeric text in every numeric column)."""
    if len(grid) < 1:
        return 0
    data = grid[max_extra:][:500]
    numeric_cols = set()
    for j, k in enumerate(kinds):
        vals = [r[j] for r in data if not _blank(r[j]) and not _is_marker(r[j])]
        if vals:
            if sum(_looks_numeric(v) for v in vals) >= 0.9 * len(vals):
                numeric_cols.add(j)
        elif k in _NUMERIC_KINDS:
            numeric_cols.add(j)
    if not numeric_cols:
        return 0
    n = 0
    for r in grid[:max_extra]:
        # a label row fills every column, with text (not a number, not a missing marker) in the numeric ones
        if all(not _blank(v) for v in r) and all(not _is_marker(r[j]) and not _looks_numeric(r[j])
                                                 for j in numeric_cols):
            n += 1
        else:
            break
    return n


# -- entry point ----------------------------------------------------------------------
def read_dataset(path, *, mapping=None, preset=None, units=None, sheets=None, header_rows=None,
                 validate: bool = True, limits: Limits | None = None, engine: str = "pandas",
                 npartitions: int | None = None) -> Dataset:
    """Read the data contract's tables from a folder of CSV/Parquet files or one ``.xlsx`` workbook.

    Parameters
    ----------
    path : str or Path
        A folder holding ``firms.csv``, ``financials.csv`` (or ``.parquet``), ``grants``,
        ``equity``, ``designations`` — tables that are not available may be left out —
        or one ``.xlsx`` workbook with a sheet per table (sheet names in any letter case,
        or 企业 / 财务 / 补助 / 股权 / 认定).
    mapping : dict, optional
        Source header → contract column, per table (``{"financials": {"营业收入": "revenue"}}``)
        or flat (``{"营业收入": "revenue"}``, applied to every table having that column).
        English contract names, common Chinese headers and units in headers are
        recognised without a mapping.
    preset : {"csmar", "wind"}, optional
        Header codes and rules of a database export (see ``finsupport.data.mapping.PRESETS``).
    units : str or dict, optional
        Unit of the amounts where the header does not say: ``"wan"`` (every table),
        ``{"financials": "wan"}`` or ``{"financials": {"revenue": "yi"}}``. Spellings:
        yuan/元, wan/万元/10k, yi/亿元/100m (also thousand/千元, million/百万元). Amounts
        are converted to yuan; each conversion is recorded in ``provenance["units"]``.
    sheets : dict, optional
        Table → sheet name (workbooks) or file name (folders) where names differ.
    header_rows : int or dict, optional
        Number of header rows (CSMAR exports have 3: code, Chinese name, unit); detected
        when not given. Per table: ``{"financials": 3}``.
    validate : bool
        Normalise and check the tables (default). ``False`` returns them as read: no row
        excluded, no check; a CSV column of plain values comes as the parser typed it (numbers,
        whole-number years, yes/no as bool — as a Parquet file gives them), any other as text.
    limits : finsupport.data.safety.Limits, optional
        Limits for untrusted workbooks (file size, zip members, ratio, cells, macros).
    engine : {"pandas", "dask"}
        ``"dask"`` reads a folder of Parquet tables in the contract's layout into a
        :class:`~finsupport.data.partitioned.PartitionedDataset` (firm-year tables on
        Dask, partitioned by firm; ``npartitions`` buckets) for data larger than memory;
        ``support_flows`` and ``support_share`` accept it.

    Raises
    ------
    DataError
        A file or table that cannot be used; the message names table, file, column
        and source rows and says how to fix it.
    ConfigError
        An option that is malformed or unknown (a preset, a unit spelling, …).
    """
    if engine == "dask":
        if mapping or preset or units or sheets or header_rows:
            raise ConfigError("engine='dask' reads Parquet in the contract's layout: mapping, preset, units, sheets "
                              "and header_rows are for the in-memory reader (read the export with engine='pandas' "
                              "and write each table with to_parquet)")
        from .partitioned import read_partitioned

        return read_partitioned(path, npartitions=npartitions, validate=validate)
    if engine != "pandas":
        raise ConfigError(f"engine = {engine!r} is not allowed; use 'pandas' or 'dask'")
    opts = _options(mapping, preset, units, sheets, header_rows, limits)
    p = Path(path)
    log = QualityLog()
    prov: dict = {"path": str(path), "name": p.name, "preset": opts.preset, "tables": {}, "units": []}
    if not p.exists():
        raise DataError(problems=[_problem(p.name or str(path), f"no such file or folder: '{path}'",
                                           "check the path (a folder of CSV/Parquet tables or an .xlsx workbook)")])
    file_problems: list[dict] = []
    if p.is_dir():
        sources, file_problems = _folder_sources(p, opts, prov, log)
        prov["format"] = "+".join(sorted({s.fmt for s in sources})) or "csv"
    else:
        suffix = p.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            prov["format"] = "xlsx"
            sources = _workbook_sources(p, opts, log, prov)
        elif suffix in (".csv", ".parquet", ".pq", ".txt", ".tsv"):
            t = table_for_name(p.stem)
            which = f"'{t}' " if t else ""
            raise DataError(problems=[_problem(
                t or p.name, f"'{p.name}' is a single {suffix[1:].upper()} file; read_dataset reads a folder of "
                             "tables or a workbook",
                f"pass the folder that contains it ({p.parent.name or '.'}), with the {which}file named after its "
                f"table ({_expected_files()})")])
        elif suffix == ".xls":
            raise DataError(problems=[_problem(p.name, "old Excel format (.xls) is not supported",
                                               "open it in Excel and save it as .xlsx")])
        else:
            with open(p, "rb") as fh:
                kind = sniff(fh.read(8192))
            if kind == "zip":
                prov["format"] = "xlsx"
                sources = _workbook_sources(p, opts, log, prov)
            else:
                raise DataError(problems=[_problem(p.name, f"unsupported file type '{suffix or '(none)'}'",
                                                   "pass a folder of CSV/Parquet tables or an .xlsx workbook")])
    builder = _Builder(opts, log, prov)
    problems: list[dict] = list(file_problems)
    parts: dict[str, list] = {}
    task = current_task()
    if not p.is_dir():  # a workbook: its sheets were read together
        task.expect(len(sources), "tables")
    for src in sources:
        task.note(f"{src.table} from {src.where}")
        df = builder.build(src, problems)
        if df is not None:
            parts.setdefault(src.table, []).append((src, df))
            task.note(f"{src.table} {len(df):,} rows")
        task.advance(1)
    if problems:
        raise DataError(problems=problems)
    builder.harmonise_codes([(t, df) for t, ps in parts.items() for _, df in ps])
    tables: dict[str, pd.DataFrame] = {}
    for t in TABLE_NAMES:
        if t in parts:
            df = builder.combine(t, parts[t], problems)
            if df is not None:
                tables[t] = builder.derive(t, df, problems)
    if problems:
        raise DataError(problems=problems)
    builder.unused_mapping(set(tables))
    for t in opts.units:
        if t not in tables and not isinstance(units, str):
            log.add(stage=STAGE, table=t, issue="units option not used", action="info",
                    detail=f"units= names '{t}', but no {t} table was read")
    return Dataset(**tables, provenance=prov, quality=log, validate=validate)
