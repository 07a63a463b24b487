"""Every sub-package is listed in pyproject.toml, so a non-editable install ships all of it."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_all_subpackages_are_packaged():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "carbonsim").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"


def test_database_files_are_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "carbonsim.hardware_db"]
    for path in (ROOT / "hardware_db").rglob("*"):
        if path.is_file():
            rel = path.relative_to(ROOT / "hardware_db")
            assert any(rel.match(p) for p in patterns), f"{rel} would not be installed"


def test_validation_data_is_package_data():
    # the validation cases read their data beside them; a non-editable install must ship it
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "carbonsim.validation"]
    base = ROOT / "carbonsim" / "validation"
    files = [p for p in (base / "data").rglob("*") if p.is_file()]
    assert files
    for path in files:
        rel = path.relative_to(base)
        assert any(rel.match(p) for p in patterns), f"{rel} would not be installed"
