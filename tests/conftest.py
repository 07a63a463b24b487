"""Shared fixtures. Tests mirror the layers: models/ (layer 1), engine/ (layer 2), cli/ (layer 3)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# parsed YAML documents (engine/readers/parsed_cache.py) go to a folder of this run's, not the
# user's cache; commands the tests start inherit it
_PARSED_CACHE = tempfile.mkdtemp(prefix="carbonsim-tests-parsed-")
os.environ.setdefault("CARBONSIM_CACHE_DIR", _PARSED_CACHE)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_PARSED_CACHE, ignore_errors=True)

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def db():
    from carbonsim.engine.db import default_database

    return default_database()
