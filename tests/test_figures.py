"""The report's figures: what each one plots (bars, points, intervals, ticks, labels), that
every label lies inside the saved page, and that each file is drawn once.

The files' bytes are not compared with earlier versions (any change to matplotlib or to the
layout changes them); the content is: every number and every word a reader sees.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from finsupport.report import figures


def _fits(fig) -> None:
    """Every artist's extent (ticks, labels, titles, legend) lies inside the figure."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(150)
    canvas.draw()
    box = fig.get_tightbbox(canvas.get_renderer())   # inches
    assert box.x0 >= -1e-6 and box.y0 >= -1e-6, box
    assert box.x1 <= fig.get_figwidth() + 1e-6 and box.y1 <= fig.get_figheight() + 1e-6, (box, fig.get_size_inches())


def _bars(ax) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of each bar in drawing order."""
    return [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches]


def _ticks(labels) -> list[str]:
    return [t.get_text() for t in labels]


def _legend(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


def test_support_over_time_stacks_each_component_in_percent_on_one_scale():
    wide = pd.DataFrame({"year": [2016, 2017, 2018], "a_sub": [0.01, 0.02, 0.03], "a_eq": [0.005, np.nan, 0.01],
                         "b_sub": [0.02, 0.02, 0.02], "b_eq": [0.0, 0.001, 0.002]})
    groups = {"Certified firms": [("a_sub", "Subsidies"), ("a_eq", "Equity")],
              "Other firms": [("b_sub", "Subsidies"), ("b_eq", "Equity")]}
    fig = figures.support_over_time(wide, groups, title="Support over time")
    left, right = fig.axes
    assert fig.get_suptitle() == "Support over time"
    assert [left.get_title(), right.get_title()] == ["Certified firms", "Other firms"]
    # subsidies from 0, equity on top of them (a missing share counts as 0), in % of revenue
    bars = _bars(left)
    np.testing.assert_allclose([b[3] for b in bars], [1, 2, 3, 0.5, 0, 1])
    np.testing.assert_allclose([b[1] for b in bars], [0, 0, 0, 1, 2, 3])
    np.testing.assert_allclose([b[0] + b[2] / 2 for b in bars], [2016, 2017, 2018] * 2)
    np.testing.assert_allclose([b[3] for b in _bars(right)], [2, 2, 2, 0, 0.1, 0.2])
    assert left.get_shared_y_axes().joined(left, right)
    assert _ticks(left.get_xticklabels()) == ["2016", "2017", "2018"]
    assert left.get_ylabel().startswith("support, % of revenue") and left.get_xlabel() == "year"
    assert _legend(right) == ["Subsidies", "Equity"]
    _fits(fig)


def test_share_distribution_puts_both_groups_side_by_side_in_percent():
    dist = pd.DataFrame({"bin": ["0–1%", "1–2%", "≥ 2%"], "pct_headline": [0.5, 0.3, 0.2],
                         "pct_other": [0.7, 0.2, 0.1]})
    fig = figures.share_distribution(dist, title="Firms by share", first="Headline", second="Other")
    ax, = fig.axes
    bars = _bars(ax)
    np.testing.assert_allclose([b[3] for b in bars], [50, 30, 20, 70, 20, 10])
    np.testing.assert_allclose([b[0] + b[2] / 2 for b in bars], [-0.2, 0.8, 1.8, 0.2, 1.2, 2.2])
    assert _ticks(ax.get_xticklabels()) == ["0–1%", "1–2%", "≥ 2%"]
    assert _legend(ax) == ["Headline", "Other"]
    assert ax.get_title() == "Firms by share" and ax.get_ylabel() == "% of the group's firms"
    _fits(fig)


def test_audit_failures_shows_failing_then_untestable_firms_per_criterion():
    by_test = pd.DataFrame({"test": ["revenue", "R&D share", "patents"], "failing_firms": [3, 5, 1],
                            "untestable_firms": [0, 2, 4]})
    fig = figures.audit_failures(by_test, title="Criteria")
    ax, = fig.axes
    bars = _bars(ax)
    np.testing.assert_allclose([b[2] for b in bars], [3, 5, 1, 0, 2, 4])        # widths: firms
    np.testing.assert_allclose([b[0] for b in bars], [0, 0, 0, 3, 5, 1])        # untestable after failing
    assert _ticks(ax.get_yticklabels()) == ["revenue", "R&D share", "patents"]
    assert ax.yaxis_inverted()                                                   # first criterion on top
    assert [t.get_text() for t in ax.texts] == ["3", "5", "1"]
    assert _legend(ax) == ["miss the criterion", "cannot be judged (missing data)"]
    _fits(fig)


def _errorbar(ax):
    """The first errorbar container's points and interval ends."""
    data_line, _caps, (bars,) = ax.containers[0].lines
    x, y = data_line.get_data()
    segs = bars.get_segments()
    return np.asarray(x, float), np.asarray(y, float), np.array([[s[0][1], s[1][1]] for s in segs])


