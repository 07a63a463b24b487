r"""``carbonsim train``: the carbon of pretraining an LLM (layer 2).

FLOPs from parameters and tokens (attention counted when the sequence length is known), the
achieved efficiency given or predicted by a model fitted to the published runs of the database
(``hardware_db/training``), device-hours, then power, energy, operational and embodied carbon
through :class:`~carbonsim.engine.chain.CarbonChain` on a server holding the GPU (layer-1
equations in :mod:`carbonsim.models.lifecycle.training`).

Power: a measured average power per device (``power_w``, host share included, as Patterson et
al. report) replaces the model. Otherwise the server runs at the GPU utilisation the efficiency
implies, :math:`u = \min(1, \mathrm{MFU}/\eta_c)`, read as the load of a GPU load ladder
(:func:`carbonsim.models.power.gpu.steady_load_power_w`), and its
host at CPU utilisation :data:`TRAIN_CPU_UTIL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.chain import CarbonChain, Column, Load
from carbonsim.engine.db.schema import Quantity
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.grid import grid_over_period
from carbonsim.engine.inputs.options import DEFAULT_PUE, check_options
from carbonsim.engine.inputs.power import gpu_constants
from carbonsim.engine.inputs.server import DEFAULT_LIFETIME_YR, Server, load_server
from carbonsim.errors import InputError, OptionError
from carbonsim.models.lifecycle.training import (
    device_hours, estimated_shape, fit_mfu, implied_mfu, leave_one_out, predict_mfu, training_flops,
)
from carbonsim.models.power.gpu import gpu_power_w
from carbonsim.units import SECONDS_PER_YEAR

#: CPU utilisation of a training host (data loading, logging, checkpoint I/O); an assumption.
TRAIN_CPU_UTIL = 0.3
#: Sequence length assumed for the attention FLOPs when the efficiency is predicted and none is
#: given (GPT-3, BLOOM, LLaMA-1 and OPT trained at 2,048).
DEFAULT_SEQ_LEN = 2048
#: Functional units of ``train --per``.
TRAIN_UNITS = ("run", "1k-tokens", "gpu-hour")


def _v(x):
    return x.value if isinstance(x, Quantity) else x


def peak_tflops(gpu: dict, precision: str = "bf16", where: str = "gpu") -> float:
    """Dense peak [TFLOP/s] of a GPU part at ``precision`` (bf16 falls back to fp16)."""
    peaks = gpu.get("peak_tflops") or {}
    value = peaks.get(precision) or (peaks.get("fp16") if precision == "bf16" else None)
    if value is None:
        raise InputError(f"GPU {gpu.get('_id')} has no peak_tflops.{precision}", field=where)
    return float(_v(value))


# -- the efficiency model ----------------------------------------------------------------------------
@dataclass
class PublishedRun:
    id: str
    name: str
    params_b: float
    tokens_b: float
    gpu: str
    gpu_hours: float
    seq_len: float
    layers: float
    d_attn: float
    peak_tflops: float
    sources: set[str] = field(default_factory=set)

    @property
    def flops(self) -> float:
        return training_flops(self.params_b * 1e9, self.tokens_b * 1e9, self.layers, self.seq_len, self.d_attn)

    @property
    def mfu(self) -> float:
        return float(implied_mfu(self.flops, self.peak_tflops * 1e12, self.gpu_hours))


def published_runs(db: Database) -> list[PublishedRun]:
    """Every run of the database's training tables."""
    from carbonsim.engine.db.schema import cited_sources

    out = []
    for table in db.ids("training"):
        for rid, r in db.get("training", table)["runs"].items():
            gpu = db.get("gpus", r["gpu"])
            params = _v(r.get("active_params_b") or r["params_b"])
            out.append(PublishedRun(rid, r["name"], params, _v(r["tokens_b"]), r["gpu"], _v(r["gpu_hours"]),
                                    _v(r.get("seq_len", 0.0)) or 0.0, r.get("layers", 0) or 0, r.get("d_attn", 0) or 0,
                                    peak_tflops(gpu), cited_sources(r) | {db.get("training", table)["source"]}))
    return out


@dataclass
class EfficiencyModel:
    """MFU = a + b log10(params_B) + c log10(peak TFLOP/s), fitted to published runs."""

    coef: np.ndarray
    runs: list[PublishedRun]
    loo_mfu: np.ndarray

    def predict(self, params_b: float, peak: float) -> float:
        return float(predict_mfu(self.coef, params_b, peak))

    @property
    def loo_error_pct(self) -> np.ndarray:
        """Cross-validated error of each run's device-hours [%] (predicted / published - 1)."""
        m = np.array([r.mfu for r in self.runs])
        return 100.0 * (m / self.loo_mfu - 1.0)


