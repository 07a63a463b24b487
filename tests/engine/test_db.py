"""The hardware database: the shipped files pass, bad files are reported with file and field."""

import shutil
from pathlib import Path

import pytest

from carbonsim.engine.db import Database
from carbonsim.engine.db.store import shipped_database_dir
from carbonsim.engine.readers.yamlfile import loads_yaml
from carbonsim.errors import InputError

REQUIRED = {
    "gpus": ["nvidia-t4", "nvidia-l4", "nvidia-rtx-a6000", "nvidia-v100-pcie-32gb", "nvidia-a100-pcie-40gb",
             "nvidia-a100-pcie-80gb", "nvidia-a100-sxm4-80gb", "nvidia-h100-pcie-80gb", "nvidia-h100-sxm5-80gb",
             "nvidia-gh200"],
    "cpus": ["amd-epyc-7v12", "amd-epyc-7713", "amd-epyc-9654", "intel-xeon-platinum-8259cl",
             "intel-xeon-platinum-8480c", "nvidia-grace"],
    "servers": ["azure-a100-x1", "azure-a100-x2", "azure-a100-x4", "lambda-a100-x8", "lambda-a6000-x1",
                "lambda-a6000-x2", "lambda-a6000-x4", "aws-t4-x1", "aws-t4-x4", "aws-t4-x8", "hgx-h100-x8",
                "dell-poweredge-r740"],
    "coefficients": ["hotcarbon24", "ecoserve", "act", "server-lca"],
}


def test_shipped_database_passes_check(db):
    n_files, problems = db.check()
    assert problems == [], "\n".join(map(str, problems))
    assert n_files > 40


@pytest.mark.parametrize("kind", REQUIRED)
def test_required_entries_exist(db, kind):
    missing = set(REQUIRED[kind]) - set(db.ids(kind))
    assert not missing


def test_every_gpu_has_what_later_models_need(db):
    for gid in db.ids("gpus"):
        g = db.get("gpus", gid)
        assert g["dies"] and g["memory"]["gb"].value > 0 and g["tdp_w"].value > 0, gid
        assert "bandwidth_gb_s" in g["memory"], gid
        assert g.get("peak_tflops"), gid
        assert g.get("idle_w") is not None, gid
        assert g.get("interconnect"), gid


def _user_db(tmp_path, kind, name, text):
    (tmp_path / kind).mkdir(parents=True, exist_ok=True)
    (tmp_path / kind / f"{name}.yaml").write_text(text)
    return Database([shipped_database_dir(), tmp_path])


GOOD_GPU = """name: Test GPU
source: eserve-gpuconfigs
dies: [{area_mm2: 600, node: 7nm}]
memory: {gb: 24, technology: gddr6}
tdp_w: 250
"""


@pytest.mark.parametrize("text, field, words", [
    (GOOD_GPU + "tdp_W: 3\n", "tdp_W", "unknown key"),
    (GOOD_GPU.replace("tdp_w: 250", "tdp_w: -5"), "tdp_w", "greater than 0"),
    (GOOD_GPU.replace("memory: {gb: 24,", "memory: {gb: -24,"), "memory.gb", "negative"),
    (GOOD_GPU.replace("tdp_w: 250", "tdp_w: .nan"), "tdp_w", "finite"),
    (GOOD_GPU.replace("tdp_w: 250", "tdp_w: lots"), "tdp_w", "expected a number"),
    (GOOD_GPU.replace("area_mm2: 600", "area_mm2: 0"), "dies[0].area_mm2", "greater than 0"),
    (GOOD_GPU.replace("node: 7nm", "node: seven"), "dies[0].node", "process node"),
    (GOOD_GPU.replace("source: eserve-gpuconfigs", "source: nowhere"), "tdp_w", "not in sources.yaml"),
    (GOOD_GPU.replace("memory: {gb: 24, technology: gddr6}", "memory: {gb: 24, technology: sram}"),
     "memory.technology", "expected one of"),
    (GOOD_GPU.replace("tdp_w: 250", "tdp_w: {value: 250, low: 300}"), "tdp_w.low", "above value"),
])
def test_bad_part_reports_file_and_field(tmp_path, text, field, words):
    db = _user_db(tmp_path, "gpus", "test-gpu", text)
    _, problems = db.check()
    mine = [p for p in problems if p.file and p.file.endswith("test-gpu.yaml")]
    assert mine, problems
    assert any(p.field == field and words in p.message for p in mine), [str(p) for p in mine]
    with pytest.raises(InputError):
        db.get("gpus", "test-gpu")


