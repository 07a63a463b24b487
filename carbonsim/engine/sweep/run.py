"""Run a sweep (layer 2): expand the space in chunks, evaluate them through the chain, write a tidy
table, find the best points (overall and per group), and compare them with the baseline.

Memory stays bounded by the chunk size whatever the number of points. Chunks are evaluated by an
executor: in this process (default), or on Dask (:mod:`carbonsim.engine.sweep.executors`); both
give the same rows in the same order. Output goes into a temporary folder that replaces the
previous result only when the whole sweep succeeded (:class:`carbonsim.engine.outputs.OutputFolder`).
"""

from __future__ import annotations

import itertools
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import RESULT_UNITS
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import DEFAULT_SET
from carbonsim.engine.inputs.options import check_options
from carbonsim.engine.outputs import OutputFolder, write_error
from carbonsim.engine.sweep.chunks import (
    ChunkPlan, ChunkSummary, arrow_table, as_arrays, evaluate_chunk, parquet_options, point_row, row_of,
)
from carbonsim.engine.sweep.columns import fixed_inputs
from carbonsim.engine.sweep import decisions as dm
from carbonsim.engine.sweep.kinds import kind_of
from carbonsim.engine.sweep.scenario import Scenario
from carbonsim.engine.sweep.space import Space
from carbonsim.errors import InputError, OptionError
from carbonsim.version import __version__

#: Points per chunk: 65,536 points of about 100 rows are 50 MB, reused from chunk to chunk.
DEFAULT_CHUNK = 1 << 16
#: First chunk of an adaptive run; chunks double while one takes under TARGET_CHUNK_S.
FIRST_CHUNK = 4096
TARGET_CHUNK_S = 0.25


@dataclass
class Best:
    """The best point for one objective (in one group of ``--best-by``)."""

    objective: str
    column: str
    value: float
    index: int
    params: dict
    metrics: dict
    baseline_value: float | None
    group: dict = field(default_factory=dict)
    baseline_note: str | None = None
    #: The held circumstances of its group (docs/sweep.md): path -> value.
    held: dict = field(default_factory=dict)
    #: Whether the baseline meets the scenario's constraints (None without constraints): a best
    #: that meets them may cost more than a baseline that does not.
    baseline_meets: bool | None = None

    @property
    def saving(self) -> float | None:
        """Fractional saving of the best point against the baseline (``1 - best / baseline``);
        None when the baseline is outside the swept range, infeasible or zero."""
        if self.baseline_note or self.baseline_value in (None, 0) or self.baseline_value != self.baseline_value:
            return None
        return 1.0 - self.value / self.baseline_value


@dataclass
class SweepResult:
    scenario: Scenario
    points: int
    feasible_points: int
    best: dict[str, Best]
    baseline: dict
    results: str | None
    meta: dict
    elapsed_s: float
    columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    best_by: list[Best] = field(default_factory=list)
    frame: object = None  # pandas DataFrame of every point when collected
    lifecycle: dict | None = None  # refresh-policy sweeps: per-policy totals, best policies, per-year tables
    units: dict = field(default_factory=dict)  # column -> unit of every column of the table
    #: Time spent evaluating (and writing) the points, without compiling or loading the kernels
    #: and without drawing figures [s]: the rate reported is points / eval_s.
    eval_s: float | None = None
    #: Time spent compiling or loading the compiled kernels before the first chunk [s], with the
    #: evaluation of the point they were loaded on (``warm_points``, kept as the run's first).
    compile_s: float = 0.0
    warm_points: int = 0
    #: Held and chosen axes, the scenario's own held values, the constraints' counts, groups where
    #: no point meets them, and the front's columns (docs/sweep.md); also in ``meta["decisions"]``.
    decisions: dict = field(default_factory=dict)
    #: The Pareto front (a pandas DataFrame of its rows) when one was asked for.
    pareto: object = None

    @property
    def timed_s(self) -> float:
        """Seconds the rate is over: the evaluation, or with the kernels' loading when that was
        every point (a one-point sweep)."""
        if self.eval_s is None:
            return self.elapsed_s
        return self.eval_s + (self.compile_s if self.warm_points >= self.points else 0.0)

    @property
    def points_per_s(self) -> float:
        warm = self.warm_points if self.eval_s is not None and self.warm_points < self.points else 0
        return (self.points - warm) / max(self.timed_s, 1e-9)


