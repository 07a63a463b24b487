r"""What one engine can do for its service (layer 2): capacity at the SLO, batch throughput, CPU reuse.

**Online** (:func:`online_capacity`): the highest Poisson request rate at which an instance's
simulated SLO attainment (share of requests meeting the TTFT and TPOT targets, rejected ones
counting as misses) reaches the service's target. Every instance is first run saturated (all
requests at once) to bound its throughput :math:`\hat q`; then every instance's bisection on
:math:`[0, 1.2\,\hat q]` advances in lock step, one :func:`carbonsim.models.serving.simulate_many`
call per step over all instances, with the same seeded requests at every rate (common random
numbers: the arrival gaps are unit draws scaled by :math:`1/q`). After :math:`k` steps the
capacity is the highest rate that met the target, within :math:`1.2\,\hat q / 2^k` of the true
one. Instances sharing a GPU, tensor parallelism, model, lengths and limits are searched once
(:class:`~carbonsim.engine.plan.candidates.Instance`).

**Offline** (:func:`offline_throughput`): back-to-back batches of ``batch_size`` requests on one
engine (the performance model through :meth:`CarbonChain.run_tasks`), admissible only
where one batch finishes within the service's deadline.

**Reuse** (:func:`cpu_throughput`): each host socket runs one CPU engine on the cores the GPUs'
engines leave free (:mod:`carbonsim.engine.inputs.cpu_llm`), at the batch of
``reuse.batch_size`` with the most output tokens/s among those that fit in the socket's spare
DRAM and finish within the deadline.
"""

from __future__ import annotations

import numpy as np

from carbonsim.engine.chain import CarbonChain, infeasibility
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.cpu_llm import cpu_perf_rows
from carbonsim.engine.inputs.serving import TraceBook, online_rows
from carbonsim.engine.plan.candidates import Instance, Variant, host_needs, weights_gb
from carbonsim.engine.plan.spec import Plan, Service
from carbonsim.errors import InputError
from carbonsim.models.perf.layout import O, PARAM_NAMES
from carbonsim.models.serving.layout import OUT
from carbonsim.models.serving.workload import ARRIVALS

#: The bisection's upper end, relative to the saturated throughput.
HEADROOM = 1.2
#: Times the upper end is doubled when an instance still meets its SLO there.
EXPANSIONS = 3
#: Load levels an online server runs at in the integer program (fractions of its capacity): its
#: power is simulated at each (docs/plan.md §2.2).
LOAD_LEVELS = (0.25, 0.5, 0.75, 1.0)
#: Requests per simulation: at least this many times the scheduler's limit, so that a run is long
#: enough for its queue to show (a run shorter than a few batches meets any latency target).
REQUESTS_PER_SEQ = 8


def online_workload(service: Service, tp: int, max_num_seqs: int, search: dict) -> dict:
    """The ``workload`` mapping of one online instance (docs/serving.md fields)."""
    s = service.spec
    wl = {"mode": "online", "arrival": "poisson", "qps": 1.0,
          "requests": max(int(search["requests"]), REQUESTS_PER_SEQ * int(max_num_seqs)),
          "seed": int(search["seed"]), "tensor_parallel": int(tp), "max_num_seqs": int(max_num_seqs),
          "precision": s.get("precision", "fp16"), "engine": s.get("engine", "synchronous"),
          "slo": {k: v for k, v in (s.get("slo") or {}).items() if k in ("ttft_s", "tpot_s")}}
    if "chunked_prefill" in s:
        wl["chunked_prefill"] = s["chunked_prefill"]
    if service.trace_lengths is not None:   # lengths are resampled from the trace; these set the limits only
        p, o = service.trace_lengths
        wl["prompt_tokens"], wl["output_tokens"] = int(p.max()), int(o.max())
    else:
        wl["prompt_tokens"], wl["output_tokens"] = s["prompt_tokens"], s["output_tokens"]
    return wl


