r"""Drives: a per-drive part and flash carbon per GB that falls as NAND bit density rises.

The capacity term of an SSD or HDD (:func:`carbonsim.models.embodied.memory.capacity_kg`) is
completed here by two terms published LCAs need:

* a **per-drive** part: casing, controller, board and connectors of one drive, whatever its
  capacity (Boavizta's component model: 6.34 kg per SSD, 31.11 kg per HDD [2]_);
* a **year-dependent** flash kg/GB: an LCA's value for the NAND of its year, carried to another
  year at the rate NAND bit density grows. The assumption behind it: the carbon of a processed
  wafer changes far more slowly than the bits a wafer holds, so kg/GB falls as GB/cm² rises.
  The result is kept between published bounds (a floor and a ceiling), so years far from the
  anchor stay inside the range of published per-GB values.

References
----------
.. [1] Dell Technologies / thinkstep, "Life Cycle Assessment of Dell R740", 2019: eight 3.84 TB
   SSDs, 3,379 kg (the anchor of the ``server-lca`` set).
.. [2] Boavizta, boaviztapi 2.5.0, ``data/factors.yml`` (per-drive SSD and HDD impacts) and
   ``data/crowdsourcing/ssd_manufacture.csv`` (NAND density by generation and year, citing
   TechInsights and Flash Memory Summit 2019).
.. [3] U. Gupta et al., ACT, ISCA 2022 (lowest NAND value of its table, ``nand_tlc_1z``).
.. [4] S. Tannu, P. J. Nair, "The Dirty Secret of SSDs: Embodied Carbon", HotCarbon 2022.
"""

from __future__ import annotations

import numpy as np


def flash_kg_per_gb(kg_per_gb_ref, year, ref_year, decline_per_yr, floor_kg_per_gb=0.0,
                    ceiling_kg_per_gb=0.0):
    r"""Flash carbon per GB in a given year, from a reference year's value.

    .. math::

        k(y) = \min\big(\max(k_{ref}\, e^{-g\,(y - y_{ref})},\ k_{floor}),\ k_{ceil}\big)

    with the ceiling applied only where :math:`k_{ceil} > 0` (0 means "no ceiling"). With
    ``decline_per_yr`` 0, ``floor`` 0 and no ceiling, :math:`k(y) = k_{ref}` exactly, so a
    coefficient set without a trend keeps its constant kg/GB.

    Parameters
    ----------
    kg_per_gb_ref : numeric
        kg/GB in ``ref_year`` (0.108342 in ``server-lca``: the R740 LCA's SSDs without their
        per-drive part [1]_).
    year : numeric
        Year the drives were made.
    ref_year : numeric
        Year of ``kg_per_gb_ref`` (2019, the LCA's).
    decline_per_yr : numeric
        Yearly rate at which kg/GB falls [1/yr]; in ``server-lca`` the growth rate of NAND bit
        density, 0.2834 /yr (:func:`density_growth_per_yr` on Boavizta's table [2]_).
    floor_kg_per_gb, ceiling_kg_per_gb : numeric
        Bounds [kg/GB]; ``server-lca`` uses ACT's lowest NAND value, 0.0056 [3]_, and the
        highest published per-GB value, 0.16 [4]_.

    Returns
    -------
    numeric
        [kg/GB]

    Examples
    --------
    ``server-lca`` in 2021: 0.108342 × e^(−0.2834 × 2) = 0.0615 kg/GB.

    >>> round(float(flash_kg_per_gb(0.108342, 2021, 2019, 0.2834, 0.0056, 0.16)), 4)
    0.0615
    """
    k = np.maximum(kg_per_gb_ref * np.exp(-decline_per_yr * (year - ref_year)), floor_kg_per_gb)
    return np.where(ceiling_kg_per_gb > 0, np.minimum(k, ceiling_kg_per_gb), k)


def per_drive_kg(count, kg_per_drive):
    r"""The per-drive part of a set of drives: :math:`E = n \cdot e_{drive}`.

    Parameters
    ----------
    count : numeric
        Number of drives.
    kg_per_drive : numeric
        Carbon of one drive's casing, controller and board [kg] (Boavizta: 6.34 per SSD, 31.11
        per HDD [2]_).

    Returns
    -------
    numeric
        [kg]
    """
    return count * kg_per_drive


def density_growth_per_yr(year, density):
    r"""Yearly growth rate of a density, least squares of its logarithm on the year.

    .. math:: \hat g = \arg\min_{a, g} \sum_i (\ln d_i - a - g\, y_i)^2

    Applied to the dated rows of Boavizta's NAND table [2]_ it gives 0.2834 /yr (bits per area
    ×1.33 a year), the ``decline_per_yr`` of ``server-lca``'s SSD trend.

    Parameters
    ----------
    year : array_like
        Year of each density value.
    density : array_like
        Density in any unit (only the slope is used); > 0.

    Returns
    -------
    float
        :math:`\hat g` [1/yr].
    """
    y = np.asarray(year, dtype=float)
    X = np.column_stack([np.ones_like(y), y - y.mean()])
    coef = np.linalg.lstsq(X, np.log(np.asarray(density, dtype=float)), rcond=None)[0]
    return float(coef[1])
