"""Numba kernel of the serving simulator: the reference's event loop with O(1) work per step.

Same rules and equations as :func:`carbonsim.models.serving.reference.simulate_reference` (the
readable reference; ``tests/models/test_serving_simulator.py`` holds the two together), written
as the same events, one helper each, so the two read side by side:

=====================================  ===========================  =============================
event                                  kernel                       reference (``_Simulation``)
=====================================  ===========================  =============================
requests arrive (queued or rejected)   :func:`_arrivals`            ``arrivals``
a decode engine takes handed-on work   :func:`_admit_transferred`   ``admit_transferred``
whole prompts admitted (prefill step)  :func:`_admit_whole_prompts` ``admit_whole_prompts``
decodes' new blocks, preempting        :func:`_secure_decode_blocks` ``secure_decode_blocks``
chunks of running prefills             :func:`_continue_prefills`   ``continue_prefills``
chunks of newly admitted prompts       :func:`_admit_chunks`        ``admit_chunks``
nothing to run: the engine sleeps      :func:`_go_idle`             ``go_idle``
the step's cost                        :func:`_price_step`          ``price_step``
its kernels queue for the GPUs         :func:`_queue_gpu_phase`     ``queue_gpu_phase``
the step ends: decodes advance, finish :func:`_decodes_done`        ``finish_step``
... prefills end: decode or hand off   :func:`_chunks_done`         ``finish_step``, ``hand_off``
... its energy and time                :func:`_charge_step`,        ``finish_step``
                                       :func:`_close_step`
preemption                             :func:`_preempt`             ``preempt``
a request finishes (its statistics)    :func:`_finish`              ``finish``
results                                :func:`_results`             ``results``
=====================================  ===========================  =============================

What differs is the bookkeeping, so that a step costs a few dozen operations however many
requests run, and memory holds only the requests in the server:

* **Records.** The state lives in a few named records (:data:`Requests` per request slot,
  :data:`Engines` per instance, :data:`Groups` per GPU group, :data:`Sources` per request stream,
  :data:`Ledger` for the totals); a step's cost is a row of ``Engines.stc`` with columns
  :data:`STEP` (``gpu_s``, ``cpu_s``, ``gpu_phase_s``, ``power_w``, ``gpu_phase_j``, ``tokens``,
  ``seqs``: the reference's ``step_cost`` keys), the matrix-product cache a row of
  ``Engines.mm`` with columns ``_MM_*``.
* **Slots.** A request takes a slot when it is drawn (just before it arrives) and gives it back
  when it finishes or is rejected, its results folded into the totals then: the slot arrays grow
  (doubling) with the requests in the server, not with the requests simulated. Percentiles come
  from fixed histograms (:mod:`carbonsim.models.serving.quantiles`, relative error at most 0.1 %);
  per-request results are written only when the caller asks for them.
* **Streams.** Requests come from streams (:data:`~carbonsim.models.serving.layout.STREAM_NAMES`):
  ranges of given arrays, or seeded draws made as the simulation runs, the same draws as
  :func:`carbonsim.models.serving.workload.draw_requests` (NumPy generators inside Numba).
* Decoding requests are not visited one by one. Every decode step advances all of them by one
  token, so the engine keeps a decode-step counter ``D`` and, per request, the counter and
  state at which it started decoding; the decodes' context sum grows by their count each step.
* A decoding request needs a new KV block when its cached length is a multiple of the block
  size ``b``; requests are bucketed by ``(c0 - D0) mod b``, so the blocks a decode step needs
  are one bucket's count.
* A min-heap keyed by the counter value at which each decoding request finishes yields the
  finishes of a step; a per-instance running list (admission order, doubly linked) gives the
  preemption victim; the waiting queue is a list linked through the slots (preempted requests
  go to its front).
* Per-request decode energy is a difference of a running sum of energy per decode token.
* A decode step's matrix-product time depends only on its token and sequence counts (cached
  while they stay the same), and its attention time is linear in the context sum (the roofline
  smooth max is homogeneous of degree 1), so a decode step needs no power function call.
* Runs of identical decode steps are replayed without the event machinery
  (:func:`_replay_solo_decodes`, :func:`_replay_shared_decodes`); a replay on a disaggregated
  system stops before another engine's next event (it may hand one on).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from carbonsim.models.perf._kernels import _smax  # the roofline's smooth max, as the offline kernel
from carbonsim.models.perf.layout import ACT_F_PER_MATRIX, ACT_H, P
from carbonsim.models.serving.layout import (
    F_MIN, I, MAX_DRAWN_STREAMS, N_OUTPUTS, N_REQUEST_OUT, N_STREAM, OUT, R, ROLES, S, STEP, STREAM, STREAM_KINDS,
    check_roles,
)
from carbonsim.models.serving.quantiles import N_BINS, bin_index, percentile_from_counts

_GB = 1e9
_TERA = 1e12
_INF = np.inf

# instance rows (module constants so Numba compiles them in)
_L, _H, _NH, _NKV, _HD = P["n_layers"], P["hidden"], P["n_heads"], P["n_kv_heads"], P["head_dim"]
_F, _M, _V = P["ffn"], P["ffn_matrices"], P["vocab"]
_E, _K, _FE, _FS = P["moe_experts"], P["moe_top_k"], P["moe_expert_ffn"], P["moe_shared_ffn"]
_BW, _BKV, _BA = P["weight_bytes"], P["kv_bytes"], P["act_bytes"]
_PI, _BETA = P["peak_tflops"], P["memory_bandwidth_gb_s"]
_TP, _ALPHA, _LINK = P["tp"], P["allreduce_alpha_s"], P["link_bandwidth_gb_s"]
_ETAC, _ETAM, _PW, _T0, _GAMMA = (P["eta_compute"], P["eta_memory"], P["smooth_max_p"],
                                  P["layer_overhead_s"], P["moe_compute_factor"])
_C0, _C1, _CT0, _CT1, _OVL = (P["cpu_base_s"], P["cpu_per_seq_s"], P["cpu_tp_base_s"],
                              P["cpu_tp_per_seq_s"], P["engine_overlap"])
_MAXSEQ, _BUDGET, _CHUNK, _BS, _KVB, _WM, _MAXLEN, _GROUP = (
    I["max_num_seqs"], I["token_budget"], I["chunked_prefill"], I["block_size"], I["kv_blocks"],
    I["watermark_blocks"], I["max_model_len"], I["gpu_group"])
_IDLE, _CAP, _AC, _AM, _PEC, _PEM, _LIM = (I["idle_loaded_w"], I["cap_w"], I["a_c"], I["a_m"], I["power_eta_c"],
                                           I["power_eta_m"], I["power_limit_w"])
_ROLE, _KVLINK, _KVALPHA = I["role"], I["kv_link_gb_s"], I["kv_link_alpha_s"]
_PREFILL_ROLE, _DECODER = ROLES["prefill"], ROLES["decode"]
_TTFT_SLO, _TPOT_SLO = S["ttft_slo_s"], S["tpot_slo_s"]

# output rows and per-request rows (module constants so Numba compiles them in)
_O_BUSY_S = OUT["busy_s"]
_O_CONCURRENCY = OUT["concurrency"]
_O_CPU_CORE_S = OUT["cpu_core_s"]
_O_DECODE_GPU_ENERGY_J = OUT["decode_gpu_energy_j"]
_O_DURATION_S = OUT["duration_s"]
_O_GPU_ENERGY_J = OUT["gpu_energy_j"]
_O_GPU_IDLE_ENERGY_J = OUT["gpu_idle_energy_j"]
_O_GPU_KERNEL_S = OUT["gpu_kernel_s"]
_O_GPUS = OUT["gpus"]
_O_IDLE_S = OUT["idle_s"]
_O_LATENCY_MEAN_S = OUT["latency_mean_s"]
_O_LATENCY_P50_S = OUT["latency_p50_s"]
_O_LATENCY_P90_S = OUT["latency_p90_s"]
_O_LATENCY_P99_S = OUT["latency_p99_s"]
_O_MAX_BATCH = OUT["max_batch"]
_O_MEAN_BATCH = OUT["mean_batch"]
_O_OUTPUT_TOKENS = OUT["output_tokens"]
_O_PREEMPTIONS = OUT["preemptions"]
_O_PREFILL_TOKENS = OUT["prefill_tokens"]
_O_PROMPT_TOKENS = OUT["prompt_tokens"]
_O_REJECTED = OUT["rejected"]
_O_SERVED = OUT["served"]
_O_SLO_ATTAINMENT = OUT["slo_attainment"]
_O_STEADY_DECODE_GPU_ENERGY_J = OUT["steady_decode_gpu_energy_j"]
_O_STEADY_DECODE_OUTPUT_TOKENS = OUT["steady_decode_output_tokens"]
_O_STEADY_GPU_ENERGY_J = OUT["steady_gpu_energy_j"]
_O_STEADY_OUTPUT_TOKENS = OUT["steady_output_tokens"]
_O_STEADY_S = OUT["steady_s"]
_O_STEPS = OUT["steps"]
_O_TPOT_MEAN_S = OUT["tpot_mean_s"]
_O_TPOT_P50_S = OUT["tpot_p50_s"]
_O_TPOT_P90_S = OUT["tpot_p90_s"]
_O_TPOT_P99_S = OUT["tpot_p99_s"]
_O_TTFT_MEAN_S = OUT["ttft_mean_s"]
_O_TTFT_P50_S = OUT["ttft_p50_s"]
_O_TTFT_P90_S = OUT["ttft_p90_s"]
_O_TTFT_P99_S = OUT["ttft_p99_s"]
_R_FINISH_S = R["finish_s"]
_R_GPU_ENERGY_J = R["gpu_energy_j"]
_R_LATENCY_S = R["latency_s"]
_R_PREEMPTIONS = R["preemptions"]
_R_SERVED = R["served"]
_R_TPOT_S = R["tpot_s"]
_R_TTFT_S = R["ttft_s"]

# a step's cost (columns of Engines.stc, named as the reference's step_cost keys)
_GPU_S, _CPU_S, _PHASE_S, _POWER_W, _PHASE_J, _TOKENS, _SEQS = (
    STEP["gpu_s"], STEP["cpu_s"], STEP["gpu_phase_s"], STEP["power_w"], STEP["gpu_phase_j"], STEP["tokens"],
    STEP["seqs"])
N_STEP = len(STEP)
# the matrix-product cache (columns of Engines.mm): the step shape it holds and its terms
_MM_TOKENS, _MM_SAMPLED, _MM_TIME_S, _MM_FLOP, _MM_BYTES = range(5)
N_MM = 5

# derived constants per instance (columns of Engines.cst)
(C_L, C_H, C_Q, C_KVD, C_M, C_E, C_KEFF, C_EXPERT, C_DENSE, C_PATTN, C_V, C_MISS, C_TP, C_CC, C_CM, C_PW,
 C_BW, C_BKV, C_ACTTOK, C_KVSHARE, C_TFIXED, C_GAMMA, C_ALPHA, C_LINK, C_C0, C_C1, C_CT0, C_CT1, C_OVL,
 C_IDLE, C_CAP, C_AC, C_AM, C_PEC, C_PEM, C_LIM, C_PI, C_BETA, C_ADEC, C_FDEC, C_KDEC) = range(41)
N_CST = 41

# stream rows
_SK, _SFIRST, _SCOUNT, _SSTART, _SSTOP, _SREQ, _SQPS, _SDUR, _SBLOCK, _SID = (
    STREAM["kind"], STREAM["first_instance"], STREAM["instances"], STREAM["start"], STREAM["stop"],
    STREAM["requests"], STREAM["qps"], STREAM["duration_s"], STREAM["block"], STREAM["first_id"])
_SPROMPT, _SOUTPUT = STREAM["prompt_dist"], STREAM["output_dist"]   # then a, b, low, high
_ARRAYS, _POISSON, _BURST = STREAM_KINDS["arrays"], STREAM_KINDS["poisson"], STREAM_KINDS["burst"]
#: Generators a simulation takes: three per drawn stream (arrivals, prompts, outputs).
N_GENERATORS = 3 * MAX_DRAWN_STREAMS

# request states (_FREE: an unused slot)
_WAITING, _PREFILL, _DECODE, _DONE, _REJECTED, _FUTURE, _FREE = 0, 1, 2, 3, 4, 5, 6
# instance states
_EMPTY, _CPU_PHASE, _GPU_PHASE = 0, 1, 2

# Ledger.acc: float totals
(A_SEQS, A_MAX_BATCH, A_KERNEL_S, A_CPU_CORE_S, A_STEADY_S, A_STEADY_J, A_STEADY_TOKENS, A_STEADY_DEC_J,
 A_STEADY_DEC_TOKENS, A_RUN_S, A_T_END, A_SERVER_IDLE_SINCE, A_SERVER_IDLE_S, A_LAST_ARRIVAL_S,
 A_PROMPT_TOKENS, A_OUTPUT_TOKENS, A_ATTRIBUTED_J) = range(17)
A_SUM, A_MIN, A_MAX = 17, 20, 23        # + metric: sums, smallest and largest values
N_ACC = 26
# Ledger.tally: integer totals
(T_SEQ, T_HANDOFFS, T_BUSY, T_STEPS, T_PREFILL_TOKENS, T_PREEMPTIONS, T_REQUESTS, T_SERVED, T_REJECTED,
 T_GOOD) = range(10)
T_COUNT = 10                            # + metric: values seen
N_TALLY = 13
# metrics with percentiles (rows of Ledger.hist)
_TTFT, _TPOT, _LATENCY = 0, 1, 2
N_METRICS = 3

#: Per request slot (one array each, indexed by slot): which request it holds (``id``, its
#: column of per-request results), its arrival and lengths, state, tokens cached and generated,
#: preemptions, first token, attributed GPU energy; the decode counter, cached and generated
#: tokens and energy sum when it started decoding (``d0``, ``c0``, ``g0``, ``phi0``); its heap
#: position, running and prefilling list links, and ``link``: the next in the queue it is in
#: (drawn-not-arrived, waiting, or free slots). ``free`` holds the first free slot.
Requests = namedtuple("Requests", (
    "id", "arrival_s", "prompt", "output", "state", "computed", "generated", "preempted", "first_s", "energy_j",
    "d0", "c0", "g0", "phi0", "heap_pos", "run_prev", "run_next", "pf_prev", "pf_next", "link", "free"))

#: Per instance: its rows and derived constants, KV blocks free, running and prefilling lists,
#: waiting queue, drawn-not-arrived queue (``fut_*``, ``next_t`` its first arrival), decode
#: bookkeeping (counter, count, context sum, energy sum, block buckets, finish heap in segment
#: ``seg``), event state and time, and the step in flight (chunks in segment ``seg``, cost).
Engines = namedtuple("Engines", (
    "ins", "cst", "role", "group", "bs", "free", "seg", "src",
    "run_head", "run_tail", "run_n", "pf_head", "pf_tail", "wq_head", "wq_tail", "wq_len",
    "fut_head", "fut_tail", "next_t",
    "dcount", "n_dec", "sum_c", "phi", "buckets", "hkey", "hid", "hsize",
    "state", "t", "seq", "empty",
    "st_r", "st_n", "st_c", "st_len", "st_dec", "stc", "mm", "st_formed", "st_sat", "st_insys", "decoders"))

#: Per GPU group (instances sharing GPUs): GPUs, loaded idle power, when its GPUs free up, time
#: and energy in GPU phases, busy instances, idle since / idle time, whether one instance is
#: alone on it, its members (instances ``members[start[g]:start[g+1]]``).
Groups = namedtuple("Groups", (
    "gpus", "idle_w", "free_s", "phase_s", "phase_j", "busy", "idle_since", "idle_s", "solo", "start", "members"))

#: Per request stream: its column (``spec``), the arrays an arrays stream reads, the generators
#: drawn streams draw from, and the draw state: requests drawn, last arrival, the Poisson
#: window's block (``base`` + ``csum``, gaps ``left``), round-robin turn, exhausted.
Sources = namedtuple("Sources", (
    "spec", "arrival", "prompt", "output", "rngs", "drawn", "t_last", "base", "csum", "left", "turn", "done"))

#: The run's totals: floats (``acc``, rows ``A_*``), integers (``tally``, rows ``T_*``), the
#: percentile histograms (``hist``), the SLO settings, and per-request results (``per``, only
#: if ``want_per``).
Ledger = namedtuple("Ledger", ("acc", "tally", "hist", "settings", "per", "want_per"))


@njit(cache=True, inline="always")
def _ceil_div(a, b):
    return -((-a) // b)


@njit(cache=True)
def _constants(col, cst):
    L = col[_L]
    h = col[_H]
    q = col[_NH] * col[_HD]
    nkv = col[_NKV]
    kvd = nkv * col[_HD]
    m = col[_M]
    E = col[_E]
    t = col[_TP]
    p_attn = h * (q + 2.0 * kvd) + q * h
    if E > 0.0:
        dense = m * h * col[_FS] + h * E
        expert = m * h * col[_FE]
        ffn_w = col[_K] * col[_FE] + col[_FS]
        k_eff = col[_K]
        miss = 1.0 - col[_K] / E
        if miss < 0.0:
            miss = 0.0
    else:
        dense = m * h * col[_F]
        expert = 0.0
        ffn_w = col[_F]
        k_eff = 0.0
        miss = 1.0
    pi = col[_PI] * _TERA
    beta = col[_BETA] * _GB
    cc = col[_ETAC] * pi
    cm = col[_ETAM] * beta
    kv_share = (nkv if nkv > t else t) / (nkv * t)
    cst[C_L] = L
    cst[C_H] = h
    cst[C_Q] = q
    cst[C_KVD] = kvd
    cst[C_M] = m
    cst[C_E] = E
    cst[C_KEFF] = k_eff
    cst[C_EXPERT] = expert
    cst[C_DENSE] = dense
    cst[C_PATTN] = p_attn
    cst[C_V] = col[_V]
    cst[C_MISS] = miss
    cst[C_TP] = t
    cst[C_CC] = cc
    cst[C_CM] = cm
    cst[C_PW] = col[_PW]
    cst[C_BW] = col[_BW]
    cst[C_BKV] = col[_BKV]
    cst[C_ACTTOK] = col[_BA] * L * (ACT_H * h + ACT_F_PER_MATRIX * m * ffn_w / t)
    cst[C_KVSHARE] = kv_share
    cst[C_TFIXED] = L * col[_T0]
    cst[C_GAMMA] = col[_GAMMA]
    cst[C_ALPHA] = col[_ALPHA]
    cst[C_LINK] = col[_LINK]
    cst[C_C0] = col[_C0]
    cst[C_C1] = col[_C1]
    cst[C_CT0] = col[_CT0]
    cst[C_CT1] = col[_CT1]
    cst[C_OVL] = col[_OVL]
    cst[C_IDLE] = col[_IDLE]
    cst[C_CAP] = col[_CAP]
    cst[C_AC] = col[_AC]
    cst[C_AM] = col[_AM]
    cst[C_PEC] = col[_PEC]
    cst[C_PEM] = col[_PEM]
    cst[C_LIM] = col[_LIM]
    cst[C_PI] = pi
    cst[C_BETA] = beta
    # decode attention per unit of context sum: FLOPs, bytes and time (smooth max is homogeneous)
    fdec = 4.0 * L * q
    kdec = 2.0 * L * kvd * col[_BKV] * kv_share
    cst[C_FDEC] = fdec
    cst[C_KDEC] = kdec
    cst[C_ADEC] = _smax(fdec / (t * cc), kdec / cm, col[_PW])


@njit(cache=True)
def _matmul(cst, e, T, sampled):
    """Matrix-product time, FLOPs and weight bytes per GPU of a step of T tokens."""
    L = cst[e, C_L]
    t = cst[e, C_TP]
    E = cst[e, C_E]
    k_eff = cst[e, C_KEFF]
    expert = cst[e, C_EXPERT]
    flop_mm = 2.0 * T * L * (cst[e, C_PATTN] + cst[e, C_DENSE] + k_eff * expert) + 2.0 * sampled * cst[e, C_V] * cst[e, C_H]
    flop_t = flop_mm + 2.0 * T * L * k_eff * expert * (cst[e, C_GAMMA] - 1.0)
    touched = E * (1.0 - cst[e, C_MISS] ** T) if E > 0.0 else 0.0
    weights = L * (cst[e, C_PATTN] + cst[e, C_DENSE] + touched * expert) + cst[e, C_V] * cst[e, C_H]
    t_mm = _smax(flop_t / (t * cst[e, C_CC]), cst[e, C_BW] * weights / (t * cst[e, C_CM]), cst[e, C_PW])
    return t_mm, flop_mm, cst[e, C_BW] * weights / t


@njit(cache=True)
def _power(cst, e, t_gpu, flop, nbytes):
    """GPU power while kernels run, and the kernel time after any power-limit stretch."""
    mfu = flop / (t_gpu * cst[e, C_PI])
    mbu = nbytes / (t_gpu * cst[e, C_BETA])
    idle = cst[e, C_IDLE]
    span = cst[e, C_CAP] - idle
    xc = cst[e, C_AC] * mfu / cst[e, C_PEC]
    xm = cst[e, C_AM] * mbu / cst[e, C_PEM]
    limit = cst[e, C_LIM]
    budget = (limit - idle) / span
    unc = xc + xm
    f = 1.0
    if (unc if unc < 1.0 else 1.0) > budget:
        f_need = (budget - xm) / xc if xc > 0.0 else 1.0
        f = f_need if f_need < 1.0 else 1.0
        if f < F_MIN:
            f = F_MIN
    x = f * xc + xm
    if x < 0.0:
        x = 0.0
    if x > 1.0:
        x = 1.0
    power = idle + span * x
    if power > limit:
        power = limit
    if f < 1.0:
        sc = mfu / cst[e, C_PEC]
        sm = mbu / cst[e, C_PEM]
        share = sc / (sc + sm) if sc + sm > 0.0 else 0.0
        t_gpu = t_gpu * (share / f + (1.0 - share))
    return power, t_gpu


@njit(cache=True)
def _comm(cst, e, T, sampled):
    t = cst[e, C_TP]
    if t <= 1.0:
        return 0.0
    alpha = cst[e, C_ALPHA]
    bw = cst[e, C_LINK] * _GB
    ba = 2.0
    ar = alpha + 2.0 * (t - 1.0) / t * (T * cst[e, C_H] * ba) / bw
    gather = alpha + (t - 1.0) / t * sampled * cst[e, C_V] * ba / bw
    return 2.0 * cst[e, C_L] * ar + gather


@njit(cache=True)
def _cpu(cst, e, seqs):
    extra = cst[e, C_CT0] + cst[e, C_CT1] * seqs if cst[e, C_TP] > 1.0 else 0.0
    return cst[e, C_C0] + cst[e, C_C1] * seqs + extra



@njit(cache=True)
def _cost(cst, mm, stc, e, tokens, sampled, seqs, n_chunks, a_p, k_p, ndec, a_d, kv_s):
    """Fill ``stc[e]`` with a step's cost (the reference's ``step_cost``); returns its CPU phase."""
    if tokens != mm[e, _MM_TOKENS] or sampled != mm[e, _MM_SAMPLED]:
        mt, mf, mb = _matmul(cst, e, tokens, sampled)
        mm[e, _MM_TOKENS] = tokens
        mm[e, _MM_SAMPLED] = sampled
        mm[e, _MM_TIME_S] = mt
        mm[e, _MM_FLOP] = mf
        mm[e, _MM_BYTES] = mb
    t_att = 0.0
    flop_att = 0.0
    bytes_kv = 0.0
    if n_chunks > 0:
        fp = cst[e, C_FDEC] * a_p
        bp = cst[e, C_KDEC] * k_p
        t_att += _smax(fp / (cst[e, C_TP] * cst[e, C_CC]), bp / cst[e, C_CM], cst[e, C_PW])
        flop_att += fp
        bytes_kv += bp
    if ndec > 0:
        t_att += cst[e, C_ADEC] * a_d
        flop_att += cst[e, C_FDEC] * a_d
        bytes_kv += cst[e, C_KDEC] * a_d
    bytes_act = cst[e, C_ACTTOK] * tokens
    t_gpu = cst[e, C_TFIXED] + mm[e, _MM_TIME_S] + t_att + bytes_act / cst[e, C_CM]
    flop = (mm[e, _MM_FLOP] + flop_att) / cst[e, C_TP]
    nbytes = mm[e, _MM_BYTES] + bytes_kv + bytes_act
    power, t_gpu = _power(cst, e, t_gpu, flop, nbytes)
    comm = _comm(cst, e, tokens, sampled)
    cpu = _cpu(cst, e, seqs)
    phase = t_gpu + comm
    phase_j = power * t_gpu + cst[e, C_IDLE] * comm
    if kv_s > 0.0:
        phase += kv_s
        phase_j += cst[e, C_IDLE] * kv_s
    stc[e, _GPU_S] = t_gpu
    stc[e, _CPU_S] = cpu
    stc[e, _PHASE_S] = phase
    stc[e, _POWER_W] = power
    stc[e, _PHASE_J] = phase_j
    stc[e, _TOKENS] = tokens
    stc[e, _SEQS] = seqs
    return _cpu_phase(cst, e, cpu, phase)


@njit(cache=True, inline="always")
def _cpu_phase(cst, e, cpu, phase):
    """The step's CPU phase: all of its CPU time (synchronous engine) or what the GPU phase does
    not hide (overlapped engine)."""
    if cst[e, C_OVL] > 0.5:
        return cpu - phase if cpu > phase else 0.0
    return cpu


@njit(cache=True, inline="always")
def _decode_power(cst, e, gpu, flop, nbytes, uncapped):
    """GPU power of a decode step and its kernel time (the power function, short-cut without a
    power limit below the cap)."""
    if uncapped:
        x = (cst[e, C_AC] * (flop / (gpu * cst[e, C_PI])) / cst[e, C_PEC]
             + cst[e, C_AM] * (nbytes / (gpu * cst[e, C_BETA])) / cst[e, C_PEM])
        if x > 1.0:
            x = 1.0
        idle = cst[e, C_IDLE]
        return idle + (cst[e, C_CAP] - idle) * x, gpu
    return _power(cst, e, gpu, flop, nbytes)


@njit(cache=True, inline="always")
def _next_decode(cst, mm, stc, e, tokens, a_d, comm):
    """The cost of a decode step like the last one, one token longer (its matrix products, CPU
    time and communication are the last step's); fills ``stc[e]`` and returns the CPU phase."""
    gpu = (cst[e, C_TFIXED] + mm[e, _MM_TIME_S] + cst[e, C_ADEC] * a_d) + cst[e, C_ACTTOK] * tokens / cst[e, C_CM]
    flop = (mm[e, _MM_FLOP] + cst[e, C_FDEC] * a_d) / cst[e, C_TP]
    nbytes = mm[e, _MM_BYTES] + cst[e, C_KDEC] * a_d + cst[e, C_ACTTOK] * tokens
    power, gpu = _decode_power(cst, e, gpu, flop, nbytes, cst[e, C_LIM] >= cst[e, C_CAP])
    phase = gpu + comm
    stc[e, _GPU_S] = gpu
    stc[e, _PHASE_S] = phase
    stc[e, _POWER_W] = power
    stc[e, _PHASE_J] = power * gpu + cst[e, C_IDLE] * comm
    return _cpu_phase(cst, e, stc[e, _CPU_S], phase)


# --- linked lists and queues on slot arrays -----------------------------------------------------

@njit(cache=True, inline="always")
def _append(prev, nxt, head, tail, e, r):
    """Append request ``r`` to instance ``e``'s doubly linked list (running or prefilling)."""
    prev[r] = tail[e]
    nxt[r] = -1
    if tail[e] >= 0:
        nxt[tail[e]] = r
    else:
        head[e] = r
    tail[e] = r


@njit(cache=True, inline="always")
def _unlink(prev, nxt, head, tail, e, r):
    """Remove request ``r`` from instance ``e``'s doubly linked list (the inverse of :func:`_append`)."""
    a = prev[r]
    b = nxt[r]
    if a >= 0:
        nxt[a] = b
    else:
        head[e] = b
    if b >= 0:
        prev[b] = a
    else:
        tail[e] = a


@njit(cache=True, inline="always")
def _push(link, head, tail, e, r):
    """Put ``r`` at the back of instance ``e``'s queue (singly linked through ``link``)."""
    link[r] = -1
    if tail[e] >= 0:
        link[tail[e]] = r
    else:
        head[e] = r
    tail[e] = r


@njit(cache=True, inline="always")
def _push_front(link, head, tail, e, r):
    link[r] = head[e]
    head[e] = r
    if tail[e] < 0:
        tail[e] = r


@njit(cache=True, inline="always")
def _pop(link, head, tail, e):
    r = head[e]
    head[e] = link[r]
    if head[e] < 0:
        tail[e] = -1
    return r
@njit(cache=True)
def _heap_push(hkey, hid, pos, base, size, key, r):
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if hkey[base + parent] <= key:
            break
        hkey[base + i] = hkey[base + parent]
        hid[base + i] = hid[base + parent]
        pos[hid[base + i]] = i
        i = parent
    hkey[base + i] = key
    hid[base + i] = r
    pos[r] = i
    return size + 1


@njit(cache=True)
def _heap_remove(hkey, hid, pos, base, size, i):
    """Remove the entry at position ``i``; returns the new size."""
    size -= 1
    if i == size:
        return size
    key = hkey[base + size]
    r = hid[base + size]
    # sift up
    while i > 0:
        parent = (i - 1) // 2
        if hkey[base + parent] <= key:
            break
        hkey[base + i] = hkey[base + parent]
        hid[base + i] = hid[base + parent]
        pos[hid[base + i]] = i
        i = parent
    # sift down
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and hkey[base + child + 1] < hkey[base + child]:
            child += 1
        if hkey[base + child] >= key:
            break
        hkey[base + i] = hkey[base + child]
        hid[base + i] = hid[base + child]
        pos[hid[base + i]] = i
        i = child
    hkey[base + i] = key
    hid[base + i] = r
    pos[r] = i
    return size



# --- request slots --------------------------------------------------------------------------------

@njit(cache=True)
def _slots(capacity):
    """A pool of ``capacity`` free request slots."""
    link = np.empty(capacity, np.int64)
    for r in range(capacity):
        link[r] = r + 1
    link[capacity - 1] = -1
    free = np.zeros(1, np.int64)
    return Requests(np.zeros(capacity, np.int64), np.zeros(capacity), np.zeros(capacity, np.int64),
                    np.zeros(capacity, np.int64), np.full(capacity, _FREE, np.int64), np.zeros(capacity, np.int64),
                    np.zeros(capacity, np.int64), np.zeros(capacity, np.int64), np.zeros(capacity),
                    np.zeros(capacity), np.zeros(capacity, np.int64), np.zeros(capacity, np.int64),
                    np.zeros(capacity, np.int64), np.zeros(capacity), np.zeros(capacity, np.int64),
                    np.full(capacity, -1, np.int64), np.full(capacity, -1, np.int64), np.full(capacity, -1, np.int64),
                    np.full(capacity, -1, np.int64), link, free)


@njit(cache=True)
def _grown(req):
    """The pool with twice the slots (called when every slot is taken): the requests keep theirs."""
    n = req.id.shape[0]
    big = _slots(2 * n)
    for a, b in ((req.id, big.id), (req.prompt, big.prompt), (req.output, big.output), (req.state, big.state),
                 (req.computed, big.computed), (req.generated, big.generated), (req.preempted, big.preempted),
                 (req.d0, big.d0), (req.c0, big.c0), (req.g0, big.g0), (req.heap_pos, big.heap_pos),
                 (req.run_prev, big.run_prev), (req.run_next, big.run_next), (req.pf_prev, big.pf_prev),
                 (req.pf_next, big.pf_next), (req.link, big.link)):
        b[:n] = a
    for a, b in ((req.arrival_s, big.arrival_s), (req.first_s, big.first_s), (req.energy_j, big.energy_j),
                 (req.phi0, big.phi0)):
        b[:n] = a
    big.free[0] = n   # slots n .. 2n-1, chained by _slots
    return big


@njit(cache=True, inline="always")
def _release(req, r):
    req.state[r] = _FREE
    req.link[r] = req.free[0]
    req.free[0] = r


# --- request streams ------------------------------------------------------------------------------

@njit(cache=True)
def _draw_length(rng, spec, s, row):
    """One token length (``workload.draw_tokens``: draw, round, clip)."""
    dist = spec[row, s]
    a = spec[row + 1, s]
    b = spec[row + 2, s]
    if dist == 0.0:
        x = a
    elif dist == 1.0:
        x = rng.exponential(a)
    elif dist == 2.0:
        x = a * (1.0 + rng.pareto(b))
    else:
        x = rng.lognormal(a, b)
    x = np.rint(x)
    if x < spec[row + 3, s]:
        x = spec[row + 3, s]
    if spec[row + 4, s] > 0.0 and x > spec[row + 4, s]:
        x = spec[row + 4, s]
    return int(x)


@njit(cache=True)
def _draw(src, s, req, r):
    """Put stream ``s``'s next request into slot ``r``; False when the stream has no more.

    Arrivals and lengths as ``workload.draw_requests``: the first arrival at 0, then unit-rate
    exponential gaps divided by the rate and summed in order (by blocks of ``block`` gaps when the
    stream runs for a duration, as ``poisson_arrivals_s``)."""
    spec = src.spec
    kind = spec[_SK, s]
    j = src.drawn[s]
    if kind == _ARRAYS:
        i = int(spec[_SSTART, s]) + j
        if i >= spec[_SSTOP, s]:
            return False
        req.id[r] = i
        req.arrival_s[r] = src.arrival[i]
        req.prompt[r] = src.prompt[i]
        req.output[r] = src.output[i]
        src.drawn[s] = j + 1
        return True
    limit = spec[_SREQ, s]
    if limit >= 0.0 and j >= limit:
        return False
    if kind == _BURST or j == 0:
        t = 0.0
    elif limit >= 0.0:
        t = src.t_last[s] + src.rngs[3 * s].exponential(1.0) / spec[_SQPS, s]
    else:   # arrivals within a window, drawn by blocks
        if src.left[s] == 0:
            src.base[s] = src.t_last[s]
            src.csum[s] = 0.0
            src.left[s] = int(spec[_SBLOCK, s])
        src.csum[s] += src.rngs[3 * s].exponential(1.0) / spec[_SQPS, s]
        src.left[s] -= 1
        t = src.base[s] + src.csum[s]
        if t >= spec[_SDUR, s]:
            return False
    src.t_last[s] = t
    src.drawn[s] = j + 1
    req.id[r] = int(spec[_SID, s]) + j
    req.arrival_s[r] = t
    req.prompt[r] = _draw_length(src.rngs[3 * s + 1], spec, s, _SPROMPT)
    req.output[r] = _draw_length(src.rngs[3 * s + 2], spec, s, _SOUTPUT)
    return True


@njit(cache=True)
def _refill(eng, src, req, led, e):
    """Draw from instance ``e``'s stream until ``e`` knows its next arrival (``next_t[e]``;
    round robin may give the other instances of the stream theirs first). False when a draw needs
    a slot and none is free (the caller grows the pool and calls again)."""
    s = eng.src[e]
    while s >= 0 and eng.fut_head[e] < 0 and not src.done[s]:
        r = req.free[0]
        if r < 0:
            return False
        if not _draw(src, s, req, r):
            src.done[s] = True
            break
        req.free[0] = req.link[r]
        req.state[r] = _FUTURE
        req.computed[r] = 0
        req.generated[r] = 0
        req.preempted[r] = 0
        req.first_s[r] = np.nan
        req.energy_j[r] = 0.0
        led.tally[T_REQUESTS] += 1
        if req.arrival_s[r] > led.acc[A_LAST_ARRIVAL_S]:
            led.acc[A_LAST_ARRIVAL_S] = req.arrival_s[r]
        spec = src.spec
        q = int(spec[_SFIRST, s]) + src.turn[s] % int(spec[_SCOUNT, s])
        src.turn[s] += 1
        if eng.fut_head[q] < 0:
            eng.next_t[q] = req.arrival_s[r]
        _push(req.link, eng.fut_head, eng.fut_tail, q, r)
    if eng.fut_head[e] < 0:
        eng.next_t[e] = _INF
    return True


# --- events ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _schedule(eng, led, e, t):
    """Instance ``e``'s next event at ``t`` (ties: first scheduled, first served)."""
    led.tally[T_SEQ] += 1
    eng.seq[e] = led.tally[T_SEQ]
    eng.t[e] = t


@njit(cache=True)
def _next_event(eng, lo, hi, members):
    """The instance (of ``members[lo:hi]``) with the earliest event, ties to the first scheduled; -1 if none."""
    e = -1
    best_t = _INF
    best_s = 0
    for m in range(lo, hi):
        j = members[m]
        tj = eng.t[j]
        if tj < best_t or (tj == best_t and e >= 0 and eng.seq[j] < best_s):
            e = j
            best_t = tj
            best_s = eng.seq[j]
    return e


@njit(cache=True, inline="always")
def _queue_gpu_phase(eng, grp, led, e, t):
    """The step's CPU phase ended: its kernels queue behind those already queued on the group's
    GPUs (first come, first served)."""
    g = eng.group[e]
    start = t if t > grp.free_s[g] else grp.free_s[g]
    end = start + eng.stc[e, _PHASE_S]
    grp.free_s[g] = end
    eng.state[e] = _GPU_PHASE
    _schedule(eng, led, e, end)


@njit(cache=True)
def _never_fits(eng, e, longest):
    """A request of ``longest`` tokens (prompt + output) could never run on instance ``e``."""
    return (longest > eng.ins[e, _MAXLEN] or _ceil_div(longest - 1, eng.bs[e]) > eng.ins[e, _KVB]
            or (eng.ins[e, _CHUNK] < 0.5 and longest - 1 > eng.ins[e, _BUDGET]))


@njit(cache=True)
def _arrivals(eng, src, req, led, e, t):
    """Requests arriving at instance ``e`` by ``t`` join its waiting queue, or are rejected if
    they could never run (a prefill instance also refuses what no decode instance could hold).
    False if the slot pool is full (grow it and call again)."""
    while True:
        if not _refill(eng, src, req, led, e):
            return False
        if eng.next_t[e] > t:
            return True
        r = _pop(req.link, eng.fut_head, eng.fut_tail, e)
        eng.next_t[e] = req.arrival_s[eng.fut_head[e]] if eng.fut_head[e] >= 0 else _INF
        longest = req.prompt[r] + req.output[r]
        never = _never_fits(eng, e, longest)
        if not never and eng.role[e] == _PREFILL_ROLE:
            for d in eng.decoders:
                if _never_fits(eng, d, longest):
                    never = True
                    break
        if never:
            _reject(req, led, r)
        else:
            req.state[r] = _WAITING
            _push(req.link, eng.wq_head, eng.wq_tail, e, r)
            eng.wq_len[e] += 1


@njit(cache=True)
def _mark_busy(eng, grp, led, e, t):
    """Instance ``e`` has work again: its group's and the server's idle time stop."""
    if eng.empty[e] and (eng.wq_len[e] > 0 or eng.run_n[e] > 0):
        g = eng.group[e]
        eng.empty[e] = False
        if grp.busy[g] == 0:
            grp.idle_s[g] += t - grp.idle_since[g]
        grp.busy[g] += 1
        if led.tally[T_BUSY] == 0:
            led.acc[A_SERVER_IDLE_S] += t - led.acc[A_SERVER_IDLE_SINCE]
        led.tally[T_BUSY] += 1


@njit(cache=True)
def _go_idle(eng, grp, led, e, t):
    """Nothing to run: instance ``e`` sleeps until its next arrival (or a hand-off wakes it)."""
    eng.state[e] = _EMPTY
    if not eng.empty[e]:
        g = eng.group[e]
        eng.empty[e] = True
        grp.busy[g] -= 1
        if grp.busy[g] == 0:
            grp.idle_since[g] = t
        led.tally[T_BUSY] -= 1
        if led.tally[T_BUSY] == 0:
            led.acc[A_SERVER_IDLE_SINCE] = t
    _schedule(eng, led, e, eng.next_t[e])


# --- request life: decoding, preemption, hand-off, finish ------------------------------------------

@njit(cache=True, inline="always")
def _start_decoding(req, eng, e, r):
    """Request ``r`` (prefilled) joins instance ``e``'s decodes: record the counter, cache, tokens
    and energy sum it starts from, its block bucket, and its finish in the heap."""
    bs = eng.bs[e]
    req.state[r] = _DECODE
    req.d0[r] = eng.dcount[e]
    req.c0[r] = req.computed[r]
    req.g0[r] = req.generated[r]
    req.phi0[r] = eng.phi[e]
    eng.buckets[e, (req.c0[r] - req.d0[r]) % bs] += 1
    eng.n_dec[e] += 1
    eng.sum_c[e] += req.c0[r]
    eng.hsize[e] = _heap_push(eng.hkey, eng.hid, req.heap_pos, eng.seg[e], eng.hsize[e],
                              req.d0[r] + req.output[r] - req.g0[r], r)


@njit(cache=True, inline="always")
def _stop_decoding(req, eng, e, r):
    """Request ``r`` leaves instance ``e``'s decodes (finished or preempted): bring its tokens,
    cache and energy up to the decode counter, take it out of the buckets and the heap."""
    steps_done = eng.dcount[e] - req.d0[r]
    cur = req.c0[r] + steps_done
    req.generated[r] = req.g0[r] + steps_done
    req.computed[r] = cur
    req.energy_j[r] += eng.phi[e] - req.phi0[r]
    eng.n_dec[e] -= 1
    eng.sum_c[e] -= cur
    eng.buckets[e, (req.c0[r] - req.d0[r]) % eng.bs[e]] -= 1
    eng.hsize[e] = _heap_remove(eng.hkey, eng.hid, req.heap_pos, eng.seg[e], eng.hsize[e], req.heap_pos[r])


@njit(cache=True, inline="always")
def _leave_running(req, eng, e, r):
    """Request ``r`` gives back its KV blocks and leaves instance ``e``'s running list."""
    eng.free[e] += _ceil_div(req.computed[r], eng.bs[e])
    _unlink(req.run_prev, req.run_next, eng.run_head, eng.run_tail, e, r)
    eng.run_n[e] -= 1


@njit(cache=True)
def _preempt(req, eng, led, e, v):
    """Preempt running request ``v`` of instance ``e`` (vLLM's recompute mode): free its blocks,
    forget its cache, and put it back at the front of the waiting queue."""
    led.tally[T_PREEMPTIONS] += 1
    req.preempted[v] += 1
    if req.state[v] == _DECODE:
        _stop_decoding(req, eng, e, v)
    else:
        _unlink(req.pf_prev, req.pf_next, eng.pf_head, eng.pf_tail, e, v)
    _leave_running(req, eng, e, v)
    req.computed[v] = 0
    _push_front(req.link, eng.wq_head, eng.wq_tail, e, v)
    eng.wq_len[e] += 1
    req.state[v] = _WAITING


@njit(cache=True)
def _hand_off(req, eng, led, e, r, t):
    """Request ``r``'s prefill ended on prefill instance ``e``: its KV cache leaves ``e`` for the
    next decode instance (round robin), which is woken if it sleeps."""
    _leave_running(req, eng, e, r)
    req.state[r] = _WAITING
    d = eng.decoders[led.tally[T_HANDOFFS] % eng.decoders.shape[0]]
    led.tally[T_HANDOFFS] += 1
    _push(req.link, eng.wq_head, eng.wq_tail, d, r)
    eng.wq_len[d] += 1
    if eng.state[d] == _EMPTY and eng.t[d] > t:
        _schedule(eng, led, d, t)


@njit(cache=True, inline="always")
def _observe(led, m, x):
    """One value of metric ``m`` into its histogram, sum, count and extremes."""
    acc = led.acc
    acc[A_SUM + m] += x
    if led.tally[T_COUNT + m] == 0 or x < acc[A_MIN + m]:
        acc[A_MIN + m] = x
    if led.tally[T_COUNT + m] == 0 or x > acc[A_MAX + m]:
        acc[A_MAX + m] = x
    led.tally[T_COUNT + m] += 1
    led.hist[m, bin_index(x)] += 1


@njit(cache=True)
def _finish(req, eng, led, e, r, t):
    """Request ``r`` generated its last token at ``t``: it leaves instance ``e``, its TTFT, TPOT
    and latency go into the statistics (and its row of per-request results, if asked), and its
    slot is free again."""
    _leave_running(req, eng, e, r)
    tt = req.first_s[r] - req.arrival_s[r]
    n_out = req.output[r]
    tp_r = (t - req.first_s[r]) / (n_out - 1) if n_out > 1 else 0.0
    la = t - req.arrival_s[r]
    _observe(led, _TTFT, tt)
    _observe(led, _LATENCY, la)
    if n_out > 1:
        _observe(led, _TPOT, tp_r)
    ttft_slo = led.settings[_TTFT_SLO]
    tpot_slo = led.settings[_TPOT_SLO]
    if (ttft_slo <= 0.0 or tt <= ttft_slo) and (tpot_slo <= 0.0 or tp_r <= tpot_slo):
        led.tally[T_GOOD] += 1
    led.tally[T_SERVED] += 1
    led.acc[A_PROMPT_TOKENS] += req.prompt[r]
    led.acc[A_OUTPUT_TOKENS] += n_out
    led.acc[A_ATTRIBUTED_J] += req.energy_j[r]
    if led.want_per:
        i = req.id[r]
        per = led.per
        per[_R_TTFT_S, i] = tt
        per[_R_TPOT_S, i] = tp_r
        per[_R_LATENCY_S, i] = la
        per[_R_FINISH_S, i] = t
        per[_R_GPU_ENERGY_J, i] = req.energy_j[r]
        per[_R_PREEMPTIONS, i] = req.preempted[r]
        per[_R_SERVED, i] = 1.0
    _release(req, r)


@njit(cache=True)
def _reject(req, led, r):
    """Request ``r`` could never run: counted, and its slot freed."""
    led.tally[T_REJECTED] += 1
    if led.want_per:
        led.per[_R_PREEMPTIONS, req.id[r]] = 0.0
        led.per[_R_SERVED, req.id[r]] = 0.0
    _release(req, r)


# --- the step ends ----------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _charge_step(eng, grp, led, e):
    """Count the step that ends: its GPU phase on the group's GPUs, its batch, kernel and CPU
    time. Returns the GPU-phase energy per token of the instance's GPUs."""
    g = eng.group[e]
    tp = eng.cst[e, C_TP]
    stc = eng.stc
    grp.phase_s[g] += stc[e, _PHASE_S]
    grp.phase_j[g] += stc[e, _PHASE_J]
    led.tally[T_STEPS] += 1
    led.acc[A_SEQS] += stc[e, _SEQS]
    if stc[e, _SEQS] > led.acc[A_MAX_BATCH]:
        led.acc[A_MAX_BATCH] = stc[e, _SEQS]
    led.acc[A_KERNEL_S] += tp * stc[e, _GPU_S]
    led.acc[A_CPU_CORE_S] += tp * stc[e, _CPU_S]
    return tp * stc[e, _PHASE_J] / stc[e, _TOKENS]


@njit(cache=True, inline="always")
def _advance_decodes(eng, e, share):
    """Every decode of the step gained a token and its share of the step's energy."""
    eng.phi[e] += share
    eng.sum_c[e] += eng.st_dec[e]
    eng.dcount[e] += 1


@njit(cache=True)
def _decodes_done(req, eng, led, e, t, share):
    """The step's decodes advance one token; those reaching their last token finish (the heap's
    entries keyed by this decode counter). Returns the tokens they sampled."""
    if eng.st_dec[e] == 0:
        return 0
    _advance_decodes(eng, e, share)
    base = eng.seg[e]
    while eng.hsize[e] > 0 and eng.hkey[base] == eng.dcount[e]:
        r = eng.hid[base]
        _stop_decoding(req, eng, e, r)
        _finish(req, eng, led, e, r, t)
    return eng.st_dec[e]


@njit(cache=True)
def _chunks_done(req, eng, led, e, t, share):
    """The step's prefill chunks are computed; a request whose prompt is now cached samples a
    token (its first: TTFT) and finishes, is handed on (prefill instance) or starts decoding.
    Returns the tokens sampled."""
    sampled = 0
    seg = eng.seg[e]
    for i in range(eng.st_len[e]):
        r = eng.st_r[seg + i]
        nt = eng.st_n[seg + i]
        req.energy_j[r] += share * nt
        led.tally[T_PREFILL_TOKENS] += nt
        req.computed[r] = eng.st_c[seg + i] + nt
        if req.computed[r] == req.prompt[r] + req.generated[r]:
            req.generated[r] += 1
            sampled += 1
            if math.isnan(req.first_s[r]):
                req.first_s[r] = t
            _unlink(req.pf_prev, req.pf_next, eng.pf_head, eng.pf_tail, e, r)   # prefilled
            if req.generated[r] == req.output[r]:
                _finish(req, eng, led, e, r, t)
            elif eng.role[e] == _PREFILL_ROLE:
                _hand_off(req, eng, led, e, r, t)
            else:
                _start_decoding(req, eng, e, r)
    return sampled


@njit(cache=True, inline="always")
def _close_step(eng, led, e, t, sampled):
    """The step's wall time: requests in the system over it (concurrency) and, if requests were
    waiting when it was formed (the engine at its limit), its time, energy and tokens as steady
    state."""
    wall = t - eng.st_formed[e]
    led.acc[A_RUN_S] += eng.st_insys[e] * wall
    if eng.st_sat[e]:
        gpu = eng.stc[e, _GPU_S]
        step_j = eng.cst[e, C_TP] * (eng.stc[e, _POWER_W] * gpu + eng.cst[e, C_IDLE] * (wall - gpu))
        led.acc[A_STEADY_S] += wall
        led.acc[A_STEADY_J] += step_j
        led.acc[A_STEADY_TOKENS] += sampled
        if eng.role[e] == _DECODER:
            led.acc[A_STEADY_DEC_J] += step_j
            led.acc[A_STEADY_DEC_TOKENS] += sampled
    if t > led.acc[A_T_END]:
        led.acc[A_T_END] = t


# --- forming a step ----------------------------------------------------------------------------------

@njit(cache=True)
def _admit_transferred(req, eng, e):
    """Decode instance ``e`` admits the queue's transferred requests (KV cached on a prefill
    instance) in order, straight into decoding, while sequences and blocks allow. Returns the
    time the step first spends receiving their KV caches."""
    kv_s = 0.0
    bs = eng.bs[e]
    max_seqs = int(eng.ins[e, _MAXSEQ])
    while eng.wq_len[e] > 0 and eng.run_n[e] < max_seqs:
        r = eng.wq_head[e]
        if req.computed[r] <= 0:
            break
        need = _ceil_div(req.computed[r], bs)
        if eng.free[e] - need < (eng.ins[e, _WM] if eng.run_n[e] > 0 else 0.0):
            break
        _pop(req.link, eng.wq_head, eng.wq_tail, e)
        eng.wq_len[e] -= 1
        eng.free[e] -= need
        _append(req.run_prev, req.run_next, eng.run_head, eng.run_tail, e, r)
        eng.run_n[e] += 1
        _start_decoding(req, eng, e, r)
        kv_s += eng.ins[e, _KVALPHA] + req.computed[r] * eng.cst[e, C_KDEC] / (eng.ins[e, _KVLINK] * _GB)
    return kv_s


@njit(cache=True, inline="always")
def _admit(req, eng, e, r, nt, need, slot):
    """Admit request ``r``, the head of instance ``e``'s waiting queue: take its ``need`` KV
    blocks, add it to the running and prefilling lists, and make its first ``nt`` prompt tokens
    the step's chunk ``slot``."""
    _pop(req.link, eng.wq_head, eng.wq_tail, e)
    eng.wq_len[e] -= 1
    eng.free[e] -= need
    _append(req.run_prev, req.run_next, eng.run_head, eng.run_tail, e, r)
    eng.run_n[e] += 1
    _append(req.pf_prev, req.pf_next, eng.pf_head, eng.pf_tail, e, r)
    req.state[r] = _PREFILL
    _add_chunk(eng, e, slot, r, nt, 0)


@njit(cache=True, inline="always")
def _add_chunk(eng, e, slot, r, nt, c):
    """Chunk ``slot`` of instance ``e``'s step: ``nt`` tokens of request ``r``, ``c`` already cached."""
    i = eng.seg[e] + slot
    eng.st_r[i] = r
    eng.st_n[i] = nt
    eng.st_c[i] = c


@njit(cache=True)
def _admit_whole_prompts(req, eng, e):
    """Without chunked prefill: admit waiting requests (preempted ones first) whole, in order,
    within the token budget, ``max_num_seqs`` and the free blocks (less the watermark unless
    nothing runs). Returns the chunks and tokens."""
    n_chunks = 0
    tokens = 0
    bs = eng.bs[e]
    budget = int(eng.ins[e, _BUDGET])
    max_seqs = int(eng.ins[e, _MAXSEQ])
    while eng.wq_len[e] > 0:
        r = eng.wq_head[e]
        if req.computed[r] > 0:   # transferred: admitted first thing next step
            break
        nt = req.prompt[r] + req.generated[r]
        need = _ceil_div(nt, bs)
        lim = eng.ins[e, _WM] if eng.run_n[e] > 0 else 0.0
        if tokens + nt > budget or eng.run_n[e] >= max_seqs or eng.free[e] - need < lim:
            break
        _admit(req, eng, e, r, nt, need, n_chunks)
        n_chunks += 1
        tokens += nt
    return n_chunks, tokens


@njit(cache=True)
def _secure_decode_blocks(req, eng, led, e):
    """A decode step (or the decodes of a chunked step): preempt the latest-admitted running
    request until the decodes' new blocks (one bucket's count) fit, and take them."""
    bs = eng.bs[e]
    while eng.run_n[e] > 0:
        need = eng.buckets[e, (-eng.dcount[e]) % bs] if eng.n_dec[e] > 0 else 0
        if eng.free[e] >= need:
            eng.free[e] -= need
            return
        _preempt(req, eng, led, e, eng.run_tail[e])


@njit(cache=True)
def _continue_prefills(req, eng, led, e, budget, n_chunks):
    """Chunked prefill: the running prefills, in admission order, each given what is left of its
    prompt within the budget; when its blocks do not fit, later prefilling requests are
    preempted. Returns the chunks, tokens and budget left."""
    bs = eng.bs[e]
    tokens = 0
    r = eng.pf_head[e]
    while r >= 0 and budget > 0:
        c = req.computed[r]
        nt = req.prompt[r] + req.generated[r] - c
        if nt > budget:
            nt = budget
        need = _ceil_div(c + nt, bs) - _ceil_div(c, bs)
        while eng.free[e] < need:
            v = eng.run_tail[e]
            if v == r or req.state[v] == _DECODE:
                break
            _preempt(req, eng, led, e, v)   # a later prefilling request
        if eng.free[e] < need:
            break
        eng.free[e] -= need
        _add_chunk(eng, e, n_chunks, r, nt, c)
        n_chunks += 1
        tokens += nt
        budget -= nt
        r = req.pf_next[r]
    return n_chunks, tokens, budget


@njit(cache=True)
def _admit_chunks(req, eng, e, budget, n_chunks):
    """Chunked prefill: newly admitted requests, each given ``min(prompt, budget left)`` tokens,
    within ``max_num_seqs`` and the free blocks. Returns the chunks and tokens."""
    bs = eng.bs[e]
    max_seqs = int(eng.ins[e, _MAXSEQ])
    tokens = 0
    while eng.wq_len[e] > 0 and budget > 0 and eng.run_n[e] < max_seqs:
        r = eng.wq_head[e]
        if req.computed[r] > 0:   # transferred: admitted first thing next step
            break
        nt = req.prompt[r] + req.generated[r]
        if nt > budget:
            nt = budget
        need = _ceil_div(nt, bs)
        lim = eng.ins[e, _WM] if eng.run_n[e] > 0 else 0.0
        if eng.free[e] - need < lim:
            break
        _admit(req, eng, e, r, nt, need, n_chunks)
        n_chunks += 1
        tokens += nt
        budget -= nt
    return n_chunks, tokens


@njit(cache=True)
def _price_step(req, eng, e, t, n_chunks, tokens, ndec, kv_s, disagg):
    """The step's cost (:func:`_cost`) from its chunks' attention sums and its decodes' context
    sum; records the step (chunks, decodes, when formed, whether requests wait, requests in the
    system). Returns its CPU phase."""
    sampled = float(ndec)
    a_p = 0.0
    k_p = 0.0
    seg = eng.seg[e]
    for i in range(n_chunks):
        r = eng.st_r[seg + i]
        nt = float(eng.st_n[seg + i])
        c = float(eng.st_c[seg + i])
        a_p += nt * (c + 0.5 * (nt + 1.0))
        k_p += c + nt
        if eng.st_c[seg + i] + eng.st_n[seg + i] == req.prompt[r] + req.generated[r]:
            sampled += 1.0
    cpu_phase = _cost(eng.cst, eng.mm, eng.stc, e, float(tokens), sampled, float(n_chunks + ndec), n_chunks, a_p,
                      k_p, ndec, float(eng.sum_c[e] + ndec), kv_s)
    eng.st_len[e] = n_chunks
    eng.st_dec[e] = ndec
    eng.st_formed[e] = t
    if disagg:   # the system at its limit: requests wait for any of its engines
        eng.st_sat[e] = eng.wq_len.sum() > 0
    else:
        eng.st_sat[e] = eng.wq_len[e] > 0
    eng.st_insys[e] = float(eng.run_n[e] + eng.wq_len[e])
    return cpu_phase


@njit(cache=True)
def _form_step(req, eng, grp, led, e, t, disagg):
    """Instance ``e`` forms its next step at ``t`` (its arrivals already queued): who runs, by
    vLLM's rules, and at what cost; or it sleeps if nothing can run. Returns the step's CPU
    phase, its chunks and decodes (-1 chunks: asleep)."""
    _mark_busy(eng, grp, led, e, t)
    kv_s = _admit_transferred(req, eng, e) if eng.role[e] == _DECODER else 0.0
    chunked = eng.ins[e, _CHUNK] >= 0.5
    n_chunks = 0
    tokens = 0
    ndec = 0
    if not chunked:   # whole prompts first (a prefill step), else a decode step
        n_chunks, tokens = _admit_whole_prompts(req, eng, e)
    if chunked or n_chunks == 0:
        _secure_decode_blocks(req, eng, led, e)
        ndec = eng.n_dec[e]
        tokens = ndec
    if chunked:       # decode-first, then running prefills, then new prompts, within the budget
        n_chunks, more, budget = _continue_prefills(req, eng, led, e, int(eng.ins[e, _BUDGET]) - ndec, n_chunks)
        tokens += more
        n_chunks, more = _admit_chunks(req, eng, e, budget, n_chunks)
        tokens += more
    if n_chunks == 0 and ndec == 0:
        _go_idle(eng, grp, led, e, t)
        return 0.0, -1, 0
    return _price_step(req, eng, e, t, n_chunks, tokens, ndec, kv_s, disagg), n_chunks, ndec


@njit(cache=True)
def _replay_solo_decodes(eng, grp, led, e, t, cpu_phase, disagg):
    """Replay identical decode steps of instance ``e``, alone on its GPUs and decoding only,
    while nothing arrives, finishes or is preempted (every rule of the general path would choose
    the same step again): the same decodes, one token longer each step. Returns the time and CPU
    phase of the step left in flight (formed at that time)."""
    g = eng.group[e]
    cst = eng.cst
    stc = eng.stc
    mm = eng.mm
    bs = eng.bs[e]
    ndec = eng.st_dec[e]
    tokens_f = float(ndec)
    tp = cst[e, C_TP]
    idle = cst[e, C_IDLE]
    uncapped = cst[e, C_LIM] >= cst[e, C_CAP]
    c_t = cst[e, C_TFIXED] + mm[e, _MM_TIME_S]             # the step's time is (c_t + a*A) + c_a
    c_a = cst[e, C_ACTTOK] * tokens_f / cst[e, C_CM]
    c_b = cst[e, C_ACTTOK] * tokens_f
    gpu, cpu, phase, power, phase_j = stc[e, _GPU_S], stc[e, _CPU_S], stc[e, _PHASE_S], stc[e, _POWER_W], \
        stc[e, _PHASE_J]
    comm = _comm(cst, e, tokens_f, tokens_f)
    dc = eng.dcount[e]
    sc = eng.sum_c[e]
    fr = eng.free[e]
    ph = eng.phi[e]
    top = eng.hkey[eng.seg[e]] if eng.hsize[e] > 0 else -1
    t_next = eng.next_t[e]
    if disagg:
        # another engine's next event may hand this one a request (or change whether
        # requests wait): replay only the steps that end before it
        for j in range(eng.t.shape[0]):
            if j != e and eng.t[j] < t_next:
                t_next = eng.t[j]
    idx = (-(dc + 1)) % bs
    sat = eng.st_sat[e]
    in_sys = eng.st_insys[e]
    decoder = eng.role[e] == _DECODER
    formed = t
    acc = led.acc
    gps, gpj = grp.phase_s[g], grp.phase_j[g]
    steps = 0
    seqs, kernel_s, cpu_core_s, run_s = acc[A_SEQS], acc[A_KERNEL_S], acc[A_CPU_CORE_S], acc[A_RUN_S]
    steady_s, steady_j, steady_tok = acc[A_STEADY_S], acc[A_STEADY_J], acc[A_STEADY_TOKENS]
    steady_dec_j, steady_dec_tok = acc[A_STEADY_DEC_J], acc[A_STEADY_DEC_TOKENS]
    while True:
        if top == dc + 1:
            break
        t2 = (t + cpu_phase) + phase
        if t_next <= t2:
            break
        need = eng.buckets[e, idx]
        if fr < need:
            break
        # the step ends at t2 (as _charge_step, _advance_decodes and _close_step, no finishes)
        gps += phase
        gpj += phase_j
        steps += 1
        seqs += tokens_f
        kernel_s += tp * gpu
        cpu_core_s += tp * cpu
        ph += tp * phase_j / tokens_f
        sc += ndec
        dc += 1
        run_s += in_sys * (t2 - formed)
        if sat:
            wall = t2 - formed
            step_j = tp * (power * gpu + idle * (wall - gpu))
            steady_s += wall
            steady_j += step_j
            steady_tok += ndec
            if decoder:
                steady_dec_j += step_j
                steady_dec_tok += ndec
        t = t2
        formed = t
        # the next step: the same decodes, one token longer (as _next_decode)
        fr -= need
        idx = idx - 1 if idx > 0 else bs - 1
        a_d = float(sc + ndec)
        gpu = (c_t + cst[e, C_ADEC] * a_d) + c_a
        flop = (mm[e, _MM_FLOP] + cst[e, C_FDEC] * a_d) / tp
        nbytes = mm[e, _MM_BYTES] + cst[e, C_KDEC] * a_d + c_b
        power, gpu = _decode_power(cst, e, gpu, flop, nbytes, uncapped)
        phase = gpu + comm
        phase_j = power * gpu + idle * comm
        cpu_phase = _cpu_phase(cst, e, cpu, phase)
    if steps > 0:
        led.tally[T_STEPS] += steps
        acc[A_SEQS], acc[A_KERNEL_S], acc[A_CPU_CORE_S], acc[A_RUN_S] = seqs, kernel_s, cpu_core_s, run_s
        acc[A_STEADY_S], acc[A_STEADY_J], acc[A_STEADY_TOKENS] = steady_s, steady_j, steady_tok
        acc[A_STEADY_DEC_J], acc[A_STEADY_DEC_TOKENS] = steady_dec_j, steady_dec_tok
        if tokens_f > acc[A_MAX_BATCH]:
            acc[A_MAX_BATCH] = tokens_f
        if t > acc[A_T_END]:
            acc[A_T_END] = t
        grp.free_s[g] = t
        grp.phase_s[g], grp.phase_j[g] = gps, gpj
        eng.dcount[e] = dc
        eng.sum_c[e] = sc
        eng.free[e] = fr
        eng.phi[e] = ph
        eng.st_formed[e] = t
        stc[e, _GPU_S], stc[e, _PHASE_S], stc[e, _POWER_W], stc[e, _PHASE_J] = gpu, phase, power, phase_j
    return t, cpu_phase


@njit(cache=True)
def _replay_shared_decodes(eng, grp, led, g):
    """Instances sharing GPU group ``g``: play their events in the general loop's order while each
    step one of them forms is again a pure decode step like its last (nothing arrives, finishes,
    is preempted or prefilled); stop at the first event that needs the general path."""
    lo, hi = grp.start[g], grp.start[g + 1]
    while True:
        j = _next_event(eng, lo, hi, grp.members)
        if j < 0 or eng.state[j] == _EMPTY:
            return
        tj = eng.t[j]
        if eng.state[j] == _CPU_PHASE:
            _queue_gpu_phase(eng, grp, led, j, tj)
            continue
        # its GPU phase ends at tj: would the next step be the same decode step again?
        if eng.st_len[j] != 0 or eng.st_dec[j] == 0 or eng.pf_head[j] >= 0:
            return
        if eng.hsize[j] > 0 and eng.hkey[eng.seg[j]] == eng.dcount[j] + 1:
            return
        if eng.next_t[j] <= tj:
            return
        need = eng.buckets[j, (-(eng.dcount[j] + 1)) % eng.bs[j]]
        if eng.free[j] < need:
            return
        share = _charge_step(eng, grp, led, j)
        _advance_decodes(eng, j, share)
        nd = eng.st_dec[j]
        _close_step(eng, led, j, tj, nd)
        eng.free[j] -= need
        cph = _next_decode(eng.cst, eng.mm, eng.stc, j, float(nd), float(eng.sum_c[j] + nd),
                           _comm(eng.cst, j, float(nd), float(nd)))
        eng.st_formed[j] = tj
        eng.state[j] = _CPU_PHASE
        _schedule(eng, led, j, tj + cph)


# --- results -----------------------------------------------------------------------------------------

@njit(cache=True)
def _summarise(out, led, m, o_mean, o_p50, o_p90, o_p99):
    """Mean and percentiles of metric ``m`` (from its histogram), then clear the histogram."""
    n = led.tally[T_COUNT + m]
    if n == 0:
        return
    x_min, x_max = led.acc[A_MIN + m], led.acc[A_MAX + m]
    lo, hi = bin_index(x_min), bin_index(x_max)
    counts = led.hist[m]
    out[o_mean] = led.acc[A_SUM + m] / n
    out[o_p50] = percentile_from_counts(counts, n, 50.0, lo, x_min, x_max)
    out[o_p90] = percentile_from_counts(counts, n, 90.0, lo, x_min, x_max)
    out[o_p99] = percentile_from_counts(counts, n, 99.0, lo, x_min, x_max)
    counts[lo:hi + 1] = 0   # the histogram is scratch space, reused by the next simulation


@njit(cache=True)
def _results(out, req, eng, grp, led):
    """The run's outputs (:data:`~carbonsim.models.serving.layout.OUTPUT_NAMES`): the GPUs' energy
    (GPU phases, loaded idle otherwise), idle time, counts, means and percentiles; per-request
    GPU energy takes an equal share of the energy no step attributed."""
    acc = led.acc
    tally = led.tally
    end = acc[A_T_END] if acc[A_T_END] > acc[A_LAST_ARRIVAL_S] else acc[A_LAST_ARRIVAL_S]
    for g in range(grp.gpus.shape[0]):
        if grp.busy[g] == 0:
            grp.idle_s[g] += end - grp.idle_since[g]
    if tally[T_BUSY] == 0:
        acc[A_SERVER_IDLE_S] += end - acc[A_SERVER_IDLE_SINCE]
    gpu_j = 0.0
    idle_j = 0.0
    n_gpus = 0.0
    for g in range(grp.gpus.shape[0]):
        gpu_j += grp.gpus[g] * (grp.phase_j[g] + grp.idle_w[g] * (end - grp.phase_s[g]))
        idle_j += grp.gpus[g] * grp.idle_w[g] * grp.idle_s[g]
        n_gpus += grp.gpus[g]
    decode_j = 0.0
    for d in eng.decoders:
        g = eng.group[d]
        decode_j += grp.gpus[g] * (grp.phase_j[g] + grp.idle_w[g] * (end - grp.phase_s[g]))
    n_served = tally[T_SERVED]
    n = tally[T_REQUESTS]
    if led.want_per:
        residual = (gpu_j - acc[A_ATTRIBUTED_J]) / n_served if n_served > 0 else 0.0
        per = led.per
        for i in range(per.shape[1]):
            if per[_R_SERVED, i] > 0.5:
                per[_R_GPU_ENERGY_J, i] += residual
        for r in range(req.id.shape[0]):   # requests still in the server (none: every one ends)
            if req.state[r] != _FREE:
                per[_R_PREEMPTIONS, req.id[r]] = req.preempted[r]
    steps = tally[T_STEPS]
    out[_O_SERVED] = n_served
    out[_O_REJECTED] = tally[T_REJECTED]
    out[_O_DURATION_S] = end
    out[_O_IDLE_S] = acc[A_SERVER_IDLE_S]
    out[_O_BUSY_S] = end - acc[A_SERVER_IDLE_S]
    out[_O_PROMPT_TOKENS] = acc[A_PROMPT_TOKENS]
    out[_O_OUTPUT_TOKENS] = acc[A_OUTPUT_TOKENS]
    _summarise(out, led, _TTFT, _O_TTFT_MEAN_S, _O_TTFT_P50_S, _O_TTFT_P90_S, _O_TTFT_P99_S)
    _summarise(out, led, _TPOT, _O_TPOT_MEAN_S, _O_TPOT_P50_S, _O_TPOT_P90_S, _O_TPOT_P99_S)
    _summarise(out, led, _LATENCY, _O_LATENCY_MEAN_S, _O_LATENCY_P50_S, _O_LATENCY_P90_S,
               _O_LATENCY_P99_S)
    out[_O_SLO_ATTAINMENT] = tally[T_GOOD] / n if n > 0 else 0.0
    out[_O_GPU_ENERGY_J] = gpu_j
    out[_O_GPU_IDLE_ENERGY_J] = idle_j
    out[_O_GPU_KERNEL_S] = acc[A_KERNEL_S]
    out[_O_CPU_CORE_S] = acc[A_CPU_CORE_S]
    out[_O_STEPS] = steps
    out[_O_PREFILL_TOKENS] = tally[T_PREFILL_TOKENS]
    out[_O_PREEMPTIONS] = tally[T_PREEMPTIONS]
    out[_O_MEAN_BATCH] = acc[A_SEQS] / steps if steps > 0 else 0.0
    out[_O_MAX_BATCH] = acc[A_MAX_BATCH]
    out[_O_STEADY_S] = acc[A_STEADY_S]
    out[_O_STEADY_GPU_ENERGY_J] = acc[A_STEADY_J]
    out[_O_STEADY_OUTPUT_TOKENS] = acc[A_STEADY_TOKENS]
    out[_O_GPUS] = n_gpus
    out[_O_CONCURRENCY] = acc[A_RUN_S] / end if end > 0.0 else 0.0
    out[_O_DECODE_GPU_ENERGY_J] = decode_j
    out[_O_STEADY_DECODE_GPU_ENERGY_J] = acc[A_STEADY_DEC_J]
    out[_O_STEADY_DECODE_OUTPUT_TOKENS] = acc[A_STEADY_DEC_TOKENS]


# --- set-up and the event loop ----------------------------------------------------------------------

@njit(cache=True)
def _setup(inst, spec):
    """The instances' and groups' records, and the largest request count (-1: unknown)."""
    k = inst.shape[1]
    n_streams = spec.shape[1]
    known = 0
    for s in range(n_streams):
        if spec[_SK, s] == _ARRAYS:
            known += int(spec[_SSTOP, s] - spec[_SSTART, s])
        elif spec[_SREQ, s] >= 0.0 and known >= 0:
            known += int(spec[_SREQ, s])
        else:
            known = -1
    cst = np.empty((k, N_CST))
    n_groups = 0
    max_bs = 1
    n_decoders = 0
    for e in range(k):
        _constants(inst[:, e], cst[e])
        n_groups = max(n_groups, int(inst[_GROUP, e]) + 1)
        max_bs = max(max_bs, int(inst[_BS, e]))
        if int(inst[_ROLE, e]) == _DECODER:
            n_decoders += 1
    # segments for each instance's heap and step chunks: its running requests, at most
    # max_num_seqs (and at most every request)
    seg = np.zeros(k + 1, np.int64)
    for e in range(k):
        room = int(inst[_MAXSEQ, e])
        if known >= 0 and known < room:
            room = known
        seg[e + 1] = seg[e] + max(room, 1)
    src = np.full(k, -1, np.int64)
    for s in range(n_streams):
        for q in range(int(spec[_SCOUNT, s])):
            src[int(spec[_SFIRST, s]) + q] = s
    decoders = np.zeros(n_decoders, np.int64)   # decode instances, in instance order
    role = np.zeros(k, np.int64)
    j = 0
    for e in range(k):
        role[e] = int(inst[_ROLE, e])
        if role[e] == _DECODER:
            decoders[j] = e
            j += 1
    group = np.zeros(k, np.int64)
    bs = np.zeros(k, np.int64)
    free = np.zeros(k, np.int64)
    for e in range(k):
        group[e] = int(inst[_GROUP, e])
        bs[e] = int(inst[_BS, e])
        free[e] = int(inst[_KVB, e])
    mm = np.zeros((k, N_MM))
    mm[:, _MM_TOKENS] = -1.0
    n_seg = seg[k]
    eng = Engines(np.ascontiguousarray(inst.T), cst, role, group, bs, free, seg[:k].copy(), src,
                  np.full(k, -1, np.int64), np.full(k, -1, np.int64), np.zeros(k, np.int64),
                  np.full(k, -1, np.int64), np.full(k, -1, np.int64),
                  np.full(k, -1, np.int64), np.full(k, -1, np.int64), np.zeros(k, np.int64),
                  np.full(k, -1, np.int64), np.full(k, -1, np.int64), np.full(k, _INF),
                  np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k),
                  np.zeros((k, max_bs), np.int64), np.zeros(n_seg, np.int64), np.zeros(n_seg, np.int64),
                  np.zeros(k, np.int64),
                  np.zeros(k, np.int64), np.full(k, _INF), np.zeros(k, np.int64), np.ones(k, np.bool_),
                  np.zeros(n_seg, np.int64), np.zeros(n_seg, np.int64), np.zeros(n_seg, np.int64),
                  np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros((k, N_STEP)), mm, np.zeros(k),
                  np.zeros(k, np.bool_), np.zeros(k), decoders)
    gpus = np.zeros(n_groups)
    idle_w = np.zeros(n_groups)
    count = np.zeros(n_groups, np.int64)
    for e in range(k):
        gpus[group[e]] = cst[e, C_TP]
        idle_w[group[e]] = cst[e, C_IDLE]
        count[group[e]] += 1
    start = np.zeros(n_groups + 1, np.int64)   # members of each group, in instance order
    for g in range(n_groups):
        start[g + 1] = start[g] + count[g]
    members = np.zeros(k, np.int64)
    filled = start[:n_groups].copy()
    for e in range(k):
        members[filled[group[e]]] = e
        filled[group[e]] += 1
    grp = Groups(gpus, idle_w, np.zeros(n_groups), np.zeros(n_groups), np.zeros(n_groups),
                 np.zeros(n_groups, np.int64), np.zeros(n_groups), np.zeros(n_groups), count == 1, start, members)
    return eng, grp, known


