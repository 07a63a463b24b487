"""The Pareto front of a sweep as a figure (layer 3), in the style of :mod:`carbonsim.report.plots`.

:func:`fig_pareto` draws the points a sweep may recommend (feasible, within its constraints) in
grey and, for each combination of held values (docs/sweep.md), its non-dominated points in
colour with their own marker, joined by the staircase that bounds what can be reached (two
columns). Three columns are drawn as the three pairs of columns, one panel each. Written by
:func:`pareto_figures` as ``pareto.pdf/.svg/.png`` beside the sweep's table.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd

from carbonsim.engine.chain import result_unit
from carbonsim.report.plots import (
    COLORS, FORMATS, MARKERS, MAX_SERIES, STYLE, _caption, _figure, _grid_lines, _log_axis, _value_label,
    save_figure,
)

#: Most background points drawn per figure (an even sample of the rest; the front is drawn whole).
MAX_BACKGROUND = 20_000


def _label(col: str, maximised: bool) -> str:
    unit = result_unit(col)
    return f"{col}" + (f" ({unit})" if unit else "") + ("\nhigher is better" if maximised else "\nlower is better")


def _spans_decades(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return bool(len(v)) and float(v.min()) > 0 and float(v.max()) / float(v.min()) > 30.0


def _split(points: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feasible points within the constraints, and feasible points outside them."""
    feasible = points["feasible"].to_numpy().astype(bool) if "feasible" in points else np.ones(len(points), bool)
    meets = points["meets_constraints"].to_numpy().astype(bool) if "meets_constraints" in points else feasible
    return _thin(points[feasible & meets]), _thin(points[feasible & ~meets])


def _thin(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) <= MAX_BACKGROUND:
        return df
    return df.iloc[np.linspace(0, len(df) - 1, MAX_BACKGROUND).astype(np.int64)]


def _group_label(held: list[str], row) -> str:
    return ", ".join(_value_label(h, row[h]) for h in held) or "front"


def fig_pareto(points: pd.DataFrame, front: pd.DataFrame, columns: list[str], *, maximise=(), held=(),
               width: str = "double", title: str | None = None) -> "mpl.figure.Figure":
    """The front of two or three columns over the points it was taken from.

    Parameters
    ----------
    points : pandas.DataFrame
        The sweep's table (or the columns of it this figure needs); only feasible points within
        the constraints are drawn.
    front : pandas.DataFrame
        The non-dominated rows (``SweepResult.pareto``).
    columns : list of str
        The front's two or three columns.
    maximise : list of str
        Columns maximised (the rest minimised).
    held : list of str
        Held columns: one front per combination of their values, each its own colour and marker
        (at most :data:`~carbonsim.report.plots.MAX_SERIES`; the caption says when more were left out).
    width : {"single", "double"}
    title : str, optional
        Caption line under the figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not 2 <= len(columns) <= 3:
        raise ValueError(f"a front has two or three columns, found {columns}")
    held = [h for h in held if h in front.columns]
    pairs = [(0, 1)] if len(columns) == 2 else [(0, 1), (0, 2), (1, 2)]
    back, outside = _split(points)
    groups = list(front.groupby(held, sort=False)) if held else [((), front)]
    notes = []
    if len(groups) > MAX_SERIES:
        notes.append(f"the first {MAX_SERIES} of {len(groups)} held values drawn")
        groups = groups[:MAX_SERIES]
    up = set(maximise)
    with mpl.rc_context(STYLE):
        fig = _figure(width, 2.8 if len(pairs) == 1 else 2.5)
        axes = fig.subplots(1, len(pairs), squeeze=False)[0]
        for ax, (i, j) in zip(axes, pairs):
            x, y = columns[i], columns[j]
            if len(outside):
                ax.scatter(outside[x], outside[y], s=6, marker="x", color="0.8", linewidths=0.6, gid="outside",
                           label="outside the constraints", rasterized=len(outside) > 2000)
            if len(back):
                ax.scatter(back[x], back[y], s=4, color="0.6", linewidths=0, gid="points",
                           label="other points" + (" within the constraints" if len(outside) else ""),
                           rasterized=len(back) > 2000)
            for k, (_, g) in enumerate(groups):
                label = _group_label(held, g.iloc[0])
                g = g.sort_values([x, y])
                ax.plot(g[x], g[y], linestyle="none", marker=MARKERS[k], color=COLORS[k], markersize=4,
                        gid=f"pareto|{label}", label=label)
                if len(pairs) == 1:  # the staircase bounding the points the front dominates
                    ax.step(g[x], g[y], where="pre" if x in up else "post", color=COLORS[k], linewidth=0.8,
                            alpha=0.8)
            for which, col in (("x", x), ("y", y)):
                values = np.concatenate([d[col].to_numpy(dtype=float) for d in (back, outside, front)])
                if _spans_decades(values):
                    _log_axis(ax, which, values)
            ax.set_xlabel(_label(x, x in up))
            ax.set_ylabel(_label(y, y in up))
            _grid_lines(ax, "both")
        axes[0].legend(loc="best", fontsize=7, frameon=False, title="Pareto front" + (" per held value" if held else ""),
                       title_fontsize=7)
        _caption(fig, title, "; ".join(notes), True)
    return fig


def pareto_figures(points: pd.DataFrame, front: pd.DataFrame, columns: list[str], maximise, out_dir: Path,
                   title: str, held=(), *, width: str = "double", formats=FORMATS) -> list[Path]:
    """Draw :func:`fig_pareto` and write it as ``out_dir/pareto.<ext>``; the files written."""
    if not len(front):
        return []
    fig = fig_pareto(points, front, columns, maximise=maximise, held=list(held), width=width, title=title)
    return save_figure(fig, Path(out_dir), "pareto", formats)
