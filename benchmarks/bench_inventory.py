"""``carbonsim inventory`` on a large fleet: wall time and the command's own peak memory, against
the row-by-row path measured in the same run.

    python benchmarks/bench_inventory.py [--rows 200000] [--baseline-rows 10000] [--quick]

The fleet (written to a temporary folder, seeded) mixes what real inventories hold: CPUs the
database knows written as people write them (``Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz``,
``amd-epyc-9654``), CPUs it does not know (priors), GPU servers (A100, H100, T4, L4, A10G, V100,
L40S) and CPU-only ones, and every column blank in about 40 % of the rows, so that every prior
fills something; each column is drawn on its own, so nearly every row is a different server
(the hard case: a fleet bought in batches repeats its rows). A second fleet of the same size
names a server in a quarter of its rows instead (column ``server``: database servers and a server
file beside the CSV, half of them with a lifetime of their own), the rest as in the first.

Measured, each as a new process through the launcher of ``bench_sweep.py`` (the child's own peak
resident memory, not its parent's):

1. ``carbonsim inventory FLEET --util 0.3,0.7 --grid coal --out fleet.csv`` (and ``.json``, and
   one utilisation), the issue's case: 200,000 servers at two utilisations; and the fleet with
   named servers, CSV, two utilisations;
2. the baseline: the row-by-row path (``read_inventory`` + ``run_inventory``, each server built
   and put through the chain on its own, then the CSV text of every row: what the command did
   before it streamed) on the first ``--baseline-rows`` servers, as servers per second.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CPUS = ["AMD EPYC 7713", "Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz", "amd-epyc-9654", "AMD EPYC 7V12",
        "Intel Xeon Gold 6126", "Xeon Platinum 8480C", "Intel Xeon E5-2680 v4", "Intel Xeon Gold 6248R",
        "AMD EPYC 7302", "Intel Xeon Silver 4214", ""]
GPUS = ["", "", "", "NVIDIA A100-SXM4-80GB", "Tesla T4", "NVIDIA H100 SXM5 80GB", "nvidia-l4", "NVIDIA A10G",
        "Tesla V100-SXM2-32GB", "NVIDIA L40S"]
HEADER = ("id,cpu_model,cpu_count,cores_total,cpu_tdp_w,dram_gb,ssd_count,ssd_gb,hdd_count,hdd_gb,gpu_model,"
          "gpu_count,psu_w,year,lifetime_yr")

#: The row-by-row path as the command ran it before it streamed (a child process).
ROW_BY_ROW = """
import sys
from carbonsim.engine.db import default_database
from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.engine.readers.inventory import read_inventory
from carbonsim.engine.studies.inventory import InventoryResult, run_inventory
from carbonsim.report.study_text import inventory_text

db = default_database()
rows = read_inventory(sys.argv[1])[: int(sys.argv[2])]
out = run_inventory(rows, db, utils=(0.3, 0.7), grid=resolve_grid("coal", db))
open(sys.argv[3], "w").write(inventory_text(InventoryResult(out), "csv"))
"""


#: Servers the second fleet names (``servers/mine.yaml``: :data:`MINE`, beside the CSV).
NAMED = ("azure-a100-x4", "hgx-h100-x8", "aws-t4-x8", "dell-poweredge-r740", "lambda-a6000-x4", "servers/mine.yaml")
MINE = """name: mine
year: 2023
gpus: {part: nvidia-h100-sxm5-80gb, count: 4}
host:
  cpus: {part: amd-epyc-9654, count: 2}
  dram: {gb: 1536, technology: ddr5}
  ssd_gb: 7680
  chassis_gpu_slots: 4
