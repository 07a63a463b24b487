"""Measured LLM energy against carbonsim (cases: carbonsim/validation/energy.py, leaderboard.py;
report: docs/validation_energy.md).

Errors are reported over distinct configurations, with the rows that trained a fit apart from the
rows no fit saw (carbonsim/validation/data/README.md, "Which rows train what").
"""

import math

import numpy as np
import pytest

from carbonsim.engine.inputs.power import gpu_activity_table
from carbonsim.validation import leaderboard as lb
from carbonsim.validation.energy import (
    CASE_DUPLICATES, MEASURED_POWER_FITS, abs_stats, all_rows, case_run, distinct_stats, evaluate_cases,
    evaluate_configs, fit_gpu, fit_runs, read_cases, read_not_expressed, scenario_doc,
)

#: The issue's targets: all rows carbonsim can express, distinct configurations.
TARGET_MEDIAN, TARGET_P90 = 0.10, 0.25
CASE_IDS = [c["case_id"] for c in read_cases()]


def results() -> dict:
    """Case id -> CaseResult (energy.evaluate_cases is cached)."""
    return {r.case_id: r for r in evaluate_cases()}


@pytest.mark.xfail(strict=True, reason="not met: over the 382 distinct configurations carbonsim can express the "
                   "median |error| is 11.7 % and the p90 32.6 % (held out: 13.5 % / 33.7 %); B200 steps, MoE and "
                   "static batches dominate the tail (docs/validation_energy.md, model gaps)")
def test_all_rows_meet_the_targets():
    s = distinct_stats(all_rows())
    assert s["median"] <= TARGET_MEDIAN and s["p90"] <= TARGET_P90, s


def test_all_rows_at_their_present_size():
    # A guard at the present state (median 11.7 %, p90 32.6 % over 382 distinct configurations of 385
    # rows), a point or two of margin; the held-out rows are worse than the fit rows, as they must be.
    rows = all_rows()
    s = distinct_stats(rows)
    assert s["n"] == 382 and s["rows"] == 385
    assert s["median"] <= 0.13 and s["p90"] <= 0.35, s
    held = distinct_stats([r for r in rows if r.category == "held out"])
    fit = distinct_stats([r for r in rows if r.category == "in-sample"])
    assert held["n"] == 272 and fit["n"] == 94
    assert held["median"] > fit["median"]
    assert held["median"] <= 0.15 and held["p90"] <= 0.36, held


def test_distinct_configurations_count_once():
    # the Benchmark's max_num_seqs 128-1024 rows all reach carbonsim's KV limit: one configuration;
    # over distinct configurations the fully stated cases are 33.5 % off (median), not 3.6 %
    rows = [r for r in all_rows() if r.source == "case"]
    keys = {r.key for r in rows}
    t5 = [r for r in rows if r.label in ("mlebench-t5-5", "mlebench-t5-6", "mlebench-t5-7", "mlebench-t5-8")]
    assert len({r.key for r in t5}) == 1
    assert len(keys) == len(rows) - 3
    # the blog cases that are leaderboard configurations are counted as those configurations only
    configs = {r.config.key for r in evaluate_configs()}
    assert set(CASE_DUPLICATES.values()) <= configs
    assert not {r.label for r in rows} & set(CASE_DUPLICATES)


def test_no_held_out_configuration_trained_anything():
    for c in lb.expressible(""):
        assert not c.fit_set
    # a fit set's models never appear held out on the same GPU and tensor-parallel degree
    fit = {(c.board, c.model, c.gpu, c.tp) for c in lb.expressible() if c.fit_set}
    held = {(c.board, c.model, c.gpu, c.tp) for c in lb.expressible("")}
    assert not fit & held
    # the power fits use exactly their fit set's runs
    for gid, policy in MEASURED_POWER_FITS.items():
        if policy.data != "v1":
            assert {r.run_id for r in fit_runs(gid)} == {c.key for c in lb.expressible(policy.data) if c.gpu_id == gid}


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_case_within_its_tolerance(case_id):
    r = results()[case_id]
    # tolerance: r.tolerance.rtol, for the reason in r.tolerance.why (energy.TOLERANCES)
    assert abs(r.error) <= r.tolerance.rtol, (
        f"{case_id}: ours {r.held_out:.4g} vs measured {r.measured:.4g} ({100 * r.error:+.1f} %, allowed "
        f"{100 * r.tolerance.rtol:.0f} %: {r.tolerance.why})")


