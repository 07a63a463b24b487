"""The GPU activity-power calibration: one procedure for every GPU of the database.

``calibration/write_gpu_activity.py`` runs it and writes ``hardware_db/power/gpu-activity.yaml``
(docs/power.md, section 3, describes it; docs/validation_power.md reports it). Each GPU gets one of
three kinds of calibration, in this order of preference:

- ``measured``: fitted to the measured GPU power of LLM runs on that GPU
  (:data:`carbonsim.validation.energy.MEASURED_POWER_FITS`: a stated fit set; the GPU's other
  measured runs are held out and reported);
- ``sibling``: derived from a measured GPU with the same die (:data:`SIBLINGS`), keeping what the
  die sets and changing what the card sets: the loaded idle and the energy per FLOP and per byte
  are the die's, so the dynamic watts at compute saturation scale with the card's peak FLOP/s and
  those at memory saturation with its bandwidth; the power limit is the card's;
- ``pooled``: no measured GPU on the same die: the dimensionless shares ``a_c`` and ``a_m`` are
  the medians of the measured GPUs', and the loaded idle is a reading on this GPU or the median
  loaded-floor/TDP ratio of the GPUs with a reading or a measured fit, times this GPU's TDP.

``eta_c`` and ``eta_m`` are everywhere the performance calibration's for that GPU, so that a
saturated kernel has ``MBU / eta_m = 1`` in both models. No GPU's activity constants come from
the Teads A100 load ladder any more: it is a TDP-scaled CPU curve (docs/power.md); it keeps only
the steady-load slope (``ladder_slope``) for loads that have no LLM workload, and the "before"
constants the reports compare with (:func:`prior_rule_row`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonsim.models.power.gpu import fit_saturating_ladder
from carbonsim.validation import DATA as _DATA
from carbonsim.validation import energy as energy_cases

POINTS_CSV = _DATA / "gpu_power_points.csv"

A_M = 0.525
ETA_C, ETA_M = 0.70, 0.75
BOAVIZTA_RATIOS = {0.0: 0.12, 0.1: 0.32, 0.5: 0.75, 1.0: 1.02}
KINDS = ("measured", "sibling", "pooled")

#: GPU -> (measured GPU on the same die, what differs). The rule is in the module docstring.
SIBLINGS = {
    "nvidia-a100-sxm4-80gb": ("nvidia-a100-sxm4-40gb", "same GA100 die and 400 W limit; 80 GB HBM2e at 2,039 GB/s "
                                                       "against 40 GB HBM2 at 1,555 GB/s"),
    "nvidia-a100-pcie-40gb": ("nvidia-a100-sxm4-40gb", "same GA100 die and 40 GB HBM2 at 1,555 GB/s; 250 W limit"),
    "nvidia-a100-pcie-80gb": ("nvidia-a100-sxm4-40gb", "same GA100 die; 80 GB HBM2e at 1,935 GB/s; 300 W limit"),
    "nvidia-h100-pcie-80gb": ("nvidia-h100-sxm5-80gb", "same GH100 die with 114 of 132 SMs enabled (756 against 989 "
                                                       "dense TFLOP/s); HBM2e at 2,000 GB/s; 350 W limit"),
    "nvidia-h200-sxm-141gb": ("nvidia-h100-sxm5-80gb", "same GH100 die and 700 W limit; 141 GB HBM3e at 4,800 GB/s"),
    "nvidia-gh200": ("nvidia-h100-sxm5-80gb", "same GH100 die; 96 GB HBM3 at 4,000 GB/s; the GPU's share of the "
                                              "module's power limit as the database states it"),
    "nvidia-v100-sxm2-32gb": ("nvidia-v100-pcie-32gb", "same GV100 die and 900 GB/s HBM2; 300 W limit and higher "
                                                       "clocks (125 against 112 dense TFLOP/s)"),
    "nvidia-rtx-a6000": ("nvidia-a40", "same GA102 die and 300 W limit; GDDR6 at 768 against 696 GB/s"),
    "nvidia-rtx-3090": ("nvidia-a40", "same GA102 die; 350 W limit; GDDR6X at 936 against 696 GB/s"),
    "nvidia-a10g": ("nvidia-a40", "same GA102 die and 300 W limit; 24 GB GDDR6 at 600 GB/s; FP32 rates compared "
                                  "(no tensor rate is stated)"),
    "nvidia-v100-sxm2-16gb": ("nvidia-v100-pcie-32gb", "same GV100 die and 900 GB/s HBM2, 16 GB; 300 W limit; FP32 "
                                                       "rates compared (no tensor rate is stated)"),
}
#: Loaded-idle readings of GPUs that are not fitted (gpu_power_points.csv ids).
IDLE_READINGS = {"amd-mi300x": "idle-mi300x-loaded"}

#: GPUs whose loaded idle comes from a reading on the same GPU or die (steps 1-4 of the Teads
#: calibration, kept for the "before" comparison of the reports).
LOADED_IDLE_ANCHOR = {
    "nvidia-a100-sxm4-80gb": ("teads", "Teads ladder fit (A100 40GB SXM, same 400 W limit and GA100 die)"),
    "nvidia-h100-sxm5-80gb": ("idle-h100-loaded", "140-145 W in P0 with 72 GB allocated (gpu-burn-issue-114)"),
    "nvidia-h200-sxm-141gb": ("idle-h100-loaded", "H100 SXM reading (same GH100 die, same 700 W module)"),
    "amd-mi300x": ("idle-mi300x-loaded", "191 W at 0 % use with 95 % VRAM allocated (rocm-issue-5231)"),
    "nvidia-rtx-a6000": ("idle-a40-loaded", "A40 reading (same GA102 die, 300 W, 48 GB GDDR6): 110 W in P0 (nvidia-ogkm-issue-874)"),
}
ANCHOR_SOURCE = {
    "teads": "teads-a100-via-sustainable-dl", "idle-h100-loaded": "gpu-burn-issue-114",
    "idle-mi300x-loaded": "rocm-issue-5231", "idle-a40-loaded": "nvidia-ogkm-issue-874",
    "idle-v100-loaded": "glm130b-issue-32", "idle-b200": "rocm-issue-5219", "teads-a100-0": "teads-a100-via-sustainable-dl",
}


def _num(v):
    return float(v["value"] if isinstance(v, dict) else getattr(v, "value", v))


def load_gpus(db=None):
    """Name, TDP, bare idle [W], dense FP16 TFLOP/s, memory GB/s and the performance calibration's
    efficiencies of every GPU in the database (``db``: the shipped one by default)."""
    from carbonsim.engine.db import default_database
    from carbonsim.engine.inputs.llm import CALIBRATION_ID

    db = db or default_database()
    cal = db.get("perf", CALIBRATION_ID)["gpus"]
    out = {}
    for gid in db.ids("gpus"):
        d = db.get("gpus", gid)
        peaks = d.get("peak_tflops") or {}
        mem = d.get("memory") or {}
        eff = cal.get(gid) or cal["default"]
        out[gid] = {"name": d.get("name", gid), "tdp_w": _num(d["tdp_w"]),
                    "idle_w": _num(d["idle_w"]) if d.get("idle_w") is not None else None,
                    "peaks": {k: _num(v) for k, v in peaks.items() if k != "note"},
                    "bandwidth_gb_s": _num(mem["bandwidth_gb_s"]) if mem.get("bandwidth_gb_s") is not None else None,
                    "eta_c": round(_num(eff["eta_compute"]), 3), "eta_m": round(_num(eff["eta_memory"]), 3)}
    return out


def calibrate():
    """The Teads A100 ladder (steady-load slope, the "before" constants) and the idle anchors."""
    pts = pd.read_csv(POINTS_CSV)
    teads = pts[pts.id.str.startswith("teads-")].sort_values("load")
    ladder = teads[teads.load > 0]
    cap = float(teads.tdp_w.iloc[0])
    idle_l, slope, resid = fit_saturating_ladder(ladder.load, ladder.value_w, cap)
    a_c = slope - A_M
    loaded = pts[pts.metric == "idle_loaded"].copy()
    loaded_vals = {"teads": (idle_l, cap)}
    for _, r in loaded.iterrows():
        loaded_vals[r.id] = (float(r.value_w), float(r.tdp_w))
    ratios = {k: v[0] / v[1] for k, v in loaded_vals.items()}
    ratio_rule = float(np.median(list(ratios.values())))
    return dict(teads=teads, ladder=ladder, cap=cap, idle_l=idle_l, slope=slope, resid=resid, a_c=a_c,
                loaded_vals=loaded_vals, ratios=ratios, ratio_rule=ratio_rule)


def prior_rule_row(cal, gid, g):
    """Constants of ``gid`` by the Teads-ladder steps (Teads slopes, eta 0.70/0.75, loaded idle
    from a reading or the TDP ratio): carbonsim before the measured calibration, for comparison."""
    if gid in LOADED_IDLE_ANCHOR:
        key, why = LOADED_IDLE_ANCHOR[gid]
        idle_l = cal["loaded_vals"][key][0]
        note = f"loaded idle from {why}"
    else:
        idle_l = cal["ratio_rule"] * g["tdp_w"]
        note = f"loaded idle = {cal['ratio_rule']:.3f} x TDP"
    if g["idle_w"] is not None and idle_l < g["idle_w"]:
        idle_l = g["idle_w"]
    return dict(idle_loaded_w=round(idle_l, 1), cap_w=g["tdp_w"], a_c=round(cal["a_c"], 4), a_m=A_M,
                eta_c=ETA_C, eta_m=ETA_M, source="teads-a100-via-sustainable-dl",
                note=f"{note}; Teads ladder slopes; eta from Vidur A100/H100 profiles")


def stats(residuals) -> dict:
    a = 100 * np.abs(np.asarray(residuals, dtype=float))
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "median_pct": round(float(np.median(a)), 1), "p90_pct": round(float(np.percentile(a, 90)), 1)}


def pct_stats(residuals):
    s = stats(residuals)
    return f"{s['median_pct']:.1f} % median, {s['p90_pct']:.1f} % p90"


def data_label(policy, n: int) -> str:
    if policy.data == "F1":
        return f"ML.ENERGY leaderboard v3 fit set F1 ({n} configurations: Qwen3-8B and Qwen3-14B, vLLM 0.11.1, max_num_seqs 8-2048)"
    if policy.data == "F3":
        return f"ML.ENERGY leaderboard v2 fit set F3 ({n} configurations: Mistral-7B v0.3 and Mistral-Nemo, vLLM 0.5.4)"
    return f"the {n} ML.ENERGY v1 rows on this GPU (HF/FastChat, batch 1-4), each reported with a leave-one-out refit"


def held_out_errors(gid) -> np.ndarray:
    """Power-alone error of a measured GPU's constants on runs outside its fit: its held-out
    leaderboard configurations (all tensor-parallel degrees), or leave-one-out for the v1 GPUs."""
    policy = energy_cases.MEASURED_POWER_FITS[gid]
    if policy.data == "v1":
        return energy_cases.loo_power_errors(gid)
    fit, _ = energy_cases.fit_gpu(gid)
    runs = energy_cases.held_out_power_runs(gid, tp1=False)
    return energy_cases.power_errors(runs, fit.constants()) if runs else np.array([])


def measured_power_row(gid, g, with_errors=True):
    """Constants of ``gid`` fitted to measured GPU power, with the fit for the report (the held-out
    errors only ``with_errors``: they evaluate every held-out run of the GPU)."""
    policy = energy_cases.MEASURED_POWER_FITS[gid]
    fit, runs = energy_cases.fit_gpu(gid)
    if policy.idle_reading:
        idle = (f"loaded idle fixed at the reading {energy_cases.reading_w(policy.idle_reading):g} W "
                f"({policy.idle_reading}; {ANCHOR_SOURCE[policy.idle_reading]})")
    else:
        idle = (f"loaded idle fitted: the floor while serving, not an idle reading (lower bound the bare idle "
                f"{energy_cases.reading_w(policy.idle_floor):g} W, {policy.idle_floor}; {ANCHOR_SOURCE[policy.idle_floor]})")
    a_c = (f"a_c held at {policy.a_c:.1f} (decode-dominated runs cannot identify it)" if policy.a_c is not None
           else "a_c fitted" + (" (at the upper bound)" if "a_c" in fit.at_bound else ""))
    held = held_out_errors(gid) if with_errors else np.array([])
    block = {"kind": "measured", "data": data_label(policy, len(runs)), "fit_set_n": len(runs),
             "in_sample": stats(fit.residuals), "held_out": stats(held)}
    row = dict(fit.constants(), cap_w=g["tdp_w"], source=policy.source, calibration=block,
               note=(f"fitted by calibration/write_gpu_activity.py to the measured average GPU power at the measured "
                     f"step time; {idle}; {a_c}; eta = performance calibration"))
    return row, fit, runs, held


def sibling_row(gid, g, src_id, src_row, src_g, why):
    """Constants derived from a measured GPU on the same die (module docstring)."""
    idle = src_row["idle_loaded_w"]
    raised = g["idle_w"] is not None and idle < g["idle_w"]
    idle = max(idle, g["idle_w"] or 0.0)
    span_src = src_row["cap_w"] - src_row["idle_loaded_w"]
    span = g["tdp_w"] - idle
    rate = next(k for k in ("fp16", "bf16", "fp32") if k in g["peaks"] and k in src_g["peaks"])
    w_c = src_row["a_c"] * span_src * g["peaks"][rate] / src_g["peaks"][rate]
    w_m = src_row["a_m"] * span_src * g["bandwidth_gb_s"] / src_g["bandwidth_gb_s"]
    block = {"kind": "sibling", "from": [src_id], "adjustments": why,
             "rule": "loaded idle of the die; dynamic watts at compute saturation x peak FLOP/s ratio, at memory "
                     "saturation x bandwidth ratio (same energy per FLOP and per byte); the card's power limit",
             "source_in_sample": src_row["calibration"]["in_sample"], "source_held_out": src_row["calibration"]["held_out"]}
    return dict(idle_loaded_w=round(idle, 1), cap_w=g["tdp_w"], a_c=round(w_c / span, 3), a_m=round(w_m / span, 3),
                eta_c=g["eta_c"], eta_m=g["eta_m"], source=src_row["source"], calibration=block,
                note=(f"from {src_id} ({why}): {w_c:.0f} W at compute and {w_m:.0f} W at memory saturation above a "
                      f"{src_row['idle_loaded_w']:g} W loaded idle" + ("; raised to this GPU's bare idle" if raised else "")
                      + "; eta = performance calibration; no measured LLM power of this GPU, so its own error is unknown"))


def pooled_row(gid, g, measured_rows, floor_ratio, floor_note):
    """Constants of a GPU with no measured GPU on its die (module docstring)."""
    a_c = float(np.median([r["a_c"] for r in measured_rows.values()]))
    a_m = float(np.median([r["a_m"] for r in measured_rows.values()]))
    if gid in IDLE_READINGS:
        key = IDLE_READINGS[gid]
        idle = energy_cases.reading_w(key)
        idle_note = f"loaded idle the reading {idle:g} W ({key}; {ANCHOR_SOURCE[key]})"
        source = ANCHOR_SOURCE[key]
    else:
        idle = floor_ratio * g["tdp_w"]
        idle_note = f"loaded idle = {floor_ratio:.3f} x TDP ({floor_note})"
        source = "mlenergy-leaderboard-v3"
    if g["idle_w"] is not None and idle < g["idle_w"]:
        idle = g["idle_w"]
        idle_note += "; raised to this GPU's bare idle"
    block = {"kind": "pooled", "from": sorted(measured_rows), "adjustments": "none: no measured GPU on this die",
             "rule": "a_c, a_m = medians of the measured GPUs' (shares of each one's dynamic range)"}
    return dict(idle_loaded_w=round(idle, 1), cap_w=g["tdp_w"], a_c=round(a_c, 3), a_m=round(a_m, 3), eta_c=g["eta_c"],
                eta_m=g["eta_m"], source=source, calibration=block,
                note=(f"a_c {a_c:.3f} and a_m {a_m:.3f}: medians over the {len(measured_rows)} GPUs with measured LLM "
                      f"power; {idle_note}; eta = performance calibration; no measured LLM power of this GPU or its "
                      "die, so its error is unknown"))


def floor_rule(measured_rows, cal):
    """Median loaded-floor / TDP over the GPUs with a loaded-idle reading or a measured fit."""
    ratios = {gid: r["idle_loaded_w"] / r["cap_w"] for gid, r in measured_rows.items()}
    for gid, key in IDLE_READINGS.items():
        value, tdp = cal["loaded_vals"][key]
        ratios[gid] = value / tdp
    return float(np.median(list(ratios.values()))), ratios


def fallback(measured_rows, floor_ratio, eta) -> dict:
    """The pooled rule for a GPU without an entry (a user's part): :func:`pooled_row` without a TDP."""
    return {"idle_loaded_per_tdp": round(floor_ratio, 3),
            "a_c": round(float(np.median([r["a_c"] for r in measured_rows.values()])), 3),
            "a_m": round(float(np.median([r["a_m"] for r in measured_rows.values()])), 3),
            "eta_c": eta[0], "eta_m": eta[1],
            "note": "a GPU without an entry: the pooled rule (median slopes of the measured GPUs, the median "
                    "loaded floor per TDP), its TDP as cap, eta of the performance calibration's default"}


def gpu_table(cal, gpus, with_errors=True):
    """Every GPU's constants, the measured fits (for the report) and the fallback constants."""
    rows, fits = {}, {}
    for gid in energy_cases.MEASURED_POWER_FITS:
        rows[gid], fit, runs, held = measured_power_row(gid, gpus[gid], with_errors)
        fits[gid] = (fit, runs, held, prior_rule_row(cal, gid, gpus[gid]))
    measured = dict(rows)
    for gid, (src, why) in SIBLINGS.items():
        rows[gid] = sibling_row(gid, gpus[gid], src, measured[src], gpus[src], why)
    ratio, ratios = floor_rule(measured, cal)
    note = "median loaded floor / TDP of " + ", ".join(f"{k.removeprefix('nvidia-')} {v:.3f}" for k, v in ratios.items())
    for gid, g in gpus.items():
        if gid not in rows:
            rows[gid] = pooled_row(gid, g, measured, ratio, note)
    return {gid: rows[gid] for gid in sorted(rows)}, fits, fallback(measured, ratio, default_eta())


def default_eta() -> tuple[float, float]:
    """The performance calibration's efficiencies for a GPU without its own fit."""
    from carbonsim.engine.db import default_database
    from carbonsim.engine.inputs.llm import CALIBRATION_ID

    d = default_database().get("perf", CALIBRATION_ID)["gpus"]["default"]
    return round(_num(d["eta_compute"]), 3), round(_num(d["eta_memory"]), 3)
