r"""Roofline step model of LLM inference: prefill and decode, tensor parallelism, MoE, quantisation.

Readable NumPy reference. Every function is pure and works on arrays (one element per point);
:mod:`carbonsim.models.perf._kernels` computes the same numbers with Numba, and
``tests/models/test_perf_llm.py`` checks that the two agree on seeded random inputs.

The model (``docs/perf.md`` has the derivation and the calibration):

A forward step processes :math:`T` new tokens of :math:`B_s` sequences, each sequence
adding :math:`n` tokens to a context of :math:`c` tokens already in the KV cache (prefill:
:math:`n = s_{in}, c = 0`; decode: :math:`n = 1`). On each of the :math:`t` tensor-parallel
GPUs the step takes

.. math::

    t_{gpu} = L\,t_0 + \mathrm{smax}_p\!\Big(\frac{F_{mm}}{t\,\eta_c\,\Pi},
                                           \frac{b_w W}{t\,\eta_m\,\beta}\Big)
            + \mathrm{smax}_p\!\Big(\frac{F_{att}}{t\,\eta_c\,\Pi},
                                    \frac{Q_{kv}}{\eta_m\,\beta}\Big)
            + \frac{Q_{act}}{\eta_m\,\beta}

with :math:`\mathrm{smax}_p(x, y) = (x^p + y^p)^{1/p}` (a smooth roofline; :math:`p \to
\infty` is the pure ``max`` of Williams et al., CACM 2009), :math:`\Pi` the dense peak FLOP/s
at the math precision, :math:`\beta` the HBM bandwidth, :math:`\eta_c, \eta_m` achieved
efficiencies and :math:`t_0` a fixed per-layer kernel time (launch and tail), fitted on
Vidur's operator profiles (Agrawal et al., MLSys 2024). The three terms are the matrix
products (weights :math:`W` read once per step), attention (KV-cache read and write) and the
element-wise kernels (norms, residuals, RoPE, activation), which run one after another.

* matrix FLOPs :math:`F_{mm} = 2 T L (P_{attn} + P_{ffn,active}) + 2 B_s V h` (the LM head
  runs on the last token of each sequence only, as in vLLM);
* attention FLOPs :math:`F_{att} = 4 L\,n_h d\,B_s\,n\,(c + (n+1)/2)` (causal
  :math:`QK^T` and :math:`SV`; GQA changes bytes, not FLOPs);
* KV bytes :math:`Q_{kv} = 2 L\,n_{kv} d\,b_{kv}\,B_s (c + n)\,\max(n_{kv}, t)/(n_{kv} t)`
  (read the context, write the new tokens; KV heads are replicated when :math:`t > n_{kv}`);
* MoE: the weights touched in a step hold the expected number of distinct experts hit by
  :math:`T` tokens with uniform top-:math:`k` routing, :math:`E(1 - (1 - k/E)^T)`;
  routed-expert FLOPs are slowed by ``moe_compute_factor`` (fused-MoE kernels run slower than
  dense GEMMs of the same shape; Fernandez et al. 2025);
* quantisation enters only through :math:`b_w` and :math:`b_{kv}`; weight-only int4 keeps the
  fp16 :math:`\Pi` (it saves bytes, not FLOPs).

Tensor parallelism follows Megatron-LM (Shoeybi et al., arXiv 1909.08053): FLOPs, weights and
KV divide by :math:`t`, and each layer ends its attention and its FFN with an all-reduce of
the :math:`T h` activations, :math:`t_{AR} = \alpha + 2\frac{t-1}{t} \frac{T h b_a}{\beta_{bus}}`
(ring all-reduce; NCCL's bus-bandwidth convention), so :math:`t_{comm} = 2L\,t_{AR}` plus a
gather of the logits.

Each engine iteration also costs CPU time (scheduling, sampling, input preparation, worker
RPC), :math:`t_{cpu} = c_0 + c_1 B_s + [t > 1](c_{t0} + c_{t1} B_s)` (Vidur's CPU-overhead
profiles). A synchronous engine (vLLM <= 0.5, HF) adds it,
:math:`t_{step} = t_{gpu} + t_{comm} + t_{cpu}`; an overlapped engine (async scheduling, CUDA
graphs) hides it, :math:`t_{step} = \max(t_{gpu} + t_{comm}, t_{cpu})`.

Three features of current vLLM decide its large-batch decode step (docs/perf.md, section 2):

* a per-step time :math:`t_{sync}` that even the overlapped form does not hide (the GPU waits:
  sampled tokens returned to the scheduler, inputs of the next step copied in);
* a fixed GPU time :math:`t_h` per sequence, layer and query head on a GPU in a decode step
  (paged attention and KV-cache writes have per-sequence work that does not scale with the
  context), :math:`B_s L n_h t_h / t`, run at the memory-bound activity;
* CUDA graphs captured for batches 1, 2, 4, 8, 16, ... up to ``graph_max_batch``: a decode batch
  at most that size runs padded to the next captured size (its matrix products, element-wise
  kernels and LM head see the padded token count; attention sees the real sequences).

A static batch (``static_batch``: HF transformers) decodes until its longest output ends: with
output lengths exponential and capped at ``max_new_tokens`` (:func:`expected_longest_output`),
it takes :math:`E[\min(\max_B s_{out}, c)]` steps, every sequence computed at each step.

An offline task (the seed's section 5.1: vLLM's latency benchmark) is a prefill of the
:math:`B` prompts (split into engine steps of at most ``max_batched_tokens`` tokens) followed
by :math:`s_{out}` decode steps with contexts :math:`s_{in}, \dots, s_{in}+s_{out}-1`; all
requests of the batch finish together, so the per-request latency is the batch time.

The memory limit per GPU is :math:`b_w P_{total}/t + B\,(s_{in}+s_{out})\,\kappa_{kv}
+ Q_{act,peak} + M_{reserve} \le u\,M` (vLLM's ``gpu_memory_utilization`` :math:`u`); a point
over it is flagged (``feasible = 0``) and still evaluated.
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.perf.layout import (
    ACT_F_PER_MATRIX,
    ACT_H,
    ACT_LIVE_H,
    DEFAULTS,
    GRAPH_BUCKET,
    GRAPH_BUCKET_LARGE,
    GRAPH_LARGE_FROM,
    N_OUTPUTS,
    N_PARAMS,
    O,
    P,
    PARAM_NAMES,
)

GB = 1e9
TERA = 1e12


# --- building blocks ---------------------------------------------------------------------------

def smooth_max(x, y, p):
    r"""Smooth maximum :math:`(x^p + y^p)^{1/p}` of non-negative ``x`` and ``y``.

    Computed as :math:`m (1 + (l/m)^p)^{1/p}` with :math:`m = \max(x, y)`,
    :math:`l = \min(x, y)` so that it never overflows; 0 when both are 0. It exceeds the
    plain maximum by at most :math:`2^{1/p}` (at :math:`x = y`): with :math:`p \approx 3` a
    kernel at the roofline ridge runs about 1.26x slower than either bound, as measured
    (Vidur profiles; ``../docs/perf.md``).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    hi = np.maximum(x, y)
    lo = np.minimum(x, y)
    safe = np.where(hi > 0, hi, 1.0)
    return np.where(hi > 0, hi * (1.0 + (lo / safe) ** p) ** (1.0 / p), 0.0)


