"""Servers and their parts as objects (layer 2).

:func:`load_server` turns a database id, a YAML path or a dict into a :class:`Server`: parts
referenced with ``part:`` are looked up (fields beside ``part`` override the part's own),
inline parts are validated, and every problem is an :class:`~carbonsim.errors.InputError`
naming the file and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from carbonsim.engine.db.kinds import SERVER
from carbonsim.engine.db.schema import Checker, Quantity, check_field, q
from carbonsim.engine.db.store import Database
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.errors import InputError
from carbonsim.engine.inputs.overrides import apply_overrides

#: Lifetime used when a server file gives none: the seed paper's code default (its text: 3-5 yr).
DEFAULT_LIFETIME_YR = q(4, "li-hotcarbon24", 3, 5)


@dataclass(frozen=True)
class Die:
    area_mm2: Quantity
    node: str
    count: int = 1
    name: str | None = None


@dataclass
class GPU:
    """One GPU card type."""

    id: str
    name: str
    dies: list[Die]
    memory_gb: Quantity
    memory_technology: str
    tdp_w: Quantity
    soc_kg: Quantity | None = None
    packages: int = 1
    memory_process: str | None = None
    memory_packages: int = 0
    memory_bandwidth_gb_s: Quantity | None = None
    pcb_area_cm2: Quantity | None = None
    suggested_psu_w: Quantity | None = None
    idle_w: Quantity | None = None
    idle_loaded_w: Quantity | None = None
    peak_tflops: dict[str, Quantity] = field(default_factory=dict)
    interconnect: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict, repr=False)


@dataclass
class CPU:
    """One CPU package type."""

    id: str
    name: str
    dies: list[Die]
    cores: int | None = None
    tdp_w: Quantity | None = None
    embodied_kg: Quantity | None = None
    packages: int = 1
    spec: dict = field(default_factory=dict, repr=False)


@dataclass
class DriveGroup:
    """``count`` identical drives (SSD or HDD), optionally with on-drive DRAM."""

    count: int
    gb_each: Quantity
    process: str | None = None
    packages_each: int = 0
    dram_gb_each: Quantity | None = None
    dram_process: str | None = None
    dram_packages_each: int = 0


@dataclass
class Host:
    cpu: CPU
    cpu_count: int
    dram_gb: Quantity
    dram_technology: str
    dram_process: str | None = None
    dram_packages: int = 0
    ssd: list[DriveGroup] = field(default_factory=list)
    hdd: list[DriveGroup] = field(default_factory=list)
    chassis_gpu_slots: int | None = None
    overrides: dict[str, Quantity] = field(default_factory=dict)
    facts: dict[str, Quantity] = field(default_factory=dict)
    power_model: dict | None = None


@dataclass
class Server:
    """A server (or a VM's share of one): GPUs, host, lifetimes."""

    id: str
    name: str
    file: str
    host: Host
    gpu: GPU | None
    gpu_count: int
    gpu_lifetime_yr: Quantity
    host_lifetime_yr: Quantity
    note: str | None = None
    year: int | None = None


_HOST_OVERRIDES = ("mainboard_kg", "mainboard_cm2", "peripheral_pwb_kg", "peripheral_pwb_cm2",
                   "psu_kg", "chassis_kg", "fans_kg", "packaging_kg", "unitemised_kg")
_HOST_FACTS = ("psu_w", "idle_w", "max_w")


def _dies(entries) -> list[Die]:
    return [Die(d["area_mm2"], d["node"], d.get("count", 1), d.get("name")) for d in entries]


def _gpu_from(spec: dict, part_id: str, file: str, field_prefix: str) -> GPU:
    missing = [k for k in ("memory", "tdp_w") if k not in spec]
    if "dies" not in spec and "soc_kg" not in spec:
        missing.append("dies")
    if missing:
        raise InputError(f"an inline GPU needs {', '.join(missing)} (or a 'part:' id)",
                         file=file, field=field_prefix)
    mem = spec["memory"]
    board = spec.get("board") or {}
    return GPU(
        id=part_id,
        name=spec.get("name", part_id),
        dies=_dies(spec.get("dies") or []),
        memory_gb=mem["gb"],
        memory_technology=mem["technology"],
        memory_process=mem.get("process"),
        memory_packages=mem.get("packages", 0),
        memory_bandwidth_gb_s=mem.get("bandwidth_gb_s"),
        tdp_w=spec["tdp_w"],
        soc_kg=spec.get("soc_kg"),
        packages=spec.get("packages", 1),
        pcb_area_cm2=board.get("pcb_area_cm2"),
        suggested_psu_w=board.get("suggested_psu_w"),
        idle_w=spec.get("idle_w"),
        idle_loaded_w=spec.get("idle_loaded_w"),
        peak_tflops={k: v for k, v in (spec.get("peak_tflops") or {}).items() if k != "note"},
        interconnect=spec.get("interconnect") or {},
        spec=spec,
    )


def _cpu_from(spec: dict, part_id: str, file: str, field_prefix: str) -> CPU:
    dies = list(spec.get("dies") or [])
    if "die_area_mm2" in spec or "node" in spec:
        if "die_area_mm2" not in spec or "node" not in spec:
            raise InputError("give both die_area_mm2 and node (or a dies: list)", file=file,
                             field=field_prefix)
        dies.append({"area_mm2": spec["die_area_mm2"], "node": spec["node"], "count": 1})
    if not dies and "embodied_kg" not in spec:
        raise InputError("a CPU needs dies (or die_area_mm2 and node), embodied_kg, or a 'part:' id",
                         file=file, field=field_prefix)
    return CPU(
        id=part_id,
        name=spec.get("name", part_id),
        dies=_dies(dies),
        cores=spec.get("cores"),
        tdp_w=spec.get("tdp_w"),
        embodied_kg=spec.get("embodied_kg"),
        packages=spec.get("packages", 1),
        spec=spec,
    )


def _merge_part(section: dict, kind: str, db: Database, file: str, field_prefix: str):
    """Part from the database with the server's fields on top, or the inline definition."""
    local = {k: v for k, v in section.items() if k not in ("part", "count")}
    ref = section.get("part")
    if ref is None:
        return local, f"inline-{kind[:-1]}"
    if not db.has(kind, ref):
        known = ", ".join(db.ids(kind))
        raise InputError(f"unknown {kind[:-1].upper()} part {ref!r}; known: {known}", file=file,
                         field=f"{field_prefix}.part")
    base = {k: v for k, v in db.get(kind, ref).items() if not k.startswith("_")}
    return base | local, ref


def _drives(section: dict, key_list: str, key_gb: str) -> list[DriveGroup]:
    groups = []
    if section.get(key_gb) is not None and section[key_gb].value > 0:  # ssd_gb: 0 means no drive
        groups.append(DriveGroup(count=1, gb_each=section[key_gb]))
    for g in section.get(key_list) or []:
        groups.append(DriveGroup(
            count=g["count"], gb_each=g["gb_each"], process=g.get("process"),
            packages_each=g.get("packages_each", 0), dram_gb_each=g.get("dram_gb_each"),
            dram_process=g.get("dram_process"), dram_packages_each=g.get("dram_packages_each", 0),
        ))
    return groups


@dataclass(frozen=True)
class CheckedServer:
    """A server document that passed its schema: the normalised fields, and the source its bare
    numbers carry (the file's ``source:``, else ``user-input``)."""

    spec: dict
    default_source: str
    sources: frozenset  # the source ids a number may cite


def _checker(raw: dict, db: Database, file: str) -> Checker:
    ck = Checker(file, sources=set(db.sources()))
    if isinstance(raw.get("source"), str):
        ck.default_source = raw["source"]
    else:
        ck.default_source = "user-input"
        ck.sources.add("user-input")
    return ck


def check_server(raw: dict, db: Database, file: str = "<server>") -> CheckedServer:
    """Check a server document against the schema (every problem found, raised together)."""
    if not isinstance(raw, dict):
        raise InputError("expected a mapping at the top of the server file", file=file)
    ck = _checker(raw, db, file)
    spec = SERVER.check(raw, "", ck)
    ck.raise_if_errors()
    return CheckedServer(spec, ck.default_source, frozenset(ck.sources))


def override_checked(checked: CheckedServer, overrides: dict, file: str) -> CheckedServer | None:
    """``checked`` with dotted-path ``overrides`` applied, each field checked on its own (the
    same errors as checking the whole changed document, at a fraction of the cost); None when an
    override needs the whole document checked (see :func:`check_field`)."""
    if "source" in overrides:  # changes how every bare number is sourced
        return None
    ck = Checker(file, default_source=checked.default_source, sources=checked.sources)
    spec = checked.spec
    for path, value in overrides.items():
        spec = check_field(SERVER, spec, path, value, ck)
        if spec is None:
            return None
    ck.raise_if_errors()
    return CheckedServer(spec, checked.default_source, checked.sources)


def server_from_dict(raw: dict, db: Database, file: str = "<server>", server_id: str | None = None) -> Server:
    """Validate a server document and build the :class:`Server`.

    Parameters
    ----------
    raw : dict
        The parsed YAML of a server spec.
    db : Database
        Where ``part:`` references are looked up and sources resolved.
    file : str
        Name used in error messages.
    server_id : str, optional
        Id to report (defaults to the file stem).
    """
    return server_from_checked(check_server(raw, db, file), db, file, server_id or Path(file).stem)


def server_from_checked(checked: CheckedServer, db: Database, file: str, sid: str, warn: bool = True) -> Server:
    """Build the :class:`Server` of a checked document (parts merged from the database); ``warn``:
    give the plausibility warnings of :mod:`carbonsim.engine.inputs.plausibility`."""
    spec = checked.spec
    gpu, gpu_count = None, 0
    if spec.get("gpus"):
        merged, ref = _merge_part(spec["gpus"], "gpus", db, file, "gpus")
        gpu_count = spec["gpus"]["count"]
        if gpu_count > 0:
            gpu = _gpu_from(merged, ref, file, "gpus")

    host_spec = spec["host"]
    merged, ref = _merge_part(host_spec["cpus"], "cpus", db, file, "host.cpus")
    cpu = _cpu_from(merged, ref, file, "host.cpus")
    dram = host_spec.get("dram") or {"gb": q(0), "technology": "ddr4"}
    modules = dram.get("modules", 0)
    host = Host(
        cpu=cpu,
        cpu_count=host_spec["cpus"]["count"],
        dram_gb=dram["gb"],
        dram_technology=dram["technology"],
        dram_process=dram.get("process"),
        dram_packages=modules * dram.get("packages_per_module", 0),
        ssd=_drives(host_spec, "ssd", "ssd_gb"),
        hdd=_drives(host_spec, "hdd", "hdd_gb"),
        chassis_gpu_slots=host_spec.get("chassis_gpu_slots"),
        overrides={k: host_spec[k] for k in _HOST_OVERRIDES if k in host_spec},
        facts={k: host_spec[k] for k in _HOST_FACTS if k in host_spec},
        power_model=host_spec.get("power_model"),
    )
    for a, b in (("mainboard_kg", "mainboard_cm2"), ("peripheral_pwb_kg", "peripheral_pwb_cm2")):
        if a in host.overrides and b in host.overrides:
            raise InputError(f"give {a} or {b}, not both", file=file, field=f"host.{b}")

    life = spec.get("lifetime_yr")
    gpu_follows, host_follows = lifetimes_follow(spec)
    gpu_life = life if gpu_follows else spec["gpu_lifetime_yr"]
    host_life = life if host_follows else spec["host_lifetime_yr"]
    server = Server(
        id=sid,
        name=spec["name"],
        file=str(file),
        host=host,
        gpu=gpu,
        gpu_count=gpu_count,
        gpu_lifetime_yr=gpu_life or DEFAULT_LIFETIME_YR,
        host_lifetime_yr=host_life or DEFAULT_LIFETIME_YR,
        note=spec.get("note"),
        year=spec.get("year"),
    )
    if warn:
        from carbonsim.engine.inputs.plausibility import warn_server

        warn_server(server, db)
    return server


def lifetimes_follow(spec: dict) -> tuple[bool, bool]:
    """Whether a server document's GPU and host lifetimes are its ``lifetime_yr`` (neither
    ``gpu_lifetime_yr`` nor ``host_lifetime_yr`` given), so that a change of ``lifetime_yr``
    (``--set server.lifetime_yr``, an inventory row's ``lifetime_yr``) changes them."""
    return spec.get("gpu_lifetime_yr") is None, spec.get("host_lifetime_yr") is None


def server_file(ref: str, db: Database, relative_to: str | Path | None = None) -> tuple[Path, str]:
    """Where a server reference points: ``(file, id)``.

    A database id wins unless a file of that name exists; otherwise ``ref`` is a path, tried as
    given and then relative to ``relative_to`` (the directory of the scenario that names it).
    A reference that is neither gets the database's "unknown server ... known: ..." error.
    """
    path = Path(ref)
    if db.has("servers", ref) and not path.exists():
        return db.path("servers", ref), ref
    if not path.exists() and relative_to is not None and not path.is_absolute():
        path = Path(relative_to) / ref
    if not path.exists() and path.suffix not in (".yaml", ".yml") and "/" not in ref:
        db.path("servers", ref)  # raises: unknown server, with the known ids
    return path, path.stem


def load_server(spec, db: Database, overrides: dict | None = None, relative_to: str | Path | None = None,
                warn: bool = True) -> Server:
    """A :class:`Server` from a database id, a YAML path or a parsed dict.

    Parameters
    ----------
    spec : str, Path or dict
        ``azure-a100-x4``, ``./my-server.yaml`` or a dict.
    db : Database
    overrides : dict, optional
        Dotted path -> value, applied before validation (``{"host.dram.gb": 512}``).
    relative_to : path, optional
        The folder a relative path is also tried in (:func:`server_file`): the folder of the file
        that names the server.
    warn : bool
        Give the server's plausibility warnings.
    """
    if isinstance(spec, dict):
        return server_from_dict(apply_overrides(spec, overrides), db, "<server>")
    file, sid = server_file(str(spec), db, relative_to)
    if in_database(db, file, sid):
        # a database entry: parsed and checked once per database; overrides check only their fields
        base = db.memo(("server-checked", str(file)), lambda: _checked_entry(file, db))
        checked = override_checked(base, overrides, str(file)) if overrides else base
        if checked is not None:
            return server_from_checked(checked, db, str(file), sid, warn=warn)
    raw = apply_overrides(load_yaml(file, "server"), overrides, file=str(file))
    return server_from_checked(check_server(raw, db, str(file)), db, str(file), sid, warn=warn)


def server_document(ref: str, db: Database, relative_to: str | Path | None = None) -> tuple[CheckedServer, str, str]:
    """A server reference's checked document, its file and its id (:func:`server_file`; a
    database entry is checked once per database), as :func:`load_server` reads it."""
    file, sid = server_file(str(ref), db, relative_to)
    if in_database(db, file, sid):
        return db.memo(("server-checked", str(file)), lambda: _checked_entry(file, db)), str(file), sid
    return check_server(load_yaml(file, "server"), db, str(file)), str(file), sid


def in_database(db: Database, file, sid: str) -> bool:
    """Whether the server file ``file`` (of id ``sid``, from :func:`server_file`) is a database
    entry (shipped or of a ``--db`` layer) rather than a file of the user's."""
    return db.has("servers", sid) and db.path("servers", sid) == Path(file)


def _checked_entry(file: Path, db: Database) -> CheckedServer:
    db.stamp(file)
    return check_server(load_yaml(file, "server"), db, str(file))
