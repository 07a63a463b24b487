"""The parameter space of a sweep, expanded lazily (layer 2).

Every axis (a ``product`` entry, or all ``zip`` entries together) has a finite list of values.
For each value we build the full point vector once and keep its difference from the base point,
restricted to the rows it changes. Axes that change disjoint rows combine additively, so any
point is ``base + sum of its axes' differences``; axes that interact (touch the same rows, or
fail a cross-check at their extreme values) are merged into one group whose combinations are
built in full. A chunk of points is then a few gathers and adds, whatever the space's size.

:class:`Space` builds (it needs the database); :class:`Expansion` is what it builds: plain
arrays, cheap to send to another process (the Dask executor) and enough to expand any chunk.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.inputs.overrides import set_scenario_path
from carbonsim.engine.sweep.points import PointBuilder
from carbonsim.engine.sweep.scenario import check_point
from carbonsim.errors import InputError
from carbonsim.models.arrays import padded_rows

#: Largest number of value combinations an interacting group of axes may have.
MAX_GROUP_COMBOS = 200_000


@dataclass
class Axis:
    """One dimension of the space: one path (product) or several paths moving together (zip)."""

    paths: tuple[str, ...]
    values: tuple[list, ...]  # one list per path, equal lengths
    kind: str  # "product" | "zip"

    @property
    def size(self) -> int:
        return len(self.values[0])

    def assign(self, doc: dict, i: int) -> dict:
        for path, vals in zip(self.paths, self.values):
            doc = set_scenario_path(doc, path, vals[i])
        return doc

    def field(self, k: int, i: int) -> str:
        return f"sweep.{self.kind}.{self.paths[k]}[{i}]"

    def column_values(self, k: int) -> np.ndarray:
        """The values of path ``k`` as an array for the table (mappings as text)."""
        vals = self.values[k]
        if all(isinstance(v, bool) for v in vals):
            return np.asarray(vals, dtype=bool)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            return np.asarray(vals, dtype=np.int64)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return np.asarray(vals, dtype=float)
        return np.asarray([str(v) for v in vals], dtype=object)


@dataclass
class Group:
    axes: list[int]  # indices into the axes
    rows: np.ndarray  # rows this group changes
    table: np.ndarray  # (n_combos, len(rows)) differences from the base vector


@dataclass
class Expansion:
    """Everything needed to expand points ``start..stop`` into vectors and swept values."""

    base: np.ndarray
    groups: list[Group]
    shape: tuple[int, ...]
    paths: list[str]
    axis_of_path: list[int]
    path_values: list[np.ndarray]
    _buffers: dict = field(default_factory=dict, repr=False, compare=False)

    def __getstate__(self):  # buffers stay in their process
        return {**self.__dict__, "_buffers": {}}

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def coords(self, start: int, stop: int) -> list[np.ndarray]:
        """Index of each axis' value for points ``start..stop-1`` (C order: last axis fastest)."""
        if not self.shape:
            return []
        return list(np.unravel_index(np.arange(start, stop, dtype=np.int64), self.shape))

    def chunk(self, start: int, stop: int, coords=None, reuse: bool = False) -> np.ndarray:
        """Point vectors (n_rows, stop - start) of points ``start..stop-1``.

        With ``reuse`` the array is one of two buffers kept for the next chunks of the same size,
        used in turn: the rows no axis changes are written once, and each chunk rewrites only the
        swept rows. An array stays as it is during the next call (a writer may still be reading
        it) and is overwritten by the call after.
        """
        n = stop - start
        coords = self.coords(start, stop) if coords is None else coords
        out = None
        if reuse:
            pair = self._buffers.get(n)
            if pair is None:  # one size at a time: chunks grow, then stay the same
                pair = self._buffers = {n: [None, None, 0]}
                pair = pair[n]
            turn = pair[2]
            pair[2] = 1 - turn
            out = pair[turn]
        if out is None:
            out = padded_rows(len(self.base), n)
            out[:] = self.base[:, None]
            if reuse:
                pair[turn] = out
        for g in self.groups:
            if len(g.rows) == 0:
                continue
            if len(g.axes) == 1:
                combo = coords[g.axes[0]]
            else:
                combo = np.ravel_multi_index([coords[a] for a in g.axes], [self.shape[a] for a in g.axes])
            out[g.rows] = self.base[g.rows, None] + g.table[combo].T
        return out

    def values(self, coords) -> dict[str, np.ndarray]:
        """Swept values of a chunk, one array per path."""
        return {p: v[coords[a]] for p, a, v in zip(self.paths, self.axis_of_path, self.path_values)}


