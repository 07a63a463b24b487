"""The command line: outputs, JSON contract keys, exit codes, one-line errors, no partial files."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from carbonsim.cli import main


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def test_embodied_table_and_json():
    r = run("embodied", "azure-a100-x4")
    assert r.exit_code == 0, r.output
    assert "TOTAL" in r.output and "mg/s" in r.output
    doc = json.loads(run("embodied", "azure-a100-x4", "--format", "json").output)
    for key in ("total_kg", "gpu_kg", "host_kg", "components"):
        assert key in doc
    assert set(doc["components"]) == {"host", "gpu"}
    assert set(doc["components"]["gpu"]) == {"soc", "memory", "pcb", "pdn", "cooling", "interconnect"}
    assert set(doc["components"]["host"]) == {"cpu", "dram", "ssd", "hdd", "mainboard", "peripheral_pwb",
                                              "psu", "chassis", "fans", "packaging"}
    assert doc["total_kg"] == pytest.approx(doc["host_kg"] + doc["gpu_kg"])


def test_embodied_csv_components_sum():
    r = run("embodied", "hgx-h100-x8", "-c", "ecoserve", "--format", "csv")
    lines = r.output.strip().splitlines()
    assert lines[0] == "scope,component,embodied_kg"
    comps = [float(l.split(",")[2]) for l in lines[1:] if not l.startswith("total")]
    total = float([l for l in lines if l.startswith("total,server")][0].split(",")[2])
    assert sum(comps) == pytest.approx(total)


def test_samples_give_percentiles():
    doc = json.loads(run("embodied", "azure-a100-x4", "--samples", "2000", "--seed", "7", "--format", "json").output)
    u = doc["uncertainty"]["total_kg"]
    assert u["p5"] <= u["p50"] <= u["p95"]
    again = json.loads(run("embodied", "azure-a100-x4", "--samples", "2000", "--seed", "7", "--format", "json").output)
    assert again["uncertainty"] == doc["uncertainty"]  # seeded: repeatable


def test_inline_server_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("""name: My box
lifetime_yr: 5
gpus:
  count: 2
  name: prototype accelerator
  dies: [{area_mm2: 500, node: 5nm}]
  memory: {gb: 64, technology: hbm3}
  board: {pcb_area_cm2: 280, suggested_psu_w: 900}
  tdp_w: 600
host:
  cpus: {die_area_mm2: 400, node: 7nm, count: 1}
  dram: {gb: 256, technology: ddr5}
  ssd_gb: 4000
""")
    doc = json.loads(run("embodied", str(f), "--format", "json").output)
    assert doc["gpu_count"] == 2 and doc["total_kg"] > 0 and doc["gpu_lifetime_yr"] == 5


@pytest.mark.parametrize("args, words", [
    (["embodied", "no-such-server"], "unknown server 'no-such-server'"),
    (["embodied", "missing.yaml"], "missing.yaml: file not found"),
    (["embodied", "azure-a100-x4", "-c", "nope"], "unknown coefficient set 'nope'"),
    (["embodied", "azure-a100-x4", "--set", "server.host.dram.gb=-3"], "host.dram.gb: must not be negative"),
    (["embodied", "azure-a100-x4", "--set", "server.host.dram.gbb=3"], "host.dram.gbb: unknown key"),
    (["embodied", "azure-a100-x4", "--set", "server.host.dram.gb=.nan"], "finite"),
    (["embodied", "azure-a100-x4", "--set", "server.gpus.count=two"], "gpus.count: expected a whole number"),
    (["embodied", "azure-a100-x4", "--set", "coefficients.fab.location=mars"], "fab.location"),
    (["embodied", "azure-a100-x4", "--set", "nonsense"], "PATH=VALUE"),
])
def test_bad_input_is_one_line_exit_2(args, words):
    r = run(*args)
    assert r.exit_code == 2, r.output
    err = r.stderr if hasattr(r, "stderr") else r.output
    assert words in err
    assert len(err.strip().splitlines()) == 1


def test_malformed_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("name: x\nhost: {cpus: [\n")
    r = run("embodied", str(f))
    assert r.exit_code == 2 and "broken.yaml: malformed YAML: line" in r.stderr


def test_no_partial_output_file_on_error(tmp_path):
    out = tmp_path / "result.json"
    r = run("embodied", "azure-a100-x4", "--set", "server.host.ssd_gb=-1", "--format", "json", "--out", str(out))
    assert r.exit_code == 2 and not out.exists()
    assert list(tmp_path.iterdir()) == []
    r = run("embodied", "azure-a100-x4", "--format", "json", "--out", str(out))
    assert r.exit_code == 0 and json.loads(out.read_text())["server"] == "azure-a100-x4"


def test_db_commands(tmp_path):
    r = run("db", "list", "servers")
    assert r.exit_code == 0 and "azure-a100-x4" in r.output
    r = run("db", "show", "nvidia-a100-sxm4-80gb")
    assert r.exit_code == 0 and "# sources" in r.output and "826" in r.output
    assert run("db", "show", "nvidia-a100-sxm4-80").exit_code == 2
    assert run("db", "check").exit_code == 0
    (tmp_path / "gpus").mkdir()
    (tmp_path / "gpus" / "bad.yaml").write_text("name: x\ncolour: red\n")
    r = run("db", "check", str(tmp_path))
    assert r.exit_code == 2 and "bad.yaml" in r.stderr


def test_real_entry_point_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "carbonsim.cli", "embodied", "aws-t4-x1", "--format", "json"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["server"] == "aws-t4-x1"
    bad = subprocess.run([sys.executable, "-m", "carbonsim.cli", "embodied", "aws-t4-x1", "--set", "server.x=1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stdout == ""
