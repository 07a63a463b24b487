"""The llama.cpp single-user profile against published llama-bench throughput
(carbonsim/validation/data/llamacpp_throughput.csv, from xiongjiedai-gpu-benchmarks). The constants
in hardware_db/perf/calibration.yaml were fitted on the `train` rows only
(calibration/write_llamacpp.py); the `held-out` rows (every row of the RTX 4090 and of the M3 Max,
chosen before the fit) are predicted here with the shipped constants, and the errors the
calibration file and docs/validation_perf.md state are asserted."""

import pytest

from carbonsim.engine.db import default_database
from carbonsim.validation.llamacpp import shipped_errors


@pytest.fixture(scope="module")
def rows():
    db = default_database()
    return shipped_errors(db), db.get("perf", "calibration")["engines"]


@pytest.mark.parametrize("backend", ["cuda", "metal"])
def test_held_out_error_is_the_stated_one(rows, backend):
    # the shipped constants reproduce the errors the calibration records (0.1 point: rounding of
    # the constants to 3 digits), and the held-out median stays near the 21.5 / 21.6 % of the docs
    df, engines = rows
    e = engines[f"llama-cpp-{backend}"]
    g = df[df.backend == backend]
    held = g.loc[g.split == "held-out", "err_pct"].abs()
    fit = g.loc[g.split == "train", "err_pct"].abs()
    assert len(held) == e["held_out_rows"] and len(fit) == e["fit_rows"]
    assert held.median() == pytest.approx(e["held_out_median_abs_pct"], abs=0.15)
    assert fit.median() == pytest.approx(e["fit_median_abs_pct"], abs=0.15)
    assert held.median() < 22.5


def test_held_out_gpus_were_never_fitted(rows):
    df, engines = rows
    for backend in ("cuda", "metal"):
        note = engines[f"llama-cpp-{backend}"]["note"]
        for gpu in df.loc[(df.backend == backend) & (df.split == "held-out"), "gpu"].unique():
            assert gpu not in note


@pytest.mark.xfail(strict=True, reason="the per-step times are constants, while the measured cost per token falls "
                                       "with a faster GPU: generation on the RTX 4090 and M3 Max is predicted 8-42 % "
                                       "slow (docs/validation_perf.md)")
def test_generation_on_the_faster_gpus_within_15_percent(rows):
    df, _ = rows
    held_tg = df[(df.split == "held-out") & (df.test == "tg")]
    assert held_tg.err_pct.abs().max() < 15
