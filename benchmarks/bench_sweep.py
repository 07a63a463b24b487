"""Sweep throughput, main-job wall time and peak memory, each against a baseline in the same run.

    python benchmarks/bench_sweep.py [--quick]

1. Offline LLM sweep, points/s (evaluation, no table written) with the Numba kernels, and with
   the same engine running the NumPy reference implementations instead.
2. Server-only (embodied) sweep, points/s end to end including writing Parquet, for 10^6 and
   10^7 points; the NumPy-reference engine on 10^6; a pure-Python loop (one load + one embodied()
   call per configuration, as per-server tools work) on 300 points.
3. The main job (`carbonsim sweep scenarios/a100x4.yaml`): cold (no compiled-kernel cache) and
   warm wall time, as a new process each.
4. Peak resident memory of a 10^7-point server sweep (a child process).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def llm_scenario(n_batch: int) -> dict:
    return {
        "name": "bench-llm", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b",
        "coefficients": "hotcarbon24",
        "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 8,
                     "tensor_parallel": 1, "precision": "fp16"},
        "datacenter": {"pue": 1.1, "grid": "coal"},
        "sweep": {"product": {
            "workload.batch_size": list(range(1, n_batch + 1)),
            "workload.prompt_tokens": [16 * (i + 1) for i in range(32)],
            "workload.output_tokens": [16 * (i + 1) for i in range(16)],
            "workload.tensor_parallel": [1, 2, 4],
            "datacenter.grid": ["coal", "gas", "solar", "hydro", "nuclear", "wind"],
        }},
        "objectives": ["carbon_per_task", "edp", "cdp", "cep"],
    }


def server_scenario(n_dram: int) -> dict:
    return {
        "name": "bench-servers", "server": "azure-a100-x4", "coefficients": "hotcarbon24",
        "datacenter": {"pue": 1.2, "grid": "coal"},
        "sweep": {"product": {
            "server.host.dram.gb": [64 + 8 * i for i in range(n_dram)],
            "server.host.ssd_gb": [500 + 100 * i for i in range(200)],
            "server.gpus.count": [1, 2, 3, 4, 5, 6, 7, 8],
            "server.lifetime_yr": [1 + 0.25 * i for i in range(25)],
        }},
        "objectives": ["embodied_kg", "total_mg_per_s"],
    }


@contextlib.contextmanager
def numpy_reference():
    """Swap the Numba kernels for the NumPy reference implementations inside the sweep."""
    import carbonsim.engine.sweep.evaluators as ev
    import carbonsim.engine.sweep.llm as llm
    from carbonsim.models.embodied.server import server_components_reference
    from carbonsim.models.perf.llm import offline_task_reference

    saved = (ev.server_components, llm.server_components, llm.offline_task)
    ev.server_components = llm.server_components = lambda p, out=None: server_components_reference(p)
    llm.offline_task = lambda p, out=None: offline_task_reference(p)
    try:
        yield
    finally:
        ev.server_components, llm.server_components, llm.offline_task = saved


def run(doc: dict, out_dir, db, **kw):
    from carbonsim.engine.sweep.scenario import scenario_from_dict
    from carbonsim.engine.sweep.run import run_sweep

    sc = scenario_from_dict(doc, "<benchmark>")
    t0 = time.perf_counter()
    r = run_sweep(sc, db, out_dir, **kw)
    return r.points, time.perf_counter() - t0


def child_peak_rss_mb(args) -> tuple[float, float]:
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(args, check=True, capture_output=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller spaces (a smoke run)")
    args = ap.parse_args()
    from carbonsim.engine.db import default_database

    db = default_database()
    tmp = Path(tempfile.mkdtemp(prefix="carbonsim-bench-"))
    rows = []
    try:
        # 1. LLM sweep ----------------------------------------------------------------------------
        n_batch = 16 if args.quick else 128
        doc = llm_scenario(n_batch)
        run(llm_scenario(2), None, db)  # warm the kernels
        n, t = run(doc, None, db)
        with numpy_reference():
            nb, tb = run(llm_scenario(max(2, n_batch // 8)), None, db)
        rows.append(("offline LLM sweep, evaluate + best points (no table)", n, n / t, nb / tb))
        n, t = run(doc, tmp / "llm", db)
        rows.append(("offline LLM sweep, writing Parquet", n, n / t, None))

        # 2. server-only sweep ----------------------------------------------------------------------
        for n_dram in ((5,) if args.quick else (25, 250)):
            n, t = run(server_scenario(n_dram), tmp / f"srv{n_dram}", db)
            base = None
            if n_dram == (5 if args.quick else 25):
                with numpy_reference():
                    nb, tb = run(server_scenario(n_dram), tmp / f"srvref{n_dram}", db)
                base = nb / tb
            rows.append((f"server-only sweep, writing Parquet ({n:,} points)", n, n / t, base))
            shutil.rmtree(tmp / f"srv{n_dram}", ignore_errors=True)
        from carbonsim.engine.studies.embodied import embodied
        from carbonsim.engine.inputs.coefficients import load_coefficients
        from carbonsim.engine.inputs.server import load_server

        cs = load_coefficients("hotcarbon24", db)
        t0 = time.perf_counter()
        for i in range(300):
            embodied(load_server("azure-a100-x4", db, overrides={"host.dram.gb": 64 + i}), cs)
        py_rate = 300 / (time.perf_counter() - t0)

        print(f"# sweep benchmark ({os.cpu_count()} cores; {'quick' if args.quick else 'full'} run)\n")
        print("| what | points | carbonsim [points/s] | NumPy-reference engine [points/s] | speed-up |")
        print("|---|---:|---:|---:|---:|")
        for what, n, rate, base in rows:
            b = "-" if base is None else f"{base:,.0f}"
            ratio = "-" if base is None else f"{rate / base:.1f}x"
            print(f"| {what} | {n:,} | {rate:,.0f} | {b} | {ratio} |")
        print(f"\npure Python, one load_server + embodied() per configuration: {py_rate:,.0f} configurations/s")

        # 3. main job cold / warm -----------------------------------------------------------------
        cache_dirs = [p for p in (ROOT / "carbonsim").rglob("__pycache__")]
        for d in cache_dirs:
            for f in list(d.glob("*.nbi")) + list(d.glob("*.nbc")):
                f.unlink()
        job = [sys.executable, "-m", "carbonsim.cli", "sweep", str(ROOT / "scenarios" / "a100x4.yaml"),
               "--out", str(tmp / "main")]
        _, cold = child_peak_rss_mb(job)
        _, warm1 = child_peak_rss_mb(job)
        _, warm2 = child_peak_rss_mb(job)
        print(f"\nmain job `carbonsim sweep scenarios/a100x4.yaml` (180 points): cold {cold:.2f} s "
              f"(compiles the kernels), warm {min(warm1, warm2):.2f} s")

        # 4. peak memory of a 10^7-point sweep ---------------------------------------------------------
        if not args.quick:
            scen = tmp / "big.yaml"
            scen.write_text(yaml.safe_dump(server_scenario(250)))
            peak, wall = child_peak_rss_mb([sys.executable, "-m", "carbonsim.cli", "sweep", str(scen),
                                            "--out", str(tmp / "big")])
            size = sum(p.stat().st_size for p in (tmp / "big").iterdir()) / 1e6
            print(f"10^7-point server sweep as a new process: {wall:.1f} s wall, peak RSS {peak:,.0f} MB, "
                  f"Parquet {size:,.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
