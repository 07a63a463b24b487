"""JSON-ready documents for the results (the keys are a public contract, DESIGN.md section 7)."""

from __future__ import annotations

from carbonsim.engine.studies.embodied import EmbodiedResult
from carbonsim.engine.studies.footprint import MG_PER_S_TO_KG_PER_YR, FootprintResult
from carbonsim.version import __version__


def _r(x, digits=6):
    return None if x is None else round(float(x), digits)


def embodied_document(r: EmbodiedResult) -> dict:
    """``carbonsim embodied --format json``: totals, components by scope, rates, sources."""
    s = r.server
    doc = {
        "carbonsim_version": __version__,
        "server": s.id,
        "server_name": s.name,
        "coefficients": r.coefficients.id,
        "total_kg": _r(r.total_kg),
        "host_kg": _r(r.host_kg),
        "gpu_kg": _r(r.gpu_kg),
        "per_gpu_kg": _r(r.per_gpu_kg),
        "gpu_count": s.gpu_count,
        "gpu_part": s.gpu.id if s.gpu else None,
        "host_share": _r(r.host_share),
        "components": {
            "host": {k: _r(v) for k, v in r.host_components_kg.items()},
            "gpu": {k: _r(v) for k, v in r.gpu_components_kg.items()},
        },
        "gpu_lifetime_yr": s.gpu_lifetime_yr.value,
        "host_lifetime_yr": s.host_lifetime_yr.value,
        "embodied_mg_per_s": _r(r.mg_per_s),
        "host_embodied_mg_per_s": _r(r.host_mg_per_s),
        "gpu_embodied_mg_per_s": _r(r.gpu_mg_per_s),
        "sources": sorted(r.sources),
        "notes": list(r.notes),
    }
    if r.samples:
        doc["uncertainty"] = {
            "samples": r.samples,
            "seed": r.seed,
            "distribution": "split triangular per ranged input: half the draws on [low, value], half on [value, high], value the median",
            **{k: {p: _r(v) for p, v in d.items()} for k, d in r.uncertainty.items()},
        }
    return doc


def footprint_document(f: FootprintResult) -> dict:
    """``carbonsim footprint --format json``: per-second, per-hour and per-year rates."""
    e = f.embodied
    per_s = {
        "embodied_mg_per_s": _r(f.embodied_mg_per_s),
        "operational_mg_per_s": _r(f.operational_mg_per_s),
        "total_mg_per_s": _r(f.total_mg_per_s),
    }
    doc = {
        "carbonsim_version": __version__,
        "server": e.server.id,
        "coefficients": e.coefficients.id,
        **per_s,
        "host_embodied_mg_per_s": _r(e.host_mg_per_s),
        "gpu_embodied_mg_per_s": _r(e.gpu_mg_per_s),
        "host_operational_mg_per_s": _r(f.rates["host_operational_mg_per_s"]),
        "gpu_operational_mg_per_s": _r(f.rates["gpu_operational_mg_per_s"]),
        "embodied_share": _r(f.embodied_share),
        "per_hour_g": {
            "embodied": _r(f.embodied_mg_per_s * 3.6),
            "operational": _r(f.operational_mg_per_s * 3.6),
            "total": _r(f.total_mg_per_s * 3.6),
        },
        "per_year_kg": {
            "embodied": _r(f.embodied_mg_per_s * MG_PER_S_TO_KG_PER_YR),
            "operational": _r(f.operational_mg_per_s * MG_PER_S_TO_KG_PER_YR),
            "total": _r(f.total_mg_per_s * MG_PER_S_TO_KG_PER_YR),
        },
        "power_w": _r(f.power_w),
        "host_power_w": _r(f.host_power_w),
        "gpu_power_w": _r(f.gpu_power_w),
        "power_origin": f.power_origin,
        "pue": _r(f.pue),
        "grid": f.grid.label,
        "ci_g_per_kwh": _r(f.ci_g_per_kwh),
        "grid_basis": f.grid.basis,
        "grid_source": ",".join(f.grid.sources) or None,
        "notes": list(f.notes),
        "embodied": embodied_document(e),
    }
    if getattr(f, "sci", None):
        doc["sci"] = f.sci
    if getattr(f, "period", None):
        doc["period"] = {k: (_r(v) if isinstance(v, float) else v) for k, v in f.period.items()}
    return doc
