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
    from carbonsim.engine.inputs.grid import check_grid_data

    problems.extend(check_grid_data(db))
    return problems
