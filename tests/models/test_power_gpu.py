"""Activity-based GPU power (carbonsim.models.power.gpu) and its shipped constants."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsim.models.power.gpu import (
    A_MAX, KernelPhases, activity, capped_gpu_power, capped_time_factor, fit_activity_power, fit_saturating_ladder,
    gpu_power_w, power_over_duration_w, steady_load_power_w, step_energy_j,
)
from carbonsim.engine.inputs.power import gpu_activity_table, gpu_constants
from carbonsim.validation import DATA as VALIDATION_DATA

ROOT = Path(__file__).resolve().parents[2]
POINTS = VALIDATION_DATA / "gpu_power_points.csv"
A100 = dict(idle_loaded_w=83.9, cap_w=400.0, a_c=0.848, a_m=0.525, eta_c=0.70, eta_m=0.75)
unit = st.floats(0.0, 1.0)


def _p(mfu, mbu, c=A100):
    return gpu_power_w(mfu, mbu, c["idle_loaded_w"], c["cap_w"], c["a_c"], c["a_m"], c["eta_c"], c["eta_m"])


@settings(max_examples=100, deadline=None)
@given(m1=unit, m2=unit, b1=unit, b2=unit)
def test_monotone_in_mfu_and_mbu_and_bounded(m1, m2, b1, b2):
    lo_m, hi_m = sorted((m1, m2))
    lo_b, hi_b = sorted((b1, b2))
    assert _p(lo_m, lo_b) <= _p(hi_m, lo_b) + 1e-9
    assert _p(lo_m, lo_b) <= _p(lo_m, hi_b) + 1e-9
    assert A100["idle_loaded_w"] - 1e-9 <= _p(m1, b1) <= A100["cap_w"] + 1e-9


@settings(max_examples=100, deadline=None)
@given(mfu=unit, mbu=unit, limit=st.floats(90.0, 450.0))
def test_capped_never_above_cap_nor_uncapped(mfu, mbu, limit):
    p, f = capped_gpu_power(mfu, mbu, A100["idle_loaded_w"], A100["cap_w"], A100["a_c"], A100["a_m"],
                            A100["eta_c"], A100["eta_m"], limit)
    assert p <= limit + 1e-9
    assert p <= _p(mfu, mbu) + 1e-9
    assert 0.2 - 1e-12 <= f <= 1.0
    if limit >= _p(mfu, mbu):
        assert f == 1.0 and p == pytest.approx(_p(mfu, mbu))


def test_cap_slows_compute_bound_more_than_memory_bound():
    args = (A100["idle_loaded_w"], A100["cap_w"], A100["a_c"], A100["a_m"], A100["eta_c"], A100["eta_m"], 250.0)
    _, f_prefill = capped_gpu_power(0.65, 0.15, *args)   # compute-bound step
    _, f_decode = capped_gpu_power(0.05, 0.40, *args)    # memory-bound step
    assert f_prefill < f_decode <= 1.0
    assert capped_time_factor(0.9, f_prefill) > capped_time_factor(0.1, f_decode) >= 1.0


def test_step_energy():
    assert step_energy_j(0.01, 0.002, 300.0, 80.0) == pytest.approx(3.16)


def test_the_teads_ladder_gives_the_steady_load_slope_only(db):
    pts = pd.read_csv(POINTS)
    t = pts[pts.id.str.startswith("teads-") & (pts.load > 0)]
    idle_l, s, _ = fit_saturating_ladder(t.load, t.value_w, 400.0)
    # the ladder's slope is the steady-load slope of every GPU ...
    assert s == pytest.approx(db.get("power", "gpu-activity")["ladder_slope"], abs=1e-4)
    # ... and no GPU's LLM activity constants come from it any more (a TDP-scaled CPU curve: Teads'
    # per-TDP ratios 0.116 / 0.318 / 0.752 / 1.019 are Boavizta's CPU ratios): every GPU is measured,
    # derived from a measured sibling on the same die, or pooled over the measured GPUs
    table = gpu_activity_table(db)
    kinds = {gid: c["calibration"]["kind"] for gid, c in table.items()}
    assert set(kinds.values()) <= {"measured", "sibling", "pooled"}
    measured = {gid for gid, k in kinds.items() if k == "measured"}
    assert measured == {"nvidia-h100-sxm5-80gb", "nvidia-b200", "nvidia-a100-sxm4-40gb", "nvidia-v100-pcie-32gb",
                        "nvidia-a40"}
    for gid, c in table.items():
        assert not (c["a_c"] == pytest.approx(s - 0.525, abs=1e-3) and c["a_m"] == 0.525), gid
        if kinds[gid] == "sibling":
            assert set(c["calibration"]["from"]) <= measured and c["calibration"]["adjustments"], gid
        if kinds[gid] == "measured":
            assert c["calibration"]["held_out"]["n"] > 0 and c["calibration"]["in_sample"]["n"] > 0, gid


def test_a_sibling_keeps_its_dies_energy_per_flop_and_per_byte(db):
    # H200 from H100 SXM (same GH100 die, same 700 W): the loaded idle and the compute watts are the
    # H100's; the watts at memory saturation scale with the bandwidth, 4,800 / 3,350 GB/s
    table = gpu_activity_table(db)
    h100, h200 = table["nvidia-h100-sxm5-80gb"], table["nvidia-h200-sxm-141gb"]
    assert h200["idle_loaded_w"] == h100["idle_loaded_w"]
    span = h100["cap_w"] - h100["idle_loaded_w"]
    assert h200["a_c"] * span == pytest.approx(h100["a_c"] * span, rel=2e-3)
    assert h200["a_m"] * span == pytest.approx(h100["a_m"] * span * 4800 / 3350, rel=2e-3)
    # a card with a lower power limit (H100 PCIe, 350 W) keeps the die's watts: its shares rise
    pcie = table["nvidia-h100-pcie-80gb"]
    assert pcie["a_m"] * (pcie["cap_w"] - pcie["idle_loaded_w"]) == pytest.approx(
        h100["a_m"] * span * 2000 / 3350, rel=2e-3)


def test_steady_load_follows_the_ladder_whatever_the_llm_constants(db):
    pts = pd.read_csv(POINTS)
    t = pts[pts.id.str.startswith("teads-") & (pts.load > 0)]
    slope = db.get("power", "gpu-activity")["ladder_slope"]
    model = steady_load_power_w(t.load.to_numpy(), 83.9, 400.0, slope)
    # 2.5 %: 10 % and 50 % are fitted exactly (two constants, two points); the 100 % point is 1.8 %
    # above the 400 W cap the model cannot exceed
    assert np.all(np.abs(model / t.value_w.to_numpy() - 1) < 0.025)
    # H100: fitted to LLM power its a_c + a_m is about 1.7, but half load stays below the cap
    c, _ = gpu_constants(db, "nvidia-h100-sxm5-80gb", 700.0)
    assert c["a_c"] + c["a_m"] > 1.6
    half = steady_load_power_w(0.5, c["idle_loaded_w"], c["cap_w"], c["ladder_slope"])
    assert half == pytest.approx(142.5 + (700 - 142.5) * 0.5 * slope)
    assert half < 0.8 * c["cap_w"]


def test_every_database_gpu_has_constants_and_they_are_sane(db):
    ids = sorted(p.stem for p in (ROOT / "hardware_db" / "gpus").glob("*.yaml"))
    table = gpu_activity_table(db)
    assert sorted(table) == ids
    for gid, c in table.items():
        assert 0 < c["idle_loaded_w"] < c["cap_w"], gid
        assert 0 < c["eta_c"] <= 1 and 0 < c["eta_m"] <= 1, gid
        if c["calibration"]["kind"] == "measured":
            # a_m above 1 is what measured HF decode power asks of the V100 (memory-saturated decode
            # reaches the cap; docs/validation_power.md); within the fit's bounds
            assert 0 < c["a_m"] <= A_MAX and 0 < c["a_c"] <= A_MAX, gid
        else:
            # a sibling with a lower power limit keeps its die's watts, so its shares may exceed 1 (the
            # cap clamps: an H100 PCIe at compute saturation sits at its 350 W)
            assert 0 < c["a_m"] < 3 and 0 < c["a_c"] < 3, gid
        assert c["source"] and c["note"]
    fb = db.get("power", "gpu-activity")["fallback"]
    c, note = gpu_constants(db, "nvidia-no-such-gpu", 300.0)  # the pooled rule, and it says so
    assert note and c["cap_w"] == 300.0 and c["idle_loaded_w"] == pytest.approx(fb["idle_loaded_per_tdp"] * 300)
    assert c["a_c"] == table["nvidia-l40s"]["a_c"] and c["a_m"] == table["nvidia-l40s"]["a_m"]  # a pooled GPU


def test_activity_formula():
    assert activity(0.35, 0.375, 1.0, 0.5, 0.7, 0.75) == pytest.approx(0.75)


def _phases(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return KernelPhases(prefill_s=rng.uniform(0.01, 0.5, n), decode_s=rng.uniform(1.0, 20.0, n),
                        comm_s=np.zeros(n), prefill_mfu=rng.uniform(0.3, 0.7, n), prefill_mbu=rng.uniform(0.05, 0.3, n),
                        decode_mfu=rng.uniform(0.002, 0.3, n), decode_mbu=rng.uniform(0.2, 0.8, n))


def test_power_over_duration_by_hand():
    ph = KernelPhases(*(np.array([x]) for x in (1.0, 3.0, 0.5, 0.7, 0.1, 0.0, 0.75)))
    c = dict(idle_loaded_w=100.0, cap_w=400.0, a_c=1.0, a_m=0.5, eta_c=0.7, eta_m=0.75)
    # prefill x = 1.0 + 0.5*0.1/0.75 -> cap 400 W; decode x = 0.5 -> 250 W; 6 s idle at 100 W over 10 s
    p = power_over_duration_w(ph, 10.0, *c.values())
    assert p[0] == pytest.approx((400 * 1 + 250 * 3 + 100 * 6) / 10)
    # a measured duration shorter than the kernels' is stretched to them (never above the kernel power)
    assert power_over_duration_w(ph, 1.0, *c.values())[0] == pytest.approx((400 + 250 * 3 + 100 * 0.5) / 4.5)


@pytest.mark.parametrize("free_idle, a_c", [(True, None), (False, None), (False, 1.0)])
def test_fit_activity_power_recovers_the_constants(free_idle, a_c):
    ph = _phases()
    true = dict(idle_loaded_w=150.0, cap_w=700.0, a_c=0.9 if a_c is None else a_c, a_m=0.7, eta_c=0.8, eta_m=0.85)
    duration = 1.6 * (ph.prefill_s + ph.decode_s)
    power = power_over_duration_w(ph, duration, *true.values())
    fit = fit_activity_power(ph, duration, power, 700.0, 0.8, 0.85,
                             idle_loaded_w=None if free_idle else 150.0, idle_min_w=50.0, a_c=a_c)
    assert fit.idle_loaded_w == pytest.approx(150.0, rel=1e-4)
    assert fit.a_m == pytest.approx(0.7, rel=1e-4) and fit.a_c == pytest.approx(true["a_c"], rel=1e-4)
    assert np.max(np.abs(fit.residuals)) < 1e-6 and fit.at_bound == ()
    assert fit.fitted == (("idle_loaded_w",) if free_idle else ()) + ("a_m",) + (("a_c",) if a_c is None else ())


def test_fit_activity_power_reports_a_slope_at_its_bound():
    ph = _phases(seed=1)
    duration = ph.prefill_s + ph.decode_s
    # power no constants in range can reach: the slopes hit the bound and the fit says so
    fit = fit_activity_power(ph, duration, np.full(12, 699.0), 700.0, 0.8, 0.85, idle_loaded_w=150.0)
    assert "a_m" in fit.at_bound and fit.a_m == pytest.approx(A_MAX)
    assert fit.constants()["a_m"] == round(fit.a_m, 3)
