"""Numba kernel of the embodied model: many servers at once.

Same equations as :func:`carbonsim.models.embodied.server.server_components_kg` (the readable
reference); ``tests/models/test_embodied_kernel.py`` checks that the two agree on seeded random inputs.
Row indices are module constants so Numba compiles them in.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from carbonsim import kernel_cache
from carbonsim.models.arrays import padded_rows

from carbonsim.models.embodied.layout import C, N_COMPONENTS, P

kernel_cache.install()  # stored kernels follow the carbonsim modules they import (docs/architecture.md)

_FAB_CI = P["fab_ci_g_per_kwh"]
_FAB_Y = P["fab_yield"]
_PKG = P["packaging_kg_per_ic"]
_MSY = P["memory_storage_yield"]
_G_N = P["gpu_count"]
_G_D1 = P["gpu_die1_area_cm2"]
_G_D2 = P["gpu_die2_area_cm2"]
_G_SOC = P["gpu_soc_given_kg"]
_G_USE = P["gpu_soc_use_die_model"]
_G_SOC_IC = P["gpu_soc_n_ic"]
_G_MEM = P["gpu_mem_gb"]
_G_MEM_C = P["gpu_mem_kg_per_gb"]
_G_MEM_IC = P["gpu_mem_n_ic"]
_G_PCB = P["gpu_pcb_cm2"]
_G_PCB_C = P["gpu_pcb_kg_per_cm2"]
_G_BW = P["gpu_board_w"]
_G_PDN_W = P["gpu_pdn_ref_w"]
_G_PDN_KG = P["gpu_pdn_ref_kg"]
_G_TDP = P["gpu_tdp_w"]
_G_COOL_W = P["gpu_cool_ref_w"]
_G_COOL_KG = P["gpu_cool_ref_kg"]
_G_LINK = P["gpu_interconnect_kg"]
_G_MARGIN = P["gpu_margin"]
_SHARE = P["host_share"]
_C_N = P["cpu_count"]
_C_D1 = P["cpu_die1_area_cm2"]
_C_D2 = P["cpu_die2_area_cm2"]
_C_GIVEN = P["cpu_given_kg"]
_C_USE = P["cpu_use_die_model"]
_C_IC = P["cpu_n_ic"]
_DRAM = P["dram_gb"]
_SSD = P["ssd_gb"]
_HDD = P["hdd_gb"]
_FIXED = P["mainboard_kg"]  # mainboard, peripheral_pwb, psu, chassis, fans, packaging follow
_OUT_FIXED = C["mainboard"]
_OUT_GPU = C["soc"]
# rows appended after the first release (server-lca terms)
_YEAR = P["server_year"]
_SSD_N = P["ssd_count"]
_SSD_DRIVE = P["ssd_kg_per_drive"]
_HDD_N = P["hdd_count"]
_HDD_DRIVE = P["hdd_kg_per_drive"]
_SSD_REF_Y = P["ssd_trend_ref_year"]
_SSD_DECL = P["ssd_trend_decline_per_yr"]
_SSD_FLOOR = P["ssd_floor_kg_per_gb"]
_SSD_CEIL = P["ssd_ceiling_kg_per_gb"]
_ASM = P["assembly_kg"]
_U_KG = P["unitemised_ref_kg"]
_U_REF_Y = P["unitemised_ref_year"]
_U_DECL = P["unitemised_decline_per_yr"]
_D0 = P["fab_defect_density_per_cm2"]
_OUT_SSD = C["ssd"]
_OUT_HDD = C["hdd"]
_OUT_ASM = C["assembly"]
_OUT_U = C["unitemised"]

# die group rows are: area_cm2, count, epa, gpa, mpa (layout.py keeps them adjacent)
assert P["gpu_die1_mpa_g_per_cm2"] == _G_D1 + 4 and P["cpu_die2_mpa_g_per_cm2"] == _C_D2 + 4
assert P["dram_kg_per_gb"] == _DRAM + 1 and P["dram_n_ic"] == _DRAM + 2
assert P["ssd_kg_per_gb"] == _SSD + 1 and P["ssd_n_ic"] == _SSD + 2
assert P["hdd_kg_per_gb"] == _HDD + 1 and P["hdd_n_ic"] == _HDD + 2
assert P["packaging_kg"] == _FIXED + 5 and C["packaging"] == _OUT_FIXED + 5


@njit(cache=True, inline="always")
def _die_group_kg(p, row, j, fab_ci, fab_yield, d0):
    x = p[row, j] * d0  # Murphy's yield of the die's area (1 without a defect density)
    y = fab_yield * ((-math.expm1(-x) / x) ** 2 if x > 0.0 else 1.0)
    cpa_g = (fab_ci * p[row + 2, j] + p[row + 3, j] + p[row + 4, j]) / y
    return p[row + 1, j] * p[row, j] * cpa_g * 1e-3


@njit(cache=True, inline="always")
def _capacity_kg(p, row, j, ms_yield, pkg):
    return p[row, j] * p[row + 1, j] / ms_yield + p[row + 2, j] * pkg


@njit(cache=True, parallel=True, fastmath=False)
def server_components_kernel(params, out):
    """Fill ``out`` (N_COMPONENTS, n) with embodied kg by component for ``params`` (N_PARAMS, n)."""
    n = params.shape[1]
    for j in prange(n):
        p = params
        fab_ci = p[_FAB_CI, j]
        fab_y = p[_FAB_Y, j]
        pkg = p[_PKG, j]
        msy = p[_MSY, j]
        d0 = p[_D0, j]
        # GPU card
        if p[_G_USE, j] > 0.5:
            soc = (_die_group_kg(p, _G_D1, j, fab_ci, fab_y, d0) + _die_group_kg(p, _G_D2, j, fab_ci, fab_y, d0)
                   + p[_G_SOC_IC, j] * pkg)
        else:
            soc = p[_G_SOC, j]
        mem = _capacity_kg(p, _G_MEM, j, msy, pkg)
        pcb = p[_G_PCB, j] * p[_G_PCB_C, j]
        pdn = p[_G_PDN_KG, j] * p[_G_BW, j] / p[_G_PDN_W, j] if p[_G_PDN_W, j] > 0 else 0.0
        cool = p[_G_COOL_KG, j] * p[_G_TDP, j] / p[_G_COOL_W, j] if p[_G_COOL_W, j] > 0 else 0.0
        cards = p[_G_N, j] * p[_G_MARGIN, j]
        out[_OUT_GPU, j] = cards * soc
        out[_OUT_GPU + 1, j] = cards * mem
        out[_OUT_GPU + 2, j] = cards * pcb
        out[_OUT_GPU + 3, j] = cards * pdn
        out[_OUT_GPU + 4, j] = cards * cool
        out[_OUT_GPU + 5, j] = cards * p[_G_LINK, j]
        # host
        if p[_C_USE, j] > 0.5:
            cpu = (_die_group_kg(p, _C_D1, j, fab_ci, fab_y, d0) + _die_group_kg(p, _C_D2, j, fab_ci, fab_y, d0)
                   + p[_C_IC, j] * pkg)
        else:
            cpu = p[_C_GIVEN, j]
        share = p[_SHARE, j]
        year = p[_YEAR, j]
        out[0, j] = share * p[_C_N, j] * cpu
        out[1, j] = _capacity_kg(p, _DRAM, j, msy, pkg)
        # SSD kg/GB of the server's year, within the floor and (when > 0) the ceiling
        k_ssd = p[_SSD + 1, j]
        if p[_SSD_DECL, j] != 0.0:  # only sets with a trend pay for the exponential
            k_ssd = max(k_ssd * math.exp(-p[_SSD_DECL, j] * (year - p[_SSD_REF_Y, j])), p[_SSD_FLOOR, j])
        else:
            k_ssd = max(k_ssd, p[_SSD_FLOOR, j])
        if p[_SSD_CEIL, j] > 0:
            k_ssd = min(k_ssd, p[_SSD_CEIL, j])
        out[_OUT_SSD, j] = (p[_SSD, j] * k_ssd / msy + p[_SSD + 2, j] * pkg
                            + p[_SSD_N, j] * p[_SSD_DRIVE, j])
        out[_OUT_HDD, j] = _capacity_kg(p, _HDD, j, msy, pkg) + p[_HDD_N, j] * p[_HDD_DRIVE, j]
        for k in range(6):
            out[_OUT_FIXED + k, j] = share * p[_FIXED + k, j]
        out[_OUT_ASM, j] = share * p[_ASM, j]
        u_kg = p[_U_KG, j]
        if u_kg != 0.0:
            u_kg *= math.exp(-p[_U_DECL, j] * (year - p[_U_REF_Y, j]))
        out[_OUT_U, j] = share * u_kg


def server_components(params: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Embodied kg by component for many servers (compiled).

    Parameters
    ----------
    params : ndarray, shape (N_PARAMS, n), float64
    out : ndarray, shape (N_COMPONENTS, n), optional
        Reused output buffer.

    Returns
    -------
    ndarray, shape (N_COMPONENTS, n)
        [kg], rows in :data:`carbonsim.models.embodied.layout.COMPONENTS` order.
    """
    params = np.asarray(params, dtype=np.float64)  # strided rows welcome (models/arrays.py)
    if out is None:
        out = padded_rows(N_COMPONENTS, params.shape[1])
    server_components_kernel(params, out)
    return out
