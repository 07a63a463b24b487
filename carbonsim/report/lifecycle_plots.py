"""Figures of refresh-policy sweeps (layer 3): total carbon over the horizon for every GPU x host
refresh period, one panel per grid (or other swept group), the best policy marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from carbonsim.report.plots import FORMATS, save_figure

GPU, HOST = "lifecycle.gpu_refresh_yr", "lifecycle.host_refresh_yr"


def fig_refresh_matrix(points, title: str = "", group: str = "datacenter.grid"):
    """Heat maps of ``total_kg`` [t] by GPU (rows) and host (columns) refresh period."""
    from matplotlib.figure import Figure

    groups = list(dict.fromkeys(points[group])) if group in points else [None]
    fig = Figure(figsize=(3.4 * len(groups) + 0.6, 3.4), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, g in zip(axes, groups):
        sub = points if g is None else points[points[group] == g]
        piv = sub.pivot_table(index=GPU, columns=HOST, values="total_kg", aggfunc="min") / 1000.0
        im = ax.imshow(piv.to_numpy(), origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(piv.columns)), [str(c) for c in piv.columns])
        ax.set_yticks(range(len(piv.index)), [str(i) for i in piv.index])
        ax.set_xlabel("host refresh [yr]")
        ax.set_ylabel("GPU refresh [yr]")
        r, c = np.unravel_index(np.nanargmin(piv.to_numpy()), piv.shape)
        ax.plot(c, r, marker="*", color="white", markersize=12, markeredgecolor="black")
        ax.set_title(f"{g}: best GPU {piv.index[r]} yr, host {piv.columns[c]} yr" if g is not None else "total",
                     fontsize=8)
        fig.colorbar(im, ax=ax, label="t CO2e over the horizon", shrink=0.85)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def refresh_figures(points, out_dir: Path, title: str, formats=FORMATS) -> list[Path]:
    """Write :func:`fig_refresh_matrix` when the table sweeps both refresh periods."""
    if not all(c in points for c in (GPU, HOST, "total_kg")) or points[GPU].nunique() < 2 \
            or points[HOST].nunique() < 2:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_figure(fig_refresh_matrix(points, title), out_dir, "refresh_policies", formats)
