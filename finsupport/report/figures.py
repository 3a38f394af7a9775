"""Figures of the report as PNG and PDF files (matplotlib, no global state).

Every figure is titled in words, its axes say their unit (shares of revenue in %,
effects on shares in percentage points), its intervals say whether they are pointwise
or uniform, panels that compare cohorts share one scale, and the true effect is drawn
when the data are synthetic. Event times without observations are left off the axis.
The same tables feed the workbook's native charts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.layout_engine import PlaceHolderLayoutEngine, TightLayoutEngine

__all__ = ["support_over_time", "share_distribution", "audit_failures", "effect_profile", "effects_by_cohort", "warm_up",
           "specification_curve", "save_figure"]

_PALETTE = ("#1F4E79", "#C55A11", "#7F7F7F", "#548235", "#BF9000", "#7030A0")
_TRUTH = "#C00000"


#: zlib level of the PNG files: level 3 writes them in about 60% of the time of the default 6,
#: about 12% larger (measured on the report's figures)
PNG_COMPRESS_LEVEL = 3


def _fit(fig: Figure) -> Figure:
    """Lay ``fig`` out once: every label inside the figure and none over another (tight layout).

    The layout is computed here, as ``Figure.tight_layout`` computes it, but not left
    attached to the figure: ``savefig`` then draws each file once. (A figure that keeps a
    layout engine, even the placeholder ``tight_layout`` leaves, is drawn twice per file,
    and ``bbox_inches="tight"`` draws once more: five passes over every artist for a PNG
    and a PDF where three do.)
    """
    TightLayoutEngine(rect=None).execute(fig)
    return fig


def save_figure(fig: Figure, folder: Path, stem: str, formats) -> dict[str, Path]:
    """Write ``fig`` as ``<stem>.<fmt>`` for each format, without dates in the files (byte-stable).

    The figure is laid out already (:func:`_fit`), so each file is one draw; the page is
    the figure's size, its margins those of the layout.
    """
    if isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine):
        fig.set_layout_engine(None)   # laid out by ``tight_layout`` elsewhere: nothing to lay out again per file
    out = {}
    for fmt in formats:
        p = Path(folder) / f"{stem}.{fmt}"
        if fmt == "png":
            opts = {"metadata": {"Software": None}, "pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}}
        else:
            opts = {"metadata": {"Creator": None, "Producer": None, "CreationDate": None}}
        fig.savefig(p, format=fmt, dpi=150, **opts)
        out[fmt] = p
    return out


def warm_up() -> None:
    """Draw a small figure as PNG and PDF in memory: loads the fonts, the glyph caches and the
    PNG and PDF writers once, before the first figure of a run (the figure process calls it
    while the run reads its data)."""
    import io

    t = pd.DataFrame({"x": [-1.0, 0.0, 1.0], "estimate": [0.0, 1.0, 2.0], "conf_low": [-1.0, 0.0, 1.0],
                      "conf_high": [1.0, 2.0, 3.0]})
    fig = effect_profile(t, x="x", title="warm-up 0123456789", x_label="x", y_label="y", interval="95%")
    for fmt in ("png", "pdf"):
        fig.savefig(io.BytesIO(), format=fmt, dpi=150)


def support_over_time(wide: pd.DataFrame, groups: dict[str, list[tuple[str, str]]], *, title: str) -> Figure:
    """Stacked columns of support by component over the years, one panel per group, one scale.

    Parameters
    ----------
    wide : DataFrame
        ``year`` and one column per (group, component) of pooled shares (fractions).
    groups : dict
        Panel title → [(column, component label)] in stacking order.
    title : str
        Figure title.
    """
    fig = Figure(figsize=(4.2 * len(groups) + 1, 4.2))
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)[0]
    years = wide["year"].astype(int).to_numpy()
    for ax, (name, cols) in zip(axes, groups.items(), strict=True):
        bottom = np.zeros(len(wide))
        for k, (col, label) in enumerate(cols):
            v = wide[col].fillna(0).to_numpy(float) * 100
            ax.bar(years, v, bottom=bottom, color=_PALETTE[k % len(_PALETTE)], label=label, width=0.7)
            bottom += v
        ax.set_title(name, fontsize=10)
        ax.set_xticks(years)
        ax.tick_params(axis="x", rotation=45)
        ax.set_xlabel("year")
        ax.grid(axis="y", color="#D9D9D9")
        ax.set_axisbelow(True)
    axes[0].set_ylabel("support, % of revenue (pooled: Σ support / Σ revenue)")
    axes[-1].legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=11)
    return _fit(fig)


def share_distribution(dist: pd.DataFrame, *, title: str, first: str, second: str) -> Figure:
    """Side-by-side columns: % of each group's firms in each support-share range."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    x = np.arange(len(dist))
    ax.bar(x - 0.2, dist["pct_headline"] * 100, width=0.4, color=_PALETTE[0], label=first)
    ax.bar(x + 0.2, dist["pct_other"] * 100, width=0.4, color=_PALETTE[1], label=second)
    ax.set_xticks(x, dist["bin"], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("firm's support share of revenue (Σ support / Σ revenue over the years), %")
    ax.set_ylabel("% of the group's firms")
    ax.legend(fontsize=8)
    ax.grid(axis="y", color="#D9D9D9")
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=11)
    return _fit(fig)


