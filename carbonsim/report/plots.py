"""Sweep figures drawn for a paper (layer 3): the seed's Figs. 2, 7, 8 and 9/10 from a sweep table.

Every figure is a function of the sweep's tidy table (one row per point) that returns a
:class:`matplotlib.figure.Figure` 3.5 in (single column) or 7 in (double column) wide:

========================  ==================  ===========================================
function                  seed figure         file stem written by :func:`sweep_figures`
========================  ==================  ===========================================
:func:`fig_rates_by_grid`  Fig. 2             ``embodied_vs_operational_rate`` (per second,
                                              server-only sweeps) or
                                              ``embodied_vs_operational`` (per request)
:func:`fig_components`     Fig. 7             ``embodied_components``
:func:`fig_batch_metrics`  Fig. 8             ``edp_cdp_cep_vs_batch`` (``_<grid>`` when one
                                              figure is drawn per grid)
:func:`fig_tp_tradeoffs`   Figs. 9 and 10     ``latency_vs_energy``
:func:`fig_serving_load`   Table 2 (§5.3)     ``serving_vs_qps`` (online-serving sweeps)
:func:`fig_training`       – (seeds 001/002)  ``training_runs`` (training sweeps)
========================  ==================  ===========================================

Conventions shared by all figures:

- only feasible rows are drawn (column ``feasible``, when present);
- a figure plots some inputs (its x axis, its series, its panels); every other input that
  varies in the table is held at one value: the one given in ``where``, else its first value
  in table order. Inputs that do not change the plotted numbers (the grid, for energy) are
  dropped silently; the others are listed in a caption line under the figure;
- log axes get their limits from the data (the smallest plotted value is always inside),
  ticks at plain numbers (1, 4, 16 …; 0.1, 1, 10 …), or at 10ⁿ when a tick falls outside
  10⁻³…10⁴; labels that would overlap are thinned after layout;
- every encoding (colour, marker, line style, fill) has a key, and none relies on colour
  alone, so the figures survive greyscale printing;
- text is DejaVu Sans at 7 pt or more; SVG and PDF keep text as text (``svg.fonttype
  'none'``, ``pdf.fonttype 42``); files carry no dates, so output is reproducible.

Save with :func:`save_figure` (it applies the font settings SVG and PDF need at write time).
Artists carry a ``gid`` naming the table column they show (``"edp_j_s|llama-2-7b"``), which the
SVG keeps as element ids and the tests use to read the data back.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedFormatter, FixedLocator, LogLocator, NullFormatter

BATCH = "workload.batch_size"
TRAINING_GPU = "training.gpu"
TP = "workload.tensor_parallel"
GRID = "datacenter.grid"
QPS = "workload.qps"
PLACEMENT = "workload.placement"

#: Figure widths [in] of a two-column paper.
WIDTHS = {"single": 3.5, "double": 7.0}
FORMATS = ("pdf", "svg", "png")
PNG_DPI = 200

#: Matplotlib settings every figure is drawn and saved under.
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "lines.linewidth": 1.0,
    "lines.markersize": 4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "hatch.linewidth": 0.5,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.hashsalt": "carbonsim",
    "mathtext.fontset": "dejavusans",
}

# Okabe-Ito colours (distinct for the common colour-vision deficiencies), each paired with a
# marker, line style and hatch so that greyscale prints stay readable.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)), (0, (3, 1, 3, 4)))
HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "++++", "oooo", "----")
MAX_SERIES = len(COLORS)
MAX_PANELS = 6

#: Display names of inputs (others use the last part of their path).
SHORT = {BATCH: "batch", TP: "TP", GRID: "grid", "datacenter.pue": "PUE",
         "workload.precision": "precision", "workload.engine": "engine", QPS: "QPS", PLACEMENT: "placement",
         "training.gpu": "GPU"}

#: Component columns of seed Fig. 7 and their labels.
HOST_COMPONENTS = {"cpu": "CPU", "dram": "DRAM", "ssd": "SSD", "hdd": "HDD", "mainboard": "mainboard",
                   "peripheral_pwb": "peripheral PWB", "psu": "PSU", "chassis": "chassis", "fans": "fans",
                   "packaging": "packaging", "assembly": "assembly", "unitemised": "unitemised electronics"}
#: Host components added after the first release (server-lca): drawn when the table has them.
OPTIONAL_HOST_COMPONENTS = ("assembly", "unitemised")
GPU_COMPONENTS = {"soc": "SoC", "memory": "memory", "pcb": "PCB", "pdn": "PDN", "cooling": "cooling",
                  "interconnect": "interconnect"}


def _component_columns() -> list[str]:
    """The component columns a table needs for the components figure (the optional ones aside)."""
    return ([f"host_{c}_kg" for c in HOST_COMPONENTS if c not in OPTIONAL_HOST_COMPONENTS]
            + [f"gpu_{c}_kg" for c in GPU_COMPONENTS])


#: Seed Fig. 8 panels: column, panel title, y label.
BATCH_METRICS = (
    ("energy_j", "Energy", "J per request"),
    ("latency_s", "Delay", "Latency (s)"),
    ("edp_j_s", "EDP", "J·s per request"),
    ("cdp_g_s", "CDP", "gCO₂e·s per request"),
    ("cep_g_j", "CEP", "gCO₂e·J per request"),
)
#: Online-serving panels (seed §5.3, Table 2): column, panel title, y label, scale to the label's unit.
SERVING_METRICS = (
    ("ttft_p50_s", "TTFT (median)", "Seconds", 1.0),
    ("tpot_p50_s", "TPOT (median)", "Milliseconds", 1e3),
    ("energy_j", "Energy", "J per request", 1.0),
    ("operational_g", "Operational carbon", "gCO₂e per request", 1.0),
    ("total_g", "Total carbon", "gCO₂e per request", 1.0),
)
#: Panels whose minimum along each line is marked (the delay products of seed Fig. 8).
PRODUCTS = ("edp_j_s", "cdp_g_s", "cep_g_j")

#: Seed Fig. 2 (rates per energy source): the two unit systems it is drawn in.
RATE_UNITS = {
    "per_second": {"embodied": "embodied_mg_per_s", "operational": "operational_mg_per_s",
                   "suffix": "_mg_per_s", "ylabel": "Carbon rate (mgCO₂e/s)"},
    "per_request": {"embodied": "embodied_g", "operational": "operational_g",
                    "suffix": "_g", "ylabel": "Carbon (gCO₂e per request)"},
}


class MissingColumnsError(ValueError):
    """The table lacks columns a figure needs (the figure is then not drawn)."""


# --------------------------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------------------------
def _inputs(df: pd.DataFrame) -> list[str]:
    """Input columns: dotted scenario paths plus the database entries a scenario names."""
    return [c for c in df.columns if "." in c or c in ("server", "model", "coefficients")]


def _require(df: pd.DataFrame, columns, figure: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MissingColumnsError(f"{figure} needs the column(s) {', '.join(missing)}, which the table lacks")


def _feasible(df: pd.DataFrame) -> pd.DataFrame:
    if "feasible" in df.columns:
        df = df[df["feasible"].astype(bool)]
    if df.empty:
        raise ValueError("the table has no feasible row to draw")
    return df


def _varies(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and df[col].nunique(dropna=False) > 1


def _changes(df: pd.DataFrame, col: str, values: list[str]) -> bool:
    """Does ``col`` change any of ``values`` when every other varying input is held?"""
    others = [c for c in _inputs(df) if c != col and _varies(df, c)]
    vals = df[values].astype(float)
    if others:
        g = vals.groupby([df[c] for c in others], dropna=False, sort=False)
        spread, scale = (g.max() - g.min()).abs(), g.max().abs()
    else:
        spread, scale = (vals.max() - vals.min()).abs(), vals.max().abs()
    return bool(((spread > 1e-9 * scale) & spread.notna()).to_numpy().any())


def _select(df: pd.DataFrame, keep, values, where: dict | None):
    """Rows of one slice: ``where`` applied, every other varying input held at its first value.

    Returns the slice and the inputs held (``{column: value}``) that change ``values``.
    """
    held = {}
    for col, want in (where or {}).items():
        if col not in df.columns:
            raise ValueError(f"where: the table has no column {col!r}")
        wanted = list(want) if isinstance(want, (list, tuple, set)) else [want]
        mask = df[col].isin(wanted)
        if not mask.any():
            raise ValueError(f"where: {col}={want!r} is not in the table; it has {sorted(df[col].unique())}")
        df = df[mask]
        if len(wanted) == 1 and col not in keep:
            held[col] = wanted[0]
    for col in _inputs(df):
        if col in keep or col in (where or {}) or not _varies(df, col):
            continue
        first = df[col].iloc[0]
        if _changes(df, col, values):
            held[col] = first
        df = df[df[col] == first]
    return df, held


def _levels(df: pd.DataFrame, col: str | None, cap: int, notes: list[str]) -> list:
    """Values of ``col`` in table order, at most ``cap`` of them (a note says when cut)."""
    if col is None:
        return [None]
    levels = list(pd.unique(df[col]))
    if len(levels) > cap:
        notes.append(f"first {cap} of {len(levels)} {_name(col)} values")
        levels = levels[:cap]
    return levels


def _num(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _name(col: str) -> str:
    """Short name of an input column (``TP``, ``host.dram.gb``)."""
    if col in SHORT:
        return SHORT[col]
    head, _, rest = col.partition(".")
    return rest if head in ("server", "workload", "datacenter", "model", "coefficients") and rest else col


#: Inputs whose values read on their own (a model id, a grid name).
SELF_EXPLAINING = ("model", "server", "coefficients", GRID, "workload.engine", "workload.precision", PLACEMENT,
                   "training.gpu")


def _value_label(col: str | None, v) -> str:
    """How a value reads in a legend (``TP=2``, ``llama-2-7b``, ``host.dram.gb=512``)."""
    if col is None:
        return "all points"
    return _num(v) if col in SELF_EXPLAINING else f"{_name(col)}={_num(v)}"


def _note(held: dict, notes: list[str]) -> str:
    """The caption's note: the inputs held, and any cut in the number of lines or panels."""
    parts = [f"held at {', '.join(f'{_name(c)}={_num(v)}' for c, v in held.items())}"] if held else []
    return "; ".join(parts + notes)


