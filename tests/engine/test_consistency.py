"""The same server at the same load gives the same watts and kilograms through every command.

Before the one composition (CarbonChain), an HGX H100 x8 at 50 % load was 4,033 W through
`footprint`, `compare` and a server-only sweep but 4,857 W through `inventory` (two readings of
GPU utilisation), and LLM sweeps used a third host rule."""

import json

import pytest
from click.testing import CliRunner

from carbonsim.cli import main

HGX_ROW = ("id,cpu_model,cpu_count,dram_gb,ssd_count,ssd_gb,gpu_model,gpu_count,year\n"
           "hgx,Intel Xeon Platinum 8480C,2,2000,1,22720,NVIDIA H100 SXM5 80GB,8,2023\n")


def run(*args):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout


# The same coefficient set everywhere; without -c every command takes the one default (server-lca).
@pytest.mark.parametrize("coeffs, util", [("hotcarbon24", 0.0), ("hotcarbon24", 0.5), ("hotcarbon24", 1.0),
                                          ("server-lca", 0.5), (None, 0.5)])
def test_hgx_h100_same_watts_and_kg_everywhere(tmp_path, coeffs, util):
    u, c = str(util), ("--coefficients", coeffs) if coeffs else ()
    fp = json.loads(run("footprint", "hgx-h100-x8", "--grid", "coal", "--util", u, *c, "--format", "json"))
    cmp = json.loads(run("compare", "hgx-h100-x8", "--grid", "coal", "--util", u, "--years", "1", *c,
                         "--format", "json"))["servers"][0]
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(HGX_ROW)
    inv = json.loads(run("inventory", str(fleet), "--util", u, "--grid", "coal", *c, "--format", "json"))["rows"][0]
    scen = tmp_path / "s.yaml"
    scen.write_text("name: one\nserver: hgx-h100-x8\n" + (f"coefficients: {coeffs}\n" if coeffs else "")
                    + f"load: {{cpu_util: {u}, gpu_util: {u}}}\ndatacenter: {{pue: 1.0, grid: coal}}\n")
    sw = json.loads(run("sweep", str(scen), "--no-write", "--format", "json"))["baseline"]
    emb = json.loads(run("embodied", "hgx-h100-x8", *c, "--format", "json"))
    assert emb["coefficients"] == inv["coefficients"] == (coeffs or "server-lca")
    watts = [fp["power_w"], cmp["power_w"], inv["power_w"], sw["power_w"]]
    kg = [fp["embodied"]["total_kg"], cmp["embodied_kg"], inv["embodied_kg"], sw["embodied_kg"], emb["total_kg"]]
    # equal to the rounding of footprint's JSON (6 decimals)
    assert watts == pytest.approx([watts[1]] * 4, rel=0, abs=1e-6), watts
    assert kg == pytest.approx([kg[1]] * 5, rel=0, abs=1e-6), kg
    assert fp["host_power_w"] == pytest.approx(inv["host_power_w"], rel=0, abs=1e-6)
    assert fp["gpu_power_w"] == pytest.approx(inv["gpu_power_w"], rel=0, abs=1e-6)


def test_llm_sweep_host_power_is_the_host_curve_at_the_scheduler_utilisation(db):
    """The LLM evaluator's host power: the host's own curve (not a straight line between idle and
    full load) at the CPU utilisation the engine's scheduler causes, one busy core per worker."""
    import numpy as np

    from carbonsim.engine.chain import CarbonChain
    from carbonsim.engine.inputs.power import host_curve
    from carbonsim.engine.inputs.server import load_server
    from carbonsim.engine.sweep.points import PointBuilder
    from carbonsim.models.perf import offline_task
    from carbonsim.models.perf.layout import O, PARAM_NAMES

    chain = CarbonChain.for_tasks(db)
    doc = {"server": "azure-nc96ads-a100-v4", "model": "llama-2-7b", "datacenter": {"pue": 1.0, "grid": "coal"},
           "workload": {"mode": "offline", "prompt_tokens": 32, "output_tokens": 128, "batch_size": 8}}
    v = PointBuilder(db, "<test>", chain).column(doc).value
    res = chain.evaluate(v[:, None])
    perf = np.array([v[chain.index[f"perf_{n}"]] for n in PARAM_NAMES])[:, None]
    out = offline_task(perf)
    cores, replicas = v[chain.index["host_cores"]], v[chain.index["replicas"]]
    assert replicas == 4  # by default every GPU of the 4-GPU server serves a replica (tp = 1)
    u = min(1.0, replicas * out[O["cpu_s"], 0] / out[O["latency_s"], 0] / cores)
    share = v[chain.index["host_share"]]
    expected = share * host_curve(load_server("azure-nc96ads-a100-v4", db), db, share).power_w(u)
    assert res["host_power_w"][0] == pytest.approx(float(expected), rel=1e-12)
    assert 0 < u < 0.5  # a partly busy host, where a straight line and the curve differ


