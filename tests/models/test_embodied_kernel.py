"""The Numba kernel against the readable reference implementation (same equations)."""

import numpy as np
import pytest

from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.embodied.layout import N_PARAMS, P, PARAM_NAMES
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
    return p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_matches_reference(seed):
    params = random_params(5000, seed)
    ref = server_components_reference(params)
    fast = server_components(params)
    # both evaluate the same float64 expressions; only association order may differ
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-9)


def test_kernel_reuses_output_buffer():
    params = random_params(10, 3)
    out = np.full((16, 10), np.nan)
    res = server_components(params, out=out)
    assert res is out and np.isfinite(out).all()
