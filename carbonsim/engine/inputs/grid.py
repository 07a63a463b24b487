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
  path of a CSV file with columns ``timestamp, ci_g_per_kwh``, or of an Electricity Maps export
  (hourly to yearly; ``FILE.csv:direct`` or ``FILE.csv:lifecycle`` picks the column, default
  lifecycle, and ``FILE.csv:ZONE`` a zone of a file holding several);
- a bare number: an intensity the user states, in g/kWh (``57``; basis unknown).

Every result names its basis (``lifecycle`` or ``direct``); :func:`check_same_basis` returns a
warning when two intensities are compared across bases. See ``docs/grid.md``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from carbonsim.engine.db.schema import Checker, Quantity
from carbonsim.engine.inputs.options import GIVEN_CI, MIX_SHARE
from carbonsim.engine.readers.traces import Trace, read_trace_csv
from carbonsim.errors import InputError
from carbonsim.models.grid.carbon import BASES
from carbonsim.models.grid.carbon import mix_intensity_g_per_kwh
from carbonsim.models.grid.traces import time_weighted_mean_g_per_kwh
from carbonsim.models.grid.trajectory import trajectory_ci_g_per_kwh, trajectory_mean_g_per_kwh

DEFAULT_TABLE = "ipcc-ar5"
#: Kinds of grid that ``resolve_grid`` returns and ``list_grids`` lists.
GRID_KINDS = ("source", "mix", "region", "trajectory", "trace")
#: Kinds ``list_grids`` accepts (``table`` lists the per-source tables mixes draw from; ``mix``
#: is an alias for it, since no mix is stored).
LIST_KINDS = ("source", "region", "trajectory", "trace", "table", "mix")
TRACE_META_KEYS = ("name", "region", "year", "basis", "scope", "source", "licence", "note")

_MIX_PART = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*([^,:]+?)\s*$")


# ------------------------------------------------------------------------------------------------
# Data classes
# ------------------------------------------------------------------------------------------------
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
    period : (float, float) or None
        The years ``[start, end]`` the intensity stands for when it was resolved over a period
        of use (:func:`grid_over_period`); None for a value of one year (``year``).
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
    period: tuple[float, float] | None = None

    def as_dict(self) -> dict:
        """JSON-ready summary (no trace samples)."""
        out = {
            "id": self.id, "kind": self.kind, "label": self.label, "ci_g_per_kwh": self.ci_g_per_kwh,
            "basis": self.basis, "year": self.year, "sources": list(self.sources), "low": self.low,
            "high": self.high, "scope": self.scope, "licence": self.licence, "table": self.table,
            "warnings": list(self.warnings),
        }
        if self.period is not None:
            out["period"] = list(self.period)
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
# Database access
# ------------------------------------------------------------------------------------------------
def _index(db) -> dict:
    """Regions (id -> (table, entry)), trajectory ids and trace ids of ``db``."""
    return {"regions": db.regions(), "trajectories": set(db.ids("trajectories")), "traces": set(db.ids("traces"))}


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
    csv_path, basis, zone = _csv_choice(text)
    if csv_path is not None or text.lower().endswith(".csv") or "/" in text or "\\" in text:
        path = Path(csv_path or text).expanduser()
        if not path.exists():
            raise InputError("trace file not found", file=str(path), field="grid")
        return _resolve_trace(read_trace_csv(path, basis, zone), str(path), year)
    if _is_number(text):
        return _resolve_value(text)
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
        return _resolve_trace(db.trace(rid), rid, year)
    raise _unknown(text, db, table)


_CSV_CHOICE = re.compile(r"^(?P<path>.+?\.csv)(?P<choice>(?::[A-Za-z0-9_.-]+)+)$", re.IGNORECASE)


def _csv_choice(text: str) -> tuple[str | None, str | None, str | None]:
    """``FILE.csv:direct``, ``FILE.csv:FR`` or ``FILE.csv:FR:lifecycle`` -> (path, basis, zone)."""
    m = _CSV_CHOICE.match(text)
    if not m:
        return None, None, None
    basis = zone = None
    for part in m.group("choice").strip(":").split(":"):
        if part.lower() in BASES:
            basis = part.lower()
        else:
            zone = part
    return m.group("path"), basis, zone


