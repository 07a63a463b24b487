"""``carbonsim plan`` output (layer 3): the carbon-optimal fleet and its baselines as a table, JSON or CSV."""

from __future__ import annotations

import math

from carbonsim.report.text import csv_text, json_text, table

FLEET_COLUMNS = ("service", "server", "count", "tensor_parallel", "max_num_seqs", "batch_size", "host_variant",
                 "lifetime", "capacity_per_server", "capacity_unit", "peak_load", "embodied_kg", "operational_kg")


def _kg(v: float) -> str:
    return f"{v:,.0f}"


def _fleet_rows(fleet: list[dict]) -> list[list[str]]:
    rows = []
    for f in fleet:
        setting = f"max_num_seqs {f['max_num_seqs']}" if f["max_num_seqs"] is not None else f"batch {f['batch_size']}"
        unit = "req/s" if f["capacity_unit"] == "requests/s" else "tok/s"
        rows.append([f["service"], f["server"], str(f["count"]), str(f["tensor_parallel"]), setting, f["host_variant"],
                     f["lifetime"], f"{f['capacity_per_server']:.4g} {unit}", f"{f['peak_load']:.4g}",
                     _kg(f["embodied_kg"]), _kg(f["operational_kg"])])
    return rows


def plan_text(result, fmt: str = "table") -> str:
    """The plan as ``table`` (readable), ``json`` (DESIGN.md §7: ``fleet``, ``total_kg``,
    ``embodied_kg``, ``operational_kg``, ``baselines``) or ``csv`` (every plan's fleet rows)."""
    d = _finite(result.as_dict())
    if fmt == "json":
        return json_text(d)
    if fmt == "csv":
        return _csv(d)
    c = result.carbon
    lines = [f"plan {d['name']}: {d['horizon_yr']:g} years on {d['datacenter']['grid']} "
             f"({d['datacenter']['ci_g_per_kwh']:.4g} g/kWh), PUE {d['datacenter']['pue']:g}; "
             f"{d['slots']} time slot{'s' if d['slots'] > 1 else ''} a day; "
             f"{d['candidates']['candidates']} candidates ({d['candidates']['priced']} can serve)", "",
             f"carbon-optimal fleet (HiGHS: {c.status}, gap {100 * c.gap:.2g} %):"]
    head = ["service", "server", "count", "TP", "limit", "host", "lifetime", "capacity/server", "peak load",
            "embodied kg", "operational kg"]
    lines.append(table(_fleet_rows(c.fleet), head, "lllrllllrrr"))
    for u in c.reuse:
        lines.append(f"  + host CPUs ({u['cpu']}) of the {u['host_of']} servers ({u['server']}) run "
                     f"{100 * u['share_of_service']:.1f} % of {u['service']} ({u['tokens_per_day']:.3g} tokens/day, "
                     f"CPU batch {u['cpu_batch']}, {u['cpu_batch_latency_s']:.0f} s a batch)")
    cost = f", cost ${c.cost_usd:,.0f}" if c.cost_usd is not None else ""
    lines += ["", f"total {_kg(c.total_kg)} kg CO2e over {d['horizon_yr']:g} years (embodied {_kg(c.embodied_kg)}, "
                  f"operational {_kg(c.operational_kg)}); {c.energy_mwh:,.1f} MWh; {c.gpus} GPUs in "
                  f"{c.servers} servers{cost}", ""]
    sav = result.savings()
    head = ["plan", "total kg", "embodied kg", "operational kg", "MWh", "GPUs", "cost $", "carbon plan saves",
            "x", "status"]
    rows = [["carbon", _kg(c.total_kg), _kg(c.embodied_kg), _kg(c.operational_kg), f"{c.energy_mwh:,.1f}",
             str(c.gpus), "" if c.cost_usd is None else f"{c.cost_usd:,.0f}", "", "", c.status]]
    for b, s in sav.items():
        p = result.plans[b]
        rows.append([b, _kg(p.total_kg), _kg(p.embodied_kg), _kg(p.operational_kg), f"{p.energy_mwh:,.1f}",
                     str(p.gpus), "" if p.cost_usd is None else f"{p.cost_usd:,.0f}",
                     f"{100 * s['saving']:.1f} %", f"{s['ratio']:.2f}", p.status])
    lines.append(table(rows, head, "lrrrrrrrrl"))
    for b in sav:
        p = result.plans[b]
        what = "; ".join(f"{f['count']} x {f['server']} TP {f['tensor_parallel']} for {f['service']}"
                         for f in p.fleet)
        lines.append(f"  {b}: {what}" + (f"; CPU reuse for {', '.join(u['service'] for u in p.reuse)}"
                                         if p.reuse else ""))
    rc = c.recheck
    lines += ["", f"SLO re-check: {rc['statement']}" + (f"; derated after earlier rounds: {'; '.join(rc['derated'])}"
                                                        if rc["derated"] else "")]
    sim = [f"{n} {result.plans[n].operational_kg_simulated:,.0f} kg (program {result.plans[n].operational_kg:,.0f})"
           for n in result.plans]
    lines.append("operational carbon with every loaded server re-simulated at its assigned load: " + "; ".join(sim))
    for n in d["notes"]:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def _csv(d: dict) -> str:
    plans = {"carbon": d, **d["baselines"]}
    rows = [(name, *("" if f.get(k) is None else f.get(k) for k in FLEET_COLUMNS))
            for name, p in plans.items() for f in p["fleet"]]
    return csv_text(("plan", *FLEET_COLUMNS), rows)


def _finite(o):
    """The document with numpy numbers as Python numbers and non-finite ones as null."""
    import numpy as np

    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o
