"""Decisions a planner can act on (layer 2): constraints, circumstances held, Pareto fronts.

A sweep's best point is a recommendation, so it must be one a user can take:

- **constraints** (``constraints: {slo_attainment: {min: 0.9}, latency_s: {max: 10}}``) bound
  result columns; a point is *eligible* when it is feasible and within every bound, and the best
  of every objective is chosen among eligible points only;
- **circumstances are held**: axes that describe the user's situation (the grid, the PUE, the
  start year, the offered load ...; :data:`HELD_BY_DEFAULT`, plus a scenario's ``hold:``) are
  never chosen: the best is taken within each combination of their values (a *held group*),
  and ``choose:`` turns one into a decision (a siting study);
- **Pareto fronts** (``--pareto total_g,latency_s``): the eligible points no other eligible point
  of their held group beats in every column (each minimised or maximised by its meaning,
  :func:`carbonsim.engine.chain.result_sense`).

Everything here runs inside the chunk evaluation (:func:`decide`, called by
:func:`carbonsim.engine.sweep.chunks.evaluate_chunk`), so the in-process run and Dask workers,
and any chunk size, give the same answer: counts add, the closest point is kept like a best
(least (value, index)), and fronts merge associatively (the front of a union is the front of
the union of the parts' fronts), so memory stays bounded by the front, not by the points.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from carbonsim.engine.chain import result_sense
from carbonsim.errors import InputError, NoFeasibleAnswer, OptionError

#: Fields that describe the user's circumstances: a sweep axis at or below one of these paths is
#: held unless the scenario chooses it (``choose:``). The grid, region, PUE; the period and start
#: year; the offered load (request rate, trace, arrivals, run length, request lengths, the
#: steady load of a server, a fleet's demand); the seed of the random draws (a replicate, not a
#: choice); the SLO (a requirement); the job a training run trains; the embodied coefficient set
#: (an accounting assumption).
HELD_BY_DEFAULT = (
    "datacenter.grid", "datacenter.region", "datacenter.pue",
    "period", "lifecycle.start_year", "lifecycle.horizon_yr", "lifecycle.demand", "training.year",
    "load", "workload.qps", "workload.trace", "workload.arrival", "workload.requests", "workload.duration_s",
    "workload.prompt_tokens", "workload.output_tokens", "workload.seed", "workload.slo",
    "training.params_b", "training.active_params_b", "training.tokens_b",
    "coefficients",
)
#: Name of the table column that says whether a point meets the constraints (with constraints only).
MEETS = "meets_constraints"


def related(a: str, b: str) -> bool:
    """Whether dotted path ``a`` is ``b``, or one lies inside the other (``workload.trace`` and
    ``workload.trace.speedup``)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


@dataclass(frozen=True)
class Constraint:
    """``lo <= column <= hi`` (an open side is infinite)."""

    column: str
    lo: float = -np.inf
    hi: float = np.inf

    def text(self) -> str:
        if np.isfinite(self.lo) and np.isfinite(self.hi):
            return f"{self.lo:g} <= {self.column} <= {self.hi:g}"
        return f"{self.column} >= {self.lo:g}" if np.isfinite(self.lo) else f"{self.column} <= {self.hi:g}"

    def shortfall(self, x: np.ndarray) -> np.ndarray:
        """How far each value lies outside the bounds, relative to the bound it misses (0 inside;
        infinite for NaN)."""
        x = np.asarray(x, dtype=float)
        out = np.zeros(x.shape)
        if np.isfinite(self.lo):
            out += np.maximum(self.lo - x, 0.0) / (abs(self.lo) or 1.0)
        if np.isfinite(self.hi):
            out += np.maximum(x - self.hi, 0.0) / (abs(self.hi) or 1.0)
        out[np.isnan(x)] = np.inf
        return out

    def as_dict(self) -> dict:
        return {"column": self.column, "min": float(self.lo) if np.isfinite(self.lo) else None,
                "max": float(self.hi) if np.isfinite(self.hi) else None}


