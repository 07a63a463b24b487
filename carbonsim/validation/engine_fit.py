"""Step-time constants of the measured vLLM engine profiles, fitted on the leaderboard fit sets.

``calibration/write_perf_calibration.py`` writes what :func:`fit_engines` returns into
``hardware_db/perf/calibration.yaml``; ``docs/validation_energy.md`` reports the fit and the error
on the configurations no fit saw (:mod:`carbonsim.validation.energy_report`).

- ``vllm-0.11`` (vLLM 0.11.1 with async scheduling, the ML.ENERGY leaderboard v3): the per-step
  time the overlap does not hide (``step_sync_s``) and the fixed decode-attention time per
  sequence, layer and query head (``attn_head_s``), fitted on the fit sets F1 and F2;
- ``vllm-0.5`` (vLLM 0.5.4, synchronous, leaderboard v2): the host time per step and per sequence
  (``cpu_base_s``, ``cpu_per_seq_s``), fitted on F3, with ``attn_head_s`` taken from ``vllm-0.11``
  (the same GPU work of the attention kernels).

Each configuration's measured steady-state step (average batch / output throughput) is compared
with carbonsim's time per output token of its batch (the task's latency / output tokens, the
prefill included), through the same points ``carbonsim sweep`` builds. Least squares on the log
ratio with a Cauchy loss of scale 0.1: a configuration more than about 10 % off weighs less, so
that the B200 Problem Solving configurations of F1, whose steps stay at 30-47 ms whatever the
batch (host-bound on the measuring node; docs/validation_energy.md), do not set the constants of
every other configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import least_squares

from carbonsim.models.perf.layout import O
from carbonsim.validation import energy, leaderboard

#: Fit sets of each fitted engine profile.
ENGINE_FIT_SETS = {"vllm-0.11": ("F1", "F2"), "vllm-0.5": ("F3",)}
LOSS, F_SCALE = "cauchy", 0.1


@dataclass
class EngineFit:
    """Fitted constants of one engine profile and each fit-set configuration's step error."""

    engine: str
    values: dict           # row name (without ``perf_``) -> fitted value
    runs: list             # the fit-set runs
    errors: np.ndarray     # relative step-time error of each run with the fitted constants
    before: np.ndarray     # the same with the generic engine form (``overlapped``; ``synchronous``: vllm-sync)


@lru_cache(maxsize=None)
def _points(sets: tuple[str, ...]):
    runs = leaderboard.fit_runs(*sets)
    chain, mat = energy.task_points(runs)
    return runs, chain, mat


def model_steps(chain, mat, values: dict) -> np.ndarray:
    """carbonsim's time per output token of each point's batch with engine rows set to ``values``."""
    m = mat.copy()
    for k, v in values.items():
        m[chain.index[f"perf_{k}"]] = v
    out = energy.perf_outputs(chain, m)
    return out[O["latency_s"]] / m[chain.index["perf_output_tokens"]]


def measured_steps(runs) -> np.ndarray:
    return np.array([r.step_s for r in runs])


#: The rows as the generic engine forms give them (no per-step sync, no fixed attention time, no
#: CUDA-graph padding): carbonsim before these profiles.
WITHOUT = {"step_sync_s": 0.0, "attn_head_s": 0.0, "graph_max_batch": 0.0}


def _fit(sets, names, scales, x0, hi, fixed=None, before=None) -> tuple[dict, list, np.ndarray, np.ndarray]:
    runs, chain, mat = _points(sets)
    measured = measured_steps(runs)
    fixed = dict(fixed or {})

    def values(x):
        return {**fixed, **{n: v * s for n, v, s in zip(names, x, scales)}}

    res = least_squares(lambda x: np.log(model_steps(chain, mat, values(x)) / measured), x0,
                        bounds=(np.zeros(len(x0)), hi), loss=LOSS, f_scale=F_SCALE)
    fitted = values(res.x)
    errors = model_steps(chain, mat, fitted) / measured - 1.0
    before = model_steps(chain, mat, {**WITHOUT, **(before or {})}) / measured - 1.0
    return fitted, runs, errors, before


@lru_cache(maxsize=1)
def fit_engines() -> dict[str, EngineFit]:
    """Fit ``vllm-0.11`` on F1 + F2, then ``vllm-0.5`` on F3 with ``vllm-0.11``'s ``attn_head_s``."""
    new, runs, err, before = _fit(ENGINE_FIT_SETS["vllm-0.11"], ("step_sync_s", "attn_head_s"), (1e-3, 1e-9),
                                  [1.0, 40.0], [20.0, 500.0])
    out = {"vllm-0.11": EngineFit("vllm-0.11", new, runs, err, before)}
    head = {"attn_head_s": new["attn_head_s"]}
    sync = _vllm_sync_cpu()
    old, runs, err, before = _fit(ENGINE_FIT_SETS["vllm-0.5"], ("cpu_base_s", "cpu_per_seq_s"), (1e-3, 1e-6),
                                  [5.0, 300.0], [50.0, 2000.0], fixed=head, before=sync)
    out["vllm-0.5"] = EngineFit("vllm-0.5", old, runs, err, before)
    return out


def _vllm_sync_cpu() -> dict:
    """The host-time rows of the generic synchronous engine (``vllm-sync``, Vidur's profiles)."""
    from carbonsim.engine.db import default_database
    from carbonsim.engine.inputs.llm import CALIBRATION_ID, _v

    e = default_database().get("perf", CALIBRATION_ID)["engines"]["vllm-sync"]
    return {k: _v(e[k]) for k in ("cpu_base_s", "cpu_per_seq_s")}
