"""The inventory's default set (server-lca) against vendor carbon footprints, in leave-one-out
cross-validation, beside the baselines (cases and data in carbonsim/validation/vendor_lca.py; the same cases
write the "Servers against vendor carbon footprints" section of docs/validation.md)."""

import numpy as np
import pandas as pd
import pytest

from carbonsim.validation.vendor_lca import (
    BOAVIZTA,
    BOAVIZTA_NAME,
    IN_SAMPLE,
    ITEMISED,
    LOO,
    ROWS,
    SCARIF_PRIOR,
    SCARIF_ZERO,
    TARGET_MEDIAN_PCT,
    TARGET_P90_PCT,
    evaluation,
    hgx_cases,
    inventory_kg,
    server_lca,
    summary,
)


def test_rows_are_the_stated_configurations_with_their_sources():
    rows = pd.read_csv(ROWS)
    assert len(rows) == 34 and rows.id.is_unique
    # every row names where it was found; all but four HPE 3-tier rows (from SCARIF's HP_data.csv) the sheet's URL
    assert rows.found_in.notna().all() and rows.source_url.notna().sum() == 30
    assert (rows.reported_kg > 0).all()
    assert rows[["cpu_count", "dram_gb", "year"]].notna().all().all()
    # the SSD count is stated on every row (0 counts as stated); HDD columns are blank on HPE rows
    assert rows.ssd_count.notna().all()
    assert list(pd.read_csv(BOAVIZTA).id) == list(rows.id)


def test_leave_one_out_median_meets_the_target():
    med, _ = summary(evaluation().errors_pct(LOO))
    assert med <= TARGET_MEDIAN_PCT
    # pinned: the margin is thin (the decline rate at its published ends gives 14.4 and 15.6 %)
    assert med == pytest.approx(14.8, abs=0.05)


def test_leave_one_out_p90_misses_the_target_and_is_pinned():
    # The issue's p90 <= 40 % is NOT met, and this test does not pretend otherwise: with counts,
    # GB and year as inputs no model is within 40 % of both Dell's 2019 PAIA sheets (~1,150 kg for a
    # near-empty 2014-18 server) and HPE's typical-configuration sheets (~450 kg for the same kind
    # of server, 2020-21). The value is pinned so that a change to the set shows up here and in
    # docs/validation.md.
    ev = evaluation()
    _, p90 = summary(ev.errors_pct(LOO))
    assert p90 > TARGET_P90_PCT
    assert p90 == pytest.approx(69.5, abs=0.05)
    worst = ev.rows.id[ev.errors_pct(LOO) > TARGET_P90_PCT]
    assert set(worst) == {"hpe-proliantdl380gen10-2021", "hpe-proliantdl160gen10", "hpe-proliantdl20gen10",
                          "hpe-proliantdl560gen10", "hpe-proliantml30gen10"}


def test_server_lca_beats_every_baseline_on_the_median_but_not_boavizta_on_p90():
    ev = evaluation()
    med, p90 = summary(ev.errors_pct(LOO))
    for name in ev.methods:
        if name not in (LOO, IN_SAMPLE):
            assert med < summary(ev.errors_pct(name))[0], name
    # Boavizta's p90 (61 %) is lower: it sits between the Dell and HPE levels and misses both
    assert summary(ev.errors_pct(BOAVIZTA_NAME))[1] < p90
    # ... with a median error more than three times server-lca's
    assert summary(ev.errors_pct(BOAVIZTA_NAME))[0] > 3 * med


def test_baselines_reproduce_the_issues_numbers():
    # issue 9: median ratio 0.22 (hotcarbon24), 0.25 (ecoserve), 0.03 (act); Boavizta 49 %;
    # SCARIF 19 % (p90 72 %), which is close to the variant that counts unstated cores as 0
    ev = evaluation()
    ratio = {n: np.median(ev.methods[n].estimate_kg / ev.reported_kg) for n in ev.methods}
    assert ratio["carbonsim hotcarbon24 (as is)"] == pytest.approx(0.22, abs=0.005)
    assert ratio["carbonsim ecoserve (as is)"] == pytest.approx(0.25, abs=0.005)
    assert ratio["carbonsim act (as is)"] == pytest.approx(0.03, abs=0.005)
    assert summary(ev.errors_pct(BOAVIZTA_NAME))[0] == pytest.approx(49.1, abs=0.05)
    assert summary(ev.errors_pct(SCARIF_ZERO)) == pytest.approx((16.8, 73.1), abs=0.05)
    assert summary(ev.errors_pct(SCARIF_PRIOR)) == pytest.approx((23.7, 108.1), abs=0.05)
    # the itemised parts alone reach 0.41 of the vendors' figures: the gap U0 closes
    assert ratio[ITEMISED] == pytest.approx(0.41, abs=0.005)


