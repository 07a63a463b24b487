"""Summary of a sweep for the terminal, as JSON and as CSV (DESIGN.md §7: points, best, results)."""

from __future__ import annotations

from carbonsim.engine.sweep.run import Best, SweepResult
from carbonsim.report.text import csv_text, json_text, table


#: What the summary's "at" column says when a best point changes none of the choices.
OWN_CHOICES = "(the scenario's own choices)"


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
        "baseline_meets_constraints": b.baseline_meets,
        "point_index": b.index,
        "held": b.held,
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
        "decisions": r.decisions,
        **({"pareto": _front_rows(r)} if r.pareto is not None else {}),
        **({"lifecycle": r.lifecycle} if getattr(r, "lifecycle", None) else {}),
    }


def _front_rows(r: SweepResult) -> dict:
    """The front in JSON: its columns, and each point's swept values and front columns."""
    cols = r.decisions["pareto"]["columns"]
    keep = [c for c in r.pareto.columns if c in set(r.columns) | set(cols)]
    return {"columns": cols, "maximise": r.decisions["pareto"]["maximise"], "points": len(r.pareto),
            "table": r.meta.get("pareto_table"),
            "rows": [{k: _plain(v) for k, v in row.items()} for row in r.pareto[keep].to_dict("records")]}


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def _rows(bests, units: dict) -> list[dict]:
    out = []
    for b in bests:
        saving = "-" if b.saving is None else f"{100 * b.saving:.1f}%"
        if b.baseline_note:
            saving = "n/a"
        out.append({"objective": b.objective,
                    "group": ", ".join(f"{k}={_fmt(v)}" for k, v in b.group.items() if k not in b.held),
                    "best": f"{_fmt(b.value)} {units.get(b.column, '')}".strip(),
                    "baseline": ("infeasible" if "infeasible" in (b.baseline_note or "") else "-")
                    if b.baseline_value is None else _fmt(b.baseline_value) + ("*" if b.baseline_meets is False else ""),
                    "saving": saving,
                    "at": ", ".join(f"{k}={_fmt(v)}" for k, v in b.params.items() if k not in b.group)
                    or OWN_CHOICES,
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


def _label(values: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in values.items())


def _unmet_rows(unmet: list[dict]) -> list[dict]:
    """Rows for groups where no feasible point meets the constraints (with their closest point)."""
    out = []
    for u in unmet:
        c = u["closest"]
        got = ", ".join(f"{k} {_fmt(v)}" for k, v in c["values"].items())
        out.append({"objective": "(all)", "group": _label({k: v for k, v in u["group"].items() if k not in u["held"]}),
                    "best": "none meets the constraints", "baseline": "-", "saving": "-",
                    "at": f"closest: {_label(c['params']) or OWN_CHOICES} ({got})", "note": ""})
    return out


def _decision_lines(r: SweepResult) -> list[str]:
    """What the sweep held, which constraints it applied and how many points met them, the front."""
    d = r.decisions or {}
    lines = []
    c = d.get("constraints")
    if c:
        bounds = ", ".join(c["excluded"])
        most = f"; {c['most_excluding']} excluded the most ({c['excluded'][c['most_excluding']]:,})" \
            if c["most_excluding"] else ""
        lines.append(f"constraints {bounds}: {c['meeting_points']:,} of {c['feasible_points']:,} feasible points "
                     f"meet them{most}")
    if d.get("held"):
        own = "" if d.get("own") else "; the scenario's own value is not swept, so there is no best of its own"
        lines.append(f"held (your circumstances: the best is chosen within each value, never across): "
                     f"{', '.join(d['held'])}{own}")
    if d.get("chosen_circumstances"):
        lines.append(f"chosen, though usually a circumstance (choose: in the scenario): "
                     f"{', '.join(d['chosen_circumstances'])}")
    p = d.get("pareto")
    if p:
        where = f" -> {r.meta['pareto_table']}" if r.meta.get("pareto_table") and r.results else ""
        sense = ", ".join(f"{col} {'max' if col in p['maximise'] else 'min'}" for col in p["columns"])
        groups = len(r.pareto.groupby(d["held"], sort=False)) if d.get("held") and r.pareto is not None else 0
        lines.append(f"pareto front ({sense}): {p['points']:,} non-dominated points"
                     + (f" over {groups} held values" if groups > 1 else "") + where)
    return lines


def sweep_table(r: SweepResult) -> str:
    bests = r.best_by or list(r.best.values())
    d = r.decisions or {}
    unmet = d.get("unmet_groups", [])
    grouped = any(b.group and set(b.group) - set(b.held) for b in bests) or \
        any(set(u["group"]) - set(u["held"]) for u in unmet)
    keys = ["objective"] + (["group"] if grouped else []) + ["best", "baseline", "saving", "at"]
    align = "l" * (len(keys) - 4) + "rrrl"
    lines = [
        f"scenario {r.scenario.name}: {r.points:,} points ({r.feasible_points:,} feasible) "
        f"in {r.elapsed_s:.2f} s ({r.points_per_s:,.0f} points/s over {_eval_s(r):.2f} s of evaluation"
        + _compile_text(r) + "); coefficients "
        f"{r.meta.get('coefficients')}" + (f"; grid {r.meta['grid']['label']}" if (r.meta.get("grid") or {}).get("period")
                                           else ""),
    ]
    lines += _decision_lines(r)
    rows = []
    if d.get("held"):  # a compact table per combination of held values
        blocks: dict = {}
        for b in bests:
            blocks.setdefault(tuple(b.held.items()), ([], []))[0].append(b)
        for u in unmet:
            blocks.setdefault(tuple(u["held"].items()), ([], []))[1].append(u)
        own = tuple((d.get("own") or {}).items())
        sizes = []
        for mine, none in blocks.values():
            block = _rows(mine, r.units) + _unmet_rows(none)
            rows += block
            sizes.append(len(block))
        # one table, so that every block's columns line up; cut into blocks under their values
        head, sep, *body = table([[x[k] for k in keys] for x in rows], keys, align).split("\n")
        at = 0
        for held, n in zip(blocks, sizes):
            lines += ["", _label(dict(held)) + ("  (the scenario's own)" if held == own and len(blocks) > 1 else ""),
                      head, sep, *body[at:at + n]]
            at += n
    else:
        rows = _rows(bests, r.units) + _unmet_rows(unmet)
        lines += ["", table([[x[k] for k in keys] for x in rows], keys, align)]
    notes = sorted({x["note"] for x in rows if x["note"]})
    for n in notes:
        lines.append(f"saving n/a: {n}")
    if any(b.baseline_meets is False and b.baseline_value is not None for b in bests):
        lines.append("* the baseline does not meet the constraints (a best that meets them may cost more)")
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
