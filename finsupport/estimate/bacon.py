"""Goodman-Bacon (2021) decomposition of the two-way fixed effects DiD coefficient."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, EstimationError
from .reuse import ids
from .twfe import _prepare_panel, _problem, _require_columns

__all__ = ["bacon_decomposition", "BaconDecomposition", "COMPARISON_TYPES"]

#: The comparison types, named as in the R package ``bacondecomp``.
COMPARISON_TYPES = (
    "Treated vs Untreated",      # timing group k vs never treated U
    "Earlier vs Later Treated",  # k treated earlier, later group l not yet treated as control
    "Later vs Earlier Treated",  # l treated later, already-treated k as control ("forbidden")
    "Later vs Always Treated",   # l vs units treated in every period (also a "forbidden" comparison)
)


class BaconDecomposition:
    """The 2×2 comparisons behind a TWFE DiD coefficient (:func:`bacon_decomposition`).

    Attributes
    ----------
    table : DataFrame
        One row per 2×2 comparison: ``type`` (see :data:`COMPARISON_TYPES`),
        ``treated_cohort``, ``control_cohort`` (first treated period of the group; 0 =
        never treated; the always-treated group carries the first period of the panel),
        ``estimate`` (the 2×2 DiD) and ``weight`` (its share of the identifying variance;
        the weights sum to 1).
    twfe_estimate : float
        The TWFE coefficient of y on D with unit and time effects.
    identity_residual : float
        Σ weight·estimate − twfe_estimate (zero up to rounding; checked on construction).
    n_units, n_periods : int
    groups : DataFrame
        One row per treatment-timing group: ``cohort, kind, n_units, share_units,
        share_periods_treated``.
    notes : list of str
    """

    def __init__(self, table, *, twfe_estimate, groups, n_units, n_periods, notes, outcome):
        self.table = table
        self.twfe_estimate = float(twfe_estimate)
        self.groups = groups
        self.n_units = n_units
        self.n_periods = n_periods
        self.notes = list(notes)
        self.outcome = outcome
        self.weighted_sum = float((table["weight"] * table["estimate"]).sum())
        self.identity_residual = self.weighted_sum - self.twfe_estimate
        self.weights_sum = float(table["weight"].sum())

    def by_type(self) -> pd.DataFrame:
        """Weighted summary by comparison type.

        Returns
        -------
        DataFrame indexed by ``type`` with ``comparisons`` (count), ``weight`` (total),
        ``estimate`` (weight-averaged 2×2 estimate within the type) and ``contribution``
        (weight × estimate; these sum to the TWFE coefficient).
        """
        t = self.table.assign(wb=self.table["weight"] * self.table["estimate"])
        g = t.groupby("type", sort=False)
        out = pd.DataFrame({
            "comparisons": g.size(),
            "weight": g["weight"].sum(),
            "contribution": g["wb"].sum(),
        })
        out["estimate"] = out["contribution"] / out["weight"]
        order = [c for c in COMPARISON_TYPES if c in out.index]
        return out.loc[order, ["comparisons", "weight", "estimate", "contribution"]]

    def summary(self) -> str:
        """Plain-text summary: TWFE coefficient, the identity, the by-type table."""
        lines = [
            f"Goodman-Bacon decomposition of the TWFE DiD coefficient on {self.outcome}",
            f"Balanced panel: {self.n_units:,} units × {self.n_periods} periods",
            f"TWFE estimate: {self.twfe_estimate:.6f}   Σ weight × estimate: {self.weighted_sum:.6f}   "
            f"(residual {self.identity_residual:.2e}; weights sum to {self.weights_sum:.12f})",
            *self.notes,
            "",
            self.by_type().to_string(float_format=lambda v: f"{v:.4f}"),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<BaconDecomposition {len(self.table)} comparisons, TWFE = "
                f"{self.twfe_estimate:.4g}>")


def bacon_decomposition(df: pd.DataFrame, *, outcome: str, unit: str, time: str,
                        cohort: str) -> BaconDecomposition:
    """Goodman-Bacon decomposition of the TWFE DiD coefficient into 2×2 comparisons.

    The TWFE regression :math:`y_{it} = \\alpha_i + \\lambda_t + \\beta D_{it} +
    \\varepsilon_{it}`, with :math:`D_{it} = 1[t \\ge g_i]` and units grouped by first
    treated period :math:`g`, gives (Goodman-Bacon 2021, J. Econometrics 225(2),
    Theorem 1)

    .. math:: \\hat\\beta = \\sum_k s_{kU} \\hat\\beta_{kU}
              + \\sum_{k<l} \\left(s^k_{kl} \\hat\\beta^k_{kl} + s^l_{kl} \\hat\\beta^l_{kl}\\right)

    where, with group shares :math:`n_k`, shares of periods treated :math:`\\bar D_k`
    (k treated before l) and :math:`\\hat V^D` the variance of the two-way demeaned D:

    * Treated vs Untreated: :math:`\\hat\\beta_{kU}` = DiD of k against the never
      treated, all periods; :math:`s_{kU} = n_k n_U \\bar D_k(1-\\bar D_k)/\\hat V^D`;
    * Earlier vs Later Treated: k against l before l is treated;
      :math:`s^k_{kl} = n_k n_l (\\bar D_k - \\bar D_l)(1-\\bar D_k)/\\hat V^D`;
    * Later vs Earlier Treated: l against the already-treated k after k is treated
      (the "forbidden" comparison that turns effects changing over time into bias);
      :math:`s^l_{kl} = n_k n_l \\bar D_l(\\bar D_k - \\bar D_l)/\\hat V^D`;
    * Later vs Always Treated: l against units treated in every period (the last case
      with :math:`\\bar D_k = 1`).

    The weights are non-negative and sum to one, and Σ weight × estimate equals the
    TWFE coefficient; this identity is checked (to 1e-8, relative to the scale of the
    estimates) before the result is returned.

    Parameters
    ----------
    df : DataFrame
        Balanced long panel: every unit observed with an outcome in every period.
    outcome, unit, time : str
        Outcome, unit id and period columns.
    cohort : str
        First treated period of the unit (units of ``time``); 0 or missing = never
        treated; constant within a unit (the treatment is absorbing). Units whose
        cohort is after the last period count as never treated, units treated in the
        first period or before as always treated.

    Returns
    -------
    BaconDecomposition
        ``.table``, ``.by_type()``, ``.twfe_estimate``, ``.identity_residual``.

    Raises
    ------
    DataError
        Missing columns or ids, duplicate unit-period rows, non-numeric cohort or time.
    EstimationError
        Unbalanced panel or missing outcomes; a cohort that changes within a unit
        (treatment not absorbing); no treatment variation.
    """
    _require_columns(df, {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort})
    data, dropped, codes = _prepare_panel(df, unit=unit, time=time, required=[outcome], numeric=[outcome],
                                         keep=[cohort], codes=True)
    if dropped:
        raise EstimationError(
            f"{outcome} is missing in {dropped.count} row(s) (units "
            f"{', '.join(map(str, dropped.units[:8]))}{' …' if len(dropped.units) > 8 else ''}), so "
            f"the panel is not balanced. Fix: drop those units (or impute {outcome}) so that every "
            f"unit has {outcome} in every period; the decomposition needs a balanced panel.")
    for col in (time, cohort):
        s = data[col]
        if s.dtype == bool or not pd.api.types.is_numeric_dtype(s):
            raise DataError(problems=[_problem(col, f"{col} must be numeric periods, got {s.dtype}",
                                               f"convert {col} to integer periods (e.g. years)")])
    # units in sorted order from the codes of the duplicate check (no second factorisation of the ids)
    ucode, uniq_u = ids(data[unit]).sorted_from_unsorted() or pd.factorize(data[unit], sort=True)
    periods = np.sort(data[time].unique())
    tcode = np.searchsorted(periods, data[time].to_numpy())
    N, T = len(uniq_u), len(periods)
    if len(data) != N * T:
        counts = np.bincount(ucode, minlength=N)
        short = [uniq_u[i] for i in np.flatnonzero(counts < T)]
        raise EstimationError(
            f"the panel is unbalanced: {len(short)} of {N} units (by {unit}) are not observed in all "
            f"{T} periods of {time} (e.g. {', '.join(map(str, short[:5]))}). Fix: keep the units "
            f"observed in every period (a balanced subsample), or use att_gt, which allows "
            f"unbalanced panels.")
    if T < 2:
        raise EstimationError(f"{time} has a single period; a DiD needs at least two.")

    g_row = data[cohort].fillna(0).to_numpy(dtype=float)
    # one cohort per unit: its smallest and largest value agree (no group-by)
    gmin, gmax = np.full(N, np.inf), np.full(N, -np.inf)
    np.minimum.at(gmin, ucode, g_row)
    np.maximum.at(gmax, ucode, g_row)
    if (gmin != gmax).any():
        bad = [uniq_u[i] for i in np.flatnonzero(gmin != gmax)]
        raise EstimationError(
            f"{cohort} changes within unit(s) {', '.join(map(str, bad[:8]))}"
            f"{' …' if len(bad) > 8 else ''}: the treatment must be absorbing (once treated, "
            f"always treated) with one first-treatment period per unit. Fix: set {cohort} to the "
            f"unit's first treated period in every row (0 if never treated); units that leave "
            f"treatment do not fit this decomposition.")
    g_unit = np.zeros(N)
    g_unit[ucode] = g_row
    # first treated period position of each unit: 0..T-1; T = never treated in the sample
    start = np.where(g_unit > 0, np.searchsorted(periods, g_unit, side="left"), T)
    notes = []
    late = int(((g_unit > 0) & (start == T)).sum())
    if late:
        notes.append(f"Note: {late} unit(s) first treated after the last period count as never treated.")

    Y = np.empty((N, T))
    Y[ucode, tcode] = data[outcome].to_numpy(dtype=float)
    D = (np.arange(T)[None, :] >= start[:, None]).astype(float)
    if D.sum() == 0:
        raise EstimationError(f"no treated observation: every unit has {cohort} 0, missing or after "
                              f"the last period. Fix: check the cohort coding.")
    Dt = D - D.mean(axis=1, keepdims=True) - D.mean(axis=0, keepdims=True) + D.mean()
    VD = float((Dt ** 2).sum())
    if VD <= 1e-12 * N * T:
        raise EstimationError(
            "the treatment has no variation left after unit and time effects (all treated units "
            "start in the same period with no never-treated units, or every unit is treated from "
            "the first period). Fix: include never-treated units or units treated at other times.")
    beta = float((Dt * Y).sum() / VD)
    VD /= N * T

    # groups by first treated position
    gs, gsize = np.unique(start, return_counts=True)
    means = {s: Y[start == s].mean(axis=0) for s in gs}
    share = {s: c / N for s, c in zip(gs, gsize, strict=True)}
    dbar = {s: (T - s) / T for s in gs}
    label = {s: (0 if s == T else periods[s].item()) for s in gs}
    kinds = {s: "never treated" if s == T else "always treated" if s == 0 else "timing" for s in gs}
    timing = [s for s in gs if 0 < s < T]

    def did(tr, co, pre, post):
        a, b = means[tr], means[co]
        return (a[post].mean() - a[pre].mean()) - (b[post].mean() - b[pre].mean())

    idx = np.arange(T)
    rows = []
    if T in share:
        for k in timing:
            w = share[k] * share[T] * dbar[k] * (1 - dbar[k]) / VD
            est = did(k, T, idx < k, idx >= k)
            rows.append(("Treated vs Untreated", label[k], 0, est, w))
    for i, k in enumerate(timing):  # k earlier
        for ell in timing[i + 1:]:   # ell later
            nk = share[k] * share[ell]
            w_k = nk * (dbar[k] - dbar[ell]) * (1 - dbar[k]) / VD
            est_k = did(k, ell, idx < k, (idx >= k) & (idx < ell))
            rows.append(("Earlier vs Later Treated", label[k], label[ell], est_k, w_k))
            w_l = nk * dbar[ell] * (dbar[k] - dbar[ell]) / VD
            est_l = did(ell, k, (idx >= k) & (idx < ell), idx >= ell)
            rows.append(("Later vs Earlier Treated", label[ell], label[k], est_l, w_l))
    if 0 in share:
        for ell in timing:
            w = share[0] * share[ell] * dbar[ell] * (1 - dbar[ell]) / VD
            est = did(ell, 0, idx < ell, idx >= ell)
            rows.append(("Later vs Always Treated", label[ell], label[0], est, w))
    table = pd.DataFrame(rows, columns=["type", "treated_cohort", "control_cohort", "estimate", "weight"])
    order = table["type"].map({t: i for i, t in enumerate(COMPARISON_TYPES)})
    table = (table.assign(_o=order).sort_values(["_o", "treated_cohort", "control_cohort"], kind="stable")
             .drop(columns="_o").reset_index(drop=True))
    groups = pd.DataFrame({
        "cohort": [label[s] for s in gs], "kind": [kinds[s] for s in gs],
        "n_units": gsize, "share_units": [share[s] for s in gs],
        "share_periods_treated": [dbar[s] for s in gs],
    })
    res = BaconDecomposition(table, twfe_estimate=beta, groups=groups, n_units=N, n_periods=T,
                             notes=notes, outcome=outcome)
    scale = max(1.0, abs(beta), float(table["estimate"].abs().max()))
    if abs(res.identity_residual) > 1e-8 * scale or abs(res.weights_sum - 1) > 1e-8:
        raise EstimationError(  # pragma: no cover - would be a bug in this module
            f"internal check failed: Σ weight × estimate = {res.weighted_sum!r} but the TWFE "
            f"coefficient is {beta!r} (weights sum to {res.weights_sum!r}). Please report this.")
    return res
