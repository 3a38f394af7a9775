"""Audit of certified firms against the selection criteria of their batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from ..data.arrow_text import isin_values
from ..errors import ConfigError
from ..reference.programme import criteria_regime, selection_criteria, untested_criteria

__all__ = ["audit_criteria", "AuditResult", "TESTS"]

TESTS = ("sme_size", "revenue_growth", "leverage", "main_business", "rd_intensity", "patents", "independent")
_SME_EMPLOYEES, _SME_REVENUE = 1000, 400e6
_RD_TIER_HIGH, _RD_TIER_LOW = 100e6, 50e6
#: Words for the criteria the data cannot show (``direction = "untested"`` in the criteria table).
_UNTESTED_LABELS = {"niche_years": "years in the niche market (≥ 3)",
                    "market_share": "national niche market share (≥ 10%)",
                    "innovation_route": "innovation direct-pass route",
                    "qualitative": "the notice's qualitative requirements"}


def _b(mask, valid) -> pd.Series:
    """A nullable boolean: ``mask`` where ``valid``, else NA (cannot be judged)."""
    out = pd.Series(np.asarray(mask, dtype=bool), dtype="boolean")
    out[~np.asarray(valid, dtype=bool)] = pd.NA
    return out


def _factorize_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``pd.MultiIndex.from_arrays([a, b]).factorize()`` of two float arrays: each row's pair as a code in
    order of first appearance (NaN equal to NaN, 0.0 to -0.0), and each pair's values as the MultiIndex's
    levels hold them, without forming a Python tuple per row."""
    ka, ua = pd.factorize(a, use_na_sentinel=False)
    kb, ub = pd.factorize(b, use_na_sentinel=False)
    codes, _ = pd.factorize(ka.astype(np.int64) * max(len(ub), 1) + kb)
    first = np.unique(codes, return_index=True)[1]
    # each value as its first occurrence in its own array (as a MultiIndex level keeps it: 0.0 or -0.0)
    return codes, list(zip(ua[ka[first]].tolist(), ub[kb[first]].tolist(), strict=True))


def _join_names(mask: np.ndarray) -> np.ndarray:
    """Comma-separated test names where ``mask`` (awards × tests) is True, column-wise."""
    # each row's pattern of tests as a number; the 2^7 joined names made once and taken by it
    bits = np.asarray(mask, dtype=np.int64) @ (np.int64(1) << np.arange(len(TESTS), dtype=np.int64))
    names = np.array([", ".join(t for j, t in enumerate(TESTS) if b >> j & 1) for b in range(1 << len(TESTS))],
                     dtype=object)
    return names[bits]


