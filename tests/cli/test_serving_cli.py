"""`carbonsim sweep` on online-serving scenarios: the shipped seed scenario prints its best points;
bad input is one line on stderr and exit 2."""

import json
from pathlib import Path

import pytest

from cli_helpers import run, one_line_exit_2

ROOT = Path(__file__).resolve().parents[2]

ONLINE = """name: o
server: {server}
model: {model}
workload:
  mode: online
  arrival: {arrival}
  {extra}
  prompt_tokens: {{dist: exponential, mean: 200}}
  output_tokens: 100
datacenter: {{grid: coal}}
"""




def scenario(tmp_path, server="azure-nc96ads-a100-v4", model="llama-2-7b", arrival="poisson",
             extra="{qps: 2, requests: 50}"):
    f = tmp_path / "o.yaml"
    f.write_text(ONLINE.format(server=server, model=model, arrival=arrival,
                               extra="\n  ".join(f"{k}: {v}" for k, v in _pairs(extra))))
    return f


def _pairs(text):
    inner = text.strip()[1:-1]
    return [tuple(p.strip() for p in kv.split(":", 1)) for kv in inner.split(",") if kv.strip()]


def test_the_seed_scenario_prints_its_best_points():
    r = run("sweep", ROOT / "scenarios" / "seed-sharing.yaml", "--no-write", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["points"] == 12
    assert set(doc["best"]) >= {"carbon_per_task", "latency"}
    assert doc["best"]["carbon_per_task"]["params"]["workload.placement"] in ("horizontal", "vertical")
    table = run("sweep", ROOT / "scenarios" / "seed-sharing.yaml", "--no-write")
    assert table.exit_code == 0 and "workload.placement" in table.stdout


@pytest.mark.parametrize("extra, words", [
    ("{qps: 0, requests: 50}", ["o.yaml", "workload.qps", "greater than 0"]),
    ("{qps: -1, requests: 50}", ["o.yaml", "workload.qps", "greater than 0"]),
    ("{qps: 2, requests: 50, max_num_seqs: 0}", ["o.yaml", "workload.max_num_seqs", "below 1"]),
    ("{requests: 50}", ["o.yaml", "workload.qps", "needs a request rate"]),
])
def test_bad_values_are_one_line_and_exit_2(tmp_path, extra, words):
    one_line_exit_2(run("sweep", scenario(tmp_path, extra=extra), "--no-write"), *words)


def test_set_checks_the_same_way(tmp_path):
    f = scenario(tmp_path)
    one_line_exit_2(run("sweep", f, "--no-write", "--set", "workload.qps=0"), "workload.qps", "greater than 0")
    one_line_exit_2(run("sweep", f, "--no-write", "--set", "workload.max_num_seqs=0"), "workload.max_num_seqs")


def test_an_empty_trace_is_one_line_and_exit_2(tmp_path):
    trace = tmp_path / "empty.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n")
    f = tmp_path / "t.yaml"
    f.write_text(f"name: t\nserver: azure-nc96ads-a100-v4\nmodel: llama-2-7b\n"
                 f"workload: {{mode: online, arrival: trace, trace: {trace}}}\ndatacenter: {{grid: coal}}\n")
    one_line_exit_2(run("sweep", f, "--no-write"), "empty.csv", "no data rows")


def test_a_model_that_does_not_fit_is_one_line_and_exit_3(tmp_path):
    # Llama-2-70B's 138 GB of fp16 weights on one A100 80GB: a valid question without an answer
    r = run("sweep", scenario(tmp_path, model="llama-2-70b"), "--no-write")
    one_line_exit_2(r, "o.yaml", "no feasible point", "do not fit in GPU memory", "workload.tensor_parallel", code=3)


PD = "{placement: disaggregated, prefill_instances: %s, decode_instances: %s, requests: 50}"


@pytest.mark.parametrize("counts, words", [
    ((0, 1), ["o.yaml", "workload.prefill_instances", "below 1"]),
    ((1, 0), ["o.yaml", "workload.decode_instances", "below 1"]),
    ((2, 3), ["o.yaml", "no feasible point", "(prefill_instances + decode_instances) x tensor_parallel exceeds the GPUs"]),
])
def test_bad_disaggregated_deployments_are_one_line_and_exit_2(tmp_path, counts, words):
    # the server has four GPUs; too many instances is a valid question without an answer (exit 3)
    f = scenario(tmp_path, arrival="burst", extra=PD % counts)
    one_line_exit_2(run("sweep", f, "--no-write"), *words, code=3 if "no feasible point" in words else 2)


def test_a_disaggregated_deployment_runs_and_set_checks_its_counts(tmp_path):
    f = scenario(tmp_path, arrival="burst", extra=PD % (1, 3))
    r = run("sweep", f, "--no-write", "--format", "json")
    assert r.exit_code == 0, r.stderr
    best = json.loads(r.stdout)["best"]["carbon_per_task"]["metrics"]
    assert best["gpus_used"] == 4 and 0 < best["decode_gpu_energy_share"] < 1
    one_line_exit_2(run("sweep", f, "--no-write", "--set", "workload.decode_instances=0"),
                    "workload.decode_instances", "below 1")