def run_sweep(scenario: Scenario, db: Database, out_dir: str | Path | None = None, fmt: str = "parquet",
              chunk: int = DEFAULT_CHUNK, progress=None, max_points: int = 2_000_000_000, best_by=None,
              executor: str | None = None, collect: bool = False, figures=None, samples: int = 0,
              seed: int = 0, pareto=None, pareto_figure=None) -> SweepResult:
    """Evaluate every point of ``scenario``.

    Parameters
    ----------
    scenario : Scenario
    db : Database
    out_dir : path or None
        Folder for the table (``points.parquet`` or ``points.csv``), ``meta.json`` and figures;
        None writes nothing.
    fmt : {"parquet", "csv"}
        File type of the table.
    chunk : int
        Largest number of points evaluated at once (memory: about 8 bytes x rows x chunk).
    progress : callable(done, total, message=None) or None
    best_by : list of str, optional
        Swept or fixed columns: report the best point of each combination of their values too.
    executor : None, "local" or str
        None evaluates in this process; "local" starts a Dask LocalCluster; any other text is the
        address of a Dask scheduler.
    collect : bool
        Keep every point in memory and return it as ``result.frame`` (a pandas DataFrame).
    figures : callable(points, folder, title, grid=None) -> list of paths, optional
        Draws figures into the output folder before it is put in place.
    samples, seed : int
        Server sweeps: draws of each point's ranged embodied inputs and lifetimes, for p5/p95
        columns of its embodied kg, total rate and total over its period (the same seeded draws
        for every point).
    pareto : list of str, optional
        Two or three result columns: write their Pareto front (``pareto.parquet`` or
        ``pareto.csv``) and return it as ``result.pareto`` (default: the scenario's ``pareto``).
    pareto_figure : callable(points, front, columns, maximise, folder, title, held) -> list of paths, optional
        Draws the front into the output folder.
    """
    t0 = time.perf_counter()
    check_options(samples=samples, seed=seed)
    kind = kind_of(scenario)  # server, offline, online, lifecycle or training (sweep/kinds.py)
    builder = kind.points(db, scenario.file, samples)
    space = Space(scenario.doc, scenario.product, scenario.zipped, builder)
    ev = kind.evaluator(scenario, space, samples, seed)
    if progress is not None and ev.compiled and not _kernels_cached(kind.mode):
        progress(0, space.size, "compiling kernels (first run only)…")
    if space.size > max_points:
        raise InputError(f"the sweep has {space.size:,} points; the limit is {max_points:,}",
                         file=scenario.file, field="sweep")
    if out_dir is None and figures is not None:
        raise OptionError("figures are drawn into the results folder; give one (no --no-write)", "plots")
    warnings = _basis_warnings(scenario, builder)
    objectives = [(o, kind.objective_column(o)) for o in scenario.objectives]
    fixed = fixed_inputs(scenario.doc, kind.fixed_inputs, set(space.columns()))
    best_by, collect = kind.run_options(space, best_by, collect)
    held, chosen = dm.held_axes(scenario, space)  # circumstances: the best is chosen within their values
    group_axes = held + [a for a in _group_axes(best_by or [], space, fixed) if a not in held]
    dec = dm.Decisions(dm.constraints_of(scenario), dm.pareto_columns(scenario, pareto), tuple(held), space.shape,
                       scenario.file, kind.name, bool(pareto))
    if dec.active:  # names no kind gives fail here, before any point is evaluated
        dm.check_columns(dec, dm.probe(ev, space.expansion), RESULT_UNITS)
    baselines = _baselines(space, group_axes)
    keep = sorted({i for i, _ in baselines.values() if i is not None})
    plan = ChunkPlan(space.expansion, ev, objectives, group_axes, fixed, scenario.file, kind,
                     dec if dec.active else None, np.asarray(keep, dtype=np.int64))

    folder = OutputFolder(out_dir) if out_dir is not None else None
    t_compile = time.perf_counter()
    first = None
    if ev.compiled and space.size and executor is None:
        # compile (or load) the kernels outside the timed evaluation, on the first point, whose
        # results are kept as the run's first chunk (every point is evaluated once)
        first = evaluate_chunk(plan, 0, 1)
    compile_s = time.perf_counter() - t_compile
    try:
        t_eval = time.perf_counter()
        if executor is None:
            found, table, frames = _run_local(plan, space.size, chunk, folder, fmt, progress, collect, first)
        else:
            from carbonsim.engine.sweep.executors import run_dask

            found, table, frames = run_dask(plan, space.size, chunk, folder, fmt, progress, collect, executor)
        eval_s = time.perf_counter() - t_eval
        columns, n_feasible, tally = found.columns, found.n_feasible, found.decisions
        base_row = _base_row(plan, space, baselines, found)
        decided = _decided(scenario, space, dec, held, chosen, tally, n_feasible)
        if n_feasible == 0:  # a valid question without an answer: the table still shows why
            from carbonsim.engine.sweep.infeasible import no_feasible

            written = None
            if folder is not None:
                meta = _meta(scenario, space, 0, builder, warnings, executor, db)
                meta["columns"] = plan.units(columns)
                written = str(folder.commit(meta) / table)
            counts = dict(sorted(found.reasons.items(), key=lambda p: -p[1]))
            raise no_feasible(scenario.file, space.size, counts, space.size, written,
                              base_row[1].get("infeasible_reason"))
        if dec.constraints and tally.n_meeting == 0:  # no feasible point meets them: the table says which do not
            written = None
            if folder is not None:
                meta = _meta(scenario, space, n_feasible, builder, warnings, executor, db)
                meta["columns"], meta["decisions"] = plan.units(columns), decided
                written = str(folder.commit(meta) / table)
            closest = min(tally.closest.values(), key=lambda c: c[:2], default=None)
            raise dm.none_meets(scenario.file, decided["constraints"],
                                None if closest is None else {"params": closest[2], "values": closest[3]}, written)
        best_all, best_groups, base_metrics, unmet = _best_points(plan, space, found, baselines, base_row, held)
        if unmet:
            decided["unmet_groups"] = unmet
        warnings += kind.warnings(scenario, base_metrics, best_all)
        meta = _meta(scenario, space, n_feasible, builder, warnings, executor, db)
        meta["decisions"] = decided
        units = plan.units(columns)
        front = None
        if tally is not None and tally.front is not None:
            front = _front_frame(tally.front, columns)
        frame = None
        if collect:
            import pandas as pd

            frame = pd.concat(frames, ignore_index=True) if frames else None
        extra = kind.report(scenario, builder, space, frame, fixed, folder.path if folder is not None else None, found)
        results = None
        if folder is not None:
            if figures is not None:
                import pandas as pd

                points = frame if frame is not None else pd.read_parquet(folder.path / table) \
                    if fmt == "parquet" else pd.read_csv(folder.path / table)
                base_grid = (scenario.doc.get("datacenter") or {}).get("grid")
                drawn = figures(points, folder.path, scenario.name,
                                grid=base_grid if "datacenter.grid" in points
                                and base_grid in set(points["datacenter.grid"]) else None)
                meta["figures"] = list(dict.fromkeys(Path(p).stem for p in drawn))
                if not drawn:
                    warnings.append("--plots: no figure applies to this table (docs/figures.md says what each "
                                    "figure needs: two or more grids, batch sizes or request rates, say)")
            if front is not None:
                meta["pareto_table"] = _write_front(front, folder.path, fmt, units)
                if pareto_figure is not None:
                    points = frame if frame is not None else _read_columns(folder.path / table, fmt, front.columns)
                    drawn = pareto_figure(points, front, [c for c, _ in dec.pareto],
                                          [c for c, sign in dec.pareto if sign < 0], folder.path, scenario.name,
                                          [p for a in held for p in space.axes[a].paths])
                    meta["figures"] = meta.get("figures", []) + list(dict.fromkeys(Path(p).stem for p in drawn))
            meta["columns"] = units
            if extra is not None:
                meta.update(extra.pop("meta", {}))
            target = folder.commit(meta)
            results = str(target / table)
        if "feasible" in base_metrics and not base_metrics["feasible"]:  # its numbers mean nothing: not shown
            base_metrics = {"feasible": False, "infeasible_reason": base_metrics.get("infeasible_reason")}
        result = SweepResult(scenario, space.size, n_feasible, best_all, base_metrics, results, meta,
                             time.perf_counter() - t0, space.columns(), warnings, best_groups, frame, units=units,
                             eval_s=eval_s, compile_s=compile_s, warm_points=0 if first is None else 1,
                             decisions=decided, pareto=front)
        if extra is not None:  # a refresh-policy sweep: per-policy totals, best policies, per-year tables
            result.lifecycle = extra
            result.warnings.extend(extra.get("notes", []))
        return result
    except OSError as exc:
        raise write_error(exc, out_dir) from None
    finally:
        if folder is not None:
            folder.discard()


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _group_axes(keys: list[str], space: Space, fixed: dict) -> list[int]:
    axes = []
    for k in keys:
        found = [a for a, axis in enumerate(space.axes) if k in axis.paths]
        if found:
            if found[0] not in axes:
                axes.append(found[0])
        elif k not in fixed:
            swept = ", ".join(space.columns()) or "none"
            raise OptionError(f"{k!r} is not a column of this sweep (swept: {swept})", "best_by")
    return axes


