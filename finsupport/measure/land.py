"""Below-market land: land-use rights bought for less than a benchmark price."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..reference.rates import annual_benchmark
from .allocation import allocate_at
from .core import Component, Panel, log_outside, panel_of_keys
from .options import MeasureOptions

__all__ = ["land_flows", "measure_land", "land_benefits"]

_COLUMNS = ("land_received", "n_land", "land_expensed", "land_allocated", "land_missing")


def land_benefits(land: pd.DataFrame, benchmarks: pd.DataFrame | None, *, benchmark: str = "user",
                  log=None) -> pd.DataFrame:
    """The benefit of each land purchase: ``max(0, benchmark price − price paid per m²) × area``.

    Parameters
    ----------
    land : DataFrame
        One row per purchase of a land-use right: ``firm_id, year, area_m2, price_paid``
        (total yuan paid), ``place`` (city or province), optional ``land_use`` and
        ``term_years`` (term of the use right).
    benchmarks : DataFrame
        ``place, year, price_per_m2`` (yuan per m²) and optional ``land_use``; a
        benchmark with a land use matches purchases of that use first, one without
        matches any use.
    benchmark : {"user", "median_comparables"}
        ``user``: the ``benchmarks`` table. ``median_comparables``: the median price per
        m² of the purchases in ``land`` with the same place, year and use — labelled NOT a
        CVD benchmark (US practice for China measures land against an outside benchmark;
        docs/methods.md), since the comparables may themselves be below market.

    Returns
    -------
    ``land`` with ``paid_per_m2, benchmark_per_m2, benchmark_source, benefit`` added
    (benefit missing where the area, the price or the benchmark is; such rows are logged).
    """
    out = land.copy()
    area = out["area_m2"].to_numpy(dtype=float)
    paid = out["price_paid"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["paid_per_m2"] = np.where(area > 0, paid / area, np.nan)
    place = out["place"].astype("string").str.strip() if "place" in out else pd.Series(pd.NA, index=out.index,
                                                                                         dtype="string")
    use = (out["land_use"].astype("string").str.strip().str.lower() if "land_use" in out
           else pd.Series(pd.NA, index=out.index, dtype="string"))
    keys = pd.DataFrame({"place": place.to_numpy(), "year": out["year"].to_numpy(dtype=np.int64),
                         "land_use": use.to_numpy()})
    if benchmark == "median_comparables":
        ppm = pd.Series(out["paid_per_m2"].to_numpy(), index=pd.MultiIndex.from_frame(keys.fillna({"land_use": ""})))
        med = ppm.groupby(level=[0, 1, 2], dropna=False).median()
        bench = med.reindex(pd.MultiIndex.from_frame(keys.fillna({"land_use": ""}))).to_numpy(dtype=float)
        source = np.full(len(out), "median of comparables in the data (not a CVD benchmark)", dtype=object)
    else:
        bench = np.full(len(out), np.nan)
        if benchmarks is not None and len(benchmarks):
            b = benchmarks.assign(place=benchmarks["place"].astype("string").str.strip(),
                                  year=benchmarks["year"].astype(np.int64))
            b_use = (b["land_use"].astype("string").str.strip().str.lower() if "land_use" in b
                     else pd.Series(pd.NA, index=b.index, dtype="string"))
            b = b.assign(land_use=b_use)
            # a benchmark for the purchase's use first, then one for any use of that place and year
            specific = b[b["land_use"].notna()].drop_duplicates(["place", "year", "land_use"])
            generic = b[b["land_use"].isna()].drop_duplicates(["place", "year"])
            s_idx = pd.MultiIndex.from_frame(specific[["place", "year", "land_use"]])
            hit = pd.Series(specific["price_per_m2"].to_numpy(dtype=float), index=s_idx).reindex(
                pd.MultiIndex.from_frame(keys)).to_numpy(dtype=float)
            g_idx = pd.MultiIndex.from_frame(generic[["place", "year"]])
            gen = pd.Series(generic["price_per_m2"].to_numpy(dtype=float), index=g_idx).reindex(
                pd.MultiIndex.from_frame(keys[["place", "year"]])).to_numpy(dtype=float)
            bench = np.where(np.isnan(hit), gen, hit)
        source = np.full(len(out), "user benchmark (land_benchmarks)", dtype=object)
    out["benchmark_per_m2"] = bench
    out["benchmark_source"] = source
    out["benefit"] = np.maximum(0.0, bench * area - paid)
    bad = np.isnan(area) | np.isnan(paid) | (area <= 0)
    nob = ~bad & np.isnan(bench)
    out.loc[bad | nob, "benefit"] = np.nan
    if log is not None:
        for mask, issue, detail in (
            (bad, "land purchase without area or price", "area_m2 missing or not positive, or price_paid missing: "
                                                         "no benefit measured (counted 0)"),
            (nob, "no land benchmark", "no benchmark price for this place and year (land_benchmarks): no benefit "
                                       "measured (counted 0); add a benchmark row"),
        ):
            if mask.any():
                sel = out[mask]
                log.add(stage="measure", table="land", rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                        column="price_paid", issue=issue, action="flagged", detail=detail)
        if benchmark == "median_comparables" and len(out):
            log.add(stage="measure", table="land", column="price_paid", issue="land benchmark from comparables",
                    action="info", detail="median price per m² of purchases with the same place, year and use in the "
                                          "data: NOT a CVD benchmark (the comparables may be below market too)")
    return out


def land_flows(land: pd.DataFrame, benchmarks: pd.DataFrame | None, revenue: pd.DataFrame, *,
               land_benchmark: str = "user", land_allocation: str = "term", aul_years: int = 10,
               expense_threshold: float = 0.005, log=None) -> pd.DataFrame:
    """Below-market land benefit per firm-year (a view of :func:`measure_land`).

    Covers the firm-years the purchases fall in or are allocated to; ``revenue``
    (``firm_id, year, revenue``) gives the sales of the 0.5 % test. Returns
    ``firm_id, year, land, land_received, n_land, land_expensed, land_allocated``.
    """
    opts = MeasureOptions(land_benchmark=land_benchmark, land_allocation=land_allocation, aul_years=aul_years,
                          expense_threshold=expense_threshold)
    n = _periods(land, opts)
    fid = np.repeat(land["firm_id"].to_numpy(dtype=object), n)
    start = np.repeat(land["year"].to_numpy(dtype=np.int64), n)
    yr = start + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    panel = panel_of_keys(fid, yr, log=log, revenue=revenue[["firm_id", "year", "revenue"]])
    comp = measure_land(land, benchmarks, panel, opts)
    hit = (comp.columns["n_land"] > 0) | (comp.columns["_n_allocating"] > 0)
    out = pd.DataFrame({"firm_id": panel.frame["firm_id"].to_numpy()[hit], "year": panel.px.year[hit],
                        "land": comp.amount[hit]})
    for c in _COLUMNS[:-1]:
        out[c] = comp.columns[c][hit]
    return out.reset_index(drop=True)


def _periods(land: pd.DataFrame, opts: MeasureOptions, log=None) -> np.ndarray:
    """Allocation period of each purchase in whole years (1 = the year of purchase)."""
    m = len(land)
    if opts.land_allocation == "purchase_year":
        return np.ones(m, np.int64)
    if opts.land_allocation == "aul":
        return np.full(m, int(opts.aul_years), np.int64)
    term = land["term_years"].to_numpy(dtype=float) if "term_years" in land else np.full(m, np.nan)
    bad = np.isnan(term) | (term < 1)
    if log is not None and bad.any():
        sel = land[bad]
        log.add(stage="measure", table="land", rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                column="term_years", issue="use-right term missing", action="flagged",
                detail=f"allocated over the AUL ({opts.aul_years} years) instead of the term of the use right")
    return np.where(bad, int(opts.aul_years), np.round(np.where(bad, 1, term))).astype(np.int64)


def measure_land(land: pd.DataFrame | None, benchmarks: pd.DataFrame | None, panel: Panel,
                 options: MeasureOptions) -> Component:
    """Below-market land benefit in each firm-year of ``panel``.

    The benefit of a purchase (:func:`land_benefits`) is non-recurring (a land-use right
    is a one-off provision): a benefit below ``expense_threshold`` (0.5 %) of the firm's
    sales in the year of purchase is expensed in that year (19 CFR 351.524(b)(2)); a
    larger one is allocated by the declining-balance formula of 351.524(d)(1),
    ``A_k = y/n + [y − (y/n)(k − 1)]·d/(1 + d)``, d the five-year-plus benchmark rate
    of the year of purchase, over n = the term of the use right
    (``land_allocation="term"``, default, as in US countervailing-duty practice for
    land-use rights in China; a missing term falls back to the AUL, logged), the AUL
    (``"aul"``), or n = 1 (``"purchase_year"``). Where sales are unknown the test
    cannot be applied and the benefit is allocated (logged).

    Columns behind the amount: ``land_received`` (the whole benefit in the year of
    purchase: the received-in-year view), ``n_land``, ``land_expensed``,
    ``land_allocated``, ``land_missing`` (a purchase of the year lacks a price, an area
    or a benchmark).
    """
    px = panel.px
    zeros = np.zeros(px.n)
    if land is None:
        cols = {c: np.full(px.n, np.nan) for c in ("land_received", "land_expensed", "land_allocated")}
        cols.update(n_land=zeros.astype(np.int64), land_missing=np.ones(px.n, bool),
                    _n_allocating=zeros.astype(np.int64))
        if panel.log is not None:
            panel.log.add(stage="measure", table="land", issue="land component not measured",
                          action="flagged" if "land" in options.components else "info",
                          detail="no land table: below-market land is missing for every firm-year and counts as 0")
        return Component("land", np.full(px.n, np.nan), cols, measured=False, why="the data have no land table")
    cols = dict(land_received=zeros, n_land=zeros.astype(np.int64), land_expensed=zeros, land_allocated=zeros,
                land_missing=np.zeros(px.n, bool), _n_allocating=zeros.astype(np.int64))
    if not len(land):
        return Component("land", zeros.copy(), cols)
    b = land_benefits(land, benchmarks, benchmark=options.land_benchmark, log=panel.log)
    codes = px.firm_codes(b["firm_id"])
    pos = px.locate(codes, b["year"])
    # a purchase before the panel's years still allocates into them: only the received view loses it
    log_outside(b, pos if options.land_allocation == "purchase_year" else np.where(codes < 0, -1, 0), panel, "land")
    y = b["benefit"].to_numpy(dtype=float)
    missing = np.isnan(y)
    y = np.nan_to_num(y)
    sales = np.where(pos >= 0, panel.revenue[np.maximum(pos, 0)], np.nan)
    n = _periods(b, options, panel.log)
    with np.errstate(invalid="ignore"):
        expensed = (n == 1) | ((y < options.expense_threshold * sales) & ~np.isnan(sales))
    no_sales = ~expensed & np.isnan(sales) & (y > 0)
    if panel.log is not None and no_sales.any():
        sel = b[no_sales]
        panel.log.add(stage="measure", table="land", rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                      column="price_paid", issue="0.5% expense test not applicable", action="flagged",
                      detail="no sales for the year of purchase; benefit allocated")
    year = b["year"].to_numpy(dtype=np.int64)
    allocated = np.zeros(px.n)
    n_alloc = np.zeros(px.n, np.int64)
    rows = np.flatnonzero(~expensed & (y > 0))
    if len(rows):
        d = annual_benchmark(np.unique(year[rows]), benchmark="lpr_5y") / 100.0
        rate = d.reindex(year).to_numpy(dtype=float)
        # only the firm-years of firms that bought land are asked for: a 50-year term over a national panel
        # would otherwise fill a firm × 60-year grid for every firm
        buyers = np.unique(codes[rows])
        q = np.flatnonzero(np.isin(px.codes, buyers))
        at = np.searchsorted(buyers, px.codes[q])     # compact codes: the grid has a row per buyer only
        for term in np.unique(n[rows]):   # a few distinct terms (50, 40, …), not purchases
            r = rows[n[rows] == term]
            a, c = allocate_at(np.searchsorted(buyers, codes[r]), year[r], y[r], rate[r], aul_years=int(term),
                               at_codes=at, at_years=px.year[q])
            allocated[q] += a
            n_alloc[q] += c
    cols = dict(land_received=px.total(pos, y), n_land=px.count(pos),
                land_expensed=px.total(pos, np.where(expensed, y, 0.0)), land_allocated=allocated,
                land_missing=px.total(pos, missing.astype(float)) > 0, _n_allocating=n_alloc)
    return Component("land", cols["land_expensed"] + cols["land_allocated"], cols)
