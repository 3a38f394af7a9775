"""Checks on untrusted Excel workbooks, made before anything is decompressed or parsed.

An ``.xlsx`` file is a zip archive of XML parts. A hostile or broken one can be a zip
bomb (a small file that inflates to gigabytes), an XML entity bomb ("billion laughs"),
a renamed file of another type, or carry macros and links to other workbooks. Before
:mod:`openpyxl` sees the file, :func:`check_workbook`

1. checks the file size (``Limits.max_file_bytes``) and the magic bytes (a zip archive;
   an old ``.xls``, a password-protected workbook, a CSV, HTML or XML file renamed to
   ``.xlsx`` is refused with a message saying what it is);
2. reads only the zip *directory*: the number of members (``max_entries``), their total
   uncompressed size (``max_uncompressed_bytes``) and each member's compression ratio
   (``max_ratio``; members under ``ratio_min_bytes`` are not ratio-checked) — the sizes
   in the directory are binding, since :mod:`zipfile` stops at the declared size and
   fails the CRC check if a member tries to inflate further;
3. checks that the archive is a workbook (``[Content_Types].xml`` and ``xl/workbook.xml``),
   not a Word file or a zip of other things; refuses encrypted members;
4. reads the first 64 KiB of every XML part and refuses any DTD (``<!DOCTYPE``,
   ``<!ENTITY``): workbooks never need one, and entity bombs need it;
5. notes macros (``xl/vbaProject.bin``; ignored and logged by default, never run;
   ``Limits(macros="refuse")`` refuses them) and links to external workbooks (their
   cached values are read; ``Limits(external_links="refuse")`` refuses them).

:func:`open_workbook` then opens the file with
``openpyxl.load_workbook(read_only=True, data_only=True, keep_links=False)``: formulas
are read as the values Excel cached when the file was saved, never evaluated. openpyxl
parses XML through :mod:`defusedxml` when it is installed (a dependency of finsupport;
``openpyxl.xml.DEFUSEDXML``), a second guard against entity expansion.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

__all__ = ["Limits", "WorkbookCheck", "check_workbook", "open_workbook", "sniff"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Limits applied to untrusted workbooks (defaults suit large real exports)."""

    max_file_bytes: int = 200 * MiB
    max_entries: int = 10_000
    max_uncompressed_bytes: int = 1024 * MiB
    max_ratio: float = 100.0
    ratio_min_bytes: int = 1 * MiB
    max_cells: int = 50_000_000
    macros: str = "ignore"  # ignore | refuse
    external_links: str = "flag"  # flag | refuse

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        if self.macros not in ("ignore", "refuse"):
            raise ConfigError(f"Limits.macros must be 'ignore' or 'refuse', got {self.macros!r}")
        if self.external_links not in ("flag", "refuse"):
            raise ConfigError(f"Limits.external_links must be 'flag' or 'refuse', got {self.external_links!r}")
        for name in ("max_file_bytes", "max_entries", "max_uncompressed_bytes", "max_ratio", "max_cells"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"Limits.{name} must be positive")


@dataclass
class WorkbookCheck:
    """What :func:`check_workbook` found: sizes, and notes for the quality log."""

    path: Path
    size: int
    entries: int
    uncompressed: int
    macros: bool = False
    external_links: list[str] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)  # {issue, action, detail}


_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff(head: bytes) -> str:
    """What the first bytes of a file say it is: zip, ole2, parquet, xml, html, text, binary or empty."""
    if not head:
        return "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(_OLE2):
        return "ole2"
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if stripped.startswith((b"<html", b"<!doctype html", b"<table")):
        return "html"
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<"):
        return "xml"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text"
    if b"\x00" in head[:4096]:
        return "binary"
    return "text"


_WHAT = {
    "ole2": ("an old Excel .xls file or a password-protected workbook",
             "open it in Excel and save it as .xlsx (without a password)"),
    "parquet": ("a Parquet file", "rename it to <table>.parquet and put it in a folder of tables"),
    "html": ("an HTML page (some systems export tables as HTML named .xls/.xlsx)",
             "open it in Excel and save it as .xlsx, or export CSV"),
    "xml": ("an XML file (for example the Excel 2003 XML format)", "open it in Excel and save it as .xlsx"),
    "text": ("a text file (CSV?)", "if it is CSV, name it after its table (financials.csv) and pass the folder"),
    "binary": ("a binary file of unknown type", "export the data again as .xlsx or CSV"),
    "empty": ("an empty file", "export the data again"),
}


def _fail(path: Path, message: str, hint: str) -> DataError:
    return DataError(problems=[{"table": path.name, "message": message, "hint": hint}])


