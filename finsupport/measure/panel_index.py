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
        local, uniques = pd.factorize(firm_id)
        lookup = np.append(self.firms.get_indexer(uniques), -1)  # local code −1 (missing id) -> −1
        return lookup[local]

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
