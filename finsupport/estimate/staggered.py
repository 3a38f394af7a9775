"""Checking and preparing a staggered-adoption panel, shared by the Sun–Abraham and imputation estimators.

The estimators' entry points call :func:`prepare_staggered` and then compute on the
arrays it returns; nothing here estimates anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, EstimationError
from .twfe import DroppedRows, _cluster_option, _prepare_panel, _problem, _require_columns

__all__ = ["StaggeredPanel", "prepare_staggered"]


@dataclass
class StaggeredPanel:
    """A checked panel as integer codes and arrays (rows sorted by unit, then period).

    ``g`` is the cohort of each row (0 = never treated), ``e`` the event time
    (NaN for never-treated rows), ``ucode``/``tcode`` integer codes of unit and period
    (periods sorted), ``ccode`` cluster codes (None without clustering).
    """

    data: pd.DataFrame
    dropped: DroppedRows
    unit: str
    time: str
    cohort: str
    cluster: str | None
    y: np.ndarray
    X: np.ndarray
    covariates: list[str]
    g: np.ndarray
    t: np.ndarray
    e: np.ndarray
    ucode: np.ndarray
    tcode: np.ndarray
    units: pd.Index
    periods: np.ndarray
    ccode: np.ndarray | None
    n_clusters: int | None

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    def treated_units_by_cohort(self) -> pd.Series:
        ug = pd.Series(self.g).groupby(self.ucode).first()
        return ug[ug > 0].value_counts().sort_index()


def prepare_staggered(df: pd.DataFrame, *, outcome: str, unit: str, time: str, cohort: str,
                      covariates: Sequence[str] = (), cluster: str | None = "unit",
                      extra: Sequence[str] = ()) -> StaggeredPanel:
    """Check the columns, drop (and account for) incomplete rows and code the panel.

    Raises
    ------
    DataError
        Missing columns or ids, duplicate unit-period rows, non-numeric or non-integer
        periods or cohorts, non-numeric outcome or covariates.
    EstimationError
        A cohort that changes within a unit, or no treated unit.
    """
    covariates = list(covariates)
    cl = _cluster_option(cluster, unit)
    _require_columns(df, {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort,
                         **{f"covariate {c}": c for c in covariates}, "cluster": cl,
                         **{f"column {c}": c for c in extra}})
    required = [outcome, *covariates] + ([cl] if cl is not None and cl != unit else [])
    data, dropped = _prepare_panel(df, unit=unit, time=time, required=required,
                                  numeric=[outcome, *covariates], keep=[cohort, *extra])
    for col in (time, cohort):
        s = data[col]
        if s.dtype == bool or not pd.api.types.is_numeric_dtype(s):
            raise DataError(problems=[_problem(col, f"{col} must be numeric periods (e.g. years), got {s.dtype}",
                                               f"convert {col} to integer periods")])
    g = data[cohort].fillna(0).to_numpy(dtype=float)
    tt = data[time].to_numpy(dtype=float)
    if not (np.all(np.mod(tt, 1) == 0) and np.all(np.mod(g, 1) == 0)):
        raise DataError(problems=[_problem(time, "time or cohort has non-integer values",
                                           "use integer periods (years, or period numbers) for both")])
    ucode, units = pd.factorize(data[unit], sort=True)
    varying = pd.Series(g).groupby(ucode).nunique()
    if (varying > 1).any():
        bad = units[varying.index[varying > 1]].tolist()
        raise EstimationError(
            f"{cohort} changes within unit(s) {', '.join(map(str, bad[:8]))}"
            f"{' …' if len(bad) > 8 else ''}. Fix: set {cohort} to the unit's first treated period in every "
            f"row (0 if never).")
    if not (g > 0).any():
        raise EstimationError(f"no treated unit: {cohort} is 0 or missing in every row used. "
                              f"Fix: check the cohort coding (first treated period, 0 = never).")
    tcode, periods = pd.factorize(tt, sort=True)
    order = np.lexsort((tcode, ucode))
    data = data.iloc[order]
    ucode, tcode, g, tt = ucode[order], tcode[order], g[order], tt[order]
    ccode, ncl = None, None
    if cl is not None:
        if cl == unit:
            ccode, ncl = ucode, len(units)
        else:
            ccode, uniq = pd.factorize(data[cl])
            ncl = len(uniq)
    X = data[covariates].to_numpy(dtype=float) if covariates else np.zeros((len(data), 0))
    return StaggeredPanel(data=data, dropped=dropped, unit=unit, time=time, cohort=cohort, cluster=cl,
                          y=data[outcome].to_numpy(dtype=float), X=X, covariates=covariates, g=g, t=tt,
                          e=np.where(g > 0, tt - g, np.nan), ucode=ucode, tcode=tcode, units=pd.Index(units),
                          periods=np.asarray(periods), ccode=ccode, n_clusters=ncl)
