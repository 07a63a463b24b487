"""One chunk of a sweep (layer 2): expand points, evaluate them through the chain, summarise.

The same :func:`evaluate_chunk` serves the in-process run and Dask workers
(:mod:`carbonsim.engine.sweep.executors`); what it needs travels in a :class:`ChunkPlan` of
plain arrays and names, whatever the kind of point (:mod:`carbonsim.engine.sweep.kinds`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.sweep.decisions import Decisions, decide, keep_rows, merge
from carbonsim.engine.sweep.evaluators import Evaluator
from carbonsim.engine.sweep.space import Expansion
from carbonsim.errors import InputError


@dataclass
class ChunkPlan:
    """What a worker needs to evaluate any chunk: plain arrays and names (picklable)."""

    expansion: Expansion
    evaluator: Evaluator
    objectives: list[tuple[str, str]]  # (objective, column)
    group_axes: list[int]
    fixed: dict
    file: str
    kind: object = None  # the PointKind: units of the table's columns
    decisions: Decisions | None = None  # constraints and Pareto front (sweep/decisions.py)
    #: Sorted indices of the points whose results the run keeps as they are evaluated (the
    #: baselines), so that no point is evaluated twice.
    keep: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def units(self, columns) -> dict[str, str]:
        """Column -> unit of the table's columns (inputs from the kind, results from the chain)."""
        return {c: self.kind.unit_of(c) for c in columns} if self.kind is not None else {}


@dataclass
class ChunkSummary:
    """What a chunk contributes to the answer: feasible count, best (value, index, row) per group,
    the table's column names, its decisions, the rows of the points the plan keeps, the infeasible
    points' reasons and the results that are not table columns. A row is ``(swept values,
    results)`` of one point, as plain Python values."""

    n_feasible: int
    best: dict  # (objective, group index) -> (value, point index, row reference (row_of))
    columns: tuple = ()
    decisions: object = None  # DecisionSummary: points meeting the constraints, the closest, the front
    kept: dict = field(default_factory=dict)  # point index -> row reference (row_of)
    reasons: dict = field(default_factory=dict)  # infeasible reason -> points
    #: Results with more than one value per point (a fleet's years), by chunk: ``(start, {name:
    #: array (points, ...)})``; they are not table columns.
    detail: list = field(default_factory=list)

    def add(self, part: "ChunkSummary") -> None:
        """Fold another chunk's summary into this one (the run's): counts added, the least (value,
        point index) of each group kept (the same answer in any order of chunks), the decisions
        merged, kept rows, reasons and details gathered."""
        self.n_feasible += part.n_feasible
        self.columns = self.columns or part.columns
        for key, found in part.best.items():
            if key not in self.best or found[:2] < self.best[key][:2]:
                self.best[key] = found
        if part.decisions is not None:
            self.decisions = merge(self.decisions, part.decisions)
        self.kept.update(part.kept)
        for r, k in part.reasons.items():
            self.reasons[r] = self.reasons.get(r, 0) + k
        self.detail.extend(part.detail)

    def detail_of(self, name: str) -> np.ndarray:
        """The per-point array ``name`` of :attr:`detail` over the whole run, in point order."""
        parts = sorted(((start, d[name]) for start, d in self.detail), key=lambda p: p[0])
        return np.concatenate([p for _, p in parts]) if parts else np.zeros((0,))


