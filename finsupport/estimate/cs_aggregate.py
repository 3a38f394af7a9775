"""Aggregation and inference for Callaway–Sant'Anna ATT(g,t): analytic, clustered, bootstrap.

Aggregations follow R ``did::aggte`` (``compute.aggte``), including the influence
function of the estimated weights (``wif``), so that standard errors match R:

* ``simple``: θ = Σ_{g≤t} π_g ATT(g,t) / Σ_{g≤t} π_g, π_g = P(G = g);
* ``group``: θ(g) = mean over t ≥ g of ATT(g,t); overall = Σ_g π_g θ(g) / Σ_g π_g;
* ``dynamic``: θ(e) = Σ_g π_g ATT(g, g+e) / Σ_g π_g over cohorts observed at event time
  e; overall = mean of θ(e) over e ≥ 0;
* ``calendar``: θ(t) = Σ_{g≤t} π_g ATT(g,t) / Σ π_g; overall = mean over t ≥ min g.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..progress import current_task
from . import dist as stats
from .results import EstimateResult, Inference, deprecated

__all__ = ["aggregate", "AggregateResult", "se_from_influence", "bootstrap_se", "rademacher_bits", "KINDS"]

KINDS = ("simple", "group", "dynamic", "calendar")
_TOL = np.sqrt(np.finfo(float).eps) * 10


def se_from_influence(psi: np.ndarray, clusters=None) -> np.ndarray:
    """Analytic standard errors: sqrt(Σ_i ψ_i²)/n, or with clusters sqrt(Σ_c (Σ_{i∈c} ψ_i)²)/n."""
    psi = np.atleast_2d(psi.T).T if psi.ndim == 1 else psi
    n = psi.shape[0]
    if clusters is not None:
        psi = pd.DataFrame(psi).groupby(np.asarray(clusters)).sum().to_numpy()
    se = np.sqrt((psi ** 2).sum(axis=0)) / n
    return np.where(se <= _TOL, np.nan, se) if psi.shape[1] else se


def rademacher_bits(m: int, draws: int, seed, *, chunk: int = 64) -> np.ndarray:
    """The multiplier bootstrap's Rademacher signs, packed: ``draws`` rows of ``m`` bits (1 = +1).

    Generated chunk by chunk from ``numpy.random.default_rng(seed)`` (eight signs per
    random byte); the same seed, ``m`` and ``draws`` give the same signs. Packed, 999
    draws for 100,000 units take 12.5 MB, so one set serves ATT(g,t) and every
    aggregation of it.
    """
    nbytes = (m + 7) // 8
    rng = np.random.default_rng(seed)
    out = np.empty((draws, nbytes), dtype=np.uint8)
    for s in range(0, draws, chunk):
        k = min(chunk, draws - s)
        out[s:s + k] = np.frombuffer(rng.bytes(k * nbytes), dtype=np.uint8).reshape(k, nbytes)
    return out


def _cluster_means(psi: np.ndarray, clusters) -> np.ndarray:
    g = pd.DataFrame(psi).groupby(np.asarray(clusters))
    return (g.sum() / g.size().to_numpy()[:, None]).to_numpy()


#: the eight signs (±1, float32) of every byte of packed bits, most significant bit first (``numpy.unpackbits``)
_SIGNS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32) * 2 - 1


def _signs(bits: np.ndarray, m: int) -> np.ndarray:
    """Rows of packed bits as C-contiguous float32 rows of m signs ±1 (bit 1 = +1).

    The same array as ``unpackbits(bits, axis=1, count=m)`` mapped to 2·b − 1, made in one
    pass (a table look-up per byte) instead of four over rows × m values.
    """
    v = np.take(_SIGNS, bits, axis=0).reshape(len(bits), -1)
    return v if v.shape[1] == m else np.ascontiguousarray(v[:, :m])


def bootstrap_draws(psi: np.ndarray, clusters, bits: np.ndarray, *, chunk: int = 64,
                    also: np.ndarray | None = None):
    """Draws b = 1 … B of √m · mean_i(v_ib ψ_i) for every column of ψ (R ``did::mboot``'s ``bres``).

    ``bits`` from :func:`rademacher_bits`; with clusters ψ is first averaged within
    clusters (m = number of clusters). ``also``: a second matrix with the same rows drawn
    with the same signs in the same pass (returned as a second array); the draws of ψ are
    the same numbers with or without it.
    """
    mats = [psi] if also is None else [psi, also]
    if clusters is not None:
        mats = [_cluster_means(p, clusters) for p in mats]
    m = mats[0].shape[0]
    draws = bits.shape[0]
    outs = [np.empty((draws, p.shape[1])) for p in mats]
    # single precision for the product: the bootstrap's own noise (1/√B) dwarfs rounding
    mats32 = [p.astype(np.float32) for p in mats]
    # the running stage of a run (if any) shows the draws and the time left
    task = current_task()
    task.expect(draws, "draws")
    for s in range(0, draws, chunk):
        k = min(chunk, draws - s)
        v = _signs(bits[s:s + k], m)
        for out, p32 in zip(outs, mats32, strict=True):
            out[s:s + k] = np.sqrt(m) * (v @ p32).astype(np.float64) / m
        task.advance(k)
    return outs[0] if also is None else tuple(outs)


def cohort_basis(G: np.ndarray, w: np.ndarray, cohorts: np.ndarray) -> np.ndarray:
    """Columns w_i·1{G_i = g} − π_g for every cohort g (π_g = mean of w·1{G = g}).

    The influence function of the estimated aggregation weights (``wif``) of every
    aggregation is a linear combination of these columns, so bootstrap draws of them,
    with the draws of ATT(g,t)'s influence functions, give the draws of any aggregation.
    """
    return np.column_stack([(G == g) * w - np.mean(w * (G == g)) for g in cohorts]) if len(cohorts) \
        else np.zeros((len(G), 0))


def _se_crit(out: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Bootstrap standard errors (IQR / (z_.75 − z_.25) / √m) and the sup-t critical value of the columns."""
    q75 = np.quantile(out, 0.75, axis=0, method="inverted_cdf")
    q25 = np.quantile(out, 0.25, axis=0, method="inverted_cdf")
    sigma = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    sigma = np.where(sigma <= _TOL, np.nan, sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.nanmax(np.abs(out / sigma), axis=1) if np.isfinite(sigma).any() else np.full(len(out), np.nan)
    crit = float(np.quantile(t[np.isfinite(t)], 1 - alpha, method="inverted_cdf")) if np.isfinite(t).any() else np.nan
    return sigma, crit


def bootstrap_se(psi: np.ndarray, clusters, draws: int, seed, alpha: float, *,
                 chunk: int = 64, bits: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Multiplier bootstrap as R ``did::mboot``.

    Draws b = 1 … B of √m · mean_i(v_ib ψ_i) with Rademacher weights v (one per
    cluster when clustering, on cluster means of ψ); standard error = the bootstrap
    interquartile range / (z_.75 − z_.25) / √m; the critical value of the uniform band is
    the (1 − alpha) quantile of max over cells of |draw| / se. Draws are generated in
    chunks so memory stays bounded; the same seed gives the same numbers. ``bits``
    (from :func:`rademacher_bits`) reuses signs drawn before instead of drawing again.
    """
    m = len(np.unique(np.asarray(clusters))) if clusters is not None else psi.shape[0]
    if bits is None:
        bits = rademacher_bits(m, draws, seed, chunk=chunk)
    out = bootstrap_draws(psi, clusters, bits, chunk=chunk)
    sigma, crit = _se_crit(out, alpha)
    return sigma / np.sqrt(m), crit


_PREFIX = {"cohort": "g", "event_time": "e", "time": "t"}


@dataclass
class AggregateResult(EstimateResult):
    """An aggregation of ATT(g,t): overall effect and its components.

    Follows the result contract of :class:`~finsupport.estimate.results.EstimateResult`:
    ``params`` are the overall effect (term ``overall``; ``ATT`` for ``simple``) and the
    components (``g=2004``, ``e=0``, ``t=2005``); ``cov`` is the influence-function
    covariance; ``conf_int(kind="uniform")`` (with bootstrap draws) gives the sup-t band
    over the components, the overall effect keeping its pointwise interval. ``tidy()``
    adds the component key (``cohort``, ``event_time`` or ``time``) and ``overall``.

    ``components`` has the component key and ``att, se, ci_lower, ci_upper`` (bands
    uniform when bootstrapped); ``influence`` holds the influence functions (overall
    first).
    """

    kind: str
    overall_att: float
    overall_se: float
    components: pd.DataFrame
    influence: np.ndarray
    crit_value: float
    alpha: float
    key: str | None = None
    clusters: np.ndarray | None = None
    inference: Inference | None = None
    outcome: str = ""
    base_period: str | None = None  # of the att_gt fit ("varying" or "universal")
    anticipation: int = 0

    estimator = "Callaway–Sant'Anna aggregation"

    @property
    def table(self) -> pd.DataFrame:
        """Deprecated: the release-0.1 layout (key, ``att, se, ci_lower, ci_upper``); use :meth:`tidy`."""
        deprecated("AggregateResult.table", "AggregateResult.tidy() (or .components)")
        return self.components

    @property
    def overall_ci(self) -> tuple[float, float]:
        z = stats.norm.ppf(1 - self.alpha / 2)
        return self.overall_att - z * self.overall_se, self.overall_att + z * self.overall_se

    @property
    def nobs(self) -> int:
        return int(self.influence.shape[0])

    def _terms(self) -> list[str]:
        if self.key is None:
            return ["ATT"]
        pre = _PREFIX[self.key]
        return ["overall", *[f"{pre}={v:g}" for v in self.components[self.key]]]

    @property
    def params(self) -> pd.Series:
        vals = [self.overall_att] if self.key is None else [self.overall_att, *self.components["att"]]
        return pd.Series(vals, index=self._terms(), dtype=float, name="estimate")

    @property
    def std_errors(self) -> pd.Series:
        vals = [self.overall_se] if self.key is None else [self.overall_se, *self.components["se"]]
        return pd.Series(vals, index=self._terms(), dtype=float, name="std_error")

    @property
    def cov(self) -> pd.DataFrame:
        """Influence-function covariance Ψ'Ψ/n² (Ψ summed within clusters when clustering)."""
        psi = self.influence if self.key is not None else self.influence[:, :1]
        n = psi.shape[0]
        if self.clusters is not None:
            psi = pd.DataFrame(psi).groupby(np.asarray(self.clusters)).sum().to_numpy()
        t = self._terms()
        return pd.DataFrame(psi.T @ psi / n ** 2, index=t, columns=t)

    def conf_int(self, level: float = 0.95, kind: str = "pointwise") -> pd.DataFrame:
        if kind != "uniform":
            return super().conf_int(level, kind)
        if self.inference is None or self.inference.method != "multiplier_bootstrap":
            return super().conf_int(level, kind)  # raises: no draws
        if not np.isclose(level, 1 - self.alpha):
            raise EstimationError(f"the uniform band was computed at level {1 - self.alpha:g}; aggregate with "
                                  f"alpha={1 - level:g} for level {level:g}")
        q = np.full(len(self.params), self.crit_value)
        q[0] = stats.norm.ppf(1 - self.alpha / 2)  # the overall effect keeps its pointwise interval
        return pd.DataFrame({"lower": self.params - q * self.std_errors, "upper": self.params + q * self.std_errors})

    def _extras(self) -> pd.DataFrame:
        t = self._terms()
        out = pd.DataFrame({"overall": [True] + [False] * (len(t) - 1)}, index=t)
        if self.key is not None:
            out.insert(0, self.key, pd.array([pd.NA, *self.components[self.key]], dtype="Int64")
                       if np.all(np.mod(self.components[self.key], 1) == 0) else [np.nan, *self.components[self.key]])
        return out

    def _title(self) -> str:
        return f"Callaway–Sant'Anna aggregation '{self.kind}': {self.outcome}"

    def plot(self, *, ax=None, level: float = 0.95, title: str | None = None):
        """Components with intervals (event-time profile for ``dynamic``); see :mod:`.plotting`."""
        from .plotting import plot_coefficients

        t = self.tidy(level)
        if self.key is not None:
            t = t[~t["overall"]]
        return plot_coefficients(t, ax=ax, title=title or self._title(), ylabel=f"effect on {self.outcome}",
                                 level=level, x=self.key)

    def summary(self) -> str:
        lo, hi = self.overall_ci
        lines = [f"Aggregation '{self.kind}': overall ATT {self.overall_att:.6f} (SE {self.overall_se:.6f}), "
                 f"{int(round((1 - self.alpha) * 100))}% CI [{lo:.6f}, {hi:.6f}]"]
        if self.inference is not None:
            lines.append(f"Standard errors: {self.inference.describe()}")
        if len(self.components):
            lines.append(self.components.to_string(index=False))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _unit_kinds(G: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (cohort, weight) pairs of the units and each unit's pair: ``(G_u, w_u, inverse)``.

    A unit's row of ``wif`` depends only on its cohort and weight: :func:`_wif` computes the
    rows of the few distinct pairs and copies them to the units (``inverse``).
    """
    # pairs told apart by their bits (a weight of −0 is not one of 0): each unit's row is computed from
    # its own values; G enters only through ==, so its equal values may share a row
    G, w = np.ascontiguousarray(G, dtype=float), np.ascontiguousarray(w, dtype=float)
    wbits = w.view(np.int64)
    if len(w) and (wbits == wbits[0]).all():  # equal weights (the usual case): the cohorts alone
        Gu, inv = np.unique(G, return_inverse=True)
        return Gu, np.full(len(Gu), w[0]), inv.ravel()
    uk, inv = np.unique(np.column_stack([G.view(np.int64), wbits]), axis=0, return_inverse=True)
    uk = np.ascontiguousarray(uk)
    return uk[:, 0].view(float), uk[:, 1].view(float), inv.ravel()


def _wif(keepers, pg, w, G, group, basis=None, kinds=None):
    """Influence function of the estimated aggregation weights (R did's ``wif``).

    ``basis = (c, cohorts)``: instead of the n values, the coefficients of the same
    function on c cell columns (zero) and the :func:`cohort_basis` columns of ``cohorts``.
    ``kinds``: :func:`_unit_kinds` of ``G`` and ``w``; the rows are then computed once per
    distinct (cohort, weight) and copied to the units. Each row is the same elementwise
    arithmetic and the same row sum (a row of the same length) as computed for every unit,
    so the same numbers.
    """
    s = pg[keepers].sum()
    if basis is None and kinds is not None:
        Gu, wu, inv = kinds
        ind = (Gu[:, None] == group[keepers][None, :]) * wu[:, None] - pg[keepers][None, :]
        if1 = ind / s
        if2 = ind.sum(axis=1)[:, None] * (pg[keepers] / s ** 2)[None, :]
        return np.take(if1 - if2, inv, axis=0)
    if basis is None:
        ind = (G[:, None] == group[keepers][None, :]) * w[:, None] - pg[keepers][None, :]
    else:
        c, cohorts = basis
        ind = np.vstack([np.zeros((c, len(keepers))), (cohorts[:, None] == group[keepers][None, :]).astype(float)])
    if1 = ind / s
    if2 = ind.sum(axis=1)[:, None] * (pg[keepers] / s ** 2)[None, :]
    return if1 - if2


def _agg(att, psi, keepers, wts, wif=None):
    weights = np.asarray(wts, dtype=float)
    inf = psi[:, keepers] @ weights
    if wif is not None:
        inf = inf + wif @ att[keepers]
    return float(att[keepers] @ weights), inf


def _influence(kind, att, psi, group, time, pg, pgg, glist, w, G, periods, *, min_e, max_e, balance_e,
               basis=None, kinds=None):
    """The aggregation ``kind``: overall effect, its influence function, components and keys.

    Linear in ``psi`` and the ``wif`` terms: with ``basis`` (see :func:`_wif`) and ``psi``
    the identity on the cells (then zero rows for the cohorts), the influence functions
    returned are coefficients on the cell and cohort-basis columns.
    """
    comps: list[tuple[float, np.ndarray]] = []
    keys: list[float] = []
    if kind == "simple":
        keep = np.flatnonzero((group <= time) & (time <= group + max_e))
        overall, inf = _agg(att, psi, keep, pg[keep] / pg[keep].sum(), _wif(keep, pg, w, G, group, basis, kinds))
        key_name = None
    elif kind == "group":
        atts, infs = [], []
        for g in glist:
            k = np.flatnonzero((group == g) & (g <= time) & (time <= group + max_e))
            a, f = _agg(att, psi, k, np.full(len(k), 1 / len(k)))
            atts.append(a)
            infs.append(f)
            keys.append(g)
        A, F = np.array(atts), np.column_stack(infs)
        allg = np.arange(len(glist))
        overall, inf = _agg(A, F, allg, pgg / pgg.sum(), _wif(allg, pgg, w, G, glist, basis, kinds))
        comps = list(zip(A, F.T, strict=True))
        key_name = "cohort"
    elif kind == "dynamic":
        e_all = time - group
        include = np.ones(len(att), bool)
        if balance_e is not None:
            include = (periods.max() - group) >= balance_e
            eseq = np.unique(e_all[include])
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - periods.max() + periods.min())]
        else:
            eseq = np.unique(e_all)
        eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
        atts, infs = [], []
        for e in eseq:
            k = np.flatnonzero((e_all == e) & include)
            a, f = _agg(att, psi, k, pg[k] / pg[k].sum(), _wif(k, pg, w, G, group, basis, kinds))
            atts.append(a)
            infs.append(f)
            keys.append(e)
        A, F = np.array(atts), np.column_stack(infs)
        pos = np.flatnonzero(eseq >= 0)
        overall, inf = _agg(A, F, pos, np.full(len(pos), 1 / len(pos)))
        comps = list(zip(A, F.T, strict=True))
        key_name = "event_time"
    else:  # calendar
        tlist = np.unique(time[time >= group.min()])
        atts, infs = [], []
        for t1 in tlist:
            k = np.flatnonzero((group <= time) & (time == t1))
            a, f = _agg(att, psi, k, pg[k] / pg[k].sum(), _wif(k, pg, w, G, group, basis, kinds))
            atts.append(a)
            infs.append(f)
            keys.append(t1)
        A, F = np.array(atts), np.column_stack(infs)
        allt = np.arange(len(tlist))
        overall, inf = _agg(A, F, allt, np.full(len(tlist), 1 / len(tlist)))
        comps = list(zip(A, F.T, strict=True))
        key_name = "time"
    return overall, inf, comps, keys, key_name


def aggregate(res, kind: str = "simple", *, min_e=-np.inf, max_e=np.inf, balance_e=None, bootstrap=0,
              seed=None, alpha=0.05) -> AggregateResult:
    """Aggregate ATT(g,t) into a simple, group, dynamic (event-time) or calendar summary.

    Weights π_g = mean of 1{G = g} (times sampling weights) over units, as R ``aggte``;
    standard errors include the estimated-weights term. With ``bootstrap`` draws the
    standard errors come from the multiplier bootstrap and component bands are uniform.
    ``min_e``/``max_e`` restrict event times (dynamic; ``max_e`` also caps ``simple`` and
    ``group``); ``balance_e`` keeps only cohorts observed for ``balance_e`` periods after
    treatment (dynamic).
    """
    if kind not in KINDS:
        raise EstimationError(f"aggregation '{kind}' is not known; use one of {', '.join(KINDS)}")
    t = res.cells
    ok = t["se"].notna().to_numpy() | (t["att"].to_numpy() != 0)
    group = t["cohort"].to_numpy(dtype=float)[ok]
    time = t["time"].to_numpy(dtype=float)[ok]
    att = t["att"].to_numpy(dtype=float)[ok]
    psi = res.influence if ok.all() else res.influence[:, ok]  # every cell kept: no copy
    G, w = res.cohorts, res.weights
    glist = np.sort(np.unique(group))
    pgg = np.array([np.mean(w * (G == g)) for g in glist])
    pg = pgg[np.searchsorted(glist, group)]
    overall, inf, comps, keys, key_name = _influence(kind, att, psi, group, time, pg, pgg, glist, w, G, res.periods,
                                                     min_e=min_e, max_e=max_e, balance_e=balance_e,
                                                     kinds=_unit_kinds(G, w))
    Fall = np.column_stack([inf] + [c[1] for c in comps])
    se = se_from_influence(Fall, res.clusters)
    crit = stats.norm.ppf(1 - alpha / 2)
    if bootstrap:
        # no new product with the signs: the aggregation's influence functions are a linear
        # combination of ATT(g,t)'s and of the cohort-basis columns, whose draws the fit keeps
        # (made once per draws and seed, with the same signs as ATT(g,t)'s own)
        d_cells, d_basis, cohorts = res.boot_draws(int(bootstrap), seed)
        c = len(att)
        _, inf_c, comps_c, *_ = _influence(kind, att, np.vstack([np.eye(c), np.zeros((len(cohorts), c))]), group,
                                           time, pg, pgg, glist, w, G, res.periods, min_e=min_e, max_e=max_e,
                                           balance_e=balance_e, basis=(c, cohorts))
        coef = np.column_stack([inf_c] + [x[1] for x in comps_c])
        out = d_cells[:, ok] @ coef[:c] + d_basis @ coef[c:]
        m = len(np.unique(res.clusters)) if res.clusters is not None else Fall.shape[0]
        se_b = _se_crit(out, alpha)[0] / np.sqrt(m)
        se = np.where(np.isnan(se_b), se, se_b)
        # the uniform band covers the components, not the overall figure
        if len(comps):
            _, crit = _se_crit(out[:, 1:], alpha)
    table = pd.DataFrame({key_name: keys} if key_name else {})
    if key_name:
        table[key_name] = table[key_name].astype(np.int64) if np.all(np.mod(keys, 1) == 0) else table[key_name]
        table["att"] = [c[0] for c in comps]
        table["se"] = se[1:]
        table["ci_lower"] = table["att"] - crit * table["se"]
        table["ci_upper"] = table["att"] + crit * table["se"]
    else:
        table = pd.DataFrame({"att": [overall], "se": [se[0]]})
        z = stats.norm.ppf(1 - alpha / 2)
        table["ci_lower"], table["ci_upper"] = overall - z * se[0], overall + z * se[0]
    inference = res.inference
    if bootstrap and inference.method != "multiplier_bootstrap":
        inference = Inference(method="multiplier_bootstrap", cluster=inference.cluster,
                              n_clusters=inference.n_clusters, draws=int(bootstrap), weights="rademacher", seed=seed)
    elif not bootstrap and inference.method == "multiplier_bootstrap":
        inference = Inference(method="influence", cluster=inference.cluster, n_clusters=inference.n_clusters)
    return AggregateResult(kind=kind, overall_att=overall, overall_se=float(se[0]), components=table,
                           influence=Fall, crit_value=float(crit), alpha=alpha, key=key_name,
                           clusters=res.clusters, inference=inference, outcome=res.options["outcome"],
                           base_period=res.options.get("base_period"),
                           anticipation=int(res.options.get("anticipation", 0) or 0))
