r"""Fleet inventories of any size (layer 2): ``carbonsim inventory`` in chunks, in bounded memory.

The readable path is :mod:`carbonsim.engine.studies.inventory`: :func:`~.inventory.fill_row`
fills one row, :func:`~.inventory.run_inventory` builds each server and its points through the
chain, one server at a time (about 2,500 servers per second; 200,000 servers took 95 s and 3.9 GB
at two utilisations). This module gives the same rows for a fleet of any size:

1. the CSV is read as columns, in blocks (:func:`~carbonsim.engine.readers.inventory.read_inventory_columns`);
2. every row's blanks are filled as arrays (:func:`fill_columns`), by :func:`~.inventory.fill_row`'s
   rules and its priors (the same layer-1 functions);
3. rows that differ only in numbers share a **structure**: their GPU, their CPU (or the priors'
   node), the DRAM technology, whether they have SSDs and HDDs, whether the year is known, and
   the year's note (the default SSD's range matters only to ``samples``, which take the readable
   path). One row per structure, its first, goes through the
   readable path (``fill_row``, the server schema, :meth:`CarbonChain.column
   <carbonsim.engine.chain.CarbonChain.column>`): any error a row can raise is raised there, in
   file order, naming the row, before anything is written; its column is the structure's
   **template**, and its filled values are checked equal to step 2's;
4. a chunk's points are their templates with the numbers that vary within a structure set from
   the rows (:data:`ROW_VALUES`: counts, sizes, years, lifetimes, the host prior's power, the
   loads), by the formulas of ``server_column`` and the host prior
   (:func:`~carbonsim.engine.inputs.power.prior_power_w`); a template's own row comes out equal
   to its template, which is checked for every structure, so the formulas cannot drift from the
   readable path unseen (``tests/engine/test_inventory_fleet.py`` compares the two on varied rows);
5. the chain's steady-load stage, with its period stage, evaluates the chunk, and the chunk's
   output rows are handed out as columns (:meth:`FleetRun.chunks`); nothing of a chunk is kept
   once it is handed out.

A row that names a server (the ``server`` column: :func:`~.inventory.named_row`) is filled with
nothing: each server named is a structure of its own (every row naming it), whose template is
the server's column as the readable path builds it for the structure's first row; the rows of
that structure set only their lifetimes (:attr:`FleetFill.gpu_life`, :attr:`FleetFill.host_life`:
the row's ``lifetime_yr`` where the server's lifetimes follow its ``lifetime_yr``, else the
server's) and the loads. A fleet without the column pays nothing for it.

What the whole run holds: the filled values (about 20 numbers a server) and one template per
structure; a chunk of :data:`CHUNK_ROWS` servers at a time besides. With ``samples`` the fleet is
checked the same way (every error before any output), then each server's embodied carbon is
drawn on its own (the readable path, chunk by chunk: seeds per server as
:func:`~.inventory.run_inventory`'s).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.columns import DEFAULT_SERVER_YEAR, host_share, unitemised_year_note
from carbonsim.engine.inputs.grid import grid_over_period
from carbonsim.engine.inputs.options import DEFAULT_PUE, DEFAULT_UTIL
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.inputs.plausibility import (
    FAR, SERVER_FIELDS, far_message, server_curve_message, server_ranges, warn,
)
from carbonsim.engine.inputs.power import prior_power_w
from carbonsim.engine.inputs.server import (
    DEFAULT_LIFETIME_YR, Server, lifetimes_follow, server_document, server_from_checked,
)
from carbonsim.engine.readers.inventory import InventoryColumns
from carbonsim.engine.readers.table import paused_gc
from carbonsim.engine.studies.inventory import (
    InventoryResult, NamedServer, cap_note, checked_options, fill_row, inventory_columns, inventory_loads, named_notes,
    named_origin, row_notes, run_inventory, server_points,
)
from carbonsim.errors import InputError
from carbonsim.models.spec_priors import (
    DEFAULT_CPU_COUNT, DEFAULT_GPU_COUNT, DEFAULT_HDD_GB_EACH, DEFAULT_SSD_GB, DEFAULT_YEAR, DRAM_PER_GPU_GB,
    dram_technology_for_year, node_for_year, prior_cores_per_cpu, prior_die_area_mm2, prior_dram_gb, prior_tdp_w,
)
from carbonsim.units import MM2_PER_CM2

#: Servers per chunk: a chunk's points (servers x utilisations) are about 120 rows of 8 bytes each.
CHUNK_ROWS = 1 << 14
#: The ``filled`` column's names, in the order :func:`~.inventory.fill_row` appends them.
FILL_ORDER = ("gpu_count", "year", "cpu_count", "cores_total", "cpu_tdp_w", "die_area_mm2", "node",
              "dram_technology", "dram_gb", "ssd_count", "ssd_gb", "hdd_gb", "hdd_count", "lifetime_yr")
_BIT = {name: 1 << i for i, name in enumerate(FILL_ORDER)}
#: Where a filled year came from (codes of :attr:`FleetFill.year_from`).
YEAR_GIVEN, YEAR_OF_CPU, YEAR_OF_GPU, YEAR_DEFAULT = range(4)
#: Where a filled DRAM size came from (codes of :attr:`FleetFill.dram_from`).
DRAM_GIVEN, DRAM_OF_GPUS, DRAM_PRIOR = range(3)
#: The point rows a chunk sets from its rows (every other row is its structure's template's).
ROW_VALUES = ("gpu_count", "cpu_count", "cpu_die1_area_cm2", "cpu_given_kg", "dram_gb", "ssd_gb", "ssd_kg_per_gb",
              "hdd_gb", "hdd_kg_per_gb", "server_year", "ssd_count", "hdd_count", "gpu_lifetime_yr",
              "host_lifetime_yr", "host_idle_w", "host_max_w", "host_const_w", "host_psu_w", "host_cores",
              "cpu_util", "gpu_util")


def _each(fn, *arrays) -> np.ndarray:
    """``fn`` (a layer-1 prior of one value) over arrays, as floats: called once per distinct
    combination of arguments (a fleet repeats its core counts, TDPs and years)."""
    keys = np.stack([np.asarray(a, dtype=float) for a in arrays], axis=1)
    distinct, where = np.unique(keys, axis=0, return_inverse=True)
    values = np.fromiter((fn(*k) for k in distinct.tolist()), dtype=float, count=len(distinct))
    return values[where.reshape(-1)]


# ------------------------------------------------------------------------------------------------
# Filling

@dataclass
class Named:
    """A server named by rows of the fleet, as written in its ``server`` cells: the server itself
    (its own lifetimes), whether its lifetimes follow ``lifetime_yr``, and where it came from."""

    server: Server
    follows: tuple             # (GPU, host): lifetime_yr sets the lifetime
    origin: str                # the note of its rows


def _named(cols: InventoryColumns, db) -> tuple[np.ndarray, list]:
    """Each row's named server (an index into the list; -1: none; -2: a reference that fails,
    which :func:`~.inventory.fill_row` raises for the row) and the servers named, each
    reference resolved once."""
    refs = cols.names("server")
    of: dict = {None: -1}
    named: list[Named] = []
    folder = Path(cols.file).parent
    for ref in dict.fromkeys(refs):
        if ref is None:
            continue
        try:
            checked, file, sid = server_document(ref, db, folder)
            server = server_from_checked(checked, db, file, sid, warn=False)
        except InputError:
            of[ref] = -2
            continue
        of[ref] = len(named)
        named.append(Named(server, lifetimes_follow(checked.spec), named_origin(db, file, sid)))
    return np.fromiter((of[r] for r in refs), np.int64, len(refs)), named


@dataclass
class FleetFill:
    """Every row's values once its blanks are filled (arrays over the rows), and where they came
    from: the numbers :func:`~.inventory.fill_row` gives one row at a time."""

    cols: InventoryColumns
    gpu: np.ndarray            # index into gpu_ids; -1: no GPU
    gpu_ids: list
    cpu: np.ndarray            # index into cpu_ids; -1: the priors
    cpu_ids: list
    cpu_note: list             # per row: what the CPU name gave (None: no cpu_model)
    gpu_count: np.ndarray
    gpu_count_filled: np.ndarray
    year: np.ndarray
    year_known: np.ndarray
    year_from: np.ndarray
    cpu_count: np.ndarray
    cores_total: np.ndarray
    db_cores: np.ndarray       # cores of the database CPU (0: none)
    db_tdp: np.ndarray         # TDP of the database CPU [W] (NaN: none), which its server's power uses
    tdp: np.ndarray
    area: np.ndarray           # priors: die area [mm2] (NaN for a database CPU)
    cores: np.ndarray          # priors: cores per CPU of the server spec
    node: np.ndarray           # priors: node (None for a database CPU)
    tech: np.ndarray
    dram: np.ndarray
    dram_from: np.ndarray
    ssd_count: np.ndarray
    ssd_gb: np.ndarray
    ssd_default: np.ndarray    # both SSD cells blank: one default drive (a ranged size)
    ssd_note: np.ndarray
    hdd_count: np.ndarray
    hdd_gb: np.ndarray
    hdd_note: np.ndarray
    life: np.ndarray
    psu: np.ndarray            # NaN: not given
    filled: np.ndarray         # bits of FILL_ORDER
    server: np.ndarray = None  # index into named (-1: the row describes its machine)
    named: list = field(default_factory=list)
    gpu_life: np.ndarray = None  # the GPUs' and the host's lifetimes [yr] (``life`` but for named servers)
    host_life: np.ndarray = None
    _filled_text: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.gpu)

    def filled_text(self, i: int) -> str:
        mask = int(self.filled[i])
        if mask not in self._filled_text:
            self._filled_text[mask] = ";".join(n for n in FILL_ORDER if mask & _BIT[n])
        return self._filled_text[mask]

    def notes(self, i: int) -> list[str]:
        """Row ``i``'s notes from filling it, in :func:`~.inventory.fill_row`'s order."""
        if self.server[i] >= 0:
            return named_notes(self.named[self.server[i]].origin, float(self.gpu_life[i]), float(self.host_life[i]))
        out = []
        if self.gpu_count_filled[i]:
            out.append(f"gpu_count blank: {DEFAULT_GPU_COUNT} assumed")
        if self.cpu_note[i] is not None:
            out.append(self.cpu_note[i])
        yf = int(self.year_from[i])
        if yf != YEAR_GIVEN:
            year = int(self.year[i])
            src = {YEAR_OF_CPU: lambda: f"launch year of {self.cpu_ids[self.cpu[i]]}",
                   YEAR_OF_GPU: lambda: f"launch year of {self.gpu_ids[self.gpu[i]]}",
                   YEAR_DEFAULT: lambda: "default; host power uses the prior without year"}[yf]()
            out.append(f"year {year} ({src})")
        db_cores = int(self.db_cores[i])
        if db_cores and self.cores_total[i] != db_cores * self.cpu_count[i]:
            out.append(f"cores_total {int(self.cores_total[i])} differs from {int(self.cpu_count[i])} x {db_cores} "
                       f"cores of {self.cpu_ids[self.cpu[i]]}")
        if self.cpu[i] < 0:
            out.append(f"cpu die {self.area[i]:.0f} mm2 at {self.node[i]} (core-count and year priors)")
        df = int(self.dram_from[i])
        if df == DRAM_OF_GPUS:
            out.append(f"dram {self.dram[i]:.0f} GB = {DRAM_PER_GPU_GB[0]:g} x GPU memory")
        elif df == DRAM_PRIOR:
            out.append(f"dram {self.dram[i]:.0f} GB from the cores/year prior")
        if self.ssd_note[i]:
            out.append("ssd_gb > 0 with ssd_count 0: counted as 1 drive")
        if self.hdd_note[i]:
            out.append("hdd_gb > 0 with hdd_count 0: counted as 1 drive")
        return out

    def check_against(self, i: int, s) -> None:
        """Row ``i`` equals :func:`~.inventory.fill_row`'s :class:`~.inventory.FilledServer` (or
        :class:`~.inventory.NamedServer`) ``s`` (the two fillings are one set of rules; a
        difference is a bug, never an answer)."""
        if isinstance(s, NamedServer) or self.server[i] >= 0:
            k = int(self.server[i])
            mine = (self.named[k].server.file, float(self.gpu_life[i]), float(self.host_life[i]), float(self.life[i]),
                    self.filled_text(i), self.notes(i)) if k >= 0 else None
            theirs = (s.server.file, s.server.gpu_lifetime_yr.value, s.server.host_lifetime_yr.value, s.lifetime_yr,
                      ";".join(s.filled), s.notes) if isinstance(s, NamedServer) else None
        else:
            mine = (int(self.cpu_count[i]), int(self.cores_total[i]), float(self.tdp[i]), float(self.dram[i]),
                    int(self.ssd_count[i]), float(self.ssd_gb[i]), int(self.hdd_count[i]), float(self.hdd_gb[i]),
                    self.gpu_ids[self.gpu[i]] if self.gpu[i] >= 0 else None, int(self.gpu_count[i]),
                    int(self.year[i]), bool(self.year_known[i]), float(self.life[i]), self.filled_text(i),
                    self.notes(i))
            theirs = (s.cpu_count, s.cores_total, s.cpu_tdp_w, s.dram_gb, s.ssd_count, s.ssd_gb, s.hdd_count,
                      s.hdd_gb, s.gpu_id, s.gpu_count, s.year, s.year_known, s.lifetime_yr, ";".join(s.filled),
                      s.notes)
        if mine != theirs:
            raise RuntimeError(f"carbonsim bug: the inventory's columnar filling of {s.row.where()} differs from "
                               f"fill_row: {mine} != {theirs}")


def fill_columns(cols: InventoryColumns, db, cpus: PartMatcher, gpus: PartMatcher) -> FleetFill:
    """Fill every row's blanks (:func:`~.inventory.fill_row`'s rules, as arrays).

    Raises
    ------
    InputError
        As :func:`~.inventory.fill_row`, for the first row (in file order) that raises.
    """
    n = len(cols)
    gpu_model, cpu_model = cols.names("gpu_model"), cols.names("cpu_model")
    gc_ = cols.number("gpu_count")
    server, named = _named(cols, db) if "server" in cols.text else (np.full(n, -1, np.int64), [])

    # --- GPU (never guessed): the first row with an unknown GPU, or GPUs without a model, raises
    gpu_ids: list[str] = []
    gpu_of: dict = {}
    for m in dict.fromkeys(gpu_model):
        if m is None:
            continue
        found, _ = gpus.match(m)
        if found is not None and found not in gpu_ids:
            gpu_ids.append(found)
        gpu_of[m] = -1 if found is None else gpu_ids.index(found)
    has_model = np.fromiter((m is not None for m in gpu_model), bool, n)
    matched = np.fromiter((gpu_of.get(m, -1) for m in gpu_model), np.int64, n)
    asks = has_model & (gc_ != 0)  # a blank count asks for the model's GPU too
    bad = (asks & (matched < 0)) | (~has_model & (np.nan_to_num(gc_) > 0)) | (server == -2)
    if bad.any():
        fill_row(cols.row(int(np.flatnonzero(bad)[0])), db, cpus, gpus)  # raises, naming the row
    gpu_count_filled = asks & np.isnan(gc_)
    gpu_count = np.where(gpu_count_filled, float(DEFAULT_GPU_COUNT), np.nan_to_num(gc_))
    gpu = np.where(asks & (gpu_count > 0), matched, -1)
    gpu_specs = [db.get("gpus", g) for g in gpu_ids]

    # --- CPU ---------------------------------------------------------------------------------------
    cpu_ids: list[str] = []
    cpu_of: dict = {None: (-1, None)}
    for m in dict.fromkeys(cpu_model):
        if m is None:
            continue
        found, cands = cpus.match(m)
        if found is not None:
            if found not in cpu_ids:
                cpu_ids.append(found)
            cpu_of[m] = (cpu_ids.index(found), f"cpu {found} from the database")
        elif cands:
            cpu_of[m] = (-1, f"cpu_model {m!r} matches several database CPUs ({', '.join(cands)}); priors used")
        else:
            cpu_of[m] = (-1, f"cpu_model {m!r} not in the database; priors used")
    cpu = np.fromiter((cpu_of[m][0] for m in cpu_model), np.int64, n)
    cpu_note = [cpu_of[m][1] for m in cpu_model]
    cpu_specs = [db.get("cpus", c) for c in cpu_ids]

    def by_cpu(get, default=np.nan):
        table = np.array([default] + [get(s) for s in cpu_specs], dtype=object)
        return table[cpu + 1]

    def by_gpu(get, default=np.nan):
        table = np.array([default] + [get(s) for s in gpu_specs], dtype=object)
        return table[gpu + 1]

    db_cores = by_cpu(lambda s: int(s["cores"]) if s.get("cores") else 0, 0).astype(float)
    cpu_year = by_cpu(lambda s: int(s["year"]) if s.get("year") else np.nan).astype(float)
    gpu_year = by_gpu(lambda s: int(s["year"]) if s.get("year") else np.nan).astype(float)
    filled = np.zeros(n, np.int64)
    filled |= np.where(gpu_count_filled, _BIT["gpu_count"], 0)

    # --- year ----------------------------------------------------------------------------------
    row_year = cols.number("year")
    year_from = np.select([~np.isnan(row_year), ~np.isnan(cpu_year), ~np.isnan(gpu_year)],
                          [YEAR_GIVEN, YEAR_OF_CPU, YEAR_OF_GPU], YEAR_DEFAULT)
    year = np.select([year_from == YEAR_GIVEN, year_from == YEAR_OF_CPU, year_from == YEAR_OF_GPU],
                     [row_year, cpu_year, gpu_year], float(DEFAULT_YEAR))
    year_known = year_from != YEAR_DEFAULT
    filled |= np.where(year_from != YEAR_GIVEN, _BIT["year"], 0)

    # --- CPU count, cores, TDP -----------------------------------------------------------------------
    row_count, row_cores, row_tdp = cols.number("cpu_count"), cols.number("cores_total"), cols.number("cpu_tdp_w")
    whole = (db_cores > 0) & ~np.isnan(row_cores) & (np.fmod(np.nan_to_num(row_cores), np.maximum(db_cores, 1)) == 0)
    cpu_count = np.where(~np.isnan(row_count), row_count,
                         np.where(whole, np.floor_divide(np.nan_to_num(row_cores), np.maximum(db_cores, 1)),
                                  float(DEFAULT_CPU_COUNT)))
    filled |= np.where(np.isnan(row_count), _BIT["cpu_count"], 0)
    per = db_cores.copy()
    need = np.isnan(row_cores) & (db_cores == 0)
    if need.any():
        per[need] = _each(lambda y, x: prior_cores_per_cpu(int(y), None if x != x else x), year[need], row_tdp[need])
    cores_total = np.where(np.isnan(row_cores), per * cpu_count, row_cores)
    filled |= np.where(np.isnan(row_cores), _BIT["cores_total"], 0)
    cores_per = cores_total / cpu_count
    db_tdp = by_cpu(lambda s: float(getattr(s.get("tdp_w"), "value", np.nan)) if s.get("tdp_w") is not None
                    else np.nan).astype(float)
    tdp = row_tdp.copy()
    blank = np.isnan(row_tdp)
    use_db = blank & ~np.isnan(db_tdp)
    tdp[use_db] = db_tdp[use_db]
    prior = blank & np.isnan(db_tdp)
    if prior.any():
        tdp[prior] = _each(prior_tdp_w, cores_per[prior])
    filled |= np.where(blank, _BIT["cpu_tdp_w"], 0)

    area = np.full(n, np.nan)
    node = np.full(n, None, dtype=object)
    cores = np.zeros(n)
    priors = cpu < 0
    if priors.any():
        area[priors] = _each(prior_die_area_mm2, cores_per[priors])
        nodes = {y: node_for_year(int(y)) for y in np.unique(year[priors]).tolist()}
        node[priors] = [nodes[y] for y in year[priors].tolist()]
        cores[priors] = np.round(cores_per[priors])
    filled |= np.where(priors, _BIT["die_area_mm2"] | _BIT["node"], 0)

    # --- memory ------------------------------------------------------------------------------------
    cpu_tech = by_cpu(lambda s: s.get("memory_technology"), None)
    techs = {y: dram_technology_for_year(int(y)) for y in np.unique(year).tolist()}
    year_tech = np.array([techs[y] for y in year.tolist()], dtype=object)
    no_tech = np.array([t is None for t in cpu_tech.tolist()], dtype=bool)
    tech = np.where(no_tech, year_tech, cpu_tech)
    filled |= np.where(no_tech, _BIT["dram_technology"], 0)
    row_dram = cols.number("dram_gb")
    gpu_mem_gb = by_gpu(lambda s: float(getattr(s["memory"]["gb"], "value", s["memory"]["gb"]))).astype(float)
    dram_from = np.where(~np.isnan(row_dram), DRAM_GIVEN, np.where(gpu >= 0, DRAM_OF_GPUS, DRAM_PRIOR))
    dram = row_dram.copy()
    of_gpus = dram_from == DRAM_OF_GPUS
    dram[of_gpus] = DRAM_PER_GPU_GB[0] * (gpu_count[of_gpus] * gpu_mem_gb[of_gpus])
    of_prior = dram_from == DRAM_PRIOR
    if of_prior.any():
        dram[of_prior] = _each(lambda c, y: prior_dram_gb(c, int(y)), cores_total[of_prior], year[of_prior])
    filled |= np.where(dram_from != DRAM_GIVEN, _BIT["dram_gb"], 0)

    # --- drives ------------------------------------------------------------------------------------
    sc, sg = cols.number("ssd_count"), cols.number("ssd_gb")
    ssd_default = np.isnan(sc) & np.isnan(sg)
    ssd_count = np.where(ssd_default, 1.0, np.where(np.isnan(sc), (np.nan_to_num(sg) > 0).astype(float), sc))
    ssd_gb = np.where(ssd_default, DEFAULT_SSD_GB[0], np.where(np.isnan(sg), ssd_count * DEFAULT_SSD_GB[0], sg))
    filled |= np.where(np.isnan(sc), _BIT["ssd_count"], 0) | np.where(np.isnan(sg), _BIT["ssd_gb"], 0)
    ssd_note = (ssd_count == 0) & (ssd_gb > 0)
    ssd_count = np.where(ssd_note, 1.0, ssd_count)
    hc, hg = cols.number("hdd_count"), cols.number("hdd_gb")
    none = np.isnan(hc) & np.isnan(hg)
    hdd_count = np.where(none, 0.0, np.where(np.isnan(hc), (np.nan_to_num(hg) > 0).astype(float), hc))
    hdd_gb = np.where(none, 0.0, np.where(np.isnan(hg), hdd_count * DEFAULT_HDD_GB_EACH, hg))
    filled |= np.where(~none & np.isnan(hg), _BIT["hdd_gb"], 0) | np.where(~none & np.isnan(hc), _BIT["hdd_count"], 0)
    hdd_note = (hdd_count == 0) & (hdd_gb > 0)
    hdd_count = np.where(hdd_note, 1.0, hdd_count)

    row_life = cols.number("lifetime_yr")
    life = np.where(np.isnan(row_life), DEFAULT_LIFETIME_YR.value, row_life)
    if cols.has_lifetime_column:
        filled |= np.where(np.isnan(row_life), _BIT["lifetime_yr"], 0)
    gpu_life = host_life = life
    if named:  # a named server: nothing filled; its lifetimes, the row's where they follow lifetime_yr
        at, k = server >= 0, np.maximum(server, 0)
        filled[at] = 0
        follows = np.array([nm.follows for nm in named], dtype=bool)[k]  # (rows, GPU and host)
        own = np.array([(nm.server.gpu_lifetime_yr.value, nm.server.host_lifetime_yr.value) for nm in named])[k]
        by_row = ~np.isnan(row_life)[:, None] & follows
        lives = np.where(at[:, None], np.where(by_row, row_life[:, None], own), life[:, None])
        gpu_life, host_life = lives[:, 0].copy(), lives[:, 1].copy()
        life = host_life
    return FleetFill(cols, gpu, gpu_ids, cpu, cpu_ids, cpu_note, gpu_count, gpu_count_filled, year, year_known,
                     year_from, cpu_count, cores_total, db_cores, db_tdp, tdp, area, cores, node, tech, dram, dram_from,
                     ssd_count, ssd_gb, ssd_default, ssd_note, hdd_count, hdd_gb, hdd_note, life, cols.number("psu_w"),
                     filled, server, named, gpu_life, host_life)


# ------------------------------------------------------------------------------------------------
# Structures, templates and the numbers that vary within a structure

def structures(f: FleetFill, cs: CoefficientSet) -> tuple[np.ndarray, list[int]]:
    """Each row's structure (an index) and each structure's first row, in file order. A structure
    is what makes rows' columns differ other than by the numbers :func:`row_values` sets; a row
    whose priors give a CPU of less than one core is a structure of its own (the readable path
    refuses it, naming the row); the rows naming one server are one structure."""
    notes = {y: unitemised_year_note(cs, int(y)) for y in np.unique(f.year).tolist()}
    keys: dict = {}
    index = np.empty(len(f), np.int64)
    first: list[int] = []
    lone = (f.cpu < 0) & (f.cores < 1)
    srv = f.server.tolist() if f.named else None
    for i, key in enumerate(zip(f.gpu.tolist(), f.cpu.tolist(), f.node.tolist(), f.tech.tolist(),
                                (f.ssd_count > 0).tolist(), (f.hdd_count > 0).tolist(), f.year_known.tolist(),
                                [notes[y] for y in f.year.tolist()])):
        if srv is not None and srv[i] >= 0:
            key = ("server", srv[i])
        elif lone[i]:
            key = ("row", i)
        k = keys.get(key)
        if k is None:
            k = keys[key] = len(first)
            first.append(i)
        index[i] = k
    return index, first


def row_values(f: FleetFill, rows: np.ndarray, db, cs: CoefficientSet) -> dict[str, np.ndarray]:
    """The point rows of :data:`ROW_VALUES` but the loads for ``rows`` (one value each), by the
    formulas of :func:`~carbonsim.engine.inputs.columns.server_column` and the host prior for
    an inventory row's server document (:func:`~.inventory.fill_row`: a whole chassis, host
    share 1; SSDs as one group, HDDs as one group; the CPU's own dies or one prior die). A row
    that names a server sets only its lifetimes: the rest is its template's."""
    gpu_count, cpu_count = f.gpu_count[rows], f.cpu_count[rows]
    has_gpu = f.gpu[rows] >= 0
    out = {"gpu_count": np.where(has_gpu, gpu_count, 0.0), "cpu_count": cpu_count}
    priors = f.cpu[rows] < 0
    model = cs.host["cpu"]["model"]
    if model == "die":  # the priors' one die (a database CPU's dies are its template's)
        out["cpu_die1_area_cm2"] = (f.area[rows] * (1.0 / MM2_PER_CM2), priors)
    elif model == "fixed":
        out["cpu_given_kg"] = cs.host["cpu"]["kg_per_server"].value * (1.0 / cpu_count)
    out["dram_gb"] = f.dram[rows]
    for kind, count, gb, per_gb in (("ssd", f.ssd_count[rows], f.ssd_gb[rows], cs.ssd_kg_per_gb(None).value),
                                    ("hdd", f.hdd_count[rows], f.hdd_gb[rows], cs.hdd_kg_per_gb(None).value)):
        has = count > 0  # one drive group
        safe = np.where(has, count, 1.0)
        each = np.where(f.ssd_default[rows], DEFAULT_SSD_GB[0], gb / safe) if kind == "ssd" else gb / safe
        total = np.where(has, safe * each, 0.0)
        some = total > 0
        out[f"{kind}_gb"] = total
        out[f"{kind}_kg_per_gb"] = (np.where(some, ((each * safe) * per_gb) / np.where(some, total, 1.0), 0.0), has)
        out[f"{kind}_count"] = count
    out["server_year"] = np.where(f.year_known[rows], f.year[rows], float(DEFAULT_SERVER_YEAR))
    cores = np.where(priors, f.cores[rows], f.db_cores[rows])
    out["host_cores"] = 1.0 * cpu_count * np.where(cores > 0, cores, 1.0)
    psu = f.psu[rows]
    out["host_psu_w"] = np.where(np.isnan(psu), 0.0, psu)
    tdp = np.where(priors, f.tdp[rows], f.db_tdp[rows])
    idle, full, const = (np.empty(len(rows)) for _ in range(3))
    known = f.year_known[rows]
    for with_year in (True, False):
        m = known == with_year
        if m.any():
            idle[m], full[m], const[m] = prior_power_w(
                db, tdp[m], cpu_count[m], cores[m] * cpu_count[m], f.dram[rows][m], f.year[rows][m] if with_year else None,
                f.ssd_count[rows][m], f.hdd_count[rows][m])
    out["host_idle_w"], out["host_max_w"], out["host_const_w"] = idle, full, const
    if f.named:
        spec = f.server[rows] < 0
        if not spec.all():  # a named server's numbers are its template's
            out = {k: (v[0], v[1] & spec) if isinstance(v, tuple) else (v, spec) for k, v in out.items()}
    out["gpu_lifetime_yr"], out["host_lifetime_yr"] = f.gpu_life[rows], f.host_life[rows]
    return out


