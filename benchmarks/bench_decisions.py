"""What constraints and Pareto fronts cost a sweep, against the same sweep without them in the
same run; and the front against the O(n^2) definition.

    python benchmarks/bench_decisions.py [--quick]

1. A server sweep of 2 x 10^6 points (DRAM x SSD x PUE, the PUE held), nothing written: points/s
   plain, with a constraint, with a constraint and a two-column front, with a three-column front
   (all in this process, interleaved, the best of ``--repeat`` runs each).
2. ``non_dominated`` on random points (two and three columns, 25 groups) against a brute-force
   O(n^2) loop over the same points, points/s each.

Figures depend on the machine's load: run it on a quiet machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from carbonsim.engine.db import default_database
from carbonsim.engine.sweep.decisions import non_dominated
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import scenario_from_dict


def scenario(n: int) -> dict:
    return {"name": "bench-decisions", "server": "azure-a100-x4", "load": {"cpu_util": 0.5, "gpu_activity": 0.5},
            "datacenter": {"pue": 1.2, "grid": "coal"},
            "sweep": {"product": {"server.host.dram.gb": [64 + i for i in range(n)],
                                  "server.host.ssd_gb": [100 + 4 * i for i in range(n)],
                                  "datacenter.pue": [1.1, 1.3]}}}


def brute(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    keep = []
    for i in range(len(values)):
        same = groups == groups[i]
        if not np.any(same & np.all(values <= values[i], axis=1) & np.any(values < values[i], axis=1)):
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2 x 10^5 points instead of 2 x 10^6")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db = default_database()
    n = 316 if args.quick else 1000
    doc = scenario(n)
    cases = {
        "plain": (doc, {}),
        "constraint (embodied_kg <= 1500)": ({**doc, "constraints": {"embodied_kg": {"max": 1500}}}, {}),
        "constraint + front (embodied_kg, total_mg_per_s)": (
            {**doc, "constraints": {"embodied_kg": {"max": 1500}}}, {"pareto": ["embodied_kg", "total_mg_per_s"]}),
        "front (embodied_kg, total_mg_per_s, power_w)": (doc, {"pareto": ["embodied_kg", "total_mg_per_s", "power_w"]}),
    }
    best = {k: float("inf") for k in cases}
    points = {}
    for _ in range(args.repeat):  # interleaved: the machine's load moves all cases alike
        for name, (d, kw) in cases.items():
            sc = scenario_from_dict(d, "<benchmark>")
            t = time.perf_counter()
            r = run_sweep(sc, db, None, **kw)
            best[name] = min(best[name], time.perf_counter() - t)
            points[name] = (r.points, None if r.pareto is None else len(r.pareto))
    print(f"# decisions benchmark: a server sweep of {points['plain'][0]:,} points, best of {args.repeat}\n")
    print(f"{'case':52s} {'s':>7s} {'points/s':>12s} {'vs plain':>9s} {'front':>6s}")
    for name in cases:
        print(f"{name:52s} {best[name]:7.2f} {points[name][0] / best[name]:12,.0f} {best[name] / best['plain']:8.2f}x "
              f"{points[name][1] if points[name][1] is not None else '-':>6}")
    rng = np.random.default_rng(0)
    print("\n# non_dominated against the O(n^2) definition (random lognormal points, 25 groups)\n")
    for k in (2, 3):
        size = 2000 if args.quick else 5000
        values, groups = rng.lognormal(size=(size, k)), rng.integers(0, 25, size=size)
        t = time.perf_counter()
        fast = non_dominated(values, groups)
        t_fast = time.perf_counter() - t
        t = time.perf_counter()
        slow = brute(values, groups)
        t_slow = time.perf_counter() - t
        assert list(fast) == list(slow)
        big = rng.lognormal(size=(1_000_000, k))
        t = time.perf_counter()
        front = non_dominated(big, np.zeros(len(big), dtype=np.int64))
        t_big = time.perf_counter() - t
        print(f"{k} columns: {size:,} points {size / t_fast:,.0f} points/s (brute force {size / t_slow:,.0f}, "
              f"{t_slow / t_fast:,.0f}x); 10^6 points in one group {1e6 / t_big:,.0f} points/s, front {len(front)}")


if __name__ == "__main__":
    main()
