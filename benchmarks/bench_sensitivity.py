"""Time a specification grid on the embedded default: this process vs a local Dask cluster.

    python benchmarks/bench_sensitivity.py              # 4 measurement × 3 estimation options
    python benchmarks/bench_sensitivity.py --bootstrap 999

Prints the number of specifications, the wall time under each scheduler (the Dask time
includes starting the cluster), the ratio, and checks that both tables are identical.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

import finsupport as fs
from finsupport.sensitivity import sensitivity

MEASURE = {"subsidy_basis": ["received", "cvd", "straight_line"], "equity_basis": ["gross", "grant_equivalent"],
           "benchmark": ["lpr_1y", "lpr_5y"], "spread_bp": [0.0, 100.0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", type=int, default=0, help="att_gt multiplier bootstrap draws (0 = analytic)")
    ap.add_argument("--mode", default="full", choices=["full", "one_at_a_time"])
    args = ap.parse_args()
    estimate = {"estimator": ["twfe", "att_gt", "sun_abraham", "imputation"],
                "control_group": ["never_treated", "not_yet_treated"], "method": ["dr", "reg"],
                "bootstrap": [args.bootstrap]}
    data = fs.load_example()
    kw = dict(measure=MEASURE, estimate=estimate, mode=args.mode, cohorts=[2019, 2020], years=(2016, 2021),
              progress=False)
    times, tables = {}, {}
    for sched in ("sync", "local"):
        t0 = time.perf_counter()
        res = sensitivity(data, scheduler=sched, **kw)
        times[sched] = time.perf_counter() - t0
        tables[sched] = res.tidy()
        print(f"{res.scheduler}: {len(res.tidy())} specifications in {times[sched]:.1f} s")
    pd.testing.assert_frame_equal(tables["sync"], tables["local"])
    print(f"cores: {os.cpu_count()}; identical tables; local / sync time: {times['local'] / times['sync']:.2f}")
    print(res.summary())


if __name__ == "__main__":
    main()