def test_check_reports_every_problem_at_once(tmp_path):
    db = _user_db(tmp_path, "gpus", "bad", GOOD_GPU.replace("tdp_w: 250", "tdp_w: -1") + "colour: red\n")
    (tmp_path / "cpus").mkdir()
    (tmp_path / "cpus" / "bad2.yaml").write_text("name: x\nsource: act-repo\ncores: 0\n")
    db = Database([shipped_database_dir(), tmp_path])
    _, problems = db.check()
    files = {Path(p.file).name for p in problems}
    assert {"bad.yaml", "bad2.yaml"} <= files
    assert len(problems) >= 4


def test_duplicate_keys_and_aliases_are_refused():
    with pytest.raises(InputError, match="duplicate key 'a'"):
        loads_yaml("a: 1\nb: 2\na: 3\n", "x.yaml")
    bomb = "a: &a [1, 2]\nb: [*a, *a]\n"
    with pytest.raises(InputError, match="anchors|aliases"):
        loads_yaml(bomb, "x.yaml")
    with pytest.raises(InputError, match="malformed YAML: line 2"):
        loads_yaml("a: [1, 2\n", "x.yaml")


def test_text_without_anchors_reads_the_same_through_libyaml_composer():
    # text with no "&" or "*" goes through libyaml's composer (faster; it cannot refuse anchors,
    # and such text has none); every shipped file and the hostile cases read the same either way
    import yaml
    from carbonsim.engine.readers import yaml_loaders

    texts = [p.read_text(encoding="utf-8") for p in sorted(shipped_database_dir().rglob("*.yaml"))]
    plain = [t for t in texts if "&" not in t and "*" not in t]
    assert len(plain) > 100
    for t in plain + ["a: 1e3\nb: {c: [1, 2.5, x]}\n", "on: yes\nd: 2024-01-01\n"]:
        assert yaml.load(t, Loader=yaml_loaders.PlainLoader) == yaml.load(t, Loader=yaml_loaders.StrictLoader)
    with pytest.raises(InputError, match="duplicate key 'a'"):  # the plain path refuses them too
        loads_yaml("a: 1\na: 2\n", "x.yaml")


def test_python_objects_are_not_constructed():
    with pytest.raises(InputError):
        loads_yaml("!!python/object/apply:os.system ['echo hi']", "x.yaml")


def test_server_with_unknown_part_is_reported(tmp_path):
    text = "name: s\nsource: act-repo\ngpus: {part: nvidia-a999, count: 2}\nhost: {cpus: {part: amd-epyc-7713, count: 1}}\n"
    db = _user_db(tmp_path, "servers", "s", text)
    _, problems = db.check()
    assert any(p.field == "gpus.part" and "nvidia-a999" in p.message for p in problems)


def test_user_layer_overrides_shipped_entry(tmp_path):
    src = shipped_database_dir() / "gpus" / "nvidia-t4.yaml"
    text = src.read_text().replace("tdp_w: 70", "tdp_w: 75", 1)
    db = _user_db(tmp_path, "gpus", "nvidia-t4", text)
    assert db.get("gpus", "nvidia-t4")["tdp_w"].value in (75.0, 70.0)
    assert db.path("gpus", "nvidia-t4").parent.parent == tmp_path


def test_user_sources_extend_bibliography(tmp_path):
    (tmp_path / "sources.yaml").write_text("my-lab-2026:\n  title: Our measurements\n  year: 2026\n")
    db = _user_db(tmp_path, "gpus", "lab-gpu", GOOD_GPU.replace("eserve-gpuconfigs", "my-lab-2026"))
    assert db.get("gpus", "lab-gpu")["tdp_w"].source == "my-lab-2026"


def test_unknown_id_lists_known(db):
    with pytest.raises(InputError, match="unknown GPU 'nvidia-x'; known: .*nvidia-t4"):
        db.path("gpus", "nvidia-x")


def test_database_can_be_copied_and_checked(tmp_path):
    # a user can start their own database from a copy of the shipped one
    shutil.copytree(shipped_database_dir(), tmp_path / "copy", ignore=shutil.ignore_patterns("__pycache__"))
    n, problems = Database([tmp_path / "copy"]).check()
    assert problems == []