def test_hf_eager_host_time_brings_batch_one_rows_in():
    # The batch-1 HF/FastChat rows, each with the hf-eager host time fitted without it (leave-one-
    # out): median |error| 5.4 %, p90 10 %.
    rows = [r for r in results().values() if r.case["group"] == "mlenergy-v1-hf" and r.case["batch"] == "1"]
    s = abs_stats(r.error for r in rows)
    assert s["n"] == 12 and s["median"] <= 0.08 and s["p90"] <= 0.15, s
    # and the time per token, not only the energy, agrees: within -15 ... +45 %
    assert all(0.85 < r.measured_s_per_token / r.ours_s_per_token < 1.45 for r in rows)


def test_power_model_alone_at_the_measured_duration():
    # The power model with the timing error removed (kernel time and activity from the performance
    # model, the rest of the measured duration at the loaded idle), on the 25 cases that report or
    # imply an average power; held-out constants. Present: median 7.9 %, p90 20 %.
    errs = [r.power_at_measured_time_w / r.measured_power_w - 1 for r in results().values()
            if math.isfinite(r.measured_power_w) and math.isfinite(r.power_at_measured_time_w)]
    s = abs_stats(errs)
    assert s["n"] == 25
    assert s["median"] <= 0.10 and s["p90"] <= 0.25, s
    # and on the held-out leaderboard configurations: median 9-10 %
    held = abs_stats(r.power_error for r in evaluate_configs() if r.held_out)
    assert held["median"] <= 0.12, held


def test_static_batches_decode_to_the_longest_output():
    v1 = [r for r in results().values() if r.case["group"] == "mlenergy-v1-hf"]
    by = {(r.case["model_id"], r.case["gpu_id"], int(r.case["batch"])): r for r in v1}
    pairs = [(by[k], k[2], by[(k[0], k[1], 1)]) for k in by if k[2] > 1 and (k[0], k[1], 1) in by]
    assert len(pairs) == 8
    for r, B, one in pairs:
        # time per mean decode step against batch 1: measured 1.5-4.9x; carbonsim now counts the
        # expected longest output (1.3-2.0x), still short of the measurement, so always below
        assert r.ours_s_per_token * B / one.ours_s_per_token > 1.25, r.case_id
        assert r.measured_s_per_token > r.ours_s_per_token and r.error < 0, r.case_id


def test_reported_rows_are_never_in_their_own_fit():
    for gid, policy in MEASURED_POWER_FITS.items():
        if policy.data == "v1":
            runs = fit_runs(gid)
            for r in runs:
                fit, kept = fit_gpu(gid, exclude=r.run_id)
                assert len(kept) == len(runs) - 1 and r.run_id not in {k.run_id for k in kept}
                assert results()[r.run_id].in_fit_set
    case_models = {c["model_id"] for c in read_cases()}
    for name, (board, models, gpus, tp) in lb.FIT_SETS.items():
        ids = {lb.V3_MODELS.get(m) or lb.V2_MODELS.get(m) for m in models}
        # no case is on a fit set's model, except the B200 Qwen3-32B cases (F2 is Qwen3-32B on two H100)
        assert not (ids & case_models) or name == "F2"
    # a v1 case is reported with its leave-one-out constants, which differ from the shipped ones
    moved = [r for r in results().values() if r.in_fit_set and not math.isclose(r.held_out, r.ours, rel_tol=1e-6)]
    assert len(moved) >= 8


def test_shipped_constants_are_what_the_calibration_derives(db):
    from carbonsim.validation.gpu_activity import calibrate, gpu_table, load_gpus

    rows, _, fallback = gpu_table(calibrate(), load_gpus(db), with_errors=False)
    table = gpu_activity_table(db)
    assert sorted(rows) == sorted(table)
    for gid, row in rows.items():
        for key in ("idle_loaded_w", "cap_w", "a_c", "a_m", "eta_c", "eta_m"):
            assert table[gid][key] == pytest.approx(row[key], abs=1e-9), (gid, key)
        assert table[gid]["calibration"]["kind"] == row["calibration"]["kind"]
    shipped = db.get("power", "gpu-activity")["fallback"]
    assert all(shipped[k] == pytest.approx(v) for k, v in fallback.items() if k != "note")
    cal = db.get("perf", "calibration")["gpus"]
    for gid in MEASURED_POWER_FITS:
        # eta of the power model = the performance calibration's
        eff = cal.get(gid) or cal["default"]
        assert table[gid]["eta_c"] == pytest.approx(eff["eta_compute"].value, abs=5e-4)
        assert table[gid]["eta_m"] == pytest.approx(eff["eta_memory"].value, abs=5e-4)


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
    # every leaderboard configuration is expressed (its model in the database) or says why not
    configs = lb.configs()
    assert len(configs) == 756 and sum(c.expressible for c in configs) == 360
    for c in configs:
        assert c.expressible == (not c.why_not)
        if c.expressible:
            assert db.has("models", c.model_id) and db.has("gpus", c.gpu_id)


