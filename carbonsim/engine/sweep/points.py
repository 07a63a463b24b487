"""One sweep point as numbers: the scenario document -> a named float vector.

The vector holds the embodied model's rows (:mod:`carbonsim.models.embodied.layout`) followed by the
footprint rows below (and, for LLM scenarios, the performance rows). Building a vector loads
and validates everything the point names, so a bad value in a sweep list is reported with the
scenario file and the sweep field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from functools import lru_cache

import numpy as np

from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.db.store import Database
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.models.embodied.layout import PARAM_NAMES
from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import server_file, server_from_dict
from carbonsim.engine.inputs.overrides import set_path
from carbonsim.engine.inputs.operational import server_power
from carbonsim.engine.inputs.columns import server_column

FOOTPRINT_ROWS = ("gpu_lifetime_yr", "host_lifetime_yr", "power_w", "pue", "ci_g_per_kwh")
class PointBuilder:
    """Builds point vectors for one scenario; caches what repeats between points."""

    def __init__(self, db: Database, scenario_file: str, rows: tuple[str, ...]):
        self.db, self.file = db, scenario_file
        self.rows = rows
        self.index = {name: i for i, name in enumerate(rows)}

    @lru_cache(maxsize=256)
    def _server_raw(self, ref: str):
        path, sid = server_file(ref, self.db, Path(self.file).parent)
        return load_yaml(path), str(path), sid

    def server(self, doc: dict):
        ref = doc["server"]
        if isinstance(ref, dict):
            raw, file, sid = copy.deepcopy(ref), self.file, "inline-server"
        else:
            raw, file, sid = self._server_raw(ref)
            raw = copy.deepcopy(raw)
        for path, value in (doc.get("_server_overrides") or {}).items():
            raw = set_path(raw, path, value, file=file)
        return server_from_dict(raw, self.db, file, sid)

    def coefficients(self, doc: dict):
        return load_coefficients(doc.get("coefficients"), self.db, doc.get("_coefficients_overrides"))

    def grid(self, doc: dict):
        from carbonsim.engine.inputs.grid import resolve_grid

        text = (doc.get("datacenter") or {}).get("grid")
        return None if text is None else resolve_grid(str(text), self.db)

    def vector(self, doc: dict) -> np.ndarray:
        """The point vector of ``doc`` (rows as in ``self.rows``)."""
        v = np.zeros(len(self.rows))
        server = self.server(doc)
        cs = self.coefficients(doc)
        col = server_column(server, cs)
        v[: len(PARAM_NAMES)] = col.value
        dc = doc.get("datacenter") or {}
        ix = self.index
        v[ix["gpu_lifetime_yr"]] = server.gpu_lifetime_yr.value
        v[ix["host_lifetime_yr"]] = server.host_lifetime_yr.value
        share = col.value[PARAM_NAMES.index("host_share")]
        load = doc.get("load") or {}
        v[ix["power_w"]] = server_power(server, share, dc.get("power_w"), load.get("cpu_util"),
                                        load.get("gpu_util", load.get("gpu_activity"))).power_w
        v[ix["pue"]] = dc.get("pue", 1.0)
        g = self.grid(doc)
        v[ix["ci_g_per_kwh"]] = np.nan if g is None else g.ci_g_per_kwh
        return v


def embodied_rows() -> tuple[str, ...]:
    """Row names of a server-only sweep point."""
    return tuple(PARAM_NAMES) + FOOTPRINT_ROWS
