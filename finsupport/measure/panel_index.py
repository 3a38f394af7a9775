"""Integer keys for firm-years, so that measures aggregate with ``numpy.bincount``.

Joining millions of grant rows to firm-years through string keys (``merge``,
``groupby``) is what makes a naive implementation slow. ``PanelIndex`` factorises the
firm codes of the panel once; every other table is located in the panel by a hash
lookup of its firm codes and a ``searchsorted`` on ``code × span + year``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PanelIndex"]


class PanelIndex:
    """The firm-years of a panel (e.g. ``financials``) in (firm, year) order."""

    def __init__(self, firm_id: pd.Series, year: pd.Series):
        codes, firms = pd.factorize(firm_id, sort=True)
        yr = np.asarray(year, dtype=np.int64)
        self.firms = pd.Index(firms)
        self.ymin = int(yr.min()) if len(yr) else 0
        self.span = int(yr.max()) - self.ymin + 1 if len(yr) else 1
        key = codes.astype(np.int64) * self.span + (yr - self.ymin)
        self.order = np.argsort(key, kind="stable")  # positions of the source rows in panel order
        self.key = key[self.order]
        self.codes = codes[self.order]
        self.year = yr[self.order]
        self.n = len(key)

    def firm_codes(self, firm_id: pd.Series) -> np.ndarray:
        """Code of each firm id in the panel's firm list (−1 when the firm is not in the panel)."""
        # hash each distinct id once: millions of grant rows name only as many firms as the panel
        if getattr(getattr(firm_id, "array", None), "_pa_array", None) is not None and \
                getattr(self.firms.array, "_pa_array", None) is not None:
            # pyarrow text on both sides: one hash lookup per row, no factorising first
            return self._positions(firm_id)
        local, uniques = pd.factorize(firm_id)
        lookup = np.append(self._positions(pd.Index(uniques)), -1)  # local code −1 (missing id) -> −1
        return lookup[local]

    def _positions(self, ids: pd.Index | pd.Series) -> np.ndarray:
        """``self.firms.get_indexer(ids)``; with pyarrow's hash table when both hold pyarrow text (pandas
        would convert every code to a Python string first)."""
        arr = getattr(ids.array, "_pa_array", None)
        known = getattr(self.firms.array, "_pa_array", None)
        if arr is not None and known is not None:
            import pyarrow.compute as pc

            values = known.combine_chunks() if hasattr(known, "combine_chunks") else known
            values = values if values.type == arr.type else values.cast(arr.type)
            return np.asarray(pc.fill_null(pc.index_in(arr, value_set=values), -1), dtype=np.int64)
        return np.asarray(self.firms.get_indexer(ids), dtype=np.int64)

    def locate(self, codes: np.ndarray, year) -> np.ndarray:
        """Panel position of each (firm code, year) (−1 when that firm-year is not in the panel)."""
        yr = np.asarray(year, dtype=np.int64)
        inside = (codes >= 0) & (yr >= self.ymin) & (yr < self.ymin + self.span)
        key = codes.astype(np.int64) * self.span + (yr - self.ymin)
        pos = np.searchsorted(self.key, key)
        pos_c = np.minimum(pos, max(self.n - 1, 0))
        found = inside & (pos < self.n) & (self.key[pos_c] == key) if self.n else np.zeros(len(key), bool)
        return np.where(found, pos_c, -1)

    def total(self, pos: np.ndarray, values) -> np.ndarray:
        """Sum ``values`` into panel positions ``pos`` (−1 is ignored)."""
        ok = pos >= 0
        return np.bincount(pos[ok], weights=np.asarray(values, dtype=float)[ok], minlength=self.n)

    def count(self, pos: np.ndarray) -> np.ndarray:
        return np.bincount(pos[pos >= 0], minlength=self.n).astype(np.int64)
