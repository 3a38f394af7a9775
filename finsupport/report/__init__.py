"""Reports: the Excel workbook, regression tables (Markdown, LaTeX) and safe output files.

>>> from finsupport.report import Report, Sheet, write_workbook   # doctest: +SKIP
"""

# loaded on first use (PEP 562): drawing a figure or writing a CSV does not import the
# estimators behind the regression tables
_LAZY = {
    "ChartSpec": "charts",
    **dict.fromkeys(("COLUMNS", "Column", "Labeller", "format_frame"), "labels"),
    **dict.fromkeys(("escape_csv_cell", "safe_output_path", "sanitize_sheet_name", "write_csv"), "safety"),
    **dict.fromkeys(("regression_layout", "stars", "to_latex", "to_markdown", "write_regression_tables"), "tables"),
    **dict.fromkeys(("Report", "Sheet", "write_workbook"), "workbook"),
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'finsupport.report' has no attribute {name!r}")


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
