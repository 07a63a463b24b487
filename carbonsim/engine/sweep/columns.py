"""The columns of a sweep's table (layer 2): fixed inputs, per-token results, units.

Every table carries its fixed inputs as columns (server, model, precision, tokens, PUE, grid...),
so tables of separate sweeps stack and compare like with like. Units travel with the table: in
the Parquet file's key-value metadata (``carbonsim.units``, JSON: column -> unit, which pyarrow,
polars and DuckDB show), in each Arrow field's ``unit`` metadata, and in ``meta.json``.
:func:`unit_of` is the one source of every unit.
"""

from __future__ import annotations

import json

import numpy as np

from carbonsim.engine.inputs.coefficients import DEFAULT_SET

#: Inputs every LLM table holds as columns, with the value used when the scenario leaves them out.
TASK_INPUTS = {
    "server": None, "model": None, "coefficients": DEFAULT_SET, "workload.precision": "fp16",
    "workload.prompt_tokens": None, "workload.output_tokens": None, "workload.batch_size": 1,
    "workload.tensor_parallel": 1, "workload.engine": "synchronous", "datacenter.pue": 1.0,
    "datacenter.grid": None,
}
#: Inputs every online-serving table holds as columns (lengths given as distributions read "inline").
ONLINE_INPUTS = {
    "server": None, "model": None, "coefficients": DEFAULT_SET, "workload.mode": "online", "workload.precision": "fp16",
    "workload.prompt_tokens": None, "workload.output_tokens": None, "workload.arrival": "poisson",
    "workload.qps": None, "workload.requests": None, "workload.duration_s": None, "workload.seed": 0,
    "workload.placement": "single", "workload.prefill_instances": None, "workload.decode_instances": None,
    "workload.tensor_parallel": 1, "workload.max_num_seqs": 256,
    "workload.max_num_batched_tokens": None, "workload.chunked_prefill": False, "workload.engine": "synchronous",
    "datacenter.pue": 1.0, "datacenter.grid": None,
}
#: Inputs every server-only table holds as columns.
SERVER_INPUTS = {
    "server": None, "coefficients": DEFAULT_SET, "load.cpu_util": None, "load.gpu_util": None,
    "datacenter.pue": 1.0, "datacenter.grid": None, "datacenter.power_w": None,
}

#: Units of result columns ("per request": one task of an offline batch, seed §5.1).
UNITS = {
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
    "embodied_kg": "kgCO2e", "host_embodied_kg": "kgCO2e", "gpu_embodied_kg": "kgCO2e",
    "embodied_mg_per_s": "mgCO2e/s", "host_embodied_mg_per_s": "mgCO2e/s", "gpu_embodied_mg_per_s": "mgCO2e/s",
    "operational_mg_per_s": "mgCO2e/s", "host_operational_mg_per_s": "mgCO2e/s",
    "gpu_operational_mg_per_s": "mgCO2e/s", "total_mg_per_s": "mgCO2e/s", "embodied_share": "fraction",
    "pue": "ratio", "datacenter.pue": "ratio", "workload.prompt_tokens": "tokens",
    "workload.output_tokens": "tokens", "workload.batch_size": "requests", "load.cpu_util": "fraction",
    "load.gpu_util": "fraction", "datacenter.power_w": "W",
    # online serving (per served request unless stated)
    "requests_per_s": "requests/s", "gpu_busy_energy_j": "J per request", "gpu_idle_energy_j": "J per request",
    "host_busy_energy_j": "J per request", "host_idle_energy_j": "J per request",
    "ttft_p50_s": "s", "ttft_p90_s": "s", "ttft_p99_s": "s", "tpot_p50_s": "s per output token",
    "tpot_p90_s": "s per output token", "tpot_p99_s": "s per output token", "latency_p50_s": "s",
    "latency_p90_s": "s", "latency_p99_s": "s", "slo_attainment": "fraction", "served_requests": "requests",
    "rejected_requests": "requests", "preemptions": "count", "mean_batch": "sequences per step",
    "concurrency": "requests", "duration_s": "s", "idle_s": "s with no request in the server", "output_tokens_per_request": "tokens",
    "prompt_tokens_per_request": "tokens", "steady_s": "s (run total)", "steady_gpu_energy_j": "J (run total)",
    "steady_output_tokens": "tokens (run total)",
    "decode_gpu_energy_j": "J per request", "decode_gpu_energy_share": "fraction",
    "steady_decode_gpu_energy_j": "J (run total)", "steady_decode_output_tokens": "tokens (run total)",
    "workload.prefill_instances": "instances", "workload.decode_instances": "instances",
    "host_cpu_util": "fraction", "kv_cache_tokens": "tokens per instance", "gpus_used": "GPUs",
    "workload.qps": "requests/s per model", "workload.requests": "requests per model", "workload.duration_s": "s",
    "workload.max_num_seqs": "sequences", "workload.max_num_batched_tokens": "tokens",
    "workload.tensor_parallel": "GPUs per replica", "workload.seed": "random seed (an integer label)",
    "workload.chunked_prefill": "boolean", "lifecycle.start_year": "calendar year", "lifecycle.utilization": "fraction",
}

