"""Per-request GPU energy against measurements (cases: carbonsim/validation/energy.py; report: docs/validation_energy.md).

The errors are held out: a case whose own measurement fitted its GPU's activity constants (the
ML.ENERGY v1 rows) is evaluated with constants refitted without it.
"""

import math

import numpy as np
import pytest

from carbonsim.engine.inputs.power import gpu_activity_table
from carbonsim.validation.energy import (
    MEASURED_POWER_FITS, V3_FIT_MODELS, V3_MODEL, abs_stats, evaluate_cases, fit_gpu, fit_runs, read_cases,
    read_not_expressed, scenario_doc, case_run,
)

#: The issue's target on the rows whose setup is fully stated.
TARGET_MEDIAN = 0.25
CASE_IDS = [c["case_id"] for c in read_cases()]


def results() -> dict:
    """Case id -> CaseResult (energy_cases.evaluate_cases is cached)."""
    return {r.case_id: r for r in evaluate_cases()}


def test_fully_stated_rows_meet_the_target():
    rows = [r for r in results().values() if r.fully_stated]
    assert len(rows) == 8
    # none of them is in any fit set: their errors are out of sample
    assert not any(r.in_fit_set for r in rows)
    s = abs_stats(r.error for r in rows)
    assert s["median"] <= TARGET_MEDIAN, s


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_within_its_tolerance(case_id):
    r = results()[case_id]
    # tolerance: r.tolerance.rtol, for the reason in r.tolerance.why (energy_cases.TOLERANCES)
    assert abs(r.error) <= r.tolerance.rtol, (
        f"{case_id}: ours {r.held_out:.4g} vs measured {r.measured:.4g} ({100 * r.error:+.1f} %, allowed "
        f"{100 * r.tolerance.rtol:.0f} %: {r.tolerance.why})")


def test_all_expressible_rows_do_not_drift():
    # Not the target (static batches and vLLM 0.11's step times dominate the rest;
    # docs/validation_energy.md): a guard at the present median 11.6 % and 90th percentile 64 %
    # (35 % and 71 % before the hf-eager engine), with a few points of margin.
    s = abs_stats(r.error for r in results().values())
    assert s["n"] == 30
    assert s["median"] <= 0.15 and s["p90"] <= 0.70, s


def test_hf_eager_host_time_brings_batch_one_rows_in():
    # The batch-1 HF/FastChat rows, each with the hf-eager host time fitted without it (leave-one-
    # out): median |error| 5.8 %, p90 12 % (19.6 % and 40 % with vLLM's synchronous constants).
    rows = [r for r in results().values() if r.case["group"] == "mlenergy-v1-hf" and r.case["batch"] == "1"]
    s = abs_stats(r.error for r in rows)
    assert s["n"] == 12 and s["median"] <= 0.08 and s["p90"] <= 0.15, s
    # and the time per token, not only the energy, now agrees: within -15 ... +45 %
    assert all(0.85 < r.measured_s_per_token / r.ours_s_per_token < 1.45 for r in rows)


def test_power_model_alone_at_the_measured_duration():
    # The power model with the timing error removed (kernel time and activity from the performance
    # model, the rest of the measured duration at the loaded idle), on the 25 cases that report or
    # imply an average power; held-out constants. Present: median 10.8 %, p90 26 %.
    errs = [r.power_at_measured_time_w / r.measured_power_w - 1 for r in results().values()
            if math.isfinite(r.measured_power_w) and math.isfinite(r.power_at_measured_time_w)]
    s = abs_stats(errs)
    assert s["n"] == 25
    assert s["median"] <= 0.15 and s["p90"] <= 0.30, s


def test_the_known_gaps_point_the_known_way():
    v1 = [r for r in results().values() if r.case["group"] == "mlenergy-v1-hf"]
    # static batches run to the longest response: always well below the measurement, their steps
    # too short by 1.5-4.8x even with the hf-eager host time
    assert all(r.error < -0.3 and r.measured_s_per_token > 1.5 * r.ours_s_per_token for r in v1 if r.static_batch)
    # time per mean decode step (wall time per output token x batch) of a static batch against batch 1
    # of the same model and GPU: measured 1.5-4.9x (steps wasted after short responses end, and
    # per-sequence host work), carbonsim about 1.0x
    by = {(r.case["model_id"], r.case["gpu_id"], int(r.case["batch"])): r for r in v1}
    pairs = [(by[k], k[2], by[(k[0], k[1], 1)]) for k in by if k[2] > 1 and (k[0], k[1], 1) in by]
    assert len(pairs) == 8
    for r, B, one in pairs:
        assert r.measured_s_per_token * B / one.measured_s_per_token > 1.4, r.case_id
        assert r.ours_s_per_token * B / one.ours_s_per_token < 1.1, r.case_id


