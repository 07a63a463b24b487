"""The parsed-YAML cache (engine/readers/parsed_cache.py): it returns what parsing returns, misses
on any change, ignores what it cannot trust, and never stops or changes a command."""

from __future__ import annotations

import os

import pytest

from carbonsim.engine.db.store import shipped_database_dir
from carbonsim.engine.readers import parsed_cache, yamlfile
from carbonsim.engine.readers.yamlfile import loads_yaml
from carbonsim.errors import InputError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(parsed_cache.ENV, str(folder))
    monkeypatch.setattr(parsed_cache, "_folder", False)  # looked up again under this environment
    return folder


def no_parsing(monkeypatch):
    def refuse(text, file):
        raise AssertionError("parsed, not read from the cache")
    monkeypatch.setattr(yamlfile, "_parse", refuse)


def test_every_shipped_file_comes_back_as_parsed(cache, monkeypatch):
    texts = [p.read_text(encoding="utf-8") for p in sorted(shipped_database_dir().rglob("*.yaml"))]
    parsed = [loads_yaml(t) for t in texts]  # parses and stores
    assert len(list(cache.iterdir())) == len(set(texts))
    no_parsing(monkeypatch)
    assert [loads_yaml(t) for t in texts] == parsed


def test_a_changed_text_misses_and_a_hit_is_a_fresh_copy(cache, monkeypatch):
    a = loads_yaml("x: 1\ny: [1, 2]\n")
    b = loads_yaml("x: 2\ny: [1, 2]\n")
    assert (a["x"], b["x"]) == (1, 2) and len(list(cache.iterdir())) == 2
    no_parsing(monkeypatch)
    first = loads_yaml("x: 1\ny: [1, 2]\n")
    first["y"].append(3)  # a caller changing its document changes nobody else's
    assert loads_yaml("x: 1\ny: [1, 2]\n") == {"x": 1, "y": [1, 2]}


@pytest.mark.parametrize("text", ["a: 1\na: 2\n", "a: &x 1\nb: *x\n", "a: [1\n"])
def test_bad_text_is_refused_every_time_and_never_stored(cache, text):
    for _ in range(2):
        with pytest.raises(InputError):
            loads_yaml(text, "bad.yaml")
    assert not cache.exists() or not any(cache.iterdir())


def test_a_damaged_file_is_ignored_and_replaced(cache):
    loads_yaml("x: 1\n")
    (f,) = list(cache.iterdir())
    blob = bytearray(f.read_bytes())
    blob[-1] ^= 0xFF  # one bit of the payload: its digest no longer matches
    f.write_bytes(bytes(blob))
    assert loads_yaml("x: 1\n") == {"x": 1}
    f.write_bytes(b"")  # empty
    assert loads_yaml("x: 1\n") == {"x": 1}
    assert parsed_cache.lookup("x: 1\n") == {"x": 1}  # stored again


def test_off_and_untrusted_folders_leave_it_unused(tmp_path, monkeypatch):
    monkeypatch.setattr(parsed_cache, "_folder", False)
    monkeypatch.setenv(parsed_cache.ENV, "off")
    assert loads_yaml("x: 1\n") == {"x": 1} and parsed_cache.cache_folder() is None
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # others could write documents for this user to read
    monkeypatch.setattr(parsed_cache, "_folder", False)
    monkeypatch.setenv(parsed_cache.ENV, str(shared))
    assert loads_yaml("x: 1\n") == {"x": 1} and parsed_cache.cache_folder() is None
    assert list(shared.iterdir()) == []


def test_a_folder_that_cannot_be_made_changes_nothing(tmp_path, monkeypatch):
    # a cache path below a regular file cannot be created, by root either (a read-only folder
    # would not stop root): the command reads and parses as without a cache
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(parsed_cache, "_folder", False)
    monkeypatch.setenv(parsed_cache.ENV, str(blocker / "cache"))
    assert loads_yaml("x: 1\n") == {"x": 1} and parsed_cache.cache_folder() is None
    assert blocker.read_text() == "not a folder"


def test_a_document_marshal_cannot_hold_is_parsed_each_time(cache):
    assert loads_yaml("d: 2024-01-01\n")["d"].year == 2024  # a date: not stored
    assert not cache.exists() or not any(cache.iterdir())
