"""Time write_workbook on a 100,000 × 20 panel (target: within 10 s), and a run's report.

Run:  python benchmarks/bench_workbook.py [--rows 100000] [--repeat 3]
      python benchmarks/bench_workbook.py --firms 100000 [--repeat 3] [--zip-levels 1,6]

The first form: the panel mixes what a firm-year flows table holds: amounts, shares,
rates, counts, firm codes and names, and a boolean flag. Prints the median wall time, the
file size and whether two writes gave identical bytes.

The second form: the report of a run on ``fs.simulate`` with ``--firms`` firms × 10 years
(the inputs of ``bench_pipeline.py``, measured without estimation): the time to build the
report's sheets (labels, units, summaries) and to write the workbook without firm-year
detail (Flows beyond ``[report] max_sheet_rows`` goes beside it), sheet by sheet, with
the zip packing at close. Target of issue 10: the workbook in at most 2 s at 100,000 firms.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from finsupport.report import Report, Sheet, write_workbook


def panel(rows: int, seed: int = 1) -> tuple[pd.DataFrame, dict[str, str]]:
    rng = np.random.default_rng(seed)
    firms = rng.integers(0, 10_000, rows)
    df = pd.DataFrame({
        "firm_id": pd.Series(firms).map("{:06d}".format),
        "name": pd.Series(firms).map("Robotics firm {}".format),
        "year": rng.integers(2013, 2023, rows),
        "revenue": rng.lognormal(19, 1, rows).round(0),
        "subsidy": rng.lognormal(14, 2, rows).round(2),
        "equity": np.where(rng.random(rows) < 0.9, 0.0, rng.lognormal(16, 1, rows)),
        "debt": rng.lognormal(13, 1, rows),
        "total": rng.lognormal(15, 1, rows),
        "share": rng.random(rows) * 0.3,
        "subsidy_received": rng.lognormal(14, 2, rows),
        "n_grants": rng.integers(0, 8, rows),
        "equity_state_gross": rng.lognormal(12, 1, rows),
        "n_state_investments": rng.integers(0, 3, rows),
        "avg_debt": rng.lognormal(17, 1, rows),
        "effective_rate": np.where(rng.random(rows) < 0.05, np.nan, rng.uniform(0.5, 7, rows)),
        "benchmark_rate": rng.choice([4.35, 4.31, 4.15, 3.85, 3.65], rows),
        "rate_gap": rng.normal(0.5, 1, rows),
        "debt_basis": rng.choice(["average", "closing_only", "opening_only"], rows),
        "debt_missing": rng.random(rows) < 0.1,
        "province": rng.choice(["Guangdong", "Jiangsu", "Zhejiang", "Shanghai", "Beijing"], rows),
    })
    formats = {c: "yuan" for c in ("revenue", "subsidy", "equity", "debt", "total", "subsidy_received",
                                   "equity_state_gross", "avg_debt")}
    formats.update({"share": "pct", "effective_rate": "rate_pct", "benchmark_rate": "rate_pct", "rate_gap": "rate_pct",
                    "year": "year", "n_grants": "int", "n_state_investments": "int", "debt_missing": "bool"})
    return df, formats


def run_report(firms: int, repeat: int, zip_levels: list[int] = ()) -> None:
    """Build and write the report of a run on simulated data, sheet by sheet."""
    import sys

    import finsupport as fs
    from finsupport.report.build import build_report

    sys.path.insert(0, str(Path(__file__).parent))
    import bench_pipeline

    work = Path(tempfile.gettempdir()) / "finsupport-bench-workbook"
    folders = bench_pipeline.write_inputs(work, firms=firms, years=10, formats=["parquet"], bootstrap=99)
    t = time.perf_counter()
    res = fs.prepare(folders["parquet"] / "config.toml")
    print(f"measure (not timed below): {time.perf_counter() - t:.1f} s")
    builds, writes, cpus, digests = [], [], [], set()
    for _ in range(repeat):
        t = time.perf_counter()
        report = build_report(res, folder=work / "out")
        builds.append(time.perf_counter() - t)
        sheet_times: list[tuple[str, float]] = []
        last = [time.perf_counter()]

        def done(name: str, sheet_times=sheet_times, last=last) -> None:
            now = time.perf_counter()
            sheet_times.append((name, now - last[0]))
            last[0] = now

        t, c = time.perf_counter(), time.process_time()
        path = work / "report.xlsx"
        write_workbook(report, path, on_sheet=done)
        writes.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    close = writes[-1] - sum(x for _, x in sheet_times)
    print(f"report of {firms:,} firms × 10 years: build {statistics.median(builds):.2f} s, "
          f"workbook {statistics.median(writes):.2f} s wall, {statistics.median(cpus):.2f} s CPU of this process "
          f"(median of {repeat}; target ≤ 2 s), "
          f"{path.stat().st_size / 1e6:.1f} MB; byte-identical: {'yes' if len(digests) == 1 else 'NO'}")
    print("   last write by sheet: " + ", ".join(f"{n} {x:.2f} s" for n, x in sheet_times if x >= 0.01)
          + f"; zip packing at close {close:.2f} s")
    for level in zip_levels:   # the deflate level of the zip members: time against file size
        wall = []
        with mock.patch("finsupport.report.workbook.ZIP_LEVEL", level):
            for _ in range(repeat):
                t = time.perf_counter()
                write_workbook(report, path)
                wall.append(time.perf_counter() - t)
        print(f"   zip level {level}: workbook {statistics.median(wall):.2f} s wall (median of {repeat}), "
              f"{path.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--firms", type=int, default=0, help="time a run's report on this many simulated firms")
    ap.add_argument("--zip-levels", default="", help="with --firms: also time these deflate levels, e.g. 1,6")
    args = ap.parse_args()
    if args.firms:
        run_report(args.firms, args.repeat, [int(x) for x in args.zip_levels.split(",") if x])
        return
    df, formats = panel(args.rows)
    report = Report([Sheet("Flows", df, title="Support flows per firm-year (yuan)", formats=formats)],
                    title="benchmark")
    times, digests = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.xlsx"
        for _ in range(args.repeat):
            t = time.perf_counter()
            write_workbook(report, path)
            times.append(time.perf_counter() - t)
            digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        size = path.stat().st_size
    med = statistics.median(times)
    print(f"write_workbook {args.rows:,} rows × {df.shape[1]} columns: median {med:.2f} s over {args.repeat} runs "
          f"(min {min(times):.2f} s), {size / 1e6:.1f} MB"
          f"{'  (target ≤ 10 s: ' + ('met' if med <= 10 else 'MISSED') + ')' if args.rows == 100_000 else ''}")
    print(f"byte-identical across runs: {'yes' if len(digests) == 1 else 'NO'}")


if __name__ == "__main__":
    main()
