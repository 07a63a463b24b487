"""Schemas of the database kinds: GPU, CPU, server, coefficient set, fab tables, sources.

The field lists here are the documented file formats (docs/database.md). A key that is not
listed is an error, so a typo (``tdp_W``) is caught instead of silently ignored.
"""

from __future__ import annotations

import re

from carbonsim.engine.db.api_kinds import API_MODEL
from carbonsim.engine.db.grid_kinds import REGIONS, TRAJECTORIES
from carbonsim.engine.db.lifecycle_kinds import GENERATIONS, TRAINING_RUNS
from carbonsim.engine.db.model_kinds import MODEL, PERF_CALIBRATION
from carbonsim.engine.db.power_kinds import POWER
from carbonsim.engine.db.schema import (
    ID_PATTERN,
    Choice,
    Count,
    Fields,
    ListOf,
    MapOf,
    Node,
    Number,
    QuantitySpec,
    SourceRef,
    Spec,
    Text,
)

Q = QuantitySpec
POSITIVE = dict(exclusive_min=True)

MEMORY_TECHNOLOGIES = (
    "hbm", "hbm2", "hbm2e", "hbm3", "hbm3e",
    "gddr5", "gddr6", "gddr6x", "gddr7",
    "ddr3", "ddr4", "ddr5", "lpddr4", "lpddr4x", "lpddr5", "lpddr5x",
)
PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4")
FORM_FACTORS = ("sxm", "pcie", "oam", "superchip", "mxm", "soc")
VENDORS = ("nvidia", "amd", "intel", "ampere", "aws", "google", "apple", "other")

DIE = Fields(
    {"name": Text(), "area_mm2": Q(**POSITIVE), "node": Node(), "count": Count(1), "note": Text()},
    required=("area_mm2", "node"),
    what="a die",
)
GPU_MEMORY = Fields(
    {
        "gb": Q(),
        "technology": Choice(MEMORY_TECHNOLOGIES),
        "process": Text(),
        "bandwidth_gb_s": Q(),
        "packages": Count(0),
        "note": Text(),
    },
    required=("gb", "technology"),
    what="memory",
)
BOARD = Fields(
    {"pcb_area_cm2": Q(), "pcb_layers": Count(1), "suggested_psu_w": Q(), "note": Text()},
    what="board",
)
PEAK_TFLOPS = Fields({p: Q() for p in PRECISIONS} | {"note": Text()}, what="peak_tflops")
INTERCONNECT = Fields(
    {"kind": Text(), "bandwidth_gb_s": Q(), "pcie_gb_s": Q(), "note": Text()}, what="interconnect"
)

GPU_FIELDS = {
    "name": Text(),
    "vendor": Choice(VENDORS),
    "year": Count(1990, 2100),
    "source": SourceRef(),
    "form_factor": Choice(FORM_FACTORS),
    "dies": ListOf(DIE, 1),
    "soc_kg": Q(),
    "packages": Count(0),
    "memory": GPU_MEMORY,
    "board": BOARD,
    "tdp_w": Q(**POSITIVE),
    "idle_w": Q(),
    "idle_loaded_w": Q(),
    "peak_tflops": PEAK_TFLOPS,
    "interconnect": INTERCONNECT,
    # names the driver reports for this part (nvidia-smi, amd-smi; what CodeCarbon writes as
    # gpu_model), matched like the name (engine/inputs/parts.py); `db check` refuses an alias
    # that would match two parts
    "aliases": ListOf(Text()),
    # devices the driver shows per package (2 for a dual-die MI250X: one per graphics compute die)
    "devices_per_package": Count(1),
    "note": Text(),
}
GPU = Fields(GPU_FIELDS, required=("name", "source", "dies", "memory", "tdp_w"), what="a GPU")

CPU_FIELDS = {
    "name": Text(),
    "vendor": Choice(VENDORS),
    "year": Count(1990, 2100),
    "source": SourceRef(),
    "dies": ListOf(DIE, 1),
    "cores": Count(1),
    "threads": Count(1),
    "tdp_w": Q(**POSITIVE),
    "base_ghz": Q(),
    "boost_ghz": Q(),
    "memory_channels": Count(1),
    "memory_technology": Choice(MEMORY_TECHNOLOGIES),
    # CPU inference (plan reuse, docs/plan.md): DIMM transfer rate and the matrix units' peak
    "memory_mt_s": Q(**POSITIVE),
    "peak_tflops": PEAK_TFLOPS,
    "matrix_unit": Choice(("amx", "avx512", "avx2", "neon", "sve")),
    "embodied_kg": Q(),
    "packages": Count(0),
    "note": Text(),
}
CPU = Fields(CPU_FIELDS, required=("name", "source", "dies", "cores", "tdp_w"), what="a CPU")

