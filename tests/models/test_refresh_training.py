"""Layer 1 of the lifecycle layer: the fleet over a horizon (hand-computed cases, the accounting
rule, kernel parity), training FLOPs and the efficiency model, SCI, budget tiers, scheduling."""

import numpy as np
import pytest

from carbonsim.models.grid.scheduling import best_choice, repeat_last_day, window_means_g_per_kwh
from carbonsim.models.grid.traces import time_weighted_mean_g_per_kwh
from carbonsim.models.lifecycle._kernels import fleet_compiled
from carbonsim.models.lifecycle.budgets import DEFAULT_THRESHOLDS, classify, running_use
from carbonsim.models.lifecycle.refresh import YEAR_INPUTS, check_policy, fleet_reference
from carbonsim.models.grid.carbon import operational_g
from carbonsim.models.lifecycle.sci import sci_g, units_per_request
from carbonsim.models.lifecycle.training import (
    device_hours, estimated_shape, fit_mfu, implied_mfu, leave_one_out, predict_mfu, training_flops,
)
from carbonsim.units import HOURS_PER_YEAR


def one_point(horizon, rg, rh, demand=100.0, growth=0.0, util=0.5, pue=1.0, credit=1.0, years=None, **gen):
    """A single point; ``gen`` overrides the per-year generation values (scalars or lists)."""
    ny = horizon
    base = dict(ci_g_per_kwh=100.0, cap_tok_s=100.0, gpu_busy_w=1000.0, gpu_idle_w=200.0, host_busy_w=300.0,
                host_idle_w=100.0, gpu_set_kg=50.0, host_kg=80.0, gpus_per_set=8.0)
    base.update(gen)
    y = {k: np.broadcast_to(np.asarray(v, float), (ny,))[None, :].copy() for k, v in base.items()}
    p = {k: np.array([float(v)]) for k, v in dict(horizon_yr=horizon, gpu_refresh_yr=rg, host_refresh_yr=rh,
                                                   demand_tok_s=demand, growth_per_yr=growth, utilization=util,
                                                   pue=pue, credit=credit).items()}
    return p, y


def test_hand_computed_fleet():
    # 100 tok/s at a target load of 0.5 needs 200 tok/s: 2 sets of 100. Each set at u = 0.5 draws
    # 0.5*1000 + 0.5*200 = 600 W, each host 0.5*300 + 0.5*100 = 200 W: 1600 W, 14,016 kWh a year.
    # GPUs replaced every 2 years (bought in years 0 and 2), hosts kept 4 years (bought once).
    p, y = one_point(4, 2, 4)
    r = fleet_reference(p, y, per_year=True)
    assert r["year_gpu_sets_bought"][0].tolist() == [2, 0, 2, 0]
    assert r["year_hosts_bought"][0].tolist() == [2, 0, 0, 0]
    assert r["energy_mwh"][0] == pytest.approx(4 * 1600 * HOURS_PER_YEAR / 1e6)
    assert r["operational_kg"][0] == pytest.approx(4 * 1600 * HOURS_PER_YEAR / 1000 * 0.1)
    assert r["embodied_gross_kg"][0] == pytest.approx(4 * 50 + 2 * 80)
    assert r["end_credit_kg"][0] == 0.0  # every purchase ends exactly at the horizon
    assert r["gpus_bought"][0] == 32 and r["mean_utilization"][0] == pytest.approx(0.5)


def test_remaining_life_credit_and_none():
    # GPUs every 3 years over 4: the second purchase (year 3) has 2 of its 3 years after the horizon
    p, y = one_point(4, 3, 4)
    r = fleet_reference(p, y)
    assert r["end_credit_kg"][0] == pytest.approx(2 * 50 * 2 / 3)
    assert r["embodied_kg"][0] == pytest.approx(4 * 50 + 2 * 80 - 2 * 50 * 2 / 3)
    p, y = one_point(4, 3, 4, credit=0.0)
    assert fleet_reference(p, y)["embodied_kg"][0] == pytest.approx(4 * 50 + 2 * 80)


