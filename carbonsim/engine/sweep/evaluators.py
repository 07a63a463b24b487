"""Evaluate chunks of sweep points: point vectors in, metric columns out (layer 2).

Each evaluator names the rows its point vectors have and turns a chunk into metric arrays by
calling the layer-1 kernels.
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.embodied.layout import N_HOST, N_PARAMS
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.models.grid.carbon import operational_rate_mg_per_s
from carbonsim.engine.sweep.points import embodied_rows


class EmbodiedEvaluator:
    """A server alone: embodied kg, its per-second rate, and the per-second footprint."""

    rows = embodied_rows()

    def __init__(self):
        ix = {name: i for i, name in enumerate(self.rows)}
        self._life_g, self._life_h = ix["gpu_lifetime_yr"], ix["host_lifetime_yr"]
        self._power, self._pue, self._ci = ix["power_w"], ix["pue"], ix["ci_g_per_kwh"]

    def metrics(self, mat: np.ndarray) -> dict[str, np.ndarray]:
        comps = server_components(mat[:N_PARAMS])
        host = comps[:N_HOST].sum(axis=0)
        gpu = comps[N_HOST:].sum(axis=0)
        rate = (embodied_rate_mg_per_s(host, mat[self._life_h])
                + embodied_rate_mg_per_s(gpu, mat[self._life_g]))
        out = {
            "embodied_kg": host + gpu,
            "host_embodied_kg": host,
            "gpu_embodied_kg": gpu,
            "embodied_mg_per_s": rate,
        }
        ci = mat[self._ci]
        if not np.all(np.isnan(ci)):
            op = operational_rate_mg_per_s(mat[self._power], mat[self._pue], ci)
            out.update({
                "power_w": mat[self._power].copy(),
                "pue": mat[self._pue].copy(),
                "ci_g_per_kwh": ci.copy(),
                "operational_mg_per_s": op,
                "total_mg_per_s": rate + op,
                "embodied_share": rate / (rate + op),
            })
        return out

    @staticmethod
    def objective_column(objective: str) -> str:
        return objective

    @staticmethod
    def feasible(metrics: dict) -> np.ndarray | None:
        return None