def expected_distinct_experts(experts, top_k, tokens):
    r"""Expected number of distinct experts hit by ``tokens`` tokens, each routed to ``top_k``.

    Under uniform routing an expert is missed by one token with probability
    :math:`1 - k/E`, so :math:`\mathbb{E}[\text{distinct}] = E\,(1 - (1 - k/E)^T)`. It is
    :math:`k` for one token and tends to :math:`E` as :math:`T` grows (Qwen1.5-MoE, E = 60,
    k = 4: 4, 25.5, 52.1 and 58.7 experts for T = 1, 8, 32, 64).
    """
    experts = np.asarray(experts, dtype=float)
    safe = np.where(experts > 0, experts, 1.0)
    miss = np.clip(1.0 - np.asarray(top_k, dtype=float) / safe, 0.0, 1.0)
    return np.where(experts > 0, experts * (1.0 - miss ** np.asarray(tokens, dtype=float)), 0.0)


def allreduce_time_s(message_bytes, tp, alpha_s, bus_bandwidth_gb_s):
    r"""Time of one ring all-reduce of ``message_bytes`` over ``tp`` GPUs.

    :math:`t = \alpha + 2\frac{t-1}{t}\,S/\beta_{bus}` for :math:`t > 1`, else 0 (the
    :math:`\alpha`-:math:`\beta` model; NCCL reports :math:`\beta_{bus}` as "busbw").
    """
    tp = np.asarray(tp, dtype=float)
    bw = np.asarray(bus_bandwidth_gb_s, dtype=float) * GB
    t = alpha_s + 2.0 * (tp - 1.0) / np.maximum(tp, 1.0) * np.asarray(message_bytes) / bw
    return np.where(tp > 1.0, t, 0.0)


