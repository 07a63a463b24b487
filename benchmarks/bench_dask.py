"""Sweep throughput on Dask against the in-process engine, in the same run.

    python benchmarks/bench_dask.py [--points N]

An offline LLM sweep (Llama-2-7B on the A100 x4 VM; batch x prompt x output x TP x grid), written
as Parquet, evaluated (a) in this process, (b) on a LocalCluster of 1 worker and (c) of 2 workers
(one thread each; this machine has 2 cores). Each run is timed from the start of the sweep to the
last part written, the cluster's start-up excluded and reported separately. The tables are
compared row for row.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def scenario(n_batch: int) -> dict:
    from bench_sweep import llm_scenario  # the same LLM sweep the sweep benchmark times

    return llm_scenario(n_batch)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=64, help="batch sizes 1..N (points = N x 9,216)")
    args = ap.parse_args()
    import pandas as pd
    from dask.distributed import Client, LocalCluster

    from carbonsim.engine.db import default_database
    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import scenario_from_dict

    db = default_database()
    sc = scenario_from_dict(scenario(args.batches), "<benchmark>")
    tmp = Path(tempfile.mkdtemp(prefix="carbonsim-dask-"))
    rows = []
    try:
        run_sweep(scenario_from_dict(scenario(2), "<warm>"), db, None)  # compile / load the kernels
        t0 = time.perf_counter()
        local = run_sweep(sc, db, tmp / "local")
        rows.append(("in-process", local.points / (time.perf_counter() - t0), 0.0))
        reference = pd.read_parquet(local.results)
        for workers in (1, 2):
            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
            client.run(lambda: run_sweep(scenario_from_dict(scenario(2), "<warm>"), default_database(), None))
            startup = time.perf_counter() - t0
            t0 = time.perf_counter()
            r = run_sweep(sc, db, tmp / f"dask{workers}", executor=cluster.scheduler_address)
            rate = r.points / (time.perf_counter() - t0)
            client.close()
            cluster.close()
            pd.testing.assert_frame_equal(pd.read_parquet(r.results), reference, check_exact=True)
            rows.append((f"Dask LocalCluster, {workers} worker{'s' if workers > 1 else ''}", rate, startup))
        print("| executor | points | points/s | vs in-process | cluster start-up [s] |\n|---|---:|---:|---:|---:|")
        for what, rate, startup in rows:
            print(f"| {what} | {local.points:,} | {rate:,.0f} | {rate / rows[0][1]:.2f}x | "
                  f"{'-' if not startup else f'{startup:.1f}'} |")
        print("\nevery Dask table equals the in-process table row for row")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
