"""Resolve a ``--grid`` text into a carbon intensity with its basis and sources (layer 2).

A grid is written as one of:

- an energy source of a per-source table: ``coal``, ``gas``, ``solar``, ``wind`` ...
  (``hardware_db/grid/<table>.yaml``; default table ``ipcc-ar5``);
- a mix of sources: ``coal:0.3,wind:0.7`` (shares >= 0, sum > 0; normalised with a warning
  when they do not sum to 1);
- a region id: ``ESP`` (ISO 3166-1 alpha-3, any case), ``us-ca``, ``us-pjm``, ``aws-us-east-1``
  (``aws:us-east-1`` too), ``gcp-europe-north1``, ``azure-westeurope``
  (``hardware_db/regions/*.yaml``);
- a trajectory id (``hardware_db/trajectories/*.yaml``), evaluated in ``year``;
- an hourly trace: a shipped trace id (``us-ciso-2022``, ``hardware_db/traces/*.csv``) or the
  path of a CSV file with columns ``timestamp, ci_g_per_kwh``.

Every result names its basis (``lifecycle`` or ``direct``); :func:`check_same_basis` returns a
warning when two intensities are compared across bases. See ``docs/grid.md``.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from carbonsim.engine.db.grid_kinds import BASES
from carbonsim.engine.db.schema import Quantity
from carbonsim.errors import InputError
from carbonsim.models.grid.carbon import mix_intensity_g_per_kwh
from carbonsim.models.grid.traces import (
    covered_intervals,
    energy_weighted_ci_g_per_kwh,
    nominal_step_s,
    time_weighted_mean_g_per_kwh,
    trace_mean_g_per_kwh,
)
from carbonsim.models.grid.trajectory import trajectory_ci_g_per_kwh, trajectory_mean_g_per_kwh

DEFAULT_TABLE = "ipcc-ar5"
#: Kinds of grid that ``resolve_grid`` returns and ``list_grids`` lists.
GRID_KINDS = ("source", "mix", "region", "trajectory", "trace")
#: Kinds ``list_grids`` accepts (``table`` lists the per-source tables mixes draw from; ``mix``
#: is an alias for it, since no mix is stored).
LIST_KINDS = ("source", "region", "trajectory", "trace", "table", "mix")
#: Largest trace file accepted (bytes); a year of hourly values is about 0.25 MB.
MAX_TRACE_BYTES = 50_000_000
TRACE_META_KEYS = ("name", "region", "year", "basis", "scope", "source", "licence", "note")

_MIX_PART = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*([^,:]+?)\s*$")


# ------------------------------------------------------------------------------------------------
# Data classes
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trace:
    """An hourly (or any regular) intensity trace read from a CSV file.

    Attributes
    ----------
    path : str
        File it was read from.
    t_s : ndarray
        Sample times, Unix seconds (UTC), strictly increasing.
    ci_g_per_kwh : ndarray
        Intensities [g/kWh].
    meta : dict
        ``# key: value`` header lines (name, region, year, basis, scope, source, licence, note).
    """

    path: str
    t_s: np.ndarray
    ci_g_per_kwh: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def basis(self) -> str:
        return self.meta.get("basis", "unknown")

    def mean_g_per_kwh(self) -> float:
        """Unweighted mean of the samples [g/kWh]."""
        return trace_mean_g_per_kwh(self.ci_g_per_kwh)

    def time_weighted_mean_g_per_kwh(self, start=None, end=None) -> float:
        """Time-weighted mean over ``[start, end)`` (datetimes, ISO texts or Unix seconds)."""
        return time_weighted_mean_g_per_kwh(self.t_s, self.ci_g_per_kwh, _seconds(start), _seconds(end))

    def energy_weighted_ci_g_per_kwh(self, load_t, load_power_w, load_end=None) -> float:
        """Intensity seen by a load profile (times as datetimes, ISO texts or Unix seconds)."""
        lt = np.array([_seconds(x) for x in load_t], dtype=float)
        return energy_weighted_ci_g_per_kwh(self.t_s, self.ci_g_per_kwh, lt, load_power_w, _seconds(load_end))

    def year_window_s(self, year: int) -> tuple[float, float]:
        a = datetime(year, 1, 1, tzinfo=timezone.utc).timestamp()
        b = datetime(year + 1, 1, 1, tzinfo=timezone.utc).timestamp()
        return a, b


@dataclass(frozen=True)
class GridIntensity:
    """A resolved grid: intensity, basis and provenance.

    Attributes
    ----------
    ci_g_per_kwh : float
        Intensity [g/kWh] (for a trace, its time-weighted mean; for a trajectory, its value in
        ``year``).
    basis : str
        ``lifecycle``, ``direct`` or (traces without a ``# basis:`` line) ``unknown``.
    label : str
        Short human-readable name (``esp (Spain, 2024)``, ``mix coal:0.3,wind:0.7``).
    kind : str
        ``source``, ``mix``, ``region``, ``trajectory`` or ``trace``.
    id : str
        Canonical id (source name, region id, trajectory id, trace id or path, mix text).
    year : int or None
        Year of the value (regions, trajectories, traces); None for per-source factors.
    sources : tuple of str
        Source ids (``hardware_db/sources.yaml``).
    low, high : float or None
        Range, where the data gives one: per-source tables and mixes of them; for a trace,
        its lowest and highest sample.
    scope : str or None
        Scope note (always location-based for shipped data).
    licence : str or None
    table : str or None
        Per-source table used (sources and mixes).
    components : tuple
        For mixes: ``(name, share, ci_g_per_kwh)`` with shares normalised to 1.
    warnings : tuple of str
        Things the caller should show the user (normalised shares, year substitutions ...).
    trace : Trace or None
        The trace, for kind ``trace``.
    """

    ci_g_per_kwh: float
    basis: str
    label: str
    kind: str
    id: str
    year: int | None = None
    sources: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    scope: str | None = None
    licence: str | None = None
    table: str | None = None
    components: tuple = ()
    warnings: tuple[str, ...] = ()
    trace: Trace | None = None

    def as_dict(self) -> dict:
        """JSON-ready summary (no trace samples)."""
        out = {
            "id": self.id, "kind": self.kind, "label": self.label, "ci_g_per_kwh": self.ci_g_per_kwh,
            "basis": self.basis, "year": self.year, "sources": list(self.sources), "low": self.low,
            "high": self.high, "scope": self.scope, "licence": self.licence, "table": self.table,
            "warnings": list(self.warnings),
        }
        if self.components:
            out["components"] = [{"source": n, "share": s, "ci_g_per_kwh": c} for n, s, c in self.components]
        return out


# ------------------------------------------------------------------------------------------------
# Comparing bases
# ------------------------------------------------------------------------------------------------
def check_same_basis(a: GridIntensity, b: GridIntensity) -> str | None:
    """A warning when ``a`` and ``b`` are not on the same known basis, else None.

    Lifecycle intensities include upstream emissions (fuel supply, plant construction) and are
    typically 10-60 % higher than direct (combustion-only) ones for fossil-heavy grids, and
    several times higher for hydro/nuclear grids; comparing them silently misleads.
    """
    if a.basis == b.basis and a.basis in BASES:
        return None
    if "unknown" in (a.basis, b.basis):
        which = " and ".join(x.label for x in (a, b) if x.basis not in BASES)
        return (f"basis of {which} is unknown; the comparison of {a.label} with {b.label} "
                "may mix lifecycle and direct intensities")
    return (f"comparing across bases: {a.label} is {a.basis}, {b.label} is {b.basis}; "
            "lifecycle values include upstream emissions that direct values leave out")


# ------------------------------------------------------------------------------------------------
# Database access (cached per Database object)
# ------------------------------------------------------------------------------------------------
_INDEX: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _layer(db, path) -> int:
    path = Path(path).resolve()
    for i, root in enumerate(db.dirs):
        try:
            path.relative_to(Path(root).resolve())
            return i
        except ValueError:
            continue
    return len(db.dirs)


def _index(db) -> dict:
    """Regions (id -> (table, entry)), trajectories and traces (id -> path) of ``db``."""
    cached = _INDEX.get(db)
    if cached is not None:
        return cached
    regions: dict[str, tuple[str, dict]] = {}
    tables = sorted(db.ids("regions"), key=lambda t: (_layer(db, db.path("regions", t)), t))
    for t in tables:
        for rid, entry in (db.get("regions", t).get("regions") or {}).items():
            regions[rid] = (t, entry)
    traces: dict[str, Path] = {}
    for root in db.dirs:
        sub = Path(root) / "traces"
        if sub.is_dir():
            for p in sorted(sub.glob("*.csv")):
                traces[p.stem] = p
    out = {"regions": regions, "trajectories": set(db.ids("trajectories")), "traces": traces}
    _INDEX[db] = out
    return out


def _table(db, table: str) -> dict:
    if not db.has("grid", table):
        known = ", ".join(db.ids("grid"))
        raise InputError(f"unknown per-source grid table {table!r}; known: {known}", field="table")
    return db.get("grid", table)


def _norm_region(text: str) -> str:
    return re.sub(r"[\s:_/]+", "-", text.strip().lower())


def _norm_source(text: str) -> str:
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _known_names(db, table: str) -> list[str]:
    idx = _index(db)
    names = list(_table(db, table)["ci_g_per_kwh"])
    names += list(idx["regions"]) + sorted(idx["trajectories"]) + list(idx["traces"])
    return names


# ------------------------------------------------------------------------------------------------
# resolve_grid
# ------------------------------------------------------------------------------------------------
def resolve_grid(text: str, db, year: int | None = None, table: str = DEFAULT_TABLE) -> GridIntensity:
    """Turn a ``--grid`` text into a :class:`GridIntensity`.

    Parameters
    ----------
    text : str
        Source name, mix (``coal:0.3,wind:0.7``), region id, trajectory id, trace id or trace
        CSV path.
    db : carbonsim.engine.db.Database
    year : int, optional
        Year for regions (picks that year's published value when there is one on the same
        basis), trajectories (evaluated in it) and traces (restricted to it).
    table : str
        Per-source table for sources and mixes (``ipcc-ar5`` or ``unece-2021``).

    Raises
    ------
    InputError
        Unknown names (with close matches), bad shares, unreadable traces.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError("empty grid; give an energy source (coal), a mix (coal:0.3,wind:0.7), "
                         "a region id (ESP) or a trace CSV", field="grid")
    text = text.strip()
    if year is not None:
        year = int(year)
    if text.lower().endswith(".csv") or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise InputError("trace file not found", file=str(path), field="grid")
        return _resolve_trace(read_trace_csv(path), str(path), year)
    single = _MIX_PART.match(text)
    if "," in text or (single and _is_number(single.group(2))):
        return _resolve_mix(text, db, table)
    sources = _table(db, table)["ci_g_per_kwh"]
    name = _norm_source(text)
    if name in sources:
        return _resolve_source(name, db, table)
    idx = _index(db)
    rid = _norm_region(text)
    if rid in idx["regions"]:
        return _resolve_region(rid, db, year)
    if rid in idx["trajectories"]:
        return _resolve_trajectory(rid, db, year)
    if rid in idx["traces"]:
        return _resolve_trace(read_trace_csv(idx["traces"][rid]), rid, year)
    raise _unknown(text, db, table)


def _unknown(text, db, table) -> InputError:
    names = _known_names(db, table)
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(_norm_region(text), list(lowered), n=4, cutoff=0.6)
    close += [n for n in difflib.get_close_matches(_norm_source(text), list(lowered), n=4, cutoff=0.6)
              if n not in close]
    hint = f" (did you mean {', '.join(lowered[c] for c in close[:4])}?)" if close else ""
    return InputError(
        f"unknown grid {text!r}{hint}. A grid is an energy source of table {table} "
        f"({', '.join(_table(db, table)['ci_g_per_kwh'])}), a mix like coal:0.3,wind:0.7, a region id "
        "(ESP, us-ca, aws-us-east-1), a trajectory or trace id, or a trace CSV path; "
        "`carbonsim grid list` shows them all",
        field="grid",
    )


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _resolve_source(name, db, table) -> GridIntensity:
    t = _table(db, table)
    q: Quantity = t["ci_g_per_kwh"][name]
    return GridIntensity(
        ci_g_per_kwh=q.value, basis=t["basis"], label=f"{name} ({table})", kind="source", id=name,
        sources=tuple(sorted({q.source} - {None})), low=q.low, high=q.high,
        scope="per-source factor (technology average, not a grid)", table=table,
    )


def _resolve_mix(text, db, table) -> GridIntensity:
    t = _table(db, table)
    sources = t["ci_g_per_kwh"]
    names, shares = [], []
    for part in text.split(","):
        if not part.strip():
            raise InputError(f"empty part in mix {text!r}; write source:share,source:share", field="grid")
        m = _MIX_PART.match(part)
        if not m:
            raise InputError(f"mix part {part.strip()!r} is not source:share (like coal:0.3)", field="grid")
        name, raw = _norm_source(m.group(1)), m.group(2)
        if name not in sources:
            close = difflib.get_close_matches(name, list(sources), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InputError(f"unknown energy source {m.group(1)!r} in mix{hint}. "
                             f"Table {table} has: {', '.join(sources)}", field="grid")
        if name in names:
            raise InputError(f"source {name!r} appears twice in mix {text!r}", field="grid")
        try:
            share = float(raw)
        except ValueError:
            raise InputError(f"share of {name!r} must be a number, found {raw!r}", field="grid") from None
        if not math.isfinite(share) or share < 0:
            raise InputError(f"share of {name!r} must be a finite number >= 0, found {raw!r}", field="grid")
        names.append(name)
        shares.append(share)
    total = sum(shares)
    if total <= 0:
        raise InputError(f"shares in mix {text!r} sum to 0; at least one must be positive", field="grid")
    warnings = []
    if abs(total - 1.0) > 1e-6:
        warnings.append(f"mix shares sum to {total:g}, not 1; normalised to 1")
    qs = [sources[n] for n in names]
    ci = mix_intensity_g_per_kwh(shares, [q.value for q in qs])
    low = high = None
    if all(q.low is not None for q in qs):
        low = mix_intensity_g_per_kwh(shares, [q.low for q in qs])
    if all(q.high is not None for q in qs):
        high = mix_intensity_g_per_kwh(shares, [q.high for q in qs])
    norm = [s / total for s in shares]
    canon = ",".join(f"{n}:{s:.4g}" for n, s in zip(names, norm))
    return GridIntensity(
        ci_g_per_kwh=ci, basis=t["basis"], label=f"mix {canon} ({table})", kind="mix", id=canon,
        sources=tuple(sorted({q.source for q in qs} - {None})), low=low, high=high,
        scope="mix of per-source factors (technology averages)", table=table,
        components=tuple((n, s, q.value) for n, s, q in zip(names, norm, qs)), warnings=tuple(warnings),
    )


def _region_values(entry: dict) -> list[dict]:
    keys = ("ci_g_per_kwh", "year", "basis", "scope", "source", "licence", "note")
    first = {k: entry.get(k) for k in keys}
    return [first] + [{k: a.get(k) for k in keys} for a in entry.get("alternatives") or []]


def _resolve_region(rid, db, year) -> GridIntensity:
    table, entry = _index(db)["regions"][rid]
    values = _region_values(entry)
    chosen, warnings = values[0], []
    if year is not None and year != chosen["year"]:
        same_basis = [v for v in values if v["year"] == year and v["basis"] == chosen["basis"]]
        same_source = [v for v in same_basis if v["source"] == chosen["source"]]
        if same_source or same_basis:
            alt = (same_source or same_basis)[0]
            if alt["source"] != chosen["source"]:
                warnings.append(f"{rid}: the {year} value comes from {alt['source']} "
                                f"({alt['scope']}), not from {chosen['source']} like the default")
            chosen = alt
        else:
            trajs = [t for t in _index(db)["trajectories"] if db.get("trajectories", t).get("region") == rid]
            hint = f"; for projections see trajectory {', '.join(sorted(trajs))}" if trajs else ""
            warnings.append(f"{rid}: no {chosen['basis']} value for {year}; using the {chosen['year']} value{hint}")
    q: Quantity = chosen["ci_g_per_kwh"]
    return GridIntensity(
        ci_g_per_kwh=q.value, basis=chosen["basis"], label=f"{rid} ({entry['name']}, {chosen['year']})",
        kind="region", id=rid, year=chosen["year"], sources=(chosen["source"],), low=q.low, high=q.high,
        scope=chosen["scope"], licence=chosen["licence"], table=table, warnings=tuple(warnings),
    )


def trajectory_points(db, traj_id: str) -> tuple[list[int], list[float], str]:
    """Years, intensities [g/kWh] and interpolation rule of a stored trajectory."""
    t = db.get("trajectories", traj_id)
    years = [p["year"] for p in t["points"]]
    values = [p["ci_g_per_kwh"].value for p in t["points"]]
    return years, values, t["interpolation"]


def trajectory_mean(db, traj_id: str, start_year: float, end_year: float) -> float:
    """Mean intensity [g/kWh] of a stored trajectory over ``[start_year, end_year]``
    (for example a server's service life)."""
    years, values, rule = trajectory_points(db, traj_id)
    return trajectory_mean_g_per_kwh(start_year, end_year, years, values, rule)


def _resolve_trajectory(tid, db, year) -> GridIntensity:
    t = db.get("trajectories", tid)
    years, values, rule = trajectory_points(db, tid)
    warnings = []
    if year is None:
        year = years[0]
        warnings.append(f"trajectory {tid}: no year given; using its first year, {year}")
    elif year < years[0] or year > years[-1]:
        warnings.append(f"trajectory {tid}: {year} is outside its points ({years[0]}-{years[-1]}); "
                        "the nearest end value is held")
    ci = trajectory_ci_g_per_kwh(year, years, values, rule)
    srcs = {t["source"]} | {p["ci_g_per_kwh"].source for p in t["points"]}
    return GridIntensity(
        ci_g_per_kwh=ci, basis=t["basis"], label=f"{tid} ({year})", kind="trajectory", id=tid, year=year,
        sources=tuple(sorted(srcs - {None})), scope=t["scope"], licence=t.get("licence"),
        warnings=tuple(warnings),
    )


def _resolve_trace(tr: Trace, tid: str, year) -> GridIntensity:
    warnings = []
    start = end = None
    if year is not None:
        a, b = tr.year_window_s(year)
        if np.any((tr.t_s >= a) & (tr.t_s < b)):
            start, end = a, b
        else:
            warnings.append(f"trace {tid} has no sample in {year}; using the whole trace")
    ci = time_weighted_mean_g_per_kwh(tr.t_s, tr.ci_g_per_kwh, start, end)
    basis = tr.meta.get("basis", "unknown")
    if basis not in BASES:
        warnings.append(f"trace {tid} does not state its basis (add a '# basis: lifecycle' or "
                        "'# basis: direct' line)")
    y = year if start is not None else _trace_year(tr)
    src = tr.meta.get("source")
    return GridIntensity(
        ci_g_per_kwh=ci, basis=basis, label=f"trace {tr.meta.get('name') or tid}", kind="trace", id=tid,
        year=y, sources=(src,) if src else (), low=float(tr.ci_g_per_kwh.min()),
        high=float(tr.ci_g_per_kwh.max()), scope=tr.meta.get("scope"), licence=tr.meta.get("licence"),
        warnings=tuple(warnings), trace=tr,
    )


def _trace_year(tr: Trace) -> int | None:
    if "year" in tr.meta:
        return int(tr.meta["year"])
    y0 = datetime.fromtimestamp(tr.t_s[0], timezone.utc).year
    y1 = datetime.fromtimestamp(tr.t_s[-1], timezone.utc).year
    return y0 if y0 == y1 else None


# ------------------------------------------------------------------------------------------------
# Trace CSV reader
# ------------------------------------------------------------------------------------------------
def _parse_time(text: str) -> datetime:
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    return dt


def _seconds(x) -> float | None:
    if x is None:
        return None
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if isinstance(x, str):
        x = _parse_time(x)
    if isinstance(x, datetime):
        if x.tzinfo is None:
            x = x.replace(tzinfo=timezone.utc)
        return x.timestamp()
    raise TypeError(f"expected a time, found {type(x).__name__}")


def read_trace_csv(path) -> Trace:
    """Read and validate an intensity trace CSV.

    Format: optional ``# key: value`` lines (keys: name, region, year, basis, scope, source,
    licence, note; other ``#`` lines without a known key are comments), then a header with at
    least the columns ``timestamp`` and ``ci_g_per_kwh`` (others are ignored), then one row per
    sample. Timestamps are ISO 8601 (``2022-01-01T00:00:00Z``, ``2022-01-01 00:00:00+00:00``);
    either all carry a UTC offset or none does (then they are taken as UTC). Values are finite
    and >= 0; timestamps increase strictly (no duplicates).

    Raises
    ------
    InputError
        Naming the file, the row (data row number and file line) and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("trace file not found", file=str(path))
    if path.stat().st_size > MAX_TRACE_BYTES:
        raise InputError(f"trace file is larger than {MAX_TRACE_BYTES // 1_000_000} MB", file=str(path))
    meta: dict = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"not a UTF-8 text file ({exc.reason})", file=str(path)) from None
    lineno = 0
    while lineno < len(lines) and (lines[lineno].startswith("#") or not lines[lineno].strip()):
        body = lines[lineno].lstrip("#").strip()
        key, sep, value = body.partition(":")
        key = key.strip().lower()
        if sep and key in TRACE_META_KEYS:
            meta[key] = value.strip()
        lineno += 1
    _check_meta(meta, path)
    if lineno >= len(lines):
        raise InputError("no header line; expected columns timestamp,ci_g_per_kwh", file=str(path))
    reader = csv.reader(lines[lineno:])
    header = [h.strip() for h in next(reader)]
    for col in ("timestamp", "ci_g_per_kwh"):
        if col not in header:
            raise InputError(f"missing column {col!r}; the header has {', '.join(header) or 'nothing'}",
                             file=str(path), field=f"line {lineno + 1}")
    if len(set(header)) != len(header):
        raise InputError("duplicate column names in the header", file=str(path), field=f"line {lineno + 1}")
    it, ic = header.index("timestamp"), header.index("ci_g_per_kwh")
    times: list[float] = []
    values: list[float] = []
    aware = None
    row = 0
    for k, cells in enumerate(reader, start=1):
        line = lineno + 1 + k
        if not cells or all(not c.strip() for c in cells):
            continue
        row += 1
        where = f"row {row} (line {line})"
        if len(cells) != len(header):
            raise InputError(f"{len(cells)} cells for {len(header)} columns", file=str(path), field=where)
        raw_t, raw_v = cells[it].strip(), cells[ic].strip()
        try:
            dt = _parse_time(raw_t)
        except ValueError:
            raise InputError(f"timestamp {raw_t!r} is not ISO 8601 (like 2022-01-01T00:00:00Z)",
                             file=str(path), field=f"{where}, column timestamp") from None
        has_tz = dt.tzinfo is not None
        if aware is None:
            aware = has_tz
        elif aware != has_tz:
            raise InputError(f"timestamp {raw_t!r} {'has' if has_tz else 'lacks'} a UTC offset unlike the "
                             "first row; use one convention", file=str(path), field=f"{where}, column timestamp")
        try:
            v = float(raw_v)
        except ValueError:
            raise InputError(f"expected a number, found {raw_v!r}", file=str(path),
                             field=f"{where}, column ci_g_per_kwh") from None
        if not math.isfinite(v) or v < 0:
            raise InputError(f"intensity must be finite and >= 0, found {raw_v!r}", file=str(path),
                             field=f"{where}, column ci_g_per_kwh")
        t = _seconds(dt)
        if times and t <= times[-1]:
            what = "duplicates" if t == times[-1] else "is earlier than"
            raise InputError(f"timestamp {raw_t!r} {what} the previous row; rows must be sorted by time "
                             "without duplicates", file=str(path), field=f"{where}, column timestamp")
        times.append(t)
        values.append(v)
    if not times:
        raise InputError("no data rows", file=str(path))
    return Trace(str(path), np.array(times), np.array(values), meta)


def _check_meta(meta: dict, path: Path) -> None:
    if "basis" in meta and meta["basis"] not in BASES:
        raise InputError(f"basis must be one of {', '.join(BASES)}; found {meta['basis']!r}",
                         file=str(path), field="# basis")
    if "scope" in meta and not meta["scope"].lower().startswith("location-based"):
        raise InputError("scope must start with 'location-based' (market-based figures are not grid "
                         f"intensities); found {meta['scope']!r}", file=str(path), field="# scope")
    if "year" in meta:
        try:
            meta["year"] = int(meta["year"])
        except ValueError:
            raise InputError(f"year must be a whole number, found {meta['year']!r}",
                             file=str(path), field="# year") from None


def trace_summary(tr: Trace) -> dict:
    """Statistics of a trace: count, span, coverage, means and percentiles [g/kWh]."""
    s, e = covered_intervals(tr.t_s)
    covered = float(np.sum(e - s))
    span = float(tr.t_s[-1] - tr.t_s[0] + nominal_step_s(tr.t_s))
    c = tr.ci_g_per_kwh
    iso = lambda x: datetime.fromtimestamp(x, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return {
        "samples": int(c.size), "start": iso(tr.t_s[0]), "end": iso(tr.t_s[-1]),
        "step_s": nominal_step_s(tr.t_s), "coverage": covered / span if span > 0 else 1.0,
        "mean_g_per_kwh": trace_mean_g_per_kwh(c),
        "time_weighted_mean_g_per_kwh": time_weighted_mean_g_per_kwh(tr.t_s, c),
        "min_g_per_kwh": float(c.min()), "p5_g_per_kwh": float(np.percentile(c, 5)),
        "p50_g_per_kwh": float(np.percentile(c, 50)), "p95_g_per_kwh": float(np.percentile(c, 95)),
        "max_g_per_kwh": float(c.max()),
    }


# ------------------------------------------------------------------------------------------------
# list / show
# ------------------------------------------------------------------------------------------------
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
        for tid, p in sorted(idx["traces"].items()):
            g = _resolve_trace(read_trace_csv(p), tid, None)
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
        traces = sorted(x for x, p in idx["traces"].items() if read_trace_csv(p).meta.get("region") == rid)
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
        tr = read_trace_csv(idx["traces"][rid])
        return {"kind": "trace", "id": rid, "path": str(idx["traces"][rid]), **tr.meta, **trace_summary(tr)}
    g = resolve_grid(text, db, table=table or DEFAULT_TABLE)
    out = g.as_dict()
    if g.trace is not None:
        out.update(trace_summary(g.trace))
    return out


# ------------------------------------------------------------------------------------------------
# Cross-checks (for `carbonsim db check`)
# ------------------------------------------------------------------------------------------------
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
        layer = _layer(db, path)
        for rid in entries:
            if (layer, rid) in seen:
                problems.append(InputError(f"region {rid!r} is also defined in {seen[(layer, rid)]}",
                                           file=str(path), field=f"regions.{rid}"))
            seen[(layer, rid)] = str(path)
    try:
        idx = _index(db)
    except InputError as exc:
        return problems + [exc]
    regions = idx["regions"]
    source_names = {n for t in db.ids("grid") for n in db.get("grid", t)["ci_g_per_kwh"]}
    for rid, (t, e) in regions.items():
        path = str(db.path("regions", t))
        for other, what in ((source_names, "an energy-source name"), (idx["trajectories"], "a trajectory id"),
                            (set(idx["traces"]), "a trace id")):
            if rid in other:
                problems.append(InputError(f"region id {rid!r} is also {what}; --grid {rid} would be ambiguous",
                                           file=path, field=f"regions.{rid}"))
        if e.get("zone") and e["zone"] not in regions:
            problems.append(InputError(f"zone {e['zone']!r} is not a region id", file=path,
                                       field=f"regions.{rid}.zone"))
    for tid in idx["trajectories"]:
        t = db.get("trajectories", tid)
        if t.get("region") and t["region"] not in regions:
            problems.append(InputError(f"region {t['region']!r} is not a region id",
                                       file=str(db.path("trajectories", tid)), field="region"))
    for tid, p in idx["traces"].items():
        try:
            tr = read_trace_csv(p)
        except InputError as exc:
            problems.append(exc)
            continue
        if tr.meta.get("source") and tr.meta["source"] not in sources:
            problems.append(InputError(f"source {tr.meta['source']!r} is not in sources.yaml", file=str(p),
                                       field="# source"))
        if tr.meta.get("region") and tr.meta["region"] not in regions:
            problems.append(InputError(f"region {tr.meta['region']!r} is not a region id", file=str(p),
                                       field="# region"))
        if tid in source_names or tid in idx["trajectories"]:
            problems.append(InputError(f"trace id {tid!r} is also a source or trajectory id", file=str(p)))
    return problems
