"""Synthetic firm panels with known truth.

The data-generating process (DGP), per firm i and year t (all draws from one seeded
``numpy.random.Generator``):

* size: log revenue ``log R_it = a_i + g_i (t − t_0) + u_it`` with
  ``a_i ~ N(log 150m, 0.6²)``, ``g_i ~ N(0.08, 0.05²)``, ``u_it ~ N(0, 0.05²)``;
* balance sheet: assets ``R·U(1.2, 2.0)``, liabilities ``lev_i × assets`` with
  ``lev_i ~ U(0.25, 0.6)``, interest-bearing debt ``δ_i R_it (1 + N(0, 0.1²))`` with
  ``δ_i ~ U(0.1, 0.6)``; R&D ``ρ_i R`` (``ρ_i ~ U(0.02, 0.09)``), main business
  ``m_i R`` (``m_i ~ U(0.75, 1)``), employees ``R / U(0.6m, 1.0m)``, invention patents
  Poisson, net profit ``R·N(0.06, 0.04²)``;
* below-market debt: interest expense = (benchmark_t − γ_i) × average debt with
  ``γ_i ~ N(0.8, 0.8²)`` percentage points (some firms pay above the benchmark);
* baseline subsidies: two grants a firm-year (one recurring, one not) totalling
  ``s_i R_it (1 + N(0, 0.3²))`` with ``s_i ~ Gamma(2, subsidy_level/2)``;
* guidance-fund equity: a financing round with probability ``equity_rate`` a year, of
  size ``U(0.2, 0.8) R_it``, split between a state-linked investor (guidance_fund,
  state_vc or soe; share ``U(0.25, 0.6)``) and a private one;
* certification: cohorts g (years of first designation) drawn with probabilities
  ``cohorts``, favouring larger and more R&D-intensive firms (``selection``:
  P(cohort) ∝ exp(selection · z_i), z_i the standardised sum of log size and R&D
  intensity) — selection on observables that firm fixed effects absorb;
* treatment effect: from year g on, a certified firm receives an extra non-recurring
  grant (programme ``little_giant_award``) of ``τ_{g,e} R_it`` with
  ``τ_{g,e} = effect + effect_slope · e + effect_cohort · (g − g_first)``, e = t − g.
  The true ATT(g,t) on the support share and on the subsidy share (default methods) is
  therefore exactly τ_{g,t−g}; it is returned in ``provenance["truth"]``.

* tax (own random stream ``[seed, 13]``, so every draw above is unchanged): a firm is a
  high- and new-technology enterprise (HNTE) from a firm-specific year on with
  probability 0.8 (certified firms, from three years before their award or earlier) or 0.3
  (others);
  every firm is a manufacturer and not small low-profit. With r = 15 % (HNTE) or 25 %
  and the R&D additional deduction D = rate_t × R&D (50 %, 75 % from 2018, 100 % from
  2021), pre-tax profit TP solves net profit = TP − r·max(0, TP − D), income tax
  expense = r·max(0, TP − min(D, TP)), and the true concession is
  25 %·TP − income tax (0 in loss years);
* land: a share ``land_rate`` of firms buys one industrial use right (50 years) in a
  random year, of ``U(5,000, 50,000)`` m², in its province, at a discount to the
  province's benchmark price (``U(250, 600)`` yuan/m² in the first year, +5 % a year)
  of ``U(10 %, 60 %)`` (certified) or ``U(−10 %, 30 %)`` (others); the true benefit is
  max(0, benchmark − paid) × area in the year of purchase.

Baseline components do not depend on certification, so parallel trends hold for the
support share; with ``effect_slope > 0`` effects grow with exposure and two-way fixed
effects are biased under staggered adoption (Goodman-Bacon 2021).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .data.dataset import Dataset
from .errors import ConfigError
from .reference.rates import annual_benchmark

__all__ = ["simulate", "true_effects"]

_OVERRIDES = {"cohort", "log_revenue0", "growth", "noise", "rd", "leverage", "revenue_per_employee",
              "patent_rate", "subsidy_share", "parent_id", "parent_share"}
_PROVINCES = ("Guangdong", "Jiangsu", "Zhejiang", "Shanghai", "Beijing", "Shandong", "Anhui", "Hubei", "Liaoning", "Sichuan")


def true_effects(cohorts, years, *, effect: float, effect_slope: float, effect_cohort: float) -> pd.DataFrame:
    """True ATT(g,t) on the support share for the simulator's treatment effect.

    ``τ_{g,t} = effect + effect_slope·(t − g) + effect_cohort·(g − min g)`` for t ≥ g,
    0 before. Returns ``cohort, year, event_time, att_true``.
    """
    cohorts = sorted(int(c) for c in cohorts)
    g = np.repeat(cohorts, len(years))
    t = np.tile(np.asarray(list(years), dtype=int), len(cohorts))
    e = t - g
    tau = np.where(e >= 0, effect + effect_slope * e + effect_cohort * (g - (cohorts[0] if cohorts else 0)), 0.0)
    return pd.DataFrame({"cohort": g, "year": t, "event_time": e, "att_true": tau})


def simulate(
    *,
    n_firms: int = 1000,
    years: tuple[int, int] = (2014, 2022),
    cohorts: Mapping[int, float] | None = None,
    effect: float = 0.03,
    effect_slope: float = 0.01,
    effect_cohort: float = 0.0,
    selection: float = 0.5,
    subsidy_level: float = 0.03,
    equity_rate: float = 0.12,
    tier: str = "little_giant",
    sector: str = "industrial_robots",
    seed: int = 0,
    land_rate: float = 0.15,
    firm_overrides: pd.DataFrame | None = None,
) -> Dataset:
    """Simulate a firm panel with staggered certification and a known effect on support.

    Parameters
    ----------
    n_firms : int
        Number of firms.
    years : (first, last)
        Inclusive range of fiscal years.
    cohorts : mapping year → probability, optional
        Share of firms first designated in each year (default 2019: 5 %, 2020: 10 %,
        2021: 10 %, 2022: 10 %); the rest are never designated.
    effect, effect_slope, effect_cohort : float
        The treatment effect on the support share, ``τ_{g,e} = effect + effect_slope·e +
        effect_cohort·(g − g_first)``.
    selection : float
        Strength of selection into certification on size and R&D intensity.
    subsidy_level : float
        Mean baseline subsidy share of revenue.
    equity_rate : float
        Yearly probability of an equity round.
    seed : int
        Seed of the random generator; the same arguments give identical tables.
    land_rate : float
        Share of firms that buy one land-use right in the panel years.
    firm_overrides : DataFrame, optional
        One row per firm position (index 0 … n_firms−1) replacing drawn firm
        parameters where a cell is not missing: ``cohort`` (0 = never), ``log_revenue0``
        (a_i), ``growth`` (g_i), ``noise`` (sd of u_it), ``rd`` (ρ_i), ``leverage``
        (lev_i), ``revenue_per_employee``, ``patent_rate``, ``subsidy_share`` (s_i),
        ``parent_id``, ``parent_share``. Every random number is drawn before overrides
        apply, so overriding one firm leaves the others' draws unchanged.

    Returns
    -------
    Dataset with firms, financials, grants, equity, designations, land and
    land_benchmarks (amounts in yuan, rounded to whole yuan) and ``provenance`` holding
    ``synthetic=True``, the arguments, ``truth`` (the true ATT(g,t) table as records)
    and ``truth_flows`` (a DataFrame: the true tax concession and land benefit received
    per firm-year). The DGP is in the module docstring.
    """
    if n_firms < 1:
        raise ConfigError("n_firms must be at least 1")
    y0, y1 = int(years[0]), int(years[1])
    if y1 < y0:
        raise ConfigError(f"years must be (first, last) with first ≤ last, got {years}")
    cohorts = dict(cohorts) if cohorts is not None else {2019: 0.05, 2020: 0.10, 2021: 0.10, 2022: 0.10}
    if sum(cohorts.values()) > 1:
        raise ConfigError("cohort probabilities add up to more than 1")
    rng = np.random.default_rng(seed)
    yrs = np.arange(y0, y1 + 1)
    T = len(yrs)
    n = int(n_firms)

    ov = firm_overrides if firm_overrides is not None else pd.DataFrame(index=pd.RangeIndex(n))
    unknown = set(ov.columns) - _OVERRIDES
    if unknown:
        raise ConfigError(f"firm_overrides has unknown column(s) {sorted(unknown)}; use {sorted(_OVERRIDES)}")

    def _ov(name, drawn):
        if name not in ov:
            return drawn
        v = ov[name].reindex(range(n)).to_numpy(dtype=float)
        return np.where(np.isnan(v), drawn, v)

    # firm characteristics (all draws first, then overrides)
    a = rng.normal(np.log(150e6), 0.6, n)
    g = rng.normal(0.08, 0.05, n)
    rd = rng.uniform(0.02, 0.09, n)
    noise_sd = np.full(n, 0.05)
    lev_i = rng.uniform(0.25, 0.6, n)
    rpe = rng.uniform(0.6e6, 1.0e6, n)
    pat = rng.uniform(1, 12, n)
    s_i = rng.gamma(2.0, subsidy_level / 2.0, n)
    z = (a - a.mean()) / a.std() + (rd - rd.mean()) / rd.std()
    z = z / (z.std() or 1.0)
    # cohort assignment: sequential weighted draws without replacement, favouring high z
    cohort = np.zeros(n, dtype=np.int64)
    counts = {c: int(round(p * n)) for c, p in sorted(cohorts.items())}
    # Gumbel top-k trick: one vectorised weighted sample without replacement
    keys = selection * z + rng.gumbel(size=n)
    order = np.argsort(-keys, kind="stable")
    start = 0
    for c, k in counts.items():
        cohort[order[start:start + k]] = c
        start += k
    a, g, rd, noise_sd = _ov("log_revenue0", a), _ov("growth", g), _ov("rd", rd), _ov("noise", noise_sd)
    lev_i, rpe, pat, s_i = _ov("leverage", lev_i), _ov("revenue_per_employee", rpe), _ov("patent_rate", pat), _ov("subsidy_share", s_i)
    cohort = _ov("cohort", cohort.astype(float)).astype(np.int64)

    firm_ids = np.char.zfill(np.arange(1, n + 1).astype(str), 6).astype(object)
    fid = np.repeat(firm_ids, T)
    year = np.tile(yrs, n)
    t_rel = year - y0
    rev = np.exp(np.repeat(a, T) + np.repeat(g, T) * t_rel + rng.normal(0, 1.0, n * T) * np.repeat(noise_sd, T))
    assets = rev * rng.uniform(1.2, 2.0, n * T)
    lev = np.repeat(lev_i, T)
    debt_ratio = np.repeat(rng.uniform(0.1, 0.6, n), T)
    ibd = debt_ratio * rev * (1 + rng.normal(0, 0.1, n * T)).clip(0.5, None)
    prev = np.r_[np.nan, ibd[:-1]]
    avg_debt = np.where(t_rel > 0, (prev + ibd) / 2, ibd)
    bench = annual_benchmark(yrs).reindex(year).to_numpy() / 100.0
    gap = np.repeat(rng.normal(0.008, 0.008, n), T)
    interest = (bench - gap).clip(0.005, None) * avg_debt
    fin = pd.DataFrame({
        "firm_id": fid, "year": year,
        "revenue": np.round(rev),
        "total_assets": np.round(assets),
        "total_liabilities": np.round(lev * assets),
        "interest_bearing_debt": np.round(ibd),
        "interest_expense": np.round(interest),
        "rd_expense": np.round(np.repeat(rd, T) * rev),
        "employees": np.round(rev / np.repeat(rpe, T)),
        "main_business_revenue": np.round(np.repeat(rng.uniform(0.75, 1.0, n), T) * rev),
        "invention_patents": rng.poisson(np.repeat(pat, T) * (1 + 0.1 * t_rel)).astype(float),
        "net_profit": np.round(rev * rng.normal(0.06, 0.04, n * T)),
    })

    # baseline grants: one recurring and one non-recurring per firm-year
    s = np.repeat(s_i, T)
    total_grant = s * rev * (1 + rng.normal(0, 0.3, n * T)).clip(0.05, None)
    split = rng.uniform(0.3, 0.7, n * T)
    base_grants = pd.DataFrame({
        "firm_id": np.r_[fid, fid], "year": np.r_[year, year],
        "amount": np.round(np.r_[total_grant * split, total_grant * (1 - split)]),
        "recurring": np.r_[np.ones(n * T, bool), np.zeros(n * T, bool)],
        "asset_related": np.r_[np.zeros(n * T, bool), rng.random(n * T) < 0.5],
        "level": rng.choice(np.array(["central", "provincial", "municipal"], dtype=object), 2 * n * T),
        "programme": np.r_[np.full(n * T, "tax_refund_and_operating", dtype=object),
                           np.full(n * T, "technology_upgrading", dtype=object)],
    })
    # treatment grants
    coh = np.repeat(cohort, T)
    treated = (coh > 0) & (year >= coh)
    first_c = int(cohort[cohort > 0].min()) if (cohort > 0).any() else 0
    e = year - coh
    tau = effect + effect_slope * e + effect_cohort * (coh - first_c)
    tg = pd.DataFrame({
        "firm_id": fid[treated], "year": year[treated], "amount": np.round(tau[treated] * rev[treated]),
        "recurring": False, "asset_related": False, "level": "central", "programme": "little_giant_award",
    })
    grants = pd.concat([base_grants, tg], ignore_index=True)

    # equity rounds: a state-linked and a private investor each
    has_round = rng.random(n * T) < equity_rate
    size = rng.uniform(0.2, 0.8, n * T) * rev
    state_sh = rng.uniform(0.25, 0.6, n * T)
    r = np.flatnonzero(has_round)
    stype = rng.choice(np.array(["guidance_fund", "state_vc", "soe"], dtype=object), len(r))
    equity = pd.DataFrame({
        "firm_id": np.r_[fid[r], fid[r]], "year": np.r_[year[r], year[r]],
        "investor": np.r_[np.char.add("State fund ", (r % 97).astype(str)).astype(object),
                          np.char.add("Private investor ", (r % 89).astype(str)).astype(object)],
        "investor_type": np.r_[stype, np.full(len(r), "private", dtype=object)],
        "amount": np.round(np.r_[size[r] * state_sh[r], size[r] * (1 - state_sh[r])]),
    })

    firms = pd.DataFrame({
        "firm_id": firm_ids,
        "name": np.char.add("Synthetic robotics firm ", firm_ids.astype(str)).astype(object),
        "sector": sector,
        "province": rng.choice(np.array(_PROVINCES, dtype=object), n),
        "parent_id": (ov["parent_id"].reindex(range(n)).astype("string").to_numpy() if "parent_id" in ov
                      else pd.array([pd.NA] * n, dtype="string")),
        "listed_exchange": rng.choice(np.array(["", "SZSE", "SSE", "BSE"], dtype=object), n, p=[0.7, 0.12, 0.12, 0.06]),
    })
    if "parent_share" in ov:
        firms.insert(5, "parent_share", ov["parent_share"].reindex(range(n)).to_numpy(dtype=float))
    des_firms = np.flatnonzero(cohort > 0)
    designations = pd.DataFrame({
        "firm_id": firm_ids[des_firms], "tier": tier, "year": cohort[des_firms],
        "batch": cohort[des_firms] - 2018, "valid_until": cohort[des_firms] + 2,
        "revoked_year": pd.array([pd.NA] * len(des_firms), dtype="Int64"),
    })
    truth = true_effects(sorted(set(cohort[cohort > 0].tolist())), yrs, effect=effect, effect_slope=effect_slope, effect_cohort=effect_cohort)
    params = dict(n_firms=n, years=[y0, y1], cohorts={str(k): v for k, v in cohorts.items()}, effect=effect,
                  effect_slope=effect_slope, effect_cohort=effect_cohort, selection=selection,
                  subsidy_level=subsidy_level, equity_rate=equity_rate, tier=tier, sector=sector, seed=seed)
    prov = {"source": "finsupport.simulate", "synthetic": True, "params": params,
            "truth": truth.to_dict("records"), "truth_outcomes": ["share", "subsidy_share"]}
    tax_cols, land, land_bench, prov["truth_flows"] = _tax_and_land(
        np.random.default_rng([seed, 13]), fin, cohort, firm_ids, firms["province"].to_numpy(), T, yrs,
        land_rate=land_rate)
    fin = fin.assign(**tax_cols)
    return Dataset(firms=firms, financials=fin, grants=grants, equity=equity, designations=designations,
                   land=land, land_benchmarks=land_bench, provenance=prov)


def _tax_and_land(rng: np.random.Generator, fin: pd.DataFrame, cohort: np.ndarray, firm_ids: np.ndarray,
                  province: np.ndarray, T: int, yrs: np.ndarray, *, land_rate: float):
    """Tax columns, land purchases, land benchmarks and the true tax and land benefit (see the module docstring).

    Drawn from their own random stream, so the other tables are the same as without them.
    """
    from .reference.tax import FIRST_TAX_YEAR, HNTE_RATE, STATUTORY_RATE, rd_deduction_rate

    n = len(cohort)
    year = fin["year"].to_numpy()
    net = fin["net_profit"].to_numpy(dtype=float)
    # HNTE from a firm-specific year on (certified firms mostly, from before their award)
    hnte_i = rng.random(n) < np.where(cohort > 0, 0.8, 0.3)
    first = yrs[0] + rng.integers(0, T, n)
    start = np.where(cohort > 0, np.minimum(cohort - 3, first), first)
    hnte = np.repeat(hnte_i, T) & (year >= np.repeat(start, T))
    rate = np.where(hnte, HNTE_RATE, STATUTORY_RATE)
    d = np.nan_to_num(rd_deduction_rate(year, manufacturer=np.ones(len(year), bool))) * fin["rd_expense"].to_numpy()
    # net = TP − r·max(0, TP − D): TP = (net − r·D) / (1 − r) where that exceeds D, else TP = net (no tax)
    tp = np.where(net > 0, (net - rate * d) / (1 - rate), net)
    tp = np.round(np.where(tp > d, tp, net))
    tax = rate * np.maximum(0.0, tp - np.minimum(d, np.maximum(tp, 0)))
    concession = np.where(tp > 0, STATUTORY_RATE * tp - tax, 0.0)
    concession = np.where(year < FIRST_TAX_YEAR, np.nan, concession)   # the 2008 EIT Law is the rule measured
    cols = {"profit_before_tax": tp, "income_tax_expense": np.round(tax), "hnte": hnte,
            "small_low_profit": np.zeros(len(year), bool), "manufacturer": np.ones(len(year), bool)}
    # land: a purchase with probability land_rate a firm, in a random year, in its province; certified firms
    # pay 10–60 % below the benchmark, others between 10 % above and 30 % below
    buys = np.flatnonzero(rng.random(n) < land_rate)
    when = rng.integers(0, T, len(buys))
    area = np.round(rng.uniform(5_000, 50_000, len(buys)))
    disc = np.where(cohort[buys] > 0, rng.uniform(0.1, 0.6, len(buys)), rng.uniform(-0.1, 0.3, len(buys)))
    places = np.array(_PROVINCES, dtype=object)
    level = rng.uniform(250, 600, len(places))          # yuan per m² in the first year, by province
    k = np.arange(T)
    bench = pd.DataFrame({"place": np.repeat(places, T), "year": np.tile(yrs, len(places)),
                          "land_use": "industrial",
                          "price_per_m2": np.round(np.repeat(level, T) * 1.05 ** np.tile(k, len(places)), 2),
                          "source": "synthetic benchmark (finsupport simulator)"})
    place = province[buys]
    p_idx = pd.Index(places).get_indexer(place)
    price = bench["price_per_m2"].to_numpy()[p_idx * T + when]
    paid = np.round(price * area * (1 - disc))
    land = pd.DataFrame({"firm_id": firm_ids[buys], "year": yrs[when], "area_m2": area, "price_paid": paid,
                         "place": place, "land_use": "industrial", "term_years": 50.0})
    land_true = np.zeros(len(year))
    np.add.at(land_true, buys * T + when, np.maximum(0.0, price * area - paid))
    truth = pd.DataFrame({"firm_id": fin["firm_id"].to_numpy(), "year": year, "tax_true": concession,
                          "land_received_true": land_true})
    return cols, land, bench, truth



def true_aggregates(truth: pd.DataFrame, cohort_sizes: Mapping[int, int], years) -> dict[str, pd.DataFrame | float]:
    """True values of the Callaway–Sant'Anna aggregations implied by a truth table.

    Uses the aggregation weights of R ``did::aggte`` applied to the true ATT(g,t) of the
    post-treatment cells inside ``years``: ``group`` = mean over a cohort's post years;
    ``dynamic`` and ``calendar`` = cohort-size-weighted means at each event time or
    year; ``simple`` = cohort-size-weighted mean over all post cells.
    """
    t = truth[(truth["event_time"] >= 0) & truth["year"].isin(list(years))].copy()
    t["n"] = t["cohort"].map(dict(cohort_sizes)).fillna(0)
    t = t[t["n"] > 0]

    def wmean(d):
        return float(np.average(d["att_true"], weights=d["n"]))

    group = t.groupby("cohort")["att_true"].mean().rename("att_true").reset_index()
    dynamic = t.groupby("event_time")[["att_true", "n"]].apply(wmean).rename("att_true").reset_index()
    calendar = t.groupby("year")[["att_true", "n"]].apply(wmean).rename("att_true").reset_index()
    return {"simple": wmean(t) if len(t) else float("nan"), "group": group, "dynamic": dynamic, "calendar": calendar}
