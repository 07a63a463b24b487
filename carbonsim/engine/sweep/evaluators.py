"""How a sweep evaluates a chunk of points (layer 2): through the chain, for every kind of point.

:class:`Evaluator` is what a point kind (:mod:`carbonsim.engine.sweep.kinds`) hands the chunk
machinery: plain, picklable settings (the chain's mode, compiled or not, the kind's objective
columns) that a worker turns into a :class:`~carbonsim.engine.chain.CarbonChain` once per
process. Every kind (server, offline LLM, online serving, lifecycle, training) goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.chain import CarbonChain, ChainResult

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

_CHAINS: dict[tuple, CarbonChain] = {}


@dataclass
class Evaluator:
    """Evaluates chunks of one kind of sweep point through the chain (picklable: plain values).

    Attributes
    ----------
    mode : str
        The chain's mode (:data:`carbonsim.engine.chain.MODES`).
    compiled : bool
        Numba kernels or NumPy references (one implementation for the whole sweep).
    objective_columns : dict
        Objective -> result column, where they differ (LLM objectives).
    finite_columns : tuple of str
        Columns a feasible point must give finite (else an input was out of range).
    per_token : bool
        Add the per-token and per-1,000-token columns (LLM tables; the chain's unit stage).
    sci : tuple or None
        (functional unit, requests per user) of the SCI column of offline LLM tables.
    traces : tuple
        Request arrays of online points' traces.
    samples, seed : int
        Server sweeps: draws of each point's ranged embodied inputs (p5/p95 columns).
    options : dict
        Keywords of the chain's entry point (a refresh-policy sweep's ``per_year``: the year-by-year
        results, 2-D, kept beside the table rather than in it).
    """

    mode: str
    compiled: bool = False
    objective_columns: dict = field(default_factory=dict)
    finite_columns: tuple = ()
    per_token: bool = False
    sci: tuple | None = None
    traces: tuple = ()
    samples: int = 0
    seed: int = 0
    options: dict = field(default_factory=dict)

    @property
    def chain(self) -> CarbonChain:
        # evaluation needs no database: one chain per process, mode, implementation and sampling
        key = (self.mode, self.compiled, self.samples, self.seed)
        if key not in _CHAINS:
            _CHAINS[key] = CarbonChain(None, self.mode, compiled=self.compiled, samples=self.samples, seed=self.seed)
        chain = _CHAINS[key]
        chain.traces = list(self.traces)
        return chain

    def evaluate(self, mat: np.ndarray) -> ChainResult:
        """The table's result columns of the points in ``mat``."""
        chain = self.chain
        res = chain.evaluate(mat, **self.options)
        if self.per_token:
            res.update(chain.per_token(res))
        if self.sci is not None:
            res.update(chain.sci_per_request(res, *self.sci))
        return res

    def objective_column(self, objective: str) -> str:
        return self.objective_columns.get(objective, objective)

    @staticmethod
    def feasible(res: dict) -> np.ndarray | None:
        return res.get("feasible")