"""


def fleet_csv(n: int, seed: int = 0, named: float = 0.0) -> str:
    """``n`` servers as an inventory CSV (see the module docstring); with ``named`` > 0 that share
    of the rows name a server (a ``server`` column; the other rows are the same as without)."""
    rng = np.random.default_rng(seed)
    pick = np.random.default_rng(seed + 1)
    lines = [HEADER + (",server" if named else "")]
    for i in range(n):
        cpu = CPUS[rng.integers(len(CPUS))]
        gpu = GPUS[rng.integers(len(GPUS))]
        blank = rng.random(12) < 0.4
        cells = [f"srv-{i:07d}", cpu,
                 "" if blank[0] else str(rng.choice([1, 2, 2, 4])),
                 "" if blank[1] else str(int(rng.choice([16, 32, 48, 64, 96, 128, 192]))),
                 "" if blank[2] else f"{rng.uniform(95, 350):.0f}",
                 "" if blank[3] else str(int(rng.choice([64, 128, 256, 512, 1024, 2048]))),
                 "" if blank[4] else str(int(rng.integers(0, 5))),
                 "" if blank[5] else str(int(rng.choice([0, 480, 960, 1920, 3840, 7680]))),
                 "" if blank[6] else str(int(rng.integers(0, 3))),
                 "" if blank[7] else str(int(rng.choice([0, 4000, 16000, 32000]))),
                 gpu, "" if (not gpu or blank[8]) else str(int(rng.choice([1, 2, 4, 8]))),
                 "" if blank[9] else str(int(rng.choice([750, 1100, 1600, 2000, 3000, 6000]))),
                 "" if blank[10] else str(int(rng.integers(2012, 2025))),
                 "" if blank[11] else str(rng.choice([3, 4, 5, 6]))]
        if named and pick.random() < named:
            life = str(pick.choice([3, 5])) if pick.random() < 0.5 else ""
            cells = [cells[0]] + [""] * 13 + [life, NAMED[pick.integers(len(NAMED))]]
        elif named:
            cells.append("")
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _launcher():
    spec = importlib.util.spec_from_file_location("bench_sweep", ROOT / "benchmarks" / "bench_sweep.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000, help="servers in the fleet")
    ap.add_argument("--baseline-rows", type=int, default=10_000, help="servers the row-by-row path runs")
    ap.add_argument("--quick", action="store_true", help="20,000 servers, 2,000 for the baseline (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.baseline_rows = 20_000, 2_000
    bench = _launcher()
    env = bench.clean_env(PYTHONPATH=str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="carbonsim-bench-inventory-"))
    try:
        measure(args, bench, env, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args, bench, env, tmp: Path) -> None:
    fleet = tmp / "fleet.csv"
    fleet.write_text(fleet_csv(args.rows))
    mixed = tmp / "mixed.csv"
    mixed.write_text(fleet_csv(args.rows, named=0.25))
    (tmp / "servers").mkdir()
    (tmp / "servers" / "mine.yaml").write_text(MINE)
    cli = [sys.executable, "-m", "carbonsim.cli", "-q", "inventory", str(fleet), "--grid", "coal"]
    bench.timed(cli + ["--util", "0.3", "--out", str(tmp / "warm.csv")], env)  # bytecode and caches, once
    rows = []
    for what, extra in ((f"{args.rows:,} servers x 2 utilisations, CSV", ["--util", "0.3,0.7", "--out",
                                                                           str(tmp / "o.csv")]),
                        (f"{args.rows:,} servers x 2 utilisations, JSON", ["--util", "0.3,0.7", "--out",
                                                                            str(tmp / "o.json")]),
                        (f"{args.rows:,} servers x 1 utilisation, CSV", ["--util", "0.3", "--out",
                                                                          str(tmp / "o1.csv")])):
        wall, peak = bench.timed(cli + extra, env)
        out = Path(extra[-1])
        rows.append((what, wall, peak, args.rows / wall, out.stat().st_size / 1e6))
    named = cli[:5] + [str(mixed)] + cli[6:] + ["--util", "0.3,0.7", "--out", str(tmp / "m.csv")]
    wall, peak = bench.timed(named, env)
    rows.append((f"{args.rows:,} servers x 2 utilisations, CSV, a quarter naming a server", wall, peak,
                 args.rows / wall, (tmp / "m.csv").stat().st_size / 1e6))
    n_base = min(args.baseline_rows, args.rows)
    wall, peak = bench.timed([sys.executable, "-c", ROW_BY_ROW, str(fleet), str(n_base), str(tmp / "base.csv")], env)
    base_rate = n_base / wall
    rows.append((f"row-by-row path (before streaming), first {n_base:,} servers x 2, CSV", wall, peak, base_rate,
                 (tmp / "base.csv").stat().st_size / 1e6))

    print(f"# inventory benchmark ({os.cpu_count()} cores; fleet of {args.rows:,} servers, seed 0)\n")
    print("| what | wall [s] | peak memory [MB] | servers/s | output [MB] |")
    print("|---|---:|---:|---:|---:|")
    for what, wall, peak, rate, size in rows:
        print(f"| {what} | {wall:.1f} | {peak:,.0f} | {rate:,.0f} | {size:,.0f} |")
    print(f"\nstreamed, CSV, 2 utilisations: {rows[0][3] / base_rate:.1f}x the row-by-row path's servers/s "
          f"(same run)")


if __name__ == "__main__":
    main()
