"""The command line: outputs, JSON contract keys, exit codes, one-line errors, no partial files."""

import json
from pathlib import Path
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
                                              "psu", "chassis", "fans", "packaging", "assembly", "unitemised"}
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
    doc = json.loads(run("embodied", str(f), "--format", "json").stdout)
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
    # a GPU shows how its activity-power constants were calibrated (docs/power.md section 3)
    assert "calibration kind sibling" in r.output and "nvidia-a100-sxm4-40gb" in r.output
    r = run("db", "show", "nvidia-b200", "--format", "json")
    shown = json.loads(r.output)["activity_power"]["calibration"]
    assert shown["kind"] == "measured" and shown["held_out"]["n"] > 0 and shown["in_sample"]["median_pct"] > 0
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


def test_footprint_fig2_numbers():
    # seed Fig. 2 (A100x4, 1100 W, PUE 1, coal): embodied 9.98, operational 250.56 mg/s
    doc = json.loads(run("footprint", "azure-a100-x4", "--coefficients", "hotcarbon24", "--grid", "coal",
                         "--power-w", "1100", "--pue", "1", "--format", "json").output)
    assert doc["operational_mg_per_s"] == pytest.approx(250.56, rel=5e-4)
    assert doc["embodied_mg_per_s"] == pytest.approx(9.98, rel=2e-3)  # 112 kg card rounded in the source
    assert doc["power_w"] == 1100 and doc["grid_basis"] == "lifecycle"