def cpu_time_s(seqs, tp, base_s, per_seq_s, tp_base_s, tp_per_seq_s):
    r"""CPU/scheduler time of one engine iteration over ``seqs`` sequences.

    :math:`t_{cpu} = c_0 + c_1 B_s + [t > 1](c_{t0} + c_{t1} B_s)` (schedule, sample,
    prepare inputs, process outputs; plus the worker RPC of a multi-GPU engine).
    """
    seqs = np.asarray(seqs, dtype=float)
    extra = np.where(np.asarray(tp) > 1.0, tp_base_s + tp_per_seq_s * seqs, 0.0)
    return base_s + per_seq_s * seqs + extra


def _shape(p):
    """Per-layer parameter counts of the model in column(s) ``p``."""
    L = p[P["n_layers"]]
    h = p[P["hidden"]]
    q = p[P["n_heads"]] * p[P["head_dim"]]
    kvd = p[P["n_kv_heads"]] * p[P["head_dim"]]
    m = p[P["ffn_matrices"]]
    E = p[P["moe_experts"]]
    moe = E > 0
    p_attn = h * (q + 2.0 * kvd) + q * h
    # dense part of the FFN (always active) and one routed expert
    dense_ffn = np.where(moe, m * h * p[P["moe_shared_ffn"]] + h * E, m * h * p[P["ffn"]])
    expert = np.where(moe, m * h * p[P["moe_expert_ffn"]], 0.0)
    ffn_width_active = np.where(moe, p[P["moe_top_k"]] * p[P["moe_expert_ffn"]]
                                + p[P["moe_shared_ffn"]], p[P["ffn"]])
    V = p[P["vocab"]]
    total = (L * (p_attn + dense_ffn + E * expert) + V * h * (2.0 - p[P["tied_embeddings"]])
             + p[P["extra_params"]])
    return dict(L=L, h=h, q=q, kvd=kvd, m=m, E=E, k=p[P["moe_top_k"]], p_attn=p_attn,
                dense_ffn=dense_ffn, expert=expert, ffn_width_active=ffn_width_active, V=V,
                total=total)


def step_gpu(p, tokens, seqs, new_per_seq, context):
    r"""GPU kernel time, FLOPs and bytes of one forward step, per GPU.

    Every sequence of the step adds the same number of tokens to the same context (an offline
    prefill or decode step); :func:`step_gpu_mixed` is the general form.

    Parameters
    ----------
    p : ndarray, shape (N_PARAMS, n)
        Points (rows as in :mod:`carbonsim.models.perf.layout`).
    tokens, seqs, new_per_seq, context : array_like
        :math:`T`, :math:`B_s`, :math:`n` and :math:`c` of the step.

    Returns
    -------
    t_gpu_s, flop, bytes : ndarray
        Kernel time [s], FLOPs and HBM bytes of one GPU (equations in the module docstring).
    """
    seqs = np.asarray(seqs, dtype=float)
    n = np.asarray(new_per_seq, dtype=float)
    c = np.asarray(context, dtype=float)
    return step_gpu_mixed(p, tokens, seqs, seqs * n * (c + 0.5 * (n + 1.0)), seqs * (c + n), 0.0, 0.0)


