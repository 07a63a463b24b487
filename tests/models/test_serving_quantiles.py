"""Percentiles in bounded memory (carbonsim.models.serving.quantiles): the stated relative-error
bound against NumPy's exact percentiles (the simulator's percentiles against the exact ones of its
own requests: tests/models/test_serving_simulator.py)."""

import numpy as np

from carbonsim.models.serving.quantiles import ALPHA, N_BINS, X_MAX, X_MIN, sketch_percentiles

# Floating-point slack on the bound: log() near a bin edge can put a value one bin off, moving
# its estimate by a relative 1e-16 beyond ALPHA (quantiles.py docstring).
SLACK = 1e-9


def _samples(rng, i):
    n = int(rng.choice([1, 2, 3, 10, 101, 1000, 5000]))
    kind = i % 6
    if kind == 0:
        x = rng.lognormal(-1.0, 2.0, n)                   # heavy right tail over decades
    elif kind == 1:
        x = rng.exponential(0.05, n)                      # TPOT-like
    elif kind == 2:
        x = 1e-3 * (1.0 + rng.pareto(1.2, n))             # Pareto tail
    elif kind == 3:
        x = np.round(rng.exponential(1.0, n), 2) + 0.01   # many ties
    elif kind == 4:
        x = rng.uniform(1e-5, 1e7, n)                     # the whole range
    else:
        x = np.concatenate([rng.normal(0.2, 0.01, n), rng.normal(3.0, 0.1, n // 10 + 1)])   # two modes
    return np.clip(np.abs(x), X_MIN * 1.0001, X_MAX * 0.9999)


def test_percentiles_are_within_the_stated_relative_error_of_numpy():
    # The claim (quantiles.py): |estimate - np.percentile| <= ALPHA * np.percentile for values in
    # [X_MIN, X_MAX], any sample size, any percentile. 600 random samples of six shapes.
    rng = np.random.default_rng(2024)
    pcts = [0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]
    worst = 0.0
    for i in range(600):
        x = _samples(rng, i)
        q = pcts + [float(rng.uniform(0, 100))]
        exact = np.percentile(x, q)
        est = sketch_percentiles(x, q)
        err = np.abs(est - exact) / exact
        assert np.all(err <= ALPHA * (1 + SLACK)), (i, len(x), q, err.max())
        worst = max(worst, float(err.max()))
    # the bound is tight: a histogram of this resolution does use most of it
    assert worst > 0.5 * ALPHA


def test_one_value_or_equal_values_are_exact():
    for x in ([0.123], [7.0] * 50, [2.5e-3, 2.5e-3]):
        np.testing.assert_array_equal(sketch_percentiles(x, [50.0, 90.0, 99.0]), np.percentile(x, [50, 90, 99]))


def test_the_histogram_is_fixed_size():
    # memory does not grow with the number of values: one count per bin, about 17,000 bins
    assert 10_000 < N_BINS < 20_000

