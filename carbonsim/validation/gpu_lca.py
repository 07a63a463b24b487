"""GPU cards against component-level LCAs: the calibration of ``server-lca``'s card terms.

``calibration/write_server_lca.py`` writes the constants :func:`fit` returns into
``hardware_db/coefficients/server-lca.yaml``; ``tests/engine/test_gpu_lca.py`` checks the shipped
set against them and the cards against their LCAs; :func:`section_markdown` is the "GPU cards
against component LCAs" section of docs/validation.md.

Data: ``gpu_card_lca.csv`` (carbonsim/validation/data/README.md): the manufacturing GWP of each
component (GPU package, VRAM, printed wiring board with everything on it but the GPU and VRAM,
heat sink, casing) of seven graphics cards taken apart and analysed for ADEME (Lees-Perasso,
Ekchajzer, Roussilhe, De Latour 2026; Falk et al. 2025 for the A100 SXM4), as published with the
parametric GPU calculator built on them (hubblo-org/gpu-calculator), and of the H100 PCIe 80GB
from the same data set, which was not among the seven (``role`` = ``check``: no constant is
fitted on it). Card specifications (die area, node, memory, TDP) per row.

What is fitted on the seven ``fit`` rows, each count over **distinct parts** (the A100 PCIe and
SXM4 share their GPU and VRAM values, which count once):

- **GPU package** (``gpu.soc: die``): ACT's carbon per area of the die's node at the set's fab
  (Taiwan, 97 % abatement), divided by Murphy's yield of the die's area at the ADEME model's
  0.1 defects/cm² and by one constant, ``fab.yield``, fitted (least squares in log) on the six
  distinct dies. The constant holds what the measured packages carry beyond ACT's wafer
  (substrate, interposer, assembly), so it is not a fab yield alone.
- **VRAM** (``gpu.memory_kg_per_gb``): kg per GB, geometric mean per technology; the later HBM
  generations (no card measured) take the HBM2 value times the seed's ratio between them (0.24 /
  0.28); GDDR6X and GDDR7 take GDDR6's.
- **Board** (``gpu.pcb_kg_per_cm2``): the printed wiring board with all its parts but the GPU and
  VRAM, power delivery included, per cm² of the card (geometric mean over the six PCIe cards; the
  SXM4 module's 0.08 kg on 105 cm², 50 times below the others per area, holds no power stages);
  so ``server-lca`` has no separate power-delivery term.
- **Cooling** (``gpu.cooling.air``): heat sink and casing, scaled by TDP as carbonsim's cooling
  term is (geometric mean of kg per W over the seven cards, at a 300 W reference).
- ``gpu.margin`` 1.0: the components are the card; upstream transport (0.04–0.46 kg) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from carbonsim.engine.db import default_database
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.server import server_from_dict
from carbonsim.engine.studies.embodied import embodied
from carbonsim.models.embodied.logic import carbon_per_area_kg_per_cm2, murphy_yield

from carbonsim.validation import DATA

CARD_LCA = DATA / "gpu_card_lca.csv"
SET = "server-lca"
BEFORE = "hotcarbon24"   # the card terms server-lca carried before this calibration
#: Murphy defect density of the ADEME GPU model [1/cm2]
DEFECT_DENSITY_PER_CM2 = 0.1
#: HBM2e / HBM3 / HBM3e against HBM2, kg per GB: the seed's and EcoServe's 0.24 / 0.28
LATER_HBM_RATIO = 0.24 / 0.28
COOLING_REF_W = 300.0
COMPONENTS = ("gpu", "vram", "board", "cooling")
#: The host of the one-card servers the cards are evaluated in (only their GPU part is compared)
PLACEHOLDER_HOST = {"cpus": {"die_area_mm2": 100, "node": "7nm", "count": 1}, "dram": {"gb": 0, "technology": "ddr4"},
                    "chassis_gpu_slots": 1}
#: carbonsim's card components that make up each LCA component
CARBONSIM_PARTS = {"gpu": ("soc",), "vram": ("memory",), "board": ("pcb", "pdn"), "cooling": ("cooling",)}
#: kg/GB of the technologies no card of the data measures, from the measured ones
DERIVED_MEMORY = {"hbm": "hbm2", "hbm2e": "hbm2", "hbm3": "hbm2", "hbm3e": "hbm2", "gddr6x": "gddr6", "gddr7": "gddr6"}


def cards() -> pd.DataFrame:
    df = pd.read_csv(CARD_LCA)
    df["board_kg"] = df.pwb_kg
    df["cooling_kg"] = df.heatsink_kg + df.casing_kg
    df["total_kg"] = df.gpu_kg + df.vram_kg + df.board_kg + df.cooling_kg
    return df


@lru_cache(maxsize=None)
def _db():
    return default_database()


def unyielded_cpa_kg_per_cm2(node: str) -> float:
    """ACT's carbon per die area of ``node`` at the set's fab, before any yield [kg/cm²]."""
    cs = load_coefficients(SET, _db())
    f = cs.node(node, "node")
    return float(carbon_per_area_kg_per_cm2(cs.fab_ci_g_per_kwh.value, f.epa_kwh_per_cm2, f.gpa_g_per_cm2,
                                            f.mpa_g_per_cm2, 1.0))


def _geomean(x) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(x, float)))))


@dataclass(frozen=True)
class Fit:
    soc_yield: float                      # the fitted constant (fab.yield of server-lca)
    soc_ratio: dict[str, float]           # per distinct die: measured / (ACT at yield Murphy x 1)
    memory_kg_per_gb: dict[str, tuple[float, float, float]]   # tech -> (value, low, high)
    pcb_kg_per_cm2: tuple[float, float, float]
    cooling_ref_kg: tuple[float, float, float]


@lru_cache(maxsize=None)
def fit() -> Fit:
    """The card constants, from the ``fit`` rows only."""
    df = cards()
    df = df[df.role == "fit"]
    dies = df.groupby("gpu_die").agg(area=("die_area_mm2", "first"), node=("node", "first"), kg=("gpu_kg", "mean"))
    ratio = {}
    for die, r in dies.iterrows():
        a_cm2 = r.area / 100.0
        base = a_cm2 * unyielded_cpa_kg_per_cm2(r.node) / float(murphy_yield(a_cm2, DEFECT_DENSITY_PER_CM2))
        ratio[die] = float(r.kg / base)
    soc_yield = 1.0 / _geomean(list(ratio.values()))
    # memory: one value per distinct part (same die, same VRAM value: counted once)
    mem = df.drop_duplicates(["gpu_die", "memory_gb", "memory_technology", "vram_kg"])
    per_gb = mem.vram_kg / mem.memory_gb
    memory = {}
    for tech, g in per_gb.groupby(mem.memory_technology):
        memory[tech] = (_geomean(g), float(g.min()), float(g.max()))
    pcie = df[~df.card.str.contains("SXM")]
    board = pcie.board_kg / pcie.board_cm2
    cool = df.cooling_kg / df.tdp_w
    return Fit(soc_yield, ratio, memory,
               (_geomean(board), float(board.min()), float(board.max())),
               tuple(COOLING_REF_W * x for x in (_geomean(cool), float(cool.min()), float(cool.max()))))


def set_memory_table() -> dict[str, tuple[float, float, float]]:
    """kg/GB (value, low, high) the set ships per technology: measured, or derived from a measured
    one; the range spans the measured cards and the published spread ``hotcarbon24`` carries."""
    f = fit()
    before = load_coefficients(BEFORE, _db()).gpu["memory_kg_per_gb"]
    out = {}
    for tech in (*f.memory_kg_per_gb, *DERIVED_MEMORY):
        base = DERIVED_MEMORY.get(tech, tech)
        v, lo, hi = f.memory_kg_per_gb[base]
        if base == "hbm2" and tech != "hbm" and tech != base:
            v, lo = v * LATER_HBM_RATIO, lo * LATER_HBM_RATIO
        if tech in before:
            lo, hi = min(lo, before[tech].low), max(hi, before[tech].high)
        out[tech] = (v, lo, hi)
    return out


def _card_server(row) -> dict:
    gpu = {"name": row.card, "dies": [{"area_mm2": float(row.die_area_mm2), "node": row.node, "count": 1}],
           "memory": {"gb": float(row.memory_gb), "technology": row.memory_technology},
           "tdp_w": float(row.tdp_w), "board": {"pcb_area_cm2": float(row.board_cm2)}, "count": 1}
    return {"name": row.card, "year": 2020, "gpus": gpu,
            "host": PLACEHOLDER_HOST}


def _components(result) -> dict[str, float]:
    c = result.gpu_components_kg
    return {k: float(sum(c[p] for p in parts)) for k, parts in CARBONSIM_PARTS.items()} | \
        {"total": float(result.gpu_kg)}


@lru_cache(maxsize=None)
def comparison() -> pd.DataFrame:
    """Every card: measured components, ``server-lca``'s with the card's own specifications (the
    LCA's board area), and, for the cards in the database, the database part under ``server-lca``
    and under the terms it had before (``hotcarbon24``'s)."""
    db = _db()
    rows = []
    for r in cards().itertuples():
        measured = {k: float(getattr(r, f"{k}_kg")) for k in COMPONENTS} | {"total": float(r.total_kg)}
        spec = _components(embodied(server_from_dict(_card_server(r), db, "<card>"), load_coefficients(SET, db)))
        rec = {"card": r.card, "role": r.role, "part": r.carbonsim_gpu_id}
        for k in (*COMPONENTS, "total"):
            rec[f"lca_{k}"], rec[f"spec_{k}"] = measured[k], spec[k]
        if isinstance(r.carbonsim_gpu_id, str):
            srv = {"name": r.card, "year": 2020, "gpus": {"part": r.carbonsim_gpu_id, "count": 1},
                   "host": PLACEHOLDER_HOST}
            server = server_from_dict(srv, db, "<card>")
            for tag, set_id in (("after", SET), ("before", BEFORE)):
                for k, v in _components(embodied(server, load_coefficients(set_id, db))).items():
                    rec[f"{tag}_{k}"] = v
        rows.append(rec)
    return pd.DataFrame(rows).set_index("card")


def ratio_range(df: pd.DataFrame, prefix: str, component: str) -> tuple[float, float]:
    r = (df[f"{prefix}_{component}"] / df[f"lca_{component}"]).dropna()
    return float(r.min()), float(r.max())


def _component_table(lead: list[str], title: str, rows) -> list[str]:
    """A Markdown table: the ``lead`` columns, then one per component and the total; ``rows``
    yields (lead cells, cell(component) -> text)."""
    keys = (*COMPONENTS, "total")
    out = ["| " + " | ".join([*lead, *(title.format(k) for k in keys)]) + " |",
           "|" + "---|" * (len(lead) + len(keys))]
    for cells, cell in rows:
        out.append("| " + " | ".join([*map(str, cells), *(cell(k) for k in keys)]) + " |")
    return out


def section_markdown() -> str:
    """The "GPU cards against component LCAs" section of docs/validation.md."""
    f, df = fit(), comparison()
    fit_rows, db_rows = df[df.role == "fit"], df.dropna(subset=["before_total"])
    lines = [
        "## GPU cards against component LCAs",
        "",
        "Generated by `python docs/make_validation.py` from `carbonsim/validation/gpu_lca.py`, the cases",
        "`tests/engine/test_gpu_lca.py` asserts; the constants are written into `server-lca` by",
        "`calibration/write_server_lca.py`. Data: `carbonsim/validation/data/gpu_card_lca.csv`, the",
        "manufacturing carbon of each component of seven graphics cards taken apart and analysed for",
        "ADEME (Lees-Perasso et al. 2026; the A100 SXM4 in Falk et al. 2025), as published with the",
        "parametric GPU calculator built on them, and of the H100 PCIe from the same data set, which",
        "was not among the seven and is held out. Components: the GPU package, the VRAM, the board",
        "(printed wiring board with all its parts but GPU and VRAM, power delivery included) and",
        "the cooling (heat sink and casing).",
        "",
        "`server-lca`'s card terms, each fitted on the seven cards (distinct parts counted once):",
        "",
        "| term | value | from |",
        "|---|---|---|",
        f"| GPU package | ACT's kg/cm² of the node / (Murphy yield at {DEFECT_DENSITY_PER_CM2:g} defects/cm² × "
        f"{f.soc_yield:.3f}) | the constant fitted on {len(f.soc_ratio)} distinct dies (per die, measured / "
        f"ACT with Murphy: {', '.join(f'{k} {v:.2f}' for k, v in f.soc_ratio.items())}) |",
        *[f"| VRAM {t} | {v:.3f} kg/GB ({lo:.3f}–{hi:.3f}) | measured cards, geometric mean |"
          for t, (v, lo, hi) in f.memory_kg_per_gb.items()],
        f"| VRAM hbm2e, hbm3, hbm3e | hbm2 × {LATER_HBM_RATIO:.3f} | no card measured; the seed's ratio |",
        f"| board | {f.pcb_kg_per_cm2[0]:.4f} kg/cm² ({f.pcb_kg_per_cm2[1]:.4f}–{f.pcb_kg_per_cm2[2]:.4f}); "
        "no separate power delivery | the PCIe cards |",
        f"| cooling | {f.cooling_ref_kg[0]:.2f} kg at {COOLING_REF_W:.0f} W, × TDP "
        f"({f.cooling_ref_kg[1]:.2f}–{f.cooling_ref_kg[2]:.2f}) | all seven cards |",
        "",
        "Each card, measured against `server-lca` with the card's own specifications (kg CO2e;",
        "in-sample for the seven, held out for the H100 PCIe):",
        "",
        *_component_table(["card", "role"], "{} LCA / carbonsim",
                          (([card, r.role], lambda k, r=r: f"{r[f'lca_{k}']:.1f} / {r[f'spec_{k}']:.1f}")
                           for card, r in df.iterrows())),
    ]
    lo, hi = ratio_range(fit_rows, "spec", "total")
    h100 = df[df.role == "check"].iloc[0]
    lines += [
        "",
        f"Card totals of the seven: {100 * (lo - 1):+.0f} to {100 * (hi - 1):+.0f} %; held-out H100 PCIe "
        f"{100 * (h100.spec_total / h100.lca_total - 1):+.0f} % (its VRAM {100 * (h100.spec_vram / h100.lca_vram - 1):+.0f} %: "
        "HBM2e taken as HBM2 × 0.857).",
        "",
        "The cards in carbonsim's database, as a user gets them (database board areas, the seed's),",
        "under the card terms `server-lca` had before (`hotcarbon24`'s) and now, as ratios to the LCA:",
        "",
        *_component_table(["card"], "{} before / after",
                          (([card], lambda k, r=r: f"{r[f'before_{k}'] / r[f'lca_{k}']:.2f} / "
                                                   f"{r[f'after_{k}'] / r[f'lca_{k}']:.2f}")
                           for card, r in db_rows.iterrows())),
    ]
    boards = db_rows[db_rows.lca_board > 1.0]  # the SXM4 module's board (0.08 kg) and part (no area) aside
    b_gpu, a_gpu = ratio_range(db_rows, "before", "gpu"), ratio_range(db_rows, "after", "gpu")
    b_brd, a_brd = ratio_range(boards, "before", "board"), ratio_range(boards, "after", "board")
    b_tot, a_tot = ratio_range(db_rows, "before", "total"), ratio_range(db_rows, "after", "total")
    lines += [
        "",
        f"Before, the totals landed at {b_tot[0]:.2f}–{b_tot[1]:.2f} of the LCAs only because the component",
        f"errors cancelled: GPU package {b_gpu[0]:.2f}–{b_gpu[1]:.2f} and VRAM too low, board and power "
        f"delivery {b_brd[0]:.2f}–{b_brd[1]:.2f} and cooling too high (PCIe cards). Now: GPU package "
        f"{a_gpu[0]:.2f}–{a_gpu[1]:.2f}, board {a_brd[0]:.2f}–{a_brd[1]:.2f}, totals {a_tot[0]:.2f}–{a_tot[1]:.2f}.",
        "The database board areas are the seed's (larger than the analysed cards' for the A100 PCIe);",
        "the A100 SXM4 part has none, and its module's measured board (0.08 kg) holds no power stages.",
        "The largest component errors left: the L4's GPU package (ACT's 5 nm energy on a small die) and",
        "the H100's VRAM (HBM2e, no card of that generation measured). Sources behind the other card",
        "estimates carbonsim ships are not component LCAs",
        "and are not used here: the seed's and EcoServe's cards (`hotcarbon24`, `ecoserve`) are models",
        "built on the R740 LCA's heat sink and power supply; NVIDIA's HGX baseboard footprints give",
        "totals only (section \"GPU baseboards\" above, held out from this fit).",
    ]
    return "\n".join(lines) + "\n"
