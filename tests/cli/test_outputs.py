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

from cli_helpers import run

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