def _resolve_value(text: str) -> GridIntensity:
    """A bare number: an intensity the user states [g/kWh] (a published case's, a contract's)."""
    v = float(text)
    ck = Checker("")
    GIVEN_CI.check(v, "", ck)
    if ck.errors:
        raise InputError(f"a grid intensity must be {GIVEN_CI.minimum:g}..{GIVEN_CI.maximum:g} g/kWh, found {text!r}",
                         field="grid")
    return GridIntensity(ci_g_per_kwh=v, basis="unknown", label=f"{v:g} g/kWh (given)", kind="value", id=f"{v:g}",
                         scope="given by the user; its basis is not known")


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
        ck = Checker("")
        MIX_SHARE.check(share, "", ck)
        if ck.errors:
            raise InputError(f"share of {name!r} in mix {text!r} {ck.errors[0].message} (shares are fractions "
                             "or per cent)", field="grid")
        names.append(name)
        shares.append(share)
    total = sum(shares)
    if total <= 0:
        raise InputError(f"shares in mix {text!r} sum to 0; at least one must be positive", field="grid")
    warnings = []
    if abs(total - 1.0) > 1e-6:
        warnings.append(f"mix shares sum to {total:g}, not 1; normalised to 1")
    qs = [sources[n] for n in names]
    norm = [s / total for s in shares]
    ci = mix_intensity_g_per_kwh(norm, [q.value for q in qs])
    low = high = None
    if all(q.low is not None for q in qs):
        low = mix_intensity_g_per_kwh(norm, [q.low for q in qs])
    if all(q.high is not None for q in qs):
        high = mix_intensity_g_per_kwh(norm, [q.high for q in qs])
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


# ------------------------------------------------------------------------------------------------
# A grid over a period of use
# ------------------------------------------------------------------------------------------------
def grid_by_year(grid: GridIntensity, db, start_year: int, years: int) -> tuple[np.ndarray, list[str]]:
    """The grid's intensity in each calendar year ``start_year .. start_year + years - 1`` [g/kWh].

    A trajectory gives its mean over each calendar year (:func:`trajectory_mean_g_per_kwh`); a
    region gives its published value for that year where there is one (on the same basis), else
    its default (latest) value; a source, mix, value or trace the same value every year.

    Returns
    -------
    ci : ndarray, shape (years,)
    notes : list of str
        What was assumed (years a trajectory or region does not cover).
    """
    start_year, years = int(start_year), int(years)
    notes = []
    if grid.kind == "trajectory":
        ys, vals, rule = trajectory_points(db, grid.id)
        ci = np.array([trajectory_mean_g_per_kwh(start_year + k, start_year + k + 1, ys, vals, rule)
                       for k in range(years)])
        if start_year + years > ys[-1] + 1 or start_year < ys[0]:
            notes.append(f"trajectory {grid.id} covers {ys[0]}-{ys[-1]}; outside it the nearest value is held")
    elif grid.kind == "region":
        values, held = [], []
        for k in range(years):
            g = resolve_grid(grid.id, db, year=start_year + k)
            values.append(g.ci_g_per_kwh)
            if g.year != start_year + k:
                held.append(start_year + k)
        ci = np.array(values)
        if held:
            notes.append(f"{grid.id}: no published value for {held[0]}-{held[-1]}; its default (latest) value is used")
    else:
        ci = np.full(years, grid.ci_g_per_kwh)
    return ci, notes


def grid_over_period(grid: GridIntensity, db, years: float, start_year: float | None = None) -> GridIntensity:
    """The grid over a period of use ``[start, start + years]``: the intensity to multiply by
    the energy of a constant draw over that period (docs/grid.md).

    A trajectory gives its time mean over the period (:func:`trajectory_mean`), a region the
    mean of its yearly values (:func:`grid_by_year`) weighted by the part of each calendar year
    the period covers; any other grid is the same every year and is returned unchanged. The
    result's label and ``period`` say which years were used. ``start_year`` defaults to the
    year the grid was resolved for (a trajectory's first year when none was given).
    Year by year (:func:`grid_by_year`) and over the period agree: the mean of the yearly values
    over whole years is the value over the period.
    """
    if grid.kind not in ("trajectory", "region") or not years > 0:
        return grid
    from dataclasses import replace

    start = float(start_year if start_year is not None else grid.year)
    end = start + float(years)
    if grid.kind == "trajectory":
        ci = trajectory_mean(db, grid.id, start, end)
        notes = []
    else:
        first = int(np.floor(start))
        if np.ceil(end) - first <= 1 and first == grid.year:  # within the year of its value: that value
            return replace(grid, period=(start, end))
        ci_years, notes = grid_by_year(grid, db, first, int(np.ceil(end)) - first)
        edges = np.arange(first, first + len(ci_years) + 1, dtype=float)
        weight = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0.0, None)
        ci = float(np.dot(ci_years, weight) / weight.sum())
        notes.append(f"{grid.id} over {start:g}-{end:g}: " + ", ".join(f"{first + k} {v:g}" for k, v in enumerate(ci_years))
                     + " g/kWh (each year's published value on its basis, else the default)")
    label = f"{grid.id} (mean {start:g}-{end:g})" if grid.kind == "trajectory" else \
        f"{grid.label}, over {start:g}-{end:g}"
    return replace(grid, ci_g_per_kwh=float(ci), label=label, period=(start, end),
                   warnings=tuple(grid.warnings) + tuple(notes))


