"""Numba kernel of the serving simulator: the reference's event loop with O(1) work per step.

Same rules and equations as :func:`carbonsim.models.serving.reference.simulate_reference` (the
readable reference; ``tests/models/test_serving_simulator.py`` holds the two together). What differs is
the bookkeeping, so that a step costs a few dozen operations however many requests run:

* Decoding requests are not visited one by one. Every decode step advances all of them by one
  token, so the engine keeps a decode-step counter ``D`` and, per request, the counter and
  state at which it started decoding; the decodes' context sum grows by their count each step.
* A decoding request needs a new KV block when its cached length is a multiple of the block
  size ``b``; requests are bucketed by ``(c0 - D0) mod b``, so the blocks a decode step needs
  are one bucket's count.
* A min-heap keyed by the counter value at which each decoding request finishes yields the
  finishes of a step; a per-instance running list (admission order, doubly linked) gives the
  preemption victim; a ring buffer is the waiting queue (preempted requests go to its front).
* Per-request decode energy is a difference of a running sum of energy per decode token.
* Prefill-decode disaggregation: a decode instance may hold any request, so its heap, step and
  waiting-queue segments have room for all of them (``sb``, ``qb``, ``qc``); a replay of decode
  steps on a disaggregated system stops before another engine's next event (it may hand one on).
* A decode step's matrix-product time depends only on its token and sequence counts (cached
  while they stay the same), and its attention time is linear in the context sum (the roofline
  smooth max is homogeneous of degree 1), so a decode step needs no power function call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from carbonsim.models.perf._kernels import _smax  # the roofline's smooth max, as the offline kernel
from carbonsim.models.perf.layout import ACT_F_PER_MATRIX, ACT_H, P
from carbonsim.models.serving.layout import (
    F_MIN, I, N_OUTPUTS, N_REQUEST_OUT, OUT, R, ROLES, S, check_roles,
)

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
_PREFILL, _DECODER = ROLES["prefill"], ROLES["decode"]
_TTFT_SLO, _TPOT_SLO = S["ttft_slo_s"], S["tpot_slo_s"]
_O_BUSY_S = OUT["busy_s"]
_O_CPU_CORE_S = OUT["cpu_core_s"]
_O_DURATION_S = OUT["duration_s"]
_O_GPU_ENERGY_J = OUT["gpu_energy_j"]
_O_GPU_IDLE_ENERGY_J = OUT["gpu_idle_energy_j"]
_O_GPU_KERNEL_S = OUT["gpu_kernel_s"]
_O_GPUS = OUT["gpus"]
_O_CONCURRENCY = OUT["concurrency"]
_O_DECODE_GPU_ENERGY_J = OUT["decode_gpu_energy_j"]
_O_STEADY_DECODE_GPU_ENERGY_J = OUT["steady_decode_gpu_energy_j"]
_O_STEADY_DECODE_OUTPUT_TOKENS = OUT["steady_decode_output_tokens"]
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

# derived constants per instance (rows of the ``cst`` array)
(C_L, C_H, C_Q, C_KVD, C_M, C_E, C_KEFF, C_EXPERT, C_DENSE, C_PATTN, C_V, C_MISS, C_TP, C_CC, C_CM, C_PW,
 C_BW, C_BKV, C_ACTTOK, C_KVSHARE, C_TFIXED, C_GAMMA, C_ALPHA, C_LINK, C_C0, C_C1, C_CT0, C_CT1, C_OVL,
 C_IDLE, C_CAP, C_AC, C_AM, C_PEC, C_PEM, C_LIM, C_PI, C_BETA, C_ADEC, C_FDEC, C_KDEC) = range(41)
N_CST = 41

# request states
_WAITING, _PREFILL, _DECODE, _DONE, _REJECTED, _FUTURE = 0, 1, 2, 3, 4, 5
# instance states
_EMPTY, _CPUPH, _GPUPH = 0, 1, 2


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


# --- small data structures on flat arrays (one segment per instance) ----------------------------

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
def _requeue(v, e, bs, free, computed, rprev, rnext, run_head, run_tail, run_n, wq, wq_head, wq_len, wbase,
             wcap, state):
    """Preempt running request ``v`` of instance ``e``: free its KV blocks (recomputed on
    readmission, as vLLM's recompute preemption), take it off the running list and put it back
    at the front of the waiting queue."""
    free[e] += _ceil_div(computed[v], bs)
    computed[v] = 0
    _unlink(rprev, rnext, run_head, run_tail, e, v)
    run_n[e] -= 1
    wq_head[e] = (wq_head[e] - 1 + wcap) % wcap
    wq[wbase + wq_head[e]] = v
    wq_len[e] += 1
    state[v] = _WAITING


@njit(cache=True, inline="always")
def _admit(r, e, nt, need, slot, free, wq_head, wq_len, wcap, rprev, rnext, run_head, run_tail, run_n, pprev,
           pnext, pf_head, pf_tail, state, st_r, st_n, st_c):
    """Admit request ``r``, the head of instance ``e``'s waiting queue: take its ``need`` KV blocks,
    add it to the running and prefilling lists, and record its first ``nt`` prompt tokens as this
    step's chunk ``slot``."""
    wq_head[e] = (wq_head[e] + 1) % wcap
    wq_len[e] -= 1
    free[e] -= need
    _append(rprev, rnext, run_head, run_tail, e, r)
    run_n[e] += 1
    _append(pprev, pnext, pf_head, pf_tail, e, r)
    state[r] = _PREFILL
    st_r[slot] = r
    st_n[slot] = nt
    st_c[slot] = 0


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


@njit(cache=True)
def _lerp(a, b, g):
    d = b - a
    if g >= 0.5:
        return b - d * (1.0 - g)
    return a + d * g


@njit(cache=True)
def _percentile(sorted_x, n, pct):
    """NumPy's default ("linear") percentile of the first ``n`` values of a sorted array."""
    q = pct / 100.0
    vi = n * q + (1.0 + q * (1.0 - 1.0 - 1.0)) - 1.0
    lo = math.floor(vi)
    g = vi - lo
    i = int(lo)
    if i < 0:
        i = 0
    if i > n - 1:
        i = n - 1
    j = i + 1
    if j > n - 1:
        j = n - 1
    return _lerp(sorted_x[i], sorted_x[j], g)


@njit(cache=True)
def _summarise(out, name_mean, name_p50, name_p90, name_p99, values, n):
    if n == 0:
        return
    x = np.sort(values[:n])
    s = 0.0
    for i in range(n):
        s += x[i]
    out[name_mean] = s / n
    out[name_p50] = _percentile(x, n, 50.0)
    out[name_p90] = _percentile(x, n, 90.0)
    out[name_p99] = _percentile(x, n, 99.0)


@njit(cache=True)
def _cost(cst, mm, stc, e, tokens, sampled, seqs, n_chunks, a_p, k_p, ndec, a_d, kv_s):
    """Fill ``stc`` with a step's cost (see the reference's ``step_cost``); returns its CPU phase."""
    if tokens != mm[e, 0] or sampled != mm[e, 1]:
        mt, mf, mb = _matmul(cst, e, tokens, sampled)
        mm[e, 0] = tokens
        mm[e, 1] = sampled
        mm[e, 2] = mt
        mm[e, 3] = mf
        mm[e, 4] = mb
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
    t_gpu = cst[e, C_TFIXED] + mm[e, 2] + t_att + bytes_act / cst[e, C_CM]
    flop = (mm[e, 3] + flop_att) / cst[e, C_TP]
    nbytes = mm[e, 4] + bytes_kv + bytes_act
    power, t_gpu = _power(cst, e, t_gpu, flop, nbytes)
    comm = _comm(cst, e, tokens, sampled)
    cpu = _cpu(cst, e, seqs)
    phase = t_gpu + comm
    phase_j = power * t_gpu + cst[e, C_IDLE] * comm
    if kv_s > 0.0:
        phase += kv_s
        phase_j += cst[e, C_IDLE] * kv_s
    stc[e, 0] = t_gpu
    stc[e, 1] = cpu
    stc[e, 2] = phase
    stc[e, 3] = power
    stc[e, 4] = phase_j
    stc[e, 5] = tokens
    stc[e, 6] = seqs
    if cst[e, C_OVL] > 0.5:
        return cpu - phase if cpu > phase else 0.0
    return cpu


@njit(cache=True, inline="always")
def _next_decode(cst, mm, stc, e, tokens, a_d, comm):
    """The cost of a decode step like the last one, one token longer (its matrix products, CPU
    time and communication are the last step's); fills ``stc`` and returns the CPU phase."""
    gpu = (cst[e, C_TFIXED] + mm[e, 2] + cst[e, C_ADEC] * a_d) + cst[e, C_ACTTOK] * tokens / cst[e, C_CM]
    flop = (mm[e, 3] + cst[e, C_FDEC] * a_d) / cst[e, C_TP]
    nbytes = mm[e, 4] + cst[e, C_KDEC] * a_d + cst[e, C_ACTTOK] * tokens
    idle = cst[e, C_IDLE]
    if cst[e, C_LIM] >= cst[e, C_CAP]:
        x = (cst[e, C_AC] * (flop / (gpu * cst[e, C_PI])) / cst[e, C_PEC]
             + cst[e, C_AM] * (nbytes / (gpu * cst[e, C_BETA])) / cst[e, C_PEM])
        if x > 1.0:
            x = 1.0
        power = idle + (cst[e, C_CAP] - idle) * x
    else:
        power, gpu = _power(cst, e, gpu, flop, nbytes)
    phase = gpu + comm
    stc[e, 0] = gpu
    stc[e, 2] = phase
    stc[e, 3] = power
    stc[e, 4] = power * gpu + idle * comm
    cpu = stc[e, 1]
    if cst[e, C_OVL] > 0.5:
        return cpu - phase if cpu > phase else 0.0
    return cpu


@njit(cache=True)
def simulate_one(inst, arrival, prompt, output, bounds, settings, out, per, want_per):
    """Simulate one serving system (see :func:`simulate`); fills ``out`` and, if ``want_per``, ``per``."""
    k = inst.shape[1]
    n = arrival.shape[0]
    for i in range(out.shape[0]):
        out[i] = 0.0
    ins = np.ascontiguousarray(inst.T)   # (k, N_INSTANCE): no views in the loop (no reference counting)
    cst = np.empty((k, N_CST))
    n_groups = 0
    for e in range(k):
        _constants(inst[:, e], cst[e])
        g = int(inst[_GROUP, e]) + 1
        if g > n_groups:
            n_groups = g
    group_gpus = np.zeros(n_groups)
    group_idle_w = np.zeros(n_groups)
    max_bs = 1
    for e in range(k):
        g = int(inst[_GROUP, e])
        group_gpus[g] = cst[e, C_TP]
        group_idle_w[g] = cst[e, C_IDLE]
        b = int(inst[_BS, e])
        if b > max_bs:
            max_bs = b

    # per request
    state = np.full(n, _FUTURE, np.int64)
    computed = np.zeros(n, np.int64)
    generated = np.zeros(n, np.int64)
    first_s = np.full(n, np.nan)
    finish_s = np.full(n, np.nan)
    energy = np.zeros(n)
    preempted = np.zeros(n, np.int64)
    d0 = np.zeros(n, np.int64)        # decode counter at which it started decoding
    c0 = np.zeros(n, np.int64)        # cached tokens then
    g0 = np.zeros(n, np.int64)        # generated tokens then
    phi0 = np.zeros(n)                # energy-per-decode-token sum then
    pos = np.zeros(n, np.int64)       # heap position
    rprev = np.full(n, -1, np.int64)  # running list
    rnext = np.full(n, -1, np.int64)
    pprev = np.full(n, -1, np.int64)  # prefilling list
    pnext = np.full(n, -1, np.int64)

    # per instance
    lo = bounds[:k].copy()
    hi = bounds[1:k + 1].copy()
    nxt = lo.copy()
    # roles (a disaggregated system: prefill and decode instances, checked by the callers)
    role = np.zeros(k, np.int64)
    n_decoders = 0
    for e in range(k):
        role[e] = int(inst[_ROLE, e])
        if role[e] == _DECODER:
            n_decoders += 1
    disagg = n_decoders > 0
    decoders = np.zeros(n_decoders, np.int64)   # decode instances, in instance order
    handoffs = 0                                # requests handed on (round robin over them)
    # storage segments: an instance holds its own requests (heap, step, from sb[e]; waiting ring
    # buffer of qc[e] slots from qb[e]); a decode instance may hold any request
    sb = np.zeros(k, np.int64)
    qb = np.zeros(k, np.int64)
    qc = np.zeros(k, np.int64)
    j = 0
    for e in range(k):
        if role[e] == _DECODER:
            decoders[j] = e
            sb[e] = n + j * n
            qb[e] = n + k + j * (n + 1)
            qc[e] = n + 1
            j += 1
        else:
            sb[e] = lo[e]
            qb[e] = lo[e] + e
            qc[e] = hi[e] - lo[e] + 1
    run_head = np.full(k, -1, np.int64)
    run_tail = np.full(k, -1, np.int64)
    run_n = np.zeros(k, np.int64)
    pf_head = np.full(k, -1, np.int64)
    pf_tail = np.full(k, -1, np.int64)
    wq = np.zeros(n + k + n_decoders * (n + 1), np.int64)   # waiting ring buffers
    wq_head = np.zeros(k, np.int64)
    wq_len = np.zeros(k, np.int64)
    free = np.zeros(k, np.int64)
    bsz = np.zeros(k, np.int64)
    dcount = np.zeros(k, np.int64)   # decode steps done
    n_dec = np.zeros(k, np.int64)    # requests decoding
    sum_c = np.zeros(k, np.int64)    # their cached tokens
    buckets = np.zeros((k, max_bs), np.int64)
    hkey = np.zeros(n + n_decoders * n, np.int64)
    hid = np.zeros(n + n_decoders * n, np.int64)
    hsize = np.zeros(k, np.int64)
    phi = np.zeros(k)
    inst_state = np.zeros(k, np.int64)
    inst_t = np.full(k, _INF)
    inst_seq = np.zeros(k, np.int64)
    empty = np.ones(k, np.bool_)
    # the step in flight, per instance
    st_r = np.zeros(n + n_decoders * n, np.int64)     # chunk requests, instance e uses [sb[e], ...)
    st_n = np.zeros(n + n_decoders * n, np.int64)
    st_c = np.zeros(n + n_decoders * n, np.int64)
    st_len = np.zeros(k, np.int64)
    st_dec = np.zeros(k, np.int64)
    stc = np.zeros((k, 7))           # its cost: gpu_s, cpu_s, gpu phase_s, power_w, phase_j, tokens, seqs
    st_formed = np.zeros(k)
    st_sat = np.zeros(k, np.bool_)
    st_insys = np.zeros(k)           # requests in the instance (running or waiting) when formed
    mm = np.zeros((k, 5))            # cache of the matrix-product term: T, S, time, FLOPs, bytes
    mm[:, 0] = -1.0
    solo = np.zeros(n_groups, np.bool_)
    group_n = np.zeros(n_groups, np.int64)
    for e in range(k):
        group_n[int(inst[_GROUP, e])] += 1
    for gg in range(n_groups):
        solo[gg] = group_n[gg] == 1
    group_start = np.zeros(n_groups + 1, np.int64)   # members of each group, in instance order
    for gg in range(n_groups):
        group_start[gg + 1] = group_start[gg] + group_n[gg]
    members = np.zeros(k, np.int64)
    filled = group_start[:n_groups].copy()
    for e in range(k):
        gg = int(inst[_GROUP, e])
        members[filled[gg]] = e
        filled[gg] += 1
    for e in range(k):
        free[e] = int(inst[_KVB, e])
        bsz[e] = int(inst[_BS, e])

    group_free = np.zeros(n_groups)
    group_phase_s = np.zeros(n_groups)
    group_phase_j = np.zeros(n_groups)
    group_busy = np.zeros(n_groups, np.int64)
    group_idle_since = np.zeros(n_groups)
    group_idle_s = np.zeros(n_groups)
    busy_total = 0
    server_idle_since = 0.0
    server_idle_s = 0.0
    steps = 0
    prefill_tokens = 0
    preemptions = 0
    seqs_sum = 0.0
    max_batch = 0.0
    kernel_s = 0.0
    cpu_core_s = 0.0
    steady_s = 0.0
    steady_j = 0.0
    steady_tokens = 0.0
    steady_dec_j = 0.0
    steady_dec_tokens = 0.0
    run_s = 0.0
    t_end = 0.0
    counter = 0

    for e in range(k):
        counter += 1
        inst_seq[e] = counter
        inst_t[e] = arrival[nxt[e]] if nxt[e] < hi[e] else _INF

    while True:
        # the next event: earliest time, then earliest scheduled
        e = -1
        best_t = _INF
        best_s = 0
        for j in range(k):
            tj = inst_t[j]
            if tj < best_t or (tj == best_t and e >= 0 and inst_seq[j] < best_s):
                e = j
                best_t = tj
                best_s = inst_seq[j]
        if e < 0:
            break
        t = best_t
        g = int(inst[_GROUP, e])
        bs = bsz[e]
        form = False
        if inst_state[e] == _EMPTY:
            form = True
        elif inst_state[e] == _CPUPH:
            # queue the step's kernels behind those already queued on the group's GPUs
            start = t if t > group_free[g] else group_free[g]
            end = start + stc[e, 2]
            group_free[g] = end
            inst_state[e] = _GPUPH
            counter += 1
            inst_seq[e] = counter
            inst_t[e] = end
        else:
            # ---- the GPU phase ends: apply the step ----
            tp = cst[e, C_TP]
            share = tp * stc[e, 4] / stc[e, 5]
            group_phase_s[g] += stc[e, 2]
            group_phase_j[g] += stc[e, 4]
            steps += 1
            seqs_sum += stc[e, 6]
            if stc[e, 6] > max_batch:
                max_batch = stc[e, 6]
            kernel_s += tp * stc[e, 0]
            cpu_core_s += tp * stc[e, 1]
            sampled = 0
            if st_dec[e] > 0:
                phi[e] += share
                sum_c[e] += st_dec[e]
                dcount[e] += 1
                sampled += st_dec[e]
                base = sb[e]
                while hsize[e] > 0 and hkey[base] == dcount[e]:
                    r = hid[base]
                    hsize[e] = _heap_remove(hkey, hid, pos, base, hsize[e], 0)
                    steps_done = dcount[e] - d0[r]
                    cur = c0[r] + steps_done
                    generated[r] = g0[r] + steps_done
                    computed[r] = cur
                    energy[r] += phi[e] - phi0[r]
                    n_dec[e] -= 1
                    sum_c[e] -= cur
                    key = (c0[r] - d0[r]) % bs
                    buckets[e, key] -= 1
                    # finish
                    free[e] += _ceil_div(cur, bs)
                    _unlink(rprev, rnext, run_head, run_tail, e, r)
                    run_n[e] -= 1
                    finish_s[r] = t
                    state[r] = _DONE
            for i in range(st_len[e]):
                r = st_r[sb[e] + i]
                nt = st_n[sb[e] + i]
                c = st_c[sb[e] + i]
                energy[r] += share * nt
                prefill_tokens += nt
                computed[r] = c + nt
                if computed[r] == prompt[r] + generated[r]:
                    generated[r] += 1
                    sampled += 1
                    if math.isnan(first_s[r]):
                        first_s[r] = t
                    # leaves the prefilling list
                    _unlink(pprev, pnext, pf_head, pf_tail, e, r)
                    if generated[r] == output[r]:
                        free[e] += _ceil_div(computed[r], bs)
                        _unlink(rprev, rnext, run_head, run_tail, e, r)
                        run_n[e] -= 1
                        finish_s[r] = t
                        state[r] = _DONE
                    elif role[e] == _PREFILL:
                        # hand on: the KV cache leaves this instance for the next decode
                        # instance (round robin), which is woken if it sleeps
                        free[e] += _ceil_div(computed[r], bs)
                        _unlink(rprev, rnext, run_head, run_tail, e, r)
                        run_n[e] -= 1
                        state[r] = _WAITING
                        d = decoders[handoffs % n_decoders]
                        handoffs += 1
                        wq[qb[d] + (wq_head[d] + wq_len[d]) % qc[d]] = r
                        wq_len[d] += 1
                        if inst_state[d] == _EMPTY and inst_t[d] > t:
                            counter += 1
                            inst_seq[d] = counter
                            inst_t[d] = t
                    else:
                        state[r] = _DECODE
                        d0[r] = dcount[e]
                        c0[r] = computed[r]
                        g0[r] = generated[r]
                        phi0[r] = phi[e]
                        key = (c0[r] - d0[r]) % bs
                        buckets[e, key] += 1
                        n_dec[e] += 1
                        sum_c[e] += c0[r]
                        hsize[e] = _heap_push(hkey, hid, pos, sb[e], hsize[e], d0[r] + output[r] - g0[r], r)
            run_s += st_insys[e] * (t - st_formed[e])
            if st_sat[e]:
                wall = t - st_formed[e]
                step_j = tp * (stc[e, 3] * stc[e, 0] + cst[e, C_IDLE] * (wall - stc[e, 0]))
                steady_s += wall
                steady_j += step_j
                steady_tokens += sampled
                if role[e] == _DECODER:
                    steady_dec_j += step_j
                    steady_dec_tokens += sampled
            if t > t_end:
                t_end = t
            form = True

        if not form:
            continue

        # ---- form the next step of instance e at time t ----
        wbase = qb[e]
        wcap = qc[e]
        while nxt[e] < hi[e] and arrival[nxt[e]] <= t:
            r = nxt[e]
            nxt[e] += 1
            longest = prompt[r] + output[r]
            never = (longest > ins[e, _MAXLEN] or _ceil_div(longest - 1, bs) > ins[e, _KVB]
                     or (ins[e, _CHUNK] < 0.5 and longest - 1 > ins[e, _BUDGET]))
            if not never and role[e] == _PREFILL:   # nor what no decode instance could hold
                for jd in range(n_decoders):
                    d = decoders[jd]
                    if (longest > ins[d, _MAXLEN] or _ceil_div(longest - 1, bsz[d]) > ins[d, _KVB]
                            or (ins[d, _CHUNK] < 0.5 and longest - 1 > ins[d, _BUDGET])):
                        never = True
                        break
            if never:
                state[r] = _REJECTED
            else:
                state[r] = _WAITING
                wq[wbase + (wq_head[e] + wq_len[e]) % wcap] = r
                wq_len[e] += 1
        has_work = wq_len[e] > 0 or run_n[e] > 0
        if has_work and empty[e]:
            empty[e] = False
            if group_busy[g] == 0:
                group_idle_s[g] += t - group_idle_since[g]
            group_busy[g] += 1
            if busy_total == 0:
                server_idle_s += t - server_idle_since
            busy_total += 1
        kv_s = 0.0
        if role[e] == _DECODER:
            # admit the queue's transferred requests (KV cached on a prefill instance) in order,
            # straight into decoding, while sequences and blocks allow; receiving their KV
            # comes first in the step
            ms = int(ins[e, _MAXSEQ])
            while wq_len[e] > 0 and run_n[e] < ms:
                r = wq[wbase + wq_head[e]]
                if computed[r] <= 0:
                    break
                need = _ceil_div(computed[r], bs)
                lim = ins[e, _WM] if run_n[e] > 0 else 0.0
                if free[e] - need < lim:
                    break
                wq_head[e] = (wq_head[e] + 1) % wcap
                wq_len[e] -= 1
                free[e] -= need
                _append(rprev, rnext, run_head, run_tail, e, r)
                run_n[e] += 1
                state[r] = _DECODE
                d0[r] = dcount[e]
                c0[r] = computed[r]
                g0[r] = generated[r]
                phi0[r] = phi[e]
                buckets[e, (c0[r] - d0[r]) % bs] += 1
                n_dec[e] += 1
                sum_c[e] += c0[r]
                hsize[e] = _heap_push(hkey, hid, pos, sb[e], hsize[e], d0[r] + output[r] - g0[r], r)
                kv_s += ins[e, _KVALPHA] + computed[r] * cst[e, C_KDEC] / (ins[e, _KVLINK] * _GB)
        wm = ins[e, _WM]
        budget = int(ins[e, _BUDGET])
        max_seqs = int(ins[e, _MAXSEQ])
        chunked = ins[e, _CHUNK] >= 0.5
        n_chunks = 0
        tokens = 0
        ndec = 0
        # --- without chunked prefill: admit whole prompts first (a prefill step) ---
        if not chunked:
            while wq_len[e] > 0:
                r = wq[wbase + wq_head[e]]
                if computed[r] > 0:   # transferred: admitted first thing next step
                    break
                nt = prompt[r] + generated[r]
                need = _ceil_div(nt, bs)
                lim = wm if run_n[e] > 0 else 0.0
                if tokens + nt > budget or run_n[e] >= max_seqs or free[e] - need < lim:
                    break
                _admit(r, e, nt, need, sb[e] + n_chunks, free, wq_head, wq_len, wcap, rprev, rnext, run_head, run_tail,
                       run_n, pprev, pnext, pf_head, pf_tail, state, st_r, st_n, st_c)
                n_chunks += 1
                tokens += nt
        if chunked or n_chunks == 0:
            # a decode step (or the decodes of a chunked step): preempt the latest-admitted
            # running request until the decodes' new blocks fit
            while run_n[e] > 0:
                need = buckets[e, (-dcount[e]) % bs] if n_dec[e] > 0 else 0
                if free[e] >= need:
                    free[e] -= need
                    break
                v = run_tail[e]
                preemptions += 1
                preempted[v] += 1
                if state[v] == _DECODE:
                    steps_done = dcount[e] - d0[v]
                    cur = c0[v] + steps_done
                    generated[v] = g0[v] + steps_done
                    computed[v] = cur
                    energy[v] += phi[e] - phi0[v]
                    n_dec[e] -= 1
                    sum_c[e] -= cur
                    buckets[e, (c0[v] - d0[v]) % bs] -= 1
                    hsize[e] = _heap_remove(hkey, hid, pos, sb[e], hsize[e], pos[v])
                else:
                    _unlink(pprev, pnext, pf_head, pf_tail, e, v)
                _requeue(v, e, bs, free, computed, rprev, rnext, run_head, run_tail, run_n, wq, wq_head, wq_len,
                         wbase, wcap, state)
            ndec = n_dec[e]
            tokens = ndec
        if chunked:
            budget -= ndec
            r = pf_head[e]
            while r >= 0 and budget > 0:
                c = computed[r]
                nt = prompt[r] + generated[r] - c
                if nt > budget:
                    nt = budget
                need = _ceil_div(c + nt, bs) - _ceil_div(c, bs)
                while free[e] < need:
                    v = run_tail[e]
                    if v == r or state[v] == _DECODE:
                        break
                    # preempt a later prefilling request
                    preemptions += 1
                    preempted[v] += 1
                    _unlink(pprev, pnext, pf_head, pf_tail, e, v)
                    _requeue(v, e, bs, free, computed, rprev, rnext, run_head, run_tail, run_n, wq, wq_head, wq_len,
                             wbase, wcap, state)
                if free[e] < need:
                    break
                free[e] -= need
                st_r[sb[e] + n_chunks] = r
                st_n[sb[e] + n_chunks] = nt
                st_c[sb[e] + n_chunks] = c
                n_chunks += 1
                tokens += nt
                budget -= nt
                r = pnext[r]
            while wq_len[e] > 0 and budget > 0 and run_n[e] < max_seqs:
                r = wq[wbase + wq_head[e]]
                if computed[r] > 0:   # transferred: admitted first thing next step
                    break
                nt = prompt[r] + generated[r]
                if nt > budget:
                    nt = budget
                need = _ceil_div(nt, bs)
                lim = wm if run_n[e] > 0 else 0.0
                if free[e] - need < lim:
                    break
                _admit(r, e, nt, need, sb[e] + n_chunks, free, wq_head, wq_len, wcap, rprev, rnext, run_head, run_tail,
                       run_n, pprev, pnext, pf_head, pf_tail, state, st_r, st_n, st_c)
                n_chunks += 1
                tokens += nt
                budget -= nt

        if n_chunks == 0 and ndec == 0:
            inst_state[e] = _EMPTY
            if not empty[e]:
                empty[e] = True
                group_busy[g] -= 1
                if group_busy[g] == 0:
                    group_idle_since[g] = t
                busy_total -= 1
                if busy_total == 0:
                    server_idle_since = t
            counter += 1
            inst_seq[e] = counter
            inst_t[e] = arrival[nxt[e]] if nxt[e] < hi[e] else _INF
            continue

        # ---- the step's cost ----
        sampled_f = float(ndec)
        a_p = 0.0
        k_p = 0.0
        for i in range(n_chunks):
            r = st_r[sb[e] + i]
            nt = float(st_n[sb[e] + i])
            c = float(st_c[sb[e] + i])
            a_p += nt * (c + 0.5 * (nt + 1.0))
            k_p += c + nt
            if st_c[sb[e] + i] + st_n[sb[e] + i] == prompt[r] + generated[r]:
                sampled_f += 1.0
        tokens_f = float(tokens)
        seqs_f = float(n_chunks + ndec)
        cpu_phase = _cost(cst, mm, stc, e, tokens_f, sampled_f, seqs_f, n_chunks, a_p, k_p, ndec,
                          float(sum_c[e] + ndec), kv_s)
        st_len[e] = n_chunks
        st_dec[e] = ndec
        st_formed[e] = t
        if disagg:   # the system at its limit: requests wait for any of its engines
            waiting = 0
            for j in range(k):
                waiting += wq_len[j]
            st_sat[e] = waiting > 0
        else:
            st_sat[e] = wq_len[e] > 0
        st_insys[e] = float(run_n[e] + wq_len[e])

        # ---- fast path: replay identical decode steps without the event machinery ----
        # (an instance alone on its GPUs, decoding only, while nothing arrives, finishes or is
        # preempted: every rule of the general path would choose the same step again)
        if solo[g] and n_chunks == 0 and pf_head[e] < 0:
            tp = cst[e, C_TP]
            idle = cst[e, C_IDLE]
            uncapped = cst[e, C_LIM] >= cst[e, C_CAP]
            c_t = cst[e, C_TFIXED] + mm[e, 2]             # the step's time is (c_t + a*A) + c_a
            c_a = cst[e, C_ACTTOK] * tokens_f / cst[e, C_CM]
            c_b = cst[e, C_ACTTOK] * tokens_f
            span = cst[e, C_CAP] - idle
            gpu, cpu, phase, power, phase_j = stc[e, 0], stc[e, 1], stc[e, 2], stc[e, 3], stc[e, 4]
            comm = _comm(cst, e, tokens_f, sampled_f)
            dc = dcount[e]
            sc = sum_c[e]
            fr = free[e]
            ph = phi[e]
            top = hkey[sb[e]] if hsize[e] > 0 else -1
            t_next = arrival[nxt[e]] if nxt[e] < hi[e] else _INF
            if disagg:
                # another engine's next event may hand this one a request (or change whether
                # requests wait): replay only the steps that end before it
                for j in range(k):
                    if j != e and inst_t[j] < t_next:
                        t_next = inst_t[j]
            idx = (-(dc + 1)) % bs
            sat = st_sat[e]
            in_sys = st_insys[e]
            formed = t
            gps = group_phase_s[g]
            gpj = group_phase_j[g]
            while True:
                if top == dc + 1:
                    break
                t2 = (t + cpu_phase) + phase
                if t_next <= t2:
                    break
                need = buckets[e, idx]
                if fr < need:
                    break
                # the step ends at t2 (as in the general path, without finishes)
                gps += phase
                gpj += phase_j
                steps += 1
                seqs_sum += seqs_f
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
                    steady_tokens += ndec
                    if role[e] == _DECODER:
                        steady_dec_j += step_j
                        steady_dec_tokens += ndec
                t = t2
                formed = t
                # the next step: the same decodes, one token longer
                fr -= need
                idx = idx - 1 if idx > 0 else bs - 1
                a_d = float(sc + ndec)
                gpu = (c_t + cst[e, C_ADEC] * a_d) + c_a
                flop = (mm[e, 3] + cst[e, C_FDEC] * a_d) / tp
                nbytes = mm[e, 4] + cst[e, C_KDEC] * a_d + c_b
                if uncapped:
                    x = cst[e, C_AC] * (flop / (gpu * cst[e, C_PI])) / cst[e, C_PEC] \
                        + cst[e, C_AM] * (nbytes / (gpu * cst[e, C_BETA])) / cst[e, C_PEM]
                    if x > 1.0:
                        x = 1.0
                    power = idle + span * x
                else:
                    power, gpu = _power(cst, e, gpu, flop, nbytes)
                phase = gpu + comm
                phase_j = power * gpu + idle * comm
                if cst[e, C_OVL] > 0.5:
                    cpu_phase = cpu - phase if cpu > phase else 0.0
            if dc != dcount[e]:
                if seqs_f > max_batch:
                    max_batch = seqs_f
                if t > t_end:
                    t_end = t
                group_free[g] = t
                group_phase_s[g] = gps
                group_phase_j[g] = gpj
                dcount[e] = dc
                sum_c[e] = sc
                free[e] = fr
                phi[e] = ph
                st_formed[e] = t
                stc[e, 0] = gpu
                stc[e, 2] = phase
                stc[e, 3] = power
                stc[e, 4] = phase_j
        inst_state[e] = _CPUPH
        counter += 1
        inst_seq[e] = counter
        inst_t[e] = t + cpu_phase

        # ---- fast path for instances sharing GPUs: their events, in the general loop's order,
        # while every step each forms is again a pure decode step (as the solo path above) ----
        if not solo[g] and n_chunks == 0 and ndec > 0 and pf_head[e] < 0:
            ga, gb = group_start[g], group_start[g + 1]
            while True:
                j = -1
                best_t = _INF
                best_s = 0
                for m in range(ga, gb):
                    i = members[m]
                    if inst_t[i] < best_t or (inst_t[i] == best_t and j >= 0 and inst_seq[i] < best_s):
                        j = i
                        best_t = inst_t[i]
                        best_s = inst_seq[i]
                if j < 0 or inst_state[j] == _EMPTY:
                    break
                tj = best_t
                if inst_state[j] == _CPUPH:
                    start = tj if tj > group_free[g] else group_free[g]
                    end = start + stc[j, 2]
                    group_free[g] = end
                    inst_state[j] = _GPUPH
                    counter += 1
                    inst_seq[j] = counter
                    inst_t[j] = end
                    continue
                # its GPU phase ends at tj: would the next step be the same decode step again?
                bj = bsz[j]
                if st_len[j] != 0 or st_dec[j] == 0 or pf_head[j] >= 0:
                    break
                if hsize[j] > 0 and hkey[sb[j]] == dcount[j] + 1:
                    break
                if nxt[j] < hi[j] and arrival[nxt[j]] <= tj:
                    break
                need = buckets[j, (-(dcount[j] + 1)) % bj]
                if free[j] < need:
                    break
                tp = cst[j, C_TP]
                nd = st_dec[j]
                group_phase_s[g] += stc[j, 2]
                group_phase_j[g] += stc[j, 4]
                steps += 1
                seqs_sum += stc[j, 6]
                if stc[j, 6] > max_batch:
                    max_batch = stc[j, 6]
                kernel_s += tp * stc[j, 0]
                cpu_core_s += tp * stc[j, 1]
                run_s += st_insys[j] * (tj - st_formed[j])
                phi[j] += tp * stc[j, 4] / stc[j, 5]
                sum_c[j] += nd
                dcount[j] += 1
                if st_sat[j]:
                    wall = tj - st_formed[j]
                    step_j = tp * (stc[j, 3] * stc[j, 0] + cst[j, C_IDLE] * (wall - stc[j, 0]))
                    steady_s += wall
                    steady_j += step_j
                    steady_tokens += nd
                    if role[j] == _DECODER:
                        steady_dec_j += step_j
                        steady_dec_tokens += nd
                if tj > t_end:
                    t_end = tj
                free[j] -= need
                cph = _next_decode(cst, mm, stc, j, float(nd), float(sum_c[j] + nd), _comm(cst, j, float(nd), float(nd)))
                st_formed[j] = tj
                inst_state[j] = _CPUPH
                counter += 1
                inst_seq[j] = counter
                inst_t[j] = tj + cph

    # ---- results ----
    end = t_end
    for r in range(n):
        if arrival[r] > end:
            end = arrival[r]
    for gg in range(n_groups):
        if group_busy[gg] == 0:
            group_idle_s[gg] += end - group_idle_since[gg]
    if busy_total == 0:
        server_idle_s += end - server_idle_since
    gpu_j = 0.0
    idle_j = 0.0
    n_gpus = 0.0
    for gg in range(n_groups):
        gpu_j += group_gpus[gg] * (group_phase_j[gg] + group_idle_w[gg] * (end - group_phase_s[gg]))
        idle_j += group_gpus[gg] * group_idle_w[gg] * group_idle_s[gg]
        n_gpus += group_gpus[gg]
    decode_j = 0.0
    for jd in range(n_decoders):
        gg = int(inst[_GROUP, decoders[jd]])
        decode_j += group_gpus[gg] * (group_phase_j[gg] + group_idle_w[gg] * (end - group_phase_s[gg]))
    attributed = 0.0
    n_served = 0
    n_rejected = 0
    for r in range(n):
        if state[r] == _DONE:
            attributed += energy[r]
            n_served += 1
        elif state[r] == _REJECTED:
            n_rejected += 1
    residual = (gpu_j - attributed) / n_served if n_served > 0 else 0.0
    ttft = np.empty(n)
    tpot = np.empty(n)
    lat = np.empty(n)
    n_t = 0
    n_multi = 0
    good = 0
    p_tok = 0.0
    o_tok = 0.0
    ttft_slo = settings[_TTFT_SLO]
    tpot_slo = settings[_TPOT_SLO]
    for r in range(n):
        if want_per:
            per[_R_PREEMPTIONS, r] = preempted[r]
            per[_R_SERVED, r] = 1.0 if state[r] == _DONE else 0.0
            for j in range(5):
                per[j, r] = np.nan
        if state[r] != _DONE:
            continue
        tt = first_s[r] - arrival[r]
        tp_r = (finish_s[r] - first_s[r]) / (output[r] - 1) if output[r] > 1 else 0.0
        la = finish_s[r] - arrival[r]
        ttft[n_t] = tt
        lat[n_t] = la
        n_t += 1
        if output[r] > 1:
            tpot[n_multi] = tp_r
            n_multi += 1
        if (ttft_slo <= 0.0 or tt <= ttft_slo) and (tpot_slo <= 0.0 or tp_r <= tpot_slo):
            good += 1
        p_tok += prompt[r]
        o_tok += output[r]
        if want_per:
            per[_R_TTFT_S, r] = tt
            per[_R_TPOT_S, r] = tp_r
            per[_R_LATENCY_S, r] = la
            per[_R_FINISH_S, r] = finish_s[r]
            per[_R_GPU_ENERGY_J, r] = energy[r] + residual
    out[_O_SERVED] = n_served
    out[_O_REJECTED] = n_rejected
    out[_O_DURATION_S] = end
    out[_O_IDLE_S] = server_idle_s
    out[_O_BUSY_S] = end - server_idle_s
    out[_O_PROMPT_TOKENS] = p_tok
    out[_O_OUTPUT_TOKENS] = o_tok
    _summarise(out, _O_TTFT_MEAN_S, _O_TTFT_P50_S, _O_TTFT_P90_S, _O_TTFT_P99_S, ttft, n_t)
    _summarise(out, _O_TPOT_MEAN_S, _O_TPOT_P50_S, _O_TPOT_P90_S, _O_TPOT_P99_S, tpot, n_multi)
    _summarise(out, _O_LATENCY_MEAN_S, _O_LATENCY_P50_S, _O_LATENCY_P90_S, _O_LATENCY_P99_S, lat,
               n_t)
    out[_O_SLO_ATTAINMENT] = good / n if n > 0 else 0.0
    out[_O_GPU_ENERGY_J] = gpu_j
    out[_O_GPU_IDLE_ENERGY_J] = idle_j
    out[_O_GPU_KERNEL_S] = kernel_s
    out[_O_CPU_CORE_S] = cpu_core_s
    out[_O_STEPS] = steps
    out[_O_PREFILL_TOKENS] = prefill_tokens
    out[_O_PREEMPTIONS] = preemptions
    out[_O_MEAN_BATCH] = seqs_sum / steps if steps > 0 else 0.0
    out[_O_MAX_BATCH] = max_batch
    out[_O_STEADY_S] = steady_s
    out[_O_STEADY_GPU_ENERGY_J] = steady_j
    out[_O_STEADY_OUTPUT_TOKENS] = steady_tokens
    out[_O_GPUS] = n_gpus
    out[_O_CONCURRENCY] = run_s / end if end > 0.0 else 0.0
    out[_O_DECODE_GPU_ENERGY_J] = decode_j
    out[_O_STEADY_DECODE_GPU_ENERGY_J] = steady_dec_j
    out[_O_STEADY_DECODE_OUTPUT_TOKENS] = steady_dec_tokens


@njit(cache=True, nogil=True)
def simulate_many_kernel(inst_all, inst_bounds, arrival, prompt, output, req_bounds, owner_bounds, settings, out,
                         order, first, last, per, want_per):
    """Simulate systems ``order[first:last]`` (one per column of ``out``), without the GIL.

    System ``j`` has instances ``inst_all[:, inst_bounds[j]:inst_bounds[j+1]]`` and requests
    ``req_bounds[j]:req_bounds[j+1]``; ``owner_bounds[inst_bounds[j] + j + i]`` is where its
    instance ``i``'s requests start (relative to the system's first request). With
    ``want_per``, per-request results go to ``per[:, req_bounds[j]:req_bounds[j+1]]``. Threads
    call it on one system at a time (:func:`carbonsim.models.serving.simulate_many`).
    """
    col = np.empty(N_OUTPUTS)
    for q in range(first, last):
        j = order[q]
        a, b = inst_bounds[j], inst_bounds[j + 1]
        ra, rb = req_bounds[j], req_bounds[j + 1]
        ob = owner_bounds[a + j: b + j + 1]
        pj = per[:, ra:rb] if want_per else per[:, 0:1]
        simulate_one(inst_all[:, a:b], arrival[ra:rb], prompt[ra:rb], output[ra:rb], ob, settings[:, j], col, pj,
                     want_per)
        out[:, j] = col


def simulate(instances, arrival_s, prompt_tokens, output_tokens, owner, settings):
    """Compiled counterpart of :func:`carbonsim.models.serving.reference.simulate_reference` (same
    arguments and results)."""
    inst = np.ascontiguousarray(instances, dtype=np.float64)
    owner = np.asarray(owner, dtype=np.int64)
    k = inst.shape[1]
    bounds = np.searchsorted(owner, np.arange(k + 1)).astype(np.int64)
    check_roles(inst[I["role"]], inst[I["gpu_group"]], bounds)
    n = len(arrival_s)
    out = np.empty((N_OUTPUTS, 1))
    per = np.empty((N_REQUEST_OUT, max(n, 1)))
    simulate_many_kernel(inst, np.array([0, k], dtype=np.int64),
                         np.ascontiguousarray(arrival_s, dtype=np.float64),
                         np.ascontiguousarray(prompt_tokens, dtype=np.int64),
                         np.ascontiguousarray(output_tokens, dtype=np.int64), np.array([0, n], dtype=np.int64),
                         bounds, np.ascontiguousarray(np.reshape(settings, (-1, 1)), dtype=np.float64), out,
                         np.zeros(1, dtype=np.int64), 0, 1, per, True)
    return out[:, 0], per[:, :n]