# -- carbon over a period: one answer from every command that can ask the question ----------------
# issue 15: HGX H100 x8, 5 years, 50 % load, PUE 1.3, on the usa-cfe-2035 trajectory (falling from
# 390 g/kWh in 2022). `compare` followed the trajectory over the five years (94,313 kg under
# hotcarbon24) while `inventory` multiplied its first year by five (113,806 kg). Every command now
# takes the grid over the period in the grid inputs and the totals from the chain's period stage.
YEARS, PUE, GRID, UTIL = 5, 1.3, "usa-cfe-2035", 0.5


def _hgx_training_tokens_b(db, gpu_hours):
    """Training tokens that make a run of ``gpu_hours`` on H100s imply the efficiency at which
    the activity model reads GPU utilisation 0.5 (u = MFU / eta_c), so the run's devices draw
    what the server draws at 50 % load (6 N D only: no sequence length given)."""
    from carbonsim.engine.inputs.power import gpu_constants
    from carbonsim.engine.training import peak_tflops

    part = db.get("gpus", "nvidia-h100-sxm5-80gb")
    eta_c = gpu_constants(db, "nvidia-h100-sxm5-80gb", part["tdp_w"].value)[0]["eta_c"]
    mfu = UTIL * eta_c
    return mfu * peak_tflops(part) * 1e12 * gpu_hours * 3600.0 / (6 * 70e9) / 1e9


def _fleet_total(db, power_w, host_w):
    """The lifecycle fleet at one policy: one HGX H100 x8 server bought in 2022, GPUs and host
    refreshed at their 4-year lifetimes, over a 5-year horizon at half its capacity. The fleet's
    power model is an LLM workload's (linear in utilisation between busy and idle); to ask the
    steady-load question its generation draws the chain's steady-load watts busy and idle alike,
    so what is tested is the fleet's accounting: year-by-year grid, purchases and the end credit."""
    from dataclasses import replace

    from carbonsim.engine.sweep.lifecycle import LifecyclePoints

    doc = {"name": "t", "model": "llama-2-70b", "datacenter": {"pue": PUE, "grid": GRID},
           "workload": {"mode": "offline", "prompt_tokens": 512, "output_tokens": 256, "batch_size": 64,
                        "tensor_parallel": 4, "precision": "fp16"},
           "lifecycle": {"generations": [{"name": "H100", "server": "hgx-h100-x8", "available": 2022}],
                         "start_year": 2022, "horizon_yr": YEARS, "gpu_refresh_yr": 4, "host_refresh_yr": 4,
                         "utilization": UTIL, "demand": {"tokens_per_s": 1.0}}}
    points = LifecyclePoints(db, "<t>")
    gen = points._numbers(doc, type("G", (), {"server": "hgx-h100-x8", "name": "H100", "available": 2022})(), PUE)
    steady = dict(gen.values, gpu_busy_w=power_w - host_w, gpu_idle_w=power_w - host_w, host_busy_w=host_w,
                  host_idle_w=host_w)
    points._gen_cache = {k: replace(v, values=steady) for k, v in points._gen_cache.items()}
    doc["lifecycle"]["demand"]["tokens_per_s"] = UTIL * steady["cap_tok_s"]  # one server, at half its capacity
    res = points.chain.run_fleet(points.column(doc).value[:, None])
    assert res.gpu_sets_bought[0] == 2 and res.mean_utilization[0] == pytest.approx(UTIL)  # 2022 and 2026
    return float(res.total_kg[0]), float(res.operational_kg[0])