def check_workbook(path: str | Path, limits: Limits | None = None) -> WorkbookCheck:
    """Check an untrusted ``.xlsx`` before parsing it; raise :class:`DataError` if it is unsafe or not a workbook."""
    limits = limits or Limits()
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError as e:
        raise _fail(path, f"cannot read the file ({e.strerror or e})", "check the path and permissions") from None
    if size > limits.max_file_bytes:
        raise _fail(path, f"file is {size / MiB:,.1f} MiB, above the limit of {limits.max_file_bytes / MiB:,.0f} MiB",
                    "split the workbook, use CSV/Parquet files, or raise safety.Limits(max_file_bytes=...)")
    kind = sniff(head)
    if kind != "zip":
        what, hint = _WHAT[kind]
        raise _fail(path, f"not an Excel workbook (.xlsx): the file is {what}", hint)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _fail(path, f"not an Excel workbook (.xlsx): damaged zip archive ({e})",
                    "export the workbook again") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise _fail(path, f"the archive has {len(infos):,} members, above the limit of {limits.max_entries:,}",
                        "this is not a normal workbook; raise safety.Limits(max_entries=...) only if you trust it")
        total = sum(i.file_size for i in infos)
        if total > limits.max_uncompressed_bytes:
            raise _fail(path, f"the workbook would inflate to {total / MiB:,.0f} MiB, above the limit of "
                              f"{limits.max_uncompressed_bytes / MiB:,.0f} MiB (a zip bomb?)",
                        "use CSV/Parquet for very large data, or raise safety.Limits(max_uncompressed_bytes=...)")
        for i in infos:
            if i.flag_bits & 0x1:
                raise _fail(path, f"the archive member '{i.filename}' is encrypted",
                            "remove the password in Excel and save again")
            if i.file_size >= limits.ratio_min_bytes:
                ratio = i.file_size / max(i.compress_size, 1)
                if ratio > limits.max_ratio:
                    raise _fail(path, f"the member '{i.filename}' inflates {ratio:,.0f}:1, above the limit of "
                                      f"{limits.max_ratio:,.0f}:1 (a zip bomb?)",
                                "do not open this file; if you trust it, raise safety.Limits(max_ratio=...)")
        names = {i.filename for i in infos}
        lower = {n.lower() for n in names}
        if "[content_types].xml" not in lower or "xl/workbook.xml" not in lower:
            if "xl/workbook.bin" in lower:
                what = "an Excel binary workbook (.xlsb)"
            elif "word/document.xml" in lower:
                what = "a Word document"
            elif "ppt/presentation.xml" in lower:
                what = "a PowerPoint file"
            elif "mimetype" in lower or "content.xml" in lower:
                what = "an OpenDocument file (.ods?)"
            else:
                what = "a zip archive of other files"
            raise _fail(path, f"not an Excel workbook (.xlsx): the file is {what}",
                        "save the data from Excel as .xlsx, or unzip it and pass the folder of CSV files")
        check = WorkbookCheck(path, size, len(infos), total)
        for i in infos:
            if i.filename.lower().endswith((".xml", ".rels", ".vml")):
                try:
                    with zf.open(i) as member:
                        start = member.read(64 * 1024)
                except Exception as e:  # damaged member: unsupported compression, bad CRC, …
                    raise _fail(path, f"damaged workbook: cannot read '{i.filename}' ({type(e).__name__}: {e})",
                                "export the workbook again") from None
                if _has_dtd(start):
                    raise _fail(path, f"the part '{i.filename}' declares a DTD or XML entities (a 'billion laughs' "
                                      "entity bomb?); workbooks never need them",
                                "do not open this file; export the data again from the source system")
        if "xl/vbaproject.bin" in lower:
            check.macros = True
            if limits.macros == "refuse":
                raise _fail(path, "the workbook contains macros (xl/vbaProject.bin)",
                            "save it as .xlsx without macros, or use Limits(macros='ignore') (macros are never run)")
            check.notes.append({"issue": "workbook contains macros", "action": "info",
                                "detail": "macros ignored; finsupport never runs them"})
        links = sorted(n for n in names if n.lower().startswith("xl/externallinks/") and n.lower().endswith(".xml"))
        if links:
            check.external_links = links
            if limits.external_links == "refuse":
                raise _fail(path, f"the workbook links to {len(links)} external workbook(s)",
                            "paste the linked values as values, or use Limits(external_links='flag')")
            check.notes.append({"issue": "workbook links to other workbooks", "action": "flagged",
                                "detail": f"{len(links)} external link(s); formulas read as the values cached "
                                          "when the file was saved, links never followed"})
    return check


def _has_dtd(start: bytes) -> bool:
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = start.decode("utf-16", errors="ignore").lower().encode()
    else:
        text = start.lower()
    return b"<!doctype" in text or b"<!entity" in text


def open_workbook(path: str | Path, limits: Limits | None = None):
    """Check ``path`` (:func:`check_workbook`), then open it read-only with cached formula values.

    Returns ``(workbook, check)``; the caller closes the workbook (``wb.close()``).
    """
    check = check_workbook(path, limits)
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as e:  # untrusted input: any failure means an unreadable workbook
        raise workbook_error(Path(path), e) from None
    return wb, check


def workbook_error(path: Path, e: BaseException) -> DataError:
    """A DataError for an exception raised while parsing a workbook."""
    name = type(e).__name__
    if _is_defused(e):
        return _fail(path, f"the workbook contains forbidden XML (entity or DTD declarations: {name})",
                     "do not open this file; export the data again from the source system")
    msg = (str(e).strip().splitlines() or [name])[0].replace(str(path), path.name)
    if len(msg) > 200:
        msg = msg[:200] + "…"
    return _fail(path, f"cannot read the workbook ({name}: {msg})",
                 "open it in Excel and save it again as .xlsx, or export CSV files")


def _is_defused(e: BaseException) -> bool:
    try:
        from defusedxml import DefusedXmlException
    except ImportError:  # pragma: no cover - defusedxml is a dependency
        return False
    seen = set()
    while e is not None and id(e) not in seen:  # openpyxl re-raises parse errors as ValueError
        if isinstance(e, DefusedXmlException):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False