def _columns(chain: CarbonChain, db: Database, cs: CoefficientSet, instances: list[Instance], models: dict,
             search: dict, file: str) -> tuple[np.ndarray, list[int]]:
    """One online column per instance (rows of ``chain``), and the instances that can run at all."""
    ix = chain.index
    cols, ok = [], []
    traces = TraceBook()
    for inst in instances:
        inst.column = len(cols)
        wl = online_workload(inst.service, inst.tp, inst.setting, search)
        try:
            rows, _ = online_rows(db, inst.server, [(inst.service.model, models[inst.service.model])], wl, traces,
                                  file)
        except InputError as exc:
            inst.reason = exc.message
            cols.append(np.zeros(len(chain.rows)))
            continue
        v = chain.column(inst.server, cs, online_rows=rows).value
        code = int(infeasibility(inst.tp, inst.server.gpu_count, v[ix["inst0_n_heads"]], v[ix["inst0_n_kv_heads"]],
                                 v[ix["inst0_kv_blocks"]] >= 1)[()])
        if code:
            from carbonsim.engine.chain import INFEASIBLE_REASONS

            inst.reason = str(INFEASIBLE_REASONS[code])
        else:
            ok.append(len(cols))
        cols.append(v)
    return np.column_stack(cols) if cols else np.zeros((len(chain.rows), 0)), ok


def _simulate(chain: CarbonChain, mat: np.ndarray, idx: list[int], instances: list[Instance], seed: int) -> np.ndarray:
    """Serving-simulator outputs of columns ``idx`` (``instances``: theirs, in the same order; trace
    services get lengths drawn from their trace)."""
    from carbonsim.models.serving import simulate_many

    systems, settings = chain.online_systems(mat, idx)
    for k in range(len(idx)):
        lengths = instances[k].service.trace_lengths
        if lengths is not None:
            inst, arr, _, _, owner = systems[k]
            pick = np.random.default_rng([int(seed), 7919]).integers(0, len(lengths[0]), len(arr))
            systems[k] = (inst, arr, lengths[0][pick].astype(np.int64), lengths[1][pick].astype(np.int64), owner)
    return simulate_many(systems, settings)


