"""Certification status per firm-year: which tiers are in force, since when."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..data.spec import TIERS
from ..errors import ConfigError, DataError

__all__ = ["designation_status", "award_years", "DEFAULT_VALIDITY_YEARS"]

#: An award is in force in the year of the award and the two years after it.
DEFAULT_VALIDITY_YEARS = 3


def award_years(designations: pd.DataFrame) -> pd.DataFrame:
    """Expand awards into the firm-years in which they are in force.

    Rules: an award of year ``y`` is in force from ``y`` to ``valid_until`` inclusive
    (default ``y + 2``: three years). A revocation (``revoked_year`` r on any award of a
    tier) ends every award of that tier of that firm made in or before r, from r on; an
    award made after r starts afresh. A renewal is simply a later award: its years join
    the earlier ones.

    Returns ``firm_id, tier, year, award_year, batch`` (one row per award and year in
    force; a firm-year can appear under several awards).
    """
    d = designations
    start = d["year"].to_numpy(dtype=np.int64)
    vu = d["valid_until"] if "valid_until" in d else pd.Series(pd.NA, index=d.index)
    end = pd.to_numeric(vu, errors="coerce").fillna(pd.Series(start + DEFAULT_VALIDITY_YEARS - 1, index=d.index))
    end = end.to_numpy(dtype=np.int64)
    n_years = np.maximum(end - start + 1, 0)
    idx = np.repeat(np.arange(len(d)), n_years)
    offset = np.arange(len(idx)) - np.repeat(np.cumsum(n_years) - n_years, n_years)
    batch = d["batch"] if "batch" in d else pd.Series(np.nan, index=d.index)
    out = pd.DataFrame({
        "firm_id": d["firm_id"].to_numpy()[idx], "tier": d["tier"].to_numpy()[idx],
        "year": start[idx] + offset, "award_year": start[idx],
        "batch": pd.to_numeric(batch, errors="coerce").to_numpy()[idx],
    })
    if "revoked_year" in d and d["revoked_year"].notna().any():
        rev = d.loc[d["revoked_year"].notna(), ["firm_id", "tier", "revoked_year"]].astype({"revoked_year": "int64"})
        m = out.reset_index().merge(rev, on=["firm_id", "tier"], how="inner")
        hit = (m["award_year"] <= m["revoked_year"]) & (m["year"] >= m["revoked_year"])
        out = out.drop(index=m.loc[hit, "index"].unique())
    return out.reset_index(drop=True)


def _firm_positions(ids: pd.Series, firms: pd.Index) -> np.ndarray:
    """Position of each id in ``firms`` (−1 where absent): ``firms.get_indexer(ids)``, with pyarrow's hash
    table when both are pyarrow text (pandas converts them to Python strings first)."""
    arr = getattr(ids.array, "_pa_array", None)
    known = getattr(firms.array, "_pa_array", None)
    if arr is not None and known is not None:
        import pyarrow.compute as pc

        values = known.combine_chunks() if hasattr(known, "combine_chunks") else known
        values = values if values.type == arr.type else values.cast(arr.type)
        return np.asarray(pc.fill_null(pc.index_in(arr, value_set=values), -1), dtype=np.int64)
    return np.asarray(firms.get_indexer(ids), dtype=np.int64)


def designation_status(data, *, tier: str = "little_giant", years: Iterable[int] | None = None) -> pd.DataFrame:
    """Certification status for every firm-year.

    Parameters
    ----------
    data : Dataset
        Needs ``designations`` (firm_id, tier, year; optional valid_until,
        revoked_year, batch). Firms come from ``firms`` when present, else from
        ``financials`` and ``designations``.
    tier : str
        The tier whose status, cohort and batch are reported (default
        ``little_giant``).
    years : iterable of int, optional
        Years of the panel; default the range of ``financials.year`` (or of the
        designations when there are no financials).

    Returns
    -------
    DataFrame, one row per firm and year, sorted, with

    * ``active``: ``tier`` in force that year (see :func:`award_years` for validity,
      renewal and revocation);
    * ``cohort``: the first year the firm obtained ``tier`` (0 = never) — the
      treatment cohort of the difference-in-differences estimators;
    * ``years_since``: year − cohort (negative before designation; missing for firms
      never designated);
    * ``ever``: the firm obtained ``tier`` at some time;
    * ``highest_tier``: the highest tier in force that year (order innovative_sme <
      specialized_sme < little_giant < manufacturing_champion; empty when none);
    * ``batch``: the batch of the firm's first award of ``tier``.

    Source of the three-year validity: MIIT, 《优质中小企业梯度培育管理暂行办法》
    (工信部企业〔2022〕63号) — Little Giant status is reviewed every three years.
    """
    if tier not in TIERS:
        raise ConfigError(f"tier '{tier}' is not known; use one of {', '.join(TIERS)}")
    des = data.require("designations", ["firm_id", "tier", "year"], purpose="certification status")
    if years is None:
        src = data.financials if data.financials is not None and "year" in data.financials else des
        if not len(src):
            raise DataError(problems=[{"table": "financials", "column": "year", "message": "no years to build a panel",
                                       "hint": "pass years=range(first, last + 1)"}])
        years = range(int(src["year"].min()), int(src["year"].max()) + 1)
    years = np.array(sorted({int(y) for y in years}), dtype=np.int64)
    if data.firms is not None:
        firms = pd.Index(data.firms["firm_id"].dropna().unique())
    else:
        parts = [des["firm_id"]] + ([data.financials["firm_id"]] if data.financials is not None else [])
        firms = pd.Index(pd.concat(parts).dropna().unique())
    firms = firms.sort_values()
    nf, ny = len(firms), len(years)
    # the firm codes repeated by position (take), not as a million Python strings made anew
    # (typed as pandas types the codes themselves)
    codes = pd.Series(firms.to_numpy(), copy=False).array
    out = pd.DataFrame({"firm_id": codes.take(np.repeat(np.arange(nf), ny)), "year": np.tile(years, nf)})
    ay = award_years(des)
    fcode = _firm_positions(ay["firm_id"], firms)
    ypos = np.searchsorted(years, ay["year"].to_numpy())
    inside = (fcode >= 0) & (ypos < ny) & (years[np.minimum(ypos, ny - 1)] == ay["year"].to_numpy())
    pos = fcode[inside].astype(np.int64) * ny + ypos[inside]
    rank = pd.Categorical(ay["tier"][inside], categories=TIERS, ordered=True).codes.astype(np.int64)
    best = np.full(nf * ny, -1, dtype=np.int64)
    np.maximum.at(best, pos, rank)
    out["highest_tier"] = pd.array(["", *TIERS], dtype="string").take(best + 1)
    is_tier = (ay["tier"].to_numpy()[inside] == tier)
    active = np.zeros(nf * ny, dtype=bool)
    active[pos[is_tier]] = True
    out["active"] = active
    first = des[des["tier"] == tier].sort_values(["firm_id", "year"]).drop_duplicates("firm_id")
    # each firm's first award, placed by the firm's position (a firm not in the list has none)
    at = _firm_positions(first["firm_id"], firms)
    known = at >= 0
    cohort = np.zeros(nf, dtype=np.int64)
    cohort[at[known]] = first["year"].to_numpy(dtype=np.int64)[known]
    batch = np.full(nf, np.nan)
    if "batch" in first:
        batch[at[known]] = pd.to_numeric(first["batch"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[known]
    out["cohort"] = np.repeat(cohort, ny)
    ever = np.repeat(cohort > 0, ny)
    out["ever"] = ever
    # typed per firm, then repeated by position (a nullable array, not floats converted row by row)
    out["years_since"] = pd.arrays.IntegerArray(out["year"].to_numpy() - out["cohort"].to_numpy(), ~ever)
    out["batch"] = pd.Series(batch).astype("Int64").array.take(np.repeat(np.arange(nf), ny))
    return out[["firm_id", "year", "active", "cohort", "years_since", "ever", "highest_tier", "batch"]]
