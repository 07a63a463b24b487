"""Every input checked wherever it enters: a scenario file, --set, a sweep axis, an option.
Each case failed before (exit 0 with inf/nan in the table, a crash with exit 1, or silence):
now one line on stderr naming the file or option and the field, exit 2, and no output."""

import json

import pandas as pd
import pytest

from cli_helpers import run, one_line_exit_2

LLM = """name: v
server: azure-nc96ads-a100-v4
model: llama-2-7b
workload: {{mode: offline, prompt_tokens: 32, output_tokens: 128, batch_size: 8, tensor_parallel: 1}}
datacenter: {{pue: 1.0, grid: coal}}
sweep:
  product:
    {axis}: {values}
"""




@pytest.mark.parametrize("axis, values, words", [
    ("workload.batchsize", "[1, 2]", ["workload.batchsize", "unknown key"]),
    ("foo.bar", "[1]", ["foo", "unknown key"]),
    ("workload.batch_size", "[8, 0]", ["sweep.product.workload.batch_size[1]", "must not be below 1"]),
    ("workload.batch_size", "[1.5]", ["workload.batch_size[0]", "whole number"]),
    ("workload.batch_size", "[-1]", ["must not be below 1"]),
    ("workload.tensor_parallel", "[1, 0]", ["workload.tensor_parallel[1]", "must not be below 1"]),
    ("workload.output_tokens", "[0]", ["workload.output_tokens[0]", "must not be below 1"]),
    ("workload.precision", "[fp16, fp3]", ["workload.precision[1]", "expected one of"]),
    ("datacenter.pue", "[1.2, .inf]", ["datacenter.pue", "finite"]),
    ("server.host.dram.gb", "[512, 1e308]", ["server.host.dram.gb[1]", "plausible"]),
    ("model", "[llama-2-7b, gpt-9]", ["model[1]", "unknown LLM model 'gpt-9'"]),
])
def test_bad_sweep_axis_values(tmp_path, monkeypatch, axis, values, words):
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "s.yaml"
    f.write_text(LLM.format(axis=axis, values=values))
    r = run("sweep", f)
    one_line_exit_2(r, "s.yaml", *words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, words", [
    (["footprint", "azure-a100-x4", "--pue", "inf"], ["--pue", "finite"]),
    (["footprint", "azure-a100-x4", "--power-w", "inf"], ["--power-w", "finite"]),
    (["footprint", "azure-a100-x4", "--power-w", "-5"], ["--power-w", "negative"]),
    (["footprint", "azure-a100-x4", "--util", "1.5"], ["--util", "at most 1"]),
    (["footprint", "azure-a100-x4", "--gpu-util", "nan"], ["--gpu-util", "finite"]),
    (["footprint", "azure-a100-x4", "--set", "server.host.dram.gb=1e308"], ["host.dram.gb", "plausible"]),
    (["embodied", "azure-a100-x4", "--seed", "-1"], ["--seed", "negative"]),
    (["embodied", "azure-a100-x4", "--samples", "-3"], ["--samples", "negative"]),
    (["compare", "azure-a100-x4", "--years", "0"], ["--years", "greater than 0"]),
    (["compare", "azure-a100-x4", "--years", "inf"], ["--years", "finite"]),
    (["footprint", "azure-a100-x4", "--year", "1800"], ["--year", "below 1990"]),
    (["embodied", "azure-a100-x4", "--set", "foo.bar=1"], ["--set", "server."]),
])
def test_bad_options(args, words):
    one_line_exit_2(run(*args), *words)


def test_deep_yaml_is_an_input_error(tmp_path):
    f = tmp_path / "deep.yaml"
    f.write_text("name: x\nhost: " + "[" * 5000 + "]" * 5000 + "\n")
    one_line_exit_2(run("embodied", f), "deep.yaml", "nested too deeply")


def test_power_fit_of_absurd_power_is_an_input_error(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("cpu_util,power_w\n0,100\n0.5,1e308\n1,300\n")
    one_line_exit_2(run("power", "fit", f), "m.csv", "power_w", "line 3")


@pytest.mark.parametrize("row, words", [
    ("a,AMD EPYC 7713,2,512,extra\n", ["line 2", "5 cells for 4 columns"]),
    ("a,AMD EPYC 7713,2\n", ["line 2", "3 cells for 4 columns"]),
    ('a,"AMD EPYC 7713,2,512\n', ["line 2", "quote"]),
])
def test_inventory_rows_must_match_the_header(tmp_path, row, words):
    f = tmp_path / "fleet.csv"
    f.write_text("id,cpu_model,cpu_count,dram_gb\n" + row)
    one_line_exit_2(run("inventory", f), "fleet.csv", *words)


def test_scientific_notation_is_a_number(tmp_path):
    f = tmp_path / "box.yaml"
    f.write_text("name: box\nhost:\n  cpus: {part: amd-epyc-7713, count: 1}\n  dram: {gb: 5e2, technology: ddr4}\n"
                 "  ssd_gb: 1.92E3\n")
    r = run("embodied", f, "-c", "hotcarbon24", "--format", "json", "--set", "server.host.hdd_gb=1e4")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["components"]["host"]["dram"] == pytest.approx(500 * 0.30)  # hotcarbon24 DDR4 0.30 kg/GB


def test_infeasible_points_are_kept_with_their_reason(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(LLM.format(axis="workload.tensor_parallel", values="[1, 3, 8]").replace(
        "batch_size: 8", "batch_size: 8") + "    workload.batch_size: [8, 20000]\n")
    r = run("sweep", f, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "o" / "points.parquet")
    assert df["feasible"].dtype == bool and df["max_batch"].dtype.kind == "i"
    why = df.set_index(["workload.tensor_parallel", "workload.batch_size"])["infeasible_reason"]
    assert why[(1, 8)] == "" and "fit in GPU memory" in why[(1, 20000)]
    assert "does not divide the attention heads" in why[(3, 8)]  # 32 heads, tp 3
    assert "exceeds the GPUs" in why[(8, 8)]  # 4 GPUs in the server
    best = json.loads(run("sweep", f, "--no-write", "--format", "json").stdout)["best"]
    assert all(b["metrics"]["feasible"] is True for b in best.values())
