"""``carbonsim plan`` on the command line: the JSON document, the figure, and the exit statuses
(2 for a bad plan, 3 when no fleet meets a service's SLO or deadline; docs/cli.md)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cli_helpers import one_line_exit_2, run

from plan_cases import small


def write(tmp_path, doc, name="p.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


def test_plan_json_and_figure(tmp_path):
    p = write(tmp_path, small())
    fig = tmp_path / "plan.png"
    r = run("plan", p, "--format", "json", "--figure", fig, "-q")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)       # one JSON document on stdout and nothing else
    assert {"fleet", "total_kg", "embodied_kg", "operational_kg", "baselines"} <= set(d)
    assert set(d["baselines"]) == {"performance", "energy", "cost"}
    assert all("total_kg" in b for b in d["baselines"].values())
    assert fig.stat().st_size > 1000


def test_plan_table_says_the_slos_were_rechecked(tmp_path):
    r = run("plan", write(tmp_path, small(**{"prices": None})), "-q")
    assert r.exit_code == 0, r.stderr
    assert "carbon-optimal fleet" in r.stdout and "SLO re-check" in r.stdout
    rows = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
    assert "performance" in rows and "energy" in rows
    assert "cost" not in rows           # no prices, no cost baseline


def test_bad_plan_exit_2(tmp_path):
    one_line_exit_2(run("plan", write(tmp_path, small(**{"services.0.model": "llama-9"}))), "services[0].model")
    one_line_exit_2(run("plan", write(tmp_path, small()), "--set", "datacenter.pue=0.2"), "datacenter.pue")
    one_line_exit_2(run("plan", tmp_path / "missing.yaml"), "not found")


def test_no_feasible_plan_exit_3(tmp_path):
    r = run("plan", write(tmp_path, small(**{"services.0.slo": {"ttft_s": 0.001, "attainment": 0.99}})))
    assert r.exit_code == 3, r.output
    lines = r.stderr.strip().splitlines()
    assert len([ln for ln in lines if "no feasible answer" in ln]) == 1
    assert "services[0].slo" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""
