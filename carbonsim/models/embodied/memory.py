"""Capacity-based parts: DRAM, HBM, GDDR, NAND flash (SSD) and hard disks.

All use the same form, embodied carbon per GB of capacity (ACT's CPS; the seed paper's
per-technology kg/GB), optionally divided by a manufacturing yield as ACT does.

References
----------
.. [1] U. Gupta et al., ACT, ISCA 2022, Eq. 6 (``E = CPS x capacity``, CPS divided by yield in
   the code).
.. [2] Y. Li, O. Graif, U. Gupta, "Towards Carbon-efficient LLM Life Cycle", HotCarbon 2024,
   Sec. 3.2.1 (SSD) and 3.2.5 (memory by technology node).
"""

from __future__ import annotations


def capacity_kg(capacity_gb, kg_per_gb, fab_yield=1.0):
    r"""Embodied carbon of a memory or storage capacity.

    .. math:: E = C \cdot \frac{CPG}{Y}

    Parameters
    ----------
    capacity_gb : numeric
        Capacity [GB].
    kg_per_gb : numeric
        Carbon per GB of the technology (CPG) [kg/GB].
    fab_yield : numeric, default 1.0
        Yield ACT divides by (0.875 in ACT; 1.0 in the seed paper's constants).

    Returns
    -------
    numeric
        [kg]

    Examples
    --------
    The seed's A100 x1 host DRAM, 220 GB at 0.30 kg/GB:

    >>> capacity_kg(220, 0.30)
    66.0
    """
    return capacity_gb * kg_per_gb / fab_yield
