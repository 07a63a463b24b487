r"""``carbonsim experiment``: the carbon of an LLM study's calls, run locally or through an API
(layer 2; docs/experiments.md).

Each configuration of an experiment file makes the study's calls (:mod:`.experiment_input`):

- **local**: one call at a time on the researcher's machine (a desktop or laptop spec, or any
  server), with the model at its precision through a single-user engine (``llama.cpp``:
  :mod:`carbonsim.engine.inputs.llm`). Each call is an offline task of batch 1 through
  :class:`~carbonsim.engine.chain.CarbonChain` (performance, GPU activity power, host curve, the
  grid and PUE where the machine runs, the machine's embodied carbon over the calls' time), the
  whole machine charged. Calls follow each other, so the study's duration is the sum of theirs.
- **api**: a model of ``hardware_db/api_models`` served by its provider: a transformer of the
  stated size (:func:`carbonsim.models.perf.shapes.transformer_shape`) on the provider's serving
  node at the model's precision, fed a Poisson stream of the study's calls at a stated fraction
  of the node's saturated throughput (the online-serving simulator through the chain: batching
  comes from the load), the GPUs the replica uses and their share of the host charged, in the
  provider's region (annual location-based intensity; the provider's market-based figure shown
  beside it, never used) at the provider's PUE.

Per call, energy and carbon come from one function, :func:`call_results` (the chain's
per-request accounting). Ranges: every configuration is evaluated at three corners, **low**
(each ranged input at the end that gives less carbon), **central** and **high**: for an API,
the model's parameter range, the load range (more load, fewer joules per call) and the PUE
range; for a local machine, the throughput error of its engine profile on held-out
measurements (docs/validation_perf.md) and the machine's lifetime range. Corners bound the
combinations of those inputs; they are not percentiles.

A measured local run (a CodeCarbon ``emissions.csv``, every run in it summed) replaces the
estimate of its configuration in the totals; both are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.db.schema import Quantity
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.engine.inputs.llm import CALIBRATION_ID, engine_profile, model_spec, perf_rows
from carbonsim.engine.inputs.options import DEFAULT_PUE
from carbonsim.engine.inputs.server import load_server
from carbonsim.engine.inputs.serving import TraceBook, length_spec, online_rows
from carbonsim.engine.readers.codecarbon import read_codecarbon
from carbonsim.engine.studies.experiment_input import Experiment
from carbonsim.errors import InputError
from carbonsim.models.grid.carbon import facility_energy_kwh, operational_g
from carbonsim.models.perf.shapes import shape_params, transformer_shape
from carbonsim.models.serving.workload import ARRIVALS, draw_requests
from carbonsim.units import J_PER_KWH

CORNERS = ("low", "central", "high")
#: Calls drawn to evaluate a local configuration whose token counts are distributions.
LOCAL_DRAWS = 200
#: Requests simulated per API corner (the capacity run and the loaded run each).
API_REQUESTS = 1000
#: Engine of a local configuration that names none.
DEFAULT_LOCAL_ENGINE = "llama.cpp"
DEFAULT_LOCAL_PRECISION = "q4_k_m"


def call_results(chain: CarbonChain, mat: np.ndarray) -> dict[str, np.ndarray]:
    """Per-call energy and carbon of the points in ``mat`` through the chain's per-request
    accounting (offline tasks or online-serving runs, by the chain's kind).

    The one place the experiment takes per-call carbon from: ``energy_j, gpu_energy_j,
    host_energy_j, operational_g, embodied_g, gpu_embodied_g, host_embodied_g, total_g`` per call,
    with ``latency_s`` and the kind's other columns (:meth:`CarbonChain.evaluate`).
    """
    return chain.evaluate(mat)


@dataclass
class Totals:
    """A configuration's calls at one corner (or as measured); energies [kWh], carbon [kg]."""

    calls: int
    prompt_tokens: float
    output_tokens: float
    duration_s: float
    gpu_kwh: float | None
    host_kwh: float | None
    overhead_kwh: float | None
    energy_kwh: float
    operational_kg: float
    embodied_kg: float

    @property
    def total_kg(self) -> float:
        return self.operational_kg + self.embodied_kg

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("calls", "prompt_tokens", "output_tokens", "duration_s", "gpu_kwh",
                                               "host_kwh", "overhead_kwh", "energy_kwh", "operational_kg",
                                               "embodied_kg", "total_kg")}


