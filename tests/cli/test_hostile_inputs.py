"""Hostile inputs of issue 19, each as a plain test: files that are not regular files or are too
large, files whose content must not be echoed, and the numbers that gave ``inf`` results or
internal errors (exit 1). Each failed before: MemoryError (exit 1) after reading /dev/zero until
memory ran out, a line of /etc/passwd-like files in the message, inf in a table, a KeyError.
The property-based search for more of them is tests/cli/test_hostile_properties.py."""

import json
import math
import os
import subprocess
import sys

import pytest

from cli_helpers import one_line_exit_2, run

FLEET = "id,gpu_model,gpu_count,cpu_count,dram_gb\ns1,nvidia-t4,1,1,64\n"
PRIVATE = "root:x:0:0:root:/root:/bin/bash\nsecret-token-1234\n"


# --- files that are not regular files ------------------------------------------------------------

def test_dev_zero_as_any_input_is_one_line_at_once(tmp_path):
    # in a child process with its memory capped: before the fix each read /dev/zero until it ran out
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: z\nserver: /dev/zero\ndatacenter: {grid: coal}\nload: {cpu_util: 0.5}\n")
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
            "from carbonsim.cli import main; main(sys.argv[1:])")
    for args in (["inventory", "/dev/zero"], ["sweep", "/dev/zero"], ["sweep", str(scenario), "--no-write"],
                 ["footprint", "aws-t4-x1", "--grid", "/dev/zero"]):
        r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "character device" in r.stderr, r.stderr
        assert "/dev/zero" in r.stderr


def test_a_fifo_as_input_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "fleet.csv"
    os.mkfifo(fifo)  # opening it to read would block until someone writes
    one_line_exit_2(run("inventory", fifo), "fleet.csv", "FIFO", "not a regular file")
    one_line_exit_2(run("power", "fit", fifo), "FIFO")
    one_line_exit_2(run("codecarbon", fifo), "FIFO")


def test_each_kind_has_a_size_limit_checked_before_parsing(tmp_path, monkeypatch):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(FLEET)
    monkeypatch.setenv("CARBONSIM_LIMIT_INVENTORY", "20")
    one_line_exit_2(run("inventory", fleet), "fleet.csv", "inventory limit of 20 bytes", "CARBONSIM_LIMIT_INVENTORY")
    monkeypatch.setenv("CARBONSIM_LIMIT_INVENTORY", "1MB")
    assert run("inventory", fleet).exit_code == 0
    monkeypatch.setenv("CARBONSIM_LIMIT_INVENTORY", "lots")
    one_line_exit_2(run("inventory", fleet), "CARBONSIM_LIMIT_INVENTORY", "a size like 500MB")
    monkeypatch.delenv("CARBONSIM_LIMIT_INVENTORY")
    monkeypatch.setenv("CARBONSIM_LIMIT_SCENARIO", "10")
    one_line_exit_2(run("sweep", "scenarios/a100x4.yaml", "--no-write"), "scenario limit of 10 bytes")


def test_the_default_limits_are_those_docs_cli_states():
    from carbonsim.engine.readers.text import LIMITS

    doc = open("docs/cli.md", encoding="utf-8").read()
    for kind, n in LIMITS.items():
        assert f"`{kind}`" in doc and f"{n / 1e6:g} MB" in doc, kind


# --- content never echoed ---------------------------------------------------------------------------

def test_a_private_file_named_as_a_grid_trace_is_not_quoted(tmp_path):
    private = tmp_path / "passwd"
    private.write_text(PRIVATE)
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: p\nserver: aws-t4-x1\ndatacenter: {grid: ../" + tmp_path.name + "/passwd}\n"
                        "load: {cpu_util: 0.5}\n")
    for r in (run("sweep", scenario, "--no-write"), run("footprint", "aws-t4-x1", "--grid", private),
              run("inventory", private), run("power", "fit", private), run("codecarbon", private),
              run("embodied", private), run("sweep", private), run("budget", private)):
        assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "root:x" not in r.stderr and "secret-token" not in r.stderr and "/bin/bash" not in r.stderr, r.stderr


def test_a_symlink_in_a_database_to_a_private_file_is_not_quoted(tmp_path):
    private = tmp_path / "id_rsa"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    (tmp_path / "db" / "gpus").mkdir(parents=True)
    (tmp_path / "db" / "gpus" / "x.yaml").symlink_to(private)
    r = run("--db", tmp_path / "db", "embodied", "aws-t4-x1", "--set", "server.gpus.part=x")
    one_line_exit_2(r, "x.yaml")
    r = run("db", "check", tmp_path / "db")
    assert r.exit_code == 2 and "x.yaml" in r.stderr
    for r in (r, run("--db", tmp_path / "db", "db", "show", "x")):
        assert "b3Blbn" not in r.output + r.stderr and "BEGIN" not in r.output + r.stderr


