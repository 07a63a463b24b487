"""The numbers an online-serving simulation takes and gives (layer 1).

An **instance** is one serving engine (one vLLM process group): a model on ``tp`` GPUs with
its scheduler settings and its GPUs' power constants. It is one column of a
``(N_INSTANCE, k)`` float array; the first :data:`~carbonsim.models.perf.layout.N_PARAMS`
rows are the performance model's (:mod:`carbonsim.models.perf.layout`; its offline-task rows
``batch``, ``prompt_tokens``, ``output_tokens`` and ``max_batched_tokens`` are not used), the
rest are :data:`SERVING_NAMES`. Instances with the same ``gpu_group`` share their GPUs: their
GPU work runs one step at a time (two models placed "horizontally", seed §5.3).

A **simulation** is a set of instances and their requests; its results are a vector of
:data:`OUTPUT_NAMES` (row ``OUT[name]``). Units are in the names: seconds ``_s``, joules
``_j``; counts and fractions carry none.
"""

from __future__ import annotations

from carbonsim.models.perf.layout import N_PARAMS, PARAM_NAMES

SERVING_NAMES: tuple[str, ...] = (
    "max_num_seqs",          # most sequences running at once (vLLM max_num_seqs)
    "token_budget",          # most tokens per engine step (vLLM max_num_batched_tokens)
    "chunked_prefill",       # 1: decode-first steps with prefill chunks; 0: whole-prompt prefill steps first
    "block_size",            # tokens per KV-cache block (vLLM block_size, 16)
    "kv_blocks",             # KV-cache blocks the instance has (from GPU memory)
    "watermark_blocks",      # blocks kept free when admitting a request (vLLM: 1 % of the blocks)
    "max_model_len",         # longest request (prompt + output) the engine accepts [tokens]
    "gpu_group",             # instances with the same group share their GPUs
    "idle_loaded_w",         # GPU power with a model resident and no kernel running [W]
    "cap_w",                 # GPU power at full activity (TDP) [W]
    "a_c",                   # share of the dynamic range drawn at full compute saturation
    "a_m",                   # share drawn at full memory saturation
    "power_eta_c",           # compute efficiency reached when saturated (power model)
    "power_eta_m",           # memory efficiency reached when saturated (power model)
    "power_limit_w",         # GPU power limit (cap_w unless set lower) [W]
    "role",                  # ROLES: 0 both phases; 1 prefill only (hands requests on); 2 decode only
    "kv_link_gb_s",          # decode instance: bandwidth each GPU receives a transferred KV cache at [GB/s]
    "kv_link_alpha_s",       # decode instance: fixed latency of one KV transfer [s]
)
INSTANCE_NAMES: tuple[str, ...] = PARAM_NAMES + SERVING_NAMES
I: dict[str, int] = {name: i for i, name in enumerate(INSTANCE_NAMES)}
N_INSTANCE = len(INSTANCE_NAMES)
assert I[SERVING_NAMES[0]] == N_PARAMS

#: Lowest clock factor a power limit can force (the GPU's minimum clock relative to boost).
F_MIN = 0.2

#: Settings of a simulation (one float vector): SLO targets (0 = no target).
SETTING_NAMES: tuple[str, ...] = ("ttft_slo_s", "tpot_slo_s")
S: dict[str, int] = {name: i for i, name in enumerate(SETTING_NAMES)}
N_SETTINGS = len(SETTING_NAMES)

#: Percentiles reported for TTFT, TPOT and end-to-end latency.
PERCENTILES = (50.0, 90.0, 99.0)

