r"""Fleet inventories: one server per CSV row, gaps filled from documented priors (layer 2).

What ``carbonsim inventory FLEET.csv`` calls:

>>> rows = read_inventory("fleet.csv")                                   # doctest: +SKIP
>>> out = run_inventory(rows, db, utils=(0.3, 0.6), grid="ESP", pue=1.2) # doctest: +SKIP
>>> text = inventory_csv(out)                                            # doctest: +SKIP

Input columns (header required, names case-insensitive; every column but ``id`` may be left
blank; other columns are ignored): ``id, cpu_model, cpu_count, cores_total, cpu_tdp_w, dram_gb,
ssd_count, ssd_gb, hdd_count, hdd_gb, gpu_model, gpu_count, psu_w, year`` and, optionally,
``lifetime_yr``. ``cores_total`` counts cores over all CPUs; ``ssd_gb`` and ``hdd_gb`` are the
*total* capacity over all drives of that kind (as ``host.ssd_gb`` in a server spec).

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
``tests/test_inventory.py`` checks the pinned values against it):

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
  ln on the SPECpower sample (``tests/data/specpower_sample.csv``; 198 rows with a TDP for
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
  and DRAM priors: the host power then uses the prior *without* year.
* **lifetime_yr** 4 (the seed paper's code default, as for server specs).

Outputs (per server × utilisation)
----------------------------------
Embodied carbon by the embodied kernel under the chosen coefficient set, the row being a whole
chassis (host share 1). Host power from the spec-based prior (:mod:`carbonsim.models.power.prior`) at
CPU utilisation ``util``, plus each GPU by the activity model with ``util`` read as the load of
its calibration ladder (``MFU/eta_c = MBU/eta_m = util``; util 0 gives the loaded idle);
the sum is capped at ``psu_w`` when given. Energy per year = power × 8,760 h (365 days, the
year of :mod:`carbonsim.units`); operational carbon = energy × PUE × grid intensity.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.inputs.coefficients import CoefficientSet, load_coefficients
from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.embodied.layout import HOST_COMPONENTS
from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import DEFAULT_LIFETIME_YR, server_from_dict
from carbonsim.engine.inputs.columns import server_column
from carbonsim.models.power.gpu import gpu_power_w
from carbonsim.models.power.prior import design_matrix, prior_power_from_features_w
from carbonsim.models.uncertainty import percentiles, sample_matrix
from carbonsim.units import HOURS_PER_YEAR

COLUMNS = ("id", "cpu_model", "cpu_count", "cores_total", "cpu_tdp_w", "dram_gb", "ssd_count", "ssd_gb",
           "hdd_count", "hdd_gb", "gpu_model", "gpu_count", "psu_w", "year")
OPTIONAL_COLUMNS = ("lifetime_yr",)
_TEXT = ("id", "cpu_model", "gpu_model")
_INTEGER = ("cpu_count", "cores_total", "ssd_count", "hdd_count", "gpu_count", "year")
_POSITIVE = ("cpu_count", "cores_total", "cpu_tdp_w", "dram_gb", "psu_w", "year", "lifetime_yr")
YEAR_LIMITS = (1990, 2100)
MAX_CSV_BYTES = 100_000_000
MAX_SAMPLES = 100_000

# --- pinned priors (see the module docstring; derive_priors() recomputes them) -------------------
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
#: Launch year (first year of the band) -> node, for CPUs not in the database.
NODE_BY_YEAR = ((2022, "5nm"), (2020, "7nm"), (2016, "14nm"), (2013, "22nm"), (0, "28nm"))
DEFAULT_CPU_COUNT = 2
DEFAULT_YEAR = 2020
DEFAULT_SSD_GB = (960.0, 480.0, 3840.0)
DEFAULT_HDD_GB_EACH = 16000.0
DEFAULT_GPU_COUNT = 1
_Z90 = 1.645

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
class InventoryRow:
    """One server as read from the CSV; ``None`` where the cell was blank.

    Attributes
    ----------
    file : str
    line : int
        Line of the row in the file (1 = the first line).
    """

    id: str
    file: str
    line: int
    cpu_model: str | None = None
    cpu_count: int | None = None
    cores_total: int | None = None
    cpu_tdp_w: float | None = None
    dram_gb: float | None = None
    ssd_count: int | None = None
    ssd_gb: float | None = None
    hdd_count: int | None = None
    hdd_gb: float | None = None
    gpu_model: str | None = None
    gpu_count: int | None = None
    psu_w: float | None = None
    year: int | None = None
    lifetime_yr: float | None = None
    has_lifetime_column: bool = False

    def where(self) -> str:
        return f"line {self.line} (id {self.id!r})"


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


# ------------------------------------------------------------------------------------------------
# Reading

def _cell_error(file, line, column, raw, what):
    return InputError(f"line {line}: {raw!r} {what}", file=file, field=column)


def _parse_cell(raw: str, column: str, file: str, line: int):
    text = raw.strip()
    if text == "":
        return None
    if column in _TEXT:
        return text
    try:
        value = float(text)
    except ValueError:
        raise _cell_error(file, line, column, text, "is not a number") from None
    if not math.isfinite(value):
        raise _cell_error(file, line, column, text, "is not a finite number")
    if value < 0:
        raise _cell_error(file, line, column, text, "is negative; must be >= 0")
    if column in _POSITIVE and value == 0:
        raise _cell_error(file, line, column, text, "must be > 0")
    if column in _INTEGER:
        if value != int(value):
            raise _cell_error(file, line, column, text, "must be a whole number")
        value = int(value)
    if column == "year" and not YEAR_LIMITS[0] <= value <= YEAR_LIMITS[1]:
        raise _cell_error(file, line, column, text, f"is outside {YEAR_LIMITS[0]}..{YEAR_LIMITS[1]}")
    return value


def read_inventory(path) -> list[InventoryRow]:
    """Read and validate an inventory CSV.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of InventoryRow
        In file order.

    Raises
    ------
    InputError
        One line naming the file, the column and the line: missing file, not UTF-8, no header,
        no ``id`` column, duplicate column, empty or duplicate id, a value that is not a number,
        not finite, negative, zero where a positive value is needed, or fractional where a
        count is needed; no data rows. A UTF-8 byte-order mark is accepted.
    """
    path = Path(path)
    file = str(path)
    try:
        if path.is_dir():
            raise InputError("is a directory, expected a CSV file", file=file)
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("file not found", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", file=file) from None
    if size > MAX_CSV_BYTES:
        raise InputError(f"file is {size} bytes; the limit is {MAX_CSV_BYTES}", file=file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=file) from None

    header, header_line, idx = None, 0, {}
    rows: list[InventoryRow] = []
    seen: dict[str, int] = {}
    try:
        records = list(enumerate(csv.reader(io.StringIO(text, newline="")), start=1))
    except csv.Error as exc:
        raise InputError(f"not a readable CSV ({exc})", file=file) from None
    # csv.reader counts records; map each to the physical line it starts on
    line_of = _record_lines(text)
    for k, record in records:
        lineno = line_of[k - 1] if k - 1 < len(line_of) else k
        if not record or all(c.strip() == "" for c in record) or record[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = [c.strip().lower() for c in record], lineno
            dupes = sorted({c for c in header if c and header.count(c) > 1})
            if dupes:
                raise InputError(f"line {lineno}: duplicate column", file=file, field=dupes[0])
            if "id" not in header:
                found = ", ".join(c for c in header if c) or "nothing"
                raise InputError(f"line {lineno}: no 'id' column in the header (found: {found}); "
                                 f"expected columns {', '.join(COLUMNS)}", file=file, field="id")
            idx = {c: header.index(c) for c in COLUMNS + OPTIONAL_COLUMNS if c in header}
            continue
        values = {}
        for column, i in idx.items():
            cell = record[i] if i < len(record) else ""
            values[column] = _parse_cell(cell, column, file, lineno)
        if values["id"] is None:
            raise InputError(f"line {lineno}: empty id; every row needs one", file=file, field="id")
        if values["id"] in seen:
            raise InputError(f"line {lineno}: duplicate id {values['id']!r} (first on line "
                             f"{seen[values['id']]})", file=file, field="id")
        seen[values["id"]] = lineno
        rows.append(InventoryRow(file=file, line=lineno, has_lifetime_column="lifetime_yr" in idx, **values))
    if header is None:
        raise InputError(f"file is empty; expected a header with columns {', '.join(COLUMNS)}", file=file)
    if not rows:
        raise InputError(f"no data rows after the header (line {header_line})", file=file)
    return rows


def _record_lines(text: str) -> list[int]:
    """First physical line of each CSV record (quoted cells may span lines)."""
    out, line, in_quotes, start = [], 1, False, True
    for ch in text:
        if start:
            out.append(line)
            start = False
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == "\n":
            line += 1
            if not in_quotes:
                start = True
    return out


# ------------------------------------------------------------------------------------------------
# Matching names to database parts

_NOISE = re.compile(r"\(r\)|\(tm\)|®|™|@|\b\d+(\.\d+)?\s*[gm]hz\b")
_BRANDS = {"nvidia", "amd", "intel", "tesla"}
_CPU_WORDS = {"processor", "cpu"}


def name_tokens(text: str, kind: str = "cpus") -> frozenset:
    """Tokens of a part name under the matching rule (see the module docstring)."""
    t = _NOISE.sub(" ", text.lower())
    toks = [w for w in re.split(r"[^a-z0-9]+", t) if w]
    if kind == "cpus":
        toks = [w for w in toks if w not in _CPU_WORDS]
    return frozenset(toks)


class PartMatcher:
    """Match free-text part names to database ids of one kind (``cpus`` or ``gpus``)."""

    def __init__(self, db, kind: str):
        self.kind = kind
        self._keys: list[tuple[str, frozenset, frozenset]] = []
        for pid in db.ids(kind):
            name = db.get(kind, pid).get("name", pid)
            for toks in (name_tokens(pid, kind), name_tokens(str(name), kind)):
                self._keys.append((pid, toks, toks - _BRANDS))
        self._cache: dict[str, tuple[str | None, list[str]]] = {}

    def match(self, text: str) -> tuple[str | None, list[str]]:
        """``(id, [])`` for a unique match, ``(None, candidates)`` otherwise."""
        if text in self._cache:
            return self._cache[text]
        toks = name_tokens(text, self.kind)
        found = sorted({pid for pid, k, _ in self._keys if k == toks})
        if not found:
            bare = toks - _BRANDS
            found = sorted({pid for pid, _, k in self._keys if bare and k == bare})
        result = (found[0], []) if len(found) == 1 else (None, found)
        self._cache[text] = result
        return result


# ------------------------------------------------------------------------------------------------
# Priors

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
    return "ddr3" if year <= 2013 else ("ddr4" if year <= 2022 else "ddr5")


def derive_priors(specpower_csv, db) -> dict:
    """Recompute the pinned prior constants from their sources.

    Parameters
    ----------
    specpower_csv : path
        ``tests/data/specpower_sample.csv``.
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


