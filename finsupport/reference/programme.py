"""Reference data of the Little Giant programme: batches and the selection criteria in force."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["little_giant_batches", "selection_criteria", "criteria_regime"]


@lru_cache(maxsize=2)
def _read(name: str) -> pd.DataFrame:
    with resources.files("finsupport.reference").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype={"threshold": str, "regime": int})


def little_giant_batches() -> pd.DataFrame:
    """MIIT Little Giant batches: ``batch, year, announced_firms, criteria_regime, status, source``."""
    return _read("little_giant_batches.csv").copy()


def selection_criteria() -> pd.DataFrame:
    """Selection criteria by regime (2018 notice: batches 1–3; 2022 measures: batches 4–5).

    One row per (regime, test) with the measure, threshold, direction, the financial
    years used (relative to the award year t), verification status and source.
    """
    return _read("selection_criteria.csv").copy()


def criteria_regime(batch, year) -> pd.Series:
    """The criteria regime of each award: by batch when known, else by award year (2022 rules from 2022)."""
    b = little_giant_batches().set_index("batch")["criteria_regime"]
    by_batch = pd.Series(pd.to_numeric(pd.Series(batch), errors="coerce")).map(b)
    y = pd.Series(year).astype("int64").reset_index(drop=True)
    by_year = pd.Series(np.where(y >= 2022, 2022, 2018))
    return by_batch.reset_index(drop=True).fillna(by_year).astype("int64")
