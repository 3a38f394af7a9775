"""CVD allocation at national scale: time and memory of `support_flows` by subsidy basis.

Run:  python benchmarks/bench_allocation.py [--firms 1000000] [--years 10]
      python benchmarks/bench_allocation.py --firms 100000      # a quick run

The data: ``fs.simulate`` with ``--firms`` firms over ``--years`` years (default 10
million firm-years and about 21 million grants), written once as Parquet and read back
with ``pandas.read_parquet`` in a fresh process, as a run would hold them. In that
process ``support_flows`` runs with ``subsidy_basis="received"`` and then ``"cvd"``
(19 CFR 351.524: non-recurring grants above the 0.5 % test allocated over a 10-year AUL).
Printed: the median wall time of each basis and their ratio (target: CVD within 4× the
received basis), the input size (``memory_usage(deep=True)`` of the tables) and the peak
resident memory of the process while each basis runs, sampled every 5 ms, as a
multiple of the input size (target: within 3×).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TABLES = ("firms", "financials", "grants", "equity", "designations")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        import os

        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """The highest resident set size seen while the block runs (sampled by a thread)."""

    def __enter__(self):
        self.peak = _rss()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(0.005):
                self.peak = max(self.peak, _rss())

        self._t = threading.Thread(target=sample, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


def child(folder: str, repeat: int) -> None:
    import gc

    import pandas as pd

    from finsupport.data.dataset import Dataset
    from finsupport.data.quality import QualityLog
    from finsupport.measure.flows import support_flows

    tables = {t: pd.read_parquet(Path(folder) / f"{t}.parquet") for t in TABLES}
    # the tables as read; validation is timed by bench_pipeline.py, not here
    data = Dataset(**tables, validate=False)
    size = sum(int(df.memory_usage(deep=True).sum()) for df in tables.values())
    gc.collect()
    out = {"input_bytes": size, "rows": {t: len(df) for t, df in tables.items()}, "bases": {}}
    for basis in ("received", "cvd"):
        data.quality = QualityLog()
        gc.collect()
        times, peaks, before = [], [], _rss()
        for _ in range(repeat):
            data.quality = QualityLog()   # each call logs its flags afresh: no growth across repeats
            gc.collect()
            with PeakRSS() as p:
                t = time.perf_counter()
                flows = support_flows(data, subsidy_basis=basis)
                times.append(time.perf_counter() - t)
            peaks.append(p.peak)
            total = float(flows["subsidy"].sum())
            del flows
        out["bases"][basis] = {"seconds": statistics.median(times), "peak": max(peaks), "rss_before": before,
                               "subsidy_total": total}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=1_000_000)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", help="keep the Parquet files here and reuse them when the sizes match")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        stamp = json.dumps({"firms": args.firms, "years": args.years, "seed": 1})
        if not ((work / "inputs.json").exists() and (work / "inputs.json").read_text() == stamp):
            import finsupport as fs

            t = time.perf_counter()
            data = fs.simulate(n_firms=args.firms, years=(2013, 2013 + args.years - 1), seed=1)
            for name, df in data.tables().items():
                df.to_parquet(work / f"{name}.parquet", index=False)
            (work / "inputs.json").write_text(stamp)
            print(f"simulated and wrote {args.firms:,} firms × {args.years} years "
                  f"({time.perf_counter() - t:.0f} s)")
            del data
        res = subprocess.run([sys.executable, __file__, "--child", str(work), "--repeat", str(args.repeat)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr[-3000:])
        rep = json.loads(res.stdout.strip().splitlines()[-1])
    size = rep["input_bytes"]
    print(f"support_flows on {rep['rows']['financials']:,} firm-years, {rep['rows']['grants']:,} grants; "
          f"input {size / 1e9:.2f} GB (memory_usage deep), median of {args.repeat}")
    for basis, b in rep["bases"].items():
        print(f"  subsidy_basis={basis:<9} {b['seconds']:7.2f} s   peak RSS {b['peak'] / 1e9:5.2f} GB "
              f"= {b['peak'] / size:.2f}× input (+{(b['peak'] - b['rss_before']) / 1e9:.2f} GB over the "
              f"{b['rss_before'] / 1e9:.2f} GB held before)")
    r, c = rep["bases"]["received"], rep["bases"]["cvd"]
    print(f"CVD / received time: {c['seconds'] / r['seconds']:.2f}×  (target ≤ 4×)")
    print(f"CVD peak memory / input size: {c['peak'] / size:.2f}×  (target ≤ 3×)")


if __name__ == "__main__":
    main()
