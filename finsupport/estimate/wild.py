"""Wild cluster bootstrap with the null imposed (WCR) for fixed-effects regression coefficients.

For a coefficient β_j and a hypothesised value β0, on the regression with unit and time
effects partialled out (ỹ, X̃; Frisch–Waugh–Lovell, so the bootstrap equals the one on the
regression with dummies):

1. restricted fit: ũ(β0) = M_{-j}(ỹ − β0 x̃_j), the residual of ỹ − β0 x̃_j on the other
   regressors; ŷ_r = ỹ − ũ(β0);
2. for each draw b of cluster weights v_g (Rademacher ±1, or Webb's six-point
   distribution), y* = ŷ_r + v_g ũ, refit, and t*_b = (β*_j − β0)/se*_j with the
   cluster-robust standard error;
3. p(β0) = share of draws with |t*_b| > |t(β0)|, t(β0) = (β̂_j − β0)/se_j.

Everything is linear in v and in β0, so with a_i = ((X̃'X̃)⁻¹x̃_i)_j the draws need only
cluster sums: β*_j − β0 = Σ_g v_g b_g with b_g = Σ_{i∈g} a_i ũ_i, and the bootstrap
scores are C v with C = diag(b) − A (X̃'X̃)⁻¹ S' (A_g = Σ_{i∈g} a_i x̃_i, S_g = X̃_g'ũ_g).
The small-sample factor multiplies t and t* alike and drops out of the p-value.
Confidence intervals are found by test inversion: {β0 : p(β0) > α}, with the same draws
for every β0. With Rademacher weights and 2^G ≤ draws every sign vector is enumerated
(the p-value is then exact). Sources: Cameron, Gelbach & Miller (2008), Review of
Economics and Statistics 90(3); MacKinnon & Webb (2017), Journal of Applied Econometrics
32(2); Roodman, MacKinnon, Nielsen & Webb (2019), "Fast and wild", Stata Journal 19(1)
(boottest); Webb (2023), Canadian Journal of Economics 56(3).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError, EstimationError

__all__ = ["WildBootstrap", "wild_bootstrap", "FewClustersWarning", "cluster_warnings", "WEIGHTS",
           "MIN_CLUSTERS", "MIN_TREATED_CLUSTERS", "MIN_COHORT_UNITS"]

WEIGHTS = ("rademacher", "webb")

#: Below this many clusters cluster-robust t tests over-reject (Cameron, Gelbach & Miller 2008;
#: MacKinnon & Webb 2018 find distortions up to about 50 clusters).
MIN_CLUSTERS = 50
#: Below this many treated clusters analytic t tests of a DiD coefficient over-reject badly even
#: with many clusters in total (MacKinnon & Webb 2017, 2018).
MIN_TREATED_CLUSTERS = 20
#: A cohort with fewer treated units than this gives imprecise cohort-specific effects.
MIN_COHORT_UNITS = 5


class FewClustersWarning(UserWarning):
    """Analytic cluster-robust inference is unreliable with this few (treated) clusters."""


def cluster_warnings(*, n_clusters: int | None, n_treated_clusters: int | None,
                     cohort_sizes: dict | None = None, wild: bool = False) -> tuple[str, ...]:
    """Warnings about few clusters or few treated units per cohort (thresholds above, with why).

    Emitted as :class:`FewClustersWarning` and returned for the result's ``inference.warnings``.
    """
    out = []
    hint = ("p-values and intervals are from the wild cluster bootstrap (WCR)" if wild else
            "use inference='wild' (wild cluster bootstrap, WCR)")
    if n_clusters is not None and n_clusters < MIN_CLUSTERS:
        out.append(f"only {n_clusters} clusters (< {MIN_CLUSTERS}): cluster-robust t tests over-reject with "
                   f"few clusters; {hint}")
    if n_treated_clusters is not None and n_treated_clusters < MIN_TREATED_CLUSTERS:
        extra = (" — with fewer than 5 treated clusters even the wild bootstrap is unreliable "
                 "(MacKinnon & Webb 2017)" if n_treated_clusters < 5 else "")
        out.append(f"only {n_treated_clusters} treated clusters (< {MIN_TREATED_CLUSTERS}): analytic "
                   f"cluster-robust inference on the treatment effect over-rejects; {hint}{extra}")
    small = {g: n for g, n in (cohort_sizes or {}).items() if n < MIN_COHORT_UNITS}
    if small:
        shown = ", ".join(f"{g:g}: {n}" for g, n in sorted(small.items()))
        out.append(f"cohort(s) with fewer than {MIN_COHORT_UNITS} treated units ({shown}): their "
                   f"cohort-specific effects rest on very few firms")
    for w in out:
        warnings.warn(w, FewClustersWarning, stacklevel=4)
    return tuple(out)


_TIE = 1e-9  # relative tolerance within which |t*| and |t| count as equal


def _draws(n_clusters: int, draws: int, weights: str, seed) -> tuple[np.ndarray, bool]:
    if weights == "rademacher" and 2 ** n_clusters <= draws:
        return np.array(list(itertools.product((-1.0, 1.0), repeat=n_clusters))), True
    rng = np.random.default_rng(seed)
    if weights == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(draws, n_clusters)), False
    webb = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
    return rng.choice(webb, size=(draws, n_clusters)), False


@dataclass
class _Coef:
    beta: float
    se: float            # analytic cluster-robust se without small-sample factor
    ny: np.ndarray       # V @ b_y  (numerator at β0 = 0)
    nx: np.ndarray       # V @ b_x  (numerator slope in β0)
    pp: np.ndarray       # Σ_g P²
    pq: np.ndarray       # Σ_g P Q
    qq: np.ndarray       # Σ_g Q²
    cache: dict = field(default_factory=dict)

    def pvalue(self, beta0: float, *, ties: bool = False) -> float:
        """Share of draws with |t*| > |t| (``ties=True``: ≥). Draws that reproduce |t| up to rounding
        (the all-plus and all-minus sign vectors do, exactly) are ties, not exceedances."""
        t = abs((self.beta - beta0) / self.se)
        num = self.ny - beta0 * self.nx
        den2 = self.pp - 2 * beta0 * self.pq + beta0 ** 2 * self.qq
        with np.errstate(divide="ignore", invalid="ignore"):
            tstar = np.abs(num) / np.sqrt(den2)
        if ties:
            return float(np.mean(tstar >= t * (1 - _TIE)))
        return float(np.mean(tstar > t * (1 + _TIE)))

    def endpoint(self, alpha: float, side: int) -> float:
        """The β0 on one side of β̂ where p(β0) falls to α (bisection on the step function)."""
        inside = self.beta
        step = max(self.se, 1e-12 * max(1.0, abs(self.beta)))
        outside = self.beta + side * step
        for _ in range(200):
            if self.pvalue(outside) <= alpha:
                break
            inside, outside = outside, self.beta + 2 * (outside - self.beta)
        else:
            return side * np.inf
        for _ in range(100):
            mid = 0.5 * (inside + outside)
            if self.pvalue(mid) > alpha:
                inside = mid
            else:
                outside = mid
            if abs(outside - inside) <= 1e-10 * max(self.se, 1e-300):
                break
        return 0.5 * (inside + outside)


class WildBootstrap:
    """Wild cluster bootstrap (WCR) p-values and test-inversion intervals of every coefficient.

    Attributes
    ----------
    draws : int
        Draws used (2^G when enumerated).
    weights : str
    enumerated : bool
    seed : int or None
    """

    def __init__(self, coefs: dict[str, _Coef], *, draws: int, weights: str, enumerated: bool, seed):
        self._coefs = coefs
        self.draws, self.weights, self.enumerated, self.seed = draws, weights, enumerated, seed

    def pvalue(self, term: str, beta0: float = 0.0) -> float:
        """Bootstrap p-value of H0: β_term = beta0."""
        return self._coefs[term].pvalue(beta0)

    def pvalues(self) -> pd.Series:
        return pd.Series({t: c.pvalue(0.0) for t, c in self._coefs.items()}, name="p_value")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Intervals {β0 : p(β0) > 1 − level} found by bisection, one row per coefficient."""
        a = 1 - level
        rows = {}
        for t, c in self._coefs.items():
            key = round(level, 12)
            if key not in c.cache:
                c.cache[key] = (c.endpoint(a, -1), c.endpoint(a, +1))
            rows[t] = c.cache[key]
        return pd.DataFrame(rows, index=["lower", "upper"]).T


    def uniform_band(self, terms, level: float = 0.95) -> pd.DataFrame:
        """Sup-t band over ``terms``: β̂_j ± c·se_j with c the ``level`` quantile of max_j |t*_bj|.

        At β0 = β̂_j the restricted residuals are the unrestricted ones (Frisch–Waugh–Lovell),
        so t*_bj = (β*_bj − β̂_j)/se*_bj is the unrestricted wild bootstrap t statistic of
        draw b; the same cluster weights serve every coefficient, so the maximum over j
        within a draw keeps their dependence (Montiel Olea & Plagborg-Møller 2019;
        Roodman et al. 2019, sec. 3.6). ``se_j`` and t* both leave out the small-sample
        factor, which cancels.
        """
        terms = list(terms)
        if not terms:
            raise EstimationError("a uniform band needs at least one coefficient")
        tstar = []
        for t in terms:
            c = self._coefs[t]
            num = c.ny - c.beta * c.nx
            den2 = c.pp - 2 * c.beta * c.pq + c.beta ** 2 * c.qq
            with np.errstate(divide="ignore", invalid="ignore"):
                tstar.append(np.abs(num) / np.sqrt(den2))
        tmax = np.max(np.column_stack(tstar), axis=1)
        tmax = tmax[np.isfinite(tmax)]
        if not len(tmax):
            raise EstimationError("the bootstrap draws give no finite t statistic; no uniform band")
        crit = float(np.quantile(tmax, level, method="inverted_cdf"))
        beta = np.array([self._coefs[t].beta for t in terms])
        se = np.array([self._coefs[t].se for t in terms])
        self.uniform_crit = crit
        return pd.DataFrame({"lower": beta - crit * se, "upper": beta + crit * se}, index=terms)


