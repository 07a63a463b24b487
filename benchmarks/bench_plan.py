"""Fleet-plan speed: a plan with about 10^4 candidate instances, capacity search included.

    python benchmarks/bench_plan.py [--quick]

The plan: a chat service with a 24-hour load profile (Llama-2-13B, SLO 1 s TTFT / 100 ms TPOT) and
a nightly batch (Llama-3-8B) on five A100/H100 server types, each with host variants (DRAM and
SSD), GPU x host lifetimes, tensor parallelism 1-8, four ``max_num_seqs`` and three batch sizes,
host-CPU reuse and prices: 10,416 candidates. The run reports, per stage, wall time and the
candidates per second of the whole plan (capacity search on the serving simulator, pricing through
the chain, four lexicographic MILPs, the SLO re-check), and two baselines measured in the same run:

* the simulations the capacity search would need with one search per candidate instead of per
  shared instance (counted, not run: the ratio is the sharing's saving);
* the carbon objective's MILP without dominance pruning (run, with a time limit).

Timings exclude the kernels' first compilation (Numba caches them on disk). The target is under
10 s for the whole plan on the project's reference machine (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from carbonsim.engine.db import default_database
from carbonsim.engine.plan import run as plan_run
from carbonsim.engine.plan.spec import plan_from_dict

SERVERS = ["azure-nd96amsr-a100-v4", "hgx-h100-x8", "azure-nc96ads-a100-v4", "azure-nc48ads-a100-v4",
           "lambda-a100-x8"]


def bench_plan(quick: bool = False) -> dict:
    chat = [10, 8, 8, 8, 8, 10, 14, 20, 26, 32, 36, 38, 40, 40, 40, 38, 36, 34, 32, 28, 24, 20, 16, 12]
    return {
        "name": "bench-plan", "horizon_yr": 4, "coefficients": "hotcarbon24",
        "datacenter": {"grid": "coal", "pue": 1.2},
        "services": [
            {"name": "chat", "model": "llama-2-13b", "mode": "online", "qps": chat,
             "prompt_tokens": {"dist": "lognormal", "mean": 262, "shape": 1.0, "max": 2048},
             "output_tokens": {"dist": "exponential", "mean": 256, "max": 1000},
             "slo": {"ttft_s": 1.0, "tpot_s": 0.1, "attainment": 0.9}, "engine": "overlapped"},
            {"name": "batch", "model": "llama-3-8b", "mode": "offline", "tokens_per_day": 3.0e8,
             "prompt_tokens": 1024, "output_tokens": 256, "deadline_h": 12, "start_h": 20},
        ],
        "candidates": {
            "servers": SERVERS[:2] if quick else SERVERS,
            "tensor_parallel": [1, 2, 4, 8], "max_num_seqs": [32, 64, 128, 256], "batch_size": [32, 128, 512],
            "host": {"dram_gb": [256, 512, 1024], "ssd_gb": [3840]},
            "lifetime": {"gpu_yr": [3, 5, 6], "host_yr": [6, 8]},
        },
        "reuse": {"host_cpus": True, "batch_size": [4, 16, 64]},
        "prices": {"servers": {s: {"gpus_usd": 100000, "host_usd": 30000} for s in SERVERS},
                   "dram_usd_per_gb": 4, "ssd_usd_per_gb": 0.1, "energy_usd_per_kwh": 0.08},
        "solver": {"time_limit_s": 60},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="two server types (about a quarter of the candidates)")
    args = ap.parse_args()
    db = default_database()
    spec = plan_from_dict(bench_plan(args.quick), "bench-plan", db=db)
    # warm the compiled kernels (their first compilation is cached on disk, not part of a plan's time)
    warm = plan_from_dict({**bench_plan(True), "candidates": {**bench_plan(True)["candidates"],
                                                              "servers": ["azure-nc48ads-a100-v4"],
                                                              "tensor_parallel": [1], "max_num_seqs": [32],
                                                              "batch_size": [32]}}, "warm", db=db)
    plan_run.plan(warm, db)

    t = time.perf_counter()
    result = plan_run.plan(spec, db)
    wall = time.perf_counter() - t
    n = result.counts["candidates"]
    online = result.counts["online_instances"]
    online_cands = result.counts["online_candidates"]
    sims = result.counts["simulations"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numba threads "
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}")
    print()
    print("| stage | seconds |")
    print("|---|---:|")
    for k, v in result.timings.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **whole plan (wall)** | **{wall:.2f}** |")
    print()
    print(f"candidates: {n:,} ({result.counts['priced']:,} can serve), instances {result.counts['instances']} "
          f"({online} online), kept after pruning per objective {result.counts['kept_after_pruning']}")
    print(f"candidates per second (whole plan): {n / wall:,.0f}; SLO re-check rounds: "
          f"{result.carbon.recheck['rounds']} ({len(result.carbon.recheck['derated'])} instances derated)")
    print(f"capacity search: {sims} simulations for {online} shared online instances; one search per online "
          f"candidate ({online_cands:,}) would need about {online_cands * sims / max(online, 1):,.0f} "
          f"({online_cands / max(online, 1):,.0f}x)")
    unpruned_solve(result, spec)
    return result, wall


def unpruned_solve(result, spec):
    """The carbon objective's program with and without pruning, timed in the same run."""
    from carbonsim.models.planning.milp import prune_dominated, solve_fleet

    problem, levels = result.program
    t = time.perf_counter()
    keep = prune_dominated(problem, levels["carbon"])
    sub, r_keep = problem.subset(keep)
    a = solve_fleet(sub, [lv.subset(keep, r_keep) for lv in levels["carbon"]], time_limit_s=60)
    pruned = time.perf_counter() - t
    t = time.perf_counter()
    b = solve_fleet(problem, levels["carbon"], time_limit_s=60)
    full = time.perf_counter() - t
    print(f"carbon MILP: pruned to {int(keep.sum())} of {problem.n_candidates} candidates {pruned:.2f} s "
          f"({a.status}, {a.objectives[0]:,.0f} kg); unpruned {full:.2f} s ({b.status}, "
          f"{b.objectives[0] if b.objectives else float('nan'):,.0f} kg); ratio {full / max(pruned, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