def step_gpu_mixed(p, tokens, sampled_seqs, attn_work, kv_tokens, attn_work_2=0.0, kv_tokens_2=0.0):
    r"""GPU kernel time, FLOPs and bytes of one forward step whose sequences differ, per GPU.

    A continuous-batching step mixes sequences at different points: prefill chunks of
    :math:`n_i` tokens on top of :math:`c_i` cached ones, and decodes (:math:`n_i = 1`). The
    matrix products and element-wise kernels see only the step's token count :math:`T = \sum_i
    n_i`; the LM head sees the sequences that sample a token; attention depends on the sums

    .. math::

        A = \sum_i n_i \big(c_i + \tfrac{n_i + 1}{2}\big) \quad\text{(causal score work)},
        \qquad K = \sum_i (c_i + n_i) \quad\text{(KV tokens read and written)}

    so that :math:`F_{att} = 4 L\,n_h d\,A` and :math:`Q_{kv} = 2 L\,n_{kv} d\,b_{kv}\,K\,
    \max(n_{kv}, t)/(n_{kv} t)`. Attention kernels given as separate groups (``attn_work`` /
    ``kv_tokens`` and ``attn_work_2`` / ``kv_tokens_2``: prefill chunks and decodes, which vLLM
    runs as two kernels) each get their own roofline smooth max; an empty group costs nothing.
    With one group of :math:`B_s` equal sequences this is :func:`step_gpu`.

    Parameters
    ----------
    p : ndarray, shape (N_PARAMS, n) or (N_PARAMS,)
        Points (rows as in :mod:`carbonsim.models.perf.layout`).
    tokens : array_like
        :math:`T`, new tokens in the step.
    sampled_seqs : array_like
        Sequences whose last position goes through the LM head (those that emit a token).
    attn_work, kv_tokens : array_like
        :math:`A` and :math:`K` of the first attention group.
    attn_work_2, kv_tokens_2 : array_like, optional
        The same for a second attention group.

    Returns
    -------
    t_gpu_s, flop, bytes : ndarray
        Kernel time [s], FLOPs and HBM bytes of one GPU.
    """
    s = _shape(p)
    t = p[P["tp"]]
    pi = p[P["peak_tflops"]] * TERA
    beta = p[P["memory_bandwidth_gb_s"]] * GB
    eta_c, eta_m, pw = p[P["eta_compute"]], p[P["eta_memory"]], p[P["smooth_max_p"]]
    bw, bkv, ba = p[P["weight_bytes"]], p[P["kv_bytes"]], p[P["act_bytes"]]
    k = s["k"]
    E = s["E"]
    T = np.asarray(tokens, dtype=float)
    seqs = np.asarray(sampled_seqs, dtype=float)

    # matrix products: all layers' weights once, LM head on one token per sampled sequence
    k_eff = np.where(E > 0, k, 0.0)
    flop_mm = 2.0 * T * s["L"] * (s["p_attn"] + s["dense_ffn"] + k_eff * s["expert"]) \
        + 2.0 * seqs * s["V"] * s["h"]
    flop_mm_timed = flop_mm + 2.0 * T * s["L"] * k_eff * s["expert"] * (p[P["moe_compute_factor"]] - 1.0)
    touched = expected_distinct_experts(E, k, T)
    weights = s["L"] * (s["p_attn"] + s["dense_ffn"] + touched * s["expert"]) + s["V"] * s["h"]
    t_mm = smooth_max(flop_mm_timed / (t * eta_c * pi), bw * weights / (t * eta_m * beta), pw)

    # attention: causal QK^T and SV; KV cache read (context) and write (new tokens)
    nkv = p[P["n_kv_heads"]]
    kv_share = np.maximum(nkv, t) / (nkv * t)
    flop_att = np.zeros_like(t_mm)
    bytes_kv = np.zeros_like(t_mm)
    t_att = np.zeros_like(t_mm)
    for work, kv in ((attn_work, kv_tokens), (attn_work_2, kv_tokens_2)):
        f = 4.0 * s["L"] * s["q"] * np.asarray(work, dtype=float)
        b = 2.0 * s["L"] * s["kvd"] * bkv * np.asarray(kv, dtype=float) * kv_share
        flop_att = flop_att + f
        bytes_kv = bytes_kv + b
        t_att = t_att + smooth_max(f / (t * eta_c * pi), b / (eta_m * beta), pw)

    # element-wise kernels (replicated h-sized tensors, TP-split FFN intermediate)
    bytes_act = ba * T * s["L"] * (ACT_H * s["h"] + ACT_F_PER_MATRIX * s["m"] * s["ffn_width_active"] / t)
    t_act = bytes_act / (eta_m * beta)

    t_gpu = s["L"] * p[P["layer_overhead_s"]] + t_mm + t_att + t_act
    flop = (flop_mm + flop_att) / t
    nbytes = bw * weights / t + bytes_kv + bytes_act
    return t_gpu, flop, nbytes


