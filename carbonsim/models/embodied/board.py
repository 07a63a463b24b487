"""Printed circuit boards and power delivery.

References
----------
.. [1] Y. Li, O. Graif, U. Gupta, "Towards Carbon-efficient LLM Life Cycle", HotCarbon 2024,
   Sec. 3.2.2 (PCB at 0.048 kg/cm² from the Dell R740 LCA mainboard) and the PDN scaling of
   its GPU model (A6000: 700 W / 500 W x 16.3494 kg = 22.89 kg).
"""

from __future__ import annotations


def pcb_kg(area_cm2, kg_per_cm2):
    r"""Populated board carbon by area: :math:`E = A \cdot c_{PCB}`.

    Parameters
    ----------
    area_cm2 : numeric
        Board area [cm²].
    kg_per_cm2 : numeric
        Carbon per area of a populated board [kg/cm²] (0.048 in the seed paper).

    Returns
    -------
    numeric
        [kg]
    """
    return area_cm2 * kg_per_cm2


def scaled_by_power_kg(power_w, ref_power_w, ref_kg):
    r"""A part sized by power, scaled linearly from a reference part.

    .. math:: E = E_{ref} \cdot \frac{P}{P_{ref}}

    Used for the power delivery network (by board power) and for heat sinks and cold plates
    (by chip TDP, see :mod:`carbonsim.models.embodied.thermal`).

    Parameters
    ----------
    power_w : numeric
        Power of the part being estimated [W].
    ref_power_w : numeric
        Power of the reference part [W]; > 0.
    ref_kg : numeric
        Embodied carbon of the reference part [kg].

    Returns
    -------
    numeric
        [kg]
    """
    return ref_kg * power_w / ref_power_w


def pdn_kg(board_w, ref_board_w, ref_kg):
    r"""Power-delivery network of a GPU board, scaled by board power [1]_.

    .. math:: E_{PDN} = E_{ref} \cdot P_{board} / P_{ref}

    Parameters
    ----------
    board_w : numeric
        Board (suggested PSU) power [W].
    ref_board_w, ref_kg : numeric
        Reference board: 500 W and 16.3494 kg in the seed paper; 1100 W and 28.75 kg (H100
        HGX) in EcoServe.

    Returns
    -------
    numeric
        [kg]
    """
    return scaled_by_power_kg(board_w, ref_board_w, ref_kg)