def audit_failures(by_test: pd.DataFrame, *, title: str) -> Figure:
    """Horizontal bars: firms missing each criterion (and firms the data cannot judge)."""
    fig = Figure(figsize=(8, 0.45 * len(by_test) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(by_test))
    ax.barh(y, by_test["failing_firms"], color=_TRUTH, label="miss the criterion")
    ax.barh(y, by_test["untestable_firms"], left=by_test["failing_firms"], color="#BFBFBF",
            label="cannot be judged (missing data)")
    for yi, v in zip(y, by_test["failing_firms"], strict=True):
        ax.text(v + 0.2, yi, f"{int(v)}", va="center", fontsize=8)
    ax.set_yticks(y, by_test["test"])
    ax.invert_yaxis()
    ax.set_xlabel("certified firms")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=11)
    return _fit(fig)


def effect_profile(t: pd.DataFrame, *, x: str, title: str, x_label: str, y_label: str, interval: str,
                   truth: str | None = None) -> Figure:
    """Point estimates with their interval over event time (or years), zero line and the truth.

    ``t`` holds ``x``, ``estimate``, ``conf_low``, ``conf_high`` (already in the unit of
    ``y_label``) and optionally ``truth``; rows without an estimate are left off.
    """
    t = t[t["estimate"].notna() & t[x].notna()].sort_values(x)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    xs = t[x].to_numpy(float)
    ax.axhline(0, color="#000000", lw=0.8)
    ax.errorbar(xs, t["estimate"], yerr=[t["estimate"] - t["conf_low"], t["conf_high"] - t["estimate"]],
                fmt="o", color=_PALETTE[0], ecolor=_PALETTE[0], capsize=3, label=f"estimate, {interval}")
    if truth is not None and truth in t and t[truth].notna().any():
        ax.plot(xs, t[truth], "D", color=_TRUTH, ms=5, label="true effect (synthetic data)")
    ticks = [f"{int(v)}" for v in xs]
    if "binned" in t:   # end bins pool the event times beyond them: say so on the axis
        ticks = [(f"≤ {int(v)}" if v < 0 else f"≥ {int(v)}") if b else f"{int(v)}"
                 for v, b in zip(xs, t["binned"].fillna(False).astype(bool), strict=True)]
    ax.set_xticks(xs, ticks)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(axis="y", color="#D9D9D9")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=11)
    return _fit(fig)


def effects_by_cohort(t: pd.DataFrame, *, title: str, y_label: str, interval: str,
                      truth: str | None = None) -> Figure:
    """Group-time effects, one panel per cohort on a common scale, with the truth."""
    t = t[t["estimate"].notna()]
    cohorts = sorted(t["cohort"].unique())
    fig = Figure(figsize=(3.4 * len(cohorts) + 1, 4.0))
    axes = fig.subplots(1, len(cohorts), sharey=True, squeeze=False)[0]
    for ax, g in zip(axes, cohorts, strict=True):
        d = t[t["cohort"] == g].sort_values("time")
        xs = d["time"].to_numpy(float)
        ax.axhline(0, color="#000000", lw=0.8)
        ax.axvline(g - 0.5, color="#7F7F7F", lw=0.8, ls=":")
        ax.errorbar(xs, d["estimate"], yerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                    fmt="o", color=_PALETTE[0], capsize=3, label=f"estimate, {interval}")
        if truth is not None and truth in d and d[truth].notna().any():
            ax.plot(xs, d[truth], "D", color=_TRUTH, ms=4, label="true effect (synthetic data)")
        ax.set_title(f"first certified in {int(g)}", fontsize=9)
        ax.set_xticks(xs)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        ax.set_xlabel("year")
        ax.grid(axis="y", color="#D9D9D9")
    axes[0].set_ylabel(y_label)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=11)
    return _fit(fig)


def specification_curve(table: pd.DataFrame, options: list[str], *, what: str, level: float) -> Figure:
    """The specification curve of the Sensitivity sheet
    (:func:`finsupport.sensitivity.curve.plot_specification_curve`)."""
    from ..sensitivity.curve import plot_specification_curve

    return plot_specification_curve(table, options, what=what, level=level)
