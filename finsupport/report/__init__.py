"""Reports: the Excel workbook, regression tables (Markdown, LaTeX) and safe output files.

>>> from finsupport.report import Report, Sheet, write_workbook   # doctest: +SKIP
"""

from .charts import ChartSpec
from .labels import COLUMNS, Column, Labeller, format_frame
from .safety import escape_csv_cell, safe_output_path, sanitize_sheet_name, write_csv
from .tables import regression_layout, stars, to_latex, to_markdown, write_regression_tables
from .workbook import Report, Sheet, write_workbook

__all__ = [
    "COLUMNS",
    "Column",
    "Labeller",
    "format_frame",
    "Report",
    "Sheet",
    "ChartSpec",
    "write_workbook",
    "write_csv",
    "escape_csv_cell",
    "safe_output_path",
    "sanitize_sheet_name",
    "regression_layout",
    "to_markdown",
    "to_latex",
    "write_regression_tables",
    "stars",
]