def _resolve_trajectory(tid, db, year) -> GridIntensity:
    t = db.get("trajectories", tid)
    years, values, rule = trajectory_points(db, tid)
    warnings = []
    if year is None:
        year = years[0]
        warnings.append(f"trajectory {tid}: no year given; from its first year, {year} (a period of use starts there)")
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
    if "column" in tr.meta:
        return _resolve_export(tr, tid, year)
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


def _resolve_export(tr: Trace, path: str, year) -> GridIntensity:
    """An Electricity Maps export: hourly to monthly data are a trace; one value (a yearly file,
    or the chosen year of one) is a fixed intensity of that year. The label says the zone, the
    granularity and the column read (its basis)."""
    meta, warnings = tr.meta, []
    t, c = tr.t_s, tr.ci_g_per_kwh
    if year is not None and meta["granularity"] == "yearly":
        a, b = tr.year_window_s(year)
        inside = (t >= a) & (t < b)
        if inside.any():
            t, c = t[inside], c[inside]
        else:
            warnings.append(f"{path} has no row for {year}; using every row")
    if meta.get("estimated"):
        warnings.append(f"{path}: {meta['estimated']} of {meta['rows']} rows are estimated by Electricity Maps "
                        "(Data Estimated)")
    label = f"{meta['name']} ({meta['basis']}, column {meta['column']!r})"
    common = dict(basis=meta["basis"], kind="trace", id=path, sources=(meta["source"],), scope=meta["scope"],
                  licence=meta["licence"], low=float(c.min()), high=float(c.max()))
    if c.size == 1 or meta["granularity"] == "yearly":
        y = datetime.fromtimestamp(float(t[0]), timezone.utc).year if c.size == 1 else _trace_year(tr)
        ci = float(c[0]) if c.size == 1 else float(np.mean(c))
        if c.size > 1:
            warnings.append(f"{path}: the mean of {c.size} yearly values (choose one with --year)")
        return GridIntensity(ci_g_per_kwh=ci, label=label + (f" {y}" if y else ""), year=y,
                             warnings=tuple(warnings), **common)
    if year is not None:
        return _resolve_trace_window(tr, path, year, label, common, warnings)
    ci = time_weighted_mean_g_per_kwh(t, c)
    return GridIntensity(ci_g_per_kwh=ci, label=label, year=_trace_year(tr), warnings=tuple(warnings), trace=tr,
                         **common)


def _resolve_trace_window(tr, path, year, label, common, warnings) -> GridIntensity:
    a, b = tr.year_window_s(year)
    start = end = None
    if np.any((tr.t_s >= a) & (tr.t_s < b)):
        start, end = a, b
    else:
        warnings.append(f"{path} has no sample in {year}; using the whole trace")
    ci = time_weighted_mean_g_per_kwh(tr.t_s, tr.ci_g_per_kwh, start, end)
    return GridIntensity(ci_g_per_kwh=ci, label=label, year=year if start is not None else _trace_year(tr),
                         warnings=tuple(warnings), trace=tr, **common)


def _trace_year(tr: Trace) -> int | None:
    if "year" in tr.meta:
        return int(tr.meta["year"])
    y0 = datetime.fromtimestamp(tr.t_s[0], timezone.utc).year
    y1 = datetime.fromtimestamp(tr.t_s[-1], timezone.utc).year
    return y0 if y0 == y1 else None
