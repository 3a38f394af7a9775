"""`Dataset`: the five tables of the data contract, plus provenance and a quality log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import DataError
from .quality import QualityLog
from .spec import TABLE_NAMES, TABLES

__all__ = ["Dataset"]


@dataclass
class Dataset:
    """Firm-level tables in the shape of the data contract (amounts in yuan).

    Parameters
    ----------
    firms, financials, grants, equity, designations, land, land_benchmarks : DataFrame, optional
        Tables as described in ``finsupport.data.spec.TABLES``. A table that a
        computation does not need may be left out; a function complains only about
        the tables and columns it needs, by name.
    provenance : dict
        Where the data came from (path, synthetic flag, units converted, …).
    quality : QualityLog
        Repairs and exclusions made while reading and validating.

    Constructing a ``Dataset`` directly (rather than with ``read_dataset``) normalises
    column types (firm codes to text, years to integers) and validates keys.
    """

    firms: pd.DataFrame | None = None
    financials: pd.DataFrame | None = None
    grants: pd.DataFrame | None = None
    equity: pd.DataFrame | None = None
    designations: pd.DataFrame | None = None
    land: pd.DataFrame | None = None
    land_benchmarks: pd.DataFrame | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    quality: QualityLog = field(default_factory=QualityLog)
    validate: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        for name in TABLE_NAMES:
            df = getattr(self, name)
            if df is not None and not isinstance(df, pd.DataFrame):
                raise DataError(
                    problems=[
                        {
                            "table": name,
                            "message": f"expected a pandas DataFrame, got {type(df).__name__}",
                            "hint": "pass a DataFrame or read files with fs.read_dataset()",
                        }
                    ]
                )
        if self.validate:
            from .validate import validate_dataset

            validate_dataset(self)

    # -- access ------------------------------------------------------------------
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables that are present, by name."""
        return {n: getattr(self, n) for n in TABLE_NAMES if getattr(self, n) is not None}

    def require(self, table: str, columns: tuple[str, ...] | list[str] = (), *, purpose: str = "") -> pd.DataFrame:
        """Return ``table``, raising a DataError that names what is missing."""
        df = getattr(self, table, None)
        why = f" (needed for {purpose})" if purpose else ""
        if df is None:
            raise DataError(
                problems=[
                    {
                        "table": table,
                        "message": f"table is missing{why}",
                        "hint": f"provide a '{table}' table with columns {', '.join(TABLES[table].key or columns)}",
                    }
                ]
            )
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataError(
                problems=[
                    {
                        "table": table,
                        "column": c,
                        "message": f"required column is missing{why}",
                        "hint": f"add column '{c}' or map a source header to it (mapping=...)",
                    }
                    for c in missing
                ]
            )
        return df

    def replace(self, **tables: pd.DataFrame | None) -> Dataset:
        """A copy with some tables replaced (provenance and quality log are shared)."""
        kw = {n: getattr(self, n) for n in TABLE_NAMES}
        kw.update(tables)
        return Dataset(**kw, provenance=dict(self.provenance), quality=self.quality, validate=False)

    def subset(self, *, firms=None, years=None) -> Dataset:
        """Keep only the given firm codes and/or years in every table."""
        from .arrow_text import isin_values

        out = {}
        for n, df in self.tables().items():
            m = pd.Series(True, index=df.index)
            if firms is not None and "firm_id" in df:
                m &= isin_values(df["firm_id"], pd.Index(firms).astype(str))
            # land purchases before the years still allocate into them (and need their benchmarks)
            if years is not None and "year" in df and n not in ("designations", "land", "land_benchmarks"):
                m &= df["year"].isin(list(years))
            out[n] = df[m]  # keep the source row labels for the quality log
        return self.replace(**out)

    def __repr__(self) -> str:
        parts = [f"{n}={len(df):,} rows" for n, df in self.tables().items()]
        return f"Dataset({', '.join(parts)})"
