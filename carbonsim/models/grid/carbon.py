"""Operational carbon from energy, PUE and grid carbon intensity.

References
----------
.. [1] U. Gupta et al., ACT, ISCA 2022, Eq. 2: ``OP_CF = CI_use x Energy``.
.. [2] Y. Li, O. Graif, U. Gupta, HotCarbon 2024, Fig. 2 (A100x4 at 1100 W: coal 250.56 mg/s).
"""

from __future__ import annotations

from carbonsim.units import J_PER_KWH


#: Bases of a grid intensity: ``lifecycle`` (upstream emissions of fuel supply and plant
#: construction included; IPCC AR5 Annex III) or ``direct`` (combustion at the plant only).
BASES = ("lifecycle", "direct")


def facility_energy_kwh(energy_kwh, pue):
    r"""Facility energy of IT energy in a datacenter, :math:`E_{fac} = E_{IT} \cdot PUE` [kWh].

    Parameters
    ----------
    energy_kwh : numeric
        IT energy [kWh].
    pue : numeric
        Power usage effectiveness (facility / IT energy), >= 1.
    """
    return energy_kwh * pue


def operational_g(energy_kwh, pue, ci_g_per_kwh):
    r"""Operational carbon of IT energy in a datacenter: the one place carbonsim writes it.

    .. math:: C_{op} = E_{IT} \cdot PUE \cdot CI

    Plain arithmetic, so it takes scalars or arrays, and Numba compiles this same function where
    a kernel needs it (:mod:`carbonsim.models.lifecycle._kernels`; a parity test holds the kernel
    to the NumPy reference that calls it directly). ``energy_kwh`` and ``pue`` are those of
    :func:`facility_energy_kwh`; ``ci_g_per_kwh`` is the grid's intensity [g/kWh].

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
    r"""Intensity of a mix of sources: the share-weighted mean of their intensities.

    .. math:: CI_{mix} = \frac{\sum_i w_i \, CI_i}{\sum_i w_i}, \qquad w_i \ge 0,\ \sum_i w_i > 0

    Shares are normalised here, so ``(3, 7)`` and ``(0.3, 0.7)`` give the same result. The same
    formula gives a range when applied to the lows and to the highs of the sources; that range
    assumes every source sits at its bound at once (fully correlated), so it is the widest one.
    Electricity Maps and Ember compute a grid's lifecycle intensity this way from its
    generation mix (production-based) [3]_.

    Parameters
    ----------
    shares : sequence of float or ndarray, shape (n,) or (n, m)
        Share of each source (any non-negative weights; they need not sum to 1). A 2-D array
        evaluates ``m`` mixes at once (one per column).
    intensities_g_per_kwh : sequence of float or ndarray, shape (n,)
        Intensity of each source [g/kWh], all on the same basis (lifecycle or direct).

    Returns
    -------
    float or ndarray
        [g/kWh]; a float for 1-D shares, an array of ``m`` values for 2-D shares.

    Raises
    ------
    ValueError
        If lengths differ, a share is negative or not finite, or all shares are 0.

    References
    ----------
    .. [3] Electricity Maps, "Methodology: carbon intensity and emission factors"
       (electricitymaps-contrib, config/defaults.yaml: per-source lifecycle factors).

    Examples
    --------
    >>> mix_intensity_g_per_kwh([0.3, 0.7], [820, 11])  # IPCC AR5 coal and wind medians
    253.7
    """
    import numpy as np

    w = np.asarray(shares, dtype=float)
    ci = np.asarray(intensities_g_per_kwh, dtype=float)
    if ci.ndim != 1 or w.shape[0] != ci.shape[0]:
        raise ValueError(f"{w.shape[0]} shares for {ci.shape[0]} intensities")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("shares must be finite and not negative")
    total = w.sum(axis=0)
    if np.any(total <= 0):
        raise ValueError("shares sum to 0; at least one share must be positive")
    out = np.tensordot(ci, w, axes=(0, 0)) / total
    return float(out) if np.ndim(out) == 0 else out
