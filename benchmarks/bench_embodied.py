"""Embodied-model throughput: the Numba kernel against a NumPy baseline, in the same run.

Server configurations are random variations (die area, memory, storage, counts, TDP, board
power) of the shipped Azure A100 x4 server under the hotcarbon24 set, evaluated in chunks
through each implementation. Reports configurations per second and the ratio.

    python benchmarks/bench_embodied.py [--n 1000000 10000000] [--chunk 262144]

Also times Monte-Carlo sampling (10,000 samples of one server, end to end).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.db import default_database
from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.arrays import padded_rows
from carbonsim.models.embodied.layout import N_COMPONENTS, P
from carbonsim.models.embodied.server import server_components_kg, server_components_reference
from carbonsim.engine.inputs.server import load_server
from carbonsim.engine.inputs.columns import server_column

VARIED = {  # row -> relative spread of the random variation
    "gpu_die1_area_cm2": 0.5, "gpu_mem_gb": 0.5, "gpu_tdp_w": 0.5, "gpu_board_w": 0.5,
    "cpu_die1_area_cm2": 0.5, "dram_gb": 0.9, "ssd_gb": 0.9, "gpu_count": 0.0,
}


def make_chunk(base: np.ndarray, n: int, rng) -> np.ndarray:
    # laid out as the sweep engine lays out its points (carbonsim/models/arrays.py)
    params = padded_rows(len(base), n)
    params[:] = base[:, None]
    for name, spread in VARIED.items():
        if spread:
            params[P[name]] *= rng.uniform(1 - spread, 1 + spread, n)
    params[P["gpu_count"]] = rng.integers(1, 9, n)
    params[P["gpu_soc_use_die_model"]] = rng.integers(0, 2, n)
    return params


def throughput(fn, params_chunks, repeat=3):
    """Best-of-`repeat` configurations per second of ``fn`` over the chunks."""
    n = sum(c.shape[1] for c in params_chunks)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for c in params_chunks:
            fn(c)
        best = min(best, time.perf_counter() - t0)
    return n / best, best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--chunk", type=int, default=1 << 18)
    ap.add_argument("--baseline-max", type=int, default=2_000_000,
                    help="largest n the NumPy baseline runs (its rate is flat in n)")
    args = ap.parse_args()

    db = default_database()
    base = server_column(load_server("azure-a100-x4", db), load_coefficients("hotcarbon24", db)).value
    rng = np.random.default_rng(0)
    out = padded_rows(N_COMPONENTS, args.chunk)

    t0 = time.perf_counter()
    server_components(make_chunk(base, 8, rng))
    first_call_s = time.perf_counter() - t0

    print(f"# embodied kernel benchmark  ({platform.processor() or platform.machine()}, "
          f"numpy {np.__version__})")
    print(f"first call (compile or load from cache): {first_call_s:.2f} s")
    print("| configurations | chunk | kernel [config/s] | NumPy baseline [config/s] | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.n:
        chunks, left = [], n
        while left > 0:
            m = min(args.chunk, left)
            chunks.append(make_chunk(base, m, rng))
            left -= m
        k_rate, _ = throughput(lambda c: server_components(c, out[:, : c.shape[1]]), chunks)
        if n <= args.baseline_max:
            b_rate, _ = throughput(server_components_reference, chunks, repeat=1)
            ratio = f"{k_rate / b_rate:.1f}x"
            b_txt = f"{b_rate:,.0f}"
        else:
            b_txt, ratio = "(see smaller n)", "-"
        print(f"| {n:,} | {args.chunk:,} | {k_rate:,.0f} | {b_txt} | {ratio} |")
        del chunks

    # one server per call through the readable model, as per-server tools evaluate
    per_server = make_chunk(base, 20_000, rng)
    t0 = time.perf_counter()
    for j in range(per_server.shape[1]):
        server_components_kg(per_server[:, j])
    py_rate = per_server.shape[1] / (time.perf_counter() - t0)
    print(f"\none server per Python call (reference model): {py_rate:,.0f} config/s "
          f"(kernel is {k_rate / py_rate:,.0f}x faster)")

    srv = load_server("azure-a100-x4", db)
    cs = load_coefficients("hotcarbon24", db)
    embodied(srv, cs, samples=10_000, seed=0)  # warm
    t0 = time.perf_counter()
    embodied(srv, cs, samples=10_000, seed=1)
    print(f"\nMonte-Carlo: 10,000 samples of azure-a100-x4, end to end: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
