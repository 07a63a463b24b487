"""Regenerate docs/figures/* (the seed's Figs. 2, 7, 8, 9/10) from the shipped scenarios.

    python docs/make_figures.py [--out docs/figures]

Each figure is written at double-column (7 in) and single-column (3.5 in) width as PDF, SVG
and PNG; ``docs/figures.md`` describes them. The sweeps run with the default database.

Server-only sweeps do not yet write the per-component embodied columns and the host/GPU split
of power and carbon rates (``host_cpu_kg`` …, ``host_power_w``, ``host_operational_mg_per_s`` …).
Until they do, :func:`add_server_columns` computes the missing ones for each configuration of
the table with :func:`carbonsim.assessment.footprint` and checks that they add up to the
sweep's own totals; columns the table already has are left alone.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from carbonsim.db import default_database
from carbonsim.report import plots
from carbonsim.scenario import load_scenario
from carbonsim.sweep.engine import run_sweep

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def _py(v):
    return v.item() if isinstance(v, np.generic) else v


def add_server_columns(df: pd.DataFrame, scenario, db) -> pd.DataFrame:
    """A server-only sweep table with the component and host/GPU split columns filled in.

    Parameters
    ----------
    df : pandas.DataFrame
        Table written by :func:`carbonsim.sweep.engine.run_sweep` for ``scenario``.
    scenario : carbonsim.scenario.Scenario
        The server-only scenario that was swept.
    db : carbonsim.db.store.Database

    Returns
    -------
    pandas.DataFrame
        A copy with ``host_<c>_kg``, ``gpu_<c>_kg``, ``{host,gpu}_embodied_mg_per_s``,
        ``{host,gpu}_power_w`` and ``{host,gpu}_operational_mg_per_s`` (NaN when the power was
        measured, so its split is unknown).

    Raises
    ------
    AssertionError
        When the parts do not add up to the sweep's totals (rtol 1e-9).
    """
    from carbonsim.assessment import footprint
    from carbonsim.grid.carbon import operational_rate_mg_per_s
    from carbonsim.overrides import set_scenario_path
    from carbonsim.sweep.points import PointBuilder, embodied_rows

    builder = PointBuilder(db, scenario.file, embodied_rows())
    swept = [c for c in df.columns if c in scenario.product or c in scenario.zipped]
    config = [c for c in swept if not c.startswith("datacenter.")]  # the grid and PUE leave the server alone
    new: dict[str, np.ndarray] = {}
    groups = df.groupby(config, sort=False).indices if config else {(): np.arange(len(df))}
    for key, rows in groups.items():
        key = key if isinstance(key, tuple) else (key,)
        doc = scenario.doc
        for col, value in zip(config, key):
            doc = set_scenario_path(doc, col, _py(value))
        load, dc = doc.get("load") or {}, doc.get("datacenter") or {}
        fp = footprint(builder.server(doc), builder.coefficients(doc), 0.0, "", "", power_w=dc.get("power_w"),
                       cpu_util=load.get("cpu_util"), gpu_activity=load.get("gpu_activity"))
        e = fp.embodied
        values = {**{f"host_{c}_kg": v for c, v in e.host_components_kg.items()},
                  **{f"gpu_{c}_kg": v for c, v in e.gpu_components_kg.items()},
                  "host_embodied_mg_per_s": e.host_mg_per_s, "gpu_embodied_mg_per_s": e.gpu_mg_per_s,
                  "host_power_w": np.nan if fp.host_power_w is None else fp.host_power_w,
                  "gpu_power_w": np.nan if fp.gpu_power_w is None else fp.gpu_power_w}
        for name, v in values.items():
            new.setdefault(name, np.full(len(df), np.nan))[rows] = v
    out = df.copy()
    for name, v in new.items():
        if name not in out.columns:
            out[name] = v
    for part in ("host", "gpu"):
        name = f"{part}_operational_mg_per_s"
        if name not in out.columns and "ci_g_per_kwh" in out.columns:
            out[name] = operational_rate_mg_per_s(out[f"{part}_power_w"], out["pue"], out["ci_g_per_kwh"])
    comps = [c for c in out.columns if (c.startswith("host_") or c.startswith("gpu_")) and c.endswith("_kg")
             and c not in ("host_embodied_kg", "gpu_embodied_kg")]
    np.testing.assert_allclose(out[comps].sum(axis=1), out["embodied_kg"], rtol=1e-9)
    np.testing.assert_allclose(out["host_embodied_mg_per_s"] + out["gpu_embodied_mg_per_s"],
                               out["embodied_mg_per_s"], rtol=1e-9)
    if "power_w" in out.columns:
        split = out[["host_power_w", "gpu_power_w"]].notna().all(axis=1)
        np.testing.assert_allclose(out.loc[split, "host_power_w"] + out.loc[split, "gpu_power_w"],
                                   out.loc[split, "power_w"], rtol=1e-9)
    return out


def sweep_table(name: str, db, work: Path) -> pd.DataFrame:
    """Run ``scenarios/<name>.yaml`` and return its table (server-only columns filled in)."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    result = run_sweep(scenario, db, work / name, "parquet")
    df = pd.read_parquet(result.results)
    return df if scenario.llm else add_server_columns(df, scenario, db)


#: (file stem, scenario, figure function, keyword arguments). The where= values pick the seed's
#: configurations; they are all printed in each figure's note.
FIGURES = (
    ("fig2_rates_per_second", "server-configs", plots.fig_rates_by_grid,
     dict(where={"server.host.dram.gb": 880, "server.host.ssd_gb": 3840, "server.gpus.count": 4,
                 "server.lifetime_yr": 4})),
    ("fig2_carbon_per_request", "seed-grid-sources", plots.fig_rates_by_grid,
     dict(where={"workload.batch_size": 64, "workload.tensor_parallel": 1})),
    ("fig7_components", "server-configs", plots.fig_components,
     dict(by="server.gpus.count", where={"server.host.dram.gb": 880, "server.host.ssd_gb": 3840,
                                         "server.lifetime_yr": 4})),
    ("fig8_batch_models", "seed-batching", plots.fig_batch_metrics, {}),
    ("fig8_batch_tp", "a100x4", plots.fig_batch_metrics, dict(grid="coal")),
    ("fig9_10_tp_synchronous", "seed-tensor-parallel", plots.fig_tp_tradeoffs,
     dict(where={"workload.engine": "synchronous"})),
    ("fig9_10_tp_overlapped", "seed-tensor-parallel", plots.fig_tp_tradeoffs,
     dict(where={"workload.engine": "overlapped"})),
)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    db = default_database()
    tables: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for stem, name, fn, kwargs in FIGURES:
            if name not in tables:
                tables[name] = sweep_table(name, db, Path(tmp))
            for width in ("double", "single"):
                fig = fn(tables[name], width=width, **kwargs)
                for path in plots.save_figure(fig, args.out, f"{stem}-{width}", plots.FORMATS):
                    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
