"""Progress of a run: stages with elapsed time, counts within a stage and what remains.

One :class:`Progress` object follows a run. Each stage is a context manager::

    prog = Progress(stream=sys.stderr)
    with prog.stage("bootstrap draws", total=999, unit="draws") as task:
        for chunk in chunks:
            ...
            task.advance(len(chunk))

Every stage's wall time is kept in :attr:`Progress.timings` (seconds, in the order the
stages ran), shown or not; parts of a stage (each sheet of the workbook) in
:attr:`Progress.details`. What is shown depends on the stream:

* a terminal: one line, rewritten in place (``\\r``), with the stage, its count, the
  elapsed time and, when the stage knows its total, an estimate of the time left
  (elapsed / done × remaining — the rate so far carried forward);
* anything else (a log file, CI): plain lines, each starting with a UTC timestamp, one
  when a stage starts, one when it ends with its duration, and at most one every
  ``interval`` seconds in between;
* ``enabled=False`` (``--quiet``): nothing, but the timings are still kept.

Code deep inside a stage (a reader, a bootstrap loop) reports to the running stage without
being handed it: :func:`current_task` returns that stage's :class:`Task` (or one that shows
nothing when no stage runs)::

    task = current_task()
    task.expect(999, "draws")      # the count that follows, for the estimate of the time left
    for chunk in chunks:
        ...
        task.advance(len(chunk))
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

__all__ = ["Progress", "Task", "current_task", "format_seconds"]

_CURRENT: ContextVar[Task | None] = ContextVar("finsupport_progress_task", default=None)


def current_task() -> Task:
    """The :class:`Task` of the stage running now (innermost), or a task that shows nothing.

    For code that runs inside a stage of a run without being passed its progress: reading
    names each file and table, validation each table, an estimator its bootstrap draws
    (``current_task().expect(draws, "draws")``, then ``advance(n)``). Outside a run nothing
    is shown and nothing is timed.
    """
    task = _CURRENT.get()
    return task if task is not None else Task(Progress(enabled=False), "", None, "")


def format_seconds(s: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        m, sec = divmod(int(round(s)), 60)
        return f"{m} min {sec:02d} s"
    h, m = divmod(int(round(s / 60)), 60)
    return f"{h} h {m:02d} min"


class Task:
    """A running stage: count done units with :meth:`advance`; add a detail with :meth:`note`."""

    def __init__(self, progress: Progress, name: str, total: int | None, unit: str):
        self._p = progress
        self.name = name
        self.total = total
        self.unit = unit
        self.done = 0
        self.detail = ""
        self.start = progress.clock()
        self._counting_since = self.start

    def expect(self, total: int | None, unit: str | None = None) -> None:
        """Count ``total`` units from now on (done starts at 0); the time left is estimated from the
        rate since this call, so that what the stage did before counting does not skew it."""
        self.total = total
        if unit is not None:
            self.unit = unit
        self.done = 0
        self._counting_since = self._p.clock()
        self._p._update(self)

    def advance(self, n: int = 1) -> None:
        """``n`` more units done."""
        self.done += n
        self._p._update(self)

    def note(self, detail: str) -> None:
        """Show ``detail`` beside the stage name (a table being read, a sheet being written)."""
        self.detail = detail
        self._p._update(self)

    def elapsed(self) -> float:
        return self._p.clock() - self.start

    def remaining(self) -> float | None:
        """Seconds left at the rate so far; None when the stage has no total or nothing is done yet."""
        if not self.total or self.done <= 0:
            return None
        return (self._p.clock() - self._counting_since) / self.done * max(self.total - self.done, 0)

    def text(self) -> str:
        parts = [self.name + (f" ({self.detail})" if self.detail else "")]
        if self.total:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit}".rstrip())
        elif self.done:
            parts.append(f"{self.done:,} {self.unit}".rstrip())
        parts.append(format_seconds(self.elapsed()))
        left = self.remaining()
        if left is not None and self.done < self.total:
            parts.append(f"~{format_seconds(left)} left")
        return " — ".join(parts)


class Progress:
    """Stages of a run, their timings and their display.

    Parameters
    ----------
    enabled : bool
        Show progress (default True); the timings are kept either way.
    stream : text stream, optional
        Where progress goes (default: standard error).
    interactive : bool, optional
        Rewrite one line in place; default: whether ``stream`` is a terminal.
    interval : float
        Least seconds between two updates of a stage (lines in a log; redraws on a terminal).
    clock : callable
        Seconds as a float (default :func:`time.monotonic`; tests pass a fake clock).
    prefix : str
        Word that starts each line.
    """

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None, interactive: bool | None = None,
                 interval: float | None = None, clock: Callable[[], float] = time.monotonic,
                 prefix: str = "finsupport"):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty()) if callable(isatty) else False
        self.interactive = interactive
        self.interval = interval if interval is not None else (0.2 if interactive else 10.0)
        self.clock = clock
        self.prefix = prefix
        self.timings: dict[str, float] = {}
        self.details: dict[str, float] = {}
        self.start = clock()
        self._last_shown = -1e18
        self._width = 0

    # -- stages ------------------------------------------------------------------
    @contextmanager
    def stage(self, name: str, *, total: int | None = None, unit: str = "") -> Iterator[Task]:
        """Run a stage: time it, show it, and yield a :class:`Task` to count within it.

        A stage of the same name run twice adds up in :attr:`timings`.
        """
        task = Task(self, name, total, unit)
        self._show(task, event="start")
        token = _CURRENT.set(task)
        try:
            yield task
        finally:
            _CURRENT.reset(token)
            self.timings[name] = self.timings.get(name, 0.0) + task.elapsed()
            self._show(task, event="end")

    def record(self, name: str, seconds: float) -> None:
        """Add a timing measured elsewhere."""
        self.timings[name] = self.timings.get(name, 0.0) + float(seconds)

    def detail(self, name: str, seconds: float) -> None:
        """Time a part of a running stage (kept in :attr:`details`, not added to :attr:`timings`)."""
        self.details[name] = self.details.get(name, 0.0) + float(seconds)

    def close(self) -> None:
        """End the display (clear the terminal line)."""
        if self.enabled and self.interactive and self._width:
            try:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
            except (OSError, ValueError):
                self.enabled = False
            self._width = 0

    # -- display -----------------------------------------------------------------
    def _update(self, task: Task) -> None:
        now = self.clock()
        if now - self._last_shown >= self.interval:
            self._show(task, event="update")

    def _show(self, task: Task, *, event: str) -> None:
        if not self.enabled:
            return
        try:
            self._write(task, event)
        except (OSError, ValueError):   # the stream went away (`2>&1 | head`): the run goes on unseen
            self.enabled = False

    def _write(self, task: Task, event: str) -> None:
        self._last_shown = self.clock()
        if self.interactive:
            total = format_seconds(self._last_shown - self.start)
            line = f"{self.prefix} [{total}] {task.text()}"
            pad = max(self._width - len(line), 0)
            self.stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if event == "start":
                what = f"{task.name} …" + (f" ({task.total:,} {task.unit})".replace(" )", ")") if task.total else "")
            elif event == "end":
                what = task.text() if not task.total else (
                    f"{task.name}" + (f" ({task.detail})" if task.detail else "")
                    + f" — {task.done:,}/{task.total:,} {task.unit}".rstrip() + f" — {format_seconds(task.elapsed())}")
                what += " — done"
            else:
                what = task.text()
            self.stream.write(f"{stamp} {self.prefix}: {what}\n")
        self.stream.flush()
