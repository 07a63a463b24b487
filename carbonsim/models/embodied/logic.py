"""Logic dies: ACT's carbon-per-area model.

References
----------
.. [1] U. Gupta et al., "ACT: Designing Sustainable Computer Systems with an Architectural
   Carbon Modeling Tool", ISCA 2022, Sec. 3 (Eq. 4-5); data tables in
   github.com/facebookresearch/ACT.
"""

from __future__ import annotations

import numpy as np

#: Abatement levels ACT tabulates gas emissions for [%].
ABATEMENT_LOW_PCT = 95.0
ABATEMENT_HIGH_PCT = 99.0


def gas_per_area_g_per_cm2(gpa95_g_per_cm2, gpa99_g_per_cm2, abatement_pct):
    r"""Direct fab-gas emissions per wafer area at a given abatement level.

    ACT tabulates GPA at 95 % and 99 % abatement and uses their mean for "97 %"; carbonsim
    interpolates linearly between the two tables, which gives exactly that mean at 97 %.

    .. math:: GPA(a) = GPA_{95} + (GPA_{99} - GPA_{95}) \frac{a - 95}{99 - 95}

    Parameters
    ----------
    gpa95_g_per_cm2, gpa99_g_per_cm2 : numeric
        Gas emissions at 95 % and 99 % abatement [g/cm²].
    abatement_pct : numeric
        Abatement level, 95..99 [%].

    Returns
    -------
    numeric
        GPA [g/cm²].
    """
    w = (abatement_pct - ABATEMENT_LOW_PCT) / (ABATEMENT_HIGH_PCT - ABATEMENT_LOW_PCT)
    return gpa95_g_per_cm2 + (gpa99_g_per_cm2 - gpa95_g_per_cm2) * w


def carbon_per_area_kg_per_cm2(fab_ci_g_per_kwh, epa_kwh_per_cm2, gpa_g_per_cm2,
                               mpa_g_per_cm2, fab_yield):
    r"""Embodied carbon per die area (ACT's CPA).

    .. math:: CPA = \frac{CI_{fab} \cdot EPA + GPA + MPA}{Y}

    Parameters
    ----------
    fab_ci_g_per_kwh : numeric
        Carbon intensity of the fab's electricity [g/kWh].
    epa_kwh_per_cm2 : numeric
        Fab energy per area [kWh/cm²].
    gpa_g_per_cm2 : numeric
        Direct gas emissions per area after abatement [g/cm²].
    mpa_g_per_cm2 : numeric
        Raw-material emissions per area [g/cm²].
    fab_yield : numeric
        Fraction of good dies, 0..1.

    Returns
    -------
    numeric
        CPA [kg/cm²].

    References
    ----------
    ACT [1]_ Eq. 5. With Taiwan 583 g/kWh, 97 % abatement and Y = 0.875, 7nm gives
    2.318 kg/cm²; with coal (820 g/kWh) and 95 % abatement, 28nm gives 1.615 kg/cm².
    """
    return (fab_ci_g_per_kwh * epa_kwh_per_cm2 + gpa_g_per_cm2 + mpa_g_per_cm2) / fab_yield / 1000.0


def murphy_yield(area_cm2, defect_density_per_cm2):
    r"""Share of good dies of a given area, Murphy's model [2]_ (1 where the density is 0).

    .. math:: Y_M = \left(\frac{1 - e^{-A D_0}}{A D_0}\right)^2

    ACT [1]_ divides by one yield whatever the die's size; a large die loses more of its wafer
    to defects. carbonsim multiplies the coefficient set's yield by :math:`Y_M`, so
    :math:`D_0 = 0` (every set but ``server-lca``) leaves ACT's model unchanged.

    Parameters
    ----------
    area_cm2 : numeric
        Area of one die [cm²].
    defect_density_per_cm2 : numeric
        :math:`D_0` [1/cm²] (0.1 in the ADEME GPU model [3]_, as in SemiAnalysis' die-yield
        calculator).

    Returns
    -------
    numeric
        Fraction of good dies, 0..1.

    References
    ----------
    .. [2] B. T. Murphy, "Cost-size optima of monolithic integrated circuits", Proc. IEEE 52
       (1964) 1537–1545.
    .. [3] E. Lees-Perasso, D. Ekchajzer, G. Roussilhe, T. De Latour, *Analyses de cycle de vie
       de GPU pour l'intelligence artificielle*, ADEME 2026 (parametric model; Falk et al.,
       arXiv 2509.00093, 2025).

    Examples
    --------
    The 826 mm² A100 die at 0.1 defects per cm²:

    >>> round(float(murphy_yield(8.26, 0.1)), 4)
    0.4633
    """
    x = np.asarray(area_cm2, dtype=float) * np.asarray(defect_density_per_cm2, dtype=float)
    safe = np.where(x > 0, x, 1.0)
    return np.where(x > 0, (-np.expm1(-safe) / safe) ** 2, 1.0)


def die_kg(area_cm2, cpa_kg_per_cm2, count=1):
    r"""Embodied carbon of ``count`` dies of one kind: :math:`E = n \cdot A \cdot CPA`.

    Parameters
    ----------
    area_cm2 : numeric
        Area of one die [cm²].
    cpa_kg_per_cm2 : numeric
        Carbon per area from :func:`carbon_per_area_kg_per_cm2` [kg/cm²].
    count : numeric
        Number of such dies.

    Returns
    -------
    numeric
        [kg]
    """
    return count * area_cm2 * cpa_kg_per_cm2


def packaging_kg(n_ic, kg_per_ic):
    r"""IC packaging: :math:`E = N_{IC} \cdot K` (ACT uses K = 0.15 kg per package [1]_).

    Parameters
    ----------
    n_ic : numeric
        Number of IC packages.
    kg_per_ic : numeric
        Embodied carbon of one package [kg].

    Returns
    -------
    numeric
        [kg]
    """
    return n_ic * kg_per_ic