def _ok(out: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The SLO is met: attainment (rejected requests count as misses) at least the target."""
    return (out[OUT["slo_attainment"]] >= target - 1e-12) & (out[OUT["served"]] > 0)


def online_capacity(chain: CarbonChain, db: Database, cs: CoefficientSet, plan: Plan, instances: list[Instance],
                    models: dict, progress=None) -> tuple[np.ndarray, int]:
    """Fill each online instance's ``cap`` [requests/s at the SLO], ``reason`` and ``outputs`` (the
    simulation at ``cap``), as the module docstring describes; returns the instances' columns and
    the number of simulations run."""
    search = plan.search
    mat, ok = _columns(chain, db, cs, instances, models, search, plan.file)
    if not ok:
        return mat, 0
    sims = len(ok)
    ix = chain.index
    target = np.array([instances[j].service.slo["attainment"] for j in ok])
    # saturated throughput: every request at t = 0
    sat = mat[:, ok].copy()
    sat[ix["online_arrival"]] = ARRIVALS["burst"]
    sat[ix["online_qps"]] = 0.0
    out = _simulate(chain, sat, list(range(len(ok))), [instances[j] for j in ok], search["seed"])
    served, duration = out[OUT["served"]], out[OUT["duration_s"]]
    hi = HEADROOM * np.where(duration > 0, served / np.maximum(duration, 1e-12), 0.0)
    lo = np.zeros(len(ok))
    best = np.full((out.shape[0], len(ok)), np.nan)
    live = hi > 0
    for k in np.flatnonzero(~live):
        instances[ok[k]].reason = "no request was served (every one is longer than the KV cache or max_model_len)"
    probe = mat[:, ok].copy()
    steps = int(search["steps"])
    # step 0 probes the bound; an instance that meets its SLO there has its bound doubled (at most
    # EXPANSIONS times) before the bisection starts
    def probe_at(run):
        """Simulate the instances ``run`` at ``rates``; move ``lo`` up where they meet the SLO, ``hi``
        down where not; return which met it."""
        nonlocal sims
        probe[ix["online_qps"], run] = rates[run]
        o = _simulate(chain, probe, list(run), [instances[ok[k]] for k in run], search["seed"])
        sims += len(run)
        good = _ok(o, target[run])
        for i, k in enumerate(run):
            if good[i]:
                lo[k] = rates[k]
                best[:, k] = o[:, i]
            else:
                hi[k] = rates[k]
        return good

    rates = hi.copy()
    expanding = live.copy()
    for _ in range(EXPANSIONS + 1):
        run = np.flatnonzero(expanding)
        if not len(run):
            break
        good = probe_at(run)
        rates[run[good]] *= 2.0
        expanding[run[~good]] = False
        if progress:
            progress(f"capacity search: bound, {len(run)} instances")
    hi = np.where(expanding, lo, hi)        # still meeting it after the expansions: capacity = the last bound
    live &= ~expanding
    rates = 0.5 * (lo + hi)
    for step in range(steps):
        run = np.flatnonzero(live)
        if not len(run):
            break
        probe_at(run)
        rates = 0.5 * (lo + hi)
        if progress:
            progress(f"capacity search: step {step + 1}/{steps}, {len(run)} instances")
    for k, j in enumerate(ok):
        inst = instances[j]
        if inst.reason:
            continue
        inst.cap = float(search["margin"]) * float(lo[k])
        if inst.cap <= 0:
            inst.reason = (f"no request rate meets the SLO (attainment below "
                           f"{inst.service.slo['attainment']:g} even at {hi[k]:.3g} requests/s)")
        else:
            inst.outputs = {name: float(best[OUT[name], k]) for name in OUT} | {"qps": float(lo[k])}
    # each feasible instance's power at the load levels of its planned capacity
    feas = [k for k, j in enumerate(ok) if instances[j].feasible]
    if feas:
        cols = np.repeat(probe[:, feas], len(LOAD_LEVELS), axis=1)
        cols[ix["online_qps"]] = np.concatenate([[lam * instances[ok[k]].cap for lam in LOAD_LEVELS] for k in feas])
        insts = [instances[ok[k]] for k in feas for _ in LOAD_LEVELS]
        o = _simulate(chain, cols, list(range(cols.shape[1])), insts, search["seed"])
        sims += cols.shape[1]
        for i, k in enumerate(feas):
            instances[ok[k]].levels = [
                {n: float(o[OUT[n], i * len(LOAD_LEVELS) + j]) for n in ("gpu_energy_j", "duration_s", "cpu_core_s")}
                | {"qps": lam * instances[ok[k]].cap} for j, lam in enumerate(LOAD_LEVELS)]
        if progress:
            progress(f"capacity search: power at {len(LOAD_LEVELS)} load levels, {len(feas)} instances")
    return mat, sims


def recheck(chain: CarbonChain, mat: np.ndarray, loads: list[tuple[Instance, float]], seed: int) -> list[dict]:
    """Simulate each ``(instance, requests/s)`` once more, with requests drawn from another seed, and
    report its attainment against the service's target (``mat``: :func:`online_capacity`'s columns)."""
    ix = chain.index
    if not loads:
        return []
    cols = np.column_stack([mat[:, inst.column] for inst, _ in loads])
    cols[ix["online_qps"]] = [q for _, q in loads]
    cols[ix["online_seed"]] = seed
    out = _simulate(chain, cols, list(range(len(loads))), [inst for inst, _ in loads], seed)
    target = np.array([inst.service.slo["attainment"] for inst, _ in loads])
    good = _ok(out, target)
    return [{"attainment": float(out[OUT["slo_attainment"], k]), "met": bool(good[k]),
             "ttft_p90_s": float(out[OUT["ttft_p90_s"], k]), "tpot_p90_s": float(out[OUT["tpot_p90_s"], k]),
             **{n: float(out[OUT[n], k]) for n in ("gpu_energy_j", "duration_s", "cpu_core_s")}}
            for k in range(len(loads))]


def offline_throughput(db: Database, cs: CoefficientSet, plan: Plan, variants: list[Variant],
                       instances: list[Instance], models: dict) -> dict[tuple[int, int], dict]:
    """Per (variant, instance) of an offline service: one server's output tokens/s, its GPUs' and host's
    power while it runs batches, and the batch latency; ``reason`` set on instances that cannot run
    within the deadline on any server.

    Returns
    -------
    dict
        ``(variant index, instance index) -> {"tok_s", "gpu_w", "host_w", "host_util", "latency_s"}``.
    """
    from carbonsim.engine.inputs.llm import perf_rows

    chain = CarbonChain.for_tasks(db, compiled=False)
    keys, cols = [], []
    reasons: dict[int, str] = {}
    for inst in instances:
        s = inst.service
        wl = {"mode": "offline", "batch_size": inst.setting, "tensor_parallel": inst.tp,
              "prompt_tokens": int(s.spec["prompt_tokens"]), "output_tokens": int(s.spec["output_tokens"]),
              "precision": s.spec.get("precision", "fp16"), "engine": s.spec.get("engine", "synchronous")}
        for v in variants:
            if v.server.gpu is None or v.server.gpu.id != inst.gpu_id or v.server.gpu_count < inst.tp:
                continue
            try:
                rows = perf_rows(db, v.server, models[s.model], wl, plan.file)
            except InputError as exc:
                reasons[inst.index] = exc.message
                continue
            col = chain.column(v.server, cs, perf_rows=rows, whole_server=True)
            keys.append((v.index, inst.index))
            cols.append(col.value)
    result: dict[tuple[int, int], dict] = {}
    if not cols:
        for inst in instances:
            inst.reason = reasons.get(inst.index, "no candidate server carries its GPU")
        return result
    mat = np.column_stack(cols)
    r = chain.run_tasks(mat)
    ix = chain.index
    by_inst: dict[int, list[str]] = {}
    for k, (vi, ii) in enumerate(keys):
        inst = instances[[i.index for i in instances].index(ii)]
        deadline_s = inst.service.spec["deadline_h"] * 3600.0
        lat = float(r["latency_s"][k])
        if not r["feasible"][k]:
            by_inst.setdefault(ii, []).append(str(r["infeasible_reason"][k]))
            continue
        if lat > deadline_s:
            by_inst.setdefault(ii, []).append(f"one batch takes {lat / 3600.0:.3g} h, beyond the "
                                              f"{inst.service.spec['deadline_h']:g} h deadline")
            continue
        reps = float(r["replicas"][k])
        tok_s = reps * inst.setting * float(mat[ix["perf_output_tokens"], k]) / lat
        gpu_w = float(r["gpu_power_w"][k]) * inst.tp * reps + max(0.0, mat[ix["gpu_count"], k] - inst.tp * reps) * \
            float(mat[ix["gpu_idle_w"], k])
        result[(vi, ii)] = {"tok_s": tok_s, "gpu_w": gpu_w, "host_w": float(r["host_power_w"][k]),
                            "latency_s": lat, "requests_per_s": reps * inst.setting / lat}
    for inst in instances:
        if not any(ii == inst.index for (_, ii) in result):
            why = by_inst.get(inst.index) or [reasons.get(inst.index, "no candidate server carries its GPU")]
            inst.reason = why[0]
        else:
            inst.cap = max(v["tok_s"] for (_, ii), v in result.items() if ii == inst.index)
    return result


def free_cores(variant: Variant, gpus_busy: int, engines: int) -> float:
    """Cores of one socket left to CPU inference: the GPUs' engine workers (one busy core per GPU and
    one per engine's scheduler) are spread evenly over the sockets."""
    host = variant.server.host
    cores = float(host.cpu.cores or 0)
    return max(0.0, cores - np.ceil((gpus_busy + engines) / max(host.cpu_count, 1)))


