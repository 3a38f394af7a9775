"""The ``finsupport`` command.

Exit codes: 0 success; 1 unexpected error; 2 data error (DataError); 3 configuration
error (ConfigError), including an output path that cannot be written (a workbook path
that is a folder, a folder that refuses files), which ``run`` finds before reading any
data; 4 estimation error (EstimationError); 64 wrong command-line usage; 130 interrupted.
No traceback is shown unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from . import __version__
from .errors import FinsupportError

__all__ = ["main", "entry", "end_process"]

EXIT_USAGE = 64
#: the last run's result, kept until the process ends (see :func:`entry`)
_LAST_RUN: list = []


def _say(text: str = "", *, err: bool = False) -> None:
    """``print`` for a reader that may leave early (``| head``): the command goes on, with its exit code."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(text, file=stream)
    except BrokenPipeError:
        try:   # later writes, and the flush at the end, go nowhere instead of failing
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except (OSError, ValueError):
            pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits with 2, which we reserve for data errors
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="finsupport", description="Measure state financial support to firms and test whether a "
                "government certification changes it.")
    p.add_argument("--version", action="version", version=f"finsupport {__version__}")
    p.add_argument("--debug", action="store_true", help="show a full traceback on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    r = sub.add_parser("run", help="run an analysis and write the Excel report (no CONFIG: the embedded example)")
    r.add_argument("config", nargs="?", help="a TOML run configuration (see `finsupport example`)")
    r.add_argument("--out", help="the workbook path (.xlsx) or a folder for it; checked before any work starts")
    r.add_argument("--quiet", action="store_true", help="no progress display (stages, counts, time left)")
    r.add_argument("--strict", action="store_true",
                   help="treat any plausibility warning as a data error (exit 2) before writing outputs")
    r.add_argument("--scheduler", help="where the [sensitivity] grid runs: sync, local (Dask, one worker per core) "
                   "or a Dask scheduler address such as tcp://host:8786; overrides sensitivity.scheduler")
    v = sub.add_parser("validate", help="check that a config, a data folder or a workbook is usable")
    v.add_argument("path")
    v.add_argument("--preset", choices=["csmar", "wind", "industrial_survey"], help="header preset of the export")
    v.add_argument("--units", help="unit of amounts whose header says none, for every table (yuan, wan, yi, …)")
    v.add_argument("--strict", action="store_true",
                   help="treat any plausibility warning as a data error (exit 2), as `run --strict` does")
    e = sub.add_parser("example", help="write the embedded example data and a config that runs it into DIR")
    e.add_argument("dir")
    e.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    return p


def _cmd_run(args) -> int:
    from .run import run

    if args.scheduler is not None:
        from .config import _scheduler

        _scheduler("--scheduler", args.scheduler)
    res = run(args.config, out=args.out, progress=False if args.quiet else None, strict=args.strict,
              scheduler=args.scheduler)
    for note in res.notes:
        _say(f"note: {note}", err=True)
    for f in res.findings:
        _say(f"warning ({f.rule}): {f.message}", err=True)
    _say(res.summary())
    _LAST_RUN[:] = [res]   # freed with the process, not table by table now (see entry)
    return 0


def _bare_folder_config(path: Path, preset: str | None, units: str | None):
    """The default run configuration pointed at a data folder or workbook, without the example's sample."""
    import tomllib

    from .config import DEFAULT_CONFIG_TOML, load_config

    raw = tomllib.loads(DEFAULT_CONFIG_TOML)
    raw["run"]["name"] = path.stem or "data"
    raw["data"].update(path=str(path.resolve()), preset=preset or "", units=units or {}, synthetic=False,
                       description="")
    raw["sample"]["years"] = []
    raw["shares"].update(years=[], headline_cohorts=[])
    return load_config(raw)


def _cmd_validate(args) -> int:
    from .config import load_config
    from .run import prepare

    path = Path(args.path)
    if path.suffix.lower() == ".toml" or (path.is_dir() and (path / "config.toml").is_file()):
        # a folder with a config.toml is checked as that config runs it: its units, sample and headline
        cfg = load_config(path)
        if args.preset or args.units:
            from .errors import ConfigError

            raise ConfigError(f"--preset/--units describe a bare data folder, but {path} has a config.toml whose "
                              f"[data] preset = {cfg['data']['preset']!r} and units = {cfg['data']['units']!r} are "
                              "what `finsupport run` uses: change them there (or validate a folder without a config)")
        _say(f"config {cfg.source}: OK ({len(cfg.values)} sections, hash {cfg.hash()[:12]}); "
             "checked as `finsupport run` would run it")
        name = cfg.data_path.name if cfg.data_path is not None else "embedded example"
    else:
        if not path.exists():
            from .errors import DataError

            raise DataError(problems=[{"table": path.name or str(path), "message": f"no such file or folder: '{path}'",
                                       "hint": "check the path (a folder of tables, a workbook or a config.toml)"}])
        cfg = _bare_folder_config(path, args.preset, args.units)
        name = path.resolve().name
    # the same stages as `finsupport run` before estimation: read, validate, measure, certify, headline,
    # plausibility checks
    res = prepare(cfg)
    if args.strict and res.findings:
        from .run import _strict_error

        raise _strict_error(res.findings)
    data = res.data
    _say(f"data {name}: usable for every stage before estimation — {data!r}")
    _say(f"  headline: {res.headline['text']}")
    for note in res.notes:
        _say(f"  note: {note}")
    for f in res.findings:
        _say(f"  warning ({f.rule}): {f.message}")
    log = data.quality.to_frame()
    acct = data.quality.accounting()
    if len(acct):
        tables = data.provenance.get("tables", {})
        for _, a in acct.iterrows():
            merged = tables.get(a["table"], {}).get("sources")
            rows = len(getattr(data, a["table"], None)) if getattr(data, a["table"], None) is not None else 0
            extra = f" (source rows of {len(merged)} files; {rows} rows after merging)" if merged else ""
            _say(f"  {a['table']}: {a['rows_read']} rows read, {a['rows_used']} used, {a['rows_excluded']} "
                 f"excluded{extra}")
    warn = log[log["action"].isin(["excluded", "repaired", "flagged"])]
    if len(warn):
        _say(f"warnings: {len(warn)} data-quality records")
        summary = (warn.assign(column=warn["column"].fillna(""))
                   .groupby(["table", "column", "issue", "action"], dropna=False, sort=False)
                   .agg(rows=("issue", "size"), detail=("detail", "first")).reset_index())
        for _, w in summary.head(30).iterrows():
            col = f".{w['column']}" if w["column"] else ""
            extra = f": {w['detail']}" if w["issue"] == "firm not in firms table" else ""
            _say(f"  warning: {w['table']}{col}: {w['issue']} ({w['action']}, {w['rows']} rows){extra}")
    return 0


def _cmd_example(args) -> int:
    from .example import write_example

    out = write_example(args.dir, overwrite=args.force)
    _say(f"wrote the robotics44 example (synthetic) to {out}")
    _say(f"run it with:  finsupport run {out / 'config.toml'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``finsupport`` command; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version and usage errors
        return e.code if isinstance(e.code, int) else 0
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = {"run": _cmd_run, "validate": _cmd_validate, "example": _cmd_example}[args.command]
    try:
        return handler(args)
    except FinsupportError as e:
        if args.debug:
            raise
        kind = type(e).__name__.replace("Error", " error").lower()
        _say(f"finsupport: {kind}: {e}", err=True)
        return e.exit_code
    except FileNotFoundError as e:
        if args.debug:
            raise
        _say(f"finsupport: file not found: {e.filename or e}", err=True)
        return 2
    except KeyboardInterrupt:
        _say("finsupport: interrupted", err=True)
        return 130
    except Exception as e:  # never a traceback for users; --debug shows it
        if args.debug:
            raise
        _say(f"finsupport: unexpected error ({type(e).__name__}: {e}). Rerun with --debug for the traceback "
             "and report it.", err=True)
        return 1


def end_process(code: int) -> None:
    """End the process with ``code`` once its output is flushed.

    When nothing else runs (no other thread, no child process, no Dask client) the process ends
    at once, without the interpreter freeing the run's tables one object at a time — a fraction
    of a second on a national panel, for memory the operating system takes back anyway. Log
    handlers are shut down first, as at a normal exit. Otherwise it exits normally.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe (``| head``): nothing more can be written
            pass
    alone = (threading.active_count() == 1 and "distributed" not in sys.modules
             and ("multiprocessing" not in sys.modules or not sys.modules["multiprocessing"].active_children()))
    if alone:
        if "logging" in sys.modules:
            sys.modules["logging"].shutdown()
        os._exit(code)
    sys.exit(code)


def entry() -> None:
    """The ``finsupport`` command: :func:`main`, then :func:`end_process`."""
    end_process(main())


if __name__ == "__main__":
    entry()
