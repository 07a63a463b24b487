"""Run a sweep: expand the space in chunks, evaluate, write a tidy table, find the best points.

Memory stays bounded by the chunk size whatever the number of points. Output files are written
into a temporary directory that is renamed into place only when the whole sweep succeeded, so a
failed run leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import carbonsim
from carbonsim.engine.db.store import Database
from carbonsim.errors import InputError
from carbonsim.engine.outputs import OutputFolder, write_error
from carbonsim.engine.sweep.scenario import Scenario
from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.inputs.coefficients import DEFAULT_SET
from carbonsim.engine.sweep.evaluators import Evaluator
from carbonsim.engine.sweep.points import PointBuilder
from carbonsim.engine.sweep.space import Space

DEFAULT_CHUNK = 1 << 18


@dataclass
class Best:
    objective: str
    column: str
    value: float
    index: int
    params: dict
    metrics: dict
    baseline_value: float | None

    @property
    def saving(self) -> float | None:
        """Fractional saving of the best point against the baseline (1 - best / baseline)."""
        if self.baseline_value in (None, 0) or self.baseline_value != self.baseline_value:
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


def _scalar(x):
    if isinstance(x, np.generic):
        return x.item()
    return x


class _Writer:
    """Chunked Parquet or CSV writer."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self._pq = None
        self._fh = None

    def write(self, columns: dict[str, np.ndarray]) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({k: pa.array(v) for k, v in columns.items()})
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.path, table.schema, compression="snappy")
            self._pq.write_table(table)
        else:
            import pandas as pd

            header = self._fh is None
            if header:
                self._fh = open(self.path, "w", newline="", encoding="utf-8")
            pd.DataFrame(columns).to_csv(self._fh, header=header, index=False, float_format="%.9g")

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def run_sweep(scenario: Scenario, db: Database, out_dir: str | Path | None = None, fmt: str = "parquet",
              chunk: int = DEFAULT_CHUNK, progress=None, max_points: int = 2_000_000_000) -> SweepResult:
    """Evaluate every point of ``scenario``.

    Parameters
    ----------
    scenario : Scenario
    db : Database
    out_dir : path or None
        Directory for ``points.parquet`` (or ``points.csv``) and ``meta.json``; None writes nothing.
    fmt : {"parquet", "csv"}
    chunk : int
        Points evaluated at once (bounds memory: about 8 bytes x (rows + columns) x chunk).
    progress : callable(done, total) or None
    """
    t0 = time.perf_counter()
    chain = CarbonChain(db, tasks=scenario.llm)
    ev = Evaluator(chain)
    builder = PointBuilder(db, scenario.file, chain)
    space = Space(scenario.doc, scenario.product, scenario.zipped, builder)
    if space.size > max_points:
        raise InputError(f"the sweep has {space.size:,} points; the limit is {max_points:,}",
                         file=scenario.file, field="sweep")
    base_metrics = {k: float(v[0]) for k, v in ev.metrics(space.base[:, None]).items()}
    warnings = _basis_warnings(scenario, builder)

    folder = writer = None
    if out_dir is not None:
        folder = OutputFolder(out_dir)
        writer = _Writer(folder.path / ("points.parquet" if fmt == "parquet" else "points.csv"), fmt)

    best_val = {o: np.inf for o in scenario.objectives}
    best_idx = {o: -1 for o in scenario.objectives}
    n_feasible = 0
    try:
        for start in range(0, space.size, chunk):
            stop = min(space.size, start + chunk)
            coords = space.coords(start, stop)
            mat = space.chunk(start, stop, coords)
            metrics = ev.metrics(mat)
            feasible = ev.feasible(metrics)
            n_feasible += (stop - start) if feasible is None else int(feasible.sum())
            for o in scenario.objectives:
                col = metrics[ev.objective_column(o)]
                vals = col if feasible is None else np.where(feasible, col, np.inf)
                j = int(np.argmin(vals))
                if vals[j] < best_val[o]:
                    best_val[o], best_idx[o] = float(vals[j]), start + j
            if writer is not None:
                writer.write({**space.values(coords), **metrics})
            if progress is not None:
                progress(stop, space.size)
        if n_feasible == 0:
            raise InputError("no feasible point in the sweep (every configuration exceeds GPU memory)",
                             file=scenario.file, field="sweep")
        best = {}
        for o in scenario.objectives:
            i = best_idx[o]
            c = space.coords(i, i + 1)
            m = ev.metrics(space.chunk(i, i + 1, c))
            params = {k: _scalar(v[0]) for k, v in space.values(c).items()}
            best[o] = Best(o, ev.objective_column(o), best_val[o], i, params,
                           {k: float(v[0]) for k, v in m.items()},
                           base_metrics.get(ev.objective_column(o)))
        meta = {
            "carbonsim_version": carbonsim.__version__,
            "scenario": scenario.name,
            "scenario_file": scenario.file,
            "scenario_hash": scenario.hash(),
            "coefficients": scenario.doc.get("coefficients") or DEFAULT_SET,
            "points": space.size,
            "feasible_points": n_feasible,
            "axes": {a.kind + ":" + "+".join(a.paths): a.size for a in space.axes},
            "objectives": scenario.objectives,
            "sources": sorted(_sources(builder, scenario)),
            "columns_units": "columns carry their unit as a suffix (_kg, _g, _j, _s, _mg_per_s, _w)",
            "warnings": warnings,
        }
        results = None
        if writer is not None:
            writer.close()
            target = folder.commit(meta)
            results = str(target / writer.path.name)
        return SweepResult(scenario, space.size, n_feasible, best, base_metrics, results, meta,
                           time.perf_counter() - t0, space.columns(), warnings)
    except OSError as exc:
        raise write_error(exc, out_dir) from None
    finally:
        if writer is not None:
            writer.close()
        if folder is not None:
            folder.discard()


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