def test_new_gpus_go_into_kept_hosts_and_spares_are_reused():
    # year 0: 2 sets of the first generation (capacity 100 each); from year 1 a generation twice as
    # fast: GPUs replaced every year, 1 set suffices, the 2 hosts of year 0 serve until age 3
    p, y = one_point(4, 1, 3, cap_tok_s=[100, 200, 200, 200])
    r = fleet_reference(p, y, per_year=True)
    assert r["year_gpu_sets_bought"][0].tolist() == [2, 1, 1, 1]
    assert r["year_hosts_bought"][0].tolist() == [2, 0, 0, 1]  # a spare host reused until age 3
    assert r["year_gpu_sets_in_service"][0].tolist() == [2, 1, 1, 1]


def test_growth_buys_more_and_tokens_are_counted():
    p, y = one_point(3, 3, 3, growth=1.0)
    r = fleet_reference(p, y, per_year=True)
    assert r["year_gpu_sets_bought"][0].tolist() == [2, 2, 4]  # needs 200, 400, 800 tok/s
    assert r["tokens"][0] == pytest.approx((100 + 200 + 400) * 365 * 86400)


def test_refresh_longer_than_horizon_is_refused():
    assert check_policy(10, 11, 4) and "gpu_refresh_yr" in check_policy(10, 11, 4)
    assert check_policy(10, 10, 10) is None


def test_kernel_matches_reference():
    rng = np.random.default_rng(7)
    n, ny = 3000, 12
    point = dict(horizon_yr=rng.integers(1, ny + 1, n).astype(float), gpu_refresh_yr=rng.integers(1, 9, n) * 1.0,
                 host_refresh_yr=rng.integers(1, 9, n) * 1.0, demand_tok_s=rng.uniform(1e2, 1e6, n),
                 growth_per_yr=rng.uniform(-0.5, 1.0, n), utilization=rng.uniform(0.1, 1.0, n),
                 pue=rng.uniform(1.0, 2.0, n), credit=rng.integers(0, 2, n) * 1.0)
    years = {k: rng.uniform(1.0, 1000.0, (n, ny)) for k in YEAR_INPUTS}
    ref = fleet_reference(point, years)
    ker = fleet_compiled(point, years)
    for k, v in ker.items():
        np.testing.assert_allclose(v, ref[k], rtol=1e-9, atol=1e-9, err_msg=k)


# -- training ---------------------------------------------------------------------------------------
def test_gpt3_flops_and_shape():
    # Brown et al. 2020 (Table D.1) report 3.14e23 FLOPs for GPT-3 175B on 300 B tokens from 6ND;
    # 6ND of the rounded counts is 3.15e23 (tolerance: the paper's rounding, 0.5 %)
    assert training_flops(175e9, 300e9) == pytest.approx(3.14e23, rel=5e-3)
    layers, width = estimated_shape(175e9)
    # GPT-3 175B: 96 layers of 12,288 (Brown et al. Table 2.1); the aspect-ratio rule lands within 1 %
    assert layers == pytest.approx(96, rel=0.01) and width == pytest.approx(12288, rel=0.01)


def test_attention_flops_follow_palm():
    # PaLM Appendix B: 6N + 12 L H Q T per token. 1 B params, 10 layers, width 1000, seq 2000
    f = training_flops(1e9, 1.0, 10, 2000, 1000)
    assert f == pytest.approx(6e9 + 12 * 10 * 2000 * 1000)


def test_device_hours_and_implied_mfu_are_inverse():
    h = device_hours(8.4e22, 312e12, 0.4)
    assert implied_mfu(8.4e22, 312e12, h) == pytest.approx(0.4)