def test_hgx_h100_same_total_over_a_period_everywhere(tmp_path, db):
    y, u, p = str(YEARS), str(UTIL), str(PUE)
    cmp = json.loads(run("compare", "hgx-h100-x8", "--grid", GRID, "--years", y, "--util", u, "--pue", p,
                         "--format", "json"))
    c = cmp["servers"][0]
    assert cmp["grid"] == "usa-cfe-2035 (mean 2022-2027)" and cmp["coefficients"] == "server-lca"
    fp = json.loads(run("footprint", "hgx-h100-x8", "--grid", GRID, "--years", y, "--util", u, "--pue", p,
                        "--format", "json"))["period"]
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(HGX_ROW)
    inv = json.loads(run("inventory", str(fleet), "--grid", GRID, "--years", y, "--util", u, "--pue", p,
                         "--format", "json"))["rows"][0]
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: one\nserver: hgx-h100-x8\nload: {{cpu_util: {u}, gpu_util: {u}}}\n"
                    f"datacenter: {{pue: {p}, grid: {GRID}}}\nperiod: {{years: {y}}}\n")
    sw = json.loads(run("sweep", str(scen), "--no-write", "--format", "json"))["baseline"]
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.training import train

    hours = 8 * YEARS * 8760.0  # the server's eight GPUs for five years
    tr = train(db, params_b=70, tokens_b=_hgx_training_tokens_b(db, hours), gpu="nvidia-h100-sxm5-80gb", gpus=8,
               gpu_hours=hours, server="hgx-h100-x8", grid=resolve_grid(GRID, db), pue=PUE, cpu_util=UTIL,
               cs=load_coefficients(None, db))
    assert tr.grid.label == "usa-cfe-2035 (mean 2022-2027)"
    fleet_total, fleet_op = _fleet_total(db, c["power_w"], fp_host_w(db))
    totals = {"compare": c["total_kg"], "footprint": fp["total_kg"], "inventory": inv["total_kg"],
              "sweep": sw["total_kg"], "training": tr.total_kg, "fleet": fleet_total}
    operational = {"compare": c["operational_kg"], "footprint": fp["operational_kg"], "inventory": inv["operational_kg"],
                   "sweep": sw["operational_kg"], "training": tr.operational_kg, "fleet": fleet_op}
    # one answer within 0.1 % (the bar; they agree to rounding: the JSON's 6 decimals, and
    # the fleet's and the trajectory mean's sums in another order)
    for name, values in (("total", totals), ("operational", operational)):
        assert list(values.values()) == pytest.approx([c[f"{name}_kg"]] * len(values), rel=1e-3), (name, values)
    # the trajectory was followed: the mean over 2022-2027 (319.6 g/kWh), not 2022's 390.1
    assert inv["ci_g_per_kwh"] == pytest.approx(319.61, abs=0.01) and cmp["ci_g_per_kwh"] == pytest.approx(319.61, abs=0.01)
    assert c["total_kg"] == pytest.approx(c["operational_kg"] + c["embodied_kg_amortised"], rel=1e-12)
    assert c["embodied_kg_amortised"] == pytest.approx(c["embodied_kg"] * YEARS / 4, rel=1e-12)  # 4-year lifetime


def fp_host_w(db):
    """The HGX H100 x8's host power at 50 % load (the chain's steady-load host watts)."""
    return json.loads(run("footprint", "hgx-h100-x8", "--util", str(UTIL), "--format", "json"))["host_power_w"]


