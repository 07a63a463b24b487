r"""Carbon budgets: a period's budget split between training and inference, and the tier of each
planned item (layer 1).

An item (a training run, an inference service, a sweep's chosen point) with footprint
:math:`c` is classified by its share :math:`s = c / B_{cat}` of its category's allocation
:math:`B_{cat} = B \cdot a_{cat}` (``by="share"``, the default), or by its footprint in kg
(``by="kg"``, the seed's tiers: < 10 kg low, < 100 kg medium, < 1000 kg high, else critical):

.. math::

    \text{tier} = \begin{cases} \text{low} & x < t_1 \\ \text{medium} & t_1 \le x < t_2 \\
    \text{high} & t_2 \le x < t_3 \\ \text{critical} & x \ge t_3 \end{cases}

Default share thresholds :math:`(t_1, t_2, t_3) = (0.05, 0.25, 1.0)`: an item taking under 5 %
of its allocation is low; a quarter or more is high; one that alone uses the whole allocation
is critical. Items are checked in the order given; an item fits while the running total of its
category stays within the allocation.

References
----------
.. [1] Seed 003 (MLOps carbon-efficiency chapter): annual budget split 70 % training / 30 %
   inference, runs classified low/medium/high/critical at 10/100/1000 kg.
"""

from __future__ import annotations

import numpy as np

TIERS = ("low", "medium", "high", "critical")
#: Thresholds by classification basis.
DEFAULT_THRESHOLDS = {"share": (0.05, 0.25, 1.0), "kg": (10.0, 100.0, 1000.0)}


def tier_index(value, thresholds):
    """Index into :data:`TIERS` of each value: how many thresholds it reaches."""
    t = np.asarray(thresholds, float)
    if t.shape != (3,) or np.any(np.diff(t) <= 0):
        raise ValueError("three increasing thresholds are needed")
    return np.searchsorted(t, np.asarray(value, float), side="right")


def classify(value, thresholds) -> list[str]:
    """The tier of each value (see the module docstring)."""
    return [TIERS[i] for i in np.atleast_1d(tier_index(value, thresholds))]


def running_use(footprints_kg, allocation_kg):
    """Running total of the items in order, what remains after each, and whether each fits.

    Returns
    -------
    cumulative_kg, remaining_kg, fits : ndarray
    """
    c = np.cumsum(np.asarray(footprints_kg, float))
    remaining = allocation_kg - c
    return c, remaining, remaining >= -1e-9 * max(abs(allocation_kg), 1.0)
