"""The project's exception classes.

Every error a user can provoke with data or options is one of these, with a
message that names the table, column and rows involved and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["FinsupportError", "DataError", "ConfigError", "EstimationError", "format_rows"]


class FinsupportError(Exception):
    """Base class of every error finsupport raises on purpose."""

    exit_code = 1


class DataError(FinsupportError):
    """Input data that cannot be used: missing tables or columns, bad values, unsafe files.

    ``problems`` holds one dict per problem (table, column, rows, message, hint) so that
    callers can show or test them one by one; ``str(err)`` lists them all.
    """

    exit_code = 2

    def __init__(self, message: str | None = None, *, problems: Sequence[dict] | None = None):
        self.problems = list(problems or [])
        if message is None:
            message = _format_problems(self.problems)
        super().__init__(message)


class ConfigError(FinsupportError):
    """A run configuration or an option that is unknown or out of range."""

    exit_code = 3


class EstimationError(FinsupportError):
    """An estimator cannot run on the data given (no treated units, singular design, …)."""

    exit_code = 4


def format_rows(rows: Iterable, *, limit: int = 8) -> str:
    """Render row labels compactly: ``rows 3, 7, 12 … (+40 more)``."""
    rows = list(rows)
    if not rows:
        return "no rows"
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" … (+{len(rows) - limit} more)" if len(rows) > limit else ""
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}{more}"


def _format_problems(problems: Sequence[dict]) -> str:
    if not problems:
        return "invalid data"
    lines = [f"{len(problems)} problem(s) in the input data:"]
    for p in problems:
        where = p.get("table", "?")
        if p.get("column"):
            where += f".{p['column']}"
        rows = p.get("rows")
        rows_txt = f" ({format_rows(rows)})" if rows else ""
        hint = f" Fix: {p['hint']}" if p.get("hint") else ""
        lines.append(f"  - {where}{rows_txt}: {p['message']}.{hint}")
    return "\n".join(lines)