@pytest.mark.parametrize("grid", ["ESP", "coal:0.5,wind:0.5", "us-ca", "aws-us-east-1"])
def test_footprint_grids(grid):
    r = run("footprint", "azure-a100-x4", "--grid", grid, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["ci_g_per_kwh"] > 0 and doc["grid_basis"] in ("lifecycle", "direct")
    assert doc["power_w"] == pytest.approx(doc["host_power_w"] + doc["gpu_power_w"])


def test_footprint_mix_is_weighted():
    doc = json.loads(run("footprint", "aws-t4-x1", "--grid", "coal:0.5,wind:0.5", "--format", "json").stdout)
    assert doc["ci_g_per_kwh"] == pytest.approx(0.5 * 820 + 0.5 * 11)  # IPCC AR5 medians


def test_footprint_power_rises_with_utilisation():
    lo = json.loads(run("footprint", "azure-a100-x4", "--grid", "coal", "--cpu-util", "0.1",
                        "--gpu-activity", "0.1", "--format", "json").stdout)
    hi = json.loads(run("footprint", "azure-a100-x4", "--grid", "coal", "--cpu-util", "0.9",
                        "--gpu-activity", "0.9", "--format", "json").stdout)
    assert hi["power_w"] > lo["power_w"] and hi["operational_mg_per_s"] > lo["operational_mg_per_s"]
    assert hi["embodied_mg_per_s"] == lo["embodied_mg_per_s"]


@pytest.mark.parametrize("args, words", [
    (["footprint", "azure-a100-x4", "--grid", "atlantis"], "unknown grid 'atlantis'"),
    (["footprint", "azure-a100-x4", "--grid", "coal:-1,wind:2"], "share of 'coal' in mix 'coal:-1,wind:2' must not be negative"),
    (["footprint", "azure-a100-x4", "--grid", "coal", "--cpu-util", "1.5"], "--cpu-util: must be at most 1, found 1.5"),
    (["footprint", "azure-a100-x4", "--grid", "coal", "--pue", "0.5"], "--pue: must not be below 1, found 0.5"),
])
def test_footprint_bad_input(args, words):
    r = run(*args)
    assert r.exit_code == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_power_fit_round_trip_into_a_server(tmp_path):
    # a synthetic linear ladder: 100 W idle, 300 W at full load
    csv_path = tmp_path / "ladder.csv"
    csv_path.write_text("cpu_util,power_w\n" + "".join(f"{u / 10},{100 + 200 * u / 10}\n" for u in range(11)))
    block = tmp_path / "pm.yaml"
    r = run("power", "fit", str(csv_path), "--form", "linear", "--out-yaml", str(block))
    assert r.exit_code == 0, r.output
    import yaml

    pm = yaml.safe_load(block.read_text())["host"]["power_model"]
    assert pm["idle_w"] == pytest.approx(100, rel=1e-6) and pm["max_w"] == pytest.approx(300, rel=1e-6)
    server = yaml.safe_load((Path(__file__).resolve().parents[2] / "hardware_db/servers/dell-poweredge-r740.yaml").read_text())
    server["host"]["power_model"] = pm
    server["source"] = "act-repo"
    f = tmp_path / "r740-measured.yaml"
    f.write_text(yaml.safe_dump(server))
    doc = json.loads(run("footprint", str(f), "--grid", "coal", "--cpu-util", "0.5", "--format", "json").stdout)
    assert doc["power_w"] == pytest.approx(200, rel=1e-6) and "fitted linear curve" in doc["power_origin"]


def test_power_fit_bad_csv(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("cpu_util,watts\n0.1,100\n")
    r = run("power", "fit", str(f))
    assert r.exit_code == 2 and "bad.csv" in r.stderr and "power_w" in r.stderr


def test_grid_list_and_show():
    r = run("grid", "list", "--kind", "source", "--format", "json")
    ids = {row["id"] for row in json.loads(r.stdout)}
    assert {"coal", "gas", "solar", "hydro", "nuclear", "wind"} <= ids
    r = run("grid", "show", "ESP")
    assert r.exit_code == 0 and "basis" in r.stdout
    assert run("grid", "show", "atlantis").exit_code == 2


def test_codecarbon_adds_embodied():
    data = Path(__file__).resolve().parents[1] / "data" / "codecarbon_emissions.csv"
    # --share 1: the runs are charged the whole server (the seed's set)
    doc = json.loads(run("codecarbon", str(data), "--server", "azure-a100-x4", "--share", "1", "-c", "hotcarbon24",
                         "--format", "json").stdout)
    assert len(doc["runs"]) == 2
    run0 = doc["runs"][0]
    # 3600 s of a 1258.13 kg server (the seed's set) amortised over 4 x 365 days
    assert run0["embodied_kg"] == pytest.approx(1258.12604 * 3600 / (4 * 365 * 86400), rel=1e-6)
    assert run0["operational_kg"] == pytest.approx(0.3564)
    assert doc["total"]["total_kg"] == pytest.approx(sum(r["total_kg"] for r in doc["runs"]))


@pytest.mark.parametrize("text, words", [
    ("timestamp,duration\n2026-01-01,5\n", "line 1: missing column 'emissions'"),
    ("duration,emissions,energy_consumed\n5,abc,1\n", "emissions: line 2: 'abc' is not a number"),
    ("duration,emissions,energy_consumed\n-5,1,1\n", "duration: line 2: -5 is negative"),
])
def test_codecarbon_bad_files(tmp_path, text, words):
    f = tmp_path / "emissions.csv"
    f.write_text(text)
    r = run("codecarbon", str(f), "--server", "aws-t4-x1")
    assert r.exit_code == 2 and words in r.stderr


def test_inventory_command(tmp_path):
    f = tmp_path / "fleet.csv"
    f.write_text("id,cpu_model,cpu_count,dram_gb,ssd_gb,gpu_model,gpu_count,year\n"
                 "a,AMD EPYC 7713,2,512,3840,,,2022\nb,,2,1024,7680,NVIDIA A100-SXM4-80GB,8,2021\n")
    out = tmp_path / "out.csv"
    r = run("inventory", str(f), "--util", "0.2,0.8", "--grid", "coal", "--out", str(out))
    assert r.exit_code == 0, r.output
    import pandas as pd

    df = pd.read_csv(out)
    assert list(df["id"]) == ["a", "a", "b", "b"] and set(df["util"]) == {0.2, 0.8}
    hi, lo = df[(df.id == "b") & (df.util == 0.8)].iloc[0], df[(df.id == "b") & (df.util == 0.2)].iloc[0]
    assert hi["power_w"] > lo["power_w"] and hi["embodied_kg"] == lo["embodied_kg"]
    assert hi["operational_kg_per_yr"] == pytest.approx(hi["energy_kwh_per_yr"] * 820 / 1000, rel=1e-4)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,dram_gb\nx,lots\n")
    r = run("inventory", str(bad))
    assert r.exit_code == 2 and "dram_gb" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_compare_break_even():
    # the T4 x8 server has more embodied carbon but draws less power than the A6000 x4: a break-even exists
    doc = json.loads(run("compare", "aws-t4-x8", "lambda-a6000-x4", "--grid", "wind", "--years", "5",
                         "-u", "0.6", "--format", "json").stdout)
    a, b = doc["servers"]
    assert a["total_kg"] == pytest.approx(a["embodied_kg_amortised"] + a["operational_kg"])
    # at the break-even intensity both totals are equal (the definition)
    ci = b["break_even_ci_g_per_kwh"]
    tot_a = a["embodied_kg_amortised"] + a["energy_kwh"] * ci / 1000
    tot_b = b["embodied_kg_amortised"] + b["energy_kwh"] * ci / 1000
    assert tot_a == pytest.approx(tot_b, rel=1e-9)
    assert run("compare", "azure-a100-x4", "--years", "-1").exit_code == 2


def test_version_is_the_packages_and_the_projects():
    import tomllib

    from carbonsim.version import __version__

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.output


def _fleet(path, n):
    path.write_text("id,cpu_model,cpu_count,dram_gb,gpu_model,gpu_count,year\n" + "".join(
        f"s{i},{'AMD EPYC 7713' if i % 2 else ''},2,{256 + i % 7},{'Tesla T4' if i % 3 == 0 else ''},"
        f"{'4' if i % 3 == 0 else ''},{2015 + i % 9}\n" for i in range(n)))
    return path


def test_inventory_streams_with_progress_and_q_silences_it(tmp_path, monkeypatch):
    # issue 19 §5: progress on stderr in servers (plain lines when stderr is not a terminal), the
    # file written as the chunks come, and -q prints nothing but the result
    from carbonsim import cli
    from carbonsim.engine.studies import inventory_fleet

    fleet = _fleet(tmp_path / "fleet.csv", 300)
    monkeypatch.setattr(cli, "PLAIN_PROGRESS_S", 0.0)
    monkeypatch.setattr(inventory_fleet, "CHUNK_ROWS", 64)
    monkeypatch.setattr(inventory_fleet.FleetRun, "chunks", lambda self, rows=64, progress=None:
                        self._chunks(64, progress))
    out = tmp_path / "out.csv"
    r = run("inventory", str(fleet), "--util", "0.3,0.7", "--out", str(out))
    assert r.exit_code == 0, r.output
    lines = r.stderr.strip().splitlines()
    assert lines[:-1] == [f"carbonsim: {k:,}/300 servers ({100 * k / 300:.0f}%" + l.split("%", 1)[1]
                          for k, l in zip((64, 128, 192, 256, 300), lines)] and lines[-1].endswith(f"wrote {out}")
    assert out.read_text().count("\n") == 601
    quiet = run("inventory", str(fleet), "--util", "0.3,0.7", "--format", "csv", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == out.read_text()


def test_inventory_leaves_no_partial_file_when_stopped(tmp_path, monkeypatch):
    # a run stopped half-way (an error, Ctrl-C) leaves the previous file as it was, and no temporary
    from carbonsim.engine.studies import inventory_fleet

    fleet = _fleet(tmp_path / "fleet.csv", 200)
    out = tmp_path / "out.csv"
    out.write_text("the previous result\n")
    real = inventory_fleet._output
    calls = []

    def stopped(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(inventory_fleet, "_output", stopped)
    monkeypatch.setattr(inventory_fleet.FleetRun, "chunks", lambda self, rows=64, progress=None:
                        self._chunks(64, progress))
    r = run("inventory", str(fleet), "--out", str(out))
    assert r.exit_code != 0 and len(calls) == 2
    assert out.read_text() == "the previous result\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "fleet.csv", "out.csv"]
