r"""Monte-Carlo draws of ranged inputs (layer 1).

Every number with a ``low``/``high`` range is drawn independently from a **split triangular**
distribution: half of the draws fall on ``[low, value]`` and half on ``[value, high]``, each half
a triangle with its mode at ``value``. So ``value`` is the median of its draws, and ``low`` and
``high`` bound them. Published embodied ranges are strongly skewed (DRAM 0.074-1.39 kg/GB around
0.29, SSD 0.004-0.16 kg/GB around 0.010): a plain triangular distribution with its *mode* at the
value puts most of the draws above the value, and a server's point estimate (every input at its
value) then fell below its own 5th percentile (EcoServe's HGX H100 x8: point 1,907 kg, p5 2,232
kg). With the value as each input's median, as LCA databases take a deterministic value to be
the median of its distribution [1]_, the point sits inside the interval (test_uncertainty.py).

.. math::

    F^{-1}(u) = \begin{cases}
        l + (v - l)\sqrt{2u} & u < 1/2 \\
        h - (h - v)\sqrt{2 - 2u} & u \ge 1/2
    \end{cases}

Draws are seeded, so results repeat; the uniforms can be shared by many points (common random
numbers, so that points of a sweep are compared on the same draws).

References
----------
.. [1] B. P. Weidema et al., "Overview and methodology: Data quality guideline for the ecoinvent
   database version 3", ecoinvent report 1(v3), 2013, Sec. 10 (lognormal uncertainty whose
   geometric mean, the median, is the deterministic value).
"""

from __future__ import annotations

import numpy as np

#: Percentiles reported beside point estimates.
PERCENTILES = (5.0, 50.0, 95.0)


def split_triangular_ppf(u, value, low, high):
    """The split triangular distribution's quantile at ``u`` (0..1); arrays broadcast.

    A side with no range (``low == value`` or ``high == value``) gives ``value`` for its half.
    """
    u = np.asarray(u, dtype=float)
    left = low + (value - low) * np.sqrt(np.clip(2.0 * u, 0.0, 1.0))
    right = high - (high - value) * np.sqrt(np.clip(2.0 - 2.0 * u, 0.0, 1.0))
    return np.where(u < 0.5, left, right)


def uniforms(rows: int, n: int, seed=0) -> np.ndarray:
    """``(rows, n)`` uniform draws of NumPy's default generator seeded with ``seed``."""
    return np.random.default_rng(seed).random((rows, n))


def split_triangular(value, low, high, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws with median ``value`` over ``[low, high]`` (module docstring)."""
    return split_triangular_ppf(rng.random(n), float(value), float(low), float(high))


def sample_matrix(value: np.ndarray, low: np.ndarray, high: np.ndarray, n: int,
                  seed: int | None = 0) -> np.ndarray:
    """A (len(value), n) matrix: ranged rows drawn (:func:`split_triangular`), the others repeated.

    Parameters
    ----------
    value, low, high : ndarray, shape (k,)
    n : int
        Number of samples.
    seed : int or None
        Seed of NumPy's default generator.
    """
    rng = np.random.default_rng(seed)
    out = np.repeat(value[:, None].astype(float), n, axis=1)
    for i in np.flatnonzero((low != value) | (high != value)):
        out[i] = split_triangular(value[i], low[i], high[i], n, rng)
    return out


def percentiles(samples: np.ndarray) -> dict[str, float]:
    """p5/p50/p95 of a 1-D sample as ``{"p5": .., "p50": .., "p95": ..}``."""
    vals = np.percentile(samples, PERCENTILES)
    return {f"p{int(p)}": float(v) for p, v in zip(PERCENTILES, vals)}
