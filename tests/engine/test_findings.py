"""The seed paper's §5 findings (HotCarbon'24, Li, Graif, Gupta), each checked under ONE default
configuration: the seed's setup as the shipped scenarios state it (Azure NC96ads A100 v4, one
replica, synchronous early-2024 vLLM engine, whole-server attribution; docs/findings.md).

Every assertion is the claim itself, so it fails when the finding flips. A finding carbonsim does
not reproduce under this default is marked ``xfail(strict=True)`` with the measured numbers in its
reason: it is reported as not reproduced (docs/findings.md), and the day the model reproduces it
the strict xfail fails and the docs must be updated.
"""

from pathlib import Path

import numpy as np
import pytest

from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MODELS = ["opt-125m", "llama-2-7b", "qwen1.5-moe-a2.7b"]
DEFAULT = {"workload.engine": "synchronous", "workload.replicas": 1, "workload.embodied_attribution": "server"}


@pytest.fixture(scope="module")
def sweeps(db):
    out = {}
    for name in ("seed-batching", "seed-tensor-parallel", "seed-grid-sources"):
        sc = load_scenario(SCENARIOS / f"{name}.yaml")
        for path, value in DEFAULT.items():  # every scenario states the one default configuration
            assert sc.doc["workload"][path.split(".")[1]] == value, (name, path)
        out[name] = run_sweep(sc, db, None, collect=True).frame
    return out


def _series(df, **eq):
    for k, v in eq.items():
        df = df[df[k] == v]
    return df.set_index("workload.batch_size").sort_index()


def _tp(df, model, grid=None):
    sel = {"model": model}
    if grid:
        sel["datacenter.grid"] = grid
    return (_series(df, **sel, **{"workload.tensor_parallel": 1}),
            _series(df, **sel, **{"workload.tensor_parallel": 2}))


def test_best_edp_batch_grows_with_model_complexity(sweeps):
    # seed §5.1 / Fig. 8: "the optimal CDP/CEP/EDP is achieved at different batch sizes (8-512) for
    # different models ... the optimal batch size grows larger as the model becomes more complex"
    # (OPT-125m < Llama-7B < Qwen-MoE). The seed gives no per-model optimum.
    df = sweeps["seed-batching"]
    for metric in ("edp_j_s", "cdp_g_s"):
        best = [int(_series(df, model=m)[metric].idxmin()) for m in MODELS]
        assert all(8 <= b <= 512 for b in best) and best[0] < best[1] < best[2], (metric, best)
        # carbonsim's own optima (docs/findings.md states them as carbonsim's output)
        assert best == [16, 64, 128], (metric, best)


def test_cep_is_convex_and_the_seeds_reading_has_an_interior_minimum(sweeps):
    # seed §5.1: CEP per task vs batch is convex (against log2 batch, the seed's axis). carbonsim's
    # CEP (embodied for each request's share of the batch time) falls to batch 512; the seed's
    # reading (embodied for a request's whole latency, cep_delay) has its minimum inside 1-512.
    bests = []
    for m in MODELS:
        s = _series(sweeps["seed-batching"], model=m)
        assert np.all(np.diff(s["cep_g_j"].to_numpy(), 2) >= 0), m
        cep = s["cep_delay_g_j"].to_numpy()
        k = int(np.argmin(cep))
        # an interior minimum: it falls to it and rises after it, over the swept batches
        assert 0 < k < len(cep) - 1, (m, s.index[k])
        assert np.all(np.diff(cep[: k + 1]) < 0) and np.all(np.diff(cep[k:]) > 0), m
        bests.append(int(s.index[k]))
    assert bests == [32, 64, 256]  # docs/findings.md reports these


def test_no_tp_for_the_small_model(sweeps):
    # seed §5.2: for OPT-125m no TP is preferred at every batch for latency, energy and carbon
    one, two = _tp(sweeps["seed-tensor-parallel"], "opt-125m")
    for col in ("latency_s", "energy_j", "total_g"):
        assert (two[col] > one[col]).all(), col