@dataclass
class AuditResult:
    """Result of :func:`audit_criteria`.

    ``table``: one row per award with, for each test T, ``T_value``, ``T_threshold`` and
    the pass flag ``T`` (nullable boolean: NA = cannot be judged), ``passes_all``,
    ``n_failed``, ``failed_tests``, ``untestable_tests`` (tests whose inputs are missing),
    ``criteria_not_tested`` (criteria of the award's regime that no table records) and the
    criteria ``regime``. ``not_tested`` lists those criteria (``regime, test, measure,
    threshold, status, source``).
    """

    table: pd.DataFrame
    tier: str
    not_tested: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["regime", "test", "measure"]))

    def _not_tested_for(self, f: pd.DataFrame) -> pd.DataFrame:
        """The untested criteria of the regimes of the firms in ``f``, with the count of firms subject to each."""
        nt = self.not_tested
        if not len(nt) or not len(f):
            return nt.assign(firms=pd.Series(dtype="int64")).iloc[0:0]
        per_regime = f["regime"].value_counts()
        out = nt[nt["regime"].isin(per_regime.index)].copy()
        out["firms"] = out["regime"].map(per_regime).astype("int64")
        return out.reset_index(drop=True)

    def by_firm(self) -> pd.DataFrame:
        """One row per firm: its first award of the tier."""
        return (self.table.sort_values(["firm_id", "year"], kind="stable")
                .drop_duplicates("firm_id").reset_index(drop=True))

    def summary(self, *, years=None) -> pd.DataFrame:
        """How many certified firms fail, which tests, and in which combinations.

        Parameters
        ----------
        years : iterable of int, optional
            Only firms first awarded in these years (e.g. the 2019 and 2020 batches).

        Returns a tidy DataFrame ``item, firms, share`` (share of the certified firms).
        Items ``not tested (no data): T`` count the firms whose regime has a criterion T
        that the data contract cannot show (years in the niche, market share, the
        innovation direct-pass route): those firms are not judged on it.
        """
        f = self.by_firm()
        if years is not None:
            f = f[f["year"].isin(list(years))]
        n = len(f)
        fails = f[list(TESTS)].eq(False).fillna(False)
        rows = [("certified firms", n), ("fail at least one test", int(fails.any(axis=1).sum())),
                ("pass every test", int((f["passes_all"] == True).sum())),  # noqa: E712 (nullable)
                ("cannot be judged on some test, fail none", int((f["passes_all"].isna()).sum()))]
        rows += [(f"fail {t}", int(fails[t].sum())) for t in TESTS]
        rows += [(f"untestable {t}", int(f[t].isna().sum())) for t in TESTS if f[t].isna().any()]
        combo = f.loc[fails.any(axis=1), "failed_tests"].value_counts()
        rows += [(f"fail exactly: {k}", int(v)) for k, v in combo.items()]
        for a, b in combinations(TESTS, 2):
            both = int((fails[a] & fails[b]).sum())
            if both:
                rows.append((f"fail both {a} and {b}", both))
        nt = self._not_tested_for(f)
        rows += [(f"not tested (no data): {t}", int(k)) for t, k in nt.groupby("test", sort=False)["firms"].sum().items()]
        out = pd.DataFrame(rows, columns=["item", "firms"])
        out["share"] = out["firms"] / n if n else np.nan
        return out

    def summary_text(self, *, years=None) -> str:
        """A readable summary (first line: the count of firms missing a tested criterion).

        The count is of firms that miss at least one *tested* criterion; the criteria the
        data cannot show are named on their own line, so that a firm admitted through a
        route the audit cannot see is not read as wrongly selected.
        """
        s = self.summary(years=years).set_index("item")["firms"]
        n, k = int(s["certified firms"]), int(s["fail at least one test"])
        share = f"{k / n:.1%}" if n else "n/a"
        lines = [f"{k} of {n} certified firms ({share}) miss at least one tested criterion of their batch"]
        per = [f"{t}: {int(s[f'fail {t}'])}" for t in TESTS if s[f"fail {t}"]]
        if per:
            lines.append("failures by test: " + ", ".join(per))
        combos = [f"{i.removeprefix('fail exactly: ')} ({int(v)})" for i, v in s.items() if i.startswith("fail exactly")]
        if combos:
            lines.append("combinations: " + "; ".join(combos))
        unt = int(s["cannot be judged on some test, fail none"])
        if unt:
            lines.append(f"{unt} firm(s) cannot be judged on some test (missing data) and fail none")
        f = self.by_firm()
        if years is not None:
            f = f[f["year"].isin(list(years))]
        nt = self._not_tested_for(f)
        if len(nt):
            by_regime = "; ".join(f"{', '.join(_UNTESTED_LABELS.get(t, t) for t in g['test'])} ({r} rules)"
                                  for r, g in nt.groupby("regime", sort=True))
            lines.append(f"not tested (no data in the contract): {by_regime}")
            if nt["test"].eq("innovation_route").any():
                lines.append("a firm admitted by the innovation direct-pass route can appear above as missing a "
                             "tested criterion: the count is of firms missing a tested criterion, not of firms "
                             "wrongly selected")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"AuditResult({len(self.table)} awards of {self.tier})\n{self.summary_text()}"