def test_reported_rows_are_never_in_their_own_fit():
    case_models = {c["model_id"] for c in read_cases()}
    for gid, policy in MEASURED_POWER_FITS.items():
        runs = fit_runs(gid)
        if policy.data == "v3":
            # H100 and B200 are fitted on Qwen3-8B/14B configurations, which are no case
            assert {r.model_id for r in runs} == {V3_MODEL[m] for m in V3_FIT_MODELS}
            assert not {r.model_id for r in runs} & case_models
        else:
            for r in runs:
                fit, kept = fit_gpu(gid, exclude=r.run_id)
                assert len(kept) == len(runs) - 1 and r.run_id not in {k.run_id for k in kept}
                assert results()[r.run_id].in_fit_set
    # a v1 case is reported with its leave-one-out constants, which differ from the shipped ones
    moved = [r for r in results().values() if r.in_fit_set and not math.isclose(r.held_out, r.ours, rel_tol=1e-6)]
    assert len(moved) >= 10


def test_shipped_constants_are_what_the_calibration_derives(db):
    table = gpu_activity_table(db)
    cal = db.get("perf", "calibration")["gpus"]
    for gid in MEASURED_POWER_FITS:
        fit, _ = fit_gpu(gid)
        shipped = table[gid]
        for key, value in fit.constants().items():
            assert shipped[key] == pytest.approx(value, abs=1e-9), (gid, key)
        # eta of the power model = the performance calibration's for these GPUs
        eff = cal.get(gid) or cal["default"]
        assert shipped["eta_c"] == pytest.approx(eff["eta_compute"].value, abs=5e-4)
        assert shipped["eta_m"] == pytest.approx(eff["eta_memory"].value, abs=5e-4)


def test_cases_are_what_a_sweep_gives(db):
    # The harness evaluates through the same engine as `carbonsim sweep`: the v1 cases (no override
    # needed) as one zipped sweep give the same GPU energy per request as the harness' shipped values.
    from carbonsim.api import sweep

    cases = [c for c in read_cases() if c["group"] == "mlenergy-v1-hf"]
    runs = [case_run(c) for c in cases]
    doc = scenario_doc(runs[0])
    doc.pop("_server_overrides")
    doc["sweep"] = {"zip": {
        "server.gpus.part": [r.gpu_id for r in runs], "model": [r.model_id for r in runs],
        "workload.batch_size": [r.batch for r in runs], "workload.output_tokens": [r.output_tokens for r in runs]}}
    points = sweep(doc, set=["server.gpus.count=1"], db=db).points
    ours = np.array([results()[c["case_id"]].ours for c in cases])
    assert np.allclose(points["gpu_energy_j"].to_numpy(), ours, rtol=1e-9)


def test_every_measured_energy_row_is_a_case_or_says_why_not(db):
    cases = read_cases()
    listed = [i for row in read_not_expressed() for i in row["row_ids"].split()]
    ids = [c["row_id"] for c in cases] + listed
    assert len(ids) == len(set(ids)) == 69  # the energy rows of the reference table
    sources = db.sources()
    assert all(c["source_key"] in sources for c in cases)
    assert all(row["source_key"] in sources for row in read_not_expressed())
    for c in cases:
        assert db.has("models", c["model_id"]) and db.has("gpus", c["gpu_id"])
        assert c["measured_scope"].startswith("GPU only")  # compared with gpu_energy_j


def test_the_report_is_generated_from_these_cases():
    # docs/validation_energy.md holds the offline section exactly as docs/make_validation.py writes
    # it from the cases above (regenerate with `python docs/make_validation.py`)
    from pathlib import Path

    from carbonsim.validation.energy_report import offline_tasks_section

    root = Path(__file__).resolve().parents[2]

    doc = (root / "docs" / "validation_energy.md").read_text(encoding="utf-8")
    assert "## Offline tasks (per-request energy)\n\n" + offline_tasks_section().strip() in doc
