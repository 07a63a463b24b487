"""Summary of a sweep for the terminal, as JSON and as CSV (DESIGN.md §7: points, best, results)."""

from __future__ import annotations

from carbonsim.engine.sweep.run import Best, SweepResult
from carbonsim.report.text import csv_text, json_text, table


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _entry(b: Best, units: dict) -> dict:
    return {
        "objective": b.objective,
        "column": b.column,
        "unit": units.get(b.column, ""),
        "value": b.value,
        "group": b.group,
        "params": b.params,
        "metrics": b.metrics,
        "baseline_value": b.baseline_value,
        "saving_vs_baseline": b.saving,
        "baseline_note": b.baseline_note,
        "point_index": b.index,
    }


def sweep_document(r: SweepResult) -> dict:
    """``sweep --format json``: ``points``, ``best`` (one entry per objective), ``best_by`` (one
    per objective and group), ``baseline``, ``results`` (the written table, or null), ``meta``."""
    return {
        "scenario": r.scenario.name,
        "points": r.points,
        "feasible_points": r.feasible_points,
        "best": {o: _entry(b, r.units) for o, b in r.best.items()},
        "best_by": [_entry(b, r.units) for b in r.best_by],
        "baseline": r.baseline,
        "results": r.results,
        "meta": r.meta,
        "elapsed_s": round(r.elapsed_s, 4),
        "eval_s": None if r.eval_s is None else round(r.eval_s, 4),
        "compile_s": round(r.compile_s, 4),
        "points_per_s": round(r.points_per_s, 1),
        **({"lifecycle": r.lifecycle} if getattr(r, "lifecycle", None) else {}),
    }


def _rows(bests, units: dict) -> list[dict]:
    out = []
    for b in bests:
        saving = "-" if b.saving is None else f"{100 * b.saving:.1f}%"
        if b.baseline_note:
            saving = "n/a"
        out.append({"objective": b.objective,
                    "group": ", ".join(f"{k}={_fmt(v)}" for k, v in b.group.items()),
                    "best": f"{_fmt(b.value)} {units.get(b.column, '')}".strip(),
                    "baseline": ("infeasible" if "infeasible" in (b.baseline_note or "") else "-")
                    if b.baseline_value is None else _fmt(b.baseline_value),
                    "saving": saving,
                    "at": ", ".join(f"{k}={_fmt(v)}" for k, v in b.params.items() if k not in b.group)
                    or "(base point)",
                    "note": b.baseline_note or ""})
    return out


def _eval_s(r) -> float:
    return getattr(r, "timed_s", r.eval_s if r.eval_s is not None else r.elapsed_s)


def _compile_text(r) -> str:
    if r.compile_s < 0.01:
        return ""
    if getattr(r, "warm_points", 0) >= r.points:
        return ", loading the kernels included"
    return f"; {r.compile_s:.2f} s compiling or loading kernels" + (" with the first point" if r.warm_points else "")


def sweep_table(r: SweepResult) -> str:
    bests = r.best_by or list(r.best.values())
    rows = _rows(bests, r.units)
    keys = ["objective"] + (["group"] if r.best_by else []) + ["best", "baseline", "saving", "at"]
    lines = [
        f"scenario {r.scenario.name}: {r.points:,} points ({r.feasible_points:,} feasible) "
        f"in {r.elapsed_s:.2f} s ({r.points_per_s:,.0f} points/s over {_eval_s(r):.2f} s of evaluation"
        + _compile_text(r) + "); coefficients "
        f"{r.meta.get('coefficients')}" + (f"; grid {r.meta['grid']['label']}" if (r.meta.get("grid") or {}).get("period")
                                           else ""),
        "",
        table([[x[k] for k in keys] for x in rows], keys, "l" * (len(keys) - 4) + "rrrl"),
    ]
    notes = sorted({x["note"] for x in rows if x["note"]})
    for n in notes:
        lines.append(f"saving n/a: {n}")
    if getattr(r, "lifecycle", None):
        from carbonsim.report.lifecycle_text import lifecycle_text

        lines += ["", lifecycle_text(r.lifecycle)]
    if r.results:
        lines += ["", f"table: {r.results}"]
    if r.meta.get("figures"):
        lines.append(f"figures: {', '.join(r.meta['figures'])} (.pdf, .svg, .png, beside the table)")
    return "\n".join(lines)


def sweep_text(r: SweepResult, fmt: str) -> str:
    """What ``carbonsim sweep`` prints: a table, one JSON document, or the best points as CSV."""
    if fmt == "json":
        return json_text(sweep_document(r))
    if fmt == "csv":
        bests = r.best_by or list(r.best.values())
        params = sorted({k for b in bests for k in b.params})
        keys = ["objective", "column", "value", "baseline_value", "saving_vs_baseline", *params]
        return csv_text(keys, [[b.objective, b.column, b.value, b.baseline_value, b.saving,
                                *[b.params.get(p) for p in params]] for b in bests])
    return sweep_table(r)