def test_a_table_with_the_right_header_still_names_its_columns(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("cpu_util,watts\n0.5,100\n")
    one_line_exit_2(run("power", "fit", f), "power_w", "the header has: cpu_util, watts")


def test_db_check_fails_on_a_misnamed_kind_folder(tmp_path):
    (tmp_path / "gpu").mkdir()
    (tmp_path / "gpu" / "my-gpu.yaml").write_text("name: mine\n")
    r = run("db", "check", tmp_path)
    assert r.exit_code == 2
    assert "gpu: not a kind of the database, so its 1 file is never read; did you mean gpus/?" in r.stderr


# --- numbers that gave inf or an internal error ---------------------------------------------------------

T4 = ("footprint", "aws-t4-x1")
TRAIN = ("train", "--params-b", "7", "--tokens-b", "100", "--gpu", "nvidia-h100-sxm5-80gb")


@pytest.mark.parametrize("args, words", [
    ((*T4, "--grid", "coal:1e308"), ["--grid", "share of 'coal'", "at most 100"]),      # inf results
    ((*T4, "--grid", "coal:1e308", "--format", "json"), ["at most 100"]),             # JSON crash
    ((*T4, "--grid", "coal:1e308,wind:1e308"), ["at most 100"]),                     # KeyError host_power_w
    (("compare", "aws-t4-x1", "aws-t4-x8", "--grid", "coal:1e308,wind:1e308"), ["at most 100"]),  # KeyError power_w
    (("inventory", "FLEET", "--grid", "coal:1e308,wind:1e308"), ["at most 100"]),   # KeyError psu_limited
    ((*TRAIN, "--grid", "coal:1e308,wind:1e308"), ["at most 100"]),                 # KeyError gpu_power_w
    (("schedule", "--energy-kwh", "100", "--hours", "4", "-g", "coal:1e308"), ["at most 100"]),  # ValueError
    (("sweep", "SCENARIO", "--no-write", "--set", "datacenter.grid=coal:1e308,wind:1e308"), ["at most 100"]),
    (("sweep", "SCENARIO", "--no-write", "--set", "sweep.product.datacenter.grid=[coal, 'coal:1e308']"),
     ["at most 100"]),
    ((*T4, "--per", "request", "--rate", "1e-320", "--format", "json"), ["--rate", "at least 1e-12"]),
    ((*T4, "--per", "1k-tokens", "--rate", "1e-320"), ["--rate", "at least 1e-12"]),
    ((*TRAIN, "--mfu", "1e-320", "--format", "json"), ["--mfu", "at least 1e-12"]),
    ((*TRAIN, "--gpu-hours", "1e-320"), ["--gpu-hours", "at least 1e-12"]),
    ((*TRAIN, "--lifetime-yr", "1e-320"), ["--lifetime-yr", "at least 1e-12"]),
    ((*TRAIN, "--usage", "1e-320"), ["--usage", "at least 1e-12"]),
    (("sweep", "SCENARIO", "--no-write", "--set", "server.lifetime_yr=1e-320"), ["lifetime_yr", "at least 1e-12"]),
    (("embodied", "aws-t4-x1", "--samples", "1e308"), ["--samples", "not a valid integer"]),  # was a usage block
])
def test_numbers_that_overflowed_are_one_line(tmp_path, args, words):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(FLEET)
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nserver: aws-t4-x1\nload: {cpu_util: 0.5, gpu_util: 0.5}\n"
                        "datacenter: {pue: 1.2, grid: coal}\nsweep: {product: {server.host.dram.gb: [64, 128]}}\n")
    args = [str(fleet) if a == "FLEET" else str(scenario) if a == "SCENARIO" else a for a in args]
    one_line_exit_2(run(*args), *words)


def test_compare_with_one_utilisation_given_answers(tmp_path):
    # was TypeError (exit 1) when only --cpu-util was given and it was 0
    r = run("compare", "aws-t4-x1", "aws-t4-x8", "--cpu-util", "0", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["cpu_util"] == 0 and all(math.isfinite(s["total_kg"]) for s in doc["servers"])
    r = run("compare", "aws-t4-x1", "aws-t4-x8", "--cpu-util", "0")
    assert r.exit_code == 0 and "CPU 0, GPU 0.5 (default)" in r.stdout


def test_mix_shares_in_per_cent_still_work():
    r = run("footprint", "aws-t4-x1", "--grid", "coal:30,wind:70", "--format", "json")
    assert r.exit_code == 0 and "normalised" in r.stderr
    assert json.loads(r.stdout)["ci_g_per_kwh"] == pytest.approx(0.3 * 820 + 0.7 * 11)