# ------------------------------------------------------------------------------------------------
# The run

@dataclass
class FleetRun:
    """An inventory run, checked and ready to stream: :meth:`chunks` gives the output rows.

    Everything that can be wrong with the inputs was raised when it was built (:func:`plan_inventory`);
    the chunks only compute.
    """

    columns: list[str]
    size: int                       # output rows (servers x utilisations)
    servers: int
    _chunks: object = None

    def chunks(self, rows: int = CHUNK_ROWS, progress=None):
        """The output in chunks of ``rows`` servers: each a dict column -> list or array of the
        chunk's output rows (servers in file order, each at every utilisation), in
        :attr:`columns` order. ``progress(done, total)`` counts servers."""
        return self._chunks(rows, progress)


def plan_inventory(cols: InventoryColumns, db, utils=(DEFAULT_UTIL,), grid=None, pue: float = DEFAULT_PUE,
                   years: float = 1.0, coefficients=None, samples: int = 0, seed: int | None = 0,
                   cpu_util: float | None = None, gpu_util: float | None = None) -> FleetRun:
    """Check and fill a fleet and build its structures' templates (the arguments of
    :func:`~.inventory.run_inventory`); the returned :class:`FleetRun` streams the rows.

    Raises
    ------
    InputError
        As :func:`~.inventory.run_inventory` would, for the same row: nothing has been output yet.
    """
    u, samples, cs = checked_options(db, utils, cpu_util, gpu_util, pue, years, samples, seed, coefficients)
    given_grid = grid
    if grid is not None:
        grid = grid_over_period(grid, db, years)
    columns = inventory_columns(samples, grid is not None)
    n = len(cols)
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    with paused_gc():
        f = fill_columns(cols, db, cpus, gpus)
    chain = CarbonChain.for_points(db, n * len(u))
    ci = grid.ci_g_per_kwh if grid is not None else 1.0
    loads = inventory_loads(u, cpu_util, gpu_util)
    index, first = structures(f, cs)
    templates = np.empty((len(chain.rows), len(first)))
    notes, origins = [], []
    for k, i in enumerate(first):
        s = fill_row(cols.row(i), db, cpus, gpus)
        f.check_against(i, s)
        _, per_u = server_points(s, db, chain, cs, ci, pue, years, loads, warn=False)
        templates[:, k] = per_u[0].value
        notes.append(per_u[0].notes)
        origins.append([c.power_origin for c in per_u])  # one per utilisation (it names the GPUs' load)
    caps = [cap_note(nm.server.host.facts["psu_w"].value if "psu_w" in nm.server.host.facts else 0.0,
                     host_share(nm.server, cs)) for nm in f.named]
    first_rows = np.asarray(first, dtype=np.int64)
    own = _points(chain, templates, index[first_rows], row_values(f, first_rows, db, cs), loads[:1])
    if not np.array_equal(own, templates, equal_nan=True):
        bad = np.flatnonzero(np.any(own != templates, axis=1))
        raise RuntimeError("carbonsim bug: the inventory's point rows differ from the readable path's in "
                           + ", ".join(chain.rows[b] for b in bad[:5]))
    if samples:  # each server drawn on its own: the readable path, chunk by chunk (the fleet is checked)
        def by_rows(size, progress):
            for a in range(0, n, size):
                b = min(n, a + size)
                out = run_inventory(cols.rows(a, b), db, utils=list(u), grid=given_grid, pue=pue, years=years,
                                    coefficients=cs, samples=samples, seed=seed, cpu_util=cpu_util,
                                    gpu_util=gpu_util, first_index=a)
                if progress is not None:
                    progress(b, n)
                yield {c: [r[c] for r in out] for c in columns}

        return FleetRun(columns, n * len(u), n, by_rows)
    _plausibility(f, db)

    life = f.life

    def by_chunks(size, progress):
        U = len(u)
        for a in range(0, n, size):
            b = min(n, a + size)
            rows = np.arange(a, b)
            mat = _points(chain, templates, index[rows], row_values(f, rows, db, cs), loads)
            res = chain.run_load(mat)
            yield _output(f, rows, index, res, u, U, grid, pue, years, cs, columns, notes, origins, life, caps)
            del mat, res
            if progress is not None:
                progress(b, n)

    return FleetRun(columns, n * len(u), n, by_chunks)


