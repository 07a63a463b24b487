"""``carbonsim experiment``: the sustainability table of a study, for a terminal, JSON, CSV, and
Markdown or LaTeX that a paper can include as it is (layer 3)."""

from __future__ import annotations

from carbonsim.report.text import csv_text, fmt_num, json_text, table

#: Formats ``carbonsim experiment`` writes, and the file types that imply them.
FORMATS = ("table", "json", "csv", "markdown", "latex")
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".tex": "latex", ".json": "json", ".csv": "csv"}
COLUMNS = ("Configuration", "Calls", "Tokens in / out (M)", "Duration (h)", "Energy (kWh)",
           "CO2e operational (g)", "CO2e embodied (g)", "CO2e total (g)", "Grid (gCO2e/kWh)", "PUE")


def _g(kg: float) -> str:
    g = kg * 1e3
    return f"{g:,.0f}" if abs(g) >= 100 else f"{g:,.1f}" if abs(g) >= 1 else f"{g:.3g}"


def _ranged(corners, key, fn) -> str:
    c, lo, hi = (getattr(corners[k], key) for k in ("central", "low", "high"))
    return f"{fn(c)} [{fn(min(lo, hi))}-{fn(max(lo, hi))}]"


def _rows(r) -> list[list[str]]:
    """The sustainability table's rows: each configuration (central [low-high]), its measured run,
    and the study's total."""
    def kwh(x):
        return f"{x:.3g}" if x < 1 else f"{x:,.2f}"

    rows = []
    for c in r.configurations:
        k = c.corners
        t = k["central"]
        grid = f"{c.ci_g_per_kwh:,.0f} ({c.grid_id})"
        if c.market_based_g_per_kwh is not None:
            grid += f"; market-based {c.market_based_g_per_kwh:,.0f}"
        rows.append([c.name, f"{t.calls:,}", f"{t.prompt_tokens / 1e6:.2f} / {t.output_tokens / 1e6:.2f}",
                     f"{t.duration_s / 3600:.2f}", _ranged(k, "energy_kwh", kwh), _ranged(k, "operational_kg", _g),
                     _ranged(k, "embodied_kg", _g), _ranged(k, "total_kg", _g), grid, f"{c.pue:g}"])
        if c.measured is not None:
            m = c.measured
            rows.append([f"{c.name} (measured)", f"{m.calls:,}", "", f"{m.duration_s / 3600:.2f}", kwh(m.energy_kwh),
                         _g(m.operational_kg), _g(m.embodied_kg), _g(m.total_kg), grid, f"{c.pue:g}"])
    tot = r.totals()
    c, lo, hi = tot["central"], tot["low"], tot["high"]

    def rng(key, fn):
        return f"{fn(c[key])} [{fn(min(lo[key], hi[key]))}-{fn(max(lo[key], hi[key]))}]"

    rows.append(["Total", f"{c['calls']:,}", f"{c['prompt_tokens'] / 1e6:.2f} / {c['output_tokens'] / 1e6:.2f}",
                 f"{c['duration_s'] / 3600:.2f}", rng("energy_kwh", kwh), rng("operational_kg", lambda x: _g(x)),
                 rng("embodied_kg", lambda x: _g(x)), rng("total_kg", lambda x: _g(x)), "", ""])
    return rows


def _caption(r) -> str:
    e = r.experiment
    return (f"Carbon of the {e.name} study: {e.calls:,} calls per configuration. Central estimate [low-high]: low and "
            "high take every ranged input at its end with less or more carbon (model size, serving load and PUE for "
            "APIs; throughput error and machine lifetime for local runs). Operational carbon at the annual "
            "location-based grid intensity shown; embodied carbon of the hardware over the calls' time "
            f"(coefficient set {r.coefficients}). Estimated with carbonsim.")


def markdown_table(r) -> str:
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "|".join(["---"] + ["---:"] * 7 + ["---", "---:"]) + "|\n"
    body = "\n".join("| " + " | ".join(row) + " |" for row in _rows(r))
    return head + body + "\n\n" + _caption(r) + "\n"


def _tex(s: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#"),
                 ("$", "\\$")):
        s = s.replace(a, b)
    return s.replace("CO2e", "CO$_2$e")


def latex_table(r) -> str:
    cols = [_tex(c) for c in COLUMNS]
    lines = ["\\begin{table}[ht]", "\\centering", "\\small", "\\begin{tabular}{l" + "r" * 7 + "lr}", "\\hline",
             " & ".join(cols) + " \\\\", "\\hline"]
    rows = _rows(r)
    for i, row in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("\\hline")
        lines.append(" & ".join(_tex(x).replace(" [", " {\\scriptsize [").replace("]", "]}") for x in row) + " \\\\")
    lines += ["\\hline", "\\end{tabular}", f"\\caption{{{_tex(_caption(r))}}}",
              f"\\label{{tab:carbon-{_tex(r.experiment.name)}}}", "\\end{table}"]
    return "\n".join(lines) + "\n"


CSV_KEYS = ("configuration", "kind", "corner", "calls", "prompt_tokens", "output_tokens", "duration_s", "gpu_kwh",
            "host_kwh", "overhead_kwh", "energy_kwh", "operational_kg", "embodied_kg", "total_kg", "ci_g_per_kwh",
            "market_based_g_per_kwh", "grid", "basis", "pue")


def csv_table(r) -> str:
    """One row per configuration and corner (``low``, ``central``, ``high``, ``measured``)."""
    rows = []
    for c in r.configurations:
        for corner, t in [*c.corners.items(), *([("measured", c.measured)] if c.measured else [])]:
            d = t.as_dict()
            rows.append([c.name, c.kind, corner, *(d[k] for k in CSV_KEYS[3:14]), c.ci_g_per_kwh,
                         c.market_based_g_per_kwh, c.grid, c.basis, c.pue])
    return csv_text(CSV_KEYS, rows)


def experiment_text(r, fmt: str) -> str:
    """The result in ``fmt`` (:data:`FORMATS`)."""
    if fmt == "json":
        return json_text(r.as_dict())
    if fmt == "csv":
        return csv_table(r)
    if fmt == "markdown":
        return markdown_table(r)
    if fmt == "latex":
        return latex_table(r)
    head = [c if c != "Tokens in / out (M)" else "Tokens in/out M" for c in COLUMNS]
    body = table(_rows(r), head, "lrrrrrrrlr")
    per = table([[c.name, fmt_num(c.per_call["energy_wh"], 3), fmt_num(c.per_call["operational_g"], 4),
                  fmt_num(c.per_call["embodied_g"], 4), fmt_num(c.per_call["total_g"], 4),
                  fmt_num(c.per_call["latency_s"], 2)] for c in r.configurations],
                ["per call (central)", "energy Wh", "operational g", "embodied g", "total g", "latency s"], "lrrrrr")
    return (f"experiment {r.experiment.name}: {r.experiment.calls:,} calls per configuration "
            f"(coefficients {r.coefficients})\n\n{body}\n\n{per}")


def experiment_notes(r) -> list[str]:
    """What each configuration assumed (the command line prints them on stderr)."""
    return [f"{c.name}: {n}" for c in r.configurations for n in c.notes if n]
