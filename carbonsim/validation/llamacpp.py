"""llama.cpp's single-user throughput: published llama-bench rows and carbonsim's predictions
(the cases of ``tests/engine/test_llamacpp_validation.py`` and the data
``calibration/write_llamacpp.py`` fits on).

``data/llamacpp_throughput.csv`` holds llama-bench on one GPU with every layer on it, batch 1
(``tg N``: N tokens generated from an empty context; ``pp N``: one prompt of N tokens), each row
marked ``train`` (the calibration fits on it) or ``held-out`` (every row of the RTX 4090 and of
the M3 Max, chosen before any fit). A row is evaluated through
:func:`carbonsim.engine.inputs.llm.perf_rows` with ``engine: llama.cpp`` and the performance
model's readable reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonsim.engine.inputs.llm import model_spec, perf_rows
from carbonsim.engine.inputs.server import server_from_dict
from carbonsim.models.perf.layout import O, PARAM_NAMES
from carbonsim.models.perf.llm import offline_task_reference
from carbonsim.validation import DATA

ROWS = DATA / "llamacpp_throughput.csv"
#: The constants an engine profile brings (fitted per backend by calibration/write_llamacpp.py).
FITTED = ("eta_compute", "eta_memory", "layer_overhead_s", "cpu_base_s")


def read_rows() -> pd.DataFrame:
    return pd.read_csv(ROWS, comment="#", dtype={"note": str}).fillna({"note": ""})


def base_columns(db, rows: pd.DataFrame) -> np.ndarray:
    """Performance-model columns of the rows with the shipped llama.cpp profile's constants."""
    cols = []
    for r in rows.itertuples():
        server = server_from_dict({"name": r.gpu, "gpus": {"part": r.gpu, "count": 1},
                                   "host": {"cpus": {"die_area_mm2": 206, "node": "7nm", "count": 1}}}, db, str(ROWS),
                                  r.id)
        tg = r.test == "tg"
        wl = {"engine": "llama.cpp", "precision": r.precision, "prompt_tokens": 1 if tg else int(r.tokens),
              "output_tokens": int(r.tokens) if tg else 1}
        p = perf_rows(db, server, model_spec(db, r.model), wl)
        cols.append([p[n] for n in PARAM_NAMES])
    return np.array(cols, dtype=float).T


def predict_tok_s(cols: np.ndarray, rows: pd.DataFrame, constants: dict | None = None) -> np.ndarray:
    """Each row's throughput: generated tokens / decode time, or prompt tokens / prefill time
    (``constants`` replace the columns' :data:`FITTED` rows)."""
    c = cols.copy()
    for name, value in (constants or {}).items():
        c[PARAM_NAMES.index(name)] = value
    out = offline_task_reference(c)
    n = rows.tokens.to_numpy(float)
    return np.where((rows.test == "tg").to_numpy(), n / out[O["decode_s"]], n / out[O["prefill_s"]])


def shipped_errors(db) -> pd.DataFrame:
    """Every row with carbonsim's throughput under the shipped constants and the error [%]."""
    rows = read_rows()
    rows["model_tok_s"] = predict_tok_s(base_columns(db, rows), rows)
    rows["err_pct"] = 100 * (rows.model_tok_s / rows.measured_tok_s - 1)
    return rows


def summary(err) -> tuple[float, float]:
    """Median and largest absolute error."""
    a = np.abs(np.asarray(err, float))
    return (float(np.median(a)), float(a.max())) if len(a) else (float("nan"), float("nan"))
