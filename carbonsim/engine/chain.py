r"""The one composition of carbonsim's models (layer 2), in the manner of pvlib's ``ModelChain``.

:class:`CarbonChain` turns a server, a coefficient set, a grid and either a steady **load** or
an LLM **workload** into numbers, and numbers into results, through one sequence of stages:

1. **embodied**: every part's manufacturing carbon (:mod:`carbonsim.models.embodied`);
2. **power**: the host's curve at its CPU utilisation (:mod:`carbonsim.models.power.host`),
   the GPUs by the activity model (:mod:`carbonsim.models.power.gpu`); for LLM work the
   activity comes from the performance model (:mod:`carbonsim.models.perf`) and the CPU
   utilisation from the engine's scheduler; a measured power replaces the estimate;
3. **energy and operational carbon**: power × time × PUE × grid intensity
   (:func:`carbonsim.models.grid.carbon.operational_g`, the one place it is written);
4. **amortisation**: embodied carbon over the GPU and host lifetimes
   (:func:`carbonsim.models.lifecycle.amortisation.amortised_kg`), per second or per request;
5. **over a period** (:meth:`CarbonChain.over_period`): energy, operational carbon, amortised
   embodied carbon and their total over a period of use, with the grid's intensity resolved over
   that period in the grid inputs (:func:`carbonsim.engine.inputs.grid.grid_over_period`);
6. **per functional unit** (:meth:`CarbonChain.per_unit`): carbon per request, per 1,000
   tokens, per GPU-hour, per run, as the Software Carbon Intensity
   (:func:`carbonsim.models.lifecycle.sci.sci_g`).

A chain is built for one **mode**, the kind of point it evaluates; each mode is a preset and
has its own entry point (as pvlib's ``ModelChain.with_*`` presets and ``run_model_from_*``):

======== =================================== ======================= =========================
mode     preset                              entry point             a point is
======== =================================== ======================= =========================
load     :meth:`CarbonChain.for_load`        :meth:`run_load`        a server at a steady load
tasks    :meth:`CarbonChain.for_tasks`       :meth:`run_tasks`       an offline LLM batch
online   :meth:`CarbonChain.for_online`      :meth:`run_online`      an online-serving run
training :meth:`CarbonChain.for_training`    :meth:`run_training`    a training run
fleet    :meth:`CarbonChain.for_fleet`       :meth:`run_fleet`       a fleet over a horizon
======== =================================== ======================= =========================

:meth:`CarbonChain.evaluate` runs the chain's own mode. Every command (``embodied``,
``footprint``, ``compare``, ``inventory``, ``codecarbon``, ``train``, ``schedule``, ``budget``)
and every sweep goes through it, so the same server at the same load gives the same watts and
kilograms everywhere, and the same question over a period the same total. A point is one column
of a float matrix whose rows are :attr:`CarbonChain.rows`; many points (a sweep, a fleet) are
evaluated at once. Results are a :class:`ChainResult`: named arrays, each with its unit
(:data:`RESULT_UNITS`); only this module reads the matrix by row name. Stages are attributes
holding layer-1 functions and can be swapped (``CarbonChain(db, embodied=my_model)``).

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
from carbonsim.engine.inputs.options import DEFAULT_PUE, DEFAULT_UTIL
from carbonsim.engine.inputs.power import HostCurve, gpu_constants, host_curve
from carbonsim.engine.inputs.serving import LENGTH_FIELDS, MAX_INSTANCES, ONLINE_ROWS, STREAM_ROWS
from carbonsim.engine.inputs.server import Server
from carbonsim.errors import InputError
from carbonsim.models.embodied.layout import COMPONENTS, N_HOST, N_PARAMS, PARAM_NAMES
from carbonsim.models.embodied.server import server_components_reference
from carbonsim.models.grid.carbon import facility_energy_kwh, operational_g, operational_rate_mg_per_s
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s, period_embodied_kg, period_energy_kwh
from carbonsim.models.lifecycle.online import online_request_carbon
from carbonsim.models.lifecycle.refresh import POINT_INPUTS as FLEET_INPUTS, YEAR_INPUTS, fleet_reference
from carbonsim.models.lifecycle.sci import sci_g
from carbonsim.models.lifecycle.tasks import offline_task_carbon
from carbonsim.models.lifecycle.training import device_hours
from carbonsim.models.perf.llm import offline_task_reference
from carbonsim.models.perf.layout import O, PARAM_NAMES as PERF_NAMES
from carbonsim.models.power.gpu import capped_gpu_power, capped_time_factor, steady_load_power_w
from carbonsim.models.power.host import TABLE_LEVELS, coded_shape, host_power_w
from carbonsim.models.serving.layout import INSTANCE_NAMES, N_OUTPUTS as N_OUT_SERVING, N_SETTINGS, OUT, S as _S
from carbonsim.models.serving.workload import ARRIVALS, RequestStream
from carbonsim.models.uncertainty import split_triangular_ppf, uniforms
from carbonsim.units import HOURS_PER_YEAR

S_TTFT, S_TPOT = _S["ttft_slo_s"], _S["tpot_slo_s"]

def embodied_kernel(params: np.ndarray) -> np.ndarray:
    """The compiled embodied model (Numba is imported on first use)."""
    from carbonsim.models.embodied._kernels import server_components

    return server_components(params)


def perf_kernel(params: np.ndarray) -> np.ndarray:
    """The compiled performance model (Numba is imported on first use)."""
    from carbonsim.models.perf import offline_task

    return offline_task(params)


#: The kinds of point a chain evaluates (module docstring).
MODES = ("load", "tasks", "online", "training", "fleet")

#: Above this many points at once the compiled kernels pay for their loading time (about 0.3 s
#: with Numba's import): LLM tasks cost the NumPy reference about 20 us a point against 1 us
#: compiled; a steady-load point costs it 0.3 us against 0.04 us; the fleet reference about 20 us
#: a point over 10 years against 1 us (benchmarks/, docs/performance.md). Training has no kernel.
COMPILED_ABOVE = {"load": 2_000_000, "tasks": 4096, "online": 0, "fleet": 4096, "training": float("inf")}

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
#: The period of use a steady-load point is accounted over [yr] (0: none; per-second rates only).
PERIOD_ROWS = ("period_yr",)
#: Rows of a steady-load point: the embodied model's, then the rows above.
LOAD_POINT_ROWS = tuple(PARAM_NAMES) + SERVER_ROWS + HOST_ROWS + GPU_ROWS + LOAD_ROWS + SITE_ROWS + PERIOD_ROWS
#: Extra rows of a steady-load point whose uncertainty is sampled (a chain with ``samples``): the
#: low and high of every embodied input and of the lifetimes.
LIFETIME_RANGE_ROWS = ("gpu_lifetime_yr_low", "gpu_lifetime_yr_high", "host_lifetime_yr_low", "host_lifetime_yr_high")
RANGE_ROWS = (tuple(f"{p}_low" for p in PARAM_NAMES) + tuple(f"{p}_high" for p in PARAM_NAMES)
              + LIFETIME_RANGE_ROWS)
#: Points x samples drawn at once when a chain samples (bounds memory: 74 inputs x 2^20 floats).
SAMPLE_BLOCK = 1 << 20
#: Extra rows of an LLM-task point: the performance model's inputs and the attribution rule.
TASK_ROWS = tuple(f"perf_{n}" for n in PERF_NAMES) + ("whole_server", "replicas", "gpu_idle_w")
#: Rows of a training point: the run's compute (FLOPs, peak, efficiency or measured device-hours),
#: one device's power and embodied carbon (with its host share) and the site.
TRAINING_ROWS = ("flops", "peak_flops_per_s", "mfu", "hours_measured", "measured_hours", "gpus", "gpu_w",
                 "host_w_per_gpu", "card_kg", "host_kg_per_gpu", "gpu_lifetime_yr", "host_lifetime_yr", "usage",
                 "tokens", "pue", "ci_g_per_kwh")
#: Most generations and years a fleet point holds.
MAX_GENERATIONS = 8
MAX_YEARS = 30
#: Properties of one generation's server as the fleet model sees it (the fleet model's year
#: inputs but the grid's).
GEN_PROPS = tuple(k for k in YEAR_INPUTS if k != "ci_g_per_kwh")
#: Rows of a fleet point: the policy and demand, each generation's numbers, then for each year the
#: generation a purchase gets and the grid's intensity in that year.
FLEET_POINT_ROWS = FLEET_INPUTS + ("start_year", "output_tokens", "n_generations")
FLEET_ROWS = (FLEET_POINT_ROWS + tuple(f"gen{g}_{p}" for g in range(MAX_GENERATIONS) for p in GEN_PROPS)
              + tuple(f"year{k}_{p}" for k in range(MAX_YEARS) for p in ("gen", "ci_g_per_kwh")))

#: Unit of every result column a chain gives (one source: the sweep tables, ``meta.json``, the
#: Parquet schema and reports read them here; "per request" is one task of an offline batch,
#: seed §5.1). :data:`MODE_UNITS` overrides a name where a mode means something else by it.
RESULT_UNITS = {
    # offline tasks and online serving, per request
    "latency_s": "s per request", "ttft_s": "s", "tpot_s": "s per output token",
    "throughput_tok_s": "output tokens/s per TP group",
    "energy_j": "J per request", "gpu_energy_j": "J per request", "host_energy_j": "J per request",
    "operational_g": "gCO2e per request", "embodied_g": "gCO2e per request", "gpu_embodied_g": "gCO2e per request",
    "host_embodied_g": "gCO2e per request", "total_g": "gCO2e per request",
    "energy_j_per_token": "J per output token", "total_g_per_1k_tokens": "gCO2e per 1000 output tokens",
    "operational_g_per_1k_tokens": "gCO2e per 1000 output tokens",
    "embodied_g_per_1k_tokens": "gCO2e per 1000 output tokens",
    "edp_j_s": "J·s per request", "cdp_g_s": "gCO2e·s per request", "cep_g_j": "gCO2e·J per request",
    "embodied_delay_g": "gCO2e per request, for its whole latency (the seed's reading)",
    "cep_delay_g_j": "gCO2e·J per request (embodied for the whole latency, the seed's reading)",
    "replicas": "model replicas serving at once",
    "mfu": "fraction", "mbu": "fraction", "gpu_power_w": "W per GPU", "host_power_w": "W", "power_w": "W",
    "ci_g_per_kwh": "gCO2e/kWh", "memory_needed_gb": "GB per GPU", "max_batch": "requests",
    "feasible": "boolean", "infeasible_reason": "text", "psu_limited": "boolean",
    "meets_constraints": "boolean (feasible and within every bound of the scenario's constraints)",
    # steady load
    "embodied_kg": "kgCO2e", "host_embodied_kg": "kgCO2e", "gpu_embodied_kg": "kgCO2e",
    "embodied_mg_per_s": "mgCO2e/s", "host_embodied_mg_per_s": "mgCO2e/s", "gpu_embodied_mg_per_s": "mgCO2e/s",
    "operational_mg_per_s": "mgCO2e/s", "host_operational_mg_per_s": "mgCO2e/s",
    "gpu_operational_mg_per_s": "mgCO2e/s", "total_mg_per_s": "mgCO2e/s", "embodied_share": "fraction",
    "pue": "ratio",
    # uncertainty of a steady-load point (a chain with samples)
    "embodied_kg_p5": "kgCO2e", "embodied_kg_p95": "kgCO2e", "total_mg_per_s_p5": "mgCO2e/s",
    "total_mg_per_s_p95": "mgCO2e/s", "total_kg_p5": "kgCO2e", "total_kg_p95": "kgCO2e",
    "embodied_kg_amortised_p5": "kgCO2e (amortised over the period)",
    "embodied_kg_amortised_p95": "kgCO2e (amortised over the period)",
    # over a period (stage 5)
    "period_yr": "yr", "energy_kwh": "kWh (IT) over the period", "operational_kg": "kgCO2e",
    "embodied_kg_amortised": "kgCO2e (amortised over the period)", "total_kg": "kgCO2e",
    # online serving (per served request unless stated)
    "requests_per_s": "requests/s", "gpu_busy_energy_j": "J per request", "gpu_idle_energy_j": "J per request",
    "host_busy_energy_j": "J per request", "host_idle_energy_j": "J per request",
    "ttft_p50_s": "s", "ttft_p90_s": "s", "ttft_p99_s": "s", "tpot_p50_s": "s per output token",
    "tpot_p90_s": "s per output token", "tpot_p99_s": "s per output token", "latency_p50_s": "s",
    "latency_p90_s": "s", "latency_p99_s": "s", "slo_attainment": "fraction", "served_requests": "requests",
    "rejected_requests": "requests", "preemptions": "count", "mean_batch": "sequences per step",
    "concurrency": "requests", "duration_s": "s", "idle_s": "s with no request in the server",
    "output_tokens_per_request": "tokens", "prompt_tokens_per_request": "tokens", "steady_s": "s (run total)",
    "steady_gpu_energy_j": "J (run total)", "steady_output_tokens": "tokens (run total)",
    "decode_gpu_energy_j": "J per request", "decode_gpu_energy_share": "fraction",
    "steady_decode_gpu_energy_j": "J (run total)", "steady_decode_output_tokens": "tokens (run total)",
    "host_cpu_util": "fraction", "kv_cache_tokens": "tokens per instance", "gpus_used": "GPUs",
    # training runs
    "gpu_hours": "device-hours", "days": "days", "energy_mwh": "MWh (facility)", "gpu_energy_mwh": "MWh (facility)",
    "host_energy_mwh": "MWh (facility)", "flops": "FLOP (run total)", "sci_g_per_run": "gCO2e per run",
    "sci_g_per_gpu_hour": "gCO2e per device-hour",
    # a fleet over a horizon
    "embodied_gross_kg": "kgCO2e over the horizon (purchases)", "end_credit_kg": "kgCO2e",
    "gpus_bought": "GPUs", "hosts_bought": "hosts", "gpu_sets_bought": "servers' GPU sets",
    "tokens": "output tokens served", "mean_utilization": "fraction",
    "sci_g_per_1k_tokens": "gCO2e per 1000 output tokens", "sci_g_per_request": "gCO2e per request",
}
#: Result columns where more is better (a Pareto front maximises them); every other numeric result
#: (carbon, energy, latency, cost, power) is minimised. Declared here, beside the units, so the
#: direction of a column is written once (:func:`result_sense`).
MAXIMISED = frozenset({
    "throughput_tok_s", "requests_per_s", "slo_attainment", "served_requests", "mfu", "mbu", "max_batch",
    "tokens", "mean_utilization", "meets_constraints",
})
#: Where a mode means something else by a column name.
MODE_UNITS = {"training": {"sci_g_per_1k_tokens": "gCO2e per 1000 training tokens"},
              "fleet": {"embodied_kg": "kgCO2e over the horizon (purchases net of the end credit)",
                        "operational_kg": "kgCO2e over the horizon", "total_kg": "kgCO2e over the horizon",
                        # a fleet's years (run_fleet(per_year=True)): one value per point and year
                        "year_demand_tok_s": "output tokens/s (the year's demand)",
                        "year_gpu_sets_bought": "servers' GPU sets bought in the year",
                        "year_gpus_bought": "GPUs bought in the year", "year_hosts_bought": "hosts bought in the year",
                        "year_gpu_sets_in_service": "servers' GPU sets in service",
                        "year_hosts_in_service": "hosts in service", "year_capacity_tok_s": "output tokens/s",
                        "year_utilization": "fraction", "year_energy_kwh": "kWh (IT) in the year",
                        "year_operational_kg": "kgCO2e in the year",
                        "year_embodied_kg": "kgCO2e in the year (purchases)",
                        "year_generation": "index of the generation bought", "year_ci_g_per_kwh": "gCO2e/kWh"}}


#: Rows of a point of each mode ("sampled": a steady-load point with the ranges it is drawn over),
#: with each row's index (built once: a chain is built per call of the Python API).
_ROWS = {mode: (rows, {name: i for i, name in enumerate(rows)}) for mode, rows in {
    "load": LOAD_POINT_ROWS, "sampled": LOAD_POINT_ROWS + RANGE_ROWS, "tasks": LOAD_POINT_ROWS + TASK_ROWS,
    "online": LOAD_POINT_ROWS + ONLINE_ROWS, "training": TRAINING_ROWS, "fleet": FLEET_ROWS}.items()}


def result_sense(name: str) -> str:
    """``"max"`` for a result column where more is better (:data:`MAXIMISED`), else ``"min"``."""
    return "max" if name in MAXIMISED else "min"


def result_unit(name: str, mode: str | None = None) -> str:
    """The unit of result column ``name`` ("" when it has none); ``sci_g_per_<unit>`` columns
    name their functional unit."""
    unit = MODE_UNITS.get(mode, {}).get(name) or RESULT_UNITS.get(name)
    if unit is not None:
        return unit
    if name.startswith("sci_g_per_"):
        return "gCO2e per " + name[len("sci_g_per_"):].replace("1k_tokens", "1000 output tokens")
    if name.endswith("_kg"):
        return "kgCO2e"
    return ""


class ChainResult(dict):
    """Results of the points a chain evaluated: one array per named quantity, each with its unit.

    A dict of arrays (so ``res["total_g"]``, ``**res`` and ``dict(res)`` work as for plain
    results), with named access (``res.total_g``), the unit of every value
    (:meth:`unit`, :attr:`units`, from :data:`RESULT_UNITS`) and the points' inputs by name
    (:meth:`input`: the rows of the matrix the chain evaluated, which only the chain indexes).
    Building one costs a few attribute sets per chunk, never work per point.
    """

    __slots__ = ("mode", "_mat", "_index")

    def __init__(self, values: dict, mode: str, mat: np.ndarray | None = None, index: dict | None = None):
        super().__init__(values)
        self.mode, self._mat, self._index = mode, mat, index

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no result {name!r} (results: {', '.join(self)})") from None

    def unit(self, name: str) -> str:
        return result_unit(name, self.mode)

    @property
    def units(self) -> dict[str, str]:
        return {k: self.unit(k) for k in self}

    def input(self, name: str) -> np.ndarray:
        """The points' input row ``name`` (one value per point), as the chain read it."""
        if self._mat is None or name not in self._index:
            raise KeyError(f"{name!r} is not an input of {self.mode} points")
        return self._mat[self._index[name]]

    def point(self, j: int = 0) -> dict:
        """Point ``j``'s results as plain Python numbers (NumPy scalars unwrapped)."""
        return {k: (v[j].item() if isinstance(v[j], np.generic) else v[j]) for k, v in self.items()}


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
    """Compose embodied carbon, power, energy, operational carbon, amortisation, carbon over a
    period and per functional unit.

    Build one with a preset (:meth:`for_load`, :meth:`for_tasks`, :meth:`for_online`,
    :meth:`for_training`, :meth:`for_fleet`, or :meth:`for_points` for the faster implementation
    at a number of points); run it with its mode's entry point or :meth:`evaluate`.

    Parameters
    ----------
    db : Database
        Where power constants (and, for LLM work, model and calibration data) are read.
    mode : str
        The kind of point (:data:`MODES`): ``load`` (a server at a steady load), ``tasks``
        (offline LLM batches), ``online`` (online-serving runs), ``training`` (training runs)
        or ``fleet`` (a fleet over a horizon of years).
    compiled : bool
        Evaluate with the Numba kernels (fast on many points; the first call in a process loads
        them) or with the readable NumPy references (faster for a few points; the parity tests
        hold the two to 1e-9).
    embodied, perf : callable, optional
        Replace a stage: ``params (N_PARAMS, n) -> (N_COMPONENTS, n)`` embodied kg by component;
        ``perf params -> (N_OUTPUTS, n)`` performance outputs.
    samples, seed : int
        Steady load only: draw every ranged embodied input and the lifetimes ``samples`` times per
        point (:mod:`carbonsim.models.uncertainty`; the same seeded uniforms for every point) and
        add p5/p95 of the embodied kg, the total rate and the total over the period.
    """

    def __init__(self, db: Database, mode: str = "load", *, compiled: bool = True, embodied=None, perf=None,
                 samples: int = 0, seed: int = 0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, found {mode!r}")
        if samples and mode != "load":
            raise ValueError("only steady-load points are sampled")
        self.db = db
        self.mode = mode
        self.compiled = compiled
        self.samples, self.seed = int(samples or 0), seed
        self._uniforms = None
        self.embodied = embodied or (embodied_kernel if compiled else server_components_reference)
        self.perf = perf or (perf_kernel if compiled else offline_task_reference)
        self.rows, self.index = _ROWS["sampled" if self.samples else mode]
        #: Request traces online points refer to by index (:class:`~carbonsim.engine.inputs.serving.TraceBook`).
        self.traces: list = []

    @property
    def tasks(self) -> bool:
        """Points are LLM work (offline batches or online runs): a model and a workload."""
        return self.mode in ("tasks", "online")

    @property
    def online(self) -> bool:
        return self.mode == "online"

    # -- presets -----------------------------------------------------------------------------------
    @classmethod
    def for_load(cls, db: Database, **kw) -> "CarbonChain":
        """A server at a steady load (``embodied``, ``footprint``, ``compare``, ``inventory``, server sweeps)."""
        return cls(db, "load", **kw)

    @classmethod
    def for_tasks(cls, db: Database, **kw) -> "CarbonChain":
        """Offline LLM batches, per request (the seed's §5 sweeps)."""
        return cls(db, "tasks", **kw)

    @classmethod
    def for_online(cls, db: Database, **kw) -> "CarbonChain":
        """Online-serving runs, per served request (the simulator runs compiled unless told)."""
        return cls(db, "online", **kw)

    @classmethod
    def for_training(cls, db: Database, **kw) -> "CarbonChain":
        """Training runs (``carbonsim train``, training sweeps, budgets)."""
        return cls(db, "training", **kw)

    @classmethod
    def for_fleet(cls, db: Database, **kw) -> "CarbonChain":
        """A fleet over a horizon of years under a refresh policy (lifecycle sweeps)."""
        return cls(db, "fleet", **kw)

    @classmethod
    def for_points(cls, db: Database, n_points: int, mode: str = "load", samples: int = 0,
                   seed: int = 0) -> "CarbonChain":
        """A chain of ``mode`` that evaluates ``n_points`` at once (each drawn ``samples`` times)
        with the faster implementation for that size (:data:`COMPILED_ABOVE`)."""
        return cls(db, mode, compiled=n_points * max(1, samples) > COMPILED_ABOVE[mode], samples=samples, seed=seed)

    # -- inputs -> numbers ------------------------------------------------------------------------
    def column(self, server: Server, cs: CoefficientSet, *, ci_g_per_kwh: float = float("nan"),
               pue: float = DEFAULT_PUE, load: Load | None = None, perf_rows: dict | None = None,
               whole_server: bool = True, power_cap_w: float | None = None, replicas: int | None = None,
               online_rows: dict | None = None, period_yr: float = 0.0) -> Column:
        """The numbers of one point.

        Parameters
        ----------
        server : Server
        cs : CoefficientSet
        ci_g_per_kwh : float
            Grid intensity (``nan``: no grid, no operational carbon); over the period, where the
            point has one (:func:`carbonsim.engine.inputs.grid.grid_over_period`).
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
        period_yr : float
            A steady-load point's period of use [yr]: its results then include the totals over
            it (:meth:`over_period`); 0, the default, gives per-second rates only.
        """
        if self.mode not in ("load", "tasks", "online"):
            raise ValueError(f"a {self.mode} point is built by {self.mode}_column")
        emb = server_column(server, cs)
        v = np.zeros(len(self.rows))
        ix = self.index
        v[:N_PARAMS] = emb.value
        share = float(emb.value[PARAM_NAMES.index("host_share")])
        v[ix["gpu_lifetime_yr"]] = server.gpu_lifetime_yr.value
        v[ix["host_lifetime_yr"]] = server.host_lifetime_yr.value
        if self.samples:  # the ranges the draws span
            lo = ix[f"{PARAM_NAMES[0]}_low"]
            v[lo: lo + N_PARAMS], v[lo + N_PARAMS: lo + 2 * N_PARAMS] = emb.low, emb.high
            for which, life in (("gpu", server.gpu_lifetime_yr), ("host", server.host_lifetime_yr)):
                v[ix[f"{which}_lifetime_yr_low"]] = life.value if life.low is None else life.low
                v[ix[f"{which}_lifetime_yr_high"]] = life.value if life.high is None else life.high
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
        v[ix["period_yr"]] = period_yr
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

    def points_from(self, columns: np.ndarray, which: np.ndarray, rows: dict) -> np.ndarray:
        """Points that are the columns ``which`` of ``columns`` (points of this chain: templates)
        with the named rows set, one value per point: many servers that share all but a few
        numbers (a fleet inventory's) built from one template each."""
        from carbonsim.models.arrays import padded_rows

        mat = padded_rows(len(self.rows), len(which))
        for r in range(len(self.rows)):  # row by row: a gather of contiguous values (10x a 2-D fancy index)
            np.take(columns[r], which, out=mat[r])
        for name, values in rows.items():
            mat[self.index[name]] = values
        return mat

    def training_column(self, values: dict, sources=(), notes=()) -> Column:
        """A training point (mode ``training``) from its inputs by name (:data:`TRAINING_ROWS`:
        what :func:`carbonsim.engine.training.training_point` derives through the load chain)."""
        if self.mode != "training":
            raise ValueError("a training point needs a chain for_training")
        v = np.zeros(len(self.rows))
        for name, value in values.items():
            v[self.index[name]] = value
        return Column(v, sources=set(sources), notes=list(notes))

    def fleet_column(self, policy: dict, generations: list[dict], year_generation, year_ci_g_per_kwh,
                     sources=(), notes=()) -> Column:
        """A fleet point (mode ``fleet``): the policy and demand by name (:data:`FLEET_POINT_ROWS`),
        each generation's numbers (:data:`GEN_PROPS`, from the tasks chain), and for each year of
        the horizon the generation a purchase gets and the grid's intensity in that year
        (:func:`carbonsim.engine.inputs.grid.grid_by_year`)."""
        if self.mode != "fleet":
            raise ValueError("a fleet point needs a chain for_fleet")
        v = np.zeros(len(self.rows))
        ix = self.index
        for name, value in policy.items():
            v[ix[name]] = value
        v[ix["n_generations"]] = len(generations)
        for g, numbers in enumerate(generations):
            for p in GEN_PROPS:
                v[ix[f"gen{g}_{p}"]] = numbers[p]
        for k, (gen, ci) in enumerate(zip(year_generation, year_ci_g_per_kwh)):
            v[ix[f"year{k}_gen"]], v[ix[f"year{k}_ci_g_per_kwh"]] = gen, ci
        return Column(v, sources=set(sources), notes=list(notes))

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

    def evaluate(self, mat: np.ndarray, **options) -> ChainResult:
        """All results of the points in ``mat`` (shape ``(len(rows), n)``), by the chain's mode:
        :meth:`run_load` (with embodied kg by component), :meth:`run_tasks`, :meth:`run_online`,
        :meth:`run_training` or :meth:`run_fleet`; ``options`` go to that entry point (a fleet's
        ``per_year``)."""
        if self.mode == "load":
            return self.run_load(mat, components=True, **options)
        return getattr(self, f"run_{self.mode}")(mat, **options)

    def _result(self, values: dict, mat: np.ndarray) -> ChainResult:
        return ChainResult(values, self.mode, mat, self.index)

    def run_load(self, mat: np.ndarray, components: bool = False, comps: np.ndarray | None = None) -> ChainResult:
        """A server at a steady load: embodied kg (host, GPU, total, and by component when
        ``components``), the embodied, operational and total rates [mg/s] split host/GPU, power
        [W]; with a period of use (row ``period_yr``) also its totals (:meth:`over_period`).
        ``comps``: stage 1's result for these points when the caller already has it
        (:meth:`components_kg`), so the embodied model runs once."""
        ix = self.index
        comps = self.components_kg(mat) if comps is None else comps
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
            return self._result(out, mat)
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
        years = mat[ix["period_yr"]]
        if np.any(years > 0):
            out["period_yr"] = years.copy()
            out.update(self.over_period(power, years, pue, ci, host_kg, gpu_kg, mat[ix["host_lifetime_yr"]],
                                        mat[ix["gpu_lifetime_yr"]]))
        if self.samples:
            out.update(self.sampled(mat, out))
        return self._result(out, mat)

    def sampled(self, mat: np.ndarray, out: dict) -> dict[str, np.ndarray]:
        """p5 and p95 of each steady-load point's embodied kg, total rate and total over its period,
        from :attr:`samples` draws of its ranged embodied inputs and lifetimes (the same seeded
        uniforms for every point, so points are compared on the same draws; power and grid are
        not drawn). Each input's value is the median of its draws (:mod:`carbonsim.models.uncertainty`)."""
        ix, n, k = self.index, mat.shape[1], self.samples
        if self._uniforms is None:
            self._uniforms = uniforms(N_PARAMS + 2, k, self.seed)
        u = self._uniforms
        lo = ix[f"{PARAM_NAMES[0]}_low"]
        value, low, high = mat[:N_PARAMS], mat[lo: lo + N_PARAMS], mat[lo + N_PARAMS: lo + 2 * N_PARAMS]
        ranged = np.flatnonzero(np.any((low != value) | (high != value), axis=1))
        grid, period = "total_mg_per_s" in out, "total_kg" in out
        names = ["embodied_kg"] + ["total_mg_per_s"] * grid + ["total_kg", "embodied_kg_amortised"] * period
        res = {f"{q}_{p}": np.empty(n) for q in names for p in ("p5", "p95")}
        step = max(1, SAMPLE_BLOCK // k)
        for a in range(0, n, step):
            b = min(n, a + step)
            x = np.repeat(value[:, a:b], k, axis=1)  # point-major: column j * k + s is point j, draw s
            for i in ranged:
                x[i] = split_triangular_ppf(u[i], value[i, a:b, None], low[i, a:b, None], high[i, a:b, None]).ravel()
            comps = self.embodied(x)
            host = comps[:N_HOST].sum(axis=0).reshape(b - a, k)
            gpu = comps[N_HOST:].sum(axis=0).reshape(b - a, k)
            life = {w: split_triangular_ppf(u[N_PARAMS + j], mat[ix[f"{w}_lifetime_yr"], a:b, None],
                                            mat[ix[f"{w}_lifetime_yr_low"], a:b, None],
                                            mat[ix[f"{w}_lifetime_yr_high"], a:b, None])
                    for j, w in enumerate(("gpu", "host"))}
            draws = {"embodied_kg": host + gpu}
            if grid:
                draws["total_mg_per_s"] = (embodied_rate_mg_per_s(host, life["host"])
                                           + embodied_rate_mg_per_s(gpu, life["gpu"]) + out["operational_mg_per_s"][a:b, None])
            if period:
                amortised = period_embodied_kg(host, gpu, life["host"], life["gpu"], mat[ix["period_yr"], a:b, None])
                draws["embodied_kg_amortised"] = amortised
                draws["total_kg"] = out["operational_kg"][a:b, None] + amortised
            for q, d in draws.items():
                res[f"{q}_p5"][a:b], res[f"{q}_p95"][a:b] = np.percentile(d, [5.0, 95.0], axis=1)
        return res

    # -- stage 5: over a period; stage 6: per functional unit -------------------------------------
    @staticmethod
    def over_period(power_w, years, pue, ci_g_per_kwh, host_kg, gpu_kg, host_lifetime_yr, gpu_lifetime_yr,
                    in_use=1.0) -> dict[str, np.ndarray]:
        r"""Stage 5: carbon over a period of use, the one place every command asks it.

        .. math::

            W = P \cdot 8760\,h \cdot Y, \qquad C_{op} = W \cdot PUE \cdot \overline{CI}, \qquad
            E' = E_{host} \frac{Y/u}{LT_{host}} + E_{GPU} \frac{Y/u}{LT_{GPU}}

        (:func:`~carbonsim.models.lifecycle.amortisation.period_energy_kwh`,
        :func:`~carbonsim.models.grid.carbon.operational_g`,
        :func:`~carbonsim.models.lifecycle.amortisation.period_embodied_kg`). :math:`\overline{CI}`
        is the grid's intensity over the period, resolved once in the grid inputs (a trajectory's
        mean over the years of use: :func:`carbonsim.engine.inputs.grid.grid_over_period`).
        ``in_use`` is the share of their life the parts are in use (a training run's GPUs: the
        hours they are not used are charged to the hours they are); 1 for a server over its
        period. A training run is this stage with :math:`Y` its device-hours / 8,760 and the
        power and embodied carbon of one device.

        Returns
        -------
        dict of ndarray
            ``energy_kwh`` (IT), ``operational_kg``, ``embodied_kg_amortised``, ``total_kg``.
        """
        energy_kwh = period_energy_kwh(power_w, years)
        operational_kg = operational_g(energy_kwh, pue, ci_g_per_kwh) / 1000.0
        embodied_kg = period_embodied_kg(host_kg, gpu_kg, host_lifetime_yr, gpu_lifetime_yr, years / in_use)
        return {"energy_kwh": energy_kwh, "operational_kg": operational_kg, "embodied_kg_amortised": embodied_kg,
                "total_kg": operational_kg + embodied_kg}

    @staticmethod
    def per_unit(operational_g, embodied_g, units) -> np.ndarray:
        r"""Stage 6: carbon per functional unit, :math:`SCI = (E \cdot I + M)/R`
        (:func:`~carbonsim.models.lifecycle.sci.sci_g`), from the operational and embodied carbon
        [g] of a window that serves ``units`` functional units (a request, 1,000 tokens, a
        GPU-hour, a run, an hour of a server)."""
        return sci_g(operational_g, embodied_g, units)

    def per_token(self, res: ChainResult) -> dict[str, np.ndarray]:
        """Stage 6 for LLM tables: energy per output token and carbon per 1,000 output tokens
        (total, operational, embodied) beside the per-request values."""
        tokens = res.input("perf_output_tokens") if self.mode == "tasks" else res["output_tokens_per_request"]
        k1 = tokens / 1000.0
        return {
            "energy_j_per_token": res["energy_j"] / tokens,
            "total_g_per_1k_tokens": self.per_unit(res["operational_g"], res["embodied_g"], k1),
            "operational_g_per_1k_tokens": self.per_unit(res["operational_g"], 0.0, k1),
            "embodied_g_per_1k_tokens": self.per_unit(0.0, res["embodied_g"], k1),
        }

    def sci_per_request(self, res: ChainResult, unit: str, requests_per_user=None) -> dict[str, np.ndarray]:
        """Stage 6 for LLM tables: the ``sci_g_per_<unit>`` column, a request's carbon over the
        units one request is (``request``, ``1k-tokens``, ``user``, ``day``;
        :func:`~carbonsim.models.lifecycle.sci.units_per_request`)."""
        from carbonsim.models.lifecycle.sci import units_per_request

        tokens = res.input("perf_output_tokens") if self.mode == "tasks" else res["output_tokens_per_request"]
        batch = res.input("perf_batch") if self.mode == "tasks" else 1.0
        units = units_per_request(unit, output_tokens=tokens, requests_per_user=requests_per_user,
                                  latency_s=res["latency_s"], batch=batch)
        return {f"sci_g_per_{unit.replace('-', '_')}": self.per_unit(res["operational_g"], res["embodied_g"], units)}

    # -- training runs and fleets ---------------------------------------------------------------------
    def run_training(self, mat: np.ndarray) -> ChainResult:
        r"""Training runs: device-hours (measured, or :math:`C / (\mathrm{MFU}\,F_{peak})`), then
        the run as :meth:`over_period` of one device for its device-hours (its power and its
        share of the host; its card's and host share's embodied carbon over their lifetimes at
        the share of their life in use), then per run, per 1,000 training tokens and per
        GPU-hour (:meth:`per_unit`). ``carbonsim train`` and training sweeps both come here,
        so a run's carbon is computed once (:mod:`carbonsim.models.lifecycle.training`)."""
        ix = self.index
        hours = np.where(mat[ix["hours_measured"]] > 0.5, mat[ix["measured_hours"]],
                         device_hours(mat[ix["flops"]], mat[ix["peak_flops_per_s"]], mat[ix["mfu"]]))
        years = hours / HOURS_PER_YEAR  # of one device
        gpu_w, host_w, pue = mat[ix["gpu_w"]], mat[ix["host_w_per_gpu"]], mat[ix["pue"]]
        ci = mat[ix["ci_g_per_kwh"]]
        run = self.over_period(gpu_w + host_w, years, pue, ci, mat[ix["host_kg_per_gpu"]], mat[ix["card_kg"]],
                               mat[ix["host_lifetime_yr"]], mat[ix["gpu_lifetime_yr"]], in_use=mat[ix["usage"]])
        op_g, emb_g = run["operational_kg"] * 1000.0, run["embodied_kg_amortised"] * 1000.0
        gpus = mat[ix["gpus"]]
        return self._result({
            "gpu_hours": hours, "days": np.where(gpus > 0, hours / np.maximum(gpus, 1) / 24.0, np.nan),
            "mfu": mat[ix["mfu"]].copy(), "flops": mat[ix["flops"]].copy(),
            "energy_mwh": facility_energy_kwh(run["energy_kwh"], pue) / 1000.0,
            "gpu_energy_mwh": facility_energy_kwh(period_energy_kwh(gpu_w, years), pue) / 1000.0,
            "host_energy_mwh": facility_energy_kwh(period_energy_kwh(host_w, years), pue) / 1000.0,
            "operational_kg": run["operational_kg"], "embodied_kg": run["embodied_kg_amortised"],
            "total_kg": run["total_kg"], "ci_g_per_kwh": ci.copy(),
            "sci_g_per_run": self.per_unit(op_g, emb_g, 1.0),
            "sci_g_per_1k_tokens": self.per_unit(op_g, emb_g, mat[ix["tokens"]] / 1000.0),
            "sci_g_per_gpu_hour": self.per_unit(op_g, emb_g, hours),
        }, mat)

    def run_fleet(self, mat: np.ndarray, per_year: bool = False) -> ChainResult:
        """Fleets over a horizon: the fleet model (:func:`carbonsim.models.lifecycle.refresh.fleet_reference`,
        its kernel when compiled) on each point's policy, generations and yearly intensities,
        then carbon per 1,000 output tokens and per request (:meth:`per_unit`). ``per_year``
        adds the year-by-year table (``year_<name>`` arrays of shape ``(n, MAX_YEARS)``, with
        each year's generation and intensity; always from the reference)."""
        ix = self.index
        point = {k: mat[ix[k]] for k in FLEET_INPUTS}
        gen_idx = np.stack([mat[ix[f"year{k}_gen"]] for k in range(MAX_YEARS)], axis=1).astype(np.int64)
        years = {"ci_g_per_kwh": np.stack([mat[ix[f"year{k}_ci_g_per_kwh"]] for k in range(MAX_YEARS)], axis=1)}
        for p in GEN_PROPS:
            table = np.stack([mat[ix[f"gen{g}_{p}"]] for g in range(MAX_GENERATIONS)], axis=1)  # (n, G)
            years[p] = np.take_along_axis(table, gen_idx, axis=1)
        # years past a point's horizon carry generation 0 and zero intensity: the model ignores them,
        # but a capacity of 0 must not divide
        years["cap_tok_s"] = np.where(years["cap_tok_s"] > 0, years["cap_tok_s"], 1.0)
        if self.compiled and not per_year:
            from carbonsim.models.lifecycle._kernels import fleet_compiled

            res = fleet_compiled(point, years)
        else:
            res = fleet_reference(point, years, per_year=per_year)
        op_g, emb_g, tokens = res["operational_kg"] * 1e3, res["embodied_kg"] * 1e3, res["tokens"]
        res["sci_g_per_1k_tokens"] = self.per_unit(op_g, emb_g, tokens / 1000.0)
        res["sci_g_per_request"] = self.per_unit(op_g, emb_g, tokens / mat[ix["output_tokens"]])
        if per_year:
            res["year_generation"] = gen_idx
            res["year_ci_g_per_kwh"] = years["ci_g_per_kwh"]
        return self._result(res, mat)

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

    def run_tasks(self, mat: np.ndarray) -> ChainResult:
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
        return self._result({
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
        }, mat)

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

    def run_online(self, mat: np.ndarray) -> ChainResult:
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
                from carbonsim.models.serving.reference import simulate_reference

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
        return self._result(metrics, mat)

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