def test_compare_and_inventory_one_total_under_the_seed_set_too(tmp_path):
    # the motivating numbers of issue 15 under hotcarbon24: compare 94,313 kg, inventory was 113,806
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(HGX_ROW)
    args = ["--grid", GRID, "--years", str(YEARS), "--util", str(UTIL), "--pue", str(PUE), "-c", "hotcarbon24",
            "--format", "json"]
    c = json.loads(run("compare", "hgx-h100-x8", *args))["servers"][0]
    inv = json.loads(run("inventory", str(fleet), *args))["rows"][0]
    assert c["total_kg"] == pytest.approx(94_313, abs=0.5)
    assert inv["total_kg"] == pytest.approx(c["total_kg"], rel=1e-9)
    assert inv["grid"] == "usa-cfe-2035 (mean 2022-2027)"


# -- a server named in an inventory row is that server ----------------------------------------------
# issue 15: "`carbonsim embodied azure-a100-x4` and `carbonsim inventory` on the same box give the
# same kg without -c". An inventory row describing the box by its columns is a whole chassis built
# from priors; azure-a100-x4 is 4 GPUs of an 8-GPU chassis (charged half of it) with its own part
# overrides, so the row names it (column `server`) and is that server exactly.
NAMED_ROWS = ("id,server,lifetime_yr,cpu_model,gpu_model,gpu_count\n"
              "a100,azure-a100-x4,,,,\n"
              "a100-6y,azure-a100-x4,6,,,\n"
              "hgx,,,Intel Xeon Platinum 8480C,NVIDIA H100 SXM5 80GB,8\n")


def test_a_named_server_gives_embodied_footprint_and_compare_numbers(tmp_path):
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(NAMED_ROWS)
    opts = ["--grid", GRID, "--years", str(YEARS), "--util", str(UTIL), "--pue", str(PUE)]
    rows = json.loads(run("inventory", str(fleet), *opts, "--format", "json"))["rows"]
    inv, inv6 = rows[0], rows[1]
    emb = json.loads(run("embodied", "azure-a100-x4", "--format", "json"))
    cmp = json.loads(run("compare", "azure-a100-x4", *opts, "--format", "json"))
    c = cmp["servers"][0]
    fp = json.loads(run("footprint", "azure-a100-x4", *opts, "--format", "json"))
    fp6 = json.loads(run("footprint", "azure-a100-x4", *opts, "--set", "server.lifetime_yr=6", "--format", "json"))
    assert emb["coefficients"] == cmp["coefficients"] == inv["coefficients"] == "server-lca"  # no -c anywhere
    assert emb["host_share"] == 0.5 and "charged 0.5 of its chassis" in inv["notes"]
    assert inv["filled"] == "" and inv["notes"].startswith("server azure-a100-x4 from the database")
    # the same kg as `embodied` (to the 6 decimals of its JSON), watts as `footprint`, totals as `compare`
    assert inv["embodied_kg"] == pytest.approx(emb["total_kg"], rel=0, abs=1e-6)
    assert inv["embodied_kg"] == pytest.approx(c["embodied_kg"], rel=0, abs=1e-9)
    assert inv["power_w"] == pytest.approx(fp["power_w"], rel=0, abs=1e-6)
    assert inv["host_power_w"] == pytest.approx(fp["host_power_w"], rel=0, abs=1e-6)
    assert inv["grid"] == cmp["grid"] == fp["period"]["grid"] == "usa-cfe-2035 (mean 2022-2027)"
    for key in ("energy_kwh", "operational_kg", "embodied_kg_amortised", "total_kg"):
        assert inv[key] == pytest.approx(c[key], rel=1e-12), key
        assert inv[key] == pytest.approx(fp["period"][key], rel=0, abs=1e-6), key
    # the row's lifetime_yr is --set server.lifetime_yr
    assert inv6["lifetime_yr"] == 6 and inv6["embodied_kg"] == inv["embodied_kg"]
    for key in ("energy_kwh", "operational_kg", "embodied_kg_amortised", "total_kg"):
        assert inv6[key] == pytest.approx(fp6["period"][key], rel=0, abs=1e-6), key
    assert inv6["embodied_kg_amortised"] == pytest.approx(inv["embodied_kg_amortised"] * 4 / 6, rel=1e-12)
    # a row describing a box by its columns is still a whole chassis from priors (the row beside it)
    assert rows[2]["filled"] and "server " not in rows[2]["notes"]
