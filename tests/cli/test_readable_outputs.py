"""Outputs others can read (issue 18): units in the Parquet file's own metadata, a unit for every
numeric column, the database behind a result in meta.json, `python -m carbonsim`, Python
warnings from the API, progress on a non-terminal stderr, and --rate without --per refused."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cli_helpers import one_line_exit_2, run

ROOT = Path(__file__).resolve().parents[2]
SERVER_AXES = """name: axes
server: azure-a100-x4
load: {cpu_util: 0.5, gpu_util: 0.5}
datacenter: {pue: 1.2, grid: coal}
sweep:
  product:
    server.host.dram.gb: [256, 512]
    server.gpus.count: [2, 4]
    server.lifetime_yr: [3, 5]
    datacenter.grid: [coal, wind]
"""


def _numeric(field) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(field.type) or pa.types.is_floating(field.type) or pa.types.is_boolean(field.type)


@pytest.mark.parametrize("scenario", ["server-axes", "scenarios/a100x4.yaml", "scenarios/training-gpus.yaml"])
def test_units_are_in_the_parquet_files_own_metadata(tmp_path, scenario):
    import pyarrow.parquet as pq

    if scenario == "server-axes":
        path = tmp_path / "axes.yaml"
        path.write_text(SERVER_AXES)
    else:
        path = ROOT / scenario
    out = tmp_path / "out"
    r = run("sweep", path, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    table = out / "points.parquet"
    # pyarrow alone, from the file's key-value metadata (what polars and DuckDB show too)
    units = json.loads(pq.read_metadata(table).metadata[b"carbonsim.units"])
    schema = pq.read_schema(table)
    assert list(units) == schema.names
    missing = [f.name for f in schema if _numeric(f) and not units[f.name]]
    assert missing == [], f"numeric columns without a unit: {missing}"
    if scenario == "server-axes":
        assert (units["server.host.dram.gb"], units["server.gpus.count"], units["server.lifetime_yr"]) == \
            ("GB", "GPUs", "yr")
    if "training" in scenario:
        assert units["flops"] == "FLOP (run total)"
    assert json.loads((out / "meta.json").read_text())["columns"] == {k: v for k, v in units.items()}


def test_meta_names_the_database_layers_and_hashes_every_file_used(tmp_path):
    import hashlib

    layer = tmp_path / "mydb"
    (layer / "gpus").mkdir(parents=True)
    src = ROOT / "hardware_db" / "gpus" / "nvidia-a100-pcie-40gb.yaml"
    (layer / "gpus" / "nvidia-a100-pcie-40gb.yaml").write_text(src.read_text() + "# a user's copy\n")
    path = tmp_path / "axes.yaml"
    path.write_text(SERVER_AXES)
    out = tmp_path / "out"
    assert run("--db", layer, "sweep", path, "--out", out, "-q").exit_code == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["db_layers"][1:] == [str(layer)]
    files = meta["db_files_sha256"]
    # the GPU came from the user's layer (1), the server and coefficient set from the shipped one (0)
    user_gpu = layer / "gpus" / "nvidia-a100-pcie-40gb.yaml"
    assert files["1/gpus/nvidia-a100-pcie-40gb.yaml"] == hashlib.sha256(user_gpu.read_bytes()).hexdigest()
    assert "0/gpus/nvidia-a100-pcie-40gb.yaml" not in files
    assert {"0/servers/azure-a100-x4.yaml", "0/coefficients/server-lca.yaml", "0/sources.yaml"} <= set(files)  # the default set


def test_python_m_carbonsim_is_the_command_line():
    r = subprocess.run([sys.executable, "-m", "carbonsim", "embodied", "aws-t4-x1", "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["server"] == "aws-t4-x1"


def test_rate_without_per_is_refused():
    one_line_exit_2(run("footprint", "azure-a100-x4", "--rate", "5"), "--per", "--rate needs --per request")
    one_line_exit_2(run("footprint", "azure-a100-x4", "--per", "hour", "--rate", "5"), "--rate", "takes no --rate")
    r = run("footprint", "azure-a100-x4", "--per", "request", "--rate", "5")
    assert r.exit_code == 0 and "None" not in r.stdout and "per request at 5 requests per second" in r.stdout


def test_the_api_warns_in_python_words():
    import carbonsim

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        carbonsim.footprint("azure-a100-x4", grid="coal")
    texts = [str(w.message) for w in caught if issubclass(w.category, carbonsim.CarbonsimWarning)]
    assert any("pass cpu_util=" in t for t in texts), texts
    assert not any("--" in t for t in texts), texts
    assert all(w.filename == __file__ for w in caught if issubclass(w.category, carbonsim.CarbonsimWarning))


def test_progress_reaches_a_piped_stderr_and_q_silences_it(tmp_path):
    path = tmp_path / "axes.yaml"
    path.write_text(SERVER_AXES)
    cmd = [sys.executable, "-m", "carbonsim", "sweep", str(path), "--no-write"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr  # no terminal: plain lines, and none for a sweep this short
    from carbonsim import cli

    lines = []
    cli.PLAIN_PROGRESS_S, saved = 0.0, cli.PLAIN_PROGRESS_S
    try:
        show = cli._progress(type("Ctx", (), {"obj": {}})())
        import click

        click_echo, click.echo = click.echo, lambda text, err=False, nl=True: lines.append(text)
        try:
            show(8, 16)
            show(16, 16)
        finally:
            click.echo = click_echo
    finally:
        cli.PLAIN_PROGRESS_S = saved
    assert lines == [l for l in lines if l.startswith("carbonsim: ") and "/16 points (" in l] and len(lines) == 2
    assert "points/s over" in r.stdout  # the rate is over the evaluation alone
    quiet = subprocess.run(cmd + ["-q"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_licence_notice_citation_and_project_urls():
    import tomllib

    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    notice = (ROOT / "NOTICE").read_text()
    assert "Open Database License" in notice and "Electricity Maps" in notice
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version:" in cff and "title:" in cff
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {"Homepage", "Documentation", "Issues"} <= set(project["urls"])