def cpu_throughput(db: Database, plan: Plan, variant: Variant, serving: tuple[str, str, int, int],
                   service: Service, models: dict, rates: "CpuRates") -> dict | None:
    """One host's CPU inference for offline ``service`` beside its GPUs' engines, or None when no
    batch of ``reuse.batch_size`` fits in the spare DRAM and meets the deadline.

    Parameters
    ----------
    serving : (model id, precision, gpus busy, engines)
        What the server's GPUs serve (for the DRAM and the cores they take).
    rates : CpuRates
        Where the performance model's results are looked up (evaluated together, once per CPU,
        free cores, service and batch).

    Returns
    -------
    dict or None
        ``{"tok_s", "batch", "latency_s", "cores_used", "cores", "memory_gb"}`` for the whole host.
    """
    host = variant.server.host
    sockets = max(int(host.cpu_count), 1)
    model_id, precision, gpus_busy, engines = serving
    dram_serving, _ = host_needs(models[model_id], precision, gpus_busy)
    spare_gb = (variant.dram_gb - dram_serving) / sockets
    cores = free_cores(variant, gpus_busy, engines)
    if cores <= 0 or spare_gb <= 0:
        return None
    best = None
    for b in plan.reuse["batch_size"]:
        lat, need_gb, util = rates.get(host.cpu, cores, service, int(b))
        if need_gb > util * spare_gb or lat > service.spec["deadline_h"] * 3600.0:
            continue
        tok_s = sockets * b * int(service.spec["output_tokens"]) / lat
        if best is None or tok_s > best["tok_s"]:
            best = {"tok_s": tok_s, "batch": int(b), "latency_s": lat, "cores_used": cores * sockets,
                    "cores": float(host.cpu.cores or 0) * sockets, "memory_gb": spare_gb,
                    "weights_gb": weights_gb(models[service.model], service.spec.get("precision", "fp16"))}
    return best


