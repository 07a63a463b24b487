"""Plausibility warnings (layer 2): values that pass their checks but lie far outside what the
database holds or what the models were built for. They are answered anyway, with a
:class:`~carbonsim.errors.PlausibilityWarning` naming the field and the range (the command line
prints it as one ``carbonsim: warning:`` line; ``-q`` silences it).

- a server's counts and sizes (GPUs, CPUs, memory, storage, lifetime) more than :data:`FAR`
  times beyond the range of the database's servers;
- a host power curve that falls with load (``max_w`` below ``idle_w``);
- a carbon per request above :data:`MAX_G_PER_REQUEST` (a request rate far below what the
  server can serve charges its idle power and embodied carbon to very few requests).
"""

from __future__ import annotations

import warnings

from carbonsim.errors import InputError, PlausibilityWarning

#: A value is "far outside" the database's range when it is more than this factor beyond it.
FAR = 4.0
#: Carbon per request above which a result is flagged [g CO2e]: a kilogram per LLM request is
#: about a thousand seconds of an 8-GPU server at full power on a coal grid, orders of magnitude
#: above the grams per request of published serving measurements (docs/validation_energy.md).
MAX_G_PER_REQUEST = 1000.0

#: Server fields compared with the database's servers: (field as written, how to read it).
SERVER_FIELDS = {
    "gpus.count": lambda s: s.gpu_count if s.gpu is not None else None,
    "host.cpus.count": lambda s: s.host.cpu_count,
    "host.dram.gb": lambda s: s.host.dram_gb.value or None,
    "storage_gb (host.ssd_gb + host.hdd_gb)": lambda s: sum(g.count * g.gb_each.value
                                                            for g in s.host.ssd + s.host.hdd) or None,
    "lifetime_yr": lambda s: s.host_lifetime_yr.value,
}


def warn(message: str) -> None:
    """Issue one plausibility warning."""
    warnings.warn(message, PlausibilityWarning, stacklevel=3)


def _number(x) -> float | None:
    v = x.get("value") if isinstance(x, dict) else x
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _raw_fields(raw: dict) -> dict[str, float | None]:
    """The :data:`SERVER_FIELDS` of a server file as written (no parts merged, nothing checked; a
    lifetime left to the default is not counted)."""
    host = raw.get("host") or {}
    drives = sum((_number(host.get(k)) or 0.0) for k in ("ssd_gb", "hdd_gb"))
    for k in ("ssd", "hdd"):
        for g in host.get(k) or []:
            drives += (_number(g.get("count")) or 0.0) * (_number(g.get("gb_each")) or 0.0)
    life = raw.get("host_lifetime_yr", raw.get("lifetime_yr"))
    return {"gpus.count": _number((raw.get("gpus") or {}).get("count")),
            "host.cpus.count": _number((host.get("cpus") or {}).get("count")),
            "host.dram.gb": _number((host.get("dram") or {}).get("gb")),
            "storage_gb (host.ssd_gb + host.hdd_gb)": drives,
            "lifetime_yr": None if life is None else _number(life)}


def _server_ranges(db) -> dict[str, tuple[float, float]]:
    from carbonsim.engine.readers.yamlfile import load_yaml

    values: dict[str, list[float]] = {k: [] for k in SERVER_FIELDS}
    for sid in db.ids("servers"):
        path = db.path("servers", sid)
        if db.layer(path) != 0:  # the shipped servers only
            continue
        try:  # the files as written (a tenth of the time of building each server with its parts)
            db.stamp(path)
            fields = _raw_fields(load_yaml(path))
        except (InputError, AttributeError, TypeError):
            continue  # a broken entry is db check's to report, not this
        for k, v in fields.items():
            if v:
                values[k].append(v)
    return {k: (min(v), max(v)) for k, v in values.items() if v}


def server_ranges(db) -> dict[str, tuple[float, float]]:
    """``field -> (lowest, highest)`` over the database's servers (computed once per database)."""
    return db.memo("plausibility:server-ranges", lambda: _server_ranges(db))


def server_messages(server, db) -> list[str]:
    """The plausibility warnings of one server (empty when every value is within reach)."""
    out = []
    ranges = server_ranges(db)
    for k, get in SERVER_FIELDS.items():
        m = far_message(server.file, k, get(server), ranges)
        if m:
            out.append(m)
    curve = server_curve_message(server)
    if curve:
        out.append(curve)
    return out


def server_curve_message(server) -> str | None:
    """The warning for a server whose host power curve falls with load (None when it does not)."""
    pm = server.host.power_model
    if pm and pm["max_w"] < pm["idle_w"]:
        return falling_curve_message(f"{server.file}: host.power_model", pm["idle_w"], pm["max_w"])
    return None


def far_message(file: str, field: str, value, ranges: dict) -> str | None:
    """The warning for a server value (:data:`SERVER_FIELDS`) more than :data:`FAR` times beyond
    the database's range (:func:`server_ranges`); None when it is within reach, 0 or absent."""
    if not value or field not in ranges:
        return None
    lo, hi = ranges[field]
    if value > FAR * hi or value < lo / FAR:
        return (f"{file}: {field} = {value:g} is far outside the database's servers ({lo:g}-{hi:g}); the answer is "
                "computed, but check the value")
    return None


def falling_curve_message(where: str, idle_w: float, max_w: float) -> str:
    """The warning for a host power curve that falls with load."""
    return (f"{where}: the power curve falls with load (idle_w {idle_w:g} W > max_w {max_w:g} W); a server "
            "draws more power busy than idle: check the measurements (cpu_util and power_w columns swapped?)")


def warn_server(server, db) -> None:
    """Warn about each implausible value of ``server``."""
    for m in server_messages(server, db):
        warn(m)


def per_request_message(field: str, value, g_per_request: float) -> str | None:
    """A warning when ``g_per_request`` exceeds :data:`MAX_G_PER_REQUEST`, naming ``field`` (and
    its ``value`` unless None)."""
    if not g_per_request > MAX_G_PER_REQUEST:
        return None
    said = field if value is None else f"{field} = {value:g}"
    return (f"{said} gives {g_per_request / 1000:,.3g} kg CO2e per request, above "
            f"{MAX_G_PER_REQUEST / 1000:g} kg (published LLM serving is grams per request): the server's idle "
            f"power and embodied carbon fall on very few requests; check {field}")
