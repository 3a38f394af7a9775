"""Cell formats of the report: number formats by kind, a format cache, column widths."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["NUMBER_FORMATS", "KINDS", "check_kind", "display_width", "value_width", "numbers_width", "python_format",
           "FormatCache"]

#: Excel number format of each column kind. ``None``: no number format.
NUMBER_FORMATS: dict[str, str | None] = {
    "yuan": "#,##0",
    "pct": "0.00%",          # value is a fraction: 0.137 shows as 13.70%
    "rate_pct": '0.00"%"',   # value is already in percent: 4.35 shows as 4.35%
    "coef": "0.0000",
    "pp": '0.00" pp"',        # effect on a share, already in percentage points: 2.68 shows as 2.68 pp
    "amount2": "#,##0.00",   # amounts in 万元 or 亿元
    "pvalue": "0.000",
    "int": "#,##0",
    "year": "0",
    "cohort": '0;-0;"never certified"',   # a cohort code: 0 (never certified) shown in words, the cell stays 0
    "text": "@",
    # Excel shows booleans as TRUE/FALSE whatever the format; LibreOffice needs this format to
    # show them so (with General it shows some as 1/0).
    "bool": '"TRUE";"TRUE";"FALSE"',
}
KINDS = tuple(NUMBER_FORMATS)

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"

HIGHLIGHT_FALSE = {"bg_color": "#FFC7CE", "font_color": "#9C0006"}   # Excel's "Bad" style
HIGHLIGHT_NA = {"bg_color": "#D9D9D9"}

MIN_WIDTH = 6
MAX_WIDTH = 60


def check_kind(kind: str, *, where: str) -> str:
    """Validate a column kind.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    where : str
        Sheet and column, for the error message.

    Returns
    -------
    str
        The kind.

    Raises
    ------
    finsupport.errors.ConfigError
        If the kind is unknown.
    """
    if kind not in NUMBER_FORMATS:
        raise ConfigError(f"unknown column format {kind!r} for {where}; use one of {', '.join(KINDS)}")
    return kind


def display_width(text: str) -> int:
    """Width of text in Excel character units: East Asian wide characters count twice.

    Parameters
    ----------
    text : str
        The text (the longest line counts if it has several).

    Returns
    -------
    int
        Approximate width in characters.
    """
    best = 0
    for line in text.split("\n"):
        if line.isascii():
            w = len(line)
        else:
            w = sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line)
        best = max(best, w)
    return best


def value_width(value: Any, kind: str | None) -> int:
    """Width of a value as Excel shows it with the number format of ``kind``.

    Parameters
    ----------
    value : object
        A cell value (None for empty).
    kind : str or None
        The column kind, or None for Excel's General format.

    Returns
    -------
    int
        Approximate width in characters.
    """
    if value is None:
        return 0
    if isinstance(value, str):
        return display_width(value)
    if isinstance(value, bool):
        return 5
    if isinstance(value, int | float):
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            return 4
        if kind in ("yuan", "int"):
            return len(f"{v:,.0f}")
        if kind == "pct":
            return len(f"{v * 100:.2f}%")
        if kind == "rate_pct":
            return len(f"{v:.2f}%")
        if kind == "coef":
            return len(f"{v:.4f}")
        if kind == "pp":
            return len(f"{v:.2f} pp")
        if kind == "amount2":
            return len(f"{v:,.2f}")
        if kind == "pvalue":
            return len(f"{v:.3f}")
        if kind == "year":
            return len(f"{v:.0f}")
        if kind == "cohort":
            return 15 if v == 0 else len(f"{v:.0f}")
        if isinstance(value, int):
            return len(str(value))
        return min(len(f"{v:.10g}"), 11)   # General shows at most ~11 characters
    if hasattr(value, "hour"):
        return 19 if (value.hour or value.minute or value.second) else 10
    if hasattr(value, "year"):
        return 10
    return display_width(str(value))


#: kinds whose number text has a fixed number of decimals: its length grows with the magnitude
_FIXED_DECIMALS = ("yuan", "int", "pct", "rate_pct", "coef", "pp", "amount2", "pvalue", "year", "cohort")


def numbers_width(values: np.ndarray, kind: str | None) -> int:
    """``max(value_width(v, kind) for v in values)`` (0 when empty) for a numeric numpy array.

    Same widths as :func:`value_width` of each value, without a Python call per value:
    with a fixed number of decimals (every kind but General) the text of a number gets no
    shorter as its magnitude grows, on either side of zero, so the widest value is the
    smallest or the largest; a ``-0`` and, for cohorts, a zero (shown in words) are checked
    apart. Integers are Python ints to :func:`value_width`, floats floats; not-a-number and
    infinities are 4 wide. Other values (General format) are measured one by one.

    Parameters
    ----------
    values : numpy.ndarray
        Integers or floats (not booleans).
    kind : str or None
        The column kind.

    Returns
    -------
    int
        The widest value's width in characters.
    """
    if not len(values):
        return 0
    integer = values.dtype.kind in "iu"
    out = 0
    if not integer:
        finite = np.isfinite(values)
        if not finite.all():
            out = 4
            values = values[finite]
            if not len(values):
                return out
    convert = int if integer else float
    # a percentage ×100 beyond the largest double shows as "inf%": not wider than smaller numbers
    overflow = kind == "pct" and float(np.abs(values).max()) > np.finfo(np.float64).max / 100
    if (kind in _FIXED_DECIMALS or (integer and kind != "bool")) and not overflow:
        # General shows a whole number as its digits: its width also grows with its magnitude
        picks = [values.min(), values.max()]
        if not integer and ((values == 0) & np.signbit(values)).any():
            picks.append(-0.0)   # "-0": the widest of the values between -1 and 0
        if kind == "cohort" and (values == 0).any():
            picks.append(0)
        return max([out, *(value_width(convert(v), kind) for v in picks)])
    # each distinct value once; distinct by its bits, so that -0.0 ("-0") is not taken for 0.0
    distinct = values if integer else np.unique(values.view(np.int64)).view(np.float64)
    return max([out, *(value_width(v, kind) for v in (np.unique(distinct) if integer else distinct).tolist())])


_PYTHON_FORMATS = {"yuan": "{:,.0f}", "int": "{:,.0f}", "pct": "{:.2%}", "rate_pct": "{:.2f}%", "coef": "{:.4f}",
                   "pp": "{:.2f} pp", "amount2": "{:,.2f}", "pvalue": "{:.3f}", "year": "{:.0f}",
                   "cohort": "{:.0f}"}


def python_format(kind: str | None):
    """The Python equivalent of a kind's Excel number format (for pandas ``Styler.format``).

    Parameters
    ----------
    kind : str or None
        Column kind from :data:`KINDS`.

    Returns
    -------
    callable or None
        A function that formats one value (text passes through), or None for text kinds.
    """
    spec = _PYTHON_FORMATS.get(kind or "")
    if spec is None:
        return None

    def fmt(v):
        if isinstance(v, bool) or not isinstance(v, int | float):
            return v
        if kind == "cohort" and v == 0:
            return "never certified"
        return spec.format(v)

    return fmt


class FormatCache:
    """Create each distinct XlsxWriter format once and reuse it.

    Parameters
    ----------
    workbook : xlsxwriter.Workbook
        The workbook the formats belong to.
    base : dict, optional
        Properties every format gets (font and size).
    """

    def __init__(self, workbook, base: dict | None = None):
        self._wb = workbook
        self._base = dict(base or {})
        self._cache: dict[tuple, Any] = {}

    def get(self, **props: Any):
        """Return the format with ``props`` on top of the base properties.

        Parameters
        ----------
        **props
            XlsxWriter format properties; ``None`` values are left out.

        Returns
        -------
        xlsxwriter.format.Format
            A shared format object.
        """
        merged = {**self._base, **{k: v for k, v in props.items() if v is not None}}
        key = tuple(sorted(merged.items()))
        fmt = self._cache.get(key)
        if fmt is None:
            fmt = self._cache[key] = self._wb.add_format(merged)
        return fmt

    def kind(self, kind: str | None, *, highlight: str | None = None, date: str | None = None, **extra: Any):
        """The cell format of a column kind, optionally with a highlight fill.

        Parameters
        ----------
        kind : str or None
            Column kind from :data:`KINDS`, or None for General.
        highlight : {"false", "na"}, optional
            Red fill for a failed check, grey for one that cannot be judged.
        date : str, optional
            Number format for date cells (overrides the kind's format).
        **extra
            Further format properties.

        Returns
        -------
        xlsxwriter.format.Format or None
            None when no property is needed (General, no fill).
        """
        props: dict[str, Any] = dict(extra)
        num = date or (NUMBER_FORMATS.get(kind) if kind else None)
        if num:
            props["num_format"] = num
        if highlight == "false":
            props.update(HIGHLIGHT_FALSE)
        elif highlight == "na":
            props.update(HIGHLIGHT_NA)
        if kind == "bool":
            props.setdefault("align", "center")
        if not props:
            return None
        return self.get(**props)
