"""Online serving against published measurements (cases and tolerances in carbonsim/validation/serving.py) and
the seed's §5.3 placement study (scenarios/seed-sharing.yaml; docs/validation.md)."""

import math

from pathlib import Path

import numpy as np
import pytest

from carbonsim.validation.serving import (
    T4_ROWS, TGI_QPS, cases, placement_ratios, seed_points, t4_cases, t4_points, t5_points, tgi_points, value,
)

SEED_SCENARIO = str(Path(__file__).resolve().parents[2] / "scenarios" / "seed-sharing.yaml")
CASES = cases()
T4_CASES = t4_cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}: {c.quantity}" for c in CASES])
def test_reproduces_published_serving_energy(case):
    ours = case.compute()
    # tolerance: case.rtol, for the reason in case.why_tolerance
    assert math.isclose(ours, case.published, rel_tol=case.rtol), (
        f"{case.quantity}: ours {ours:.6g} vs published {case.published:.6g} {case.unit} "
        f"({100 * (ours / case.published - 1):+.1f} %, allowed {100 * case.rtol:.0f} %: {case.why_tolerance})")


def test_energy_per_request_falls_with_the_request_rate():
    # ML.ENERGY's TGI sweep: the GPUs' near-constant power spread over more requests per second
    e = tgi_points().loc[list(TGI_QPS), "gpu_energy_j"].to_numpy()
    assert np.all(np.diff(e) < 0)


def test_chunked_prefill_budget_and_batch_limit_trends():
    # ML.ENERGY Table 5: tiny token budgets starve the engine (energy per generation x2.2 from a
    # budget of 512 to 64 at 64 sequences), and beyond 128 sequences and 1,024 tokens more
    # batching buys nothing (151.5-154.6 J). Published ratio 2.15; 15 % covers the model's per-row
    # errors (cases above) not cancelling exactly.
    e = t5_points()["steady_gpu_energy_per_generation_j"]
    assert e["mlebench-t5-3"] / e["mlebench-t5-4"] == pytest.approx(value("mlebench-t5-3") / value("mlebench-t5-4"),
                                                                    rel=0.15)
    flat = e[["mlebench-t5-5", "mlebench-t5-6", "mlebench-t5-7", "mlebench-t5-8"]]
    assert flat.max() / flat.min() - 1 < 0.03
    # the 32-token budget's penalty at 32 sequences holds (and its size: the test below)
    assert e["mlebench-t5-1"] / e["mlebench-t5-2"] > 2.0


def test_the_smallest_token_budget_costs_three_times_the_energy():
    # ML.ENERGY Table 5: x2.96 from a budget of 512 to 32 at 32 sequences, within the same 15 %. (An
    # expected failure while the H100's compute slope sat at its fit bound, 1.2: 3.47x; with a_c
    # held at 1.0 since the calibration of every GPU by one procedure it holds.)
    e = t5_points()["steady_gpu_energy_per_generation_j"]
    assert e["mlebench-t5-1"] / e["mlebench-t5-2"] == pytest.approx(value("mlebench-t5-1") / value("mlebench-t5-2"),
                                                                    rel=0.15)


# --- ML.ENERGY Benchmark Table 4: prefill-decode disaggregation ------------------------------------------

@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail
                                  else c for c in T4_CASES], ids=[f"{c.group}: {c.quantity}" for c in T4_CASES])
def test_reproduces_published_disaggregated_serving_energy(case):
    ours = case.compute()
    # tolerance: case.rtol or case.atol, for the reason in case.why_tolerance
    assert math.isclose(ours, case.published, rel_tol=case.rtol, abs_tol=case.atol), (
        f"{case.quantity}: ours {ours:.6g} vs published {case.published:.6g} {case.unit} "
        f"({100 * (ours / case.published - 1):+.1f} %; allowed {100 * case.rtol:.0f} % or {case.atol:g}: "
        f"{case.why_tolerance})")


def test_disaggregated_prefill_energy_depends_on_the_prompt_not_the_deployment():
    # ML.ENERGY Table 4: per generation, the prefill stage costs about the same in 1P3D and 2P2D
    # (8.4-8.7 J for 512-token prompts, 68.0-68.3 J for 4,096: within 4 %), since a prefill instance
    # works at its own pace; in carbonsim its steady steps do not depend on the decode side at all
    # (2 % allows for the requests each prefill step happens to batch)
    df = t4_points()
    prefill = df["steady_gpu_energy_per_generation_j"] * (1 - df["decode_energy_share"])
    for a, b in (("mlebench-t4-1", "mlebench-t4-4"), ("mlebench-t4-3", "mlebench-t4-6")):
        assert prefill[a] == pytest.approx(prefill[b], rel=0.02)


def test_a_starved_decode_stage_costs_more_per_generation():
    # ML.ENERGY Table 4, 4,096-token prompts: one prefill instance cannot feed three decode instances,
    # which run small batches: decode energy per generation 140 J (1P3D) against 84 J (2P2D)
    df = t4_points()
    decode = df["steady_gpu_energy_per_generation_j"] * df["decode_energy_share"]
    measured = {r: value(r) * value(f"{r}-decode") / 100 for r in ("mlebench-t4-3", "mlebench-t4-6")}
    assert measured["mlebench-t4-3"] > 1.5 * measured["mlebench-t4-6"]
    assert decode["mlebench-t4-3"] > 1.5 * decode["mlebench-t4-6"]
    assert df.loc["mlebench-t4-3", "mean_batch"] < df.loc["mlebench-t4-6", "mean_batch"]
    assert list(df.index) == list(T4_ROWS)


# --- seed §5.3 -----------------------------------------------------------------------------------------

def test_seed_horizontal_placement_lengthens_tpot():
    # Seed: placement (A), each model tensor-parallel over both GPUs, has a longer TPOT (+14 %).
    # Checked at every rate and for both engine forms of the shipped scenario.
    tpot = placement_ratios(seed_points(SEED_SCENARIO), "tpot_s")
    assert (tpot > 0).all()


def test_seed_horizontal_placement_lowers_gpu_power():
    # The mechanism behind the seed's energy saving: with the GPUs taking turns between two
    # engines and waiting on all-reduces, they draw less on average at every rate.
    power = placement_ratios(seed_points(SEED_SCENARIO), "gpu_power_w")
    assert (power < -0.05).all()


@pytest.mark.xfail(strict=True, reason="not reproduced: carbonsim's operational change of horizontal placement, "
                   "averaged over QPS 2/4/8, stays within +/-10 % for both engine forms (the lower GPU power is "
                   "offset by the longer run: slower TPOT drains the 200 requests later); the seed reports -27 % "
                   "(docs/validation.md, docs/findings.md)")
def test_seed_operational_saving_is_reproduced():
    # The seed (§5.3): horizontal placement "improves the operational carbon by around 30 %"
    # (3.057 vs 4.206 gCO2e for 200 requests, averaged over QPS 2/4/8: -27 %). The claim at its
    # size: a saving of at least 20 % (averaged over the rates) for every engine form.
    seed = value("seed-53-op-h") / value("seed-53-op-v") - 1
    assert seed < -0.25
    op = placement_ratios(seed_points(SEED_SCENARIO), "operational_g").groupby(level=0).mean()
    assert (op < -0.20).all(), op.round(3).to_dict()
