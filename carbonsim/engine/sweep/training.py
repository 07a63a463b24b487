"""Training-run sweeps (layer 2): a scenario with a ``training:`` section is ``carbonsim train`` as
a YAML file, and any of its fields (GPU, GPU count, efficiency, grid, PUE, tokens ...) can be a
sweep axis (docs/lifecycle.md, section 2).

A point is a column of :data:`ROWS`: what :func:`carbonsim.engine.training.train` derives
for the point through the chain (FLOPs, peak, efficiency or measured device-hours, power per
device, embodied carbon per device-hour, intensity); :class:`TrainingEvaluator` turns columns into
device-hours, energy and carbon with the layer-1 functions of
:mod:`carbonsim.models.lifecycle.training`.
"""

from __future__ import annotations

import json

import numpy as np

from carbonsim.engine.chain import Column
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import DEFAULT_SET, load_coefficients
from carbonsim.models.lifecycle.training import device_hours, training_energy_kwh

ROWS = ("flops", "peak_flops_per_s", "mfu", "hours_measured", "measured_hours", "gpus", "gpu_w", "host_w_per_gpu",
        "pue", "ci_g_per_kwh", "embodied_kg_per_hour", "tokens")
OBJECTIVES = ("total_kg", "operational_kg", "embodied_kg", "energy_mwh", "gpu_hours", "days")
FIXED_INPUTS = {"training.params_b": None, "training.active_params_b": None, "training.tokens_b": None,
                "training.gpu": None, "training.gpus": None, "training.mfu": None, "coefficients": DEFAULT_SET,
                "datacenter.pue": 1.0, "datacenter.grid": None}
UNITS = {"gpu_hours": "device-hours", "days": "days", "energy_mwh": "MWh (facility)", "mfu": "fraction",
         "gpu_energy_mwh": "MWh (facility)", "host_energy_mwh": "MWh (facility)", "sci_g_per_run": "gCO2e per run",
         "sci_g_per_1k_tokens": "gCO2e per 1000 training tokens", "training.gpus": "GPUs",
         "training.params_b": "billion parameters", "training.tokens_b": "billion tokens", "flops": "FLOP (run total)"}


class TrainingPoints:
    """Builds training point columns (the interface of :class:`~carbonsim.engine.sweep.points.PointBuilder`)."""

    def __init__(self, db: Database, scenario_file: str):
        self.db, self.file = db, scenario_file
        self.rows = ROWS
        self.index = {n: i for i, n in enumerate(ROWS)}
        self.chain = None
        self._cache: dict[str, object] = {}

    def grid(self, doc: dict):
        from carbonsim.engine.inputs.grid import resolve_grid

        text = (doc.get("datacenter") or {}).get("grid")
        return None if text is None else resolve_grid(str(text), self.db)

    def result(self, doc: dict):
        """The ``carbonsim train`` result of a point (cached by its inputs)."""
        from carbonsim.engine.training import train
        from carbonsim.errors import InputError

        key = json.dumps([doc["training"], doc.get("datacenter"), doc.get("coefficients"),
                          doc.get("_coefficients_overrides")], sort_keys=True, default=str)
        if key not in self._cache:
            t = dict(doc["training"])
            dc = doc.get("datacenter") or {}
            grid = self.grid(doc)
            if grid is None:
                raise InputError("a training scenario needs datacenter.grid", file=self.file, field="datacenter.grid")
            try:
                self._cache[key] = train(self.db, grid=grid, pue=dc.get("pue", 1.0),
                                         cs=load_coefficients(doc.get("coefficients"), self.db,
                                                              doc.get("_coefficients_overrides")), **t)
            except InputError as exc:
                if exc.file:
                    raise
                raise InputError(exc.message, file=self.file, field=f"training.{exc.field}" if exc.field else
                                 "training") from None
        return self._cache[key]

    def column(self, doc: dict) -> Column:
        r = self.result(doc)
        v = np.zeros(len(ROWS))
        ix = self.index
        measured = r.mfu_origin.startswith("measured")
        rate = r.embodied_kg / r.gpu_hours if r.gpu_hours > 0 else 0.0
        for name, value in (("flops", r.flops), ("peak_flops_per_s", r.inputs["peak_tflops"] * 1e12), ("mfu", r.mfu),
                            ("hours_measured", 1.0 if measured else 0.0),
                            ("measured_hours", r.gpu_hours if measured else 0.0), ("gpus", r.inputs["gpus"] or 0),
                            ("gpu_w", r.gpu_w), ("host_w_per_gpu", r.host_w_per_gpu), ("pue", r.inputs["pue"]),
                            ("ci_g_per_kwh", r.ci_g_per_kwh), ("embodied_kg_per_hour", rate),
                            ("tokens", r.inputs["tokens_b"] * 1e9)):
            v[ix[name]] = value
        return Column(v, sources=set(r.sources), notes=list(r.notes))

    def vector(self, doc: dict) -> np.ndarray:
        return self.column(doc).value


class TrainingEvaluator:
    """Device-hours, energy and carbon of training points (picklable: plain numbers only)."""

    chain = None
    rows = ROWS
    finite_columns = ("total_kg", "gpu_hours", "energy_mwh")

    def __init__(self):
        self.index = {n: i for i, n in enumerate(ROWS)}

    def metrics(self, mat: np.ndarray) -> dict[str, np.ndarray]:
        ix = self.index
        hours = np.where(mat[ix["hours_measured"]] > 0.5, mat[ix["measured_hours"]],
                         device_hours(mat[ix["flops"]], mat[ix["peak_flops_per_s"]], mat[ix["mfu"]]))
        e = training_energy_kwh(hours, mat[ix["gpu_w"]], mat[ix["host_w_per_gpu"]], mat[ix["pue"]])
        op = e["total_kwh"] * mat[ix["ci_g_per_kwh"]] / 1000.0
        emb = hours * mat[ix["embodied_kg_per_hour"]]
        gpus = mat[ix["gpus"]]
        total = op + emb
        return {
            "gpu_hours": hours, "days": np.where(gpus > 0, hours / np.maximum(gpus, 1) / 24.0, np.nan),
            "mfu": mat[ix["mfu"]].copy(), "flops": mat[ix["flops"]].copy(),
            "energy_mwh": e["total_kwh"] / 1000.0, "gpu_energy_mwh": e["gpu_kwh"] * mat[ix["pue"]] / 1000.0,
            "host_energy_mwh": e["host_kwh"] * mat[ix["pue"]] / 1000.0, "operational_kg": op, "embodied_kg": emb,
            "total_kg": total, "ci_g_per_kwh": mat[ix["ci_g_per_kwh"]].copy(),
            "sci_g_per_run": total * 1000.0, "sci_g_per_1k_tokens": total * 1000.0 / (mat[ix["tokens"]] / 1000.0),
        }

    def objective_column(self, objective: str) -> str:
        return objective

    def feasible(self, metrics: dict):
        return None
