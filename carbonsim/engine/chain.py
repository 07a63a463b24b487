r"""The one composition of carbonsim's models (layer 2), in the manner of pvlib's ``ModelChain``.

:class:`CarbonChain` turns a server, a coefficient set, a grid and either a steady **load** or
an LLM **workload** into numbers, and numbers into results, through one sequence of stages:

1. **embodied**: every part's manufacturing carbon (:mod:`carbonsim.models.embodied`);
2. **power**: the host's curve at its CPU utilisation (:mod:`carbonsim.models.power.host`),
   the GPUs by the activity model (:mod:`carbonsim.models.power.gpu`); for LLM work the
   activity comes from the performance model (:mod:`carbonsim.models.perf`) and the CPU
   utilisation from the engine's scheduler; a measured power replaces the estimate;
3. **energy and operational carbon**: power × time × PUE × grid intensity
   (:mod:`carbonsim.models.grid.carbon`);
4. **amortisation**: embodied carbon over the GPU and host lifetimes
   (:mod:`carbonsim.models.lifecycle`), per second or per request.

Every command (``embodied``, ``footprint``, ``compare``, ``inventory``, ``codecarbon``) and both
sweep evaluators go through it, so the same server at the same load gives the same watts and
kilograms everywhere. A point is one column of a float matrix whose rows are :attr:`rows`;
many points (a sweep, a fleet) are evaluated at once. Stages are attributes holding layer-1
functions and can be swapped (``CarbonChain(db, embodied=my_model)``).

Utilisation (docs/nomenclature.md): ``cpu_util`` is the fraction of CPU time busy; ``gpu_util``
is the load of a GPU load ladder, ``P = P_idle,loaded + (P_cap - P_idle,loaded) min(1, s gpu_util)`` with the
ladder slope ``s`` of the database (:func:`carbonsim.models.power.gpu.steady_load_power_w`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.columns import ParamColumn, server_column
from carbonsim.engine.inputs.options import DEFAULT_UTIL
from carbonsim.engine.inputs.power import HostCurve, gpu_constants, host_curve
from carbonsim.engine.inputs.serving import LENGTH_FIELDS, MAX_INSTANCES, ONLINE_ROWS, STREAM_ROWS
from carbonsim.engine.inputs.server import Server
from carbonsim.errors import InputError
from carbonsim.models.embodied.layout import COMPONENTS, N_HOST, N_PARAMS, PARAM_NAMES
from carbonsim.models.embodied.server import server_components_reference
from carbonsim.models.grid.carbon import operational_rate_mg_per_s
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.models.lifecycle.online import online_request_carbon
from carbonsim.models.lifecycle.tasks import offline_task_carbon
from carbonsim.models.perf.llm import offline_task_reference
from carbonsim.models.perf.layout import O, PARAM_NAMES as PERF_NAMES
from carbonsim.models.power.gpu import capped_gpu_power, capped_time_factor, steady_load_power_w
from carbonsim.models.power.host import TABLE_LEVELS, coded_shape, host_power_w
from carbonsim.models.serving.layout import INSTANCE_NAMES, N_OUTPUTS as N_OUT_SERVING, N_SETTINGS, OUT, S as _S
from carbonsim.models.serving.reference import simulate_reference
from carbonsim.models.serving.workload import ARRIVALS, RequestStream

S_TTFT, S_TPOT = _S["ttft_slo_s"], _S["tpot_slo_s"]

def embodied_kernel(params: np.ndarray) -> np.ndarray:
    """The compiled embodied model (Numba is imported on first use)."""
    from carbonsim.models.embodied._kernels import server_components

    return server_components(params)


def perf_kernel(params: np.ndarray) -> np.ndarray:
    """The compiled performance model (Numba is imported on first use)."""
    from carbonsim.models.perf import offline_task

    return offline_task(params)


#: Above this many points at once the compiled kernels pay for their loading time (about 0.3 s
#: with Numba's import): LLM tasks cost the NumPy reference about 20 us a point against 1 us
#: compiled; a steady-load point costs it 0.3 us against 0.04 us (benchmarks/, docs/performance.md).
COMPILED_ABOVE = {True: 4096, False: 2_000_000}

#: Utilisations assumed when none is given (stated in every output that uses them).
DEFAULT_CPU_UTIL = DEFAULT_GPU_UTIL = DEFAULT_UTIL

SHAPE_ROWS = tuple(f"host_shape_{i}" for i in range(len(TABLE_LEVELS)))
SERVER_ROWS = ("gpu_lifetime_yr", "host_lifetime_yr")
HOST_ROWS = ("host_idle_w", "host_max_w", "host_form", "host_k", *SHAPE_ROWS, "host_mem_w", "host_const_w",
             "host_psu_w", "host_cores")
GPU_ROWS = ("gpu_idle_loaded_w", "gpu_cap_w", "gpu_a_c", "gpu_a_m", "gpu_eta_c", "gpu_eta_m",
            "gpu_ladder_slope", "gpu_power_limit_w")
# Flags (0/1) say whether a power was measured and whether a grid is known: point vectors hold no
# NaN, so sweep axes can be combined by adding differences.
LOAD_ROWS = ("cpu_util", "gpu_util", "mem_util", "power_measured", "measured_power_w")
SITE_ROWS = ("pue", "grid_known", "ci_g_per_kwh")
#: Rows of a steady-load point: the embodied model's, then the rows above.
LOAD_POINT_ROWS = tuple(PARAM_NAMES) + SERVER_ROWS + HOST_ROWS + GPU_ROWS + LOAD_ROWS + SITE_ROWS
#: Extra rows of an LLM-task point: the performance model's inputs and the attribution rule.
TASK_ROWS = tuple(f"perf_{n}" for n in PERF_NAMES) + ("whole_server", "replicas", "gpu_idle_w")


@dataclass
class Load:
    """A steady load: utilisations 0..1 (None: the defaults, with a note) or a measured power [W]."""

    cpu_util: float | None = None
    gpu_util: float | None = None
    mem_util: float = 0.0
    power_w: float | None = None


@dataclass
class Column:
    """One point as numbers, with what the numbers cite and what was assumed (``embodied``: the
    embodied model's column, where the point has one server)."""

    value: np.ndarray
    embodied: ParamColumn | None = None
    sources: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    power_origin: str = ""


#: Why an LLM point cannot run, by code (0: it can).
INFEASIBLE_REASONS = np.array(["", "replicas x tensor_parallel exceeds the GPUs in the server",
                               "tensor_parallel does not divide the attention heads",
                               "tensor_parallel and the KV heads do not divide one another",
                               "weights and KV cache do not fit in GPU memory"], dtype=object)


def infeasibility(tp, n_gpu, heads, kv_heads, fits, replicas=1) -> np.ndarray:
    """Code into :data:`INFEASIBLE_REASONS` of each point (the first reason that applies).

    Megatron-style tensor parallelism splits the attention heads evenly over the GPUs; KV heads
    are split when there are at least ``tp`` of them and replicated otherwise (vLLM's rule).
    """
    tp, kv = np.asarray(tp, float), np.asarray(kv_heads, float)
    kv_ok = np.where(kv >= tp, np.mod(kv, tp) == 0, np.mod(tp, np.maximum(kv, 1)) == 0)
    return np.select([np.asarray(replicas) * tp > n_gpu, np.mod(heads, tp) != 0, ~kv_ok, ~np.asarray(fits)],
                     [1, 2, 3, 4], 0)


class CarbonChain:
    """Compose embodied carbon, power, energy, operational carbon and amortisation.

    Parameters
    ----------
    db : Database
        Where power constants (and, for LLM work, model and calibration data) are read.
    tasks : bool
        Points are LLM tasks (a model and a workload) rather than a steady load.
    compiled : bool
        Evaluate with the Numba kernels (fast on many points; the first call in a process loads
        them) or with the readable NumPy references (faster for a few points; the parity tests
        hold the two to 1e-9).
    embodied, perf : callable, optional
        Replace a stage: ``params (N_PARAMS, n) -> (N_COMPONENTS, n)`` embodied kg by component;
        ``perf params -> (N_OUTPUTS, n)`` performance outputs.
    """

    def __init__(self, db: Database, tasks: bool = False, compiled: bool = True, embodied=None, perf=None,
                 online: bool = False):
        self.db = db
        self.tasks = tasks or online
        self.online = online
        self.compiled = compiled
        self.embodied = embodied or (embodied_kernel if compiled else server_components_reference)
        self.perf = perf or (perf_kernel if compiled else offline_task_reference)
        self.rows = LOAD_POINT_ROWS + (ONLINE_ROWS if online else TASK_ROWS if tasks else ())
        self.index = {name: i for i, name in enumerate(self.rows)}
        #: Request traces online points refer to by index (:class:`~carbonsim.engine.inputs.serving.TraceBook`).
        self.traces: list = []

    @classmethod
    def for_points(cls, db: Database, n_points: int, tasks: bool = False) -> "CarbonChain":
        """A chain that evaluates ``n_points`` at once with the faster implementation for that size."""
        return cls(db, tasks=tasks, compiled=n_points > COMPILED_ABOVE[tasks])

    # -- inputs -> numbers ------------------------------------------------------------------------
    def column(self, server: Server, cs: CoefficientSet, *, ci_g_per_kwh: float = float("nan"), pue: float = 1.0,
               load: Load | None = None, perf_rows: dict | None = None, whole_server: bool = True,
               power_cap_w: float | None = None, replicas: int | None = None,
               online_rows: dict | None = None) -> Column:
        """The numbers of one point.

        Parameters
        ----------
        server : Server
        cs : CoefficientSet
        ci_g_per_kwh : float
            Grid intensity (``nan``: no grid, no operational carbon).
        pue : float
        load : Load, optional
            Steady load (ignored for tasks, where the workload sets the activity).
        perf_rows : dict, optional
            Performance-model inputs of an LLM task (:func:`carbonsim.engine.inputs.llm.perf_rows`).
        whole_server : bool
            Requests are charged the whole server, idle GPUs included (True), or only the GPUs
            their replicas use and that share of the host (False); power and embodied carbon alike.
        power_cap_w : float, optional
            GPU power limit [W] (default: the GPU's cap, its TDP).
        replicas : int, optional
            Model replicas serving at once, each on ``tensor_parallel`` GPUs (default: as many as
            the server holds, ``gpu_count // tensor_parallel``, at least 1).
        online_rows : dict, optional
            Online-serving rows (:func:`carbonsim.engine.inputs.serving.online_rows`); the GPUs'
            power constants are added here.
        """
        emb = server_column(server, cs)
        v = np.zeros(len(self.rows))
        ix = self.index
        v[:N_PARAMS] = emb.value
        share = float(emb.value[PARAM_NAMES.index("host_share")])
        v[ix["gpu_lifetime_yr"]] = server.gpu_lifetime_yr.value
        v[ix["host_lifetime_yr"]] = server.host_lifetime_yr.value
        col = Column(v, emb, set(emb.sources), list(emb.notes))
        load = load or Load()
        measured = load.power_w is not None and not self.tasks
        if measured:
            v[ix["power_measured"]], v[ix["measured_power_w"]] = 1.0, load.power_w
            col.power_origin = "measured (--power-w)"
        else:
            curve = host_curve(server, self.db, share)
            self._put_host(v, curve, server, share)
            col.power_origin = curve.origin
            if server.gpu is not None and server.gpu_count:
                c, fallback = gpu_constants(self.db, server.gpu.id, server.gpu.tdp_w.value)
                for key in ("idle_loaded_w", "cap_w", "a_c", "a_m", "eta_c", "eta_m", "ladder_slope"):
                    v[ix[f"gpu_{key}"]] = c[key]
                v[ix["gpu_power_limit_w"]] = c["cap_w"] if power_cap_w is None else power_cap_w
                if c.get("source"):
                    col.sources.add(c["source"])
                if fallback:
                    col.notes.append(fallback)
        if not self.tasks and not measured:
            cpu, gpu = load.cpu_util, load.gpu_util
            if cpu is None:
                cpu = DEFAULT_CPU_UTIL
                col.notes.append(f"CPU utilisation assumed {DEFAULT_CPU_UTIL:g} (give --cpu-util)")
            if gpu is None and server.gpu_count:
                gpu = DEFAULT_GPU_UTIL
                col.notes.append(f"GPU utilisation assumed {DEFAULT_GPU_UTIL:g} (give --gpu-util)")
            v[ix["cpu_util"]], v[ix["gpu_util"]], v[ix["mem_util"]] = cpu, gpu or 0.0, load.mem_util
            if server.gpu_count:
                col.power_origin += f"; GPUs by the activity model at utilisation {gpu:g}"
        v[ix["pue"]] = pue
        known = ci_g_per_kwh is not None and not np.isnan(ci_g_per_kwh)
        v[ix["grid_known"]], v[ix["ci_g_per_kwh"]] = (1.0, ci_g_per_kwh) if known else (0.0, 0.0)
        if self.online:
            if online_rows is None:
                raise InputError("online serving needs a model and a workload")
            self._put_online(v, online_rows, whole_server)
        elif self.tasks:
            if perf_rows is None:
                raise InputError("an LLM task needs a model and a workload")
            for name, value in perf_rows.items():
                v[ix[f"perf_{name}"]] = value
            v[ix["whole_server"]] = 1.0 if whole_server else 0.0
            tp = int(perf_rows["tp"])
            v[ix["replicas"]] = replicas if replicas is not None else max(1, server.gpu_count // tp)
            idle = server.gpu.idle_w if server.gpu is not None else None
            v[ix["gpu_idle_w"]] = v[ix["gpu_idle_loaded_w"]] if idle is None else idle.value
            if idle is not None and idle.source:
                col.sources.add(idle.source)
        return col

    def _put_host(self, v: np.ndarray, curve: HostCurve, server: Server, share: float) -> None:
        ix = self.index
        v[ix["host_idle_w"]], v[ix["host_max_w"]] = curve.idle_w, curve.max_w
        v[ix["host_form"]], v[ix["host_k"]] = curve.code, curve.k
        v[ix[SHAPE_ROWS[0]]: ix[SHAPE_ROWS[-1]] + 1] = curve.fractions
        v[ix["host_mem_w"]], v[ix["host_const_w"]] = curve.mem_w, curve.const_w
        psu = server.host.facts.get("psu_w")
        v[ix["host_psu_w"]] = 0.0 if psu is None else psu.value  # 0: no rating known, no cap
        v[ix["host_cores"]] = share * server.host.cpu_count * (server.host.cpu.cores or 1)

    # -- numbers -> results -----------------------------------------------------------------------
    def components_kg(self, mat: np.ndarray) -> np.ndarray:
        """Stage 1: embodied kg by component, rows in :data:`~carbonsim.models.embodied.layout.COMPONENTS`."""
        return self.embodied(mat[:N_PARAMS])

    def host_w(self, mat: np.ndarray, cpu_util) -> np.ndarray:
        """Stage 2, host: the server's share of its chassis curve at ``cpu_util`` [W]."""
        ix = self.index
        shape = coded_shape(cpu_util, mat[ix["host_form"]], mat[ix["host_k"]],
                            mat[ix[SHAPE_ROWS[0]]: ix[SHAPE_ROWS[-1]] + 1])
        chassis = host_power_w(cpu_util, mat[ix["host_idle_w"]], mat[ix["host_max_w"]], shape,
                               mat[ix["mem_util"]], mat[ix["host_mem_w"]], mat[ix["host_const_w"]])
        return mat[ix["host_share"]] * chassis

    def evaluate(self, mat: np.ndarray, components: bool = False) -> dict[str, np.ndarray]:
        """All results of the points in ``mat`` (shape ``(len(rows), n)``).

        Steady load: embodied kg (host, GPU, total, and by component when ``components``), the
        embodied, operational and total rates [mg/s] split host/GPU, power [W]. LLM tasks:
        per-request latency, energy, carbon and delay products (see :meth:`evaluate_tasks`).
        """
        if self.online:
            return self.evaluate_online(mat)
        if self.tasks:
            return self.evaluate_tasks(mat)
        return self.evaluate_load(mat, components)

    def evaluate_load(self, mat: np.ndarray, components: bool = False) -> dict[str, np.ndarray]:
        """Steady-load results (see :meth:`evaluate`)."""
        ix = self.index
        comps = self.components_kg(mat)
        host_kg, gpu_kg = comps[:N_HOST].sum(axis=0), comps[N_HOST:].sum(axis=0)
        host_rate = embodied_rate_mg_per_s(host_kg, mat[ix["host_lifetime_yr"]])
        gpu_rate = embodied_rate_mg_per_s(gpu_kg, mat[ix["gpu_lifetime_yr"]])
        out = {"embodied_kg": host_kg + gpu_kg, "host_embodied_kg": host_kg, "gpu_embodied_kg": gpu_kg,
               "embodied_mg_per_s": host_rate + gpu_rate, "host_embodied_mg_per_s": host_rate,
               "gpu_embodied_mg_per_s": gpu_rate}
        if components:
            for i, name in enumerate(COMPONENTS):
                out[f"{'host' if i < N_HOST else 'gpu'}_{name}_kg"] = comps[i]
        if not np.any(mat[ix["grid_known"]] > 0.5):
            return out
        ci = self.ci_g_per_kwh(mat)
        host_w, gpu_w, limited = self.load_power_w(mat)
        measured = mat[ix["power_measured"]] > 0.5
        power = np.where(measured, mat[ix["measured_power_w"]], host_w + gpu_w)
        pue = mat[ix["pue"]]
        op = operational_rate_mg_per_s(power, pue, ci)
        out.update({
            "power_w": power, "host_power_w": host_w, "gpu_power_w": gpu_w, "psu_limited": limited,
            "pue": pue.copy(), "ci_g_per_kwh": ci.copy(),
            "operational_mg_per_s": op,
            "host_operational_mg_per_s": operational_rate_mg_per_s(host_w, pue, ci),
            "gpu_operational_mg_per_s": operational_rate_mg_per_s(gpu_w, pue, ci),
            "total_mg_per_s": out["embodied_mg_per_s"] + op,
        })
        out["embodied_share"] = out["embodied_mg_per_s"] / out["total_mg_per_s"]
        return out

    def load_power_w(self, mat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 2 under a steady load: host and GPU power [W] (``nan`` where a power was measured),
        and whether the PSU limited them.

        The sum is capped at the server's share of the chassis PSU rating (``host.psu_w``);
        host and GPUs are scaled down together.
        """
        ix = self.index
        host_w = self.host_w(mat, mat[ix["cpu_util"]])
        per_gpu = steady_load_power_w(mat[ix["gpu_util"]], mat[ix["gpu_idle_loaded_w"]], mat[ix["gpu_cap_w"]],
                                      mat[ix["gpu_ladder_slope"]])
        # servers without GPUs carry zeros in the GPU rows
        per_gpu = np.minimum(per_gpu, mat[ix["gpu_power_limit_w"]])
        gpu_w = mat[ix["gpu_count"]] * np.where(mat[ix["gpu_count"]] > 0, per_gpu, 0.0)
        total = host_w + gpu_w
        cap = mat[ix["host_share"]] * mat[ix["host_psu_w"]]
        scale = np.where((cap > 0) & (total > cap), cap / np.where(total > 0, total, 1.0), 1.0)
        measured = mat[ix["power_measured"]] > 0.5
        return (np.where(measured, np.nan, host_w * scale), np.where(measured, np.nan, gpu_w * scale),
                ~measured & (scale < 1.0))

    def ci_g_per_kwh(self, mat: np.ndarray) -> np.ndarray:
        """Grid intensity of each point [g/kWh]; ``nan`` where no grid was given."""
        ix = self.index
        return np.where(mat[ix["grid_known"]] > 0.5, mat[ix["ci_g_per_kwh"]], np.nan)

    def evaluate_tasks(self, mat: np.ndarray) -> dict[str, np.ndarray]:
        """Per-request results of offline LLM batches.

        ``replicas`` copies of the model each run a batch on their tensor-parallel GPUs. GPU
        energy: those GPUs at their phase powers (activity from the performance model; under
        ``power_cap_w`` the compute-bound share of each phase slows by the clock factor the cap
        forces) plus loaded idle while they wait on communication and the CPU; with whole-server
        attribution the GPUs that serve no replica draw their idle power. Host: its curve at the
        CPU utilisation the replicas' schedulers cause (one busy core per engine worker while the
        CPU works). Accounting: :func:`carbonsim.models.lifecycle.tasks.offline_task_carbon`.
        """
        ix = self.index
        comps = self.components_kg(mat)
        host_kg, gpu_kg = comps[:N_HOST].sum(axis=0), comps[N_HOST:].sum(axis=0)
        n_gpu = mat[ix["gpu_count"]]
        perf = slice(ix[f"perf_{PERF_NAMES[0]}"], ix[f"perf_{PERF_NAMES[-1]}"] + 1)
        out = self.perf(mat[perf])
        batch, tp, reps = mat[ix["perf_batch"]], mat[ix["perf_tp"]], mat[ix["replicas"]]
        idle = mat[ix["gpu_idle_loaded_w"]]
        a_c, a_m = mat[ix["gpu_a_c"]], mat[ix["gpu_a_m"]]
        eta_c, eta_m = mat[ix["gpu_eta_c"]], mat[ix["gpu_eta_m"]]

        def phase(name):
            mfu, mbu = out[O[f"{name}_mfu"]], out[O[f"{name}_mbu"]]
            power, f = capped_gpu_power(mfu, mbu, idle, mat[ix["gpu_cap_w"]], a_c, a_m, eta_c, eta_m,
                                        mat[ix["gpu_power_limit_w"]])
            x_c, x_m = mfu / eta_c, mbu / eta_m
            share = np.where(x_c + x_m > 0, x_c / np.maximum(x_c + x_m, 1e-12), 0.0)  # compute-bound share
            return power, out[O[f"{name}_gpu_s"]] * capped_time_factor(share, f)

        p_pre, t_pre = phase("prefill")
        p_dec, t_dec = phase("decode")
        stretch = (t_pre - out[O["prefill_gpu_s"]]) + (t_dec - out[O["decode_gpu_s"]])
        lat = out[O["latency_s"]] + stretch
        gpu_batch_j = tp * (p_pre * t_pre + p_dec * t_dec + idle * (out[O["comm_s"]] + out[O["gpu_wait_s"]]))
        serving = reps * tp
        whole = mat[ix["whole_server"]] > 0.5
        spare = np.maximum(n_gpu - serving, 0.0)
        gpu_j = reps * gpu_batch_j + np.where(whole, spare * mat[ix["gpu_idle_w"]] * lat, 0.0)
        cpu_util = np.minimum(1.0, serving * out[O["cpu_s"]] / np.maximum(lat, 1e-12) / mat[ix["host_cores"]])
        host_w = self.host_w(mat, cpu_util)
        n_safe = np.maximum(n_gpu, 1.0)
        res = offline_task_carbon(lat, reps * batch, gpu_j, host_w, np.where(whole, 1.0, np.minimum(1.0, serving / n_safe)),
                                  host_kg, gpu_kg, n_gpu, np.where(whole, n_gpu, serving),
                                  mat[ix["host_lifetime_yr"]], mat[ix["gpu_lifetime_yr"]], mat[ix["pue"]],
                                  self.ci_g_per_kwh(mat))
        reason = infeasibility(tp, n_gpu, mat[ix["perf_n_heads"]], mat[ix["perf_n_kv_heads"]],
                               out[O["feasible"]] > 0.5, reps)
        return {
            "latency_s": lat,
            "ttft_s": out[O["ttft_s"]] + (t_pre - out[O["prefill_gpu_s"]]),
            "tpot_s": out[O["tpot_s"]] + (t_dec - out[O["decode_gpu_s"]]) / mat[ix["perf_output_tokens"]],
            "throughput_tok_s": out[O["throughput_tok_s"]] * out[O["latency_s"]] / lat,
            **res,
            "mfu": out[O["mfu"]],
            "mbu": out[O["mbu"]],
            "gpu_power_w": gpu_batch_j / np.maximum(lat * tp, 1e-12),
            "host_power_w": host_w,
            "replicas": reps.astype(np.int64),
            "ci_g_per_kwh": self.ci_g_per_kwh(mat),
            "memory_needed_gb": out[O["memory_needed_gb"]],
            "max_batch": out[O["max_batch"]].astype(np.int64),
            "feasible": reason == 0,
            "infeasible_reason": INFEASIBLE_REASONS[reason],
        }

    # -- online serving -----------------------------------------------------------------------------
    def _put_online(self, v: np.ndarray, rows: dict, whole_server: bool) -> None:
        """Online rows, with each instance's GPU power constants from this point's GPU rows."""
        ix = self.index
        for name, value in rows.items():
            v[ix[name]] = value
        for i in range(MAX_INSTANCES):
            for inst_row, gpu_row in ONLINE_POWER_ROWS:
                v[ix[f"inst{i}_{inst_row}"]] = v[ix[gpu_row]]
        v[ix["whole_server"]] = 1.0 if whole_server else 0.0

    def online_systems(self, mat: np.ndarray, points, lazy: bool = False) -> tuple[list, np.ndarray]:
        """The serving systems (instances and drawn requests) of ``points`` (column indices), and
        their settings, as :func:`carbonsim.models.serving.simulate_many` takes them. ``lazy``:
        seeded requests as streams the compiled simulator draws while it runs (memory independent
        of the number of requests), not arrays."""
        ix = self.index
        systems = []
        settings = np.zeros((N_SETTINGS, len(points)))
        draws: dict = {}
        for k, j in enumerate(points):
            col = mat[:, j]
            n_inst = int(col[ix["online_instances"]])
            inst = np.stack([col[ix[f"inst{i}_{INSTANCE_NAMES[0]}"]: ix[f"inst{i}_{INSTANCE_NAMES[-1]}"] + 1]
                             for i in range(n_inst)], axis=1)
            n_prefill = int(col[ix["online_prefill_instances"]])
            if lazy and int(col[ix["online_arrival"]]) != ARRIVALS["trace"] and n_prefill > 0:
                systems.append((self._disaggregated_instances(col, inst), [(self._stream(col, 0), 0, n_prefill)]))
            elif lazy and int(col[ix["online_arrival"]]) != ARRIVALS["trace"]:
                systems.append((inst, [(self._stream(col, i), i, 1) for i in range(n_inst)]))
            elif n_prefill > 0:
                systems.append(self._disaggregated_system(col, inst, draws))
            else:
                parts = [self._requests(col, i, draws) for i in range(n_inst)]
                owner = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, (a, _, _) in enumerate(parts)])
                systems.append((inst, *(np.concatenate([p[q] for p in parts]) for q in range(3)), owner))
            settings[S_TTFT, k] = col[ix["online_ttft_slo_s"]]
            settings[S_TPOT, k] = col[ix["online_tpot_slo_s"]]
        return systems, settings

    def _disaggregated_system(self, col: np.ndarray, inst: np.ndarray, draws: dict):
        """A disaggregated point's system: ``P`` copies of the prefill instance (column 0) and ``D``
        of the decode instance (column 1), each on GPUs of its own, and the model's requests sent
        to the prefill instances round robin in arrival order (each instance's requests
        contiguous: :func:`disaggregated_order`)."""
        cols = self._disaggregated_instances(col, inst)
        arr, prompt, out = self._requests(col, 0, draws)
        order, owner = disaggregated_order(len(arr), int(col[self.index["online_prefill_instances"]]))
        return (cols, arr[order], prompt[order], out[order], owner)

    def _disaggregated_instances(self, col: np.ndarray, inst: np.ndarray) -> np.ndarray:
        """``P`` copies of the prefill instance (column 0), then ``D`` of the decode instance (column 1)."""
        ix = self.index
        n_p, n_d = int(col[ix["online_prefill_instances"]]), int(col[ix["online_decode_instances"]])
        cols = np.concatenate([np.repeat(inst[:, :1], n_p, axis=1), np.repeat(inst[:, 1:2], n_d, axis=1)], axis=1)
        cols[INSTANCE_NAMES.index("gpu_group")] = np.arange(n_p + n_d)
        return cols

    def _requests(self, col: np.ndarray, model: int, cache: dict):
        """Arrival times and lengths of model ``model``'s requests (seeded draws or the trace)."""
        ix = self.index
        key = (model,) + tuple(col[ix[r]] for r in STREAM_ROWS if r not in ("online_placement", "online_gpus_used",
                                                                              "online_ttft_slo_s", "online_tpot_slo_s"))
        if key in cache:
            return cache[key]
        requests = int(col[ix["online_requests"]])
        if int(col[ix["online_arrival"]]) == ARRIVALS["trace"]:
            arr, prompt, out = self.traces[int(col[ix["online_trace" if model == 0 else "online_trace_2"]])]
            duration = col[ix["online_duration_s"]]
            keep = np.ones(len(arr), bool) if duration <= 0 else arr < duration
            arr, prompt, out = arr[keep], prompt[keep], out[keep]
            if requests:
                arr, prompt, out = arr[:requests], prompt[:requests], out[:requests]
            res = (arr, prompt, out)
        else:
            res = self._stream(col, model).draw()
        cache[key] = res
        return res

    def _stream(self, col: np.ndarray, model: int) -> RequestStream:
        """Model ``model``'s seeded request stream."""
        ix = self.index
        length = [tuple(col[ix[f"online_{w}_{f}"]] for f in LENGTH_FIELDS) for w in ("prompt", "output")]
        return RequestStream(int(col[ix["online_seed"]]), int(col[ix["online_arrival"]]), qps=col[ix["online_qps"]],
                             requests=int(col[ix["online_requests"]]) or None,
                             duration_s=col[ix["online_duration_s"]] or None, prompt=length[0], output=length[1],
                             model=model)

    def evaluate_online(self, mat: np.ndarray) -> dict[str, np.ndarray]:
        """Per-request results of online serving runs (one simulation per point).

        GPUs: the serving simulator's energy of the GPUs in use (kernels at their activity
        power, loaded idle otherwise, between requests too). Host: its curve at the CPU
        utilisation the engines' scheduling causes while requests are in the server (one busy
        core per engine worker while the CPU works), and at zero utilisation while the server
        is empty. Accounting: :func:`carbonsim.models.lifecycle.online.online_request_carbon`.
        """
        ix = self.index
        n = mat.shape[1]
        comps = self.components_kg(mat)
        host_kg, gpu_kg = comps[:N_HOST].sum(axis=0), comps[N_HOST:].sum(axis=0)
        n_gpu = mat[ix["gpu_count"]]
        n_inst = mat[ix["online_instances"]]
        gpus_used = mat[ix["online_gpus_used"]]
        disaggregated = mat[ix["online_prefill_instances"]] > 0
        reason = np.where(gpus_used > n_gpu, np.where(disaggregated, DISAGGREGATED_GPUS_CODE, 1), 0)
        for i in range(MAX_INSTANCES):
            used = n_inst > i
            tp = mat[ix[f"inst{i}_tp"]]
            code = infeasibility(np.where(used, tp, 1.0), np.inf, np.where(used, mat[ix[f"inst{i}_n_heads"]], 1.0),
                                 np.where(used, mat[ix[f"inst{i}_n_kv_heads"]], 1.0),
                                 ~used | (mat[ix[f"inst{i}_kv_blocks"]] >= 1))
            reason = np.where(reason == 0, code, reason)
        ok = np.flatnonzero(reason == 0)
        out = np.full((N_OUT_SERVING, n), np.nan)
        if len(ok):
            systems, settings = self.online_systems(mat, ok, lazy=self.compiled)
            if self.compiled:
                from carbonsim.models.serving import simulate_many

                out[:, ok] = simulate_many(systems, settings)
            else:
                for k, (j, s) in enumerate(zip(ok, systems)):
                    out[:, j] = simulate_reference(*s, settings[:, k])[0]
        rejected = np.nan_to_num(out[OUT["rejected"]])
        reason = np.where((reason == 0) & (rejected > 0), REJECTED_CODE, reason)
        reason = np.where((reason == 0) & (out[OUT["served"]] == 0), REJECTED_CODE + 1, reason)
        good = reason == 0
        served = out[OUT["served"]]
        duration = out[OUT["duration_s"]]
        busy, idle = out[OUT["busy_s"]], out[OUT["idle_s"]]
        cores = np.maximum(mat[ix["host_cores"]], 1e-12)
        util = np.minimum(1.0, np.where(busy > 0, out[OUT["cpu_core_s"]] / np.maximum(busy, 1e-12) / cores, 0.0))
        util = np.nan_to_num(util)
        host_busy_w = self.host_w(mat, util)
        host_idle_w = self.host_w(mat, np.zeros(n))
        host_j = host_busy_w * busy + host_idle_w * idle
        gpu_j = out[OUT["gpu_energy_j"]]
        held = np.where(mat[ix["whole_server"]] > 0.5, n_gpu, gpus_used)
        latency = out[OUT["latency_mean_s"]]
        res = online_request_carbon(served, duration, latency, gpu_j, host_j, host_kg, gpu_kg, n_gpu, held,
                                    mat[ix["host_lifetime_yr"]], mat[ix["gpu_lifetime_yr"]], mat[ix["pue"]],
                                    self.ci_g_per_kwh(mat))
        per = np.maximum(served, 1.0)
        nan = np.where(good, 1.0, np.nan)  # an infeasible point has no results
        metrics = {
            "latency_s": latency,
            "ttft_s": out[OUT["ttft_mean_s"]],
            "tpot_s": out[OUT["tpot_mean_s"]],
            "throughput_tok_s": out[OUT["output_tokens"]] / duration,
            "requests_per_s": served / duration,
            **res,
            "gpu_busy_energy_j": (gpu_j - out[OUT["gpu_idle_energy_j"]]) / per,
            "gpu_idle_energy_j": out[OUT["gpu_idle_energy_j"]] / per,
            "host_busy_energy_j": host_busy_w * busy / per,
            "host_idle_energy_j": host_idle_w * idle / per,
            **{f"{m}_{q}_s": out[OUT[f"{m}_{q}_s"]] for m in ("ttft", "tpot", "latency") for q in ("p50", "p90", "p99")},
            "slo_attainment": out[OUT["slo_attainment"]],
            "served_requests": served,
            "rejected_requests": out[OUT["rejected"]],
            "preemptions": out[OUT["preemptions"]],
            "mean_batch": out[OUT["mean_batch"]],
            "concurrency": out[OUT["concurrency"]],
            "duration_s": duration,
            "idle_s": idle,
            "output_tokens_per_request": out[OUT["output_tokens"]] / per,
            "prompt_tokens_per_request": out[OUT["prompt_tokens"]] / per,
            "steady_s": out[OUT["steady_s"]],
            "steady_gpu_energy_j": out[OUT["steady_gpu_energy_j"]],
            "steady_output_tokens": out[OUT["steady_output_tokens"]],
            "decode_gpu_energy_j": out[OUT["decode_gpu_energy_j"]] / per,
            "decode_gpu_energy_share": out[OUT["decode_gpu_energy_j"]] / np.maximum(gpu_j, 1e-300),
            "steady_decode_gpu_energy_j": out[OUT["steady_decode_gpu_energy_j"]],
            "steady_decode_output_tokens": out[OUT["steady_decode_output_tokens"]],
            "gpu_power_w": gpu_j / np.maximum(duration * gpus_used, 1e-12),
            "host_power_w": host_j / np.maximum(duration, 1e-12),
            "host_cpu_util": util,
            "kv_cache_tokens": np.where(n_inst > 0, mat[ix["inst0_kv_blocks"]] * mat[ix["inst0_block_size"]], 0.0),
        }
        metrics = {k: v * nan for k, v in metrics.items()}
        metrics["ci_g_per_kwh"] = self.ci_g_per_kwh(mat)
        metrics["gpus_used"] = gpus_used.astype(np.int64)
        metrics["feasible"] = good
        metrics["infeasible_reason"] = ONLINE_INFEASIBLE_REASONS[reason]
        return metrics

    def simulate_point(self, vector: np.ndarray):
        """One online point in detail: its results (:data:`~carbonsim.models.serving.layout.OUTPUT_NAMES`)
        and per-request arrays (rows :data:`~carbonsim.models.serving.layout.REQUEST_NAMES`),
        with the requests' arrival times, lengths and model index."""
        mat = np.asarray(vector, dtype=float)[:, None]
        (system,), settings = self.online_systems(mat, [0])
        if self.compiled:
            from carbonsim.models.serving import simulate

            out, per = simulate(*system, settings[:, 0])
        else:
            out, per = simulate_reference(*system, settings[:, 0])
        n_prefill = int(mat[self.index["online_prefill_instances"], 0])
        if n_prefill > 0:  # back to arrival order; every request is the (one) model's
            inst, arr, prompt, output, _ = system
            order, _ = disaggregated_order(len(arr), n_prefill)
            back = np.empty_like(order)
            back[order] = np.arange(len(order))
            per = per[:, back]
            system = (inst, arr[back], prompt[back], output[back], np.zeros(len(arr), dtype=np.int64))
        return out, per, system


#: Instance power rows and the point rows they take their values from.
ONLINE_POWER_ROWS = (("idle_loaded_w", "gpu_idle_loaded_w"), ("cap_w", "gpu_cap_w"), ("a_c", "gpu_a_c"),
                     ("a_m", "gpu_a_m"), ("power_eta_c", "gpu_eta_c"), ("power_eta_m", "gpu_eta_m"),
                     ("power_limit_w", "gpu_power_limit_w"))
REJECTED_CODE = len(INFEASIBLE_REASONS)
DISAGGREGATED_GPUS_CODE = REJECTED_CODE + 2
#: Online points add reasons: requests that could never run, none at all, a disaggregated
#: deployment larger than the server.
ONLINE_INFEASIBLE_REASONS = np.append(INFEASIBLE_REASONS, ["requests longer than max_model_len or the KV cache "
                                                           "were rejected (cap the lengths: workload.prompt_tokens.max, "
                                                           "workload.output_tokens.max)", "no request arrives",
                                                           "(prefill_instances + decode_instances) x tensor_parallel "
                                                           "exceeds the GPUs in the server"])


def disaggregated_order(n: int, n_prefill: int) -> tuple[np.ndarray, np.ndarray]:
    """Requests ``0..n-1`` (arrival order) sent round robin to ``n_prefill`` prefill instances:
    the order that makes each instance's requests contiguous, and their instance."""
    owner = np.arange(n, dtype=np.int64) % n_prefill
    order = np.argsort(owner, kind="stable")
    return order, owner[order]

