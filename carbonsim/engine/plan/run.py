r"""A fleet plan from a plan file (layer 2): candidates -> capacities -> prices -> MILP -> SLO re-check.

Four plans come from one integer program (:mod:`carbonsim.models.planning.milp`) with the
objective swapped, each over the same candidates and constraints:

* ``carbon``: least embodied + operational carbon over the horizon;
* ``performance``: fewest GPUs, then the least mean latency (each service's demand-weighted mean
  request latency at its candidates' capacity points, summed over services);
* ``energy``: least facility energy over the horizon;
* ``cost``: least capital (amortised over the lifetimes, like embodied carbon) plus energy cost,
  when the plan gives prices.

Of candidates equal in every price of an objective, the server as listed (its own host
configuration and lifetimes) is kept, so a baseline changes DRAM, SSD or lifetimes only where its
objective gains from it. Every plan is
then priced in carbon, energy, GPUs and cost the same way, and every online server it installs
is simulated again at the load the plan assigns it (per hour, with requests drawn from another
seed); an instance that misses its SLO there gets a lower capacity and all plans are solved
again (at most :data:`RECHECK_ROUNDS` times).

The grid, PUE and load are the plan's (the user's circumstance): they are inputs, never choices.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from carbonsim.engine.chain import CarbonChain, Load
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.engine.inputs.llm import model_spec
from carbonsim.engine.inputs.power import gpu_constants
from carbonsim.engine.plan.candidates import Candidate, Instance, enumerate_candidates, window_slots
from carbonsim.engine.plan.capacity import (LOAD_LEVELS, CpuRates, cpu_throughput, free_cores, offline_throughput,
                                            online_capacity, recheck)
from carbonsim.engine.plan.carbon import candidate_carbon
from carbonsim.engine.plan.spec import Plan
from carbonsim.errors import NoFeasibleAnswer
from carbonsim.models.lifecycle.refresh_gain import refreshed_energy_factor
from carbonsim.models.planning.milp import FleetCosts, FleetProblem, FleetSolution, prune_dominated, solve_fleet
from carbonsim.units import J_PER_KWH

OBJECTIVES = ("carbon", "performance", "energy", "cost")
BASELINES = ("performance", "energy", "cost")
#: Re-check rounds: an instance that misses its SLO at its assigned load is derated and the plans
#: are solved again, at most this many times.
RECHECK_ROUNDS = 3
#: Rounds in which the carbon plan's fleet choice is repeated with its used candidates' unit prices
#: taken from their operation at load levels.
REFINE_ROUNDS = 2
#: The carbon program at load levels is solved exactly when it has at most this many level variables
#: (after pruning); larger plans choose the fleet with linear power and refine it (docs/plan.md §2.2).
LEVELLED_EXACT_MAX = 1500
#: Capacity left after a failed re-check, relative to the load that failed.
DERATE = 0.95


class NoFeasiblePlan(NoFeasibleAnswer):
    """No plan meets a service's SLO or deadline with the candidates given (exit status 3)."""


@dataclass
class Price:
    """One candidate's prices (a row of :class:`~carbonsim.engine.plan.carbon.CandidateCarbon`)."""

    embodied_kg: float
    idle_w: float
    busy_w: float
    unit_j: float
    kg_per_j: float
    reuse_j: dict
    level_w: np.ndarray   # beyond idle at each load level (online); empty otherwise


@dataclass
class Priced:
    """A feasible candidate with everything the program needs."""

    cand: Candidate
    cap: float                 # units/s per server
    carbon: Price
    latency_s: float           # per request at the capacity point
    units_per_request: float   # 1 (online) or output tokens (offline)
    gpu_idle_w: float
    spare_gpu_w: float         # idle power of the GPUs no replica uses
    energy_factor: float = 1.0  # refreshed GPUs' mean energy factor over the horizon
    reuse: dict = field(default_factory=dict)   # offline service index -> cpu_throughput result


@dataclass
class PlanChoice:
    """One solved plan (the carbon-optimal one or a baseline)."""

    objective: str
    status: str
    message: str
    gap: float
    solve_s: float
    fleet: list[dict]
    reuse: list[dict]
    embodied_kg: float
    operational_kg: float
    energy_mwh: float
    gpus: int
    servers: int
    cost_usd: float | None
    recheck: dict
    operational_kg_simulated: float = float("nan")

    @property
    def total_kg(self) -> float:
        return self.embodied_kg + self.operational_kg

    def as_dict(self) -> dict:
        return {"objective": self.objective, "total_kg": self.total_kg, "embodied_kg": self.embodied_kg,
                "operational_kg": self.operational_kg, "energy_mwh": self.energy_mwh, "gpus": self.gpus,
                "servers": self.servers, "cost_usd": self.cost_usd,
                "operational_kg_simulated": self.operational_kg_simulated,
                "solver": {"status": self.status, "gap": self.gap, "message": self.message,
                           "seconds": self.solve_s},
                "slo_recheck": self.recheck, "fleet": self.fleet, "reuse": self.reuse}