def evaluate_chunk(plan: ChunkPlan, start: int, stop: int) -> tuple[dict, ChunkSummary]:
    """Evaluate points ``start..stop-1``: the table's columns and the chunk's summary."""
    ex = plan.expansion
    coords = ex.coords(start, stop)
    mat = ex.chunk(start, stop, coords, reuse=True)
    ev = plan.evaluator
    metrics = ev.evaluate(mat)
    detail = {k: metrics.pop(k) for k in [k for k, v in metrics.items() if np.ndim(v) > 1]}
    feasible = ev.feasible(metrics)
    ok = np.ones(stop - start, bool) if feasible is None else feasible
    _check_finite(plan, metrics, ok, start)
    n = stop - start
    if plan.group_axes:
        gshape = [ex.shape[a] for a in plan.group_axes]
        g = np.ravel_multi_index([coords[a] for a in plan.group_axes], gshape)
    else:
        g = np.zeros(n, dtype=np.int64)
    values = ex.values(coords)
    # the scenario's decisions (sweep/decisions.py): best points only among those meeting its constraints
    eligible, decided = decide(plan.decisions, metrics, ok, coords, g, start, values)
    picks = []  # per objective: the groups and chunk positions of each group's best, and its values
    for objective, column in plan.objectives:
        vals = np.where(eligible, metrics[column], np.inf)
        order = np.lexsort((vals, g))
        first = order[np.r_[True, g[order][1:] != g[order][:-1]]]
        first = first[np.isfinite(vals[first])]
        picks.append((objective, g[first], first, vals[first]))
    # a sweep that holds many values has a best per group and objective in every chunk (most of
    # them bettered later): their rows are taken out column by column, and built only when read
    lo, hi = np.searchsorted(plan.keep, [start, stop])
    keep = np.asarray(plan.keep[lo:hi], dtype=np.int64) - start
    positions = np.sort(np.concatenate([keep, *(p[2] for p in picks)]))
    if positions.size:  # unique (np.unique imports numpy.ma: 16 ms)
        positions = positions[np.r_[True, positions[1:] != positions[:-1]]]
    block = RowBlock(values, metrics, positions)
    best = {}
    for objective, groups, at, vals in picks:
        refs = zip(itertools.repeat(block), np.searchsorted(positions, at).tolist())
        best.update(zip(zip(itertools.repeat(objective), groups.tolist()),
                        zip(vals.tolist(), (at + start).tolist(), refs)))
    kept = dict(zip((keep + start).tolist(), zip(itertools.repeat(block), np.searchsorted(positions, keep).tolist())))
    reasons = {}
    if not ok.all() and "infeasible_reason" in metrics:
        from carbonsim.engine.sweep.infeasible import reason_counts

        reasons = reason_counts(np.asarray(metrics["infeasible_reason"])[~ok])
    columns = {k: FixedColumn(v, n) for k, v in plan.fixed.items()}
    columns.update(values)
    columns.update(metrics)
    keep_rows(decided, columns)
    return columns, ChunkSummary(int(ok.sum()), best, tuple(columns), decided, kept, reasons,
                                 [(start, detail)] if detail else [])


class RowBlock:
    """Some points of a chunk, every swept value and result of each as Python values, column by
    column (the chunk's own arrays are let go). A point's row is referred to as ``(block, k)``
    (cheap: a sweep holding many values has a best per group and objective in every chunk, most
    of them bettered later) and built by :func:`row_of` when the run reads it."""

    __slots__ = ("values", "metrics")

    def __init__(self, values: dict, metrics: dict, positions: np.ndarray):
        self.values = {k: _take(v, positions) for k, v in values.items()}
        self.metrics = {k: _take(v, positions) for k, v in metrics.items()}


def row_of(ref: tuple[RowBlock, int]) -> tuple[dict, dict]:
    """The row ``(swept values, results)`` of a reference ``(block, k)``."""
    b, k = ref
    return {n: v[k] for n, v in b.values.items()}, {n: v[k] for n, v in b.metrics.items()}


def _take(v, positions: np.ndarray) -> list:
    """``v`` at ``positions`` as plain Python values (:func:`point_row`'s, a column at a time)."""
    if isinstance(v, np.ndarray) and v.dtype != object:
        return v[positions].tolist()  # NumPy's numbers become Python's
    return [_plain(v[j]) for j in positions.tolist()]


def point_row(values: dict, metrics: dict, j: int) -> tuple[dict, dict]:
    """Point ``j`` of a chunk: its swept values and its results, as plain Python values."""
    return ({k: _plain(v[j]) for k, v in values.items()}, {k: _plain(v[j]) for k, v in metrics.items()})


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


#: Columns that need a grid: a point without one is not held to them.
_GRID_COLUMNS = ("total_g", "operational_g", "cdp_g_s", "cep_g_j", "total_mg_per_s", "operational_mg_per_s")