def test_no_tp_for_energy_with_larger_models(sweeps):
    # seed §5.2: "No-TP is preferred for energy [for Llama and MoE]; the gain is large (55 % at best)".
    # carbonsim: TP=2 costs Llama-2-7B 31-47 % more energy per task at every batch (a smaller gain
    # than the seed's best case, the direction holds).
    one, two = _tp(sweeps["seed-tensor-parallel"], "llama-2-7b")
    cost = two["energy_j"] / one["energy_j"] - 1
    assert (cost > 0.10).all(), cost.round(3).tolist()


@pytest.mark.xfail(strict=True, reason="not reproduced: in the seed's setup (synchronous engine) TP=2 is "
                   "16-30 % SLOWER for Llama-2-7B at every batch; only an engine that hides its CPU work "
                   "(overlapped) gives TP=2 a 7-10 % gain at small batches (docs/findings.md)")
def test_tp_gives_llama_a_small_latency_gain(sweeps):
    # seed §5.2: for Llama-7B, TP is preferred for latency, but the win is small (under 8 % mostly)
    one, two = _tp(sweeps["seed-tensor-parallel"], "llama-2-7b")
    gain = 1 - two["latency_s"] / one["latency_s"]
    assert ((gain > 0) & (gain < 0.10)).all(), gain.round(3).tolist()


@pytest.mark.xfail(strict=True, reason="not reproduced: embodied carbon per task follows latency, and TP=2 "
                   "is slower in the seed's setup, so it carries 16-30 % MORE embodied carbon per task "
                   "(Llama-2-7B) (docs/findings.md)")
def test_tp_lowers_embodied_carbon_for_larger_models(sweeps):
    # seed §5.2: TP is preferred for embodied carbon for larger models (17 % at best)
    one, two = _tp(sweeps["seed-tensor-parallel"], "llama-2-7b")
    assert (two["embodied_g"] < one["embodied_g"]).all()


def _moe_gain(sweeps):
    df = sweeps["seed-batching"]
    moe, dense = _series(df, model="jetmoe-8b"), _series(df, model="llama-2-7b")
    return 1 - moe["total_g"] / dense["total_g"]


def test_moe_is_more_carbon_efficient_than_dense_at_iso_accuracy(sweeps):
    # seed §5.2: JetMoE (iso-accuracy with Llama) gains 19 % in carbon efficiency. carbonsim:
    # JetMoE-8B emits 9 % less per task than Llama-2-7B at batch 64, Llama's best EDP batch (17 % at
    # 128, JetMoE's)
    gain = _moe_gain(sweeps)
    assert 0.05 < gain.loc[64] < 0.30, gain.round(3).tolist()


@pytest.mark.xfail(strict=True, reason="at batch 16 JetMoE-8B and Llama-2-7B emit the same per task (-0.2 %); "
                   "3-53 % less at every other batch (since every GPU is calibrated by one procedure, "
                   "docs/power.md: before it, 1-54 % less at every batch)")
def test_moe_is_more_carbon_efficient_at_every_batch(sweeps):
    gain = _moe_gain(sweeps)
    assert (gain > 0).all(), gain.round(3).tolist()


# seed Fig. 2 (A100 x4 server, per second; the 1,100 W is back-derived from the bars): embodied
# 9.98 mg/s against operational 250.56 (coal), 149.72 (gas), 12.53 (solar), 7.33 (hydro), 3.67
# (nuclear), 3.36 (wind): operational dominates coal, gas AND solar; embodied hydro, nuclear, wind.
FIG2_DOMINANT = {"coal": "operational_g", "gas": "operational_g", "solar": "operational_g",
                 "hydro": "embodied_g", "nuclear": "embodied_g", "wind": "embodied_g"}


def _dominates(df, grid):
    d = df[df["datacenter.grid"] == grid]
    dominant = FIG2_DOMINANT[grid]
    other = "embodied_g" if dominant == "operational_g" else "operational_g"
    return (d[dominant] > d[other]).all()


def test_embodied_dominates_clean_grids_operational_coal(sweeps):
    # seed Fig. 2 / §5: embodied carbon dominates a task's footprint on hydro, nuclear and wind;
    # the operational part on coal and gas (solar: the next test)
    for grid in ("coal", "gas", "hydro", "nuclear", "wind"):
        assert _dominates(sweeps["seed-grid-sources"], grid), grid