def step_comm_s(p, tokens, seqs):
    r"""All-reduce time of one step: :math:`2L` activation all-reduces plus the logit gather."""
    t = p[P["tp"]]
    L, h, V, ba = p[P["n_layers"]], p[P["hidden"]], p[P["vocab"]], p[P["act_bytes"]]
    alpha = p[P["allreduce_alpha_s"]]
    bw = p[P["link_bandwidth_gb_s"]]
    ar = allreduce_time_s(np.asarray(tokens) * h * ba, t, alpha, bw)
    # gather of the vocabulary-parallel logits: half the traffic of an all-reduce
    gather = np.where(t > 1, alpha + (t - 1.0) / t * seqs * V * ba / (bw * GB), 0.0)
    return 2.0 * L * ar + gather


def step_time_s(t_gpu, t_comm, t_cpu, overlap):
    """Wall time of one engine iteration: synchronous (sum) or overlapped (max) engine."""
    return np.where(np.asarray(overlap) > 0.5, np.maximum(t_gpu + t_comm, t_cpu), t_gpu + t_comm + t_cpu)


def graph_batch(batch, graph_max_batch):
    r"""Decode batch as a CUDA graph runs it.

    vLLM captures graphs for batches 1, 2, 4, multiples of 8 up to 256 and multiples of 16
    above, up to its largest capture size; a batch at most that size runs padded to the next
    captured size, a larger one (or any batch without graphs, ``graph_max_batch = 0``) eagerly
    and unpadded.
    """
    b = np.asarray(batch, dtype=float)
    gmax = np.asarray(graph_max_batch, dtype=float)
    small = np.where(b <= 1.0, 1.0, np.where(b <= 2.0, 2.0, 4.0))
    step = np.where(b <= GRAPH_LARGE_FROM, GRAPH_BUCKET, GRAPH_BUCKET_LARGE)
    padded = np.where(b <= 4.0, small, np.ceil(b / step) * step)
    return np.where((gmax > 0.0) & (b <= gmax), np.maximum(padded, b), b)


