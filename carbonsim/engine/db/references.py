"""Cross-file checks: every part, table and node a file names must exist."""

from __future__ import annotations

from carbonsim.errors import InputError


def _node_known(db, node: str) -> bool:
    for table_id in db.ids("logic"):
        try:
            table = db.get("logic", table_id)
        except InputError:
            continue
        if node in table["nodes"] or node in (table.get("aliases") or {}):
            return True
    return False


def _dies_problems(db, dies, file, field):
    for i, die in enumerate(dies or []):
        if die and die.get("node") and not _node_known(db, die["node"]):
            yield InputError(
                f"process node {die['node']!r} is in no logic table (hardware_db/logic/) nor its aliases",
                file=file, field=f"{field}[{i}].node",
            )


def check_references(db, loaded: dict[tuple[str, str], dict]) -> list[InputError]:
    """Problems in references between the loaded (already schema-valid) entries."""
    problems: list[InputError] = []
    for (kind, part_id), entry in loaded.items():
        file = entry["_path"]
        if kind in ("gpus", "cpus"):
            problems.extend(_dies_problems(db, entry.get("dies"), file, "dies"))
        elif kind == "servers":
            for section, part_kind, field in (
                (entry.get("gpus"), "gpus", "gpus"),
                ((entry.get("host") or {}).get("cpus"), "cpus", "host.cpus"),
            ):
                if not section:
                    continue
                ref = section.get("part")
                if ref is not None and not db.has(part_kind, ref):
                    known = ", ".join(db.ids(part_kind))
                    problems.append(InputError(
                        f"unknown {part_kind[:-1].upper()} part {ref!r}; known: {known}",
                        file=file, field=f"{field}.part"))
                problems.extend(_dies_problems(db, section.get("dies"), file, f"{field}.dies"))
                node = section.get("node")
                if node and not _node_known(db, node):
                    problems.append(InputError(f"process node {node!r} is in no logic table",
                                               file=file, field=f"{field}.node"))
        elif kind == "coefficients":
            fab = entry.get("fab") or {}
            if fab.get("logic") and not db.has("logic", fab["logic"]):
                problems.append(InputError(f"unknown logic node table {fab['logic']!r}",
                                           file=file, field="fab.logic"))
            table = fab.get("ci_table")
            if table is not None:
                kind_of = "fab_ci" if db.has("fab_ci", table) else "grid" if db.has("grid", table) else None
                if kind_of is None:
                    problems.append(InputError(f"unknown fab intensity table {table!r}",
                                               file=file, field="fab.ci_table"))
                elif fab.get("location") is not None:
                    try:
                        ci = db.get(kind_of, table)["ci_g_per_kwh"]
                    except InputError:
                        ci = {}
                    if fab["location"] not in ci:
                        problems.append(InputError(
                            f"location {fab['location']!r} is not in table {table!r}; known: {', '.join(ci)}",
                            file=file, field="fab.location"))
            if fab.get("ci_g_per_kwh") is None and (table is None or fab.get("location") is None):
                problems.append(InputError("give fab.ci_g_per_kwh, or fab.ci_table with fab.location",
                                           file=file, field="fab"))
        elif kind == "logic":
            for alias, target in (entry.get("aliases") or {}).items():
                if target not in entry["nodes"]:
                    problems.append(InputError(f"alias target {target!r} is not a node of this table",
                                               file=file, field=f"aliases.{alias}"))
    problems.extend(check_part_names(db, loaded))
    problems.extend(check_grid_data(db))
    from carbonsim.engine.db.lifecycle_kinds import check_lifecycle_references

    problems.extend(check_lifecycle_references(db, loaded))
    from carbonsim.engine.db.api_kinds import check_api_references

    problems.extend(check_api_references(db, loaded))
    return problems


def check_part_names(db, loaded: dict) -> list[InputError]:
    """An alias of a GPU or CPU must not match another part (the driver name would be ambiguous)."""
    from carbonsim.engine.inputs.parts import name_collisions

    problems = []
    for kind in ("gpus", "cpus"):
        try:
            pairs = name_collisions(db, kind)
        except InputError:
            continue  # a file that does not load is reported by the schema check
        for pid, text, other, other_text in pairs:
            problems.append(InputError(f"{text!r} also matches {kind[:-1].upper()} {other!r} (by {other_text!r}); "
                                       "a driver name must name one part", file=str(db.path(kind, pid)),
                                       field="aliases"))
    return problems


def check_grid_data(db) -> list[InputError]:
    """Problems across the grid files that a per-file schema cannot see.

    - a region id defined twice within one database layer (across region tables);
    - a region id equal to an energy-source name, trajectory id or trace id (ambiguous ``--grid``);
    - ``zone`` of a region, ``region`` of a trajectory or trace that names no region;
    - shipped trace CSVs that do not read, or whose ``# source:`` is not in sources.yaml.
    """
    problems: list[InputError] = []
    sources = set(db.sources())
    seen: dict[tuple[int, str], str] = {}
    for t in db.ids("regions"):
        path = db.path("regions", t)
        try:
            entries = db.get("regions", t).get("regions") or {}
        except InputError:
            continue  # reported by the schema check
        layer = db.layer(path)
        for rid in entries:
            if (layer, rid) in seen:
                problems.append(InputError(f"region {rid!r} is also defined in {seen[(layer, rid)]}",
                                           file=str(path), field=f"regions.{rid}"))
            seen[(layer, rid)] = str(path)
    try:
        regions = db.regions()
    except InputError as exc:
        return problems + [exc]
    trajectories, traces = set(db.ids("trajectories")), set(db.ids("traces"))
    source_names = {n for t in db.ids("grid") for n in db.get("grid", t)["ci_g_per_kwh"]}
    for rid, (t, e) in regions.items():
        path = str(db.path("regions", t))
        for other, what in ((source_names, "an energy-source name"), (trajectories, "a trajectory id"),
                            (traces, "a trace id")):
            if rid in other:
                problems.append(InputError(f"region id {rid!r} is also {what}; --grid {rid} would be ambiguous",
                                           file=path, field=f"regions.{rid}"))
        if e.get("zone") and e["zone"] not in regions:
            problems.append(InputError(f"zone {e['zone']!r} is not a region id", file=path,
                                       field=f"regions.{rid}.zone"))
    for tid in trajectories:
        t = db.get("trajectories", tid)
        if t.get("region") and t["region"] not in regions:
            problems.append(InputError(f"region {t['region']!r} is not a region id",
                                       file=str(db.path("trajectories", tid)), field="region"))
    for tid in traces:
        p = db.path("traces", tid)
        try:
            tr = db.trace(tid)
        except InputError:
            continue  # reported by Database.check
        if tr.meta.get("source") and tr.meta["source"] not in sources:
            problems.append(InputError(f"source {tr.meta['source']!r} is not in sources.yaml", file=str(p),
                                       field="# source"))
        if tr.meta.get("region") and tr.meta["region"] not in regions:
            problems.append(InputError(f"region {tr.meta['region']!r} is not a region id", file=str(p),
                                       field="# region"))
        if tid in source_names or tid in trajectories:
            problems.append(InputError(f"trace id {tid!r} is also a source or trajectory id", file=str(p)))
    return problems

