"""Figures of estimation results, drawn on a given matplotlib Axes.

One module draws every estimator's figure. Each function takes ``ax=`` (draw there) or
creates a :class:`matplotlib.figure.Figure` itself; pyplot is never imported, no
backend is switched and no global state is touched, so the functions work in scripts,
notebooks and servers alike. Each returns the Figure it drew on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["new_axes", "plot_coefficients", "plot_event_study", "plot_att_gt", "plot_honest_did"]


def new_axes(figsize=(7, 4), nrows: int = 1):
    """A new Figure (not registered with pyplot) and its axes (a list when ``nrows`` > 1)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100)
    if nrows == 1:
        return fig, fig.add_subplot(1, 1, 1)
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, list(axes)


def plot_coefficients(tidy: pd.DataFrame, *, ax=None, title: str = "", ylabel: str = "",
                      level: float = 0.95, x: str | None = None):
    """Point estimates with interval bars from a ``tidy()`` table.

    With ``x`` (or an ``event_time`` column) the estimates are drawn against that column
    as a line with a shaded band; otherwise one point per term.
    """
    if ax is None:
        fig, ax = new_axes()
    fig = ax.figure
    t = tidy[tidy["estimate"].notna()]
    xcol = x or ("event_time" if "event_time" in t and t["event_time"].notna().all() else None)
    if xcol is not None:
        t = t.sort_values(xcol)
        xs = t[xcol].to_numpy(dtype=float)
        ax.fill_between(xs, t["conf_low"].to_numpy(dtype=float), t["conf_high"].to_numpy(dtype=float),
                        alpha=0.25, color="C0", linewidth=0, label=f"{level:.0%} confidence interval")
        ax.plot(xs, t["estimate"].to_numpy(dtype=float), marker="o", color="C0", label="estimate")
        ax.set_xlabel(xcol.replace("_", " "))
    else:
        xs = np.arange(len(t))
        est = t["estimate"].to_numpy(dtype=float)
        ax.errorbar(xs, est, yerr=[est - t["conf_low"].to_numpy(dtype=float),
                                   t["conf_high"].to_numpy(dtype=float) - est],
                    fmt="o", color="C0", capsize=3, label=f"estimate, {level:.0%} interval")
        ax.set_xticks(xs)
        ax.set_xticklabels(t["term"].tolist(), rotation=45 if len(t) > 6 else 0, ha="right" if len(t) > 6 else "center")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig


def plot_event_study(tidy: pd.DataFrame, *, window: tuple[int, int], reference: int, ax=None,
                     title: str = "", xlabel: str = "", ylabel: str = "", level: float = 0.95,
                     binned: bool = True):
    """Event-study chart: coefficients with a band, zero line, treatment onset, binned end points.

    ``tidy`` needs ``event_time, estimate, conf_low, conf_high, reference`` (the
    reference row has estimate 0 and is drawn as an open marker).
    """
    if ax is None:
        fig, ax = new_axes()
    fig = ax.figure
    tab = tidy[tidy["event_time"].notna() & tidy["estimate"].notna()].sort_values("event_time")
    x = tab["event_time"].to_numpy(dtype=float)
    lo_ci = tab["conf_low"].to_numpy(dtype=float)
    hi_ci = tab["conf_high"].to_numpy(dtype=float)
    ref_mask = tab["reference"].to_numpy(dtype=bool)
    lo_ci = np.where(ref_mask, 0.0, lo_ci)
    hi_ci = np.where(ref_mask, 0.0, hi_ci)
    ax.fill_between(x, lo_ci, hi_ci, alpha=0.25, color="C0", linewidth=0,
                    label=f"{level:.0%} confidence interval")
    ax.plot(x, tab["estimate"].to_numpy(dtype=float), marker="o", color="C0", label="estimate")
    ref = tab[ref_mask]
    ax.plot(ref["event_time"], ref["estimate"], marker="o", linestyle="none", markerfacecolor="white",
            color="C0", label=f"reference (e = {reference})")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linestyle="--", linewidth=0.8)
    lo, hi = window
    ticks = list(range(lo, hi + 1))
    if len(ticks) > 16:  # long panels: label every other event time
        ticks = [t for t in ticks if (t - lo) % 2 == 0 or t == hi]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"≤{t}" if binned and t == lo else f"≥{t}" if binned and t == hi else str(t)
                        for t in ticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig


