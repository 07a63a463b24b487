"""Training-run sweeps (layer 2): a scenario with a ``training:`` section is ``carbonsim train`` as
a YAML file, and any of its fields (GPU, GPU count, efficiency, grid, PUE, tokens ...) can be a
sweep axis (docs/lifecycle.md, section 2).

A point is a column of the chain's training rows (:data:`carbonsim.engine.chain.TRAINING_ROWS`),
built by the same :func:`carbonsim.engine.training.training_point` as ``carbonsim train``; the
chain's training mode (:meth:`carbonsim.engine.chain.CarbonChain.run_training`) evaluates the
points, so a sweep row and ``carbonsim train`` give one answer from one computation.
"""

from __future__ import annotations

import json

import numpy as np

from carbonsim.engine.chain import CarbonChain, Column
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import DEFAULT_SET, load_coefficients
from carbonsim.engine.inputs.options import DEFAULT_PUE

FIXED_INPUTS = {"training.params_b": None, "training.active_params_b": None, "training.tokens_b": None,
                "training.gpu": None, "training.gpus": None, "training.mfu": None, "coefficients": DEFAULT_SET,
                "datacenter.pue": DEFAULT_PUE, "datacenter.grid": None}
#: Units of the input columns (results carry theirs: :data:`carbonsim.engine.chain.RESULT_UNITS`).
INPUT_UNITS = {"training.gpus": "GPUs", "training.params_b": "billion parameters", "training.tokens_b": "billion tokens"}


class TrainingPoints:
    """Builds training point columns (the interface of :class:`~carbonsim.engine.sweep.points.PointBuilder`)."""

    def __init__(self, db: Database, scenario_file: str):
        self.db, self.file = db, scenario_file
        self.chain = CarbonChain.for_training(db)
        self.rows = self.chain.rows
        self._cache: dict[str, Column] = {}

    def grid(self, doc: dict):
        from carbonsim.engine.inputs.grid import resolve_grid

        text = (doc.get("datacenter") or {}).get("grid")
        return None if text is None else resolve_grid(str(text), self.db)

    def column(self, doc: dict) -> Column:
        """The point of ``doc`` (cached by its inputs)."""
        from carbonsim.engine.training import training_point
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
                point = training_point(self.db, grid=grid, pue=dc.get("pue", DEFAULT_PUE),
                                       cs=load_coefficients(doc.get("coefficients"), self.db,
                                                            doc.get("_coefficients_overrides")), **t)
            except InputError as exc:
                if exc.file:
                    raise
                raise InputError(exc.message, file=self.file, field=f"training.{exc.field}" if exc.field else
                                 "training") from None
            self._cache[key] = point.column
        col = self._cache[key]
        return Column(col.value.copy(), sources=set(col.sources), notes=list(col.notes))

    def vector(self, doc: dict) -> np.ndarray:
        return self.column(doc).value
