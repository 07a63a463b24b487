"""Servers against vendor carbon footprints: the cases ``test_vendor_lca.py`` asserts and
``docs/make_validation.py`` writes into docs/validation.md (so the two cannot drift).

Data (copied into carbonsim/validation/data, provenance in carbonsim/validation/data/README.md):

- ``server_pcf_rows.csv``: the 34 published product carbon footprints (PCFs) of Dell and HPE
  servers, and the Dell R740 full LCA, that state their configuration (CPU count, DRAM, drives);
  each row's source (the sheet's URL and the public collection it was found in). The file is itself a ``carbonsim inventory`` CSV: its ``cpu_count,
  cores_total, dram_gb, ssd_count, ssd_gb, hdd_count, hdd_gb, year`` columns are what every
  method below is given (blanks filled as the inventory fills them); the other columns are
  ignored by the inventory.
- ``server_pcf_boavizta_2.5.0.csv``: Boavizta's server model (boaviztapi 2.5.0 from PyPI,
  unchanged) on the same rows.

Methods:

- **server-lca, leave-one-out** (the inventory's default set): for each row, the unitemised-
  electronics level U0 is refitted on the other 33 rows
  (:func:`carbonsim.models.embodied.electronics.fit_unitemised_ref_kg`) and the row is
  estimated by ``carbonsim inventory`` with that U0. The estimate is linear in U0, so it is
  computed as ``itemised + U0 x weight`` from two inventory runs (U0 = 0 and U0 = 1);
  ``test_vendor_lca.py`` checks it against inventory runs with the fold's U0 and with the
  shipped set.
- **hotcarbon24, ecoserve, act**: ``carbonsim inventory`` with those sets, unchanged.
- **Boavizta 2.5.0**: the copied per-row values.
- **SCARIF's formula** (Ji et al., ISVLSI'24; coefficients from its SCARIF_class.py, cited as
  ``scarif-ji-isvlsi24`` in hardware_db/sources.yaml), none refitted here:
  ``5.01 cores + 0.95 GB DRAM + 0.16 GB SSD + 0.04 GB HDD + 83.08 (year - 2000) + D``, D = -400
  (Dell), -1,100 (HPE). SCARIF needs cores, which 29 rows do not state: the CPUs times the
  platform's maximum cores where the sheet gives it (as SCARIF's own R740 example does),
  otherwise carbonsim's cores-from-year prior, or, in the second variant, 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from carbonsim.engine.db import default_database
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.inputs.server import load_server, server_from_dict
from carbonsim.engine.readers.inventory import read_inventory
from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.studies.inventory import INVENTORY_DEFAULT_SET, fill_row, run_inventory
from carbonsim.models.embodied.electronics import fit_unitemised_ref_kg

from carbonsim.validation import DATA

ROWS = DATA / "server_pcf_rows.csv"
BOAVIZTA = DATA / "server_pcf_boavizta_2.5.0.csv"
U0_PATH = "host.unitemised_electronics.ref_kg"

# SCARIF's server formula (SCARIF_class.py, repository commit f4dc4fb) [kg CO2e]
SCARIF_KG = {"cores": 5.01, "dram_gb": 0.95, "ssd_gb": 0.16, "hdd_gb": 0.04, "year_since_2000": 83.08}
SCARIF_VENDOR_KG = {"Dell": -400.0, "HPE": -1100.0}

# The targets for the inventory's default, in cross-validation [% absolute error]
TARGET_MEDIAN_PCT = 15.0
TARGET_P90_PCT = 40.0

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


@dataclass(frozen=True)
class Method:
    name: str
    fitted: str            # what was fitted on these rows
    estimate_kg: np.ndarray
    note: str = ""


@dataclass(frozen=True)
class Evaluation:
    rows: pd.DataFrame
    reported_kg: np.ndarray
    itemised_kg: np.ndarray      # server-lca without the unitemised term (inventory, U0 = 0)
    weight: np.ndarray           # the unitemised term per kg of U0 (inventory)
    u0_folds_kg: np.ndarray      # U0 of the fold that left each row out
    u0_all_kg: float             # U0 fitted on all 34 rows
    u0_shipped_kg: float
    methods: dict[str, Method]

    def errors_pct(self, name: str) -> np.ndarray:
        return abs_pct_error(self.methods[name].estimate_kg, self.reported_kg)


LOO = "server-lca, leave-one-out (inventory default)"
IN_SAMPLE = "server-lca as shipped (U0 fitted on all 34 rows, in-sample)"
ITEMISED = "server-lca itemised parts only (U0 = 0)"
BOAVIZTA_NAME = "Boavizta API 2.5.0"
SCARIF_PRIOR = "SCARIF formula, unstated cores from carbonsim's prior"
SCARIF_ZERO = "SCARIF formula, unstated cores = 0"


def abs_pct_error(estimate, reported) -> np.ndarray:
    """|estimate / reported - 1| x 100 [%]."""
    return 100.0 * np.abs(np.asarray(estimate, float) / np.asarray(reported, float) - 1.0)


def summary(err_pct) -> tuple[float, float]:
    """Median and 90th percentile (numpy's linear interpolation) of absolute % errors."""
    return float(np.median(err_pct)), float(np.percentile(err_pct, 90))


@lru_cache(maxsize=None)
def _db():
    return default_database()


def inventory_kg(coefficients) -> np.ndarray:
    """``carbonsim inventory`` embodied kg of every row, in file order."""
    out = run_inventory(read_inventory(ROWS), _db(), coefficients=coefficients)
    return np.array([r["embodied_kg"] for r in out])


def server_lca(u0_kg: float | None = None):
    """The inventory's default set, with U0 replaced when given."""
    over = None if u0_kg is None else {U0_PATH: float(u0_kg)}
    return load_coefficients(INVENTORY_DEFAULT_SET, _db(), over)


def leave_one_out(itemised, reported, weight) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and U0 of each fold: U0 fitted without the row, then the row estimated."""
    n = len(reported)
    est, u0 = np.empty(n), np.empty(n)
    for k in range(n):
        keep = np.arange(n) != k
        u0[k] = fit_unitemised_ref_kg(itemised[keep], reported[keep], weight[keep])
        est[k] = itemised[k] + u0[k] * weight[k]
    return est, u0


def scarif_kg(rows: pd.DataFrame, unstated_cores_zero: bool) -> np.ndarray:
    """SCARIF's formula on the rows, inputs filled as the inventory fills them."""
    db = _db()
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    out = []
    for r, f in zip(rows.itertuples(), (fill_row(x, db, cpus, gpus) for x in read_inventory(ROWS))):
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


@lru_cache(maxsize=None)
def evaluation() -> Evaluation:
    rows = pd.read_csv(ROWS)
    reported = rows.reported_kg.to_numpy(float)
    item = inventory_kg(server_lca(0.0))
    weight = inventory_kg(server_lca(1.0)) - item
    loo, u0_folds = leave_one_out(item, reported, weight)
    u0_all = fit_unitemised_ref_kg(item, reported, weight)
    shipped = server_lca()
    u0_shipped = shipped.host["unitemised_electronics"]["ref_kg"].value
    boavizta = pd.read_csv(BOAVIZTA).set_index("id").loc[rows.id, "boavizta_kg"].to_numpy(float)
    methods = [
        Method(LOO, "1 (U0, refitted in each fold)", loo),
        Method(IN_SAMPLE, "1 (U0)", item + u0_shipped * weight, "not a prediction: for comparison"),
        Method(ITEMISED, "0", item),
        Method("carbonsim hotcarbon24 (as is)", "0", inventory_kg("hotcarbon24")),
        Method("carbonsim ecoserve (as is)", "0", inventory_kg("ecoserve")),
        Method("carbonsim act (as is)", "0", inventory_kg("act")),
        Method(BOAVIZTA_NAME, "0", boavizta),
        Method(SCARIF_PRIOR, "0 here (fitted by its authors)", scarif_kg(rows, False),
               "partly in-sample: SCARIF's HPE terms were fitted on 6 HPE rows, 3 of them here"),
        Method(SCARIF_ZERO, "0 here (fitted by its authors)", scarif_kg(rows, True), "as above"),
    ]
    return Evaluation(rows, reported, item, weight, u0_folds, u0_all, u0_shipped, {m.name: m for m in methods})


@lru_cache(maxsize=None)
def hgx_cases() -> list[tuple[str, float, str, float]]:
    """(board, NVIDIA kg, coefficient set, carbonsim's 8 cards kg) for server-lca, ecoserve, act."""
    db = _db()
    out = []
    for board, spec in HGX_SERVERS.items():
        srv = server_from_dict(spec, db, "<hgx-b200>") if isinstance(spec, dict) else load_server(spec, db)
        for set_id in (INVENTORY_DEFAULT_SET, "ecoserve", "act"):
            out.append((board, HGX_PCF_KG[board], set_id, embodied(srv, load_coefficients(set_id, db)).gpu_kg))
    return out


# --------------------------------------------------------------------------------------------
# The docs/validation.md section

def _fmt_err(est, rep) -> str:
    return f"{est:,.0f} ({100 * (est / rep - 1):+.0f} %)"


def section_markdown() -> str:
    """The "Servers against vendor carbon footprints" section of docs/validation.md."""
    ev = evaluation()
    rows, rep = ev.rows, ev.reported_kg
    paia = (rows.method_group == "Dell PAIA PCF 2019").to_numpy()
    med, p90 = summary(ev.errors_pct(LOO))
    lines = [
        "## Servers against vendor carbon footprints",
        "",
        "Generated by `python docs/make_validation.py` from `carbonsim/validation/vendor_lca.py`, the",
        "cases `tests/engine/test_vendor_lca.py` asserts. Data: `carbonsim/validation/data/server_pcf_rows.csv`, the",
        f"{len(rows)} published product carbon footprints (PCFs) of Dell and HPE servers and the Dell",
        "R740 full LCA that state their configuration (each with its source), and",
        "`carbonsim/validation/data/server_pcf_boavizta_2.5.0.csv` (see `carbonsim/validation/data/README.md`). Every method gets the",
        "same inputs: the file's `cpu_count, cores_total, dram_gb, ssd_count, ssd_gb, hdd_count, hdd_gb,",
        "year` columns, blanks filled as `carbonsim inventory` fills them. Error = |estimate / reported",
        "− 1| of the manufacturing carbon; p90 = 90th percentile.",
        "",
        "`server-lca` (the default of `carbonsim inventory`, docs/embodied.md) fits one constant on",
        "these rows, the unitemised-electronics level U0. Its error here is **leave-one-out**: each",
        "row is estimated by `carbonsim inventory` with U0 fitted on the other "
        f"{len(rows) - 1} rows (U0 {ev.u0_folds_kg.min():.0f}–{ev.u0_folds_kg.max():.0f} kg over the folds; "
        f"{ev.u0_all_kg:.1f} kg on all rows, shipped as {ev.u0_shipped_kg:g}). The other methods fit nothing on",
        "these rows.",
        "",
        "| method | fitted on these rows | median % | p90 % | median %, Dell PAIA 2019 "
        f"(n={int(paia.sum())}) | median %, other rows (n={int((~paia).sum())}) | median estimate / reported |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for m in ev.methods.values():
        e = ev.errors_pct(m.name)
        md, p9 = summary(e)
        name = f"**{m.name}**" if m.name == LOO else m.name
        lines.append(f"| {name} | {m.fitted} | {md:.1f} | {p9:.1f} | {np.median(e[paia]):.1f} | "
                     f"{np.median(e[~paia]):.1f} | {np.median(m.estimate_kg / rep):.2f} |")
    over = [f"{r.id} {100 * (x / y - 1):+.0f} %" for r, x, y in
            zip(rows.itertuples(), ev.methods[LOO].estimate_kg, rep) if abs(x / y - 1) > TARGET_P90_PCT / 100]
    lines += [
        "",
        f"**Targets** (issue 9): median ≤ {TARGET_MEDIAN_PCT:g} % is met ({med:.1f} %), narrowly. "
        f"**p90 ≤ {TARGET_P90_PCT:g} % is not met ({p90:.1f} %)**, and cannot be with these inputs: the",
        "vendor methods disagree more than the servers do. Dell's 2019 PAIA sheets put about 1,150 kg on",
        "a near-empty 1–2 socket server of 2014–2018; HPE's typical-configuration sheets put about 450 kg",
        "on the same kind of server of 2020–2021, and HPE's 3-tier base sheets twice that on the same",
        "DL380 platform. The year is the only input that separates them; the unitemised term uses it",
        "with a published rate (Teehan & Kandlikar 2013). Even with the assessment method given to the",
        "model as if it were an input (one U0 per method; not done, since it fits the method rather",
        "than the server) the research behind the set found a p90 of 43 %. Rows beyond 40 %: "
        + "; ".join(over) + ".",
        "",
        "Caveats: the Dell R740 full-LCA row is the source of most of the set's constants, so its",
        "error checks arithmetic, not prediction. The form of the unitemised term was chosen after",
        "trying others on these same rows (additive, multiplicative, per CPU, fitted decline), so the",
        "leave-one-out numbers are somewhat optimistic for servers not seen. SCARIF's HPE terms were",
        "fitted by its authors on six HPE rows, three of which are here; how unstated cores are filled",
        "moves its p90 by over 30 points.",
        "",
        "Per row (kg CO2e, error in brackets):",
        "",
        "| row | method group | year | reported | server-lca LOO | hotcarbon24 | Boavizta 2.5.0 | SCARIF (prior cores) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    cols = [LOO, "carbonsim hotcarbon24 (as is)", BOAVIZTA_NAME, SCARIF_PRIOR]
    for k, r in enumerate(rows.itertuples()):
        cells = " | ".join(_fmt_err(ev.methods[c].estimate_kg[k], rep[k]) for c in cols)
        lines.append(f"| {r.id} | {r.method_group} | {r.year} | {rep[k]:,.0f} | {cells} |")
    lines += [
        "",
        "### GPU baseboards: 8 × carbonsim's card against NVIDIA's HGX PCFs",
        "",
        "NVIDIA's HGX H100 and B200 product carbon footprints (1,312 and 2,274 kg, cradle-to-gate, the",
        "baseboard with 8 GPUs, HBM, NVSwitch chips and heat sinks, no host) against `carbonsim",
        "embodied`'s GPU total (the `server-lca` card terms are `hotcarbon24`'s). The test allows",
        "±20 %; the agreement is in total only: the seed's card has no NVSwitch or baseboard term, and",
        "its heat sink and power delivery carry much of the mass.",
        "",
        "| board | NVIDIA kg | set | 8 cards kg | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    for board, nv, set_id, kg in hgx_cases():
        lines.append(f"| {board} | {nv:,.0f} | {set_id} | {kg:,.0f} | {kg / nv:.2f} |")
    return "\n".join(lines) + "\n"
