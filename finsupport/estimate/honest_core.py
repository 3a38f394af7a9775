"""Robust confidence sets under bounded violations of parallel trends (Rambachan & Roth 2023).

The computations behind :func:`finsupport.estimate.honest.honest_did`, on event-study
coefficients ``beta = (beta_pre, beta_post)`` (reference period omitted, pre periods
``-T..-2`` and post periods ``0..Tbar-1`` in event time) and their covariance ``sigma``.
The target is ``theta = l' tau_post``.

* :func:`flci` — the optimal fixed-length confidence interval for Δ^SD(M) (R & R 2023,
  Section 4.1; R ``HonestDiD::findOptimalFLCI``).
* :func:`rm_confidence_set` — the conditional (ARP) or conditional least-favourable
  hybrid (C-LF) confidence set for Δ^RM(Mbar) (R & R 2023, Sections 3.2 and 5.3;
  Andrews, Roth & Pakes 2023; R ``HonestDiD::computeConditionalCS_DeltaRM``).

Both follow R HonestDiD's conventions (the reference period is t = 0 of the violation
vector δ; the ARP test uses only the moments that involve post periods; the hybrid's
first-stage size is α/10). Two computations are exact where R approximates:

* the folded-normal quantile of the FLCI is computed by root finding, where R draws
  10⁶ normal variates; and the FLCI weights minimise the half-length directly (a smooth
  convex programme after splitting the cumulated weights into positive and negative
  parts) where R bisects over the standard deviation with a second-order cone solver;
* the ARP linear programme ``min η s.t. y − Xδ ≤ η·sd`` is solved through the vertices
  of its dual feasible set ``{λ ≥ 0, sd'λ = 1, X'λ = 0}``, enumerated once per
  constraint set; the test statistic is the largest ``λ'y`` over the vertices and the
  truncation points of the conditional distribution (ARP 2023, Appendix D) follow in
  closed form from the same vertices, where R bisects with a linear programme per step.
  The confidence set's end points are then refined by bisection instead of being read
  off a 1,000-point grid.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import optimize, stats

from ..errors import EstimationError

__all__ = ["flci", "rm_confidence_set", "rm_accepts", "sd_upper_bound_m", "folded_normal_quantile"]

#: Largest number of candidate bases enumerated for the ARP dual vertices.
MAX_BASES = 300_000


# ---------------------------------------------------------------------------
# smoothness: the optimal fixed-length confidence interval


def folded_normal_quantile(t: float, alpha: float) -> float:
    """The 1 − α quantile of |N(t, 1)|: the c with Φ(c − t) − Φ(−c − t) = 1 − α."""
    t = abs(float(t))
    lo = max(stats.norm.ppf(1 - alpha) + t - 1e-9, 0.0)
    hi = stats.norm.ppf(1 - alpha / 2) + t + 1e-9

    def f(c):
        return stats.norm.cdf(c - t) - stats.norm.cdf(-c - t) - (1 - alpha)

    if f(lo) >= 0:
        return lo
    return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-14))


def _cv_derivative(c: float, t: float) -> float:
    """d c / d t of :func:`folded_normal_quantile` (implicit function theorem)."""
    a, b = stats.norm.pdf(c - t), stats.norm.pdf(c + t)
    return float((a - b) / (a + b))


def _flci_pieces(sigma: np.ndarray, npre: int, l_vec: np.ndarray):
    """Variance of the affine estimator as a quadratic in the slope weights w.

    The estimator is ``v'beta`` with ``v = (D w, l)`` (``D`` first differences), so
    var = w'Qw + q'w + c0; linear-trend neutrality is Σw = Σ_s s·l_s; the worst-case
    bias per unit of M is ``const + Σ_i |cumsum(w)_i|`` (R ``.createObjectiveObjectForBias``).
    """
    npost = len(l_vec)
    D = np.eye(npre) - np.eye(npre, k=-1)
    s_pre, s_pp = sigma[:npre, :npre], sigma[:npre, npre:]
    Q = D.T @ s_pre @ D
    q = 2.0 * D.T @ s_pp @ l_vec
    c0 = float(l_vec @ sigma[npre:, npre:] @ l_vec)
    target = float(np.arange(1, npost + 1) @ l_vec)
    const = sum(abs(float(np.arange(1, s + 1) @ l_vec[npost - s:])) for s in range(1, npost + 1)) - target
    return D, Q, q, c0, target, const


def flci(beta: np.ndarray, sigma: np.ndarray, npre: int, l_vec: np.ndarray, M: float,
         alpha: float = 0.05) -> dict:
    """Optimal fixed-length confidence interval for θ = l'τ under Δ^SD(M).

    Minimises the half-length ``χ(w) = h(w) · cv_α(M · b(w) / h(w))`` over affine
    estimators ``v'β`` with ``v = (D w, l)`` and ``Σw = Σ_s s l_s``, where ``h`` is the
    estimator's standard deviation, ``b`` its worst-case bias per unit of M over
    Δ^SD(M) and ``cv_α(t)`` the 1 − α quantile of |N(t, 1)| (Rambachan & Roth 2023,
    eq. 17–18; Armstrong & Kolesár 2018). Writing u = cumsum(w) (its last entry is fixed
    at Σ_s s l_s) and u = p − n with p, n ≥ 0 makes χ smooth; it is convex, so L-BFGS-B
    from the minimum-variance weights reaches the optimum.

    Returns
    -------
    dict with ``lower``, ``upper``, ``center``, ``half_length``, ``weights`` (v), ``sd``, ``bias``.
    """
    beta = np.asarray(beta, float)
    sigma = np.asarray(sigma, float)
    l_vec = np.asarray(l_vec, float)
    D, Q, q, c0, target, const = _flci_pieces(sigma, npre, l_vec)
    k = npre - 1  # free cumulated weights u_1..u_{K-1}
    # w = D u with u = cumsum(w) = (u_free, target)
    Qu = D.T @ Q @ D
    qu = D.T @ q
    scale = math.sqrt(max(c0, 1e-300))

    def parts(x):
        u = np.concatenate([x[:k] - x[k:], [target]])
        var = float(u @ Qu @ u + qu @ u + c0)
        bias = const + abs(target) + float(np.sum(x))
        return u, var, bias

    def objective(x):
        u, var, bias = parts(x)
        h = math.sqrt(max(var, 1e-300))
        t = M * bias / h
        cv = folded_normal_quantile(t, alpha)
        dcv = _cv_derivative(cv, t)
        dvar_du = 2 * Qu @ u + qu
        dh_du = dvar_du / (2 * h)
        g_u = dh_du * (cv - t * dcv)
        g_bias = M * dcv
        g = np.concatenate([g_u[:k] + g_bias, -g_u[:k] + g_bias])
        return h * cv / scale, g / scale

    # start: minimum-variance u (equality-constrained least squares), split into parts
    if k > 0:
        A = Qu[:k, :k]
        rhs = -(Qu[:k, k] * target + qu[:k] / 2)
        try:
            u0 = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            u0 = np.linalg.lstsq(A, rhs, rcond=None)[0]
        starts = [np.concatenate([np.maximum(u0, 0), np.maximum(-u0, 0)]), np.zeros(2 * k)]
        best = None
        for x0 in starts:
            res = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * k),
                                    options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
            if best is None or res.fun < best.fun:
                best = res
        x = best.x
    else:
        x = np.zeros(0)
    u, var, bias = parts(x)
    h = math.sqrt(max(var, 0.0))
    if not h > 0:
        raise EstimationError("the robust interval needs a positive variance of the target; the covariance "
                              "of the event-study coefficients is singular in the direction of the target")
    half = h * folded_normal_quantile(M * bias / h, alpha)
    v = np.concatenate([D @ (D @ u), l_vec])  # w = D u, pre-period weights D w
    center = float(v @ beta)
    return {"lower": center - half, "upper": center + half, "center": center, "half_length": half,
            "weights": v, "sd": h, "bias": M * bias}


def sd_upper_bound_m(beta: np.ndarray, sigma: np.ndarray, npre: int, alpha: float = 0.05) -> float:
    """Upper (1 − α) bound of the largest pre-period second difference (R ``DeltaSD_upperBound_Mpre``).

    Second differences of (β_-T, …, β_-2, 0) — the reference period counts as 0 — plus
    z_{1−α} times their standard errors, both signs; the largest one.
    """
    if npre < 2:
        return float(np.sqrt(sigma[0, 0]))
    ext = np.zeros((npre - 1, npre))
    for r in range(npre - 2):
        ext[r, r:r + 3] = [1.0, -2.0, 1.0]
    ext[npre - 2, npre - 2:npre] = [1.0, -2.0]
    A = np.vstack([ext, -ext])
    b = A @ beta[:npre]
    se = np.sqrt(np.diag(A @ sigma[:npre, :npre] @ A.T))
    return float(np.max(b + stats.norm.ppf(1 - alpha) * se))


# ---------------------------------------------------------------------------
# relative magnitudes: the ARP conditional / hybrid test


def _a_rm(npre: int, npost: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """Constraint matrix of Δ^RM_{s,±}(Mbar) (R ``.create_A_RM``), reference column dropped.

    |δ_{t+1} − δ_t| ≤ ±(δ_{s} − δ_{s−1}) for pre-period differences and ≤ Mbar·± (same)
    for post-period differences, written A δ ≤ 0.
    """
    n = npre + npost
    At = np.zeros((n, n + 1))
    idx = np.arange(n)
    At[idx, idx] = -1.0
    At[idx, idx + 1] = 1.0
    v = np.zeros(n + 1)
    v[npre + s - 1], v[npre + s] = -1.0, 1.0
    if not positive:
        v = -v
    ub = np.vstack([np.tile(v, (npre, 1)), np.tile(mbar * v, (npost, 1))])
    A = np.vstack([At - ub, -At - ub])
    A = A[np.sum(A ** 2, axis=1) > 1e-10]
    return np.delete(A, npre, axis=1)


def _gamma(l_vec: np.ndarray) -> np.ndarray:
    """An invertible matrix with l' as its first row (R ``.construct_Gamma``: l then unit rows by RREF pivots)."""
    n = len(l_vec)
    B = np.column_stack([l_vec, np.eye(n)])
    cols, basis = [], np.zeros((n, 0))
    for j in range(B.shape[1]):
        cand = np.column_stack([basis, B[:, j]])
        if np.linalg.matrix_rank(cand, tol=1e-10) > basis.shape[1]:
            basis, cols = cand, cols + [j]
        if len(cols) == n:
            break
    return B[:, cols].T


