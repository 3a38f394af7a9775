"""State-linked equity (government guidance funds and other state investors) per firm-year."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.spec import STATE_INVESTOR_TYPES
from ..errors import ConfigError
from ..reference.rates import annual_benchmark
from .allocation import allocate_declining_balance
from .core import Component, Panel, log_outside, panel_of_keys
from .investors import InvestorTypes, classify_investor_types
from .options import MeasureOptions

__all__ = ["equity_flows", "measure_equity", "equity_events", "EQUITY_BASES", "EquityEvents", "log_investor_types",
           "investor_type_warning"]

EQUITY_BASES = ("gross", "grant_equivalent")


@dataclass
class EquityEvents:
    """``state`` masks state-linked rows; benefit is ``in_year`` (gross) or allocated; ``types`` classifies rows."""

    state: np.ndarray
    in_year: np.ndarray
    alloc_row: np.ndarray
    alloc_year: np.ndarray
    alloc_amount: np.ndarray
    types: InvestorTypes | None = None


def equity_events(equity: pd.DataFrame, *, basis: str, state_investor_types: Iterable[str],
                  unequityworthy: Iterable[str] | None, aul_years: int, discount_benchmark: str) -> EquityEvents:
    """Vectorised core of :func:`equity_flows`."""
    if basis not in EQUITY_BASES:
        raise ConfigError(f"equity_basis '{basis}' is not known; use one of {', '.join(EQUITY_BASES)}")
    types = classify_investor_types(equity["investor_type"], state_investor_types=state_investor_types)
    state = types.state & equity["amount"].notna().to_numpy(dtype=bool)
    empty = np.empty(0, np.int64)
    if basis == "gross":
        return EquityEvents(state, state, empty, empty, np.empty(0), types)
    chosen = state.copy()
    if unequityworthy is not None:
        chosen &= equity["firm_id"].isin(pd.Index(list(unequityworthy)).astype(str)).to_numpy(dtype=bool)
    rows = np.flatnonzero(chosen)
    year = equity["year"].to_numpy(dtype=np.int64)[rows]
    if not len(rows):
        return EquityEvents(state, np.zeros(len(state), bool), empty, empty, np.empty(0), types)
    d = annual_benchmark(np.unique(year), benchmark=discount_benchmark) / 100.0
    alloc = allocate_declining_balance(pd.Series(rows), pd.Series(year),
                                       pd.Series(equity["amount"].to_numpy(dtype=float)[rows]),
                                       pd.Series(d.reindex(year).to_numpy()), aul_years=aul_years)
    return EquityEvents(state, np.zeros(len(state), bool), alloc["firm_id"].to_numpy(dtype=np.int64),
                        alloc["year"].to_numpy(), alloc["allocated"].to_numpy(), types)


def log_investor_types(equity: pd.DataFrame, types: InvestorTypes, log) -> None:
    """Record in the quality log the rows whose investor type was read from another label or is unknown.

    Unknown or missing types are *flagged* (the row counts as not state-linked, which may
    understate state equity); labels read as a contract type (政府引导基金 → guidance_fund)
    are *info*.
    """
    itype = equity["investor_type"].astype("string")
    for mask, issue, action, detail in (
        (types.unknown, "investor type not recognised", "flagged",
         "neither a state-linked nor a known private type: counted as NOT state-linked; add it to "
         "measure.state_investor_types if it is state-linked, or write it as one of the contract's types"),
        (types.missing & equity["amount"].notna().to_numpy(dtype=bool), "investor type missing", "flagged",
         "no investor type: counted as NOT state-linked"),
    ):
        if mask.any():
            sel = equity[mask]
            log.add(stage="measure", table="equity", rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                    column="investor_type", issue=issue, action=action,
                    detail=(itype[mask].fillna("").to_numpy(dtype=object) + ": " + detail))
    if types.renamed.any():
        sel = equity[types.renamed]
        read_as = np.asarray(types.type[types.renamed], dtype=object)
        log.add(stage="measure", table="equity", rows=sel.index, firm_id=sel["firm_id"], year=sel["year"],
                column="investor_type", issue="investor type read as a contract type", action="info",
                detail=itype[types.renamed].to_numpy(dtype=object) + " → " + read_as)


def investor_type_warning(equity: pd.DataFrame, types: InvestorTypes, *, limit: int = 5) -> str | None:
    """One sentence naming the unknown investor types (most frequent first) and their row count, or None."""
    n_unknown = int(types.unknown.sum())
    n_missing = int((types.missing & equity["amount"].notna().to_numpy(dtype=bool)).sum())
    if not n_unknown and not n_missing:
        return None
    parts = []
    if n_unknown:
        counts = types.unknown_labels(equity["investor_type"])
        shown = ", ".join(f"'{k}' ({int(v)})" for k, v in counts.head(limit).items())
        more = f" and {len(counts) - limit} more" if len(counts) > limit else ""
        parts.append(f"{n_unknown} equity row(s) with an investor type that is neither state-linked nor known "
                     f"private: {shown}{more}")
    if n_missing:
        parts.append(f"{n_missing} equity row(s) without an investor type")
    return ("; ".join(parts) + ". They are counted as NOT state-linked equity; list state-linked labels in "
            "measure.state_investor_types (see the Data quality sheet)")


def equity_flows(
    equity: pd.DataFrame,
    *,
    basis: str = "gross",
    state_investor_types: Iterable[str] = STATE_INVESTOR_TYPES,
    unequityworthy: Iterable[str] | None = None,
    aul_years: int = 10,
    discount_benchmark: str = "lpr_5y",
) -> pd.DataFrame:
    """Equity contributed by state-linked investors, per firm-year.

    Parameters
    ----------
    equity : DataFrame
        One row per investor in a round: ``firm_id, year, investor_type, amount``.
    basis : {"gross", "grant_equivalent"}
        ``gross`` (default, as in the published study): the sum of contributions by
        state-linked investor types in the year of the round,
        ``E_it = Σ amount`` over rows with ``investor_type ∈ state_investor_types``.

        ``grant_equivalent``: for firms found unequityworthy, 19 CFR 351.507(a)(6)
        treats the infusion as a non-recurring grant: it is allocated over the AUL by the
        declining-balance formula of 351.524(d)(1) with the five-year-plus benchmark
        rate of the year of the infusion as discount rate. Infusions into other firms
        count as zero benefit under this basis (an equityworthy firm receiving equity on
        market terms gets no benefit; the price comparisons of 351.507(a)(2)–(4) need
        private-investor prices, which the data contract does not carry).
    state_investor_types : iterable of str
        Investor types counted as state-linked (default: guidance_fund, state_vc, soe,
        government). Labels are read by
        :func:`finsupport.measure.investors.classify_investor_types`: Chinese and English
        variants (政府引导基金, 产业投资基金 → guidance_fund; 国有创投 → state_vc; 国有企业,
        国资, 国有资本投资运营公司 → soe; 政府, 地方政府平台 → government; 民营, 私募, 外资,
        个人, 自然人, VC/PE → private), ignoring case, width and separators. A label that
        is neither state-linked nor known counts as not state-linked and is reported by
        :func:`support_flows` (quality log and a warning).
    unequityworthy : iterable of firm codes, optional
        Firms treated as unequityworthy under ``grant_equivalent``; ``None`` means all.

    A view of :func:`measure_equity`, the function :func:`support_flows` uses, on the
    firm-years the equity rows fall in or are allocated to.

    Returns
    -------
    DataFrame ``firm_id, year, equity, equity_state_gross, n_state_investments``.
    """
    opts = MeasureOptions(equity_basis=basis, state_investor_types=tuple(state_investor_types),
                          unequityworthy=None if unequityworthy is None else tuple(unequityworthy), aul_years=aul_years)
    fid, yr = equity["firm_id"].to_numpy(dtype=object), equity["year"].to_numpy(dtype=np.int64)
    if basis == "grant_equivalent":   # allocations reach the AUL years from the year of the infusion
        n = int(aul_years)
        fid, yr = np.repeat(fid, n), np.repeat(yr, n) + np.tile(np.arange(n), len(equity))
    panel = panel_of_keys(fid, yr)
    comp = measure_equity(equity, panel, opts, discount_benchmark=discount_benchmark)
    hit = (comp.columns["n_state_investments"] > 0) | (comp.columns["_n_allocating"] > 0)
    out = pd.DataFrame({"firm_id": panel.frame["firm_id"].to_numpy()[hit], "year": panel.px.year[hit],
                        "equity": comp.amount[hit]})
    for c in ("equity_state_gross", "n_state_investments"):
        out[c] = comp.columns[c][hit]
    return out.reset_index(drop=True)


def measure_equity(equity: pd.DataFrame | None, panel: Panel, options: MeasureOptions, *,
                   discount_benchmark: str = "lpr_5y") -> Component:
    """State-linked equity benefit in each firm-year of ``panel`` (the rules of :func:`equity_flows`).

    Columns behind it: ``equity_state_gross`` (state-linked contributions in the year)
    and ``n_state_investments``. Unknown or missing investor types are logged and
    summed up in ``warnings``.
    """
    px = panel.px
    zeros = np.zeros(px.n)
    cols = dict(equity_state_gross=zeros, n_state_investments=zeros.astype(np.int64),
                _n_allocating=zeros.astype(np.int64))
    if equity is None or not len(equity):
        return Component("equity", zeros.copy(), cols)
    ev = equity_events(equity, basis=options.equity_basis, state_investor_types=options.state_investor_types,
                       unequityworthy=options.unequityworthy, aul_years=options.aul_years,
                       discount_benchmark=discount_benchmark)
    if panel.log is not None:
        log_investor_types(equity, ev.types, panel.log)
    w = investor_type_warning(equity, ev.types)
    codes = px.firm_codes(equity["firm_id"])
    pos = px.locate(codes, equity["year"])
    amount = equity["amount"].to_numpy(dtype=float)
    state_pos = np.where(ev.state, pos, -1)
    if options.equity_basis == "gross":
        log_outside(equity[ev.state], pos[ev.state], panel, "equity")
    alloc_pos = px.locate(codes[ev.alloc_row], ev.alloc_year)
    amount_t = px.total(state_pos, np.where(ev.in_year, amount, 0.0)) + px.total(alloc_pos, ev.alloc_amount)
    cols = dict(equity_state_gross=px.total(state_pos, amount), n_state_investments=px.count(state_pos),
                _n_allocating=px.count(alloc_pos))
    return Component("equity", amount_t, cols, warnings=[w] if w else [])