class Space:
    """A lazily expanded sweep space over a base document."""

    def __init__(self, base_doc: dict, product: dict, zipped: dict, builder: PointBuilder):
        self.base_doc = base_doc
        self.builder = builder
        self.axes: list[Axis] = [Axis((p,), (v,), "product") for p, v in product.items()]
        if zipped:
            self.axes.append(Axis(tuple(zipped), tuple(zipped.values()), "zip"))
        self.shape = tuple(a.size for a in self.axes)
        self.size = int(np.prod(self.shape, dtype=np.int64)) if self.axes else 1
        self.base = self._vector(base_doc, None, None)
        self._deltas = [self._axis_deltas(a) for a in range(len(self.axes))]
        self.groups = self._groups()
        paths = [(p, a, k) for a, axis in enumerate(self.axes) for k, p in enumerate(axis.paths)]
        self.expansion = Expansion(self.base, self.groups, self.shape, [p for p, _, _ in paths],
                                   [a for _, a, _ in paths], [self.axes[a].column_values(k) for _, a, k in paths])

    # -- building -----------------------------------------------------------------------------------
    def _vector(self, doc, axis: Axis | None, i: int | None) -> np.ndarray:
        try:
            check_point(doc, self.builder.file)
            v = self.builder.vector(doc)
        except InputError as exc:
            if axis is None:
                raise
            values = ", ".join(f"{p}={vals[i]!r}" for p, vals in zip(axis.paths, axis.values))
            # the point's own error without the scenario file again (named once, in front)
            inner = str(exc) if exc.file not in (None, self.builder.file) else \
                ": ".join(p for p in (exc.field, exc.message) if p)
            raise InputError(f"{values}: {inner}", file=self.builder.file, field=axis.field(0, i)) from None
        if not np.all(np.isfinite(v)):
            bad = self.builder.rows[int(np.flatnonzero(~np.isfinite(v))[0])]
            where = "" if axis is None else axis.field(0, i)
            raise InputError(f"the point's {bad} is not finite; an input is out of range",
                             file=self.builder.file, field=where or None)
        return v

    def _axis_deltas(self, a: int) -> np.ndarray:
        axis = self.axes[a]
        return np.stack([self._vector(axis.assign(self.base_doc, i), axis, i) - self.base
                         for i in range(axis.size)])

    def _groups(self) -> list[Group]:
        deltas = self._deltas
        touched = [set(np.flatnonzero(np.any(d != 0, axis=0))) for d in deltas]
        parent = list(range(len(self.axes)))

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in itertools.combinations(range(len(self.axes)), 2):
            if touched[a] & touched[b] or not self._additive(a, b, deltas):
                parent[find(a)] = find(b)
        members: dict[int, list[int]] = {}
        for a in range(len(self.axes)):
            members.setdefault(find(a), []).append(a)
        groups = []
        for axes in members.values():
            if len(axes) == 1:
                d = deltas[axes[0]]
                rows = np.array(sorted(touched[axes[0]]), dtype=np.int64)
                groups.append(Group(axes, rows, np.ascontiguousarray(d[:, rows])))
            else:
                groups.append(self._joint_group(axes))
        return groups

    def _additive(self, a: int, b: int, deltas) -> bool:
        """Cross-check at the extreme values: does (a=i, b=j) equal base + d_a + d_b?"""
        A, B = self.axes[a], self.axes[b]
        for i, j in {(A.size - 1, B.size - 1), (0, B.size - 1), (A.size - 1, 0)}:
            doc = B.assign(A.assign(self.base_doc, i), j)
            both = self._vector(doc, A, i)
            if not np.allclose(both, self.base + deltas[a][i] + deltas[b][j], rtol=1e-12, atol=1e-12):
                return False
        return True

    def _joint_group(self, axes: list[int]) -> Group:
        sizes = [self.axes[a].size for a in axes]
        n = int(np.prod(sizes))
        if n > MAX_GROUP_COMBOS:
            names = ", ".join(p for a in axes for p in self.axes[a].paths)
            raise InputError(f"the axes {names} interact and have {n:,} combinations (limit "
                             f"{MAX_GROUP_COMBOS:,}); sweep fewer values together", file=self.builder.file,
                             field="sweep")
        table = np.empty((n, len(self.base)))
        for k, combo in enumerate(itertools.product(*[range(s) for s in sizes])):
            doc = self.base_doc
            for a, i in zip(axes, combo):
                doc = self.axes[a].assign(doc, i)
            table[k] = self._vector(doc, self.axes[axes[0]], combo[0]) - self.base
        rows = np.flatnonzero(np.any(table != 0, axis=0))
        return Group(axes, rows, np.ascontiguousarray(table[:, rows]))

    # -- where the base point is ------------------------------------------------------------------------
    def base_coords(self) -> list[int | None]:
        """For each axis, the index of a value that leaves the base point unchanged (None: the
        scenario's own value is not among the axis' values)."""
        out = []
        for d in self._deltas:
            same = np.flatnonzero(np.all(d == 0, axis=1))
            out.append(int(same[0]) if same.size else None)
        return out

    # -- delegation ------------------------------------------------------------------------------------
    def coords(self, start: int, stop: int) -> list[np.ndarray]:
        return self.expansion.coords(start, stop)

    def chunk(self, start: int, stop: int, coords=None) -> np.ndarray:
        return self.expansion.chunk(start, stop, coords)

    def values(self, coords) -> dict[str, np.ndarray]:
        return self.expansion.values(coords)

    def columns(self) -> list[str]:
        """Output column names of the swept parameters."""
        return list(self.expansion.paths)
