r"""Embodied carbon spread over time, totals over a period of use, and the break-even grid.

A part that emits :math:`E` kg CO2e in manufacturing and serves for :math:`LT` years is
charged :math:`E \cdot T / LT` for :math:`T` of use (ACT, Gupta et al. ISCA 2022, Eq. 1; the
seed paper, Li, Graif, Gupta HotCarbon'24, Sec. 3.2, lifetimes 3-5 years). GPUs and the host
may have different lifetimes (seed Sec. 5.4), so every function takes them separately.
Years are 365 days (:data:`carbonsim.units.SECONDS_PER_YEAR`).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.grid.carbon import facility_energy_kwh
from carbonsim.units import HOURS_PER_YEAR, KG_TO_MG, SECONDS_PER_YEAR


def amortised_kg(embodied_kg, used_s, lifetime_yr):
    r"""Share of a part's embodied carbon attributed to ``used_s`` seconds of use.

    .. math:: E_{used} = E \cdot \frac{T}{LT}

    Parameters
    ----------
    embodied_kg : array_like
        Embodied carbon of the part [kg].
    used_s : array_like
        Time used [s].
    lifetime_yr : array_like
        Lifetime the carbon is spread over [yr].

    Returns
    -------
    ndarray or float
        [kg]

    References
    ----------
    ACT Eq. 1 ``(T / LT) * E``; the seed paper Sec. 3.2.

    Notes
    -----
    The one place carbonsim writes this amortisation; plain arithmetic, so Numba compiles this
    same function where a kernel needs it (:mod:`carbonsim.models.lifecycle._kernels`, held to
    its NumPy reference by a parity test).
    """
    return embodied_kg * used_s / (lifetime_yr * SECONDS_PER_YEAR)


def embodied_rate_mg_per_s(embodied_kg, lifetime_yr):
    r"""Embodied carbon per second of life, :math:`r = E / LT` [mg/s].

    The seed's Fig. 2: (811.4 + 448) kg over 4 years = 9.98 mg/s.

    Parameters
    ----------
    embodied_kg : array_like
        [kg]
    lifetime_yr : array_like
        [yr]

    Returns
    -------
    ndarray or float
        [mg/s]
    """
    return amortised_kg(embodied_kg, 1.0, lifetime_yr) * KG_TO_MG


def period_embodied_kg(host_kg, gpu_kg, host_lifetime_yr, gpu_lifetime_yr, years):
    r"""Embodied carbon charged to ``years`` of use, host and GPUs amortised separately.

    .. math:: E' = E_{host} \frac{Y}{LT_{host}} + E_{GPU} \frac{Y}{LT_{GPU}}

    Parameters
    ----------
    host_kg, gpu_kg : array_like
        Embodied carbon [kg].
    host_lifetime_yr, gpu_lifetime_yr : array_like
        Lifetimes [yr].
    years : array_like
        Period of use [yr].

    Returns
    -------
    ndarray or float
        [kg]
    """
    used_s = years * SECONDS_PER_YEAR
    return amortised_kg(host_kg, used_s, host_lifetime_yr) + amortised_kg(gpu_kg, used_s, gpu_lifetime_yr)


def period_energy_kwh(power_w, years):
    r"""Energy of a constant draw over ``years``: :math:`P \cdot 8760\,h \cdot Y / 1000` [kWh].

    Parameters
    ----------
    power_w : array_like
        IT power [W].
    years : array_like
        [yr]
    """
    return power_w * HOURS_PER_YEAR * years / 1000.0


def break_even_ci_g_per_kwh(embodied_a_kg, energy_a_kwh, embodied_b_kg, energy_b_kwh, pue):
    r"""Grid intensity at which two options emit the same over a period [g/kWh].

    With amortised embodied carbon :math:`E'` and IT energy :math:`W` over the period,
    option B's total equals option A's when

    .. math:: CI^* = \frac{E'_B - E'_A}{(W_A - W_B) \cdot PUE}

    Below :math:`CI^*` the option with less embodied carbon wins, above it the one that uses
    less energy. There is no break-even (``nan``) when the energies are equal or when
    :math:`CI^*` is not positive (one option is better on every grid).

    Parameters
    ----------
    embodied_a_kg, embodied_b_kg : array_like
        Amortised embodied carbon over the period [kg].
    energy_a_kwh, energy_b_kwh : array_like
        IT energy over the period [kWh].
    pue : array_like
        Power usage effectiveness.

    Returns
    -------
    ndarray or float
        [g/kWh]; ``nan`` where there is none.
    """
    d_kwh = facility_energy_kwh(np.asarray(energy_a_kwh, float) - energy_b_kwh, pue)
    with np.errstate(divide="ignore", invalid="ignore"):
        ci = (np.asarray(embodied_b_kg, float) - embodied_a_kg) * 1000.0 / d_kwh
    ci = np.where((np.abs(d_kwh) > 1e-12) & (ci > 0), ci, np.nan)
    return float(ci) if np.ndim(ci) == 0 else ci


def resource_share(used, available):
    r"""The share of a machine a tenant holds: what it was given over what the machine has.

    .. math:: s = \min\!\left(1, \frac{u}{U}\right)

    A virtual machine or container with :math:`u` of the host's :math:`U` vCPUs (or GB of
    memory) is charged that share of the parts those resources stand for, the allocation
    Boavizta's cloud-instance model and Cloud Carbon Footprint apply to embodied emissions
    (CCF: embodied x vCPUs of the instance / vCPUs of the host). A tenant never holds more than
    the whole machine.

    Parameters
    ----------
    used : array_like
        Resources of the tenant (vCPUs, GB) [count or GB].
    available : array_like
        The same resource of the whole machine (> 0).

    Returns
    -------
    ndarray or float
        Share in [0, 1].
    """
    return np.minimum(1.0, np.asarray(used, dtype=float) / np.asarray(available, dtype=float))