def _run_local(plan, size, chunk, folder, fmt, progress, collect, first=None):
    """Chunks in this process: adaptive sizes (progress at least every TARGET_CHUNK_S), one table file.
    ``first``: the chunk of point 0 already evaluated (loading the kernels), taken as it is."""
    writer = None
    table = "points.parquet" if fmt == "parquet" else "points.csv"
    if folder is not None:
        writer = _Writer(folder.path / table, fmt, plan.units)
    found, frames = ChunkSummary(0, {}), []
    step = min(chunk, FIRST_CHUNK)
    start = 0
    try:
        while start < size:
            stop = min(size, start + step)
            t = time.perf_counter()
            if start == 0 and first is not None:
                (columns, summary), stop = first, 1
            else:
                columns, summary = evaluate_chunk(plan, start, stop)
            found.add(summary)
            if writer is not None:
                writer.write(columns)
            if collect:
                import pandas as pd

                frames.append(pd.DataFrame(as_arrays(columns)))
            if progress is not None:
                progress(stop, size)
            if time.perf_counter() - t < TARGET_CHUNK_S:
                step = min(chunk, step * 2)
            start = stop
        if writer is not None:
            writer.close()
    finally:
        if writer is not None:
            writer.close()
    return found, table, frames


def _kernels_cached(mode: str) -> bool:
    """Whether Numba's on-disk cache already holds the kernels a sweep of ``mode`` runs (else they compile)."""
    try:
        from carbonsim.models.embodied._kernels import server_components_kernel

        kernels = [server_components_kernel]
        if mode == "online":
            from carbonsim.models.serving._kernels import simulate_many_kernel

            kernels.append(simulate_many_kernel)
        elif mode == "tasks":
            from carbonsim.models.perf._kernels import offline_task_kernel

            kernels.append(offline_task_kernel)
        elif mode == "fleet":
            from carbonsim.models.lifecycle._kernels import _fleet

            kernels = [_fleet]
        for k in kernels:
            if k.signatures:
                continue
            cache = getattr(k, "_cache", None)
            index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
            if index is None or not Path(index).exists():
                return False
        return True
    except Exception:  # noqa: BLE001 - a hint only; never fail a sweep over it
        return True


