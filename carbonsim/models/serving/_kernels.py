"""Numba kernel of the serving simulator: the reference's event loop with O(1) work per step.

Same rules and equations as :func:`carbonsim.models.serving.reference.simulate_reference` (the
readable reference; ``tests/models/test_serving_simulator.py`` holds the two together), written
as the same events, one helper each, so the two read side by side:

=====================================  =================================  =============================
event                                  kernel                             reference (``_Simulation``)
=====================================  =================================  =============================
the event loop                         ``_run``                           ``run``
requests arrive (queued or rejected)   ``_arrivals``                      ``arrivals``
an idle engine gets work               ``_mark_busy``                     ``mark_busy``
a decode engine takes handed-on work   ``_admit_transferred``             ``admit_transferred``
whole prompts admitted (prefill step)  ``_admit_whole_prompts``           ``admit_whole_prompts``
decodes' new blocks, preempting        ``_secure_decode_blocks``          ``secure_decode_blocks``
chunks of running prefills             ``_continue_prefills``             ``continue_prefills``
chunks of newly admitted prompts       ``_admit_chunks``                  ``admit_chunks``
nothing to run: the engine sleeps      ``_go_idle``                       ``go_idle``
the step's cost                        ``_price_step``                    ``price_step``
its kernels queue for the GPUs         ``_queue_gpu_phase``               ``queue_gpu_phase``
the step ends: its time and energy     ``_charge_step``, ``_close_step``  ``finish_step``
... decodes advance, some finish       ``_decodes_done``                  ``finish_step``
... prefills end: decode or hand off   ``_chunks_done``, ``_hand_off``    ``finish_step``, ``hand_off``
preemption                             ``_preempt``                       ``preempt``
a request finishes (its statistics)    ``_finish``                        ``finish``
results                                ``_results``                       ``results``
=====================================  =================================  =============================

What differs is the bookkeeping, so that a step costs a few dozen operations however many
requests run, and memory holds only the requests in the server:

* **Named arrays.** The state lives in a few arrays with named columns (see the comment above
  ``SC_GPU_S``): per instance ``ef`` (floats: derived constants, the step in flight's cost
  ``SC_GPU_S`` ... ``SC_SEQS``, named as the reference's ``step_cost`` keys, its state) and
  ``en`` (integers: lists, counters, block buckets), per request slot ``rq``/``rf``, per GPU
  group ``gr``, the totals ``acc``/``tally``. The event loop (:func:`_run`) is compiled without
  reference counting (``_nrt=False``): the per-step helpers are inlined into it
  (``inline="always"``), the per-request ones (:func:`_refill`, :func:`_preempt`,
  :func:`_hand_off`, :func:`_finish`, :func:`_reject`) are called, also compiled without
  reference counting, so that passing arrays costs nothing and the kernel compiles in about the
  time of the single function it was (inlining every helper took five times as long).
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

import numpy as np
from numba import njit

from carbonsim import kernel_cache
from carbonsim.models.perf._kernels import _smax  # the roofline's smooth max, as the offline kernel
from carbonsim.models.perf.layout import ACT_F_PER_MATRIX, ACT_H, P
from carbonsim.models.serving.layout import (
    F_MIN, I, MAX_DRAWN_STREAMS, N_OUTPUTS, N_REQUEST_OUT, N_STREAM, OUT, R, ROLES, S, STEP, STREAM, STREAM_KINDS,
    check_roles,
)
from carbonsim.models.serving.quantiles import N_BINS, bin_index, percentile_from_counts

kernel_cache.install()  # stored kernels follow the carbonsim modules they import (docs/architecture.md)

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

N_STEP = len(STEP)

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

# request states (_FREE: an unused slot)
_WAITING, _PREFILL, _DECODE, _DONE, _REJECTED, _FUTURE, _FREE = 0, 1, 2, 3, 4, 5, 6
# instance states
_EMPTY, _CPU_PHASE, _GPU_PHASE = 0, 1, 2

# The state lives in a few arrays with named columns (C_*, SC_* ... are column numbers):
#
#   ef     (k, N_EF) float   per instance: derived constants C_*, the step in flight's cost SC_*
#                            (the reference's step_cost keys), the matrix-product cache MM_*, the
#                            serving rows it reads I_*, and its state EF_* (next arrival, decode
#                            energy sum, event time, when the step was formed, requests then)
#   en     (k, N_EN + b) int per instance: role, group, block size, KV blocks free, segment, stream,
#                            running / prefilling / waiting / drawn-not-arrived lists, decode
#                            counter, count and context sum, heap size, event state and sequence,
#                            the step's chunks and decodes; then the decode block buckets EN_BUCKETS
#   sg     (n_seg, 5) int    per instance segment en[e, EN_SEG]...: its decode-finish heap (key,
#                            request) and its step's chunks (request, tokens, cached)
#   gr     (G, N_GR) float   per GPU group: GPUs, idle power, when free, GPU-phase time and energy,
#                            busy instances, idle since / idle time, solo, members
#   rq, rf (cap, N_RQ) int, (cap, N_RF) float: per request slot
#   acc, tally               the run's float and integer totals (A_*, T_*)
#   spec, ss                 per request stream: its column and its draw state SS_*
# Per-step helpers are inlined (inline="always"); the per-request ones and the event loop are
# compiled without reference counting (_nrt=False): a call that passes arrays costs nothing then.

# per instance, floats: after the constants C_*
SC_GPU_S, SC_CPU_S, SC_PHASE_S, SC_POWER_W, SC_PHASE_J, SC_TOKENS, SC_SEQS = (
    N_CST + STEP["gpu_s"], N_CST + STEP["cpu_s"], N_CST + STEP["gpu_phase_s"], N_CST + STEP["power_w"],
    N_CST + STEP["gpu_phase_j"], N_CST + STEP["tokens"], N_CST + STEP["seqs"])
MM_TOKENS, MM_SAMPLED, MM_TIME_S, MM_FLOP, MM_BYTES = range(N_CST + N_STEP, N_CST + N_STEP + 5)
(I_MAX_SEQS, I_BUDGET, I_CHUNKED, I_WATERMARK, I_MAX_LEN, I_KV_BLOCKS, I_KV_LINK_GB_S, I_KV_ALPHA_S) = range(
    N_CST + N_STEP + 5, N_CST + N_STEP + 13)
EF_NEXT_T, EF_PHI, EF_T, EF_FORMED, EF_IN_SYSTEM = range(N_CST + N_STEP + 13, N_CST + N_STEP + 18)
N_EF = N_CST + N_STEP + 18
# per instance, integers
(EN_ROLE, EN_GROUP, EN_BS, EN_FREE, EN_SEG, EN_SRC, EN_RUN_HEAD, EN_RUN_TAIL, EN_RUN_N, EN_PF_HEAD, EN_PF_TAIL,
 EN_WQ_HEAD, EN_WQ_TAIL, EN_WQ_LEN, EN_FUT_HEAD, EN_FUT_TAIL, EN_DCOUNT, EN_N_DEC, EN_SUM_C, EN_HSIZE, EN_STATE,
 EN_SEQ, EN_EMPTY, EN_ST_LEN, EN_ST_DEC, EN_ST_SAT) = range(26)
EN_BUCKETS = 26
# per instance segment
SG_HKEY, SG_HID, SG_R, SG_N, SG_C = range(5)
# per GPU group
(GR_GPUS, GR_IDLE_W, GR_FREE_S, GR_PHASE_S, GR_PHASE_J, GR_IDLE_SINCE, GR_IDLE_S, GR_BUSY, GR_SOLO, GR_FIRST,
 GR_STOP) = range(11)
N_GR = 11
# per request slot
(RQ_ID, RQ_PROMPT, RQ_OUTPUT, RQ_STATE, RQ_COMPUTED, RQ_GENERATED, RQ_PREEMPTED, RQ_D0, RQ_C0, RQ_G0, RQ_HEAP_POS,
 RQ_RUN_PREV, RQ_RUN_NEXT, RQ_PF_PREV, RQ_PF_NEXT, RQ_LINK) = range(16)
N_RQ = 16
RF_ARRIVAL_S, RF_FIRST_S, RF_ENERGY_J, RF_PHI0 = range(4)
N_RF = 4
# per stream: draw state
SS_DRAWN, SS_TURN, SS_LEFT, SS_T_LAST, SS_BASE, SS_CSUM, SS_DONE, SS_POS, SS_LEN, SS_DRAWN_ALL = range(10)
N_SS = 10
# drawn streams' requests wait in a buffer (m, BUFFER, 4): arrival, prompt, output, id
BUF_T, BUF_PROMPT, BUF_OUTPUT, BUF_ID = range(4)
BUFFER = 1024
# the run's float totals
(A_SEQS, A_MAX_BATCH, A_KERNEL_S, A_CPU_CORE_S, A_STEADY_S, A_STEADY_J, A_STEADY_TOKENS, A_STEADY_DEC_J,
 A_STEADY_DEC_TOKENS, A_RUN_S, A_T_END, A_SERVER_IDLE_SINCE, A_SERVER_IDLE_S, A_LAST_ARRIVAL_S,
 A_PROMPT_TOKENS, A_OUTPUT_TOKENS, A_ATTRIBUTED_J, A_TTFT_SLO, A_TPOT_SLO) = range(19)
A_SUM, A_MIN, A_MAX = 19, 22, 25        # + metric: sums, smallest and largest values
N_ACC = 28
# the run's integer totals
(T_SEQ, T_HANDOFFS, T_BUSY, T_STEPS, T_PREFILL_TOKENS, T_PREEMPTIONS, T_REQUESTS, T_SERVED, T_REJECTED,
 T_GOOD, T_FREE_SLOT, T_WANT_PER, T_NEED_STREAM, T_STARTED) = range(14)
T_COUNT = 14                            # + metric: values seen
N_TALLY = 17
# metrics with percentiles (rows of hist)
_TTFT, _TPOT, _LATENCY = 0, 1, 2


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
def _cost(ef, e, tokens, sampled, seqs, n_chunks, a_p, k_p, ndec, a_d, kv_s):
    """Fill instance ``e``'s step cost ``ef[e, SC_*]`` (the reference's ``step_cost``); returns its CPU phase."""
    if tokens != ef[e, MM_TOKENS] or sampled != ef[e, MM_SAMPLED]:
        mt, mf, mb = _matmul(ef, e, tokens, sampled)
        ef[e, MM_TOKENS] = tokens
        ef[e, MM_SAMPLED] = sampled
        ef[e, MM_TIME_S] = mt
        ef[e, MM_FLOP] = mf
        ef[e, MM_BYTES] = mb
    t_att = 0.0
    flop_att = 0.0
    bytes_kv = 0.0
    if n_chunks > 0:
        fp = ef[e, C_FDEC] * a_p
        bp = ef[e, C_KDEC] * k_p
        t_att += _smax(fp / (ef[e, C_TP] * ef[e, C_CC]), bp / ef[e, C_CM], ef[e, C_PW])
        flop_att += fp
        bytes_kv += bp
    if ndec > 0:
        t_att += ef[e, C_ADEC] * a_d
        flop_att += ef[e, C_FDEC] * a_d
        bytes_kv += ef[e, C_KDEC] * a_d
    bytes_act = ef[e, C_ACTTOK] * tokens
    t_gpu = ef[e, C_TFIXED] + ef[e, MM_TIME_S] + t_att + bytes_act / ef[e, C_CM]
    flop = (ef[e, MM_FLOP] + flop_att) / ef[e, C_TP]
    nbytes = ef[e, MM_BYTES] + bytes_kv + bytes_act
    power, t_gpu = _power(ef, e, t_gpu, flop, nbytes)
    comm = _comm(ef, e, tokens, sampled)
    cpu = _cpu(ef, e, seqs)
    phase = t_gpu + comm
    phase_j = power * t_gpu + ef[e, C_IDLE] * comm
    if kv_s > 0.0:
        phase += kv_s
        phase_j += ef[e, C_IDLE] * kv_s
    ef[e, SC_GPU_S] = t_gpu
    ef[e, SC_CPU_S] = cpu
    ef[e, SC_PHASE_S] = phase
    ef[e, SC_POWER_W] = power
    ef[e, SC_PHASE_J] = phase_j
    ef[e, SC_TOKENS] = tokens
    ef[e, SC_SEQS] = seqs
    return _cpu_phase(ef, e, cpu, phase)


@njit(cache=True, inline="always")
def _cpu_phase(ef, e, cpu, phase):
    """The step's CPU phase: all of its CPU time (synchronous engine) or what the GPU phase does
    not hide (overlapped engine)."""
    if ef[e, C_OVL] > 0.5:
        return cpu - phase if cpu > phase else 0.0
    return cpu


@njit(cache=True, inline="always")
def _decode_power(ef, e, gpu, flop, nbytes, uncapped):
    """GPU power of a decode step and its kernel time (the power function, short-cut without a
    power limit below the cap)."""
    if uncapped:
        x = (ef[e, C_AC] * (flop / (gpu * ef[e, C_PI])) / ef[e, C_PEC]
             + ef[e, C_AM] * (nbytes / (gpu * ef[e, C_BETA])) / ef[e, C_PEM])
        if x > 1.0:
            x = 1.0
        idle = ef[e, C_IDLE]
        return idle + (ef[e, C_CAP] - idle) * x, gpu
    return _power(ef, e, gpu, flop, nbytes)


@njit(cache=True, inline="always")
def _next_decode(ef, e, tokens, a_d, comm):
    """The cost of a decode step like the last one, one token longer (its matrix products, CPU
    time and communication are the last step's); fills ``ef[e, SC_*]`` and returns the CPU phase."""
    gpu = (ef[e, C_TFIXED] + ef[e, MM_TIME_S] + ef[e, C_ADEC] * a_d) + ef[e, C_ACTTOK] * tokens / ef[e, C_CM]
    flop = (ef[e, MM_FLOP] + ef[e, C_FDEC] * a_d) / ef[e, C_TP]
    nbytes = ef[e, MM_BYTES] + ef[e, C_KDEC] * a_d + ef[e, C_ACTTOK] * tokens
    power, gpu = _decode_power(ef, e, gpu, flop, nbytes, ef[e, C_LIM] >= ef[e, C_CAP])
    phase = gpu + comm
    ef[e, SC_GPU_S] = gpu
    ef[e, SC_PHASE_S] = phase
    ef[e, SC_POWER_W] = power
    ef[e, SC_PHASE_J] = power * gpu + ef[e, C_IDLE] * comm
    return _cpu_phase(ef, e, ef[e, SC_CPU_S], phase)


# --- lists and queues linked through the request slots ----------------------------------------------

@njit(cache=True, inline="always")
def _push(rq, link, en, head, tail, e, r):
    """Put request ``r`` at the back of instance ``e``'s list linked forward through column
    ``link`` of ``rq`` (a queue: ``RQ_LINK``), ends in columns ``head``, ``tail`` of ``en``."""
    rq[r, link] = -1
    if en[e, tail] >= 0:
        rq[en[e, tail], link] = r
    else:
        en[e, head] = r
    en[e, tail] = r


@njit(cache=True, inline="always")
def _append(rq, prev, nxt, en, head, tail, e, r):
    """Append request ``r`` to instance ``e``'s doubly linked list (running or prefilling: links
    in columns ``prev``, ``nxt`` of ``rq``, ends in columns ``head``, ``tail`` of ``en``)."""
    rq[r, prev] = en[e, tail]
    _push(rq, nxt, en, head, tail, e, r)


@njit(cache=True, inline="always")
def _unlink(rq, prev, nxt, en, head, tail, e, r):
    """Remove request ``r`` from instance ``e``'s doubly linked list (the inverse of :func:`_append`)."""
    a = rq[r, prev]
    b = rq[r, nxt]
    if a >= 0:
        rq[a, nxt] = b
    else:
        en[e, head] = b
    if b >= 0:
        rq[b, prev] = a
    else:
        en[e, tail] = a


@njit(cache=True, inline="always")
def _push_front(rq, en, head, tail, e, r):
    rq[r, RQ_LINK] = en[e, head]
    en[e, head] = r
    if en[e, tail] < 0:
        en[e, tail] = r


@njit(cache=True, inline="always")
def _pop(rq, en, head, tail, e):
    r = en[e, head]
    en[e, head] = rq[r, RQ_LINK]
    if en[e, head] < 0:
        en[e, tail] = -1
    return r


@njit(cache=True)
def _heap_push(sg, rq, base, size, key, r):
    """Add request ``r`` with finish counter ``key`` to the min-heap in ``sg[base:, SG_HKEY/SG_HID]``."""
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if sg[base + parent, SG_HKEY] <= key:
            break
        sg[base + i, SG_HKEY] = sg[base + parent, SG_HKEY]
        sg[base + i, SG_HID] = sg[base + parent, SG_HID]
        rq[sg[base + i, SG_HID], RQ_HEAP_POS] = i
        i = parent
    sg[base + i, SG_HKEY] = key
    sg[base + i, SG_HID] = r
    rq[r, RQ_HEAP_POS] = i
    return size + 1


@njit(cache=True)
def _heap_remove(sg, rq, base, size, i):
    """Remove the heap entry at position ``i``; returns the new size."""
    size -= 1
    if i == size:
        return size
    key = sg[base + size, SG_HKEY]
    r = sg[base + size, SG_HID]
    while i > 0:   # sift up
        parent = (i - 1) // 2
        if sg[base + parent, SG_HKEY] <= key:
            break
        sg[base + i, SG_HKEY] = sg[base + parent, SG_HKEY]
        sg[base + i, SG_HID] = sg[base + parent, SG_HID]
        rq[sg[base + i, SG_HID], RQ_HEAP_POS] = i
        i = parent
    while True:    # sift down
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and sg[base + child + 1, SG_HKEY] < sg[base + child, SG_HKEY]:
            child += 1
        if sg[base + child, SG_HKEY] >= key:
            break
        sg[base + i, SG_HKEY] = sg[base + child, SG_HKEY]
        sg[base + i, SG_HID] = sg[base + child, SG_HID]
        rq[sg[base + i, SG_HID], RQ_HEAP_POS] = i
        i = child
    sg[base + i, SG_HKEY] = key
    sg[base + i, SG_HID] = r
    rq[r, RQ_HEAP_POS] = i
    return size


# --- request slots ------------------------------------------------------------------------------------

@njit(cache=True)
def _slots(capacity, first):
    """Request slots ``first`` ... ``capacity - 1`` free, chained through ``RQ_LINK``."""
    rq = np.zeros((capacity, N_RQ), np.int64)
    rf = np.zeros((capacity, N_RF))
    for r in range(first, capacity):
        rq[r, RQ_LINK] = r + 1 if r + 1 < capacity else -1
        rq[r, RQ_STATE] = _FREE
    return rq, rf


@njit(cache=True)
def _grown(rq, rf, tally):
    """Twice the slots (called when every slot is taken); the requests keep theirs."""
    n = rq.shape[0]
    rq2, rf2 = _slots(2 * n, n)
    rq2[:n] = rq
    rf2[:n] = rf
    tally[T_FREE_SLOT] = n
    return rq2, rf2


@njit(cache=True, inline="always")
def _release(rq, tally, r):
    """Slot ``r`` is free again."""
    rq[r, RQ_LINK] = tally[T_FREE_SLOT]
    tally[T_FREE_SLOT] = r


# --- request streams ------------------------------------------------------------------------------

@njit(cache=True)
def _draw_length(rng, spec, row, s):
    """One token length (``workload.draw_tokens``: draw, round, clip)."""
    dist = spec[row, s]
    a = spec[row + 1, s]
    if dist == 0.0:
        x = a
    elif dist == 1.0:
        x = rng.exponential(a)
    elif dist == 2.0:
        x = a * (1.0 + rng.pareto(spec[row + 2, s]))
    else:
        x = rng.lognormal(a, spec[row + 2, s])
    x = np.rint(x)
    if x < spec[row + 3, s]:
        x = spec[row + 3, s]
    if spec[row + 4, s] > 0.0 and x > spec[row + 4, s]:
        x = spec[row + 4, s]
    return int(x)


@njit(cache=True, inline="always")
def _take_given(spec, ss, arrival, lengths, s, rq, rf, r):
    """Put arrays stream ``s``'s next request into slot ``r``; False when the stream has no more."""
    j = int(ss[s, SS_DRAWN])
    i = int(spec[_SSTART, s]) + j
    if i >= spec[_SSTOP, s]:
        return False
    rq[r, RQ_ID] = i
    rf[r, RF_ARRIVAL_S] = arrival[i]
    rq[r, RQ_PROMPT] = lengths[i, 0]
    rq[r, RQ_OUTPUT] = lengths[i, 1]
    ss[s, SS_DRAWN] = j + 1
    return True


@njit(cache=True)
def _fill_drawn(spec, ss, sbuf, rngs, s):
    """Draw drawn stream ``s``'s next requests (up to the buffer's ``BUFFER`` rows) into its buffer.

    Arrivals and lengths as ``workload.draw_requests``: the first arrival at 0, then unit-rate
    exponential gaps divided by the rate and summed in order (by blocks of ``block`` gaps when the
    stream runs for a duration, as ``poisson_arrivals_s``), each length drawn, rounded and clipped
    as ``workload.draw_tokens``; each of the three from its own generator, so drawing in buffers
    draws what one call for every request would."""
    kind = spec[_SK, s]
    limit = spec[_SREQ, s]
    n = 0
    while n < sbuf.shape[1]:
        j = int(ss[s, SS_DRAWN])
        if limit >= 0.0 and j >= limit:
            ss[s, SS_DRAWN_ALL] = 1.0
            break
        if kind == _BURST or j == 0:
            t = 0.0
        elif limit >= 0.0:
            t = ss[s, SS_T_LAST] + rngs[3 * s].exponential(1.0) / spec[_SQPS, s]
        else:   # arrivals within a window, drawn by blocks
            if ss[s, SS_LEFT] == 0.0:
                ss[s, SS_BASE] = ss[s, SS_T_LAST]
                ss[s, SS_CSUM] = 0.0
                ss[s, SS_LEFT] = spec[_SBLOCK, s]
            ss[s, SS_CSUM] += rngs[3 * s].exponential(1.0) / spec[_SQPS, s]
            ss[s, SS_LEFT] -= 1.0
            t = ss[s, SS_BASE] + ss[s, SS_CSUM]
            if t >= spec[_SDUR, s]:
                ss[s, SS_DRAWN_ALL] = 1.0
                break
        ss[s, SS_T_LAST] = t
        ss[s, SS_DRAWN] = j + 1
        sbuf[s, n, BUF_T] = t
        sbuf[s, n, BUF_PROMPT] = _draw_length(rngs[3 * s + 1], spec, _SPROMPT, s)
        sbuf[s, n, BUF_OUTPUT] = _draw_length(rngs[3 * s + 2], spec, _SOUTPUT, s)
        sbuf[s, n, BUF_ID] = spec[_SID, s] + j
        n += 1
    ss[s, SS_POS] = 0.0
    ss[s, SS_LEN] = n


@njit(cache=True, inline="always")
def _take_drawn(ss, sbuf, s, rq, rf, r):
    """Put drawn stream ``s``'s next buffered request into slot ``r``."""
    i = int(ss[s, SS_POS])
    rf[r, RF_ARRIVAL_S] = sbuf[s, i, BUF_T]
    rq[r, RQ_PROMPT] = int(sbuf[s, i, BUF_PROMPT])
    rq[r, RQ_OUTPUT] = int(sbuf[s, i, BUF_OUTPUT])
    rq[r, RQ_ID] = int(sbuf[s, i, BUF_ID])
    ss[s, SS_POS] = i + 1


@njit(cache=True, _nrt=False)
def _refill(rq, rf, en, ef, spec, ss, sbuf, arrival, lengths, acc, tally, e):
    """Take from instance ``e``'s stream until ``e`` knows its next arrival (``EF_NEXT_T``;
    round robin may give the other instances of the stream theirs first). False when a request
    needs a slot and none is free, or a drawn stream's buffer is empty (``T_NEED_STREAM``): the
    caller grows the slots or fills the buffer and calls again."""
    s = en[e, EN_SRC]
    while s >= 0 and en[e, EN_FUT_HEAD] < 0 and ss[s, SS_DONE] == 0.0:
        r = tally[T_FREE_SLOT]
        if r < 0:
            return False
        if spec[_SK, s] == _ARRAYS:
            more = _take_given(spec, ss, arrival, lengths, s, rq, rf, r)
        elif ss[s, SS_POS] < ss[s, SS_LEN]:
            _take_drawn(ss, sbuf, s, rq, rf, r)
            more = True
        elif ss[s, SS_DRAWN_ALL] == 0.0:
            tally[T_NEED_STREAM] = s
            return False
        else:
            more = False
        if not more:
            ss[s, SS_DONE] = 1.0
            break
        tally[T_FREE_SLOT] = rq[r, RQ_LINK]
        rq[r, RQ_STATE] = _FUTURE
        rq[r, RQ_COMPUTED] = 0
        rq[r, RQ_GENERATED] = 0
        rq[r, RQ_PREEMPTED] = 0
        rf[r, RF_FIRST_S] = np.nan
        rf[r, RF_ENERGY_J] = 0.0
        tally[T_REQUESTS] += 1
        if rf[r, RF_ARRIVAL_S] > acc[A_LAST_ARRIVAL_S]:
            acc[A_LAST_ARRIVAL_S] = rf[r, RF_ARRIVAL_S]
        q = int(spec[_SFIRST, s]) + int(ss[s, SS_TURN]) % int(spec[_SCOUNT, s])
        ss[s, SS_TURN] += 1.0
        if en[q, EN_FUT_HEAD] < 0:
            ef[q, EF_NEXT_T] = rf[r, RF_ARRIVAL_S]
        _push(rq, RQ_LINK, en, EN_FUT_HEAD, EN_FUT_TAIL, q, r)
    if en[e, EN_FUT_HEAD] < 0:
        ef[e, EF_NEXT_T] = _INF
    return True


# --- events ---------------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _schedule(en, ef, tally, e, t):
    """Instance ``e``'s next event at ``t`` (ties: first scheduled, first served)."""
    tally[T_SEQ] += 1
    en[e, EN_SEQ] = tally[T_SEQ]
    ef[e, EF_T] = t


@njit(cache=True, inline="always")
def _next_event(en, ef, members, lo, hi):
    """The instance (of ``members[lo:hi]``; every instance if ``lo`` is -1) with the earliest event,
    ties to the first scheduled; -1 if none."""
    e = -1
    best_t = _INF
    best_s = 0
    for m in range(max(lo, 0), hi):
        j = members[m] if lo >= 0 else m
        tj = ef[j, EF_T]
        if tj < best_t or (tj == best_t and e >= 0 and en[j, EN_SEQ] < best_s):
            e = j
            best_t = tj
            best_s = en[j, EN_SEQ]
    return e


@njit(cache=True, inline="always")
def _queue_gpu_phase(en, ef, gr, tally, e, t):
    """The step's CPU phase ended: its kernels queue behind those already queued on the group's
    GPUs (first come, first served)."""
    g = en[e, EN_GROUP]
    start = t if t > gr[g, GR_FREE_S] else gr[g, GR_FREE_S]
    end = start + ef[e, SC_PHASE_S]
    gr[g, GR_FREE_S] = end
    en[e, EN_STATE] = _GPU_PHASE
    _schedule(en, ef, tally, e, end)


@njit(cache=True, inline="always")
def _never_fits(en, ef, e, longest):
    """A request of ``longest`` tokens (prompt + output) could never run on instance ``e``."""
    return (longest > ef[e, I_MAX_LEN] or _ceil_div(longest - 1, en[e, EN_BS]) > ef[e, I_KV_BLOCKS]
            or (ef[e, I_CHUNKED] < 0.5 and longest - 1 > ef[e, I_BUDGET]))


@njit(cache=True, inline="always")
def _arrivals(rq, rf, en, ef, spec, ss, sbuf, arrival, lengths, acc, tally, per, decoders, e, t):
    """Requests arriving at instance ``e`` by ``t`` join its waiting queue, or are rejected if
    they could never run (a prefill instance also refuses what no decode instance could hold).
    False if a request needs a slot or a buffer fill (see :func:`_refill`; call again after)."""
    while True:
        if not _refill(rq, rf, en, ef, spec, ss, sbuf, arrival, lengths, acc, tally, e):
            return False
        if ef[e, EF_NEXT_T] > t:
            return True
        r = _pop(rq, en, EN_FUT_HEAD, EN_FUT_TAIL, e)
        ef[e, EF_NEXT_T] = rf[en[e, EN_FUT_HEAD], RF_ARRIVAL_S] if en[e, EN_FUT_HEAD] >= 0 else _INF
        longest = rq[r, RQ_PROMPT] + rq[r, RQ_OUTPUT]
        never = _never_fits(en, ef, e, longest)
        if not never and en[e, EN_ROLE] == _PREFILL_ROLE:
            for d in decoders:
                if _never_fits(en, ef, d, longest):
                    never = True
                    break
        if never:
            _reject(rq, tally, per, r)
        else:
            rq[r, RQ_STATE] = _WAITING
            _push(rq, RQ_LINK, en, EN_WQ_HEAD, EN_WQ_TAIL, e, r)
            en[e, EN_WQ_LEN] += 1


@njit(cache=True, inline="always")
def _mark_busy(en, gr, acc, tally, e, t):
    """Instance ``e`` has work again: its group's and the server's idle time stop."""
    if en[e, EN_EMPTY] == 1 and (en[e, EN_WQ_LEN] > 0 or en[e, EN_RUN_N] > 0):
        g = en[e, EN_GROUP]
        en[e, EN_EMPTY] = 0
        if gr[g, GR_BUSY] == 0.0:
            gr[g, GR_IDLE_S] += t - gr[g, GR_IDLE_SINCE]
        gr[g, GR_BUSY] += 1.0
        if tally[T_BUSY] == 0:
            acc[A_SERVER_IDLE_S] += t - acc[A_SERVER_IDLE_SINCE]
        tally[T_BUSY] += 1


@njit(cache=True, inline="always")
def _go_idle(en, ef, gr, acc, tally, e, t):
    """Nothing to run: instance ``e`` sleeps until its next arrival (or a hand-off wakes it)."""
    en[e, EN_STATE] = _EMPTY
    if en[e, EN_EMPTY] == 0:
        g = en[e, EN_GROUP]
        en[e, EN_EMPTY] = 1
        gr[g, GR_BUSY] -= 1.0
        if gr[g, GR_BUSY] == 0.0:
            gr[g, GR_IDLE_SINCE] = t
        tally[T_BUSY] -= 1
        if tally[T_BUSY] == 0:
            acc[A_SERVER_IDLE_SINCE] = t
    _schedule(en, ef, tally, e, ef[e, EF_NEXT_T])


# --- request life: decoding, preemption, hand-off, finish ------------------------------------------

@njit(cache=True, inline="always")
def _start_decoding(rq, rf, en, ef, sg, e, r):
    """Request ``r`` (prefilled) joins instance ``e``'s decodes: record the counter, cache, tokens
    and energy sum it starts from, its block bucket, and its finish in the heap."""
    rq[r, RQ_STATE] = _DECODE
    rq[r, RQ_D0] = en[e, EN_DCOUNT]
    rq[r, RQ_C0] = rq[r, RQ_COMPUTED]
    rq[r, RQ_G0] = rq[r, RQ_GENERATED]
    rf[r, RF_PHI0] = ef[e, EF_PHI]
    en[e, EN_BUCKETS + (rq[r, RQ_C0] - rq[r, RQ_D0]) % en[e, EN_BS]] += 1
    en[e, EN_N_DEC] += 1
    en[e, EN_SUM_C] += rq[r, RQ_C0]
    en[e, EN_HSIZE] = _heap_push(sg, rq, en[e, EN_SEG], en[e, EN_HSIZE], rq[r, RQ_D0] + rq[r, RQ_OUTPUT] - rq[r, RQ_G0],
                                 r)


@njit(cache=True, inline="always")
def _stop_decoding(rq, rf, en, ef, sg, e, r):
    """Request ``r`` leaves instance ``e``'s decodes (finished or preempted): bring its tokens,
    cache and energy up to the decode counter, take it out of the buckets and the heap."""
    steps_done = en[e, EN_DCOUNT] - rq[r, RQ_D0]
    cur = rq[r, RQ_C0] + steps_done
    rq[r, RQ_GENERATED] = rq[r, RQ_G0] + steps_done
    rq[r, RQ_COMPUTED] = cur
    rf[r, RF_ENERGY_J] += ef[e, EF_PHI] - rf[r, RF_PHI0]
    en[e, EN_N_DEC] -= 1
    en[e, EN_SUM_C] -= cur
    en[e, EN_BUCKETS + (rq[r, RQ_C0] - rq[r, RQ_D0]) % en[e, EN_BS]] -= 1
    en[e, EN_HSIZE] = _heap_remove(sg, rq, en[e, EN_SEG], en[e, EN_HSIZE], rq[r, RQ_HEAP_POS])


@njit(cache=True, inline="always")
def _leave_running(rq, en, e, r):
    """Request ``r`` gives back its KV blocks and leaves instance ``e``'s running list."""
    en[e, EN_FREE] += _ceil_div(rq[r, RQ_COMPUTED], en[e, EN_BS])
    _unlink(rq, RQ_RUN_PREV, RQ_RUN_NEXT, en, EN_RUN_HEAD, EN_RUN_TAIL, e, r)
    en[e, EN_RUN_N] -= 1


@njit(cache=True, _nrt=False)
def _preempt(rq, rf, en, ef, sg, tally, e, v):
    """Preempt running request ``v`` of instance ``e`` (vLLM's recompute mode): free its blocks,
    forget its cache, and put it back at the front of the waiting queue."""
    tally[T_PREEMPTIONS] += 1
    rq[v, RQ_PREEMPTED] += 1
    if rq[v, RQ_STATE] == _DECODE:
        _stop_decoding(rq, rf, en, ef, sg, e, v)
    else:
        _unlink(rq, RQ_PF_PREV, RQ_PF_NEXT, en, EN_PF_HEAD, EN_PF_TAIL, e, v)
    _leave_running(rq, en, e, v)
    rq[v, RQ_COMPUTED] = 0
    _push_front(rq, en, EN_WQ_HEAD, EN_WQ_TAIL, e, v)
    en[e, EN_WQ_LEN] += 1
    rq[v, RQ_STATE] = _WAITING


@njit(cache=True, _nrt=False)
def _hand_off(rq, en, ef, tally, decoders, e, r, t):
    """Request ``r``'s prefill ended on prefill instance ``e``: its KV cache leaves ``e`` for the
    next decode instance (round robin), which is woken if it sleeps."""
    _leave_running(rq, en, e, r)
    rq[r, RQ_STATE] = _WAITING
    d = decoders[tally[T_HANDOFFS] % decoders.shape[0]]
    tally[T_HANDOFFS] += 1
    _push(rq, RQ_LINK, en, EN_WQ_HEAD, EN_WQ_TAIL, d, r)
    en[d, EN_WQ_LEN] += 1
    if en[d, EN_STATE] == _EMPTY and ef[d, EF_T] > t:
        _schedule(en, ef, tally, d, t)


@njit(cache=True, inline="always")
def _observe(acc, tally, hist, m, x):
    """One value of metric ``m`` into its histogram, sum, count and extremes."""
    acc[A_SUM + m] += x
    if tally[T_COUNT + m] == 0 or x < acc[A_MIN + m]:
        acc[A_MIN + m] = x
    if tally[T_COUNT + m] == 0 or x > acc[A_MAX + m]:
        acc[A_MAX + m] = x
    tally[T_COUNT + m] += 1
    hist[m, bin_index(x)] += 1


@njit(cache=True, _nrt=False)
def _finish(rq, rf, en, acc, tally, hist, per, e, r, t):
    """Request ``r`` generated its last token at ``t``: it leaves instance ``e``, its TTFT, TPOT
    and latency go into the statistics (and its row of per-request results, if asked), and its
    slot is free again."""
    _leave_running(rq, en, e, r)
    tt = rf[r, RF_FIRST_S] - rf[r, RF_ARRIVAL_S]
    n_out = rq[r, RQ_OUTPUT]
    tp_r = (t - rf[r, RF_FIRST_S]) / (n_out - 1) if n_out > 1 else 0.0
    la = t - rf[r, RF_ARRIVAL_S]
    _observe(acc, tally, hist, _TTFT, tt)
    _observe(acc, tally, hist, _LATENCY, la)
    if n_out > 1:
        _observe(acc, tally, hist, _TPOT, tp_r)
    ttft_slo = acc[A_TTFT_SLO]
    tpot_slo = acc[A_TPOT_SLO]
    if (ttft_slo <= 0.0 or tt <= ttft_slo) and (tpot_slo <= 0.0 or tp_r <= tpot_slo):
        tally[T_GOOD] += 1
    tally[T_SERVED] += 1
    acc[A_PROMPT_TOKENS] += rq[r, RQ_PROMPT]
    acc[A_OUTPUT_TOKENS] += n_out
    acc[A_ATTRIBUTED_J] += rf[r, RF_ENERGY_J]
    if tally[T_WANT_PER] == 1:
        i = rq[r, RQ_ID]
        per[_R_TTFT_S, i] = tt
        per[_R_TPOT_S, i] = tp_r
        per[_R_LATENCY_S, i] = la
        per[_R_FINISH_S, i] = t
        per[_R_GPU_ENERGY_J, i] = rf[r, RF_ENERGY_J]
        per[_R_PREEMPTIONS, i] = rq[r, RQ_PREEMPTED]
        per[_R_SERVED, i] = 1.0
    rq[r, RQ_STATE] = _DONE
    _release(rq, tally, r)


@njit(cache=True, _nrt=False)
def _reject(rq, tally, per, r):
    """Request ``r`` could never run: counted, and its slot freed (its per-request row keeps
    its NaNs)."""
    tally[T_REJECTED] += 1
    rq[r, RQ_STATE] = _REJECTED
    _release(rq, tally, r)


# --- the step ends ----------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _charge_step(en, ef, gr, acc, tally, e):
    """Count the step that ends: its GPU phase on the group's GPUs, its batch, kernel and CPU
    time. Returns the GPU-phase energy per token of the instance's GPUs."""
    g = en[e, EN_GROUP]
    tp = ef[e, C_TP]
    gr[g, GR_PHASE_S] += ef[e, SC_PHASE_S]
    gr[g, GR_PHASE_J] += ef[e, SC_PHASE_J]
    tally[T_STEPS] += 1
    acc[A_SEQS] += ef[e, SC_SEQS]
    if ef[e, SC_SEQS] > acc[A_MAX_BATCH]:
        acc[A_MAX_BATCH] = ef[e, SC_SEQS]
    acc[A_KERNEL_S] += tp * ef[e, SC_GPU_S]
    acc[A_CPU_CORE_S] += tp * ef[e, SC_CPU_S]
    return tp * ef[e, SC_PHASE_J] / ef[e, SC_TOKENS]


@njit(cache=True, inline="always")
def _advance_decodes(en, ef, e, share):
    """Every decode of the step gained a token and its share of the step's energy."""
    ef[e, EF_PHI] += share
    en[e, EN_SUM_C] += en[e, EN_ST_DEC]
    en[e, EN_DCOUNT] += 1


@njit(cache=True, inline="always")
def _decodes_done(rq, rf, en, ef, sg, acc, tally, hist, per, e, t, share):
    """The step's decodes advance one token; those reaching their last token finish (the heap's
    entries keyed by this decode counter). Returns the tokens they sampled."""
    if en[e, EN_ST_DEC] == 0:
        return 0
    _advance_decodes(en, ef, e, share)
    base = en[e, EN_SEG]
    while en[e, EN_HSIZE] > 0 and sg[base, SG_HKEY] == en[e, EN_DCOUNT]:
        r = sg[base, SG_HID]
        _stop_decoding(rq, rf, en, ef, sg, e, r)
        _finish(rq, rf, en, acc, tally, hist, per, e, r, t)
    return en[e, EN_ST_DEC]


@njit(cache=True, inline="always")
def _chunks_done(rq, rf, en, ef, sg, acc, tally, hist, per, decoders, e, t, share):
    """The step's prefill chunks are computed; a request whose prompt is now cached samples a
    token (its first: TTFT) and finishes, is handed on (prefill instance) or starts decoding.
    Returns the tokens sampled."""
    sampled = 0
    seg = en[e, EN_SEG]
    for i in range(en[e, EN_ST_LEN]):
        r = sg[seg + i, SG_R]
        nt = sg[seg + i, SG_N]
        rf[r, RF_ENERGY_J] += share * nt
        tally[T_PREFILL_TOKENS] += nt
        rq[r, RQ_COMPUTED] = sg[seg + i, SG_C] + nt
        if rq[r, RQ_COMPUTED] == rq[r, RQ_PROMPT] + rq[r, RQ_GENERATED]:
            rq[r, RQ_GENERATED] += 1
            sampled += 1
            if math.isnan(rf[r, RF_FIRST_S]):
                rf[r, RF_FIRST_S] = t
            _unlink(rq, RQ_PF_PREV, RQ_PF_NEXT, en, EN_PF_HEAD, EN_PF_TAIL, e, r)   # prefilled
            if rq[r, RQ_GENERATED] == rq[r, RQ_OUTPUT]:
                _finish(rq, rf, en, acc, tally, hist, per, e, r, t)
            elif en[e, EN_ROLE] == _PREFILL_ROLE:
                _hand_off(rq, en, ef, tally, decoders, e, r, t)
            else:
                _start_decoding(rq, rf, en, ef, sg, e, r)
    return sampled


@njit(cache=True, inline="always")
def _close_step(en, ef, acc, e, t, sampled):
    """The step's wall time: requests in the system over it (concurrency) and, if requests were
    waiting when it was formed (the engine at its limit), its time, energy and tokens as steady
    state."""
    wall = t - ef[e, EF_FORMED]
    acc[A_RUN_S] += ef[e, EF_IN_SYSTEM] * wall
    if en[e, EN_ST_SAT] == 1:
        gpu = ef[e, SC_GPU_S]
        step_j = ef[e, C_TP] * (ef[e, SC_POWER_W] * gpu + ef[e, C_IDLE] * (wall - gpu))
        acc[A_STEADY_S] += wall
        acc[A_STEADY_J] += step_j
        acc[A_STEADY_TOKENS] += sampled
        if en[e, EN_ROLE] == _DECODER:
            acc[A_STEADY_DEC_J] += step_j
            acc[A_STEADY_DEC_TOKENS] += sampled
    if t > acc[A_T_END]:
        acc[A_T_END] = t


# --- forming a step ----------------------------------------------------------------------------------

@njit(cache=True, inline="always")
def _admit_transferred(rq, rf, en, ef, sg, e):
    """Decode instance ``e`` admits the queue's transferred requests (KV cached on a prefill
    instance) in order, straight into decoding, while sequences and blocks allow. Returns the
    time the step first spends receiving their KV caches."""
    kv_s = 0.0
    max_seqs = int(ef[e, I_MAX_SEQS])
    while en[e, EN_WQ_LEN] > 0 and en[e, EN_RUN_N] < max_seqs:
        r = en[e, EN_WQ_HEAD]
        if rq[r, RQ_COMPUTED] <= 0:
            break
        need = _ceil_div(rq[r, RQ_COMPUTED], en[e, EN_BS])
        if en[e, EN_FREE] - need < (ef[e, I_WATERMARK] if en[e, EN_RUN_N] > 0 else 0.0):
            break
        _pop(rq, en, EN_WQ_HEAD, EN_WQ_TAIL, e)
        en[e, EN_WQ_LEN] -= 1
        en[e, EN_FREE] -= need
        _append(rq, RQ_RUN_PREV, RQ_RUN_NEXT, en, EN_RUN_HEAD, EN_RUN_TAIL, e, r)
        en[e, EN_RUN_N] += 1
        _start_decoding(rq, rf, en, ef, sg, e, r)
        kv_s += ef[e, I_KV_ALPHA_S] + rq[r, RQ_COMPUTED] * ef[e, C_KDEC] / (ef[e, I_KV_LINK_GB_S] * _GB)
    return kv_s


@njit(cache=True, inline="always")
def _add_chunk(en, sg, e, slot, r, nt, c):
    """Chunk ``slot`` of instance ``e``'s step: ``nt`` tokens of request ``r``, ``c`` already cached."""
    i = en[e, EN_SEG] + slot
    sg[i, SG_R] = r
    sg[i, SG_N] = nt
    sg[i, SG_C] = c


@njit(cache=True, inline="always")
def _admit(rq, en, sg, e, r, nt, need, slot):
    """Admit request ``r``, the head of instance ``e``'s waiting queue: take its ``need`` KV
    blocks, add it to the running and prefilling lists, and make its first ``nt`` prompt tokens
    the step's chunk ``slot``."""
    _pop(rq, en, EN_WQ_HEAD, EN_WQ_TAIL, e)
    en[e, EN_WQ_LEN] -= 1
    en[e, EN_FREE] -= need
    _append(rq, RQ_RUN_PREV, RQ_RUN_NEXT, en, EN_RUN_HEAD, EN_RUN_TAIL, e, r)
    en[e, EN_RUN_N] += 1
    _append(rq, RQ_PF_PREV, RQ_PF_NEXT, en, EN_PF_HEAD, EN_PF_TAIL, e, r)
    rq[r, RQ_STATE] = _PREFILL
    _add_chunk(en, sg, e, slot, r, nt, 0)


@njit(cache=True, inline="always")
def _admit_whole_prompts(rq, en, ef, sg, e):
    """Without chunked prefill: admit waiting requests (preempted ones first) whole, in order,
    within the token budget, ``max_num_seqs`` and the free blocks (less the watermark unless
    nothing runs). Returns the chunks and tokens."""
    n_chunks = 0
    tokens = 0
    budget = int(ef[e, I_BUDGET])
    max_seqs = int(ef[e, I_MAX_SEQS])
    while en[e, EN_WQ_LEN] > 0:
        r = en[e, EN_WQ_HEAD]
        if rq[r, RQ_COMPUTED] > 0:   # transferred: admitted first thing next step
            break
        nt = rq[r, RQ_PROMPT] + rq[r, RQ_GENERATED]
        need = _ceil_div(nt, en[e, EN_BS])
        lim = ef[e, I_WATERMARK] if en[e, EN_RUN_N] > 0 else 0.0
        if tokens + nt > budget or en[e, EN_RUN_N] >= max_seqs or en[e, EN_FREE] - need < lim:
            break
        _admit(rq, en, sg, e, r, nt, need, n_chunks)
        n_chunks += 1
        tokens += nt
    return n_chunks, tokens


@njit(cache=True, inline="always")
def _secure_decode_blocks(rq, rf, en, ef, sg, tally, e):
    """A decode step (or the decodes of a chunked step): preempt the latest-admitted running
    request until the decodes' new blocks (one bucket's count) fit, and take them."""
    while en[e, EN_RUN_N] > 0:
        need = en[e, EN_BUCKETS + (-en[e, EN_DCOUNT]) % en[e, EN_BS]] if en[e, EN_N_DEC] > 0 else 0
        if en[e, EN_FREE] >= need:
            en[e, EN_FREE] -= need
            return
        _preempt(rq, rf, en, ef, sg, tally, e, en[e, EN_RUN_TAIL])


@njit(cache=True, inline="always")
def _continue_prefills(rq, rf, en, ef, sg, tally, e, budget):
    """Chunked prefill: the running prefills, in admission order, each given what is left of its
    prompt within the budget; when its blocks do not fit, later prefilling requests are
    preempted. Returns the chunks, tokens and budget left."""
    bs = en[e, EN_BS]
    n_chunks = 0
    tokens = 0
    r = en[e, EN_PF_HEAD]
    while r >= 0 and budget > 0:
        c = rq[r, RQ_COMPUTED]
        nt = rq[r, RQ_PROMPT] + rq[r, RQ_GENERATED] - c
        if nt > budget:
            nt = budget
        need = _ceil_div(c + nt, bs) - _ceil_div(c, bs)
        while en[e, EN_FREE] < need:
            v = en[e, EN_RUN_TAIL]
            if v == r or rq[v, RQ_STATE] == _DECODE:
                break
            _preempt(rq, rf, en, ef, sg, tally, e, v)   # a later prefilling request
        if en[e, EN_FREE] < need:
            break
        en[e, EN_FREE] -= need
        _add_chunk(en, sg, e, n_chunks, r, nt, c)
        n_chunks += 1
        tokens += nt
        budget -= nt
        r = rq[r, RQ_PF_NEXT]
    return n_chunks, tokens, budget


@njit(cache=True, inline="always")
def _admit_chunks(rq, en, ef, sg, e, budget, n_chunks):
    """Chunked prefill: newly admitted requests, each given ``min(prompt, budget left)`` tokens,
    within ``max_num_seqs`` and the free blocks. Returns the chunks and tokens."""
    max_seqs = int(ef[e, I_MAX_SEQS])
    tokens = 0
    while en[e, EN_WQ_LEN] > 0 and budget > 0 and en[e, EN_RUN_N] < max_seqs:
        r = en[e, EN_WQ_HEAD]
        if rq[r, RQ_COMPUTED] > 0:   # transferred: admitted first thing next step
            break
        nt = rq[r, RQ_PROMPT] + rq[r, RQ_GENERATED]
        if nt > budget:
            nt = budget
        need = _ceil_div(nt, en[e, EN_BS])
        lim = ef[e, I_WATERMARK] if en[e, EN_RUN_N] > 0 else 0.0
        if en[e, EN_FREE] - need < lim:
            break
        _admit(rq, en, sg, e, r, nt, need, n_chunks)
        n_chunks += 1
        tokens += nt
        budget -= nt
    return n_chunks, tokens


@njit(cache=True, inline="always")
def _price_step(rq, en, ef, sg, e, t, n_chunks, tokens, ndec, kv_s, disagg):
    """The step's cost (:func:`_cost`) from its chunks' attention sums and its decodes' context
    sum; records the step (chunks, decodes, when formed, whether requests wait, requests in the
    system). Returns its CPU phase."""
    sampled = float(ndec)
    a_p = 0.0
    k_p = 0.0
    seg = en[e, EN_SEG]
    for i in range(n_chunks):
        r = sg[seg + i, SG_R]
        nt = float(sg[seg + i, SG_N])
        c = float(sg[seg + i, SG_C])
        a_p += nt * (c + 0.5 * (nt + 1.0))
        k_p += c + nt
        if sg[seg + i, SG_C] + sg[seg + i, SG_N] == rq[r, RQ_PROMPT] + rq[r, RQ_GENERATED]:
            sampled += 1.0
    cpu_phase = _cost(ef, e, float(tokens), sampled, float(n_chunks + ndec), n_chunks, a_p, k_p, ndec,
                      float(en[e, EN_SUM_C] + ndec), kv_s)
    en[e, EN_ST_LEN] = n_chunks
    en[e, EN_ST_DEC] = ndec
    ef[e, EF_FORMED] = t
    waiting = en[e, EN_WQ_LEN]
    if disagg:   # the system at its limit: requests wait for any of its engines
        waiting = 0
        for j in range(en.shape[0]):
            waiting += en[j, EN_WQ_LEN]
    en[e, EN_ST_SAT] = 1 if waiting > 0 else 0
    ef[e, EF_IN_SYSTEM] = float(en[e, EN_RUN_N] + en[e, EN_WQ_LEN])
    return cpu_phase


@njit(cache=True, inline="always")
def _form_step(rq, rf, en, ef, sg, gr, acc, tally, e, t, disagg):
    """Instance ``e`` forms its next step at ``t`` (its arrivals already queued): who runs, by
    vLLM's rules, and at what cost; or it sleeps if nothing can run. Returns the step's CPU
    phase, its chunks and decodes (-1 chunks: asleep)."""
    _mark_busy(en, gr, acc, tally, e, t)
    kv_s = _admit_transferred(rq, rf, en, ef, sg, e) if en[e, EN_ROLE] == _DECODER else 0.0
    chunked = ef[e, I_CHUNKED] >= 0.5
    n_chunks = 0
    tokens = 0
    ndec = 0
    if not chunked:   # whole prompts first (a prefill step), else a decode step
        n_chunks, tokens = _admit_whole_prompts(rq, en, ef, sg, e)
    if chunked or n_chunks == 0:
        _secure_decode_blocks(rq, rf, en, ef, sg, tally, e)
        ndec = en[e, EN_N_DEC]
        tokens = ndec
    if chunked:       # decode-first, then running prefills, then new prompts, within the budget
        n_chunks, more, budget = _continue_prefills(rq, rf, en, ef, sg, tally, e, int(ef[e, I_BUDGET]) - ndec)
        tokens += more
        n_chunks, more = _admit_chunks(rq, en, ef, sg, e, budget, n_chunks)
        tokens += more
    if n_chunks == 0 and ndec == 0:
        _go_idle(en, ef, gr, acc, tally, e, t)
        return 0.0, -1, 0
    return _price_step(rq, en, ef, sg, e, t, n_chunks, tokens, ndec, kv_s, disagg), n_chunks, ndec


@njit(cache=True, inline="always")
def _replay_solo_decodes(en, ef, sg, gr, acc, tally, e, t, cpu_phase, disagg):
    """Replay identical decode steps of instance ``e``, alone on its GPUs and decoding only,
    while nothing arrives, finishes or is preempted (every rule of the general path would choose
    the same step again): the same decodes, one token longer each step. Returns the time and CPU
    phase of the step left in flight (formed at that time)."""
    g = en[e, EN_GROUP]
    bs = en[e, EN_BS]
    ndec = en[e, EN_ST_DEC]
    tokens_f = float(ndec)
    tp = ef[e, C_TP]
    idle = ef[e, C_IDLE]
    uncapped = ef[e, C_LIM] >= ef[e, C_CAP]
    c_t = ef[e, C_TFIXED] + ef[e, MM_TIME_S]             # the step's time is (c_t + a*A) + c_a
    c_a = ef[e, C_ACTTOK] * tokens_f / ef[e, C_CM]
    c_b = ef[e, C_ACTTOK] * tokens_f
    gpu, cpu, phase, power, phase_j = (ef[e, SC_GPU_S], ef[e, SC_CPU_S], ef[e, SC_PHASE_S], ef[e, SC_POWER_W],
                                       ef[e, SC_PHASE_J])
    comm = _comm(ef, e, tokens_f, tokens_f)
    dc = en[e, EN_DCOUNT]
    sc = en[e, EN_SUM_C]
    fr = en[e, EN_FREE]
    ph = ef[e, EF_PHI]
    top = sg[en[e, EN_SEG], SG_HKEY] if en[e, EN_HSIZE] > 0 else -1
    t_next = ef[e, EF_NEXT_T]
    if disagg:
        # another engine's next event may hand this one a request (or change whether
        # requests wait): replay only the steps that end before it
        for j in range(en.shape[0]):
            if j != e and ef[j, EF_T] < t_next:
                t_next = ef[j, EF_T]
    idx = (-(dc + 1)) % bs
    sat = en[e, EN_ST_SAT] == 1
    in_sys = ef[e, EF_IN_SYSTEM]
    decoder = en[e, EN_ROLE] == _DECODER
    formed = t
    gps, gpj = gr[g, GR_PHASE_S], gr[g, GR_PHASE_J]
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
        need = en[e, EN_BUCKETS + idx]
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
        gpu = (c_t + ef[e, C_ADEC] * a_d) + c_a
        flop = (ef[e, MM_FLOP] + ef[e, C_FDEC] * a_d) / tp
        nbytes = ef[e, MM_BYTES] + ef[e, C_KDEC] * a_d + c_b
        power, gpu = _decode_power(ef, e, gpu, flop, nbytes, uncapped)
        phase = gpu + comm
        phase_j = power * gpu + idle * comm
        cpu_phase = _cpu_phase(ef, e, cpu, phase)
    if steps > 0:
        tally[T_STEPS] += steps
        acc[A_SEQS], acc[A_KERNEL_S], acc[A_CPU_CORE_S], acc[A_RUN_S] = seqs, kernel_s, cpu_core_s, run_s
        acc[A_STEADY_S], acc[A_STEADY_J], acc[A_STEADY_TOKENS] = steady_s, steady_j, steady_tok
        acc[A_STEADY_DEC_J], acc[A_STEADY_DEC_TOKENS] = steady_dec_j, steady_dec_tok
        if tokens_f > acc[A_MAX_BATCH]:
            acc[A_MAX_BATCH] = tokens_f
        if t > acc[A_T_END]:
            acc[A_T_END] = t
        gr[g, GR_FREE_S] = t
        gr[g, GR_PHASE_S], gr[g, GR_PHASE_J] = gps, gpj
        en[e, EN_DCOUNT] = dc
        en[e, EN_SUM_C] = sc
        en[e, EN_FREE] = fr
        ef[e, EF_PHI] = ph
        ef[e, EF_FORMED] = t
        ef[e, SC_GPU_S], ef[e, SC_PHASE_S], ef[e, SC_POWER_W], ef[e, SC_PHASE_J] = gpu, phase, power, phase_j
    return t, cpu_phase


@njit(cache=True, inline="always")
def _replay_shared_decodes(en, ef, sg, gr, members, acc, tally, g):
    """Instances sharing GPU group ``g``: play their events in the general loop's order while each
    step one of them forms is again a pure decode step like its last (nothing arrives, finishes,
    is preempted or prefilled); stop at the first event that needs the general path."""
    lo, hi = int(gr[g, GR_FIRST]), int(gr[g, GR_STOP])
    while True:
        j = _next_event(en, ef, members, lo, hi)
        if j < 0 or en[j, EN_STATE] == _EMPTY:
            return
        tj = ef[j, EF_T]
        if en[j, EN_STATE] == _CPU_PHASE:
            _queue_gpu_phase(en, ef, gr, tally, j, tj)
            continue
        # its GPU phase ends at tj: would the next step be the same decode step again?
        if en[j, EN_ST_LEN] != 0 or en[j, EN_ST_DEC] == 0 or en[j, EN_PF_HEAD] >= 0:
            return
        if en[j, EN_HSIZE] > 0 and sg[en[j, EN_SEG], SG_HKEY] == en[j, EN_DCOUNT] + 1:
            return
        if ef[j, EF_NEXT_T] <= tj:
            return
        need = en[j, EN_BUCKETS + (-(en[j, EN_DCOUNT] + 1)) % en[j, EN_BS]]
        if en[j, EN_FREE] < need:
            return
        share = _charge_step(en, ef, gr, acc, tally, j)
        _advance_decodes(en, ef, j, share)
        nd = en[j, EN_ST_DEC]
        _close_step(en, ef, acc, j, tj, nd)
        en[j, EN_FREE] -= need
        cph = _next_decode(ef, j, float(nd), float(en[j, EN_SUM_C] + nd), _comm(ef, j, float(nd), float(nd)))
        ef[j, EF_FORMED] = tj
        en[j, EN_STATE] = _CPU_PHASE
        _schedule(en, ef, tally, j, tj + cph)


# --- results -----------------------------------------------------------------------------------------

@njit(cache=True)
def _summarise(out, acc, tally, hist, m, o_mean, o_p50, o_p90, o_p99):
    """Mean and percentiles of metric ``m`` (from its histogram), then clear the histogram."""
    n = tally[T_COUNT + m]
    if n == 0:
        return
    x_min, x_max = acc[A_MIN + m], acc[A_MAX + m]
    lo, hi = bin_index(x_min), bin_index(x_max)
    counts = hist[m]
    out[o_mean] = acc[A_SUM + m] / n
    out[o_p50] = percentile_from_counts(counts, n, 50.0, lo, x_min, x_max)
    out[o_p90] = percentile_from_counts(counts, n, 90.0, lo, x_min, x_max)
    out[o_p99] = percentile_from_counts(counts, n, 99.0, lo, x_min, x_max)
    counts[lo:hi + 1] = 0   # the histogram is scratch space, reused by the next simulation


@njit(cache=True)
def _results(out, rq, en, gr, acc, tally, hist, per, decoders):
    """The run's outputs (:data:`~carbonsim.models.serving.layout.OUTPUT_NAMES`): the GPUs' energy
    (GPU phases, loaded idle otherwise), idle time, counts, means and percentiles; per-request
    GPU energy takes an equal share of the energy no step attributed."""
    out[:] = 0.0
    end = acc[A_T_END] if acc[A_T_END] > acc[A_LAST_ARRIVAL_S] else acc[A_LAST_ARRIVAL_S]
    n_groups = gr.shape[0]
    for g in range(n_groups):
        if gr[g, GR_BUSY] == 0.0:
            gr[g, GR_IDLE_S] += end - gr[g, GR_IDLE_SINCE]
    if tally[T_BUSY] == 0:
        acc[A_SERVER_IDLE_S] += end - acc[A_SERVER_IDLE_SINCE]
    gpu_j = 0.0
    idle_j = 0.0
    n_gpus = 0.0
    for g in range(n_groups):
        gpu_j += gr[g, GR_GPUS] * (gr[g, GR_PHASE_J] + gr[g, GR_IDLE_W] * (end - gr[g, GR_PHASE_S]))
        idle_j += gr[g, GR_GPUS] * gr[g, GR_IDLE_W] * gr[g, GR_IDLE_S]
        n_gpus += gr[g, GR_GPUS]
    decode_j = 0.0
    for d in decoders:
        g = en[d, EN_GROUP]
        decode_j += gr[g, GR_GPUS] * (gr[g, GR_PHASE_J] + gr[g, GR_IDLE_W] * (end - gr[g, GR_PHASE_S]))
    n_served = tally[T_SERVED]
    n = tally[T_REQUESTS]
    if tally[T_WANT_PER] == 1:
        residual = (gpu_j - acc[A_ATTRIBUTED_J]) / n_served if n_served > 0 else 0.0
        for i in range(per.shape[1]):
            if per[_R_SERVED, i] > 0.5:
                per[_R_GPU_ENERGY_J, i] += residual
        for r in range(rq.shape[0]):   # requests still in the server (none: every one ends)
            if rq[r, RQ_STATE] == _WAITING or rq[r, RQ_STATE] == _PREFILL or rq[r, RQ_STATE] == _DECODE:
                per[_R_PREEMPTIONS, rq[r, RQ_ID]] = rq[r, RQ_PREEMPTED]
    steps = tally[T_STEPS]
    out[_O_SERVED] = n_served
    out[_O_REJECTED] = tally[T_REJECTED]
    out[_O_DURATION_S] = end
    out[_O_IDLE_S] = acc[A_SERVER_IDLE_S]
    out[_O_BUSY_S] = end - acc[A_SERVER_IDLE_S]
    out[_O_PROMPT_TOKENS] = acc[A_PROMPT_TOKENS]
    out[_O_OUTPUT_TOKENS] = acc[A_OUTPUT_TOKENS]
    _summarise(out, acc, tally, hist, _TTFT, _O_TTFT_MEAN_S, _O_TTFT_P50_S, _O_TTFT_P90_S, _O_TTFT_P99_S)
    _summarise(out, acc, tally, hist, _TPOT, _O_TPOT_MEAN_S, _O_TPOT_P50_S, _O_TPOT_P90_S, _O_TPOT_P99_S)
    _summarise(out, acc, tally, hist, _LATENCY, _O_LATENCY_MEAN_S, _O_LATENCY_P50_S, _O_LATENCY_P90_S,
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
    """The instances' and groups' arrays, the decode instances, the members of each group, and the
    number of requests if known (-1: drawn until a time)."""
    k = inst.shape[1]
    known = 0
    for s in range(spec.shape[1]):
        if spec[_SK, s] == _ARRAYS:
            known += int(spec[_SSTOP, s] - spec[_SSTART, s])
        elif spec[_SREQ, s] >= 0.0 and known >= 0:
            known += int(spec[_SREQ, s])
        else:
            known = -1
    n_groups = 0
    max_bs = 1
    n_decoders = 0
    for e in range(k):
        n_groups = max(n_groups, int(inst[_GROUP, e]) + 1)
        max_bs = max(max_bs, int(inst[_BS, e]))
        if int(inst[_ROLE, e]) == _DECODER:
            n_decoders += 1
    ef = np.zeros((k, N_EF))
    en = np.full((k, EN_BUCKETS + max_bs), -1, np.int64)
    decoders = np.zeros(n_decoders, np.int64)   # decode instances, in instance order
    seg = 0
    j = 0
    for e in range(k):
        _constants(inst[:, e], ef[e])
        ef[e, MM_TOKENS] = -1.0
        for col, row in ((I_MAX_SEQS, _MAXSEQ), (I_BUDGET, _BUDGET), (I_CHUNKED, _CHUNK), (I_WATERMARK, _WM),
                         (I_MAX_LEN, _MAXLEN), (I_KV_BLOCKS, _KVB), (I_KV_LINK_GB_S, _KVLINK),
                         (I_KV_ALPHA_S, _KVALPHA)):
            ef[e, col] = inst[row, e]
        ef[e, EF_NEXT_T] = _INF
        ef[e, EF_T] = _INF
        en[e, EN_ROLE] = int(inst[_ROLE, e])
        en[e, EN_GROUP] = int(inst[_GROUP, e])
        en[e, EN_BS] = int(inst[_BS, e])
        en[e, EN_FREE] = int(inst[_KVB, e])
        # its segment of sg (heap, step chunks): its running requests, at most max_num_seqs
        # (and at most every request)
        en[e, EN_SEG] = seg
        room = int(inst[_MAXSEQ, e])
        if 0 <= known < room:
            room = known
        seg += max(room, 1)
        for c in (EN_RUN_N, EN_WQ_LEN, EN_DCOUNT, EN_N_DEC, EN_SUM_C, EN_HSIZE, EN_STATE, EN_SEQ, EN_ST_LEN,
                  EN_ST_DEC, EN_ST_SAT):
            en[e, c] = 0
        en[e, EN_EMPTY] = 1
        en[e, EN_BUCKETS:] = 0
        if en[e, EN_ROLE] == _DECODER:
            decoders[j] = e
            j += 1
    for s in range(spec.shape[1]):
        for q in range(int(spec[_SCOUNT, s])):
            en[int(spec[_SFIRST, s]) + q, EN_SRC] = s
    gr = np.zeros((n_groups, N_GR))
    for e in range(k):
        g = en[e, EN_GROUP]
        gr[g, GR_GPUS] = ef[e, C_TP]
        gr[g, GR_IDLE_W] = ef[e, C_IDLE]
        gr[g, GR_SOLO] += 1.0   # members, for now
    members = np.zeros(k, np.int64)   # each group's instances, in instance order
    first = 0
    for g in range(n_groups):
        gr[g, GR_FIRST] = first
        gr[g, GR_STOP] = first
        first += int(gr[g, GR_SOLO])
        gr[g, GR_SOLO] = 1.0 if gr[g, GR_SOLO] == 1.0 else 0.0
    for e in range(k):
        g = en[e, EN_GROUP]
        members[int(gr[g, GR_STOP])] = e
        gr[g, GR_STOP] += 1.0
    return en, ef, np.zeros((max(seg, 1), 5), np.int64), gr, members, decoders, known


@njit(cache=True, _nrt=False)
def _run(rq, rf, en, ef, sg, gr, members, decoders, spec, ss, sbuf, arrival, lengths, acc, tally, hist, per, resume):
    """The event loop: each instance's next event in time order (a CPU phase ends: queue the GPU
    phase; a GPU phase ends: the step ends; then, or when asleep, arrivals and the next step).

    Returns -1 when no event is left, or, when a request needs a slot or a drawn stream's buffer
    is empty (``T_NEED_STREAM``), -2 (while taking every instance's first arrival) or the instance
    whose arrivals were being taken: the caller grows the slots or fills the buffer and calls
    again with that instance as ``resume`` (its arrivals at its event time, then its next step).
    The slot arrays are arguments here, never reassigned, and the function is compiled without
    reference counting, so the helpers inlined into it or called from it take arrays at no cost."""
    k = en.shape[0]
    disagg = decoders.shape[0] > 0
    while tally[T_STARTED] < k:   # every instance's first arrival
        e = tally[T_STARTED]
        if not _refill(rq, rf, en, ef, spec, ss, sbuf, arrival, lengths, acc, tally, e):
            return -2
        _schedule(en, ef, tally, e, ef[e, EF_NEXT_T])
        tally[T_STARTED] += 1
    while True:
        if resume >= 0:
            e = resume
            resume = -1
            t = ef[e, EF_T]
        else:
            e = _next_event(en, ef, members, -1, k)
            if e < 0:
                return -1
            t = ef[e, EF_T]
            if en[e, EN_STATE] == _CPU_PHASE:
                _queue_gpu_phase(en, ef, gr, tally, e, t)
                continue
            if en[e, EN_STATE] == _GPU_PHASE:   # the step ends
                share = _charge_step(en, ef, gr, acc, tally, e)
                sampled = _decodes_done(rq, rf, en, ef, sg, acc, tally, hist, per, e, t, share)
                sampled += _chunks_done(rq, rf, en, ef, sg, acc, tally, hist, per, decoders, e, t, share)
                _close_step(en, ef, acc, e, t, sampled)
        if not _arrivals(rq, rf, en, ef, spec, ss, sbuf, arrival, lengths, acc, tally, per, decoders, e, t):
            return e
        cpu_phase, n_chunks, ndec = _form_step(rq, rf, en, ef, sg, gr, acc, tally, e, t, disagg)
        if n_chunks < 0:
            continue
        g = en[e, EN_GROUP]
        if gr[g, GR_SOLO] == 1.0 and n_chunks == 0 and en[e, EN_PF_HEAD] < 0:
            t, cpu_phase = _replay_solo_decodes(en, ef, sg, gr, acc, tally, e, t, cpu_phase, disagg)
        en[e, EN_STATE] = _CPU_PHASE
        _schedule(en, ef, tally, e, t + cpu_phase)
        if gr[g, GR_SOLO] == 0.0 and n_chunks == 0 and ndec > 0 and en[e, EN_PF_HEAD] < 0:
            _replay_shared_decodes(en, ef, sg, gr, members, acc, tally, g)


@njit(cache=True)
def _start(inst, spec, settings, per, want_per):
    """Every array of a simulation (see the comment above ``SC_GPU_S``), before its first event."""
    en, ef, sg, gr, members, decoders, known = _setup(inst, spec)
    m = spec.shape[1]
    ss = np.zeros((m, N_SS))
    drawn = m > 0 and np.any(spec[_SK] != _ARRAYS)
    sbuf = np.empty((m, (min(BUFFER, max(known, 1)) if known >= 0 else BUFFER) if drawn else 0, 4))
    rq, rf = _slots(max(1, min(known, 1024)) if known >= 0 else 1024, 0)
    acc = np.zeros(N_ACC)
    acc[A_TTFT_SLO] = settings[_TTFT_SLO]
    acc[A_TPOT_SLO] = settings[_TPOT_SLO]
    tally = np.zeros(N_TALLY, np.int64)
    tally[T_NEED_STREAM] = -1
    if want_per:
        tally[T_WANT_PER] = 1
        per[:] = np.nan
        per[_R_PREEMPTIONS] = 0.0
        per[_R_SERVED] = 0.0
    return en, ef, sg, gr, members, decoders, ss, sbuf, rq, rf, acc, tally


@njit(cache=True)
def _advance(state, spec, arrival, lengths, hist, per, resume):
    """Run the event loop (:func:`_run`), growing the request slots when they are full, until no
    event is left (returns -1) or a drawn stream's buffer is empty (returns where to resume, with
    ``T_NEED_STREAM`` set). Returns that code and the state (new slot arrays if they grew)."""
    en, ef, sg, gr, members, decoders, ss, sbuf, rq, rf, acc, tally = state
    while True:
        code = _run(rq, rf, en, ef, sg, gr, members, decoders, spec, ss, sbuf, arrival, lengths, acc, tally, hist,
                    per, resume)
        if code == -1 or tally[T_NEED_STREAM] >= 0:
            return code, (en, ef, sg, gr, members, decoders, ss, sbuf, rq, rf, acc, tally)
        rq, rf = _grown(rq, rf, tally)
        resume = code if code >= 0 else -1


@njit(cache=True, nogil=True)
def simulate_given(inst, spec, arrival, lengths, settings, out, per, want_per, hist):
    """Simulate one serving system whose requests are given (arrays streams), without the GIL;
    fills ``out`` and, if ``want_per``, ``per``.

    Parameters
    ----------
    inst : ndarray, shape (N_INSTANCE, k)
    spec : ndarray, shape (N_STREAM, m)
        Its request streams (:data:`~carbonsim.models.serving.layout.STREAM_NAMES`).
    arrival : ndarray, shape (n,)
    lengths : ndarray of int64, shape (n, 2)
        The requests: arrival times, prompt and output lengths.
    settings : ndarray, shape (N_SETTINGS,)
    out : ndarray, shape (N_OUTPUTS,)
    per : ndarray, shape (N_REQUEST_OUT, n)
        Per-request results (if ``want_per``).
    hist : ndarray of int64, shape (3, N_BINS)
        Zeros; the percentile histograms' scratch space, left zero.
    """
    state = _start(inst, spec, settings, per, want_per)
    _, state = _advance(state, spec, arrival, lengths, hist, per, -1)   # arrays streams need no fill
    en, _, _, gr, _, decoders, _, _, rq, _, acc, tally = state
    _results(out, rq, en, gr, acc, tally, hist, per, decoders)


@njit(cache=True, nogil=True)
def simulate_drawn(inst, spec, rngs, settings, out, hist):
    """Simulate one serving system whose requests are drawn as it runs, without the GIL; fills
    ``out``. As :func:`simulate_given`; drawn stream ``s`` of ``spec`` draws from
    ``rngs[3s:3s+3]`` (arrivals, prompts, outputs: ``RequestStream.generators``)."""
    arrival = np.zeros(0)
    lengths = np.zeros((0, 2), np.int64)
    per = np.zeros((N_REQUEST_OUT, 0))
    state = _start(inst, spec, settings, per, False)
    code, state = _advance(state, spec, arrival, lengths, hist, per, -1)
    while code != -1:
        ss, sbuf, tally = state[6], state[7], state[11]
        _fill_drawn(spec, ss, sbuf, rngs, tally[T_NEED_STREAM])
        tally[T_NEED_STREAM] = -1
        code, state = _advance(state, spec, arrival, lengths, hist, per, code if code >= 0 else -1)
    en, _, _, gr, _, decoders, _, _, rq, _, acc, tally = state
    _results(out, rq, en, gr, acc, tally, hist, per, decoders)


#: The compiled entry points (the sweep's kernel-cache check imports ``simulate_many_kernel``).
simulate_many_kernel = simulate_drawn


# --- Python side: a system's arguments --------------------------------------------------------------

def system_args(system):
    """The kernel's arguments for one system, and which entry takes them.

    ``system`` is ``(instances, arrival_s, prompt_tokens, output_tokens, owner)`` (given requests,
    ``owner`` sorted: one arrays stream per instance; returns ``("given", inst, spec, arrival,
    lengths, n)``) or ``(instances, streams)`` with ``streams`` a list of ``(RequestStream,
    first_instance, instances)`` (requests drawn as the simulation runs, sent round robin to those
    instances; returns ``("drawn", inst, spec, rngs)``). Checks the roles
    (:func:`carbonsim.models.serving.layout.check_roles`).
    """
    inst = np.ascontiguousarray(system[0], dtype=np.float64)
    k = inst.shape[1]
    if len(system) == 2:
        streams = list(system[1])
        if not 0 < len(streams) <= MAX_DRAWN_STREAMS:
            raise ValueError(f"one to {MAX_DRAWN_STREAMS} drawn request streams per simulation")
        spec = np.zeros((N_STREAM, len(streams)))
        rngs: list = []
        served = np.zeros(k + 1, dtype=np.int64)
        for s, (stream, first, count) in enumerate(streams):
            spec[:, s] = stream.column(first, count)
            rngs.extend(stream.generators())
            served[first + 1: first + count + 1] = 1
        check_roles(inst[I["role"]], inst[I["gpu_group"]], np.cumsum(served))
        return "drawn", inst, spec, tuple(rngs)
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
    lengths = np.empty((len(arrival), 2), dtype=np.int64)
    lengths[:, 0] = prompt
    lengths[:, 1] = output
    return "given", inst, spec, np.ascontiguousarray(arrival, dtype=np.float64), lengths, len(arrival)


def run_system(args, settings, out, hist) -> None:
    """Simulate one system from :func:`system_args` into ``out`` (no per-request results)."""
    if args[0] == "drawn":
        simulate_drawn(args[1], args[2], args[3], settings, out, hist)
    else:
        simulate_given(args[1], args[2], args[3], args[4], settings, out, np.empty((N_REQUEST_OUT, 0)), False, hist)


def scratch_histograms() -> np.ndarray:
    """Zeroed percentile histograms for the kernels (one per thread; they leave them zero)."""
    return np.zeros((3, N_BINS), dtype=np.int64)


def simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings):
    """Compiled counterpart of :func:`carbonsim.models.serving.reference.simulate_reference` (same
    arguments and results)."""
    _, inst, spec, arr, lengths, n = system_args((instances, arrival_s, prompt_tokens, output_tokens, owner))
    out = np.empty(N_OUTPUTS)
    per = np.empty((N_REQUEST_OUT, n))
    simulate_given(inst, spec, arr, lengths, np.ascontiguousarray(settings, dtype=np.float64), out, per, True,
                   scratch_histograms())
    return out, per