@dataclass
class ConfigurationResult:
    """One configuration: its three corners, what they assume, and a measured run where given."""

    name: str
    kind: str
    label: str
    grid: str
    grid_id: str
    basis: str
    ci_g_per_kwh: float
    pue: float
    corners: dict[str, Totals]
    per_call: dict[str, float]
    market_based_g_per_kwh: float | None = None
    measured: Totals | None = None
    codecarbon_kg: float | None = None
    assumptions: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)

    @property
    def counted(self) -> dict[str, Totals]:
        """What the totals add: the measured run at every corner where there is one."""
        if self.measured is None:
            return self.corners
        return {c: self.measured for c in CORNERS}

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "label": self.label, "grid": self.grid, "grid_id": self.grid_id,
                "basis": self.basis,
                "ci_g_per_kwh": self.ci_g_per_kwh, "market_based_g_per_kwh": self.market_based_g_per_kwh,
                "pue": self.pue, **{c: t.as_dict() for c, t in self.corners.items()},
                "per_call": self.per_call, "measured": None if self.measured is None else self.measured.as_dict(),
                "codecarbon_kg": self.codecarbon_kg, "assumptions": self.assumptions, "notes": self.notes,
                "sources": sorted(self.sources)}


@dataclass
class ExperimentResult:
    """Every configuration of an experiment and the study's totals."""

    experiment: Experiment
    configurations: list[ConfigurationResult]
    coefficients: str

    def totals(self) -> dict[str, dict]:
        """Summed over configurations per corner (measured runs in place of their estimates)."""
        out = {}
        for c in CORNERS:
            ts = [r.counted[c] for r in self.configurations]
            out[c] = {"calls": sum(t.calls for t in ts), "prompt_tokens": sum(t.prompt_tokens for t in ts),
                      "output_tokens": sum(t.output_tokens for t in ts), "duration_s": sum(t.duration_s for t in ts),
                      "energy_kwh": sum(t.energy_kwh for t in ts), "operational_kg": sum(t.operational_kg for t in ts),
                      "embodied_kg": sum(t.embodied_kg for t in ts), "total_kg": sum(t.total_kg for t in ts)}
        return out

    def as_dict(self) -> dict:
        e = self.experiment
        return {"name": e.name, "calls_per_configuration": e.calls, "coefficients": self.coefficients,
                "configurations": [r.as_dict() for r in self.configurations], "totals": self.totals()}

    def to_frame(self):
        """One row per configuration and corner (and measured run), pandas."""
        import pandas as pd

        rows = []
        for r in self.configurations:
            for c, t in [*r.corners.items(), *([("measured", r.measured)] if r.measured else [])]:
                rows.append({"configuration": r.name, "kind": r.kind, "corner": c, **t.as_dict(),
                             "ci_g_per_kwh": r.ci_g_per_kwh, "pue": r.pue})
        return pd.DataFrame(rows)


# -- helpers ----------------------------------------------------------------------------------------
def _at(where: str, exc: InputError, file: str) -> InputError:
    """``exc`` re-raised as a problem of the experiment file's field ``where``."""
    field_ = f"{where}.{exc.field}" if exc.field and not exc.field.startswith(where) else (exc.field or where)
    return InputError(exc.message, file=file, field=field_ if exc.file in (None, file) else where)


