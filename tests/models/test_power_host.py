"""Host power forms (carbonsim.models.power.host) and the spec-based prior (carbonsim.models.power.prior)."""


import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonsim.models.power.host import (
    boavizta_log_constants, evaluate_form, linear_power_w, log_power_w, power_law_power_w,
)
from carbonsim.models.power.prior import (
    LOAD_LEVELS, abs_pct_error, boavizta_server_power_w, codecarbon_constant_power_w,
    codecarbon_ram_power_w, cross_validated_prior_power_w, design_matrix, fit_host_prior, host_prior_power_w,
)
from carbonsim.engine.inputs.power import host_prior, prior_curve
from carbonsim.validation import DATA as VALIDATION_DATA

DATA = VALIDATION_DATA / "specpower_sample.csv"
LEVELS = ["p_idle_w"] + [f"p{i}_w" for i in range(10, 101, 10)]


def test_forms_hit_idle_and_max_and_broadcast():
    u = np.array([0.0, 1.0])
    for p in (linear_power_w(u, 100, 300), power_law_power_w(u, 100, 300, 0.7), log_power_w(u, 100, 300, 0.2)):
        np.testing.assert_allclose(p, [100, 300])
    assert linear_power_w(np.zeros((3, 4)), 50, 80).shape == (3, 4)
    # memory term and constant add linearly
    assert float(linear_power_w(0.5, 100, 300, mem_util=0.5, mem_w=20, const_w=7)) == pytest.approx(217)


def test_log_form_equals_boavizta_four_constant_form():
    idle, mx, c = 90.0, 410.0, 0.15
    a, b, cc, d = boavizta_log_constants(idle, mx, c, load_in_percent=True)
    x = np.linspace(0, 100, 21)
    np.testing.assert_allclose(a * np.log(b * (x + cc)) + d, log_power_w(x / 100, idle, mx, c), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(k=st.floats(0.2, 3.0), c=st.floats(0.01, 50.0), u1=st.floats(0, 1), u2=st.floats(0, 1))
def test_forms_monotone_in_utilisation(k, c, u1, u2):
    lo, hi = sorted((u1, u2))
    for form, const in (("linear", {}), ("power", {"exponent": k}), ("log", {"curvature": c})):
        cst = {"idle_w": 80.0, "max_w": 250.0, **const}
        assert evaluate_form(form, lo, cst) <= evaluate_form(form, hi, cst) + 1e-9


def test_codecarbon_ram_heuristic_matches_research_note():
    # CodeCarbon v3.3.2 RAM heuristic (mlco2/codecarbon PR #804): 128 GB -> 38 W, 220 GB -> 62 W,
    # 256 GB -> 38 W, 2 TB -> 70 W (the non-monotone quirk), 23.5 GB -> 20 W (4 DIMMs)
    np.testing.assert_allclose(codecarbon_ram_power_w(np.array([128, 220, 256, 2048, 23.5])), [38, 62, 38, 70, 20])


def test_boavizta_curve_points():
    # one 100 W socket, 16 GB: at 50 % load CPU 75 W, RAM (3 + 0.88) * 0.85 W, x 1.33
    p = boavizta_server_power_w(np.array([0.5]), np.array([100.0]), np.array([1.0]), np.array([16.0]))
    assert float(p[0]) == pytest.approx(1.33 * (75 + 3.88 * 0.85))


@pytest.fixture(scope="module")
def sample():
    df = pd.read_csv(DATA)
    return df[df.cpu_tdp_w.notna()].reset_index(drop=True)


def _median_errors(sample):
    P = sample[LEVELS].to_numpy(float)
    u = np.broadcast_to(LOAD_LEVELS, P.shape)
    spec = dict(cpu_tdp_w=sample.cpu_tdp_w.to_numpy(float), sockets=sample.sockets.to_numpy(float),
                memory_gb=sample.memory_gb.to_numpy(float))
    X = design_matrix(spec["cpu_tdp_w"], spec["sockets"], sample.cores_total, spec["memory_gb"], sample.year)
    Xn = design_matrix(spec["cpu_tdp_w"], spec["sockets"], sample.cores_total, spec["memory_gb"])
    preds = {
        "prior": cross_validated_prior_power_w(X, P, 5, 0),
        "prior_no_year": cross_validated_prior_power_w(Xn, P, 5, 0),
        "boavizta": boavizta_server_power_w(u, dimm_gb=16.0, **spec),
        "codecarbon": codecarbon_constant_power_w(u, **spec),
    }
    return {k: np.median(abs_pct_error(v, P), axis=0) for k, v in preds.items()}


def test_prior_beats_boavizta_and_codecarbon_out_of_sample(sample):
    med = _median_errors(sample)
    # Out-of-sample (5-fold CV) median error at every load level must be below both baselines.
    # Margin: at least 5 percentage points at every level, so the claim does not rest on noise
    # between folds (the fold-to-fold spread of the median is ~2-3 points on 40-row folds).
    for base in ("boavizta", "codecarbon"):
        assert np.all(med["prior"] + 5.0 < med[base]), (base, med["prior"], med[base])
        # the variant without year is worse but still beats both at every level
        assert np.all(med["prior_no_year"] < med[base]), (base, med["prior_no_year"], med[base])
    # pooled over levels, the prior halves the error of either baseline (12 % vs ~40 % when written)
    assert np.median(med["prior"]) < 0.5 * min(np.median(med["boavizta"]), np.median(med["codecarbon"]))


def test_shipped_prior_is_reproducible_from_tests_data(sample, db):
    P = sample[LEVELS].to_numpy(float)
    X = design_matrix(sample.cpu_tdp_w, sample.sockets, sample.cores_total, sample.memory_gb, sample.year)
    refit = fit_host_prior(X, P)
    shipped, meta = host_prior(db, with_year=True)
    # YAML stores 6 significant digits
    np.testing.assert_allclose(shipped.idle_coef, refit.idle_coef, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shipped.max_coef, refit.max_coef, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shipped.shape_fraction, refit.shape_fraction, atol=1e-4)
    assert meta["source"] == "specpower-sample" and meta["rows"] == len(sample)


def test_prior_function_and_spec_wrapper(db):
    prior, _ = host_prior(db, with_year=True)
    u = np.linspace(0, 1, 11)
    p = host_prior_power_w(u, 205.0, 2, 64, 512, prior, year=2021)
    assert np.all(np.diff(p) >= 0) and 80 < p[0] < p[-1] < 1000
    with pytest.raises(ValueError):
        host_prior_power_w(0.5, 205.0, 2, 64, 512, prior)
    c1 = prior_curve(db, 205.0, 2, 64, 512, year=2021, ssd_count=1)
    c4 = prior_curve(db, 205.0, 2, 64, 512, year=2021, ssd_count=4)
    assert c4.power_w(0.5) == pytest.approx(c1.power_w(0.5) + 3 * 6.0) and "prior" in c1.origin
    # the curve is the prior function itself (tabulated shape, interpolated at any utilisation)
    np.testing.assert_allclose(c1.power_w(u), p, rtol=1e-12)
