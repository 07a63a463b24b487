r"""``carbonsim schedule``: when and where to run a deferrable job (layer 2).

Given a job's energy and duration, candidate regions (each an hourly trace, a shipped trace id or
a user's trace CSV, or any grid with a yearly value) and a window of allowed start times, the
region and start with the least carbon, and the saving against running now in the default region
(the first one given). Layer 1: :mod:`carbonsim.models.grid.scheduling`.

Traces of another year than the start are shifted by whole calendar years (hour of the year
kept), with a note: a historical trace stands for the typical pattern, not a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.inputs.grid import GridIntensity, resolve_grid
from carbonsim.engine.inputs.options import DEFAULT_PUE, check_options
from carbonsim.errors import OptionError
from carbonsim.models.grid.scheduling import best_choice, repeat_last_day, window_means_g_per_kwh
from carbonsim.models.grid.traces import covered_intervals
from carbonsim.units import HOURS_PER_YEAR

#: Default window of allowed start times [h] (a day of flexibility).
DEFAULT_WINDOW_H = 24.0


@dataclass
class RegionOption:
    grid: GridIntensity
    starts_s: np.ndarray
    mean_ci: np.ndarray  # g/kWh per start (nan: not covered)
    carbon_kg: np.ndarray
    shift_years: int = 0

    @property
    def best_index(self) -> int:
        return int(np.nanargmin(self.carbon_kg))


@dataclass
class ScheduleResult:
    energy_kwh: float
    hours: float
    pue: float
    start_s: float
    window_hours: float
    regions: list[RegionOption]
    best_region: int
    best_start: int
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> RegionOption:
        return self.regions[self.best_region]

    @property
    def best_kg(self) -> float:
        return float(self.best.carbon_kg[self.best_start])

    @property
    def now_kg(self) -> float:
        """Running now (the first allowed start) in the default region (the first given)."""
        return float(self.regions[0].carbon_kg[0])

    @property
    def saving(self) -> float | None:
        return None if not self.now_kg else 1.0 - self.best_kg / self.now_kg

    def as_dict(self) -> dict:
        def iso(t):
            return datetime.fromtimestamp(float(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        regions = []
        for r in self.regions:
            k = r.best_index
            regions.append({"grid": r.grid.label, "id": r.grid.id, "kind": r.grid.kind, "basis": r.grid.basis,
                            "now_ci_g_per_kwh": _f(r.mean_ci[0]), "now_kg": _f(r.carbon_kg[0]),
                            "best_start": iso(r.starts_s[k]), "best_ci_g_per_kwh": _f(r.mean_ci[k]),
                            "best_kg": _f(r.carbon_kg[k]), "shifted_years": r.shift_years})
        return {"energy_kwh": self.energy_kwh, "hours": self.hours, "pue": self.pue, "now": iso(self.start_s),
                "window_hours": self.window_hours, "best": {"grid": self.best.grid.label,
                                                            "start": iso(self.best.starts_s[self.best_start]),
                                                            "kg": self.best_kg},
                "default": {"grid": self.regions[0].grid.label, "kg": self.now_kg}, "saving": self.saving,
                "regions": regions, "notes": self.notes}


def _iso(t) -> str:
    return datetime.fromtimestamp(float(t), timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _f(x):
    return None if not np.isfinite(x) else float(x)


def parse_time(text: str, option: str = "start") -> float:
    """ISO 8601 time as Unix seconds (no offset: UTC)."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(f"expected an ISO 8601 time like 2022-06-01T00:00Z, found {text!r}", option) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def _shift_years(t_s: np.ndarray, start_s: float) -> int:
    """Whole years to add to a trace so that ``start_s`` falls in it (0 when it already does)."""
    if t_s[0] <= start_s <= t_s[-1]:
        return 0
    y_trace = datetime.fromtimestamp(float(t_s[0]), timezone.utc).year
    return datetime.fromtimestamp(start_s, timezone.utc).year - y_trace


def _shifted(t_s: np.ndarray, years: int) -> np.ndarray:
    if years == 0:
        return t_s
    out = np.empty_like(t_s)
    for i, t in enumerate(t_s):
        d = datetime.fromtimestamp(float(t), timezone.utc)
        try:
            out[i] = d.replace(year=d.year + years).timestamp()
        except ValueError:  # 29 February in a year without it
            out[i] = d.replace(year=d.year + years, day=28).timestamp()
    return out