def _lengths(exp: Experiment, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` calls' prompt and output tokens (the numbers, or draws of the distributions)."""
    if not isinstance(exp.prompt, dict) and not isinstance(exp.output, dict):
        return np.array([int(exp.prompt)]), np.array([int(exp.output)])
    p = length_spec(exp.prompt, "tokens.prompt", exp.file)
    o = length_spec(exp.output, "tokens.output", exp.file)
    _, prompt, output = draw_requests(seed, ARRIVALS["burst"], requests=n, prompt=p, output=o)
    return prompt.astype(int), output.astype(int)


def _scaled(t: Totals, time: float, emb: float) -> Totals:
    """``t`` with its duration and energies scaled by ``time`` and its embodied carbon by ``emb``."""
    e = {k: None if getattr(t, k) is None else getattr(t, k) * time for k in ("gpu_kwh", "host_kwh", "overhead_kwh")}
    return Totals(t.calls, t.prompt_tokens, t.output_tokens, t.duration_s * time, energy_kwh=t.energy_kwh * time,
                  operational_kg=t.operational_kg * time, embodied_kg=t.embodied_kg * emb, **e)


def _totals(res: dict, calls: int, pue: float, prompt: float, output: float, weights=None) -> Totals:
    """A configuration's totals from per-call results (means over the evaluated calls x calls)."""
    def mean(key):
        v = np.asarray(res[key], float)
        return float(np.average(v, weights=weights)) if weights is not None else float(np.nanmean(v))

    gpu_j, host_j = mean("gpu_energy_j"), mean("host_energy_j")
    it_kwh = (gpu_j + host_j) * calls / J_PER_KWH
    return Totals(calls=calls, prompt_tokens=prompt * calls, output_tokens=output * calls,
                  duration_s=mean("latency_s") * calls, gpu_kwh=gpu_j * calls / J_PER_KWH,
                  host_kwh=host_j * calls / J_PER_KWH, overhead_kwh=facility_energy_kwh(it_kwh, pue) - it_kwh,
                  energy_kwh=facility_energy_kwh(it_kwh, pue),
                  operational_kg=mean("operational_g") * calls / 1e3, embodied_kg=mean("embodied_g") * calls / 1e3)


def _per_call(t: Totals) -> dict:
    n = max(t.calls, 1)
    return {"energy_wh": t.energy_kwh * 1e3 / n, "operational_g": t.operational_kg * 1e3 / n,
            "embodied_g": t.embodied_kg * 1e3 / n, "total_g": t.total_kg * 1e3 / n, "latency_s": t.duration_s / n}


def _server_spec(spec, exp: Experiment):
    """A server id, an inline machine, or a path relative to the experiment file."""
    if isinstance(spec, str) and (spec.endswith((".yaml", ".yml")) or "/" in spec):
        p = Path(spec)
        return str(p if p.is_absolute() else exp.base / p)
    return spec


# -- local -----------------------------------------------------------------------------------------
def local_configuration(exp: Experiment, i: int, db: Database, cs) -> ConfigurationResult:
    """A configuration run on a local machine (see the module docstring)."""
    cfg = exp.configurations[i]
    loc = cfg["local"]
    where = f"configurations[{i}].local"
    try:
        server = load_server(_server_spec(loc["server"], exp), db)
    except InputError as exc:
        raise _at(f"{where}.server", exc, exp.file) from None
    try:
        model = model_spec(db, loc["model"], file=exp.file)
    except InputError as exc:
        raise InputError(exc.message, file=exp.file, field=f"{where}.model") from None
    try:
        grid = resolve_grid(loc["grid"], db)
    except InputError as exc:
        raise InputError(exc.message, file=exp.file, field=f"{where}.grid") from None
    pue = float(loc.get("pue", DEFAULT_PUE))
    engine_id = loc.get("engine", DEFAULT_LOCAL_ENGINE)
    precision = loc.get("precision", DEFAULT_LOCAL_PRECISION)
    prompt, output = _lengths(exp, LOCAL_DRAWS, exp.seed)
    chain = CarbonChain.for_tasks(db, compiled=False)
    cols, sources, notes = [], set(), []
    for p, o in zip(prompt, output):
        wl = {"engine": engine_id, "precision": precision, "batch_size": 1, "prompt_tokens": int(p),
              "output_tokens": int(o)}
        try:
            rows = perf_rows(db, server, model, wl, exp.file)
        except InputError as exc:
            raise InputError(exc.message, file=exp.file, field=f"{where}.{(exc.field or 'server').split('.')[-1]}"
                             if exc.field and exc.field.startswith("workload") else f"{where}.server") from None
        col = chain.column(server, cs, ci_g_per_kwh=grid.ci_g_per_kwh, pue=pue, perf_rows=rows, whole_server=True)
        cols.append(col.value)
        sources |= col.sources
        notes = col.notes
    res = call_results(chain, np.stack(cols, axis=1))
    bad = np.flatnonzero(~np.asarray(res["feasible"], bool))
    if len(bad):
        raise InputError(f"{loc['model']} at {precision} cannot run on {server.id}: {res['infeasible_reason'][bad[0]]}",
                         file=exp.file, field=f"{where}.server")
    central = _totals(res, exp.calls, pue, float(prompt.mean()), float(output.mean()))
    profile, entry = engine_profile(db, engine_id, server.gpu)
    err = _v(entry.get("held_out_median_abs_pct", entry.get("fit_median_abs_pct", 0.0))) / 100.0
    gpu_lt, host_lt = server.gpu_lifetime_yr, server.host_lifetime_yr
    share_gpu = float(np.nanmean(res["gpu_embodied_g"])) / max(float(np.nanmean(res["embodied_g"])), 1e-300)

    def lifetime_factor(end):  # embodied per second scales as 1 / lifetime, GPU and host parts apart
        g = gpu_lt.value / (getattr(gpu_lt, end) or gpu_lt.value)
        h = host_lt.value / (getattr(host_lt, end) or host_lt.value)
        return share_gpu * g + (1.0 - share_gpu) * h

    corners = {"low": _scaled(central, 1.0 - err, (1.0 - err) * lifetime_factor("high")), "central": central,
               "high": _scaled(central, 1.0 + err, (1.0 + err) * lifetime_factor("low"))}
    result = ConfigurationResult(
        name=cfg["name"], kind="local", label=f"{loc['model']} {precision} on {server.id} ({engine_id})",
        grid=grid.label, grid_id=_grid_id(grid), basis=grid.basis, ci_g_per_kwh=grid.ci_g_per_kwh, pue=pue,
        corners=corners,
        per_call=_per_call(central),
        assumptions={"server": server.id, "model": loc["model"], "precision": precision, "engine": engine_id,
                     "engine_profile": profile, "throughput_error": err,
                     "gpu_lifetime_yr": [gpu_lt.low, gpu_lt.value, gpu_lt.high],
                     "host_lifetime_yr": [host_lt.low, host_lt.value, host_lt.high]},
        notes=[f"throughput range +-{100 * err:.1f} %: the held-out median error of engine profile {profile} "
               "(docs/validation_perf.md)", *notes],
        sources=sources | set(grid.sources))
    if "measured" in loc:
        _measured(result, loc["measured"], exp, f"{where}.measured.codecarbon")
    return result


def _grid_id(grid) -> str:
    """A short name of a resolved grid: ``ESP 2024, lifecycle``."""
    gid = grid.id.upper() if grid.kind == "region" and len(grid.id) == 3 else grid.id
    return ", ".join(str(x) for x in (gid, grid.year, grid.basis) if x)


def _v(x) -> float:
    return float(x.value if isinstance(x, Quantity) else x)


def _measured(result: ConfigurationResult, measured: dict, exp: Experiment, where: str) -> None:
    """A CodeCarbon file's runs, summed, beside the estimate (its operational carbon recomputed on
    the configuration's grid and PUE; the embodied carbon of the machine over the measured time)."""
    path = Path(measured["codecarbon"])
    path = path if path.is_absolute() else exp.base / path
    try:
        emissions = read_codecarbon(path)
    except InputError as exc:
        raise InputError(exc.message, file=exc.file or str(path), field=exc.field or where) from None
    runs = emissions.runs
    result.notes.extend(emissions.warnings)
    duration = sum(r.duration_s for r in runs)
    energy = sum(r.energy_kwh for r in runs)
    c = result.corners["central"]
    emb_per_s = c.embodied_kg / c.duration_s if c.duration_s > 0 else 0.0
    facility = facility_energy_kwh(energy, result.pue)
    result.measured = Totals(calls=c.calls, prompt_tokens=c.prompt_tokens, output_tokens=c.output_tokens,
                             duration_s=duration, gpu_kwh=None, host_kwh=None, overhead_kwh=facility - energy,
                             energy_kwh=facility, operational_kg=operational_g(energy, result.pue, result.ci_g_per_kwh) / 1e3,
                             embodied_kg=emb_per_s * duration)
    result.codecarbon_kg = sum(r.emissions_kg for r in runs)
    result.notes.append(f"measured: {len(runs)} CodeCarbon run(s) in {path.name}, {energy:.4g} kWh over "
                        f"{duration / 3600:.3g} h; CodeCarbon's own emissions {result.codecarbon_kg * 1e3:.4g} g (its grid)")


# -- API -------------------------------------------------------------------------------------------
def _corner_value(q: Quantity, corner: str, less_is_low: bool = True) -> float:
    """A ranged input at a corner: ``low`` takes the end that gives less carbon."""
    if corner == "central":
        return q.value
    want_low = (corner == "low") == less_is_low
    end = q.low if want_low else q.high
    return q.value if end is None else end


def api_configuration(exp: Experiment, i: int, db: Database, cs, requests: int = API_REQUESTS) -> ConfigurationResult:
    """A configuration served through a provider's API (see the module docstring)."""
    cfg = exp.configurations[i]
    api = cfg["api"]
    where = f"configurations[{i}].api"
    try:
        entry = db.get("api_models", api["model"])
    except InputError as exc:
        raise InputError(exc.message, file=exp.file, field=f"{where}.model") from None
    if api.get("provider") not in (None, entry["provider"]):
        raise InputError(f"{api['model']} is served by {entry['provider']}, not {api['provider']}", file=exp.file,
                         field=f"{where}.provider")
    dc, serving = entry["datacenter"], entry["serving"]
    region_name = api.get("region", dc["default_region"])
    region = dc["regions"].get(region_name)
    if region is None:
        raise InputError(f"{api['model']} has no region {region_name!r}; its regions: {', '.join(dc['regions'])}",
                         file=exp.file, field=f"{where}.region")
    grid = resolve_grid(region["region"], db)
    tp = int(serving["tensor_parallel"])
    # the replica's GPUs and their share of the node (a 1-GPU replica holds 1/8 of an 8-GPU host)
    server = load_server(serving["server"], db, overrides={"gpus.count": tp})
    moe = entry["architecture"] == "moe"
    corners, per, notes, sources, shapes = {}, {}, [], set(grid.sources), {}
    for corner in CORNERS:
        total = _corner_value(entry["params_b"], corner) * 1e9
        active = _corner_value(entry["active_params_b"], corner) * 1e9 if moe else total
        load = _corner_value(serving["load"], corner, less_is_low=False)
        pue = _corner_value(dc["pue"], corner)
        shape = transformer_shape(active, entry["vocab"], total if moe else None, entry.get("top_k", 2))
        n_total, n_active = shape_params(shape)
        shapes[corner] = {"params_b": n_total / 1e9, "active_params_b": n_active / 1e9, "layers": shape["layers"],
                          "hidden": shape["hidden"], "experts": (shape.get("moe") or {}).get("experts"),
                          "load": load, "pue": pue}
        model = {**shape, "name": entry["name"], "params_b": n_total / 1e9,
                 "max_position": int(entry.get("context") or 128_000)}
        wl = {"mode": "online", "arrival": "burst", "requests": requests, "seed": exp.seed,
              "prompt_tokens": exp.prompt, "output_tokens": exp.output, "tensor_parallel": tp,
              "precision": serving["precision"], "engine": serving["engine"],
              "max_num_seqs": int(serving.get("max_num_seqs", 256)),
              "max_num_batched_tokens": int(serving.get("max_num_batched_tokens", 8192)), "chunked_prefill": True}
        chain = CarbonChain.for_online(db)
        rows, _ = online_rows(db, server, [(api["model"], model)], wl, TraceBook(), entry["_path"])
        col = chain.column(server, cs, ci_g_per_kwh=grid.ci_g_per_kwh, pue=pue, online_rows=rows, whole_server=True)
        saturated = call_results(chain, col.value[:, None])
        if not saturated["feasible"][0]:
            raise InputError(f"{api['model']} ({corner} corner) cannot be served on {tp} x {server.gpu.id}: "
                             f"{saturated['infeasible_reason'][0]}", file=entry["_path"], field="serving")
        capacity = float(saturated["requests_per_s"][0])
        rows, _ = online_rows(db, server, [(api["model"], model)],
                              {**wl, "arrival": "poisson", "qps": load * capacity}, TraceBook(), entry["_path"])
        col = chain.column(server, cs, ci_g_per_kwh=grid.ci_g_per_kwh, pue=pue, online_rows=rows, whole_server=True)
        res = call_results(chain, col.value[:, None])
        sources |= col.sources
        shapes[corner].update(capacity_requests_per_s=capacity, mean_batch=float(res["mean_batch"][0]))
        corners[corner] = _totals(res, exp.calls, pue, float(res["prompt_tokens_per_request"][0]),
                                  float(res["output_tokens_per_request"][0]))
        if corner == "central":
            notes = list(col.notes)
            per = _per_call(corners[corner])
            per["ttft_s"] = float(res["ttft_s"][0])
    mb = region.get("market_based_g_per_kwh")
    return ConfigurationResult(
        name=cfg["name"], kind="api", label=f"{entry['name']} via API ({dc['operator']} {region_name})",
        grid=grid.label, grid_id=_grid_id(grid), basis=grid.basis, ci_g_per_kwh=grid.ci_g_per_kwh,
        pue=dc["pue"].value, corners=corners,
        per_call=per, market_based_g_per_kwh=None if mb is None else mb.value,
        assumptions={"api_model": api["model"], "region": region["region"], "server": serving["server"],
                     "tensor_parallel": tp, "precision": serving["precision"], "corners": shapes},
        notes=[f"{entry['name']}: parameters {entry['params_b'].note or ''}".strip(),
               f"market-based intensity: {region.get('note') or 'not published'}" if mb is None else
               f"market-based intensity {mb.value:g} g/kWh (the provider's; not used)", *notes],
        sources=sources | {q.source for q in (entry["params_b"], dc["pue"], serving["load"]) if q.source})


def experiment(exp: Experiment, db: Database, coefficients: str | None = None,
               api_requests: int = API_REQUESTS) -> ExperimentResult:
    """Every configuration of ``exp`` (``coefficients`` overrides the file's coefficient set)."""
    cs = load_coefficients(coefficients or exp.coefficients, db)
    out = []
    for i, cfg in enumerate(exp.configurations):
        if "local" in cfg:
            out.append(local_configuration(exp, i, db, cs))
        else:
            out.append(api_configuration(exp, i, db, cs, api_requests))
    return ExperimentResult(exp, out, cs.id)
