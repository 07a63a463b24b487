"""`carbonsim sweep` with constraints, held circumstances and `--pareto` (docs/sweep.md, docs/cli.md)."""

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from cli_helpers import one_line_exit_2, run

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = {
    "name": "decide", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b", "coefficients": "hotcarbon24",
    "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 16,
                 "tensor_parallel": 1},
    "datacenter": {"pue": 1.1, "grid": "coal"},
    "sweep": {"product": {"workload.batch_size": [1, 4, 16, 64, 256], "workload.tensor_parallel": [1, 2],
                          "datacenter.grid": ["coal", "wind"]}},
    "objectives": ["carbon_per_task", "latency"],
}


def write(tmp_path, doc=SCENARIO):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc))
    return f


def test_summary_groups_by_held_values_and_counts_the_constraints(tmp_path):
    r = run("sweep", write(tmp_path), "--no-write", "--set", "constraints.latency_s.max=2")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "constraints latency_s <= 2: " in out and "feasible points meet them" in out
    assert "held (your circumstances" in out and "datacenter.grid" in out
    assert "datacenter.grid=coal  (the scenario's own)" in out and "\ndatacenter.grid=wind\n" in out
    doc = json.loads(run("sweep", write(tmp_path), "--no-write", "--format", "json", "--set",
                         "constraints.latency_s.max=2").stdout)
    best = doc["best"]["carbon_per_task"]
    assert best["metrics"]["latency_s"] <= 2 and best["params"]["datacenter.grid"] == "coal"
    assert best["held"] == {"datacenter.grid": "coal"}
    assert doc["decisions"]["constraints"]["most_excluding"] == "latency_s <= 2"
    assert [b["held"]["datacenter.grid"] for b in doc["best_by"] if b["objective"] == "latency"] == ["coal", "wind"]


def test_no_point_meets_exits_3_with_one_line_and_writes_the_table(tmp_path):
    out = tmp_path / "o"
    r = run("sweep", write(tmp_path), "--out", out, "--set", "constraints.latency_s.max=0.001")
    one_line_exit_2(r, "no point meets the constraints", "the tightest: latency_s <= 0.001",
                    "the closest point:", str(out / "points.parquet"), code=3)
    df = pd.read_parquet(out / "points.parquet")
    assert len(df) == 20 and df["meets_constraints"].dtype == bool and not df["meets_constraints"].any()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["decisions"]["constraints"]["meeting_points"] == 0
    assert meta["resolved_scenario"]["constraints"] == {"latency_s": {"max": 0.001}}
    r = run("sweep", write(tmp_path), "--no-write", "--set", "constraints.latency_s.max=0.001")
    one_line_exit_2(r, "run without --no-write", code=3)


def test_bad_constraint_column_is_exit_2_listing_the_columns(tmp_path):
    out = tmp_path / "o"
    r = run("sweep", write(tmp_path), "--out", out, "--set", "constraints.latency.max=2")
    one_line_exit_2(r, "s.yaml: constraints.latency:", "'latency' is not a numeric result column", "latency_s")
    assert not out.exists()
    one_line_exit_2(run("sweep", write(tmp_path), "--no-write", "--set", "constraints.latency_s.min=3",
                        "--set", "constraints.latency_s.max=2"), "constraints.latency_s", "above max")


def test_pareto_writes_its_table_and_figure(tmp_path):
    out = tmp_path / "o"
    r = run("sweep", write(tmp_path), "--out", out, "--pareto", "total_g,latency_s", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    front = pd.read_parquet(out / "pareto.parquet")
    assert doc["pareto"]["points"] == len(front) > 2 and doc["pareto"]["table"] == "pareto.parquet"
    assert set(front["datacenter.grid"]) == {"coal", "wind"}
    for row in doc["pareto"]["rows"]:
        assert set(row) >= {"workload.batch_size", "datacenter.grid", "total_g", "latency_s"}
    unit = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in pq.read_schema(out / "pareto.parquet")}
    assert unit["total_g"] == "gCO2e per request"
    for ext in ("pdf", "svg", "png"):
        assert (out / f"pareto.{ext}").is_file()
    meta = json.loads((out / "meta.json").read_text())
    assert {"pareto.parquet", "pareto.png", "points.parquet"} <= set(meta["files"])
    assert "pareto" in meta["figures"] and meta["pareto_table"] == "pareto.parquet"
    # csv tables: the front is csv too
    r = run("sweep", write(tmp_path), "--out", tmp_path / "c", "--table-format", "csv", "--pareto",
            "total_g,latency_s")
    assert r.exit_code == 0 and (tmp_path / "c" / "pareto.csv").is_file()
    assert "pareto front (total_g min, latency_s min)" in r.stdout


def test_bad_pareto_option_is_exit_2(tmp_path):
    one_line_exit_2(run("sweep", write(tmp_path), "--no-write", "--pareto", "total_g"), "--pareto", "two or three")
    one_line_exit_2(run("sweep", write(tmp_path), "--no-write", "--pareto", "total_g,nope"), "--pareto", "'nope'",
                    "latency_s")


def test_choose_makes_a_circumstance_a_decision(tmp_path):
    doc = json.loads(run("sweep", write(tmp_path, {**SCENARIO, "choose": ["datacenter.grid"]}), "--no-write",
                         "--format", "json").stdout)
    assert doc["decisions"]["held"] == [] and doc["best"]["carbon_per_task"]["params"]["datacenter.grid"] == "wind"
    assert doc["best_by"] == []


def test_the_main_job_stays_readable(tmp_path):
    r = run("sweep", ROOT / "scenarios" / "a100x4.yaml", "--no-write")
    assert r.exit_code == 0, r.output
    blocks = r.stdout.split("\n\ndatacenter.grid=")
    assert len(blocks) == 7  # the header, then one compact table per grid
    for b in blocks[1:]:
        assert len(b.strip().splitlines()) == 1 + 2 + 4  # its grid, the table's head, four objectives