@pytest.mark.xfail(strict=True, reason="not reproduced: per task at the default configuration's modelled power, "
                   "solar's operational carbon is 53-69 % of the embodied (embodied 59-65 % of the total); Fig. 2's "
                   "bars (12.53 against 9.98 mg/s) are drawn at the 1,100 W back-derived from them (docs/findings.md)")
def test_solar_is_operational_dominated_as_in_fig2(sweeps):
    assert _dominates(sweeps["seed-grid-sources"], "solar")


@pytest.mark.xfail(strict=True, reason="not reproduced: TP=2 is slower for Llama-2-7B in the seed's setup, "
                   "so it raises the total per task on every grid (wind +18-30 %, coal +30-43 %) "
                   "(docs/findings.md)")
def test_tp_preferred_on_clean_grids_not_on_coal(sweeps):
    # seed §5.2, implication 2: with cleaner grids TP is preferred for larger models; with coal, no TP
    df = sweeps["seed-grid-sources"].assign(model="llama-2-7b")
    one, two = _tp(df, "llama-2-7b", "wind")
    assert (two["total_g"] < one["total_g"]).all()
    one, two = _tp(df, "llama-2-7b", "coal")
    assert (two["total_g"] > one["total_g"]).all()


# --- MoE: the seed's Qwen-MoE rows (§5.2, Fig. 9) -----------------------------------------------
MOE = "qwen1.5-moe-a2.7b"


def test_qwen_moe_against_llama_per_task_is_carbonsims_output(sweeps):
    # carbonsim's own output, stated in docs/findings.md: at the default configuration Qwen1.5-MoE
    # emits 27-43 % MORE per task than Llama-2-7B at batches 16-64 (where both have their best EDP),
    # less at small batches (a third of the weights read per token) and at 256-512 (the experts'
    # weights amortised over a saturated expert set)
    df = sweeps["seed-batching"]
    diff = _series(df, model=MOE)["total_g"] / _series(df, model="llama-2-7b")["total_g"] - 1
    assert ((diff.loc[[16, 32, 64]] > 0.25) & (diff.loc[[16, 32, 64]] < 0.45)).all(), diff.round(3).tolist()
    assert (diff.loc[[1, 2, 4, 8, 256, 512]] < 0).all(), diff.round(3).tolist()


@pytest.mark.xfail(strict=True, reason="not reproduced at batches 16-64: Qwen1.5-MoE emits 27-43 % more per task "
                   "than Llama-2-7B there (and 11-26 % less at 256-512), not a comparable amount (docs/findings.md)")
def test_qwen_moe_has_a_carbon_profile_comparable_to_llama(sweeps):
    # seed §5.2: "QWen has a better model quality than Llama-7B but has a comparative energy and
    # carbon profile, especially under larger batch sizes". Read as: within 20 % per task at every
    # batch of 16 and more (any tolerance below 43 % fails the same way)
    df = sweeps["seed-batching"]
    diff = _series(df, model=MOE)["total_g"] / _series(df, model="llama-2-7b")["total_g"] - 1
    assert (diff.loc[diff.index >= 16].abs() < 0.20).all(), diff.round(3).tolist()


def test_no_tp_for_energy_with_moe(sweeps):
    # seed §5.2: "No-TP is preferred for energy [Llama and MoE], and the gain is large (55 % at
    # best)". carbonsim: TP=2 costs Qwen1.5-MoE more energy per task at every batch, 15-72 %
    one, two = _tp(sweeps["seed-tensor-parallel"], MOE)
    cost = two["energy_j"] / one["energy_j"] - 1
    assert (cost > 0).all() and cost.max() > 0.5, cost.round(3).tolist()


@pytest.mark.xfail(strict=True, reason="not reproduced: in the seed's setup (synchronous engine) TP=2 is slower "
                   "for Qwen1.5-MoE at every batch but 32 (+0.8 %): 1-64 % slower (docs/findings.md)")
def test_tp_gives_moe_a_small_latency_gain(sweeps):
    # seed §5.2: for larger models "like Llama and MoE", TP is preferred for latency, the win small
    one, two = _tp(sweeps["seed-tensor-parallel"], MOE)
    gain = 1 - two["latency_s"] / one["latency_s"]
    assert ((gain > 0) & (gain < 0.10)).all(), gain.round(3).tolist()


