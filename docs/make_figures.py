"""Regenerate docs/figures/* (the seed's Figs. 2, 7, 8, 9/10 and §5.3, training runs, a Pareto front) from the shipped scenarios.

    python docs/make_figures.py [--out docs/figures] [--only STEM ...]

Each figure is written at double-column (7 in) and single-column (3.5 in) width as PDF, SVG
and PNG; ``docs/figures.md`` describes them. The sweeps run with the default database.

The tables come from the engine as ``carbonsim sweep`` writes them (server-only sweeps carry
the per-component embodied columns and the host/GPU split of power and rates).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from carbonsim.engine.db import default_database
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import load_scenario
from carbonsim.engine.sweep.decisions import pareto_frame
from carbonsim.report import pareto_plots, plots

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def sweep_table(name: str, db, sets: tuple = ()) -> pd.DataFrame:
    """Run ``scenarios/<name>.yaml`` (with ``--set`` assignments) and return its table."""
    return run_sweep(load_scenario(SCENARIOS / f"{name}.yaml", sets), db, None, collect=True).frame


def main_job_front(df: pd.DataFrame, width: str):
    """The main job's front of carbon against latency per request, one per grid (held)."""
    cols = ["total_g", "latency_s"]
    return pareto_plots.fig_pareto(df, pareto_frame(df, cols, held=["datacenter.grid"]), cols,
                                   held=["datacenter.grid"], width=width)


#: The seed's own coefficient set, for the figures that redraw its published numbers from a
#: scenario that runs on the project default (server-configs is a planner's sweep).
SEED_SET = ("coefficients=hotcarbon24",)

#: (file stem, scenario, figure function, keyword arguments[, --set assignments]). The where=
#: values pick the seed's configurations; they are all printed in each figure's note.
FIGURES = (
    ("fig2_rates_per_second", "server-configs", plots.fig_rates_by_grid,
     dict(where={"server.host.dram.gb": 880, "server.host.ssd_gb": 3840, "server.gpus.count": 4,
                 "server.lifetime_yr": 4}), SEED_SET),
    ("fig2_carbon_per_request", "seed-grid-sources", plots.fig_rates_by_grid,
     dict(where={"workload.batch_size": 64, "workload.tensor_parallel": 1})),
    ("fig7_components", "server-configs", plots.fig_components,
     dict(by="server.gpus.count", where={"server.host.dram.gb": 880, "server.host.ssd_gb": 3840,
                                         "server.lifetime_yr": 4}), SEED_SET),
    ("fig8_batch_models", "seed-batching", plots.fig_batch_metrics, {}),
    ("fig8_batch_tp", "a100x4", plots.fig_batch_metrics, dict(grid="coal")),
    ("fig9_10_tp_synchronous", "seed-tensor-parallel", plots.fig_tp_tradeoffs, {}),
    ("fig9_10_tp_overlapped", "seed-tensor-parallel", plots.fig_tp_tradeoffs, {},
     ("workload.engine=overlapped",)),
    ("sec5_3_serving_load", "seed-sharing", plots.fig_serving_load, {}),
    ("training_runs", "training-gpus", plots.fig_training, {}),
    ("pareto_carbon_latency", "a100x4", main_job_front, {}),
)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    ap.add_argument("--only", nargs="+", default=None, metavar="STEM", help="draw only these figures")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    db = default_database()
    tables: dict[tuple, pd.DataFrame] = {}
    for stem, name, fn, kwargs, *sets in FIGURES:
        if args.only and stem not in args.only:
            continue
        sets = tuple(sets[0]) if sets else ()
        if (name, sets) not in tables:
            tables[name, sets] = sweep_table(name, db, sets)
        for width in ("double", "single"):
            fig = fn(tables[name, sets], width=width, **kwargs)
            for path in plots.save_figure(fig, args.out, f"{stem}-{width}", plots.FORMATS):
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
