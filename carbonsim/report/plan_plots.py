"""The figure of a fleet plan (layer 3): carbon per plan and what each plan installs.

Left: embodied and operational carbon over the horizon of the carbon-optimal plan and each
baseline, stacked (the hatched cap is the operational carbon re-simulated at the assigned loads,
where it exceeds the program's). Right: the GPUs each plan installs, stacked by server and service.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from carbonsim.report.plots import COLORS, HATCHES, STYLE, _figure, save_figure


def fig_plan(result, width: str = "double"):
    """The two panels of the module docstring for a :class:`~carbonsim.engine.plan.run.PlanResult`."""
    import matplotlib as mpl

    with mpl.rc_context(STYLE):
        fig = _figure(width, 3.2)
        ax_c, ax_f = fig.subplots(1, 2, width_ratios=[1.0, 1.3])
        names = list(result.plans)
        x = np.arange(len(names))
        emb = np.array([result.plans[n].embodied_kg for n in names]) / 1000.0
        op = np.array([result.plans[n].operational_kg for n in names]) / 1000.0
        sim = np.array([result.plans[n].operational_kg_simulated for n in names]) / 1000.0
        ax_c.bar(x, emb, 0.6, color=COLORS[0], label="embodied")
        ax_c.bar(x, op, 0.6, bottom=emb, color=COLORS[1], label="operational")
        extra = np.where(np.isfinite(sim), np.maximum(sim - op, 0.0), 0.0)
        if np.any(extra > 0):
            ax_c.bar(x, extra, 0.6, bottom=emb + op, color="none", edgecolor=COLORS[1], hatch=HATCHES[1],
                     linewidth=0.5, label="operational, re-simulated (excess)")
        for i, n in enumerate(names):
            ax_c.text(i, emb[i] + op[i] + extra[i], f"{emb[i] + op[i]:,.0f}", ha="center", va="bottom", fontsize=6)
        # (the number is the program's total; the hatched cap, where drawn, is the re-simulated excess)
        ax_c.set_xticks(x, names, rotation=25, ha="right")
        ax_c.set_ylabel(f"t CO2e over {result.horizon_yr:g} years")
        ax_c.set_ylim(0, 1.12 * float(np.max(emb + op + extra)))
        ax_c.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, fontsize=6)
        ax_c.set_title(f"{result.grid}, PUE {result.pue:g}")
        # fleet composition: GPUs by (server, service)
        keys = []
        for n in names:
            for f in result.plans[n].fleet:
                k = (f["server"], f["service"])
                if k not in keys:
                    keys.append(k)
        bottom = np.zeros(len(names))
        for j, k in enumerate(keys):
            gpus = np.array([sum(f["gpus"] for f in result.plans[n].fleet if (f["server"], f["service"]) == k)
                             for n in names], float)
            ax_f.bar(x, gpus, 0.6, bottom=bottom, color=COLORS[j % len(COLORS)], hatch=HATCHES[j % len(HATCHES)],
                     edgecolor="white", linewidth=0.3, label=f"{k[0]} ({k[1]})")
            bottom += gpus
        ax_f.set_xticks(x, names, rotation=25, ha="right")
        ax_f.set_ylabel("GPUs installed")
        ax_f.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=6)
        ax_f.set_title("fleet")
    return fig


def write_plan_figure(result, path) -> list[Path]:
    """Write the figure to ``path`` (its suffix: .png, .pdf or .svg)."""
    p = Path(path)
    ext = p.suffix.lstrip(".").lower()
    if ext not in ("png", "pdf", "svg"):
        from carbonsim.errors import OptionError

        raise OptionError(f"the figure's file must end in .png, .pdf or .svg, found {p.name!r}", "figure")
    folder = p.parent if str(p.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)   # as --out files are written
        return save_figure(fig_plan(result), folder, p.stem, (ext,))
    except OSError as exc:
        from carbonsim.engine.outputs import write_error

        raise write_error(exc, path) from None
