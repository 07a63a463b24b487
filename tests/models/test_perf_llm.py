"""LLM performance model: kernel parity, hand-checked roofline cases and the seed's section-5 findings."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from carbonsim.models.perf import O, P, PARAM_NAMES, PRECISIONS, offline_task, offline_task_reference, pack_params
from carbonsim.models.perf.llm import allreduce_time_s, expected_distinct_experts, smooth_max

ROOT = Path(__file__).resolve().parents[2]
CAL = yaml.safe_load((ROOT / "hardware_db" / "perf" / "calibration.yaml").read_text())


def val(x):
    return x["value"] if isinstance(x, dict) else x


# model shapes from hardware_db/models (config.json values)
OPT_125M = dict(n_layers=12, hidden=768, n_heads=12, n_kv_heads=12, head_dim=64, ffn=3072, ffn_matrices=2,
                vocab=50272, tied_embeddings=1)
LLAMA_2_7B = dict(n_layers=32, hidden=4096, n_heads=32, n_kv_heads=32, head_dim=128, ffn=11008,
                  ffn_matrices=3, vocab=32000, tied_embeddings=0)
LLAMA_2_70B = dict(n_layers=80, hidden=8192, n_heads=64, n_kv_heads=8, head_dim=128, ffn=28672,
                   ffn_matrices=3, vocab=32000, tied_embeddings=0)
A100_PCIE = dict(peak_tflops=312, memory_bandwidth_gb_s=1935, memory_gb=80)
A100_SXM = dict(peak_tflops=312, memory_bandwidth_gb_s=2039, memory_gb=80)
NO_CPU = dict(cpu_base_s=0, cpu_per_seq_s=0, cpu_tp_base_s=0, cpu_tp_per_seq_s=0)


def calibrated(gpu="nvidia-a100-pcie-80gb", link="a100-pcie-nvlink-pairs-tp2", engine="vllm-sync"):
    g, lk, e = CAL["gpus"][gpu], CAL["links"][link], CAL["engines"][engine]
    return dict(eta_compute=val(g["eta_compute"]), eta_memory=val(g["eta_memory"]),
                layer_overhead_s=val(g["layer_overhead_s"]), smooth_max_p=val(CAL["smooth_max_p"]),
                allreduce_alpha_s=val(lk["allreduce_alpha_s"]), link_bandwidth_gb_s=val(lk["bus_bandwidth_gb_s"]),
                engine_overlap=1.0 if e["form"] == "overlapped" else 0.0,
                **{k: val(e[k]) for k in ("cpu_base_s", "cpu_per_seq_s", "cpu_tp_base_s", "cpu_tp_per_seq_s")})


def random_params(n, seed):
    """Seeded random points covering dense/MoE, TP 1-8, GQA, both engine forms, prefill chunking."""
    rng = np.random.default_rng(seed)
    p = pack_params(n, **{k: 0.0 for k in PARAM_NAMES})
    heads = rng.choice([8, 12, 16, 32, 64], n).astype(float)
    p[P["n_heads"]] = heads
    p[P["n_kv_heads"]] = np.minimum(heads, rng.choice([1, 2, 8, 16, 64], n))
    p[P["head_dim"]] = rng.choice([64, 128], n)
    p[P["hidden"]] = heads * p[P["head_dim"]]
    p[P["n_layers"]] = rng.integers(1, 96, n)
    p[P["ffn"]] = rng.uniform(1000, 30000, n)
    p[P["ffn_matrices"]] = rng.choice([2, 3], n)
    p[P["vocab"]] = rng.uniform(1000, 160000, n)
    p[P["tied_embeddings"]] = rng.integers(0, 2, n)
    p[P["extra_params"]] = rng.uniform(0, 1e6, n)
    moe = rng.random(n) < 0.4
    p[P["moe_experts"]] = np.where(moe, rng.integers(2, 128, n), 0)
    p[P["moe_top_k"]] = np.where(moe, rng.integers(1, 9, n), 0)
    p[P["moe_expert_ffn"]] = np.where(moe, rng.uniform(500, 15000, n), 0)
    p[P["moe_shared_ffn"]] = np.where(moe & (rng.random(n) < 0.5), rng.uniform(500, 6000, n), 0)
    p[P["weight_bytes"]] = rng.choice([0.53125, 1, 2, 4], n)
    p[P["kv_bytes"]] = rng.choice([1, 2], n)
    p[P["act_bytes"]] = 2
    p[P["peak_tflops"]] = rng.uniform(50, 2500, n)
    p[P["memory_bandwidth_gb_s"]] = rng.uniform(300, 8000, n)
    p[P["memory_gb"]] = rng.choice([16, 24, 40, 80, 141], n)
    p[P["tp"]] = rng.choice([1, 2, 4, 8], n)
    p[P["allreduce_alpha_s"]] = rng.uniform(5e-6, 100e-6, n)
    p[P["link_bandwidth_gb_s"]] = rng.uniform(10, 500, n)
    p[P["batch"]] = rng.integers(1, 1024, n)
    p[P["prompt_tokens"]] = rng.integers(1, 4096, n)
    p[P["output_tokens"]] = rng.integers(0, 300, n)
    p[P["max_batched_tokens"]] = np.where(rng.random(n) < 0.5, 0, rng.choice([2048, 4096, 8192], n))
    p[P["eta_compute"]] = rng.uniform(0.3, 1.0, n)
    p[P["eta_memory"]] = rng.uniform(0.3, 1.0, n)
    p[P["smooth_max_p"]] = rng.uniform(1.0, 8.0, n)
    p[P["layer_overhead_s"]] = rng.uniform(0, 50e-6, n)
    p[P["moe_compute_factor"]] = rng.uniform(1.0, 2.0, n)
    p[P["cpu_base_s"]] = rng.uniform(0, 5e-3, n)
    p[P["cpu_per_seq_s"]] = rng.uniform(0, 2e-4, n)
    p[P["cpu_tp_base_s"]] = rng.uniform(0, 5e-3, n)
    p[P["cpu_tp_per_seq_s"]] = rng.uniform(0, 2e-4, n)
    p[P["engine_overlap"]] = rng.integers(0, 2, n)
    p[P["memory_utilization"]] = rng.uniform(0.5, 0.95, n)
    p[P["memory_reserve_gb"]] = rng.uniform(0, 4, n)
    # engine features of current vLLM, on about half the points each
    p[P["step_sync_s"]] = np.where(rng.random(n) < 0.5, rng.uniform(0, 3e-3, n), 0)
    p[P["attn_head_s"]] = np.where(rng.random(n) < 0.5, rng.uniform(0, 1e-7, n), 0)
    p[P["graph_max_batch"]] = np.where(rng.random(n) < 0.5, rng.choice([256, 512], n), 0)
    p[P["static_batch"]] = (rng.random(n) < 0.3).astype(float)
    p[P["max_new_tokens"]] = np.where(rng.random(n) < 0.5, rng.choice([128, 256, 512], n), 0)
    return p


@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_matches_reference(seed):
    params = random_params(400, seed)
    ref = offline_task_reference(params)
    fast = offline_task(params)
    # the kernel sums decode steps in closed form, the reference one by one: rounding only
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)


def test_kernel_reuses_output_buffer():
    params = random_params(5, 3)
    out = np.full((len(O), 5), np.nan)
    assert offline_task(params, out=out) is out and np.isfinite(out).all()


def test_decode_llama7b_batch1_is_memory_bound():
    # Roofline by hand: a decode step streams every weight once. Llama-2-7B reads
    # L (P_attn + P_ffn) + V h = 6.607e9 parameters (the input embedding is a lookup) = 13.21 GB in
    # fp16; at eta_m 0.75 of the A100 SXM's 2039 GB/s that is 8.64 ms per token. KV (17 MB),
    # activations and the smooth max (p = 50) add < 1 %, hence the 2 % tolerance.
    p = pack_params(**LLAMA_2_7B, **A100_SXM, **NO_CPU, weight_bytes=2, kv_bytes=2, tp=1,
                    allreduce_alpha_s=0, link_bandwidth_gb_s=1, batch=1, prompt_tokens=32,
                    output_tokens=128, eta_compute=0.7, eta_memory=0.75, smooth_max_p=50,
                    layer_overhead_s=0)
    out = offline_task(p)
    assert out[O["tpot_s"], 0] == pytest.approx(13.21e9 / (2039e9 * 0.75), rel=0.02)
    assert out[O["decode_mbu"], 0] == pytest.approx(0.75, rel=0.01)   # memory bound: MBU = eta_m
    assert out[O["decode_mfu"], 0] < 0.01                              # MFU ~ 2 FLOP/byte / ridge


def test_int4_saves_bytes_not_flops():
    base = dict(**LLAMA_2_7B, **A100_SXM, **NO_CPU, kv_bytes=2, tp=1, allreduce_alpha_s=0,
                link_bandwidth_gb_s=1, batch=1, prompt_tokens=32, output_tokens=128, eta_compute=0.7,
                eta_memory=0.75, smooth_max_p=3, layer_overhead_s=0)
    fp16 = offline_task(pack_params(**base, weight_bytes=PRECISIONS["fp16"][0]))
    int4 = offline_task(pack_params(**base, weight_bytes=PRECISIONS["int4"][0]))
    assert int4[O["flop_per_gpu"], 0] == pytest.approx(fp16[O["flop_per_gpu"], 0])
    # decode is weight streaming: time falls nearly with the bytes (0.53 / 2), not below it
    ratio = int4[O["tpot_s"], 0] / fp16[O["tpot_s"], 0]
    assert 0.2656 < ratio < 0.32
    assert int4[O["weights_gb_per_gpu"], 0] == pytest.approx(fp16[O["weights_gb_per_gpu"], 0] * 0.53125 / 2)


def test_moe_distinct_experts():
    # E (1 - (1 - k/E)^T) for Qwen1.5-MoE (E 60, k 4), by hand: 60 (1 - (14/15)^T) = 4, 25.45,
    # 40.11, 53.40, 59.27 for T = 1, 8, 16, 32, 64. (The research note's section 2.5 lists 38.8,
    # 52.1, 58.7 for T >= 16; those do not follow from its own formula.)
    got = expected_distinct_experts(60, 4, np.array([1, 8, 16, 32, 64]))
    np.testing.assert_allclose(got, [4, 25.45, 40.11, 53.40, 59.27], atol=0.01)
    # the formula is exact for top-k without replacement: compare with a seeded simulation
    rng = np.random.default_rng(0)
    hits = [len(np.unique(np.concatenate([rng.choice(60, 4, replace=False) for _ in range(8)])))
            for _ in range(2000)]
    assert np.mean(hits) == pytest.approx(got[1], abs=0.3)   # 3 sigma of the mean ~ 0.25
    assert expected_distinct_experts(0, 0, 5) == 0.0


def test_allreduce_term():
    # ring all-reduce: alpha + 2 (t-1)/t S / busbw; TP=1 has none
    assert allreduce_time_s(1e6, 1, 50e-6, 100) == 0.0
    assert allreduce_time_s(1e6, 2, 50e-6, 100) == pytest.approx(50e-6 + 1e6 / 100e9)
    assert allreduce_time_s(1e6, 4, 50e-6, 100) == pytest.approx(50e-6 + 1.5e6 / 100e9)
    # in the task: 2 L all-reduces of B h b_a bytes per decode step, plus one logit gather
    kw = dict(**LLAMA_2_7B, **A100_PCIE, **NO_CPU, weight_bytes=2, kv_bytes=2, tp=2,
              allreduce_alpha_s=50e-6, link_bandwidth_gb_s=100, batch=8, prompt_tokens=32,
              output_tokens=128, eta_compute=0.7, eta_memory=0.75, smooth_max_p=3, layer_overhead_s=0)
    out = offline_task(pack_params(**kw))
    step = 2 * 32 * (50e-6 + 8 * 4096 * 2 / 100e9) + 50e-6 + 0.5 * 8 * 32000 * 2 / 100e9
    prefill = 2 * 32 * (50e-6 + 8 * 32 * 4096 * 2 / 100e9) + 50e-6 + 0.5 * 8 * 32000 * 2 / 100e9
    assert out[O["comm_s"], 0] == pytest.approx(128 * step + prefill)


def test_smooth_max():
    assert smooth_max(3.0, 0.0, 3) == 3.0
    assert smooth_max(2.0, 2.0, 3) == pytest.approx(2.0 * 2 ** (1 / 3))
    assert smooth_max(0.0, 0.0, 3) == 0.0


def test_memory_limit_flags_infeasible_points():
    # Llama-2-70B fp16: 138 GB of weights cannot fit one 80 GB GPU; at TP4 each GPU holds 34.5 GB
    kw = dict(**LLAMA_2_70B, **A100_SXM, **NO_CPU, weight_bytes=2, kv_bytes=2, allreduce_alpha_s=30e-6,
              link_bandwidth_gb_s=150, batch=8, prompt_tokens=32, output_tokens=128, eta_compute=0.7,
              eta_memory=0.75, smooth_max_p=3, layer_overhead_s=0)
    out = offline_task(pack_params(**kw, tp=np.array([1.0, 4.0])))
    assert out[O["weights_gb_per_gpu"], 0] == pytest.approx(137.95, rel=1e-3)
    assert list(out[O["feasible"]]) == [0.0, 1.0]
    assert out[O["max_batch"], 0] == 0 and out[O["max_batch"], 1] > 8
    assert np.isfinite(out[O["latency_s"], 0])          # flagged, still evaluated
    # the batch limit is consistent: one past max_batch does not fit, max_batch does
    mb = out[O["max_batch"], 1]
    edge = offline_task(pack_params(**(kw | dict(tp=4.0, batch=np.array([mb, mb + 1])))))
    assert list(edge[O["feasible"]]) == [1.0, 0.0]


def seed_sweep(model, tp, batch, max_batched_tokens, engine="vllm-sync"):
    link = "a100-pcie-nvlink-pairs-tp2"   # the seed's Azure NC A100 v4: A100 80GB PCIe, NVLink pairs
    return offline_task(pack_params(**model, **A100_PCIE, **calibrated(link=link, engine=engine),
                                    weight_bytes=2, kv_bytes=2, tp=tp, batch=batch, prompt_tokens=32,
                                    output_tokens=128, max_batched_tokens=max_batched_tokens))


BATCHES = np.array([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], dtype=float)


def test_seed_tp2_worse_for_opt125m_at_every_batch():
    # seed section 5.2, Obs. 2: for OPT-125m no-TP is preferred at all batch sizes (latency); the
    # all-reduce latency (2 x 12 per step) and worker RPC dwarf the tiny matrix products.
    one = seed_sweep(OPT_125M, 1, BATCHES, 2048)
    two = seed_sweep(OPT_125M, 2, BATCHES, 2048)
    assert np.all(two[O["latency_s"]] > one[O["latency_s"]])
    assert np.all(two[O["gpu_s_per_task"]] > 2 * one[O["gpu_s_per_task"]])   # GPU time (energy proxy)


def test_seed_tp2_small_latency_gain_for_llama7b():
    # seed section 5.2, Obs. 2: for Llama-7B TP=2's latency win is small (under 8 % most of the
    # time) at a large energy cost. With the calibrated synchronous engine the model gives no win
    # at all (TP2 is 16-30 % slower; docs/perf.md explains why), so only the bound is pinned:
    # TP2 never gains 10 % or more, and it always costs more GPU-seconds per task.
    one = seed_sweep(LLAMA_2_7B, 1, BATCHES, 4096)
    two = seed_sweep(LLAMA_2_7B, 2, BATCHES, 4096)
    gain = 1 - two[O["latency_s"]] / one[O["latency_s"]]
    assert np.all(gain < 0.10)
    assert np.all(two[O["gpu_s_per_task"]] > 1.5 * one[O["gpu_s_per_task"]])


def test_overlapped_engine_never_slower_than_synchronous():
    sync = seed_sweep(LLAMA_2_7B, 1, BATCHES, 4096)
    params = pack_params(**LLAMA_2_7B, **A100_PCIE, **calibrated(), weight_bytes=2, kv_bytes=2, tp=1,
                         batch=BATCHES, prompt_tokens=32, output_tokens=128, max_batched_tokens=4096)
    params[P["engine_overlap"]] = 1.0
    over = offline_task(params)
    assert np.all(over[O["latency_s"]] <= sync[O["latency_s"]])
    assert np.all(over[O["gpu_busy_s"]] == pytest.approx(sync[O["gpu_busy_s"]]))


# --- engine features of current vLLM and static batches ----------------------------------------

def test_expected_longest_output():
    from carbonsim.models.perf.llm import expected_longest_output

    # one sequence: its own mean; no cap: mu H_B (E[max of B exponentials], the harmonic number)
    assert expected_longest_output(300.0, 1, 512)[()] == pytest.approx(300.0, rel=1e-9)
    assert expected_longest_output(300.0, 4, 0)[()] == pytest.approx(300.0 * (1 + 1 / 2 + 1 / 3 + 1 / 4), rel=1e-12)
    # a mean at the cap: every output is cut there
    assert expected_longest_output(512.0, 4, 512)[()] == 512.0
    # against sampling: exponential outputs cut at 512 whose capped mean is 200, batches of 4
    rng = np.random.default_rng(0)
    mu = 200.0 / (1 - np.exp(-512 / expected_mu(200.0, 512)))  # the uncapped mean solving mean = 200
    draws = np.minimum(rng.exponential(mu, (400_000, 4)), 512)
    assert draws.mean() == pytest.approx(200.0, rel=5e-3)  # the solved mean reproduces the capped mean
    # tolerance: sampling error of 400,000 batch maxima (about 0.2 %), doubled
    assert expected_longest_output(200.0, 4, 512)[()] == pytest.approx(draws.max(axis=1).mean(), rel=5e-3)


def expected_mu(mean, cap):
    """Uncapped mean mu of an exponential whose mean cut at ``cap`` is ``mean`` (bisection, for the test)."""
    lo, hi = mean, 1e9
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid * (1 - np.exp(-cap / mid)) < mean else (lo, mid)
    return mid


def test_graph_batch_pads_to_the_captured_sizes():
    from carbonsim.models.perf.llm import graph_batch

    b = np.array([1, 3, 5, 8, 250, 256, 300, 600])
    # vLLM's capture list: 1, 2, 4, multiples of 8 to 256, of 16 above, up to the largest size (512
    # here; vLLM 0.11's default for max_num_seqs >= 256); above it eager and unpadded
    assert list(graph_batch(b, 512)) == [1, 4, 8, 8, 256, 256, 304, 600]
    assert list(graph_batch(b, 0)) == list(b)


def decode_point(**extra):
    rows = dict(weight_bytes=2, kv_bytes=2, tp=1, allreduce_alpha_s=0, link_bandwidth_gb_s=1, batch=64,
                prompt_tokens=100, output_tokens=200, eta_compute=0.8, eta_memory=0.84, smooth_max_p=2.7,
                layer_overhead_s=3e-5, engine_overlap=1.0)
    return pack_params(**LLAMA_2_7B, **A100_SXM, **NO_CPU, **(rows | extra))


def test_step_sync_and_head_time_add_where_stated():
    base = offline_task_reference(decode_point())
    # a per-step sync adds to every engine step (one prefill + 200 decode steps), the GPU waiting
    sync = offline_task_reference(decode_point(step_sync_s=1e-3))
    assert sync[O["latency_s"], 0] - base[O["latency_s"], 0] == pytest.approx(201 * 1e-3, rel=1e-9)
    assert sync[O["gpu_busy_s"], 0] == pytest.approx(base[O["gpu_busy_s"], 0], rel=1e-12)
    # the fixed attention time: batch x layers x heads x t_h per decode step, GPU busy at memory-bound activity
    head = offline_task_reference(decode_point(attn_head_s=50e-9))
    extra = 64 * 32 * 32 * 50e-9 * 200
    assert head[O["decode_gpu_s"], 0] - base[O["decode_gpu_s"], 0] == pytest.approx(extra, rel=1e-9)
    assert head[O["decode_mbu"], 0] > base[O["decode_mbu"], 0]


def test_static_batch_decodes_to_its_longest_output():
    from carbonsim.models.perf.llm import expected_longest_output

    cont = offline_task_reference(decode_point(engine_overlap=0.0, batch=4))
    static = offline_task_reference(decode_point(engine_overlap=0.0, batch=4, static_batch=1.0, max_new_tokens=512))
    steps = float(expected_longest_output(200.0, 4, 512))
    assert 300 < steps < 512
    # the same tokens, more steps: the decode time grows by steps / 200, a little more as the
    # attention reads a longer context
    ratio = static[O["decode_s"], 0] / cont[O["decode_s"], 0]
    assert steps / 200 <= ratio < 1.1 * steps / 200
    assert static[O["throughput_tok_s"], 0] < cont[O["throughput_tok_s"], 0]
