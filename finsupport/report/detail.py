"""Tables too long for a sheet to read: written beside the workbook, summarised on the sheet.

A workbook is a document to read. A table with more rows than ``[report] max_sheet_rows``
(firm-year flows of a national panel, a data-quality log with a record per firm) goes to
a Parquet file — or CSV when asked for (``detail_format = "csv"``) or when pyarrow is not
installed — in the run's output folder beside the workbook, and its sheet shows a summary
and the name of the file. The manifest hashes every such file.

Parquet keeps the column types (firm codes stay text, amounts stay numbers); a column
of mixed Python objects is written with one type: whole numbers as nullable integers,
other numbers as floats, anything else as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .safety import write_csv

__all__ = ["DetailFile", "detail_format", "write_detail", "column_summary", "file_stem", "pyarrow_available"]


@dataclass
class DetailFile:
    """A table written beside the workbook instead of on its sheet."""

    sheet: str
    path: Path
    rows: int
    columns: int
    format: str


def pyarrow_available() -> bool:
    """Whether pandas can write Parquet here (pyarrow is installed)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def detail_format(asked: str) -> tuple[str, str | None]:
    """The format detail files are written in, and why it differs from ``asked`` (or None)."""
    if asked == "parquet" and not pyarrow_available():
        return "csv", "pyarrow is not installed, so detail files are written as CSV (pip install pyarrow for Parquet)"
    return asked, None


def file_stem(sheet: str) -> str:
    """``"Data quality"`` → ``"data_quality"``: a file name from a sheet name (ASCII letters, digits, ``_``)."""
    stem = re.sub(r"[^0-9a-zA-Z]+", "_", sheet).strip("_").lower()
    return stem or "table"


def _arrow_ready(df: pd.DataFrame) -> pd.DataFrame:
    """One type per column: object columns of mixed values become Int64, float64 or string."""
    out = None
    for j in range(df.shape[1]):
        s = df.iloc[:, j]
        if s.dtype != object:
            continue
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind in ("string", "empty", "boolean"):
            if kind == "boolean":
                new = s.astype("boolean")
            elif kind == "empty":
                new = s.astype("string")
            else:
                continue
        elif kind == "integer":
            new = s.astype("Int64")
        elif kind in ("floating", "mixed-integer-float", "decimal"):
            new = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            new = s.map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
                        else str(v)).astype("string")
        if out is None:
            out = df.copy(deep=False)   # columns replaced, none changed in place: no copy of the table
        out.isetitem(j, new)
    return out if out is not None else df


def write_detail(df: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write ``df`` (index dropped) to ``path`` as Parquet or CSV; the same table gives the same bytes."""
    if fmt == "parquet":
        # no pandas index metadata: the file is the table, and its bytes do not depend on the index
        _arrow_ready(df).to_parquet(path, index=False, engine="pyarrow", compression="zstd")
    else:
        write_csv(df, path)
    return path


def column_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per column: non-missing values, distinct values, and for numbers their sum, min and max."""
    rows = []
    for j, c in enumerate(df.columns):
        s = df.iloc[:, j]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        rows.append({
            "column": str(c),
            "non_missing": int(s.notna().sum()),
            "distinct": int(s.nunique(dropna=True)),
            "sum": float(s.sum()) if numeric else np.nan,
            "min": float(s.min()) if numeric and s.notna().any() else np.nan,
            "max": float(s.max()) if numeric and s.notna().any() else np.nan,
        })
    return pd.DataFrame(rows, columns=["column", "non_missing", "distinct", "sum", "min", "max"])
