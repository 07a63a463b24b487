"""The sweep engine: exact against direct evaluation, chunk-independent, clear errors, no partial output."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from carbonsim.assessment import embodied
from carbonsim.cli import main
from carbonsim.coefficients import load_coefficients
from carbonsim.hardware import load_server
from carbonsim.scenario import load_scenario, scenario_from_dict
from carbonsim.sweep.engine import run_sweep

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
