r"""The energy a fleet saves by refreshing its GPUs, over a horizon (layer 1).

A GPU bought at year :math:`t` is assumed to need :math:`2^{-t/T_2}` of the energy per unit of
work of one bought at year 0 (energy efficiency doubles every :math:`T_2` years; the seed paper,
Li, Graif, Gupta, HotCarbon'24, Sec. 5.4 and Fig. 12: FLOPS per watt doubles about every 3-4
years, after Desislavov et al. 2023 and Sun et al. 2019). Replaced every :math:`L` years, the
GPUs in service during :math:`[kL, (k+1)L)` are generation :math:`k`, so over a horizon :math:`H`
the mean factor is

.. math::

    f(H, L, T_2) = \frac{1}{H} \sum_{k=0}^{\lceil H/L \rceil - 1}
                   \min(L,\ H - kL)\ 2^{-kL/T_2}

:math:`f = 1` when :math:`L \ge H` (no refresh within the horizon). Embodied carbon is charged
per purchase and amortised straight-line (:func:`carbonsim.models.lifecycle.amortisation.period_embodied_kg`:
:math:`E\,H/L` over the horizon, the remaining life of the last purchase credited), so a shorter
lifetime trades more embodied carbon for less energy: the Recycle choice of a plan.
"""

from __future__ import annotations

import numpy as np


def refreshed_energy_factor(horizon_yr: float, lifetime_yr: float, doubling_yr: float | None) -> float:
    r"""Mean GPU energy per unit of work over the horizon, relative to the first generation.

    Parameters
    ----------
    horizon_yr : float
        :math:`H` [yr], > 0.
    lifetime_yr : float
        :math:`L`, years between GPU refreshes, > 0.
    doubling_yr : float or None
        :math:`T_2` [yr]; None: no gain (factor 1).

    Returns
    -------
    float
        :math:`f \in (0, 1]`; e.g. :math:`H = 6, L = 3, T_2 = 3`: (3 + 3/2)/6 = 0.75.
    """
    if doubling_yr is None or lifetime_yr >= horizon_yr:
        return 1.0
    k = np.arange(int(np.ceil(horizon_yr / lifetime_yr - 1e-12)))
    span = np.minimum(lifetime_yr, horizon_yr - k * lifetime_yr)
    return float(np.sum(span * 2.0 ** (-k * lifetime_yr / doubling_yr)) / horizon_yr)
