"""Sweep tables that compare like with like: fixed inputs as columns, per-token columns, honest
types, units in the file, a meta record, best points per group, and savings only against a
baseline that was swept."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from carbonsim.cli import main
from carbonsim.engine.sweep.chunks import FixedColumn, to_arrow
from carbonsim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SCEN = """name: {name}
server: azure-nc96ads-a100-v4
model: {model}
workload: {{mode: offline, prompt_tokens: 32, output_tokens: 128, batch_size: {batch}, tensor_parallel: 1}}
datacenter: {{pue: 1.1, grid: coal}}
sweep:
  product:
    workload.batch_size: [1, 8, 64]
    datacenter.grid: [coal, wind]
"""


def sweep(tmp_path, name="t", model="llama-2-7b", batch=8, *extra):
    f = tmp_path / f"{name}.yaml"
    f.write_text(SCEN.format(name=name, model=model, batch=batch))
    r = CliRunner().invoke(main, ["sweep", str(f), "--out", str(tmp_path / name), *extra])
    assert r.exit_code == 0, r.output
    return tmp_path / name


def test_fixed_inputs_are_columns_so_tables_stack(tmp_path):
    a = pd.read_parquet(sweep(tmp_path, "a", "llama-2-7b") / "points.parquet")
    b = pd.read_parquet(sweep(tmp_path, "b", "opt-125m") / "points.parquet")
    both = pd.concat([a, b], ignore_index=True)
    assert list(a.columns) == list(b.columns)
    for col, value in {"server": "azure-nc96ads-a100-v4", "coefficients": "server-lca",  # the default
                       "workload.precision": "fp16", "workload.prompt_tokens": 32,
                       "workload.output_tokens": 128, "datacenter.pue": 1.1}.items():
        assert (both[col] == value).all(), col
    assert set(both["model"]) == {"llama-2-7b", "opt-125m"}


def test_per_token_columns_and_types(tmp_path):
    df = pd.read_parquet(sweep(tmp_path) / "points.parquet")
    assert df["energy_j_per_token"].tolist() == pytest.approx((df["energy_j"] / 128).tolist())
    assert df["total_g_per_1k_tokens"].tolist() == pytest.approx((df["total_g"] / 128 * 1000).tolist())
    assert df["feasible"].dtype == bool and df["max_batch"].dtype.kind == "i"


def test_units_in_parquet_and_meta(tmp_path):
    out = sweep(tmp_path)
    schema = pq.read_schema(out / "points.parquet")
    unit = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in schema}
    assert unit["energy_j"] == "J per request" and unit["total_g_per_1k_tokens"] == "gCO2e per 1000 output tokens"
    assert unit["latency_s"] == "s per request"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["columns"]["energy_j"] == "J per request"
    assert meta["resolved_scenario"]["workload"]["prompt_tokens"] == 32
    assert meta["resolved_scenario"]["sweep"]["product"]["datacenter.grid"] == ["coal", "wind"]
    assert {"carbonsim", "numpy", "numba", "python"} <= set(meta["versions"])
    assert meta["created_utc"].endswith("Z")


def test_json_feasible_is_boolean_and_max_batch_integer(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SCEN.format(name="j", model="llama-2-7b", batch=8))
    doc = json.loads(CliRunner().invoke(main, ["sweep", str(f), "--no-write", "--format", "json"]).stdout)
    m = doc["best"]["edp"]["metrics"]
    assert m["feasible"] is True and isinstance(m["max_batch"], int)


def test_best_by_reports_each_group(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SCEN.format(name="g", model="llama-2-7b", batch=8))
    doc = json.loads(CliRunner().invoke(main, ["sweep", str(f), "--no-write", "--format", "json",
                                               "--best-by", "datacenter.grid"]).stdout)
    carbon = [b for b in doc["best_by"] if b["objective"] == "carbon_per_task"]
    assert [b["group"]["datacenter.grid"] for b in carbon] == ["coal", "wind"]
    for b in carbon:
        # the baseline of a group is the scenario's batch (8) on that group's grid
        assert b["params"]["datacenter.grid"] == b["group"]["datacenter.grid"]
        assert b["saving_vs_baseline"] == pytest.approx(1 - b["value"] / b["baseline_value"])
    # without --best-by the saving would compare wind's best with coal's baseline: never so
    coal, wind = carbon
    assert wind["baseline_value"] < coal["baseline_value"]
    bad = CliRunner().invoke(main, ["sweep", str(f), "--no-write", "--best-by", "workload.precision,nope"])
    assert bad.exit_code == 2 and "--best-by" in bad.stderr and "'nope'" in bad.stderr


def test_baseline_outside_the_swept_range_gives_no_saving(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SCEN.format(name="o", model="llama-2-7b", batch=256))  # 256 is not among 1, 8, 64
    r = CliRunner().invoke(main, ["sweep", str(f), "--no-write", "--format", "json"])
    best = json.loads(r.stdout)["best"]
    for b in best.values():
        assert b["saving_vs_baseline"] is None
        assert "workload.batch_size is not among the swept values" in b["baseline_note"]
    table = CliRunner().invoke(main, ["sweep", str(f), "--no-write"]).stdout
    assert "n/a" in table and "not among the swept values" in table and "%" not in table.split("saving")[1][:40]


@pytest.mark.parametrize("values", [
    np.array([1.5, np.nan, -np.inf, 2.0]),
    np.array([3, 0, -7], dtype=np.int64),
    np.array([3, 0, 7], dtype=np.int32),
    np.array([True, False, True, True, False, False, True, False, True]),  # more than one byte of bits
    np.array(["", "does not fit", "", "naïve ✓"], dtype=object),
    np.array(["a", None, "b"], dtype=object),  # nulls: handed to pyarrow
    np.array([], dtype=object),
])
def test_columns_reach_arrow_unchanged(values):
    # the writer builds Arrow arrays from raw buffers (pa.array would import pandas, 0.2 s of
    # every sweep); what reaches the file must equal what pyarrow's own conversion gives
    ours = to_arrow(values)
    theirs = pa.array(values, type=pa.string() if values.dtype == object else None)
    assert ours.type == theirs.type and ours.null_count == theirs.null_count
    np.testing.assert_array_equal(ours.to_numpy(zero_copy_only=False), theirs.to_numpy(zero_copy_only=False))


@pytest.mark.parametrize("value", ["coal", 0.5, 7, True])
def test_fixed_columns_reach_arrow_unchanged(value):
    assert FixedColumn(value, 5).arrow().equals(pa.array([value] * 5))


def test_the_main_job_loads_neither_pandas_nor_numba(tmp_path):
    # the main job's start-up: pandas is needed only for --plots, CSV tables and the Python API;
    # Numba only where a kernel runs (180 offline points run on the NumPy reference), and importing
    # it takes as long as the rest of the job (docs/performance.md: an eager import in the serving
    # package once loaded it into every command)
    code = ("import sys; from carbonsim.cli import main; sys.argv = ['carbonsim', '-q', 'sweep', "
            f"{str(ROOT / 'scenarios' / 'a100x4.yaml')!r}, '--out', {str(tmp_path / 'out')!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
            "assert 'numba' not in sys.modules, 'numba was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert (tmp_path / "out" / "points.parquet").exists()



def test_hf_eager_engine_adds_its_host_time_per_layer(db):
    # hf-eager (docs/perf.md): a synchronous engine whose host time per step is c_L x layers; at
    # batch 1 without a prefill budget a task has 1 + output_tokens steps
    import carbonsim

    doc = {"name": "hf", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b",
           "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 1,
                        "tensor_parallel": 1},
           "datacenter": {"pue": 1.1, "grid": "coal"},
           "sweep": {"product": {"workload.engine": ["synchronous", "hf-eager"]}}}
    pts = carbonsim.sweep(doc, db=db).points.set_index("workload.engine")

    def v(x):
        return getattr(x, "value", x)

    engines = db.get("perf", "calibration")["engines"]
    c_l, sync = v(engines["hf-eager"]["cpu_per_layer_s"]), engines["vllm-sync"]
    layers = v(db.get("models", "llama-2-7b")["layers"])
    assert layers == 32 and c_l == pytest.approx(0.376e-3, rel=0.01)  # docs/perf.md's table
    per_step = c_l * layers - (v(sync["cpu_base_s"]) + v(sync["cpu_per_seq_s"]) * 1)
    assert pts.loc["hf-eager", "latency_s"] - pts.loc["synchronous", "latency_s"] == pytest.approx(
        129 * per_step, rel=1e-9)
    online = {"mode": "online", "prompt_tokens": 32, "output_tokens": 128, "qps": 1, "requests": 10}
    for workload, words in (({**doc["workload"], "tensor_parallel": 2}, "calibrated on single-GPU runs"),
                            (online, "hf-eager runs static batches")):
        bad = {**doc, "workload": {**workload, "engine": "hf-eager"}}
        bad.pop("sweep")
        with pytest.raises(InputError, match=words) as err:
            carbonsim.sweep(bad, db=db)
        assert err.value.field == "workload.engine"


def test_measured_vllm_engine_adds_its_sync_and_fixed_attention_time(db):
    # vllm-0.11 (docs/perf.md section 1): the overlapped form plus a per-step sync (GPU waiting) and a
    # fixed decode-attention time per sequence, layer and head; at batch 8 on one GPU the CUDA-graph
    # padding changes nothing (8 is a captured size) and the hidden host time stays hidden
    import carbonsim

    doc = {"name": "v011", "server": "hgx-h100-x8", "model": "llama-3.1-8b",
           "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 8,
                        "tensor_parallel": 1, "precision": "bf16"},
           "datacenter": {"pue": 1.1, "grid": "coal"},
           "sweep": {"product": {"workload.engine": ["overlapped", "vllm-0.11"]}}}
    pts = carbonsim.sweep(doc, db=db).points.set_index("workload.engine")
    e = db.get("perf", "calibration")["engines"]["vllm-0.11"]
    sync, head = e["step_sync_s"].value, e["attn_head_s"].value
    assert sync == pytest.approx(1.46e-3, rel=0.01) and head == pytest.approx(43.6e-9, rel=0.01)  # docs/perf.md
    extra = 129 * sync + 128 * 8 * 32 * 32 * head   # 1 prefill + 128 decode steps; batch 8, 32 layers, 32 heads
    assert pts.loc["vllm-0.11", "latency_s"] - pts.loc["overlapped", "latency_s"] == pytest.approx(extra, rel=1e-6)
    online = {"mode": "online", "prompt_tokens": 32, "output_tokens": 128, "qps": 1, "requests": 10,
              "engine": "vllm-0.11"}
    bad = {**doc, "workload": online}
    bad.pop("sweep")
    with pytest.raises(InputError, match="calibrated for offline and steady-state batches") as err:
        carbonsim.sweep(bad, db=db)
    assert err.value.field == "workload.engine"
