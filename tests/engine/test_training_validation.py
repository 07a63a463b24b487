"""`carbonsim train` against published training footprints (cases and sources in
carbonsim/validation/training.py; the table in docs/validation.md, section "Training runs")."""

import numpy as np
import pytest

from carbonsim.validation.training import (
    BLOOM, PATTERSON, bloom_from_models, bloom_with_their_inputs, gpu_hours_predictions,
    llmcarbon_predicted_hours, patterson_llmcarbon_path, patterson_measured,
)

from carbonsim.engine.inputs.coefficients import load_coefficients


@pytest.fixture(scope="module")
def cs(db):
    # the seed's set, as docs/validation.md's training table states (BLOOM's embodied row)
    return load_coefficients("hotcarbon24", db)


@pytest.mark.parametrize("case", PATTERSON, ids=[c.name for c in PATTERSON])
def test_patterson_cases_at_least_as_well_as_llmcarbon(db, cs, case):
    # With Patterson's measured inputs (chips, days, average power, PUE, intensity) the energy needs no
    # FLOP count. Tolerance 2 %: Table 4 rounds days to 0.1, power to 1 W and tCO2e to 3 digits.
    ours = patterson_measured(case, db, cs).operational_kg / 1000
    err = ours / case.published_t - 1
    assert abs(err) < 0.02
    assert abs(err) <= abs(case.llmcarbon_err_pct) / 100  # the claim: at least as well as LLMCarbon


@pytest.mark.parametrize("case", PATTERSON, ids=[c.name for c in PATTERSON])
def test_llmcarbons_path_reproduces_llmcarbon(db, cs, case):
    # 6ND at the measured efficiency on LLMCarbon's chip counts gives LLMCarbon's own error (0.01 pp:
    # its database's rounding of the published inputs)
    ours = patterson_llmcarbon_path(case, db, cs).operational_kg / 1000
    assert 100 * (ours / case.published_t - 1) == pytest.approx(case.llmcarbon_err_pct, abs=0.01)


def test_bloom_split_from_its_own_inputs():
    # tolerance 0.5 %: the paper rounds to 0.1 t
    r = bloom_with_their_inputs()
    assert r["dynamic_t"] == pytest.approx(BLOOM["dynamic_t"], rel=5e-3)
    assert r["embodied_t"] == pytest.approx(BLOOM["embodied_t"], rel=5e-3)
    assert BLOOM["total_t"] == pytest.approx(BLOOM["dynamic_t"] + BLOOM["idle_t"] + BLOOM["embodied_t"], abs=0.05)


def test_bloom_from_carbonsims_models(db, cs):
    # docs/validation.md: the activity model draws less than the 400 W TDP the paper charges; the
    # embodied model of an 8x A100 SXM server lands within 20 % of the paper's 11.2 t
    r = bloom_from_models(db, cs)
    dynamic_t = r.gpu_energy_mwh * BLOOM["ci_g_per_kwh"] / 1000
    assert dynamic_t < BLOOM["dynamic_t"] and r.gpu_w < BLOOM["tdp_w"]
    assert r.embodied_kg / 1000 == pytest.approx(BLOOM["embodied_t"], rel=0.2)


def test_gpu_hours_from_parameters_tokens_and_hardware(db):
    # the claim of docs/validation.md: leave-one-out median error below 15 %, and below that of
    # LLMCarbon's throughput predictor on the same runs
    rows = gpu_hours_predictions(db)
    ours = np.array([abs(p / pub - 1) for _, p, pub in rows])
    theirs = np.array([abs(llmcarbon_predicted_hours(r.params_b, r.tokens_b) / pub - 1) for r, _, pub in rows])
    assert len(rows) >= 10
    assert np.median(ours) < 0.15
    assert np.median(ours) < np.median(theirs)
    llama2 = {r.id: p / pub - 1 for r, p, pub in rows if r.id.startswith("llama-2")}
    assert max(abs(e) for e in llama2.values()) < 0.15  # Llama 2 7B/13B/70B within 15 %