PART_ID = Text(ID_PATTERN, "a part id (lower case, digits, '.', '-', '_')")

# In a server, a GPU or CPU entry is {part: ID, count: N} (fields beside `part` override the
# part's own), or a full inline definition.
SERVER_GPUS = Fields(
    GPU_FIELDS | {"part": PART_ID, "count": Count(0)}, required=("count",), what="gpus"
)
SERVER_CPUS = Fields(
    CPU_FIELDS
    | {"part": PART_ID, "count": Count(1), "die_area_mm2": Q(**POSITIVE), "node": Node()},
    required=("count",),
    what="cpus",
)
SERVER_DRAM = Fields(
    {
        "gb": Q(),
        "technology": Choice(MEMORY_TECHNOLOGIES),
        "process": Text(),
        "modules": Count(0),
        "packages_per_module": Count(0),
        "note": Text(),
    },
    required=("gb", "technology"),
    what="dram",
)
DRIVES = ListOf(
    Fields(
        {
            "count": Count(0),
            "gb_each": Q(),
            "process": Text(),
            "packages_each": Count(0),
            "dram_gb_each": Q(),
            "dram_process": Text(),
            "dram_packages_each": Count(0),
            "note": Text(),
        },
        required=("count", "gb_each"),
        what="a drive group",
    )
)
# A measured host power curve, as `carbonsim power fit --out-yaml` writes it.
HOST_POWER_MODEL = Fields(
    {
        "form": Choice(("linear", "power", "log")),
        "idle_w": Number(), "max_w": Number(), "exponent": Number(exclusive_min=True),
        "curvature": Number(exclusive_min=True), "mem_w": Number(minimum=None), "const_w": Number(),
        "fit": Fields({"n": Count(1), "rmse_w": Number(), "r2": Number(minimum=None)}, what="fit quality"),
        "source": SourceRef(), "note": Text(),
    },
    required=("form", "idle_w", "max_w"),
    what="power_model",
)
HOST = Fields(
    {
        "cpus": SERVER_CPUS,
        "dram": SERVER_DRAM,
        "ssd_gb": Q(),
        "ssd": DRIVES,
        "hdd_gb": Q(),
        "hdd": DRIVES,
        "chassis_gpu_slots": Count(1),
        "mainboard_kg": Q(),
        "mainboard_cm2": Q(),
        "peripheral_pwb_kg": Q(),
        "peripheral_pwb_cm2": Q(),
        "psu_kg": Q(),
        "chassis_kg": Q(),
        "fans_kg": Q(),
        "packaging_kg": Q(),
        # a machine whose electronics are all itemised (a desktop, a laptop) sets 0: the
        # unitemised-electronics term of a coefficient set was fitted on rack servers
        "unitemised_kg": Q(),
        "psu_w": Q(),
        "idle_w": Q(),
        "max_w": Q(),
        "power_model": HOST_POWER_MODEL,
        "note": Text(),
    },
    required=("cpus",),
    what="host",
)
SERVER = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "note": Text(),
        "vendor": Text(),
        "year": Count(1990, 2100),
        "lifetime_yr": Q(**POSITIVE),
        "gpu_lifetime_yr": Q(**POSITIVE),
        "host_lifetime_yr": Q(**POSITIVE),
        "gpus": SERVER_GPUS,
        "host": HOST,
    },
    required=("name", "host"),
    what="a server",
)

# --- coefficient sets -------------------------------------------------------------------------
KG_PER_GB_TABLE = MapOf(Q(), re.compile(r"^[a-z0-9_]+$"), "a memory/storage technology name")
SCALED_REF = Fields({"ref_w": Q(**POSITIVE), "ref_kg": Q(), "note": Text()},
                    required=("ref_w", "ref_kg"), what="a reference part")
