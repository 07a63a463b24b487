"""Summary of a sweep for the terminal and as JSON (DESIGN.md §7: points, best, results)."""

from __future__ import annotations

from carbonsim.report.text import table
from carbonsim.engine.sweep.run import SweepResult

UNITS = {
    "embodied_kg": "kg", "embodied_mg_per_s": "mg/s", "total_mg_per_s": "mg/s",
    "total_g": "g/task", "energy_j": "J/task", "latency_s": "s", "edp_j_s": "J·s", "cdp_g_s": "g·s",
    "cep_g_j": "g·J", "embodied_g": "g/task", "operational_g": "g/task",
}


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def sweep_document(r: SweepResult) -> dict:
    best = {}
    for o, b in r.best.items():
        best[o] = {
            "column": b.column,
            "value": b.value,
            "params": b.params,
            "metrics": b.metrics,
            "baseline_value": b.baseline_value,
            "saving_vs_baseline": b.saving,
            "point_index": b.index,
        }
    return {
        "scenario": r.scenario.name,
        "points": r.points,
        "feasible_points": r.feasible_points,
        "best": best,
        "baseline": r.baseline,
        "results": r.results,
        "meta": r.meta,
        "elapsed_s": round(r.elapsed_s, 4),
    }


def sweep_table(r: SweepResult) -> str:
    lines = [
        f"scenario {r.scenario.name}: {r.points:,} points ({r.feasible_points:,} feasible) "
        f"in {r.elapsed_s:.2f} s ({r.points / max(r.elapsed_s, 1e-9):,.0f} points/s)",
        "",
    ]
    rows = []
    for o, b in r.best.items():
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in b.params.items()) or "(base point)"
        saving = "-" if b.saving is None else f"{100 * b.saving:.1f}%"
        base = "-" if b.baseline_value is None else _fmt(b.baseline_value)
        rows.append([o, f"{_fmt(b.value)} {UNITS.get(b.column, '')}".strip(), base, saving, params])
    lines.append(table(rows, ["objective", "best", "baseline", "saving", "at"], "lrrrl"))
    if r.results:
        lines += ["", f"table: {r.results}"]
    return "\n".join(lines)