@dataclass
class PlanResult:
    """A plan and its baselines (``plans``: objective -> :class:`PlanChoice`)."""

    name: str
    file: str
    grid: str
    ci_g_per_kwh: float
    pue: float
    horizon_yr: float
    slots: int
    plans: dict
    counts: dict
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    #: The fleet-choice program as solved last (power linear in the load):
    #: ``(FleetProblem, {objective: [FleetCosts, ...]})``.
    program: tuple | None = field(default=None, repr=False)

    @property
    def carbon(self) -> PlanChoice:
        return self.plans["carbon"]

    def savings(self) -> dict:
        """Baseline -> its total, the carbon plan's saving against it [kg and fraction] and the ratio."""
        c = self.carbon.total_kg
        out = {}
        for b in BASELINES:
            if b in self.plans:
                t = self.plans[b].total_kg
                out[b] = {"total_kg": t, "saving_kg": t - c, "saving": (t - c) / t if t > 0 else 0.0,
                          "ratio": t / c if c > 0 else float("nan")}
        return out

    def as_dict(self) -> dict:
        c = self.carbon
        base = {b: {**self.plans[b].as_dict(), **{k: v for k, v in self.savings()[b].items() if k != "total_kg"}}
                for b in BASELINES if b in self.plans}
        return {
            "name": self.name, "file": self.file, "horizon_yr": self.horizon_yr,
            "datacenter": {"grid": self.grid, "ci_g_per_kwh": self.ci_g_per_kwh, "pue": self.pue},
            "slots": self.slots,
            "fleet": c.fleet, "reuse": c.reuse, "total_kg": c.total_kg, "embodied_kg": c.embodied_kg,
            "operational_kg": c.operational_kg, "energy_mwh": c.energy_mwh, "gpus": c.gpus, "servers": c.servers,
            "cost_usd": c.cost_usd, "operational_kg_simulated": c.operational_kg_simulated,
            "solver": {"status": c.status, "gap": c.gap, "message": c.message, "seconds": c.solve_s},
            "slo_recheck": c.recheck,
            "baselines": base,
            "candidates": self.counts, "timings_s": self.timings, "notes": self.notes,
        }


def _no_plan(spec: Plan, service, instances: list[Instance]) -> NoFeasiblePlan:
    mine = [i for i in instances if i.service is service]
    reasons = []
    for i in mine[:3]:
        what = f"max_num_seqs {i.setting}" if service.online else f"batch {i.setting}"
        reasons.append(f"{i.gpu_id} tp {i.tp} {what}: {i.reason or 'not feasible'}")
    more = f" (and {len(mine) - 3} more)" if len(mine) > 3 else ""
    if service.online:
        slo = service.slo
        targets = ", ".join(f"{k} {slo[k]:g}" for k in ("ttft_s", "tpot_s") if slo[k] > 0)
        msg = (f"no candidate serves {service.name} within its SLO ({targets}, attainment {slo['attainment']:g}): "
               + "; ".join(reasons) + more)
        return NoFeasiblePlan(msg, spec.file, f"{service.where}.slo")
    msg = (f"no candidate finishes {service.name}'s batches within its deadline ({service.spec['deadline_h']:g} h): "
           + "; ".join(reasons) + more)
    return NoFeasiblePlan(msg, spec.file, f"{service.where}.deadline_h")


