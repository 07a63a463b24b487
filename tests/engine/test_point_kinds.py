"""Every kind of sweep point behind one declared interface (sweep/kinds.py, issue 15 §3): the same
checks, one parametrised test, for server, offline LLM, online serving, lifecycle and training
scenarios. run_sweep knows nothing else about a kind, so what holds here holds in every sweep."""

import pickle

import numpy as np
import pytest

from carbonsim.engine.chain import MODES, ChainResult
from carbonsim.engine.sweep.kinds import KINDS, PointKind, kind_of
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import scenario_from_dict
from carbonsim.engine.sweep.space import Space

SCENARIOS = {
    "server": {"name": "s", "server": "azure-a100-x4", "load": {"cpu_util": 0.5, "gpu_util": 0.5},
               "datacenter": {"pue": 1.2, "grid": "usa-cfe-2035"}, "period": {"years": 4, "start_year": 2023},
               "sweep": {"product": {"server.host.dram.gb": [256, 512], "datacenter.pue": [1.1, 1.3]}},
               "objectives": ["embodied_kg", "total_kg"]},
    "offline": {"name": "o", "server": "azure-nc96ads-a100-v4", "model": "opt-125m",
                "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 16, "batch_size": 4},
                "datacenter": {"grid": "coal"}, "sweep": {"product": {"workload.batch_size": [1, 8]}}},
    "online": {"name": "n", "server": "azure-nc96ads-a100-v4", "model": "opt-125m",
               "workload": {"mode": "online", "qps": 2.0, "requests": 20, "prompt_tokens": 64, "output_tokens": 32},
               "datacenter": {"grid": "coal"}, "sweep": {"product": {"workload.qps": [1.0, 4.0]}},
               "objectives": ["carbon_per_task"]},
    "lifecycle": {"name": "l", "model": "llama-2-70b",
                  "workload": {"mode": "offline", "prompt_tokens": 512, "output_tokens": 256, "batch_size": 64,
                               "tensor_parallel": 4},
                  "datacenter": {"pue": 1.1, "grid": "usa-cfe-2035"},
                  "lifecycle": {"generations": "nvidia-hgx-8gpu", "start_year": 2022, "horizon_yr": 6,
                                "gpu_refresh_yr": 3, "host_refresh_yr": 6, "demand": {"tokens_per_s": 1e5}},
                  "sweep": {"product": {"lifecycle.gpu_refresh_yr": [2, 3]}}},
    "training": {"name": "t", "training": {"params_b": 7, "tokens_b": 100, "gpu": "nvidia-h100-sxm5-80gb", "gpus": 64},
                 "datacenter": {"pue": 1.1, "grid": "FRA"},
                 "sweep": {"product": {"training.gpus": [64, 128]}}, "objectives": ["total_kg", "days"]},
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_one_interface_for_every_kind_of_point(db, name):
    sc = scenario_from_dict(SCENARIOS[name], f"<{name}>")
    kind = kind_of(sc)
    assert kind is KINDS[name] and isinstance(kind, PointKind) and kind.mode in MODES
    builder = kind.points(db, sc.file)
    space = Space(sc.doc, sc.product, sc.zipped, builder)
    ev = kind.evaluator(sc, space)
    mat = space.chunk(0, space.size)
    res = ev.evaluate(mat)
    # a typed result: named arrays, one value per point, each result with its unit from the result itself
    assert isinstance(res, ChainResult) and res.mode == kind.mode
    for key, values in res.items():
        assert np.shape(values)[0] == space.size, key
        if np.asarray(values).dtype.kind == "f":
            assert res.unit(key), f"{name}: result {key} has no unit"
    # the objectives are result columns, with units; the table's inputs have theirs from the kind
    for objective in sc.objectives:
        column = kind.objective_column(objective)
        assert column in res and kind.unit_of(column) == res.unit(column)
    # the evaluator travels to a Dask worker as plain values and gives the same numbers there
    again = pickle.loads(pickle.dumps(ev)).evaluate(space.chunk(0, space.size))
    for key, values in res.items():
        np.testing.assert_array_equal(np.asarray(values), np.asarray(again[key]), err_msg=key)
    # and the sweep, which knows the kind only through this interface, writes those same rows
    r = run_sweep(sc, db, None, collect=True)
    assert r.points == space.size and r.units == {c: kind.unit_of(c) for c in r.frame.columns}
    for objective in sc.objectives:
        col = kind.objective_column(objective)
        np.testing.assert_allclose(r.frame[col].to_numpy(dtype=float), np.asarray(res[col], dtype=float), rtol=1e-12)
    for path in kind.fixed_inputs:
        if path not in r.columns and path in r.frame:
            assert r.frame[path].nunique() == 1, path


def test_the_sweep_has_no_branch_on_the_kind():
    import inspect

    from carbonsim.engine.sweep import run

    source = inspect.getsource(run.run_sweep)
    for word in ("scenario.lifecycle", "scenario.training", "scenario.online", "scenario.llm", "Lifecycle",
                 "Training", "tasks"):
        assert word not in source, word