def _lagged(fin: pd.DataFrame, aw: pd.DataFrame, cols: list[str], lags) -> dict[int, pd.DataFrame] | None:
    """For each lag k, the financials ``cols`` of every award's firm in year − k, as floats (NaN where that
    firm-year has no row; the first row when it has several): the left merge on (firm_id, year) after
    ``drop_duplicates``, matched on integer codes. None when the keys do not allow it (the caller merges)."""
    from ..measure.shares import _codes, _positions

    fy, ay = fin["year"], aw["year"]
    if not (pd.api.types.is_integer_dtype(fy) and pd.api.types.is_integer_dtype(ay)) or not len(fin):
        return None
    if fy.isna().any() or ay.isna().any() or fin["firm_id"].isna().any() or aw["firm_id"].isna().any():
        return None
    # the awarded firms are coded (a few thousand), and the financials rows looked up among them: the
    # rows of other firms are never needed
    firm, uniques = _codes(aw["firm_id"], uniques=True)
    codes = _positions(fin["firm_id"], uniques)   # −1: a firm without an award
    yr = fy.to_numpy(dtype=np.int64)
    lo, span = int(yr.min()), int(yr.max() - yr.min()) + 1
    if len(uniques) * span > 8 * len(fin) + 1024:   # too sparse for a table of positions
        return None
    first = np.full(len(uniques) * span, -1, dtype=np.int64)
    rows = np.flatnonzero(codes >= 0)
    key = codes[rows] * span + (yr[rows] - lo)
    first[key[::-1]] = rows[::-1]   # the first row of each firm-year wins
    values = {c: fin[c].to_numpy(dtype=float, na_value=np.nan) for c in cols if c in fin}
    out = {}
    for k in lags:
        y = ay.to_numpy(dtype=np.int64) - k
        ok = (y >= lo) & (y < lo + span)
        row = np.full(len(aw), -1, dtype=np.int64)
        row[ok] = first[firm[ok] * span + (y[ok] - lo)]
        hit = row >= 0
        frame = {}
        for c in cols:
            v = np.full(len(aw), np.nan)
            if c in values:
                v[hit] = values[c][row[hit]]
            frame[c] = v
        out[k] = pd.DataFrame(frame)
    return out