def wild_bootstrap(yt: np.ndarray, Xt: np.ndarray, names: list[str], clusters: np.ndarray, *,
                   units: np.ndarray, periods: np.ndarray, draws: int = 999, weights: str = "rademacher",
                   seed=None, chunk: int = 256) -> WildBootstrap:
    """WCR bootstrap of every coefficient of the regression of ``yt`` on ``Xt`` (effects already partialled out).

    Parameters
    ----------
    yt, Xt : ndarray
        Outcome and regressors after removing the fixed effects.
    names : list of str
        Coefficient names (columns of ``Xt``).
    clusters : ndarray of int
        Cluster codes 0 … G − 1; every unit must lie in one cluster.
    units, periods : ndarray of int
        Unit and period codes of the absorbed effects. The bootstrap residuals
        M(v∘ũ) need the projection on the effects of v∘ũ: with clusters that nest units
        the unit part vanishes and the period part is the rank-T term
        R_t S⁺ W_t' v (S the period block of the normal equations after eliminating
        the units), so no G × n matrix is ever formed.
    draws : int
        Bootstrap draws B (all 2^G sign vectors when Rademacher and 2^G ≤ B).
    weights : {"rademacher", "webb"}
    seed : int, optional
        Seed of numpy's ``default_rng``; same seed, same draws.
    """
    if weights not in WEIGHTS:
        raise ConfigError(f"weights={weights!r} is not known; use one of {', '.join(WEIGHTS)}")
    if int(draws) < 99:
        raise ConfigError(f"draws={draws!r}: use at least 99 bootstrap draws (999 or more for intervals)")
    G = int(clusters.max()) + 1
    if G < 2:
        raise EstimationError("the wild cluster bootstrap needs at least two clusters")
    if (pd.Series(clusters).groupby(units).nunique() > 1).any():
        raise EstimationError("the wild cluster bootstrap needs clusters that nest units (each unit in one "
                              "cluster, e.g. cluster='unit' or a region column constant within firms)")
    V, enumerated = _draws(G, int(draws), weights, seed)
    # period block of the fixed-effect normal equations with the units eliminated
    nu, nt = int(units.max()) + 1, int(periods.max()) + 1
    n_u = np.bincount(units, minlength=nu).astype(float)
    B = np.zeros((nu, nt))
    np.add.at(B, (units, periods), 1.0)
    Sinv = np.linalg.pinv(np.diag(B.sum(axis=0)) - (B / n_u[:, None]).T @ B)
    cell = clusters * nt + periods  # (cluster, period) cells

    def ct(w):  # sums within (cluster, period): G × T
        return np.bincount(cell, weights=w, minlength=G * nt).reshape(G, nt)

    K = np.linalg.inv(Xt.T @ Xt)
    beta = K @ (Xt.T @ yt)
    e = yt - Xt @ beta
    k = Xt.shape[1]

    def csum(w):  # cluster sums of one column, or of each column of a matrix
        if w.ndim == 1:
            return np.bincount(clusters, weights=w, minlength=G)
        return np.column_stack([np.bincount(clusters, weights=w[:, c], minlength=G) for c in range(w.shape[1])])

    coefs = {}
    for j, name in enumerate(names):
        a = Xt @ K[:, j]
        se = float(np.sqrt(np.sum(csum(a * e) ** 2)))
        others = [c for c in range(k) if c != j]
        if others:
            Q = Xt[:, others]
            Ki = np.linalg.inv(Q.T @ Q)
            uy = yt - Q @ (Ki @ (Q.T @ yt))
            ux = Xt[:, j] - Q @ (Ki @ (Q.T @ Xt[:, j]))
        else:
            uy, ux = yt.copy(), Xt[:, j].copy()
        by, bx = csum(a * uy), csum(a * ux)
        A = csum(a[:, None] * Xt)
        Sy, Sx = csum(Xt * uy[:, None]), csum(Xt * ux[:, None])
        AK = A @ K  # G × k
        RS = ct(a) @ Sinv  # G × T: the period-effect part of the projection
        Wy, Wx = ct(uy), ct(ux)
        out = {key: np.empty(len(V)) for key in ("ny", "nx", "pp", "pq", "qq")}
        for s in range(0, len(V), chunk):
            v = V[s:s + chunk]
            P = v * by - (v @ Sy) @ AK.T - (v @ Wy) @ RS.T
            Qm = v * bx - (v @ Sx) @ AK.T - (v @ Wx) @ RS.T
            out["ny"][s:s + chunk] = v @ by
            out["nx"][s:s + chunk] = v @ bx
            out["pp"][s:s + chunk] = np.einsum("ij,ij->i", P, P)
            out["pq"][s:s + chunk] = np.einsum("ij,ij->i", P, Qm)
            out["qq"][s:s + chunk] = np.einsum("ij,ij->i", Qm, Qm)
        coefs[name] = _Coef(beta=float(beta[j]), se=se, **out)
    return WildBootstrap(coefs, draws=len(V), weights=weights, enumerated=enumerated, seed=seed)