def _first_varying(df: pd.DataFrame, candidates, exclude=()) -> str | None:
    for c in candidates:
        if c not in exclude and _varies(df, c):
            return c
    return None


#: Order in which inputs become series or panels.
KEY_ORDER = ("model", "server", TP, "workload.precision", "workload.engine", "coefficients",
             "datacenter.pue")


def _keys_in_order(df: pd.DataFrame, exclude) -> list[str]:
    rest = [c for c in _inputs(df) if c not in KEY_ORDER]
    return [c for c in (*KEY_ORDER, *rest) if c not in exclude and _varies(df, c)]


# --------------------------------------------------------------------------------------------
# Figure helpers
# --------------------------------------------------------------------------------------------
def _width(width: str) -> float:
    try:
        return WIDTHS[width]
    except KeyError:
        raise ValueError(f"width must be one of {sorted(WIDTHS)}, found {width!r}") from None


def _figure(width: str, height: float) -> Figure:
    fig = Figure(figsize=(_width(width), height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.04, hspace=0.04)
    return fig


def _caption(fig, title: str | None, note: str, show_note: bool) -> None:
    """A caption line under the figure: the title, then the inputs held (wrapped to the width)."""
    text = " — ".join(t for t in (title, note if show_note else "") if t)
    if text:
        chars = int(fig.get_figwidth() * 72 / (0.56 * 7))  # DejaVu Sans averages ~0.56 em per character
        fig.supxlabel(textwrap.fill(text, chars), fontsize=7, color="0.25")


def _log_limits(values, pad: float = 0.06) -> tuple[float, float]:
    """Log-axis limits around the positive ``values``, padded by ``pad`` of their span in decades."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        raise ValueError("no positive value to draw on a log axis")
    lo, hi = math.log10(v.min()), math.log10(v.max())
    margin = pad * max(hi - lo, 0.5)
    return 10 ** (lo - margin), 10 ** (hi + margin)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _plain(t: float) -> str:
    return np.format_float_positional(float(f"{t:.6g}"), trim="-")


def _scientific(t: float) -> str:
    """``10⁻³`` for a decade, ``2×10⁻⁴`` otherwise."""
    k = math.floor(math.log10(t) + 1e-9)
    m = round(t / 10.0 ** k, 6)
    power = "10" + str(k).translate(_SUPERSCRIPT)
    return power if m == 1 else f"{_plain(m)}×{power}"


def _log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Major ticks in ``[lo, hi]`` and their labels.

    Three or more decades: the decades (every other one beyond seven); two: 1-3 steps;
    fewer: 1-2-5 steps (1-9 if that still gives under three). Labels are plain numbers when
    every tick lies in 10⁻³…10⁴, else powers of ten.
    """
    d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))

    def within(mults):
        return [m * 10.0 ** k for k in range(d0 - 1, d1 + 1) for m in mults if lo <= m * 10.0 ** k <= hi]

    ticks = within((1,))
    if len(ticks) > 7:
        ticks = ticks[:: math.ceil(len(ticks) / 6)]
    elif len(ticks) == 2:
        ticks = within((1, 3))
    elif len(ticks) < 2:
        ticks = within((1, 2, 5))
        if len(ticks) < 3:
            ticks = within(range(1, 10))
    plain = all(1e-3 <= t <= 1e4 for t in ticks)
    return ticks, [_plain(t) if plain else _scientific(t) for t in ticks]