def plot_att_gt(tidy: pd.DataFrame, *, ax=None, title: str = "", level: float = 0.95):
    """ATT(g,t) by cohort: pre-treatment cells blue, post-treatment cells red.

    ``ax`` may be one Axes (every cohort on it, shifted slightly so the bars do not
    overlap) or a sequence of Axes, one per cohort; without ``ax`` a new figure gets one
    panel per cohort.
    """
    groups = sorted(tidy["cohort"].unique())
    if ax is None:
        fig, axes = new_axes(figsize=(7, 2.2 * len(groups)), nrows=len(groups))
        axes = axes if isinstance(axes, list) else [axes]
    elif isinstance(ax, Sequence) or isinstance(ax, np.ndarray):
        axes = list(np.ravel(ax))
        if len(axes) != len(groups):
            from ..errors import EstimationError

            raise EstimationError(f"plot got {len(axes)} axes for {len(groups)} cohorts; pass one Axes "
                                  f"or one per cohort")
        fig = axes[0].figure
    else:
        axes = [ax] * len(groups)
        fig = ax.figure
    shared = len(set(map(id, axes))) == 1
    for i, (a, g) in enumerate(zip(axes, groups, strict=True)):
        d = tidy[(tidy["cohort"] == g) & tidy["estimate"].notna()]
        shift = (i - (len(groups) - 1) / 2) * 0.08 if shared else 0.0
        xs = d["time"].to_numpy(dtype=float) + shift
        est = d["estimate"].to_numpy(dtype=float)
        lo = np.nan_to_num(est - d["conf_low"].to_numpy(dtype=float))
        hi = np.nan_to_num(d["conf_high"].to_numpy(dtype=float) - est)
        colors = np.where(d["post"].to_numpy(dtype=bool), "#b2182b", "#2166ac")
        a.errorbar(xs, est, yerr=[lo, hi], fmt="none", ecolor="grey", elinewidth=1, capsize=2)
        a.scatter(xs, est, c=colors, s=18, zorder=3, marker="os^dv<>"[i % 7] if shared else "o",
                  label=f"cohort {g}" if shared else None)
        a.axhline(0, color="black", lw=0.8)
        if not shared:
            a.set_title(f"cohort {g}", fontsize=9, loc="left")
    axes[-1].set_xlabel("period")
    if shared:
        axes[0].legend(loc="best", fontsize="small", frameon=False)
        axes[0].set_title(title + f" (blue: pre, red: post; {level:.0%} intervals)", fontsize=10)
    else:
        fig.suptitle(title + f" (blue: pre, red: post; {level:.0%} intervals)", fontsize=10)
        fig.tight_layout()
    return fig


def plot_honest_did(tidy: pd.DataFrame, *, ax=None, title: str = "", parameter: str = "Mbar", ylabel: str = "",
                    breakdown: float | None = None):
    """Robust confidence sets against the restriction's parameter, the original interval at the left.

    ``tidy`` is :meth:`~finsupport.estimate.honest.HonestDidResult.tidy`: the row with
    ``restriction == "parallel trends"`` is the original interval (drawn in grey left of
    the grid), the others are the robust sets at ``value``. Unbounded sets are drawn to
    the edge of the axes. The breakdown value, when finite and positive, is a dotted line.
    """
    if ax is None:
        fig, ax = new_axes()
    fig = ax.figure
    orig = tidy[tidy["restriction"] == "parallel trends"]
    rob = tidy[tidy["restriction"] != "parallel trends"].sort_values("value")
    xs = rob["value"].to_numpy(dtype=float)
    step = float(np.min(np.diff(xs))) if len(xs) > 1 else 1.0
    lo, hi = rob["conf_low"].to_numpy(dtype=float), rob["conf_high"].to_numpy(dtype=float)
    finite = np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], orig[["conf_low", "conf_high"]].to_numpy().ravel()])
    span = (finite.min(), finite.max()) if len(finite) else (-1.0, 1.0)
    pad = 0.05 * (span[1] - span[0] or 1.0)
    lo_d = np.where(np.isfinite(lo), lo, span[0] - pad)
    hi_d = np.where(np.isfinite(hi), hi, span[1] + pad)
    ax.vlines(xs, lo_d, hi_d, color="C0", linewidth=2.5, label=f"robust set ({rob['ci_method'].iloc[0]})"
              if len(rob) else None)
    if len(orig):
        x0 = (xs.min() if len(xs) else 0.0) - step
        ax.vlines([x0], orig["conf_low"], orig["conf_high"], color="grey", linewidth=2.5,
                  label="parallel trends")
        ax.plot([x0], orig["estimate"], marker="o", color="grey")
    if breakdown is not None and np.isfinite(breakdown) and breakdown > 0:
        ax.axvline(breakdown, color="C3", linestyle=":", linewidth=1, label=f"breakdown {parameter} = {breakdown:.3g}")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(parameter)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig
