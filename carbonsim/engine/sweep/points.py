"""One sweep point as numbers: a scenario document -> a column of :class:`CarbonChain`'s rows
(layer 2).

Building a point loads and validates everything it names (server, coefficient set, grid,
model, workload), so a bad value in a sweep list is reported with the scenario file and the
sweep field. What repeats between points (files, resolved grids, coefficient sets) is cached.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import CarbonChain, Load
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.llm import model_spec, perf_rows
from carbonsim.engine.inputs.options import DEFAULT_PUE
from carbonsim.engine.inputs.serving import TraceBook, check_offline_workload, online_rows
from carbonsim.engine.inputs.overrides import set_path
from carbonsim.engine.inputs.server import (check_server, override_checked, server_file, server_from_checked,
                                            server_from_dict)
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.errors import InputError


class PointBuilder:
    """Builds point columns for one scenario.

    Parameters
    ----------
    db : Database
    scenario_file : str
        Named in errors; server paths are relative to its folder.
    chain : CarbonChain
        The composition whose rows the columns fill.
    """

    def __init__(self, db: Database, scenario_file: str, chain: CarbonChain):
        self.db, self.file, self.chain = db, scenario_file, chain
        self.rows = chain.rows
        self.traces = TraceBook(Path(scenario_file).parent)  # request traces of online points
        chain.traces = self.traces.entries

    @lru_cache(maxsize=256)
    def _server_raw(self, ref: str):
        path, sid = server_file(ref, self.db, Path(self.file).parent)
        return load_yaml(path, "server"), str(path), sid

    @lru_cache(maxsize=256)
    def _server_checked(self, ref: str):
        """The server file's checked document, or None when it passes only with overrides."""
        raw, file, _ = self._server_raw(ref)
        try:
            return check_server(raw, self.db, file)
        except InputError:
            return None

    def server(self, doc: dict):
        ref = doc["server"]
        overrides = doc.get("_server_overrides") or {}
        if isinstance(ref, dict):
            raw, file, sid = ref, self.file, "inline-server"
        else:
            raw, file, sid = self._server_raw(ref)  # shared: set_path copies what it changes
            base = self._server_checked(ref)
            # an axis over a server field: check the changed fields, not the whole server again
            checked = None if base is None else override_checked(base, overrides, file)
            if checked is not None:
                return server_from_checked(checked, self.db, file, sid)
        for path, value in overrides.items():
            raw = set_path(raw, path, value, file=file)
        return server_from_dict(raw, self.db, file, sid)

    def coefficients(self, doc: dict):
        over = doc.get("_coefficients_overrides")
        if over:
            return load_coefficients(doc.get("coefficients"), self.db, over)
        return self._coefficients(doc.get("coefficients"))

    @lru_cache(maxsize=64)
    def _coefficients(self, set_id):
        return load_coefficients(set_id, self.db)

    def grid(self, doc: dict):
        """The point's grid; over its period of use when it has one (``period: {years,
        start_year}``: a trajectory's mean over those years)."""
        text = (doc.get("datacenter") or {}).get("grid")
        period = doc.get("period") or {}
        return None if text is None else self._grid(str(text), period.get("years"), period.get("start_year"))

    @lru_cache(maxsize=1024)
    def _grid(self, text: str, years=None, start_year=None):
        from carbonsim.engine.inputs.grid import grid_over_period, resolve_grid

        g = resolve_grid(text, self.db, year=start_year)
        return g if years is None else grid_over_period(g, self.db, years, start_year)

    def column(self, doc: dict):
        """The :class:`~carbonsim.engine.chain.Column` of ``doc``."""
        server = self.server(doc)
        cs = self.coefficients(doc)
        dc = doc.get("datacenter") or {}
        g = self.grid(doc)
        ci = np.nan if g is None else g.ci_g_per_kwh
        if self.chain.online:
            return self._online_column(doc, server, cs, ci, dc)
        if self.chain.tasks:
            workload = doc["workload"]
            check_offline_workload(workload, self.file)
            model = model_spec(self.db, doc["model"], doc.get("_model_overrides"), self.file)
            rows = perf_rows(self.db, server, model, workload, self.file)
            return self.chain.column(server, cs, ci_g_per_kwh=ci, pue=dc.get("pue", DEFAULT_PUE), perf_rows=rows,
                                     whole_server=workload.get("embodied_attribution", "server") == "server",
                                     power_cap_w=workload.get("power_cap_w"), replicas=workload.get("replicas"))
        load = doc.get("load") or {}
        return self.chain.column(server, cs, ci_g_per_kwh=ci, pue=dc.get("pue", DEFAULT_PUE),
                                 load=Load(load.get("cpu_util"), load.get("gpu_util", load.get("gpu_activity")),
                                           power_w=dc.get("power_w")),
                                 period_yr=float((doc.get("period") or {}).get("years") or 0.0))

    def _online_column(self, doc: dict, server, cs, ci, dc):
        """An online-serving point (``workload.mode: online``)."""
        workload = doc["workload"]
        if workload.get("mode") != "online":
            raise InputError("this scenario simulates online serving; every point needs mode: online",
                             file=self.file, field="workload.mode")
        models = [(doc["model"], model_spec(self.db, doc["model"], doc.get("_model_overrides"), self.file))]
        if workload.get("placement", "single") in ("horizontal", "vertical"):
            second = workload.get("second_model", doc["model"])
            same = second == doc["model"]
            models.append((second, models[0][1] if same else model_spec(self.db, second, None, self.file)))
        rows, notes = online_rows(self.db, server, models, workload, self.traces, self.file)
        col = self.chain.column(server, cs, ci_g_per_kwh=ci, pue=dc.get("pue", DEFAULT_PUE), online_rows=rows,
                                whole_server=workload.get("embodied_attribution", "server") == "server",
                                power_cap_w=workload.get("power_cap_w"))
        col.notes.extend(notes)
        return col

    def vector(self, doc: dict) -> np.ndarray:
        """The point's numbers (rows as in :attr:`rows`)."""
        return self.column(doc).value