def _baselines(space: Space, group_axes: list[int]) -> dict:
    """The baseline point of the whole space (key ``()``) and of each group (held axes and
    ``--best-by``; key: its ``(axis, value index)`` pairs): ``(point index, None)``, or ``(None,
    note)`` when the scenario's own value of an axis is not among the swept ones. A group's
    baseline is the scenario's own point with the group's values."""
    base_coords = space.base_coords()
    shape = space.expansion.shape

    def one(group: dict):
        coords = [group.get(a, base_coords[a]) for a in range(len(space.axes))]
        if any(c is None for c in coords):
            missing = [p for a, c in enumerate(coords) if c is None for p in space.axes[a].paths]
            return None, f"the scenario's own {', '.join(missing)} is not among the swept values"
        return (int(np.ravel_multi_index(coords, shape)) if shape else 0), None

    out = {(): one({})}
    if group_axes:
        for combo in itertools.product(*[range(shape[a]) for a in group_axes]):
            group = dict(zip(group_axes, combo))
            out[tuple(sorted(group.items()))] = one(group)
    return out


def _base_row(plan: ChunkPlan, space: Space, baselines: dict, found: ChunkSummary) -> tuple[dict, dict]:
    """The scenario's own point: kept from the chunks when it is a point of the space; otherwise
    (an axis leaves out the scenario's value) evaluated here, the one point outside the space."""
    index = baselines[()][0]
    if index is not None:
        return row_of(found.kept[index])
    res = plan.evaluator.evaluate(space.base[:, None])
    return point_row({}, {k: v for k, v in res.items() if np.ndim(v) == 1}, 0)  # a fleet's years left out


