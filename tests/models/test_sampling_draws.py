"""The draws of ranged inputs (models/uncertainty.py): the split triangular distribution, whose
median is the input's value (issue 15 §6: the point estimate inside its own interval)."""

import numpy as np
import pytest

from carbonsim.models.uncertainty import sample_matrix, split_triangular, split_triangular_ppf, uniforms


def test_the_value_is_the_median_and_the_range_bounds_the_draws():
    # the skewed DRAM range of the ecoserve set: 0.074-1.39 kg/GB around 0.29
    x = split_triangular(0.29, 0.074, 1.39, 200_000, np.random.default_rng(1))
    assert np.median(x) == pytest.approx(0.29, rel=5e-3)  # sampling error of a median of 2e5 draws
    assert x.min() >= 0.074 and x.max() <= 1.39
    # each half is a triangle with its mode at the value: half its draws within (1 - 1/sqrt(2)) of it
    below = x[x < 0.29]
    assert np.mean(below > 0.29 - (0.29 - 0.074) * (1 - 2 ** -0.5)) == pytest.approx(0.5, abs=0.01)


def test_quantiles_are_exact_at_their_definition():
    v, lo, hi = 2.0, 1.0, 10.0
    u = np.array([0.0, 0.125, 0.5, 0.875, 1.0])
    # F^-1(u) = l + (v - l) sqrt(2u) below 1/2, h - (h - v) sqrt(2 - 2u) above
    np.testing.assert_allclose(split_triangular_ppf(u, v, lo, hi), [1.0, 1.5, 2.0, 6.0, 10.0], rtol=1e-15)


def test_a_side_without_range_gives_the_value():
    x = split_triangular_ppf(np.linspace(0, 1, 11), 0.36, 0.36, 0.62)  # GDDR6: no lower range
    assert (x[:5] == 0.36).all() and (x[5:] >= 0.36).all() and x[-1] == pytest.approx(0.62)


def test_sample_matrix_draws_only_ranged_rows_and_repeats():
    value, low, high = np.array([1.0, 5.0]), np.array([1.0, 2.0]), np.array([1.0, 9.0])
    a, b = sample_matrix(value, low, high, 1000, seed=3), sample_matrix(value, low, high, 1000, seed=3)
    assert (a[0] == 1.0).all() and np.array_equal(a, b) and np.median(a[1]) == pytest.approx(5.0, abs=0.3)
    assert uniforms(3, 4, seed=7).shape == (3, 4) and np.array_equal(uniforms(3, 4, 7), uniforms(3, 4, 7))
