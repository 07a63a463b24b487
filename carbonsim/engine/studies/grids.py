"""``carbonsim grid list`` and ``carbonsim grid show``: what ``--grid`` accepts, with every value's
year, basis, scope, source and licence (layer 2)."""

from __future__ import annotations

from carbonsim.engine.db.schema import Quantity
from carbonsim.engine.inputs.grid import (
    DEFAULT_TABLE, LIST_KINDS, _index, _norm_region, _norm_source, _region_values, _resolve_trace,
    resolve_grid, trajectory_points,
)
from carbonsim.engine.readers.traces import trace_summary
from carbonsim.errors import InputError
from carbonsim.models.grid.trajectory import trajectory_ci_g_per_kwh


def list_grids(db, kind: str | None = None) -> list[dict]:
    """Rows for ``carbonsim grid list [--kind K]``.

    Each row: ``kind, id, name, ci_g_per_kwh, year, basis, source, table``. ``kind`` is one of
    ``source`` (one row per energy source per per-source table), ``region``, ``trajectory``
    (value at its last point), ``trace`` (time-weighted mean), ``table`` (the per-source tables
    mixes draw from; ``mix`` is accepted as an alias).
    """
    if kind is not None and kind not in LIST_KINDS:
        raise InputError(f"unknown grid kind {kind!r}; kinds are: {', '.join(LIST_KINDS)}", field="kind")
    if kind == "mix":
        kind = "table"
    rows: list[dict] = []
    want = (lambda k: kind is None or kind == k)
    if want("table"):
        for t in db.ids("grid"):
            g = db.get("grid", t)
            rows.append({"kind": "table", "id": t, "name": g["name"], "ci_g_per_kwh": None, "year": None,
                         "basis": g["basis"], "source": g["source"], "table": t})
    if want("source"):
        for t in db.ids("grid"):
            g = db.get("grid", t)
            for name, q in g["ci_g_per_kwh"].items():
                rows.append({"kind": "source", "id": name, "name": q.note or name, "ci_g_per_kwh": q.value,
                             "year": None, "basis": g["basis"], "source": q.source, "table": t})
    idx = _index(db)
    if want("region"):
        for rid, (t, e) in sorted(idx["regions"].items()):
            rows.append({"kind": "region", "id": rid, "name": e["name"], "ci_g_per_kwh": e["ci_g_per_kwh"].value,
                         "year": e["year"], "basis": e["basis"], "source": e["source"], "table": t})
    if want("trajectory"):
        for tid in sorted(idx["trajectories"]):
            t = db.get("trajectories", tid)
            last = t["points"][-1]
            rows.append({"kind": "trajectory", "id": tid, "name": t["name"],
                         "ci_g_per_kwh": last["ci_g_per_kwh"].value, "year": last["year"], "basis": t["basis"],
                         "source": t["source"], "table": None})
    if want("trace"):
        for tid in sorted(idx["traces"]):
            g = _resolve_trace(db.trace(tid), tid, None)
            rows.append({"kind": "trace", "id": tid, "name": g.trace.meta.get("name", tid),
                         "ci_g_per_kwh": g.ci_g_per_kwh, "year": g.year, "basis": g.basis,
                         "source": g.sources[0] if g.sources else None, "table": None})
    return rows


def show_grid(grid_id: str, db, table: str | None = None) -> dict:
    """Everything known about one grid id, as a JSON-ready dict (``carbonsim grid show ID``).

    - energy source: its value and range in every per-source table that has it (or in ``table``);
    - region: default value, alternatives, zone, and the trajectories and traces that refer to it;
    - trajectory: points, rule, and its value in every whole year of its span;
    - trace: metadata and :func:`trace_summary`;
    - a mix text or a trace path: the resolved intensity.
    """
    text = grid_id.strip()
    idx = _index(db)
    name = _norm_source(text)
    tables = [table] if table else db.ids("grid")
    hits = [(t, db.get("grid", t)) for t in tables if name in db.get("grid", t)["ci_g_per_kwh"]]
    if hits and "," not in text and ":" not in text:
        vals = []
        for t, g in hits:
            q = g["ci_g_per_kwh"][name]
            vals.append({"table": t, "ci_g_per_kwh": q.value, "low": q.low, "high": q.high, "basis": g["basis"],
                         "source": q.source, "note": q.note})
        return {"kind": "source", "id": name, "values": vals}
    rid = _norm_region(text)
    if rid in idx["regions"]:
        t, e = idx["regions"][rid]
        vals = [{k: (v.value if isinstance(v, Quantity) else v) for k, v in val.items() if v is not None}
                for val in _region_values(e)]
        trajs = sorted(x for x in idx["trajectories"] if db.get("trajectories", x).get("region") == rid)
        traces = sorted(x for x in idx["traces"] if db.trace(x).meta.get("region") == rid)
        return {"kind": "region", "id": rid, "name": e["name"], "table": t, "zone": e.get("zone"),
                "default": vals[0], "alternatives": vals[1:], "trajectories": trajs, "traces": traces}
    if rid in idx["trajectories"]:
        t = db.get("trajectories", rid)
        years, values, rule = trajectory_points(db, rid)
        span = list(range(years[0], years[-1] + 1))
        return {"kind": "trajectory", "id": rid, "name": t["name"], "region": t.get("region"),
                "basis": t["basis"], "scope": t["scope"], "source": t["source"], "licence": t.get("licence"),
                "interpolation": rule, "note": t.get("note"),
                "points": [{"year": y, "ci_g_per_kwh": v} for y, v in zip(years, values)],
                "yearly": [{"year": y, "ci_g_per_kwh": round(trajectory_ci_g_per_kwh(y, years, values, rule), 3)}
                           for y in span]}
    if rid in idx["traces"]:
        tr = db.trace(rid)
        return {"kind": "trace", "id": rid, "path": str(db.path("traces", rid)), **tr.meta, **trace_summary(tr)}
    g = resolve_grid(text, db, table=table or DEFAULT_TABLE)
    out = g.as_dict()
    if g.trace is not None:
        out.update(trace_summary(g.trace))
    return out
