"""The measurement core: the firm-years measured (:class:`Panel`) and one component's result (:class:`Component`).

Each component module (subsidies, equity, debt, tax, land) has one function
``measure_<component>(…, panel, options) -> Component`` that turns its tables into an
amount per firm-year of ``panel`` plus the inputs behind it. :func:`support_flows`
builds the panel from ``financials`` and composes the five; the public per-component
functions (``subsidy_flows``, ``equity_flows``, ``debt_flows``, ``tax_flows``,
``land_flows``) build a panel of the firm-years they need and call the same function,
so every path computes a figure the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .panel_index import PanelIndex

__all__ = ["Panel", "Component", "build_panel", "log_outside"]

#: Financial columns the measures read (those present are carried in panel order).
PANEL_COLUMNS = ("revenue", "interest_bearing_debt", "interest_expense", "benchmark_rate", "profit_before_tax",
                 "income_tax_expense", "rd_expense", "rd_additional_deduction", "employees", "total_assets",
                 "hnte", "small_low_profit", "tech_sme", "manufacturer")


@dataclass
class Panel:
    """Firm-years in (firm, year) order with the financial columns the measures read.

    ``frame`` holds ``firm_id, year`` and the columns of :data:`PANEL_COLUMNS` that the
    source has (rows in panel order, source row labels kept for the quality log);
    ``revenue`` is aligned with it (NaN where unknown); ``log`` is the data-quality log
    (or None); ``log_outside`` says whether rows of other tables that fall outside the
    panel are recorded as excluded (true for the flows of a dataset).
    """

    px: PanelIndex
    frame: pd.DataFrame
    revenue: np.ndarray
    log: object | None = None
    log_outside: bool = True

    @property
    def n(self) -> int:
        return self.px.n

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def column(self, column: str, dtype=float) -> np.ndarray:
        """A column in panel order as an array (NaN / False where the column is absent)."""
        if column not in self.frame.columns:
            return np.full(self.n, np.nan) if dtype is float else np.zeros(self.n, dtype)
        return self.frame[column].to_numpy(dtype=dtype)

    def flag(self, column: str) -> np.ndarray:
        """A yes/no column as a float array: 1 yes, 0 no, NaN missing or absent."""
        if column not in self.frame.columns:
            return np.full(self.n, np.nan)
        s = self.frame[column]
        if s.dtype == bool:
            return s.to_numpy(dtype=float)
        if str(s.dtype) == "boolean":
            return s.to_numpy(dtype=float, na_value=np.nan)
        if s.dtype == object or str(s.dtype) in ("string", "str"):
            s = s.map(lambda v: v if isinstance(v, bool | np.bool_) or pd.isna(v) else _yes(v))
        return pd.to_numeric(s.astype("boolean").astype("Float64"), errors="coerce").to_numpy(dtype=float,
                                                                                               na_value=np.nan)


def _yes(v) -> bool | float:
    t = str(v).strip().lower()
    if t in ("1", "true", "yes", "y", "是", "t"):
        return True
    if t in ("0", "false", "no", "n", "否", "f", ""):
        return False
    return np.nan


@dataclass
class Component:
    """One component's amount per firm-year of a panel and the inputs behind it.

    ``amount`` is NaN where it cannot be computed (counted as 0 in totals and flagged);
    ``columns`` are the inputs shown beside it (names prefixed by the component; a name
    starting with ``_`` is internal); ``measured`` is False when the data cannot give
    the component at all (``why`` says so).
    """

    name: str
    amount: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    measured: bool = True
    why: str = ""
    warnings: list[str] = field(default_factory=list)


def build_panel(fin: pd.DataFrame, *, log=None, log_outside: bool = True) -> Panel:
    """A :class:`Panel` of the firm-years of ``fin`` (``firm_id, year`` and any financial columns)."""
    px = PanelIndex(fin["firm_id"], fin["year"])
    # only the columns measured here: a copy of every column of a national panel costs gigabytes
    used = ["firm_id", "year", *(c for c in PANEL_COLUMNS if c in fin.columns)]
    f = fin.iloc[px.order, [fin.columns.get_loc(c) for c in used]]
    revenue = (f["revenue"].to_numpy(dtype=float) if "revenue" in f else np.full(px.n, np.nan))
    return Panel(px, f, revenue, log, log_outside)


def panel_of_keys(firm_id, year, *, log=None, revenue: pd.DataFrame | None = None) -> Panel:
    """A panel of the distinct firm-years given (for the per-component views), revenue joined where known."""
    keys = pd.DataFrame({"firm_id": pd.Series(firm_id, dtype=object).to_numpy(),
                         "year": np.asarray(year, dtype=np.int64)}).drop_duplicates()
    if revenue is not None and len(revenue):
        rev = revenue.drop_duplicates(["firm_id", "year"])
        keys = keys.merge(rev, on=["firm_id", "year"], how="left")
    return build_panel(keys.reset_index(drop=True), log=log, log_outside=False)


def log_outside(table: pd.DataFrame, pos: np.ndarray, panel: Panel, name: str) -> None:
    """Record rows of ``table`` whose firm-year is not in the panel (they cannot be related to revenue)."""
    outside = pos < 0
    if panel.log is None or not panel.log_outside or not outside.any():
        return
    sel = table[outside]
    panel.log.add(stage="measure", table=name, rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                  issue="no financials for this firm-year", action="excluded",
                  detail="amount cannot be related to revenue; not counted in flows")
