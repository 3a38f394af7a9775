"""Time write_workbook on a 100,000 × 20 panel (target: within 10 s).

Run:  python benchmarks/bench_workbook.py [--rows 100000] [--repeat 3]
The panel mixes what a firm-year flows table holds: amounts, shares, rates, counts,
firm codes and names, and a boolean flag. Prints the median wall time, the file size
and whether two writes gave identical bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
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