def audit_criteria(data, *, tier: str = "little_giant", criteria: pd.DataFrame | None = None) -> AuditResult:
    """Test every award of ``tier`` against the selection criteria in force for its batch.

    The award of year t is judged on the financial years before it (t − 1 for levels,
    t − 3 … t − 1 for growth). Regimes (``finsupport.selection_criteria()``):
    batches 1–3 (2019–2021) the 2018 MIIT notice (工信厅企业函〔2018〕381号); batches 4–7
    (2022–2025) the 2022 graded-cultivation measures (工信部企业〔2022〕63号). Tests:

    * ``sme_size``: employees(t−1) < 1000 **or** revenue(t−1) < CNY 400m (industrial
      SME rules, 工信部联企业〔2011〕300号); value = revenue, also ``sme_size_employees``;
    * ``revenue_growth``: mean of the two annual growth rates of main-business revenue
      (revenue when absent) from t−3 to t−1 ≥ 10 % (2018; or the same for net profit) or
      ≥ 5 % (2022);
    * ``leverage``: total liabilities / total assets (t−1) ≤ 70 %;
    * ``main_business``: main-business revenue / revenue (t−1) ≥ 70 %;
    * ``rd_intensity``: R&D / revenue (t−1) ≥ 3 % (2018); 2022: with revenue(t−1) ≥
      CNY 100m, R&D / revenue ≥ 3 % in both t−2 and t−1, with CNY 50–100m ≥ 6 %; below
      CNY 50m the equity-financing route applies and the test cannot be judged; value =
      the lower of the two years;
    * ``patents``: invention patents held (t−1) ≥ 2 (other intellectual property is not
      in the data contract);
    * ``independent``: not a subsidiary of a larger group (``firms.parent_id`` empty);
      value = ``parent_share`` when given.

    Criteria that no table of the data contract records (rows of ``criteria`` with
    ``direction = "untested"``: years in the niche market, national market share ≥ 10 %,
    the innovation direct-pass route of the 2022 measures, the 2018 notice's qualitative
    requirements) are not judged: they are named per award in ``criteria_not_tested``,
    listed in ``AuditResult.not_tested`` and in the summary.

    A test whose inputs are missing is NA — neither passed nor failed — and is listed in
    ``untestable_tests``. ``passes_all`` is False when any test fails, NA when none fails
    but some cannot be judged, True otherwise.

    Parameters
    ----------
    data : Dataset
        Needs ``designations`` and ``financials``; ``firms`` for the independence test.
    tier : str
        The certification audited (thresholds are those of the Little Giant programme).
    criteria : DataFrame, optional
        Replacement thresholds in the shape of ``selection_criteria()``.

    Returns
    -------
    AuditResult
    """
    crit = selection_criteria() if criteria is None else criteria
    need = {"regime", "test", "threshold"}
    if not need <= set(crit.columns):
        raise ConfigError(f"criteria must have columns {sorted(need)}")
    des = data.require("designations", ["firm_id", "tier", "year"], purpose="the criteria audit")
    fin = data.require("financials", ["firm_id", "year", "revenue"], purpose="the criteria audit")
    aw = des[des["tier"] == tier].sort_values(["firm_id", "year"], kind="stable").reset_index(drop=True)
    aw = aw[["firm_id", "year", *[c for c in ("batch",) if c in aw]]].copy()
    aw["regime"] = criteria_regime(aw["batch"] if "batch" in aw else pd.Series(np.nan, index=aw.index), aw["year"]).to_numpy()
    cols = ["revenue", "employees", "total_liabilities", "total_assets", "main_business_revenue", "rd_expense",
            "invention_patents", "net_profit"]
    lag = _lagged(fin, aw, cols, (1, 2, 3))
    if lag is None:   # keys that are not plain integers and codes: pandas' merge
        f = fin[["firm_id", "year", *[c for c in cols if c in fin]]].drop_duplicates(["firm_id", "year"])
        for c in cols:
            if c not in f:
                f[c] = np.nan
        lag = {}
        for k in (1, 2, 3):
            m = aw[["firm_id", "year"]].assign(year=aw["year"] - k).merge(f, on=["firm_id", "year"], how="left")
            lag[k] = m[cols].astype(float).reset_index(drop=True)
    thr = crit.set_index(["regime", "test"])["threshold"]

    def threshold(test: str, part: int = 0) -> np.ndarray:
        """Threshold of ``test`` for each award's regime ('a|b' holds two parts)."""
        by_regime = {}
        for (regime, t), v in thr.items():
            if t == test:
                pieces = str(v).split("|")
                by_regime[regime] = pd.to_numeric(pieces[part] if part < len(pieces) else "nan", errors="coerce")
        return aw["regime"].map(by_regime).to_numpy(dtype=float)

    out = aw.copy()
    l1, l2, l3 = lag[1], lag[2], lag[3]
    # SME size: fewer than N employees or revenue below R (Kleene OR: one passing side is enough)
    emp_t, rev_t = threshold("sme_size", 0), threshold("sme_size", 1)
    emp, rev = l1["employees"].to_numpy(), l1["revenue"].to_numpy()
    small_emp = _b(emp < emp_t, ~np.isnan(emp))
    small_rev = _b(rev < rev_t, ~np.isnan(rev))
    out["sme_size_value"], out["sme_size_employees"] = rev, emp
    # the words once per distinct pair of thresholds (one per regime), taken for every award
    pair_codes, pairs = _factorize_pairs(emp_t, rev_t)
    words = [f"employees < {e:,.0f} or revenue < {r:,.0f}" for e, r in pairs]
    out["sme_size_threshold"] = np.array(words, dtype=object)[pair_codes] if len(aw) else []
    out["sme_size"] = (small_emp | small_rev).to_numpy()
    # revenue growth over t-3 .. t-1
    # growth of main-business revenue; revenue where main business is not reported
    mb = [x["main_business_revenue"].fillna(x["revenue"]).to_numpy() for x in (l3, l2, l1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = ((mb[1] / mb[0] - 1) + (mb[2] / mb[1] - 1)) / 2
        growth = np.where((mb[0] > 0) & (mb[1] > 0), growth, np.nan)
        np3, np2, np1 = (x["net_profit"].to_numpy() for x in (l3, l2, l1))
        pgrowth = np.where((np3 > 0) & (np2 > 0), ((np2 / np3 - 1) + (np1 / np2 - 1)) / 2, np.nan)
    g_t = threshold("revenue_growth")
    out["revenue_growth_value"], out["revenue_growth_threshold"] = growth, g_t
    passes = _b(growth >= g_t, ~np.isnan(growth))
    # the 2018 notice also accepts net-profit growth; under the 2022 rules that route does not exist
    r18 = aw["regime"].to_numpy() == 2018
    profit_route = _b(r18 & (pgrowth >= g_t), ~r18 | ~np.isnan(pgrowth))
    out["revenue_growth_profit_value"] = pgrowth
    out["revenue_growth"] = (passes | profit_route).to_numpy()
    # leverage, main business
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = np.where(l1["total_assets"] > 0, l1["total_liabilities"] / l1["total_assets"], np.nan)
        mbs = np.where(l1["revenue"] > 0, l1["main_business_revenue"] / l1["revenue"], np.nan)
        rd1 = np.where(l1["revenue"] > 0, l1["rd_expense"] / l1["revenue"], np.nan)
        rd2 = np.where(l2["revenue"] > 0, l2["rd_expense"] / l2["revenue"], np.nan)
    lev_t, mb_t = threshold("leverage"), threshold("main_business")
    out["leverage_value"], out["leverage_threshold"], out["leverage"] = lev, lev_t, _b(lev <= lev_t, ~np.isnan(lev)).to_numpy()
    out["main_business_value"], out["main_business_threshold"] = mbs, mb_t
    out["main_business"] = _b(mbs >= mb_t, ~np.isnan(mbs)).to_numpy()
    # R&D intensity (2022: revenue-tiered, both years)
    r22 = aw["regime"].to_numpy() == 2022
    rd_hi, rd_lo = threshold("rd_intensity", 0), threshold("rd_intensity", 1)
    rd_lo = np.where(np.isnan(rd_lo), rd_hi, rd_lo)
    rd_thr = np.where(r22 & (rev < _RD_TIER_HIGH), rd_lo, rd_hi)
    # 2022 rules: both years must clear the bar, so the lower year is the value tested
    rd_val = np.where(r22, np.minimum(rd1, rd2), rd1)
    judgeable = ~np.isnan(rd_val) & ~(r22 & (np.isnan(rev) | (rev < _RD_TIER_LOW)))
    out["rd_intensity_value"], out["rd_intensity_threshold"] = rd_val, rd_thr
    out["rd_intensity"] = _b(rd_val >= rd_thr, judgeable).to_numpy()
    # patents
    pat, p_t = l1["invention_patents"].to_numpy(), threshold("patents")
    out["patents_value"], out["patents_threshold"], out["patents"] = pat, p_t, _b(pat >= p_t, ~np.isnan(pat)).to_numpy()
    # independence
    if data.firms is not None and "parent_id" in data.firms:
        firms = data.firms.drop_duplicates("firm_id").set_index("firm_id")
        parent = firms["parent_id"].reindex(aw["firm_id"]).astype("string").str.strip()
        has_parent = (parent.notna() & (parent != "")).to_numpy()
        share = firms["parent_share"].reindex(aw["firm_id"]).to_numpy(dtype=float) if "parent_share" in firms else np.full(len(aw), np.nan)
        known = isin_values(aw["firm_id"], firms.index)
        out["independent_value"] = np.where(has_parent, np.where(np.isnan(share), 100.0, share), 0.0)
        out["independent_parent"] = parent.to_numpy()
        out["independent"] = _b(~has_parent, known).to_numpy()
    else:
        out["independent_value"], out["independent_parent"] = np.nan, pd.NA
        out["independent"] = pd.array([pd.NA] * len(aw), dtype="boolean")
    out["independent_threshold"] = "no parent group (parent_id empty)"
    flags = out[list(TESTS)].astype("boolean")
    failed = flags.eq(False).fillna(False)
    unknown = flags.isna()
    out["n_failed"] = failed.sum(axis=1).astype(np.int64)
    out["failed_tests"] = _join_names(failed.to_numpy(dtype=bool))
    out["untestable_tests"] = _join_names(unknown.to_numpy(dtype=bool))
    pa = pd.Series(np.where(out["n_failed"] > 0, False, True), dtype="boolean")
    pa[(out["n_failed"] == 0).to_numpy() & unknown.any(axis=1).to_numpy()] = pd.NA
    out["passes_all"] = pa.to_numpy()
    nt = untested_criteria(crit)
    names = nt.groupby("regime", sort=False)["test"].agg(", ".join).to_dict() if len(nt) else {}
    out["criteria_not_tested"] = (pd.Series(names, dtype=object).reindex(out["regime"].to_numpy())
                                  .fillna("").to_numpy(dtype=object))
    front = ["firm_id", "year", *[c for c in ("batch",) if c in out], "regime", "passes_all", "n_failed",
             "failed_tests", "untestable_tests", "criteria_not_tested"]
    rest = []
    for t in TESTS:
        rest += [t, f"{t}_value", f"{t}_threshold"] + [c for c in out.columns if c.startswith(f"{t}_") and c not in
                                                      (f"{t}_value", f"{t}_threshold")]
    return AuditResult(table=out[front + rest], tier=tier, not_tested=nt)
