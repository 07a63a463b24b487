"""One chunk of a sweep (layer 2): expand points, evaluate them through the chain, summarise.

The same :func:`evaluate_chunk` serves the in-process run and Dask workers
(:mod:`carbonsim.engine.sweep.executors`); what it needs travels in a :class:`ChunkPlan` of
plain arrays and names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.sweep.columns import per_token, sci_column, unit_of
from carbonsim.engine.sweep.evaluators import Evaluator
from carbonsim.engine.sweep.space import Expansion
from carbonsim.errors import InputError


@dataclass
class ChunkPlan:
    """What a worker needs to evaluate any chunk: plain arrays and names (picklable)."""

    expansion: Expansion
    tasks: bool
    compiled: bool
    objectives: list[tuple[str, str]]  # (objective, column)
    group_axes: list[int]
    fixed: dict
    file: str
    evaluator: object = None  # replaces the chain's evaluation (refresh-policy sweeps)
    sci: tuple | None = None  # (functional unit, requests per user) of LLM tables' SCI column
    online: bool = False
    traces: tuple = ()  # request arrays of online points' traces


@dataclass
class ChunkSummary:
    """What a chunk contributes to the answer: feasible count and best (value, index) per group."""

    n_feasible: int
    best: dict  # (objective, group index) -> (value, point index)


_CHAINS: dict[tuple, CarbonChain] = {}


def _chain(tasks: bool, compiled: bool, online: bool = False) -> CarbonChain:
    # evaluation needs no database: one chain per process and kind
    key = (tasks, compiled, online)
    if key not in _CHAINS:
        _CHAINS[key] = CarbonChain(None, tasks=tasks, compiled=compiled, online=online)
    return _CHAINS[key]


def evaluate_chunk(plan: ChunkPlan, start: int, stop: int) -> tuple[dict, ChunkSummary]:
    """Evaluate points ``start..stop-1``: the table's columns and the chunk's summary."""
    ex = plan.expansion
    coords = ex.coords(start, stop)
    mat = ex.chunk(start, stop, coords, reuse=True)
    if plan.evaluator is not None:
        ev = plan.evaluator
    else:
        ev = Evaluator(_chain(plan.tasks, plan.compiled, plan.online))
        if plan.online:
            ev.chain.traces = list(plan.traces)
    metrics = ev.metrics(mat)
    if plan.online:
        metrics.update(per_token(metrics, metrics["output_tokens_per_request"]))
    elif plan.tasks:
        metrics.update(per_token(metrics, mat[ev.chain.index["perf_output_tokens"]]))
        if plan.sci is not None:
            metrics.update(sci_column(metrics, mat, ev.chain.index, *plan.sci))
    feasible = ev.feasible(metrics)
    ok = np.ones(stop - start, bool) if feasible is None else feasible
    _check_finite(plan, metrics, ok, start)
    n = stop - start
    if plan.group_axes:
        gshape = [ex.shape[a] for a in plan.group_axes]
        g = np.ravel_multi_index([coords[a] for a in plan.group_axes], gshape)
    else:
        g = np.zeros(n, dtype=np.int64)
    best = {}
    for objective, column in plan.objectives:
        vals = np.where(ok, metrics[column], np.inf)
        order = np.lexsort((vals, g))
        first = order[np.r_[True, g[order][1:] != g[order][:-1]]]
        for j in first:
            if np.isfinite(vals[j]):
                best[(objective, int(g[j]))] = (float(vals[j]), start + int(j))
    columns = {k: FixedColumn(v, n) for k, v in plan.fixed.items()}
    columns.update(ex.values(coords))
    columns.update(metrics)
    return columns, ChunkSummary(int(ok.sum()), best)


def _check_finite(plan: ChunkPlan, metrics: dict, ok: np.ndarray, start: int) -> None:
    """A feasible point whose result is not finite means an input out of range: say which."""
    names = ["latency_s", "energy_j", "embodied_g"] if plan.tasks else ["embodied_kg", "embodied_mg_per_s"]
    if plan.evaluator is not None:
        names = list(plan.evaluator.finite_columns)
    names += [c for _, c in plan.objectives]
    has_grid = np.isfinite(metrics["ci_g_per_kwh"]) if "ci_g_per_kwh" in metrics else np.zeros(len(ok), bool)
    for name in dict.fromkeys(names):
        grid_needed = name in ("total_g", "operational_g", "cdp_g_s", "cep_g_j", "total_mg_per_s",
                               "operational_mg_per_s")
        bad = ok & ~np.isfinite(metrics[name]) & (has_grid if grid_needed else True)
        if bad.any():
            i = start + int(np.flatnonzero(bad)[0])
            raise InputError(f"point {i} gives a non-finite {name}; an input is out of range",
                             file=plan.file, field="sweep")


def merge_best(into: dict, summary: ChunkSummary) -> None:
    for key, (v, i) in summary.best.items():
        if key not in into or v < into[key][0]:
            into[key] = (v, i)


class FixedColumn:
    """A column holding one value ``n`` times, built only in the form a writer needs."""

    def __init__(self, value, n: int):
        self.value, self.n = value, n

    def __array__(self, dtype=None, copy=None):
        return np.full(self.n, self.value, dtype=object if isinstance(self.value, str) else dtype)

    def __len__(self):
        return self.n

    def arrow(self):
        if isinstance(self.value, str):  # one string taken n times: 25x faster than pa.repeat
            return _strings([self.value]).take(_numeric(np.zeros(self.n, dtype=np.int32)))
        return to_arrow(np.full(self.n, self.value))


# pa.array() imports pandas on first use (0.2 s, a third of the main job); the columns a sweep
# writes are numbers, booleans and a few distinct strings, which Arrow takes as raw buffers.
_ARROW_TYPES = {"f8": "float64", "f4": "float32", "i8": "int64", "i4": "int32", "u1": "uint8"}


def _numeric(v: np.ndarray):
    """A NumPy number or boolean array as an Arrow array (numbers zero-copy, booleans bit-packed)."""
    import pyarrow as pa

    v = np.ascontiguousarray(v)
    if v.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(v), [None, pa.py_buffer(np.packbits(v, bitorder="little"))])
    return pa.Array.from_buffers(getattr(pa, _ARROW_TYPES[v.dtype.str[1:]])(), len(v), [None, pa.py_buffer(v)])


def _strings(values) -> object:
    """Distinct Python strings as an Arrow string array (UTF-8 bytes and their offsets)."""
    import pyarrow as pa

    words = [s.encode("utf-8") for s in values]
    offsets = np.zeros(len(words) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(w) for w in words])
    return pa.Array.from_buffers(pa.string(), len(words), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(words))])


def to_arrow(v):
    """One table column as an Arrow array; anything but numbers, booleans and text goes to
    ``pa.array``."""
    import pyarrow as pa

    if isinstance(v, FixedColumn):
        return v.arrow()
    v = np.asarray(v)
    if v.ndim == 1 and v.dtype.isnative and (v.dtype == np.bool_ or v.dtype.str[1:] in _ARROW_TYPES):
        return _numeric(v)
    if v.dtype == object:
        text = _text(v)
        if text is not None:
            return text
    return pa.array(v)


def _text(v: np.ndarray):
    """An object array of a few distinct strings (reasons, labels) as Arrow text: each distinct
    string encoded once, then taken by index; None when the array holds anything but text."""
    codes: dict = {}
    try:
        index = np.fromiter((codes.setdefault(s, len(codes)) for s in v), np.int32, len(v))
    except TypeError:  # an unhashable value
        return None
    if not all(type(s) is str for s in codes):
        return None
    return _strings(codes).take(_numeric(index))


def arrow_table(columns: dict[str, np.ndarray]):
    """The columns as an Arrow table whose fields carry their units (``unit`` metadata) and whose
    schema carries them all (``carbonsim.units``: JSON column -> unit, "" for text), which
    Parquet writes as file-level key-value metadata."""
    import json

    import pyarrow as pa

    fields, arrays, units = [], [], {}
    for k, v in columns.items():
        arr = to_arrow(v)
        unit = unit_of(k)
        units[k] = unit
        fields.append(pa.field(k, arr.type, metadata={"unit": unit} if unit else None))
        arrays.append(arr)
    meta = {"generator": "carbonsim", "carbonsim.units": json.dumps(units)}
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))


def as_arrays(columns: dict) -> dict[str, np.ndarray]:
    """The columns as NumPy arrays (fixed columns expanded), for pandas and CSV."""
    return {k: np.asarray(v) for k, v in columns.items()}


def parquet_options(table) -> dict:
    """Writer options: Snappy; dictionary encoding only for text columns (for floats it costs
    four times the writing time and saves nothing)."""
    import pyarrow as pa

    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return {"compression": "snappy", "use_dictionary": text}
