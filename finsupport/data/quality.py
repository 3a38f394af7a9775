"""The data-quality log: every repair, exclusion and warning, row by row.

Nothing is dropped silently. Readers, validation and measures append records here, and
the report shows them. ``accounting()`` states, per table, rows read = rows used + rows
excluded.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["QualityLog", "LOG_COLUMNS"]

LOG_COLUMNS = ["stage", "table", "row", "firm_id", "year", "column", "issue", "action", "detail"]


class QualityLog:
    """An append-only list of data-quality records plus per-table row accounting.

    ``action`` is one of ``repaired`` (value changed, row kept), ``excluded`` (row not
    used), ``flagged`` (kept as is, worth a look) or ``info``.
    """

    def __init__(self) -> None:
        self._frames: list[pd.DataFrame] = []
        self._read: dict[str, int] = {}
        self._frame: pd.DataFrame | None = None   # to_frame() of the records so far (the log can be long)

    # -- recording ---------------------------------------------------------------
    def add(
        self,
        *,
        stage: str,
        table: str,
        issue: str,
        action: str,
        rows: Iterable | None = None,
        firm_id: Iterable | None = None,
        year: Iterable | None = None,
        column: str = "",
        detail: str | Iterable = "",
    ) -> None:
        """Record one issue for one or many rows (vectorised: pass arrays)."""
        rows = np.asarray(rows if rows is not None else [pd.NA], dtype=object)
        n = len(rows)
        if n == 0:
            return

        def _col(v):
            if v is None:
                return np.full(n, pd.NA, dtype=object)
            if isinstance(v, str):
                return v
            v = np.asarray(v, dtype=object)
            return v if len(v) == n else np.full(n, v[0] if len(v) else pd.NA, dtype=object)

        def _key(v):
            """A firm code or year column with every missing value as ``pd.NA`` (None, NaN and NA
            come from different text types; the log reads the same whichever the table held)."""
            v = _col(v)
            if isinstance(v, np.ndarray):
                miss = pd.isna(v)
                if miss.any():
                    v = v.copy()
                    v[miss] = pd.NA
            return v

        frame = pd.DataFrame(
            {
                "stage": stage,
                "table": table,
                "row": rows,
                "firm_id": _key(firm_id),
                "year": _key(year),
                "column": column,
                "issue": issue,
                "action": action,
                "detail": _col(detail) if not isinstance(detail, str) else detail,
            }
        )
        self.append_frame(frame)

    def append_frame(self, frame: pd.DataFrame) -> None:
        """Append records already laid out as ``LOG_COLUMNS`` (e.g. a partition's log)."""
        self._frames.append(frame)
        self._frame = None

    def set_read(self, table: str, n: int) -> None:
        """Record how many data rows were read for ``table``."""
        self._read[table] = int(n)

    def add_read(self, table: str, n: int) -> None:
        """Add ``n`` rows read for ``table`` (a table fed by several files)."""
        self._read[table] = self._read.get(table, 0) + int(n)

    def extend(self, other: QualityLog) -> None:
        self._frames.extend(other._frames)
        self._frame = None
        for k, v in other._read.items():
            self._read.setdefault(k, v)

    # -- views -------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """All records as a DataFrame with columns ``LOG_COLUMNS`` (a copy: change it freely)."""
        if not self._frames:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in LOG_COLUMNS})
        if self._frame is None:
            out = pd.concat(self._frames, ignore_index=True)[LOG_COLUMNS]
            # a measure run twice on the same data records the same rows twice: keep one
            self._frame = out.astype({"row": "object", "firm_id": "object", "year": "object"}).drop_duplicates(
                ignore_index=True)
        return self._frame.copy()

    def excluded_rows(self, table: str) -> int:
        return int(self._excluded().get(table, 0))

    def _excluded(self) -> pd.Series:
        """Distinct excluded rows per table."""
        df = self.to_frame()
        sel = df[df["action"] == "excluded"]
        return sel.groupby("table", sort=False)["row"].nunique() if len(sel) else pd.Series(dtype="int64")

    def accounting(self, used: dict[str, int] | None = None) -> pd.DataFrame:
        """Rows read, used and excluded per table; ``balanced`` checks read = used + excluded."""
        used = used or {}
        rows = []
        excluded = self._excluded()
        for table, n_read in self._read.items():
            excl = int(excluded.get(table, 0))
            n_used = used.get(table, n_read - excl)
            rows.append(
                {
                    "table": table,
                    "rows_read": n_read,
                    "rows_used": n_used,
                    "rows_excluded": excl,
                    "balanced": n_read == n_used + excl,
                }
            )
        return pd.DataFrame(rows, columns=["table", "rows_read", "rows_used", "rows_excluded", "balanced"])

    def __len__(self) -> int:
        return sum(len(f) for f in self._frames)

    def __repr__(self) -> str:
        return f"QualityLog({len(self)} records)"
