"""Layer 2 of the lifecycle layer: refresh-policy sweeps through the chain, the grid year by year,
training, budgets and scheduling."""

from pathlib import Path

import numpy as np
import pytest

from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.engine.inputs.grid import grid_by_year
from carbonsim.engine.sweep.generations import generation_numbers, generations
from carbonsim.engine.inputs.llm import model_spec
from carbonsim.engine.sweep.lifecycle import LifecyclePoints
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import load_scenario, scenario_from_dict
from carbonsim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
REFRESH = ROOT / "scenarios" / "refresh-cycles.yaml"
WORKLOAD = {"mode": "offline", "prompt_tokens": 512, "output_tokens": 256, "batch_size": 64, "tensor_parallel": 4}


def lifecycle_doc(**over):
    doc = {"name": "t", "model": "llama-2-70b", "workload": dict(WORKLOAD), "datacenter": {"pue": 1.1, "grid": "coal"},
           "lifecycle": {"generations": "nvidia-hgx-8gpu", "start_year": 2020, "horizon_yr": 10, "gpu_refresh_yr": 4,
                         "host_refresh_yr": 4, "demand": {"tokens_per_s": 1e5, "growth_per_yr": 0.3}}}
    for k, v in over.items():
        doc["lifecycle"][k] = v
    return doc


@pytest.fixture(scope="module")
def refresh_result(db):
    return run_sweep(load_scenario(REFRESH), db, None)


def _group(result, grid):
    return next(g for g in result.lifecycle["groups"] if g["group"] == {"datacenter.grid": grid})


def test_coal_refreshes_gpus_sooner_than_hosts(refresh_result):
    # docs/lifecycle.md 1.3: on coal the model replaces GPUs sooner than hosts and keeps hosts the
    # longest period swept; that beats keeping everything 8 years (more embodied carbon, less
    # operational)
    g = _group(refresh_result, "coal")
    best, keep = g["best"], g["keep_longest"]
    assert best["lifecycle.gpu_refresh_yr"] < best["lifecycle.host_refresh_yr"] == 8
    # The saving is 5.69 % (59,604.0 t against 63,202.1 t; GPUs every 3 years) on the default set
    # server-lca (6.14 % under hotcarbon24, which the scenario used before); with 100 times the
    # demand, where buying whole servers no longer rounds, it is 5.75 %, so rounding moves it by 0.06
    # points. The bounds hold the doc's statement that the saving is several per cent and survives a
    # 10 % change in the newer GPUs' power (4.0-7.6 %, docs/lifecycle.md), so a change that makes it
    # small or large again fails here and the doc gets rewritten.
    saving = 1 - best["total_kg"] / keep["total_kg"]
    assert 0.04 < saving < 0.09
    assert best["embodied_kg"] > keep["embodied_kg"] and best["operational_kg"] < keep["operational_kg"]


def test_wind_keeps_everything_longest(refresh_result):
    g = _group(refresh_result, "wind")
    assert (g["best"]["lifecycle.gpu_refresh_yr"], g["best"]["lifecycle.host_refresh_yr"]) == (8, 8)
    assert g["best"]["embodied_kg"] > g["best"]["operational_kg"]  # embodied carbon dominates on wind


def test_prefill_follows_flops_per_watt_decode_bandwidth_per_watt(refresh_result):
    # A100 -> B200: prefill energy per token falls fourfold (0.226 to 0.054 J), decode's by 11 %
    # (0.913 to 0.810 J; the H100 at equal TP 4 needs about the A100's, 0.926 J) (seed §5.4; DESIGN
    # §4.5: FLOPS/W doubles in about 3 years, bandwidth/W in about 5.8)
    gens = {g["generation"]: g for g in refresh_result.lifecycle["generations"]}
    a, b = gens["A100"], gens["B200"]
    prefill_gain = a["prefill_j_per_token"] / b["prefill_j_per_token"]
    decode_gain = a["decode_j_per_token"] / b["decode_j_per_token"]
    assert prefill_gain > 3
    # decode energy per token falls, as the ML.ENERGY leaderboard measures from H100 to B200
    # (docs/validation_energy.md), and far less than prefill's: bandwidth per watt grows slower
    assert decode_gain > 1 and (decode_gain - 1) < (prefill_gain - 1) / 10


