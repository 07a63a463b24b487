"""Refresh-policy sweeps for the terminal (layer 3): each generation's numbers, the total of every
policy as a GPU x host refresh matrix per group (grid, growth ...), the best policy against
keeping everything longest, and the best policy's year-by-year table."""

from __future__ import annotations

from carbonsim.report.text import fmt_num, table


#: Groups shown with their matrix and year-by-year table; more are summarised one line each.
MAX_DETAILED_GROUPS = 6


def _t(kg) -> str:
    return f"{kg / 1000:,.1f}"


def _group_label(group: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "all points"


def generations_text(rows: list[dict]) -> str:
    body = table([[r["generation"], r["server"], r["available"], fmt_num(r["cap_tok_s"], 0),
                   fmt_num((r["gpu_busy_w"] + r["host_busy_w"]) / r["cap_tok_s"], 3),
                   fmt_num(r["prefill_j_per_token"], 3), fmt_num(r["decode_j_per_token"], 3),
                   fmt_num(r["gpu_set_kg"], 0), fmt_num(r["host_kg"], 0)] for r in rows],
                 ["generation", "server", "from", "tok/s/server", "J/tok busy", "prefill J/tok", "decode J/tok",
                  "GPU set kg", "host kg"], "llrrrrrrr")
    return "generations at this workload (through the chain; prefill follows FLOPS/W, decode bandwidth/W):\n" + body


def matrix_text(m: dict, axes: list[str]) -> str:
    header = ["GPU \\ host"] + [f"{c} yr" for c in m["columns"]]
    rows = [[f"{r} yr"] + [_t(v) for v in vals] for r, vals in zip(m["rows"], m["values"])]
    return f"total over the horizon [t CO2e], rows {axes[0]}, columns {axes[1]}:\n" + table(rows, header)


def years_text(years: list[dict]) -> str:
    rows = [[y["calendar_year"], y["generation"], fmt_num(y["demand_tok_s"], 0), int(y["gpus_bought"]),
             int(y["hosts_bought"]), int(y["gpu_sets_in_service"]), f"{y['utilization']:.2f}", fmt_num(y["ci_g_per_kwh"], 0),
             fmt_num(y["energy_kwh"] / 1000, 0), _t(y["operational_kg"]), _t(y["embodied_kg"])] for y in years]
    return table(rows, ["year", "buys", "demand tok/s", "GPUs bought", "hosts bought", "servers", "util", "g/kWh",
                        "MWh", "operational t", "embodied t"], "llrrrrrrrrr")


def lifecycle_text(lc: dict) -> str:
    """The lifecycle part of ``carbonsim sweep``'s table output."""
    parts = [generations_text(lc["generations"])]
    axes = lc["policy_axes"]
    if len(lc["groups"]) > MAX_DETAILED_GROUPS:
        rows = [[_group_label(g["group"])] + [g["best"][a] for a in axes]
                + [_t(g["best"]["total_kg"]), _t(g["best"]["embodied_kg"]), _t(g["best"]["operational_kg"]),
                   "-" if "keep_longest" not in g else f"{100 * (1 - g['best']['total_kg'] / g['keep_longest']['total_kg']):.1f}%"]
                for g in lc["groups"]]
        parts.append(f"best policy of each of {len(lc['groups'])} groups (the table and years.csv hold every point):\n"
                     + table(rows, ["group"] + [a.split(".")[-1] for a in axes]
                             + ["total t", "embodied t", "operational t", "vs keeping longest"]))
        return "\n\n".join(parts)
    for g in lc["groups"]:
        best, keep = g["best"], g.get("keep_longest")
        lines = [f"== {_group_label(g['group'])}"]
        if "matrix_kg" in g:
            lines.append(matrix_text(g["matrix_kg"], axes))
        policy = ", ".join(f"{a.split('.')[-1]}={best[a]}" for a in axes)
        lines.append(f"best policy: {policy}: total {_t(best['total_kg'])} t (embodied {_t(best['embodied_kg'])} t, "
                     f"operational {_t(best['operational_kg'])} t), {int(best['gpus_bought']):,} GPUs and "
                     f"{int(best['hosts_bought']):,} hosts bought, {best['sci_g_per_1k_tokens']:.4g} g per 1000 tokens")
        if keep is not None and any(keep[a] != best[a] for a in axes):
            kp = ", ".join(f"{a.split('.')[-1]}={keep[a]}" for a in axes)
            d_emb = best["embodied_kg"] - keep["embodied_kg"]
            d_op = best["operational_kg"] - keep["operational_kg"]
            saving = 1 - best["total_kg"] / keep["total_kg"] if keep["total_kg"] else 0.0
            lines.append(f"against keeping longest ({kp}): {100 * saving:.1f} % less; embodied {d_emb / 1000:+,.1f} t, "
                         f"operational {d_op / 1000:+,.1f} t")
        lines.append("best policy year by year:\n" + years_text(g["years"]))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


# --- train -----------------------------------------------------------------------------------------
def train_text(r, fmt: str) -> str:
    """``carbonsim train``: a table, one JSON document (DESIGN.md §7 keys) or one CSV row."""
    from carbonsim.report.text import csv_text, json_text

    d = r.as_dict()
    if fmt == "json":
        return json_text(d)
    keys = ["gpu_hours", "days", "energy_mwh", "gpu_energy_mwh", "host_energy_mwh", "operational_kg", "embodied_kg",
            "total_kg", "mfu", "flops", "ci_g_per_kwh"]
    if fmt == "csv":
        return csv_text(keys + ["sci_unit", "sci_g_per_unit"],
                        [[d[k] for k in keys] + [d["sci"]["unit"], d["sci"]["g_per_unit"]]])
    i = d["inputs"]
    active = "" if i["active_params_b"] == i["params_b"] else f" ({i['active_params_b']:g} B active)"
    rows = [
        ["FLOPs", f"{r.flops:.3e}", "6 N D" + (" + attention" if i["seq_len"] else "")],
        ["efficiency (MFU)", f"{r.mfu:.3f}", r.mfu_origin],
        ["GPU-hours", fmt_num(r.gpu_hours, 0), f"on {i['gpu']} at {i['peak_tflops']:g} TFLOP/s {i['precision']}"],
        ["days", "-" if r.days is None else fmt_num(r.days, 1), "" if r.days is None else f"on {i['gpus']:,} GPUs"],
        ["power per GPU [W]", fmt_num(r.gpu_w + r.host_w_per_gpu, 0),
         f"GPU {r.gpu_w:.0f} + host share {r.host_w_per_gpu:.0f}: {r.power_origin}"],
        ["energy [MWh]", fmt_num(r.energy_mwh, 1), f"GPU {r.gpu_energy_mwh:,.1f} + host {r.host_energy_mwh:,.1f}, PUE {i['pue']:g}"],
        ["operational [t]", fmt_num(r.operational_kg / 1000, 2), f"{r.grid.label} {r.ci_g_per_kwh:g} g/kWh ({r.grid.basis})"],
        ["embodied [t]", fmt_num(r.embodied_kg / 1000, 2),
         f"device-hours x amortised rate (GPU {i['gpu_lifetime_yr']:g} yr, host {i['host_lifetime_yr']:g} yr, "
         f"use {i['usage']:g}) on {r.server or 'no server'}, coefficients {r.coefficients}"],
        ["total [t]", fmt_num(r.total_kg / 1000, 2), ""],
        [f"SCI [g per {r.per}]", f"{r.sci_g:.4g}", "(E*I + M) / R"],
    ]
    head = f"training {i['params_b']:g} B parameters{active} on {i['tokens_b']:g} B tokens\n\n"
    return head + table(rows, ["quantity", "value", "how"], "lrl")


# --- budget ----------------------------------------------------------------------------------------
def budget_text(r, fmt: str) -> str:
    """``carbonsim budget``: items with their tier and running use, then each category's status."""
    from carbonsim.report.text import csv_text, json_text

    d = r.as_dict()
    keys = ["name", "kind", "kg", "share", "tier", "cumulative_kg", "remaining_kg", "fits", "how"]
    if fmt == "json":
        return json_text(d)
    if fmt == "csv":
        return csv_text(keys, [[it[k] for k in keys] for it in d["items"]])
    rows = [[it["name"], it["kind"], fmt_num(it["kg"], 1), f"{100 * it['share']:.1f}%", it["tier"],
             fmt_num(it["remaining_kg"], 1), "yes" if it["fits"] else "NO", it["how"]] for it in d["items"]]
    body = table(rows, ["item", "kind", "kg", "of allocation", "tier", "remaining kg", "fits", "how"], "llrrlrll")
    cats = table([[k, fmt_num(c["allocation_kg"], 1), fmt_num(c["planned_kg"], 1), fmt_num(c["remaining_kg"], 1),
                   c["status"]] for k, c in d["categories"].items()],
                 ["category", "allocation kg", "planned kg", "remaining kg", "status"], "lrrrl")
    t = d["classification"]
    unit = "share of the category's allocation" if t["by"] == "share" else "kg"
    rule = ", ".join(f"{tier} below {x:g}" for tier, x in zip(t["tiers"], t["thresholds"])) + \
        f", critical from {t['thresholds'][-1]:g}"
    return (f"budget {d['name']}" + (f" ({d['period']})" if d["period"] else "") + f": {d['budget_kg']:,.0f} kg\n\n"
            f"{body}\n\n{cats}\n\ntiers by {unit}: {rule}")


# --- schedule --------------------------------------------------------------------------------------
def schedule_text(r, fmt: str) -> str:
    """``carbonsim schedule``: the best region and start, the saving, and every region's best."""
    from carbonsim.report.text import csv_text, json_text

    d = r.as_dict()
    if fmt == "json":
        return json_text(d)
    keys = ["grid", "kind", "basis", "now_ci_g_per_kwh", "now_kg", "best_start", "best_ci_g_per_kwh", "best_kg"]
    if fmt == "csv":
        return csv_text(keys, [[x[k] for k in keys] for x in d["regions"]])
    rows = [[("* " if i == r.best_region else "  ") + x["grid"], x["basis"], fmt_num(x["now_ci_g_per_kwh"], 1),
             fmt_num(x["now_kg"], 2), x["best_start"], fmt_num(x["best_ci_g_per_kwh"], 1), fmt_num(x["best_kg"], 2)]
            for i, x in enumerate(d["regions"])]
    body = table(rows, ["region", "basis", "now g/kWh", "now kg", "best start", "best g/kWh", "best kg"], "llrrlrr")
    saving = "-" if d["saving"] is None else f"{100 * d['saving']:.1f} %"
    return (f"job: {d['energy_kwh']:,.1f} kWh over {d['hours']:g} h (PUE {d['pue']:g}), start between {d['now']} and "
            f"{d['window_hours']:g} h later\n\n{body}\n\nbest: {d['best']['grid']} from {d['best']['start']}, "
            f"{d['best']['kg']:,.2f} kg; now in {d['default']['grid']}: {d['default']['kg']:,.2f} kg; saving {saving}")