@pytest.mark.xfail(strict=True, reason="not reproduced: embodied carbon per task follows latency, so TP=2 carries "
                   "1-64 % MORE embodied carbon per task for Qwen1.5-MoE at every batch but 32 (docs/findings.md)")
def test_tp_lowers_embodied_carbon_for_moe(sweeps):
    # seed §5.2: TP is preferred for embodied carbon for larger models (Llama and MoE; 17 % at best)
    one, two = _tp(sweeps["seed-tensor-parallel"], MOE)
    assert (two["embodied_g"] < one["embodied_g"]).all()


@pytest.mark.xfail(strict=True, reason="not reproduced: Qwen1.5-MoE's TP=2 latency gain rises from -64 % at batch 1 "
                   "to +0.8 % at 32, then falls to -43 % at 512 (docs/findings.md)")
def test_moe_tp_gain_grows_with_batch(sweeps):
    # seed §5.2: for MoE "the bigger the batch size, the more carbon efficiency gain or latency
    # improvement TP can bring"
    one, two = _tp(sweeps["seed-tensor-parallel"], MOE)
    gain = (1 - two["latency_s"] / one["latency_s"]).to_numpy()
    assert np.all(np.diff(gain) > 0), gain.round(3).tolist()


def test_findings_doc_states_what_holds():
    text = (Path(__file__).resolve().parents[2] / "docs" / "findings.md").read_text()
    for test in ("test_tp_gives_llama_a_small_latency_gain", "test_tp_lowers_embodied_carbon_for_larger_models",
                 "test_tp_preferred_on_clean_grids_not_on_coal", "test_solar_is_operational_dominated_as_in_fig2",
                 "test_qwen_moe_has_a_carbon_profile_comparable_to_llama", "test_tp_gives_moe_a_small_latency_gain",
                 "test_tp_lowers_embodied_carbon_for_moe", "test_moe_tp_gain_grows_with_batch"):
        line = next(x for x in text.splitlines() if test in x)
        assert "not reproduced" in line, test


# --- the seed's Fig. 7 (embodied components of the Azure A100 and T4 VMs) ------------------------
# Fig. 7 reads (seed_targets.yaml, from the figure): A100 host 619.2 kg, GPU 224.2 kg; T4 host
# 278.3 kg, GPU 41.8 kg. hotcarbon24 as shipped gives the A100 x2 VM a host of 405.7 kg: the
# summary.csv accounting (fixed parts x n/8, no CPU die) behind Figs. 1 and 2. Fig. 7 uses another
# one: the whole chassis' fixed parts (no n/8 share) plus a 27 kg CPU die (the seed code's "ACT
# Table 12" value, EcoServe's fixed CPU).
FIG7_ACCOUNTING = ["--set", "coefficients.host.cpu={model: fixed, kg_per_server: 27}"]


def _fig7(server, slots):
    import json

    from click.testing import CliRunner

    from carbonsim.cli import main

    r = CliRunner().invoke(main, ["embodied", server, "-c", "hotcarbon24", "--format", "json", *FIG7_ACCOUNTING,
                                  "--set", f"server.host.chassis_gpu_slots={slots}"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    return d["host_kg"], d["gpu_kg"]


def test_fig7_a100_accounting():
    host, gpu = _fig7("azure-a100-x2", 2)
    # tolerance 0.5 %: the figure's labels are read to 0.1 kg; the peripheral boards differ by
    # 0.6 kg between the paper's (54.29 kg) and summary.csv's (54.88 kg) card lists
    assert host == pytest.approx(619.2, rel=0.005)
    assert gpu == pytest.approx(224.2, rel=0.005)


@pytest.mark.xfail(strict=True, reason="not reproduced: the same accounting gives the T4 VM a host of 295.0 kg "
                   "(+6.0 %) and a GPU of 37.2 kg (-11 %); summary.csv's T4 rows are internally inconsistent and "
                   "no reading reproduces both (docs/findings.md)")
def test_fig7_t4_accounting():
    host, gpu = _fig7("aws-t4-x1", 1)
    assert host == pytest.approx(278.3, rel=0.02) and gpu == pytest.approx(41.8, rel=0.02)