def fill_row(row: InventoryRow, db, cpus: PartMatcher, gpus: PartMatcher) -> FilledServer:
    """Fill the blanks of one row and build its server document.

    Raises
    ------
    InputError
        An unknown or ambiguous GPU model, or a GPU count without a model (naming the file,
        line and column).
    """
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
        f = math.exp(_Z90 * DIE_AREA_SD_LN)
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
            f = math.exp(_Z90 * DRAM_SD_LN)
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
    spec = {"name": row.id, "lifetime_yr": life, "host": host}
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


# ------------------------------------------------------------------------------------------------
# Power

def host_power_w(servers: list[FilledServer], utils, db_dir=None) -> tuple[np.ndarray, list[str]]:
    """Host power [W] of each server at each utilisation, shape (n, len(utils)), and a note per server.

    The spec-based prior of :func:`carbonsim.engine.inputs.power.spec_prior_power_w`, vectorised: the
    variant with year when the year was given or taken from the database, otherwise the one
    without; each SSD beyond the first and each HDD beyond the first drive adds the prior's
    ``extra_ssd_w`` / ``extra_hdd_w``. No PSU cap here (see :func:`run_inventory`).
    """
    from carbonsim.engine.inputs.power import load_host_prior

    u = np.asarray(utils, dtype=float)
    n = len(servers)
    out = np.empty((n, len(u)))
    notes = [""] * n
    tdp = np.array([s.cpu_tdp_w for s in servers])
    sock = np.array([s.cpu_count for s in servers], dtype=float)
    cores = np.array([s.cores_total for s in servers], dtype=float)
    mem = np.array([s.dram_gb for s in servers])
    year = np.array([s.year for s in servers], dtype=float)
    ssd = np.array([s.ssd_count for s in servers])
    hdd = np.array([s.hdd_count for s in servers])
    known = np.array([s.year_known for s in servers], dtype=bool)
    extra_ssd = np.maximum(ssd - 1, 0)
    extra_hdd = np.where(hdd > 0, np.maximum(hdd - np.where(ssd > 0, 0, 1), 0), 0)
    for with_year in (True, False):
        m = known if with_year else ~known
        if not m.any():
            continue
        prior, meta = load_host_prior(with_year=with_year, db_dir=db_dir)
        X = design_matrix(tdp[m], sock[m], cores[m], mem[m], year[m] if with_year else None)
        p = prior_power_from_features_w(np.broadcast_to(u, (int(m.sum()), len(u))), X, prior)
        p = p + (extra_ssd[m] * float(meta["extra_ssd_w"]["value"]))[:, None]
        p = p + (extra_hdd[m] * float(meta["extra_hdd_w"]["value"]))[:, None]
        out[m] = p
        key = "with_year" if with_year else "without_year"
        err = meta[key]["error_cv_pct"]["all_levels"]
        text = (f"host power from the spec-based prior {key.replace('_', ' ')} (cross-validated median error "
                f"{err['median']:g} %, 90th percentile {err['p90']:g} %), not measured")
        for i in np.flatnonzero(m):
            notes[i] = text
    return out, notes


