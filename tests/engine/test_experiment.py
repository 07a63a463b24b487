"""carbonsim experiment (engine/studies/experiment.py): the seed's study and its counter-case, what
the ranges and the totals add up to, a measured CodeCarbon run beside the estimate, and one
line naming the file and field for a bad experiment."""

from pathlib import Path

import pytest

import carbonsim
from carbonsim.engine.studies import experiment as study
from carbonsim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
PUMA = ROOT / "scenarios" / "experiment-puma.yaml"
CODECARBON = ROOT / "tests" / "data" / "codecarbon_emissions.csv"


def exp(configurations, **kw):
    return {"name": "t", "study": {"calls": 100}, "tokens": {"prompt": 500, "output": 100}, "coefficients": "hotcarbon24",
            "configurations": configurations, **kw}


LOCAL = {"name": "local", "local": {"server": "desktop-rtx-3060", "model": "llama-3.1-8b", "grid": "ESP"}}


@pytest.fixture(scope="module")
def puma():
    return {c.name: c for c in carbonsim.experiment(PUMA).configurations}


def per_call_g(c, corner="central"):
    t = c.corners[corner]
    return t.total_kg * 1e3 / t.calls


def test_the_counter_case_holds(puma):
    # seed 000: an API on a low-carbon grid beats local inference on a coal grid. Per call both
    # sides draw about 0.3 Wh (docs/experiments.md); the grid decides, by a factor above 10
    assert per_call_g(puma["local-rtx3060-pol"]) > 10 * per_call_g(puma["gpt-4o-swedencentral"])
    # ... and even the high corner of the API beats the low corner of the local machine on coal
    assert per_call_g(puma["gpt-4o-swedencentral"], "high") < per_call_g(puma["local-rtx3060-pol"], "low")


def test_local_in_spain_against_the_api_in_virginia(puma):
    # not the seed's 50x: on equal calls local is 2.1 times lower, as docs/experiments.md states it
    # (to its one decimal; the API's range spans both sides)
    ratio = per_call_g(puma["gpt-4o-eastus"]) / per_call_g(puma["local-rtx3060-esp"])
    assert round(ratio, 1) == 2.1
    assert per_call_g(puma["gpt-4o-eastus"], "low") < per_call_g(puma["local-rtx3060-esp"])


def test_grids_and_pue_used(puma):
    assert puma["local-rtx3060-esp"].ci_g_per_kwh == pytest.approx(146.15)  # Ember 2024, hardware_db/regions
    assert puma["gpt-4o-eastus"].ci_g_per_kwh == pytest.approx(403)          # Electricity Maps 2024, PJM
    assert puma["gpt-4o-eastus"].pue == pytest.approx(1.14)
    assert puma["gpt-4o-eastus"].market_based_g_per_kwh is None              # Azure publishes none per region


def test_corners_are_ordered_and_energy_adds_up(puma):
    for c in puma.values():
        lo, mid, hi = (c.corners[k] for k in ("low", "central", "high"))
        assert lo.total_kg < mid.total_kg < hi.total_kg
        for t in (lo, mid, hi):
            assert t.energy_kwh == pytest.approx(t.gpu_kwh + t.host_kwh + t.overhead_kwh, rel=1e-9)
            assert t.calls == 1500 and t.output_tokens == pytest.approx(450_000, rel=0.02)


def test_per_call_carbon_comes_from_one_function(monkeypatch):
    calls = []
    real = study.call_results
    monkeypatch.setattr(study, "call_results", lambda chain, mat: calls.append(mat.shape) or real(chain, mat))
    r = carbonsim.experiment(exp([LOCAL]))
    assert calls and r.configurations[0].corners["central"].operational_kg > 0


def test_a_measured_run_replaces_the_estimate_in_the_totals():
    r = carbonsim.experiment(exp([{**LOCAL, "local": {**LOCAL["local"], "measured": {"codecarbon": str(CODECARBON)}}}]))
    c = r.configurations[0]
    # the file's two runs: 3,600 s and 600 s, 1.3425 + 0.1708 kWh (tests/data/codecarbon_emissions.csv)
    assert c.measured.duration_s == pytest.approx(4200.0)
    assert c.measured.energy_kwh == pytest.approx(1.5133)
    assert c.measured.operational_kg == pytest.approx(1.5133 * 146.15 / 1e3)
    assert c.codecarbon_kg == pytest.approx(0.3564 + 0.0425)
    assert r.totals()["central"]["energy_kwh"] == pytest.approx(1.5133)
    assert c.corners["central"].energy_kwh != pytest.approx(1.5133)  # the estimate is still shown


