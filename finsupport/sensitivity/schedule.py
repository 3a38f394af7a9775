"""Run a grid's specifications in this process or on Dask.

The work is a two-level graph: one measurement task per distinct set of measurement
options (flows and headline), then one panel task and one estimation task per
specification that estimates. On Dask the dataset is scattered to the workers once;
every task's seed comes from its options (``specs.derive_seed``), so the numbers do
not depend on the scheduler, the number of workers or the order in which tasks finish.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..progress import Progress
from .specs import Spec

__all__ = ["resolve_scheduler", "run_specs"]

_SAID_SEQUENTIAL = False


def resolve_scheduler(scheduler: Any) -> str:
    """Name the scheduler a grid will use: ``"sync"``, ``"local"``, an address, or ``"client"``.

    ``None`` means a local Dask cluster sized to the machine's cores when
    ``dask.distributed`` is installed, else this process, one specification after the
    other (said once per session).
    """
    global _SAID_SEQUENTIAL
    if scheduler is None:
        if _have_distributed():
            return "local"
        if not _SAID_SEQUENTIAL:
            warnings.warn("dask.distributed is not installed: the specification grid runs in this process, one "
                          "specification after the other (pip install \"finsupport[dask]\" to run it in parallel)",
                          UserWarning, stacklevel=3)
            _SAID_SEQUENTIAL = True
        return "sync"
    if isinstance(scheduler, str):
        if scheduler in ("sync", "local"):
            if scheduler == "local" and not _have_distributed():
                raise ConfigError("scheduler = 'local' needs dask.distributed: pip install \"finsupport[dask]\", "
                                  "or use scheduler = 'sync'")
            return scheduler
        if "://" in scheduler:
            if not _have_distributed():
                raise ConfigError(f"scheduler = {scheduler!r} needs dask.distributed: pip install \"finsupport[dask]\"")
            return scheduler
        raise ConfigError(f"scheduler = {scheduler!r} is not allowed; use 'sync', 'local', an address such as "
                          "'tcp://host:8786', or a dask.distributed Client")
    if type(scheduler).__name__ == "Client":
        return "client"
    raise ConfigError(f"scheduler must be None, 'sync', 'local', an address or a dask.distributed Client, "
                      f"got {type(scheduler).__name__}")


def _have_distributed() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


# the tasks import the measures and estimators when they run: importing the package stays light
def _measure_task(data, options, years, firms):
    from . import evaluate

    return evaluate.measure_spec(data, options, years=years, firms=firms)


def _panel_task(data, measured, tier, outcomes):
    from . import evaluate

    return evaluate.panel_for(data, measured[0], tier=tier, outcomes=outcomes)


def _row_of(measured):
    return measured[1]


def _estimate_task(panel, options, seed, alpha):
    from . import evaluate

    return evaluate.estimate_spec(panel, options, seed=seed, alpha=alpha)


def _outcomes(specs: list[Spec]) -> tuple[str, ...]:
    """The outcomes the grid estimates (financials columns among them join the panel)."""
    return tuple(sorted({s.estimate_options["outcome"] for s in specs if s.estimate is not None}))


def run_specs(specs: list[Spec], data, *, scheduler: Any, years, firms, tier: str, alpha: float,
              progress: Progress) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None], str]:
    """Compute every specification; returns the measurement rows and estimation rows in
    the order of ``specs`` and a description of the scheduler that ran them."""
    kind = resolve_scheduler(scheduler)
    mkeys = list(dict.fromkeys(s.measure for s in specs))
    ekeys = [s for s in specs if s.estimate is not None]
    total = len(mkeys) + len(ekeys)
    if kind == "sync":
        return (*_run_sync(specs, mkeys, data, years, firms, tier, alpha, progress, total), "sync (this process)")
    return _run_dask(specs, mkeys, data, years, firms, tier, alpha, progress, total, kind, scheduler)


def _run_sync(specs, mkeys, data, years, firms, tier, alpha, progress: Progress, total):
    outcomes = _outcomes(specs)
    measured: dict[tuple, tuple] = {}
    panels: dict[tuple, Any] = {}
    est_rows: list[dict[str, Any] | None] = []
    with progress.stage("sensitivity grid", total=total, unit="tasks") as task:
        for mk in mkeys:
            measured[mk] = _measure_task(data, dict(mk), years, firms)
            task.advance()
        for s in specs:
            if s.estimate is None:
                est_rows.append(None)
                continue
            if s.measure not in panels:
                panels[s.measure] = _panel_task(data, measured[s.measure], tier, outcomes)
            est_rows.append(_estimate_task(panels[s.measure], s.estimate_options, s.seed, alpha))
            task.advance()
    return [measured[s.measure][1] for s in specs], est_rows


def _run_dask(specs, mkeys, data, years, firms, tier, alpha, progress: Progress, total, kind, scheduler):
    outcomes = _outcomes(specs)
    from distributed import Client, LocalCluster, as_completed

    own: list[Callable[[], None]] = []
    if kind == "local":
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
        own += [client.close, cluster.close]
        described = f"dask local cluster ({len(cluster.workers)} worker processes)"
    elif kind == "client":
        client = scheduler
        described = f"dask cluster at {client.scheduler.address}"
    else:
        client = Client(scheduler)
        own.append(client.close)
        described = f"dask cluster at {scheduler}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the "large object" hint: the dataset is sent once on purpose
            d = client.scatter(data, broadcast=True)
        mfut = {mk: client.submit(_measure_task, d, dict(mk), years, firms, pure=False) for mk in mkeys}
        pfut: dict[tuple, Any] = {}
        efut: dict[int, Any] = {}
        for i, s in enumerate(specs):
            if s.estimate is None:
                continue
            if s.measure not in pfut:
                pfut[s.measure] = client.submit(_panel_task, d, mfut[s.measure], tier, outcomes, pure=False)
            efut[i] = client.submit(_estimate_task, pfut[s.measure], s.estimate_options, s.seed, alpha, pure=False)
        with progress.stage("sensitivity grid", total=total, unit="tasks") as task:
            task.note(described)
            for _ in as_completed([*mfut.values(), *efut.values()]):
                task.advance()
        # only the headline rows come back; the flows stay on the workers
        rows = client.gather([client.submit(_row_of, f, pure=False) for f in mfut.values()])
        mres = dict(zip(mfut, rows, strict=True))
        eres = dict(zip(efut, client.gather(list(efut.values())), strict=True))
    finally:
        for close in own:
            close()
    return [mres[s.measure] for s in specs], [eres.get(i) for i in range(len(specs))], described
