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
        codes, firms = _sorted_firm_codes(firm_id)
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
        self._table: np.ndarray | None = None

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
        table = self._positions_table()
        if table is not None:
            inside &= codes < len(self.firms)
            return np.where(inside, table[np.where(inside, key, 0)], -1)
        pos = np.searchsorted(self.key, key)
        pos_c = np.minimum(pos, max(self.n - 1, 0))
        found = inside & (pos < self.n) & (self.key[pos_c] == key) if self.n else np.zeros(len(key), bool)
        return np.where(found, pos_c, -1)

    def _positions_table(self) -> np.ndarray | None:
        """The panel position of every key firm code × span + year offset (−1: no such firm-year; the first
        when a firm-year is there twice), as ``searchsorted`` on the sorted keys finds it; built once, when
        the panel fills a good part of its firms × years (a national panel: a lookup per row instead of a
        binary search)."""
        if self._table is None and self.n and len(self.firms) * self.span <= 4 * self.n + 1024:
            table = np.full(len(self.firms) * self.span, -1, dtype=np.int64)
            table[self.key[::-1]] = np.arange(self.n - 1, -1, -1)
            self._table = table
        return self._table

    def total(self, pos: np.ndarray, values) -> np.ndarray:
        """Sum ``values`` into panel positions ``pos`` (−1 is ignored)."""
        ok = pos >= 0
        values = np.asarray(values, dtype=float)
        if ok.all():   # every row in the panel: no copy of the rows kept (the same terms in the same order)
            return np.bincount(pos, weights=values, minlength=self.n)
        return np.bincount(pos[ok], weights=values[ok], minlength=self.n)

    def count(self, pos: np.ndarray) -> np.ndarray:
        """How many of ``pos`` fall on each panel position (−1 is ignored)."""
        return np.bincount(pos[pos >= 0], minlength=self.n).astype(np.int64)


def _sorted_firm_codes(firm_id: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pandas.factorize(firm_id, sort=True)``; when the codes are pyarrow text already in sorted order
    (financials as exported, firm by firm), counted along the rows instead of hashed and sorted."""
    arr = getattr(getattr(firm_id, "array", None), "_pa_array", None)
    if arr is not None and len(arr) > 1 and not arr.null_count:
        import pyarrow.compute as pc

        if not pc.any(pc.less(arr[1:], arr[:-1])).as_py():
            new = np.asarray(pc.not_equal(arr[1:], arr[:-1]), dtype=bool)
            codes = np.concatenate([[0], np.cumsum(new, dtype=np.intp)])
            starts = np.flatnonzero(np.r_[True, new])
            return codes, pd.Index(firm_id.iloc[starts].array)
    return pd.factorize(firm_id, sort=True)