def _price(spec: Plan, db: Database, cands: list[Candidate], instances: list[Instance], offline: dict, models: dict,
           cs, grid) -> list[Priced]:
    """Capacity and prices of every feasible candidate, through one :func:`candidate_carbon` call."""
    chain = CarbonChain.for_load(db, compiled=False)
    columns: dict[int, int] = {}
    cols: list[np.ndarray] = []
    reuse_cache: dict[tuple, dict | None] = {}
    offline_services = [s for s in spec.services if not s.online]
    use_reuse = bool(spec.reuse["host_cpus"]) and bool(offline_services)
    gpu_w: dict[str, tuple[float, float]] = {}
    keep, rows = [], []
    rates = CpuRates(db, spec, models)
    if use_reuse:   # every CPU point the candidates need, evaluated in one batch
        for c in cands:
            v = c.variant
            cores = free_cores(v, c.replicas * c.tp, c.replicas)
            if cores > 0:
                for o_s in offline_services:
                    rates.want(v.server.host.cpu, cores, o_s)
        rates.prepare()
    for c in cands:
        inst, v, s = c.instance, c.variant, c.service
        if s.online and not inst.feasible:
            continue
        if not s.online and (v.index, inst.index) not in offline:
            continue
        if v.index not in columns:
            columns[v.index] = len(cols)
            cols.append(chain.column(v.server, cs, ci_g_per_kwh=grid.ci_g_per_kwh, pue=spec.pue,
                                     load=Load(0.0, 0.0)).value)
        gpu = v.server.gpu
        if gpu.id not in gpu_w:
            consts, _ = gpu_constants(db, gpu.id, gpu.tdp_w.value)
            loaded = float(consts["idle_loaded_w"])
            gpu_w[gpu.id] = (loaded, float(gpu.idle_w.value) if gpu.idle_w is not None else loaded)
        loaded_w, bare_w = gpu_w[gpu.id]
        used = c.replicas * c.tp
        spare = max(0, c.gpus - used)
        cores = float(v.server.host.cpu_count * (v.server.host.cpu.cores or 1))
        lvl_gpu = np.full(len(LOAD_LEVELS), np.nan)
        lvl_util = np.full(len(LOAD_LEVELS), np.nan)
        if s.online:
            for j, lo_ in enumerate(inst.levels):
                d = max(lo_["duration_s"], 1e-12)
                lvl_gpu[j] = c.replicas * lo_["gpu_energy_j"] / d + spare * bare_w
                lvl_util[j] = min(1.0, c.replicas * lo_["cpu_core_s"] / d / cores)
            o = inst.outputs
            dur = max(o["duration_s"], 1e-12)
            busy, rate = c.replicas * o["gpu_energy_j"] / dur + spare * bare_w, c.replicas * o["qps"]
            cap = c.replicas * inst.cap        # the search's margin below the measured point
            util, host_w = min(1.0, c.replicas * o["cpu_core_s"] / dur / cores), np.nan
            latency, per = o["latency_mean_s"], 1.0
        else:
            r = offline[(v.index, inst.index)]
            busy, rate, util, host_w = r["gpu_w"], r["tok_s"], np.nan, r["host_w"]
            cap = rate
            latency, per = r["latency_s"], float(s.spec["output_tokens"])
        reuse_opts = {}
        added = np.full(len(offline_services), np.nan)
        tok = np.full(len(offline_services), np.nan)
        if use_reuse:
            for j, o_s in enumerate(offline_services):
                key = (v.index, s.index, c.tp, o_s.index)
                if key not in reuse_cache:
                    reuse_cache[key] = cpu_throughput(db, spec, v, (s.model, s.spec.get("precision", "fp16"), used,
                                                                    c.replicas), o_s, models, rates)
                got = reuse_cache[key]
                if got is not None:
                    reuse_opts[o_s.index] = got
                    added[j], tok[j] = got["cores_used"] / cores, got["tok_s"]
        keep.append((c, cap, latency, per, used * loaded_w + spare * bare_w, spare * bare_w, reuse_opts))
        rows.append((columns[v.index], c.lifetime.gpu_yr, c.lifetime.host_yr,
                     refreshed_energy_factor(spec.horizon_yr, c.lifetime.gpu_yr, spec.doubling_yr),
                     used * loaded_w + spare * bare_w, busy, rate, util, host_w, (used + c.replicas) / cores, added, tok,
                     lvl_gpu, lvl_util))
    if not keep:
        return []
    col_idx, g_life, h_life, factor, idle, busy, rate, util, host_w, base, added, tok, lgpu, lutil = zip(*rows)
    mat = np.column_stack(cols)[:, list(col_idx)]
    cc = candidate_carbon(chain, mat, horizon_yr=spec.horizon_yr, gpu_lifetime_yr=g_life, host_lifetime_yr=h_life,
                          energy_factor=factor, gpu_idle_w=idle, gpu_busy_w=busy, rate=rate, host_util=util,
                          host_busy_w=host_w, reuse_base_util=base, reuse_added_util=np.array(added),
                          reuse_tok_s=np.array(tok), level_gpu_w=np.array(lgpu), level_host_util=np.array(lutil))
    out = []
    for i, (c, cap, latency, per, gpu_idle, spare_w, reuse_opts) in enumerate(keep):
        reuse_j = {o_s.index: float(cc.reuse_j[i, j]) for j, o_s in enumerate(offline_services)
                   if o_s.index in reuse_opts}
        price = Price(float(cc.embodied_kg[i]), float(cc.idle_w[i]), float(cc.busy_w[i]), float(cc.unit_j[i]),
                      float(cc.kg_per_j[i]), reuse_j, cc.level_w[i] if c.service.online else np.zeros(0))
        out.append(Priced(c, float(cap), price, float(latency), per, gpu_idle, spare_w, float(factor[i]), reuse_opts))
    return out


def _problem(spec: Plan, priced: list[Priced]) -> FleetProblem:
    T = spec.slots
    S = len(spec.services)
    demand = np.zeros((S, T))
    work = np.zeros(S)
    online = np.array([s.online for s in spec.services])
    for s in spec.services:
        if s.online:
            demand[s.index] = s.rate
        else:
            work[s.index] = s.work_per_day
    window = np.array([window_slots(p.cand.service, T) for p in priced]).reshape(len(priced), T)
    rh, rs, rc, rw = [], [], [], []
    for k, p in enumerate(priced):
        for s_idx, got in p.reuse.items():
            rh.append(k)
            rs.append(s_idx)
            rc.append(got["tok_s"])
            rw.append(window_slots(spec.services[s_idx], T))
    return FleetProblem(np.array([p.cand.service.index for p in priced]), np.array([p.cap for p in priced]), window,
                        online, demand, work, spec.slot_s, np.array(rh, np.int64), np.array(rs, np.int64),
                        np.array(rc, float), np.array(rw, bool).reshape(len(rh), T), spec.idle_on,
                        uniform_windows=True, load_levels=np.array(LOAD_LEVELS),
                        levelled=np.array([p.cand.service.online for p in priced]))


