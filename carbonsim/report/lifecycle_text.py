"""Refresh-policy sweeps for the terminal (layer 3): each generation's numbers, the total of every
policy as a GPU x host refresh matrix per group (grid, growth ...), the best policy against
keeping everything longest, and the best policy's year-by-year table."""

from __future__ import annotations

from carbonsim.report.text import fmt_num, table


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
    for g in lc["groups"]:
        best, keep = g["best"], g.get("keep_longest")
        lines = [f"== {_group_label(g['group'])}"]
        if "matrix_kg" in g:
            lines.append(matrix_text(g["matrix_kg"], axes))
        policy = ", ".join(f"{a.split('.')[-1]}={best[a]}" for a in axes)
        lines.append(f"best policy: {policy}: total {_t(best['total_kg'])} t (embodied {_t(best['embodied_kg'])} t, "
                     f"operational {_t(best['operational_kg'])} t), {int(best['gpus_bought']):,} GPUs and "
                     f"{int(best['hosts_bought']):,} hosts bought, {best['sci_g_per_1k_tokens']:.4g} g per 1000 tokens")
        if keep is not None:
            kp = ", ".join(f"{a.split('.')[-1]}={keep[a]}" for a in axes)
            d_emb = best["embodied_kg"] - keep["embodied_kg"]
            d_op = best["operational_kg"] - keep["operational_kg"]
            saving = 1 - best["total_kg"] / keep["total_kg"] if keep["total_kg"] else 0.0
            lines.append(f"against keeping longest ({kp}): {100 * saving:.1f} % less; embodied {d_emb / 1000:+,.1f} t, "
                         f"operational {d_op / 1000:+,.1f} t")
        lines.append("best policy year by year:\n" + years_text(g["years"]))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
