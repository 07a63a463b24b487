"""Inputs of the fleet model (layer 2): GPU generations as numbers through the one composition
(the grid's intensity year by year is :func:`carbonsim.engine.inputs.grid.grid_by_year`).

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

from carbonsim.engine.chain import GEN_PROPS, CarbonChain
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.llm import perf_rows
from carbonsim.engine.inputs.options import DEFAULT_PUE
from carbonsim.engine.inputs.server import load_server
from carbonsim.errors import InputError
from carbonsim.models.embodied.layout import N_HOST

__all__ = ["GEN_PROPS", "Generation", "GenerationNumbers", "generation_numbers", "generations"]


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
                       pue: float = DEFAULT_PUE, file: str | None = None) -> GenerationNumbers:
    """One generation's server through the chain, at the scenario's workload (module docstring).

    Raises
    ------
    InputError
        The workload cannot run on that generation (memory, tensor parallelism).
    """
    server = load_server(gen.server, db)
    chain = CarbonChain.for_tasks(db, compiled=False)
    rows = perf_rows(db, server, model, workload, file)
    col = chain.column(server, cs, ci_g_per_kwh=0.0, pue=pue, perf_rows=rows, whole_server=True,
                       power_cap_w=workload.get("power_cap_w"))
    mat = col.value[:, None]
    res = chain.run_tasks(mat)
    if not bool(res.feasible[0]):
        raise InputError(f"the workload cannot run on generation {gen.name} ({gen.server}): "
                         f"{res.infeasible_reason[0]}", file=file, field="workload")
    comps = chain.components_kg(mat)
    n_gpu = float(res.input("gpu_count")[0])
    tp = float(res.input("perf_tp")[0])
    out_tokens = float(res.input("perf_output_tokens")[0])
    batch = float(res.input("perf_batch")[0])
    values = {
        "cap_tok_s": float(res.throughput_tok_s[0]) * n_gpu / tp,
        "gpu_busy_w": float(res.gpu_power_w[0]) * n_gpu,
        "gpu_idle_w": float(res.input("gpu_idle_loaded_w")[0]) * n_gpu,
        "host_busy_w": float(res.host_power_w[0]),
        "host_idle_w": float(chain.host_w(mat, np.zeros(1))[0]),
        "gpu_set_kg": float(comps[N_HOST:, 0].sum()),
        "host_kg": float(comps[:N_HOST, 0].sum()),
        "gpus_per_set": n_gpu,
    }
    # energy per token of each phase on this generation, for the record of the two trends
    ttft = float(res.ttft_s[0])
    lat = float(res.latency_s[0])
    gpu_w = float(res.gpu_power_w[0]) * tp
    prompt = float(res.input("perf_prompt_tokens")[0])
    prefill = gpu_w * ttft / max(batch * prompt, 1.0)
    decode = gpu_w * max(lat - ttft, 0.0) / max(batch * out_tokens, 1.0)
    return GenerationNumbers(gen, values, prefill, decode, set(col.sources), list(col.notes))