def _points(chain: CarbonChain, templates: np.ndarray, structure: np.ndarray, values: dict, loads) -> np.ndarray:
    """The points of rows of the given structures at each load (server-major): the templates
    with ``values`` (one per row; a pair ``(values, where)`` sets only where) and the loads set."""
    U = len(loads)
    rep = np.repeat(np.arange(len(structure)), U)
    sets = {}
    for name, v in values.items():
        if isinstance(v, tuple):
            v, where = v
            v = np.where(where, v, templates[chain.index[name], structure])
        sets[name] = v[rep]
    sets["cpu_util"] = np.tile([x.cpu_util for x in loads], len(structure))
    sets["gpu_util"] = np.tile([x.gpu_util for x in loads], len(structure))
    return chain.points_from(templates, structure[rep], sets)


def _plausibility(f: FleetFill, db) -> None:
    """The plausibility warnings of every row's server (:func:`~carbonsim.engine.inputs.plausibility.server_messages`),
    each message once, in row order."""
    ranges = server_ranges(db)
    has_gpu = f.gpu >= 0
    each_ssd = np.where(f.ssd_default, DEFAULT_SSD_GB[0], f.ssd_gb / np.where(f.ssd_count > 0, f.ssd_count, 1.0))
    storage = (np.where(f.ssd_count > 0, f.ssd_count * each_ssd, 0.0)
               + np.where(f.hdd_count > 0, f.hdd_count * (f.hdd_gb / np.where(f.hdd_count > 0, f.hdd_count, 1.0)),
                          0.0))
    values = {"gpus.count": np.where(has_gpu, f.gpu_count, 0.0), "host.cpus.count": f.cpu_count,
              "host.dram.gb": f.dram, "storage_gb (host.ssd_gb + host.hdd_gb)": storage, "lifetime_yr": f.life}
    assert tuple(values) == tuple(SERVER_FIELDS)
    found = []
    if f.named:  # a named server's own values (its lifetime: the row's, in f.life) and its own file
        at = f.server >= 0
        for name, get in SERVER_FIELDS.items():
            if name != "lifetime_yr":
                own = np.array([float(get(nm.server) or 0.0) for nm in f.named])
                values[name] = np.where(at, own[np.maximum(f.server, 0)], values[name])
        for k, nm in enumerate(f.named):  # a power curve falling with load: after the row's far values
            m = server_curve_message(nm.server)
            if m:
                found.append((int(np.flatnonzero(f.server == k)[0]), len(SERVER_FIELDS), None, m))
    for k, (name, v) in enumerate(values.items()):
        if name not in ranges:
            continue
        lo, hi = ranges[name]
        far = (v != 0) & ((v > FAR * hi) | (v < lo / FAR))
        for i in np.flatnonzero(far).tolist():
            found.append((i, k, name, v[i]))
    said = set()
    for i, _, name, v in sorted(found, key=lambda x: (x[0], x[1])):
        if name is None:
            m = v
        else:
            file = f.cols.file if not f.named or f.server[i] < 0 else f.named[f.server[i]].server.file
            m = far_message(file, name, int(v) if name in ("gpus.count", "host.cpus.count") else float(v), ranges)
        if m and m not in said:
            said.add(m)
            warn(m)