OUTPUT_NAMES: tuple[str, ...] = (
    "served",                # requests that finished
    "rejected",              # requests the engine could never run (longer than max_model_len or the KV cache)
    "duration_s",            # from time 0 to the last finish
    "busy_s",                # time with at least one request in the server
    "idle_s",                # duration_s - busy_s
    "prompt_tokens",         # prompt tokens of the served requests
    "output_tokens",         # output tokens of the served requests
    "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s",
    "tpot_mean_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s",     # over requests with > 1 output token
    "latency_mean_s", "latency_p50_s", "latency_p90_s", "latency_p99_s",
    "slo_attainment",        # share of requests (rejected ones count as misses) meeting both targets
    "gpu_energy_j",          # all GPUs of all instances over duration_s
    "gpu_idle_energy_j",     # part of it while their instances had no request at all
    "gpu_kernel_s",          # GPU-seconds running kernels (summed over GPUs)
    "cpu_core_s",            # CPU-seconds of engine work (one worker per GPU)
    "steps",                 # engine iterations
    "prefill_tokens",        # tokens prefilled, recomputation after preemption included
    "preemptions",
    "mean_batch",            # sequences per step, averaged over steps
    "max_batch",             # most sequences in one step
    "steady_s",              # time in steps formed while requests were waiting (the engine at its limit)
    "steady_gpu_energy_j",   # GPU energy of those steps
    "steady_output_tokens",  # output tokens those steps produced
    "gpus",                  # GPUs used by the instances
    "concurrency",           # time-average of the requests in the server, running or queued (from the step loop)
    "decode_gpu_energy_j",   # part of gpu_energy_j drawn by the GPUs of decode-only instances (role 2)
    "steady_decode_gpu_energy_j",   # part of steady_gpu_energy_j drawn by decode-only instances' steps
    "steady_decode_output_tokens",  # part of steady_output_tokens their steps produced
)
OUT: dict[str, int] = {name: i for i, name in enumerate(OUTPUT_NAMES)}
N_OUTPUTS = len(OUTPUT_NAMES)

#: Per-request results (columns of the request table).
REQUEST_NAMES: tuple[str, ...] = ("ttft_s", "tpot_s", "latency_s", "finish_s", "gpu_energy_j", "preemptions",
                                  "served")
R: dict[str, int] = {name: i for i, name in enumerate(REQUEST_NAMES)}
N_REQUEST_OUT = len(REQUEST_NAMES)

#: A step's cost as the event loop keeps it until the step ends: keys of the reference's
#: ``step_cost`` (which also gives ``comm_s`` and ``cpu_phase_s``) and the kernel's named
#: columns ``SC_*`` (offset ``STEP[name]``). Per GPU of the instance; ``gpu_phase_*`` covers the
#: kernels, the tensor-parallel communication and any KV-cache transfer received first.
STEP_COST_NAMES: tuple[str, ...] = (
    "gpu_s",         # kernel time, after any power-limit stretch
    "cpu_s",         # the engine's CPU time for the step (scheduling, sampling)
    "gpu_phase_s",   # time the step holds the GPUs
    "power_w",       # GPU power while its kernels run
    "gpu_phase_j",   # GPU energy of the GPU phase
    "tokens",        # tokens computed (prefill chunks plus one per decode)
    "seqs",          # sequences in the step
)
STEP: dict[str, int] = {name: i for i, name in enumerate(STEP_COST_NAMES)}

#: A request stream (one column of the ``(N_STREAM, m)`` float array the simulator takes): where
#: its requests come from and which instances take them, round robin (``first_instance`` ...
#: ``first_instance + instances - 1``). ``kind`` is a :data:`STREAM_KINDS` code; an ``arrays``
#: stream reads requests ``start:stop`` of the arrival and length arrays, a drawn stream draws
#: them as the simulation runs (:class:`carbonsim.models.serving.workload.RequestStream`), so a
#: run's memory does not grow with its number of requests.
STREAM_NAMES: tuple[str, ...] = (
    "kind", "first_instance", "instances",
    "start", "stop",                   # arrays: the requests' range
    "requests",                        # drawn: how many (-1: every arrival before duration_s)
    "qps", "duration_s", "block",      # Poisson rate, window, and the gaps drawn per block in a window
    "prompt_dist", "prompt_a", "prompt_b", "prompt_low", "prompt_high",   # length draws
    "output_dist", "output_a", "output_b", "output_low", "output_high",   # (workload.length_params)
    "first_id",                        # the index of its first request in per-request results
)
STREAM: dict[str, int] = {name: i for i, name in enumerate(STREAM_NAMES)}
N_STREAM = len(STREAM_NAMES)
STREAM_KINDS: dict[str, int] = {"arrays": 0, "poisson": 1, "burst": 2}
#: Drawn streams one simulation can have (each draws from three generators: arrivals, prompt
#: and output lengths); array streams have no limit.
MAX_DRAWN_STREAMS = 2