def test_shipped_level_is_the_fit_on_all_rows_and_its_range_the_folds():
    ev = evaluation()
    spec = server_lca().host["unitemised_electronics"]["ref_kg"]
    assert abs(ev.u0_all_kg - spec.value) < 0.5  # shipped rounded to 1 kg
    assert abs(ev.u0_folds_kg.min() - spec.low) < 0.5 and abs(ev.u0_folds_kg.max() - spec.high) < 0.5


def test_leave_one_out_estimates_are_inventory_runs():
    ev = evaluation()
    # the shipped set's inventory equals itemised + U0 x weight on every row (the term is linear)
    shipped = inventory_kg(server_lca())
    np.testing.assert_allclose(shipped, ev.methods[IN_SAMPLE].estimate_kg, rtol=1e-12)
    # and the fold estimate of a row is the inventory run with that fold's U0
    for k in (0, 21, 31):
        direct = inventory_kg(server_lca(ev.u0_folds_kg[k]))[k]
        assert direct == pytest.approx(ev.methods[LOO].estimate_kg[k], rel=1e-12)


def test_r740_full_lca_row_reproduces_the_lcas_parts():
    # The R740 LCA (via Teads' transcription) is the source of the constants: its configuration
    # (2 CPUs, 12 x 32 GB, 8 x 3.84 TB + 400 GB SSD) must give back its own component values.
    from carbonsim.engine.studies.embodied import embodied
    from carbonsim.engine.inputs.server import server_from_dict
    from carbonsim.engine.db import default_database

    db = default_database()
    spec = {"name": "r740 lca", "year": 2019,
            "host": {"cpus": {"die_area_mm2": 698, "node": "14nm", "count": 2},
                     "dram": {"gb": 384, "technology": "ddr4"},
                     "ssd": [{"count": 8, "gb_each": 3840}]}}
    c = embodied(server_from_dict(spec, db), server_lca()).host_components_kg
    lca = {"cpu": 47, "dram": 533, "ssd": 3379, "mainboard": 109 + 20, "peripheral_pwb": 59, "psu": 30,
           "chassis": 34, "fans": 13}
    for part, kg in lca.items():
        # tolerance: the constants are stored to 6 significant digits
        assert c[part] == pytest.approx(kg, rel=1e-5), part
    assert c["assembly"] == 6.68
    assert c["unitemised"] == pytest.approx(610 * np.exp(-0.2), rel=1e-12)


def test_hgx_baseboards_within_twenty_percent_of_nvidia():
    # Tolerance +-20 %: the agreement claimed for the GPU part (8 x card) of server-lca, which keeps
    # hotcarbon24's card terms: +6 % (H100) and -15 % (B200). A vendor PCF is itself a model (NVIDIA
    # states no uncertainty; Dell's sheets quote standard deviations near 100 % of the total), and
    # the match is in total only (no NVSwitch or baseboard term in the card; heat sink and PDN
    # carry the mass). The tolerance separates the card models: ecoserve is 37-49 % low, act 80 %.
    for board, nvidia, set_id, kg in hgx_cases():
        if set_id == "server-lca":
            assert kg == pytest.approx(nvidia, rel=0.20), board
        else:
            assert abs(kg / nvidia - 1) > 0.20, (board, set_id)
    ratio = {b: kg / nv for b, nv, s, kg in hgx_cases() if s == "server-lca"}
    # the known shortfall: B200/H100 is 1.73 in NVIDIA's figures, 1.38 here
    assert ratio["HGX B200"] < ratio["HGX H100"]


def test_docs_section_is_generated_from_these_cases():
    # docs/validation.md holds the section exactly as the cases write it (python docs/make_validation.py)
    from pathlib import Path

    from carbonsim.validation.vendor_lca import section_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text(encoding="utf-8")
    assert section_markdown() in doc


@pytest.mark.parametrize("page", ["embodied.md", "inventory.md"])
def test_prose_docs_quote_the_current_numbers(page):
    # docs/embodied.md and docs/inventory.md quote the headline numbers in prose; they must be these
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / page).read_text(encoding="utf-8")
    ev = evaluation()
    for name in (LOO, BOAVIZTA_NAME):
        med, p90 = summary(ev.errors_pct(name))
        assert f"{med:.1f} %" in doc and f"{p90:.1f}" in doc, (page, name, med, p90)
