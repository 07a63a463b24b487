"""carbonsim experiment on the command line: the paper table in every format, by --format or by
the --out file's type, and one line with exit code 2 for a bad experiment file."""

import json
from pathlib import Path

from cli_helpers import one_line_exit_2, run

PUMA = Path(__file__).resolve().parents[2] / "scenarios" / "experiment-puma.yaml"


def test_table_and_files_by_type(tmp_path):
    r = run("experiment", PUMA, "-q")
    assert r.exit_code == 0, r.output
    assert "local-rtx3060-esp" in r.stdout and "gpt-4o-swedencentral" in r.stdout and "[" in r.stdout
    for suffix, head in ((".md", "| Configuration |"), (".tex", "\\begin{table}"), (".csv", "configuration,kind,corner")):
        out = tmp_path / f"carbon{suffix}"
        r = run("experiment", PUMA, "--out", out, "-q")
        assert r.exit_code == 0, r.output
        assert out.read_text().startswith(head)
    doc = json.loads(run("experiment", PUMA, "--format", "json", "-q").stdout)
    assert [c["name"] for c in doc["configurations"]][:2] == ["local-rtx3060-esp", "gpt-4o-eastus"]
    assert doc["totals"]["central"]["calls"] == 6000


def test_bad_file_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(PUMA.read_text().replace("region: eastus", "region: mars"))
    r = run("experiment", bad)
    one_line_exit_2(r, "bad.yaml", "configurations[1].api.region", "mars")
    out = tmp_path / "t.md"
    r = run("experiment", bad, "--out", out)
    assert r.exit_code == 2 and not out.exists()
