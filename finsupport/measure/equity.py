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

__all__ = ["equity_flows", "equity_events", "EQUITY_BASES", "EquityEvents"]

EQUITY_BASES = ("gross", "grant_equivalent")


@dataclass
class EquityEvents:
    """``state`` masks state-linked rows; benefit is ``in_year`` (gross) or allocated."""

    state: np.ndarray
    in_year: np.ndarray
    alloc_row: np.ndarray
    alloc_year: np.ndarray
    alloc_amount: np.ndarray


def equity_events(equity: pd.DataFrame, *, basis: str, state_investor_types: Iterable[str],
                  unequityworthy: Iterable[str] | None, aul_years: int, discount_benchmark: str) -> EquityEvents:
    """Vectorised core of :func:`equity_flows`."""
    if basis not in EQUITY_BASES:
        raise ConfigError(f"equity_basis '{basis}' is not known; use one of {', '.join(EQUITY_BASES)}")
    types = [str(t).strip().lower() for t in state_investor_types]
    itype = equity["investor_type"].astype("string").str.strip().str.lower()
    state = (itype.isin(types).fillna(False) & equity["amount"].notna()).to_numpy(dtype=bool)
    empty = np.empty(0, np.int64)
    if basis == "gross":
        return EquityEvents(state, state, empty, empty, np.empty(0))
    chosen = state.copy()
    if unequityworthy is not None:
        chosen &= equity["firm_id"].isin(pd.Index(list(unequityworthy)).astype(str)).to_numpy(dtype=bool)
    rows = np.flatnonzero(chosen)
    year = equity["year"].to_numpy(dtype=np.int64)[rows]
    if not len(rows):
        return EquityEvents(state, np.zeros(len(state), bool), empty, empty, np.empty(0))
    d = annual_benchmark(np.unique(year), benchmark=discount_benchmark) / 100.0
    alloc = allocate_declining_balance(pd.Series(rows), pd.Series(year),
                                       pd.Series(equity["amount"].to_numpy(dtype=float)[rows]),
                                       pd.Series(d.reindex(year).to_numpy()), aul_years=aul_years)
    return EquityEvents(state, np.zeros(len(state), bool), alloc["firm_id"].to_numpy(dtype=np.int64),
                        alloc["year"].to_numpy(), alloc["allocated"].to_numpy())


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
        government). Matching ignores case and surrounding spaces.
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
