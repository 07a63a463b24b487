"""Electricity Maps data-portal exports as grid traces (layer 2).

The Electricity Maps data portal (electricitymaps.com/data-portal) exports one CSV per zone and
granularity (hourly, daily, monthly, yearly) with the columns ``Datetime (UTC), Country, Zone
Name, Zone Id, Carbon Intensity gCO₂eq/kWh (direct), Carbon Intensity gCO₂eq/kWh (LCA), Low
Carbon Percentage, Renewable Percentage, Data Source, Data Estimated, Data Estimation Method``;
later releases spell the intensity columns ``Carbon intensity gCO₂eq/kWh (Life cycle)`` and
``(direct)`` and the zone ``Zone id``. Column names are matched without regard to case, with
``CO2`` or ``CO₂``.

The **basis** comes from the column name: ``(direct)`` is direct (combustion at the plant),
``(LCA)``, ``(Life cycle)`` or ``(life cycle assessment)`` is lifecycle. Both are consumption-
based (flow-traced imports), location-based. Without a choice the lifecycle column is read
(carbonsim's default basis), and the result says which column it read. A file holding several
zones needs one chosen. Every value is finite and >= 0; times increase strictly. The data is
ODbL (attribute Electricity Maps; a database derived from it is ODbL too).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np

from carbonsim.engine.readers.table import parse_number, parse_utc_seconds
from carbonsim.errors import InputError

TIME_COLUMN = "datetime (utc)"
#: Parenthesised suffix of an intensity column -> basis.
BASIS_OF_SUFFIX = {"direct": "direct", "lca": "lifecycle", "life cycle": "lifecycle",
                   "life cycle assessment": "lifecycle", "lifecycle": "lifecycle"}
_CI_COLUMN = re.compile(r"^carbon intensity gco(2|₂)eq/kwh \((?P<basis>[^)]+)\)$")
SCOPE = "location-based; consumption-based (flow-traced imports), Electricity Maps data portal export"
LICENCE = "Electricity Maps data, ODbL: attribute Electricity Maps; share-alike applies to databases derived from it"
SOURCE = "electricitymaps-data-portal"
#: Granularities by the median step between rows [s].
GRANULARITIES = ((3600.0, "hourly"), (86400.0, "daily"), (31 * 86400.0, "monthly"), (366 * 86400.0, "yearly"))


def is_export(columns) -> bool:
    """Whether a header (lower case) is an Electricity Maps export's."""
    return TIME_COLUMN in columns and any(_CI_COLUMN.match(c) for c in columns)


def intensity_columns(columns) -> dict[str, str]:
    """Basis -> column name of each intensity column the header has."""
    out = {}
    for c in columns:
        m = _CI_COLUMN.match(c)
        if m and m.group("basis").strip() in BASIS_OF_SUFFIX:
            out.setdefault(BASIS_OF_SUFFIX[m.group("basis").strip()], c)
    return out


def granularity(t_s: np.ndarray) -> str:
    """``hourly``, ``daily``, ``monthly`` or ``yearly`` from the median step (one row: ``yearly``)."""
    if t_s.size < 2:
        return "yearly"
    step = float(np.median(np.diff(t_s)))
    for limit, name in GRANULARITIES:
        if step <= limit * 1.01:
            return name
    return "yearly"


def read_export(table, basis: str | None = None, zone: str | None = None):
    """The intensity trace of an export already read as a table (:func:`read_table`).

    Parameters
    ----------
    table : Table
    basis : {"lifecycle", "direct"}, optional
        Which column to read (default lifecycle when the file has it).
    zone : str, optional
        The zone to read from a file holding several (``Zone Id``, any case).

    Returns
    -------
    t_s, ci_g_per_kwh : numpy.ndarray
        Times [s since the epoch, UTC] and intensities [g/kWh]
        (:func:`carbonsim.engine.readers.traces.read_trace_csv` makes them a ``Trace``).
    meta : dict
        name, region (the zone), year, basis, scope, source, licence, column, granularity,
        estimated (rows Electricity Maps estimated).

    Raises
    ------
    InputError
        Naming the file, the line and the column.
    """
    file = table.file
    columns = intensity_columns(table.columns)
    if not columns:
        raise InputError("an Electricity Maps export needs a 'Carbon Intensity gCO₂eq/kWh (direct)' or '(LCA)' / "
                         "'(Life cycle)' column", file=file, field="header")
    if basis is None:
        basis = "lifecycle" if "lifecycle" in columns else "direct"
    if basis not in columns:
        raise InputError(f"the file has no {basis} intensity column (it has: "
                         f"{', '.join(table.as_written(c) for c in columns.values())})",
                         file=file, field="grid")
    column = columns[basis]
    shown = table.as_written(column)
    zone_col = next((c for c in ("zone id", "zone name") if c in table.columns), None)
    records = table.records
    if zone_col is not None:
        zones = sorted({r.cells[zone_col].strip() for r in records})
        if zone is not None:
            records = [r for r in records if r.cells[zone_col].strip().lower() == zone.lower()]
            if not records:
                raise InputError(f"zone {zone!r} is not in the file (it has: {', '.join(zones)})", file=file,
                                 field="Zone Id")
        elif len(zones) > 1:
            raise InputError(f"the file holds {len(zones)} zones ({', '.join(zones[:6])}); choose one as "
                             f"{file}:{zones[0]}", file=file, field="Zone Id")
    times, values, estimated = [], [], 0
    for rec in records:
        raw_t = rec.cells[TIME_COLUMN].strip()
        ts = parse_utc_seconds(raw_t, file, rec.line, "Datetime (UTC)", "2022-01-01 00:00:00")
        if times and ts <= times[-1]:
            raise InputError(f"line {rec.line}: {raw_t!r} is not after the previous row; rows must be sorted by "
                             "time without duplicates", file=file, field="Datetime (UTC)")
        times.append(ts)
        values.append(parse_number(rec.cells[column], file, rec.line, shown, required=True))
        if rec.cells.get("data estimated", "").strip().lower() in ("true", "1", "yes"):
            estimated += 1
    t_s = np.array(times)
    first = records[0].cells
    zone_id = (first.get("zone id") or first.get("zone name") or "").strip()
    name = (first.get("zone name") or first.get("country") or zone_id).strip()
    kind = granularity(t_s)
    years = {datetime.fromtimestamp(t, timezone.utc).year for t in times}
    meta = {"name": f"Electricity Maps {zone_id} ({name}), {kind}", "region": zone_id, "basis": basis,
            "scope": SCOPE, "source": SOURCE, "licence": LICENCE, "column": shown, "granularity": kind,
            "estimated": estimated, "rows": len(times)}
    if len(years) == 1:
        meta["year"] = years.pop()
    return t_s, np.array(values), meta