def _standalone_j(demand: np.ndarray, cap: np.ndarray, lam: np.ndarray, level_w: np.ndarray,
                  chord_j: np.ndarray) -> np.ndarray:
    r"""IT energy per unit served beyond idle [J] in each slot, were a candidate to serve its service's
    load alone: :math:`\lceil q/c \rceil - 1` servers full and one at the lowest load level that covers
    the rest (the cheapest dispatch of a concave power curve). The fleet choice uses it in place of
    the chord's, so that a server too large for the load is priced at its part-load power.

    Shapes: ``demand`` (K, T) the load of each candidate's service, ``cap`` (K,), ``lam`` (L,),
    ``level_w`` (K, L), ``chord_j`` (K,) (used where the demand is zero); returns (K, T)."""
    cap = cap[:, None]
    q = np.maximum(demand, 0.0)
    m = np.ceil(q / cap - 1e-9)
    rest = q - (m - 1) * cap
    j = np.minimum((lam[None, None, :] * cap[:, :, None] < rest[:, :, None] - 1e-9).sum(axis=2), len(lam) - 1)
    part = np.take_along_axis(level_w, j, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = ((m - 1) * level_w[:, -1:] + part) / q
    return np.where(q > 0, per, chord_j[:, None])


def _levels(spec: Plan, priced: list[Priced], problem: FleetProblem, levelled: bool = True) -> dict[str, list[FleetCosts]]:
    """Each objective's prices, most important level first (module docstring): online candidates at
    load levels (``levelled``), or all linear in the load (the chord, for choosing the fleet)."""
    T, R = spec.slots, problem.n_reuse
    days = 365.0 * spec.horizon_yr
    per_day = spec.slot_s[None, :] * days          # seconds of slot t over the horizon
    idle = np.array([p.carbon.idle_w for p in priced])[:, None] * per_day
    unit = np.array([p.carbon.unit_j for p in priced])[:, None] * per_day
    rj = np.array([priced[problem.reuse_host[r]].carbon.reuse_j[problem.reuse_service[r]] for r in range(R)])
    runit = (rj[:, None] if R else np.zeros((0, 1))) * per_day
    kgj = np.array([p.carbon.kg_per_j for p in priced])
    kwh = spec.pue / J_PER_KWH
    zeros_k, zeros_r = np.zeros((len(priced), T)), np.zeros((R, T))
    # online candidates are priced at load levels (their power is concave in the load), the rest linearly
    lev = problem.levelled if levelled else np.zeros(len(priced), dtype=bool)
    unit = np.where(lev[:, None], 0.0, unit)
    if not levelled:   # online candidates: the unit price of serving the service's load alone, at load levels
        unit = unit.copy()
        ks = np.array([k for k, p in enumerate(priced) if problem.levelled[k] and len(p.carbon.level_w)], dtype=np.int64)
        if len(ks):
            unit[ks] = _standalone_j(problem.demand[problem.service[ks]], np.array([priced[k].cap for k in ks]),
                                     problem.load_levels, np.array([priced[k].carbon.level_w for k in ks]),
                                     np.array([priced[k].carbon.unit_j for k in ks])) * per_day[0]
    L = problem.n_levels if levelled else 0
    lw = np.array([p.carbon.level_w if len(p.carbon.level_w) and levelled else np.zeros(L)
                   for p in priced]).reshape(len(priced), L)
    level = lw[:, None, :] * per_day[:, :, None]          # J beyond idle per server at each level, per slot
    out = {
        "carbon": [FleetCosts([p.carbon.embodied_kg for p in priced], idle * kgj[:, None], unit * kgj[:, None],
                              runit * kgj[problem.reuse_host][:, None] if R else zeros_r, level * kgj[:, None, None])],
        "energy": [FleetCosts(np.zeros(len(priced)), idle * kwh, unit * kwh, runit * kwh, level * kwh)],
    }
    # performance: fewest GPUs, then each service's demand-weighted mean latency
    daily = np.array([s.rate.sum() * spec.slot_s[0] if s.online else s.work_per_day for s in spec.services])
    svc = problem.service
    lat = np.array([p.latency_s / p.units_per_request for p in priced])[:, None] * spec.slot_s[None, :] \
        / daily[svc][:, None]
    if R:
        rlat = np.array([priced[problem.reuse_host[r]].reuse[problem.reuse_service[r]]["latency_s"]
                         / float(spec.services[problem.reuse_service[r]].spec["output_tokens"]) for r in range(R)])
        rlat = rlat[:, None] * spec.slot_s[None, :] / daily[problem.reuse_service][:, None]
    else:
        rlat = zeros_r
    out["performance"] = [FleetCosts([p.cand.gpus for p in priced], zeros_k, zeros_k, zeros_r),
                          FleetCosts(np.zeros(len(priced)), zeros_k, lat, rlat)]
    prices = spec.prices
    if prices:
        usd_kwh = prices["energy_usd_per_kwh"]
        capex = []
        for p in priced:
            v, lt = p.cand.variant, p.cand.lifetime
            sp = prices["servers"][v.ref]
            host_usd = (sp["host_usd"] + (v.dram_gb - v.own_dram_gb) * prices.get("dram_usd_per_gb", 0.0)
                        + (v.ssd_gb - v.own_ssd_gb) * prices.get("ssd_usd_per_gb", 0.0))
            capex.append(sp["gpus_usd"] * spec.horizon_yr / lt.gpu_yr + max(host_usd, 0.0) * spec.horizon_yr / lt.host_yr)
        out["cost"] = [FleetCosts(capex, idle * kwh * usd_kwh, unit * kwh * usd_kwh, runit * kwh * usd_kwh,
                                  level * kwh * usd_kwh)]
    return out


@contextmanager
def _solver_output_silenced():
    """HiGHS writes some messages straight to file descriptor 1 even with output off; keep them out
    of carbonsim's stdout (``--format json`` prints one document and nothing else)."""
    import os
    import sys

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):   # no real stdout (a notebook): nothing to protect
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _solve(spec: Plan, problem: FleetProblem, levels: list[FleetCosts], prefer) -> tuple[FleetSolution, np.ndarray,
                                                                                         float]:
    """Prune, solve, and map the solution back to every candidate."""
    t = time.perf_counter()
    keep = prune_dominated(problem, levels, prefer)
    sub, r_keep = problem.subset(keep)
    with _solver_output_silenced():
        sol = solve_fleet(sub, [lv.subset(keep, r_keep) for lv in levels], time_limit_s=spec.solver["time_limit_s"],
                          mip_rel_gap=spec.solver["mip_rel_gap"])
    return _expand(problem, keep, r_keep, sol), keep, time.perf_counter() - t


