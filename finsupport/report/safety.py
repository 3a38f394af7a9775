"""Safety rules for everything the report writes: sheet names, output paths and CSV cells.

Values in a report come from user data (firm names, programme names, investor names),
so none of them may turn into a spreadsheet formula, a sheet name Excel rejects, or a
path outside the folder a run writes to.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pandas as pd

from ..errors import ConfigError

__all__ = [
    "FORMULA_PREFIXES",
    "is_formula_like",
    "escape_csv_cell",
    "write_csv",
    "sanitize_sheet_name",
    "unique_sheet_names",
    "safe_output_path",
]

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")
_SHEET_MAX = 31
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def is_formula_like(value: object) -> bool:
    """Whether a value is a string that a spreadsheet could read as a formula.

    Parameters
    ----------
    value : object
        Any cell value.

    Returns
    -------
    bool
        True for strings starting with ``= + - @``, a tab or a carriage return.
    """
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def escape_csv_cell(value: object) -> object:
    """Neutralise a CSV cell that a spreadsheet would run as a formula.

    Follows the OWASP guidance on CSV injection: a string that starts with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading single
    quote, so Excel and LibreOffice show it as text. Other values are returned
    unchanged (numbers stay numbers, so negative numbers are not touched).

    Parameters
    ----------
    value : object
        One cell value.

    Returns
    -------
    object
        The value, with ``'`` prefixed if it is a formula-like string.

    Examples
    --------
    >>> escape_csv_cell("=1+1")
    "'=1+1"
    >>> escape_csv_cell(-2.5)
    -2.5
    """
    if is_formula_like(value):
        return "'" + value
    return value


def write_csv(df: pd.DataFrame, path: str | os.PathLike, *, index: bool = False,
              encoding: str = "utf-8") -> Path:
    """Write a DataFrame to CSV with every text cell and header escaped against formula injection.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to write.
    path : str or os.PathLike
        Output file; written as given (use :func:`safe_output_path` for names from data).
    index : bool, default False
        Whether to write the index as the first column(s).
    encoding : str, default "utf-8"
        Text encoding (``"utf-8-sig"`` helps Excel recognise UTF-8 Chinese text).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    out = df.copy()
    if index:
        out = out.reset_index()
    out.columns = [escape_csv_cell(str(c)) for c in out.columns]
    for c in range(out.shape[1]):
        col = out.iloc[:, c]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype | pd.CategoricalDtype):
            out.isetitem(c, col.astype(object).map(escape_csv_cell))
    out.to_csv(path, index=False, encoding=encoding, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return path


def sanitize_sheet_name(name: object, taken: set[str] | None = None) -> str:
    """Turn any text into a valid, unused Excel sheet name.

    Excel forbids ``[ ] : * ? / \\`` in sheet names, names longer than 31
    characters, names that start or end with an apostrophe, the name
    ``History`` and two names that differ only in case.

    Parameters
    ----------
    name : object
        The wanted name (converted with ``str``).
    taken : set of str, optional
        Lower-cased names already used in the workbook. The returned name is
        made unique against it (``"Name (2)"``) and added to it.

    Returns
    -------
    str
        A name Excel accepts.
    """
    text = _SHEET_FORBIDDEN.sub("_", str(name)).strip().strip("'").strip()
    if not text:
        text = "Sheet"
    if text.lower() == "history":
        text = "History_"
    text = text[:_SHEET_MAX].rstrip("'") or "Sheet"
    if taken is None:
        return text
    candidate, k = text, 2
    while candidate.lower() in taken:
        suffix = f" ({k})"
        candidate = text[: _SHEET_MAX - len(suffix)].rstrip("'") + suffix
        k += 1
    taken.add(candidate.lower())
    return candidate


def unique_sheet_names(names: list[object]) -> list[str]:
    """Sanitise a list of wanted sheet names so that all are valid and unique.

    Parameters
    ----------
    names : list
        Wanted names, in workbook order.

    Returns
    -------
    list of str
        Valid, case-insensitively unique names, same order.
    """
    taken: set[str] = set()
    return [sanitize_sheet_name(n, taken) for n in names]


def safe_output_path(base_dir: str | os.PathLike, name: str) -> Path:
    """The path of an output file named from data, guaranteed to stay inside ``base_dir``.

    Parameters
    ----------
    base_dir : str or os.PathLike
        The folder a run writes to.
    name : str
        A bare file name such as ``"regressions.md"``.

    Returns
    -------
    pathlib.Path
        ``base_dir / name``.

    Raises
    ------
    finsupport.errors.ConfigError
        If ``name`` is empty, contains a path separator, ``..``, a drive or
        control character, or is a reserved device name.
    """
    text = str(name)
    problem = None
    if not text.strip() or text in (".", ".."):
        problem = "is empty"
    elif "/" in text or "\\" in text or (os.altsep and os.altsep in text) or os.sep in text:
        problem = "contains a path separator"
    elif ".." in text:
        problem = "contains '..'"
    elif re.search(r"[\x00-\x1f\x7f:]", text):
        problem = "contains a control character or ':'"
    elif text.split(".")[0].strip().lower() in _WINDOWS_RESERVED:
        problem = "is a reserved device name"
    if problem:
        raise ConfigError(f"output file name {text!r} {problem}; give a bare file name such as "
                          "'report.xlsx' (folders are set by the run's output directory)")
    base = Path(base_dir)
    path = base / text
    if os.path.commonpath([os.path.abspath(base), os.path.abspath(path)]) != os.path.abspath(base):
        raise ConfigError(f"output file name {text!r} would leave the output folder {str(base)!r}")
    return path
