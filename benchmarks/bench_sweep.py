"""Sweep throughput, the main job's wall time and peak memory, each against a baseline measured in
the same run.

    python benchmarks/bench_sweep.py [--quick] [--baseline-rev REV]

1. Offline LLM sweep, points/s (evaluation and best points, no table), with the Numba kernels
   and with the same engine on the NumPy reference implementations.
2. Server-only sweep, points/s end to end writing Parquet (10^6 points over four axes), kernels
   against the NumPy-reference engine; and a pure-Python loop (one load + one embodied() call
   per configuration, as per-server tools work).
3. Through the command line, as a new process each (the way a user runs it): the main job
   (`carbonsim sweep scenarios/a100x4.yaml`, cold with an empty kernel cache and warm, and warm
   against ``python -c "import numpy, numba"``, the floor issue 15 holds it to 1.5x of) and a
   1,000 x 1,000 server sweep (2,000 axis values to build, 10^6 points written); with
   ``--baseline-rev`` the same two commands of an earlier carbonsim (a git revision of this
   repository, checked out into a temporary worktree) run in the same session.
4. Peak resident memory of a 10^7-point server sweep (a child process; not with --quick).
"""

from __future__ import annotations

import argparse
import os
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


def square_scenario(n: int, gpu_key: str = "gpu_util") -> str:
    """The issue's set-up stress test: two server axes of n values each (n^2 points)."""
    dram = ", ".join(str(64 + i) for i in range(n))
    ssd = ", ".join(str(100 + 4 * i) for i in range(n))
    return (f"name: square\nserver: azure-a100-x4\nload: {{cpu_util: 0.5, {gpu_key}: 0.5}}\n"
            f"datacenter: {{pue: 1.2, grid: coal}}\nsweep:\n  product:\n    server.host.dram.gb: [{dram}]\n"
            f"    server.host.ssd_gb: [{ssd}]\n")


def run(doc: dict, out_dir, db, compiled=None, **kw):
    """One sweep in this process; ``compiled=False`` forces the NumPy references."""
    from carbonsim.engine.sweep import kinds
    from carbonsim.engine.sweep import run as sweep_run
    from carbonsim.engine.sweep.scenario import scenario_from_dict

    classes = (kinds._ChainKind, kinds.OfflineKind)
    saved = [c.__dict__["compiled"] for c in classes]
    if compiled is not None:
        for c in classes:
            c.compiled = lambda self, scenario, space, samples=0: compiled
    try:
        sc = scenario_from_dict(doc, "<benchmark>")
        t0 = time.perf_counter()
        r = sweep_run.run_sweep(sc, db, out_dir, **kw)
        return r.points, time.perf_counter() - t0
    finally:
        for c, f in zip(classes, saved):
            c.compiled = f


#: Runs a command as its own child and reports that child's peak RSS. Measuring through this small
#: launcher matters: on Linux a child's ``ru_maxrss`` starts from the memory of the process that
#: forked it (``vfork``/``fork`` then ``exec`` keep the parent's high-water mark), so a child of a
#: large benchmark process would report the benchmark's size; a child of the launcher starts from
#: the launcher's, about 10 MB.
LAUNCHER = ("import os, subprocess, sys\n"
            "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "_, status, usage = os.wait4(p.pid, 0)\n"
            "p.returncode = os.waitstatus_to_exitcode(status)\n"
            "sys.stderr.write(f'\\ncarbonsim-bench-maxrss-kib {usage.ru_maxrss}\\n')\n"
            "sys.exit(p.returncode)\n")