def gpu_power_total_w(servers: list[FilledServer], utils, db_dir=None) -> tuple[np.ndarray, list[str]]:
    """Power of all GPUs of each server [W], shape (n, len(utils)), and a note per server.

    Activity model (:func:`carbonsim.models.power.gpu.gpu_power_w`) with ``util`` as the load of the
    calibration ladder: ``MFU = util·eta_c``, ``MBU = util·eta_m``. A GPU without activity
    constants gets the fallback of :func:`carbonsim.engine.inputs.power.gpu_activity_constants`, with a note.
    """
    from carbonsim.engine.inputs.power import gpu_activity_constants

    u = np.asarray(utils, dtype=float)
    out = np.zeros((len(servers), len(u)))
    notes = [""] * len(servers)
    for i, s in enumerate(servers):
        if s.gpu_id is None:
            continue
        c, fallback = gpu_activity_constants(s.gpu_id, float(s.gpu_tdp_w), db_dir=db_dir)
        notes[i] = fallback or ""
        p = gpu_power_w(u * c["eta_c"], u * c["eta_m"], c["idle_loaded_w"], c["cap_w"], c["a_c"], c["a_m"],
                        c["eta_c"], c["eta_m"])
        out[i] = s.gpu_count * p
        if not notes[i]:
            notes[i] = "GPU power from the activity model at load = util (util 0: loaded idle)"
    return out, notes


