r"""Online serving with continuous batching: the readable reference simulator (layer 1).

One or more **instances** (serving engines, each a model on ``tp`` GPUs) take requests that
arrive over time. Each instance runs engine iterations ("steps") one after another; a step's
batch is chosen by vLLM's scheduling rules, its time and GPU power come from the roofline
performance model (:func:`carbonsim.models.perf.llm.step_gpu_mixed`, ``step_comm_s``,
``cpu_time_s``) and the activity power model (:func:`carbonsim.models.power.gpu.capped_gpu_power`).
Instances in the same ``gpu_group`` share their GPUs: their GPU phases run one at a time,
first come first served, while their CPU phases overlap. The compiled kernel
(:mod:`carbonsim.models.serving._kernels`) runs the same event loop with O(1) bookkeeping per
step; ``tests/models/test_serving_simulator.py`` holds the two together.

Requests
--------
Request :math:`r` has a prompt of :math:`p_r` tokens and produces :math:`o_r` output tokens.
Its state is :math:`c_r` (tokens whose KV is cached) and :math:`g_r` (tokens generated). It is
*prefilling* while :math:`c_r < p_r + g_r`; once its prefill ends it is *decoding*, with
:math:`c_r = p_r + g_r - 1`, until it finishes or is preempted.
Finishing a prefill samples a token (:math:`g_r \mathrel{+}= 1`; the first one is the time to
first token); a decode step feeds the last token and samples the next. A request finishes when
:math:`g_r = o_r`. TTFT is first token minus arrival; TPOT is
:math:`(t_{finish} - t_{first})/(o_r - 1)` for :math:`o_r > 1` (vLLM's benchmark definitions).

KV cache
--------
Each instance has :math:`N_b` blocks of :math:`b` tokens (vLLM's paged attention); a request
holds :math:`\lceil c_r / b \rceil` blocks. A decode step needs a new block for every decoding
request with :math:`c_r \bmod b = 0`; a prefill chunk of :math:`n` tokens needs
:math:`\lceil (c+n)/b \rceil - \lceil c/b \rceil`. Admitting a request keeps a watermark of free
blocks (vLLM: 1 %) unless nothing else runs. When a step's decodes need more blocks than are
free, the most recently admitted running request is **preempted** (recompute mode: its blocks
are freed, :math:`c_r = 0`, and it goes back to the front of the queue, to be prefilled again
with its :math:`p_r + g_r` tokens). A request that can never fit (longer than
``max_model_len``, than the KV cache, or, without chunked prefill, than the token budget) is
rejected on arrival.

Scheduling (one step)
---------------------
*Without chunked prefill* (vLLM V0's default): if waiting requests can be admitted (in arrival
order, preempted ones first) within ``max_num_seqs`` running sequences, ``token_budget``
tokens and the free blocks, the step prefills their whole prompts; otherwise it decodes every
running request.

*With chunked prefill* (decode-first, Sarathi-Serve / vLLM V0 chunked prefill): every running
decode (1 token each), then running prefills in admission order, then newly admitted
requests, each given ``min(remaining tokens, remaining budget)`` tokens.

Step cost (per GPU of the instance's tensor-parallel group of :math:`t`)
-------------------------------------------------------------------------
With :math:`T = \sum n_i` tokens, :math:`S` sequences of which :math:`S_s` sample a token, the
prefill chunks' attention sums :math:`A_p = \sum n_i (c_i + (n_i+1)/2)`,
:math:`K_p = \sum (c_i + n_i)` and the decodes' :math:`A_d = K_d = \sum (c_i + 1)`:

.. math::

    (t_{gpu}, F, Q) = \mathrm{step\_gpu\_mixed}(T, S_s, A_p, K_p, A_d, K_d), \quad
    t_{comm} = \mathrm{step\_comm}(T, S_s), \quad t_{cpu} = c_0 + c_1 S + [t>1](c_{t0} + c_{t1} S)

:math:`\mathrm{MFU} = F/(t_{gpu}\Pi)`, :math:`\mathrm{MBU} = Q/(t_{gpu}\beta)`; the GPU draws
:math:`P = P_{idle} + (P_{cap} - P_{idle})\min(1, a_c\mathrm{MFU}/\eta_c + a_m\mathrm{MBU}/\eta_m)`
(under a power limit the clock factor :math:`f` stretches the compute-bound share of
:math:`t_{gpu}`). The step's GPU phase lasts :math:`t_{gpu} + t_{comm}` and costs
:math:`P\,t_{gpu} + P_{idle}\,t_{comm}` per GPU; its CPU phase lasts :math:`t_{cpu}`
(synchronous engine) or :math:`\max(0, t_{cpu} - t_{gpu} - t_{comm})` (overlapped engine,
whose scheduling hides behind the GPU). All other time, within and between steps, the GPUs
draw their loaded idle :math:`P_{idle}`.

Prefill-decode disaggregation
-----------------------------
An instance's ``role`` makes it a prefill-only or a decode-only engine (Splitwise, DistServe).
Requests arrive at the prefill instances (the caller assigns them, round robin). A prefill
instance schedules as above; when a request's prefill ends (its first token sampled) the request
leaves it, freeing its blocks, and joins the waiting queue of the next decode instance, round
robin over the decode instances in the order of hand-off. A decode instance admits the
transferred requests at its queue's head first thing in a step, in order, within
``max_num_seqs`` and the free blocks (:math:`\lceil c_r/b \rceil` with the watermark), straight
into decoding; the step then first receives their KV caches,

.. math:: t_{kv} = \sum_r \left(\alpha_{kv} + c_r B_{kv} / \beta_{kv}\right)

(:func:`kv_transfer_s`; GPUs at loaded idle), and is otherwise scheduled as above: a request it
preempts is recomputed there. A prefill instance refuses on arrival what no decode instance could
hold. A step of a disaggregated system counts as steady while requests wait at any of its
instances (the system at its limit; a colocated engine: at that engine).

Energy per request: each step's GPU-phase energy is shared by its tokens (:math:`n_i/T`); the
GPUs' remaining energy (loaded idle between GPU phases) is shared equally by the served
requests, so the per-request energies add up to the total.

References
----------
.. [1] W. Kwon et al., "Efficient Memory Management for Large Language Model Serving with
   PagedAttention" (vLLM), SOSP 2023: paged KV blocks, continuous batching, preemption by
   recomputation.
.. [2] A. Agrawal et al., "Taming Throughput-Latency Tradeoff in LLM Inference with
   Sarathi-Serve", OSDI 2024: chunked prefills, decode-first stall-free batching.
.. [3] A. Agrawal et al., "Vidur: A Large-Scale Simulation Framework for LLM Inference",
   MLSys 2024: event-driven simulation of these schedulers.
.. [4] P. Patel et al., "Splitwise: Efficient Generative LLM Inference Using Phase Splitting",
   ISCA 2024; Y. Zhong et al., "DistServe: Disaggregating Prefill and Decoding for
   Goodput-optimized Large Language Model Serving", OSDI 2024: prefill and decode on separate
   GPUs, the KV cache moved between them.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from carbonsim.models.perf.layout import P
from carbonsim.models.perf.llm import cpu_time_s, step_comm_s, step_gpu_mixed
from carbonsim.models.power.gpu import capped_gpu_power, capped_time_factor
from carbonsim.models.serving.layout import (
    F_MIN, I, N_OUTPUTS, N_PARAMS, N_REQUEST_OUT, OUT, PERCENTILES, R, ROLES, S, check_roles,
)
from carbonsim.models.serving.memory import kv_bytes_per_token
from carbonsim.models.serving.quantiles import sketch_percentiles

GB = 1e9
TERA = 1e12

EMPTY, CPU, GPU = 0, 1, 2
PREFILL, DECODE = ROLES["prefill"], ROLES["decode"]


def blocks_for(tokens: int, block_size: int) -> int:
    """KV blocks holding ``tokens`` tokens: :math:`\\lceil tokens / b \\rceil`."""
    return -(-int(tokens) // int(block_size))


def step_cost(col: np.ndarray, chunks, decode_contexts, kv_s: float = 0.0) -> dict:
    """Time, power and energy of one engine step of the instance in ``col``.

    Parameters
    ----------
    col : ndarray, shape (N_INSTANCE,)
        One instance (rows as in :mod:`carbonsim.models.serving.layout`).
    chunks : list of (new_tokens, context, samples)
        Prefill chunks: tokens computed, tokens already cached, whether the chunk ends the
        prefill (and so samples a token).
    decode_contexts : list of int
        Cached tokens :math:`c_i` of each decoding request.
    kv_s : float
        Time the step first spends receiving transferred KV caches (a decode instance of a
        disaggregated system; GPUs at loaded idle) [s].

    Returns
    -------
    dict
        ``gpu_s`` (kernel time, after any power-limit stretch), ``comm_s``, ``cpu_s``,
        ``gpu_phase_s``, ``cpu_phase_s``, ``power_w`` (per GPU while kernels run),
        ``gpu_phase_j`` (per GPU), ``tokens``, ``seqs``.
    """
    p = col[:N_PARAMS]
    tokens = sum(n for n, _, _ in chunks) + len(decode_contexts)
    seqs = len(chunks) + len(decode_contexts)
    sampled = sum(1 for _, _, s in chunks if s) + len(decode_contexts)
    a_p = sum(n * (c + 0.5 * (n + 1.0)) for n, c, _ in chunks)
    k_p = sum(c + n for n, c, _ in chunks)
    a_d = sum(c + 1.0 for c in decode_contexts)
    t_gpu, flop, nbytes = (float(x) for x in step_gpu_mixed(p, float(tokens), float(sampled), a_p, k_p, a_d, a_d))
    comm = float(step_comm_s(p, float(tokens), float(sampled)))
    cpu = float(cpu_time_s(float(seqs), p[P["tp"]], p[P["cpu_base_s"]], p[P["cpu_per_seq_s"]],
                           p[P["cpu_tp_base_s"]], p[P["cpu_tp_per_seq_s"]]))
    mfu = flop / (t_gpu * p[P["peak_tflops"]] * TERA)
    mbu = nbytes / (t_gpu * p[P["memory_bandwidth_gb_s"]] * GB)
    eta_c, eta_m = col[I["power_eta_c"]], col[I["power_eta_m"]]
    power, f = capped_gpu_power(mfu, mbu, col[I["idle_loaded_w"]], col[I["cap_w"]], col[I["a_c"]], col[I["a_m"]],
                                eta_c, eta_m, col[I["power_limit_w"]], F_MIN)
    x_c, x_m = mfu / eta_c, mbu / eta_m
    share = x_c / (x_c + x_m) if x_c + x_m > 0 else 0.0
    gpu = t_gpu * float(capped_time_factor(share, f))
    phase = gpu + comm
    power = float(power)
    phase_j = power * gpu + col[I["idle_loaded_w"]] * comm
    if kv_s > 0.0:
        phase += kv_s
        phase_j += col[I["idle_loaded_w"]] * kv_s
    cpu_phase = max(0.0, cpu - phase) if p[P["engine_overlap"]] > 0.5 else cpu
    return {"gpu_s": gpu, "comm_s": comm, "cpu_s": cpu, "gpu_phase_s": phase, "cpu_phase_s": cpu_phase,
            "power_w": power, "gpu_phase_j": phase_j, "tokens": tokens, "seqs": seqs}


def kv_transfer_s(col: np.ndarray, tokens: int) -> float:
    r"""Time to move the KV cache of ``tokens`` tokens into the decode instance in ``col``.

    Each of the instance's :math:`t` GPUs receives its shard of the cache, all in parallel:

    .. math:: t_{kv} = \alpha_{kv} + c_r\,B_{kv} / \beta_{kv}

    with :math:`B_{kv}` the KV bytes per token per GPU
    (:func:`carbonsim.models.serving.memory.kv_bytes_per_token`), :math:`\beta_{kv}` the row
    ``kv_link_gb_s`` and :math:`\alpha_{kv}` the row ``kv_link_alpha_s``.
    """
    return float(col[I["kv_link_alpha_s"]]
                 + tokens * kv_bytes_per_token(col[:N_PARAMS]) / (col[I["kv_link_gb_s"]] * GB))


class _Engine:
    """The state of one serving engine (readable form: explicit queues and per-request loops)."""

    def __init__(self, col, lo, hi):
        self.col = col
        self.lo, self.next, self.hi = lo, lo, hi  # its requests, arrival order
        self.waiting = deque()
        self.running = []  # admission order
        self.free = int(col[I["kv_blocks"]])
        self.bs = int(col[I["block_size"]])
        self.tp = float(col[P["tp"]])
        self.group = int(col[I["gpu_group"]])
        self.role = int(col[I["role"]])
        self.state = EMPTY
        self.t = math.inf
        self.seq = 0
        self.step = None  # the step formed and not yet finished
        self.empty = True

    def has_work(self):
        return bool(self.waiting or self.running)

    def never_fits(self, longest):
        """A request of ``longest`` tokens (prompt + output) could never run here."""
        col = self.col
        return bool(longest > col[I["max_model_len"]]
                    or blocks_for(longest - 1, self.bs) > col[I["kv_blocks"]]
                    or (col[I["chunked_prefill"]] < 0.5 and longest - 1 > col[I["token_budget"]]))


def simulate_reference(instances, arrival_s, prompt_tokens, output_tokens, owner, settings):
    """Simulate online serving (readable reference).

    Parameters
    ----------
    instances : ndarray, shape (N_INSTANCE, k)
        One column per instance (:mod:`carbonsim.models.serving.layout`).
    arrival_s : ndarray, shape (n,)
        Arrival times [s], sorted within each instance.
    prompt_tokens, output_tokens : ndarray of int, shape (n,)
        Lengths (>= 1).
    owner : ndarray of int, shape (n,)
        The instance serving each request; requests of an instance are contiguous.
    settings : ndarray, shape (N_SETTINGS,)
        SLO targets (:data:`carbonsim.models.serving.layout.SETTING_NAMES`; 0 = none).

    Returns
    -------
    out : ndarray, shape (N_OUTPUTS,)
        Results (:data:`carbonsim.models.serving.layout.OUTPUT_NAMES`); percentiles through the
        histogram of :mod:`carbonsim.models.serving.quantiles` (within 0.1 % of the exact ones).
    per_request : ndarray, shape (N_REQUEST_OUT, n)
        Per-request results (:data:`~carbonsim.models.serving.layout.REQUEST_NAMES`); NaN for
        rejected requests.
    """
    sim = _Simulation(instances, arrival_s, prompt_tokens, output_tokens, owner)
    sim.run()
    return sim.results(settings)


class _Simulation:
    """One run: the engines, the requests' state, the totals, and one method per event (the
    kernel's helpers of the same names, :mod:`carbonsim.models.serving._kernels`)."""

    def __init__(self, instances, arrival_s, prompt_tokens, output_tokens, owner):
        inst = np.asarray(instances, dtype=float)
        self.arrival = np.asarray(arrival_s, dtype=float)
        self.prompt = np.asarray(prompt_tokens, dtype=np.int64)
        self.output = np.asarray(output_tokens, dtype=np.int64)
        owner = np.asarray(owner, dtype=np.int64)
        n, k = len(self.arrival), inst.shape[1]
        bounds = np.searchsorted(owner, np.arange(k + 1))
        self.engines = [_Engine(inst[:, e], int(bounds[e]), int(bounds[e + 1])) for e in range(k)]
        self.disaggregated = check_roles(inst[I["role"]], inst[I["gpu_group"]], bounds) if k else False
        self.decoders = [e for e in self.engines if e.role == DECODE]
        self.handoffs = 0   # requests handed on so far (round robin over the decode instances)
        n_groups = int(inst[I["gpu_group"]].max()) + 1 if k else 0
        self.group_gpus = np.zeros(n_groups)
        self.group_idle_w = np.zeros(n_groups)
        for e in self.engines:
            self.group_gpus[e.group] = e.tp
            self.group_idle_w[e.group] = e.col[I["idle_loaded_w"]]
        # per request
        self.computed = np.zeros(n, np.int64)
        self.generated = np.zeros(n, np.int64)
        self.first_s = np.full(n, np.nan)
        self.finish_s = np.full(n, np.nan)
        self.energy = np.zeros(n)
        self.preempted = np.zeros(n, np.int64)
        self.served = np.zeros(n, bool)
        self.rejected = np.zeros(n, bool)
        self.in_decode = np.zeros(n, bool)   # prefilled and generating one token per step
        # time bookkeeping
        self.group_free = np.zeros(n_groups)
        self.group_phase_s = np.zeros(n_groups)     # time in GPU phases
        self.group_phase_j = np.zeros(n_groups)     # energy of GPU phases, per GPU
        self.group_busy = np.zeros(n_groups, np.int64)   # instances with work
        self.group_idle_since = np.zeros(n_groups)
        self.group_idle_s = np.zeros(n_groups)
        self.busy_total = 0
        self.server_idle_since = 0.0
        self.server_idle_s = 0.0
        self.tot = {"steps": 0, "prefill_tokens": 0, "preemptions": 0, "seqs": 0, "max_batch": 0, "kernel_s": 0.0,
                    "cpu_core_s": 0.0, "steady_s": 0.0, "steady_j": 0.0, "steady_tokens": 0, "end": 0.0,
                    "run_s": 0.0, "steady_decode_j": 0.0, "steady_decode_tokens": 0}
        self.counter = 0

    def schedule(self, e, t):
        """Engine ``e``'s next event at ``t`` (ties: first scheduled, first served)."""
        e.t = t
        self.counter += 1
        e.seq = self.counter

    def next_arrival(self, e):
        return self.arrival[e.next] if e.next < e.hi else math.inf

    # -- the event loop ---------------------------------------------------------------------------
    def run(self):
        for e in self.engines:
            self.schedule(e, self.next_arrival(e))
        while True:
            e = min(self.engines, key=lambda x: (x.t, x.seq))
            t = e.t
            if t == math.inf:
                break
            if e.state == CPU:
                self.queue_gpu_phase(e, t)
                continue
            if e.state == GPU:   # the step ends
                self.finish_step(e, t)
            self.arrivals(e, t)
            self.form_step(e, t)

    def queue_gpu_phase(self, e, t):
        """The step's CPU phase ended: its kernels queue for the GPUs behind those already queued
        (first come, first served by the time the CPU phase ends)."""
        start = max(t, self.group_free[e.group])
        end = start + e.step["cost"]["gpu_phase_s"]
        self.group_free[e.group] = end
        e.state = GPU
        self.schedule(e, end)

    # -- requests arrive ------------------------------------------------------------------------------
    def arrivals(self, e, t):
        """Requests arriving at ``e`` by ``t`` join its waiting queue, or are rejected if they could
        never run (a prefill instance also refuses what no decode instance could hold)."""
        while e.next < e.hi and self.arrival[e.next] <= t:
            r = e.next
            e.next += 1
            longest = self.prompt[r] + self.output[r]
            if e.never_fits(longest) or (e.role == PREFILL and any(d.never_fits(longest) for d in self.decoders)):
                self.rejected[r] = True
            else:
                e.waiting.append(r)

    # -- forming a step -------------------------------------------------------------------------------
    def form_step(self, e, t):
        """Engine ``e`` forms its next step at ``t``: who runs, by vLLM's rules, and at what cost;
        or it sleeps if nothing can run."""
        self.mark_busy(e, t)
        kv_s = self.admit_transferred(e) if e.role == DECODE else 0.0
        chunks, decodes = [], []   # chunks: (r, n, c)
        chunked = e.col[I["chunked_prefill"]] >= 0.5
        if not chunked:   # whole prompts first (a prefill step), else a decode step
            chunks = self.admit_whole_prompts(e)
        if chunked or not chunks:   # a decode step (every running request), or a chunked step's decodes
            self.secure_decode_blocks(e)
            decodes = [r for r in e.running if self.in_decode[r]] if chunked else list(e.running)
        if chunked:       # decode-first, then running prefills, then new prompts, within the budget
            budget = self.continue_prefills(e, int(e.col[I["token_budget"]]) - len(decodes), chunks)
            self.admit_chunks(e, budget, chunks)
        if not chunks and not decodes:
            self.go_idle(e, t)
            return
        self.price_step(e, t, chunks, decodes, kv_s)

    def mark_busy(self, e, t):
        """Engine ``e`` has work again: its group's and the server's idle time stop."""
        if e.has_work() and e.empty:
            e.empty = False
            if self.group_busy[e.group] == 0:
                self.group_idle_s[e.group] += t - self.group_idle_since[e.group]
            self.group_busy[e.group] += 1
            if self.busy_total == 0:
                self.server_idle_s += t - self.server_idle_since
            self.busy_total += 1

    def admit_transferred(self, e):
        """Decode instance ``e`` admits the queue's transferred requests (KV cached elsewhere) in
        order, straight into decoding, while sequences and blocks allow; returns the time
        receiving their KV."""
        kv_s = 0.0
        max_seqs = int(e.col[I["max_num_seqs"]])
        while e.waiting and self.computed[e.waiting[0]] > 0 and len(e.running) < max_seqs:
            r = e.waiting[0]
            need = blocks_for(self.computed[r], e.bs)
            if e.free - need < (e.col[I["watermark_blocks"]] if e.running else 0):
                break
            e.waiting.popleft()
            e.free -= need
            e.running.append(r)
            self.in_decode[r] = True
            kv_s += kv_transfer_s(e.col, int(self.computed[r]))
        return kv_s

    def admit(self, e, need):
        """Admit the head of ``e``'s waiting queue, taking ``need`` KV blocks."""
        r = e.waiting.popleft()
        e.free -= need
        e.running.append(r)
        return r

    def admit_whole_prompts(self, e):
        """Without chunked prefill: admit waiting requests (preempted ones first) whole, in order,
        within the token budget, ``max_num_seqs`` and the free blocks (less the watermark unless
        nothing runs). Returns the chunks."""
        chunks, tokens = [], 0
        budget = int(e.col[I["token_budget"]])
        max_seqs = int(e.col[I["max_num_seqs"]])
        while e.waiting:
            r = e.waiting[0]
            if self.computed[r] > 0:   # transferred: admitted first thing next step
                break
            nt = int(self.prompt[r] + self.generated[r])
            need = blocks_for(nt, e.bs)
            if (tokens + nt > budget or len(e.running) >= max_seqs
                    or e.free - need < (e.col[I["watermark_blocks"]] if e.running else 0)):
                break
            chunks.append((self.admit(e, need), nt, 0))
            tokens += nt
        return chunks

    def secure_decode_blocks(self, e):
        """Preempt the latest-admitted running requests until the decodes' new blocks fit."""
        while e.running:
            need = sum(1 for r in e.running if self.in_decode[r] and self.computed[r] % e.bs == 0)
            if e.free >= need:
                e.free -= need
                return
            self.preempt(e, e.running[-1])

    def continue_prefills(self, e, budget, chunks):
        """Chunked prefill: the running prefills, in admission order, each given what is left of
        its prompt within the budget; when its blocks do not fit, later prefilling requests are
        preempted. Appends to ``chunks``; returns the budget left."""
        for r in list(e.running):
            if budget <= 0 or r not in e.running:  # preempted below: every later one was too
                break
            if self.in_decode[r]:
                continue
            c = int(self.computed[r])
            nt = min(int(self.prompt[r] + self.generated[r]) - c, budget)
            need = blocks_for(c + nt, e.bs) - blocks_for(c, e.bs)
            while e.free < need:
                victim = e.running[-1]
                if victim == r or self.in_decode[victim]:
                    break
                self.preempt(e, victim)
            if e.free < need:
                break
            e.free -= need
            chunks.append((r, nt, c))
            budget -= nt
        return budget

    def admit_chunks(self, e, budget, chunks):
        """Chunked prefill: newly admitted requests, each given ``min(prompt, budget left)`` tokens,
        within ``max_num_seqs`` and the free blocks. Appends to ``chunks``."""
        max_seqs = int(e.col[I["max_num_seqs"]])
        while e.waiting and budget > 0 and len(e.running) < max_seqs:
            r = e.waiting[0]
            if self.computed[r] > 0:   # transferred: admitted first thing next step
                break
            nt = min(int(self.prompt[r] + self.generated[r]), budget)
            need = blocks_for(nt, e.bs)
            if e.free - need < (e.col[I["watermark_blocks"]] if e.running else 0):
                break
            chunks.append((self.admit(e, need), nt, 0))
            budget -= nt

    def go_idle(self, e, t):
        """Nothing to run: ``e`` sleeps until its next arrival (or a hand-off wakes it)."""
        e.step = None
        e.state = EMPTY
        if not e.empty:  # nothing running, nothing waiting
            e.empty = True
            self.group_busy[e.group] -= 1
            if self.group_busy[e.group] == 0:
                self.group_idle_since[e.group] = t
            self.busy_total -= 1
            if self.busy_total == 0:
                self.server_idle_since = t
        self.schedule(e, self.next_arrival(e))

    def price_step(self, e, t, chunks, decodes, kv_s):
        """The step's cost (:func:`step_cost`); records the step (when formed, whether requests
        wait, requests in the system) and schedules the end of its CPU phase."""
        done = [c + nt == self.prompt[r] + self.generated[r] for r, nt, c in chunks]
        cost = step_cost(e.col, [(nt, c, d) for (_, nt, c), d in zip(chunks, done)],
                         [int(self.computed[r]) for r in decodes], kv_s)
        # at its limit: requests wait for this engine (disaggregated: for any engine of the system)
        saturated = any(x.waiting for x in self.engines) if self.disaggregated else bool(e.waiting)
        e.step = {"chunks": chunks, "decodes": decodes, "cost": cost, "formed": t,
                  "saturated": saturated, "in_system": len(e.running) + len(e.waiting)}
        e.state = CPU
        self.schedule(e, t + cost["cpu_phase_s"])

    # -- the step ends --------------------------------------------------------------------------------
    def finish_step(self, e, t):
        """The step's GPU phase ended at ``t``: count its time and energy, share its energy among its
        tokens, advance its prefills and decodes; requests that sampled their last token finish,
        prefilled ones on a prefill instance are handed on."""
        step = e.step
        cost = step["cost"]
        g = e.group
        phase_j = cost["gpu_phase_j"]
        self.group_phase_s[g] += cost["gpu_phase_s"]
        self.group_phase_j[g] += phase_j
        share_j = e.tp * phase_j / cost["tokens"]
        tot = self.tot
        tot["steps"] += 1
        tot["seqs"] += cost["seqs"]
        tot["run_s"] += step["in_system"] * (t - step["formed"])
        tot["max_batch"] = max(tot["max_batch"], cost["seqs"])
        tot["kernel_s"] += e.tp * cost["gpu_s"]
        tot["cpu_core_s"] += e.tp * cost["cpu_s"]
        sampled = 0
        for r, nt, c in step["chunks"]:
            self.energy[r] += share_j * nt
            tot["prefill_tokens"] += nt
            self.computed[r] = c + nt
            if self.computed[r] == self.prompt[r] + self.generated[r]:
                self.generated[r] += 1
                self.in_decode[r] = True
                sampled += 1
                if np.isnan(self.first_s[r]):
                    self.first_s[r] = t
        for r in step["decodes"]:
            self.energy[r] += share_j
            self.computed[r] += 1
            self.generated[r] += 1
            sampled += 1
        for r, _, _ in step["chunks"]:
            if self.generated[r] == self.output[r]:
                self.finish(e, r, t)
            elif e.role == PREFILL and self.in_decode[r]:
                self.hand_off(e, r, t)
        for r in step["decodes"]:
            if self.generated[r] == self.output[r]:
                self.finish(e, r, t)
        if step["saturated"]:
            wall = t - step["formed"]
            step_j = e.tp * (cost["power_w"] * cost["gpu_s"] + e.col[I["idle_loaded_w"]] * (wall - cost["gpu_s"]))
            tot["steady_s"] += wall
            tot["steady_j"] += step_j
            tot["steady_tokens"] += sampled
            if e.role == DECODE:
                tot["steady_decode_j"] += step_j
                tot["steady_decode_tokens"] += sampled
        tot["end"] = max(tot["end"], t)

    # -- request life ---------------------------------------------------------------------------------
    def preempt(self, e, r):
        """Preempt running request ``r`` (recompute mode): free its blocks, forget its cache, and
        put it back at the front of the waiting queue."""
        e.free += blocks_for(self.computed[r], e.bs)
        self.computed[r] = 0
        self.in_decode[r] = False
        e.running.remove(r)
        e.waiting.appendleft(r)
        self.preempted[r] += 1
        self.tot["preemptions"] += 1

    def hand_off(self, e, r, t):
        """Request ``r``'s prefill ended on prefill instance ``e``: its KV cache leaves ``e``'s
        blocks for the next decode instance, round robin, which is woken if it sleeps."""
        e.free += blocks_for(self.computed[r], e.bs)
        e.running.remove(r)
        self.in_decode[r] = False
        d = self.decoders[self.handoffs % len(self.decoders)]
        self.handoffs += 1
        d.waiting.append(r)
        if d.state == EMPTY and d.t > t:
            self.schedule(d, t)

    def finish(self, e, r, t):
        """Request ``r`` generated its last token at ``t``: it leaves ``e`` with its blocks."""
        e.free += blocks_for(self.computed[r], e.bs)
        e.running.remove(r)
        self.finish_s[r] = t
        self.served[r] = True

    # -- results --------------------------------------------------------------------------------------
    def results(self, settings):
        """The run's outputs and per-request results; the GPUs' energy not attributed to a step's
        tokens (loaded idle between GPU phases) is shared equally by the served requests."""
        arrival, prompt, output, served, tot = self.arrival, self.prompt, self.output, self.served, self.tot
        n = len(arrival)
        end = max(tot["end"], float(arrival.max()) if n else 0.0)
        for g in range(len(self.group_gpus)):
            if self.group_busy[g] == 0:
                self.group_idle_s[g] += end - self.group_idle_since[g]
        if self.busy_total == 0:
            self.server_idle_s += end - self.server_idle_since
        group_j = self.group_gpus * (self.group_phase_j + self.group_idle_w * (end - self.group_phase_s))
        gpu_j = float(group_j.sum())
        energy = self.energy.copy()
        residual = gpu_j - float(energy.sum())
        if served.any():
            energy[served] += residual / served.sum()

        out = np.zeros(N_OUTPUTS)
        per = np.full((N_REQUEST_OUT, n), np.nan)
        ttft = self.first_s - arrival
        multi = served & (output > 1)
        tpot = np.where(multi, (self.finish_s - self.first_s) / np.maximum(output - 1, 1), 0.0)
        latency = self.finish_s - arrival
        per[R["ttft_s"], served] = ttft[served]
        per[R["tpot_s"], served] = tpot[served]
        per[R["latency_s"], served] = latency[served]
        per[R["finish_s"], served] = self.finish_s[served]
        per[R["gpu_energy_j"], served] = energy[served]
        per[R["preemptions"]] = self.preempted
        per[R["served"]] = served
        out[OUT["served"]] = served.sum()
        out[OUT["rejected"]] = self.rejected.sum()
        out[OUT["duration_s"]] = end
        out[OUT["idle_s"]] = self.server_idle_s
        out[OUT["busy_s"]] = end - self.server_idle_s
        out[OUT["prompt_tokens"]] = prompt[served].sum()
        out[OUT["output_tokens"]] = output[served].sum()
        for name, values in (("ttft", ttft[served]), ("tpot", tpot[multi]), ("latency", latency[served])):
            if len(values):
                out[OUT[f"{name}_mean_s"]] = values.mean()
                for q, p in zip(PERCENTILES, sketch_percentiles(values, PERCENTILES)):
                    out[OUT[f"{name}_p{q:.0f}_s"]] = p
        ttft_slo, tpot_slo = settings[S["ttft_slo_s"]], settings[S["tpot_slo_s"]]
        good = served & ((ttft_slo <= 0) | (ttft <= ttft_slo)) & ((tpot_slo <= 0) | (tpot <= tpot_slo))
        out[OUT["slo_attainment"]] = good.sum() / n if n else 0.0
        out[OUT["gpu_energy_j"]] = gpu_j
        out[OUT["gpu_idle_energy_j"]] = float((self.group_gpus * self.group_idle_w * self.group_idle_s).sum())
        out[OUT["gpu_kernel_s"]] = tot["kernel_s"]
        out[OUT["cpu_core_s"]] = tot["cpu_core_s"]
        out[OUT["steps"]] = tot["steps"]
        out[OUT["prefill_tokens"]] = tot["prefill_tokens"]
        out[OUT["preemptions"]] = tot["preemptions"]
        out[OUT["mean_batch"]] = tot["seqs"] / tot["steps"] if tot["steps"] else 0.0
        out[OUT["max_batch"]] = tot["max_batch"]
        out[OUT["steady_s"]] = tot["steady_s"]
        out[OUT["steady_gpu_energy_j"]] = tot["steady_j"]
        out[OUT["steady_output_tokens"]] = tot["steady_tokens"]
        out[OUT["gpus"]] = self.group_gpus.sum()
        out[OUT["concurrency"]] = tot["run_s"] / end if end > 0 else 0.0
        out[OUT["decode_gpu_energy_j"]] = float(sum(group_j[d.group] for d in self.decoders))
        out[OUT["steady_decode_gpu_energy_j"]] = tot["steady_decode_j"]
        out[OUT["steady_decode_output_tokens"]] = tot["steady_decode_tokens"]
        return out, per