@njit(cache=True, nogil=True)
def simulate_one(inst, spec, arrival, prompt, output, rngs, settings, out, per, want_per, hist):
    """Simulate one serving system, without the GIL; fills ``out`` and, if ``want_per``, ``per``.

    Parameters
    ----------
    inst : ndarray, shape (N_INSTANCE, k)
    spec : ndarray, shape (N_STREAM, m)
        Its request streams (:data:`~carbonsim.models.serving.layout.STREAM_NAMES`).
    arrival, prompt, output : ndarray, shape (n,)
        Requests that arrays streams read.
    rngs : tuple of N_GENERATORS numpy.random.Generator
        Drawn stream ``s`` draws from ``rngs[3s:3s+3]`` (arrivals, prompts, outputs).
    settings : ndarray, shape (N_SETTINGS,)
    out : ndarray, shape (N_OUTPUTS,)
    per : ndarray, shape (N_REQUEST_OUT, requests)
        Per-request results, column ``id`` (if ``want_per``).
    hist : ndarray of int64, shape (3, N_BINS)
        Zeros; the percentile histograms' scratch space, left zero.
    """
    k = inst.shape[1]
    out[:] = 0.0
    eng, grp, known = _setup(inst, spec)
    m = spec.shape[1]
    src = Sources(spec, arrival, prompt, output, rngs, np.zeros(m, np.int64), np.zeros(m), np.zeros(m),
                  np.zeros(m), np.zeros(m, np.int64), np.zeros(m, np.int64), np.zeros(m, np.bool_))
    req = _slots(max(1, min(known, 1024)) if known >= 0 else 1024)
    led = Ledger(np.zeros(N_ACC), np.zeros(N_TALLY, np.int64), hist, settings, per, want_per)
    if want_per:
        per[:] = np.nan
        per[_R_PREEMPTIONS] = 0.0
        per[_R_SERVED] = 0.0
    disagg = eng.decoders.shape[0] > 0
    all_instances = np.arange(k)
    for e in range(k):
        while not _refill(eng, src, req, led, e):
            req = _grown(req)
        _schedule(eng, led, e, eng.next_t[e])

    while True:
        e = _next_event(eng, 0, k, all_instances)
        if e < 0:
            break
        t = eng.t[e]
        if eng.state[e] == _CPU_PHASE:
            _queue_gpu_phase(eng, grp, led, e, t)
            continue
        if eng.state[e] == _GPU_PHASE:   # the step ends
            share = _charge_step(eng, grp, led, e)
            sampled = _decodes_done(req, eng, led, e, t, share)
            sampled += _chunks_done(req, eng, led, e, t, share)
            _close_step(eng, led, e, t, sampled)
        while not _arrivals(eng, src, req, led, e, t):
            req = _grown(req)
        cpu_phase, n_chunks, ndec = _form_step(req, eng, grp, led, e, t, disagg)
        if n_chunks < 0:
            continue
        g = eng.group[e]
        if grp.solo[g] and n_chunks == 0 and eng.pf_head[e] < 0:
            t, cpu_phase = _replay_solo_decodes(eng, grp, led, e, t, cpu_phase, disagg)
        eng.state[e] = _CPU_PHASE
        _schedule(eng, led, e, t + cpu_phase)
        if not grp.solo[g] and n_chunks == 0 and ndec > 0 and eng.pf_head[e] < 0:
            _replay_shared_decodes(eng, grp, led, g)
    _results(out, req, eng, grp, led)