class Repeated:
    """A chunk's column whose values repeat: each of ``values`` ``times`` times in a row (a
    server's id and notes at each of its utilisations; a constant ``n`` times). Writers format
    each value once; :meth:`tolist` gives the column itself."""

    __slots__ = ("values", "times")

    def __init__(self, values, times: int):
        self.values, self.times = values, int(times)

    def __len__(self) -> int:
        return len(self.values) * self.times

    def __getitem__(self, i: int):
        return self.values[i // self.times]

    def tolist(self) -> list:
        values = self.values.tolist() if hasattr(self.values, "tolist") else list(self.values)
        if self.times == 1:
            return values
        if len(values) == 1:
            return values * self.times
        return [v for v in values for _ in range(self.times)]


def _output(f: FleetFill, rows, index, res, u, U, grid, pue, years, cs, columns, notes, origins, life, caps) -> dict:
    """A chunk's output rows as columns (server-major), the values :func:`~.inventory.run_inventory`
    gives: arrays of one value per output row, or :class:`Repeated` columns."""
    n = len(rows)
    m = n * U
    out: dict = {}
    out["id"] = Repeated([f.cols.ids[i] for i in rows.tolist()], U)
    out["util"] = np.tile(u, n)
    out["embodied_kg"] = res.embodied_kg
    amortised = res.embodied_kg_amortised
    energy = res.energy_kwh
    out["lifetime_yr"] = Repeated(life[rows], U)
    out["embodied_kg_per_yr"] = amortised / years
    out["power_w"], out["host_power_w"], out["gpu_power_w"] = res.power_w, res.host_power_w, res.gpu_power_w
    out["energy_kwh_per_yr"] = energy / years
    if grid is not None:
        out["operational_kg_per_yr"] = res.operational_kg / years
        out["total_kg_per_yr"] = res.total_kg / years
    out["years"] = Repeated([float(years)], m)
    out["energy_kwh"] = energy
    if grid is not None:
        out["operational_kg"] = res.operational_kg
    out["embodied_kg_amortised"] = amortised
    if grid is not None:
        out["total_kg"] = res.total_kg
    out["pue"] = Repeated([float(pue)], m)
    if grid is not None:
        out["grid"] = Repeated([grid.label], m)
        out["grid_basis"] = Repeated([grid.basis], m)
        out["ci_g_per_kwh"] = Repeated([float(grid.ci_g_per_kwh)], m)
    out["coefficients"] = Repeated([cs.id], m)
    out["filled"] = Repeated([f.filled_text(i) for i in rows.tolist()], U)
    capped = res["psu_limited"].reshape(n, U)
    text = []
    for j, i in enumerate(rows.tolist()):
        k = int(index[i])
        base = f.notes(i)
        for level in range(U):  # each utilisation's own power origin and PSU cap
            t = row_notes(base, _Notes(notes[k], origins[k][level]))
            if capped[j, level]:
                t += "; " + (caps[f.server[i]] if f.server[i] >= 0 else cap_note(float(f.psu[i])))
            text.append(t)
    out["notes"] = Repeated(text, 1)
    return {c: out[c] for c in columns}


@dataclass
class _Notes:
    notes: list
    power_origin: str


def fleet_rows(cols: InventoryColumns, db, **kwargs) -> list[dict]:
    """Every output row as a dict (as :func:`~.inventory.run_inventory` returns them), through
    the chunks (for the Python API and tests; a large fleet is better streamed)."""
    run = plan_inventory(cols, db, **kwargs)
    out = []
    for chunk in run.chunks():
        values = [v.tolist() if hasattr(v, "tolist") else v for v in chunk.values()]
        out += [dict(zip(run.columns, r)) for r in zip(*values)]
    return out


def inventory(rows, db, **kwargs) -> InventoryResult:
    """:func:`~.inventory.run_inventory` as a result object (for reports and the Python API). A
    fleet read as columns (:func:`~carbonsim.engine.readers.inventory.read_inventory_columns`)
    goes through the chunked path (:func:`fleet_rows`), which gives the same rows."""
    if isinstance(rows, InventoryColumns):
        return InventoryResult(fleet_rows(rows, db, **kwargs))
    return InventoryResult(run_inventory(rows, db, **kwargs))