@dataclass
class Decisions:
    """What a chunk needs to apply a sweep's decisions (picklable: names and numbers).

    Attributes
    ----------
    constraints : tuple of Constraint
    pareto : tuple of (column, sign)
        The front's columns; sign +1 minimises, -1 maximises.
    held_axes : tuple of int
        The space's axes that are held (the front is taken per combination of their values).
    shape : tuple of int
        The space's shape (axis sizes).
    file, kind : str
        The scenario file and the kind of point (``offline`` ...), for messages.
    pareto_option : bool
        The front's columns came from ``--pareto`` (not the scenario's ``pareto:``).
    """

    constraints: tuple = ()
    pareto: tuple = ()
    held_axes: tuple = ()
    shape: tuple = ()
    file: str = ""
    kind: str = ""
    pareto_option: bool = False

    @property
    def active(self) -> bool:
        return bool(self.constraints or self.pareto)

    def held_group(self, coords) -> np.ndarray | None:
        """Index of each point's held group (None when nothing is held)."""
        if not self.held_axes:
            return None
        return np.ravel_multi_index([coords[a] for a in self.held_axes], [self.shape[a] for a in self.held_axes])


@dataclass
class Front:
    """A running Pareto front: the non-dominated points' index, held group, signed values (each
    column minimised) and table rows."""

    index: np.ndarray
    group: np.ndarray
    values: np.ndarray  # (n, k), maximised columns negated
    rows: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    def take(self, keep: np.ndarray) -> "Front":
        return Front(self.index[keep], self.group[keep], self.values[keep], {k: v[keep] for k, v in self.rows.items()})

    @staticmethod
    def join(a: "Front | None", b: "Front | None") -> "Front | None":
        """The front of the union of two fronts (associative, commutative)."""
        if a is None or b is None:
            return a if b is None else b
        if not len(a) or not len(b):
            return b if not len(a) else a
        both = Front(np.concatenate([a.index, b.index]), np.concatenate([a.group, b.group]),
                     np.concatenate([a.values, b.values]),
                     {k: np.concatenate([a.rows[k], b.rows[k]]) for k in a.rows})
        return both.take(non_dominated(both.values, both.group)).ordered()

    def ordered(self) -> "Front":
        """Rows in a fixed order (held group, then the columns, then the point index), whatever
        order the parts came in."""
        keys = [self.index] + [self.values[:, j] for j in range(self.values.shape[1] - 1, -1, -1)] + [self.group]
        return self.take(np.lexsort(keys))


@dataclass
class DecisionSummary:
    """What a chunk contributes to the decisions: eligible points, the points each constraint
    excluded (feasible points outside its bounds), the closest point to meeting every
    constraint per group of the best points (least (shortfall, index)), and the running front."""

    n_meeting: int
    excluded: tuple
    closest: dict  # group -> (shortfall, point index, swept values, constrained results)
    front: Front | None = None


