"""Python API calls per second: one call per configuration, the database reused across calls
(``carbonsim.db.load()``, what every API function does by itself) against the same calls reading
the database afresh each time (what the API did before), measured in the same run.

    python benchmarks/bench_api.py [--quick]

Configurations: 5 shipped servers x 5 grids (a source, a region, the world average, a mix, a
country) x 9 utilisations for ``carbonsim.footprint``; the 5 servers x 3 coefficient sets x the
same 9 DRAM overrides for ``carbonsim.embodied`` (each call a different configuration, so
nothing is answered from a result cache: only the parsed database is reused). The fresh-database
baseline (``db=default_database()``: every file read and checked again, as each call did before)
runs a slice of the same configurations. Each rate is the best of three passes (the baseline:
one), per second of wall time and, for the reused database, per second of CPU time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

SERVERS = ["azure-a100-x4", "aws-t4-x8", "lambda-a6000-x4", "hgx-h100-x8", "aws-t4-x1"]
GRIDS = ["coal", "ESP", "world", "coal:0.3,wind:0.7", "FRA"]
UTILS = [round(0.1 * i, 1) for i in range(1, 10)]
SETS = ["hotcarbon24", "ecoserve", "server-lca"]
DRAM_GB = [64 * (i + 1) for i in range(9)]


def rate(calls, repeat: int = 3) -> tuple[float, float]:
    """Best calls/s of ``repeat`` passes over ``calls`` (a list of zero-argument functions): per
    second of wall time, and per second of this process's CPU time (the same on a quiet machine;
    on a busy one the CPU rate is what the code costs)."""
    wall = cpu = 0.0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        for c in calls:
            c()
        wall = max(wall, len(calls) / (time.perf_counter() - t0))
        cpu = max(cpu, len(calls) / max(time.process_time() - c0, 1e-9))
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer configurations (a smoke run)")
    args = ap.parse_args()
    import carbonsim
    from carbonsim.engine.db import default_database

    fp = list(itertools.product(SERVERS, GRIDS, UTILS))
    em = list(itertools.product(SERVERS, SETS, DRAM_GB))
    if args.quick:
        fp, em = fp[::9], em[::9]
    n_base = max(5, len(fp) // 15)

    carbonsim.footprint(SERVERS[0])  # imports, kernels, the database read once
    rows = []
    calls = [lambda s=s, g=g, u=u: carbonsim.footprint(s, grid=g, util=u) for s, g, u in fp]
    fresh = [lambda s=s, g=g, u=u: carbonsim.footprint(s, grid=g, util=u, db=default_database())
             for s, g, u in fp[:n_base]]
    rows.append(("carbonsim.footprint(server, grid=, util=)", len(fp), rate(calls), rate(fresh, 1)))
    calls = [lambda s=s, c=c, d=d: carbonsim.embodied(s, c, set={"server.host.dram.gb": d}) for s, c, d in em]
    fresh = [lambda s=s, c=c, d=d: carbonsim.embodied(s, c, set={"server.host.dram.gb": d}, db=default_database())
             for s, c, d in em[:n_base]]
    rows.append(("carbonsim.embodied(server, coefficients, set=)", len(em), rate(calls), rate(fresh, 1)))

    print(f"# Python API calls/s ({os.cpu_count()} cores; {'quick' if args.quick else 'full'} run)\n")
    print("| call | configurations | database reused [calls/s] | database read per call [calls/s] | speed-up |"
          " reused, per CPU second |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, n, (cached, cached_cpu), (base, _) in rows:
        print(f"| {what} | {n} | {cached:,.0f} | {base:,.0f} | {cached / base:.0f}x | {cached_cpu:,.0f} |")


if __name__ == "__main__":
    main()
