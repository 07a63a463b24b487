"""The lifecycle commands on the command line: train, budget, schedule, refresh-policy sweeps and
the SCI options; bad input is one line and exit code 2."""

import json
from pathlib import Path

import pytest

from cli_helpers import run, one_line_exit_2

ROOT = Path(__file__).resolve().parents[2]




def test_train_json_keys():
    r = run("-q", "train", "--params-b", 7, "--tokens-b", 2000, "--gpu", "nvidia-a100-sxm4-80gb", "--gpus", 1024,
            "--grid", "57", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("gpu_hours", "energy_mwh", "operational_kg", "embodied_kg", "total_kg"):
        assert isinstance(d[k], float) and d[k] > 0
    assert d["ci_g_per_kwh"] == 57 and d["sci"]["unit"] == "run"


def test_train_measured_inputs_table():
    # GPT-3 with Patterson's measured inputs: 553 t (published 552.1)
    r = run("-q", "train", "--params-b", 175, "--tokens-b", 300, "--gpu", "nvidia-v100-sxm2-32gb", "--gpus", 10000,
            "--days", 14.8, "--power-w", 330, "--pue", 1.1, "--grid", 429)
    assert r.exit_code == 0, r.output
    assert "553.14" in r.stdout


@pytest.mark.parametrize("args, words", [
    (["--tokens-b", 0], ["--tokens-b", "greater than 0"]),
    (["--tokens-b", 10, "--mfu", 1.5], ["--mfu", "at most 1"]),
    (["--tokens-b", 10, "--days", 3], ["--days", "--gpus"]),
])
def test_train_bad_input(args, words):
    one_line_exit_2(run("train", "--params-b", 7, "--gpu", "nvidia-a100-sxm4-80gb", *args), *words)


def test_train_unknown_gpu():
    one_line_exit_2(run("train", "--params-b", 7, "--tokens-b", 10, "--gpu", "nvidia-x300"), "--gpu", "unknown GPU")


LIFE = """name: t
model: llama-2-70b
workload: {{mode: offline, prompt_tokens: 512, output_tokens: 256, batch_size: 64, tensor_parallel: 4}}
datacenter: {{pue: 1.1, grid: coal}}
lifecycle:
  generations: {generations}
  start_year: 2020
  horizon_yr: {horizon}
  gpu_refresh_yr: {gpu}
  host_refresh_yr: 3
  demand: {{tokens_per_s: {demand}, growth_per_yr: 0.3}}
"""


@pytest.mark.parametrize("fields, words", [
    (dict(horizon=-2), ["lifecycle.horizon_yr", "must not be below 1"]),
    (dict(gpu=12), ["lifecycle.gpu_refresh_yr", "longer than the horizon"]),
    (dict(generations="nvidia-x-series"), ["lifecycle.generations", "unknown generation table"]),
    (dict(generations="[{server: nvidia-x300-x8, available: 2020}]"), ["not in the database"]),
    (dict(demand=0), ["lifecycle.demand.tokens_per_s", "greater than 0"]),
])
def test_refresh_scenario_bad_input(tmp_path, fields, words):
    values = dict(generations="nvidia-hgx-8gpu", horizon=10, gpu=4, demand=1e5) | fields
    f = tmp_path / "s.yaml"
    f.write_text(LIFE.format(**values))
    one_line_exit_2(run("sweep", f, "--no-write"), "s.yaml", *words)


def test_refresh_cycles_reports_policies_and_the_best():
    r = run("-q", "sweep", ROOT / "scenarios" / "refresh-cycles.yaml", "--no-write")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("best policy:") == 2 and "== datacenter.grid=coal" in r.stdout
    assert "against keeping longest" in r.stdout and "prefill J/tok" in r.stdout


def test_budget_and_schedule_commands(tmp_path):
    b = tmp_path / "b.yaml"
    b.write_text("name: b\nbudget_kg: 1000\nitems:\n  - {name: x, kind: training, kg: 800}\n")
    r = run("budget", b, "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["categories"]["training"]["status"] == "over" and d["items"][0]["tier"] == "critical"
    r = run("-q", "schedule", "--energy-kwh", 100, "--hours", 3, "-g", "us-pjm-2022", "-g", "us-ciso-2022",
            "--start", "2022-07-01T00:00Z", "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["best"]["kg"] <= d["default"]["kg"] and d["default"]["grid"].startswith("trace PJM")


@pytest.mark.parametrize("text, words", [
    ("name: b\nbudget_kg: 100\nsplit: {training: 0.8, inference: 0.8}\nitems:\n  - {name: x, kind: training, kg: 1}\n",
     ["split", "sum to 1"]),
    ("name: b\nbudget_kg: -5\nitems:\n  - {name: x, kind: training, kg: 1}\n", ["budget_kg"]),
    ("name: b\nbudget_kg: 100\nitems:\n  - {name: x, kind: training}\n", ["items[0]", "exactly one of"]),
])
def test_budget_bad_input(tmp_path, text, words):
    f = tmp_path / "b.yaml"
    f.write_text(text)
    one_line_exit_2(run("budget", f), *words)


def test_schedule_bad_input():
    one_line_exit_2(run("schedule", "--energy-kwh", 10, "--hours", 30, "--window-hours", 24), "--window-hours")
    one_line_exit_2(run("schedule", "--energy-kwh", 0, "--hours", 3), "--energy-kwh")


def test_footprint_sci():
    r = run("-q", "footprint", "hgx-h100-x8", "--grid", "coal", "--per", "request", "--rate", 20, "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["sci"]["g_per_unit"] == pytest.approx(d["total_mg_per_s"] / 1000 / 20, rel=1e-9)
    one_line_exit_2(run("footprint", "hgx-h100-x8", "--per", "request"), "--rate")


def test_sci_column_in_llm_sweep_tables(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nserver: hgx-h100-x8\nmodel: llama-2-7b\nworkload: {mode: offline, prompt_tokens: 32, "
                 "output_tokens: 128, batch_size: 8}\ndatacenter: {grid: coal}\n"
                 "functional_unit: {unit: user, requests_per_user: 50}\n")
    import pandas as pd

    r = run("-q", "sweep", f, "--out", tmp_path / "o", "--table-format", "csv")
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "o" / "points.csv")
    assert t["sci_g_per_user"].iloc[0] == pytest.approx(t["total_g"].iloc[0] * 50, rel=1e-6)


def test_refresh_policy_figure(tmp_path):
    import carbonsim
    from carbonsim.report.lifecycle_plots import refresh_figures

    s = carbonsim.sweep(ROOT / "scenarios" / "refresh-cycles.yaml")
    files = refresh_figures(s.points, tmp_path, "refresh-cycles", formats=("svg",))
    assert [f.name for f in files] == ["refresh_policies.svg"]
    text = files[0].read_text()
    # the best policies of docs/lifecycle.md 1.3 (coal: GPUs every 3 years since every GPU is
    # calibrated by one procedure; 5 while only the H100's and B200's were fitted to measured power)
    assert "coal: best GPU 3 yr, host 8 yr" in text and "wind: best GPU 8 yr, host 8 yr" in text