def decide(dec: Decisions | None, metrics: dict, ok: np.ndarray, coords, groups: np.ndarray,
           start: int, values: dict) -> tuple[np.ndarray, DecisionSummary | None]:
    """Apply the decisions to one chunk (none: every feasible point is eligible).

    Parameters
    ----------
    dec : Decisions or None
    metrics : dict
        The chunk's result columns; a ``meets_constraints`` column is added when there are
        constraints.
    ok : bool array
        Feasible points.
    coords : list of int arrays
        Each axis' value index of the chunk's points.
    groups : int array
        Each point's group of best points (held axes and ``--best-by``).
    start : int
        Index of the chunk's first point.
    values : dict
        The chunk's swept values (the closest points keep theirs).

    Returns
    -------
    eligible : bool array
        Feasible points within every bound (the points a best may be chosen among).
    summary : DecisionSummary
        Its ``front`` holds indices and values; :func:`keep_rows` adds the table's rows.
    """
    if dec is None or not dec.active:
        return ok, None
    check_columns(dec, metrics)  # the table's own columns (a few look-ups)
    n = len(ok)
    eligible = ok.copy()
    excluded, closest = [], {}
    if dec.constraints:
        short = np.zeros(n)
        for c in dec.constraints:
            s = c.shortfall(metrics[c.column])
            excluded.append(int(np.count_nonzero(ok & (s > 0))))
            short += s
        eligible &= short == 0
        metrics[MEETS] = eligible
        for g, j in least_per_group(np.where(ok, short, np.inf), groups):
            # kept with its swept values and constrained results: never evaluated again
            closest[g] = (float(short[j]), start + j, {k: _plain(v[j]) for k, v in values.items()},
                          {c.column: _plain(metrics[c.column][j]) for c in dec.constraints})
    front = None
    if dec.pareto:
        values = np.column_stack([sign * np.asarray(metrics[c], dtype=float) for c, sign in dec.pareto]) \
            if n else np.empty((0, len(dec.pareto)))
        use = eligible & np.all(np.isfinite(values), axis=1)
        held = dec.held_group(coords)
        held = np.zeros(n, dtype=np.int64) if held is None else np.asarray(held, dtype=np.int64)
        idx = np.flatnonzero(use)
        keep = idx[non_dominated(values[idx], held[idx])]
        front = Front(start + keep, held[keep], values[keep], {"_local": keep})
    return eligible, DecisionSummary(int(eligible.sum()), tuple(excluded), closest, front)


def keep_rows(summary: DecisionSummary | None, columns: dict) -> None:
    """Put the table's rows of the chunk's front points into ``summary.front`` (its columns are
    built after the decisions are taken)."""
    if summary is None or summary.front is None:
        return
    f = summary.front
    local = f.rows.pop("_local")
    for k, v in columns.items():  # a constant column (FixedColumn) is not expanded to the chunk's length
        f.rows[k] = np.asarray(v)[local] if hasattr(v, "dtype") else np.full(
            len(local), v.value, dtype=object if isinstance(v.value, str) else None)


def least_per_group(values: np.ndarray, groups: np.ndarray) -> list[tuple[int, int]]:
    """``(group, position)`` of the least finite value of each group (the first position on ties)."""
    if not len(values):
        return []
    order = np.lexsort((values, groups))
    first = order[np.r_[True, groups[order][1:] != groups[order][:-1]]]
    return [(int(groups[j]), int(j)) for j in first if np.isfinite(values[j])]


def merge(into: DecisionSummary | None, part: DecisionSummary | None) -> DecisionSummary | None:
    """Add a chunk's summary to the running one (any order gives the same result)."""
    if part is None:
        return into
    if into is None:
        return DecisionSummary(part.n_meeting, part.excluded, dict(part.closest),
                               None if part.front is None else part.front.ordered())
    into.n_meeting += part.n_meeting
    into.excluded = tuple(a + b for a, b in zip(into.excluded, part.excluded))
    for g, found in part.closest.items():
        if g not in into.closest or found[:2] < into.closest[g][:2]:
            into.closest[g] = found
    into.front = Front.join(into.front, part.front)
    return into


