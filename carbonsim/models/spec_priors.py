r"""Priors for the gaps of a spec sheet (layer 1): what a server most likely has when a fleet
inventory leaves a column blank.

Each prior is a least-squares fit in logarithms, pinned here with its source and error; the
fits are recomputed from their data by :func:`carbonsim.engine.studies.inventory.derive_priors`
and a test holds the pinned values to them. The module docstring of
:mod:`carbonsim.engine.studies.inventory` and ``docs/inventory.md`` give every source, sample
size and error.

* CPU die area (one die per CPU): ``A = exp(5.4808) · c^0.32105`` mm², ``c`` = cores per CPU
  (the 8 CPUs of ``hardware_db/cpus``; leave-one-out error median 21 %).
* CPU node by launch year: ≤2012 → 28nm, 2013–2015 → 22nm, 2016–2019 → 14nm, 2020–2021 → 7nm,
  ≥2022 → 5nm.
* TDP per CPU ``exp(3.6034) · c^0.4774`` W; cores per CPU from TDP and year or from the year
  alone; DRAM ``exp(1.0888) · cores_total^0.891 · exp(0.0908 y)`` GB (SPECpower sample, y =
  year − 2015 clipped to 2007–2022).
"""

from __future__ import annotations

import math

import numpy as np

#: ln(total CPU die area / mm2) = a + b ln(cores per CPU), from hardware_db/cpus (8 CPUs).
DIE_AREA_LN = (5.4808, 0.32105)
DIE_AREA_SD_LN = 0.4897
#: ln(TDP per CPU / W) = a + b ln(cores per CPU), SPECpower sample (198 rows with TDP).
TDP_LN = (3.6034, 0.4774)
#: ln(cores per CPU) = a + b ln(TDP per CPU) + c y, SPECpower sample (198 rows).
CORES_FROM_TDP_LN = (-3.3479, 1.2207, 0.0695)
#: ln(cores per CPU) = a + b y, SPECpower sample (200 rows).
CORES_FROM_YEAR_LN = (2.5126, 0.1746)
#: ln(DRAM / GB) = a + b ln(cores_total) + c y, SPECpower sample (200 rows).
DRAM_LN = (1.0888, 0.8910, 0.0908)
DRAM_SD_LN = 0.450
#: Year range of the SPECpower fits; y = clip(year, 2007, 2022) - 2015.
PRIOR_YEAR_RANGE = (2007, 2022)
#: DRAM of a GPU server per GB of GPU memory (median of the whole 8-GPU servers in hardware_db/servers).
DRAM_PER_GPU_GB = (3.0, 2.0, 3.2)
#: CPUs per server: 130 of the 200 SPECpower servers have two sockets (46 one, 24 four or eight).
DEFAULT_CPU_COUNT = 2
#: Year when nothing gives one: the median launch year of the database CPUs.
DEFAULT_YEAR = 2020
#: One SSD of 960 GB (entry class of enterprise read-intensive SSDs), range 480-3840 GB.
DEFAULT_SSD_GB = (960.0, 480.0, 3840.0)
#: An HDD of unknown size: 16 TB (the Seagate Exos X16 behind the HDD kg/GB of hotcarbon24).
DEFAULT_HDD_GB_EACH = 16000.0
#: GPUs when a model is named without a count.
DEFAULT_GPU_COUNT = 1
#: Standard-normal quantile of the 5th/95th percentiles: a log-normal prior's ranges span
#: ±1.645 s.d. in ln.
Z90 = 1.645
#: Launch year (first year of the band) -> node, for CPUs not in the database.
NODE_BY_YEAR = ((2022, "5nm"), (2020, "7nm"), (2016, "14nm"), (2013, "22nm"), (0, "28nm"))


def _y(year) -> float:
    return float(np.clip(year, *PRIOR_YEAR_RANGE)) - 2015.0


def node_for_year(year: int) -> str:
    """Process node of a CPU launched in ``year`` that is not in the database (see the docstring)."""
    for first, node in NODE_BY_YEAR:
        if year >= first:
            return node
    return NODE_BY_YEAR[-1][1]


def prior_die_area_mm2(cores_per_cpu: float) -> float:
    """Total die area of one CPU [mm2] from its core count."""
    a, b = DIE_AREA_LN
    return float(math.exp(a + b * math.log(max(cores_per_cpu, 1.0))))


def prior_tdp_w(cores_per_cpu: float) -> float:
    """TDP of one CPU [W] from its core count."""
    a, b = TDP_LN
    return float(math.exp(a + b * math.log(max(cores_per_cpu, 1.0))))


def prior_cores_per_cpu(year: int, tdp_w: float | None = None) -> int:
    """Cores of one CPU from its TDP and year, or from the year alone."""
    if tdp_w is not None:
        a, b, c = CORES_FROM_TDP_LN
        v = math.exp(a + b * math.log(tdp_w) + c * _y(year))
    else:
        a, b = CORES_FROM_YEAR_LN
        v = math.exp(a + b * _y(year))
    return max(1, int(round(v)))


def prior_dram_gb(cores_total: float, year: int) -> float:
    """DRAM of a server without GPUs [GB] from its cores and year."""
    a, b, c = DRAM_LN
    return float(math.exp(a + b * math.log(max(cores_total, 1.0)) + c * _y(year)))


def dram_technology_for_year(year: int) -> str:
    """DRAM technology of a server launched in ``year``: ≤2013 ddr3, 2014–2022 ddr4, ≥2023 ddr5
    (first DDR4 Xeons 2014; DDR5 from the EPYC 9004, late 2022, and 4th-generation Xeons, 2023)."""
    return "ddr3" if year <= 2013 else ("ddr4" if year <= 2022 else "ddr5")
