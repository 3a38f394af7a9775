"""The figures drawn in a second process are the files the run's own process would draw,
and a worker that cannot draw never costs a figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from finsupport.report import figure_worker
from finsupport.report.figure_worker import FigureJob, draw_here


def _jobs() -> list[FigureJob]:
    t = pd.DataFrame({"event_time": np.arange(-3, 4), "estimate": np.linspace(-0.5, 2.0, 7),
                      "conf_low": np.linspace(-1.0, 1.0, 7), "conf_high": np.linspace(0.0, 3.0, 7)})
    by_test = pd.DataFrame({"test": ["revenue", "R&D share", "patents"], "failing_firms": [3, 5, 1],
                            "untestable_firms": [0, 2, 4]})
    return [
        FigureJob("profile", "effect_profile", (t,), {"x": "event_time", "title": "An effect\nby year",
                                                      "x_label": "years", "y_label": "pp", "interval": "95%"}),
        FigureJob("audit", "audit_failures", (by_test,), {"title": "Criteria"}),
    ]


def _draw(worker, folder: Path) -> tuple[dict[str, Path], str | None]:
    folder.mkdir()
    out: dict[str, Path] = {}
    jobs = _jobs()
    assert worker.submit(jobs, folder, ["png", "pdf"])
    why = worker.collect(out.__setitem__)
    return out, why


def test_the_worker_writes_the_same_bytes_as_this_process(tmp_path):
    worker = figure_worker.start()
    if worker is None:
        pytest.skip("one core: the figures are always drawn in the run's process")
    out, why = _draw(worker, tmp_path / "worker")
    assert why is None
    assert worker.seconds is not None and worker.seconds > 0
    here: dict[str, Path] = {}
    (tmp_path / "here").mkdir()
    draw_here(_jobs(), tmp_path / "here", ["png", "pdf"], here.__setitem__)
    assert sorted(out) == sorted(here) == ["audit_pdf", "audit_png", "profile_pdf", "profile_png"]
    for k in here:
        assert out[k].read_bytes() == here[k].read_bytes(), k


def test_a_worker_that_dies_leaves_the_figures_to_this_process(tmp_path):
    worker = figure_worker.start()
    if worker is None:
        pytest.skip("one core: the figures are always drawn in the run's process")
    worker._proc.kill()      # e.g. killed for memory before it drew anything
    worker._proc.wait()
    out: dict[str, Path] = {}
    sent = worker.submit(_jobs(), tmp_path, ["png"])
    why = worker.collect(out.__setitem__) if sent else "not sent"
    if not sent:     # the pipe was already closed: the caller draws here (as write_outputs does)
        draw_here(_jobs(), tmp_path, ["png"], out.__setitem__)
    assert why is not None
    assert sorted(out) == ["audit_png", "profile_png"]
    assert all(p.stat().st_size > 1000 for p in out.values())


def test_a_job_that_fails_in_the_worker_is_drawn_here_and_fails_loudly(tmp_path):
    worker = figure_worker.start()
    if worker is None:
        pytest.skip("one core: the figures are always drawn in the run's process")
    bad = [FigureJob("bad", "effect_profile", (pd.DataFrame({"x": [1]}),), {"x": "event_time", "title": "t",
                                                                            "x_label": "", "y_label": "",
                                                                            "interval": ""})]
    assert worker.submit(bad, tmp_path, ["png"])
    with pytest.raises(KeyError):   # drawn again here: the real error, with its traceback
        worker.collect(lambda k, p: None)


def test_inline_when_asked(monkeypatch):
    monkeypatch.setenv("FINSUPPORT_FIGURES_INLINE", "1")
    assert figure_worker.start() is None