def efficiency_model(db: Database) -> EfficiencyModel:
    """The efficiency model fitted to the database's runs (memoised per database)."""

    def build():
        runs = published_runs(db)
        if len(runs) < 4:
            raise InputError("the training efficiency model needs at least 4 published runs (hardware_db/training)")
        p = np.array([r.params_b for r in runs])
        f = np.array([r.peak_tflops for r in runs])
        m = np.array([r.mfu for r in runs])
        return EfficiencyModel(fit_mfu(p, f, m), runs, leave_one_out(p, f, m))

    return db.memo(("training-efficiency",), build)


# -- a run ----------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """One training run's footprint (JSON keys of DESIGN.md §7 among them)."""

    inputs: dict
    flops: float
    mfu: float
    mfu_origin: str
    gpu_hours: float
    days: float | None
    gpu_w: float
    host_w_per_gpu: float
    power_origin: str
    energy_mwh: float
    gpu_energy_mwh: float
    host_energy_mwh: float
    operational_kg: float
    embodied_kg: float
    ci_g_per_kwh: float
    grid: object
    per: str
    sci_g: float
    server: str | None
    notes: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    coefficients: str = ""  # the embodied model's coefficient set

    @property
    def total_kg(self) -> float:
        return self.operational_kg + self.embodied_kg

    def as_dict(self) -> dict:
        return {
            "gpu_hours": self.gpu_hours, "energy_mwh": self.energy_mwh, "operational_kg": self.operational_kg,
            "embodied_kg": self.embodied_kg, "total_kg": self.total_kg,
            "days": self.days, "flops": self.flops, "mfu": self.mfu, "mfu_origin": self.mfu_origin,
            "gpu_energy_mwh": self.gpu_energy_mwh, "host_energy_mwh": self.host_energy_mwh,
            "gpu_power_w": self.gpu_w, "host_power_w_per_gpu": self.host_w_per_gpu, "power_origin": self.power_origin,
            "ci_g_per_kwh": self.ci_g_per_kwh, "grid": self.grid.label, "grid_basis": self.grid.basis,
            "server": self.server, "coefficients": self.coefficients, "sci": {"unit": self.per, "g_per_unit": self.sci_g,
                                           "formula": "(E*I + M) / R (Green Software Foundation SCI)"},
            "inputs": self.inputs, "notes": self.notes, "sources": sorted(self.sources),
        }


def _server_for(db: Database, gpu_id: str) -> str | None:
    """The database server holding the most of this GPU (None when no server holds it)."""
    best = None
    for sid in db.ids("servers"):
        g = db.get("servers", sid).get("gpus") or {}
        if g.get("part") == gpu_id and (best is None or g.get("count", 0) > best[1]):
            best = (sid, g.get("count", 0))
    return None if best is None else best[0]