def _expand(problem: FleetProblem, keep: np.ndarray, r_keep: np.ndarray, sol: FleetSolution) -> FleetSolution:
    """A solution of the sub-problem of candidates ``keep`` as one of ``problem``."""
    K, T, R = problem.n_candidates, problem.n_slots, problem.n_reuse
    full = FleetSolution(np.zeros(K, np.int64), np.zeros((K, T), np.int64), np.zeros((K, T)), np.zeros((R, T)),
                         sol.status, sol.message, sol.gap, sol.objectives,
                         np.zeros((K, T, problem.n_levels), np.int64))
    full.n[keep], full.a[keep], full.x[keep] = sol.n, sol.a, sol.x
    if sol.y is not None and sol.y.shape[-1] == problem.n_levels:
        full.y[keep] = sol.y
    if R:
        full.z[r_keep] = sol.z
    return full


def _operate(spec: Plan, problem: FleetProblem, carbon: FleetCosts, fleet: FleetSolution) -> FleetSolution:
    """The fleet ``fleet.n`` run for least carbon with online servers at load levels: how many are on,
    the load each serves, their levels and the reused CPU work (the servers bought are fixed)."""
    keep = fleet.n > 0
    sub, r_keep = problem.subset(keep)
    with _solver_output_silenced():
        run = solve_fleet(sub, [carbon.subset(keep, r_keep)], time_limit_s=spec.solver["time_limit_s"],
                          mip_rel_gap=spec.solver["mip_rel_gap"], fix_n=fleet.n[keep])
    if not run.feasible:   # pragma: no cover - a fleet that serves the load linearly serves it at levels
        raise NoFeasiblePlan(f"the fleet found cannot be operated at load levels ({run.status})", spec.file, "services")
    out = _expand(problem, keep, r_keep, run)
    out.status, out.message, out.gap = fleet.status, fleet.message, fleet.gap
    return out


def _exact_levelled(spec: Plan, problem: FleetProblem, carbon: FleetCosts, prefer) -> FleetSolution | None:
    """The carbon program with online servers at load levels, solved exactly where it is small
    (at most :data:`LEVELLED_EXACT_MAX` level variables after pruning); None where it is not."""
    keep = prune_dominated(problem, [carbon], prefer)
    sub, r_keep = problem.subset(keep)
    if sub.n_levelled * sub.n_slots * sub.n_levels > LEVELLED_EXACT_MAX:
        return None
    with _solver_output_silenced():
        sol = solve_fleet(sub, [carbon.subset(keep, r_keep)], time_limit_s=spec.solver["time_limit_s"],
                          mip_rel_gap=spec.solver["mip_rel_gap"])
    return _expand(problem, keep, r_keep, sol) if sol.status == "optimal" else None


def _refined(spec: Plan, chord: FleetCosts, levelled: FleetCosts, sol: FleetSolution) -> FleetCosts:
    """Chord prices with each used online candidate's unit price replaced by what its load cost at load
    levels in ``sol`` (per unit served), so that the next fleet choice sees partly loaded servers."""
    unit = chord.unit.copy()
    served = (sol.x * spec.slot_s[None, :]).sum(axis=1)
    extra = (levelled.level * sol.y).sum(axis=(1, 2))                    # beyond idle, over the horizon
    for k in np.flatnonzero((sol.n > 0) & (served > 0) & (levelled.level.sum(axis=(1, 2)) > 0)):
        unit[k] = extra[k] / served[k] * spec.slot_s
    return FleetCosts(chord.fixed, chord.on, unit, chord.reuse_unit)


def _total(spec: Plan, lv: FleetCosts, sol: FleetSolution) -> float:
    """A plan's total under ``lv`` (fixed and every other term)."""
    return float(lv.fixed @ sol.n) + _spent(spec, lv, sol)


