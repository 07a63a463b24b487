"""Monte-Carlo draws of ranged inputs (layer 2).

Every number with a ``low``/``high`` range is drawn independently from a triangular
distribution with its mode at the point value (a common choice for expert ranges in LCA when
only min / most likely / max are known). Draws are seeded, so results repeat.
"""

from __future__ import annotations

import numpy as np

#: Percentiles reported beside point estimates.
PERCENTILES = (5.0, 50.0, 95.0)


def triangular(value, low, high, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from Triangular(low, mode=value, high); a degenerate range returns ``value``."""
    if high <= low:
        return np.full(n, float(value))
    return rng.triangular(low, value, high, size=n)


def sample_matrix(value: np.ndarray, low: np.ndarray, high: np.ndarray, n: int,
                  seed: int | None = 0) -> np.ndarray:
    """A (len(value), n) matrix: ranged rows drawn, the others repeated.

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
        out[i] = triangular(value[i], low[i], high[i], n, rng)
    return out


def percentiles(samples: np.ndarray) -> dict[str, float]:
    """p5/p50/p95 of a 1-D sample as ``{"p5": .., "p50": .., "p95": ..}``."""
    vals = np.percentile(samples, PERCENTILES)
    return {f"p{int(p)}": float(v) for p, v in zip(PERCENTILES, vals)}