def test_efficiency_model_recovers_its_coefficients():
    rng = np.random.default_rng(3)
    p = rng.uniform(1, 500, 40)
    f = rng.choice([125.0, 312.0, 989.4], 40)
    coef = np.array([1.0, 0.02, -0.3])
    m = coef[0] + coef[1] * np.log10(p) + coef[2] * np.log10(f)
    np.testing.assert_allclose(fit_mfu(p, f, m), coef, atol=1e-9)
    np.testing.assert_allclose(leave_one_out(p, f, m), m, atol=1e-9)
    assert predict_mfu(coef, 7.0, 312.0) == pytest.approx(1.0 + 0.02 * np.log10(7) - 0.3 * np.log10(312))


# -- SCI, budgets, scheduling -------------------------------------------------------------------------
def test_sci_formula_and_units():
    # the GSF's worked form: 2 kWh (facility) at 400 g/kWh and 200 g embodied over 1,000 requests
    assert sci_g(operational_g(2.0, 1.0, 400.0), 200.0, 1000.0) == pytest.approx(1.0)
    assert sci_g(operational_g(2.0, 1.25, 400.0), 0.0, 1000.0) == pytest.approx(1.0)  # PUE in E
    assert units_per_request("1k-tokens", output_tokens=256) == pytest.approx(0.256)
    assert units_per_request("user", requests_per_user=40) == pytest.approx(1 / 40)
    # a day (86,400 s) of batches of 8 taking 2 s each serves 345,600 requests: one request is
    # 1/345,600 of the day
    assert units_per_request("day", latency_s=2.0, batch=8) == pytest.approx(1 / 345_600, rel=1e-12)
    assert units_per_request("day", latency_s=4.0, batch=8) == pytest.approx(2 / 345_600, rel=1e-12)
    with pytest.raises(ValueError):
        units_per_request("run")


def test_budget_tiers_at_their_thresholds():
    t = DEFAULT_THRESHOLDS["share"]
    assert classify([0.0, 0.049, 0.05, 0.24, 0.25, 0.99, 1.0, 3.0], t) == \
        ["low", "low", "medium", "medium", "high", "high", "critical", "critical"]
    # the seed's absolute tiers: < 10 kg low, < 100 medium, < 1000 high, else critical
    assert classify([9.9, 10, 999, 1000], DEFAULT_THRESHOLDS["kg"]) == ["low", "medium", "high", "critical"]
    cum, rem, fits = running_use([30, 50, 40], 100)
    assert cum.tolist() == [30, 80, 120] and fits.tolist() == [True, True, False] and rem[-1] == -20


def test_window_means_match_the_time_weighted_mean_and_best_choice():
    rng = np.random.default_rng(5)
    t = np.delete(np.arange(200) * 3600.0, [20, 21, 90])  # gaps are not filled
    c = rng.uniform(0, 600, t.size)
    starts = np.arange(0, 180) * 3600.0 + 900.0
    means, cov = window_means_g_per_kwh(t, c, starts, 6 * 3600.0)
    ref = [time_weighted_mean_g_per_kwh(t, c, a, a + 6 * 3600.0) for a in starts]
    np.testing.assert_allclose(means, ref, rtol=1e-10)
    assert cov.min() >= 4 / 6 - 1e-12
    r, k, v = best_choice(np.stack([means + 50, means]))
    assert r == 1 and v == pytest.approx(np.nanmin(means))


def test_repeat_last_day_wraps_the_same_hours():
    # 3 days hourly, each hour of the last day distinct: an hour past the end is that hour of the last day
    t = np.arange(72) * 3600.0
    c = np.arange(72, dtype=float)
    t2, c2 = repeat_last_day(t, c, until_s=t[-1] + 30 * 3600.0)
    assert t2.size == 72 + 48 and np.all(np.diff(t2) == 3600.0)  # two whole days appended, no overlap
    assert c2[72] == c[48] and c2[72 + 23] == c[71] and c2[72 + 24] == c[48]
    same, _ = repeat_last_day(t, c, until_s=t[-1] + 3600.0)  # already covered: unchanged
    assert same.size == 72
    with pytest.raises(ValueError, match="less than a day"):
        repeat_last_day(t[:10], c[:10], until_s=1e9)
