"""The seed's figures for a sweep (layer 3): PNG and SVG next to the table.

- ``edp_cdp_cep_vs_batch``: EDP, CDP and CEP per task against batch size, one line per model
  (and TP degree), log axes (seed Figs. 8-9);
- ``latency_vs_energy``: per-task latency against energy, marker size = batch size;
- ``embodied_vs_operational``: per-task embodied and operational carbon per grid source.

Only figures the sweep has the axes for are drawn. Server-only sweeps get
``embodied_vs_operational_rate`` (per-second rates per grid, if a grid axis exists).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

BATCH = "workload.batch_size"
TP = "workload.tensor_parallel"
GRID = "datacenter.grid"


def _save(fig, out_dir: Path, name: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        p = out_dir / f"{name}.{ext}"
        fig.savefig(p, dpi=150, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def _series_keys(df: pd.DataFrame, exclude: set[str]) -> list[str]:
    """Swept columns (other than the x axis) that vary: one line per combination."""
    params = [c for c in df.columns if "." in c or c in ("model", "coefficients", "server")]
    return [c for c in params if c not in exclude and df[c].nunique() > 1]


def _label(keys, values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, values))


def sweep_plots(result) -> list[Path]:
    """Draw the figures for a finished sweep; return the written paths."""
    path = Path(result.results)
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    out_dir = path.parent
    written: list[Path] = []
    if "feasible" in df:
        df = df[df["feasible"]]
    if BATCH in df and "edp_j_s" in df:
        base = df if GRID not in df else df[df[GRID] == df[GRID].iloc[0]]
        keys = _series_keys(base, {BATCH, GRID})
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for ax, (col, title, unit) in zip(axes, (("edp_j_s", "EDP", "J·s"), ("cdp_g_s", "CDP", "gCO₂e·s"),
                                                 ("cep_g_j", "CEP", "gCO₂e·J"))):
            groups = base.groupby(keys) if keys else [((), base)]
            for name, g in groups:
                g = g.sort_values(BATCH)
                line, = ax.plot(g[BATCH], g[col], marker="o", ms=3, label=_label(keys, name) or "all")
                best = g.loc[g[col].idxmin()]
                ax.plot(best[BATCH], best[col], marker="*", ms=12, color=line.get_color())
            ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel=f"{title} per task [{unit}]",
                   title=f"{title} vs batch (★ = best)")
            ax.set_xscale("log", base=2)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=7)
        grid_note = f" (grid {base[GRID].iloc[0]})" if GRID in df else ""
        fig.suptitle(f"{result.scenario.name}: per-task delay products{grid_note}")
        written += _save(fig, out_dir, "edp_cdp_cep_vs_batch")

        fig, ax = plt.subplots(figsize=(7, 5))
        groups = base.groupby(keys) if keys else [((), base)]
        for name, g in groups:
            g = g.sort_values(BATCH)
            ax.plot(g["latency_s"], g["energy_j"], alpha=0.4)
            ax.scatter(g["latency_s"], g["energy_j"], s=8 + 2.5 * g[BATCH] ** 0.75, alpha=0.7,
                       label=_label(keys, name) or "all")
        ax.set(xscale="log", yscale="log", xlabel="latency per request [s]", ylabel="energy per task [J]",
               title=f"{result.scenario.name}: latency vs energy (marker size = batch size)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        written += _save(fig, out_dir, "latency_vs_energy")
    if GRID in df and "embodied_g" in df:
        keys = [k for k in _series_keys(df, {GRID}) if k != BATCH]
        sub = df
        if BATCH in df:  # the best-carbon batch of the first series, so bars are comparable
            sub = df[df[BATCH] == df.loc[df["total_g"].idxmin(), BATCH]]
        first = sub
        for k in keys:  # the first value of every other swept column
            first = first[first[k] == first[k].iloc[0]]
        g = first.groupby(GRID, sort=False)[["embodied_g", "operational_g"]].mean()
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        x = range(len(g))
        ax.bar([i - 0.2 for i in x], g["embodied_g"], 0.4, label="embodied", color="#8c6d31")
        ax.bar([i + 0.2 for i in x], g["operational_g"], 0.4, label="operational", color="#3182bd")
        for i, (emb, op) in enumerate(zip(g["embodied_g"], g["operational_g"])):
            ax.annotate(f"{100 * emb / (emb + op):.0f}% emb.", (i, max(emb, op)), ha="center", va="bottom",
                        fontsize=8)
        ax.set_xticks(list(x), g.index)
        fixed = ", ".join(f"{k.split('.')[-1]}={first[k].iloc[0]}" for k in keys + ([BATCH] if BATCH in df else []))
        ax.set(ylabel="gCO₂e per task", title=f"embodied vs operational carbon per grid source\n({fixed})")
        ax.legend()
        written += _save(fig, out_dir, "embodied_vs_operational")
    elif GRID in df and "operational_mg_per_s" in df:
        g = df.groupby(GRID, sort=False)[["embodied_mg_per_s", "operational_mg_per_s"]].median()
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.bar(g.index, g["embodied_mg_per_s"], label="embodied", color="#8c6d31")
        ax.bar(g.index, g["operational_mg_per_s"], bottom=g["embodied_mg_per_s"], label="operational",
               color="#3182bd")
        ax.set(yscale="log", ylabel="mgCO₂e per second (median over the sweep)",
               title="embodied vs operational rate per grid")
        ax.legend()
        written += _save(fig, out_dir, "embodied_vs_operational_rate")
    return written