def test_fleet_numbers_are_the_chains(db):
    # the same server gives the same kilograms as `carbonsim embodied` and the same GPU power as an
    # LLM sweep of the same workload
    import carbonsim

    cs = load_coefficients("hotcarbon24", db)
    gen = [g for g in generations("nvidia-hgx-8gpu", db) if g.name == "H100"][0]
    nums = generation_numbers(db, gen, cs, model_spec(db, "llama-2-70b"), WORKLOAD)
    emb = carbonsim.embodied("hgx-h100-x8", "hotcarbon24")
    assert nums.values["gpu_set_kg"] + nums.values["host_kg"] == pytest.approx(emb.total_kg, rel=1e-9)
    s = carbonsim.sweep({"name": "x", "server": "hgx-h100-x8", "model": "llama-2-70b", "coefficients": "hotcarbon24",
                         "workload": WORKLOAD, "datacenter": {"grid": "coal"}})
    row = s.points.iloc[0]
    assert nums.values["gpu_busy_w"] == pytest.approx(row["gpu_power_w"] * 8, rel=1e-9)
    assert nums.values["cap_tok_s"] == pytest.approx(row["throughput_tok_s"] * 8 / 4, rel=1e-9)


def test_trajectory_followed_year_by_year(db):
    ci, _ = grid_by_year(resolve_grid("usa-cfe-2035", db, year=2025), db, 2025, 5)
    # linear 366.0 (2023) -> 0 (2035): the mean over calendar year y is the value at y + 0.5
    expected = [366.0 * (2035 - (y + 0.5)) / 12 for y in range(2025, 2030)]
    np.testing.assert_allclose(ci, expected, rtol=1e-6)
    points = LifecyclePoints(db, "<t>")
    col = points.column({**lifecycle_doc(start_year=2025, horizon_yr=5), "datacenter": {"grid": "usa-cfe-2035"}})
    res = points.chain.run_fleet(col.value[:, None], per_year=True)
    np.testing.assert_allclose(res.year_ci_g_per_kwh[0, :5], expected, rtol=1e-6)


def test_compare_follows_a_trajectory_over_the_years_of_use(db):
    import carbonsim

    r = carbonsim.compare(["hgx-h100-x8"], grid="usa-cfe-2035", years=8, year=2023)
    # linear from 366.0 (2023) to 0 (2035): the mean over 2023-2031 is the value in 2027, 366 x 8/12
    assert r.grid.ci_g_per_kwh == pytest.approx(366.0 * 8 / 12, rel=1e-6)
    one = carbonsim.compare(["hgx-h100-x8"], grid="usa-cfe-2035", years=8)  # from its first year, 2022
    assert one.grid.ci_g_per_kwh < 390.1  # not the 2022 value held for 8 years


def test_generations_are_checked(db):
    with pytest.raises(InputError, match="not in the database"):
        generations([{"server": "nvidia-x300-x8", "available": 2026}], db)
    with pytest.raises(InputError, match="unknown generation table"):
        generations("nvidia-next", db)
    with pytest.raises(InputError, match="no generation is available in 2019"):
        LifecyclePoints(db, "<t>").column(lifecycle_doc(start_year=2019))
    with pytest.raises(InputError, match="longer than the horizon"):
        LifecyclePoints(db, "<t>").column(lifecycle_doc(gpu_refresh_yr=11))


@pytest.mark.parametrize("field, value, words", [
    ("horizon_yr", -1, "must not be below 1"),
    ("gpu_refresh_yr", 0, "must not be below 1"),
    ("demand", {"tokens_per_s": 0}, "greater than 0"),
    ("demand", {"growth_per_yr": 0.1}, None),
])
def test_lifecycle_fields_are_checked(db, field, value, words):
    doc = lifecycle_doc(**{field: value})
    if words is None:  # a demand without a rate is refused when the point is built
        with pytest.raises(InputError, match="tokens_per_s"):
            run_sweep(scenario_from_dict(doc), db, None)
        return
    with pytest.raises(InputError, match=words):
        scenario_from_dict(doc)