class CpuRates:
    """The performance model on CPU sockets, evaluated in one batch (:meth:`prepare`) and looked up
    (:meth:`get`) by (CPU, free cores, offline service, batch)."""

    def __init__(self, db: Database, plan: Plan, models: dict):
        self.db, self.plan, self.models = db, plan, models
        self.table: dict[tuple, tuple[float, float, float]] = {}
        self.pending: dict[tuple, tuple] = {}

    def want(self, cpu, cores: float, service: Service) -> None:
        for b in self.plan.reuse["batch_size"]:
            key = (cpu.id, float(cores), service.index, int(b))
            if key not in self.table and key not in self.pending:
                self.pending[key] = (cpu, cores, service, int(b))

    def prepare(self) -> None:
        """Evaluate every pending point at once (a CPU without inference data gets no option)."""
        from carbonsim.engine.inputs.cpu_llm import cpu_constants

        if not self.pending:
            return
        util = float(cpu_constants(self.db)["memory_utilization"].value)
        keys, cols = [], []
        for key, (cpu, cores, s, b) in self.pending.items():
            wl = {"batch_size": b, "prompt_tokens": int(s.spec["prompt_tokens"]),
                  "output_tokens": int(s.spec["output_tokens"]), "precision": s.spec.get("precision", "fp16")}
            try:
                rows = cpu_perf_rows(self.db, cpu, self.models[s.model], wl, free_cores=cores, memory_gb=1e6)
            except InputError:
                self.table[key] = (np.inf, np.inf, util)
                continue
            keys.append(key)
            cols.append([rows[n] for n in PARAM_NAMES])
        self.pending = {}
        if not cols:
            return
        from carbonsim.engine.chain import perf_kernel

        out = perf_kernel(np.ascontiguousarray(np.array(cols, dtype=float).T))
        for k, key in enumerate(keys):
            self.table[key] = (float(out[O["latency_s"], k]), float(out[O["memory_needed_gb"], k]), util)

    def get(self, cpu, cores: float, service: Service, batch: int) -> tuple[float, float, float]:
        """(batch latency [s], memory needed [GB], usable share of memory) of one socket."""
        key = (cpu.id, float(cores), service.index, int(batch))
        if key not in self.table:
            self.want(cpu, cores, service)
            self.prepare()
        return self.table[key]