def _log_axis(ax, which: str, values, pad: float = 0.06) -> None:
    """Log scale on ``ax``'s ``which`` axis with limits from ``values`` and readable ticks."""
    lo, hi = _log_limits(values, pad)
    ticks, labels = _log_ticks(lo, hi)
    if len(ticks) < 2:  # a nearly constant quantity: widen to the neighbouring 1-9 steps
        k = math.floor(math.log10(lo))
        lo = math.floor(lo / 10.0 ** k) * 10.0 ** k
        k = math.floor(math.log10(hi))
        hi = math.ceil(hi / 10.0 ** k) * 10.0 ** k
        ticks, labels = _log_ticks(lo, hi)
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    (ax.set_ylim if which == "y" else ax.set_xlim)(lo, hi)
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FixedFormatter(labels))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=50))
    axis.set_minor_formatter(NullFormatter())


def _thin_ticks(fig: Figure) -> None:
    """Drop major ticks whose labels would overlap once laid out (decades are kept first)."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.findobj(lambda a: isinstance(a, mpl.axes.Axes)):
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "log" or not isinstance(axis.get_major_locator(), FixedLocator):
                continue
            ticks = list(axis.get_major_locator().locs)
            labels = list(axis.get_major_formatter().seq)
            for _ in range(4):
                boxes = [t.label1.get_window_extent(renderer) for t in axis.get_major_ticks()[: len(ticks)]]
                vertical = axis is ax.yaxis
                crowded = any((b.y0 - 1 < a.y1 if vertical else b.x0 - 3 < a.x1)
                              for a, b in zip(boxes, boxes[1:]))
                if not crowded or len(ticks) <= 2:
                    break
                decades = [i for i, t in enumerate(ticks) if abs(math.log10(t) - round(math.log10(t))) < 1e-9]
                keep = decades if 2 <= len(decades) < len(ticks) else list(range(0, len(ticks), 2))
                ticks, labels = [ticks[i] for i in keep], [labels[i] for i in keep]
                axis.set_major_locator(FixedLocator(ticks))
                axis.set_major_formatter(FixedFormatter(labels))
                fig.draw_without_rendering()


def _log2_axis(ax, batches) -> None:
    """Batch sizes (or request rates) on a log₂ axis, labelled with plain numbers (1, 4, 16, 64 …)."""
    b = np.unique(np.asarray(batches, dtype=float))
    ax.set_xscale("log", base=2)
    lo, hi = _log_limits(b)
    ax.set_xlim(lo, hi)
    if b.size <= 6:
        ticks = list(b)
    else:
        powers = [2.0 ** k for k in range(math.floor(math.log2(b.min())), math.ceil(math.log2(b.max())) + 1)
                  if b.min() <= 2.0 ** k <= b.max()]
        ticks = powers[:: math.ceil(len(powers) / 6)] if len(powers) >= 2 else list(b[:: math.ceil(b.size / 6)])
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([_num(t) for t in ticks]))
    ax.xaxis.set_minor_locator(FixedLocator([]))


def _grid_lines(ax, axis="y") -> None:
    ax.grid(True, axis=axis, which="major", color="0.88", linewidth=0.5)
    ax.set_axisbelow(True)


def save_figure(fig: Figure, out_dir: Path, stem: str, formats=FORMATS) -> list[Path]:
    """Write ``fig`` as ``out_dir/stem.<ext>`` for each format, with text kept as text.

    Use this rather than ``fig.savefig``: SVG and PDF font handling is read from the
    matplotlib settings in force when the file is written, and this applies :data:`STYLE`.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure from one of the ``fig_*`` functions.
    out_dir : pathlib.Path
        Existing directory.
    stem : str
        File name without extension.
    formats : sequence of {"pdf", "svg", "png"}

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``formats``.
    """
    paths = []
    with mpl.rc_context(STYLE):
        for ext in formats:
            p = out_dir / f"{stem}.{ext}"
            meta = {"Date": None} if ext == "svg" else {"CreationDate": None} if ext == "pdf" else {}  # no dates
            fig.savefig(p, format=ext, dpi=PNG_DPI, metadata=meta)
            paths.append(p)
    return paths


def _series_slice(df: pd.DataFrame, x: str, series: list[str], values: list[str], where: dict | None):
    """The slice a series figure draws: rows (``where`` applied, other inputs held), the inputs
    held, the caption notes, and the series inputs with their values (colour/marker, line style)."""
    if len(series) > 2:
        raise ValueError(f"at most two series inputs (colour/marker and line style), found {series}")
    sub, held = _select(df, {x, *series}, values, where)
    if GRID in sub.columns and GRID not in held:  # carbon depends on it: always say which
        held[GRID] = sub[GRID].iloc[0]
    notes: list[str] = []
    primary = series[0] if series else None
    secondary = series[1] if len(series) > 1 else None
    p_levels = _levels(sub, primary, MAX_SERIES, notes)
    s_levels = _levels(sub, secondary, len(LINESTYLES), notes)
    return sub, held, notes, primary, p_levels, secondary, s_levels


def _five_panels(width: str) -> tuple[Figure, list]:
    """A figure of five panels and a sixth for the key: 2 x 3 at double width, 3 x 2 at single."""
    single = width == "single"
    fig = _figure(width, 4.6 if single else 3.7)
    return fig, list((fig.subplots(3, 2) if single else fig.subplots(2, 3)).ravel())


def _lines(sub: pd.DataFrame, x: str, primary, p_levels, secondary, s_levels):
    """The lines of a figure with up to two series inputs: ``(i, j, label, rows sorted by x)``
    for each pair of values that has rows (``i`` sets colour and marker, ``j`` line style)."""
    for i, pv in enumerate(p_levels):
        for j, sv in enumerate(s_levels):
            g = sub
            if primary is not None:
                g = g[g[primary] == pv]
            if secondary is not None:
                g = g[g[secondary] == sv]
            if g.empty:
                continue
            label = " / ".join(_value_label(k, v) for k, v in ((primary, pv), (secondary, sv)) if k)
            yield i, j, label or "all points", g.sort_values(x)


def _line_style(i: int, j: int) -> dict:
    """Colour and marker of series value ``i``, line style (and open markers past the first) of ``j``."""
    return dict(color=COLORS[i], marker=MARKERS[i], ls=LINESTYLES[j], mfc=COLORS[i] if j == 0 else "white", ms=3.5)


def _series_key(ax, primary, p_levels, secondary, s_levels, single: bool, extra=()) -> None:
    """One legend in the empty panel ``ax``: each series input's values under its name in bold,
    then the ``extra`` handles."""
    legends = []
    if primary is not None:
        legends.append((_name(primary), [
            Line2D([], [], color=COLORS[i], marker=MARKERS[i], ms=3.5, label=_value_label(primary, v))
            for i, v in enumerate(p_levels)]))
    if secondary is not None:
        legends.append((_name(secondary), [
            Line2D([], [], color="0.3", ls=LINESTYLES[j], marker="o", ms=3.5, mfc="0.3" if j == 0 else "white",
                   label=_value_label(secondary, v)) for j, v in enumerate(s_levels)]))
    if extra:
        legends.append((None, list(extra)))
    handles, labels, heads = [], [], []
    for head, hs in legends:
        if head:
            heads.append(len(handles))
            handles.append(Line2D([], [], ls="none"))
            labels.append(head)
        handles += hs
        labels += [h.get_label() for h in hs]
    ax.axis("off")
    if handles:
        leg = ax.legend(handles, labels, loc="center left" if not single else "center",
                        handlelength=2.6, borderaxespad=0)
        for i in heads:
            leg.get_texts()[i].set_fontweight("bold")


# --------------------------------------------------------------------------------------------
# Seed Fig. 2: embodied and operational carbon per energy source
# --------------------------------------------------------------------------------------------
def _rate_mode(df: pd.DataFrame) -> str:
    if "embodied_mg_per_s" in df.columns or "operational_mg_per_s" in df.columns:
        return "per_second"
    return "per_request"


def _rate_parts(sub: pd.DataFrame, mode: str) -> dict[str, np.ndarray | None]:
    """GPU and host parts of embodied and operational carbon (None where the table lacks them)."""
    suffix = RATE_UNITS[mode]["suffix"]
    parts = {}
    for kind in ("embodied", "operational"):
        for part in ("gpu", "host"):
            col = f"{part}_{kind}{suffix}"
            v = sub[col].to_numpy(dtype=float) if col in sub.columns else None
            if v is None and mode == "per_request" and kind == "operational" and {
                    "gpu_energy_j", "host_energy_j", "energy_j"} <= set(sub.columns):
                # operational carbon is energy x PUE x CI, so it splits as the energy does
                v = (sub["operational_g"] * sub[f"{part}_energy_j"] / sub["energy_j"]).to_numpy(dtype=float)
            parts[f"{part}_{kind}"] = v
    for kind in ("embodied", "operational"):
        g, h = parts[f"gpu_{kind}"], parts[f"host_{kind}"]
        if g is None or h is None or np.isnan(g).any() or np.isnan(h).any():
            parts[f"gpu_{kind}"] = parts[f"host_{kind}"] = None
    return parts


def fig_rates_by_grid(df: pd.DataFrame, *, width: str = "double", where: dict | None = None,
                      title: str | None = None, note: bool = True) -> Figure:
    """Embodied and operational carbon of GPUs and host per energy source (seed Fig. 2).

    Server-only sweeps give per-second rates [mgCO₂e/s]; LLM sweeps give carbon per request
    [gCO₂e]. Each energy source (x, ordered from the most to the least carbon-intensive) shows
    four points on a log axis: GPU and host (marker shape) × embodied and operational (filled
    and open markers, two colours), and two short horizontal lines for the embodied and the
    operational totals. Points, not bars: a bar on a log axis has no meaningful base.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep table with ``datacenter.grid`` and either ``embodied_mg_per_s`` and
        ``operational_mg_per_s`` (server-only) or ``embodied_g`` and ``operational_g`` (LLM).
        Optional parts: ``{gpu,host}_{embodied,operational}_mg_per_s`` (server-only) and
        ``{gpu,host}_embodied_g`` with ``{gpu,host}_energy_j`` (LLM: operational carbon is
        split in proportion to energy, which is exact since it is energy x PUE x CI). A part
        that is missing or NaN is left out and its total line is labelled accordingly.
        ``ci_g_per_kwh``, when present, orders the sources and labels the ticks.
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    where : dict, optional
        ``{column: value}`` holding inputs other than the grid (default: each one's first value).
    title : str, optional
        Caption line under the figure.
    note : bool
        Add to the caption which inputs were held, and at what value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingColumnsError
        When the table lacks the grid or the embodied and operational columns.
    """
    mode = _rate_mode(df)
    units = RATE_UNITS[mode]
    _require(df, (GRID, units["embodied"], units["operational"]), "fig_rates_by_grid")
    df = _feasible(df)
    values = [c for c in df.columns if c.endswith(units["suffix"]) and df[c].dtype.kind == "f"]
    sub, held = _select(df, {GRID}, values, where)
    sub = sub.drop_duplicates(GRID)
    if "ci_g_per_kwh" in sub.columns:
        sub = sub.sort_values("ci_g_per_kwh", ascending=False, kind="stable")
    x = np.arange(len(sub))
    parts = _rate_parts(sub, mode)
    emb, op = (sub[units[k]].to_numpy(dtype=float) for k in ("embodied", "operational"))

    with mpl.rc_context(STYLE):
        fig = _figure(width, 2.7 if width == "single" else 2.6)
        ax = fig.add_subplot()
        style = {"embodied": dict(color=COLORS[1], mfc=COLORS[1]),
                 "operational": dict(color=COLORS[0], mfc="white")}
        marker = {"gpu": "o", "host": "s"}
        offset = {"gpu_embodied": -0.24, "host_embodied": -0.08, "gpu_operational": 0.08,
                  "host_operational": 0.24}
        keys: dict[str, list] = {}  # legend entries per kind: the parts, then the total
        shown = []
        for kind, total, ls in (("embodied", emb, "-"), ("operational", op, "--")):
            keys[kind] = []
            for part in ("gpu", "host"):
                v = parts[f"{part}_{kind}"]
                if v is None:
                    continue
                label = f"{'GPU' if part == 'gpu' else 'host'} {kind}"
                line, = ax.plot(x + offset[f"{part}_{kind}"], v, ls="none", marker=marker[part], ms=4.5, mew=1.0,
                                gid=f"{part}_{kind}{units['suffix']}", label=label, **style[kind])
                keys[kind].append(line)
                shown.append(v)
            # the total: a short level line across the source's group
            xs = np.column_stack([x - 0.34, x + 0.34, np.full(len(x), np.nan)]).ravel()
            label = f"{kind} total (host + GPU)"
            if parts[f"gpu_{kind}"] is None:
                label += "; split not in table"
            line, = ax.plot(xs, np.repeat(total, 3), ls=ls, lw=1.3, color=style[kind]["color"],
                            gid=units[kind], label=label)
            keys[kind].append(line)
            shown.append(total)
        emb_keys, op_keys = keys["embodied"], keys["operational"]
        if width == "double" and len(emb_keys) == len(op_keys):
            handles = [h for pair in zip(emb_keys, op_keys) for h in pair]  # one row per kind
            ncols = len(emb_keys)
        else:
            handles, ncols = emb_keys + op_keys, 2
        _log_axis(ax, "y", np.concatenate([np.asarray(v, dtype=float) for v in shown]))
        ax.set_ylabel(units["ylabel"])
        ticks = [str(g) for g in sub[GRID]]
        if "ci_g_per_kwh" in sub.columns:
            ticks = [f"{g}\n{c:.0f}" for g, c in zip(ticks, sub["ci_g_per_kwh"])]
            ax.set_xlabel("Energy source and its intensity (gCO₂e/kWh)")
        else:
            ax.set_xlabel("Energy source")
        ax.set_xticks(x, ticks)
        ax.set_xlim(-0.6, len(x) - 0.4)
        ax.tick_params(axis="x", length=0)
        _grid_lines(ax)
        fig.legend(handles=handles, loc="outside upper center", ncols=ncols, columnspacing=1.2,
                   handletextpad=0.4)
        _caption(fig, title, _note(held, []), note)
        _thin_ticks(fig)
    return fig


# --------------------------------------------------------------------------------------------
# Seed Fig. 7: embodied carbon by component
# --------------------------------------------------------------------------------------------
def fig_components(df: pd.DataFrame, *, by: str | None = None, width: str = "double",
                   where: dict | None = None, share: bool = False, title: str | None = None,
                   note: bool = True) -> Figure:
    """Embodied carbon of each host and GPU component, per server (seed Fig. 7).

    Two panels (host components, GPU components; side by side at double width, stacked at
    single width) of horizontal bars on a linear axis from zero: one bar per server (colour
    and hatch, with its host and GPU totals in the key) for every component. Components that
    are zero for every server drawn are left out.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep table with ``host_<c>_kg`` for c in cpu, dram, ssd, hdd, mainboard,
        peripheral_pwb, psu, chassis, fans, packaging and ``gpu_<c>_kg`` for c in soc, memory,
        pcb, pdn, cooling, interconnect [kgCO₂e].
    by : str, optional
        Input column whose values are the servers compared (default: ``server`` if it varies,
        else the first varying input that changes the components; else one server).
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    where : dict, optional
        ``{column: value}`` holding other inputs (default: each one's first value).
    share : bool
        Plot each component as a percentage of its host or GPU total instead of kgCO₂e.
    title : str, optional
        Caption line under the figure.
    note : bool
        Add to the caption which inputs were held, and at what value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingColumnsError
        When the table lacks any of the sixteen component columns (``host_assembly_kg`` and
        ``host_unitemised_kg``, added later, are drawn when present).
    """
    _require(df, _component_columns(), "fig_components")
    cols = {"host": {f"host_{c}_kg": lab for c, lab in HOST_COMPONENTS.items()
                     if c not in OPTIONAL_HOST_COMPONENTS or f"host_{c}_kg" in df.columns},
            "gpu": {f"gpu_{c}_kg": lab for c, lab in GPU_COMPONENTS.items()}}
    df = _feasible(df)
    values = [*cols["host"], *cols["gpu"]]
    if by is None:
        by = "server" if _varies(df, "server") else next(
            (c for c in _keys_in_order(df, ()) if _changes(df, c, values)), None)
    sub, held = _select(df, {by} if by else set(), values, where)
    notes: list[str] = []
    if by is None:
        servers, rows = [0], sub.iloc[:1].reset_index(drop=True)
        only = str(sub["server"].iloc[0]) if "server" in sub.columns else "server"
    else:
        servers = _levels(sub, by, MAX_SERIES, notes)
        rows = sub.drop_duplicates(by).set_index(by).loc[servers]
    totals = {p: rows[list(cols[p])].sum(axis=1) for p in cols}
    shown = {p: [c for c in cols[p] if (rows[c].abs() > 0).any()] for p in cols}
    single = width == "single"
    n_srv = len(servers)
    row_h = 0.05 + 0.07 * n_srv
    if single:
        height = 1.05 + row_h * (len(shown["host"]) + len(shown["gpu"])) + 0.15 * n_srv
    else:
        height = 1.0 + row_h * max(len(shown["host"]), len(shown["gpu"])) + 0.1 * math.ceil(n_srv / 2)

    with mpl.rc_context(STYLE):
        fig = _figure(width, min(height, 9.0))
        if single:
            axes = fig.subplots(2, 1, sharex=True,
                                height_ratios=[max(len(shown["host"]), 1), max(len(shown["gpu"]), 1)])
        else:
            axes = fig.subplots(1, 2, sharex=True)
        bar_h = 0.8 / n_srv
        handles = []
        for ax, part in zip(axes, ("host", "gpu")):
            comps = shown[part]
            y = np.arange(len(comps))
            for i, s in enumerate(servers):
                vals = rows.loc[s, comps].to_numpy(dtype=float) if comps else np.array([])
                if share:
                    vals = 100 * vals / totals[part][s] if totals[part][s] else vals * np.nan
                label = _value_label(by, s) if by else only
                cont = ax.barh(y - 0.4 + bar_h * (i + 0.5), vals, height=bar_h, color=COLORS[i],
                               hatch=HATCHES[i], edgecolor="white" if not HATCHES[i] else "0.15",
                               linewidth=0.4, label=label)
                for rect, c in zip(cont, comps):
                    rect.set_gid(f"{c}|{label}")
                if part == "host":
                    handles.append(Patch(facecolor=COLORS[i], hatch=HATCHES[i],
                                         edgecolor="white" if not HATCHES[i] else "0.15", linewidth=0.4,
                                         label=f"{label}: host {totals['host'][s]:.0f} kg, "
                                               f"GPU {totals['gpu'][s]:.0f} kg"))
            ax.set_yticks(y, [cols[part][c] for c in comps])
            ax.invert_yaxis()
            ax.set_xlim(0, None)
            ax.tick_params(axis="y", length=0)
            ax.set_title("Host components" if part == "host" else "GPU components (all cards)", loc="left")
            if not single or part == "gpu":
                ax.set_xlabel("Share of the part's embodied carbon (%)" if share else "Embodied carbon (kgCO₂e)")
            _grid_lines(ax, "x")
        fig.legend(handles=handles, loc="outside upper center", ncols=1 if single else 2,
                   title=f"{_name(by) if by else 'server'} (embodied totals)", handlelength=1.6)
        _caption(fig, title, _note(held, notes), note)
        _thin_ticks(fig)
    return fig


# --------------------------------------------------------------------------------------------
# Seed Fig. 8: energy, delay and delay products per request against batch size
# --------------------------------------------------------------------------------------------
def fig_batch_metrics(df: pd.DataFrame, grid: str | None = None, *, width: str = "double",
                      series: list[str] | None = None, where: dict | None = None,
                      title: str | None = None, note: bool = True) -> Figure:
    """Energy, delay, EDP, CDP and CEP per request against batch size (seed Fig. 8).

    One panel per metric, all on log–log axes; one line per value of the series inputs
    (by default ``model`` and then the next varying input such as the TP degree): the first
    series input sets colour and marker, the second the line style. The lowest EDP, CDP and
    CEP of each line is circled.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep table with ``workload.batch_size``, ``energy_j``, ``latency_s``, ``edp_j_s``,
        ``cdp_g_s`` and ``cep_g_j``.
    grid : str, optional
        Energy source the carbon metrics are drawn for (default: the first in the table).
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    series : list of str, optional
        Up to two input columns that make the lines (first: colour and marker; second: line
        style). Default: the first two varying inputs in the order model, server, TP,
        precision, engine, coefficients, PUE, then the others.
    where : dict, optional
        ``{column: value}`` holding other inputs (default: each one's first value).
    title : str, optional
        Caption line under the figure.
    note : bool
        Add to the caption which inputs were held, and at what value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingColumnsError
        When the table lacks the batch size or one of the five metrics.
    """
    metrics = [m for m, _, _ in BATCH_METRICS]
    _require(df, (BATCH, *metrics), "fig_batch_metrics")
    df = _feasible(df)
    where = dict(where or {})
    if grid is not None:
        if GRID not in df.columns:
            raise ValueError(f"grid={grid!r} given but the table has no {GRID} column")
        where[GRID] = grid
    if series is None:
        series = _keys_in_order(df, {BATCH, GRID, *where})[:2]
    sub, held, notes, primary, p_levels, secondary, s_levels = _series_slice(df, BATCH, series, metrics, where)
    if primary is None and "model" in sub.columns:
        p_levels, primary = [sub["model"].iloc[0]], "model"
    single = width == "single"

    with mpl.rc_context(STYLE):
        fig, flat = _five_panels(width)
        for ax, (col, name, ylabel) in zip(flat, BATCH_METRICS):
            ax.set_gid(col)
            for i, j, label, g in _lines(sub, BATCH, primary, p_levels, secondary, s_levels):
                ax.plot(g[BATCH], g[col], **_line_style(i, j), gid=f"{col}|{label}", label=label)
                if col in PRODUCTS:
                    best = g.loc[g[col].idxmin()]
                    ax.plot([best[BATCH]], [best[col]], ls="none", marker="o", ms=9, mfc="none",
                            mec="0.1", mew=0.8, gid=f"{col}|{label}|min")
            _log2_axis(ax, sub[BATCH])
            _log_axis(ax, "y", sub[col])
            ax.set_title(name, loc="left", fontweight="bold")
            ax.set_ylabel(ylabel)
            ax.set_xlabel("Batch size")
            _grid_lines(ax, "both")
        ring = Line2D([], [], ls="none", marker="o", ms=9, mfc="none", mec="0.1", mew=0.8,
                      label="lowest EDP, CDP, CEP\nof each line")
        _series_key(flat[-1], primary, p_levels, secondary, s_levels, single, extra=[ring])
        _caption(fig, title, _note(held, notes), note)
        _thin_ticks(fig)
    return fig


# --------------------------------------------------------------------------------------------
# Seed Figs. 9 and 10: tensor parallelism, latency against energy and embodied carbon
# --------------------------------------------------------------------------------------------
def fig_tp_tradeoffs(df: pd.DataFrame, *, width: str = "double", panels: str | None = None,
                     where: dict | None = None, title: str | None = None, note: bool = True) -> Figure:
    """Latency against energy and against embodied carbon per request (seed Figs. 9 and 10).

    Two rows of panels (energy, embodied carbon; transposed at single width), one column per
    model; one line per TP degree (colour, marker and line style), its points the batch sizes
    in increasing order, each labelled with its batch size. All axes are logarithmic.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep table with ``workload.batch_size``, ``latency_s``, ``energy_j`` and
        ``embodied_g``; ``workload.tensor_parallel`` gives the lines when present.
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    panels : str, optional
        Input column whose values are the panel columns (default: ``model`` if it varies, else
        the next varying input in the order server, precision, engine, coefficients).
    where : dict, optional
        ``{column: value}`` holding other inputs (default: each one's first value).
    title : str, optional
        Caption line under the figure.
    note : bool
        Add to the caption which inputs were held, and at what value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingColumnsError
        When the table lacks the batch size, latency, energy or embodied carbon.
    """
    cols = ("latency_s", "energy_j", "embodied_g")
    _require(df, (BATCH, *cols), "fig_tp_tradeoffs")
    df = _feasible(df)
    if panels is None:
        panels = _first_varying(df, ("model", "server", "workload.precision", "workload.engine", "coefficients"),
                                exclude=set(where or {}))
    keep = {BATCH, TP} | ({panels} if panels else set())
    sub, held = _select(df, keep, list(cols), where)
    notes: list[str] = []
    panel_levels = _levels(sub, panels, MAX_PANELS, notes)
    tps = sorted(sub[TP].unique()) if TP in sub.columns else [None]
    tps = tps[:MAX_SERIES]
    single = width == "single"
    gap = "\n" if single else " "  # a column is too narrow for the label on one line
    metrics = (("energy_j", f"Energy{gap}(J per request)"),
               ("embodied_g", f"Embodied carbon{gap}(gCO₂e per request)"))
    n = len(panel_levels)

    with mpl.rc_context(STYLE):
        fig = _figure(width, 1.0 + 1.5 * n if single else 4.2)
        # one subfigure per metric (a row at double width, a column at single width) with its x label
        subfigs = fig.subfigures(1, 2, wspace=0.02) if single else fig.subfigures(2, 1, hspace=0.02)
        for m, ((xcol, xlabel), sf) in enumerate(zip(metrics, subfigs)):
            axs = sf.subplots(n, 1, squeeze=False)[:, 0] if single else sf.subplots(1, n, squeeze=False)[0]
            sf.supxlabel(xlabel, fontsize=8)
            for p, (ax, pv) in enumerate(zip(axs, panel_levels)):
                g_panel = sub if panels is None else sub[sub[panels] == pv]
                ax.set_gid(f"{xcol}|{_value_label(panels, pv)}")
                for k, tp in enumerate(tps):
                    g = g_panel if tp is None else g_panel[g_panel[TP] == tp]
                    if g.empty:
                        continue
                    g = g.sort_values(BATCH)
                    label = "all points" if tp is None else f"TP={_num(tp)}"
                    ax.plot(g[xcol], g["latency_s"], color=COLORS[k], marker=MARKERS[k], ls=LINESTYLES[k],
                            ms=3.5, mfc=COLORS[k] if k == 0 else "white", lw=0.9, gid=f"{xcol}|{label}",
                            label=label)
                    # batch labels: all of up to six points, else every other one and the last;
                    # successive lines put them below-left, above-right, below-right of their points
                    idx = range(len(g)) if len(g) <= 6 else sorted({*range(0, len(g), 2), len(g) - 1})
                    dx, dy = ((-3, -2), (3, 2), (3, -2))[k % 3]
                    for i in idx:
                        row = g.iloc[i]
                        ax.annotate(_num(row[BATCH]), (row[xcol], row["latency_s"]), xytext=(dx, dy),
                                    textcoords="offset points", fontsize=7, color=COLORS[k],
                                    ha="left" if dx > 0 else "right", va="bottom" if dy > 0 else "top",
                                    gid=f"batch|{xcol}|{label}")
                _log_axis(ax, "x", g_panel[xcol], pad=0.12)
                _log_axis(ax, "y", g_panel["latency_s"], pad=0.12)
                if (single and m == 0) or (not single and p == 0):
                    ax.set_ylabel("Latency (s)")
                if panels is not None and (single or m == 0):
                    ax.set_title(_value_label(panels, pv), loc="left", fontweight="bold")
                _grid_lines(ax, "both")
        handles = [Line2D([], [], color=COLORS[k], marker=MARKERS[k], ls=LINESTYLES[k], ms=3.5,
                          mfc=COLORS[k] if k == 0 else "white", label="all points" if tp is None else f"TP={_num(tp)}")
                   for k, tp in enumerate(tps)]
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles),
                   title="Tensor-parallel degree (numbers next to points: batch size)", handlelength=2.6)
        _caption(fig, title, _note(held, notes), note)
        _thin_ticks(fig)
    return fig


# --------------------------------------------------------------------------------------------
# Seed §5.3 (Table 2): online serving against the request rate
# --------------------------------------------------------------------------------------------
def fig_serving_load(df: pd.DataFrame, *, width: str = "double", series: list[str] | None = None,
                     where: dict | None = None, title: str | None = None, note: bool = True) -> Figure:
    """Latency, energy and carbon per request against the request rate (seed §5.3, Table 2).

    One panel per quantity: median TTFT and TPOT, energy, operational and total carbon per
    request, on linear axes from zero (placements differ by tens of percent, which a log axis
    hides); the request rate is on a log₂ axis. One line per value of the series inputs (by
    default the placement, then the next varying input such as the engine): the first sets
    colour and marker, the second the line style.

    Parameters
    ----------
    df : pandas.DataFrame
        Online-serving sweep table with ``workload.qps`` and the columns of
        :data:`SERVING_METRICS`.
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    series : list of str, optional
        Up to two input columns that make the lines. Default: ``workload.placement`` when it
        varies, then the inputs in the order of :func:`fig_batch_metrics`.
    where : dict, optional
        ``{column: value}`` holding other inputs (default: each one's first value).
    title : str, optional
        Caption line under the figure.
    note : bool
        Add to the caption which inputs were held, and at what value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingColumnsError
        When the table lacks the request rate or one of the quantities.
    """
    metrics = [m for m, _, _, _ in SERVING_METRICS]
    _require(df, (QPS, *metrics), "fig_serving_load")
    df = _feasible(df)
    if series is None:
        first = [PLACEMENT] if _varies(df, PLACEMENT) and PLACEMENT not in (where or {}) else []
        series = (first + _keys_in_order(df, {QPS, GRID, PLACEMENT, *(where or {})}))[:2]
    sub, held, notes, primary, p_levels, secondary, s_levels = _series_slice(df, QPS, series, metrics, where)

    with mpl.rc_context(STYLE):
        fig, flat = _five_panels(width)
        for ax, (col, name, ylabel, scale) in zip(flat, SERVING_METRICS):
            ax.set_gid(col)
            for i, j, label, g in _lines(sub, QPS, primary, p_levels, secondary, s_levels):
                ax.plot(g[QPS], g[col] * scale, **_line_style(i, j), gid=f"{col}|{label}", label=label)
            _log2_axis(ax, sub[QPS])
            ax.set_ylim(0, float(sub[col].max()) * scale * 1.08)
            ax.set_title(name, loc="left", fontweight="bold")
            ax.set_ylabel(ylabel)
            ax.set_xlabel("Requests/s")
            _grid_lines(ax)
        _series_key(flat[-1], primary, p_levels, secondary, s_levels, width == "single")
        _caption(fig, title, _note(held, notes), note)
    return fig


# --------------------------------------------------------------------------------------------
# Training runs (seeds 001/002): carbon and time per run
# --------------------------------------------------------------------------------------------
def fig_training(df: pd.DataFrame, *, by: str | None = None, width: str = "double", where: dict | None = None,
                 title: str | None = None, note: bool = True) -> Figure:
    """Carbon and time of a training run, per hardware choice and energy source.

    Left: carbon per run [tCO₂e] on a linear axis from zero, one group of bars per value of
    ``by`` and in it one bar per energy source (colour), each stacked as embodied (hatched,
    below) and operational (solid, above), so the bar's height is the run's total. Right: days
    per run, one bar per value of ``by`` (the energy source does not change the time).

    Parameters
    ----------
    df : pandas.DataFrame
        Training sweep table with ``embodied_kg``, ``operational_kg``, ``total_kg`` and ``days``.
    by : str, optional
        Input column along x (default: ``training.gpu`` if it varies, else the first varying
        input other than the grid).
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    where : dict, optional
        ``{column: value}`` holding other inputs (default: each one's first value).
    title : str, optional
        Caption line under the figure.
    note : bool
        Add to the caption which inputs were held, and at what value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    MissingColumnsError
        When the table lacks one of the four columns.
    """
    cols = ["embodied_kg", "operational_kg", "total_kg", "days"]
    _require(df, cols, "fig_training")
    df = _feasible(df)
    if by is None:
        by = TRAINING_GPU if _varies(df, TRAINING_GPU) else next(iter(_keys_in_order(df, {GRID, *(where or {})})), None)
    sub, held = _select(df, {GRID} | ({by} if by else set()), cols, where)
    notes: list[str] = []
    xs = _levels(sub, by, 12, notes)
    grids = _levels(sub, GRID if GRID in sub.columns else None, MAX_SERIES, notes)
    single = width == "single"
    step = 0.8 / len(grids)  # the bars of one x value share 0.8 of its slot

    with mpl.rc_context(STYLE):
        fig = _figure(width, 4.4 if single else 2.8)
        ax, ax_days = fig.subplots(2, 1, height_ratios=(2, 1)) if single else \
            fig.subplots(1, 2, width_ratios=(2.2, 1))
        for k, g_value in enumerate(grids):
            for i, x_value in enumerate(xs):
                row = sub
                if by is not None:
                    row = row[row[by] == x_value]
                if g_value is not None:
                    row = row[row[GRID] == g_value]
                if row.empty:
                    continue
                r = row.iloc[0]
                x = i - 0.4 + step * (k + 0.5)
                key = f"{_value_label(by, x_value)}|{g_value}"
                emb, op = r["embodied_kg"] / 1e3, r["operational_kg"] / 1e3
                ax.bar(x, emb, step * 0.92, color="white", edgecolor=COLORS[k], hatch="////", lw=0.6,
                       gid=f"embodied_kg|{key}")
                ax.bar(x, op, step * 0.92, bottom=emb, color=COLORS[k], edgecolor=COLORS[k], lw=0.6,
                       gid=f"operational_kg|{key}")
        days = [float(sub[sub[by] == v]["days"].iloc[0]) if by is not None else float(sub["days"].iloc[0])
                for v in xs]
        bars = ax_days.bar(range(len(xs)), days, 0.6, color="0.55", edgecolor="0.2", lw=0.6)
        for v, rect in zip(xs, bars):
            rect.set_gid(f"days|{_value_label(by, v)}")
        labels = [_value_label(by, v) for v in xs]
        for a, share in ((ax, 1.0 if single else 2.2 / 3.2), (ax_days, 1.0 if single else 1 / 3.2)):
            # labels (GPU ids) slant when they would not fit side by side: about 18 characters
            # of 7-pt text per inch, with a character of space between them
            slant = sum(len(t) + 2 for t in labels) > 0.8 * share * _width(width) * 18
            a.set_xticks(range(len(xs)), labels, rotation=25 if slant else 0, ha="right" if slant else "center",
                         rotation_mode="anchor")
            a.set_xlim(-0.6, len(xs) - 0.4)
            a.tick_params(axis="x", length=0)
            _grid_lines(a)
        ax.set_ylim(0, float((sub["embodied_kg"] + sub["operational_kg"]).max()) / 1e3 * 1.08)
        ax.set_ylabel("tCO₂e per run")
        ax.set_title("Carbon", loc="left", fontweight="bold")
        if by is not None:
            ax.set_xlabel(_name(by))
            ax_days.set_xlabel(_name(by))
        ax_days.set_ylim(0, max(days) * 1.08)
        ax_days.set_ylabel("Days per run")
        ax_days.set_title("Time", loc="left", fontweight="bold")
        handles = [Patch(facecolor="white", edgecolor="0.2", hatch="////", label="embodied"),
                   Patch(facecolor="0.2", edgecolor="0.2", label="operational")]
        if grids != [None]:
            handles += [Patch(facecolor=COLORS[k], edgecolor=COLORS[k], label=str(g)) for k, g in enumerate(grids)]
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 3 if single else 6),
                   columnspacing=1.2, handletextpad=0.4)
        _caption(fig, title, _note(held, notes), note)
    return fig


# --------------------------------------------------------------------------------------------
# Everything a sweep table supports
# --------------------------------------------------------------------------------------------
def _stem_part(value) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(value))


def sweep_figures(points: pd.DataFrame, out_dir: Path, title: str, *, width: str = "double",
                  formats=FORMATS, grid: str | None = None) -> list[Path]:
    """Draw and write every seed figure the sweep table has the columns for.

    Parameters
    ----------
    points : pandas.DataFrame
        The sweep's tidy table, one row per point (infeasible rows are left out).
    out_dir : pathlib.Path
        Directory the files go to (created if missing).
    title : str
        Caption line under every figure (the scenario name, say), before the inputs held.
    width : {"single", "double"}
        Figure width: 3.5 in or 7 in.
    formats : sequence of {"pdf", "svg", "png"}
        File formats written for each figure.
    grid : str, optional
        Energy source of the batch figure (seed Fig. 8). Default: one figure per energy source
        when the table has several (stem suffixed ``_<grid>``), else one figure.

    Returns
    -------
    list of pathlib.Path
        The files written, figure by figure, in the order of ``formats``.

    Notes
    -----
    Drawn when the table allows: :func:`fig_rates_by_grid` when it has two or more energy
    sources; :func:`fig_components` with the component columns; :func:`fig_batch_metrics`
    and :func:`fig_tp_tradeoffs` with two or more batch sizes; :func:`fig_serving_load` with
    two or more request rates (online serving); :func:`fig_training` for training sweeps.
    """
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"formats must be among {FORMATS}, found {bad}")
    _width(width)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = _feasible(points)
    written: list[Path] = []

    def can(fn_columns) -> bool:
        return all(c in df.columns for c in fn_columns)

    mode = _rate_mode(df)
    if _varies(df, GRID) and can(RATE_UNITS[mode][k] for k in ("embodied", "operational")):
        stem = "embodied_vs_operational_rate" if mode == "per_second" else "embodied_vs_operational"
        written += save_figure(fig_rates_by_grid(df, width=width, title=title), out_dir, stem, formats)
    if can(_component_columns()):
        written += save_figure(fig_components(df, width=width, title=title), out_dir, "embodied_components", formats)
    if _varies(df, BATCH) and can(m for m, _, _ in BATCH_METRICS):
        if grid is not None:
            grids = [grid]
        elif _varies(df, GRID):
            grids = list(pd.unique(df[GRID]))
        else:
            grids = [None]
        for g in grids:
            stem = "edp_cdp_cep_vs_batch" + ("" if len(grids) == 1 else f"_{_stem_part(g)}")
            written += save_figure(fig_batch_metrics(df, g, width=width, title=title), out_dir, stem, formats)
    if _varies(df, BATCH) and can((BATCH, "latency_s", "energy_j", "embodied_g")):
        written += save_figure(fig_tp_tradeoffs(df, width=width, title=title), out_dir, "latency_vs_energy", formats)
    if _varies(df, QPS) and can(m for m, _, _, _ in SERVING_METRICS):
        written += save_figure(fig_serving_load(df, width=width, title=title), out_dir, "serving_vs_qps", formats)
    if "gpu_hours" in df.columns and can(("embodied_kg", "operational_kg", "total_kg", "days")):
        written += save_figure(fig_training(df, width=width, title=title), out_dir, "training_runs", formats)
    return written
