"""What a sweep optimises (layer 2): objective names -> result columns of the chain."""

from __future__ import annotations

import numpy as np

from carbonsim.engine.chain import CarbonChain

#: LLM objectives -> per-request result columns.
TASK_OBJECTIVE_COLUMNS = {
    "carbon_per_task": "total_g",
    "energy_per_task": "energy_j",
    "latency": "latency_s",
    "edp": "edp_j_s",
    "cdp": "cdp_g_s",
    "cep": "cep_g_j",
    "cep_delay": "cep_delay_g_j",
    "embodied_per_task": "embodied_g",
    "operational_per_task": "operational_g",
}


class Evaluator:
    """Evaluates chunks of sweep points through a :class:`CarbonChain`."""

    def __init__(self, chain: CarbonChain):
        self.chain = chain
        self.rows = chain.rows

    def metrics(self, mat: np.ndarray) -> dict[str, np.ndarray]:
        return self.chain.evaluate(mat, components=not self.chain.tasks)

    def objective_column(self, objective: str) -> str:
        return TASK_OBJECTIVE_COLUMNS[objective] if self.chain.tasks else objective

    def feasible(self, metrics: dict) -> np.ndarray | None:
        return metrics["feasible"] if self.chain.tasks else None
