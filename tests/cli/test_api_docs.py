"""docs/api.md is a worked session of the Python API; its examples run here, so the page
cannot drift from what carbonsim does."""

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_api_page_runs(monkeypatch):
    monkeypatch.chdir(ROOT)  # the page uses paths relative to the repository (scenarios/...)
    failures, tried = doctest.testfile(str(ROOT / "docs" / "api.md"), module_relative=False,
                                       optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert tried > 20 and failures == 0


def test_top_level_names_do_not_shadow_packages():
    import carbonsim

    assert callable(carbonsim.sweep) and callable(carbonsim.embodied) and callable(carbonsim.footprint)
    assert hasattr(carbonsim.db, "frame")
    with pytest.raises(AttributeError):
        carbonsim.no_such_thing  # noqa: B018


def test_sweep_writes_nothing_unless_asked(tmp_path, monkeypatch):
    import carbonsim

    monkeypatch.chdir(tmp_path)
    s = carbonsim.sweep(ROOT / "scenarios" / "a100x4.yaml")
    assert len(s.points) == 180 and list(tmp_path.iterdir()) == []
    carbonsim.sweep(ROOT / "scenarios" / "a100x4.yaml", out=tmp_path / "o")
    assert (tmp_path / "o" / "points.parquet").exists()
