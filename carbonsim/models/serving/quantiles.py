r"""Percentiles in bounded memory: a log-spaced histogram with a bounded relative error (layer 1).

The serving simulator reports the 50th, 90th and 99th percentiles of TTFT, TPOT and latency. It
does not keep one value per request: each value goes into a fixed histogram whose bins grow
geometrically, so memory does not grow with the number of requests (a 10\ :sup:`7`-request run
holds the same :data:`N_BINS` counts as a 10-request one).

Method (the logarithmic mapping of DDSketch [1]_). With relative accuracy :math:`\alpha`
(:data:`ALPHA`) and :math:`\gamma = (1+\alpha)/(1-\alpha)`, a value :math:`x > 0` goes to bin
:math:`i = \lceil \log_\gamma x \rceil`, which holds :math:`(\gamma^{i-1}, \gamma^i]`; the bin's
value is

.. math:: \hat x_i = \frac{2\gamma^i}{\gamma + 1},

within :math:`\alpha` of every value in the bin: :math:`|\hat x_i - x| \le \alpha x`.

A percentile is NumPy's default ("linear") one, computed from the bins: for :math:`n` values
and :math:`q \in [0, 1]` the virtual index is :math:`v = (n-1)q`; with :math:`j = \lfloor v
\rfloor` and :math:`g = v - j` the exact percentile is :math:`x_{(j)} + g(x_{(j+1)} - x_{(j)})`
(:math:`x_{(j)}` the sorted values). The histogram gives each order statistic as the value of
the bin holding that rank, :math:`\hat x_{(j)}`, and interpolates the same way; the result is
clamped to the exact minimum and maximum (kept beside the counts).

**Bound.** Each :math:`\hat x_{(j)}` is within :math:`\alpha` of :math:`x_{(j)}`, and a convex
combination of positive values each within a relative :math:`\alpha` is within :math:`\alpha`
of the same combination of the exact values; clamping to :math:`[\min, \max]` (which holds the
exact percentile) moves it no further. So for values in :math:`[X_{min}, X_{max}]`
(:data:`X_MIN`, :data:`X_MAX`)

.. math:: |\hat p_q - p_q| \le \alpha\, p_q

up to floating-point rounding of :math:`\log` (about :math:`10^{-15}` relative);
``tests/models/test_serving_quantiles.py`` checks it against :func:`numpy.percentile` on random
samples. Values below :math:`X_{min}` or above :math:`X_{max}` share the end bins (no bound
there, but the clamp to the exact extremes still holds). One value, or all values equal, gives
the exact percentile.

The reference simulator and the compiled kernel both call :func:`bin_index`,
:func:`bin_value` and :func:`percentile_from_counts` (the kernel through Numba), so the two
agree bin for bin.

References
----------
.. [1] C. Masson, J. E. Rim, H. K. Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch
   with Relative-Error Guarantees", PVLDB 12(12), 2019, pp. 2195-2205 (the logarithmic
   mapping and its relative-error bound).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from carbonsim import kernel_cache

kernel_cache.install()  # stored kernels follow the carbonsim modules they import (docs/architecture.md)

#: Relative accuracy of every reported percentile (0.1 %).
ALPHA = 1e-3
GAMMA = (1.0 + ALPHA) / (1.0 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
#: Range with the bound [s]: a microsecond to about 30 years.
X_MIN = 1e-6
X_MAX = 1e9
K_MIN = int(math.ceil(math.log(X_MIN) / LOG_GAMMA))
K_MAX = int(math.ceil(math.log(X_MAX) / LOG_GAMMA))
#: Bins of one histogram (about 17,000: 138 kB of counts).
N_BINS = K_MAX - K_MIN + 1
_VALUE_SCALE = 2.0 / (GAMMA + 1.0)


@njit(cache=True)
def bin_index(x: float) -> int:
    """The bin of value ``x`` (:math:`\\lceil \\log_\\gamma x \\rceil`, offset to start at 0; the
    end bins take what lies outside :data:`X_MIN`, :data:`X_MAX`)."""
    if x <= X_MIN:
        return 0
    if x >= X_MAX:
        return N_BINS - 1
    return int(math.ceil(math.log(x) / LOG_GAMMA)) - K_MIN


@njit(cache=True)
def bin_value(i: int) -> float:
    """The value standing for bin ``i``: :math:`2\\gamma^k/(\\gamma+1)`, :math:`k = i + K_{min}`."""
    return math.exp((i + K_MIN) * LOG_GAMMA) * _VALUE_SCALE


@njit(cache=True)
def _lerp(a: float, b: float, g: float) -> float:
    """NumPy's linear interpolation between two order statistics (its exact form)."""
    d = b - a
    if g >= 0.5:
        return b - d * (1.0 - g)
    return a + d * g


@njit(cache=True)
def _rank_bin(counts, lo: int, rank: int) -> int:
    """The bin holding the value of rank ``rank`` (0-based, ascending), scanning from bin ``lo``."""
    seen = 0
    i = lo
    while True:
        seen += counts[i]
        if seen > rank:
            return i
        i += 1


@njit(cache=True)
def percentile_from_counts(counts, n: int, pct: float, lo: int, x_min: float, x_max: float) -> float:
    """NumPy's linear percentile ``pct`` (0-100) of ``n`` values held as bin ``counts``.

    Parameters
    ----------
    counts : ndarray of int, shape (N_BINS,)
        Values per bin; none below bin ``lo``.
    n : int
        Their number (> 0).
    pct : float
    lo : int
        The lowest bin with a value (where the scan starts).
    x_min, x_max : float
        The exact smallest and largest value (the result is clamped to them).
    """
    q = pct / 100.0
    vi = n * q + (1.0 + q * (1.0 - 1.0 - 1.0)) - 1.0   # NumPy's virtual index, its "linear" method
    j = int(math.floor(vi))
    g = vi - math.floor(vi)
    if j < 0:
        j = 0
    if j > n - 1:
        j = n - 1
    j1 = j + 1 if j + 1 <= n - 1 else n - 1
    a = bin_value(_rank_bin(counts, lo, j))
    b = bin_value(_rank_bin(counts, lo, j1))
    p = _lerp(a, b, g)
    if p < x_min:
        p = x_min
    if p > x_max:
        p = x_max
    return p


def sketch_percentiles(values, pcts) -> np.ndarray:
    """Percentiles ``pcts`` (0-100) of ``values`` through the histogram (what the simulators report).

    The readable form: bin every value, then read the percentiles off the counts.
    """
    values = np.asarray(values, dtype=float)
    counts = np.zeros(N_BINS, dtype=np.int64)
    for x in values:
        counts[bin_index(float(x))] += 1
    lo = bin_index(float(values.min()))
    return np.array([percentile_from_counts(counts, len(values), p, lo, float(values.min()), float(values.max()))
                     for p in pcts])