def training_point(db: Database, *, params_b: float, tokens_b: float, gpu: str, grid, cs: CoefficientSet,
                   active_params_b: float | None = None, gpus: int | None = None, mfu: float | None = None,
                   pue: float = DEFAULT_PUE, seq_len: int | None = None, model: str | None = None,
                   gpu_hours: float | None = None, days: float | None = None, power_w: float | None = None,
                   server: str | None = None, lifetime_yr: float | None = None, usage: float = 1.0,
                   cpu_util: float = TRAIN_CPU_UTIL, precision: str = "bf16", per: str = "run",
                   year: int | None = None) -> TrainingPoint:
    """A training run as a point of the chain's training mode: everything
    :meth:`~carbonsim.engine.chain.CarbonChain.run_training` needs, derived from the options
    (module docstring), each checked as an option. ``year`` is the run's first year: a trajectory
    or region grid is taken over the run's days from it when the GPUs are known
    (:func:`~carbonsim.engine.inputs.grid.grid_over_period`)."""
    check_options(params_b=params_b, active_params_b=active_params_b, tokens_b=tokens_b, gpus=gpus, mfu=mfu,
                  pue=pue, seq_len=seq_len, gpu_hours=gpu_hours, days=days, power_w=power_w,
                  lifetime_yr=lifetime_yr, usage=usage, cpu_util=cpu_util, year=year)
    if per not in TRAIN_UNITS:
        raise OptionError(f"expected one of {', '.join(TRAIN_UNITS)}, found {per!r}", "per")
    if active_params_b is not None and active_params_b > params_b:
        raise OptionError(f"active parameters ({active_params_b:g} B) exceed the total ({params_b:g} B)",
                          "active_params_b")
    if days is not None and gpus is None:
        raise OptionError("--days needs --gpus (device-hours = days x 24 x GPUs)", "days")
    if not db.has("gpus", gpu):
        import difflib

        close = difflib.get_close_matches(gpu, db.ids("gpus"), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(db.ids('gpus'))}"
        raise OptionError(f"unknown GPU {gpu!r}{hint}", "gpu")
    part = db.get("gpus", gpu)
    peak = peak_tflops(part, precision, "precision")
    notes: list[str] = []
    sources: set[str] = set(grid.sources)
    active = active_params_b if active_params_b is not None else params_b

    # FLOPs: 6 N D, plus attention when the sequence length is known
    layers = d_attn = 0.0
    if model is not None:
        spec = db.get("models", model)
        layers = float(_v(spec["layers"]))
        d_attn = float(_v(spec["heads"])) * float(_v(spec.get("head_dim") or _v(spec["hidden"]) / _v(spec["heads"])))
    predicted = mfu is None and gpu_hours is None and days is None
    s = seq_len
    if s is None and predicted:
        s = DEFAULT_SEQ_LEN
        notes.append(f"attention FLOPs at an assumed sequence length of {DEFAULT_SEQ_LEN} (give --seq-len)")
    if s is not None and layers == 0:
        layers, d_attn = estimated_shape(active * 1e9)
        notes.append(f"model shape estimated from its parameters: {layers:.0f} layers of width {d_attn:.0f} "
                     "(d_model = 128 x layers; give --model for the real one)")
    if s is None:
        notes.append("attention FLOPs not counted (6ND only; give --seq-len to count them)")
    flops = training_flops(active * 1e9, tokens_b * 1e9, layers, s or 0.0, d_attn)

    # device-hours: measured, or from the efficiency
    if gpu_hours is not None:
        hours, origin = float(gpu_hours), "measured device-hours"
        mfu_used = float(implied_mfu(flops, peak * 1e12, hours))
    elif days is not None:
        hours, origin = float(days) * 24.0 * gpus, "measured days x GPUs"
        mfu_used = float(implied_mfu(flops, peak * 1e12, hours))
    else:
        if mfu is None:
            em = efficiency_model(db)
            mfu_used = em.predict(active, peak)
            err = np.median(np.abs(em.loo_error_pct))
            origin = (f"predicted by the efficiency model fitted to {len(em.runs)} published runs "
                      f"(cross-validated median device-hours error {err:.0f} %)")
            for r in em.runs:
                sources |= r.sources
            peaks = [r.peak_tflops for r in em.runs]
            sizes = [r.params_b for r in em.runs]
            if not min(peaks) <= peak <= max(peaks) or not min(sizes) <= active <= max(sizes):
                notes.append(f"the efficiency model extrapolates: its runs span {min(sizes):g}-{max(sizes):g} B "
                             f"parameters on devices of {min(peaks):g}-{max(peaks):g} TFLOP/s (give --mfu)")
        else:
            mfu_used, origin = float(mfu), "given"
        hours = float(device_hours(flops, peak * 1e12, mfu_used))
    run_days = hours / 24.0 / gpus if gpus else None

    # the grid over the run's days (a trajectory's mean over them), when they are known
    if run_days is not None and grid.kind in ("trajectory", "region"):
        grid = grid_over_period(grid, db, run_days * 86400.0 / SECONDS_PER_YEAR, year)
        notes.extend(w for w in grid.warnings if w not in notes)
    elif grid.kind == "trajectory":
        notes.append(f"{grid.label}: one year's intensity; give --gpus for the trajectory over the run's days")

    # power and embodied carbon through the load chain, on a server holding the GPU
    sid = server or _server_for(db, gpu)
    srv: Server | None = load_server(sid, db) if sid else None
    if srv is not None and (srv.gpu is None or srv.gpu.id != gpu):
        raise OptionError(f"server {sid!r} does not hold GPU {gpu!r}", "server")
    card_kg = host_kg_per_gpu = 0.0
    gpu_lt = host_lt = lifetime_yr or DEFAULT_LIFETIME_YR.value
    if srv is not None:
        chain = CarbonChain.for_load(db)
        c, _ = gpu_constants(db, gpu, part["tdp_w"].value)
        u = min(1.0, mfu_used / c["eta_c"])
        col = chain.column(srv, cs, ci_g_per_kwh=grid.ci_g_per_kwh, pue=pue, load=Load(cpu_util, u))
        res = chain.run_load(col.value[:, None])
        n = srv.gpu_count
        model_gpu_w = float(res.gpu_power_w[0]) / n
        model_host_w = float(res.host_power_w[0]) / n
        card_kg = float(res.gpu_embodied_kg[0]) / n
        host_kg_per_gpu = float(res.host_embodied_kg[0]) / n
        gpu_lt = lifetime_yr or srv.gpu_lifetime_yr.value
        host_lt = lifetime_yr or srv.host_lifetime_yr.value
        sources |= col.sources
        power_origin = f"activity model at GPU utilisation {u:.2f} (MFU {mfu_used:.3f}) on {sid}; host at CPU {cpu_util:g}"
    else:
        c, fallback = gpu_constants(db, gpu, part["tdp_w"].value)
        u = min(1.0, mfu_used / c["eta_c"])
        model_gpu_w = float(gpu_power_w(u * c["eta_c"], u * c["eta_m"], c["idle_loaded_w"], c["cap_w"], c["a_c"],
                                        c["a_m"], c["eta_c"], c["eta_m"]))
        model_host_w = 0.0
        power_origin = f"activity model at GPU utilisation {u:.2f}, GPU only"
        notes.append(f"no server holds {gpu} in the database: host power and embodied carbon not counted "
                     "(give --server)")
    if power_w is not None:
        gpu_w, host_w = float(power_w), 0.0
        power_origin = "measured average power per device (host share included)"
    else:
        gpu_w, host_w = model_gpu_w, model_host_w
    measured = gpu_hours is not None or days is not None
    values = {"flops": float(flops), "peak_flops_per_s": peak * 1e12, "mfu": mfu_used,
              "hours_measured": 1.0 if measured else 0.0, "measured_hours": hours if measured else 0.0,
              "gpus": gpus or 0, "gpu_w": gpu_w, "host_w_per_gpu": host_w, "card_kg": card_kg,
              "host_kg_per_gpu": host_kg_per_gpu, "gpu_lifetime_yr": gpu_lt, "host_lifetime_yr": host_lt,
              "usage": usage, "tokens": tokens_b * 1e9, "pue": pue, "ci_g_per_kwh": grid.ci_g_per_kwh}
    inputs = {"params_b": params_b, "active_params_b": active, "tokens_b": tokens_b, "gpu": gpu, "gpus": gpus,
              "peak_tflops": peak, "precision": precision, "seq_len": s, "layers": layers, "d_attn": d_attn,
              "pue": pue, "usage": usage, "gpu_lifetime_yr": gpu_lt, "host_lifetime_yr": host_lt}
    column = CarbonChain.for_training(db).training_column(values, sources, notes)
    return TrainingPoint(column, inputs, origin, power_origin, grid, per, sid, cs.id)


