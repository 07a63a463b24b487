"""Sweeps on Dask give the in-process run's table row for row (a LocalCluster here, as in CI)."""

import pandas as pd

from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import scenario_from_dict

import distributed  # noqa: F401  (the test extra installs Dask; a missing Dask fails here, loudly)

SCENARIO = {
    "name": "dask", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b",
    "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 8},
    "datacenter": {"pue": 1.1, "grid": "coal"},
    "sweep": {"product": {"workload.batch_size": list(range(1, 101)), "workload.tensor_parallel": [1, 2, 3, 4],
                          "datacenter.grid": ["coal", "gas", "ESP", "wind"],
                          "datacenter.pue": [1.0, 1.1, 1.2, 1.3]}},
    "objectives": ["carbon_per_task", "edp"],
}


def test_dask_matches_the_local_run_row_for_row(tmp_path, db):
    sc = scenario_from_dict(SCENARIO)
    local = run_sweep(sc, db, tmp_path / "local", chunk=1024)
    dist = run_sweep(sc, db, tmp_path / "dask", chunk=1024, executor="local")
    a, b = pd.read_parquet(local.results), pd.read_parquet(dist.results)
    assert len(a) == 6400 and len(list((tmp_path / "dask" / "points.parquet").glob("part-*.parquet"))) == 7
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for o in sc.objectives:
        assert (local.best[o].index, local.best[o].value) == (dist.best[o].index, dist.best[o].value)
    assert local.feasible_points == dist.feasible_points < 6400  # tp 3 does not divide 32 heads