def _spent(spec: Plan, lv: FleetCosts, sol: FleetSolution, k=None) -> float:
    """A plan's total under one objective's prices (of candidate ``k`` alone, if given): on, unit,
    level and (plan only) reuse terms; the fixed term excluded."""
    sel = slice(None) if k is None else slice(k, k + 1)
    on = float((lv.on[sel].sum(axis=1) * sol.n[sel]).sum()) if spec.idle_on else float((lv.on[sel] * sol.a[sel]).sum())
    level = float((lv.level[sel] * sol.y[sel]).sum()) if sol.y is not None and lv.level.size \
        and lv.level.shape[-1] == sol.y.shape[-1] else 0.0
    total = on + float((lv.unit[sel] * sol.x[sel]).sum()) + level
    if k is None:
        total += float((lv.reuse_unit * sol.z).sum())
    return total


def _choice(spec: Plan, name: str, sol: FleetSolution, solve_s: float, priced: list[Priced], problem: FleetProblem,
            levels: dict, recheck_info: dict) -> PlanChoice:
    carbon = levels["carbon"][0]
    emb = float(carbon.fixed @ sol.n)
    op = _spent(spec, carbon, sol)
    en = levels["energy"][0]
    kwh = _spent(spec, en, sol)
    cost = None
    if "cost" in levels:
        cl = levels["cost"][0]
        cost = float(cl.fixed @ sol.n) + _spent(spec, cl, sol)
    fleet, reuse = [], []
    for k in np.flatnonzero(sol.n > 0):
        p = priced[k]
        c = p.cand
        s = c.service
        peak = float(sol.x[k].max())
        fleet.append({
            "service": s.name, "mode": s.mode, "server": c.variant.ref, "count": int(sol.n[k]),
            "gpus": int(sol.n[k]) * c.gpus, "tensor_parallel": c.tp,
            "max_num_seqs": c.instance.setting if s.online else None,
            "batch_size": None if s.online else c.instance.setting,
            "replicas_per_server": c.replicas,
            "host_variant": c.variant.label, "dram_gb": c.variant.dram_gb, "ssd_gb": c.variant.ssd_gb,
            "lifetime": c.lifetime.label, "gpu_lifetime_yr": c.lifetime.gpu_yr, "host_lifetime_yr": c.lifetime.host_yr,
            "capacity_per_server": p.cap, "capacity_unit": "requests/s" if s.online else "output tokens/s",
            "peak_load": peak, "utilisation_at_peak": peak / (p.cap * sol.n[k]),
            "embodied_kg": float(carbon.fixed[k] * sol.n[k]),
            "operational_kg": _spent(spec, carbon, sol, k),
        })
    for r in np.flatnonzero(sol.z @ spec.slot_s > 1e-6 * max(1.0, float(problem.work.max()))) if problem.n_reuse else []:
        k = problem.reuse_host[r]
        s = spec.services[problem.reuse_service[r]]
        got = priced[k].reuse[s.index]
        reuse.append({"service": s.name, "host_of": priced[k].cand.service.name, "server": priced[k].cand.variant.ref,
                      "cpu": priced[k].cand.variant.server.host.cpu.id, "tokens_per_day": float(sol.z[r] @ spec.slot_s),
                      "share_of_service": float(sol.z[r] @ spec.slot_s) / s.work_per_day,
                      "cpu_batch": got["batch"], "cpu_batch_latency_s": got["latency_s"],
                      "tokens_per_s_per_host": got["tok_s"], "operational_kg": float(carbon.reuse_unit[r] @ sol.z[r])})
    gpus = int(sum(f["gpus"] for f in fleet))
    return PlanChoice(name, sol.status, sol.message, sol.gap, solve_s, fleet, reuse, emb, op, kwh / 1000.0, gpus,
                      int(sol.n.sum()), cost, recheck_info)


def _assigned_loads(problem: FleetProblem, priced: list[Priced], sol: FleetSolution) -> list[tuple[int, int, int, float]]:
    """(candidate, slot, servers, requests/s per replica) of every group of online servers the plan
    loads: the servers the program runs at each load level in each slot, their load scaled so that
    together they carry the slot's assigned load."""
    out = []
    lam = problem.load_levels
    for k in np.flatnonzero(sol.n > 0):
        p = priced[k]
        if not p.cand.service.online:
            continue
        for t in np.flatnonzero(sol.x[k] > 1e-9):
            y = sol.y[k, t]
            room = float(p.cap * (y @ lam))
            if room <= 0:
                continue
            share = min(1.0, float(sol.x[k, t]) / room)
            for j in np.flatnonzero(y > 0):
                out.append((int(k), int(t), int(y[j]), float(lam[j] * p.cap * share / p.cand.replicas)))
    return out


