"""A measured LLM run as carbonsim states it: what the energy cases (:mod:`.energy`) and the
leaderboard configurations (:mod:`.leaderboard`) both hand to the engine."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    """A measured LLM run as carbonsim states it (a case or a fit-set configuration)."""

    run_id: str
    model_id: str
    gpu_id: str
    n_gpus: int
    tp: int
    batch: int
    batch_is_cap: bool
    prompt_tokens: int
    output_tokens: int
    precision: str
    max_batched_tokens: int
    engine: str
    duration_s: float = math.nan     # measured wall time of the batch (nan: not known)
    power_w: float = math.nan        # measured average GPU power
    step_s: float = math.nan         # measured steady-state time per engine step
    avg_batch: float = math.nan      # measured average concurrency (serving runs)
    task: str = ""