def test_years_table_written(db, tmp_path):
    sc = scenario_from_dict({**lifecycle_doc(horizon_yr=3, gpu_refresh_yr=1, host_refresh_yr=2),
                             "sweep": {"product": {"lifecycle.gpu_refresh_yr": [1, 2]}}})
    r = run_sweep(sc, db, tmp_path / "out")
    import pandas as pd

    years = pd.read_csv(tmp_path / "out" / "years.csv")
    assert len(years) == 2 * 3 and set(years["point"]) == {0, 1}
    pts = r.frame
    for p in (0, 1):  # the per-year rows add up to the point's totals (CSV keeps 9 digits)
        y = years[years["point"] == p]
        assert y["operational_kg"].sum() == pytest.approx(pts.loc[p, "operational_kg"], rel=1e-8)
        assert y["embodied_kg"].sum() == pytest.approx(pts.loc[p, "embodied_gross_kg"], rel=1e-8)


# -- training, budgets, scheduling -------------------------------------------------------------------
def test_train_keys_and_sci(db):
    from carbonsim.engine.training import train

    r = train(db, params_b=7, tokens_b=100, gpu="nvidia-h100-sxm5-80gb", gpus=64, grid=resolve_grid("coal", db),
              cs=load_coefficients(None, db), per="1k-tokens")
    d = r.as_dict()
    for k in ("gpu_hours", "energy_mwh", "operational_kg", "embodied_kg", "total_kg"):
        assert d[k] > 0
    assert d["total_kg"] == pytest.approx(d["operational_kg"] + d["embodied_kg"])
    assert d["sci"]["g_per_unit"] == pytest.approx(d["total_kg"] * 1000 / (100e9 / 1000))
    assert r.days == pytest.approx(r.gpu_hours / 64 / 24)


def test_moe_uses_active_parameters(db):
    from carbonsim.engine.training import train

    kw = dict(tokens_b=100, gpu="nvidia-h100-sxm5-80gb", mfu=0.4, grid=resolve_grid("coal", db),
              cs=load_coefficients(None, db))
    dense = train(db, params_b=13, **kw)
    moe = train(db, params_b=47, active_params_b=13, **kw)
    assert moe.gpu_hours == pytest.approx(dense.gpu_hours)
    with pytest.raises(InputError, match="exceed"):
        train(db, params_b=7, active_params_b=13, **kw)


def test_budget_example_classifies_each_item(db):
    from carbonsim.engine.studies.budget import budget

    r = budget(ROOT / "scenarios" / "budget-2025.yaml", db)
    assert [i.name for i in r.items][:3] == ["pretrain-7b", "ablations", "evaluation-runs"]
    ev = next(i for i in r.items if i.name == "evaluation-runs")
    assert ev.kg == 400 and ev.share == pytest.approx(400 / 42000) and ev.tier == "low"
    assert all(i.tier in ("low", "medium", "high", "critical") for i in r.items)
    tuned = next(i for i in r.items if i.name == "chat-serving-tuned")
    base = next(i for i in r.items if i.name == "chat-serving")
    assert tuned.kg < base.kg  # the sweep's best point emits less than its baseline


def test_budget_over_allocation_is_critical(db, tmp_path):
    from carbonsim.engine.studies.budget import budget

    f = tmp_path / "b.yaml"
    f.write_text("name: b\nbudget_kg: 1000\nsplit: {training: 0.5, inference: 0.5}\nitems:\n"
                 "  - {name: a, kind: training, kg: 300}\n  - {name: b, kind: training, kg: 600}\n"
                 "  - {name: c, kind: inference, kg: 20}\n")
    r = budget(f, db)
    a, b, c = r.items
    assert (a.tier, a.fits, b.tier, b.fits) == ("high", True, "critical", False)
    assert c.tier == "low" and r.status("training") == "over" and r.status("inference") == "within"


