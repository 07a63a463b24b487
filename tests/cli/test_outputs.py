"""Output safety: carbonsim replaces only what it wrote, never loses a user's files (issue: outputs
users can trust). Each case failed before the fix: `sweep --out` ran shutil.rmtree on the folder."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from cli_helpers import one_line_exit_2, run

SMALL = """name: {name}
server: azure-a100-x4
load: {{cpu_util: 0.5, gpu_util: 0.5}}
datacenter: {{pue: 1.2, grid: coal}}
sweep:
  product:
    server.host.dram.gb: [256, 512]
    datacenter.grid: [coal, wind]
"""



def scenario(tmp_path, name="small"):
    f = tmp_path / "s.yaml"
    f.write_text(SMALL.format(name=name))
    return f


def test_refuses_a_users_folder_and_keeps_every_file(tmp_path):
    thesis = tmp_path / "results"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    r = run("sweep", str(scenario(tmp_path)), "--out", str(thesis))
    assert r.exit_code == 2
    assert "was not written by carbonsim" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (thesis / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in thesis.iterdir()) == ["thesis.tex"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".results")]


def test_refuses_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = scenario(tmp_path)
    r = run("sweep", str(f), "--out", ".")
    assert r.exit_code == 2 and (tmp_path / "s.yaml").exists()


@pytest.mark.parametrize("name", ["../../victim", "a/b", ".hidden", "x" * 200])
def test_scenario_name_must_be_a_plain_name(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    r = run("sweep", str(scenario(tmp_path, name="'" + name + "'")))
    assert r.exit_code == 2 and "name" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_replaces_its_own_output_and_lists_what_it_wrote(tmp_path):
    out = tmp_path / "out"
    assert run("sweep", str(scenario(tmp_path)), "--out", str(out)).exit_code == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["generator"] == "carbonsim" and meta["files"] == ["points.parquet"]
    first = (out / "points.parquet").stat().st_mtime_ns
    assert run("sweep", str(scenario(tmp_path)), "--out", str(out)).exit_code == 0
    assert (out / "points.parquet").stat().st_mtime_ns >= first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s.yaml"]  # no temporary left


def test_a_file_added_to_an_output_folder_is_not_deleted(tmp_path):
    out = tmp_path / "out"
    assert run("sweep", str(scenario(tmp_path)), "--out", str(out)).exit_code == 0
    (out / "notes.md").write_text("mine")
    r = run("sweep", str(scenario(tmp_path)), "--out", str(out))
    assert r.exit_code == 2 and "notes.md" in r.stderr
    assert (out / "notes.md").read_text() == "mine" and (out / "points.parquet").exists()


def test_an_empty_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert run("sweep", str(scenario(tmp_path)), "--out", str(out)).exit_code == 0
    assert (out / "points.parquet").exists()


def test_out_through_a_symlink_writes_to_its_target(tmp_path):
    target = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    assert run("sweep", str(scenario(tmp_path)), "--out", str(link)).exit_code == 0
    assert link.is_symlink() and (target / "points.parquet").exists()
    assert run("sweep", str(scenario(tmp_path)), "--out", str(link)).exit_code == 0  # again: replaced
    assert link.is_symlink()
    f = tmp_path / "doc.json"
    flink = tmp_path / "doc-link.json"
    flink.symlink_to(f)
    assert run("embodied", "azure-a100-x4", "--format", "json", "--out", str(flink)).exit_code == 0
    assert flink.is_symlink() and json.loads(f.read_text())["server"] == "azure-a100-x4"


def test_outputs_get_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert run("sweep", str(scenario(tmp_path)), "--out", str(tmp_path / "o")).exit_code == 0
        assert run("embodied", "aws-t4-x1", "--out", str(tmp_path / "e.txt")).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o750
    for f in ("o/points.parquet", "o/meta.json", "e.txt"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o640, f


@pytest.mark.parametrize("where", ["/proc/carbonsim-test-out", "FILE/sub"])
def test_unwritable_output_is_an_input_error(tmp_path, where):
    (tmp_path / "FILE").write_text("a file, not a folder")
    where = where.replace("FILE", str(tmp_path / "FILE"))
    r = run("sweep", str(scenario(tmp_path)), "--out", where)
    assert r.exit_code == 2 and "internal error" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run("embodied", "aws-t4-x1", "--out", where + "/x.txt")
    assert r.exit_code == 2 and "internal error" not in r.stderr


def test_a_full_disk_is_an_input_error(tmp_path, monkeypatch):
    import errno

    from carbonsim.engine.sweep import run as sweep_run

    def full(self, columns):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sweep_run._Writer, "write", full)
    out = tmp_path / "out"
    r = run("sweep", str(scenario(tmp_path)), "--out", str(out))
    assert r.exit_code == 2 and "no space left" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


LONG = """name: long
server: azure-a100-x4
load: {cpu_util: 0.5, gpu_util: 0.5}
datacenter: {pue: 1.2, grid: coal}
sweep:
  product:
    server.host.dram.gb: [%s]
    server.host.ssd_gb: [%s]
    datacenter.pue: [1.1, 1.2, 1.3, 1.4]
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_leaves_no_temporary_folder_and_the_old_result(tmp_path, sig):
    small = scenario(tmp_path)
    out = tmp_path / "out"
    assert run("sweep", str(small), "--out", str(out)).exit_code == 0
    before = (out / "points.parquet").read_bytes()
    big = tmp_path / "long.yaml"
    big.write_text(LONG % (", ".join(str(64 + i) for i in range(400)), ", ".join(str(100 + i) for i in range(400))))
    proc = subprocess.Popen([sys.executable, "-m", "carbonsim.cli", "sweep", str(big), "--out", str(out),
                             "--chunk", "1024"], stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".out.carbonsim-tmp-") for p in tmp_path.iterdir()):
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)
    proc.send_signal(sig)
    proc.wait(60)
    assert proc.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.yaml", "out", "s.yaml"]
    assert (out / "points.parquet").read_bytes() == before


