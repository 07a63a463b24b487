"""CPU LLM inference against published measurements (the Reuse option of ``carbonsim plan``).

Each row of ``data/cpu_inference_points.csv`` is one published llama.cpp-family run on a
server or workstation CPU: a decode rate (llama-bench ``tg128``: 128 tokens from an empty
context, batch 1) or a prefill rate (``pp512``: one 512-token prompt). carbonsim evaluates the
same shape with its roofline step model and a CPU socket as the device
(:func:`carbonsim.engine.inputs.cpu_llm.cpu_rows`): the row's memory channels x transfer rate x 8
bytes as the bandwidth, its stated matrix peak for the cores used, the file's bytes per weight.

Two constants, ``eta_compute`` and ``eta_memory``, are fitted on all rows at once by least squares
on the log of the rate (a 2x error either way counts the same). Each row is also predicted with
the constants fitted on the *other* rows (leave one out): that is the error reported as held out.

Used by ``tests/engine/test_cpu_validation.py`` and ``calibration/write_cpu_inference.py`` (which
writes the constants into ``hardware_db/perf/calibration.yaml: cpu_inference`` and the table in
``docs/validation_perf.md``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonsim.engine.db import default_database
from carbonsim.engine.inputs.cpu_llm import cpu_rows
from carbonsim.engine.inputs.llm import CALIBRATION_ID, model_spec
from carbonsim.models.perf.cpu import memory_bandwidth_gb_s
from carbonsim.models.perf.layout import O, PARAM_NAMES
from carbonsim.models.perf.llm import offline_task_reference

from carbonsim.validation import DATA as _DATA

DATA = _DATA / "cpu_inference_points.csv"
#: Per-step overhead and usable memory share of a CPU engine (not fitted: no row resolves them).
FIXED = {"layer_overhead_s": 0.0, "memory_utilization": 0.9}


def rows() -> pd.DataFrame:
    return pd.read_csv(DATA)


def predict(df: pd.DataFrame, eta_compute: float, eta_memory: float) -> np.ndarray:
    """carbonsim's tokens/s for each row with the given efficiencies."""
    db = default_database()
    cal = db.get("perf", CALIBRATION_ID)
    consts = {"eta_compute": eta_compute, "eta_memory": eta_memory, **FIXED}
    cols = []
    for _, r in df.iterrows():
        decode = r.phase == "decode"
        wl = {"batch_size": 1, "precision": "fp16", "prompt_tokens": 1 if decode else int(r.tokens),
              "output_tokens": int(r.tokens) if decode else 1}
        bw = float(memory_bandwidth_gb_s(r.memory_channels, r.mt_s)) / r.sockets   # per socket; sockets split the model
        p = cpu_rows(model_spec(db, r.model), wl, peak_tflops=r.peak_tflops / r.sockets, memory_bandwidth_gb_s=bw,
                     memory_gb=1e4, constants=consts, calibration=cal, weight_bytes=r.weight_bytes_per_param)
        # a model spread over several sockets (NUMA distribute) reads 1/sockets of it on each
        p["weight_bytes"] = p["weight_bytes"] / r.sockets
        cols.append([p[n] for n in PARAM_NAMES])
    out = offline_task_reference(np.array(cols, dtype=float).T)
    tok_s = np.where(df.phase == "decode", df.tokens / np.maximum(out[O["decode_s"]], 1e-12),
                     df.tokens / np.maximum(out[O["prefill_s"]], 1e-12))
    return tok_s


def fit(df: pd.DataFrame) -> tuple[float, float]:
    """``(eta_compute, eta_memory)`` minimising the squared log error of every row of ``df`` (a 2x
    error either way counts the same; both phases constrain both constants, as a decode step has
    compute and a prefill step memory traffic)."""
    from scipy.optimize import least_squares

    meas = df.measured_tok_s.values

    def resid(x):
        return np.log(predict(df, float(np.exp(x[0])), float(np.exp(x[1]))) / meas)

    sol = least_squares(resid, np.log([0.3, 0.7]), bounds=(np.log([1e-3, 0.05]), np.log([1.0, 1.0])))
    return float(np.exp(sol.x[0])), float(np.exp(sol.x[1]))


def evaluate() -> pd.DataFrame:
    """Every row: measured, carbonsim with all rows' constants (in sample) and with the others'
    (held out), errors in per cent."""
    df = rows()
    eta_c, eta_m = fit(df)
    df["model_tok_s"] = predict(df, eta_c, eta_m)
    held = []
    for i in range(len(df)):
        c, m = fit(df.drop(index=df.index[i]))
        held.append(predict(df.iloc[[i]], c, m)[0])
    df["heldout_tok_s"] = held
    df["err_pct"] = 100.0 * (df.model_tok_s / df.measured_tok_s - 1.0)
    df["heldout_err_pct"] = 100.0 * (df.heldout_tok_s / df.measured_tok_s - 1.0)
    df.attrs["eta_compute"], df.attrs["eta_memory"] = eta_c, eta_m
    return df