def _dual_vertices(sd: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Vertices of {λ ≥ 0, sd'λ = 1, X'λ = 0} (rows of the returned array).

    Every vertex is a basic feasible solution: λ_S solves W_S'λ_S = e_1 for a set S of
    rank(W) rows of W = [sd, X]. Redundant equality rows (columns of W that are
    combinations of the others) are dropped first.
    """
    scale = float(sd.max())  # vertices of {(sd/s)'λ = 1} are s times those of {sd'λ = 1}: work on unit scale
    W = np.column_stack([sd / scale, X])
    m = W.shape[0]
    keep = [0]
    for j in range(1, W.shape[1]):
        if np.linalg.matrix_rank(W[:, keep + [j]], tol=1e-10) > len(keep):
            keep.append(j)
    for j in set(range(W.shape[1])) - set(keep):
        coef = np.linalg.lstsq(W[:, keep], W[:, j], rcond=None)[0]
        if abs(coef[0]) > 1e-9:  # X_j'λ = coef_0 ≠ 0 on the whole set: no feasible λ
            raise EstimationError("the moment inequalities of the relative-magnitudes restriction have no "
                                  "feasible dual; the covariance of the coefficients is degenerate")
    W = W[:, keep]
    r = W.shape[1]
    nb = math.comb(m, r)
    if nb > MAX_BASES:
        raise EstimationError(
            f"the relative-magnitudes confidence set needs {nb:,} candidate vertices ({m} moments, {r - 1} "
            f"nuisance parameters), more than {MAX_BASES:,}. Fix: use fewer post-treatment periods (a "
            f"narrower event window, or max_e on the dynamic aggregation)")
    combos = np.array(list(itertools.combinations(range(m), r)), dtype=np.intp)
    mats = W[combos].transpose(0, 2, 1)  # (nb, r, r): W_S'
    det = np.linalg.det(mats)
    ok = np.abs(det) > 1e-12 * max(1.0, float(np.abs(W).max()) ** r)
    combos, mats = combos[ok], mats[ok]
    e1 = np.zeros(r)
    e1[0] = 1.0
    lam_s = np.linalg.solve(mats, np.broadcast_to(e1, (len(mats), r))[..., None])[..., 0]
    feas = np.all(lam_s >= -1e-10, axis=1)
    V = np.zeros((int(feas.sum()), m))
    rows = np.repeat(np.arange(len(V)), r)
    V[rows, combos[feas].ravel()] = np.clip(lam_s[feas], 0, None).ravel()
    if len(V) == 0:
        raise EstimationError("the relative-magnitudes moment inequalities have no vertex; the event-study "
                              "covariance is degenerate")
    V = np.unique(np.round(V, 12), axis=0)
    return V / scale


def _lf_critical_value(V: np.ndarray, sig: np.ndarray, kappa: float, sims: int = 1000, seed: int = 0) -> float:
    """Least-favourable first-stage critical value: the 1 − κ quantile of η under δ at the LF point (ARP 6.2).

    Draws ξ ~ N(0, Σ) as R HonestDiD does (1,000 draws, seed 0; numpy's legacy
    generator, as the ``honestdid`` Python port) and η(ξ) = max over the dual vertices of λ'ξ.
    """
    rng = np.random.RandomState(seed)
    xi = rng.multivariate_normal(np.zeros(sig.shape[0]), sig, size=sims)
    eta = (xi @ V.T).max(axis=1)
    return float(np.quantile(eta, 1 - kappa))


class _FixedS:
    """The ARP test of θ for one Δ^RM_{s,±}(Mbar) polyhedron, vectorised over θ."""

    def __init__(self, beta, sigma, npre, npost, l_vec, A, alpha, hybrid, kappa):
        Gam = _gamma(l_vec)
        AGi = A[:, npre:] @ np.linalg.inv(Gam)
        Y = A @ beta
        SY = A @ sigma @ A.T
        if npost > 1:
            rows = np.flatnonzero(np.any(A[:, npre:] != 0, axis=1))
        else:
            rows = np.flatnonzero(A[:, -1] != 0)
        self.y0, self.a = Y[rows], AGi[rows, 0]
        X = AGi[np.ix_(rows, np.arange(1, npost))]
        self.S = SY[np.ix_(rows, rows)]
        self.sd = np.sqrt(np.diag(self.S))
        self.V = _dual_vertices(self.sd, X)
        self.alpha, self.hybrid, self.kappa = alpha, hybrid, kappa
        # with nuisance parameters the hybrid also truncates the conditional law at the first-stage critical
        # value (R ``.lp_conditional_test_fn``); with one post period R's ``.testInIdentifiedSet_LF_Hybrid``
        # does not
        self.cap = npost > 1
        self.lf_cv = _lf_critical_value(self.V, self.S, kappa) if hybrid == "LF" else np.inf

    def accepts(self, thetas: np.ndarray) -> np.ndarray:
        thetas = np.atleast_1d(np.asarray(thetas, float))
        V, S = self.V, self.S
        Y = self.y0[:, None] - self.a[:, None] * thetas[None, :]  # (m, nθ)
        vals = V @ Y
        best = np.argmax(vals, axis=0)
        eta = vals[best, np.arange(len(thetas))]
        out = np.ones(len(thetas), bool)
        size = self.alpha if self.hybrid == "ARP" else (self.alpha - self.kappa) / (1 - self.kappa)
        first = eta > self.lf_cv
        out[first] = False
        for b in np.unique(best[~first]):
            cols = np.flatnonzero((best == b) & ~first)
            g = V[b]
            gsg = float(g @ S @ g)
            if gsg < np.finfo(float).eps:
                out[cols] = ~(eta[cols] > 0)
                continue
            sig_b = math.sqrt(gsg)
            bvec = S @ g / gsg
            beta_v = V @ bvec  # slope of each vertex's value along the conditioning direction
            y = Y[:, cols]
            s_T = y - np.outer(bvec, g @ y)
            alpha_v = V @ s_T  # (nv, nθ)
            lo_m, hi_m = beta_v < 1 - 1e-12, beta_v > 1 + 1e-12
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = alpha_v / (1 - beta_v)[:, None]
            vlo = ratio[lo_m].max(axis=0) if lo_m.any() else np.full(len(cols), -np.inf)
            vup = ratio[hi_m].min(axis=0) if hi_m.any() else np.full(len(cols), np.inf)
            if self.cap:
                vup = np.minimum(vup, self.lf_cv)
            zlo, zup, stat = vlo / sig_b, vup / sig_b, eta[cols] / sig_b
            inside = (zlo <= stat) & (stat <= zup)
            acc = ~inside
            j = np.flatnonzero(inside)
            if len(j):
                cval = np.maximum(0.0, _truncnorm_quantile(1 - size, zlo[j], zup[j]))
                acc[j] = ~(stat[j] > cval)
            out[cols] = acc
        return out


def _truncnorm_quantile(p: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Quantile of N(0,1) truncated to [lo, hi] (R HonestDiD ``.norminvp_generalized``), vectorised."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    out = np.array(lo, dtype=float)
    ok = lo < hi
    if ok.any():
        out[ok] = stats.truncnorm.ppf(p, lo[ok], hi[ok])
    return out


def _rm_tests(beta, sigma, npre, npost, l_vec, mbar, alpha, hybrid, kappa) -> list[_FixedS]:
    tests = []
    for s in range(-(npre - 1), 1):
        for positive in (True, False):
            A = _a_rm(npre, npost, mbar, s, positive)
            tests.append(_FixedS(beta, sigma, npre, npost, l_vec, A, alpha, hybrid, kappa))
    return tests


def rm_accepts(beta, sigma, npre, npost, l_vec, mbar, thetas, *, alpha=0.05, hybrid="LF", kappa=None):
    """Whether each θ is in the Δ^RM(Mbar) confidence set (union over s and the sign)."""
    kappa = alpha / 10 if kappa is None else kappa
    tests = _rm_tests(np.asarray(beta, float), np.asarray(sigma, float), npre, npost, np.asarray(l_vec, float),
                      mbar, alpha, hybrid, kappa)
    thetas = np.atleast_1d(np.asarray(thetas, float))
    acc = np.zeros(len(thetas), bool)
    for t in tests:
        acc |= t.accepts(thetas)
    return acc


def rm_confidence_set(beta, sigma, npre, npost, l_vec, mbar, *, alpha=0.05, hybrid="LF", kappa=None,
                      grid_points=1000, tol=1e-6) -> dict:
    """Confidence set for θ = l'τ under Δ^RM(Mbar): lowest and highest accepted θ.

    Tests a grid of θ (``grid_points`` values over θ̂ ± (20 + 10·Mbar)·sd(θ̂), widened
    until both ends reject), then refines each end point by bisection between the
    outermost accepted grid point and its rejected neighbour to ``tol``·sd(θ̂). As R,
    the set reported is [min, max] of the accepted values (the union over s and sign is
    an interval in every case we have seen; a gap would be reported as covered).

    Returns dict with ``lower``, ``upper`` (±inf when the set is unbounded) and ``empty``.
    """
    beta = np.asarray(beta, float)
    sigma = np.asarray(sigma, float)
    l_vec = np.asarray(l_vec, float)
    kappa = alpha / 10 if kappa is None else kappa
    tests = _rm_tests(beta, sigma, npre, npost, l_vec, mbar, alpha, hybrid, kappa)

    def acc(th):
        th = np.atleast_1d(th)
        out = np.zeros(len(th), bool)
        for t in tests:
            out |= t.accepts(th)
        return out

    sd = float(np.sqrt(l_vec @ sigma[npre:, npre:] @ l_vec))
    center = float(l_vec @ beta[npre:])
    half = (20 + 10 * mbar) * sd
    for _ in range(8):
        grid = np.linspace(center - half, center + half, grid_points)
        a = acc(grid)
        if not a.any():
            return {"lower": np.nan, "upper": np.nan, "empty": True}
        if not (a[0] or a[-1]):
            break
        half *= 4
    else:
        lo_open, hi_open = a[0], a[-1]
        idx = np.flatnonzero(a)
        lower = -np.inf if lo_open else _bisect(acc, grid[idx[0] - 1], grid[idx[0]], tol * sd)
        upper = np.inf if hi_open else _bisect(acc, grid[idx[-1] + 1], grid[idx[-1]], tol * sd)
        return {"lower": lower, "upper": upper, "empty": False}
    idx = np.flatnonzero(a)
    lower = _bisect(acc, grid[idx[0] - 1], grid[idx[0]], tol * sd)
    upper = _bisect(acc, grid[idx[-1] + 1], grid[idx[-1]], tol * sd)
    return {"lower": lower, "upper": upper, "empty": False}


def _bisect(acc, out_pt: float, in_pt: float, tol: float) -> float:
    """The boundary between a rejected and an accepted θ."""
    while abs(in_pt - out_pt) > tol:
        mid = (in_pt + out_pt) / 2
        if acc(mid)[0]:
            in_pt = mid
        else:
            out_pt = mid
    return float(in_pt)
