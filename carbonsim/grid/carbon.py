"""Operational carbon from energy, PUE and grid carbon intensity.

References
----------
.. [1] U. Gupta et al., ACT, ISCA 2022, Eq. 2: ``OP_CF = CI_use x Energy``.
.. [2] Y. Li, O. Graif, U. Gupta, HotCarbon 2024, Fig. 2 (A100x4 at 1100 W: coal 250.56 mg/s).
"""

from __future__ import annotations

from carbonsim.units import J_PER_KWH


def operational_g(energy_kwh, pue, ci_g_per_kwh):
    r"""Operational carbon of IT energy in a datacenter.

    .. math:: C_{op} = E_{IT} \cdot PUE \cdot CI

    Parameters
    ----------
    energy_kwh : numeric
        IT energy [kWh].
    pue : numeric
        Power usage effectiveness (facility / IT energy), >= 1.
    ci_g_per_kwh : numeric
        Grid carbon intensity [g/kWh].

    Returns
    -------
    numeric
        [g]
    """
    return energy_kwh * pue * ci_g_per_kwh


def operational_rate_mg_per_s(power_w, pue, ci_g_per_kwh):
    r"""Operational carbon per second at a constant IT power.

    .. math:: r = P \cdot PUE \cdot CI / 3.6 \quad [mg/s]

    (1 W for 1 s is 1/3.6e6 kWh; g -> mg is 1e3.)

    Parameters
    ----------
    power_w : numeric
        IT power [W].
    pue : numeric
        Power usage effectiveness.
    ci_g_per_kwh : numeric
        [g/kWh]

    Returns
    -------
    numeric
        [mg/s]. Seed Fig. 2: 1100 W, PUE 1, coal 820 g/kWh -> 250.56 mg/s.
    """
    return operational_g(power_w / J_PER_KWH, pue, ci_g_per_kwh) * 1e3


def mix_intensity_g_per_kwh(shares, intensities_g_per_kwh):
    r"""Intensity of a mix of sources: :math:`CI = \sum_i w_i CI_i / \sum_i w_i`.

    Parameters
    ----------
    shares : sequence of float
        Shares of each source (normalised here; must not all be 0).
    intensities_g_per_kwh : sequence of float
        Lifecycle intensity of each source [g/kWh].

    Returns
    -------
    float
        [g/kWh]
    """
    total = float(sum(shares))
    return sum(w * ci for w, ci in zip(shares, intensities_g_per_kwh)) / total