def test_schedule_finds_a_cleaner_time_and_place(db):
    from carbonsim.engine.studies.schedule import schedule

    r = schedule(["us-pjm-2022", "us-ciso-2022"], db, 1000.0, 6.0, start="2022-06-01T00:00Z", window_hours=48)
    assert r.best_kg <= min(x.carbon_kg[0] for x in r.regions)
    assert r.saving is not None and 0 < r.saving < 1
    assert r.best.grid.id == "us-ciso-2022"  # CAISO's solar afternoons beat PJM
    k = r.best_start
    t = r.best.starts_s[k]
    from carbonsim.models.grid.traces import time_weighted_mean_g_per_kwh

    tr = r.best.grid.trace
    assert r.best.mean_ci[k] == pytest.approx(time_weighted_mean_g_per_kwh(tr.t_s, tr.ci_g_per_kwh, t, t + 6 * 3600))


def test_schedule_never_answers_with_a_window_past_the_trace(db):
    # issue 19: an 8 h job from 4 h before the trace's end was "best" on the 4 h it covered
    from carbonsim.engine.studies.schedule import schedule
    from carbonsim.errors import OptionError

    with pytest.raises(OptionError, match="runs past the end of trace CAISO.*--wrap-day"):
        schedule(["us-ciso-2022"], db, 1000.0, 8.0, start="2022-12-31T20:00Z")
    r = schedule(["us-ciso-2022"], db, 1000.0, 8.0, start="2022-12-31T10:00Z")  # some starts fit
    t_end = r.best.grid.trace.t_s[-1] + 3600.0
    assert r.best.starts_s[r.best_start] + 8 * 3600.0 <= t_end
    assert np.isnan(r.best.carbon_kg[r.best.starts_s + 8 * 3600.0 > t_end]).all()
    assert any("not candidates" in n and "--wrap-day" in n for n in r.notes)
    w = schedule(["us-ciso-2022"], db, 1000.0, 8.0, start="2022-12-31T20:00Z", wrap_day=True)
    assert np.isfinite(w.best.carbon_kg).all() and any("repeat its last day" in n for n in w.notes)
    # the wrapped hours are the last day's: the first start's mean is that of 20:00-04:00 of Dec 30/31
    tr = w.best.grid.trace
    last_day = tr.ci_g_per_kwh[-24:]
    assert w.best.mean_ci[0] == pytest.approx(np.mean(np.r_[last_day[20:], last_day[:4]]))


def test_a_users_trace_csv_works_the_same(db, tmp_path):
    from carbonsim.engine.studies.schedule import schedule

    shipped = (ROOT / "hardware_db" / "traces" / "us-ciso-2022.csv").read_text()
    f = tmp_path / "mine.csv"
    f.write_text(shipped)
    a = schedule(["us-ciso-2022"], db, 500.0, 4.0, start="2022-03-01T00:00Z")
    b = schedule([str(f)], db, 500.0, 4.0, start="2022-03-01T00:00Z")
    assert a.best_kg == pytest.approx(b.best_kg) and a.best_start == b.best_start


def test_training_scenario_equals_the_command(db):
    # a `training:` scenario's points are `carbonsim train`'s numbers
    from carbonsim.engine.training import train

    sc = scenario_from_dict({"name": "t", "training": {"params_b": 7, "tokens_b": 300, "gpu": "nvidia-h100-sxm5-80gb",
                                                       "gpus": 256, "seq_len": 4096},
                             "datacenter": {"pue": 1.2, "grid": "coal"},
                             "sweep": {"product": {"datacenter.grid": ["coal", "FRA"],
                                                   "training.mfu": [0.3, 0.45]}}})
    r = run_sweep(sc, db, None, collect=True)
    assert r.points == 4
    row = r.frame[(r.frame["datacenter.grid"] == "FRA") & (r.frame["training.mfu"] == 0.45)].iloc[0]
    t = train(db, params_b=7, tokens_b=300, gpu="nvidia-h100-sxm5-80gb", gpus=256, seq_len=4096, mfu=0.45, pue=1.2,
              grid=resolve_grid("FRA", db), cs=load_coefficients(None, db))
    for k in ("gpu_hours", "energy_mwh", "operational_kg", "embodied_kg", "total_kg", "days"):
        assert row[k] == pytest.approx(getattr(t, k) if k != "days" else t.days, rel=1e-9), k
    with pytest.raises(InputError, match="tokens_b"):
        scenario_from_dict({"name": "t", "training": {"params_b": 7, "tokens_b": 0, "gpu": "nvidia-b200"},
                            "datacenter": {"grid": "coal"}})
