"""Servers against vendor carbon footprints: the cases ``test_vendor_lca.py`` asserts, the
constants ``calibration/write_server_lca.py`` writes into ``server-lca`` and the section
``docs/make_validation.py`` writes into docs/validation.md (so the three cannot drift).

Data (copied into carbonsim/validation/data, provenance in carbonsim/validation/data/README.md):

- ``server_pcf_rows.csv``: the 34 published product carbon footprints (PCFs) of Dell and HPE
  servers, and the Dell R740 full LCA, that state their configuration (CPU count, DRAM, drives):
  the **training rows**, the only rows anything is fitted or chosen on. The file is itself a
  ``carbonsim inventory`` CSV: its ``cpu_count, cores_total, dram_gb, ssd_count, ssd_gb,
  hdd_count, hdd_gb, year`` columns are what every method is given (blanks filled as the
  inventory fills them); the other columns are ignored by the inventory.
- ``server_pcf_heldout.csv``: 32 further vendor footprints of the same reference table that
  carbonsim can express (31 Lenovo ThinkSystem PCFs, the Dell R7525 full LCA), **held out**:
  nothing is fitted or chosen on them; ``server_pcf_heldout_excluded.csv`` lists the other 27
  rows of the table and why each cannot be used.
- ``server_pcf_boavizta_2.5.0.csv``: Boavizta's server model (boaviztapi 2.5.0 from PyPI,
  unchanged) on the training rows.

``server-lca`` fits one thing on the training rows: the electronics vendor PCFs count beyond
the R740 LCA's itemised parts, ``I_i + theta v_i``. Its **form** is chosen among
:data:`FORMS` (the forms tried while the set was built) and its constant fitted, both inside each
fold of a **nested leave-one-out cross-validation**: for each row, the form with the lowest
median error in a leave-one-out run over the other 33 rows is fitted on those 33 and predicts
the row. The form chosen on all 34 rows (by the same leave-one-out median) is shipped.

Its **interval**: ``carbonsim inventory --samples`` draws every ranged input of the set; the
range of U0 (``host.unitemised_electronics.ref_kg``: ``U0 +- d``, triangular, mode U0) is
calibrated so that the 5-95 % band holds the vendor figure: ``d`` is the split-conformal
quantile (rank ``ceil(0.8 (n + 1))`` of ``n``) of each row's smallest covering half-width, with
that row's U0 fitted without it. Cross-validated like the form: in each outer fold ``d`` is
calibrated on the other 33 rows and the outer row's band is checked.

Baselines: ``hotcarbon24``, ``ecoserve``, ``act`` (``carbonsim inventory`` with those sets),
Boavizta 2.5.0 (the copied values; training rows only) and **SCARIF's formula** (Ji et al.,
ISVLSI'24; coefficients from its SCARIF_class.py, cited as ``scarif-ji-isvlsi24``), none refitted
here: ``5.01 cores + 0.95 GB DRAM + 0.16 GB SSD + 0.04 GB HDD + 83.08 (year - 2000) + D``,
D = -400 (Dell), -1,100 (HPE), -900 (Lenovo). SCARIF needs cores, which most rows do not
state: the CPUs times the platform's maximum cores where the sheet gives it (as SCARIF's own
R740 example does), otherwise carbonsim's cores-from-year prior, or, in the second variant, 0.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from carbonsim.engine.db import default_database
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.columns import server_column
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.inputs.server import load_server, server_from_dict
from carbonsim.engine.readers.inventory import read_inventory
from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.inputs.coefficients import DEFAULT_SET  # server-lca, every command's default
from carbonsim.engine.studies.inventory import fill_row, run_inventory
from carbonsim.errors import PlausibilityWarning
from carbonsim.models.embodied.electronics import fit_unitemised_ref_kg
from carbonsim.models.embodied.layout import N_HOST, P
from carbonsim.models.embodied.server import server_components_reference
from carbonsim.models.uncertainty import PERCENTILES, sample_matrix

from carbonsim.validation import DATA

ROWS = DATA / "server_pcf_rows.csv"
HELDOUT = DATA / "server_pcf_heldout.csv"
HELDOUT_EXCLUDED = DATA / "server_pcf_heldout_excluded.csv"
BOAVIZTA = DATA / "server_pcf_boavizta_2.5.0.csv"
U0_PATH = "host.unitemised_electronics.ref_kg"

# SCARIF's server formula (SCARIF_class.py, repository commit f4dc4fb) [kg CO2e]
SCARIF_KG = {"cores": 5.01, "dram_gb": 0.95, "ssd_gb": 0.16, "hdd_gb": 0.04, "year_since_2000": 83.08}
SCARIF_VENDOR_KG = {"Dell": -400.0, "HPE": -1100.0, "Lenovo": -900.0}

# Targets: issue 9 (median, p90 of leave-one-out errors), issue 17 (nested CV median, coverage)
TARGET_MEDIAN_PCT = 15.0
TARGET_P90_PCT = 40.0
TARGET_COVERAGE = 0.80
#: Monte-Carlo draws per server for the intervals (the band's ends move by about 1 % between seeds)
INTERVAL_SAMPLES = 4000
BAND = (PERCENTILES[0], PERCENTILES[-1])  # p5, p95

# NVIDIA's HGX baseboard PCFs, cradle-to-gate, 8 GPUs with HBM, NVSwitch chips, board and heat
# sinks, no host (nvidia-hgx-h100-pcf, nvidia-hgx-b200-pcf) [kg CO2e]
HGX_PCF_KG = {"HGX H100": 1312.0, "HGX B200": 2274.0}
HGX_SERVERS = {
    "HGX H100": "hgx-h100-x8",
    # only the GPU part is compared; the host is a placeholder
    "HGX B200": {"name": "8 x B200 (GPU part only)", "year": 2024, "gpus": {"part": "nvidia-b200", "count": 8},
                 "host": {"cpus": {"die_area_mm2": 100, "node": "7nm", "count": 1},
                          "dram": {"gb": 0, "technology": "ddr5"}}},
}

# --------------------------------------------------------------------------------------------
# The candidate forms of the unitemised term: estimate = I + theta * v

#: Year the published decline is referred to, and the decline (server-lca.yaml, Teehan-Kandlikar)
REF_YEAR, DECLINE_PER_YR = 2017, 0.10
#: Grid of the fitted decline of the form that fits one [1/yr]
DECLINE_GRID = np.round(np.arange(0.0, 0.3001, 0.005), 4)
ADDITIVE = "additive, published decline"
FORMS = (ADDITIVE, "additive, fitted decline", "per CPU, published decline", "constant", "multiplicative")
#: How the coefficient set expresses a form (None: it cannot, the form is never shipped)
FORM_IN_SET = {ADDITIVE: "unitemised_electronics: {ref_kg: U0, ref_year: 2017, decline_per_yr: 0.10}"}


def abs_pct_error(estimate, reported) -> np.ndarray:
    """|estimate / reported - 1| x 100 [%]."""
    return 100.0 * np.abs(np.asarray(estimate, float) / np.asarray(reported, float) - 1.0)


def summary(err_pct) -> tuple[float, float]:
    """Median and 90th percentile (numpy's linear interpolation) of absolute % errors."""
    return float(np.median(err_pct)), float(np.percentile(err_pct, 90))


@lru_cache(maxsize=None)
def _db():
    return default_database()


def server_lca(u0_kg: float | None = None):
    """The inventory's default set, with U0 replaced when given."""
    over = None if u0_kg is None else {U0_PATH: float(u0_kg)}
    return load_coefficients(DEFAULT_SET, _db(), over)


@contextmanager
def _as_filled():
    """The rows as the inventory fills them, without its plausibility warnings: a Lenovo row with
    many HDDs of unstated size gets 16 TB each, far beyond the database's servers, on purpose
    (what a user with the same sheet would get)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)
        yield


def inventory_kg(coefficients, path=ROWS, samples: int = 0) -> np.ndarray | list[dict]:
    """``carbonsim inventory`` embodied kg of every row of ``path``, in file order (with
    ``samples``: the inventory's rows, p5 and p95 included)."""
    with _as_filled():
        out = run_inventory(read_inventory(path), _db(), coefficients=coefficients, samples=samples, seed=0)
    return out if samples else np.array([r["embodied_kg"] for r in out])


@dataclass(frozen=True)
class RowSet:
    """Vendor rows with what ``carbonsim inventory`` makes of them."""

    frame: pd.DataFrame
    reported_kg: np.ndarray
    itemised_kg: np.ndarray     # server-lca without the unitemised term (inventory, U0 = 0)
    weight: np.ndarray          # the unitemised term per kg of U0 (inventory; host share 1)
    year: np.ndarray            # as given or filled by the inventory
    cpu_count: np.ndarray       # as given or filled


@lru_cache(maxsize=None)
def row_set(path=ROWS) -> RowSet:
    df = pd.read_csv(path)
    item = inventory_kg(server_lca(0.0), path)
    weight = inventory_kg(server_lca(1.0), path) - item
    db = _db()
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    filled = [fill_row(r, db, cpus, gpus) for r in read_inventory(path)]
    return RowSet(df, df.reported_kg.to_numpy(float), item, weight,
                  np.array([f.year for f in filled], float), np.array([f.cpu_count for f in filled], float))


def form_basis(form: str, rs: RowSet, decline_per_yr: float = DECLINE_PER_YR) -> np.ndarray:
    """``v`` of a form: what multiplies its constant theta in ``I + theta v``."""
    decline = np.exp(-decline_per_yr * (rs.year - REF_YEAR))
    if form == ADDITIVE:
        return rs.weight  # the inventory's own term per kg of U0 (= decline here)
    if form == "additive, fitted decline":
        return decline
    if form == "per CPU, published decline":
        return rs.cpu_count * decline
    if form == "constant":
        return np.ones_like(rs.reported_kg)
    if form == "multiplicative":
        return rs.itemised_kg * decline
    raise ValueError(form)


def fit_form(form: str, rs: RowSet, mask) -> tuple[np.ndarray, np.ndarray]:
    """theta and the decline of ``form`` fitted on each mask (shape (..., n)), log-ratio least squares."""
    mask = np.asarray(mask, bool)
    if form != "additive, fitted decline":
        theta = fit_unitemised_ref_kg(rs.itemised_kg, rs.reported_kg, form_basis(form, rs), mask=mask)
        return np.asarray(theta), np.full(mask.shape[:-1], DECLINE_PER_YR)
    # profile over the decline grid: U0 fitted at each decline, the pair of least loss kept
    best_loss = np.full(mask.shape[:-1], np.inf)
    theta, decline = np.zeros(mask.shape[:-1]), np.zeros(mask.shape[:-1])
    ln_r = np.log(rs.reported_kg)
    for lam in DECLINE_GRID:
        v = form_basis(form, rs, lam)
        t = np.asarray(fit_unitemised_ref_kg(rs.itemised_kg, rs.reported_kg, v, mask=mask))
        loss = np.sum(np.where(mask, (np.log(rs.itemised_kg + t[..., None] * v) - ln_r) ** 2, 0.0), axis=-1)
        better = loss < best_loss
        best_loss, theta, decline = np.where(better, loss, best_loss), np.where(better, t, theta), \
            np.where(better, lam, decline)
    return theta, decline


def form_estimate(form: str, rs: RowSet, theta, decline) -> np.ndarray:
    """Estimates of every row for each fit: shape (..., n)."""
    theta, decline = np.asarray(theta)[..., None], np.asarray(decline)[..., None]
    if form == "additive, fitted decline":
        v = np.exp(-decline * (rs.year - REF_YEAR))
    else:
        v = form_basis(form, rs)
    return rs.itemised_kg + theta * v


def _fold_masks(n: int) -> np.ndarray:
    """masks[k, j]: every row but k and j (masks[k, k]: every row but k), shape (n, n, n)."""
    m = np.ones((n, n, n), bool)
    idx = np.arange(n)
    m[idx, :, idx] = False
    m[:, idx, idx] = False
    return m


@dataclass(frozen=True)
class NestedCV:
    estimate_kg: np.ndarray          # each row predicted by its outer fold
    chosen: list[str]                # the form each outer fold chose
    inner_median_pct: dict[str, np.ndarray]   # per form: each outer fold's inner LOO median error
    loo_estimate_kg: dict[str, np.ndarray]    # per form: plain leave-one-out estimates
    shipped_form: str                # chosen on all rows (plain LOO median)
    u0_pairs_kg: np.ndarray          # ADDITIVE fitted without rows k and j (k, j); diagonal: without k


@lru_cache(maxsize=None)
def nested_cv() -> NestedCV:
    """Form and constant chosen inside each outer leave-one-out fold (training rows)."""
    rs = row_set(ROWS)
    n = len(rs.reported_kg)
    masks = _fold_masks(n)
    est = {}
    for form in FORMS:
        theta, decline = fit_form(form, rs, masks)
        est[form] = form_estimate(form, rs, theta, decline)  # (k, j, row)
        if form == ADDITIVE:
            u0_pairs = theta
    idx = np.arange(n)
    # pred[form][k, j]: row j predicted without rows k and j
    pred = {f: e[:, idx, idx] for f, e in est.items()}
    loo = {f: np.diagonal(p).copy() for f, p in pred.items()}
    off = ~np.eye(n, dtype=bool)
    inner = {f: np.array([np.median(abs_pct_error(p[k][off[k]], rs.reported_kg[off[k]])) for k in range(n)])
             for f, p in pred.items()}
    chosen = [min(FORMS, key=lambda f: (round(float(inner[f][k]), 9), FORMS.index(f))) for k in range(n)]
    nested = np.array([loo[c][k] for k, c in enumerate(chosen)])
    shipped = min(FORMS, key=lambda f: (round(float(np.median(abs_pct_error(loo[f], rs.reported_kg))), 9),
                                        FORMS.index(f)))
    return NestedCV(nested, chosen, inner, loo, shipped, u0_pairs)


# --------------------------------------------------------------------------------------------
# Intervals: the 5-95 % band of carbonsim's Monte-Carlo draws, with the range of U0 calibrated

@dataclass(frozen=True)
class Draws:
    """Per row: the set's draws without the unitemised term, its weight, and a standard
    symmetric triangular draw t in [-1, 1] for U0 (U0 = mode + d t)."""

    itemised: np.ndarray   # (n, N)
    weight: np.ndarray     # (n, N)
    t: np.ndarray          # (n, N)


@lru_cache(maxsize=None)
def draws(path=ROWS, samples: int = INTERVAL_SAMPLES, seed: int = 0) -> Draws:
    """The draws ``carbonsim inventory --samples`` makes of every row under the shipped set, with
    the U0 row taken apart (row ``i`` drawn from seed ``[seed, i]``, as the inventory does; U0 is
    unranged while the others are drawn, so they do not depend on the range being calibrated)."""
    db, cs = _db(), server_lca()
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    it, w, t = [], [], []
    u = P["unitemised_ref_kg"]
    for i, row in enumerate(read_inventory(path)):
        f = fill_row(row, db, cpus, gpus)
        with _as_filled():
            col = server_column(server_from_dict(f.spec, db, row.file, row.id), cs)
        col.low[u] = col.high[u] = col.value[u]  # U0 is drawn below: the draws do not depend on its shipped range
        mat = sample_matrix(col.value, col.low, col.high, samples, [seed, i])
        mat[u] = 0.0
        base = server_components_reference(mat)[:N_HOST].sum(axis=0)
        mat[u] = 1.0
        w.append(server_components_reference(mat)[:N_HOST].sum(axis=0) - base)
        it.append(base)
        t.append(np.random.default_rng([seed, i, 2]).triangular(-1.0, 0.0, 1.0, samples))
    return Draws(np.array(it), np.array(w), np.array(t))


def band_kg(d: Draws, rows, mode_kg, half_width_kg) -> tuple[np.ndarray, np.ndarray]:
    """p5 and p95 of each row's total with U0 ~ Triangular(mode - d, mode, mode + d)."""
    rows = np.atleast_1d(rows)
    tot = d.itemised[rows] + (np.asarray(mode_kg, float).reshape(-1, 1)
                              + np.asarray(half_width_kg, float).reshape(-1, 1) * d.t[rows]) * d.weight[rows]
    lo, hi = np.percentile(tot, BAND, axis=1)
    return lo, hi


def covering_half_width_kg(d: Draws, rows, mode_kg, reported_kg, max_kg: float = 20000.0) -> np.ndarray:
    """Smallest d whose band holds each row's reported value (share of draws at or below it within
    [5 %, 95 %]); bisection to 1e-6 of ``max_kg``; inf if even ``max_kg`` does not."""
    rows = np.atleast_1d(rows)
    x = d.itemised[rows] + np.asarray(mode_kg, float).reshape(-1, 1) * d.weight[rows]
    y = d.t[rows] * d.weight[rows]
    r = np.asarray(reported_kg, float).reshape(-1, 1)
    lo_p, hi_p = BAND[0] / 100.0, BAND[1] / 100.0

    def covered(h):
        share = np.mean(x + h[:, None] * y <= r, axis=1)
        return (share >= lo_p) & (share <= hi_p)

    lo, hi = np.zeros(len(rows)), np.full(len(rows), max_kg)
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        ok = covered(mid)
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    out = np.where(covered(np.zeros(len(rows))), 0.0, hi)
    return np.where(covered(np.full(len(rows), max_kg)), out, np.inf)


def conformal_half_width_kg(widths) -> float:
    """The calibrated half-width: rank ``ceil(0.8 (n + 1))`` of the n smallest covering widths."""
    w = np.sort(np.asarray(widths, float))
    return float(w[min(len(w), math.ceil(TARGET_COVERAGE * (len(w) + 1))) - 1])


@dataclass(frozen=True)
class IntervalCV:
    half_width_kg: np.ndarray    # calibrated in each outer fold on the other rows
    covered: np.ndarray          # the outer row's band holds its vendor figure
    p5_kg: np.ndarray
    p95_kg: np.ndarray
    point_kg: np.ndarray         # the fold's point estimate
    shipped_half_width_kg: float  # calibrated on all training rows

    @property
    def coverage(self) -> float:
        return float(np.mean(self.covered))

    @property
    def relative_width(self) -> np.ndarray:
        """(p95 - p5) / point estimate."""
        return (self.p95_kg - self.p5_kg) / self.point_kg


@lru_cache(maxsize=None)
def interval_cv() -> IntervalCV:
    """The U0 range calibrated and checked in nested leave-one-out (shipped additive form)."""
    rs, d = row_set(ROWS), draws(ROWS)
    cv = nested_cv()
    n = len(rs.reported_kg)
    u0 = cv.u0_pairs_kg
    half = np.empty(n)
    for k in range(n):
        inner = np.array([j for j in range(n) if j != k])
        half[k] = conformal_half_width_kg(covering_half_width_kg(d, inner, u0[k, inner], rs.reported_kg[inner]))
    idx = np.arange(n)
    p5, p95 = band_kg(d, idx, u0[idx, idx], half)
    point = rs.itemised_kg + u0[idx, idx] * rs.weight
    shipped = conformal_half_width_kg(covering_half_width_kg(d, idx, u0[idx, idx], rs.reported_kg))
    return IntervalCV(half, (p5 <= rs.reported_kg) & (rs.reported_kg <= p95), p5, p95, point, shipped)


# --------------------------------------------------------------------------------------------
# Every method on both row sets

@dataclass(frozen=True)
class Method:
    name: str
    fitted: str            # what was fitted on the training rows
    estimate_kg: np.ndarray
    note: str = ""


@dataclass(frozen=True)
class Evaluation:
    rows: pd.DataFrame
    reported_kg: np.ndarray
    itemised_kg: np.ndarray
    weight: np.ndarray
    u0_folds_kg: np.ndarray      # U0 of the fold that left each row out
    u0_all_kg: float             # U0 fitted on all training rows
    u0_shipped_kg: float
    methods: dict[str, Method]

    def errors_pct(self, name: str) -> np.ndarray:
        return abs_pct_error(self.methods[name].estimate_kg, self.reported_kg)


NESTED = "server-lca, nested cross-validation (form and U0 chosen in each fold)"
LOO = "server-lca, leave-one-out with its form fixed"
IN_SAMPLE = "server-lca as shipped (U0 fitted on all 34 rows, in-sample)"
SHIPPED = "server-lca as shipped (fitted on the 34 training rows)"
ITEMISED = "server-lca itemised parts only (U0 = 0)"
BOAVIZTA_NAME = "Boavizta API 2.5.0"
SCARIF_PRIOR = "SCARIF formula, unstated cores from carbonsim's prior"
SCARIF_ZERO = "SCARIF formula, unstated cores = 0"
SETS_AS_IS = ("hotcarbon24", "ecoserve", "act")


def scarif_kg(path=ROWS, unstated_cores_zero: bool = False) -> np.ndarray:
    """SCARIF's formula on the rows of ``path``, inputs filled as the inventory fills them."""
    db = _db()
    rows = pd.read_csv(path)
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    out = []
    for r, f in zip(rows.itertuples(), (fill_row(x, db, cpus, gpus) for x in read_inventory(path))):
        if not pd.isna(r.cores_total):
            cores = float(r.cores_total)
        elif not pd.isna(r.cpu_max_cores_supported):
            cores = float(f.cpu_count * r.cpu_max_cores_supported)
        else:
            cores = 0.0 if unstated_cores_zero else float(f.cores_total)  # the inventory's prior
        k = SCARIF_KG
        out.append(k["cores"] * cores + k["dram_gb"] * f.dram_gb + k["ssd_gb"] * f.ssd_gb + k["hdd_gb"] * f.hdd_gb
                   + k["year_since_2000"] * (f.year - 2000) + SCARIF_VENDOR_KG[r.vendor])
    return np.array(out)


def _baselines(path) -> list[Method]:
    out = [Method(ITEMISED, "0", row_set(path).itemised_kg)]
    out += [Method(f"carbonsim {s} (as is)", "0", inventory_kg(s, path)) for s in SETS_AS_IS]
    return out


@lru_cache(maxsize=None)
def evaluation() -> Evaluation:
    """Every method on the 34 training rows (server-lca in cross-validation)."""
    rs = row_set(ROWS)
    cv = nested_cv()
    item, weight, reported = rs.itemised_kg, rs.weight, rs.reported_kg
    idx = np.arange(len(reported))
    u0_folds = cv.u0_pairs_kg[idx, idx]
    u0_all = float(fit_unitemised_ref_kg(item, reported, weight))
    u0_shipped = server_lca().host["unitemised_electronics"]["ref_kg"].value
    boavizta = pd.read_csv(BOAVIZTA).set_index("id").loc[rs.frame.id, "boavizta_kg"].to_numpy(float)
    methods = [
        Method(NESTED, "1 form of 5 and its constant, chosen in each fold", cv.estimate_kg),
        Method(LOO, "1 (U0, refitted in each fold)", cv.loo_estimate_kg[ADDITIVE]),
        Method(IN_SAMPLE, "1 (U0)", item + u0_shipped * weight, "not a prediction: for comparison"),
        *_baselines(ROWS),
        Method(BOAVIZTA_NAME, "0", boavizta),
        Method(SCARIF_PRIOR, "0 here (fitted by its authors)", scarif_kg(ROWS, False),
               "partly in-sample: SCARIF's HPE terms were fitted on 6 HPE rows, 3 of them here"),
        Method(SCARIF_ZERO, "0 here (fitted by its authors)", scarif_kg(ROWS, True), "as above"),
    ]
    return Evaluation(rs.frame, reported, item, weight, u0_folds, u0_all, u0_shipped, {m.name: m for m in methods})


@dataclass(frozen=True)
class HeldOut:
    rows: pd.DataFrame
    reported_kg: np.ndarray
    methods: dict[str, Method]
    p5_kg: np.ndarray            # the shipped set's band (carbonsim inventory --samples)
    p95_kg: np.ndarray

    def errors_pct(self, name: str) -> np.ndarray:
        return abs_pct_error(self.methods[name].estimate_kg, self.reported_kg)

    @property
    def covered(self) -> np.ndarray:
        return (self.p5_kg <= self.reported_kg) & (self.reported_kg <= self.p95_kg)


@lru_cache(maxsize=None)
def heldout() -> HeldOut:
    """Every method on the 32 held-out rows: nothing fitted or chosen on them."""
    rs = row_set(HELDOUT)
    methods = [
        Method(SHIPPED, "U0 and its form, on the training rows", inventory_kg(server_lca(), HELDOUT)),
        *_baselines(HELDOUT),
        Method(SCARIF_PRIOR, "0 here (fitted by its authors)", scarif_kg(HELDOUT, False),
               "SCARIF's Lenovo intercept was set by hand by its authors, who had these Lenovo sheets"),
        Method(SCARIF_ZERO, "0 here (fitted by its authors)", scarif_kg(HELDOUT, True), "as above"),
    ]
    runs = inventory_kg(server_lca(), HELDOUT, samples=INTERVAL_SAMPLES)
    p5 = np.array([r["embodied_kg_p5"] for r in runs])
    p95 = np.array([r["embodied_kg_p95"] for r in runs])
    return HeldOut(rs.frame, rs.reported_kg, {m.name: m for m in methods}, p5, p95)


@lru_cache(maxsize=None)
def heldout_by_form() -> dict[str, float]:
    """Median % error on the held-out rows of each candidate form fitted on all training rows
    (reported only: no choice is made on it)."""
    rs, ho = row_set(ROWS), row_set(HELDOUT)
    out = {}
    for form in FORMS:
        theta, decline = fit_form(form, rs, np.ones(len(rs.reported_kg), bool))
        out[form] = float(np.median(abs_pct_error(form_estimate(form, ho, theta, decline), ho.reported_kg)))
    return out


@lru_cache(maxsize=None)
def hgx_cases() -> list[tuple[str, float, str, float]]:
    """(board, NVIDIA kg, coefficient set, carbonsim's 8 cards kg) for server-lca, ecoserve, act."""
    db = _db()
    out = []
    for board, spec in HGX_SERVERS.items():
        srv = server_from_dict(spec, db, "<hgx-b200>") if isinstance(spec, dict) else load_server(spec, db)
        for set_id in (DEFAULT_SET, "ecoserve", "act"):
            out.append((board, HGX_PCF_KG[board], set_id, embodied(srv, load_coefficients(set_id, db)).gpu_kg))
    return out


# --------------------------------------------------------------------------------------------
# The docs/validation.md section

def _fmt_err(est, rep) -> str:
    return f"{est:,.0f} ({100 * (est / rep - 1):+.0f} %)"


def _method_table(methods, reported, groups: dict[str, np.ndarray]) -> list[str]:
    head = "| method | fitted on the training rows | median % | p90 % | " + \
        " | ".join(f"median %, {g} (n={int(m.sum())})" for g, m in groups.items()) + " | median estimate / reported |"
    lines = [head, "|---|---|---:|---:|" + "---:|" * len(groups) + "---:|"]
    for m in methods.values():
        e = abs_pct_error(m.estimate_kg, reported)
        md, p9 = summary(e)
        name = f"**{m.name}**" if m.name in (NESTED, SHIPPED) else m.name
        cells = " | ".join(f"{np.median(e[g]):.1f}" for g in groups.values())
        lines.append(f"| {name} | {m.fitted} | {md:.1f} | {p9:.1f} | {cells} | {np.median(m.estimate_kg / reported):.2f} |")
    return lines


def section_markdown() -> str:
    """The "Servers against vendor carbon footprints" section of docs/validation.md."""
    ev, cv, iv, ho = evaluation(), nested_cv(), interval_cv(), heldout()
    rows, rep = ev.rows, ev.reported_kg
    paia = (rows.method_group == "Dell PAIA PCF 2019").to_numpy()
    med, p90 = summary(ev.errors_pct(NESTED))
    loo_med, loo_p90 = summary(ev.errors_pct(LOO))
    h_med, h_p90 = summary(ho.errors_pct(SHIPPED))
    counts = pd.Series(cv.chosen).value_counts()
    u0 = ev.u0_all_kg
    width = iv.relative_width
    ratio = iv.p95_kg / iv.p5_kg
    excluded = pd.read_csv(HELDOUT_EXCLUDED)
    many = (ho.rows.cpu_count > 2).to_numpy()
    multi = ho.reported_kg[many & (ho.rows.cpu_count < 8).to_numpy()]
    multi_ratio = ho.methods[SHIPPED].estimate_kg[many] / ho.reported_kg[many]
    example = int(np.flatnonzero(rows.id.to_numpy() == "dell-r740")[0])
    shipped_u0 = server_lca().host["unitemised_electronics"]["ref_kg"]
    lines = [
        "## Servers against vendor carbon footprints",
        "",
        "Generated by `python docs/make_validation.py` from `carbonsim/validation/vendor_lca.py`, the",
        "cases `tests/engine/test_vendor_lca.py` asserts. Every method gets the same inputs: the rows'",
        "`cpu_count, cores_total, dram_gb, ssd_count, ssd_gb, hdd_count, hdd_gb, year` columns, blanks",
        "filled as `carbonsim inventory` fills them. Error = |estimate / reported − 1| of the",
        "manufacturing carbon; p90 = 90th percentile. Data (sources in `carbonsim/validation/data/README.md`):",
        "",
        f"- **training rows** (`server_pcf_rows.csv`): the {len(rows)} published product carbon footprints",
        "  (PCFs) of Dell and HPE servers and the Dell R740 full LCA that state their configuration.",
        "  The only rows anything is fitted or chosen on.",
        f"- **held-out rows** (`server_pcf_heldout.csv`): the {len(ho.rows)} other rows of the same reference",
        "  table that carbonsim can express (31 Lenovo ThinkSystem PCFs as SCARIF's table records them:",
        "  CPU and drive counts, no DRAM, drive sizes or year; the Dell R7525 full LCA: CPUs and two",
        "  4 TB SSDs). Nothing is fitted or chosen on them. The other "
        f"{len(excluded)} rows of the table cannot be used",
        "  (`server_pcf_heldout_excluded.csv` says why for each: "
        + "; ".join(f"{n} {why.split(':')[0].split(' (')[0]}" for why, n in
                    excluded.why_not_used.str.split(";").str[0].value_counts().items()) + ").",
        "",
        "### The model and how it was chosen",
        "",
        "`server-lca` (the default of `carbonsim inventory`, docs/embodied.md) is the Dell R740 LCA's",
        "itemised parts plus one term for the electronics vendor PCFs count beyond them. The term's",
        f"form was chosen among {len(FORMS)} ({'; '.join(f'`{f}`' for f in FORMS)}), the forms tried while the set was",
        "built, and its constant fitted (least squares of ln(estimate / reported)). Both are chosen",
        "**inside each fold of a nested leave-one-out cross-validation**: for each training row, the",
        f"form with the lowest median error over a leave-one-out run on the other {len(rows) - 1} rows is",
        f"fitted on those {len(rows) - 1} and predicts the row. Chosen: "
        + ", ".join(f"`{f}` in {c} folds" for f, c in counts.items()) + "; on all rows, "
        f"`{cv.shipped_form}` (shipped: U0 = {u0:.1f} kg in 2017, × e^(−0.10 (y − 2017)), "
        f"{ev.u0_folds_kg.min():.0f}–{ev.u0_folds_kg.max():.0f} kg over the folds).",
        "",
        f"**Nested cross-validation: median {med:.1f} %, p90 {p90:.1f} %** "
        f"(the same form in every fold, so plain leave-one-out gives the same: {loo_med:.1f} %, {loo_p90:.1f} %). "
        f"**Held out: median {h_med:.1f} %, p90 {h_p90:.1f} %.**",
        "",
        "Leave-one-out errors per form, for comparison (each fitted without the row it predicts):",
        "",
        "| form | median % | p90 % |",
        "|---|---:|---:|",
        *[f"| {f} | {summary(abs_pct_error(cv.loo_estimate_kg[f], rep))[0]:.1f} | "
          f"{summary(abs_pct_error(cv.loo_estimate_kg[f], rep))[1]:.1f} |" for f in FORMS],
        "",
        "### Training rows, every method",
        "",
        *_method_table(ev.methods, rep, {"Dell PAIA 2019": paia, "other rows": ~paia}),
        "",
        f"**Targets.** Issue 17: nested-CV median ≤ {TARGET_MEDIAN_PCT:g} % is "
        + ("met" if med <= TARGET_MEDIAN_PCT else "**not met**") + f" ({med:.1f} %), narrowly. Issue 9: "
        f"p90 ≤ {TARGET_P90_PCT:g} % is **not met ({p90:.1f} %)**, and cannot be with these inputs: the",
        "vendor methods disagree more than the servers do. Dell's 2019 PAIA sheets put about 1,150 kg on",
        "a near-empty 1–2 socket server of 2014–2018; HPE's typical-configuration sheets put about 450 kg",
        "on the same kind of server of 2020–2021, and HPE's 3-tier base sheets twice that on the same",
        "DL380 platform. The year is the only input that separates them; the unitemised term uses it",
        "with a published rate (Teehan & Kandlikar 2013). Rows beyond 40 %: "
        + "; ".join(f"{r.id} {100 * (x / y - 1):+.0f} %" for r, x, y in
                    zip(rows.itertuples(), ev.methods[NESTED].estimate_kg, rep)
                    if abs(x / y - 1) > TARGET_P90_PCT / 100) + ".",
        "",
        "Caveats: the Dell R740 full-LCA row is the source of most of the set's constants, so its",
        "error checks arithmetic, not prediction. SCARIF's HPE terms were fitted by its authors on six",
        "HPE rows, three of which are here; how unstated cores are filled moves its p90 by over 30 points.",
        "",
        "### Held-out rows",
        "",
        *_method_table(ho.methods, ho.reported_kg,
                       {"1-2 CPUs": (ho.rows.cpu_count <= 2).to_numpy(), "4-8 CPUs": (ho.rows.cpu_count > 2).to_numpy()}),
        "",
        f"Boavizta was not run on these rows. What they show: the training rows hold {int((rows.cpu_count > 2).sum())} "
        f"servers with 4 sockets; the Lenovo sheets put {multi.min():,.0f}–{multi.max():,.0f} kg on their "
        f"{int(((ho.rows.cpu_count > 2) & (ho.rows.cpu_count < 8)).sum())} 4-socket servers and "
        f"{ho.reported_kg[(ho.rows.cpu_count >= 8).to_numpy()].max():,.0f} kg on the 8-socket one, where "
        "`server-lca` adds one electronics term per chassis whatever its sockets: it estimates "
        f"{np.median(multi_ratio):.2f} of their figures (median). No form was chosen on these rows and",
        "nothing is refitted on them. Every candidate form, fitted on all training rows, is about as far",
        "off here (median " + "; ".join(f"`{f}` {m:.1f} %" for f, m in heldout_by_form().items()) + "): the",
        "gap is Lenovo's method, not the form.",
        "The Lenovo rows carry no year: the inventory fills 2020 (each row's note says so); SCARIF's",
        "formula uses the same filled inputs (an unstated HDD is 16 TB, which SCARIF's 0.04 kg/GB",
        "turns into 640 kg per drive).",
        "",
        "### Intervals",
        "",
        "`carbonsim inventory --samples N` (and `embodied --samples`) reports the 5–95 % band of N",
        "draws of every ranged input of the set (triangular, mode at the value; models/uncertainty.py).",
        "Since vendor methods disagree, the range of U0 is **calibrated**: U0 ± d, with d the",
        "split-conformal quantile (rank ⌈0.8 (n + 1)⌉ of n) of each row's smallest covering half-width,",
        "that row's U0 fitted without it. Checked in cross-validation like the form: in each outer fold d",
        f"is calibrated on the other {len(rows) - 1} rows ({iv.half_width_kg.min():.0f}–{iv.half_width_kg.max():.0f} kg "
        f"over the folds; {INTERVAL_SAMPLES:,} draws a row) and the left-out row's band is checked.",
        "",
        "| rows | band holds the vendor figure | median (p95 − p5) / estimate | median p95 / p5 |",
        "|---|---:|---:|---:|",
        f"| training rows, cross-validated | {iv.covered.sum()} of {len(rep)} ({100 * iv.coverage:.1f} %) | "
        f"{100 * np.median(width):.0f} % | {np.median(ratio):.2f} |",
        f"| held-out rows, shipped range | {ho.covered.sum()} of {len(ho.reported_kg)} "
        f"({100 * np.mean(ho.covered):.1f} %) | "
        f"{100 * np.median((ho.p95_kg - ho.p5_kg) / ho.methods[SHIPPED].estimate_kg):.0f} % | "
        f"{np.median(ho.p95_kg / ho.p5_kg):.2f} |",
        "",
        f"Shipped: d = {iv.shipped_half_width_kg:.0f} kg on all training rows, so U0 ranges from "
        f"{shipped_u0.low:,.0f} to {shipped_u0.high:,.0f} kg (a low end below zero: "
        "vendor methods that count less than the LCA's itemised parts). **Coverage target ≥ "
        f"{100 * TARGET_COVERAGE:.0f} % in cross-validation: "
        + ("met" if iv.coverage >= TARGET_COVERAGE else "not met") + f" ({100 * iv.coverage:.1f} %).** "
        "The band is wide because the vendor methods disagree: the near-empty 2017 Dell R740's spans",
        f"{iv.p5_kg[example]:,.0f}–{iv.p95_kg[example]:,.0f} kg. On the held-out rows the shipped band holds "
        f"{ho.covered.sum()} of {len(ho.reported_kg)}: Lenovo's sheets sit above what Dell's and HPE's methods "
        "give the same configurations. Training rows outside their cross-validated band: "
        + "; ".join(rows.id[~iv.covered]) + ".",
        "",
        "Per training row (kg CO2e, error in brackets; band = the cross-validated 5–95 %):",
        "",
        "| row | method group | year | reported | server-lca nested CV | band | hotcarbon24 | Boavizta 2.5.0 | SCARIF (prior cores) |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    cols = ["carbonsim hotcarbon24 (as is)", BOAVIZTA_NAME, SCARIF_PRIOR]
    for k, r in enumerate(rows.itertuples()):
        cells = " | ".join(_fmt_err(ev.methods[c].estimate_kg[k], rep[k]) for c in cols)
        lines.append(f"| {r.id} | {r.method_group} | {r.year} | {rep[k]:,.0f} | "
                     f"{_fmt_err(ev.methods[NESTED].estimate_kg[k], rep[k])} | "
                     f"{iv.p5_kg[k]:,.0f}–{iv.p95_kg[k]:,.0f} | {cells} |")
    lines += [
        "",
        "Per held-out row (year 2020 filled for the Lenovo rows; band = the shipped set's 5–95 %):",
        "",
        "| row | CPUs | SSD / HDD | reported | server-lca | band | SCARIF (prior cores) | flag |",
        "|---|---:|---|---:|---:|---|---:|---|",
    ]
    for k, r in enumerate(ho.rows.itertuples()):
        drives = f"{0 if pd.isna(r.ssd_count) else int(r.ssd_count)} / {0 if pd.isna(r.hdd_count) else int(r.hdd_count)}"
        flag = "implausible per the reference" if isinstance(r.reference_flag, str) and r.reference_flag else ""
        lines.append(f"| {r.id} | {r.cpu_count} | {drives} | {ho.reported_kg[k]:,.0f} | "
                     f"{_fmt_err(ho.methods[SHIPPED].estimate_kg[k], ho.reported_kg[k])} | "
                     f"{ho.p5_kg[k]:,.0f}–{ho.p95_kg[k]:,.0f} | "
                     f"{_fmt_err(ho.methods[SCARIF_PRIOR].estimate_kg[k], ho.reported_kg[k])} | {flag} |")
    lines += [
        "",
        "### GPU baseboards: 8 × carbonsim's card against NVIDIA's HGX PCFs",
        "",
        "NVIDIA's HGX H100 and B200 product carbon footprints (1,312 and 2,274 kg, cradle-to-gate, the",
        "baseboard with 8 GPUs, HBM, NVSwitch chips and heat sinks, no host) against `carbonsim",
        "embodied`'s GPU total. Neither was used to fit the card terms (`server-lca`'s are calibrated",
        "on component LCAs of single cards: section \"GPU cards against component LCAs\"). The test",
        "allows ±20 %.",
        "",
        "| board | NVIDIA kg | set | 8 cards kg | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    for board, nv, set_id, kg in hgx_cases():
        lines.append(f"| {board} | {nv:,.0f} | {set_id} | {kg:,.0f} | {kg / nv:.2f} |")
    return "\n".join(lines) + "\n"
