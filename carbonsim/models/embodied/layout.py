"""The numeric description of one server that the embodied kernels evaluate.

A server (with a coefficient set) becomes one column of a ``(N_PARAMS, n_points)`` float array;
row ``P[name]`` holds parameter ``name``. Many servers, sweep points or Monte-Carlo samples are
many columns. Units are in the names. Per-card GPU values are multiplied by ``gpu_count``;
the host's fixed chassis parts by ``host_share`` (the VM's share of a multi-GPU chassis).

Rows added after the first release are appended at the end (the kernel reads the earlier rows by
fixed offsets): the server's year, per-drive SSD and HDD parts, the SSD kg/GB trend by year,
final assembly and the unitemised-electronics term (the ``server-lca`` coefficient set), and the
defect density of an area-dependent die yield. Zero in all of them reproduces the earlier model
exactly.
"""

from __future__ import annotations

_DIE = ("area_cm2", "count", "epa_kwh_per_cm2", "gpa_g_per_cm2", "mpa_g_per_cm2")

PARAM_NAMES: tuple[str, ...] = (
    # fab (shared by every die) and memory/storage yield
    "fab_ci_g_per_kwh", "fab_yield", "packaging_kg_per_ic", "memory_storage_yield",
    # GPU card (per card) and count
    "gpu_count",
    *(f"gpu_die1_{k}" for k in _DIE),
    *(f"gpu_die2_{k}" for k in _DIE),
    "gpu_soc_given_kg", "gpu_soc_use_die_model", "gpu_soc_n_ic",
    "gpu_mem_gb", "gpu_mem_kg_per_gb", "gpu_mem_n_ic",
    "gpu_pcb_cm2", "gpu_pcb_kg_per_cm2",
    "gpu_board_w", "gpu_pdn_ref_w", "gpu_pdn_ref_kg",
    "gpu_tdp_w", "gpu_cool_ref_w", "gpu_cool_ref_kg",
    "gpu_interconnect_kg", "gpu_margin",
    # host
    "host_share",
    "cpu_count",
    *(f"cpu_die1_{k}" for k in _DIE),
    *(f"cpu_die2_{k}" for k in _DIE),
    "cpu_given_kg", "cpu_use_die_model", "cpu_n_ic",
    "dram_gb", "dram_kg_per_gb", "dram_n_ic",
    "ssd_gb", "ssd_kg_per_gb", "ssd_n_ic",
    "hdd_gb", "hdd_kg_per_gb", "hdd_n_ic",
    "mainboard_kg", "peripheral_pwb_kg", "psu_kg", "chassis_kg", "fans_kg", "packaging_kg",
    # appended: the year the server was made (year-dependent terms only)
    "server_year",
    # per-drive parts (casing, controller, board), not scaled by host_share like capacity
    "ssd_count", "ssd_kg_per_drive", "hdd_count", "hdd_kg_per_drive",
    # SSD kg/GB by year: ssd_kg_per_gb holds the value of ssd_trend_ref_year (ceiling 0: none)
    "ssd_trend_ref_year", "ssd_trend_decline_per_yr", "ssd_floor_kg_per_gb", "ssd_ceiling_kg_per_gb",
    # final assembly, a fixed chassis part scaled by host_share
    "assembly_kg",
    # unitemised electronics: host_share x ref_kg x exp(-decline x (server_year - ref_year))
    "unitemised_ref_kg", "unitemised_ref_year", "unitemised_decline_per_yr",
    # appended: defect density of the die yield (Murphy's model, per die area; 0 = fab_yield alone)
    "fab_defect_density_per_cm2",
)

#: Row index of each parameter.
P: dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}
N_PARAMS = len(PARAM_NAMES)

HOST_COMPONENTS: tuple[str, ...] = (
    "cpu", "dram", "ssd", "hdd", "mainboard", "peripheral_pwb", "psu", "chassis", "fans", "packaging",
    "assembly", "unitemised",
)
GPU_COMPONENTS: tuple[str, ...] = ("soc", "memory", "pcb", "pdn", "cooling", "interconnect")
#: Output rows: host components, then GPU components (all cards, margin included) [kg].
COMPONENTS: tuple[str, ...] = HOST_COMPONENTS + GPU_COMPONENTS
C: dict[str, int] = {name: i for i, name in enumerate(COMPONENTS)}
N_COMPONENTS = len(COMPONENTS)
N_HOST = len(HOST_COMPONENTS)
