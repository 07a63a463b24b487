"""Serving simulator speed: simulated requests per second of wall time, the compiled kernel against
the readable reference in the same run, and a whole online sweep end to end.

    python benchmarks/bench_serving.py [--quick]

1. The kernel (``simulate_many``: one simulation per point, points in parallel over the cores)
   and the reference (``simulate_reference``, one point at a time) on the same systems: the
   seed's §5.3 setting (two Mistral-7B on two A100 80GB, ShareGPT-like lengths) at 1 to 16
   requests/s per model, both placements, with and without chunked prefill.
2. Requests/s of the kernel by load (few requests in flight means many engine steps per request).
3. ``carbonsim.sweep`` of a QPS x placement x scheduler space (hundreds of points, each one
   simulation), wall time and requests/s end to end (building the points, drawing the requests,
   simulating, accounting, best points).

Prints a Markdown table for docs/performance.md. Timings exclude the kernels' first compilation
(Numba caches them on disk; the first run of a fresh checkout compiles once, about a minute).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.db import default_database
from carbonsim.engine.sweep.points import PointBuilder
from carbonsim.engine.sweep.scenario import scenario_from_dict
from carbonsim.engine.sweep.space import Space
from carbonsim.models.serving import OUT, simulate_many, simulate_reference

ROOT = Path(__file__).resolve().parent.parent


def scenario(qps, requests, seeds=(0,), max_num_seqs=(256,)) -> dict:
    return {
        "name": "bench-serving", "server": "azure-nc48ads-a100-v4", "model": "mistral-7b", "coefficients": "hotcarbon24",
        "workload": {"mode": "online", "arrival": "poisson", "qps": qps[0], "requests": requests, "seed": 0,
                     "prompt_tokens": {"dist": "lognormal", "mean": 262, "shape": 1.0, "max": 4000},
                     "output_tokens": {"dist": "exponential", "mean": 885, "max": 1000},
                     "placement": "horizontal", "max_num_batched_tokens": 32768},
        "datacenter": {"pue": 1.0, "grid": "coal"},
        "sweep": {"product": {"workload.qps": list(qps), "workload.placement": ["horizontal", "vertical"],
                              "workload.chunked_prefill": [False, True],
                              "workload.max_num_seqs": list(max_num_seqs), "workload.seed": list(seeds)}},
        "objectives": ["carbon_per_task", "latency"],
    }


def systems_of(doc: dict, db):
    """The serving systems of every point of ``doc`` (built once, outside the timings)."""
    sc = scenario_from_dict(doc, "bench.yaml")
    builder = PointBuilder(db, sc.file, CarbonChain.for_online(db, compiled=False))
    space = Space(sc.doc, sc.product, sc.zipped, builder)
    mat = space.chunk(0, space.size)
    chain = CarbonChain.for_online(db)
    chain.traces = builder.traces.entries
    systems, settings = chain.online_systems(mat, range(space.size))
    return systems, settings, space


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer points (a smoke test)")
    args = ap.parse_args()
    db = default_database()
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")

    # warm the kernels (compiled on the first run; cached on disk after)
    warm, wset, _ = systems_of(scenario((2.0,), 20), db)
    t = time.perf_counter()
    simulate_many(warm, wset)
    print(f"first kernel call (loading or compiling): {time.perf_counter() - t:.1f} s")

    # 1. kernel against reference on the same systems
    qps = (1.0, 2.0, 4.0, 8.0, 16.0)
    seeds = (0,) if args.quick else (0, 1, 2)
    systems, settings, _ = systems_of(scenario(qps, 1000, seeds), db)
    n_req = sum(len(s[1]) for s in systems)
    t = time.perf_counter()
    out = simulate_many(systems, settings)
    kernel_s = time.perf_counter() - t
    steps = out[OUT["steps"]].sum()
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    t = time.perf_counter()
    simulate_many(systems, settings)
    one_thread_s = time.perf_counter() - t
    numba.set_num_threads(threads)
    ref_small, _, _ = systems_of(scenario((2.0, 8.0), 100), db)
    t = time.perf_counter()
    ref_req = 0
    for s in ref_small:
        simulate_reference(*s, np.zeros(2))
        ref_req += len(s[1])
    ref_s = time.perf_counter() - t
    t = time.perf_counter()
    k_small = simulate_many(ref_small, np.zeros((2, len(ref_small))))
    k_small_s = time.perf_counter() - t
    del k_small

    rows = [
        (f"kernel ({threads} threads), seed §5.3 setting, QPS 1-16 x placement x chunked prefill", len(systems), n_req,
         n_req / kernel_s, steps / kernel_s),
        ("kernel (1 thread), the same systems", len(systems), n_req, n_req / one_thread_s, steps / one_thread_s),
        ("kernel, the reference's systems (QPS 2, 8; 100 requests per model)", len(ref_small), ref_req,
         ref_req / k_small_s, None),
        ("reference (Python), the same systems", len(ref_small), ref_req, ref_req / ref_s, None),
    ]
    print()
    print("| what | systems | requests | simulated requests/s | engine steps/s |")
    print("|---|---:|---:|---:|---:|")
    for what, m, n, rps, sps in rows:
        print(f"| {what} | {m:,} | {n:,} | {rps:,.0f} | {'' if sps is None else f'{sps:,.0f}'} |")
    print(f"\nkernel / reference on the same systems: {(ref_req / k_small_s) / (ref_req / ref_s):,.0f}x")

    # 2. by load
    print("\n| QPS per model | simulated requests/s (kernel) | engine steps per request | mean batch |")
    print("|---:|---:|---:|---:|")
    for q in qps:
        sy, se, _ = systems_of(scenario((q,), 1000, seeds), db)
        n = sum(len(s[1]) for s in sy)
        t = time.perf_counter()
        o = simulate_many(sy, se)
        dt = time.perf_counter() - t
        print(f"| {q:g} | {n / dt:,.0f} | {o[OUT['steps']].sum() / n:.1f} | {o[OUT['mean_batch']].mean():.1f} |")

    # 3. a sweep end to end
    import carbonsim

    mns = (32, 64, 128, 256)
    qs = tuple(np.round(np.geomspace(0.5, 16, 4 if args.quick else 8), 3))
    doc = scenario(qs, 200, (0,), mns)
    n_points = len(qs) * 2 * 2 * len(mns)
    t = time.perf_counter()
    r = carbonsim.sweep(doc)
    dt = time.perf_counter() - t
    n = int(r.points["served_requests"].sum())
    print(f"\nsweep end to end: {n_points} points (QPS {len(qs)} x placement 2 x chunked prefill 2 x max_num_seqs "
          f"{len(mns)}), {n:,} requests: {dt:.2f} s, {n / dt:,.0f} requests/s, {n_points / dt:,.0f} points/s")
    best = r.best.loc["carbon_per_task"]
    print(f"best carbon_per_task: {best.to_dict()}")


if __name__ == "__main__":
    main()