# A sweep axis over a server field checks only that field (check_field); it must give exactly
# what checking the whole changed document gives: the same normalised server, or the same error.
ALONE = [("host.dram.gb", 512), ("host.dram.gb", -1), ("host.dram.gb", "lots"), ("host.dram.gb", 1e308),
         ("host.dram.gb", {"value": 5, "low": 9}), ("host.dram", {"gb": 64}), ("host.ssd_gb", 0),
         ("gpus.count", 0.5), ("gpus.count", 2), ("name", 3), ("lifetime_yr", 0), ("host.psu_w", 800)]
WHOLE = [("source", "nobody"), ("host.dram.gbx", 1), ("host.dram.gb.value", 5), ("nothing.here", 1)]


def _outcome(fn):
    try:
        return "ok", fn()
    except InputError as exc:
        return "error", str(exc)


@pytest.mark.parametrize("path, value", ALONE + WHOLE)
def test_a_field_checked_alone_gives_the_whole_documents_answer(db, path, value):
    from carbonsim.engine.inputs.overrides import set_path
    from carbonsim.engine.inputs.server import check_server, override_checked

    raw = loads_yaml(db.path("servers", "azure-a100-x4").read_text(), file="s.yaml")
    base = check_server(raw, db, "s.yaml")
    alone = _outcome(lambda: override_checked(base, {path: value}, "s.yaml"))
    whole = _outcome(lambda: check_server(set_path(raw, path, value), db, "s.yaml"))
    if (path, value) in WHOLE:  # these need the whole document: the caller checks it instead
        assert alone == ("ok", None)
    elif alone[0] == "error":
        assert alone == whole
    else:
        assert whole[0] == "ok" and alone[1] == whole[1]


def test_the_api_reuses_a_database_until_a_file_changes(tmp_path):
    # issue 19: each API call read the whole database again; now it is kept, keyed by its layers,
    # and read again when a file it read, or a folder it listed, changes
    import os

    import carbonsim
    from carbonsim.engine.db import load_database

    assert carbonsim.db.load() is carbonsim.db.load() is load_database()
    user = tmp_path / "mydb"
    (user / "gpus").mkdir(parents=True)
    card = (shipped_database_dir() / "gpus" / "nvidia-t4.yaml").read_text()
    (user / "gpus" / "my-card.yaml").write_text(card)
    first = carbonsim.db.load(user)
    assert first is carbonsim.db.load(user) and first is not carbonsim.db.load()
    gpu_kg = carbonsim.embodied("aws-t4-x1", set={"server.gpus.part": "my-card"}, db=user).gpu_kg
    # an edit in place: same size, so only the modification time tells (set it ahead to be sure)
    edited = card.replace("area_mm2: {value: 545,", "area_mm2: {value: 845,")  # the die: every set counts it
    assert len(edited) == len(card)
    (user / "gpus" / "my-card.yaml").write_text(edited)
    st = os.stat(user / "gpus" / "my-card.yaml")
    os.utime(user / "gpus" / "my-card.yaml", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert carbonsim.db.load(user) is not first
    assert carbonsim.embodied("aws-t4-x1", set={"server.gpus.part": "my-card"}, db=user).gpu_kg > gpu_kg
    # a new file is seen (the folder changed), a removed one is gone
    second = carbonsim.db.load(user)
    (user / "gpus" / "other-card.yaml").write_text(card)
    assert carbonsim.db.load(user) is not second and carbonsim.db.load(user).has("gpus", "other-card")
    (user / "gpus" / "other-card.yaml").unlink()
    assert not carbonsim.db.load(user).has("gpus", "other-card")


def test_a_footprint_call_evaluates_the_embodied_model_once(monkeypatch):
    # issue 19: the embodied model ran twice per carbonsim.footprint call (the chain's column and
    # the component breakdown); it now runs once, with the same numbers as carbonsim.embodied
    import carbonsim
    from carbonsim.engine import chain

    calls = []
    real = chain.server_components_reference

    def counted(params):
        calls.append(params.shape[1])
        return real(params)

    monkeypatch.setattr(chain, "server_components_reference", counted)
    monkeypatch.setattr(chain.CarbonChain, "for_points", classmethod(
        lambda cls, db, n, mode="load", samples=0, seed=0: cls(db, mode, compiled=False, embodied=counted)))
    f = carbonsim.footprint("azure-a100-x4", grid="coal", util=0.4)
    assert calls == [1]
    e = carbonsim.embodied("azure-a100-x4")
    assert f.embodied.total_kg == e.total_kg and f.embodied.host_components_kg == e.host_components_kg
    assert f.embodied.sources == e.sources and f.embodied.notes == e.notes
