"""The shared steps of the GPU activity-power calibration (docs/power.md, docs/validation_power.md).

``calibration/write_gpu_activity.py`` runs them and writes ``hardware_db/power/gpu-activity.yaml``;
:mod:`carbonsim.validation.energy_report` uses the rule-based constants (steps 1-4) to report what
carbonsim gave before the constants were fitted to measured power. The steps are described in
that script's docstring.
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

#: GPUs whose loaded idle comes from a reading on the same GPU or die (else the ratio rule).
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
    """Name, TDP and bare idle [W] of every GPU in the database (``db``: the shipped one by default)."""
    from carbonsim.engine.db import default_database

    db = db or default_database()
    out = {}
    for gid in db.ids("gpus"):
        d = db.get("gpus", gid)
        out[gid] = {"name": d.get("name", gid), "tdp_w": _num(d["tdp_w"]),
                    "idle_w": _num(d["idle_w"]) if d.get("idle_w") is not None else None}
    return out


def calibrate():
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
    """Constants of ``gid`` by steps 1-4 (Teads slopes, loaded idle from a reading or the TDP ratio)."""
    if gid in LOADED_IDLE_ANCHOR:
        key, why = LOADED_IDLE_ANCHOR[gid]
        val, _anchor_tdp = cal["loaded_vals"][key]
        idle_l = val
        source, note = ANCHOR_SOURCE[key], f"loaded idle from {why}"
    else:
        idle_l = cal["ratio_rule"] * g["tdp_w"]
        source = "teads-a100-via-sustainable-dl"
        note = (f"loaded idle = {cal['ratio_rule']:.3f} x TDP (median loaded-idle/TDP of the anchors "
                "A100, H100, V100, A40, MI300X); no reading for this GPU")
    if g["idle_w"] is not None and idle_l < g["idle_w"]:
        idle_l = g["idle_w"]
        note += "; raised to the bare idle of the database"
    a_note = ("a_c + a_m from the Teads A100 ladder" if gid == "nvidia-a100-sxm4-80gb"
              else "a_c, a_m transferred from the A100 calibration (no ladder for this GPU)")
    return dict(idle_loaded_w=round(idle_l, 1), cap_w=g["tdp_w"], a_c=round(cal["a_c"], 4), a_m=A_M,
                eta_c=ETA_C, eta_m=ETA_M, source=source,
                note=f"{note}; cap = TDP of hardware_db/gpus/{gid}.yaml; {a_note}; eta from Vidur A100/H100 profiles")


def pct_stats(residuals):
    a = 100 * np.abs(np.asarray(residuals))
    return f"{np.median(a):.1f} % median, {np.percentile(a, 90):.1f} % p90"


def measured_power_row(gid, g):
    """Constants of ``gid`` fitted to measured GPU power (step 5), with the fit for the report."""
    policy = energy_cases.MEASURED_POWER_FITS[gid]
    fit, runs = energy_cases.fit_gpu(gid)
    if policy.data == "v3":
        what = (f"{len(runs)} ML.ENERGY leaderboard v3 configurations (Qwen3-8B and Qwen3-14B, vLLM 0.11.1, Text "
                "Conversation and Problem Solving, max_num_seqs 8-2048) at the measured step time")
    else:
        what = (f"the {len(runs)} ML.ENERGY v1 rows on this GPU (HF/FastChat, batch 1-4; power = energy x batch / "
                "latency) at the measured latency")
    if policy.idle_reading:
        idle = (f"loaded idle fixed at the reading {energy_cases.reading_w(policy.idle_reading):g} W "
                f"({policy.idle_reading}; {ANCHOR_SOURCE[policy.idle_reading]})")
    else:
        idle = (f"loaded idle fitted (no loaded-idle reading; lower bound the bare idle "
                f"{energy_cases.reading_w(policy.idle_floor):g} W, {policy.idle_floor}; {ANCHOR_SOURCE[policy.idle_floor]})")
    a_c = (f"a_c not identifiable (decode MFU about 0.5 %), held at {policy.a_c:.1f}" if policy.a_c is not None
           else "a_c fitted" + (" (at the upper bound)" if "a_c" in fit.at_bound else ""))
    row = dict(fit.constants(), cap_w=g["tdp_w"], source=policy.source,
               note=(f"fitted by calibration/write_gpu_activity.py to the measured average GPU power of {what}; "
                     f"{idle}; {a_c}; eta = performance calibration; in-sample error {pct_stats(fit.residuals)}"
                     + ("; validation cases use leave-one-out refits" if policy.data == "v1" else "")))
    return row, fit, runs


def gpu_table(cal, gpus):
    rows, fits = {}, {}
    for gid, g in gpus.items():
        if gid in energy_cases.MEASURED_POWER_FITS:
            rows[gid], fit, runs = measured_power_row(gid, g)
            fits[gid] = (fit, runs, prior_rule_row(cal, gid, g))
        else:
            rows[gid] = prior_rule_row(cal, gid, g)
    return rows, fits