def test_token_distributions_are_drawn():
    d = {"dist": "lognormal", "mean": 500, "shape": 0.5, "max": 4000}
    r = carbonsim.experiment(exp([LOCAL], tokens={"prompt": d, "output": 100}))
    t = r.configurations[0].corners["central"]
    assert t.prompt_tokens / t.calls == pytest.approx(500, rel=0.1)


@pytest.mark.parametrize("change,field", [
    ({"configurations": [{"name": "x", "api": {"model": "gpt-4o", "region": "mars"}}]}, "configurations[0].api.region"),
    ({"configurations": [{"name": "x", "api": {"model": "gpt-9"}}]}, "configurations[0].api.model"),
    ({"configurations": [{"name": "x", "api": {"model": "gpt-4o", "provider": "google"}}]},
     "configurations[0].api.provider"),
    ({"configurations": [{"name": "x", "local": LOCAL["local"], "api": {"model": "gpt-4o"}}]}, "configurations[0]"),
    ({"configurations": [LOCAL, LOCAL]}, "configurations[1].name"),
    ({"configurations": [{**LOCAL, "local": {**LOCAL["local"], "model": "llama-99b"}}]}, "configurations[0].local.model"),
    ({"configurations": [{**LOCAL, "local": {**LOCAL["local"], "grid": "atlantis"}}]}, "configurations[0].local.grid"),
    ({"configurations": [{**LOCAL, "local": {**LOCAL["local"], "pue": 0.5}}]}, "configurations[0].local.pue"),
    ({"configurations": [{**LOCAL, "local": {**LOCAL["local"], "model": "llama-3-70b", "precision": "fp16"}}]},
     "configurations[0].local.server"),
    ({"study": {"calls": 10, "items": 5}}, "study.calls"),
    ({"study": {}}, "study.items"),
    ({"tokens": {"prompt": 0, "output": 10}}, "tokens.prompt"),
])
def test_bad_experiments_name_the_field(change, field):
    with pytest.raises(InputError) as e:
        carbonsim.experiment(exp([LOCAL]) | change)
    assert e.value.field == field, str(e.value)


# Apple's product environmental report, 14-inch MacBook Pro (2021, M1 Pro): about 209 kg CO2e for
# production and transport to stores (hardware_db/sources.yaml: apple-per-macbook-pro-14-2021). The
# closest machine in the database is the 14-inch with the M3 Pro.
APPLE_MBP14_KG = 209.0


@pytest.mark.parametrize("coefficients", ["hotcarbon24", "server-lca"])
def test_laptop_embodied_below_apples_footprint_by_the_stated_share(coefficients):
    # docs/experiments.md section 4: carbonsim is 23-38 % below (no display or battery term)
    kg = carbonsim.embodied("macbook-pro-14-m3-pro", coefficients).total_kg
    assert 0.55 * APPLE_MBP14_KG < kg < 0.80 * APPLE_MBP14_KG


@pytest.mark.xfail(strict=True, reason="carbonsim's embodied model has no display or battery term: a laptop comes "
                                       "out 23-38 % below Apple's product footprint (docs/experiments.md)")
def test_laptop_embodied_within_20_percent_of_apples_footprint():
    assert carbonsim.embodied("macbook-pro-14-m3-pro", "server-lca").total_kg == pytest.approx(APPLE_MBP14_KG, rel=0.2)


def test_an_inline_machine_and_a_laptop():
    # a machine that is not in the database, written into the experiment (the desktop's own parts)
    inline = {"name": "my desktop", "lifetime_yr": 5, "gpus": {"part": "nvidia-rtx-4090", "count": 1},
              "host": {"cpus": {"die_area_mm2": 206, "node": "7nm", "count": 1, "cores": 8, "tdp_w": 105},
                       "dram": {"gb": 64, "technology": "ddr4"},
                       "ssd_gb": 2000, "unitemised_kg": 0, "mainboard_kg": 35.7, "psu_kg": 5, "chassis_kg": 10,
                       "fans_kg": 1, "peripheral_pwb_cm2": 0, "chassis_gpu_slots": 1}}
    laptop = {"name": "laptop", "local": {"server": "macbook-pro-14-m3-pro", "model": "llama-3.1-8b", "grid": "ESP"}}
    r = carbonsim.experiment(exp([{"name": "inline", "local": {**LOCAL["local"], "server": inline}}, laptop]))
    desk, mac = r.configurations
    # the RTX 4090 generates faster than the M3 Pro (1,008 against 150 GB/s) but draws more power
    assert desk.per_call["latency_s"] < mac.per_call["latency_s"]
    assert desk.per_call["energy_wh"] > mac.per_call["energy_wh"]
    assert "llama-cpp-metal" in mac.assumptions["engine_profile"]
