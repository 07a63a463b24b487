"""Online LLM serving (layer 1): request streams, a continuous-batching simulator, the KV cache.

* :mod:`carbonsim.models.serving.layout` names the instance rows, settings and outputs;
* :mod:`carbonsim.models.serving.workload` draws seeded arrivals and token lengths;
* :mod:`carbonsim.models.serving.memory` sizes the KV cache from GPU memory;
* :mod:`carbonsim.models.serving.steady` gives steady-state energy per generation;
* :mod:`carbonsim.models.serving.reference` is the readable simulator
  (:func:`~carbonsim.models.serving.reference.simulate_reference`);
* :mod:`carbonsim.models.serving._kernels` is the Numba kernel of the same event loop
  (:func:`simulate`, :func:`simulate_many`).

Model, scheduler, equations and YAML fields: ``docs/serving.md``.
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.serving.layout import (
    I, INSTANCE_NAMES, N_INSTANCE, N_OUTPUTS, N_REQUEST_OUT, N_SETTINGS, OUT, OUTPUT_NAMES, R, REQUEST_NAMES, ROLES, S,
    SERVING_NAMES, SETTING_NAMES, check_roles,
)
from carbonsim.models.serving.reference import simulate_reference

__all__ = [
    "I", "INSTANCE_NAMES", "N_INSTANCE", "N_OUTPUTS", "N_REQUEST_OUT", "N_SETTINGS", "OUT", "OUTPUT_NAMES", "R",
    "REQUEST_NAMES", "ROLES", "S", "SERVING_NAMES", "SETTING_NAMES", "simulate", "simulate_many", "simulate_reference",
]


def simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings):
    """Compiled simulator; see :func:`carbonsim.models.serving._kernels.simulate`."""
    from carbonsim.models.serving._kernels import simulate as _simulate

    return _simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings)


def simulate_many(systems, settings) -> np.ndarray:
    """Simulate independent serving systems in parallel (compiled).

    Parameters
    ----------
    systems : list of (instances, arrival_s, prompt_tokens, output_tokens, owner)
        As for :func:`simulate`; ``owner`` sorted (each instance's requests contiguous).
    settings : ndarray, shape (N_SETTINGS, len(systems))

    Returns
    -------
    ndarray, shape (N_OUTPUTS, len(systems))
    """
    from carbonsim.models.serving._kernels import simulate_many_kernel

    m = len(systems)
    out = np.empty((N_OUTPUTS, m))
    if m == 0:
        return out
    inst = np.ascontiguousarray(np.concatenate([s[0] for s in systems], axis=1), dtype=np.float64)
    inst_bounds = np.concatenate(([0], np.cumsum([s[0].shape[1] for s in systems]))).astype(np.int64)
    req_bounds = np.concatenate(([0], np.cumsum([len(s[1]) for s in systems]))).astype(np.int64)
    owner_bounds = np.concatenate([np.searchsorted(np.asarray(s[4]), np.arange(s[0].shape[1] + 1))
                                   for s in systems]).astype(np.int64)
    for j, s in enumerate(systems):
        check_roles(s[0][I["role"]], s[0][I["gpu_group"]], owner_bounds[inst_bounds[j] + j: inst_bounds[j + 1] + j + 1])
    arrival = np.ascontiguousarray(np.concatenate([s[1] for s in systems]), dtype=np.float64)
    prompt = np.ascontiguousarray(np.concatenate([s[2] for s in systems]), dtype=np.int64)
    output = np.ascontiguousarray(np.concatenate([s[3] for s in systems]), dtype=np.int64)
    settings = np.ascontiguousarray(settings, dtype=np.float64)
    args = (inst, inst_bounds, arrival, prompt, output, req_bounds, owner_bounds, settings, out)
    per = np.empty((1, 1))
    # systems differ in cost by orders of magnitude (load, lengths): threads take them one at a
    # time from a shared counter (the kernel runs without the GIL)
    threads = min(_threads(), m)
    order = np.arange(m, dtype=np.int64)
    if threads <= 1:
        simulate_many_kernel(*args, order, 0, m, per, False)
        return out
    import threading

    lock = threading.Lock()
    cursor = [0]

    def work():
        while True:
            with lock:
                q = cursor[0]
                cursor[0] += 1
            if q >= m:
                return
            simulate_many_kernel(*args, order, q, q + 1, per, False)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return out


def _threads() -> int:
    """Threads for :func:`simulate_many`: Numba's setting (NUMBA_NUM_THREADS, ``numba.set_num_threads``)."""
    import numba

    return int(numba.get_num_threads())