# --- issue 19, part 1: only regular files and folders, never an input, modes kept, stale temporaries ---

LADDER = "cpu_util,power_w\n0,100\n0.25,150\n0.5,200\n0.75,250\n1,300\n"
FLEET = "id,gpu_model,gpu_count,cpu_count,dram_gb\ns1,nvidia-t4,1,1,64\n"


def test_a_fifo_is_refused_as_out_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = run("embodied", "aws-t4-x1", "--format", "json", "--out", fifo)  # no reader: a write would block
    one_line_exit_2(r, "pipe", "FIFO", "not a regular file", "--out -")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the FIFO, not replaced by a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_fifo_is_refused_as_a_results_folder(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_line_exit_2(run("sweep", scenario(tmp_path), "--out", fifo), "FIFO", "not a folder")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_device_is_refused_and_left_alone(tmp_path, monkeypatch):
    # a stand-in for /dev/null (never test on the real one): a file the check is told is a device
    from carbonsim.engine import outputs

    fake = tmp_path / "null"
    fake.write_text("device")
    real_type = outputs.file_type
    monkeypatch.setattr(outputs, "file_type",
                        lambda mode: "a character device" if stat.S_ISREG(mode) else real_type(mode))
    one_line_exit_2(run("embodied", "aws-t4-x1", "--out", fake), "character device", "not a regular file")
    assert fake.read_text() == "device"


def test_dash_prints_to_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("embodied", "aws-t4-x1", "--format", "json", "--out", "-")
    assert r.exit_code == 0 and json.loads(r.stdout)["server"] == "aws-t4-x1"
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    one_line_exit_2(run("sweep", scenario(tmp_path), "--out", "-"), "--out", "not a folder")


def test_dev_stdout_piped_prints(tmp_path):
    # a real process with its stdout a pipe: /dev/stdout is that pipe, written as stdout
    r = subprocess.run([sys.executable, "-m", "carbonsim.cli", "embodied", "aws-t4-x1", "--format", "csv",
                        "--out", "/dev/stdout"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("scope,component") and "wrote" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["same", "hardlink", "symlink"])
def test_an_output_that_is_an_input_is_refused(tmp_path, how):
    fleet = tmp_path / "f.csv"
    fleet.write_text(FLEET)
    out = {"same": fleet, "hardlink": tmp_path / "h.csv", "symlink": tmp_path / "s.csv"}[how]
    if how == "hardlink":
        os.link(fleet, out)
    elif how == "symlink":
        out.symlink_to(fleet)
    one_line_exit_2(run("inventory", fleet, "--out", out), "input of this command")
    assert fleet.read_text() == FLEET


def test_power_fit_does_not_replace_its_measurements(tmp_path):
    ladder = tmp_path / "ladder.csv"
    ladder.write_text(LADDER)
    one_line_exit_2(run("power", "fit", ladder, "--out-yaml", ladder), "--out-yaml", "input of this command")
    one_line_exit_2(run("power", "fit", ladder, "--out", ladder), "input of this command")
    assert ladder.read_text() == LADDER
    one_line_exit_2(run("power", "fit", ladder, "--out-yaml", "-"), "--out-yaml -", "--out FILE")
    r = run("power", "fit", ladder, "--out-yaml", "-", "--out", tmp_path / "report.txt")
    assert r.exit_code == 0 and "power_model" in r.stdout and (tmp_path / "report.txt").exists()


def test_other_inputs_are_protected_too(tmp_path):
    # a server file, a grid trace and a scenario are inputs like any table
    server = tmp_path / "srv.yaml"
    server.write_text("name: mine\ngpus: {part: nvidia-t4, count: 1}\n"
                      "host: {cpus: {part: intel-xeon-platinum-8259cl, count: 1}, dram: {gb: 64, technology: ddr4}, "
                      "chassis_gpu_slots: 1}\n")
    before = server.read_text()
    one_line_exit_2(run("embodied", server, "--out", server), "input of this command")
    trace = tmp_path / "t.csv"
    trace.write_text("# basis: lifecycle\ntimestamp,ci_g_per_kwh\n2022-01-01T00:00:00Z,100\n2022-01-01T01:00:00Z,200\n")
    one_line_exit_2(run("footprint", "aws-t4-x1", "--grid", trace, "--out", trace), "input of this command")
    assert server.read_text() == before and trace.read_text().startswith("# basis")
    # a results folder holding the sweep's own scenario
    out = tmp_path / "out"
    assert run("sweep", scenario(tmp_path), "--out", out).exit_code == 0
    r = run("sweep", scenario(tmp_path), "--out", tmp_path)
    one_line_exit_2(r, "s.yaml", "input of this command")


def test_a_replaced_file_keeps_its_mode(tmp_path):
    f = tmp_path / "private.json"
    f.write_text("{}")
    os.chmod(f, 0o600)
    assert run("embodied", "aws-t4-x1", "--out", f).exit_code == 0
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and json.loads(f.read_text())["server"] == "aws-t4-x1"
    os.chmod(f, 0o640)
    assert run("embodied", "aws-t4-x1", "--out", f).exit_code == 0
    assert stat.S_IMODE(f.stat().st_mode) == 0o640


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_killed_runs_are_removed_and_said(tmp_path):
    from carbonsim.engine.outputs import STALE_AFTER_S, temp_prefix

    dead = _dead_pid()
    old = time.time() - STALE_AFTER_S - 60
    stale = tmp_path / (temp_prefix("out").replace(f"-{os.getpid()}-", f"-{dead}-") + "x1")
    stale.mkdir()
    (stale / "points.parquet").write_bytes(b"0" * 1000)
    stale_file = tmp_path / (temp_prefix("r.json").replace(f"-{os.getpid()}-", f"-{dead}-") + "x2.tmp")
    stale_file.write_text("partial")
    young = tmp_path / (temp_prefix("out").replace(f"-{os.getpid()}-", f"-{dead}-") + "x3")
    young.mkdir()
    alive = tmp_path / (temp_prefix("out").replace(f"-{os.getpid()}-", f"-{os.getppid()}-") + "x4")
    alive.mkdir()
    foreign = tmp_path / ".out.tmp-abc"  # not carbonsim's naming: never touched
    foreign.mkdir()
    for p in (stale, stale_file, alive, foreign):
        os.utime(p, (old, old))
    r = run("sweep", scenario(tmp_path), "--out", tmp_path / "out")
    assert r.exit_code == 0, r.stderr
    assert not stale.exists() and not stale_file.exists()
    assert young.exists() and alive.exists() and foreign.exists()
    said = [line for line in r.stderr.splitlines() if "removed" in line]
    assert len(said) == 2 and all(line.startswith("carbonsim: warning: removed") and str(dead) in line for line in said)


def test_out_dot_fills_an_empty_current_folder(tmp_path, monkeypatch):
    f = scenario(tmp_path)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    r = run("sweep", f, "--out", ".")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in here.iterdir()) == ["meta.json", "points.parquet"]
    assert json.loads((here / "meta.json").read_text())["generator"] == "carbonsim"
    assert os.path.samefile(os.getcwd(), here)  # the shell's folder is still this one
    # a result in the current folder is not swapped away under the user's shell
    one_line_exit_2(run("sweep", f, "--out", "."), "current folder")
    assert sorted(p.name for p in here.iterdir()) == ["meta.json", "points.parquet"]