# --- decode energy per token across GPU generations (docs/findings.md) --------------------------

def pairs(model: str, older: str):
    from carbonsim.validation.energy_report import generation_pairs

    return [(m, o) for old, new, m, o in generation_pairs() if old.config.model == model and old.config.gpu == older]


def test_a_newer_generation_needs_less_energy_per_token_for_a_70b_model_as_measured():
    # Llama-3.1-70B at every max_num_seqs measured on both: A100 SXM4 40GB (TP 8) -> H100 (TP 4) under
    # vLLM 0.5.4 and H100 (TP 4) -> B200 (TP 2) under vLLM 0.11.1. Measured, decode energy per token
    # falls at every load (0.71-0.83x, 0.61-0.95x); carbonsim's falls too (0.67-0.72x, 0.67-0.85x).
    a100 = pairs("meta-llama/Meta-Llama-3.1-70B-Instruct", "A100-SXM4-40GB")
    h100 = pairs("meta-llama/Llama-3.1-70B-Instruct", "H100")
    assert len(a100) == 7 and len(h100) == 8
    for measured, ours in a100 + h100:
        assert measured < 0.96 and ours < 0.9, (measured, ours)
    # the size: carbonsim's ratio is within 41 % of the measured one at every load (the worst: B200
    # at max_num_seqs 1024, 0.85 against 0.61), median 13 %
    # (its B200 gain shrinks with the batch where the measured one grows; docs/validation_energy.md)
    err = [abs(o / m - 1) for m, o in a100 + h100]
    assert max(err) < 0.45 and np.median(err) < 0.2


def test_at_equal_tensor_parallelism_a100_and_h100_need_about_the_same_as_measured():
    # One GPU of each, 7-14B dense models under vLLM 0.5.4 (host-bound): measured H100 / A100
    # 0.96-1.14 per token (Llama-3.1-8B, Mistral-7B, Mistral-Nemo, Phi-3); carbonsim 0.95-1.07.
    models = ("meta-llama/Meta-Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3",
              "mistralai/Mistral-Nemo-Instruct-2407", "microsoft/Phi-3-medium-4k-instruct",
              "microsoft/Phi-3-mini-4k-instruct")
    ps = [p for m in models for p in pairs(m, "A100-SXM4-40GB")]
    assert len(ps) == 17
    assert all(0.95 <= m <= 1.15 and 0.9 <= o <= 1.1 for m, o in ps), ps


def test_generation_table_decode_energy(refresh_generations):
    # carbonsim's generation table (Llama-2-70B, TP 4, batch 64, scenarios/refresh-cycles.yaml):
    # B200 needs at least 10 % less decode energy per token than the H100; the A100 SXM4 80GB and the
    # H100 at equal TP 4 within 5 % of each other, as measured at equal TP (test above)
    d = {g["generation"]: g["decode_j_per_token"] for g in refresh_generations}
    assert d["B200"] < 0.9 * d["H100"]
    assert abs(d["H100"] / d["A100"] - 1) < 0.05, d


@pytest.mark.xfail(strict=True, reason="at equal tensor parallelism carbonsim's H100 needs about what the A100 "
                   "needs per decoded token (+1.4 % in the generation table), as the vLLM 0.5.4 measurements on one "
                   "GPU of each show (0.96-1.14x); the fall is measured only where the A100 needs twice the GPUs")
def test_decode_energy_falls_from_a100_to_h100_at_equal_tp(refresh_generations):
    d = {g["generation"]: g["decode_j_per_token"] for g in refresh_generations}
    assert d["H100"] < 0.95 * d["A100"]


@pytest.fixture(scope="module")
def refresh_generations(db):
    from pathlib import Path

    import yaml

    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import scenario_from_dict

    path = Path(__file__).resolve().parents[2] / "scenarios" / "refresh-cycles.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["sweep"] = {"product": {"lifecycle.gpu_refresh_yr": [4]}}
    return run_sweep(scenario_from_dict(doc, str(path)), db, None).lifecycle["generations"]


def test_the_report_is_generated_from_these_cases():
    # docs/validation_energy.md holds the section exactly as docs/make_validation.py writes it from
    # the cases above (regenerate with `python docs/make_validation.py`)
    from pathlib import Path

    from carbonsim.validation.energy_report import offline_tasks_section

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "validation_energy.md").read_text(encoding="utf-8")
    assert "## Measured LLM energy (offline and steady-state batches)\n\n" + offline_tasks_section().strip() in doc
