"""Reference data of the Little Giant programme: batches and the selection criteria in force."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = ["little_giant_batches", "selection_criteria", "criteria_regime", "untested_criteria", "UNTESTED"]

#: ``direction`` of a selection-criteria row that the audit cannot test from the data contract.
UNTESTED = "untested"


@lru_cache(maxsize=2)
def _read(name: str) -> pd.DataFrame:
    with resources.files("finsupport.reference").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype={"threshold": str, "regime": int})


def little_giant_batches() -> pd.DataFrame:
    """MIIT Little Giant batches, one row per batch.

    Columns: ``batch, year, announced_firms, other_count, criteria_regime, criteria_source,
    status, source, other_count_source``. ``announced_firms`` is the count of the best source;
    ``other_count`` a different count found elsewhere (batch 2: 1,584 vs 1,744; batch 4:
    4,328 in the ministry's figures vs 4,357 in one compilation of the lists), with its
    source. ``status``: ``verified`` = an MIIT document or figures given by the ministry;
    ``reported`` = press or industry-association reports of the MIIT list; ``weak`` = one
    secondary report only. ``criteria_regime`` names the selection rules the batch was
    chosen under (2018 notice: batches 1–3; 2022 measures: batches 4 on) and
    ``criteria_source`` the document.
    """
    out = _read("little_giant_batches.csv").copy()
    out["other_count"] = out["other_count"].astype("Int64")
    return out


def selection_criteria() -> pd.DataFrame:
    """Selection criteria by regime (2018 notice: batches 1–3; 2022 measures: batches 4 on).

    One row per (regime, test) with the measure, threshold, direction, the financial
    years used (relative to the award year t), verification status and source. Rows with
    ``direction == "untested"`` are criteria of the programme that no table of the data
    contract records (years in the niche, national market share, the innovation
    direct-pass route): the audit lists them as not tested instead of judging them.
    """
    return _read("selection_criteria.csv").copy()


def untested_criteria(criteria: pd.DataFrame | None = None) -> pd.DataFrame:
    """The criteria the audit cannot test: ``regime, test, measure, threshold, status, source``.

    Taken from ``criteria`` (default :func:`selection_criteria`) where ``direction`` is
    ``"untested"``; empty when a replacement table has no ``direction`` column.
    """
    crit = selection_criteria() if criteria is None else criteria
    cols = [c for c in ("regime", "test", "measure", "threshold", "status", "source") if c in crit]
    if "direction" not in crit:
        return crit.iloc[0:0][cols].reset_index(drop=True)
    return crit.loc[crit["direction"].astype("string").str.strip().eq(UNTESTED).fillna(False).to_numpy(),
                    cols].reset_index(drop=True)


def criteria_regime(batch, year) -> pd.Series:
    """The criteria regime of each award: by batch when known, else by award year (2022 rules from 2022)."""
    b = little_giant_batches().set_index("batch")["criteria_regime"]
    by_batch = pd.Series(pd.to_numeric(pd.Series(batch), errors="coerce")).map(b)
    y = pd.Series(year).astype("int64").reset_index(drop=True)
    by_year = pd.Series(np.where(y >= 2022, 2022, 2018))
    return by_batch.reset_index(drop=True).fillna(by_year).astype("int64")
