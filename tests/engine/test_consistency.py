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


# The same coefficient set everywhere (inventory's default, server-lca, differs from the others').
@pytest.mark.parametrize("coeffs, util", [("hotcarbon24", 0.0), ("hotcarbon24", 0.5), ("hotcarbon24", 1.0),
                                          ("server-lca", 0.5)])
def test_hgx_h100_same_watts_and_kg_everywhere(tmp_path, coeffs, util):
    u, c = str(util), ("--coefficients", coeffs)
    fp = json.loads(run("footprint", "hgx-h100-x8", "--grid", "coal", "--util", u, *c, "--format", "json"))
    cmp = json.loads(run("compare", "hgx-h100-x8", "--grid", "coal", "--util", u, "--years", "1", *c,
                         "--format", "json"))["servers"][0]
    fleet = tmp_path / "fleet.csv"
    fleet.write_text(HGX_ROW)
    inv = json.loads(run("inventory", str(fleet), "--util", u, "--grid", "coal", *c, "--format", "json"))["rows"][0]
    scen = tmp_path / "s.yaml"
    scen.write_text(f"name: one\nserver: hgx-h100-x8\ncoefficients: {coeffs}\n"
                    f"load: {{cpu_util: {u}, gpu_util: {u}}}\ndatacenter: {{pue: 1.0, grid: coal}}\n")
    sw = json.loads(run("sweep", str(scen), "--no-write", "--format", "json"))["baseline"]
    watts = [fp["power_w"], cmp["power_w"], inv["power_w"], sw["power_w"]]
    kg = [fp["embodied"]["total_kg"], cmp["embodied_kg"], inv["embodied_kg"], sw["embodied_kg"]]
    # equal to the rounding of footprint's JSON (6 decimals)
    assert watts == pytest.approx([watts[1]] * 4, rel=0, abs=1e-6), watts
    assert kg == pytest.approx([kg[1]] * 4, rel=0, abs=1e-6), kg
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

    chain = CarbonChain(db, tasks=True)
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