def expected_longest_output(mean_tokens, batch, cap_tokens):
    r"""Expected decode steps of a static batch: the mean of the longest of ``batch`` outputs.

    Output lengths are taken as exponential with mean :math:`\mu`, cut at the generation cap
    :math:`c` (``cap_tokens``; 0 = no cap), with :math:`\mu` such that their capped mean is the
    measured mean :math:`\bar s = \mu (1 - e^{-c/\mu})`. Substituting
    :math:`u = 1 - e^{-x/\mu}` in :math:`E[\min(M, c)] = \int_0^c 1 - (1 - e^{-x/\mu})^B dx`
    gives

    .. math::

        E[\min(\max_B s, c)] = \mu \sum_{k=1}^{B} \frac{u_c^k}{k}, \qquad u_c = 1 - e^{-c/\mu},

    which is :math:`\bar s` for one sequence and :math:`\mu H_B` (the harmonic number) without a
    cap. A mean at or above the cap gives :math:`c`. The exponential is an assumption (the
    measurements state only the mean); it is the maximum-entropy distribution of a given mean.
    """
    m = np.asarray(mean_tokens, dtype=float)
    B = np.asarray(batch, dtype=float)
    c = np.asarray(cap_tokens, dtype=float)
    m, B, c = np.broadcast_arrays(m, B, c)
    capped = c > 0.0
    at_cap = capped & (m >= c)
    # x = c / mu solves (1 - e^-x) / x = m / c on (0, c / m]; bisection (the left side falls in x)
    target = np.where(capped & ~at_cap & (m > 0), m / np.where(capped, c, 1.0), 0.5)
    lo = np.zeros_like(target)
    hi = np.where(target > 0, 1.0 / target, 1.0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        g = np.where(mid > 0, -np.expm1(-mid) / np.where(mid > 0, mid, 1.0), 1.0)
        high = g > target
        lo = np.where(high, mid, lo)
        hi = np.where(high, hi, mid)
    x = 0.5 * (lo + hi)
    mu = np.where(capped, c / np.where(x > 0, x, 1.0), m)
    u = np.where(capped, -np.expm1(-x), 1.0)
    total = np.zeros_like(m)
    uk = np.ones_like(m)
    for k in range(1, int(B.max()) + 1 if B.size else 1):
        uk = uk * u
        total = total + np.where(k <= B, uk / k, 0.0)
    out = np.where(at_cap, c, mu * total)
    return np.where(m > 0, out, 0.0)


def decode_steps(p):
    """Decode steps of the offline task: the output length, or a static batch's expected longest."""
    s_out = p[P["output_tokens"]]
    static = expected_longest_output(s_out, p[P["batch"]], p[P["max_new_tokens"]])
    return np.where(p[P["static_batch"]] > 0.5, static, s_out)


def decode_head_s(p, seqs):
    r"""Fixed decode-attention GPU time of one step: :math:`B_s L n_h t_h / t` (module docstring)."""
    return np.asarray(seqs, dtype=float) * p[P["n_layers"]] * p[P["n_heads"]] / p[P["tp"]] * p[P["attn_head_s"]]


def memory_gb(p):
    r"""Per-GPU memory: weights, KV cache, activation peak; what is available; max batch.

    Returns
    -------
    weights_gb, kv_gb, needed_gb, available_gb, max_batch : ndarray
    """
    s = _shape(p)
    t = p[P["tp"]]
    B = p[P["batch"]]
    s_in, s_out = p[P["prompt_tokens"]], p[P["output_tokens"]]
    nkv = p[P["n_kv_heads"]]
    weights = p[P["weight_bytes"]] * s["total"] / t / GB
    kv_per_seq = (2.0 * s["L"] * s["kvd"] * p[P["kv_bytes"]] * (s_in + s_out)
                  * np.maximum(nkv, t) / (nkv * t) / GB)
    live_per_token = p[P["act_bytes"]] * (ACT_LIVE_H * s["h"] + s["m"] * s["ffn_width_active"] / t) / GB
    seqs_per_step, _ = prefill_steps(B, s_in, p[P["max_batched_tokens"]])
    act = live_per_token * seqs_per_step * s_in
    reserve = p[P["memory_reserve_gb"]]
    needed = weights + B * kv_per_seq + act + reserve
    available = p[P["memory_utilization"]] * p[P["memory_gb"]]
    # largest batch: activations of a full prefill step (capped engines) or per sequence
    cap = p[P["max_batched_tokens"]]
    capped = cap > 0
    full_step = np.maximum(1.0, np.floor(np.where(capped, cap, 1.0) / np.maximum(s_in, 1.0))) * s_in
    act_fixed = np.where(capped, live_per_token * full_step, 0.0)
    per_seq = kv_per_seq + np.where(capped, 0.0, live_per_token * s_in)
    max_batch = np.maximum(0.0, np.floor((available - weights - reserve - act_fixed) / per_seq))
    return weights, B * kv_per_seq, needed, available, max_batch


def prefill_steps(batch, prompt_tokens, max_batched_tokens):
    """Sequences per prefill step and number of prefill steps.

    An engine without chunked prefill admits whole prompts until ``max_batched_tokens`` is
    reached (at least one prompt per step); 0 means the whole batch in one step. The
    steps are modelled as equal, with ``batch / n_steps`` (possibly fractional) sequences.
    """
    batch = np.asarray(batch, dtype=float)
    cap = np.asarray(max_batched_tokens, dtype=float)
    fit = np.maximum(1.0, np.floor(np.where(cap > 0, cap, 1.0) / np.maximum(prompt_tokens, 1.0)))
    n_steps = np.where(cap > 0, np.ceil(batch / fit), 1.0)
    return batch / n_steps, n_steps


# --- the offline task ----------------------------------------------------------------------------

def offline_task_reference(params: np.ndarray) -> np.ndarray:
    """Performance of an offline batch task for every point (readable reference).

    Parameters
    ----------
    params : ndarray, shape (N_PARAMS, n), float64
        Rows as in :data:`carbonsim.models.perf.layout.PARAM_NAMES`.

    Returns
    -------
    ndarray, shape (N_OUTPUTS, n)
        Rows as in :data:`carbonsim.models.perf.layout.OUTPUT_NAMES`.

    Notes
    -----
    Decode steps are summed one by one here (the kernel uses the closed form of the
    context-linear terms); the parity test checks that both agree.
    """
    p = np.asarray(params, dtype=np.float64)
    n = p.shape[1]
    out = np.empty((N_OUTPUTS, n))
    t = p[P["tp"]]
    B = p[P["batch"]]
    s_in, s_out = p[P["prompt_tokens"]], p[P["output_tokens"]]
    overlap = p[P["engine_overlap"]]
    cpu_args = (p[P["cpu_base_s"]], p[P["cpu_per_seq_s"]], p[P["cpu_tp_base_s"]], p[P["cpu_tp_per_seq_s"]])

    # prefill
    seqs_p, n_p = prefill_steps(B, s_in, p[P["max_batched_tokens"]])
    tok_p = seqs_p * s_in
    g_p, f_p, b_p = step_gpu(p, tok_p, seqs_p, s_in, 0.0)
    comm_p = step_comm_s(p, tok_p, seqs_p)
    cpu_p = cpu_time_s(seqs_p, t, *cpu_args)
    sync = p[P["step_sync_s"]]
    prefill_s = n_p * (step_time_s(g_p, comm_p, cpu_p, overlap) + sync)
    prefill_gpu = n_p * g_p
    prefill_flop, prefill_bytes = n_p * f_p, n_p * b_p

    # decode: one step per output token (a static batch: to its longest output), context growing
    # from s_in; the last step of a fractional count is weighted by its fraction
    pi = p[P["peak_tflops"]] * TERA
    beta = p[P["memory_bandwidth_gb_s"]] * GB
    n_d = decode_steps(p)
    B_graph = graph_batch(B, p[P["graph_max_batch"]])
    head = decode_head_s(p, B)
    head_bytes = head * p[P["eta_memory"]] * beta
    decode_s = np.zeros(n)
    decode_gpu = np.zeros(n)
    decode_flop = np.zeros(n)
    decode_bytes = np.zeros(n)
    comm_d = step_comm_s(p, B_graph, B_graph)
    cpu_d = cpu_time_s(B, t, *cpu_args)
    for j in range(int(np.ceil(n_d.max())) if n else 0):
        w = np.clip(n_d - j, 0.0, 1.0)
        g, f, b = step_gpu_mixed(p, B_graph, B_graph, B * (s_in + j + 1.0), B * (s_in + j + 1.0))
        g = g + head
        step = step_time_s(g, comm_d, cpu_d, overlap) + sync
        decode_s += w * step
        decode_gpu += w * g
        decode_flop += w * f
        decode_bytes += w * (b + head_bytes)
    comm_s = n_p * comm_p + n_d * comm_d
    cpu_s = n_p * cpu_p + n_d * cpu_d

    latency = prefill_s + decode_s
    busy = prefill_gpu + decode_gpu

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), 0.0)

    out[O["latency_s"]] = latency
    out[O["ttft_s"]] = prefill_s
    out[O["tpot_s"]] = ratio(decode_s, s_out)
    out[O["throughput_tok_s"]] = ratio(B * s_out, latency)
    out[O["prefill_s"]] = prefill_s
    out[O["decode_s"]] = decode_s
    out[O["prefill_gpu_s"]] = prefill_gpu
    out[O["decode_gpu_s"]] = decode_gpu
    out[O["gpu_busy_s"]] = busy
    out[O["comm_s"]] = comm_s
    out[O["cpu_s"]] = cpu_s
    out[O["gpu_wait_s"]] = np.maximum(0.0, latency - busy - comm_s)
    out[O["prefill_mfu"]] = ratio(prefill_flop, prefill_gpu * pi)
    out[O["prefill_mbu"]] = ratio(prefill_bytes, prefill_gpu * beta)
    out[O["decode_mfu"]] = ratio(decode_flop, decode_gpu * pi)
    out[O["decode_mbu"]] = ratio(decode_bytes, decode_gpu * beta)
    out[O["mfu"]] = ratio(prefill_flop + decode_flop, busy * pi)
    out[O["mbu"]] = ratio(prefill_bytes + decode_bytes, busy * beta)
    out[O["flop_per_gpu"]] = prefill_flop + decode_flop
    out[O["bytes_per_gpu"]] = prefill_bytes + decode_bytes
    out[O["server_s_per_task"]] = ratio(latency, B)
    out[O["gpu_s_per_task"]] = ratio(t * latency, B)
    weights, kv, needed, available, max_batch = memory_gb(p)
    out[O["weights_gb_per_gpu"]] = weights
    out[O["kv_gb_per_gpu"]] = kv
    out[O["memory_needed_gb"]] = needed
    out[O["memory_available_gb"]] = available
    out[O["max_batch"]] = max_batch
    out[O["feasible"]] = (needed <= available).astype(float)
    return out


