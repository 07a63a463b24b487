"""Terminal tables for ``carbonsim embodied`` and ``carbonsim footprint``."""

from __future__ import annotations

from carbonsim.engine.studies.embodied import EmbodiedResult
from carbonsim.engine.studies.footprint import MG_PER_S_TO_KG_PER_YR, FootprintResult
from carbonsim.report.documents import embodied_document, footprint_document
from carbonsim.report.text import csv_text, fmt_num, json_text, table


def embodied_text(r: EmbodiedResult, fmt: str) -> str:
    """``carbonsim embodied`` output: a table, one JSON document, or CSV rows (scope, component, kg)."""
    if fmt == "json":
        return json_text(embodied_document(r))
    if fmt == "csv":
        rows = [["host", k, f"{v:.6f}"] for k, v in r.host_components_kg.items()]
        rows += [["gpu", k, f"{v:.6f}"] for k, v in r.gpu_components_kg.items()]
        rows += [["total", "host", f"{r.host_kg:.6f}"], ["total", "gpu", f"{r.gpu_kg:.6f}"],
                 ["total", "server", f"{r.total_kg:.6f}"]]
        return csv_text(["scope", "component", "embodied_kg"], rows)
    return embodied_table(r)


FOOTPRINT_CSV = ["server", "coefficients", "grid", "grid_basis", "ci_g_per_kwh", "power_w", "host_power_w",
                 "gpu_power_w", "pue", "embodied_mg_per_s", "operational_mg_per_s", "total_mg_per_s", "embodied_share"]


def footprint_text(f: FootprintResult, fmt: str) -> str:
    """``carbonsim footprint`` output: a table, one JSON document, or one CSV row."""
    if fmt == "json":
        return json_text(footprint_document(f))
    if fmt == "csv":
        doc = footprint_document(f)
        return csv_text(FOOTPRINT_CSV, [[doc[k] for k in FOOTPRINT_CSV]])
    return footprint_table(f)


def embodied_table(r: EmbodiedResult) -> str:
    """Components by scope, totals, per-second rates and (with --samples) percentiles."""
    s = r.server
    lines = [
        f"{s.name}  [{s.id}]",
        f"coefficient set: {r.coefficients.id} ({r.coefficients.name})",
        f"GPUs: {s.gpu_count} x {s.gpu.id if s.gpu else '-'}; host share of chassis: {r.host_share:.3f}; "
        f"lifetimes: GPU {s.gpu_lifetime_yr.value:g} yr, host {s.host_lifetime_yr.value:g} yr",
        "",
    ]
    total = r.total_kg or 1.0
    rows = []
    for scope, comps in (("host", r.host_components_kg), ("gpu", r.gpu_components_kg)):
        for name, kg in comps.items():
            rows.append([scope, name, fmt_num(kg), f"{100 * kg / total:.1f}%"])
    rows.append(["host", "TOTAL", fmt_num(r.host_kg), f"{100 * r.host_kg / total:.1f}%"])
    rows.append(["gpu", "TOTAL", fmt_num(r.gpu_kg), f"{100 * r.gpu_kg / total:.1f}%"])
    rows.append(["server", "TOTAL", fmt_num(r.total_kg), "100.0%"])
    lines.append(table(rows, ["scope", "component", "embodied_kg", "share"], "llrr"))
    lines.append("")
    per_gpu = f"; per GPU card {fmt_num(r.per_gpu_kg)} kg" if r.per_gpu_kg is not None else ""
    lines.append(f"amortised: {r.mg_per_s:.3f} mg/s (host {r.host_mg_per_s:.3f}, GPU {r.gpu_mg_per_s:.3f}){per_gpu}")
    if r.uncertainty:
        lines.append("")
        lines.append(f"uncertainty ({r.samples} samples, seed {r.seed}; each input drawn over its low..high with its "
                     "value as median):")
        urows = [[k, fmt_num(v["p5"]), fmt_num(v["p50"]), fmt_num(v["p95"])] for k, v in r.uncertainty.items()]
        lines.append(table(urows, ["quantity", "p5", "p50", "p95"], "lrrr"))
    for note in r.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def footprint_table(f: FootprintResult) -> str:
    """Embodied and operational side by side per second, hour and year."""
    e = f.embodied
    rows = []
    for label, scale, unit in (("per second", 1.0, "mg"), ("per hour", 3.6, "g"),
                               ("per year", MG_PER_S_TO_KG_PER_YR, "kg")):
        rows.append([label, unit, fmt_num(f.embodied_mg_per_s * scale, 3),
                     fmt_num(f.operational_mg_per_s * scale, 3), fmt_num(f.total_mg_per_s * scale, 3)])
    split = ""
    if f.host_power_w is not None:
        split = f" = host {f.host_power_w:,.0f} W + GPUs {f.gpu_power_w or 0:,.0f} W"
    lines = [
        f"{e.server.name}  [{e.server.id}]   coefficients: {e.coefficients.id}",
        f"power {f.power_w:,.0f} W{split};  PUE {f.pue:g};  grid {f.grid.label}: {f.ci_g_per_kwh:g} g/kWh "
        f"({f.grid.basis} basis)",
        f"  power from: {f.power_origin}",
        "",
        table(rows, ["rate", "unit", "embodied", "operational", "total"], "llrrr"),
        "",
        f"embodied share of the total: {100 * f.embodied_share:.1f}%",
    ]
    if getattr(f, "period", None):
        p = f.period
        lines.append(f"over {p['years']:g} years ({p['grid']}: {p['ci_g_per_kwh']:.4g} g/kWh): energy "
                     f"{p['energy_kwh']:,.0f} kWh, operational {p['operational_kg']:,.0f} kg + embodied (amortised) "
                     f"{p['embodied_kg_amortised']:,.0f} kg = {p['total_kg']:,.0f} kg")
    if getattr(f, "sci", None):
        rate = f" at {f.sci['rate']:g} {f.sci['rate_is']}" if f.sci["rate"] is not None else ""
        lines.append(f"SCI (E*I + M)/R: {f.sci['g_per_unit']:.4g} g per {f.sci['unit']}{rate}")
    if e.uncertainty:
        u = e.uncertainty["embodied_mg_per_s"]
        lines.append(f"embodied mg/s p5/p50/p95: {u['p5']:.3f} / {u['p50']:.3f} / {u['p95']:.3f} ({e.samples} samples)")
    for note in e.notes + f.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
