"""Registry-scale measures: the Dask path on a panel generated chunk by chunk, beside the in-memory path.

    python benchmarks/bench_scale.py --firm-years 20000000 --in-memory-max 5000000
    python benchmarks/bench_scale.py --firm-years 2000000 --in-memory-max 2000000   # quick

Generates ``fs.simulate`` chunks of 100,000 firms × 9 years (firm codes made unique per
chunk) and writes each table as a folder of Parquet files, one file per chunk, so the
whole panel is never in memory at once. Then times, each in its own process with its
peak resident memory sampled:

* Dask: ``read_dataset(folder, engine="dask")`` (partitioned by firm, validated per
  partition), ``support_flows`` (CVD basis) and ``support_share`` by year, on a local
  cluster with one worker process per core;
* in memory: the same three steps with ``engine="pandas"`` on the first
  ``--in-memory-max`` firm-years (the largest size it is run at), and the Dask path on
  that same subset twice, for the ratios: from one file per table (rows shuffled to
  their firm's partition) and from the chunks' files as written (already partitioned by
  firm, read without a shuffle — the layout of the whole panel).

Not run in CI (minutes and tens of GB of temporary disk at 20 million firm-years).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK_FIRMS = 100_000
WORKER_MEMORY = ["4GB"]
YEARS = (2014, 2022)


def generate(folder: Path, firm_years: int) -> int:
    import finsupport as fs

    n_chunks = max(1, -(-firm_years // (CHUNK_FIRMS * (YEARS[1] - YEARS[0] + 1))))
    for i in range(n_chunks):
        d = fs.simulate(n_firms=CHUNK_FIRMS, years=YEARS, seed=1000 + i)
        for t, df in d.tables().items():
            if "firm_id" not in df:   # land benchmarks: one table for every firm, written once
                if i == 0:
                    df.to_parquet(folder / f"{t}.parquet", index=False)
                continue
            (folder / t).mkdir(parents=True, exist_ok=True)
            df = df.assign(firm_id=f"C{i:03d}-" + df["firm_id"].astype(str))
            df.to_parquet(folder / t / f"part-{i:03d}.parquet", index=False)
    return n_chunks


def _child(args) -> None:
    import resource

    import dask
    import pandas as pd

    import finsupport as fs

    folder = Path(args.folder)
    t0 = time.perf_counter()
    if args.engine == "dask":
        from distributed import Client, LocalCluster

        # a memory limit per worker: beyond it Dask spills partitions to disk (data larger than memory)
        cluster = LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40,
                               memory_limit=args.worker_memory)
        client = Client(cluster)
        data = fs.read_dataset(folder, engine="dask", npartitions=args.partitions or None)
        t1 = time.perf_counter()
        share = fs.support_share(fs.support_flows(data, subsidy_basis="cvd"), by="year", components=("total",))
        t2 = time.perf_counter()
        n = int(data.financials.map_partitions(len).sum().compute())
        worker_peak = max(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values()) * 1024
        client.close()
        cluster.close()
    else:
        with dask.config.set(scheduler="sync"):
            data = fs.read_dataset(folder)
        t1 = time.perf_counter()
        share = fs.support_share(fs.support_flows(data, subsidy_basis="cvd"), by="year", components=("total",))
        t2 = time.perf_counter()
        n = len(data.financials)
        worker_peak = 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    total = share[share["component"] == "total"]["pooled_share"].to_numpy()
    print(json.dumps({"engine": args.engine, "firm_years": n, "read_validate_s": t1 - t0, "measure_share_s": t2 - t1,
                      "total_s": t2 - t0, "peak_bytes": peak, "worker_peak_bytes": worker_peak,
                      "layout": data.provenance.get("layout", "in memory"),
                      "share_by_year": [float(x) for x in total]}))
    pd.set_option("display.width", 120)


def run_child(folder: Path, engine: str, partitions: int | None) -> dict:
    cmd = [sys.executable, __file__, "--child", "--folder", str(folder), "--engine", engine,
           "--worker-memory", WORKER_MEMORY[0]]
    if partitions:
        cmd += ["--partitions", str(partitions)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:  # say why the timed process failed (out of memory, a worker lost …)
        sys.exit(f"{engine} run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    out = proc.stdout
    return json.loads(out.strip().splitlines()[-1])


def subset(src: Path, dst: Path, n_chunks: int, *, by_file: bool = False) -> None:
    """The first chunks, one Parquet file per table (the layout both readers take), or with
    ``by_file`` a folder per table of the chunks' files (the Dask reader's layout without a shuffle)."""
    import pandas as pd

    dst.mkdir(parents=True, exist_ok=True)
    if by_file:
        for table in sorted(src.iterdir()):
            if table.is_file():
                shutil.copy(table, dst / table.name)
                continue
            (dst / table.name).mkdir(exist_ok=True)
            for f in sorted(table.glob("*.parquet"))[:n_chunks]:
                shutil.copy(f, dst / table.name / f.name)
        return
    for table in sorted(src.iterdir()):
        if table.is_file():   # a table written once (land benchmarks)
            shutil.copy(table, dst / table.name)
            continue
        parts = sorted(table.glob("*.parquet"))[:n_chunks]
        pd.concat([pd.read_parquet(f) for f in parts], ignore_index=True).to_parquet(dst / f"{table.name}.parquet",
                                                                                     index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--firm-years", type=int, default=20_000_000)
    ap.add_argument("--in-memory-max", type=int, default=5_000_000)
    ap.add_argument("--partitions", type=int, default=0)
    ap.add_argument("--worker-memory", default="4GB", help="memory limit of each Dask worker (spills beyond it)")
    ap.add_argument("--skip-comparison", action="store_true",
                    help="time only the Dask path on the whole panel (the same-data comparison is skipped)")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--folder")
    ap.add_argument("--engine")
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    WORKER_MEMORY[0] = args.worker_memory
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full"
        t0 = time.perf_counter()
        chunks = generate(full, args.firm_years)
        print(f"generated {chunks} chunks of {CHUNK_FIRMS:,} firms × {YEARS[1] - YEARS[0] + 1} years "
              f"in {time.perf_counter() - t0:.0f} s")
        per_chunk = CHUNK_FIRMS * (YEARS[1] - YEARS[0] + 1)
        small_chunks = max(1, min(chunks, args.in_memory_max // per_chunk))
        small = Path(tmp) / "small"
        subset(full, small, small_chunks)
        small_by_file = Path(tmp) / "small_by_file"
        subset(full, small_by_file, small_chunks, by_file=True)
        rows = []
        # the Dask path on the same data twice: one file per table (rows shuffled to their firm's
        # partition) and the chunks' files as written (already by firm: no shuffle)
        for label, folder, engine in (("in memory", small, "pandas"), ("dask", small, "dask"),
                                      ("dask", small_by_file, "dask"), ("dask", full, "dask")):
            if folder is full and small_chunks == chunks or args.skip_comparison and folder is not full:
                continue
            r = run_child(folder, engine, args.partitions)
            rows.append((label, r))
            print(f"{label:>9}: {r['firm_years']:>11,} firm-years  read+validate {r['read_validate_s']:7.1f} s  "
                  f"flows+share {r['measure_share_s']:7.1f} s  total {r['total_s']:7.1f} s  "
                  f"peak {r['peak_bytes'] / 2**30:5.2f} GB (client), {r['worker_peak_bytes'] / 2**30:5.2f} GB "
                  f"(largest worker); layout: {r['layout']}")
        if len(rows) < 2:
            return
        a = rows[0][1]
        for _, b in rows[1:3]:
            diff = max(abs(x - y) / abs(y) for x, y in zip(b["share_by_year"], a["share_by_year"], strict=True))
            print(f"same data, {b['layout']}: dask / in-memory time {b['total_s'] / a['total_s']:.2f}; "
                  f"largest relative difference of the yearly shares {diff:.1e}")


if __name__ == "__main__":
    main()
