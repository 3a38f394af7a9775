"""State-linked equity (government guidance funds and other state investors) per firm-year."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..data.spec import STATE_INVESTOR_TYPES
from ..errors import ConfigError
from ..reference.rates import annual_benchmark
from .allocation import allocate_declining_balance

__all__ = ["equity_flows", "EQUITY_BASES"]

EQUITY_BASES = ("gross", "grant_equivalent")


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
        declining-balance formula of 351.524(d)(1) with the year's five-year-plus
        benchmark rate as discount rate. Infusions into other firms count as zero benefit
        under this basis (an equityworthy firm receiving equity on market terms gets no
        benefit; 351.507(a)(2)–(4) price comparisons need private-investor prices, which
        the data contract does not carry).
    state_investor_types : iterable of str
        Investor types counted as state-linked (default: guidance_fund, state_vc, soe,
        government). Matching is case-insensitive.
    unequityworthy : iterable of firm codes, optional
        Firms treated as unequityworthy under ``grant_equivalent``; ``None`` means all.

    Returns
    -------
    DataFrame ``firm_id, year, equity, equity_state_gross, n_state_investments``.
    """
    if basis not in EQUITY_BASES:
        raise ConfigError(f"equity_basis '{basis}' is not known; use one of {', '.join(EQUITY_BASES)}")
    types = {str(t).strip().lower() for t in state_investor_types}
    e = equity[["firm_id", "year", "amount", "investor_type"]]
    state = e[e["investor_type"].astype("string").str.strip().str.lower().isin(types).fillna(False) & e["amount"].notna()]
    gross = state.groupby(["firm_id", "year"], sort=False).agg(
        equity_state_gross=("amount", "sum"), n_state_investments=("amount", "size")
    )
    if basis == "gross":
        out = gross.assign(equity=gross["equity_state_gross"])
    else:
        src = state if unequityworthy is None else state[state["firm_id"].isin(pd.Index(list(unequityworthy)).astype(str))]
        d = annual_benchmark(src["year"].unique(), benchmark=discount_benchmark) / 100.0 if len(src) else pd.Series(dtype=float)
        alloc = allocate_declining_balance(src["firm_id"], src["year"], src["amount"], src["year"].map(d),
                                           aul_years=aul_years)
        part = alloc.groupby(["firm_id", "year"], sort=False)["allocated"].sum().rename("equity")
        out = pd.concat([gross, part], axis=1)
        out["equity"] = out["equity"].fillna(0.0)
        out["equity_state_gross"] = out["equity_state_gross"].fillna(0.0)
        out["n_state_investments"] = out["n_state_investments"].fillna(0)
    out.index.names = ["firm_id", "year"]
    out = out.reset_index()
    out["n_state_investments"] = out["n_state_investments"].astype("int64")
    return out[["firm_id", "year", "equity", "equity_state_gross", "n_state_investments"]]
