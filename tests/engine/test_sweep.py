"""The sweep engine: exact against direct evaluation, chunk-independent, clear errors, no partial output."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from carbonsim.engine.studies.embodied import embodied
from carbonsim.cli import main
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.server import load_server
from carbonsim.engine.sweep.scenario import load_scenario
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.errors import InputError

SERVERS = {
    "name": "server-configs",
    "server": "azure-a100-x4",
    "coefficients": "hotcarbon24",
    "datacenter": {"pue": 1.1, "grid": "gas"},
    "sweep": {"product": {
        "server.host.dram.gb": [256, 880, 2048],
        "server.gpus.count": [1, 4, 8],
        "server.gpus.part": ["nvidia-a100-pcie-40gb", "nvidia-h100-sxm5-80gb"],
        "coefficients": ["hotcarbon24", "act"],
        "server.host_lifetime_yr": [4, 6],
    }},
    "objectives": ["embodied_kg", "total_mg_per_s"],
}


def write(tmp_path, doc, name="s.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


def test_every_point_equals_direct_evaluation(tmp_path, db):
    sc = load_scenario(write(tmp_path, SERVERS))
    r = run_sweep(sc, db, tmp_path / "out", chunk=1024)
    df = pd.read_parquet(r.results)
    assert len(df) == r.points == 3 * 3 * 2 * 2 * 2
    for _, row in df.sample(12, random_state=1).iterrows():
        over = {"host.dram.gb": int(row["server.host.dram.gb"]), "gpus.count": int(row["server.gpus.count"]),
                "gpus.part": row["server.gpus.part"], "host_lifetime_yr": int(row["server.host_lifetime_yr"])}
        e = embodied(load_server("azure-a100-x4", db, overrides=over), load_coefficients(row["coefficients"], db))
        assert row["embodied_kg"] == pytest.approx(e.total_kg, rel=1e-12)
        assert row["embodied_mg_per_s"] == pytest.approx(e.mg_per_s, rel=1e-12)
        # power from the nameplate (GPU TDPs + host share of CPU TDPs), gas 490 g/kWh, PUE 1.1
        assert row["operational_mg_per_s"] == pytest.approx(row["power_w"] * 1.1 * 490 / 3600, rel=1e-12)


def test_chunk_size_does_not_change_results(tmp_path, db):
    sc = load_scenario(write(tmp_path, SERVERS))
    a = pd.read_parquet(run_sweep(sc, db, tmp_path / "a", chunk=1024).results)
    b = pd.read_parquet(run_sweep(sc, db, tmp_path / "b", chunk=5000).results)
    pd.testing.assert_frame_equal(a, b)


def test_background_writes_keep_every_chunk_intact(tmp_path, db):
    # many chunks: each chunk's Parquet write runs on a thread while the next chunk is evaluated;
    # the file must equal a one-chunk run held in memory, row for row, in order
    doc = dict(SERVERS, sweep={"product": {"server.host.dram.gb": list(range(64, 124)),
                                           "server.host.ssd_gb": list(range(100, 160))}})
    sc = load_scenario(write(tmp_path, doc))
    many = run_sweep(sc, db, tmp_path / "many", chunk=256, collect=True)
    one = run_sweep(sc, db, None, chunk=4096, collect=True)
    assert many.points == 3600
    pd.testing.assert_frame_equal(pd.read_parquet(many.results), one.frame)
    pd.testing.assert_frame_equal(many.frame, one.frame)


def test_zip_pairs_values(tmp_path, db):
    doc = dict(SERVERS, sweep={"zip": {"server.host.dram.gb": [256, 512], "server.host.ssd_gb": [100, 200]}})
    r = run_sweep(load_scenario(write(tmp_path, doc)), db, tmp_path / "z", fmt="csv")
    df = pd.read_csv(r.results)
    assert list(zip(df["server.host.dram.gb"], df["server.host.ssd_gb"])) == [(256, 100), (512, 200)]


def test_best_and_saving(tmp_path, db):
    r = run_sweep(load_scenario(write(tmp_path, SERVERS)), db, None)
    b = r.best["embodied_kg"]
    assert b.params["server.gpus.count"] == 1 and b.params["server.host.dram.gb"] == 256
    assert b.saving == pytest.approx(1 - b.value / r.baseline["embodied_kg"])


@pytest.mark.parametrize("change, words", [
    ({"sweep": {"product": {"server.host.dram.gb": [256, -1]}}},
     "sweep.product.server.host.dram.gb[1]: server.host.dram.gb=-1"),
    ({"sweep": {"product": {"server.host.dram.gbx": [1]}}}, "unknown key"),
    ({"sweep": {"product": {"server.gpus.part": ["nvidia-zz"]}}}, "unknown GPU part 'nvidia-zz'"),
    ({"server": "no-such-server"}, "unknown server 'no-such-server'"),
    ({"colour": "red"}, "colour: unknown key"),
    ({"datacenter": {"pue": "high"}}, "datacenter.pue: expected a number"),
    ({"sweep": {"zip": {"server.host.dram.gb": [1, 2], "server.host.ssd_gb": [1]}}}, "equal lengths"),
    ({"objectives": ["edp"]}, "does not apply to a server-only scenario"),
    ({"sweep": {"product": {"datacenter.grid": ["coal", "moon"]}}}, "unknown grid 'moon'"),
])
def test_bad_scenarios_get_one_line_exit_2(tmp_path, change, words):
    doc = {**SERVERS, **change}
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(write(tmp_path, doc)), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["s.yaml"]


def test_missing_scenario_file():
    r = CliRunner().invoke(main, ["sweep", "nope.yaml"])
    assert r.exit_code == 2 and "nope.yaml: file not found" in r.stderr


def test_json_summary_contract(tmp_path):
    r = CliRunner().invoke(main, ["sweep", str(write(tmp_path, SERVERS)), "--out", str(tmp_path / "o"),
                                  "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["points"] == 72 and set(doc["best"]) == {"embodied_kg", "total_mg_per_s"}
    assert doc["results"].endswith("points.parquet")
    meta = json.loads((tmp_path / "o" / "meta.json").read_text())
    assert meta["scenario_hash"] and meta["coefficients"] == "hotcarbon24" and meta["sources"]


def test_set_overrides_scenario_field(tmp_path, db):
    sc = load_scenario(write(tmp_path, SERVERS), sets=["datacenter.grid=wind"])
    assert sc.doc["datacenter"]["grid"] == "wind"
    r = run_sweep(sc, db, None)
    assert r.best["total_mg_per_s"].metrics["ci_g_per_kwh"] == 11.0


def test_set_replaces_or_adds_an_axis(tmp_path, db):
    # axis names hold dots: everything after sweep.product. is the axis, not a nested path
    sc = load_scenario(write(tmp_path, SERVERS), sets=["sweep.product.server.host.dram.gb=[64, 128]",
                                                       "sweep.product.datacenter.pue=[1.1, 1.5]"])
    assert sc.product["server.host.dram.gb"] == [64, 128] and sc.product["datacenter.pue"] == [1.1, 1.5]
    assert run_sweep(sc, db, None).points == int(np.prod([len(v) for v in sc.product.values()])) == 96
    with pytest.raises(InputError, match=r"sweep\.product\.datacenter\.pue\[0\]: datacenter\.pue=0: "
                                         r"datacenter\.pue: must not be below 1"):
        run_sweep(load_scenario(write(tmp_path, SERVERS), sets=["sweep.product.datacenter.pue=[0]"]), db, None)


def test_interacting_axes_are_evaluated_jointly(tmp_path, db):
    # chassis_gpu_slots and gpus.count both set host_share = count / slots: not additive
    doc = dict(SERVERS, sweep={"product": {"server.host.chassis_gpu_slots": [4, 8], "server.gpus.count": [1, 4]}})
    r = run_sweep(load_scenario(write(tmp_path, doc)), db, tmp_path / "o")
    df = pd.read_parquet(r.results)
    for _, row in df.iterrows():
        over = {"host.chassis_gpu_slots": int(row["server.host.chassis_gpu_slots"]),
                "gpus.count": int(row["server.gpus.count"])}
        e = embodied(load_server("azure-a100-x4", db, overrides=over), load_coefficients("hotcarbon24", db))
        assert row["embodied_kg"] == pytest.approx(e.total_kg, rel=1e-12)


def test_plots_are_written(tmp_path, db):
    from click.testing import CliRunner

    scen = Path(__file__).resolve().parents[2] / "scenarios" / "seed-grid-sources.yaml"
    r = CliRunner().invoke(main, ["sweep", str(scen), "--out", str(tmp_path / "o"), "--plots"])
    assert r.exit_code == 0, r.output
    names = {p.name for p in (tmp_path / "o").iterdir()}
    for fig in ("edp_cdp_cep_vs_batch", "latency_vs_energy", "embodied_vs_operational"):
        assert {f"{fig}.png", f"{fig}.svg"} <= names
    assert (tmp_path / "o" / "latency_vs_energy.png").stat().st_size > 10_000
    meta = json.loads((tmp_path / "o" / "meta.json").read_text())
    assert set(meta["figures"]) == {"embodied_vs_operational", "edp_cdp_cep_vs_batch", "latency_vs_energy"}
    assert "figures: embodied_vs_operational" in r.stdout


def test_plots_that_draw_nothing_say_so(tmp_path):
    # one batch size, one grid: no figure applies; --plots must not pass silently
    scen = Path(__file__).resolve().parents[2] / "scenarios" / "a100x4.yaml"
    r = CliRunner().invoke(main, ["sweep", str(scen), "--out", str(tmp_path / "o"), "--plots",
                                  "--set", "sweep.product.workload.batch_size=[8]",
                                  "--set", "sweep.product.datacenter.grid=[coal]"])
    assert r.exit_code == 0, r.output
    assert "--plots: no figure applies" in r.stderr and "figures:" not in r.stdout
    assert json.loads((tmp_path / "o" / "meta.json").read_text())["figures"] == []


def test_main_job_json(tmp_path):
    scen = Path(__file__).resolve().parents[2] / "scenarios" / "a100x4.yaml"
    r = CliRunner().invoke(main, ["sweep", str(scen), "--out", str(tmp_path / "o"), "--format", "json"])
    doc = json.loads(r.stdout)
    assert doc["points"] == 180 and set(doc["best"]) == {"carbon_per_task", "edp", "cdp", "cep"}
    best = doc["best"]["edp"]
    assert set(best["params"]) == {"workload.batch_size", "workload.tensor_parallel", "datacenter.grid"}
    df = pd.read_parquet(doc["results"])
    for col in ("latency_s", "throughput_tok_s", "energy_j", "gpu_energy_j", "host_energy_j", "operational_g",
                "embodied_g", "gpu_embodied_g", "host_embodied_g", "total_g", "edp_j_s", "cdp_g_s", "cep_g_j"):
        assert col in df
    assert np.allclose(df["energy_j"], df["gpu_energy_j"] + df["host_energy_j"])
    assert np.allclose(df["total_g"], df["operational_g"] + df["embodied_g"])
    assert np.allclose(df["edp_j_s"], df["energy_j"] * df["latency_s"])


def test_infeasible_points_are_flagged_not_dropped(tmp_path, db):
    doc = {"name": "big-model", "server": "azure-nc96ads-a100-v4", "model": "llama-2-70b",
           "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 1},
           "datacenter": {"grid": "coal"},
           "sweep": {"product": {"workload.tensor_parallel": [1, 2, 4]}}}
    r = run_sweep(load_scenario(write(tmp_path, doc)), db, tmp_path / "o")
    df = pd.read_parquet(r.results)
    assert len(df) == 3 and list(df["feasible"]) == [False, True, True]  # 140 GB of fp16 weights
    assert r.best["carbon_per_task"].params["workload.tensor_parallel"] in (2, 4)


def test_infeasible_only_space_is_exit_3_and_writes_the_table_it_names(tmp_path):
    doc = {"name": "too-big", "server": "aws-t4-x1", "model": "llama-2-70b",
           "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128}, "datacenter": {"grid": "coal"}}
    r = CliRunner().invoke(main, ["sweep", str(write(tmp_path, doc)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 3 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "no feasible point" in r.stderr and "weights and KV cache do not fit" in r.stderr
    assert "workload.batch_size" in r.stderr  # what to change
    table = tmp_path / "o" / "points.parquet"
    assert f"infeasible_reason column of {table}" in r.stderr
    df = pd.read_parquet(table)
    assert not df["feasible"].any() and set(df["infeasible_reason"]) == {"weights and KV cache do not fit in GPU memory"}
    assert json.loads((tmp_path / "o" / "meta.json").read_text())["feasible_points"] == 0
    r = CliRunner().invoke(main, ["sweep", str(write(tmp_path, doc)), "--no-write"])
    assert r.exit_code == 3 and "run without --no-write" in r.stderr and "infeasible_reason column of" not in r.stderr


def test_an_infeasible_baseline_is_never_shown_as_a_number(tmp_path):
    # the case: the scenario's own tensor_parallel (3) does not divide Llama-2-7B's 32 heads
    r = CliRunner().invoke(main, ["sweep", "scenarios/a100x4.yaml", "--set", "workload.tensor_parallel=3",
                                  "--no-write", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["baseline"] == {"feasible": False, "infeasible_reason": "tensor_parallel does not divide the attention heads"}
    for b in doc["best"].values():
        assert b["baseline_value"] is None and b["saving_vs_baseline"] is None
        assert "infeasible" in b["baseline_note"]
    r = CliRunner().invoke(main, ["sweep", "scenarios/a100x4.yaml", "--set", "workload.tensor_parallel=3", "--no-write"])
    rows = [line for line in r.stdout.splitlines() if line.startswith(("carbon_per_task", "edp", "cdp", "cep"))]
    # the grid is held: four objectives for each of the six grids, each against an infeasible baseline
    assert len(rows) == 24 and all(" infeasible " in line and " n/a " in line for line in rows), r.stdout
    # baseline inside the space but infeasible: tp=3 is swept too
    r = CliRunner().invoke(main, ["sweep", "scenarios/a100x4.yaml", "--set", "workload.tensor_parallel=3", "--set",
                                  "sweep.product.workload.tensor_parallel=[1,3]", "--no-write", "--format", "json"])
    assert all(b["baseline_value"] is None and "infeasible" in b["baseline_note"] for b in json.loads(r.stdout)["best"].values())


@pytest.mark.parametrize("change, words", [
    ({"model": "gpt-17"}, "unknown LLM model 'gpt-17'"),
    ({"workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 0}}, "workload.output_tokens"),
    ({"workload": {"mode": "streaming", "prompt_tokens": 32, "output_tokens": 8}}, "workload.mode"),
    ({"workload": {"mode": "online", "prompt_tokens": 32, "output_tokens": 8}}, "workload.qps"),
    ({"objectives": ["embodied_kg"]}, "does not apply to an LLM scenario"),
])
def test_bad_llm_scenarios(tmp_path, change, words):
    doc = {"name": "x", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b",
           "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128}, "datacenter": {"grid": "coal"}}
    doc.update(change)
    r = CliRunner().invoke(main, ["sweep", str(write(tmp_path, doc)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and words in r.stderr, r.stderr


def test_mixed_grid_bases_warn(tmp_path, db):
    # us-ca is a direct-combustion value (EPA eGRID), ESP a lifecycle one (Ember): never mixed silently
    doc = dict(SERVERS, sweep={"product": {"datacenter.grid": ["ESP", "us-ca"]}})
    r = run_sweep(load_scenario(write(tmp_path, doc)), db, None)
    assert r.warnings and "different bases" in r.warnings[0]
    doc = dict(SERVERS, sweep={"product": {"datacenter.grid": ["coal", "wind"]}})
    assert run_sweep(load_scenario(write(tmp_path, doc)), db, None).warnings == []


def test_power_cap_trades_time_for_power(tmp_path, db):
    # A cap below the uncapped power slows the compute-bound part and keeps power under the cap
    # (Samsi et al. 2023: capping A100s costs little decode time)
    doc = {"name": "cap", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b",
           "workload": {"mode": "offline", "prompt_tokens": 512, "output_tokens": 128, "batch_size": 64},
           "datacenter": {"grid": "coal"},
           "sweep": {"product": {"workload.power_cap_w": [300, 200, 150]}}}
    df = pd.read_parquet(run_sweep(load_scenario(write(tmp_path, doc)), db, tmp_path / "o").results)
    assert (np.diff(df["latency_s"]) >= 0).all() and (df["gpu_power_w"] <= df["workload.power_cap_w"] + 1e-9).all()
    assert df["ttft_s"].iloc[2] > df["ttft_s"].iloc[0]  # prefill is compute-bound: it slows most


def test_set_reaches_inside_the_server_and_coefficients(tmp_path, db):
    sc = load_scenario(write(tmp_path, SERVERS), sets=["server.host.ssd_gb=100", "coefficients.gpu.margin=1.0"])
    r = run_sweep(sc, db, None)
    e = embodied(load_server("azure-a100-x4", db, overrides={"host.ssd_gb": 100}),
                 load_coefficients("hotcarbon24", db, overrides={"gpu.margin": 1.0}))
    assert r.baseline["embodied_kg"] == pytest.approx(e.total_kg, rel=1e-12)


def test_server_path_relative_to_the_scenario(tmp_path, db, monkeypatch):
    src = Path(__file__).resolve().parents[2] / "hardware_db" / "servers" / "aws-t4-x4.yaml"
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my-box.yaml").write_text(src.read_text())
    scen = write(tmp_path / "sub", dict(SERVERS, server="my-box.yaml", sweep={}))
    monkeypatch.chdir(tmp_path)  # the server file is found next to the scenario, not in the cwd
    r = run_sweep(load_scenario(scen), db, None)
    direct = embodied(load_server("aws-t4-x4", db), load_coefficients("hotcarbon24", db))
    assert r.baseline["embodied_kg"] == pytest.approx(direct.total_kg)