def test_effect_profile_plots_estimates_intervals_truth_and_binned_ends():
    t = pd.DataFrame({"event_time": [2, -2, 0, 1, -1, 3], "estimate": [3.0, -0.5, 1.0, 2.0, np.nan, 2.5],
                      "conf_low": [2.0, -1.5, 0.0, 1.0, np.nan, 1.0], "conf_high": [4.0, 0.5, 2.0, 3.0, np.nan, 4.0],
                      "true_effect": [3.0, 0.0, 1.0, 2.0, 0.0, 3.0],
                      "binned": [False, True, False, False, False, True]})
    fig = figures.effect_profile(t, x="event_time", title="Effect\nby year", x_label="years since",
                                 y_label="pp", interval="95% pointwise interval", truth="true_effect")
    ax, = fig.axes
    x, y, ci = _errorbar(ax)
    np.testing.assert_allclose(x, [-2, 0, 1, 2, 3])                # sorted; the row without an estimate left off
    np.testing.assert_allclose(y, [-0.5, 1.0, 2.0, 3.0, 2.5])
    np.testing.assert_allclose(ci, [[-1.5, 0.5], [0, 2], [1, 3], [2, 4], [1, 4]])
    truth = [ln for ln in ax.lines if ln.get_label() == "true effect (synthetic data)"]
    np.testing.assert_allclose(truth[0].get_ydata(), [0.0, 1.0, 2.0, 3.0, 3.0])
    assert _ticks(ax.get_xticklabels()) == ["≤ -2", "0", "1", "2", "≥ 3"]
    assert [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] == ["Effect\nby year", "years since", "pp"]
    assert _legend(ax) == ["true effect (synthetic data)", "estimate, 95% pointwise interval"]
    zero = [ln for ln in ax.lines if list(ln.get_ydata()) == [0, 0]]
    assert zero, "the zero line"
    _fits(fig)


def test_effects_by_cohort_draws_one_panel_per_cohort_with_its_years():
    rows = []
    for g in (2018, 2019):
        for year in range(2016, 2020):
            rows.append({"cohort": g, "time": year, "estimate": (year - g + 1) * 0.5,
                         "conf_low": (year - g + 1) * 0.5 - 0.2, "conf_high": (year - g + 1) * 0.5 + 0.2,
                         "att_true": max(year - g + 1, 0) * 0.5})
    t = pd.DataFrame(rows)
    t.loc[(t["cohort"] == 2019) & (t["time"] == 2016), "estimate"] = np.nan   # left off
    fig = figures.effects_by_cohort(t, title="By cohort", y_label="pp", interval="95% uniform band",
                                    truth="att_true")
    a, b = fig.axes
    assert fig.get_suptitle() == "By cohort"
    assert [a.get_title(), b.get_title()] == ["first certified in 2018", "first certified in 2019"]
    x, y, ci = _errorbar(a)
    np.testing.assert_allclose(x, [2016, 2017, 2018, 2019])
    np.testing.assert_allclose(y, [-0.5, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(ci[:, 1] - ci[:, 0], 0.4)
    x, y, _ = _errorbar(b)
    np.testing.assert_allclose(x, [2017, 2018, 2019])
    assert _ticks(b.get_xticklabels()) == ["2017", "2018", "2019"]
    # the certification year is marked half a year before the cohort's first treated year
    marks = [ln.get_xdata()[0] for ln in b.lines if ln.get_linestyle() == ":"]
    assert marks == [2018.5]
    truth = [ln for ln in a.lines if ln.get_label() == "true effect (synthetic data)"]
    np.testing.assert_allclose(truth[0].get_ydata(), [0.0, 0.0, 0.5, 1.0])
    assert a.get_shared_y_axes().joined(a, b) and a.get_ylabel() == "pp"
    assert _legend(a) == ["true effect (synthetic data)", "estimate, 95% uniform band"]
    _fits(fig)


def test_save_figure_writes_each_format_once_at_the_figure_size(tmp_path, monkeypatch):
    t = pd.DataFrame({"event_time": [-1, 0, 1], "estimate": [0.0, 1.0, 2.0], "conf_low": [-1.0, 0.0, 1.0],
                      "conf_high": [1.0, 2.0, 3.0]})
    fig = figures.effect_profile(t, x="event_time", title="t", x_label="x", y_label="y", interval="95%")
    assert fig.get_layout_engine() is None      # laid out once, nothing to lay out again per file
    draws = []
    original = type(fig).draw
    monkeypatch.setattr(type(fig), "draw", lambda self, renderer: (draws.append(type(renderer).__name__),
                                                                   original(self, renderer))[1])
    out = figures.save_figure(fig, tmp_path, "profile", ["png", "pdf"])
    assert sorted(out) == ["pdf", "png"] and len(draws) == 2, draws
    png = Image.open(out["png"])
    assert png.size == (round(7.5 * 150), round(4.2 * 150))
    assert len(np.unique(np.asarray(png.convert("L")))) > 10      # not a blank page
    assert out["pdf"].read_bytes().startswith(b"%PDF") and b"CreationDate" not in out["pdf"].read_bytes()
    # byte-stable: the same figure twice gives the same files
    again = figures.save_figure(fig, tmp_path / "..", "profile_again", ["png", "pdf"])
    assert again["png"].read_bytes() == out["png"].read_bytes()
    assert again["pdf"].read_bytes() == out["pdf"].read_bytes()


def test_a_figure_laid_out_elsewhere_is_drawn_once_per_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("from elsewhere")
    fig.tight_layout()                            # leaves a placeholder layout engine behind
    draws = []
    original = type(fig).draw
    monkeypatch.setattr(type(fig), "draw", lambda self, renderer: (draws.append(1), original(self, renderer))[1])
    figures.save_figure(fig, tmp_path, "x", ["png"])
    assert len(draws) == 1
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()


def test_png_compression_is_lossless(tmp_path):
    t = pd.DataFrame({"event_time": [-1, 0, 1], "estimate": [0.0, 1.0, 2.0], "conf_low": [-1.0, 0.0, 1.0],
                      "conf_high": [1.0, 2.0, 3.0]})
    fig = figures.effect_profile(t, x="event_time", title="t", x_label="x", y_label="y", interval="95%")
    out = figures.save_figure(fig, tmp_path, "p", ["png"])
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(150)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())
    np.testing.assert_array_equal(np.asarray(Image.open(out["png"]).convert("RGBA")), pixels)
