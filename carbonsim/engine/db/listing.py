"""Rows and texts for ``carbonsim db list`` and ``carbonsim db show`` (layer 2)."""

from __future__ import annotations


from carbonsim.engine.db.kinds import KINDS
from carbonsim.engine.db.schema import Quantity, cited_sources
from carbonsim.engine.db.store import Database
from carbonsim.errors import InputError


def _summary(kind: str, e: dict) -> str:
    def v(x):
        return f"{x.value:g}" if isinstance(x, Quantity) else str(x)

    if kind == "gpus":
        mem = e.get("memory", {})
        return f"{v(mem.get('gb'))} GB {mem.get('technology')}, {v(e['tdp_w'])} W"
    if kind == "cpus":
        return f"{e.get('cores')} cores, {v(e['tdp_w'])} W"
    if kind == "servers":
        g = e.get("gpus") or {}
        gpu = f"{g.get('count', 0)} x {g.get('part', 'inline GPU')}" if g.get("count") else "no GPU"
        cpu = e["host"]["cpus"]
        return f"{gpu}; {cpu.get('count')} x {cpu.get('part', 'inline CPU')}"
    if kind == "coefficients":
        return (e.get("description") or "").split(".")[0][:70]
    if kind == "generations":
        return ", ".join(f"{g['name']} {g['available']}" for g in e.get("generations") or [])
    if kind == "training":
        return f"{len(e.get('runs') or {})} runs"
    if kind == "api_models":
        s = e["serving"]
        return (f"{e['provider']}, {v(e['params_b'])} B ({e['architecture']}); "
                f"{s['tensor_parallel']} x {s['server']} at {s['precision']}")
    for key in ("nodes", "ci_g_per_kwh"):
        if isinstance(e.get(key), dict):
            return f"{len(e[key])} entries"
    return ""


def list_rows(db: Database, kind: str | None = None) -> list[dict]:
    """One row per entry: kind, id, name, a one-line summary, path."""
    kinds = [kind] if kind else list(KINDS)
    rows = []
    for k in kinds:
        for part_id in db.ids(k):
            entry = db.get(k, part_id)
            rows.append({"kind": k, "id": part_id, "name": entry.get("name", ""),
                         "summary": _summary(k, entry), "path": str(db.path(k, part_id))})
    return rows


def _plain(node):
    if isinstance(node, Quantity):
        out = {"value": node.value}
        for key in ("low", "high", "source", "note"):
            if getattr(node, key) is not None:
                out[key] = getattr(node, key)
        return out if len(out) > 1 else node.value
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if not str(k).startswith("_")}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def show_entry(db: Database, part_id: str, kind: str | None = None) -> dict:
    """One entry as plain data: ``kind``, ``id``, ``path``, ``entry`` and the ``sources`` it cites.

    Raises
    ------
    InputError
        No such entry (with close matches), or an id in several kinds without ``kind``.
    """
    kinds = [kind] if kind else [k for k in KINDS if db.has(k, part_id)]
    if not kinds or (kind and not db.has(kind, part_id)):
        import difflib

        known = sorted({i for k in KINDS for i in db.ids(k)})
        close = difflib.get_close_matches(part_id, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"no database entry {part_id!r}{hint}")
    if len(kinds) > 1:
        raise InputError(f"{part_id!r} exists as {', '.join(kinds)}; choose with --kind")
    entry = db.get(kinds[0], part_id)
    sources = db.sources()
    out = {"kind": kinds[0], "id": part_id, "path": str(db.path(kinds[0], part_id)), "entry": _plain(entry)}
    cite = cited_sources(entry)
    if kinds[0] == "gpus":
        # a GPU's activity-power constants and how they were calibrated (hardware_db/power/gpu-activity.yaml)
        from carbonsim.engine.inputs.power import GPU_ACTIVITY_ID, gpu_constants

        tdp = entry["tdp_w"]
        constants, note = gpu_constants(db, part_id, float(getattr(tdp, "value", tdp)))
        out["activity_power"] = {"path": str(db.path("power", GPU_ACTIVITY_ID)), **_plain(constants)}
        if note is None and constants.get("source"):
            cite = cite | {constants["source"]}
    out["sources"] = [{"id": sid, **{k: v for k, v in sources.get(sid, {}).items()}} for sid in sorted(cite)]
    return out


def _flat(node, prefix: str = "") -> dict:
    """Nested entries as one level of dotted keys (lists of mappings are indexed); a number with
    provenance gives its value under its own key and its source, range and note beside it."""
    out = {}
    if isinstance(node, Quantity):
        out[prefix[:-1]] = node.value
        for key in ("source", "low", "high"):
            if getattr(node, key) is not None:
                out[f"{prefix}{key}"] = getattr(node, key)
    elif isinstance(node, dict):
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
    elif isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node):
        for i, v in enumerate(node):
            out.update(_flat(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = node
    return out


def frame_rows(db: Database, kind: str) -> list[dict]:
    """Every entry of ``kind`` as one flat row: ``id``, then each field by dotted path (numbers as
    values; their sources in the ``*.source`` columns where the file gives them)."""
    rows = []
    for part_id in db.ids(kind):
        entry = db.get(kind, part_id)
        rows.append({"id": part_id, **_flat({k: v for k, v in entry.items() if not str(k).startswith("_")})})
    return rows