def _best_points(plan: ChunkPlan, space: Space, found: ChunkSummary, baselines: dict, base_row,
                 held: list[int] = ()):
    """Best points of the scenario's own held group and of every group, each with its baseline
    (the scenario's own values with the group's), the base point's results, and the groups where
    no feasible point meets the constraints (with their closest point). Every row is kept from the
    chunk that evaluated it (no point is evaluated twice).

    The best of an objective is chosen within the combination of held values the scenario itself
    has (its circumstances), never across held values; when the scenario's own value of a held
    axis is not swept there is no such best (only the groups')."""
    ex = plan.expansion
    base_coords = space.base_coords()
    best, tally = found.best, found.decisions
    gshape = [ex.shape[a] for a in plan.group_axes]

    cache: dict = {}

    def group_coords(g: int) -> dict:
        if g not in cache:
            cache[g] = dict(zip(plan.group_axes, (int(c) for c in np.unravel_index(g, gshape)))) if gshape else {}
        return cache[g]

    own = {a: base_coords[a] for a in held}
    plans = []  # (objective, column, (value, index, row), group coords or None for the own group's best)
    for objective, column in plan.objectives:
        mine = [b for (o, g), b in best.items()
                if o == objective and all(group_coords(g).get(a) == c for a, c in own.items())]
        if mine and None not in own.values():
            plans.append((objective, column, min(mine, key=lambda b: b[:2]), None))
        if plan.group_axes:
            for (o, g), b in sorted(best.items(), key=lambda kv: kv[0][1]):
                if o == objective:
                    plans.append((objective, column, b, group_coords(g)))
    unmet = []  # groups where no feasible point meets the constraints, with their closest point (kept)
    if tally is not None and tally.closest:
        answered = {g for (_, g) in best}
        for g, (_, i, params, got) in sorted(tally.closest.items()):
            if g not in answered:
                on_group = {p for a in group_coords(g) for p in space.axes[a].paths}
                unmet.append({"group": {k: v for k, v in params.items() if k in on_group},
                              "held": {p: params[p] for a in held for p in space.axes[a].paths},
                              "closest": {"params": {k: v for k, v in params.items() if k not in on_group},
                                          "values": got, "point_index": int(i)}})

    def on(params: dict, axes) -> dict:
        return {p: params[p] for a in axes for p in space.axes[a].paths}

    def meets(m: dict | None) -> bool | None:
        """Whether a (feasible) baseline meets the constraints; None without constraints."""
        if m is None or plan.decisions is None or not plan.decisions.constraints:
            return None
        return bool(all(c.shortfall(np.asarray([m[c.column]], dtype=float))[0] == 0
                        for c in plan.decisions.constraints))

    base_metrics = dict(base_row[1])
    own_infeasible = "feasible" in base_metrics and not base_metrics["feasible"]
    overall, groups = {}, []
    for objective, column, (v, i, ref), gcoords in plans:
        params, point_metrics = (dict(x) for x in row_of(ref))
        b, note = baselines[tuple(sorted((gcoords or {}).items()))]
        m = None if b is None else dict(row_of(found.kept[b])[1])
        if m is not None and "feasible" in m and not m["feasible"]:  # never compared with, nor shown as a number
            m, note = None, f"the baseline point is infeasible ({m.get('infeasible_reason')})"
        if m is not None:
            base_value = m.get(column)
        elif own_infeasible and "infeasible" not in note:  # own point outside the space, and infeasible
            base_value, note = None, f"the scenario's own point is infeasible ({base_metrics.get('infeasible_reason')})"
        elif gcoords is None:  # own point outside the space (its value, for reference), or the baseline infeasible
            base_value = None if "infeasible" in note else base_metrics.get(column)
        else:
            base_value = None
        if gcoords is None:
            overall[objective] = Best(objective, column, v, i, params, point_metrics, base_value, on(params, held),
                                      note, on(params, held), meets(m))
        else:
            groups.append(Best(objective, column, v, i, params, point_metrics, base_value,
                               on(params, plan.group_axes), note, on(params, held), meets(m)))
    return overall, groups, base_metrics, unmet