def _check_finite(plan: ChunkPlan, metrics: dict, ok: np.ndarray, start: int) -> None:
    """A feasible point whose result is not finite means an input out of range: say which."""
    names = list(plan.evaluator.finite_columns) + [c for _, c in plan.objectives]
    has_grid = np.isfinite(metrics["ci_g_per_kwh"]) if "ci_g_per_kwh" in metrics else np.zeros(len(ok), bool)
    for name in dict.fromkeys(names):
        bad = ok & ~np.isfinite(metrics[name]) & (has_grid if name in _GRID_COLUMNS else True)
        if bad.any():
            i = start + int(np.flatnonzero(bad)[0])
            raise InputError(f"point {i} gives a non-finite {name}; an input is out of range",
                             file=plan.file, field="sweep")


class FixedColumn:
    """A column holding one value ``n`` times, built only in the form a writer needs."""

    def __init__(self, value, n: int):
        self.value, self.n = value, n

    def __array__(self, dtype=None, copy=None):
        return np.full(self.n, self.value, dtype=object if isinstance(self.value, str) else dtype)

    def __len__(self):
        return self.n

    def arrow(self):
        if isinstance(self.value, str):  # one string n times: its bytes repeated, offsets a range
            word = self.value.encode("utf-8")
            return _string_array(np.full(self.n, len(word), dtype=np.int64), word * self.n)
        return to_arrow(np.full(self.n, self.value))


# pa.array() imports pandas on first use (0.2 s, a third of the main job), and Array.take()
# pyarrow.compute (0.03 s); the columns a sweep writes are numbers, booleans and a few distinct
# strings, which Arrow takes as raw buffers.
_ARROW_TYPES = {"f8": "float64", "f4": "float32", "i8": "int64", "i4": "int32", "u1": "uint8"}


def _numeric(v: np.ndarray):
    """A NumPy number or boolean array as an Arrow array (numbers zero-copy, booleans bit-packed)."""
    import pyarrow as pa

    v = np.ascontiguousarray(v)
    if v.dtype == np.bool_:
        return pa.Array.from_buffers(pa.bool_(), len(v), [None, pa.py_buffer(np.packbits(v, bitorder="little"))])
    return pa.Array.from_buffers(getattr(pa, _ARROW_TYPES[v.dtype.str[1:]])(), len(v), [None, pa.py_buffer(v)])


def _string_array(lengths: np.ndarray, data: bytes):
    """An Arrow string array from each string's byte length and their UTF-8 bytes end to end
    (64-bit offsets beyond 2 GB)."""
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(pa.string(), len(lengths), [None, pa.py_buffer(offsets.astype(np.int32)),
                                                                 pa.py_buffer(data)])
    return pa.Array.from_buffers(pa.large_string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


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
    string encoded once, then its bytes gathered by index; None when the array holds anything
    but text."""
    codes: dict = {}
    try:
        index = np.fromiter((codes.setdefault(s, len(codes)) for s in v), np.int64, len(v))
    except TypeError:  # an unhashable value
        return None
    if not all(type(s) is str for s in codes):
        return None
    words = [s.encode("utf-8") for s in codes]
    size = np.array([len(w) for w in words], dtype=np.int64)
    starts = np.zeros(len(words), dtype=np.int64)
    np.cumsum(size[:-1], out=starts[1:])
    lengths = size[index]
    total = int(lengths.sum())
    # byte j of row r is byte (j - the row's first byte) of its word: one vectorised gather
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    gather = np.repeat(starts[index], lengths) + np.arange(total, dtype=np.int64) - first
    data = np.frombuffer(b"".join(words), dtype=np.uint8)[gather].tobytes() if total else b""
    return _string_array(lengths, data)


def arrow_table(columns: dict[str, np.ndarray], units: dict | None = None):
    """The columns as an Arrow table whose fields carry their units (``unit`` metadata, from
    ``units``: column -> unit) and whose schema carries them all (``carbonsim.units``: JSON column
    -> unit, "" for text), which Parquet writes as file-level key-value metadata."""
    import json

    import pyarrow as pa

    units = {k: (units or {}).get(k, "") for k in columns}
    fields, arrays = [], []
    for k, v in columns.items():
        arr = to_arrow(v)
        fields.append(pa.field(k, arr.type, metadata={"unit": units[k]} if units[k] else None))
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
