"""Cooling hardware: heat sinks and cold plates, scaled by chip TDP.

References
----------
.. [1] Y. Li, O. Graif, U. Gupta, HotCarbon 2024: heat sink = TDP / 300 W x 23.63 kg.
.. [2] EcoServe (EServe code): liquid cold plate for HBM3/HBM3e parts = TDP / 700 W x 6.5 kg.
"""

from __future__ import annotations

from carbonsim.models.embodied.board import scaled_by_power_kg


def cooling_kg(tdp_w, ref_tdp_w, ref_kg):
    r"""Heat sink or cold plate: :math:`E = E_{ref} \cdot TDP / TDP_{ref}` [1]_ [2]_.

    Parameters
    ----------
    tdp_w : numeric
        Thermal design power of the cooled chip [W].
    ref_tdp_w, ref_kg : numeric
        Reference part: 300 W, 23.63 kg (air heat sink); 700 W, 6.5 kg (cold plate).

    Returns
    -------
    numeric
        [kg]
    """
    return scaled_by_power_kg(tdp_w, ref_tdp_w, ref_kg)
