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
    SERVING_NAMES, SETTING_NAMES,
)

__all__ = [
    "I", "INSTANCE_NAMES", "N_INSTANCE", "N_OUTPUTS", "N_REQUEST_OUT", "N_SETTINGS", "OUT", "OUTPUT_NAMES", "R",
    "REQUEST_NAMES", "ROLES", "S", "SERVING_NAMES", "SETTING_NAMES", "simulate", "simulate_many", "simulate_reference", "system_arrays",
]


def __getattr__(name: str):
    """``simulate_reference`` on first use: the reference imports the streaming percentiles, whose
    Numba helpers cost 10 ms of every command that never simulates serving."""
    if name == "simulate_reference":
        from carbonsim.models.serving.reference import simulate_reference

        return simulate_reference
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings):
    """Compiled simulator; see :func:`carbonsim.models.serving._kernels.simulate`."""
    from carbonsim.models.serving._kernels import simulate as _simulate

    return _simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings)


def simulate_many(systems, settings) -> np.ndarray:
    """Simulate independent serving systems in parallel (compiled), without per-request results.

    Parameters
    ----------
    systems : list
        Each ``(instances, arrival_s, prompt_tokens, output_tokens, owner)`` as for
        :func:`simulate` (``owner`` sorted: each instance's requests contiguous), or
        ``(instances, streams)``: ``streams`` a list of ``(RequestStream, first_instance,
        instances)`` (:class:`~carbonsim.models.serving.workload.RequestStream`), requests drawn
        as the simulation runs and sent round robin to those instances, so that memory holds only
        the requests in the server however many are simulated.
    settings : ndarray, shape (N_SETTINGS, len(systems))

    Returns
    -------
    ndarray, shape (N_OUTPUTS, len(systems))
    """
    from carbonsim.models.serving._kernels import run_system, scratch_histograms, system_args

    m = len(systems)
    out = np.empty((N_OUTPUTS, m))
    if m == 0:
        return out
    args = [system_args(s) for s in systems]   # checks every system before any runs
    settings = np.ascontiguousarray(settings, dtype=np.float64)

    def run(j, hist):
        col = np.empty(N_OUTPUTS)
        run_system(args[j], settings[:, j].copy(), col, hist)
        out[:, j] = col

    # systems differ in cost by orders of magnitude (load, lengths): threads take them one at a
    # time from a shared counter (the kernel runs without the GIL)
    threads = min(_threads(), m)
    if threads <= 1:
        hist = scratch_histograms()
        for j in range(m):
            run(j, hist)
        return out
    import threading

    lock = threading.Lock()
    cursor = [0]

    def work():
        hist = scratch_histograms()
        while True:
            with lock:
                q = cursor[0]
                cursor[0] += 1
            if q >= m:
                return
            run(q, hist)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return out


def system_arrays(system):
    """A system as given requests, ``(instances, arrival_s, prompt_tokens, output_tokens, owner)``,
    for :func:`simulate_reference`: drawn streams (``(instances, streams)``, see
    :func:`simulate_many`) drawn as arrays, each stream's requests sent round robin to its
    instances in arrival order and each instance's requests made contiguous, as the kernel takes
    them from the stream."""
    if len(system) == 5:
        return system
    inst, streams = system
    parts: list[list] = [[] for _ in range(np.asarray(inst).shape[1])]
    for stream, first, count in streams:
        arrays = stream.draw()
        turn = np.arange(len(arrays[0])) % count
        for q in range(count):
            parts[first + q].append(tuple(a[turn == q] for a in arrays))
    cols = [[np.concatenate([p[i] for p in ps]) if ps else np.zeros(0, dtype=float if i == 0 else np.int64)
             for i in range(3)] for ps in parts]
    owner = np.concatenate([np.full(len(c[0]), e, dtype=np.int64) for e, c in enumerate(cols)])
    return (inst, *(np.concatenate([c[i] for c in cols]) for i in range(3)), owner)


def _threads() -> int:
    """Threads for :func:`simulate_many`: Numba's setting (NUMBA_NUM_THREADS, ``numba.set_num_threads``)."""
    import numba

    return int(numba.get_num_threads())
