"""The inventory's default set (server-lca) against vendor carbon footprints: its form and
constant chosen in nested cross-validation on 34 training rows, its calibrated interval, 32
held-out rows, and the baselines (cases and data in carbonsim/validation/vendor_lca.py; the same
cases write the "Servers against vendor carbon footprints" section of docs/validation.md)."""

import numpy as np
import pandas as pd
import pytest

from carbonsim.validation.vendor_lca import (
    ADDITIVE,
    BOAVIZTA,
    BOAVIZTA_NAME,
    FORMS,
    HELDOUT,
    HELDOUT_EXCLUDED,
    IN_SAMPLE,
    ITEMISED,
    LOO,
    NESTED,
    ROWS,
    SCARIF_PRIOR,
    SCARIF_ZERO,
    SHIPPED,
    TARGET_COVERAGE,
    TARGET_MEDIAN_PCT,
    TARGET_P90_PCT,
    band_kg,
    draws,
    evaluation,
    fit_form,
    heldout,
    hgx_cases,
    interval_cv,
    inventory_kg,
    nested_cv,
    row_set,
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


def test_heldout_rows_are_the_rest_of_the_table_that_carbonsim_can_express():
    train, held, excluded = pd.read_csv(ROWS), pd.read_csv(HELDOUT), pd.read_csv(HELDOUT_EXCLUDED)
    assert len(held) == 32 and held.id.is_unique and not set(held.id) & set(train.id)
    # the reference table's 93 rows: 34 training, 32 held out, 27 unusable, each with its reason
    assert len(train) + len(held) + len(excluded) == 93 and excluded.why_not_used.str.len().min() > 20
    assert not set(excluded.id) & (set(held.id) | set(train.id))
    assert (held.reported_kg > 0).all() and held.cpu_count.notna().all() and held.ssd_count.notna().all()
    assert held.usable_because.notna().all() and held.found_in.notna().all()
    # every held-out row is a whole server: no GPU baseboard, no GPU server without its GPUs
    assert not held.id.str.contains("hgx|sr670").any()


def test_nested_cv_chooses_the_additive_form_in_every_fold_and_meets_the_median_target():
    cv = nested_cv()
    assert set(cv.chosen) == {ADDITIVE} and cv.shipped_form == ADDITIVE
    med, p90 = summary(evaluation().errors_pct(NESTED))
    assert med <= TARGET_MEDIAN_PCT
    # pinned (docs/validation.md states them): the margin to 15 % is thin
    assert med == pytest.approx(14.8, abs=0.05) and p90 == pytest.approx(69.5, abs=0.05)
    # the same form in every fold: the nested estimates are the plain leave-one-out ones
    np.testing.assert_array_equal(evaluation().methods[NESTED].estimate_kg, evaluation().methods[LOO].estimate_kg)


def test_every_candidate_form_is_scored_without_the_row_it_predicts():
    # the inner scores of a fold never use its outer row: refitting a form without rows k and j by
    # hand gives the same prediction of row j as the nested run
    rs, cv = row_set(ROWS), nested_cv()
    n = len(rs.reported_kg)
    for form in FORMS:
        assert len(cv.inner_median_pct[form]) == n and np.isfinite(cv.inner_median_pct[form]).all()
    k, j = 5, 30
    mask = np.ones(n, bool)
    mask[[k, j]] = False
    theta, _ = fit_form(ADDITIVE, rs, mask)
    assert cv.u0_pairs_kg[k, j] == pytest.approx(float(theta), abs=1e-6)
    # the additive form's leave-one-out is the best of the five on the training rows
    loo = {f: summary(100 * np.abs(cv.loo_estimate_kg[f] / rs.reported_kg - 1))[0] for f in FORMS}
    assert min(loo, key=loo.get) == ADDITIVE


def test_p90_misses_issue_9s_target_and_is_pinned():
    # p90 <= 40 % is NOT met: with counts, GB and year as inputs no model is within 40 % of both
    # Dell's 2019 PAIA sheets (~1,150 kg for a near-empty 2014-18 server) and HPE's
    # typical-configuration sheets (~450 kg for the same kind of server, 2020-21).
    ev = evaluation()
    _, p90 = summary(ev.errors_pct(NESTED))
    assert p90 > TARGET_P90_PCT
    worst = ev.rows.id[ev.errors_pct(NESTED) > TARGET_P90_PCT]
    assert set(worst) == {"hpe-proliantdl380gen10-2021", "hpe-proliantdl160gen10", "hpe-proliantdl20gen10",
                          "hpe-proliantdl560gen10", "hpe-proliantml30gen10"}


def test_server_lca_beats_every_baseline_on_the_median_but_not_boavizta_on_p90():
    ev = evaluation()
    med, p90 = summary(ev.errors_pct(NESTED))
    for name in ev.methods:
        if name not in (NESTED, LOO, IN_SAMPLE):
            assert med < summary(ev.errors_pct(name))[0], name
    assert summary(ev.errors_pct(BOAVIZTA_NAME))[1] < p90
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
    assert ratio[ITEMISED] == pytest.approx(0.41, abs=0.005)


def test_heldout_error_is_reported_at_its_size():
    # nothing is fitted or chosen on the held-out rows; the error there is pinned as measured, well
    # above the training rows' (Lenovo's sheets put far more on the electronics, and more per socket)
    ho = heldout()
    med, p90 = summary(ho.errors_pct(SHIPPED))
    assert med == pytest.approx(36.7, abs=0.05) and p90 == pytest.approx(75.6, abs=0.05)
    assert med > TARGET_MEDIAN_PCT
    # server-lca is low on every server with more than two sockets
    many = (ho.rows.cpu_count > 2).to_numpy()
    assert (ho.methods[SHIPPED].estimate_kg[many] < 0.5 * ho.reported_kg[many]).all()
    # and still closer than every baseline on the median
    for name in ho.methods:
        if name != SHIPPED:
            assert med < summary(ho.errors_pct(name))[0], name


def test_interval_meets_the_coverage_target_in_cross_validation():
    iv = interval_cv()
    assert iv.coverage >= TARGET_COVERAGE
    assert iv.covered.sum() == 28  # pinned, docs/validation.md states it
    # the band is wide: vendor methods disagree (median p95 - p5 about the size of the estimate)
    assert 0.8 < np.median(iv.relative_width) < 1.2
    # each fold's half-width comes from the other rows: the folds differ
    assert iv.half_width_kg.min() < iv.half_width_kg.max()


def test_interval_on_heldout_rows_is_reported_at_its_size():
    # the shipped range, calibrated on Dell and HPE sheets, holds few Lenovo figures
    ho = heldout()
    assert ho.covered.sum() == 10 and (ho.p5_kg < ho.methods[SHIPPED].estimate_kg).all()
    assert (ho.methods[SHIPPED].estimate_kg < ho.p95_kg).all()


def test_shipped_u0_and_its_range_are_the_fits_on_all_training_rows():
    ev, iv = evaluation(), interval_cv()
    spec = server_lca().host["unitemised_electronics"]["ref_kg"]
    assert abs(ev.u0_all_kg - spec.value) < 0.5  # shipped rounded to 1 kg
    d = iv.shipped_half_width_kg
    assert abs(spec.low - (round(ev.u0_all_kg) - round(d))) < 1e-9 and abs(spec.high - (round(ev.u0_all_kg) + round(d))) < 1e-9
    assert spec.low < 0  # a calibrated spread, below the itemised parts


def test_interval_draws_are_carbonsims_own():
    # the composed band (U0 drawn apart) agrees with carbonsim inventory --samples under the
    # shipped range, within Monte-Carlo noise: two independent 4,000-draw estimates of a tail
    # percentile of a ~1,500 kg wide triangle differ by about 12 kg (1 s.d.), 2-3 % of p5 here;
    # the tolerance is twice that
    from carbonsim.engine.readers.inventory import read_inventory
    from carbonsim.engine.studies.inventory import run_inventory
    from carbonsim.validation.vendor_lca import INTERVAL_SAMPLES, _db

    spec = server_lca().host["unitemised_electronics"]["ref_kg"]
    rows = [0, 12, 26]
    lo, hi = band_kg(draws(ROWS), rows, [spec.value] * 3, [spec.value - spec.low] * 3)
    runs = run_inventory(read_inventory(ROWS), _db(), samples=INTERVAL_SAMPLES, seed=0)
    for k, r in enumerate(rows):
        assert runs[r]["embodied_kg_p5"] == pytest.approx(lo[k], rel=0.06)
        assert runs[r]["embodied_kg_p95"] == pytest.approx(hi[k], rel=0.06)


def test_leave_one_out_estimates_are_inventory_runs():
    ev = evaluation()
    shipped = inventory_kg(server_lca())
    np.testing.assert_allclose(shipped, ev.methods[IN_SAMPLE].estimate_kg, rtol=1e-12)
    for k in (0, 21, 31):
        direct = inventory_kg(server_lca(ev.u0_folds_kg[k]))[k]
        assert direct == pytest.approx(ev.methods[NESTED].estimate_kg[k], rel=1e-9)


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
    # Tolerance +-20 %: NVIDIA's HGX footprints were not used to fit the card terms (they are
    # calibrated on single-card component LCAs, test_gpu_lca.py), so they are held out. A vendor
    # PCF is itself a model (NVIDIA states no uncertainty); the baseboard's NVSwitch chips and
    # board beyond the cards have no term. The tolerance separates the card models: ecoserve is
    # 37-49 % low, act 80 %.
    for board, nvidia, set_id, kg in hgx_cases():
        if set_id == "server-lca":
            assert kg == pytest.approx(nvidia, rel=0.20), board
        else:
            assert abs(kg / nvidia - 1) > 0.20, (board, set_id)
    ratio = {b: kg / nv for b, nv, s, kg in hgx_cases() if s == "server-lca"}
    # both high, B200 more (its 180 GB of HBM3e at the HBM2 value x 0.857): B200/H100 is 1.73 in
    # NVIDIA's figures, 1.92 here
    assert 1.0 < ratio["HGX H100"] < ratio["HGX B200"]


def test_docs_section_is_generated_from_these_cases():
    from pathlib import Path

    from carbonsim.validation.vendor_lca import section_markdown

    doc = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text(encoding="utf-8")
    assert section_markdown() in doc


@pytest.mark.parametrize("page", ["embodied.md", "inventory.md"])
def test_prose_docs_quote_the_current_numbers(page):
    # docs/embodied.md and docs/inventory.md quote the headline numbers in prose; they must be these
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / page).read_text(encoding="utf-8")
    ev, ho = evaluation(), heldout()
    for med, p90 in (summary(ev.errors_pct(NESTED)), summary(ho.errors_pct(SHIPPED)),
                     summary(ev.errors_pct(BOAVIZTA_NAME))):
        assert f"{med:.1f} %" in doc and f"{p90:.1f}" in doc, (page, med, p90)
    assert f"{100 * interval_cv().coverage:.0f} %" in doc