# -- the non-dominated points ------------------------------------------------------------------------
def non_dominated(values: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Positions of the points no other point of their group dominates (every column minimised).

    A point dominates another when it is no worse in every column and better in one; equal
    points do not dominate each other (both stay). Two columns: one sort (O(n log n)), all groups
    at once. Three: the points in lexicographic order, each not yet dominated one removing the
    points it dominates (O(n x front size)), group by group.

    Parameters
    ----------
    values : (n, k) float array
        Finite values, each column to be minimised.
    groups : (n,) int array, optional
        Points are compared only within their group.

    Returns
    -------
    int array
        Positions into ``values``, ascending.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    groups = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    if n > PREFILTER_ABOVE:  # most points of a chunk fall to one point of their group: drop them first
        alive = np.flatnonzero(_not_dominated_by_a_pivot(values, groups))
        if len(alive) < n:
            return alive[non_dominated(values[alive], groups[alive])]
    g = np.unique(groups, return_inverse=True)[1].ravel().astype(np.int64)
    if values.shape[1] == 2:
        return _front_2d(values, g)
    out = []
    order = np.argsort(g, kind="stable")
    bounds = np.flatnonzero(np.r_[True, g[order][1:] != g[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        members = order[a:b]
        out.append(members[_front_kd(values[members])])
    return np.sort(np.concatenate(out))


#: Points above which :func:`non_dominated` first drops those a pivot of their group dominates.
PREFILTER_ABOVE = 2048
#: Most distinct groups a chunk may have for that (one pass over the points per group).
PREFILTER_GROUPS = 16


def _not_dominated_by_a_pivot(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Points that the lexicographically least point of their group does not dominate (that point
    is on the front, so the others it dominates are not): a few O(n) passes per group, when a chunk
    holds at most :data:`PREFILTER_GROUPS` groups; else every point."""
    lo, hi = int(groups.min()), int(groups.max())
    keep = np.ones(len(values), dtype=bool)
    if hi - lo >= PREFILTER_GROUPS:
        return keep
    for u in range(lo, hi + 1):
        mine = groups == u
        if not mine.any():
            continue
        cand = mine
        for j in range(values.shape[1]):  # the least first value, then the least second among those ...
            col = np.where(cand, values[:, j], np.inf)
            cand = cand & (col == col.min())
        pivot = values[np.flatnonzero(cand)[0]]
        keep &= ~mine | np.any(values < pivot, axis=1) | np.all(values == pivot, axis=1)
    return keep


def _front_2d(values: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Two columns, groups ``g`` (0..G-1): a point is non-dominated when its second value is the
    least among the points of its group with the same first value, and below every second value
    of the points of its group with a smaller first value."""
    a = np.unique(values[:, 0], return_inverse=True)[1].ravel().astype(np.int64)
    b = np.unique(values[:, 1], return_inverse=True)[1].ravel().astype(np.int64)
    order = np.lexsort((b, a, g))
    gs, as_, bs = g[order], a[order], b[order]
    run = np.r_[True, (gs[1:] != gs[:-1]) | (as_[1:] != as_[:-1])]  # first point of each (group, a)
    run_id = np.cumsum(run) - 1
    run_b = bs[run]  # least b of each run (sorted by b within it)
    # least b over the earlier runs of the same group: ranks offset by group so that a group's
    # running minimum never sees an earlier group's (every earlier group's keys are larger)
    big = int(b.max()) + 1
    key = run_b - gs[run] * big
    earlier = np.r_[np.iinfo(np.int64).max, np.minimum.accumulate(key)[:-1]]
    mine = bs - gs * big
    keep = (bs == run_b[run_id]) & (mine < earlier[run_id])
    return np.sort(order[keep])


def _front_kd(values: np.ndarray) -> np.ndarray:
    """Any number of columns, one group: lexicographic order, each surviving point in turn removes
    those it dominates."""
    order = np.lexsort(values.T[::-1])
    pts = values[order]
    alive = np.arange(len(pts))
    i = 0
    while i < len(alive):
        p = pts[alive[i]]
        rest = pts[alive]
        keep = np.any(rest < p, axis=1) | np.all(rest == p, axis=1)
        keep[: i + 1] = True  # earlier survivors are not dominated by a later point
        alive = alive[keep]
        i += 1
    return np.sort(order[alive])


# -- setting a sweep's decisions up ---------------------------------------------------------------------
def held_axes(scenario, space) -> tuple[list[int], list[str]]:
    """The space's held axes and the swept paths that are choices.

    An axis is held when one of its paths lies at or below a path of :data:`HELD_BY_DEFAULT` that
    the scenario does not ``choose``, or at or below a path it ``hold``s (a zip axis is held when
    any of its paths is).

    Raises
    ------
    InputError
        A path both held and chosen, or a ``hold`` path that is not swept.
    """
    file = scenario.file
    for i, p in enumerate(scenario.choose):
        if any(related(p, h) for h in scenario.hold):
            raise InputError(f"{p!r} is both held (hold) and chosen (choose)", file=file, field=f"choose[{i}]")
    swept = [p for axis in space.axes for p in axis.paths]
    for i, p in enumerate(scenario.hold):
        if not any(related(p, q) for q in swept):
            raise InputError(f"{p!r} is not a sweep axis (swept: {', '.join(swept) or 'none'}); an axis that is "
                             "not swept is held already", file=file, field=f"hold[{i}]")
    held = []
    for a, axis in enumerate(space.axes):
        for path in axis.paths:
            by_default = any(related(path, h) for h in HELD_BY_DEFAULT) and \
                not any(related(path, c) for c in scenario.choose)
            if by_default or any(related(path, h) for h in scenario.hold):
                held.append(a)
                break
    chosen = [p for a, axis in enumerate(space.axes) if a not in held for p in axis.paths]
    return held, chosen


def pareto_columns(scenario, option=None) -> tuple:
    """``((column, sign), ...)`` of the front: ``option`` (``--pareto``, a list) or the scenario's
    ``pareto.columns``; each minimised (+1) or maximised (-1) by its meaning unless the scenario's
    ``pareto.maximise`` / ``minimise`` says otherwise."""
    spec = scenario.pareto or {}
    cols = list(option) if option else list(spec.get("columns") or [])
    if not cols:
        return ()
    if option:
        if not 2 <= len(cols) <= 3 or len(set(cols)) != len(cols):
            raise OptionError(f"expected two or three different result columns, found {', '.join(cols)}", "pareto")
    up, down = set(spec.get("maximise") or []), set(spec.get("minimise") or [])
    return tuple((c, -1 if c in up or (c not in down and result_sense(c) == "max") else 1) for c in cols)


def constraints_of(scenario) -> tuple:
    return tuple(Constraint(c, b.get("min", -np.inf), b.get("max", np.inf)) for c, b in scenario.constraints.items())


def check_columns(dec: Decisions, results: dict, known=()) -> None:
    """Every constraint and front column must be a numeric result column of the sweep's table.

    Parameters
    ----------
    results : dict
        Result columns: a chunk's (the table's), or the evaluator's for no points (cheap, before
        the run: a column that depends on the points, such as a server's operational rate without
        a grid, is missing there, so names in ``known`` pass that early check and meet the chunk's).
    known : collection of str
        Names every kind may give (:data:`carbonsim.engine.chain.RESULT_UNITS`).

    Raises
    ------
    InputError
        Naming ``constraints.COLUMN`` (or ``--pareto`` / ``pareto.columns``) and listing the columns.
    """
    numeric = [k for k, v in results.items() if np.asarray(v).dtype != object]
    ok = set(numeric) | (set(known) - {k for k, v in results.items() if np.asarray(v).dtype == object})
    listing = ", ".join(numeric)
    for c in dec.constraints:
        if c.column not in ok:
            raise InputError(f"{c.column!r} is not a numeric result column of {dec.kind} sweeps; constraints bound "
                             f"one of: {listing}", file=dec.file, field=f"constraints.{c.column}")
    for c, _ in dec.pareto:
        if c not in ok:
            message = f"{c!r} is not a numeric result column of {dec.kind} sweeps; fronts take two or three of: {listing}"
            if dec.pareto_option:
                raise OptionError(message, "pareto")
            raise InputError(message, file=dec.file, field="pareto.columns")


def probe(evaluator, expansion) -> dict:
    """The result columns of a kind's points, from an evaluation of no points (no kernels loaded)."""
    return replace(evaluator, compiled=False).evaluate(expansion.chunk(0, 0))


# -- reporting ---------------------------------------------------------------------------------------------
def constraint_report(dec: Decisions, summary: DecisionSummary | None, n_feasible: int) -> dict | None:
    """What ``meta.json``, ``--format json`` and the summary say about the constraints."""
    if not dec.constraints or summary is None:
        return None
    excluded = {c.text(): n for c, n in zip(dec.constraints, summary.excluded)}
    most = max(excluded, key=excluded.get) if any(excluded.values()) else None
    return {"bounds": [c.as_dict() for c in dec.constraints], "feasible_points": n_feasible,
            "meeting_points": summary.n_meeting, "excluded": excluded, "most_excluding": most}


def none_meets(file: str, report: dict, closest: dict | None, table: str | None) -> NoFeasibleAnswer:
    """The one-line answer when no feasible point meets the constraints (exit 3)."""
    parts = [f"{t} excluded {n:,} of the {report['feasible_points']:,} feasible points"
             for t, n in sorted(report["excluded"].items(), key=lambda kv: -kv[1]) if n]
    tightest = f"; the tightest: {report['most_excluding']}" if report["most_excluding"] else ""
    near = ""
    if closest:
        at = ", ".join(f"{k}={_short(v)}" for k, v in closest["params"].items()) or "the scenario's own point"
        got = ", ".join(f"{k} {_short(v)}" for k, v in closest["values"].items())
        near = f"; the closest point: {at} ({got})"
    where = (f"; each point's {MEETS} is in {table}" if table
             else "; run without --no-write for the table of every point")
    return NoFeasibleAnswer(f"no point meets the constraints: {'; '.join(parts) or 'none of them holds'}{tightest}"
                            f"{near}{where}", file=file, field="constraints")


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def eligible_rows(frame, result) -> np.ndarray:
    """Rows of a sweep's table a recommendation may use: feasible, within the constraints and at
    the scenario's own held values (budgets' ``point: best``).

    Raises
    ------
    InputError
        The scenario's own value of a held axis is not among the swept values (no own group).
    """
    ok = np.ones(len(frame), dtype=bool)
    for col in ("feasible", MEETS):
        if col in frame:
            ok &= frame[col].to_numpy().astype(bool)
    own = (result.decisions or {}).get("own")
    if own is None:
        held = ", ".join((result.decisions or {}).get("held", []))
        raise InputError(f"the scenario's own value of the held axis {held} is not among the swept values, so no "
                         "best point keeps its circumstances", file=result.scenario.file, field="sweep")
    for path, value in own.items():
        ok &= (frame[path] == value).to_numpy()
    return ok


def pareto_frame(points, columns, maximise=(), minimise=(), held=(), eligible=None):
    """The non-dominated rows of a table (pandas), per combination of ``held`` columns.

    Parameters
    ----------
    points : pandas.DataFrame
    columns : list of str
        Two or three numeric columns.
    maximise, minimise : list of str
        Directions that differ from the columns' meaning (:func:`result_sense`).
    held : list of str
        Columns whose every combination has its own front.
    eligible : bool array, optional
        Rows that may be on the front (default: feasible and meeting the constraints, where the
        table has those columns).
    """
    cols = list(columns)
    if not 2 <= len(cols) <= 3 or len(set(cols)) != len(cols):
        raise OptionError(f"expected two or three different columns, found {cols}", "columns")
    for c in cols:
        if c not in points or points[c].dtype == object:
            numeric = [k for k in points if points[k].dtype != object]
            raise OptionError(f"{c!r} is not a numeric column of the table (columns: {', '.join(numeric)})",
                              "columns")
    signs = [-1 if c in maximise or (c not in minimise and result_sense(c) == "max") else 1 for c in cols]
    values = np.column_stack([s * points[c].to_numpy(dtype=float) for c, s in zip(cols, signs)])
    if eligible is None:
        eligible = np.ones(len(points), dtype=bool)
        for col in ("feasible", MEETS):
            if col in points:
                eligible &= points[col].to_numpy().astype(bool)
    use = np.flatnonzero(np.asarray(eligible) & np.all(np.isfinite(values), axis=1))
    held = [h for h in held if h in points]
    group = np.zeros(len(points), dtype=np.int64)
    if held:
        group = points.groupby(held, sort=False, dropna=False).ngroup().to_numpy()  # table order
    keep = use[non_dominated(values[use], group[use])]
    f = Front(keep, group[keep], values[keep]).ordered()
    return points.iloc[f.index].reset_index(drop=True)