def plan(spec: Plan, db: Database, progress=None) -> PlanResult:
    """Solve a checked plan (module docstring).

    Raises
    ------
    NoFeasiblePlan
        A service no candidate can serve within its SLO or deadline, or no plan meets every service.
    """
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    cs = load_coefficients(spec.doc.get("coefficients"), db)
    grid = resolve_grid(spec.grid, db)
    models = {s.model: model_spec(db, s.model) for s in spec.services}
    cands, instances, notes = enumerate_candidates(spec, db, models)
    say(f"{len(cands)} candidates, {len(instances)} instances")
    online_inst = [i for i in instances if i.service.online]
    offline_inst = [i for i in instances if not i.service.online]
    chain = CarbonChain.for_online(db, compiled=False)
    t1 = time.perf_counter()
    mat, sims = online_capacity(chain, db, cs, spec, online_inst, models, say)
    t2 = time.perf_counter()
    variant_list = sorted({c.variant.index: c.variant for c in cands}.values(), key=lambda v: v.index)
    offline = offline_throughput(db, cs, spec, variant_list, offline_inst, models) if offline_inst else {}
    for s in spec.services:
        if not any(i.feasible for i in instances if i.service is s):
            raise _no_plan(spec, s, instances)
    timings = {"capacity_search": t2 - t1}
    rounds, derated = 0, []
    sols: dict = {}
    kept: dict = {}
    stale = set(OBJECTIVES)
    while True:
        t3 = time.perf_counter()
        priced = _price(spec, db, cands, instances, offline, models, cs, grid)
        for s in spec.services:
            if not any(p.cand.service is s for p in priced):
                raise _no_plan(spec, s, instances)
        problem = _problem(spec, priced)
        levels = _levels(spec, priced, problem)                 # online servers at load levels
        chord_problem = replace(problem, levelled=np.zeros(problem.n_candidates, dtype=bool))
        chord = _levels(spec, priced, problem, levelled=False)
        # of candidates equal in every price, keep the server as listed (host and lifetimes)
        prefer = np.array([(0 if p.cand.variant.default else 2) + (0 if p.cand.lifetime.default else 1)
                           for p in priced])
        timings["pricing"] = timings.get("pricing", 0.0) + time.perf_counter() - t3
        carbon_lev = levels["carbon"][0]
        method = {}
        for name in OBJECTIVES:
            if name not in levels or name not in stale:
                continue   # its plan used no derated instance: still optimal (its candidates are unchanged)
            sol, keep, sec = _solve(spec, chord_problem, chord[name], prefer)
            if not sol.feasible:
                raise NoFeasiblePlan(f"the {name} program has no solution ({sol.status}: {sol.message})", spec.file,
                                     "services")
            t5 = time.perf_counter()
            run_ = _operate(spec, problem, carbon_lev, sol)
            if name != "performance":   # the fleet choice sees what partly loaded servers cost (§2.2)
                own = levels[name][0]
                exact = _exact_levelled(spec, problem, own, prefer)
                if exact is not None:
                    method[name] = "exact"
                    exact = _operate(spec, problem, carbon_lev, exact)
                    if _total(spec, own, exact) <= _total(spec, own, run_) * (1 + 1e-9):
                        run_ = exact
                for _ in range(REFINE_ROUNDS if exact is None else 0):
                    alt, _, s2 = _solve(spec, chord_problem, [_refined(spec, chord[name][0], own, run_)], prefer)
                    if not alt.feasible or np.array_equal(alt.n, run_.n):
                        break
                    alt_run = _operate(spec, problem, carbon_lev, alt)
                    if _total(spec, own, alt_run) < _total(spec, own, run_) * (1 - 1e-9):
                        run_ = alt_run
                    else:
                        break
            sec += time.perf_counter() - t5
            sols[name] = (run_, sec)
            kept[name] = int(keep.sum())
            timings["solve"] = timings.get("solve", 0.0) + sec
            timings[f"solve_{name}"] = timings.get(f"solve_{name}", 0.0) + sec
        # the carbon plan is the least carbon of the fleets found (a baseline's fleet may do better at levels)
        for name in BASELINES:
            if name in sols and _total(spec, carbon_lev, sols[name][0]) < \
                    _total(spec, carbon_lev, sols["carbon"][0]) * (1 - 1e-9):
                sols["carbon"] = (replace(sols[name][0]), sols["carbon"][1])
                notes.append(f"the carbon plan is the {name} baseline's fleet (less carbon at load levels than the "
                             "fleet the carbon objective chose)")
        # re-check every plan's online servers at their assigned loads
        t4 = time.perf_counter()
        checks = {name: _assigned_loads(problem, priced, sol) for name, (sol, _) in sols.items()}
        unique = sorted({(priced[k].cand.instance.index, round(q, 9)) for ch in checks.values() for k, _, _, q in ch})
        by_index = {i.index: i for i in instances}
        results = recheck(chain, mat, [(by_index[i], q) for i, q in unique], spec.search["seed"] + 1)
        res_of = dict(zip(unique, results))
        timings["recheck"] = timings.get("recheck", 0.0) + time.perf_counter() - t4
        failed = {}
        for (i, q), r in res_of.items():
            if not r["met"]:
                failed[i] = min(failed.get(i, np.inf), q)
        if failed and rounds < RECHECK_ROUNDS:
            rounds += 1
            stale = {name for name, ch in checks.items()
                     if any(priced[k].cand.instance.index in failed for k, _, _, _ in ch)}
            for i, q in failed.items():
                inst = by_index[i]
                derated.append(f"{inst.service.name} {inst.gpu_id} tp {inst.tp} max_num_seqs {inst.setting}: "
                               f"{inst.cap:.3g} -> {DERATE * q:.3g} requests/s")
                inst.cap = DERATE * min(q, inst.cap)
            say(f"SLO re-check: {len(failed)} instance(s) missed their SLO at their assigned load; solving again")
            continue
        break
    plans = {}
    for name, (sol, sec) in sols.items():
        ch = checks[name]
        att = [res_of[(priced[k].cand.instance.index, round(q, 9))] for k, _, _, q in ch]
        info = {"simulated": len(ch), "met": int(sum(r["met"] for r in att)),
                "min_attainment": min((r["attainment"] for r in att), default=float("nan")),
                "seed": spec.search["seed"] + 1, "rounds": rounds, "derated": list(derated),
                "statement": (f"every online server the plan loads was simulated again at its assigned load in "
                              f"each hour it serves ({len(ch)} runs, requests from seed {spec.search['seed'] + 1}); "
                              f"{int(sum(r['met'] for r in att))} of {len(ch)} met their SLO")}
        choice = _choice(spec, name, sol, sec, priced, problem, levels, info)
        choice.operational_kg_simulated = _simulated_operational(spec, db, cs, priced, sol, levels, ch, att)
        plans[name] = choice
    counts = {"candidates": len(cands), "priced": len(priced), "instances": len(instances),
              "online_instances": len(online_inst), "online_candidates": sum(1 for c in cands if c.service.online),
              "simulations": int(sims), "kept_after_pruning": kept,
              "variables": int(problem.n_candidates * (1 + (0 if spec.idle_on else spec.slots) + spec.slots)
                               + problem.n_reuse * spec.slots)}
    timings["total"] = time.perf_counter() - t0
    exact = [n for n in OBJECTIVES if method.get(n) == "exact"]
    refined = [n for n in OBJECTIVES if n in sols and n != "performance" and n not in exact]
    if exact:
        notes.append(f"{', '.join(exact)}: exact optima with online servers at load levels")
    if refined:
        notes.append(f"{', '.join(refined)}: fleets chosen with each online candidate priced at its part-load power "
                     "serving its service alone, then operated and refined at load levels (docs/plan.md §2.2); not "
                     "proven optimal at load levels")
    notes = list(dict.fromkeys(notes)) + [f"SLO attainment target {s.slo['attainment']:g} (default) for {s.name}" for s in spec.services
                     if s.online and "attainment" not in (s.spec.get("slo") or {})]
    if spec.doubling_yr is not None:
        notes.append(f"refreshed GPUs: energy per unit of work halves every {spec.doubling_yr:g} years "
                     "(candidates.efficiency_doubling_yr; refresh_gain: false turns it off)")
    return PlanResult(spec.name, spec.file, grid.label, grid.ci_g_per_kwh, spec.pue, spec.horizon_yr, spec.slots,
                      plans, counts, notes, timings, (chord_problem, chord))


