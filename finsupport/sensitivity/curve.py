"""The specification curve: every specification's number, sorted, with the options beneath.

After Simonsohn, Simmons & Nelson (2020), "Specification curve analysis", *Nature Human
Behaviour* 4, 1208–1214: the upper panel shows the estimates sorted from smallest to
largest with their intervals and the chosen (base) specification marked; the lower
panel marks, for each specification, the value of every option that varies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_specification_curve", "WHAT"]

#: what a curve can show: column, words for the axis, multiplier for display
WHAT = {
    "effect": ("estimate", "Effect (percentage points of revenue)", 100.0),
    "share": ("share", "Support, % of revenue (pooled)", 100.0),
}


def plot_specification_curve(table: pd.DataFrame, options: list[str], *, what: str = "effect", ax=None,
                             title: str = "", level: float = 0.95):
    """Draw the curve from a sensitivity table; returns the Figure.

    ``table`` is :meth:`SensitivityResult.tidy`; ``options`` the option columns that
    vary (one row of markers each). Effects are drawn in percentage points of revenue
    when the outcome is a share, shares in percent.
    """
    from matplotlib.figure import Figure

    col, label, scale = WHAT[what]
    t = table[table[col].notna()].sort_values(col, kind="mergesort").reset_index(drop=True)
    if what == "effect" and not t["outcome"].astype(str).str.endswith("share").all():
        label, scale = "Effect (units of the outcome)", 1.0
    if ax is None:
        n_rows = sum(t[o].astype(str).nunique() for o in options) or 1
        fig = Figure(figsize=(max(6.5, 0.12 * len(t) + 4), 3.5 + 0.18 * n_rows), dpi=100)
        ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3.5, 0.18 * n_rows + 0.3]})
    else:
        fig, ax2 = ax.figure, None
    xs = np.arange(len(t))
    y = t[col].to_numpy(float) * scale
    base = t["is_base"].to_numpy(bool)
    if what == "effect":
        lo, hi = t["conf_low"].to_numpy(float) * scale, t["conf_high"].to_numpy(float) * scale
        ax.vlines(xs, lo, hi, color="0.6", linewidth=1.2, label=f"{level:.0%} confidence interval")
        ax.axhline(0.0, color="black", linewidth=0.8)
    ax.plot(xs[~base], y[~base], "o", color="C0", markersize=4, label="specification")
    if base.any():
        ax.plot(xs[base], y[base], "D", color="C3", markersize=7, label="chosen specification")
    ax.set_ylabel(label)
    ax.set_xlim(-0.7, len(t) - 0.3)
    ax.set_xticks([])
    ax.set_title(title or f"Specification curve: {len(t)} specifications, sorted")
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    if ax2 is not None:
        rows = []
        for o in options:
            for v in pd.unique(t[o].astype(str)):
                rows.append((o, v))
        for j, (o, v) in enumerate(rows):
            on = t[o].astype(str).to_numpy() == v
            ax2.plot(xs[on], np.full(on.sum(), j), "s", color="C0", markersize=3)
            ax2.plot(xs[~on], np.full((~on).sum(), j), "s", color="0.9", markersize=3)
        ax2.set_yticks(range(len(rows)))
        ax2.set_yticklabels([f"{o.replace('_', ' ')} = {v}" for o, v in rows], fontsize="x-small")
        ax2.set_ylim(len(rows) - 0.5, -0.5)
        ax2.set_xlim(ax.get_xlim())
        ax2.set_xticks([])
        ax2.set_xlabel("specifications, sorted by the number above")
        for s in ("top", "right", "bottom"):
            ax2.spines[s].set_visible(False)
    fig.tight_layout()
    return fig
