r"""Fleet inventories: one server per CSV row, gaps filled from documented priors (layer 2).

What ``carbonsim inventory FLEET.csv`` calls:

>>> rows = read_inventory("fleet.csv")                                   # doctest: +SKIP
>>> out = run_inventory(rows, db, utils=(0.3, 0.6), grid="ESP", pue=1.2) # doctest: +SKIP
>>> text = inventory_csv(out)                                            # doctest: +SKIP

Input columns (header required, names case-insensitive; every column but ``id`` may be left
blank; other columns are ignored): ``id, cpu_model, cpu_count, cores_total, cpu_tdp_w, dram_gb,
ssd_count, ssd_gb, hdd_count, hdd_gb, gpu_model, gpu_count, psu_w, year`` and, optionally,
``lifetime_yr`` and ``server``. ``cores_total`` counts cores over all CPUs; ``ssd_gb`` and
``hdd_gb`` are the *total* capacity over all drives of that kind (as ``host.ssd_gb`` in a server
spec).

Named servers
-------------
A row whose ``server`` cell names a server (a database id, shipped or of a ``--db`` layer, or a
server YAML file, a relative path tried as given and then in the CSV's folder, as scenario files
resolve ``server:``: :func:`~carbonsim.engine.inputs.server.server_file`) is that server exactly:
its parts, overrides, chassis share, lifetimes and power model, nothing filled (:class:`NamedServer`).
Its ``lifetime_yr`` cell, when given, changes the server's lifetime as ``--set
server.lifetime_yr`` does; any other description of the machine on the row is refused by the
reader. Its results are ``embodied``'s, ``footprint``'s and ``compare``'s for that server.

Matching part names
-------------------
A name is normalised by: lower case; drop ``(r)``, ``(tm)``, ``®``, ``™``, ``@`` and clock
speeds (``2.50GHz``); for CPUs also drop the words ``processor`` and ``cpu``; split into
alphanumeric tokens. It matches a database part when its tokens equal, as a set, the tokens of
the part's id or of its ``name``, first as written and then with the brand words ``nvidia``,
``amd``, ``intel`` and ``tesla`` removed from both sides. The match must be unique.
So ``AMD EPYC 7713``, ``epyc-7713`` and ``AMD EPYC 7713 2.0GHz`` all give ``amd-epyc-7713``, and
``NVIDIA A100-SXM4-80GB`` or ``A100 SXM4 80GB`` give ``nvidia-a100-sxm4-80gb``. A CPU that does
not match is described by the priors below; a GPU that does not match is an error (GPUs
dominate an AI server's footprint, so carbonsim does not guess them).

Priors for what is blank (every value filled is named in the ``filled`` output column)
------------------------------------------------------------------------------------
From the database, when the CPU matches: die areas and nodes (the part itself), ``cpu_tdp_w``,
``cores_total`` (= cores × ``cpu_count``), ``cpu_count`` (= ``cores_total`` / cores when that is
a whole number), ``year`` (the CPU's launch year) and the DRAM technology.

Otherwise (fitted once; :func:`derive_priors` recomputes every constant from its source, and
``tests/engine/test_inventory.py`` checks the pinned values of
:mod:`carbonsim.models.spec_priors` against it):

* **CPU die area** (one die per CPU): ``A = exp(5.4808) · c^0.32105`` mm², ``c`` = cores per
  CPU. Least squares of ln(total die area) on ln(cores) over the 8 CPUs of
  ``hardware_db/cpus/`` (2017–2023). Residual s.d. 0.49 in ln; leave-one-out error median 21 %,
  worst +103 % (Xeon 8480C, four tiles) and −71 % (Grace, one 4 nm die). With ``--samples``
  the area is drawn over ×/÷ 2.24 (±1.645 s.d.).
* **CPU node** by year (launch year, or the inventory year): ≤2012 → 28nm, 2013–2015 → 22nm,
  2016–2019 → 14nm, 2020–2021 → 7nm, ≥2022 → 5nm. 2016–2023 follow the compute dies of the
  database CPUs (7 of 8 reproduced; the 8480C's Intel 7 tiles are 10nm); earlier years follow
  the Xeon E5 generations (Sandy Bridge-EP 32 nm 2012, Ivy Bridge/Haswell-EP 22 nm 2013–14,
  Broadwell-EP 14 nm 2016) mapped to the nearest node ACT's table has (it stops at 28 nm).
* **TDP per CPU**: ``exp(3.6034) · c^0.4774`` W. **Cores per CPU**, given the TDP:
  ``exp(−3.3479) · TDP^1.2207 · exp(0.0695 y)``, without it: ``exp(2.5126 + 0.1746 y)``,
  rounded to a whole number ≥ 1, with ``y`` = year − 2015 clipped to 2007–2022.
  **DRAM**: ``exp(1.0888) · cores_total^0.891 · exp(0.0908 y)`` GB. All least squares in
  ln on the SPECpower sample (``carbonsim/validation/data/specpower_sample.csv``; 198 rows with a TDP for
  TDP and cores-from-TDP, 200 otherwise). In-sample absolute error: TDP median 12.4 %
  (90th percentile 33.5 %), cores from TDP 19.3 % (56.3 %), cores from year 16.4 % (82 %),
  DRAM 29.0 % (59.4 %). The DRAM prior matches the population the power prior was fitted on.
  With ``--samples`` the DRAM is drawn over ×/÷ 2.1 (±1.645 s.d.).
* **DRAM of a GPU server**: 3 × the GPUs' memory: the median DRAM/GPU-memory ratio of the
  whole 8-GPU servers in ``hardware_db/servers/`` (nd96amsr 2.97, hgx-h100 3.13, lambda-a100
  2.81, aws-t4-x8 3.0); drawn over 2.0–3.2 × with ``--samples``. DRAM technology (when the CPU
  is unknown): ≤2013 ddr3, 2014–2022 ddr4, ≥2023 ddr5 (first DDR4 Xeons 2014; DDR5 from
  the EPYC 9004, late 2022, and 4th-generation Xeons, 2023).
* **cpu_count** 2: 130 of the 200 SPECpower servers have two sockets (46 one, 24 four or eight).
* **Drives**: no SSD column → one 960 GB SSD (the calibration servers of the power prior carry
  one drive, so it adds no power; 960 GB is the entry class of enterprise read-intensive SSDs,
  drawn over 480–3840 GB with ``--samples``); ``ssd_count`` without ``ssd_gb`` → 960 GB each;
  ``ssd_gb`` without a count → 1 drive (0 when ``ssd_gb`` is 0). HDDs: none unless a column
  says so; ``hdd_count`` without ``hdd_gb`` → 16,000 GB each (the Seagate Exos X16 behind the
  HDD kg/GB of ``hotcarbon24`` and ``ecoserve``); ``hdd_gb`` without a count → 1.
* **GPUs**: none unless ``gpu_model`` is given; ``gpu_model`` without ``gpu_count`` → 1.
  ``gpu_count`` > 0 without ``gpu_model`` is an error.
* **year**: the database CPU's launch year, else the database GPU's, else 2020 (the median
  launch year of the database CPUs). A year of 2020 filled this way feeds only the node, core
  and DRAM priors: the host power then uses the prior *without* year. The year-dependent
  terms of ``server-lca`` use 2020 too (the server has no year; a note says so).
* **lifetime_yr** 4 (the seed paper's code default, as for server specs).

Outputs (per server × utilisation)
----------------------------------
Embodied carbon by the embodied kernel under the chosen coefficient set, by default
:data:`carbonsim.engine.inputs.coefficients.DEFAULT_SET` (``server-lca``, the default of every command: the Dell R740 LCA's parts, Boavizta's per-drive
terms and the electronics vendor carbon footprints count beyond them, built for physical
servers and cross-validated on 34 vendor PCFs, docs/validation.md), the row being a whole
chassis (host share 1). The ``year`` (given or filled) sets that set's SSD kg/GB and its
unitemised-electronics term. Host power from the spec-based prior (:mod:`carbonsim.models.power.prior`) at
CPU utilisation ``util``, plus each GPU by the activity model with ``util`` read as the load of
a load ladder (``steady_load_power_w``; util 0 gives the loaded idle);
the sum is capped at ``psu_w`` when given. Totals over ``years`` (energy, operational carbon,
amortised embodied carbon) come from the chain's period stage
(:meth:`~carbonsim.engine.chain.CarbonChain.over_period`), as ``compare``'s do, with the grid's
intensity over those years (a trajectory's mean from its year; the ``grid`` column names the
years); the ``_per_yr`` columns are those totals over ``years`` (a mean year of the period).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import CarbonChain, Load
from carbonsim.engine.inputs.coefficients import DEFAULT_SET, CoefficientSet, load_coefficients
from carbonsim.engine.inputs.columns import chassis_share_note, host_share
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.inputs.plausibility import warn_server
from carbonsim.engine.inputs.server import (
    DEFAULT_LIFETIME_YR, Server, check_server, in_database, load_server, server_file, server_from_checked,
)
from carbonsim.engine.readers.inventory import InventoryRow
from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.inputs.grid import grid_over_period
from carbonsim.engine.inputs.options import DEFAULT_PUE, DEFAULT_UTIL, check_options
from carbonsim.errors import InputError, OptionError
from carbonsim.models.spec_priors import (
    Z90, DEFAULT_CPU_COUNT, DEFAULT_GPU_COUNT, DEFAULT_HDD_GB_EACH, DEFAULT_SSD_GB, DEFAULT_YEAR,
    DIE_AREA_SD_LN, DRAM_PER_GPU_GB, DRAM_SD_LN, PRIOR_YEAR_RANGE, dram_technology_for_year,
    node_for_year, prior_cores_per_cpu, prior_dram_gb, prior_die_area_mm2, prior_tdp_w,
)

OUTPUT_COLUMNS = (
    "id", "util", "embodied_kg", "embodied_kg_p5", "embodied_kg_p95", "lifetime_yr", "embodied_kg_per_yr",
    "power_w", "host_power_w", "gpu_power_w", "energy_kwh_per_yr", "operational_kg_per_yr", "total_kg_per_yr",
    "years", "energy_kwh", "operational_kg", "embodied_kg_amortised", "total_kg",
    "pue", "grid", "grid_basis", "ci_g_per_kwh", "coefficients", "filled", "notes",
)
_GRID_ONLY = ("operational_kg_per_yr", "total_kg_per_yr", "operational_kg", "total_kg", "grid", "grid_basis",
              "ci_g_per_kwh")
_SAMPLES_ONLY = ("embodied_kg_p5", "embodied_kg_p95")


@dataclass
class FilledServer:
    """A row with every value needed, what was filled, and the server document built from it."""

    row: InventoryRow
    cpu_count: int
    cores_total: int
    cpu_tdp_w: float
    dram_gb: float
    ssd_count: int
    ssd_gb: float
    hdd_count: int
    hdd_gb: float
    gpu_id: str | None
    gpu_count: int
    year: int
    year_known: bool
    lifetime_yr: float
    spec: dict
    gpu_tdp_w: float | None = None
    filled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class NamedServer:
    """A row that names a server (its ``server`` cell): that server, with the row's ``lifetime_yr``
    when given; nothing filled."""

    row: InventoryRow
    server: Server
    lifetime_yr: float         # the host's (the GPUs' differ only when the server file says so)
    filled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Priors

def derive_priors(specpower_csv, db) -> dict:
    """Recompute the pinned prior constants from their sources.

    Parameters
    ----------
    specpower_csv : path
        ``carbonsim/validation/data/specpower_sample.csv``.
    db : Database
        Its ``cpus`` give the die-area fit.

    Returns
    -------
    dict
        ``die_area_ln`` (a, b), ``die_area_sd_ln``, ``tdp_ln``, ``cores_from_tdp_ln``,
        ``cores_from_year_ln``, ``dram_ln``, ``dram_sd_ln``, and the in-sample median / 90th
        percentile absolute % errors of each (``*_err_pct``), the leave-one-out errors of the
        die-area fit (``die_area_loo_pct``, signed, per CPU id).
    """
    import pandas as pd

    def fit(X, y):
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        r = y - X @ coef
        e = 100.0 * np.abs(np.exp(r) - 1.0)
        sd = float(np.sqrt(np.sum(r ** 2) / (len(y) - X.shape[1])))
        return coef, sd, (float(np.median(e)), float(np.percentile(e, 90)))

    out = {}
    ids, cores, area = [], [], []
    for pid in db.ids("cpus"):
        d = db.get("cpus", pid)
        if not d.get("dies") or not d.get("cores"):
            continue
        ids.append(pid)
        cores.append(float(d["cores"]))
        area.append(sum(x["area_mm2"].value * x.get("count", 1) for x in d["dies"]))
    X = np.column_stack([np.ones(len(cores)), np.log(cores)])
    y = np.log(area)
    coef, sd, err = fit(X, y)
    out["die_area_ln"], out["die_area_sd_ln"], out["die_area_err_pct"] = tuple(coef), sd, err
    loo = {}
    for k, pid in enumerate(ids):
        m = np.arange(len(ids)) != k
        ck = np.linalg.lstsq(X[m], y[m], rcond=None)[0]
        loo[pid] = float(100.0 * (np.exp(X[k] @ ck - y[k]) - 1.0))
    out["die_area_loo_pct"] = loo

    df = pd.read_csv(specpower_csv)
    cps = (df.cores_total / df.sockets).to_numpy(float)
    yr = np.clip(df.year.to_numpy(float), *PRIOR_YEAR_RANGE) - 2015.0
    one = np.ones(len(df))
    has = df.cpu_tdp_w.notna().to_numpy()
    tdp = df.cpu_tdp_w.to_numpy(float)
    coef, _, err = fit(np.column_stack([one[has], np.log(cps[has])]), np.log(tdp[has]))
    out["tdp_ln"], out["tdp_err_pct"] = tuple(coef), err
    coef, _, err = fit(np.column_stack([one[has], np.log(tdp[has]), yr[has]]), np.log(cps[has]))
    out["cores_from_tdp_ln"], out["cores_from_tdp_err_pct"] = tuple(coef), err
    coef, _, err = fit(np.column_stack([one, yr]), np.log(cps))
    out["cores_from_year_ln"], out["cores_from_year_err_pct"] = tuple(coef), err
    coef, sd, err = fit(np.column_stack([one, np.log(df.cores_total.to_numpy(float)), yr]),
                        np.log(df.memory_gb.to_numpy(float)))
    out["dram_ln"], out["dram_sd_ln"], out["dram_err_pct"] = tuple(coef), sd, err
    return out


# ------------------------------------------------------------------------------------------------
# Filling a row

def _q(value, low=None, high=None, note=None):
    d = {"value": float(value)}
    if low is not None and high is not None and (low != value or high != value):
        d["low"], d["high"] = float(low), float(high)
    if note:
        d["note"] = note
    return d


def fill_row(row: InventoryRow, db, cpus: PartMatcher, gpus: PartMatcher) -> FilledServer | NamedServer:
    """Fill the blanks of one row and build its server document (a row that names a server: that
    server, :func:`named_row`).

    Raises
    ------
    InputError
        An unknown or ambiguous GPU model, or a GPU count without a model (naming the file,
        line and column); as :func:`named_row`.
    """
    if row.server is not None:
        return named_row(row, db)
    filled: list[str] = []
    notes: list[str] = []

    # --- GPU (never guessed) ---------------------------------------------------------------------
    gpu_id, gpu_spec = None, None
    gpu_count = row.gpu_count
    if row.gpu_model is not None and gpu_count != 0:
        gpu_id, cands = gpus.match(row.gpu_model)
        if gpu_id is None:
            what = f"matches several GPUs ({', '.join(cands)})" if cands else "is not a GPU in the database"
            raise InputError(f"{row.where()}: {row.gpu_model!r} {what}; give a GPU id "
                             f"(known: {', '.join(db.ids('gpus'))}) or add the GPU to a --db database",
                             file=row.file, field="gpu_model")
        gpu_spec = db.get("gpus", gpu_id)
        if gpu_count is None:
            gpu_count = DEFAULT_GPU_COUNT
            filled.append("gpu_count")
            notes.append(f"gpu_count blank: {DEFAULT_GPU_COUNT} assumed")
    elif row.gpu_model is None and gpu_count:
        raise InputError(f"{row.where()}: {gpu_count} GPUs but no gpu_model; carbonsim does "
                         "not guess GPUs", file=row.file, field="gpu_model")
    gpu_count = gpu_count or 0
    if gpu_count == 0:
        gpu_id, gpu_spec = None, None

    # --- CPU ------------------------------------------------------------------------------------
    cpu_id, cpu_spec = None, None
    if row.cpu_model is not None:
        cpu_id, cands = cpus.match(row.cpu_model)
        if cpu_id is not None:
            cpu_spec = db.get("cpus", cpu_id)
            notes.append(f"cpu {cpu_id} from the database")
        elif cands:
            notes.append(f"cpu_model {row.cpu_model!r} matches several database CPUs ({', '.join(cands)}); "
                         "priors used")
        else:
            notes.append(f"cpu_model {row.cpu_model!r} not in the database; priors used")
    db_cores = int(cpu_spec["cores"]) if cpu_spec is not None and cpu_spec.get("cores") else None

    year, year_known = row.year, row.year is not None
    if year is None:
        if cpu_spec is not None and cpu_spec.get("year"):
            year, year_known, src = int(cpu_spec["year"]), True, f"launch year of {cpu_id}"
        elif gpu_spec is not None and gpu_spec.get("year"):
            year, year_known, src = int(gpu_spec["year"]), True, f"launch year of {gpu_id}"
        else:
            year, src = DEFAULT_YEAR, "default; host power uses the prior without year"
        filled.append("year")
        notes.append(f"year {year} ({src})")

    cpu_count = row.cpu_count
    if cpu_count is None:
        if db_cores and row.cores_total is not None and row.cores_total % db_cores == 0:
            cpu_count = row.cores_total // db_cores
        else:
            cpu_count = DEFAULT_CPU_COUNT
        filled.append("cpu_count")

    tdp = row.cpu_tdp_w
    cores_total = row.cores_total
    if cores_total is None:
        if db_cores:
            per = db_cores
        else:
            per = prior_cores_per_cpu(year, tdp)
        cores_total = per * cpu_count
        filled.append("cores_total")
    cores_per = cores_total / cpu_count
    if db_cores and cores_total != db_cores * cpu_count:
        notes.append(f"cores_total {cores_total} differs from {cpu_count} x {db_cores} cores of {cpu_id}")
    if tdp is None:
        db_tdp = cpu_spec.get("tdp_w") if cpu_spec is not None else None
        tdp = _value(db_tdp) if db_tdp is not None else prior_tdp_w(cores_per)
        filled.append("cpu_tdp_w")

    if cpu_spec is not None:
        cpus_doc = {"part": cpu_id, "count": cpu_count}
    else:
        area = prior_die_area_mm2(cores_per)
        f = math.exp(Z90 * DIE_AREA_SD_LN)
        node = node_for_year(year)
        cpus_doc = {"die_area_mm2": _q(area, area / f, area * f), "node": node, "count": cpu_count,
                    "cores": int(round(cores_per)), "tdp_w": tdp}
        filled += ["die_area_mm2", "node"]
        notes.append(f"cpu die {area:.0f} mm2 at {node} (core-count and year priors)")

    # --- memory -----------------------------------------------------------------------------------
    tech = (cpu_spec or {}).get("memory_technology")
    if tech is None:
        tech = dram_technology_for_year(year)
        filled.append("dram_technology")
    dram = row.dram_gb
    if dram is None:
        if gpu_spec is not None:
            gpu_mem = gpu_count * _value(gpu_spec["memory"]["gb"])
            v, lo, hi = (r * gpu_mem for r in DRAM_PER_GPU_GB)
            notes.append(f"dram {v:.0f} GB = {DRAM_PER_GPU_GB[0]:g} x GPU memory")
        else:
            v = prior_dram_gb(cores_total, year)
            f = math.exp(Z90 * DRAM_SD_LN)
            lo, hi = v / f, v * f
            notes.append(f"dram {v:.0f} GB from the cores/year prior")
        dram_doc = _q(v, lo, hi)
        dram = v
        filled.append("dram_gb")
    else:
        dram_doc = dram

    # --- drives -----------------------------------------------------------------------------------
    ssd_count, ssd_gb, ssd_doc = row.ssd_count, row.ssd_gb, None
    if ssd_count is None and ssd_gb is None:
        ssd_count, ssd_gb = 1, DEFAULT_SSD_GB[0]
        ssd_doc = _q(*DEFAULT_SSD_GB)
        filled += ["ssd_count", "ssd_gb"]
    elif ssd_gb is None:
        ssd_gb = ssd_count * DEFAULT_SSD_GB[0]
        filled.append("ssd_gb")
    elif ssd_count is None:
        ssd_count = 1 if ssd_gb > 0 else 0
        filled.append("ssd_count")
    if ssd_count == 0 and ssd_gb > 0:
        ssd_count = 1
        notes.append("ssd_gb > 0 with ssd_count 0: counted as 1 drive")
    hdd_count, hdd_gb = row.hdd_count, row.hdd_gb
    if hdd_count is None and hdd_gb is None:
        hdd_count, hdd_gb = 0, 0.0
    elif hdd_gb is None:
        hdd_gb = hdd_count * DEFAULT_HDD_GB_EACH
        filled.append("hdd_gb")
    elif hdd_count is None:
        hdd_count = 1 if hdd_gb > 0 else 0
        filled.append("hdd_count")
    if hdd_count == 0 and hdd_gb > 0:
        hdd_count = 1
        notes.append("hdd_gb > 0 with hdd_count 0: counted as 1 drive")

    life = row.lifetime_yr
    if life is None:
        life = DEFAULT_LIFETIME_YR.value
        if row.has_lifetime_column:
            filled.append("lifetime_yr")

    host = {"cpus": cpus_doc, "dram": {"gb": dram_doc, "technology": tech}}
    if ssd_count:
        each = ssd_doc if ssd_doc is not None else ssd_gb / ssd_count
        host["ssd"] = [{"count": ssd_count, "gb_each": each}]
    if hdd_count:
        host["hdd"] = [{"count": hdd_count, "gb_each": hdd_gb / hdd_count}]
    if gpu_id is not None:
        host["chassis_gpu_slots"] = gpu_count
    if row.psu_w is not None:
        host["psu_w"] = row.psu_w
    spec = {"name": row.id, "lifetime_yr": life, "host": host}
    if year_known:
        spec["year"] = int(year)  # the host power prior uses it (the variant with year)
    if gpu_id is not None:
        spec["gpus"] = {"part": gpu_id, "count": gpu_count}
    return FilledServer(row=row, cpu_count=int(cpu_count), cores_total=int(cores_total), cpu_tdp_w=float(tdp),
                        dram_gb=float(dram), ssd_count=int(ssd_count), ssd_gb=float(ssd_gb),
                        hdd_count=int(hdd_count), hdd_gb=float(hdd_gb), gpu_id=gpu_id, gpu_count=int(gpu_count),
                        year=int(year), year_known=year_known, lifetime_yr=float(life), spec=spec,
                        gpu_tdp_w=_value(gpu_spec["tdp_w"]) if gpu_spec is not None else None,
                        filled=filled, notes=notes)


def _value(x) -> float:
    return float(getattr(x, "value", x))


def named_row(row: InventoryRow, db) -> NamedServer:
    """The server a row names (:func:`~carbonsim.engine.inputs.server.load_server`, relative
    paths also tried in the CSV's folder), its ``lifetime_yr`` set from the row when given.

    Raises
    ------
    InputError
        An unknown server id, a file that cannot be read or a server that fails its checks,
        naming the CSV, the row and the column ``server``, with the server's own problem.
    """
    folder = Path(row.file).parent
    overrides = None if row.lifetime_yr is None else {"lifetime_yr": row.lifetime_yr}
    try:
        server = load_server(row.server, db, overrides, relative_to=folder, warn=False)
        file, sid = server_file(row.server, db, folder)
    except InputError as exc:
        raise named_error(row, exc) from None
    return NamedServer(row, server, server.host_lifetime_yr.value,
                       notes=named_notes(named_origin(db, file, sid), server.gpu_lifetime_yr.value,
                                         server.host_lifetime_yr.value))


def named_error(row: InventoryRow, exc: InputError) -> InputError:
    """A problem of the server a row names, as the row's."""
    return InputError(f"{row.where()}: {exc}", file=row.file, field="server")


def named_origin(db, file, sid: str) -> str:
    """Where a named server comes from, as its row's note says it."""
    return f"server {sid} from the database" if in_database(db, file, sid) else f"server {sid} from {file}"


def named_notes(origin: str, gpu_lifetime_yr: float, host_lifetime_yr: float) -> list[str]:
    """The notes of a row that names a server (before its column's)."""
    if gpu_lifetime_yr == host_lifetime_yr:
        return [origin]
    return [origin, f"GPU lifetime {gpu_lifetime_yr:g} yr, host {host_lifetime_yr:g} yr (lifetime_yr is the host's)"]


def cap_note(psu_w: float, share: float = 1.0) -> str:
    """The note of a server whose power was capped at its (share of its) PSU rating."""
    if share >= 1.0:
        return f"power capped at psu_w {psu_w:g} W"
    return f"power capped at {share:g} of psu_w {psu_w:g} W (its share of the chassis)"


# ------------------------------------------------------------------------------------------------
# Running

def run_inventory(rows: list[InventoryRow], db, utils=(DEFAULT_UTIL,), grid=None, pue: float = DEFAULT_PUE,
                  years: float = 1.0,
                  coefficients=None, samples: int = 0, seed: int | None = 0, cpu_util: float | None = None,
                  gpu_util: float | None = None, first_index: int = 0) -> list[dict]:
    """Embodied carbon, power, energy and operational carbon of every server at every utilisation.

    Each filled row becomes a server spec (a whole chassis) and goes through
    :class:`~carbonsim.engine.chain.CarbonChain` at ``cpu_util = gpu_util = util``, like any
    other server in carbonsim.

    Parameters
    ----------
    rows : list of InventoryRow
        From :func:`carbonsim.engine.readers.inventory.read_inventory`.
    db : Database
    utils : sequence of float
        Utilisations 0..1 (CPU and GPU); one output row per server and value.
    cpu_util, gpu_util : float, optional
        Fix the CPU or the GPU utilisation instead (the other follows ``utils``).
    grid : GridIntensity, optional
        Without it no operational carbon is reported. Taken over the ``years`` from its year
        (:func:`~carbonsim.engine.inputs.grid.grid_over_period`).
    pue : float
        Power usage effectiveness, >= 1.
    years : float
        Period of the totals (``energy_kwh``, ``operational_kg``, ``embodied_kg_amortised``,
        ``total_kg``), > 0.
    coefficients : str or CoefficientSet, optional
        Default :data:`~carbonsim.engine.inputs.coefficients.DEFAULT_SET` (``server-lca``).
    samples : int
        Monte-Carlo samples per server for ``embodied_kg_p5`` / ``embodied_kg_p95`` (0: none).
    seed : int or None
        Seed; server ``i`` draws from ``numpy.random.default_rng([seed, i])``.
    first_index : int
        Index in the fleet of ``rows[0]`` (a chunk of a larger fleet: its seeds are the fleet's).

    Returns
    -------
    list of dict
        Keys in :data:`OUTPUT_COLUMNS` order (see :func:`inventory_columns`), server-major.
    """
    u, samples, cs = checked_options(db, utils, cpu_util, gpu_util, pue, years, samples, seed, coefficients)
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    filled = [fill_row(r, db, cpus, gpus) for r in rows]
    chain = CarbonChain.for_points(db, len(filled) * len(u))
    if grid is not None:
        grid = grid_over_period(grid, db, years)
    ci = grid.ci_g_per_kwh if grid is not None else 1.0  # operational results dropped without a grid
    loads = inventory_loads(u, cpu_util, gpu_util)
    cols, notes, servers = [], [], []
    for s in filled:
        server, per_u = server_points(s, db, chain, cs, ci, pue, years, loads)
        servers.append(server)
        cols += per_u
        notes.append([row_notes(s.notes, c) for c in per_u])  # one per utilisation: the power origin names it
    res = chain.run_load(np.stack([c.value for c in cols], axis=1))
    for i, s in enumerate(filled):
        for j in range(len(u)):
            if res["psu_limited"][i * len(u) + j]:
                if isinstance(s, NamedServer):
                    notes[i][j] += "; " + cap_note(s.server.host.facts["psu_w"].value, host_share(s.server, cs))
                else:
                    notes[i][j] += "; " + cap_note(s.row.psu_w)
    life = np.array([s.lifetime_yr for s in filled])
    out = []
    for i, s in enumerate(filled):
        p5 = p95 = None
        if samples:
            e = embodied(servers[i], cs, samples=samples, seed=None if seed is None else [int(seed), first_index + i])
            p5, p95 = e.uncertainty["total_kg"]["p5"], e.uncertainty["total_kg"]["p95"]
        for j, uj in enumerate(u):
            k = i * len(u) + j
            energy, op = float(res.energy_kwh[k]), float(res.operational_kg[k])
            amortised = float(res.embodied_kg_amortised[k])
            d = {"id": s.row.id, "util": float(uj), "embodied_kg": float(res.embodied_kg[k])}
            if samples:
                d["embodied_kg_p5"], d["embodied_kg_p95"] = float(p5), float(p95)
            d.update(lifetime_yr=float(life[i]), embodied_kg_per_yr=amortised / years, power_w=float(res.power_w[k]),
                     host_power_w=float(res.host_power_w[k]), gpu_power_w=float(res.gpu_power_w[k]),
                     energy_kwh_per_yr=energy / years)
            if grid is not None:
                d.update(operational_kg_per_yr=op / years, total_kg_per_yr=float(res.total_kg[k]) / years)
            d.update(years=float(years), energy_kwh=energy)
            if grid is not None:
                d["operational_kg"] = op
            d["embodied_kg_amortised"] = amortised
            if grid is not None:
                d["total_kg"] = float(res.total_kg[k])
            d["pue"] = float(pue)
            if grid is not None:
                d.update(grid=grid.label, grid_basis=grid.basis, ci_g_per_kwh=float(grid.ci_g_per_kwh))
            d.update(coefficients=cs.id, filled=";".join(s.filled), notes=notes[i][j])
            out.append(d)
    return out


def checked_options(db, utils, cpu_util, gpu_util, pue, years, samples, seed, coefficients):
    """A run's options checked (as on the command line): the utilisations as an array, the
    number of samples and the coefficient set."""
    if not utils:
        raise OptionError("give at least one utilisation", "util")
    check_options(util=list(utils), cpu_util=cpu_util, gpu_util=gpu_util, pue=pue, years=years, samples=samples,
                  seed=seed)
    cs = coefficients if isinstance(coefficients, CoefficientSet) else load_coefficients(
        coefficients or DEFAULT_SET, db)
    return np.asarray(utils, dtype=float), int(samples or 0), cs


def inventory_loads(utils, cpu_util=None, gpu_util=None) -> list[Load]:
    """The load of each utilisation of a run (``cpu_util`` or ``gpu_util`` fixes one of the two)."""
    return [Load(float(x) if cpu_util is None else cpu_util, float(x) if gpu_util is None else gpu_util)
            for x in utils]


def server_points(s: FilledServer | NamedServer, db, chain: CarbonChain, cs: CoefficientSet, ci: float, pue: float,
                  years: float, loads, warn: bool = True):
    """The server of a filled row and its chain columns at each load (``warn``: its plausibility
    warnings); an error names the row. A named server's columns say its share of its chassis
    when it is not 1 (:func:`~carbonsim.engine.inputs.columns.chassis_share_note`)."""
    if isinstance(s, NamedServer):
        try:
            if warn:
                warn_server(s.server, db)
            cols = [chain.column(s.server, cs, ci_g_per_kwh=ci, pue=pue, period_yr=years, load=x) for x in loads]
        except InputError as exc:
            raise named_error(s.row, exc) from None
        share = chassis_share_note(s.server, cs)
        for c in cols if share else ():
            c.notes.append(share)
        return s.server, cols
    try:
        checked = check_server(s.spec, db, s.row.file)
        server = server_from_checked(checked, db, s.row.file, s.row.id, warn=warn)
        return server, [chain.column(server, cs, ci_g_per_kwh=ci, pue=pue, period_yr=years, load=x) for x in loads]
    except InputError as exc:
        raise InputError(f"{s.row.where()}: {exc.message}", file=s.row.file, field=exc.field) from None


def row_notes(fill_notes, column) -> str:
    """A row's ``notes``: what filling it said, then its chain column's notes and power origin."""
    return "; ".join(dict.fromkeys([*fill_notes, *column.notes, column.power_origin]))


@dataclass
class InventoryResult:
    """One row per server and utilisation (:data:`OUTPUT_COLUMNS` order)."""

    rows: list[dict]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def inventory_columns(samples: int = 0, grid: bool = False) -> list[str]:
    """Output column names, in order, for a run with or without samples and a grid."""
    return [c for c in OUTPUT_COLUMNS
            if (samples or c not in _SAMPLES_ONLY) and (grid or c not in _GRID_ONLY)]


def inventory_csv(results: list[dict]) -> str:
    """The results of :func:`run_inventory` as CSV text (header + one line per dict)."""
    buf = io.StringIO()
    if not results:
        return ""
    cols = list(results[0])
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()