def _decided(scenario: Scenario, space: Space, dec, held: list[int], chosen: list[str], tally,
             n_feasible: int) -> dict:
    """What the sweep decided with: held axes and the scenario's own values of them, chosen axes,
    the constraints' counts and the front's columns (``meta.json`` and ``--format json``)."""
    ex = space.expansion
    coords = space.base_coords()
    own = {}
    for j, (path, a) in enumerate(zip(ex.paths, ex.axis_of_path)):
        if a in held:
            own = None if own is None or coords[a] is None else {**own, path: _plain(ex.path_values[j][coords[a]])}
    out = {"held": [p for a in held for p in space.axes[a].paths], "chosen": chosen, "own": own,
           # circumstances the scenario made choices (choose:): the best may change them
           "chosen_circumstances": [p for p in chosen if any(dm.related(p, c) for c in scenario.choose)]}
    report = dm.constraint_report(dec, tally, n_feasible)
    if report is not None:
        out["constraints"] = report
    if dec.pareto:
        out["pareto"] = {"columns": [c for c, _ in dec.pareto],
                         "maximise": [c for c, sign in dec.pareto if sign < 0],
                         "points": 0 if tally is None or tally.front is None else len(tally.front)}
    return out


def _front_frame(front, columns):
    """The front's rows as a DataFrame, in the table's column order."""
    import pandas as pd

    return pd.DataFrame({k: front.rows[k] for k in columns if k in front.rows})


def _write_front(front, folder: Path, fmt: str, units: dict) -> str:
    """Write the front beside the points (``pareto.parquet`` or ``pareto.csv``); its file name."""
    name = "pareto.parquet" if fmt == "parquet" else "pareto.csv"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        t = arrow_table({k: front[k].to_numpy() for k in front.columns}, units)
        pq.write_table(t, folder / name, **parquet_options(t))
    else:
        front.to_csv(folder / name, index=False, float_format="%.9g")
    return name


def _read_columns(path: Path, fmt: str, wanted) -> object:
    """Some columns of a written table (a figure's background points)."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        have = set(pq.read_schema(path if path.is_file() else next(path.glob("*.parquet"))).names)
        return pd.read_parquet(path, columns=[c for c in wanted if c in have])
    return pd.read_csv(path, usecols=lambda c: c in set(wanted))


def _versions() -> dict:
    """Versions of Python and the packages that shape the numbers (a loaded package's own
    ``__version__``, else its installed metadata: read without importing it)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"carbonsim": __version__, "python": platform.python_version()}
    for name, module in (("numpy", "numpy"), ("numba", "numba"), ("scipy", "scipy"), ("pandas", "pandas"),
                         ("pyarrow", "pyarrow"), ("pyyaml", "yaml")):
        loaded = getattr(sys.modules.get(module), "__version__", None)
        try:
            out[name] = loaded if isinstance(loaded, str) else version(name)
        except PackageNotFoundError:
            pass
    return out