#: Units of swept file fields (``server.host.dram.gb``, ``server.lifetime_yr``, ``coefficients...``)
#: by how their names end, the database's naming rule (docs/nomenclature.md); first match wins.
SUFFIX_UNITS = (
    ("_g_per_kwh", "gCO2e/kWh"), ("_gb_s", "GB/s"), ("_kg", "kgCO2e"), ("_kwh", "kWh"), ("_mwh", "MWh"),
    ("_mm2", "mm2"), ("_cm2", "cm2"), ("_yr", "yr"), ("_w", "W"), ("_gb", "GB"), (".gb", "GB"), ("_tb", "TB"),
    ("_ghz", "GHz"), ("_tflops", "TFLOP/s"), ("_s", "s"), ("_util", "fraction"), ("_share", "fraction"),
    ("gpus.count", "GPUs"), ("cpus.count", "CPUs"), (".count", "count"), ("_count", "count"), ("cores", "cores"),
    ("threads", "threads"), ("layers", "layers"), (".year", "calendar year"), (".pue", "ratio"),
)


def unit_of(column: str) -> str:
    """The unit of a column ("" when it has none: names, choices)."""
    if column in UNITS:
        return UNITS[column]
    from carbonsim.engine.sweep.lifecycle import UNITS as LIFECYCLE_UNITS

    if column in LIFECYCLE_UNITS:
        return LIFECYCLE_UNITS[column]
    from carbonsim.engine.sweep.training import UNITS as TRAINING_UNITS

    if column in TRAINING_UNITS:
        return TRAINING_UNITS[column]
    if column.startswith("sci_g_per_"):
        return "gCO2e per " + column[len("sci_g_per_"):].replace("1k_tokens", "1000 output tokens")
    if "." in column or column.endswith("_kg"):
        for suffix, unit in SUFFIX_UNITS:
            if column.endswith(suffix):
                return unit
    return ""


def units_of(columns) -> dict[str, str]:
    """Every column's unit ("" for text: names and choices), in table order."""
    return {c: unit_of(c) for c in columns}


def fixed_inputs(doc: dict, inputs: dict, swept: set[str]) -> dict:
    """The scenario's fixed inputs that the table carries as constant columns.

    ``inputs`` maps a dotted path to its default (:data:`TASK_INPUTS`, :data:`SERVER_INPUTS`, or
    the lifecycle and training tables). A swept path is left out (its axis is a column); an inline
    server or model spec reads ``"inline"``; any other mapping or list is written as JSON.
    """
    out = {}
    for path, default in inputs.items():
        if path in swept:
            continue
        node = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = default if node is None else node
        if isinstance(value, dict) and path in ("server", "model"):
            value = "inline"
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        if value is not None:
            out[path] = value
    return out


def per_token(metrics: dict, output_tokens: np.ndarray) -> dict:
    """Per-token and per-1000-token columns beside the per-request ones (LLM tables)."""
    k = 1000.0 / output_tokens
    return {
        "energy_j_per_token": metrics["energy_j"] / output_tokens,
        "total_g_per_1k_tokens": metrics["total_g"] * k,
        "operational_g_per_1k_tokens": metrics["operational_g"] * k,
        "embodied_g_per_1k_tokens": metrics["embodied_g"] * k,
    }


def sci_column(metrics: dict, mat, index: dict, unit: str, requests_per_user=None) -> dict:
    r"""The SCI column of an LLM table, :math:`(E \cdot I + M)/R` per functional unit
    (:mod:`carbonsim.models.lifecycle.sci`): the request's carbon (its energy × PUE × intensity
    plus its embodied share) over the units one request is (``request``, ``1k-tokens``, ``user``,
    ``day``). Named ``sci_g_per_<unit>`` (``1k-tokens`` -> ``1k_tokens``)."""
    from carbonsim.models.lifecycle.sci import sci_g, units_per_request

    units = units_per_request(unit, output_tokens=mat[index["perf_output_tokens"]], requests_per_user=requests_per_user,
                              latency_s=metrics["latency_s"], batch=mat[index["perf_batch"]])
    energy_kwh = metrics["energy_j"] * mat[index["pue"]] / 3.6e6
    value = sci_g(energy_kwh, metrics["ci_g_per_kwh"], metrics["embodied_g"], units)
    return {f"sci_g_per_{unit.replace('-', '_')}": value}