#: The compiled entry point (the name the sweep's kernel-cache check imports).
simulate_many_kernel = simulate_one


# --- Python side: a system's arguments --------------------------------------------------------------

_IDLE_GENERATORS: list = []


def _spare_generators() -> list:
    """Generators that fill the unused places of the generator tuple (never drawn from)."""
    if not _IDLE_GENERATORS:
        _IDLE_GENERATORS.extend(np.random.default_rng(0) for _ in range(N_GENERATORS))
    return _IDLE_GENERATORS


def system_args(system):
    """The kernel's arguments for one system: ``(inst, spec, arrival, prompt, output, rngs, n)``.

    ``system`` is ``(instances, arrival_s, prompt_tokens, output_tokens, owner)`` (given requests,
    ``owner`` sorted: one arrays stream per instance) or ``(instances, streams)`` with ``streams`` a
    list of ``(RequestStream, first_instance, instances)`` (requests drawn as the simulation runs,
    sent round robin to those instances). ``n`` is the number of given requests (0 for drawn
    streams). Checks the roles (:func:`carbonsim.models.serving.layout.check_roles`).
    """
    inst = np.ascontiguousarray(system[0], dtype=np.float64)
    k = inst.shape[1]
    if len(system) == 2:
        streams = list(system[1])
        if len(streams) > MAX_DRAWN_STREAMS:
            raise ValueError(f"at most {MAX_DRAWN_STREAMS} drawn request streams per simulation")
        spec = np.zeros((N_STREAM, len(streams)))
        rngs = list(_spare_generators())
        served = np.zeros(k + 1, dtype=np.int64)
        for s, (stream, first, count) in enumerate(streams):
            spec[:, s] = stream.column(first, count)
            rngs[3 * s: 3 * s + 3] = stream.generators()
            served[first + 1: first + count + 1] = 1
        check_roles(inst[I["role"]], inst[I["gpu_group"]], np.cumsum(served))
        empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
        return inst, spec, empty_f, empty_i, empty_i, tuple(rngs), 0
    _, arrival, prompt, output, owner = system
    owner = np.asarray(owner, dtype=np.int64)
    bounds = np.searchsorted(owner, np.arange(k + 1)).astype(np.int64)
    check_roles(inst[I["role"]], inst[I["gpu_group"]], bounds)
    spec = np.zeros((N_STREAM, k))
    spec[_SK] = _ARRAYS
    spec[_SFIRST] = np.arange(k)
    spec[_SCOUNT] = 1.0
    spec[_SSTART] = bounds[:-1]
    spec[_SSTOP] = bounds[1:]
    return (inst, spec, np.ascontiguousarray(arrival, dtype=np.float64),
            np.ascontiguousarray(prompt, dtype=np.int64), np.ascontiguousarray(output, dtype=np.int64),
            tuple(_spare_generators()), len(arrival))


def scratch_histograms() -> np.ndarray:
    """Zeroed percentile histograms for :func:`simulate_one` (one per thread; it leaves them zero)."""
    return np.zeros((3, N_BINS), dtype=np.int64)


def simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings):
    """Compiled counterpart of :func:`carbonsim.models.serving.reference.simulate_reference` (same
    arguments and results)."""
    inst, spec, arr, prompt, output, rngs, n = system_args(
        (instances, arrival_s, prompt_tokens, output_tokens, owner))
    out = np.empty(N_OUTPUTS)
    per = np.empty((N_REQUEST_OUT, n))
    simulate_one(inst, spec, arr, prompt, output, rngs, np.ascontiguousarray(settings, dtype=np.float64), out, per,
                 True, scratch_histograms())
    return out, per
