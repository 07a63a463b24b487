"""Inputs of the fleet model (layer 2): GPU generations as numbers through the one composition,
and the grid's intensity year by year.

For each generation's server, :class:`~carbonsim.engine.chain.CarbonChain` evaluates the
scenario's LLM workload (performance model -> GPU activity power, host power at the CPU load
the engine causes, embodied carbon of every part): one server's capacity [output tokens/s],
busy and idle power of its GPUs and of its host, embodied carbon of its GPU set and host. The
fleet model (:mod:`carbonsim.models.lifecycle.refresh`) works on those numbers, so a fleet's
watts and kilograms are the same ones every other command reports for the same server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.llm import perf_rows
from carbonsim.engine.inputs.server import load_server
from carbonsim.errors import InputError
from carbonsim.models.embodied.layout import N_HOST
from carbonsim.models.grid.trajectory import trajectory_mean_g_per_kwh

#: Properties of one generation, in the order the point vector stores them.
GEN_PROPS = ("cap_tok_s", "gpu_busy_w", "gpu_idle_w", "host_busy_w", "host_idle_w", "gpu_set_kg", "host_kg",
             "gpus_per_set")


@dataclass(frozen=True)
class Generation:
    """One generation of a product line: the server a fleet buys from ``available`` on."""

    name: str
    server: str
    available: int


@dataclass
class GenerationNumbers:
    """A generation's server as the fleet model sees it (units in :data:`GEN_PROPS` names)."""

    generation: Generation
    values: dict[str, float]
    prefill_j_per_token: float
    decode_j_per_token: float
    sources: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def generations(spec, db: Database, file: str | None = None, where: str = "lifecycle.generations") -> list[Generation]:
    """The generations a scenario names: a generation-table id (``hardware_db/generations``) or an
    inline list of ``{name, server, available}``.

    Raises
    ------
    InputError
        Unknown table or server ("a generation not in the database"), years not increasing.
    """
    if isinstance(spec, str):
        if not db.has("generations", spec):
            known = ", ".join(db.ids("generations")) or "none"
            raise InputError(f"unknown generation table {spec!r}; known: {known}", file=file, field=where)
        entries = db.get("generations", spec)["generations"]
    elif isinstance(spec, list) and spec:
        entries = spec
    else:
        raise InputError("expected a generation-table id or a list of {name, server, available}", file=file,
                         field=where)
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "server" not in e or "available" not in e:
            raise InputError("each generation needs server and available", file=file, field=f"{where}[{i}]")
        server = e["server"]
        if not isinstance(server, str) or not db.has("servers", server):
            known = ", ".join(db.ids("servers"))
            raise InputError(f"generation server {server!r} is not in the database; known: {known}", file=file,
                             field=f"{where}[{i}].server")
        out.append(Generation(str(e.get("name") or server), server, int(e["available"])))
    years = [g.available for g in out]
    if any(b <= a for a, b in zip(years, years[1:])):
        raise InputError(f"generations must come in increasing `available` years, found {years}", file=file,
                         field=where)
    return out


def generation_numbers(db: Database, gen: Generation, cs: CoefficientSet, model: dict, workload: dict,
                       pue: float = 1.0, file: str | None = None) -> GenerationNumbers:
    """One generation's server through the chain, at the scenario's workload (module docstring).

    Raises
    ------
    InputError
        The workload cannot run on that generation (memory, tensor parallelism).
    """
    server = load_server(gen.server, db)
    chain = CarbonChain(db, tasks=True, compiled=False)
    rows = perf_rows(db, server, model, workload, file)
    col = chain.column(server, cs, ci_g_per_kwh=0.0, pue=pue, perf_rows=rows, whole_server=True,
                       power_cap_w=workload.get("power_cap_w"))
    mat = col.value[:, None]
    res = chain.evaluate_tasks(mat)
    if not bool(res["feasible"][0]):
        raise InputError(f"the workload cannot run on generation {gen.name} ({gen.server}): "
                         f"{res['infeasible_reason'][0]}", file=file, field="workload")
    comps = chain.components_kg(mat)
    ix = chain.index
    n_gpu = float(mat[ix["gpu_count"], 0])
    tp = float(mat[ix["perf_tp"], 0])
    out_tokens = float(mat[ix["perf_output_tokens"], 0])
    batch = float(mat[ix["perf_batch"], 0])
    values = {
        "cap_tok_s": float(res["throughput_tok_s"][0]) * n_gpu / tp,
        "gpu_busy_w": float(res["gpu_power_w"][0]) * n_gpu,
        "gpu_idle_w": float(mat[ix["gpu_idle_loaded_w"], 0]) * n_gpu,
        "host_busy_w": float(res["host_power_w"][0]),
        "host_idle_w": float(chain.host_w(mat, np.zeros(1))[0]),
        "gpu_set_kg": float(comps[N_HOST:, 0].sum()),
        "host_kg": float(comps[:N_HOST, 0].sum()),
        "gpus_per_set": n_gpu,
    }
    # energy per token of each phase on this generation, for the record of the two trends
    ttft = float(res["ttft_s"][0])
    lat = float(res["latency_s"][0])
    gpu_w = float(res["gpu_power_w"][0]) * tp
    prompt = float(mat[ix["perf_prompt_tokens"], 0])
    prefill = gpu_w * ttft / max(batch * prompt, 1.0)
    decode = gpu_w * max(lat - ttft, 0.0) / max(batch * out_tokens, 1.0)
    return GenerationNumbers(gen, values, prefill, decode, set(col.sources), list(col.notes))


def yearly_intensity(grid_text: str, db: Database, start_year: int, years: int):
    """The grid's intensity in each year of a horizon [g/kWh], and what was assumed.

    A trajectory gives its mean over each calendar year (:func:`trajectory_mean_g_per_kwh`); a
    region gives its value for that year where one is published, else its latest; a source, mix
    or trace gives the same value every year.

    Returns
    -------
    ci : ndarray, shape (years,)
    grid : GridIntensity
        The grid resolved in the first year (label, basis, sources).
    notes : list of str
    """
    from carbonsim.engine.inputs.grid import resolve_grid, trajectory_points

    first = resolve_grid(grid_text, db, year=start_year)
    notes = []
    if first.kind == "trajectory":
        ys, vals, rule = trajectory_points(db, first.id)
        ci = np.array([trajectory_mean_g_per_kwh(start_year + k, start_year + k + 1, ys, vals, rule)
                       for k in range(years)])
        if start_year + years > ys[-1] + 1 or start_year < ys[0]:
            notes.append(f"trajectory {first.id} covers {ys[0]}-{ys[-1]}; outside it the nearest value is held")
    elif first.kind == "region":
        values = []
        held = []
        for k in range(years):
            g = resolve_grid(grid_text, db, year=start_year + k)
            values.append(g.ci_g_per_kwh)
            if g.year != start_year + k:
                held.append(start_year + k)
        ci = np.array(values)
        if held:
            notes.append(f"{first.id}: no published value for {held[0]}-{held[-1]}; its default (latest) value is used")
    else:
        ci = np.full(years, first.ci_g_per_kwh)
    return ci, first, notes
