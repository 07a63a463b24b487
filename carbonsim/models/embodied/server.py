r"""A server's embodied carbon as the sum of its parts, and its amortisation over time.

:func:`server_components_kg` is the readable reference implementation of the model; the
Numba kernel in :mod:`carbonsim.models.embodied._kernels` computes the same numbers for many servers
at once (a parity test holds them together).

The model (seed paper Sec. 3.2 and ACT):

.. math::

    E_{GPU} = n_{GPU} \cdot m \cdot (E_{SoC} + E_{VRAM} + E_{PCB} + E_{PDN} + E_{cool} + E_{link})

    E_{host} = s \cdot (E_{CPU} + E_{mainboard} + E_{PWB} + E_{PSU} + E_{chassis} + E_{fans}
               + E_{pack} + E_{asm} + E_{U}(y)) + E_{DRAM} + E_{SSD} + E_{HDD}

    E_{SSD} = G_{SSD}\, k_{SSD}(y) / Y + n_{SSD}\, e_{SSD} + N_{IC} K, \qquad
    E_{HDD} = G_{HDD}\, k_{HDD} / Y + n_{HDD}\, e_{HDD} + N_{IC} K

with :math:`m` the GPU margin (1.05 in the seed's code) and :math:`s` the share of a multi-GPU
chassis a VM holds (``n_GPU / 8`` in the seed's code). DRAM and storage are given as the VM's own.
The assembly :math:`E_{asm}`, the per-drive parts :math:`e`, the SSD kg/GB trend
:math:`k_{SSD}(y)` (:mod:`~carbonsim.models.embodied.storage`) and the unitemised electronics
:math:`E_U(y)` (:mod:`~carbonsim.models.embodied.electronics`) are the ``server-lca`` set's
terms; they are zero, or constant in the year, in the other sets.

References
----------
.. [1] Y. Li, O. Graif, U. Gupta, "Towards Carbon-efficient LLM Life Cycle", HotCarbon 2024.
.. [2] U. Gupta et al., ACT, ISCA 2022.
.. [3] Dell Technologies / thinkstep, "Life Cycle Assessment of Dell R740", 2019; Boavizta,
   boaviztapi 2.5.0 ``factors.yml`` (the ``server-lca`` set, docs/embodied.md).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.embodied.board import pcb_kg, pdn_kg
from carbonsim.models.embodied.electronics import unitemised_electronics_kg
from carbonsim.models.embodied.layout import COMPONENTS, N_COMPONENTS, P
from carbonsim.models.embodied.logic import carbon_per_area_kg_per_cm2, die_kg, murphy_yield, packaging_kg
from carbonsim.models.embodied.memory import capacity_kg
from carbonsim.models.embodied.storage import flash_kg_per_gb, per_drive_kg
from carbonsim.models.embodied.thermal import cooling_kg


def _dies_kg(p, prefix: str):
    total = 0.0
    for group in ("die1", "die2"):
        k = f"{prefix}_{group}_"
        die_yield = p[P["fab_yield"]] * murphy_yield(p[P[k + "area_cm2"]], p[P["fab_defect_density_per_cm2"]])
        cpa = carbon_per_area_kg_per_cm2(
            p[P["fab_ci_g_per_kwh"]], p[P[k + "epa_kwh_per_cm2"]], p[P[k + "gpa_g_per_cm2"]],
            p[P[k + "mpa_g_per_cm2"]], die_yield,
        )
        total += die_kg(p[P[k + "area_cm2"]], cpa, p[P[k + "count"]])
    return total


def _ref_scaled(power_w, ref_w, ref_kg, fn):
    """``fn(power, ref, kg)`` where a reference exists (ref_w > 0), else 0 (not modelled)."""
    safe_ref = np.where(ref_w > 0, ref_w, 1.0)
    return np.where(ref_w > 0, fn(power_w, safe_ref, ref_kg), 0.0)


def server_components_kg(params) -> dict[str, np.ndarray]:
    """Embodied carbon by component (reference implementation, NumPy over servers).

    Parameters
    ----------
    params : array_like, shape (N_PARAMS,) or (N_PARAMS, n)
        Servers laid out as :data:`carbonsim.models.embodied.layout.PARAM_NAMES`.

    Returns
    -------
    dict
        Component name -> embodied carbon [kg], scalar or shape (n,); GPU components
        cover all cards.
    """
    p = np.asarray(params, dtype=float)
    pkg = p[P["packaging_kg_per_ic"]]
    ms_yield = p[P["memory_storage_yield"]]

    # GPU card
    soc = np.where(
        p[P["gpu_soc_use_die_model"]] > 0.5,
        _dies_kg(p, "gpu") + packaging_kg(p[P["gpu_soc_n_ic"]], pkg),
        p[P["gpu_soc_given_kg"]],
    )
    card = {
        "soc": soc,
        "memory": capacity_kg(p[P["gpu_mem_gb"]], p[P["gpu_mem_kg_per_gb"]], ms_yield)
        + packaging_kg(p[P["gpu_mem_n_ic"]], pkg),
        "pcb": pcb_kg(p[P["gpu_pcb_cm2"]], p[P["gpu_pcb_kg_per_cm2"]]),
        "pdn": _ref_scaled(p[P["gpu_board_w"]], p[P["gpu_pdn_ref_w"]], p[P["gpu_pdn_ref_kg"]], pdn_kg),
        "cooling": _ref_scaled(p[P["gpu_tdp_w"]], p[P["gpu_cool_ref_w"]], p[P["gpu_cool_ref_kg"]],
                               cooling_kg),
        "interconnect": p[P["gpu_interconnect_kg"]],
    }
    cards = p[P["gpu_count"]] * p[P["gpu_margin"]]

    # host
    cpu_each = np.where(
        p[P["cpu_use_die_model"]] > 0.5,
        _dies_kg(p, "cpu") + packaging_kg(p[P["cpu_n_ic"]], pkg),
        p[P["cpu_given_kg"]],
    )
    share = p[P["host_share"]]
    year = p[P["server_year"]]
    ssd_kg_per_gb = flash_kg_per_gb(p[P["ssd_kg_per_gb"]], year, p[P["ssd_trend_ref_year"]],
                                    p[P["ssd_trend_decline_per_yr"]], p[P["ssd_floor_kg_per_gb"]],
                                    p[P["ssd_ceiling_kg_per_gb"]])
    out = {
        "cpu": share * p[P["cpu_count"]] * cpu_each,
        "dram": capacity_kg(p[P["dram_gb"]], p[P["dram_kg_per_gb"]], ms_yield)
        + packaging_kg(p[P["dram_n_ic"]], pkg),
        "ssd": capacity_kg(p[P["ssd_gb"]], ssd_kg_per_gb, ms_yield)
        + packaging_kg(p[P["ssd_n_ic"]], pkg) + per_drive_kg(p[P["ssd_count"]], p[P["ssd_kg_per_drive"]]),
        "hdd": capacity_kg(p[P["hdd_gb"]], p[P["hdd_kg_per_gb"]], ms_yield)
        + packaging_kg(p[P["hdd_n_ic"]], pkg) + per_drive_kg(p[P["hdd_count"]], p[P["hdd_kg_per_drive"]]),
    }
    for fixed in ("mainboard", "peripheral_pwb", "psu", "chassis", "fans", "packaging", "assembly"):
        out[fixed] = share * p[P[f"{fixed}_kg"]]
    out["unitemised"] = share * unitemised_electronics_kg(year, p[P["unitemised_ref_kg"]],
                                                          p[P["unitemised_ref_year"]],
                                                          p[P["unitemised_decline_per_yr"]])
    out.update({name: cards * value for name, value in card.items()})
    return {name: out[name] for name in COMPONENTS}


def server_components_reference(params) -> np.ndarray:
    """Reference implementation as one array, for parity with the kernel.

    Parameters
    ----------
    params : ndarray, shape (N_PARAMS, n)

    Returns
    -------
    ndarray, shape (N_COMPONENTS, n)
        [kg]
    """
    comp = server_components_kg(params)
    n = np.asarray(params).shape[1]
    out = np.empty((N_COMPONENTS, n))
    for i, name in enumerate(COMPONENTS):
        out[i] = comp[name]
    return out