def pack_params(n: int | None = None, **rows) -> np.ndarray:
    """Build a ``(N_PARAMS, n)`` parameter array from named rows (scalars or arrays).

    Rows missing from ``rows`` take :data:`carbonsim.models.perf.layout.DEFAULTS`; a row with no
    default must be given. ``n`` defaults to the longest array given (1 for all scalars).

    Raises
    ------
    KeyError
        For an unknown row name or a required row that is missing.
    """
    unknown = set(rows) - set(PARAM_NAMES)
    if unknown:
        raise KeyError(f"unknown performance parameter(s): {', '.join(sorted(unknown))}")
    missing = [k for k in PARAM_NAMES if k not in rows and k not in DEFAULTS]
    if missing:
        raise KeyError(f"missing performance parameter(s): {', '.join(missing)}")
    if n is None:
        n = max([np.size(v) for v in rows.values()] + [1])
    out = np.empty((N_PARAMS, n))
    for name in PARAM_NAMES:
        out[P[name]] = rows.get(name, DEFAULTS.get(name))
    return out


def unpack_outputs(out: np.ndarray) -> dict[str, np.ndarray]:
    """Output rows by name (views into ``out``)."""
    from carbonsim.models.perf.layout import OUTPUT_NAMES

    return {name: out[i] for i, name in enumerate(OUTPUT_NAMES)}