#: Defaults of the serving rows a caller may leave out (vLLM's where it has one).
SERVING_DEFAULTS: dict[str, float] = {
    "chunked_prefill": 0.0,
    "block_size": 16.0,
    "gpu_group": 0.0,
    "role": 0.0,
    "kv_link_gb_s": 0.0,
    "kv_link_alpha_s": 0.0,
}

#: Instance roles (row ``role``). A **disaggregated** system (prefill-decode disaggregation) has
#: prefill and decode instances only: requests arrive at prefill instances, which prefill them
#: (the first token) and hand them on, round robin, to the decode instances.
ROLES: dict[str, int] = {"both": 0, "prefill": 1, "decode": 2}


def pack_instance(perf_params, **serving):
    """One instance column: performance-model rows ``perf_params`` (N_PARAMS,) and serving rows.

    Serving rows missing from ``serving`` take :data:`SERVING_DEFAULTS`; the rest must be given.

    Raises
    ------
    KeyError
        For an unknown or a missing serving row.
    """
    import numpy as np

    unknown = set(serving) - set(SERVING_NAMES)
    if unknown:
        raise KeyError(f"unknown serving row(s): {', '.join(sorted(unknown))}")
    missing = [k for k in SERVING_NAMES if k not in serving and k not in SERVING_DEFAULTS]
    if missing:
        raise KeyError(f"missing serving row(s): {', '.join(missing)}")
    col = np.empty(N_INSTANCE)
    col[:N_PARAMS] = np.asarray(perf_params, dtype=float).reshape(-1)[:N_PARAMS]
    for name in SERVING_NAMES:
        col[I[name]] = serving.get(name, SERVING_DEFAULTS.get(name))
    return col


def check_roles(roles, groups, bounds) -> bool:
    """Check the instances' roles; True if the system is disaggregated (prefill and decode instances).

    A disaggregated system has at least one prefill and one decode instance and no instance
    serving both phases; every instance has GPUs of its own (its own ``gpu_group``); decode
    instances own no arrivals (their requests come from the prefill instances).

    Parameters
    ----------
    roles, groups : array_like, shape (k,)
        The instances' ``role`` and ``gpu_group`` rows.
    bounds : array_like of int, shape (k + 1,)
        Instance ``e`` owns requests ``bounds[e]:bounds[e + 1]``.

    Raises
    ------
    ValueError
        For a system breaking one of these rules.
    """
    import numpy as np

    roles = np.asarray(roles, dtype=float)
    if not np.any(roles != ROLES["both"]):
        return False
    if not (np.all(np.isin(roles, (ROLES["prefill"], ROLES["decode"])))
            and np.any(roles == ROLES["prefill"]) and np.any(roles == ROLES["decode"])):
        raise ValueError("a disaggregated system needs prefill and decode instances only (roles 1 and 2), "
                         "at least one of each")
    if len(np.unique(np.asarray(groups))) != len(roles):
        raise ValueError("each instance of a disaggregated system needs GPUs of its own (its own gpu_group)")
    bounds = np.asarray(bounds)
    if np.any((roles == ROLES["decode"]) & (bounds[1:] > bounds[:-1])):
        raise ValueError("decode instances take their requests from the prefill instances, not from arrivals")
    return True