def _simulated_operational(spec: Plan, db: Database, cs, priced: list[Priced], sol: FleetSolution, levels: dict,
                           checks: list, results: list) -> float:
    """The plan's operational carbon with every loaded online server's IT power re-simulated at its
    assigned load (:func:`_assigned_loads`); offline GPU work and host-CPU reuse keep the program's
    numbers (the performance model is deterministic)."""
    carbon = levels["carbon"][0]
    days = 365.0 * spec.horizon_yr
    chain = CarbonChain.for_load(db, compiled=False)
    cols: dict[int, np.ndarray] = {}
    busy: dict[tuple[int, int], tuple[int, float]] = {}
    for (k, t, m, _), r in zip(checks, results):
        p = priced[k]
        c, v = p.cand, p.cand.variant
        if v.index not in cols:
            cols[v.index] = chain.column(v.server, cs, ci_g_per_kwh=0.0, pue=spec.pue, load=Load(0.0, 0.0)).value[:, None]
        cores = float(v.server.host.cpu_count * (v.server.host.cpu.cores or 1))
        dur = max(r["duration_s"], 1e-12)
        util = min(1.0, c.replicas * r["cpu_core_s"] / dur / cores)
        w = float(chain.host_w(cols[v.index], np.array([util]))[0]) \
            + p.energy_factor * (c.replicas * r["gpu_energy_j"] / dur + p.spare_gpu_w)
        n0, w0 = busy.get((k, t), (0, 0.0))
        busy[(k, t)] = (n0 + m, w0 + m * w)
    total = float((carbon.reuse_unit * sol.z).sum())
    for k in np.flatnonzero(sol.n > 0):
        p = priced[k]
        for t in range(spec.slots):
            on = int(sol.a[k, t])
            if not p.cand.service.online:
                total += carbon.on[k, t] * on + carbon.unit[k, t] * sol.x[k, t]
                continue
            m, w = busy.get((k, t), (0, 0.0))
            watts = w + max(0, on - m) * p.carbon.idle_w
            total += watts * spec.slot_s[t] * days * p.carbon.kg_per_j
    return total
