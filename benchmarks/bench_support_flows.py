"""Time support_flows on 1,000,000 firm-years (100,000 firms × 10 years).

Run:  python benchmarks/bench_support_flows.py [--firms 100000] [--repeat 3]
Prints the median wall time of each subsidy basis and checks the 2 s target of the
default methods. The data come from the project's simulator (grant and equity rows
included), so no download is needed.
"""

from __future__ import annotations

import argparse
import statistics
import time

from finsupport.measure.flows import support_flows
from finsupport.simulate import simulate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    data = simulate(n_firms=args.firms, years=(2013, 2022), seed=1)
    print(f"simulated {len(data.financials):,} firm-years, {len(data.grants):,} grants, "
          f"{len(data.equity):,} equity rows in {time.perf_counter() - t0:.1f} s")
    for basis in ("received", "cvd", "straight_line"):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            support_flows(data, subsidy_basis=basis)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        note = f"  (target ≤ 2.0 s: {'met' if med <= 2.0 else 'MISSED'})" if basis == "received" else ""
        print(f"support_flows subsidy_basis={basis:<13} median {med:.2f} s over {args.repeat} runs{note}")


if __name__ == "__main__":
    main()
