"""server-lca's GPU card terms against component-level LCAs of GPU cards (ADEME 2026 / Falk et
al. 2025; cases and data in carbonsim/validation/gpu_lca.py, the same cases that write the "GPU
cards against component LCAs" section of docs/validation.md)."""

from pathlib import Path

import numpy as np
import pytest

from carbonsim.validation.gpu_lca import (
    COOLING_REF_W,
    DEFECT_DENSITY_PER_CM2,
    cards,
    comparison,
    fit,
    section_markdown,
    set_memory_table,
)
from carbonsim.validation.vendor_lca import server_lca


def test_data_are_seven_analysed_cards_and_one_held_out():
    df = cards()
    assert (df.role == "fit").sum() == 7 and list(df[df.role == "check"].card) == ["NVIDIA H100 PCIe 80GB"]
    # each card's components are positive (the SXM4 module's board is tiny, not zero) and sum to its total
    assert (df[["gpu_kg", "vram_kg", "board_kg"]] > 0).all().all()
    assert np.allclose(df.total_kg, df.gpu_kg + df.vram_kg + df.pwb_kg + df.heatsink_kg + df.casing_kg)


def test_fit_uses_the_fit_rows_only():
    f = fit()
    # six distinct dies (the two A100 cards share GA100); the held-out H100's GH100 is not among them
    assert set(f.soc_ratio) == {"GP102", "GA102", "TU102", "GP100", "AD104", "GA100"}
    assert "hbm2e" not in f.memory_kg_per_gb  # the H100's VRAM technology: no fitted card has it


def test_shipped_card_terms_are_the_fit():
    cs = server_lca()
    f = fit()
    assert cs.gpu["soc"] == "die" and cs.fab_yield == pytest.approx(f.soc_yield, abs=5e-5)
    assert cs.defect_density_per_cm2.value == DEFECT_DENSITY_PER_CM2
    for tech, (v, lo, hi) in set_memory_table().items():
        q = cs.gpu["memory_kg_per_gb"][tech]
        assert q.value == pytest.approx(v, rel=5e-4) and q.low == pytest.approx(lo, rel=5e-4), tech
    assert cs.gpu["pcb_kg_per_cm2"].value == pytest.approx(f.pcb_kg_per_cm2[0], rel=5e-4)
    air = cs.gpu["cooling"]["air"]
    assert air["ref_w"].value == COOLING_REF_W and air["ref_kg"].value == pytest.approx(f.cooling_ref_kg[0], rel=5e-4)
    assert cs.gpu.get("pdn") is None and cs.gpu["margin"] == 1.0


def test_card_totals_within_twenty_percent_of_their_lcas():
    # The claim: with the card's own specifications every card total is within 20 % of its LCA,
    # the fitted seven in-sample (-14 to +15 %) and the held-out H100 PCIe out of sample (pinned:
    # -0.2 %, its GPU package +25 % and its HBM2e -30 % cancel; docs/validation.md says so).
    df = comparison()
    ratio = df.spec_total / df.lca_total
    assert ((ratio > 0.8) & (ratio < 1.2)).all(), ratio.round(3).to_dict()
    assert ratio["NVIDIA H100 PCIe 80GB"] == pytest.approx(1.0, abs=0.01)


def test_components_no_longer_cancel():
    # Before (the hotcarbon24 card terms server-lca carried), the database cards' totals were
    # 0.71-0.93 of the LCAs with the GPU package at 0.23-0.51 and the board plus power delivery at
    # 3.7-4.2 (PCIe cards). Now every GPU package is within -10 / +40 % (the L4 worst) and every
    # PCIe board within 25 %.
    df = comparison().dropna(subset=["before_total"])
    before_gpu, after_gpu = df.before_gpu / df.lca_gpu, df.after_gpu / df.lca_gpu
    assert (before_gpu < 0.55).all() and ((after_gpu > 0.9) & (after_gpu < 1.4)).all()
    pcie = df[df.lca_board > 1.0]
    assert ((pcie.before_board / pcie.lca_board) > 3.5).all()
    assert ((pcie.after_board / pcie.lca_board - 1).abs() < 0.25).all()
    assert ((df.after_total / df.lca_total - 1).abs() < 0.15).all()


def test_docs_section_is_generated_from_these_cases():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text(encoding="utf-8")
    assert section_markdown() in doc
