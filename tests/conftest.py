import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def db():
    from carbonsim.engine.db import default_database

    return default_database()
