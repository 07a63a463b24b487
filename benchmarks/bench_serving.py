"""Serving simulator speed: simulated requests per second of wall time, the compiled kernel against
the readable reference in the same run, and a whole online sweep end to end.

    python benchmarks/bench_serving.py [--quick] [--baseline-rev REV] [--sizes 1e5,1e6,1e7]

1. The kernel (``simulate_many``: one simulation per point, points in parallel over the cores)
   and the reference (``simulate_reference``, one point at a time) on the same systems: the
   seed's §5.3 setting (two Mistral-7B on two A100 80GB, ShareGPT-like lengths) at 1 to 16
   requests/s per model, both placements, with and without chunked prefill.
2. Requests/s of the kernel by load (few requests in flight means many engine steps per request).
3. ``carbonsim.sweep`` of a QPS x placement x scheduler space (hundreds of points, each one
   simulation), wall time and requests/s end to end (building the points, drawing the requests,
   simulating, accounting, best points).
4. One online point of 10^5, 10^6 and 10^7 requests (``--sizes``), each in a new process: the
   engine's evaluation of the point (``CarbonChain.run_online``: requests drawn inside the
   kernel as it runs, statistics in histograms), its wall time, simulated requests/s, and the
   process's peak RSS before and after it (``ru_maxrss``; the growth is the point's memory).
5. ``--baseline-rev REV``: the kernel of part 1 in this version and in an earlier revision of
   this repository (extracted into a temporary folder with ``git archive``), alternated three
   times in the same session, each on one thread (CPU time of the thread, so that other
   processes on a loaded machine disturb it less) and on all threads (wall time): the ratio is
   what to read on a loaded machine.

Prints a Markdown table for docs/performance.md. Timings exclude the kernels' first compilation
(Numba caches them on disk; the first run of a fresh checkout compiles once, about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
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


def online_chain(db, **kw) -> CarbonChain:
    """The online chain (``CarbonChain.for_online``; in revisions before it, the mode flags), so that
    part 5 can run this script against an earlier revision."""
    if hasattr(CarbonChain, "for_online"):
        return CarbonChain.for_online(db, **kw)
    return CarbonChain(db, tasks=True, online=True, **kw)


def systems_of(doc: dict, db):
    """The serving systems of every point of ``doc`` (built once, outside the timings)."""
    sc = scenario_from_dict(doc, "bench.yaml")
    builder = PointBuilder(db, sc.file, online_chain(db, compiled=False))
    space = Space(sc.doc, sc.product, sc.zipped, builder)
    mat = space.chunk(0, space.size)
    chain = online_chain(db)
    chain.traces = builder.traces.entries
    systems, settings = chain.online_systems(mat, range(space.size))
    return systems, settings, space


def one_model(qps: float, requests: int) -> dict:
    """One model (Mistral-7B) on the A100 server, ShareGPT-like lengths: one point, no sweep."""
    doc = scenario((qps,), requests)
    doc.pop("sweep")
    doc["workload"].pop("placement")
    return doc


def point_child(n: int) -> None:
    """Part 4, in a new process: evaluate one point of ``n`` requests; print time and peak RSS."""
    db = default_database()

    def matrix(doc):
        sc = scenario_from_dict(doc, "bench.yaml")
        builder = PointBuilder(db, sc.file, online_chain(db, compiled=False))
        space = Space(sc.doc, sc.product, sc.zipped, builder)
        return space.chunk(0, 1), builder

    chain = online_chain(db)
    warm, builder = matrix(one_model(4.0, 1000))
    chain.traces = builder.traces.entries
    chain.run_online(warm)   # loads the kernels, allocates the scratch
    mat, _ = matrix(one_model(4.0, n))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    m = chain.run_online(mat)
    dt = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"n": n, "s": dt, "served": float(m["served_requests"][0]), "rss_before_mb": before / 1024,
                      "rss_after_mb": after / 1024, "latency_p99_s": float(m["latency_p99_s"][0])}))


def kernel_child(quick: bool) -> None:
    """Part 5, in a new process (this version or the baseline's): the kernel on part 1's systems."""
    import numba

    db = default_database()
    warm, wset, _ = systems_of(scenario((2.0,), 20), db)
    simulate_many(warm, wset)
    systems, settings, _ = systems_of(scenario((1.0, 2.0, 4.0, 8.0, 16.0), 1000, (0,) if quick else (0, 1, 2)), db)
    n = sum(len(s[1]) for s in systems)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    one = min(_thread_time(lambda: simulate_many(systems, settings)) for _ in range(3))
    numba.set_num_threads(threads)
    many = min(_wall_time(lambda: simulate_many(systems, settings)) for _ in range(3))
    print(json.dumps({"requests": n, "one_thread_cpu_s": one, "threads": threads, "all_threads_wall_s": many}))


def _thread_time(fn) -> float:
    t = time.thread_time()
    fn()
    return time.thread_time() - t


def _wall_time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _child(root: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    res = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def baseline(rev: str, quick: bool) -> None:
    """Part 5: this version's kernel against revision ``rev``'s, alternated in one session."""
    with tempfile.TemporaryDirectory(prefix="carbonsim-bench-serving-") as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        # the baseline's copy of this script runs this version's part 5 against its own code
        (base / "benchmarks" / "bench_serving.py").write_text(Path(__file__).read_text())
        flag = ["--kernel-child"] + (["--quick"] if quick else [])
        runs: dict[str, list] = {"this version": [], rev: []}
        _child(base, *flag)   # the baseline compiles its kernels once (not timed)
        for _ in range(3):
            runs["this version"].append(_child(ROOT, *flag))
            runs[rev].append(_child(base, *flag))
    print(f"\n| kernel (part 1's systems) | requests | 1 thread, CPU time: requests/s | "
          f"{runs['this version'][0]['threads']} threads, wall: requests/s |")
    print("|---|---:|---:|---:|")
    best = {}
    for name, rs in runs.items():
        n = rs[0]["requests"]
        one = n / min(r["one_thread_cpu_s"] for r in rs)
        many = n / min(r["all_threads_wall_s"] for r in rs)
        best[name] = (one, many)
        print(f"| {name} | {n:,} | {one:,.0f} | {many:,.0f} |")
    print(f"\nthis version / {rev}: {best['this version'][0] / best[rev][0]:.2f}x on one thread, "
          f"{best['this version'][1] / best[rev][1]:.2f}x on all threads (best of 3 alternated runs each)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer points (a smoke test)")
    ap.add_argument("--baseline-rev", default=None, help="also time the kernel of this git revision (part 5)")
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="requests of part 4's points (comma-separated)")
    ap.add_argument("--point-child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--kernel-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.point_child is not None:
        point_child(int(args.point_child))
        return
    if args.kernel_child:
        kernel_child(args.quick)
        return
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

    # 4. one point of many requests, each size in a new process
    print("\n| requests in the point | wall time [s] | simulated requests/s | peak RSS before [MB] | "
          "peak RSS after [MB] | growth [MB] |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        r = _child(ROOT, "--point-child", size)
        print(f"| {r['n']:,} | {r['s']:.2f} | {r['served'] / r['s']:,.0f} | {r['rss_before_mb']:.0f} | "
              f"{r['rss_after_mb']:.0f} | {r['rss_after_mb'] - r['rss_before_mb']:.0f} |")

    if args.baseline_rev:
        baseline(args.baseline_rev, args.quick)


if __name__ == "__main__":
    main()
