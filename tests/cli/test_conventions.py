"""One way to say each thing on the command line: utilisation, --out, --format, --grid's
default, -q, progress on long sweeps, and option combinations that cannot work."""

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import run

ROOT = Path(__file__).resolve().parents[2]



def test_the_same_grid_default_everywhere(tmp_path):
    fleet = tmp_path / "f.csv"
    fleet.write_text("id,cpu_model,cpu_count,dram_gb\na,AMD EPYC 7713,2,512\n")
    grids = [json.loads(run("footprint", "aws-t4-x1", "--format", "json").stdout)["grid"],
             json.loads(run("compare", "aws-t4-x1", "--format", "json").stdout)["grid"],
             json.loads(run("inventory", fleet, "--format", "json").stdout)["rows"][0]["grid"]]
    assert all(g.startswith("world") for g in grids), grids


@pytest.mark.parametrize("command", ["footprint", "compare", "inventory"])
def test_one_spelling_of_utilisation(tmp_path, command):
    fleet = tmp_path / "f.csv"
    fleet.write_text("id,cpu_model,cpu_count,dram_gb\na,AMD EPYC 7713,2,512\n")
    target = str(fleet) if command == "inventory" else "aws-t4-x1"

    def power(*opts):
        doc = json.loads(run(command, target, *opts, "--format", "json").stdout)
        return {"footprint": lambda d: d["power_w"], "compare": lambda d: d["servers"][0]["power_w"],
                "inventory": lambda d: d["rows"][0]["power_w"]}[command](doc)

    assert power("--util", "0.8") == power("--cpu-util", "0.8", "--gpu-util", "0.8")
    assert power("--util", "0.8") > power("--util", "0.2")


def test_format_follows_the_out_file(tmp_path):
    assert run("embodied", "aws-t4-x1", "--out", tmp_path / "e.json").exit_code == 0
    assert json.loads((tmp_path / "e.json").read_text())["server"] == "aws-t4-x1"
    assert run("embodied", "aws-t4-x1", "--out", tmp_path / "e.csv").exit_code == 0
    assert (tmp_path / "e.csv").read_text().startswith("scope,component,embodied_kg")


def test_format_on_inventory_and_show(tmp_path):
    fleet = tmp_path / "f.csv"
    fleet.write_text("id,cpu_model,cpu_count,dram_gb\na,AMD EPYC 7713,2,512\n")
    assert json.loads(run("inventory", fleet, "--format", "json").stdout)["rows"][0]["id"] == "a"
    assert run("inventory", fleet, "--format", "csv").stdout.startswith("id,util,embodied_kg")
    shown = json.loads(run("db", "show", "nvidia-h100-sxm5-80gb", "--format", "json").stdout)
    assert shown["entry"]["tdp_w"]["value"] == 700 and shown["sources"]
    assert json.loads(run("grid", "show", "ESP", "--format", "json").stdout)["kind"] == "region"


def test_help_says_what_out_is():
    assert "FILE" in run("embodied", "--help").stdout
    assert "FOLDER" in run("sweep", "--help").stdout


def test_no_write_with_plots_is_an_error():
    r = run("sweep", ROOT / "scenarios" / "a100x4.yaml", "--no-write", "--plots")
    assert r.exit_code == 2 and "--no-write" in r.stderr


def test_quiet_silences_warnings(tmp_path):
    scen = tmp_path / "s.yaml"
    scen.write_text("name: s\nserver: aws-t4-x1\ndatacenter: {grid: coal}\n"
                    "sweep: {product: {datacenter.grid: [coal, us-ca]}}\n")  # lifecycle vs direct: a warning
    loud = run("sweep", scen, "--no-write")
    assert loud.exit_code == 0 and "different bases" in loud.stderr
    quiet = run("-q", "sweep", scen, "--no-write")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    after = run("sweep", scen, "--no-write", "-q")  # where users also type it
    assert after.exit_code == 0 and after.stderr == ""
    mix = run("footprint", "aws-t4-x1", "--grid", "coal:0.3,wind:0.8", "--quiet")  # shares normalised: a warning
    assert mix.exit_code == 0 and mix.stderr == "" and run("footprint", "aws-t4-x1", "--grid", "coal:0.3,wind:0.8").stderr


def test_progress_comes_in_chunks_that_grow(db):
    """Progress is reported after every chunk; chunks start small and double while fast, so a
    long sweep reports within about TARGET_CHUNK_S whatever --chunk says."""
    from carbonsim.engine.sweep.run import FIRST_CHUNK, run_sweep
    from carbonsim.engine.sweep.scenario import scenario_from_dict

    sc = scenario_from_dict({"name": "p", "server": "aws-t4-x1", "datacenter": {"grid": "coal"},
                             "sweep": {"product": {"server.host.dram.gb": list(range(16, 16 + 300)),
                                                   "datacenter.pue": [1.0 + i / 100 for i in range(100)]}}})
    calls = []
    run_sweep(sc, db, None, progress=lambda done, total, message=None: calls.append((done, total, message)))
    done = [d for d, _, m in calls if m is None]
    assert done[0] == FIRST_CHUNK and done[-1] == 30_000
    steps = [b - a for a, b in zip([0] + done, done)]
    assert steps[1] >= steps[0] and len(done) > 2


def test_a_terminal_sees_progress_and_the_compile_line(tmp_path):
    """On a terminal: a line while Numba compiles (first run only), then the progress line."""
    scen = tmp_path / "s.yaml"  # 5,000 LLM points: above the size where the kernels pay off
    scen.write_text("name: s\nserver: azure-nc96ads-a100-v4\nmodel: opt-125m\ndatacenter: {grid: coal}\n"
                    "workload: {mode: offline, prompt_tokens: 32, output_tokens: 64, batch_size: 1}\n"
                    "sweep: {product: {workload.batch_size: [%s]}}\n" % ", ".join(str(1 + i) for i in range(5000)))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))  # an empty cache: kernels compile
    pid, fd = pty.fork()
    if pid == 0:  # child: carbonsim on a pseudo-terminal
        os.execve(sys.executable, [sys.executable, "-m", "carbonsim.cli", "sweep", str(scen), "--no-write"], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "compiling kernels (first run only)" in text
    assert "5,000/5,000 points (100%" in text


def test_shell_completion_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert "_CARBONSIM_COMPLETE=bash_source carbonsim" in text
    r = subprocess.run([sys.executable, "-c", "from carbonsim.cli import main; main(prog_name='carbonsim')"],
                       capture_output=True,
                       text=True, env=dict(os.environ, _CARBONSIM_COMPLETE="bash_source"))
    assert "complete" in r.stdout  # click writes the completion script


def test_nothing_edits_the_import_path_and_no_test_imports_docs():
    # issue 15 §4: tests, docs generators, benchmarks and calibration scripts import the installed
    # package (shared cases live in carbonsim/validation); two plan tests and a benchmark had
    # slipped back to editing the import path, which this catches
    import re

    edits = re.compile(r"\bsys\.path\b|^\s*(from|import) docs\b", re.M)
    bad = []
    for folder in ("carbonsim", "tests", "docs", "benchmarks", "calibration"):
        for p in sorted((ROOT / folder).rglob("*.py")):
            bad += [f"{p.relative_to(ROOT)}: {m.group(0).strip()}" for m in edits.finditer(p.read_text(encoding="utf-8"))]
    assert bad == []
