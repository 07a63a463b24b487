"""The suite that finds hostile inputs (issue 19, part 6): hypothesis generates hostile values for
every numeric command-line option, every numeric scenario and server field (as a value, through
``--set``, and as a sweep axis) and every numeric CSV column family, and each run must either

- exit 2 with exactly one line on stderr (no traceback, no internal error) and write nothing, or
- exit 0 with only finite numbers in its JSON output;

and nothing outside the output path may change. Runs are in-process (click's runner) and ``-q``
(warnings silenced: an error must still be one line). The example budget is fixed and the search
derandomized, so CI runs the same cases every time; the whole module takes well under a minute
on a quiet machine. The hostile-file cases found this way are plain tests in test_hostile_inputs.py.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import run

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: Numbers as people (and attackers) type them: overflow, underflow, signs, not-a-number, text.
SPECIAL = ["1e308", "-1e308", "1e-320", "-1e-320", "0", "-0", "-1", "nan", "NaN", "inf", "-inf", "Infinity",
           "1e15", "1e16", "1e-13", "0.5", "1", "2", "4", "100", "1e6", "abc", "", " ", "0x10", "1_000", "1e3"]
NUMBER_TEXT = st.one_of(st.sampled_from(SPECIAL),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.integers(-2**70, 2**70).map(str))
#: YAML values: the same numbers as YAML writes them, and things that are not numbers at all.
YAML_VALUE = st.one_of(st.sampled_from(["1e308", "-1", "1e-320", "0", ".nan", ".inf", "-.inf", "1e16", "0.5", "3",
                                        "null", "true", "abc", "[1, 2]", "{a: 1}", "''", "1e-13"]),
                       st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
                       st.integers(-2**63, 2**63).map(str))

FLEET = "id,gpu_model,gpu_count,cpu_count,dram_gb\ns1,nvidia-t4,1,1,64\n"
LADDER = "cpu_util,power_w\n0,100\n0.25,150\n0.5,200\n0.75,250\n1,300\n"
EMISSIONS = ("timestamp,project_name,run_id,duration,emissions,energy_consumed,cpu_count,gpu_count\n"
             "2024-01-01T00:00:00,p,r1,3600,0.5,1.2,8,1\n")
TRACE = "# basis: lifecycle\ntimestamp,ci_g_per_kwh\n" + "".join(
    f"2022-01-01T{h:02d}:00:00Z,{100 + 10 * h}\n" for h in range(24))
SERVER_SCENARIO = ("name: s\nserver: aws-t4-x1\nload: {cpu_util: 0.5, gpu_util: 0.5}\n"
                   "datacenter: {pue: 1.2, grid: coal}\nsweep: {product: {server.host.dram.gb: [64, 128]}}\n")
LLM_SCENARIO = ("name: l\nserver: azure-a100-x4\nmodel: llama-2-7b\n"
                "workload: {mode: offline, prompt_tokens: 32, output_tokens: 16, batch_size: 4, tensor_parallel: 1}\n"
                "datacenter: {pue: 1.1, grid: coal}\nsweep: {product: {workload.batch_size: [1, 4]}}\n")
ONLINE_SCENARIO = ("name: o\nserver: azure-nc48ads-a100-v4\nmodel: mistral-7b\n"
                   "workload: {mode: online, arrival: poisson, qps: 2, requests: 12, seed: 0, prompt_tokens: 64, "
                   "output_tokens: 16, tensor_parallel: 1, max_num_seqs: 16}\ndatacenter: {pue: 1.0, grid: coal}\n")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    for name, text in {"fleet.csv": FLEET, "ladder.csv": LADDER, "emissions.csv": EMISSIONS, "trace.csv": TRACE,
                       "server.yaml": SERVER_SCENARIO, "llm.yaml": LLM_SCENARIO, "online.yaml": ONLINE_SCENARIO}.items():
        (d / name).write_text(text)
    return d


def _snapshot(root: Path) -> dict:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            st_ = p.lstat()
            out[p.relative_to(root).as_posix()] = (st_.st_size, st_.st_mtime_ns, st_.st_mode)
    return out


def _finite(node) -> bool:
    if isinstance(node, float):
        return math.isfinite(node)
    if isinstance(node, dict):
        return all(_finite(v) for v in node.values())
    if isinstance(node, list):
        return all(_finite(v) for v in node)
    return True


def _no_constant(name):
    raise AssertionError(f"{name} in a JSON output")


def check(workdir: Path, args: list[str], out: Path):
    """Run ``carbonsim -q ARGS`` in ``workdir``; the answer must be one of the two allowed, and only
    ``out`` may change."""
    before = _snapshot(workdir)
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        r = run("-q", *args)
    finally:
        os.chdir(cwd)
    after = _snapshot(workdir)
    rel = out.relative_to(workdir).as_posix()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert {k for k in changed if k != rel and not k.startswith(rel + "/")} == set(), (args, changed)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (args, r.stderr)
    if r.exit_code in (2, 3):  # bad input; or (3) a valid sweep without a feasible point, its table written
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert r.exit_code == 3 or not out.exists(), (args, "an output was written for bad input")
        return r
    assert r.exit_code == 0, (args, r.exit_code, r.stderr)
    text = out.read_text() if out.is_file() else r.stdout
    doc = json.loads(text, parse_constant=_no_constant)
    assert _finite(doc), (args, "a non-finite number")
    if out.is_file():
        out.unlink()
    return r


# --- every numeric option of every command ----------------------------------------------------------------

T4 = ["footprint", "aws-t4-x1"]
TRAIN = ["train", "--params-b", "7", "--tokens-b", "100", "--gpu", "nvidia-h100-sxm5-80gb"]
OPTIONS = [
    (["embodied", "aws-t4-x1"], "--seed"),
    (T4, "--year"), (T4, "--power-w"), (T4, "--util"), (T4, "--cpu-util"), (T4, "--gpu-util"), (T4, "--pue"),
    (T4, "--seed"), ([*T4, "--per", "request"], "--rate"), ([*T4, "--per", "1k-tokens"], "--rate"),
    (["compare", "aws-t4-x1", "aws-t4-x8"], "--years"), (["compare", "aws-t4-x1", "aws-t4-x8"], "--year"),
    (["compare", "aws-t4-x1", "aws-t4-x8"], "--util"), (["compare", "aws-t4-x1", "aws-t4-x8"], "--cpu-util"),
    (["compare", "aws-t4-x1", "aws-t4-x8"], "--gpu-util"), (["compare", "aws-t4-x1", "aws-t4-x8"], "--utilization"),
    (["compare", "aws-t4-x1", "aws-t4-x8"], "--pue"),
    (["inventory", "fleet.csv"], "--util"), (["inventory", "fleet.csv"], "--cpu-util"),
    (["inventory", "fleet.csv"], "--gpu-util"), (["inventory", "fleet.csv"], "--pue"),
    (["inventory", "fleet.csv"], "--years"), (["inventory", "fleet.csv"], "--seed"),
    (["train", "--tokens-b", "100", "--gpu", "nvidia-h100-sxm5-80gb"], "--params-b"),
    (["train", "--params-b", "7", "--gpu", "nvidia-h100-sxm5-80gb"], "--tokens-b"),
    (TRAIN, "--active-params-b"), (TRAIN, "--gpus"), (TRAIN, "--mfu"), (TRAIN, "--pue"), (TRAIN, "--seq-len"),
    (TRAIN, "--gpu-hours"), (TRAIN, "--days"), (TRAIN, "--power-w"), (TRAIN, "--lifetime-yr"), (TRAIN, "--usage"),
    (["schedule", "--hours", "4", "-g", "trace.csv"], "--energy-kwh"),
    (["schedule", "--energy-kwh", "100", "-g", "trace.csv"], "--hours"),
    (["schedule", "--energy-kwh", "100", "--hours", "4", "-g", "trace.csv"], "--window-hours"),
    (["schedule", "--energy-kwh", "100", "--hours", "4", "-g", "trace.csv"], "--pue"),
]
GRID_COMMANDS = [T4, ["compare", "aws-t4-x1", "aws-t4-x8"], ["inventory", "fleet.csv"], TRAIN,
                 ["schedule", "--energy-kwh", "100", "--hours", "4", "-g", "trace.csv"]]
GRID_TEXT = st.one_of(
    NUMBER_TEXT,
    st.tuples(NUMBER_TEXT, NUMBER_TEXT).map(lambda ab: f"coal:{ab[0]},wind:{ab[1]}"),
    NUMBER_TEXT.map(lambda a: f"coal:{a}"),
)


@SETTINGS
@given(case=st.sampled_from(OPTIONS), value=NUMBER_TEXT)
def test_any_value_of_any_numeric_option(workdir, case, value):
    base, option = case
    out = workdir / "out.json"
    check(workdir, [*base, f"{option}={value}", "--format", "json", "--out", str(out)], out)


@SETTINGS
@given(base=st.sampled_from(GRID_COMMANDS), grid=GRID_TEXT)
def test_any_grid_mix_or_intensity(workdir, base, grid):
    out = workdir / "out.json"
    option = "-g" if base[0] == "schedule" else "--grid"
    args = [*base, option, grid] if base[0] != "schedule" else [*base[:-2], "-g", grid]
    check(workdir, [*args, "--format", "json", "--out", str(out)], out)


# --- every numeric scenario and server field: as a value and as a sweep axis -------------------------------

def _numeric_paths(spec, prefix="") -> list[str]:
    """Dotted paths of the numbers a schema takes (Number, Quantity, token counts)."""
    from carbonsim.engine.db.schema import Fields, Number, QuantitySpec

    out = []
    if isinstance(spec, Fields):
        for key, sub in spec.fields.items():
            out += _numeric_paths(sub, f"{prefix}.{key}" if prefix else key)
    elif isinstance(spec, (Number, QuantitySpec)) or type(spec).__name__ == "_Tokens":
        out.append(prefix)
    return out


def _scenario_fields():
    from carbonsim.engine.db.kinds import SERVER
    from carbonsim.engine.sweep.scenario import SCENARIO

    scenario = [p for p in _numeric_paths(SCENARIO) if not p.startswith("sweep")]
    server = ["server." + p for p in _numeric_paths(SERVER)
              if not p.startswith(("host.power_model.fit", "gpus.dies", "gpus.board", "host.cpus.dies"))]
    return scenario, server


SCENARIO_FIELDS, SERVER_FIELDS = _scenario_fields()


def test_the_field_lists_cover_the_schemas():
    # the generated cases follow the schema: a new numeric field is covered without editing this file
    assert {"workload.qps", "workload.batch_size", "datacenter.pue", "load.gpu_util",
            "functional_unit.requests_per_user"} <= set(SCENARIO_FIELDS)
    assert {"server.gpus.count", "server.host.dram.gb", "server.lifetime_yr",
            "server.host.power_model.max_w"} <= set(SERVER_FIELDS)


def _file_for(field: str) -> str:
    if field.startswith(("server.", "load.")):
        return "server.yaml"
    if field.startswith("workload.") and field.split(".")[1] in (
            "qps", "requests", "duration_s", "seed", "max_num_seqs", "max_num_batched_tokens", "block_size",
            "max_model_len", "slo", "prefill_instances", "decode_instances"):
        return "online.yaml"
    return "llm.yaml"


@SETTINGS
@given(field=st.sampled_from(SCENARIO_FIELDS + SERVER_FIELDS), value=YAML_VALUE, as_axis=st.booleans())
def test_any_value_of_any_scenario_or_server_field(workdir, field, value, as_axis):
    out = workdir / "results"
    scenario = _file_for(field)
    assignment = f"sweep.product.{field}=[{value}]" if as_axis else f"{field}={value}"
    r = check(workdir, ["sweep", scenario, "--set", assignment, "--format", "json", "--out", str(out)], out)
    if out.exists():
        shutil.rmtree(out)


# --- every numeric CSV column family ---------------------------------------------------------------------------

#: Each table, the command that reads it, and its numeric columns (those absent are added).
TABLES = {
    "fleet.csv": (["inventory"], ["cpu_count", "cores_total", "cpu_tdp_w", "dram_gb", "ssd_count", "ssd_gb",
                                  "hdd_count", "hdd_gb", "gpu_count", "psu_w", "year", "lifetime_yr"]),
    "ladder.csv": (["power", "fit"], ["cpu_util", "power_w", "mem_util"]),
    "emissions.csv": (["codecarbon"], ["duration", "emissions", "energy_consumed", "cpu_count", "gpu_count"]),
    "trace.csv": (["footprint", "aws-t4-x1", "--grid"], ["ci_g_per_kwh"]),
}


def _table_with(name: str, column: str, value: str) -> str:
    """The table ``name`` with one cell of ``column`` replaced by ``value`` (added when absent)."""
    text = {"fleet.csv": FLEET, "ladder.csv": LADDER, "emissions.csv": EMISSIONS, "trace.csv": TRACE}[name]
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    cols = lines[head].split(",")
    if column not in cols:
        lines = [*lines[:head], lines[head] + "," + column, *[line + ",1" for line in lines[head + 1:]]]
        cols.append(column)
    k = cols.index(column)
    row = lines[head + 1].split(",")
    row[k] = '"' + value.replace('"', '""') + '"' if ("," in value or '"' in value) else value
    lines[head + 1] = ",".join(row)
    return "\n".join(lines) + "\n"


@SETTINGS
@given(table=st.sampled_from(sorted(TABLES)), data=st.data())
def test_any_value_in_any_numeric_csv_column(workdir, table, data):
    command, columns = TABLES[table]
    column = data.draw(st.sampled_from(columns), label="column")
    value = data.draw(NUMBER_TEXT, label="value")
    f = workdir / "cases" / f"h-{table}"
    f.parent.mkdir(exist_ok=True)
    f.write_text(_table_with(table, column, value))
    out = workdir / "out.json"
    check(workdir, [*command, str(f), "--format", "json", "--out", str(out)], out)