@dataclass
class TrainingPoint:
    """A training run as the chain's numbers, and what the report says about them."""

    column: Column
    inputs: dict
    mfu_origin: str
    power_origin: str
    grid: object
    per: str
    server: str | None
    coefficients: str


def train(db: Database, **options) -> TrainResult:
    """The footprint of one training run: :func:`training_point` (the options, checked), evaluated
    by the chain's training mode, the one place a run's carbon is computed (training sweeps use
    the same). Options are those of ``carbonsim train`` (:func:`training_point`)."""
    point = training_point(db, **options)
    run = CarbonChain.for_training(db).run_training(point.column.value[:, None])
    res = run.point(0)
    i = point.inputs
    run_days = res["days"] if i["gpus"] else None
    return TrainResult(i, res["flops"], res["mfu"], point.mfu_origin, res["gpu_hours"], run_days,
                       float(run.input("gpu_w")[0]), float(run.input("host_w_per_gpu")[0]), point.power_origin, res["energy_mwh"], res["gpu_energy_mwh"], res["host_energy_mwh"],
                       res["operational_kg"], res["embodied_kg"], res["ci_g_per_kwh"], point.grid, point.per,
                       res[f"sci_g_per_{point.per.replace('-', '_')}"], point.server, list(point.column.notes),
                       set(point.column.sources), point.coefficients)
