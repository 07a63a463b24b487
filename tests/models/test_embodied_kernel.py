"""The Numba kernel against the readable reference implementation (same equations)."""

import numpy as np
import pytest

from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.embodied.layout import N_COMPONENTS, N_PARAMS, P, PARAM_NAMES
from carbonsim.models.embodied.server import server_components_reference


def random_params(n, seed):
    """Seeded random servers covering every branch (die model on/off, refs present/absent)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 2000.0, size=(N_PARAMS, n))
    p[P["fab_yield"]] = rng.uniform(0.3, 1.0, n)
    p[P["memory_storage_yield"]] = rng.uniform(0.3, 1.0, n)
    p[P["packaging_kg_per_ic"]] = rng.uniform(0, 0.3, n)
    for flag in ("gpu_soc_use_die_model", "cpu_use_die_model"):
        p[P[flag]] = rng.integers(0, 2, n)
    for ref in ("gpu_pdn_ref_w", "gpu_cool_ref_w"):  # some parts have no reference (not modelled)
        p[P[ref]] = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(50, 1500, n))
    p[P["host_share"]] = rng.uniform(0, 1, n)
    p[P["gpu_margin"]] = rng.uniform(1.0, 1.2, n)
    for name in PARAM_NAMES:
        if name.endswith("_count") or name.endswith("_n_ic"):
            p[P[name]] = rng.integers(0, 16, n)
    # year-dependent rows (server-lca): years and rates in a physical range, so that the
    # exponentials stay finite; some servers without a trend, ceiling or unitemised term
    p[P["server_year"]] = rng.integers(1990, 2040, n)
    for ref in ("ssd_trend_ref_year", "unitemised_ref_year"):
        p[P[ref]] = rng.integers(2000, 2030, n)
    for rate in ("ssd_trend_decline_per_yr", "unitemised_decline_per_yr"):
        p[P[rate]] = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(-0.1, 0.5, n))
    p[P["ssd_kg_per_gb"]] = rng.uniform(0.0, 0.3, n)
    p[P["ssd_floor_kg_per_gb"]] = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 0.02, n))
    p[P["ssd_ceiling_kg_per_gb"]] = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.02, 0.2, n))
    p[P["unitemised_ref_kg"]] = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 2000.0, n))
    # die areas of real dies (up to 20 cm2) with and without Murphy's defect density
    for k in ("gpu_die1", "gpu_die2", "cpu_die1", "cpu_die2"):
        p[P[f"{k}_area_cm2"]] = rng.uniform(0.0, 20.0, n)
    p[P["fab_defect_density_per_cm2"]] = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 0.5, n))
    return p


def test_random_servers_reach_every_branch_of_the_new_rows():
    # the SSD trend hits its floor, its ceiling and neither; some servers have no ceiling
    from carbonsim.models.embodied.storage import flash_kg_per_gb

    p = random_params(5000, 0)
    k = flash_kg_per_gb(p[P["ssd_kg_per_gb"]], p[P["server_year"]], p[P["ssd_trend_ref_year"]],
                        p[P["ssd_trend_decline_per_yr"]], p[P["ssd_floor_kg_per_gb"]], p[P["ssd_ceiling_kg_per_gb"]])
    floor, ceil = p[P["ssd_floor_kg_per_gb"]], p[P["ssd_ceiling_kg_per_gb"]]
    assert ((k == floor) & (floor > 0)).sum() > 100
    assert ((k == ceil) & (ceil > 0)).sum() > 100
    assert ((k > floor) & ((ceil == 0) | (k < ceil))).sum() > 100
    assert (ceil == 0).sum() > 100 and (p[P["unitemised_ref_kg"]] == 0).sum() > 100


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_matches_reference(seed):
    params = random_params(5000, seed)
    ref = server_components_reference(params)
    fast = server_components(params)
    # both evaluate the same float64 expressions; only association order may differ
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-9)


def test_kernel_reuses_output_buffer():
    params = random_params(10, 3)
    out = np.full((N_COMPONENTS, 10), np.nan)
    res = server_components(params, out=out)
    assert res is out and np.isfinite(out).all()
