"""The database is the only door to data files: a user layer (--db, CARBONSIM_DB) that overrides
power constants, the performance calibration or a trace changes every command, and `db check`
checks it. Before, power files were read from the shipped folder directly: a --db copy of
power/gpu-activity.yaml changed nothing anywhere."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from carbonsim.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "hardware_db"


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture()
def layer(tmp_path):
    """A user database whose A100 PCIe 80GB draws 3x its loaded idle."""
    (tmp_path / "power").mkdir()
    doc = yaml.safe_load((SHIPPED / "power" / "gpu-activity.yaml").read_text())
    doc["gpus"]["nvidia-a100-pcie-80gb"]["idle_loaded_w"] *= 3
    (tmp_path / "power" / "gpu-activity.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def test_gpu_constants_from_the_user_layer_reach_every_command(layer, tmp_path):
    srv = "azure-nc96ads-a100-v4"  # 4 x A100 PCIe 80GB
    fp = [json.loads(run(*db, "footprint", srv, "--util", "0.2", "--format", "json"))["gpu_power_w"]
          for db in ([], ["--db", layer])]
    cmp = [json.loads(run(*db, "compare", srv, "--util", "0.2", "--format", "json"))["servers"][0]["power_w"]
           for db in ([], ["--db", layer])]
    fleet = tmp_path / "fleet.csv"
    fleet.write_text("id,cpu_model,cpu_count,dram_gb,gpu_model,gpu_count\nx,AMD EPYC 7V13,1,880,"
                     "NVIDIA A100 PCIe 80GB,4\n")
    inv = [json.loads(run(*db, "inventory", fleet, "--util", "0.2", "--format", "json"))["rows"][0]["gpu_power_w"]
           for db in ([], ["--db", layer])]
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: s\nserver: {srv}\nmodel: llama-2-7b\ndatacenter: {{grid: coal}}\n"
                    "workload: {mode: offline, prompt_tokens: 32, output_tokens: 128, batch_size: 8}\n")
    llm = [json.loads(run(*db, "sweep", scen, "--no-write", "--format", "json"))["baseline"]["gpu_energy_j"]
           for db in ([], ["--db", layer])]
    for shipped, user in (fp, cmp, inv, llm):
        assert user > shipped * 1.05, (shipped, user)


def test_environment_variable_layer_and_db_check(layer, monkeypatch):
    srv = "azure-nc96ads-a100-v4"
    before = json.loads(run("footprint", srv, "--format", "json"))["gpu_power_w"]
    monkeypatch.setenv("CARBONSIM_DB", str(layer))
    assert json.loads(run("footprint", srv, "--format", "json"))["gpu_power_w"] > before
    assert "no problems" in run("db", "check")
    bad = yaml.safe_load((layer / "power" / "gpu-activity.yaml").read_text())
    bad["gpus"]["nvidia-a100-pcie-80gb"]["eta_c"] = 3.0
    (layer / "power" / "gpu-activity.yaml").write_text(yaml.safe_dump(bad))
    r = CliRunner().invoke(main, ["db", "check"])
    assert r.exit_code == 2 and "gpu-activity.yaml" in r.stderr and "eta_c" in r.stderr


def test_host_prior_and_traces_from_the_user_layer(tmp_path):
    (tmp_path / "power").mkdir()
    prior = yaml.safe_load((SHIPPED / "power" / "host-prior-specpower.yaml").read_text())
    prior["with_year"]["ln_idle_w"][0] += 0.5  # idle x e^0.5
    (tmp_path / "power" / "host-prior-specpower.yaml").write_text(yaml.safe_dump(prior))
    (tmp_path / "traces").mkdir()
    shutil.copy(SHIPPED / "traces" / "us-ciso-2022.csv", tmp_path / "traces" / "my-site-2022.csv")
    a = json.loads(run("footprint", "hgx-h100-x8", "--util", "0", "--format", "json"))["host_power_w"]
    b = json.loads(run("--db", tmp_path, "footprint", "hgx-h100-x8", "--util", "0", "--format", "json"))
    assert b["host_power_w"] == pytest.approx(a * 2.718281828 ** 0.5, rel=1e-6)
    g = json.loads(run("--db", tmp_path, "footprint", "hgx-h100-x8", "--grid", "my-site-2022", "--format", "json"))
    assert g["grid"].startswith("trace") and g["ci_g_per_kwh"] == pytest.approx(256.2, abs=5)
