"""The input columns of a sweep's table (layer 2): fixed inputs and their units.

Every table carries its fixed inputs as columns (server, model, precision, tokens, PUE, grid...),
so tables of separate sweeps stack and compare like with like. Units travel with the table: in
the Parquet file's key-value metadata (``carbonsim.units``, JSON: column -> unit, which pyarrow,
polars and DuckDB show), in each Arrow field's ``unit`` metadata, and in ``meta.json``. Result
columns carry their units from the chain (:data:`carbonsim.engine.chain.RESULT_UNITS`, through
:class:`~carbonsim.engine.chain.ChainResult`); the units of input columns are here
(:func:`input_unit`), and a point kind answers for both (``PointKind.unit_of``).
"""

from __future__ import annotations

import json

from carbonsim.engine.inputs.coefficients import DEFAULT_SET
from carbonsim.engine.inputs.options import DEFAULT_PUE

#: Inputs every LLM table holds as columns, with the value used when the scenario leaves them out.
TASK_INPUTS = {
    "server": None, "model": None, "coefficients": DEFAULT_SET, "workload.precision": "fp16",
    "workload.prompt_tokens": None, "workload.output_tokens": None, "workload.batch_size": 1,
    "workload.tensor_parallel": 1, "workload.engine": "synchronous", "datacenter.pue": DEFAULT_PUE,
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
    "datacenter.pue": DEFAULT_PUE, "datacenter.grid": None,
}
#: Inputs every server-only table holds as columns (the period only where the scenario has one).
SERVER_INPUTS = {
    "server": None, "coefficients": DEFAULT_SET, "load.cpu_util": None, "load.gpu_util": None,
    "datacenter.pue": DEFAULT_PUE, "datacenter.grid": None, "datacenter.power_w": None,
    "period.years": None, "period.start_year": None,
}

#: Units of the input columns of server and LLM tables.
INPUT_UNITS = {
    "datacenter.pue": "ratio", "workload.prompt_tokens": "tokens", "workload.output_tokens": "tokens",
    "workload.batch_size": "requests", "load.cpu_util": "fraction", "load.gpu_util": "fraction",
    "datacenter.power_w": "W", "period.years": "yr", "period.start_year": "year",
    "workload.prefill_instances": "instances", "workload.decode_instances": "instances",
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


def input_unit(column: str, units: dict) -> str | None:
    """The unit of an input column: ``units`` (a kind's input units), else, for a swept file field
    (a dotted path), by how its name ends (:data:`SUFFIX_UNITS`); None when it is not an input."""
    if column in units:
        return units[column]
    if "." in column:
        return next((unit for suffix, unit in SUFFIX_UNITS if column.endswith(suffix)), "")
    return None


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