def timed(args, env=None, cwd=None) -> tuple[float, float]:
    """Wall time [s] and peak RSS [MiB] of one command: its own peak, taken from its resource usage
    by a small launcher process (:data:`LAUNCHER`). ``RUSAGE_CHILDREN`` of this process, used before,
    gave the largest peak of every child so far (619 MB for a sweep that peaked at 404 MB)."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, *args], capture_output=True, text=True, env=env,
                       cwd=cwd)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise subprocess.CalledProcessError(r.returncode, args, stderr=r.stderr)
    kib = int(r.stderr.rsplit("carbonsim-bench-maxrss-kib", 1)[1].split()[0])
    return wall, kib / 1024  # ru_maxrss is in KiB on Linux


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as a user's shell
    env.update(extra)
    return env


def cli_timings(tmp: Path, src: Path | None, label: str, gpu_key: str) -> list[tuple[str, str, float]]:
    """Main job cold and warm, and the 1,000 x 1,000 sweep, as new processes of one code version."""
    env = clean_env()
    cache = tmp / f"numba-cache-{label}"
    cli = [sys.executable, "-m", "carbonsim.cli", *(["-q"] if src is None else [])]  # -q is newer than a9e22a8
    if src is not None:  # the earlier checkout first on the path (PYTHONPATH is searched before site-packages)
        env["PYTHONPATH"] = str(src)
    # each version runs from its own folder: ``python -m`` puts the working folder first on the path,
    # so run from this checkout the "earlier" commands imported this version (the baseline rows
    # equalled this version's until 2026-12-06)
    where = str(src or ROOT)
    main = [*cli, "sweep", str((src or ROOT) / "scenarios" / "a100x4.yaml"), "--out", str(tmp / f"main-{label}")]
    cold, _ = timed(main, dict(env, NUMBA_CACHE_DIR=str(cache)), where)
    warm = min(timed(main, dict(env, NUMBA_CACHE_DIR=str(cache)), where)[0] for _ in range(3))
    scen = tmp / f"square-{label}.yaml"
    scen.write_text(square_scenario(1000, gpu_key))
    square = [*cli, "sweep", str(scen), "--out", str(tmp / f"square-{label}")]
    timed(square, dict(env, NUMBA_CACHE_DIR=str(cache)), where)  # compile what this sweep needs
    wall = min(timed(square, dict(env, NUMBA_CACHE_DIR=str(cache)), where)[0] for _ in range(2))
    # the floor a warm main job is held to (issue 15: within 1.5x of starting Python with NumPy and Numba)
    imports = min(timed([sys.executable, "-c", "import numpy, numba"], env, where)[0] for _ in range(3))
    return [(label, "main job cold [s]", cold), (label, "main job warm [s]", warm),
            (label, "python -c 'import numpy, numba' [s]", imports),
            (label, "  main job warm / import numpy, numba", warm / imports),
            (label, "1,000 x 1,000 server sweep [s]", wall), (label, "  points/s end to end", 1e6 / wall)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller spaces (a smoke run)")
    ap.add_argument("--baseline-rev", default=None,
                    help="git revision of an earlier carbonsim to time the command-line cases against")
    args = ap.parse_args()
    from carbonsim.engine.db import default_database

    db = default_database()
    tmp = Path(tempfile.mkdtemp(prefix="carbonsim-bench-"))
    rows = []
    worktree = None
    try:
        # 1. LLM sweep ----------------------------------------------------------------------------
        n_batch = 16 if args.quick else 128
        run(llm_scenario(2), None, db, compiled=True)  # load the kernels
        n, t = run(llm_scenario(n_batch), None, db)
        nb, tb = run(llm_scenario(max(2, n_batch // 8)), None, db, compiled=False)
        rows.append(("offline LLM sweep, evaluate + best points (no table)", n, n / t, nb / tb))
        n, t = run(llm_scenario(n_batch), tmp / "llm", db)
        rows.append(("offline LLM sweep, writing Parquet", n, n / t, None))

        # 2. server-only sweep ----------------------------------------------------------------------
        n_dram = 5 if args.quick else 25
        n, t = run(server_scenario(n_dram), tmp / "srv", db)
        nb, tb = run(server_scenario(n_dram), tmp / "srv-ref", db, compiled=False)
        rows.append((f"server-only sweep (four axes), writing Parquet ({n:,} points)", n, n / t, nb / tb))
        from carbonsim.engine.inputs.coefficients import load_coefficients
        from carbonsim.engine.inputs.server import load_server
        from carbonsim.engine.studies.embodied import embodied

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

        # 3. the command line, this version and (optionally) an earlier one --------------------------
        timings = cli_timings(tmp, None, "this version", "gpu_util")
        if args.baseline_rev:
            worktree = tmp / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.baseline_rev],
                           check=True, capture_output=True)
            timings += cli_timings(tmp, worktree, args.baseline_rev[:10], "gpu_activity")
        print("\n| code | command line, new process each | value |\n|---|---|---:|")
        for label, what, value in timings:
            print(f"| {label} | {what} | {value:,.2f} |" if value < 1000 else f"| {label} | {what} | {value:,.0f} |")

        # 4. peak memory of a 10^7-point sweep ---------------------------------------------------------
        if not args.quick:
            scen = tmp / "big.yaml"
            scen.write_text(yaml.safe_dump(server_scenario(250)))
            wall, peak = timed([sys.executable, "-m", "carbonsim.cli", "-q", "sweep", str(scen), "--out",
                                str(tmp / "big")], clean_env())
            size = sum(p.stat().st_size for p in (tmp / "big").iterdir()) / 1e6
            print(f"\n10^7-point server sweep as a new process: {wall:.1f} s wall, peak RSS {peak:,.0f} MB, "
                  f"Parquet {size:,.0f} MB")
    finally:
        if worktree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                           capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
