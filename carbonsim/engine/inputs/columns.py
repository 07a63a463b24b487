"""Turn a server and a coefficient set into the numeric column the embodied kernels evaluate.

Every row keeps its point value and, where the inputs give one, its low/high range, so the
same column drives point estimates, sweeps and Monte-Carlo sampling (layer 2).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.db.schema import Quantity, q
from carbonsim.models.embodied.layout import N_PARAMS, P
from carbonsim.models.spec_priors import DEFAULT_YEAR
from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import Die, DriveGroup, Server
from carbonsim.units import MM2_PER_CM2

MAX_DIE_TYPES = 2
#: Year of a server file without ``year:`` where the coefficient set has year-dependent terms
#: (``server-lca``): 2020, the inventory's own default (the median launch year of the database
#: CPUs, :data:`carbonsim.models.spec_priors.DEFAULT_YEAR`); a note says it was assumed.
DEFAULT_SERVER_YEAR = DEFAULT_YEAR


@dataclass
class ParamColumn:
    """One server as numbers: ``value``, ``low``, ``high`` (each shape (N_PARAMS,))."""

    value: np.ndarray = field(default_factory=lambda: np.zeros(N_PARAMS))
    low: np.ndarray = field(default_factory=lambda: np.zeros(N_PARAMS))
    high: np.ndarray = field(default_factory=lambda: np.zeros(N_PARAMS))
    sources: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def put(self, name: str, x) -> None:
        """Set row ``name`` from a Quantity (range and source kept) or a plain number."""
        i = P[name]
        if isinstance(x, Quantity):
            self.value[i] = x.value
            self.low[i] = x.value if x.low is None else x.low
            self.high[i] = x.value if x.high is None else x.high
            if x.source:
                self.sources.add(x.source)
        else:
            self.value[i] = self.low[i] = self.high[i] = float(x)


def _product(a: Quantity, b: Quantity) -> Quantity:
    """Product of two non-negative quantities; the range spans low*low .. high*high."""
    lo = (a.low if a.low is not None else a.value) * (b.low if b.low is not None else b.value)
    hi = (a.high if a.high is not None else a.value) * (b.high if b.high is not None else b.value)
    v = a.value * b.value
    return Quantity(v, a.source or b.source, lo if lo != v else None, hi if hi != v else None)


def _sum(a: Quantity, b: Quantity) -> Quantity:
    """Sum of two quantities; the range spans low+low .. high+high."""
    lo = (a.low if a.low is not None else a.value) + (b.low if b.low is not None else b.value)
    hi = (a.high if a.high is not None else a.value) + (b.high if b.high is not None else b.value)
    v = a.value + b.value
    return Quantity(v, a.source or b.source, lo if lo != v else None, hi if hi != v else None)


def _put_dies(col: ParamColumn, prefix: str, dies: list[Die], cs: CoefficientSet, where: str) -> None:
    if len(dies) > MAX_DIE_TYPES:
        raise InputError(f"at most {MAX_DIE_TYPES} die types per part are supported, found {len(dies)}",
                         field=where)
    for k, group in enumerate(("die1", "die2")):
        base = f"{prefix}_{group}_"
        if k < len(dies):
            die = dies[k]
            f = cs.node(die.node, f"{where}[{k}].node")
            col.put(base + "area_cm2", die.area_mm2.scaled(1.0 / MM2_PER_CM2))
            col.put(base + "count", die.count)
            col.put(base + "epa_kwh_per_cm2", f.epa_kwh_per_cm2)
            col.put(base + "gpa_g_per_cm2", f.gpa_g_per_cm2)
            col.put(base + "mpa_g_per_cm2", f.mpa_g_per_cm2)
        else:
            for key in ("area_cm2", "count", "epa_kwh_per_cm2", "gpa_g_per_cm2", "mpa_g_per_cm2"):
                col.put(base + key, 0.0)


def _drives_kg_per_gb(groups: list[DriveGroup], per_gb, dram_per_gb):
    """Total GB, effective kg/GB (on-drive DRAM folded in unless ``dram_per_gb`` is None) and IC
    count of drive groups."""
    total_gb = sum(g.count * g.gb_each.value for g in groups)
    n_ic = sum(g.count * (g.packages_each + g.dram_packages_each) for g in groups)
    if total_gb <= 0:
        return q(0.0), q(0.0), 0
    parts = []
    for g in groups:
        parts.append(_product(g.gb_each.scaled(g.count), per_gb(g.process)))
        if dram_per_gb is not None and g.dram_gb_each is not None and g.dram_gb_each.value > 0:
            parts.append(_product(g.dram_gb_each.scaled(g.count), dram_per_gb(g.dram_process)))
    kg = sum(p.value for p in parts)
    lo = sum(p.low if p.low is not None else p.value for p in parts)
    hi = sum(p.high if p.high is not None else p.value for p in parts)
    src = next((p.source for p in parts if p.source), None)
    per = Quantity(kg / total_gb, src, lo / total_gb, hi / total_gb)
    return q(total_gb), per, n_ic


def host_share(server: Server, cs: CoefficientSet) -> float:
    """Share of a chassis' fixed parts (CPU, boards, PSU, chassis, fans) a server carries.

    A VM with ``n`` GPUs of a chassis with ``slots`` GPU slots carries ``n / slots`` of them
    (the seed's code uses ``n / 8``); a server without GPUs carries all of its chassis.
    """
    if server.gpu is None or server.gpu_count == 0:
        return 1.0
    slots = server.host.chassis_gpu_slots or cs.host.get("chassis_gpu_slots") or 8
    return min(1.0, server.gpu_count / slots)


def chassis_share_note(server: Server, cs: CoefficientSet) -> str | None:
    """What a server charged part of its chassis is told (None when it carries all of it): its
    share, its GPUs and where the chassis' GPU slots come from."""
    share = host_share(server, cs)
    if share >= 1.0:
        return None
    slots = server.host.chassis_gpu_slots
    why = (f"host.chassis_gpu_slots is {slots}" if slots else
           f"host.chassis_gpu_slots defaults to {cs.host.get('chassis_gpu_slots') or 8}, as for a cloud VM of a "
           f"larger machine; set it to {server.gpu_count} if the server is a whole machine")
    return (f"charged {share:g} of its chassis (host CPU, boards, PSU, chassis, fans): {server.gpu_count} GPUs, "
            f"and {why}")


def _say_chassis_share(server: Server, cs: CoefficientSet) -> None:
    """A user's own server charged part of its chassis is told so (the shipped servers are cloud
    VMs whose share is documented in their files)."""
    if host_share(server, cs) >= 1.0 or _shipped(server.file):
        return
    import warnings

    from carbonsim.errors import CarbonsimWarning

    warnings.warn(f"{server.file}: {chassis_share_note(server, cs)}", CarbonsimWarning, stacklevel=3)


@functools.lru_cache(maxsize=1024)
def _shipped(file: str) -> bool:
    import os

    from carbonsim.engine.db.store import shipped_database_dir

    try:
        root = os.path.realpath(shipped_database_dir())
        return os.path.realpath(file).startswith(root + os.sep)
    except (OSError, ValueError):
        return False


def server_column(server: Server, cs: CoefficientSet) -> ParamColumn:
    """The :class:`ParamColumn` of ``server`` under coefficient set ``cs``.

    Raises
    ------
    InputError
        A technology or node the set has no number for, naming the server file and field.
    """
    try:
        return _server_column(server, cs)
    except InputError as exc:
        if exc.file is None:
            raise InputError(exc.message, file=server.file, field=exc.field) from None
        raise


def _server_column(server: Server, cs: CoefficientSet) -> ParamColumn:
    col = _server_rows(server, cs)
    col.value, col.low, col.high = np.array(col.value), np.array(col.low), np.array(col.high)
    return col


def _server_rows(server: Server, cs: CoefficientSet) -> ParamColumn:
    # filled as Python lists (a list item is set three times faster than an array's; a sweep
    # builds one column per axis value), made arrays by the caller
    col = ParamColumn([0.0] * N_PARAMS, [0.0] * N_PARAMS, [0.0] * N_PARAMS)
    col.sources |= cs.sources()
    col.put("fab_ci_g_per_kwh", cs.fab_ci_g_per_kwh)
    col.put("fab_yield", cs.fab_yield)
    col.put("packaging_kg_per_ic", cs.packaging_kg_per_ic)
    col.put("fab_defect_density_per_cm2", cs.defect_density_per_cm2)
    col.put("memory_storage_yield", cs.host.get("memory_storage_yield", 1.0))

    # --- GPU card --------------------------------------------------------------------------------
    gpu = server.gpu
    col.put("gpu_count", server.gpu_count if gpu is not None else 0)
    col.put("gpu_margin", cs.gpu["margin"])
    if gpu is not None:
        _put_dies(col, "gpu", gpu.dies, cs, "gpus.dies")
        use_given = cs.gpu["soc"] == "given" and gpu.soc_kg is not None
        if not use_given and not gpu.dies:
            raise InputError(f"coefficient set {cs.id!r} needs the GPU's dies (die model); only soc_kg given",
                             field="gpus.dies")
        col.put("gpu_soc_use_die_model", 0.0 if use_given else 1.0)
        col.put("gpu_soc_given_kg", gpu.soc_kg if use_given else 0.0)
        col.put("gpu_soc_n_ic", gpu.packages)
        col.put("gpu_mem_gb", gpu.memory_gb)
        col.put("gpu_mem_kg_per_gb", cs.gpu_memory_kg_per_gb(gpu.memory_technology, gpu.memory_process))
        col.put("gpu_mem_n_ic", gpu.memory_packages)
        if gpu.pcb_area_cm2 is None and cs.gpu.get("pcb_kg_per_cm2") is not None:
            col.notes.append(f"{gpu.id}: no board.pcb_area_cm2; GPU PCB counted as 0")
        col.put("gpu_pcb_cm2", gpu.pcb_area_cm2 or 0.0)
        col.put("gpu_pcb_kg_per_cm2", cs.gpu_value("pcb_kg_per_cm2"))
        board_w = gpu.suggested_psu_w
        if board_w is None:
            board_w = gpu.tdp_w
            if cs.gpu.get("pdn"):
                col.notes.append(f"{gpu.id}: no board.suggested_psu_w; PDN scaled by TDP instead")
        col.put("gpu_board_w", board_w)
        pdn = cs.gpu.get("pdn")
        col.put("gpu_pdn_ref_w", pdn["ref_w"] if pdn else 0.0)
        col.put("gpu_pdn_ref_kg", pdn["ref_kg"] if pdn else 0.0)
        col.put("gpu_tdp_w", gpu.tdp_w)
        cooling = cs.gpu.get("cooling") or {}
        liquid = cooling.get("liquid")
        ref = liquid if liquid and gpu.memory_technology in liquid["memory_technologies"] else cooling.get("air")
        col.put("gpu_cool_ref_w", ref["ref_w"] if ref else 0.0)
        col.put("gpu_cool_ref_kg", ref["ref_kg"] if ref else 0.0)
        col.put("gpu_interconnect_kg", cs.gpu_value("interconnect_kg"))
    else:
        for name in ("gpu_die1_count", "gpu_die2_count"):
            col.put(name, 0.0)

    # --- host ------------------------------------------------------------------------------------
    host, cpu = server.host, server.host.cpu
    col.put("host_share", host_share(server, cs))
    _say_chassis_share(server, cs)
    col.put("cpu_count", host.cpu_count)
    model = cs.host["cpu"]["model"]
    _put_dies(col, "cpu", cpu.dies if model == "die" else [], cs, "host.cpus.dies")
    if model == "die" and cpu.dies:
        col.put("cpu_use_die_model", 1.0)
        col.put("cpu_n_ic", cpu.packages)
    elif model == "die":
        if cpu.embodied_kg is None:
            raise InputError("the CPU has neither dies nor embodied_kg", field="host.cpus")
        col.put("cpu_given_kg", cpu.embodied_kg)
    elif model == "fixed":
        col.put("cpu_given_kg", cs.host["cpu"]["kg_per_server"].scaled(1.0 / host.cpu_count))
    elif model == "fixed_per_cpu":
        col.put("cpu_given_kg", cs.host["cpu"]["kg_per_cpu"])
    else:
        col.put("cpu_given_kg", 0.0)
    col.put("dram_gb", host.dram_gb)
    col.put("dram_kg_per_gb", cs.host_memory_kg_per_gb(host.dram_technology, host.dram_process))
    col.put("dram_n_ic", host.dram_packages)
    for kind, per_gb in (("ssd", cs.ssd_kg_per_gb), ("hdd", cs.hdd_kg_per_gb)):
        groups = getattr(host, kind)
        gb, kg_per_gb, n_ic = _drives_kg_per_gb(
            groups,
            lambda proc, f=per_gb, k=kind: f(proc, where=f"host.{k}"),
            # with an SSD kg/GB trend (a NAND trend), on-drive DRAM is a per-drive part instead
            None if kind == "ssd" and cs.host.get("ssd_kg_per_gb_trend") else
            lambda proc, k=kind: cs.host_memory_kg_per_gb(host.dram_technology, proc,
                                                          where=f"host.{k}.dram_process"),
        )
        col.put(f"{kind}_gb", gb)
        col.put(f"{kind}_kg_per_gb", kg_per_gb if groups else per_gb(None, where=f"host.{kind}"))
        col.put(f"{kind}_n_ic", n_ic)

    ov = host.overrides
    if "mainboard_kg" in ov:
        col.put("mainboard_kg", ov["mainboard_kg"])
    elif "mainboard_cm2" in ov:
        col.put("mainboard_kg", _product(ov["mainboard_cm2"], cs.host_value("pcb_kg_per_cm2")))
    else:
        col.put("mainboard_kg", cs.host_value("mainboard_kg"))
    if "peripheral_pwb_kg" in ov:
        col.put("peripheral_pwb_kg", ov["peripheral_pwb_kg"])
    else:
        area = ov.get("peripheral_pwb_cm2", cs.host_value("peripheral_pwb_cm2"))
        col.put("peripheral_pwb_kg", _product(area, cs.host_value("peripheral_pwb_kg_per_cm2")))
    for name in ("psu_kg", "chassis_kg", "fans_kg", "packaging_kg"):
        col.put(name, ov.get(name, cs.host_value(name)))
    _put_lca_terms(col, server, cs)
    return col


def _put_lca_terms(col: ParamColumn, server: Server, cs: CoefficientSet) -> None:
    """The rows of the per-drive parts, the SSD kg/GB trend, assembly and unitemised electronics
    (zero where the set has none, which leaves the other sets' results unchanged)."""
    host = server.host
    trend = cs.host.get("ssd_kg_per_gb_trend")
    unitemised = cs.host.get("unitemised_electronics")
    uses_year = (trend is not None and trend["decline_per_yr"].value != 0) or (
        unitemised is not None and unitemised["ref_kg"].value != 0)
    year = server.year
    if year is None:
        year = DEFAULT_SERVER_YEAR
        if uses_year:
            col.notes.append(f"no year in the server file; coefficient set {cs.id!r} assumes {year} for its "
                             "year-dependent terms (SSD kg/GB, unitemised electronics)")
    col.put("server_year", year)
    n_ssd = sum(g.count for g in host.ssd)
    col.put("ssd_count", n_ssd)
    per_drive = cs.host_value("ssd_kg_per_drive")
    if trend is not None and n_ssd:
        # on-drive DRAM (left out of the trended kg/GB) joins the per-drive part, spread over the drives
        dram = [_product(g.dram_gb_each.scaled(g.count / n_ssd),
                         cs.host_memory_kg_per_gb(host.dram_technology, g.dram_process, where="host.ssd.dram_process"))
                for g in host.ssd if g.dram_gb_each is not None and g.dram_gb_each.value > 0]
        for q_ in dram:
            per_drive = _sum(per_drive, q_)
    col.put("ssd_kg_per_drive", per_drive)
    col.put("hdd_count", sum(g.count for g in host.hdd))
    col.put("hdd_kg_per_drive", cs.host_value("hdd_kg_per_drive"))
    if trend is not None:
        col.put("ssd_trend_ref_year", trend["ref_year"])
        col.put("ssd_trend_decline_per_yr", trend["decline_per_yr"])
        col.put("ssd_floor_kg_per_gb", trend["floor_kg_per_gb"])
        col.put("ssd_ceiling_kg_per_gb", trend["ceiling_kg_per_gb"])
    col.put("assembly_kg", cs.host_value("assembly_kg"))
    if "unitemised_kg" in host.overrides:  # the server's own value, in its year
        col.put("unitemised_ref_kg", host.overrides["unitemised_kg"])
        col.put("unitemised_ref_year", year)
        col.put("unitemised_decline_per_yr", 0.0)
    elif unitemised is not None:
        col.put("unitemised_ref_kg", unitemised["ref_kg"])
        col.put("unitemised_ref_year", unitemised["ref_year"])
        col.put("unitemised_decline_per_yr", unitemised["decline_per_yr"])
        note = unitemised_year_note(cs, year)
        if note:
            col.notes.append(note)


def unitemised_year_note(cs: CoefficientSet, year) -> str | None:
    """The note of a server whose year lies outside the years the set's unitemised-electronics
    term was fitted on (None when inside, or the set has no such term). A server with its own
    ``host.unitemised_kg`` is not told (its value is used as given)."""
    unitemised = cs.host.get("unitemised_electronics")
    span = unitemised.get("fitted_years") if unitemised is not None else None
    if span and unitemised["ref_kg"].value != 0 and not span[0] <= year <= span[1]:
        return (f"year {year} is outside {span[0]}-{span[1]}, the years coefficient set {cs.id!r}'s "
                "unitemised-electronics term was fitted on: extrapolated")
    return None