# ------------------------------------------------------------------------------------------------
# Running

def _check_utils(utils) -> np.ndarray:
    try:
        u = np.asarray([float(x) for x in utils], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"utilisations must be numbers 0..1, found {utils!r}", field="util") from None
    if u.size == 0:
        raise InputError("give at least one utilisation", field="util")
    bad = [x for x in u if not (0.0 <= x <= 1.0)]
    if bad:
        raise InputError(f"utilisation {bad[0]:g} is outside 0..1 (a fraction, not per cent)", field="util")
    return u


def run_inventory(rows: list[InventoryRow], db, utils=(0.5,), grid=None, pue: float = 1.0, years: float = 1.0,
                  coefficients=None, samples: int = 0, seed: int | None = 0, db_dir=None) -> list[dict]:
    """Embodied carbon, power, energy and operational carbon of every server at every utilisation.

    Parameters
    ----------
    rows : list of InventoryRow
        From :func:`read_inventory`.
    db : Database
    utils : sequence of float
        CPU utilisation (and GPU load) fractions 0..1; one output row per server and value.
    grid : str or GridIntensity, optional
        ``--grid`` text (source, mix, region; resolved with :func:`carbonsim.engine.inputs.grid.resolve_grid`)
        or a resolved intensity. Without it no operational carbon is reported.
    pue : float
        Power usage effectiveness, >= 1.
    years : float
        Period of the totals (``energy_kwh``, ``operational_kg``, ``embodied_kg_amortised``,
        ``total_kg``), > 0.
    coefficients : str or CoefficientSet, optional
        Coefficient set (default :data:`carbonsim.engine.inputs.coefficients.DEFAULT_SET`).
    samples : int
        Monte-Carlo samples per server for ``embodied_kg_p5`` / ``embodied_kg_p95`` (0: none).
    seed : int or None
        Seed; server ``i`` draws from ``numpy.random.default_rng([seed, i])``.
    db_dir : path, optional
        User database whose ``power/`` files override the shipped ones.

    Returns
    -------
    list of dict
        Keys in :data:`OUTPUT_COLUMNS` order (see :func:`inventory_columns`), server-major.
    """
    u = _check_utils(utils)
    if not (isinstance(pue, (int, float)) and math.isfinite(pue) and pue >= 1.0):
        raise InputError(f"PUE must be a number >= 1.0, found {pue}", field="pue")
    if not (isinstance(years, (int, float)) and math.isfinite(years) and years > 0):
        raise InputError(f"years must be a number > 0, found {years}", field="years")
    samples = int(samples or 0)
    if not 0 <= samples <= MAX_SAMPLES:
        raise InputError(f"samples must be between 0 and {MAX_SAMPLES}, found {samples}", field="samples")
    cs = coefficients if isinstance(coefficients, CoefficientSet) else load_coefficients(coefficients, db)
    gi = None
    if grid is not None:
        if isinstance(grid, str):
            from carbonsim.engine.inputs.grid import resolve_grid

            gi = resolve_grid(grid, db)
        else:
            gi = grid

    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    servers = [fill_row(r, db, cpus, gpus) for r in rows]
    n = len(servers)

    params = None
    ranged = []
    life = np.empty(n)
    for i, s in enumerate(servers):
        try:
            server = server_from_dict(s.spec, db, s.row.file, s.row.id)
            col = server_column(server, cs)
        except InputError as exc:
            raise InputError(f"{s.row.where()}: {exc.message}", file=s.row.file, field=exc.field) from None
        if params is None:
            params = np.empty((col.value.size, n))
        params[:, i] = col.value
        ranged.append(col)
        life[i] = s.lifetime_yr
        s.notes.extend(col.notes)
    comp = server_components(params)
    nh = len(HOST_COMPONENTS)
    host_kg = comp[:nh].sum(axis=0)
    gpu_kg = comp[nh:].sum(axis=0)
    total_kg = host_kg + gpu_kg
    per_yr = total_kg / life

    p5 = p95 = None
    if samples:
        p5, p95 = np.empty(n), np.empty(n)
        for i, col in enumerate(ranged):
            mat = sample_matrix(col.value, col.low, col.high, samples, None if seed is None else [int(seed), i])
            c = server_components(mat)
            pc = percentiles(c.sum(axis=0))
            p5[i], p95[i] = pc["p5"], pc["p95"]

    host_w, host_notes = host_power_w(servers, u, db_dir)
    gpu_w, gpu_notes = gpu_power_total_w(servers, u, db_dir)
    power = host_w + gpu_w
    for i, s in enumerate(servers):
        psu = s.row.psu_w
        if psu is not None and np.any(power[i] > psu):
            s.notes.append(f"power capped at psu_w {psu:g} W")
            power[i] = np.minimum(power[i], psu)
    energy_yr = power * HOURS_PER_YEAR / 1000.0

    out = []
    for i, s in enumerate(servers):
        notes = "; ".join(x for x in [*s.notes, host_notes[i], gpu_notes[i]] if x)
        filled = ";".join(s.filled)
        for j, uj in enumerate(u):
            d = {"id": s.row.id, "util": float(uj), "embodied_kg": float(total_kg[i])}
            if samples:
                d["embodied_kg_p5"], d["embodied_kg_p95"] = float(p5[i]), float(p95[i])
            d["lifetime_yr"] = float(life[i])
            d["embodied_kg_per_yr"] = float(per_yr[i])
            d["power_w"] = float(power[i, j])
            d["host_power_w"] = float(host_w[i, j])
            d["gpu_power_w"] = float(gpu_w[i, j])
            d["energy_kwh_per_yr"] = float(energy_yr[i, j])
            if gi is not None:
                op = energy_yr[i, j] * pue * gi.ci_g_per_kwh / 1000.0
                d["operational_kg_per_yr"] = float(op)
                d["total_kg_per_yr"] = float(op + per_yr[i])
            d["years"] = float(years)
            d["energy_kwh"] = float(energy_yr[i, j] * years)
            if gi is not None:
                d["operational_kg"] = float(d["operational_kg_per_yr"] * years)
            d["embodied_kg_amortised"] = float(per_yr[i] * years)
            if gi is not None:
                d["total_kg"] = d["operational_kg"] + d["embodied_kg_amortised"]
            d["pue"] = float(pue)
            if gi is not None:
                d["grid"], d["grid_basis"], d["ci_g_per_kwh"] = gi.label, gi.basis, float(gi.ci_g_per_kwh)
            d["coefficients"] = cs.id
            d["filled"] = filled
            d["notes"] = notes
            out.append(d)
    return out


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
