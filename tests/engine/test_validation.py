"""carbonsim against published numbers (cases and sources in carbonsim/validation/published.py)."""

import math

import pytest

from carbonsim.validation.published import INCONSISTENT, _result, cases

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}: {c.quantity}" for c in CASES])
def test_reproduces_published_value(case):
    ours = case.compute()
    # tolerance: case.rtol, for the reason in case.why_tolerance
    assert math.isclose(ours, case.published, rel_tol=case.rtol), (
        f"{case.quantity}: ours {ours:.6g} vs published {case.published:.6g} {case.unit} "
        f"({100 * (ours / case.published - 1):+.3f} %, allowed {100 * case.rtol:.2f} %: {case.why_tolerance})")


def test_a100_sxm_card_pins_the_papers_formula():
    # The seed's summary.csv gives 112 kg per A100 card; with the A100 SXM4 80GB figures of its
    # code the paper's own formula gives 117.33 kg (see INCONSISTENT). We pin the formula.
    what, published, formula, why = INCONSISTENT[0]
    r = _result("lambda-a100-x8", "hotcarbon24")
    assert r.per_gpu_kg == pytest.approx(formula, abs=0.01), why
    assert abs(r.per_gpu_kg / published - 1) > 0.04  # the source really is inconsistent here


def test_t4_card_pins_the_papers_formula():
    what, published, formula, why = INCONSISTENT[1]
    r = _result("aws-t4-x1", "hotcarbon24")
    assert r.per_gpu_kg == pytest.approx(formula, abs=0.01), why


def test_fig2_power_is_stated_as_back_derived():
    # The seed's Fig. 2 states no power: the 1,100 W of the six operational cases comes from the
    # same bars (each bar x 3,600 / its intensity), so those cases are not an independent check,
    # and docs/validation.md says so next to them.
    from pathlib import Path

    from carbonsim.validation.published import FIG2_POWER_W, fig2_back_derived_power_w, fig2_power_note

    for src, w in fig2_back_derived_power_w().items():
        # the bars carry two decimals: 3.36 mg/s (wind) rounds by up to 0.15 %
        assert w == pytest.approx(FIG2_POWER_W, rel=1.5e-3), src
    doc = (Path(__file__).resolve().parents[2] / "docs" / "validation.md").read_text(encoding="utf-8")
    assert fig2_power_note() in doc and "back-derived" in fig2_power_note()
