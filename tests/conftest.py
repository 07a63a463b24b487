"""Shared fixtures. Tests mirror the layers: models/ (layer 1), engine/ (layer 2), cli/ (layer 3)."""

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def db():
    from carbonsim.engine.db import default_database

    return default_database()
