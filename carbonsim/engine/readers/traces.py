"""Grid-intensity traces from CSV files (layer 2): read, validate, summarise.

Format (or an Electricity Maps data-portal export, read by
:mod:`carbonsim.engine.readers.electricitymaps`): optional ``# key: value`` lines (keys: name, region, year, basis, scope, source, licence,
note; other ``#`` lines are comments), then a header with at least the columns ``timestamp`` and
``ci_g_per_kwh`` (others are ignored), then one row per sample. Timestamps are ISO 8601
(``2022-01-01T00:00:00Z``, ``2022-01-01 00:00:00+00:00``); either all carry a UTC offset or none
does (then they are taken as UTC). Values are finite and >= 0; timestamps increase strictly.
The table itself is read by :func:`carbonsim.engine.readers.table.read_table`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from carbonsim.engine.readers.table import _header_words, parse_number, read_table
from carbonsim.errors import InputError
from carbonsim.models.grid.carbon import BASES
from carbonsim.models.grid.traces import (
    covered_intervals,
    energy_weighted_ci_g_per_kwh,
    nominal_step_s,
    time_weighted_mean_g_per_kwh,
    trace_mean_g_per_kwh,
)

TRACE_META_KEYS = ("name", "region", "year", "basis", "scope", "source", "licence", "note")


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



def _parse_time(text: str) -> datetime:
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    return datetime.fromisoformat(s)


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


def read_trace_csv(path, basis: str | None = None, zone: str | None = None) -> Trace:
    """Read and validate an intensity trace CSV: carbonsim's format (module docstring) or an
    Electricity Maps export (:mod:`carbonsim.engine.readers.electricitymaps`; ``basis`` and
    ``zone`` choose its column and zone).

    Raises
    ------
    InputError
        Naming the file, the line and the column.
    """
    from carbonsim.engine.readers.electricitymaps import is_export, read_export

    path = Path(path)
    table = read_table(path, (), kind="trace", what="trace CSV")
    if is_export(table.columns):
        return Trace(table.file, *read_export(table, basis, zone))
    if basis is not None or zone is not None:
        raise InputError("a basis or zone is chosen only in an Electricity Maps export; this file is a carbonsim "
                         "trace (timestamp, ci_g_per_kwh, '# basis:' line)", file=str(path), field="grid")
    file = table.file
    missing = [c for c in ("timestamp", "ci_g_per_kwh") if c not in table.columns]
    if missing:
        raise InputError(f"line {table.header_line}: missing column {missing[0]!r} "
                         f"({_header_words(table.columns, ('timestamp', 'ci_g_per_kwh'))}); a trace CSV needs "
                         "timestamp, ci_g_per_kwh, or an Electricity "
                         "Maps export (Datetime (UTC), Carbon Intensity gCO₂eq/kWh ...)", file=file, field=missing[0])
    meta: dict = {}
    for line in table.comments:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in TRACE_META_KEYS:
            meta[key.strip().lower()] = value.strip()
    _check_meta(meta, file)
    times, values, aware = [], [], None
    for rec in table.records:
        raw_t = rec.cells["timestamp"].strip()
        try:
            dt = _parse_time(raw_t)
        except ValueError:
            raise InputError(f"line {rec.line}: timestamp {raw_t!r} is not ISO 8601 (like 2022-01-01T00:00:00Z)",
                             file=file, field="timestamp") from None
        has_tz = dt.tzinfo is not None
        if aware is None:
            aware = has_tz
        elif aware != has_tz:
            raise InputError(f"line {rec.line}: timestamp {raw_t!r} {'has' if has_tz else 'lacks'} a UTC offset "
                             "unlike the first row; use one convention", file=file, field="timestamp")
        v = parse_number(rec.cells["ci_g_per_kwh"], file, rec.line, "ci_g_per_kwh", required=True)
        t = _seconds(dt)
        if times and t <= times[-1]:
            what = "duplicates" if t == times[-1] else "is earlier than"
            raise InputError(f"line {rec.line}: timestamp {raw_t!r} {what} the previous row; rows must be "
                             "sorted by time without duplicates", file=file, field="timestamp")
        times.append(t)
        values.append(v)
    return Trace(file, np.array(times), np.array(values), meta)


def _check_meta(meta: dict, file: str) -> None:
    if "basis" in meta and meta["basis"] not in BASES:
        raise InputError(f"basis must be one of {', '.join(BASES)}; found {meta['basis']!r}",
                         file=file, field="# basis")
    if "scope" in meta and not meta["scope"].lower().startswith("location-based"):
        raise InputError("scope must start with 'location-based' (market-based figures are not grid "
                         f"intensities); found {meta['scope']!r}", file=file, field="# scope")
    if "year" in meta:
        try:
            meta["year"] = int(meta["year"])
        except ValueError:
            raise InputError(f"year must be a whole number, found {meta['year']!r}",
                             file=file, field="# year") from None


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
