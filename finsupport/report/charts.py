"""Native Excel charts of the report (event studies, ATT profiles, shares over time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = ["ChartSpec", "add_chart"]

CHART_KINDS = ("line", "scatter", "column", "bar")
_PALETTE = ("#1F4E79", "#C55A11", "#7F7F7F", "#548235", "#BF9000", "#7030A0", "#2E75B6")
_MAIN = "#1F4E79"
_BAND = "#7F7F7F"


@dataclass
class ChartSpec:
    """A native Excel chart drawn from columns of a sheet's main table.

    Parameters
    ----------
    kind : {"line", "scatter", "column"}
        ``line``: markers joined by a line (a scatter chart with straight lines
        when ``x`` is numeric, so gaps in event time are spaced correctly);
        ``scatter``: markers only; ``column``: bars.
    x, y : str
        Column names of the horizontal position and the plotted value.
    lower, upper : str, optional
        Columns of the confidence band. Lines and scatters draw them as dashed
        lines; columns get end marks joined by high-low lines.
    title, x_title, y_title : str
        Chart and axis titles.
    reference_line : float, optional
        Draw a horizontal reference at this value (the horizontal axis is made
        to cross there, with its labels kept at the bottom).
    series : sequence of str
        Further value columns drawn as their own series (columns and bars: side by
        side, or stacked with ``stacked``).
    stacked : bool
        Stack the column/bar series.
    truth : str, optional
        Column of a known true value, drawn as red diamonds (synthetic data).
    y_min, y_max : float, optional
        Fixed value-axis range (a common scale across charts).
    y_format : str, optional
        Number format of the value axis (``'0%'``, ``'0.0" pp"'``).
    row_offset : int
        Rows below the table top at which the chart is placed (several charts beside one table).
    """

    kind: Literal["line", "scatter", "column"]
    x: str
    y: str
    lower: str | None = None
    upper: str | None = None
    title: str = ""
    x_title: str = ""
    y_title: str = ""
    reference_line: float | None = None
    series: tuple[str, ...] = ()
    stacked: bool = False
    truth: str | None = None
    y_min: float | None = None
    y_max: float | None = None
    y_format: str | None = None
    row_offset: int = 0


def _bounds(df: pd.DataFrame, cols: list[str]) -> tuple[float, float] | None:
    vals = np.concatenate([pd.to_numeric(df[c], errors="coerce").to_numpy(float) for c in cols])
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return None
    return float(vals.min()), float(vals.max())


def add_chart(workbook, worksheet, sheet_name: str, spec: ChartSpec, df: pd.DataFrame, *,
              header_row: int, columns: list[str], anchor: tuple[int, int]) -> None:
    """Add ``spec`` as a native chart that reads the table cells of ``worksheet``.

    Parameters
    ----------
    workbook : xlsxwriter.Workbook
        The workbook.
    worksheet : xlsxwriter.worksheet.Worksheet
        The sheet holding the table; the chart is inserted there.
    sheet_name : str
        The (sanitised) name of that sheet, for the series ranges.
    spec : ChartSpec
        What to draw.
    df : pandas.DataFrame
        The table as written (used for column positions and the axis range).
    header_row : int
        Zero-based row of the table header; data start on the next row.
    columns : list of str
        Column headers as written, in order.
    anchor : tuple of int
        Zero-based (row, column) of the chart's top-left corner.

    Raises
    ------
    finsupport.errors.ConfigError
        If the kind is unknown or a named column is not in the table.
    """
    if spec.kind not in CHART_KINDS:
        raise ConfigError(f"sheet {sheet_name!r}: unknown chart kind {spec.kind!r}; use one of "
                          f"{', '.join(CHART_KINDS)}")
    needed = [c for c in (spec.x, spec.y, spec.lower, spec.upper, spec.truth, *spec.series) if c is not None]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ConfigError(f"sheet {sheet_name!r}: chart column(s) {', '.join(map(repr, missing))} are not in the "
                          f"table (columns: {', '.join(columns)})")
    n = len(df)
    if n == 0:
        return
    pos = {c: columns.index(c) for c in needed}
    first, last = header_row + 1, header_row + n

    def rng(col: str) -> list:
        return [sheet_name, first, pos[col], last, pos[col]]

    def name(col: str) -> list:
        return [sheet_name, header_row, pos[col]]

    numeric_x = pd.api.types.is_numeric_dtype(df[spec.x]) and not pd.api.types.is_bool_dtype(df[spec.x])
    band = [c for c in (spec.lower, spec.upper) if c is not None]
    if spec.kind in ("column", "bar") and spec.series:
        opts = {"type": spec.kind}
        if spec.stacked:
            opts["subtype"] = "stacked"
        chart = workbook.add_chart(opts)
        for k, c in enumerate((spec.y, *spec.series)):
            color = _PALETTE[k % len(_PALETTE)]
            chart.add_series({"name": name(c), "categories": rng(spec.x), "values": rng(c),
                              "fill": {"color": color}, "border": {"color": color},
                              **({"gap": 60} if k == 0 else {})})
        band = []
    elif spec.kind in ("column", "bar"):
        chart = workbook.add_chart({"type": spec.kind})
        chart.add_series({"name": name(spec.y), "categories": rng(spec.x), "values": rng(spec.y),
                          "fill": {"color": _MAIN}})
        if spec.lower and spec.upper:
            # the band as a line chart drawn over the columns: its two series are end marks
            # joined by high-low lines (LibreOffice shows the end marks, Excel both)
            band_chart = workbook.add_chart({"type": "line"})
            for c in (spec.lower, spec.upper):
                band_chart.add_series({"name": name(c), "categories": rng(spec.x), "values": rng(c),
                                       "line": {"none": True},
                                       "marker": {"type": "dash", "size": 9, "fill": {"color": "#000000"},
                                                  "border": {"color": "#000000"}}})
            band_chart.set_high_low_lines({"line": {"color": "#000000", "width": 1.25}})
            chart.combine(band_chart)
        band = []
    elif numeric_x:
        subtype = "straight_with_markers" if spec.kind == "line" else "marker_only"
        chart = workbook.add_chart({"type": "scatter", "subtype": subtype})
        main = {"name": name(spec.y), "categories": rng(spec.x), "values": rng(spec.y),
                "marker": {"type": "circle", "size": 6, "fill": {"color": _MAIN}, "border": {"color": _MAIN}}}
        if spec.kind == "line":
            main["line"] = {"color": _MAIN, "width": 2}
        chart.add_series(main)
        for c in band:
            chart.add_series({"name": name(c), "categories": rng(spec.x), "values": rng(c),
                              "marker": {"type": "none"},
                              "line": {"color": _BAND, "width": 1.25, "dash_type": "dash"}})
        if spec.truth:
            chart.add_series({"name": name(spec.truth), "categories": rng(spec.x), "values": rng(spec.truth),
                              "marker": {"type": "diamond", "size": 7, "fill": {"color": "#C00000"},
                                         "border": {"color": "#C00000"}}, "line": {"none": True}})
    else:
        chart = workbook.add_chart({"type": "line"})
        chart.add_series({"name": name(spec.y), "categories": rng(spec.x), "values": rng(spec.y),
                          "marker": {"type": "circle", "size": 6, "fill": {"color": _MAIN},
                                     "border": {"color": _MAIN}},
                          "line": {"color": _MAIN, "width": 2, "none": spec.kind == "scatter"}})
        for c in band:
            chart.add_series({"name": name(c), "categories": rng(spec.x), "values": rng(c),
                              "marker": {"type": "none"},
                              "line": {"color": _BAND, "width": 1.25, "dash_type": "dash"}})

    x_axis: dict = {"name": spec.x_title or spec.x, "major_gridlines": {"visible": False}}
    y_axis: dict = {"name": spec.y_title or spec.y, "major_gridlines": {"visible": True,
                                                                        "line": {"color": "#D9D9D9"}}}
    if spec.reference_line is not None:
        ref = float(spec.reference_line)
        # The horizontal axis itself is the reference line: it crosses the value axis at
        # ``ref`` and keeps its labels at the bottom. The value range is widened to show it.
        y_axis["crossing"] = ref
        x_axis["label_position"] = "low"
        x_axis["line"] = {"color": "#000000", "width": 1.25}
        b = _bounds(df, [spec.y, *[c for c in (spec.lower, spec.upper) if c]])
        if b is not None:
            if ref < b[0]:
                y_axis["min"] = ref
            elif ref > b[1]:
                y_axis["max"] = ref
    if spec.y_min is not None:
        y_axis["min"] = spec.y_min
    if spec.y_max is not None:
        y_axis["max"] = spec.y_max
    if spec.y_format:
        y_axis["num_format"] = spec.y_format
    if spec.kind not in ("column", "bar") and numeric_x:
        x_axis["crossing"] = "min"   # keep the value axis at the left edge
        xb = _bounds(df, [spec.x])
        if xb is not None and float(xb[0]).is_integer() and float(xb[1]).is_integer() and xb[1] - xb[0] <= 30:
            # whole-number positions (event time, years): one tick per unit, one unit of margin
            x_axis.update({"min": xb[0] - 1, "max": xb[1] + 1, "major_unit": 1})
    chart.set_x_axis(x_axis)
    chart.set_y_axis(y_axis)
    if spec.title:
        chart.set_title({"name": spec.title, "name_font": {"size": 12, "bold": True}})
    else:
        chart.set_title({"none": True})
    chart.set_legend({"position": "bottom"})
    chart.show_blanks_as("gap")
    chart.show_hidden_data()   # filtering the table must not blank the chart
    chart.set_size({"width": 680, "height": 400})
    worksheet.insert_chart(anchor[0] + spec.row_offset, anchor[1], chart, {"x_offset": 10, "y_offset": 0, "object_position": 2})
