"""Sweep figures (carbonsim.report.plots): what is drawn equals the table, and reads in print.

Data are read back from the figures' artists (line data, bar rectangles, annotation anchors)
and compared with the table rows they stand for; the tables are built here so that every
value is known.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from carbonsim.report import plots
from carbonsim.report.plots import (MissingColumnsError, fig_batch_metrics, fig_components, fig_rates_by_grid,
                                    fig_serving_load, fig_tp_tradeoffs, fig_training, sweep_figures)

ROOT = Path(__file__).resolve().parents[2]
SECONDS_PER_YEAR = 365 * 86400

# IPCC AR5 lifecycle medians [g/kWh], as in the seed's Fig. 2 (HotCarbon'24).
CI = {"coal": 820.0, "gas": 490.0, "solar": 41.0, "hydro": 24.0, "nuclear": 12.0, "wind": 11.0}

# Seed Fig. 2 / EServe config/summary.csv row "A100 x4" (kgCO2e): host parts sum to 811.4 kg,
# GPUs 448 kg; storage is the SSD. The GPU split is made up here (only its sum is published).
A100X4_HOST = {"cpu": 0.0, "dram": 264.0, "ssd": 422.37, "hdd": 0.0, "mainboard": 59.0, "peripheral_pwb": 27.44,
               "psu": 15.008, "chassis": 17.152, "fans": 6.432, "packaging": 0.0}
A100X4_GPU = {"soc": 174.3, "memory": 47.0, "pcb": 60.6, "pdn": 82.5, "cooling": 82.7, "interconnect": 0.9}
# Seed Fig. 2: 1100 W in total (the host/GPU split is made up here), 4-year life.
A100X4_POWER = {"host": 300.0, "gpu": 800.0}
# A second, smaller server (values made up) so that the component figure compares two.
T4X4_HOST = {"cpu": 10.0, "dram": 76.8, "ssd": 99.0, "hdd": 0.0, "mainboard": 25.0, "peripheral_pwb": 8.0,
             "psu": 7.5, "chassis": 8.6, "fans": 3.2, "packaging": 0.0}
T4X4_GPU = {"soc": 60.0, "memory": 40.0, "pcb": 30.0, "pdn": 20.0, "cooling": 15.0, "interconnect": 2.0}
T4X4_POWER = {"host": 250.0, "gpu": 280.0}


def server_table(split_power: bool = True) -> pd.DataFrame:
    """A server-only sweep table: two servers x six energy sources, every column filled."""
    rows = []
    for server, host, gpu, power in (("a100x4", A100X4_HOST, A100X4_GPU, A100X4_POWER),
                                     ("t4x4", T4X4_HOST, T4X4_GPU, T4X4_POWER)):
        for grid, ci in CI.items():
            r = {"server": server, "coefficients": "hotcarbon24", "datacenter.grid": grid, "datacenter.pue": 1.0,
                 "server.lifetime_yr": 4}
            r.update({f"host_{c}_kg": v for c, v in host.items()})
            r.update({f"gpu_{c}_kg": v for c, v in gpu.items()})
            r["host_embodied_kg"], r["gpu_embodied_kg"] = sum(host.values()), sum(gpu.values())
            r["embodied_kg"] = r["host_embodied_kg"] + r["gpu_embodied_kg"]
            for part in ("host", "gpu"):
                r[f"{part}_embodied_mg_per_s"] = r[f"{part}_embodied_kg"] * 1e6 / (4 * SECONDS_PER_YEAR)
                r[f"{part}_power_w"] = power[part] if split_power else np.nan
                r[f"{part}_operational_mg_per_s"] = (power[part] * ci / 3600) if split_power else np.nan
            r["embodied_mg_per_s"] = r["host_embodied_mg_per_s"] + r["gpu_embodied_mg_per_s"]
            r["power_w"] = sum(power.values())
            r["pue"], r["ci_g_per_kwh"] = 1.0, ci
            r["operational_mg_per_s"] = r["power_w"] * ci / 3600
            r["total_mg_per_s"] = r["embodied_mg_per_s"] + r["operational_mg_per_s"]
            r["embodied_share"] = r["embodied_mg_per_s"] / r["total_mg_per_s"]
            rows.append(r)
    return pd.DataFrame(rows)


BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)


def llm_table() -> pd.DataFrame:
    """An LLM sweep table (engine x model x TP x batch x grid) with consistent metrics.

    ``large`` at TP=1 and batch 128 is infeasible (it must never be drawn) and gets absurd values.
    """
    rows = []
    for engine, slow in (("synchronous", 1.0), ("overlapped", 0.8)):
        for model, size in (("small", 1.0), ("large", 6.0)):
            for tp in (1, 2):
                for b in BATCHES:
                    for grid in ("coal", "wind"):
                        lat = slow * (0.2 * size / tp ** 0.5 + 0.012 * size * b / tp + 0.05 * tp)
                        gpu_j = (tp * 260.0 + 40.0 * size) * lat / b
                        host_j = 180.0 * lat / b
                        energy = gpu_j + host_j
                        op = energy / 3.6e6 * CI[grid]
                        host_emb = 6.4e-3 * lat / b
                        gpu_emb = 3.5e-3 * lat / b
                        emb = host_emb + gpu_emb
                        total = op + emb
                        feasible = not (model == "large" and tp == 1 and b == 128)
                        if not feasible:
                            lat, energy, emb, total = 1e6, 1e9, 1e3, 1e3
                        rows.append({
                            "server": "azure-nc96ads-a100-v4", "model": model, "coefficients": "hotcarbon24",
                            "workload.batch_size": b, "workload.tensor_parallel": tp,
                            "workload.precision": "fp16", "workload.engine": engine,
                            "datacenter.grid": grid, "datacenter.pue": 1.0,
                            "latency_s": lat, "ttft_s": lat / 10, "tpot_s": lat / 128,
                            "throughput_tok_s": 128 * b / lat, "energy_j": energy, "gpu_energy_j": gpu_j,
                            "host_energy_j": host_j, "operational_g": op, "embodied_g": emb,
                            "gpu_embodied_g": gpu_emb, "host_embodied_g": host_emb, "total_g": total,
                            "edp_j_s": energy * lat, "cdp_g_s": total * lat, "cep_g_j": total * energy,
                            "ci_g_per_kwh": CI[grid], "feasible": feasible,
                            "max_batch": 64 if (model == "large" and tp == 1) else 512,
                        })
    return pd.DataFrame(rows)


QPS = (0.5, 1, 2, 4, 8)


def serving_table() -> pd.DataFrame:
    """An online-serving sweep table (placement x engine x QPS x grid), values made up but
    consistent; horizontal placement at 8 requests/s is infeasible (absurd values, never drawn)."""
    rows = []
    for placement, tpot0 in (("horizontal", 0.024), ("vertical", 0.021)):
        for engine, slow in (("synchronous", 1.0), ("overlapped", 0.85)):
            for qps in QPS:
                for grid in ("coal", "wind"):
                    tpot = slow * tpot0 * (1 + 0.05 * qps)
                    energy = 300.0 / (1 + qps) + 40.0
                    op = energy * 1.1 / 3.6e6 * CI[grid]
                    emb = 0.002 / (1 + qps)
                    feasible = not (placement == "horizontal" and qps == 8)
                    rows.append({
                        "server": "azure-nc96ads-a100-v4", "model": "mistral-7b", "workload.mode": "online",
                        "workload.placement": placement, "workload.engine": engine, "workload.qps": qps,
                        "datacenter.grid": grid, "ttft_p50_s": 0.03 * slow + 0.002 * qps,
                        "tpot_p50_s": tpot if feasible else 1e6, "energy_j": energy, "operational_g": op,
                        "embodied_g": emb, "total_g": op + emb, "feasible": feasible,
                    })
    return pd.DataFrame(rows)


def training_table() -> pd.DataFrame:
    """A training sweep table (GPU x grid x PUE), values made up but consistent: days and
    embodied carbon depend on the GPU only, operational carbon on GPU, grid and PUE."""
    rows = []
    for gpu, days, mwh, emb in (("gpu-a", 15.0, 120.0, 1600.0), ("gpu-b", 7.5, 80.0, 1500.0), ("gpu-c", 5.7, 60.0, 1550.0)):
        for grid in ("coal", "gas", "wind"):
            for pue in (1.1, 1.5):
                op = mwh * pue * CI[grid]  # MWh x g/kWh = kg
                rows.append({"training.params_b": 7.0, "training.gpu": gpu, "datacenter.grid": grid,
                             "datacenter.pue": pue, "gpu_hours": days * 24 * 512, "days": days,
                             "energy_mwh": mwh * pue, "operational_kg": op, "embodied_kg": emb, "total_kg": op + emb})
    return pd.DataFrame(rows)


def all_figures(width: str):
    """Every figure at ``width``, with a name for messages."""
    s, llm = server_table(), llm_table()
    return [("rates_per_second", fig_rates_by_grid(s, width=width)),
            ("rates_per_request", fig_rates_by_grid(llm, width=width)),
            ("components", fig_components(s, width=width)),
            ("batch_metrics", fig_batch_metrics(llm, "coal", width=width)),
            ("tp_tradeoffs", fig_tp_tradeoffs(llm, width=width)),
            ("serving_load", fig_serving_load(serving_table(), width=width)),
            ("training", fig_training(training_table(), width=width))]


def axes_of(fig):
    return [a for a in fig.findobj(lambda o: hasattr(o, "get_xlim") and hasattr(o, "lines"))]


def by_gid(ax) -> dict:
    return {line.get_gid(): line for line in ax.lines if line.get_gid()}


def grid_positions(ax) -> dict[str, float]:
    """Energy source of each x position, read from the tick labels (``coal\\n820``)."""
    return {t.get_text().split("\n")[0]: x for x, t in zip(ax.get_xticks(), ax.get_xticklabels())}


# --------------------------------------------------------------------------------------------
# Seed Fig. 2
# --------------------------------------------------------------------------------------------
def test_rates_per_second_points_equal_table():
    df = server_table()
    fig = fig_rates_by_grid(df, where={"server": "a100x4"})
    ax = fig.axes[0]
    pos = grid_positions(ax)
    rows = df[df["server"] == "a100x4"].set_index("datacenter.grid")
    assert set(pos) == set(CI)
    lines = by_gid(ax)
    for col in ("gpu_embodied_mg_per_s", "host_embodied_mg_per_s", "gpu_operational_mg_per_s",
                "host_operational_mg_per_s"):
        xy = lines[col].get_xydata()
        assert len(xy) == len(CI)
        for x, y in xy:
            grid = min(pos, key=lambda g: abs(pos[g] - x))  # points sit beside their source's tick
            assert abs(pos[grid] - x) < 0.4
            assert y == pytest.approx(rows.loc[grid, col], rel=1e-12)
    for col in ("embodied_mg_per_s", "operational_mg_per_s"):
        xy = lines[col].get_xydata()
        segments = xy[~np.isnan(xy[:, 0])].reshape(-1, 2, 2)  # one level line per source
        assert len(segments) == len(CI)
        for (x0, y0), (x1, y1) in segments:
            grid = min(pos, key=lambda g: abs(pos[g] - (x0 + x1) / 2))
            assert y0 == y1 == pytest.approx(rows.loc[grid, col], rel=1e-12)
    # sources run from the most to the least carbon-intensive
    assert [g for g, _ in sorted(pos.items(), key=lambda kv: kv[1])] == sorted(CI, key=CI.get, reverse=True)


def test_rates_keep_the_seed_message():
    # Seed Fig. 2: A100x4, (811.4 + 448) kg over 4 years = 9.98 mg/s embodied; wind (11 g/kWh) at
    # 1100 W = 3.36 mg/s operational. Embodied must be visible and dominate under wind.
    df = server_table()
    fig = fig_rates_by_grid(df, where={"server": "a100x4"})
    ax = fig.axes[0]
    lines, pos = by_gid(ax), grid_positions(ax)
    emb = lines["embodied_mg_per_s"].get_xydata()
    op = lines["operational_mg_per_s"].get_xydata()
    wind = pos["wind"]

    def level(xy):
        return xy[np.abs(xy[:, 0] - wind) < 0.4, 1][0]

    assert level(emb) == pytest.approx(9.98, abs=0.01)
    assert level(op) == pytest.approx(3.36, abs=0.01)
    assert level(emb) > level(op)
    lo, hi = ax.get_ylim()
    assert ax.get_yscale() == "log" and lo < 3.36 / 2 * 2 and lo < min(df["host_operational_mg_per_s"])
    assert not ax.patches, "no bars on the log axis"


def test_rates_without_power_split_draw_the_total_and_say_so():
    df = server_table(split_power=False)
    fig = fig_rates_by_grid(df, where={"server": "a100x4"})
    lines = by_gid(fig.axes[0])
    assert "gpu_operational_mg_per_s" not in lines and "host_operational_mg_per_s" not in lines
    assert "gpu_embodied_mg_per_s" in lines and "operational_mg_per_s" in lines
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("operational total" in t and "split not in table" in t for t in texts)
    assert not any("GPU operational" in t for t in texts)


def test_rates_per_request_split_operational_by_energy():
    df = llm_table()
    fig = fig_rates_by_grid(df, where={"workload.batch_size": 8, "workload.tensor_parallel": 2, "model": "large"})
    ax = fig.axes[0]
    lines, pos = by_gid(ax), grid_positions(ax)
    sel = df[(df["workload.batch_size"] == 8) & (df["workload.tensor_parallel"] == 2) & (df["model"] == "large")
             & (df["workload.engine"] == "synchronous")].set_index("datacenter.grid")
    assert set(pos) == {"coal", "wind"}
    for part in ("gpu", "host"):
        for x, y in lines[f"{part}_operational_g"].get_xydata():
            grid = min(pos, key=lambda g: abs(pos[g] - x))
            r = sel.loc[grid]
            assert y == pytest.approx(r["operational_g"] * r[f"{part}_energy_j"] / r["energy_j"], rel=1e-12)
        for x, y in lines[f"{part}_embodied_g"].get_xydata():
            assert y == pytest.approx(sel.loc[min(pos, key=lambda g: abs(pos[g] - x)), f"{part}_embodied_g"],
                                      rel=1e-12)
    assert "per request" in ax.get_ylabel()
    caption = fig.get_supxlabel()
    assert "batch=8" in caption and "TP=2" in caption and "engine=synchronous" in caption


# --------------------------------------------------------------------------------------------
# Seed Fig. 7
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", ["single", "double"])
def test_component_bars_equal_table(width):
    df = server_table()
    fig = fig_components(df, width=width)
    host_ax, gpu_ax = [a for a in fig.axes]
    expected = {"a100x4": {**{f"host_{c}_kg": v for c, v in A100X4_HOST.items()},
                           **{f"gpu_{c}_kg": v for c, v in A100X4_GPU.items()}},
                "t4x4": {**{f"host_{c}_kg": v for c, v in T4X4_HOST.items()},
                         **{f"gpu_{c}_kg": v for c, v in T4X4_GPU.items()}}}
    seen = set()
    for ax, labels in ((host_ax, plots.HOST_COMPONENTS), (gpu_ax, plots.GPU_COMPONENTS)):
        assert ax.get_xscale() == "linear" and ax.get_xlim()[0] == 0
        ticks = {round(y): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels())}
        for rect in ax.patches:
            col, server = rect.get_gid().split("|")
            assert rect.get_x() == 0
            assert rect.get_width() == pytest.approx(expected[server][col], rel=1e-12)
            part, comp = col[:-3].split("_", 1)
            assert ticks[round(rect.get_y() + rect.get_height() / 2)] == labels[comp]
            seen.add((server, col))
    nonzero = {c for c in expected["a100x4"] if expected["a100x4"][c] or expected["t4x4"][c]}
    assert seen == {(s, c) for s in expected for c in nonzero}  # zero-only components are left out
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "a100x4: host 811 kg, GPU 448 kg" in legend


def test_component_shares_sum_to_100():
    fig = fig_components(server_table(), share=True)
    for ax in fig.axes:
        for server in ("a100x4", "t4x4"):
            widths = [r.get_width() for r in ax.patches if r.get_gid().endswith(f"|{server}")]
            assert sum(widths) == pytest.approx(100, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Seed Fig. 8
# --------------------------------------------------------------------------------------------
def test_batch_metric_lines_equal_feasible_rows():
    df = llm_table()
    fig = fig_batch_metrics(df, "wind")
    sel = df[(df["datacenter.grid"] == "wind") & (df["workload.engine"] == "synchronous") & df["feasible"]]
    panels = {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}
    assert set(panels) == {"energy_j", "latency_s", "edp_j_s", "cdp_g_s", "cep_g_j"}
    for col, ax in panels.items():
        lines = by_gid(ax)
        for (model, tp), g in sel.groupby(["model", "workload.tensor_parallel"]):
            g = g.sort_values("workload.batch_size")
            line = lines[f"{col}|{model} / TP={tp}"]
            np.testing.assert_allclose(line.get_xydata(), g[["workload.batch_size", col]].to_numpy(), rtol=1e-12)
            if col in ("edp_j_s", "cdp_g_s", "cep_g_j"):
                ring = lines[f"{col}|{model} / TP={tp}|min"].get_xydata()[0]
                best = g.loc[g[col].idxmin()]
                np.testing.assert_allclose(ring, [best["workload.batch_size"], best[col]], rtol=1e-12)
        drawn_y = np.concatenate([l.get_ydata() for l in ax.lines])
        assert drawn_y.max() < 1e5, "an infeasible point was drawn"
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16", "64"]
    assert "grid=wind" in fig.get_supxlabel() and "engine=synchronous" in fig.get_supxlabel()


def test_batch_metrics_legend_keys_every_line():
    fig = fig_batch_metrics(llm_table(), "coal")
    key = [a for a in fig.axes if not a.axison][0]
    texts = [t.get_text() for t in key.get_legend().get_texts()]
    for label in ("model", "small", "large", "TP", "TP=1", "TP=2"):
        assert label in texts
    assert any("lowest" in t for t in texts)
    # greyscale: no two lines share marker, line style and fill
    ax = [a for a in fig.axes if a.get_gid() == "edp_j_s"][0]
    styles = [(l.get_marker(), str(l.get_linestyle()), l.get_markerfacecolor() == "white")
              for l in ax.lines if not l.get_gid().endswith("|min")]
    assert len(styles) == 4 and len(set(styles)) == 4


def test_batch_metrics_series_and_where_are_honoured():
    df = llm_table()
    fig = fig_batch_metrics(df, "coal", series=["workload.engine"], where={"model": "small",
                                                                          "workload.tensor_parallel": 2})
    ax = [a for a in fig.axes if a.get_gid() == "energy_j"][0]
    assert set(by_gid(ax)) == {"energy_j|synchronous", "energy_j|overlapped"}
    g = df[(df["model"] == "small") & (df["workload.tensor_parallel"] == 2) & (df["datacenter.grid"] == "coal")
           & (df["workload.engine"] == "overlapped")].sort_values("workload.batch_size")
    np.testing.assert_allclose(by_gid(ax)["energy_j|overlapped"].get_ydata(), g["energy_j"], rtol=1e-12)
    with pytest.raises(ValueError, match="not in the table"):
        fig_batch_metrics(df, "lignite")
    with pytest.raises(ValueError, match="no column"):
        fig_batch_metrics(df, where={"workload.nothing": 1})


# --------------------------------------------------------------------------------------------
# Seed Figs. 9 and 10
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", ["single", "double"])
def test_tp_points_and_batch_labels_equal_table(width):
    df = llm_table()
    fig = fig_tp_tradeoffs(df, width=width, where={"workload.engine": "overlapped"})
    sel = df[(df["workload.engine"] == "overlapped") & (df["datacenter.grid"] == "coal") & df["feasible"]]
    panels = {ax.get_gid(): ax for ax in axes_of(fig) if ax.get_gid()}
    assert set(panels) == {f"{x}|{m}" for x in ("energy_j", "embodied_g") for m in ("small", "large")}
    for gid, ax in panels.items():
        xcol, model = gid.split("|")
        lines = by_gid(ax)
        for tp, g in sel[sel["model"] == model].groupby("workload.tensor_parallel"):
            g = g.sort_values("workload.batch_size")
            pts = g[[xcol, "latency_s"]].to_numpy()
            np.testing.assert_allclose(lines[f"{xcol}|TP={tp}"].get_xydata(), pts, rtol=1e-12)
            labels = [t for t in ax.texts if t.get_gid() == f"batch|{xcol}|TP={tp}"]
            batches = {int(t.get_text()) for t in labels}
            assert len(batches) >= (len(g) + 1) // 2  # at least every other point
            assert {g["workload.batch_size"].min(), g["workload.batch_size"].max()} <= batches
            for t in labels:  # each label sits on the point of its batch size
                row = g[g["workload.batch_size"] == int(t.get_text())].iloc[0]
                np.testing.assert_allclose(t.xy, [row[xcol], row["latency_s"]], rtol=1e-12)
        assert ax.get_xscale() == ax.get_yscale() == "log"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["TP=1", "TP=2"] and "batch size" in fig.legends[0].get_title().get_text()
    assert "engine=overlapped" in fig.get_supxlabel()
    assert "grid" not in fig.get_supxlabel(), "the grid does not change these numbers; it is not 'held'"


def test_default_holds_first_value_and_says_so():
    fig = fig_tp_tradeoffs(llm_table())
    assert "engine=synchronous" in fig.get_supxlabel()
    fig = fig_tp_tradeoffs(llm_table(), note=False, title=None)
    assert fig.get_supxlabel() == ""


# --------------------------------------------------------------------------------------------
# Print requirements for every figure
# --------------------------------------------------------------------------------------------
def plotted_values(ax, which: str) -> np.ndarray:
    i = 0 if which == "x" else 1
    vals = [l.get_xydata()[:, i] for l in ax.lines if len(l.get_xydata())]
    vals += [np.asarray(t.xy, dtype=float)[i:i + 1] for t in ax.texts if hasattr(t, "xy")]
    v = np.concatenate(vals) if vals else np.array([])
    return v[np.isfinite(v)]


@pytest.mark.parametrize("width", ["single", "double"])
def test_log_axes_enclose_every_plotted_value(width):
    checked = 0
    for name, fig in all_figures(width):
        for ax in axes_of(fig):
            for which in ("x", "y"):
                if (ax.get_xscale() if which == "x" else ax.get_yscale()) != "log":
                    continue
                v = plotted_values(ax, which)
                lo, hi = ax.get_xlim() if which == "x" else ax.get_ylim()
                assert lo < v.min() and hi > v.max(), f"{name}: {which} limits {lo, hi} vs {v.min(), v.max()}"
                checked += 1
    assert checked >= 20


TICK = re.compile(r"^(\d+(\.\d+)?|(\d(\.\d+)?×)?10⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)$")


@pytest.mark.parametrize("width", ["single", "double"])
def test_text_size_and_tick_labels(width):
    for name, fig in all_figures(width):
        fig.draw_without_rendering()
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert texts
        small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < 7]
        assert not small, f"{name}: text under 7 pt: {small}"
        assert all(t.get_fontfamily() == ["DejaVu Sans"] for t in texts)
        for ax in axes_of(fig):
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_scale() == "log":
                    labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
                    assert len(labels) >= 2, f"{name}: fewer than two labelled ticks"
                    assert all(TICK.match(s) for s in labels), f"{name}: {labels}"
                    assert not any("$" in s or "^" in s for s in labels)


@pytest.mark.parametrize("width, inches", [("single", 3.5), ("double", 7.0)])
def test_widths_in_every_format(tmp_path, width, inches):
    from PIL import Image

    for name, fig in all_figures(width):
        assert fig.get_size_inches()[0] == pytest.approx(inches)
        paths = plots.save_figure(fig, tmp_path, name, plots.FORMATS)
        svg, pdf, png = (p for ext in ("svg", "pdf", "png") for p in paths if p.suffix == f".{ext}")
        assert ET.parse(svg).getroot().get("width") == f"{inches * 72:g}pt"
        box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+)", pdf.read_bytes())
        assert float(box.group(1)) == pytest.approx(inches * 72)
        assert Image.open(png).size[0] == round(inches * plots.PNG_DPI)


def test_svg_and_pdf_keep_text_as_text(tmp_path):
    written = sweep_figures(llm_table(), tmp_path, "synthetic", grid="coal")
    svgs = [p for p in written if p.suffix == ".svg"]
    assert len(svgs) == 3  # Fig. 2 per request, Fig. 8, Figs. 9/10
    for svg in svgs:
        root = ET.parse(svg).getroot()
        texts = [el for el in root.iter() if el.tag.endswith("}text")]
        assert len(texts) > 10
        body = svg.read_text(encoding="utf-8")
        assert "synthetic" in body and "DejaVu Sans" in body
        assert 'id="DejaVuSans-' not in body, "glyphs drawn as paths"
    for pdf in (p for p in written if p.suffix == ".pdf"):
        assert b"/FontFile2" in pdf.read_bytes()  # TrueType (Type 42) fonts embedded


def test_output_is_reproducible(tmp_path):
    a = sweep_figures(server_table(), tmp_path / "a", "same", width="single")
    b = sweep_figures(server_table(), tmp_path / "b", "same", width="single")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


# --------------------------------------------------------------------------------------------
# Seed §5.3 (Table 2): online serving against the request rate
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", ["single", "double"])
def test_serving_lines_equal_feasible_rows(width):
    df = serving_table()
    fig = fig_serving_load(df, width=width)
    sel = df[(df["datacenter.grid"] == "coal") & df["feasible"]]  # grid held at its first value
    panels = {ax.get_gid(): ax for ax in fig.axes if ax.get_gid()}
    assert set(panels) == {"ttft_p50_s", "tpot_p50_s", "energy_j", "operational_g", "total_g"}
    for col, ax in panels.items():
        scale = 1e3 if col == "tpot_p50_s" else 1.0  # TPOT drawn in ms
        lines = by_gid(ax)
        assert len(lines) == 4
        for (placement, engine), g in sel.groupby(["workload.placement", "workload.engine"]):
            g = g.sort_values("workload.qps")
            xy = lines[f"{col}|{placement} / {engine}"].get_xydata()
            np.testing.assert_allclose(xy, np.column_stack([g["workload.qps"], g[col] * scale]), rtol=1e-12)
        assert ax.get_xscale() == "log" and ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
        assert max(ax.get_ylim()) > max(l.get_ydata().max() for l in ax.lines)  # nothing clipped
        assert [t.get_text() for t in ax.get_xticklabels()] == ["0.5", "1", "2", "4", "8"]
    assert "grid=coal" in fig.get_supxlabel()
    key = [a for a in fig.axes if not a.axison][0]
    texts = [t.get_text() for t in key.get_legend().get_texts()]
    assert texts == ["placement", "horizontal", "vertical", "engine", "synchronous", "overlapped"]


def test_serving_figure_from_a_real_online_sweep(tmp_path, db):
    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "seed-sharing.yaml", sets=["workload.requests=40"])
    df = pd.read_parquet(run_sweep(sc, db, tmp_path / "o", "parquet").results)
    written = sweep_figures(df, tmp_path / "figs", sc.name, formats=("svg",))
    assert stems(written) == {"serving_vs_qps"}
    ax = [a for a in fig_serving_load(df).axes if a.get_gid() == "operational_g"][0]
    row = df[(df["workload.placement"] == "vertical") & (df["workload.engine"] == df["workload.engine"].iloc[0])]
    line = by_gid(ax)[f"operational_g|vertical / {df['workload.engine'].iloc[0]}"]
    np.testing.assert_allclose(line.get_ydata(), row.sort_values("workload.qps")["operational_g"], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", ["single", "double"])
def test_training_bars_equal_table(width):
    df = training_table()
    fig = fig_training(df, width=width)
    carbon, time = fig.axes
    sel = df[df["datacenter.pue"] == 1.1].set_index(["training.gpu", "datacenter.grid"])  # PUE held at 1.1
    rects = {r.get_gid(): r for r in carbon.patches}
    assert len(rects) == 2 * len(sel)
    for (gpu, grid), row in sel.iterrows():
        emb, op = rects[f"embodied_kg|{gpu}|{grid}"], rects[f"operational_kg|{gpu}|{grid}"]
        assert emb.get_y() == 0 and emb.get_height() == pytest.approx(row["embodied_kg"] / 1e3, rel=1e-12)
        assert op.get_y() == pytest.approx(emb.get_height(), rel=1e-12)  # stacked: the top is the total
        assert op.get_y() + op.get_height() == pytest.approx(row["total_kg"] / 1e3, rel=1e-12)
        assert emb.get_x() == op.get_x()
    days = {r.get_gid(): r.get_height() for r in time.patches}
    assert days == {f"days|{g}": pytest.approx(d) for g, d in df.groupby("training.gpu")["days"].first().items()}
    assert carbon.get_ylim()[0] == 0 and carbon.get_ylim()[1] >= (sel["total_kg"] / 1e3).max()
    assert "PUE=1.1" in fig.get_supxlabel()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["embodied", "operational", "coal", "gas", "wind"]


def test_training_figure_from_a_real_training_sweep(tmp_path, db):
    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import load_scenario

    sc = load_scenario(ROOT / "scenarios" / "training-gpus.yaml")
    df = pd.read_parquet(run_sweep(sc, db, tmp_path / "o", "parquet").results)
    assert stems(sweep_figures(df, tmp_path / "figs", sc.name, formats=("svg",))) == {"training_runs"}
    rects = {r.get_gid(): r for r in fig_training(df).axes[0].patches}
    row = df[(df["training.gpu"] == "nvidia-b200") & (df["datacenter.grid"] == "FRA")].iloc[0]
    top = rects["operational_kg|nvidia-b200|FRA"]
    assert top.get_y() + top.get_height() == pytest.approx(row["total_kg"] / 1e3, rel=1e-12)


# --------------------------------------------------------------------------------------------
# sweep_figures: which figures are drawn
# --------------------------------------------------------------------------------------------
def stems(paths) -> set[str]:
    return {p.stem for p in paths}


def test_sweep_figures_server_table(tmp_path):
    written = sweep_figures(server_table(), tmp_path, "servers", formats=("png",))
    assert stems(written) == {"embodied_vs_operational_rate", "embodied_components"}
    assert all(p.suffix == ".png" and p.exists() for p in written)


def test_sweep_figures_one_batch_figure_per_grid(tmp_path):
    written = sweep_figures(llm_table(), tmp_path, "llm", formats=("svg",))
    assert stems(written) == {"embodied_vs_operational", "edp_cdp_cep_vs_batch_coal", "edp_cdp_cep_vs_batch_wind",
                              "latency_vs_energy"}
    written = sweep_figures(llm_table(), tmp_path / "one", "llm", formats=("svg",), grid="wind")
    assert "edp_cdp_cep_vs_batch" in stems(written)
    assert "grid=wind" in (tmp_path / "one" / "edp_cdp_cep_vs_batch.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize("table, drop, stem, fn", [
    (server_table, "operational_mg_per_s", "embodied_vs_operational_rate", fig_rates_by_grid),
    (server_table, "datacenter.grid", "embodied_vs_operational_rate", fig_rates_by_grid),
    (server_table, "host_dram_kg", "embodied_components", fig_components),
    (llm_table, "cep_g_j", "edp_cdp_cep_vs_batch_coal", fig_batch_metrics),
    (llm_table, "workload.batch_size", "latency_vs_energy", fig_tp_tradeoffs),
    (llm_table, "embodied_g", "latency_vs_energy", fig_tp_tradeoffs),
    (serving_table, "tpot_p50_s", "serving_vs_qps", fig_serving_load),
    (serving_table, "workload.qps", "serving_vs_qps", fig_serving_load),
    (training_table, "days", "training_runs", fig_training),
])
def test_no_figure_without_its_columns(tmp_path, table, drop, stem, fn):
    df = table().drop(columns=[drop])
    written = stems(sweep_figures(df, tmp_path, "t", formats=("png",)))
    assert stem not in written
    assert not list(tmp_path.glob(f"{stem}.*"))
    with pytest.raises(MissingColumnsError, match=drop):
        fn(df)


def test_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        fig_components(server_table(), width="wide")
    with pytest.raises(ValueError, match="formats"):
        sweep_figures(server_table(), Path("unused"), "t", formats=("jpg",))


def test_real_sweep_table(tmp_path, db):
    # the engine's own table, drawn through sweep_figures
    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import load_scenario

    result = run_sweep(load_scenario(ROOT / "scenarios" / "seed-grid-sources.yaml"), db, tmp_path / "o", "parquet")
    df = pd.read_parquet(result.results)
    written = sweep_figures(df, tmp_path / "figs", result.scenario.name, width="single", grid="coal")
    assert stems(written) == {"embodied_vs_operational", "edp_cdp_cep_vs_batch", "latency_vs_energy"}
    fig = fig_rates_by_grid(df, where={"workload.batch_size": 8, "workload.tensor_parallel": 1})
    lines, pos = by_gid(fig.axes[0]), grid_positions(fig.axes[0])
    sel = df[(df["workload.batch_size"] == 8) & (df["workload.tensor_parallel"] == 1)].set_index("datacenter.grid")
    for x, y in lines["embodied_g"].get_xydata()[::3]:
        grid = min(pos, key=lambda g: abs(pos[g] - x - 0.34))
        assert y == pytest.approx(sel.loc[grid, "embodied_g"], rel=1e-12)
    for x, y in lines["host_operational_g"].get_xydata():
        grid = min(pos, key=lambda g: abs(pos[g] - x))
        r = sel.loc[grid]
        assert y == pytest.approx(r["operational_g"] * r["host_energy_j"] / r["energy_j"], rel=1e-12)