def _meta(scenario: Scenario, space: Space, n_feasible: int, builder, warnings, executor, db=None) -> dict:
    grid = builder.grid(scenario.doc)
    layers = [str(d) for d in db.dirs] if db is not None else []
    return {
        "carbonsim_version": __version__,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": _versions(),
        "scenario": scenario.name,
        "scenario_file": scenario.file,
        "scenario_hash": scenario.hash(),
        "resolved_scenario": {**scenario.doc, "sweep": {"product": scenario.product, "zip": scenario.zipped},
                              "objectives": scenario.objectives,
                              **{k: v for k, v in scenario.decisions().items() if v}},
        "coefficients": scenario.doc.get("coefficients") or DEFAULT_SET,
        # the scenario's own grid as resolved: its label names the year(s) it stands for
        "grid": None if grid is None else {"label": grid.label, "year": grid.year,
                                           "period": list(grid.period) if grid.period else None},
        "points": space.size,
        "feasible_points": n_feasible,
        "axes": {a.kind + ":" + "+".join(a.paths): a.size for a in space.axes},
        "objectives": scenario.objectives,
        "sources": sorted(_sources(builder, scenario)),
        "executor": executor or "in-process",
        "warnings": warnings,
        # the database: its layers (0 = shipped, then each --db folder) and every file read, hashed
        "db_layers": layers,
        "db_files_sha256": db.files_used() if db is not None else {},
    }


class _Writer:
    """Chunked Parquet or CSV writer; units go into the Parquet schema's field metadata.

    Parquet chunks are written on a background thread (Arrow releases the GIL while it encodes
    and writes) while the next chunk is evaluated; at most one write is in flight, so memory
    holds two chunks and the point buffers a chunk's columns may share are not reused before its
    write is done (:meth:`Expansion.chunk` alternates two buffers).
    """

    def __init__(self, path: Path, fmt: str, units=None):
        self.path, self.fmt = path, fmt
        self._pq = None
        self._fh = None
        self._pool = None
        self._pending = None
        self._units_of = units  # columns -> {column: unit}, for the Parquet schema
        self._units: dict | None = None

    def write(self, columns: dict[str, np.ndarray]) -> None:
        if self._units is None:
            self._units = self._units_of(columns) if self._units_of is not None else {}
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            table = arrow_table(columns, self._units)
            self._wait()
            if self._pq is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pq = pq.ParquetWriter(self.path, table.schema, **parquet_options(table))
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="carbonsim-parquet")
            self._pending = self._pool.submit(self._pq.write_table, table)
        else:
            import pandas as pd

            header = self._fh is None
            if header:
                self._fh = open(self.path, "w", newline="", encoding="utf-8")
            pd.DataFrame(as_arrays(columns)).to_csv(self._fh, header=header, index=False, float_format="%.9g")

    def _wait(self) -> None:
        """Finish the write in flight (its error, if any, is raised here)."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        """Finish writing and close the file (idempotent)."""
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._pq is not None:
                self._pq.close()
                self._pq = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _basis_warnings(scenario: Scenario, builder) -> list[str]:
    """A warning when the grids a sweep compares are on different bases (never mixed silently)."""
    values = list(scenario.product.get("datacenter.grid") or scenario.zipped.get("datacenter.grid") or [])
    if not values:
        return []
    bases: dict[str, list[str]] = {}
    for v in values:
        g = builder.grid({"datacenter": {"grid": v}})
        bases.setdefault(g.basis, []).append(str(v))
    if len(bases) < 2:
        return []
    parts = "; ".join(f"{b}: {', '.join(v)}" for b, v in bases.items())
    return [f"datacenter.grid compares intensities on different bases ({parts}); direct-combustion "
            "values leave out upstream emissions and read lower than lifecycle ones"]


def _sources(builder, scenario: Scenario) -> set[str]:
    col = builder.column(scenario.doc)
    found = set(col.sources)
    g = builder.grid(scenario.doc)
    if g is not None:
        found |= set(g.sources)
    return found
