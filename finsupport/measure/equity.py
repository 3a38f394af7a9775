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
from .investors import InvestorTypes, classify_investor_types

__all__ = ["equity_flows", "equity_events", "EQUITY_BASES", "EquityEvents", "log_investor_types",
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

    Returns
    -------
    DataFrame ``firm_id, year, equity, equity_state_gross, n_state_investments``.
    """
    ev = equity_events(equity, basis=basis, state_investor_types=state_investor_types,
                       unequityworthy=unequityworthy, aul_years=aul_years, discount_benchmark=discount_benchmark)
    codes, firms = pd.factorize(equity["firm_id"])
    amount = equity["amount"].to_numpy(dtype=float)
    st = ev.state
    parts = [
        pd.DataFrame({"c": codes[st], "year": equity["year"].to_numpy()[st], "equity_state_gross": amount[st],
                      "n_state_investments": 1, "equity": np.where(ev.in_year[st], amount[st], 0.0)}),
        pd.DataFrame({"c": codes[ev.alloc_row], "year": ev.alloc_year, "equity_state_gross": 0.0,
                      "n_state_investments": 0, "equity": ev.alloc_amount}),
    ]
    out = pd.concat(parts, ignore_index=True).groupby(["c", "year"], sort=True).sum().reset_index()
    out.insert(0, "firm_id", firms.take(out["c"].to_numpy()))
    out["n_state_investments"] = out["n_state_investments"].astype(np.int64)
    return out[["firm_id", "year", "equity", "equity_state_gross", "n_state_investments"]]