LIQUID_REF = Fields(
    {"ref_w": Q(**POSITIVE), "ref_kg": Q(), "memory_technologies": ListOf(Choice(MEMORY_TECHNOLOGIES)),
     "note": Text()},
    required=("ref_w", "ref_kg", "memory_technologies"),
    what="liquid cooling",
)
FAB = Fields(
    {
        "logic": Text(ID_PATTERN, "a logic node table id (hardware_db/logic/)"),
        "location": Text(ID_PATTERN, "a fab location id"),
        "ci_table": Text(ID_PATTERN, "a fab_ci or grid table id"),
        "ci_g_per_kwh": Q(),
        "abatement_pct": Number(95, 99),
        "yield": Number(0, 1, exclusive_min=True),
        "packaging_kg_per_ic": Q(),
        # Murphy's die yield, multiplied into "yield" (models/embodied/logic.py); absent = 0 = none
        "defect_density_per_cm2": Q(),
        "note": Text(),
    },
    required=("logic", "abatement_pct", "yield", "packaging_kg_per_ic"),
    what="fab",
)
COEFF_GPU = Fields(
    {
        "soc": Choice(("given", "die")),
        "memory_kg_per_gb": KG_PER_GB_TABLE,
        "pcb_kg_per_cm2": Q(),
        "pdn": SCALED_REF,
        "cooling": Fields({"air": SCALED_REF, "liquid": LIQUID_REF, "note": Text()}, what="cooling"),
        "interconnect_kg": Q(),
        "margin": Number(1.0, 2.0),
        "note": Text(),
    },
    required=("soc", "memory_kg_per_gb", "margin"),
    what="gpu coefficients",
)


class _WithRules(Spec):
    """A :class:`Fields` spec plus checks between its keys: ``rules(value) -> [(key, message)]``."""

    def __init__(self, fields: Fields, rules):
        self.fields, self.rules = fields, rules

    def check(self, value, path, ck):
        out = self.fields.check(value, path, ck)
        if isinstance(out, dict):
            for key, message in self.rules(out):
                ck.error(f"{path}.{key}" if path else key, message)
        return out


def _cpu_rules(cpu: dict):
    needs = {"fixed": "kg_per_server", "fixed_per_cpu": "kg_per_cpu"}.get(cpu.get("model"))
    if needs and cpu.get(needs) is None:
        yield needs, f"required by model {cpu['model']!r}"


def _trend_rules(t: dict):
    lo, hi = t.get("floor_kg_per_gb"), t.get("ceiling_kg_per_gb")
    if lo is not None and hi is not None and lo.value > hi.value:
        yield "floor_kg_per_gb", f"floor {lo.value:g} is above the ceiling {hi.value:g}"


def _unitemised_rules(u: dict):
    years = u.get("fitted_years")
    if years is not None and (len(years) != 2 or years[0] > years[1]):
        yield "fitted_years", "give two years, first <= last"
    ref = u.get("ref_kg")
    if ref is not None and ref.value < 0:
        yield "ref_kg", f"value {ref.value:g} is below 0 (only its low end may be: a calibrated spread)"


