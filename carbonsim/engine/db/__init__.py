"""The hardware database: find, load and check part files (layer 2)."""

from carbonsim.engine.db.store import Database, default_database, load_database

__all__ = ["Database", "default_database", "load_database"]
