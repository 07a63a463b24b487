"""Numba kernel of the LLM performance model: many inference points at once.

Same equations as :func:`carbonsim.models.perf.llm.offline_task_reference` (the readable reference);
``tests/models/test_perf_llm.py`` checks that the two agree on seeded random inputs. The decode
phase uses the closed form of the context-linear attention term: a decode step's GPU time is
``G0 + A (c + 1)`` (the attention smooth max is homogeneous of degree 1), so the sum over the
``s_out`` steps needs no loop for a synchronous engine and a loop of additions and ``max``
for an overlapped one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from carbonsim import kernel_cache
from carbonsim.models.arrays import padded_rows

from carbonsim.models.perf.layout import (
    ACT_F_PER_MATRIX,
    ACT_H,
    ACT_LIVE_H,
    GRAPH_BUCKET,
    GRAPH_BUCKET_LARGE,
    GRAPH_LARGE_FROM,
    N_OUTPUTS,
    O,
    P,
)

kernel_cache.install()  # stored kernels follow the carbonsim modules they import (docs/architecture.md)

_GB = 1e9
_TERA = 1e12

# parameter rows (module constants so Numba compiles them in)
_L, _H, _NH, _NKV, _HD = P["n_layers"], P["hidden"], P["n_heads"], P["n_kv_heads"], P["head_dim"]
_F, _M, _V, _TIED, _EXTRA = P["ffn"], P["ffn_matrices"], P["vocab"], P["tied_embeddings"], P["extra_params"]
_E, _K, _FE, _FS = P["moe_experts"], P["moe_top_k"], P["moe_expert_ffn"], P["moe_shared_ffn"]
_BW, _BKV, _BA = P["weight_bytes"], P["kv_bytes"], P["act_bytes"]
_PI, _BETA, _MEM = P["peak_tflops"], P["memory_bandwidth_gb_s"], P["memory_gb"]
_TP, _ALPHA, _LINK = P["tp"], P["allreduce_alpha_s"], P["link_bandwidth_gb_s"]
_B, _SIN, _SOUT, _CAP = P["batch"], P["prompt_tokens"], P["output_tokens"], P["max_batched_tokens"]
_ETAC, _ETAM, _PW, _T0, _GAMMA = (P["eta_compute"], P["eta_memory"], P["smooth_max_p"],
                                  P["layer_overhead_s"], P["moe_compute_factor"])
_C0, _C1, _CT0, _CT1, _OVL = (P["cpu_base_s"], P["cpu_per_seq_s"], P["cpu_tp_base_s"],
                              P["cpu_tp_per_seq_s"], P["engine_overlap"])
_UTIL, _RES = P["memory_utilization"], P["memory_reserve_gb"]
_SYNC, _HEAD, _GMAX, _STATIC, _CAPTOK = (P["step_sync_s"], P["attn_head_s"], P["graph_max_batch"],
                                        P["static_batch"], P["max_new_tokens"])

_O = {k: v for k, v in O.items()}
_LAT, _TTFT, _TPOT, _THR = _O["latency_s"], _O["ttft_s"], _O["tpot_s"], _O["throughput_tok_s"]
_PRE, _DEC, _PREG, _DECG, _BUSY = (_O["prefill_s"], _O["decode_s"], _O["prefill_gpu_s"],
                                   _O["decode_gpu_s"], _O["gpu_busy_s"])
_COMM, _CPU, _WAIT = _O["comm_s"], _O["cpu_s"], _O["gpu_wait_s"]
_PMFU, _PMBU, _DMFU, _DMBU, _MFU, _MBU = (_O["prefill_mfu"], _O["prefill_mbu"], _O["decode_mfu"],
                                          _O["decode_mbu"], _O["mfu"], _O["mbu"])
_FLOP, _BYTES, _SPT, _GPT = _O["flop_per_gpu"], _O["bytes_per_gpu"], _O["server_s_per_task"], _O["gpu_s_per_task"]
_WGB, _KVGB, _NEED, _AVAIL, _MAXB, _FEAS = (_O["weights_gb_per_gpu"], _O["kv_gb_per_gpu"],
                                           _O["memory_needed_gb"], _O["memory_available_gb"],
                                           _O["max_batch"], _O["feasible"])


@njit(cache=True, inline="always")
def _smax(x, y, p):
    hi = x if x > y else y
    lo = y if x > y else x
    if hi <= 0.0:
        return 0.0
    return hi * (1.0 + (lo / hi) ** p) ** (1.0 / p)


@njit(cache=True, inline="always")
def _ratio(a, b):
    return a / b if b > 0.0 else 0.0


@njit(cache=True, inline="always")
def _graph_batch(b, gmax):
    """Decode batch as a CUDA graph runs it (llm.graph_batch)."""
    if gmax <= 0.0 or b > gmax:
        return b
    if b <= 1.0:
        padded = 1.0
    elif b <= 2.0:
        padded = 2.0
    elif b <= 4.0:
        padded = 4.0
    elif b <= GRAPH_LARGE_FROM:
        padded = math.ceil(b / GRAPH_BUCKET) * GRAPH_BUCKET
    else:
        padded = math.ceil(b / GRAPH_BUCKET_LARGE) * GRAPH_BUCKET_LARGE
    return padded if padded > b else b


@njit(cache=True)
def _expected_longest(m, b, c):
    """Expected longest of ``b`` exponential outputs of capped mean ``m`` (llm.expected_longest_output)."""
    if m <= 0.0:
        return 0.0
    if c > 0.0:
        if m >= c:
            return c
        target = m / c
        lo = 0.0
        hi = 1.0 / target
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            g = -math.expm1(-mid) / mid if mid > 0.0 else 1.0
            if g > target:
                lo = mid
            else:
                hi = mid
        x = 0.5 * (lo + hi)
        mu = c / x if x > 0.0 else m
        u = -math.expm1(-x) if x > 0.0 else 1.0
    else:
        mu = m
        u = 1.0
    total = 0.0
    uk = 1.0
    for k in range(1, int(b) + 1):
        uk *= u
        total += uk / k
    return mu * total


@njit(cache=True, parallel=True, fastmath=False)
def offline_task_kernel(params, out):
    """Fill ``out`` (N_OUTPUTS, n) with the offline-task performance of ``params`` (N_PARAMS, n)."""
    n = params.shape[1]
    for j in prange(n):
        p = params
        L = p[_L, j]
        h = p[_H, j]
        q = p[_NH, j] * p[_HD, j]
        nkv = p[_NKV, j]
        kvd = nkv * p[_HD, j]
        m = p[_M, j]
        E = p[_E, j]
        k = p[_K, j]
        V = p[_V, j]
        t = p[_TP, j]
        B = p[_B, j]
        s_in = p[_SIN, j]
        s_out = p[_SOUT, j]
        bw = p[_BW, j]
        bkv = p[_BKV, j]
        ba = p[_BA, j]
        pi = p[_PI, j] * _TERA
        beta = p[_BETA, j] * _GB
        eta_c = p[_ETAC, j]
        eta_m = p[_ETAM, j]
        pw = p[_PW, j]
        gamma = p[_GAMMA, j]
        overlap = p[_OVL, j] > 0.5

        # model shape
        p_attn = h * (q + 2.0 * kvd) + q * h
        if E > 0.0:
            dense_ffn = m * h * p[_FS, j] + h * E
            expert = m * h * p[_FE, j]
            ffn_w = k * p[_FE, j] + p[_FS, j]
            k_eff = k
            miss = 1.0 - k / E
            if miss < 0.0:
                miss = 0.0
        else:
            dense_ffn = m * h * p[_F, j]
            expert = 0.0
            ffn_w = p[_F, j]
            k_eff = 0.0
            miss = 1.0
        total = L * (p_attn + dense_ffn + E * expert) + V * h * (2.0 - p[_TIED, j]) + p[_EXTRA, j]
        kv_share = (nkv if nkv > t else t) / (nkv * t)
        cc = eta_c * pi
        cm = eta_m * beta
        act_per_tok = ba * L * (ACT_H * h + ACT_F_PER_MATRIX * m * ffn_w / t)
        t_fixed = L * p[_T0, j]

        # prefill steps
        cap = p[_CAP, j]
        if cap > 0.0:
            fit = math.floor(cap / (s_in if s_in > 1.0 else 1.0))
            if fit < 1.0:
                fit = 1.0
            n_p = math.ceil(B / fit)
        else:
            n_p = 1.0
        seqs_p = B / n_p
        tok_p = seqs_p * s_in

        # -- one prefill step --
        flop_mm = 2.0 * tok_p * L * (p_attn + dense_ffn + k_eff * expert) + 2.0 * seqs_p * V * h
        flop_mm_t = flop_mm + 2.0 * tok_p * L * k_eff * expert * (gamma - 1.0)
        touched = E * (1.0 - miss ** tok_p) if E > 0.0 else 0.0
        weights = L * (p_attn + dense_ffn + touched * expert) + V * h
        t_mm = _smax(flop_mm_t / (t * cc), bw * weights / (t * cm), pw)
        flop_att = 4.0 * L * q * seqs_p * s_in * 0.5 * (s_in + 1.0)
        bytes_kv = 2.0 * L * kvd * bkv * seqs_p * s_in * kv_share
        t_att = _smax(flop_att / (t * cc), bytes_kv / cm, pw)
        bytes_act = act_per_tok * tok_p
        g_p = t_fixed + t_mm + t_att + bytes_act / cm
        f_p = (flop_mm + flop_att) / t
        b_p = bw * weights / t + bytes_kv + bytes_act

        ar_fac = 0.0
        alpha = 0.0
        if t > 1.0:
            ar_fac = 2.0 * (t - 1.0) / t / (p[_LINK, j] * _GB)
            alpha = p[_ALPHA, j]
            comm_p = (2.0 * L * (alpha + ar_fac * tok_p * h * ba)
                      + alpha + (t - 1.0) / t * seqs_p * V * ba / (p[_LINK, j] * _GB))
            comm_d = 0.0  # decode: below, on the CUDA graph's batch
            cpu_p = p[_C0, j] + p[_C1, j] * seqs_p + p[_CT0, j] + p[_CT1, j] * seqs_p
            cpu_d = p[_C0, j] + p[_C1, j] * B + p[_CT0, j] + p[_CT1, j] * B
        else:
            comm_p = 0.0
            comm_d = 0.0
            cpu_p = p[_C0, j] + p[_C1, j] * seqs_p
            cpu_d = p[_C0, j] + p[_C1, j] * B
        sync = p[_SYNC, j]
        if overlap:
            step_p = max(g_p + comm_p, cpu_p) + sync
        else:
            step_p = g_p + comm_p + cpu_p + sync
        prefill_s = n_p * step_p
        prefill_gpu = n_p * g_p
        prefill_flop = n_p * f_p
        prefill_bytes = n_p * b_p

        # -- decode: GPU time G0 + A (c + 1) for context c = s_in .. s_in + n_d - 1 --
        # n_d steps (a static batch: its expected longest output; a fractional last step is
        # weighted by its fraction); matrix products on the CUDA graph's padded batch Bg
        if p[_STATIC, j] > 0.5:
            n_d = _expected_longest(s_out, B, p[_CAPTOK, j])
        else:
            n_d = s_out
        Bg = _graph_batch(B, p[_GMAX, j])
        comm_d = 0.0
        if t > 1.0:
            comm_d = (2.0 * L * (alpha + ar_fac * Bg * h * ba)
                      + alpha + (t - 1.0) / t * Bg * V * ba / (p[_LINK, j] * _GB))
        flop_mm = 2.0 * Bg * L * (p_attn + dense_ffn + k_eff * expert) + 2.0 * Bg * V * h
        flop_mm_t = flop_mm + 2.0 * Bg * L * k_eff * expert * (gamma - 1.0)
        touched = E * (1.0 - miss ** Bg) if E > 0.0 else 0.0
        weights = L * (p_attn + dense_ffn + touched * expert) + V * h
        t_mm = _smax(flop_mm_t / (t * cc), bw * weights / (t * cm), pw)
        bytes_act = act_per_tok * Bg
        head = B * L * p[_NH, j] / t * p[_HEAD, j]   # fixed attention time per sequence, layer, head
        g0 = t_fixed + t_mm + bytes_act / cm + head
        fa = 4.0 * L * q * B          # attention FLOPs per unit of (c + 1)
        ka = 2.0 * L * kvd * bkv * B * kv_share   # KV bytes per unit of (c + 1)
        a_att = _smax(fa / (t * cc), ka / cm, pw)
        m_d = math.floor(n_d)
        f_d = n_d - m_d
        sum_c1 = m_d * (s_in + 1.0) + 0.5 * m_d * (m_d - 1.0) + f_d * (s_in + 1.0 + m_d)
        decode_gpu = n_d * g0 + a_att * sum_c1
        if overlap:
            decode_s = 0.0
            base = g0 + comm_d
            for i in range(int(m_d)):
                x = base + a_att * (s_in + 1.0 + i)
                decode_s += x if x > cpu_d else cpu_d
            if f_d > 0.0:
                x = base + a_att * (s_in + 1.0 + m_d)
                decode_s += f_d * (x if x > cpu_d else cpu_d)
            decode_s += n_d * sync
        else:
            decode_s = decode_gpu + n_d * (comm_d + cpu_d + sync)
        decode_flop = n_d * flop_mm / t + fa / t * sum_c1
        decode_bytes = n_d * (bw * weights / t + bytes_act + head * cm) + ka * sum_c1

        latency = prefill_s + decode_s
        busy = prefill_gpu + decode_gpu
        comm_s = n_p * comm_p + n_d * comm_d
        out[_LAT, j] = latency
        out[_TTFT, j] = prefill_s
        out[_TPOT, j] = _ratio(decode_s, s_out)
        out[_THR, j] = _ratio(B * s_out, latency)
        out[_PRE, j] = prefill_s
        out[_DEC, j] = decode_s
        out[_PREG, j] = prefill_gpu
        out[_DECG, j] = decode_gpu
        out[_BUSY, j] = busy
        out[_COMM, j] = comm_s
        out[_CPU, j] = n_p * cpu_p + n_d * cpu_d
        wait = latency - busy - comm_s
        out[_WAIT, j] = wait if wait > 0.0 else 0.0
        out[_PMFU, j] = _ratio(prefill_flop, prefill_gpu * pi)
        out[_PMBU, j] = _ratio(prefill_bytes, prefill_gpu * beta)
        out[_DMFU, j] = _ratio(decode_flop, decode_gpu * pi)
        out[_DMBU, j] = _ratio(decode_bytes, decode_gpu * beta)
        out[_MFU, j] = _ratio(prefill_flop + decode_flop, busy * pi)
        out[_MBU, j] = _ratio(prefill_bytes + decode_bytes, busy * beta)
        out[_FLOP, j] = prefill_flop + decode_flop
        out[_BYTES, j] = prefill_bytes + decode_bytes
        out[_SPT, j] = _ratio(latency, B)
        out[_GPT, j] = _ratio(t * latency, B)

        # memory limit
        w_gb = bw * total / t / _GB
        kv_seq = 2.0 * L * kvd * bkv * (s_in + s_out) * kv_share / _GB
        live = ba * (ACT_LIVE_H * h + m * ffn_w / t) / _GB
        reserve = p[_RES, j]
        need = w_gb + B * kv_seq + live * seqs_p * s_in + reserve
        avail = p[_UTIL, j] * p[_MEM, j]
        if cap > 0.0:
            act_fixed = live * fit * s_in
            per_seq = kv_seq
        else:
            act_fixed = 0.0
            per_seq = kv_seq + live * s_in
        mb = math.floor((avail - w_gb - reserve - act_fixed) / per_seq)
        out[_WGB, j] = w_gb
        out[_KVGB, j] = B * kv_seq
        out[_NEED, j] = need
        out[_AVAIL, j] = avail
        out[_MAXB, j] = mb if mb > 0.0 else 0.0
        out[_FEAS, j] = 1.0 if need <= avail else 0.0


def offline_task(params: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Performance of an offline batch task for many points (compiled).

    Parameters
    ----------
    params : ndarray, shape (N_PARAMS, n), float64
        Rows as in :data:`carbonsim.models.perf.layout.PARAM_NAMES` (see
        :func:`carbonsim.models.perf.llm.pack_params`).
    out : ndarray, shape (N_OUTPUTS, n), optional
        Reused output buffer.

    Returns
    -------
    ndarray, shape (N_OUTPUTS, n)
        Rows as in :data:`carbonsim.models.perf.layout.OUTPUT_NAMES`.
    """
    params = np.asarray(params, dtype=np.float64)  # strided rows welcome (models/arrays.py)
    if out is None:
        out = padded_rows(N_OUTPUTS, params.shape[1])
    offline_task_kernel(params, out)
    return out