COEFF_CPU = _WithRules(Fields(
    {
        # die: ACT's die model; fixed: kg_per_server shared by the CPUs; fixed_per_cpu: kg_per_cpu
        # for each CPU package (the Dell R740 LCA's value); none: not modelled
        "model": Choice(("die", "fixed", "fixed_per_cpu", "none")),
        "kg_per_server": Q(),
        "kg_per_cpu": Q(),
        "note": Text(),
    },
    required=("model",),
    what="cpu coefficients",
), _cpu_rules)
# SSD kg/GB by year: ssd_kg_per_gb holds the value of ref_year; it falls by decline_per_yr and
# stays within floor..ceiling (models/embodied/storage.py: flash_kg_per_gb).
SSD_TREND = _WithRules(Fields(
    {
        "ref_year": Count(1990, 2100),
        "decline_per_yr": Q(),
        "floor_kg_per_gb": Q(),
        "ceiling_kg_per_gb": Q(**POSITIVE),
        "note": Text(),
    },
    required=("ref_year", "decline_per_yr", "floor_kg_per_gb", "ceiling_kg_per_gb"),
    what="an SSD kg/GB trend",
), _trend_rules)
# ref_kg x exp(-decline_per_yr x (year - ref_year)) (models/embodied/electronics.py);
# fitted_years: the span of server years ref_kg was fitted on (outside it, a note says so).
# ref_kg's low end may be negative: its range is the spread of vendor methods, calibrated so that
# the Monte-Carlo band holds vendor figures (docs/embodied.md, Uncertainty); its value may not.
UNITEMISED = _WithRules(Fields(
    {
        "ref_kg": Q(minimum=None),
        "ref_year": Count(1990, 2100),
        "decline_per_yr": Q(),
        "fitted_years": ListOf(Count(1990, 2100), 2),
        "note": Text(),
    },
    required=("ref_kg", "ref_year", "decline_per_yr"),
    what="unitemised electronics",
), _unitemised_rules)
COEFF_HOST = Fields(
    {
        "cpu": COEFF_CPU,
        "memory_kg_per_gb": KG_PER_GB_TABLE,
        "ssd_kg_per_gb": KG_PER_GB_TABLE,
        "hdd_kg_per_gb": KG_PER_GB_TABLE,
        "memory_storage_yield": Number(0, 1, exclusive_min=True),
        "pcb_kg_per_cm2": Q(),
        "mainboard_kg": Q(),
        "peripheral_pwb_kg_per_cm2": Q(),
        "peripheral_pwb_cm2": Q(),
        "psu_kg": Q(),
        "chassis_kg": Q(),
        "fans_kg": Q(),
        "packaging_kg": Q(),
        "chassis_gpu_slots": Count(1),
        # server-lca terms (docs/embodied.md); absent = 0 / no trend
        "ssd_kg_per_drive": Q(),
        "hdd_kg_per_drive": Q(),
        "ssd_kg_per_gb_trend": SSD_TREND,
        "assembly_kg": Q(),
        "unitemised_electronics": UNITEMISED,
        "note": Text(),
    },
    required=("cpu", "memory_kg_per_gb", "ssd_kg_per_gb", "hdd_kg_per_gb"),
    what="host coefficients",
)
COEFFICIENTS = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "description": Text(),
        "fab": FAB,
        "gpu": COEFF_GPU,
        "host": COEFF_HOST,
    },
    required=("name", "source", "fab", "gpu", "host"),
    what="a coefficient set",
)

# --- fab tables ---------------------------------------------------------------------------------
LOGIC_NODES = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "note": Text(),
        "nodes": MapOf(
            Fields({"epa_kwh_per_cm2": Q(), "gpa95_g_per_cm2": Q(), "gpa99_g_per_cm2": Q(),
                    "mpa_g_per_cm2": Q()},
                   required=("epa_kwh_per_cm2", "gpa95_g_per_cm2", "gpa99_g_per_cm2", "mpa_g_per_cm2"),
                   what="a node"),
            re.compile(r"^[0-9]+nm$"), "a node like '7nm'"),
        "aliases": MapOf(Node(), re.compile(r"^[0-9]+(\.[0-9]+)?nm$"), "a node like '4nm'"),
    },
    required=("name", "source", "nodes"),
    what="logic node table",
)
FAB_INTENSITY = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "note": Text(),
        "ci_g_per_kwh": MapOf(Q(), ID_PATTERN, "a location id"),
    },
    required=("name", "source", "ci_g_per_kwh"),
    what="fab intensity table",
)

# --- grid (per energy source) --------------------------------------------------------------------
GRID_SOURCES = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "basis": Choice(("lifecycle", "direct")),
        "note": Text(),
        "ci_g_per_kwh": MapOf(Q(), ID_PATTERN, "an energy source name"),
    },
    required=("name", "source", "basis", "ci_g_per_kwh"),
    what="grid source table",
)

SOURCE_ENTRY = Fields(
    {
        "title": Text(),
        "authors": ListOf(Text()),
        "publisher": Text(),
        "year": Count(1900, 2100),
        "url": Text(),
        "doi": Text(),
        "accessed": Text(),
        "commit": Text(),
        "note": Text(),
    },
    required=("title", "year"),
    what="a source",
)

#: kind directory -> schema of one file
KINDS = {
    "gpus": GPU,
    "cpus": CPU,
    "servers": SERVER,
    "coefficients": COEFFICIENTS,
    "logic": LOGIC_NODES,
    "fab_ci": FAB_INTENSITY,
    "grid": GRID_SOURCES,
    "regions": REGIONS,
    "trajectories": TRAJECTORIES,
    "models": MODEL,
    "perf": PERF_CALIBRATION,
    "power": POWER,
    "generations": GENERATIONS,
    "training": TRAINING_RUNS,
    "api_models": API_MODEL,
}
