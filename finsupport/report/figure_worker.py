"""The report's figures drawn in a second process while the run estimates and writes its workbook.

matplotlib takes seconds to lay out and write a dozen PNG and PDF files, and estimating
and writing the workbook take seconds too; on a machine with two or more cores they can
run side by side. :func:`start` launches ``python -m finsupport.report.figure_worker``
at the beginning of a run (its imports overlap with reading the data); :meth:`FigureWorker.submit`
hands it the figure jobs — small tables of estimates and shares, never the firm-year data —
and :meth:`FigureWorker.collect` waits for the files.

The worker is a plain child process started with this interpreter, not
``multiprocessing``: a user's script without an ``if __name__ == "__main__"`` guard must
not be run a second time. The jobs go to it through a pipe, pickled by this process for
the child it started (nothing read from users is unpickled). If the worker cannot start,
dies, or reports an error, the same jobs are drawn here, so a figure is never missing
because of the second process; ``FINSUPPORT_FIGURES_INLINE=1`` draws them here always.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["FigureJob", "FigureWorker", "start", "draw_here"]


class FigureJob(NamedTuple):
    """One figure: a drawing function of :mod:`finsupport.report.figures` and its arguments."""

    stem: str
    function: str
    args: tuple
    kwargs: dict[str, Any]


def draw_here(jobs: list[FigureJob], folder: Path, formats, on_file: Callable[[str, Path], None]) -> None:
    """Draw ``jobs`` in this process, calling ``on_file(key, path)`` for every file written."""
    from . import figures

    for job in jobs:
        fig = getattr(figures, job.function)(*job.args, **job.kwargs)
        for fmt, p in figures.save_figure(fig, folder, job.stem, formats).items():
            on_file(f"{job.stem}_{fmt}", p)


class FigureWorker:
    """A started figure process (see the module docstring).

    Jobs go to it in batches (:meth:`submit`), the last one with ``more=False``; it draws
    each batch as it arrives. After a failure to send, :attr:`failed` is set and every
    job submitted is drawn in the run's own process instead.
    """

    def __init__(self, proc: subprocess.Popen, errors) -> None:
        self._proc = proc
        self._errors = errors          # a temporary file: a pipe nobody reads could fill and block the child
        self.jobs: list[FigureJob] = []   # every job submitted, in order
        self.ended = False                # the last batch was sent
        self.failed = False               # a batch could not be sent: draw here
        self._args: tuple | None = None
        self.seconds: float | None = None   # the worker's own drawing time, once collected

    def submitted(self, stem: str) -> bool:
        return any(j.stem == stem for j in self.jobs)

    def submit(self, jobs: list[FigureJob], folder: Path, formats, *, more: bool = False) -> bool:
        """Send a batch of jobs (``more=False``: the last one); False when it cannot go to the worker."""
        if self.failed or self.ended:
            return False
        self.jobs += jobs
        self._args = (Path(folder), list(formats))
        try:
            if jobs:
                payload = pickle.dumps((jobs, str(folder), list(formats)), protocol=pickle.HIGHEST_PROTOCOL)
                self._proc.stdin.write(len(payload).to_bytes(8, "little") + payload)
            if not more:
                self._proc.stdin.write((0).to_bytes(8, "little"))
                self._proc.stdin.close()
                self.ended = True
            else:
                self._proc.stdin.flush()
        except (OSError, ValueError, pickle.PicklingError, TypeError, AttributeError):
            self.failed = True
            self.close()
            return False
        return True

    def collect(self, on_file: Callable[[str, Path], None]) -> str | None:
        """Wait for the files, calling ``on_file(key, path)`` for each; draw here what the worker did not.

        Returns None when the worker drew everything, else why the figures were drawn here.
        """
        done: set[str] = set()
        why = None
        if self.failed or not self.ended:
            why = "the figures could not be handed to the figure process"
        else:
            try:
                for line in self._proc.stdout:
                    msg = json.loads(line)
                    if "seconds" in msg:
                        self.seconds = float(msg["seconds"])
                        continue
                    done.add(msg["key"])
                    on_file(msg["key"], Path(msg["path"]))
                code = self._proc.wait()
                if code != 0:
                    self._errors.seek(0)
                    last = self._errors.read().decode("utf-8", "replace").strip().splitlines()
                    why = f"the figure process stopped ({code}): {last[-1] if last else 'no message'}"
            except (OSError, ValueError, KeyError) as e:
                why = f"the figure process could not be read: {e}"
        self.close()
        if why is not None and self.jobs:
            folder, formats = self._args
            left = [j for j in self.jobs if any(f"{j.stem}_{f}" not in done for f in formats)]
            draw_here(left, folder, formats, on_file)
        return why

    def close(self) -> None:
        """Stop the worker if it still runs (a run that failed before its report)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._errors.close()


def start() -> FigureWorker | None:
    """Start the figure process, or None (figures are then drawn in this process)."""
    if os.environ.get("FINSUPPORT_FIGURES_INLINE") == "1" or (os.cpu_count() or 1) < 2:
        return None
    if getattr(sys, "frozen", False) or not sys.executable:   # a bundled application: no interpreter to start
        return None
    env = dict(os.environ)
    # the child imports this very package, wherever it was imported from
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MPLBACKEND"] = "Agg"
    errors = tempfile.TemporaryFile()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "finsupport.report.figure_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errors, env=env)
    except OSError:
        errors.close()
        return None
    return FigureWorker(proc, errors)


def _batches(stream, out: queue.Queue) -> None:
    """Read the batches as they come (the parent never waits on a full pipe); None at the end."""
    try:
        while True:
            head = stream.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else 0
            if n == 0:
                break
            out.put(stream.read(n))
    finally:
        out.put(None)


def _main() -> int:
    # import and warm up while the parent validates and measures its data, before the jobs arrive
    from . import figures

    figures.warm_up()

    batches: queue.Queue = queue.Queue()
    threading.Thread(target=_batches, args=(sys.stdin.buffer, batches), daemon=True).start()
    seconds = 0.0

    def on_file(key: str, path: Path) -> None:
        print(json.dumps({"key": key, "path": str(path)}), flush=True)

    while (raw := batches.get()) is not None:
        jobs, folder, formats = pickle.loads(raw)
        t = time.perf_counter()
        try:
            draw_here(jobs, Path(folder), formats, on_file)
        except Exception:
            traceback.print_exc()
            return 1
        seconds += time.perf_counter() - t
    print(json.dumps({"seconds": seconds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