def schedule(grids: list[str], db, energy_kwh: float, hours: float, start: str | None = None,
             window_hours: float = DEFAULT_WINDOW_H, pue: float = DEFAULT_PUE, step_hours: float = 1.0,
             wrap_day: bool = False) -> ScheduleResult:
    """The region and start time with the least carbon (module docstring).

    A start whose job would run past the end of a region's trace is not a candidate (its mean
    would cover only part of the job): those starts are dropped with a note, and when the first
    start already runs past, the question is refused. ``wrap_day`` instead extends each trace by
    repeating its last day (:func:`carbonsim.models.grid.scheduling.repeat_last_day`), with a note.
    """
    check_options(energy_kwh=energy_kwh, hours=hours, window_hours=window_hours, pue=pue)
    check_options(hours=step_hours)
    if window_hours < hours:
        raise OptionError(f"the window ({window_hours:g} h) is shorter than the job ({hours:g} h)", "window_hours")
    resolved = [resolve_grid(g, db) for g in grids]
    notes = [w for g in resolved for w in g.warnings]
    traces = [g.trace for g in resolved if g.trace is not None]
    if start is not None:
        t0 = parse_time(start)
    elif traces:
        t0 = float(traces[0].t_s[0])
        notes.append("no --start: 'now' is the first hour of the first trace")
    else:
        t0 = datetime(datetime.now(timezone.utc).year, 1, 1, tzinfo=timezone.utc).timestamp()
    duration_s = hours * 3600.0

    def job_kg(ci):
        """The job as a constant draw over its hours, through the chain's period stage (no
        embodied carbon: the servers run anyway)."""
        return CarbonChain.over_period(energy_kwh * 1000.0 / hours, hours / HOURS_PER_YEAR, pue, ci,
                                       0.0, 0.0, 1.0, 1.0)["operational_kg"]

    n = int(np.floor((window_hours - hours) / step_hours + 1e-9)) + 1
    starts = t0 + np.arange(n) * step_hours * 3600.0
    regions = []
    for g in resolved:
        if g.trace is None:
            ci = np.full(n, g.ci_g_per_kwh)
            shift = 0
        else:
            shift = _shift_years(g.trace.t_s, t0)
            t = _shifted(g.trace.t_s, shift)
            if shift:
                notes.append(f"{g.label}: shifted {shift:+d} year(s) so that the window falls in it")
            ci_trace = g.trace.ci_g_per_kwh
            end_s = float(covered_intervals(t)[1][-1])
            if wrap_day and starts[-1] + duration_s > end_s:
                try:
                    t, ci_trace = repeat_last_day(t, ci_trace, starts[-1] + duration_s)
                except ValueError:
                    raise OptionError(f"{g.label} spans less than a day: there is no day to repeat", "wrap_day") \
                        from None
                notes.append(f"{g.label}: hours after its end ({_iso(end_s)}) repeat its last day (--wrap-day)")
                end_s = float(covered_intervals(t)[1][-1])
            ci, _ = window_means_g_per_kwh(t, ci_trace, starts, duration_s)
            past = starts + duration_s > end_s + 1e-6
            if past[0]:
                raise OptionError(f"the job ({hours:g} h) started at {_iso(starts[0])} runs past the end of {g.label} "
                                  f"({_iso(end_s)}): give an earlier --start or use --wrap-day to repeat the trace's "
                                  "last day", "start")
            if past.any():
                ci = np.where(past, np.nan, ci)
                notes.append(f"{g.label}: starts after {_iso(starts[~past][-1])} are not candidates: the job would run "
                             f"past the trace's end ({_iso(end_s)}); --wrap-day repeats its last day")
            if not np.isfinite(ci[0]):
                raise OptionError(f"{g.label} does not cover the job started at {start or 'its start'}", "start")
        carbon = job_kg(ci)
        regions.append(RegionOption(g, starts, ci, carbon, shift))
    r, k, _ = best_choice(np.stack([x.carbon_kg for x in regions]))
    bases = {g.basis for g in resolved}
    if len(bases) > 1:
        notes.append(f"the regions' intensities are on different bases ({', '.join(sorted(bases))})")
    return ScheduleResult(energy_kwh, hours, pue, t0, window_hours, regions, r, k, notes)
