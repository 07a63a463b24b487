"""The serving simulator (layer 1): reference vs kernel, determinism, queueing sanity, the offline
batch as a special case, KV-cache pressure, request streams."""

import numpy as np
import pytest

from carbonsim.models.perf.layout import O
from carbonsim.models.perf.llm import offline_task_reference, pack_params
from carbonsim.models.serving import OUT, R, simulate, simulate_many, simulate_reference
from carbonsim.models.serving.layout import I, ROLES, pack_instance
from carbonsim.models.serving.memory import kv_cache_blocks
from carbonsim.models.serving.reference import kv_transfer_s, step_cost
from carbonsim.models.serving.workload import DISTRIBUTIONS, draw_requests, draw_tokens, streams

EXP, PARETO, LOGN, FIXED = (DISTRIBUTIONS[k] for k in ("exponential", "pareto", "lognormal", "fixed"))


def llama7b_a100(tp=1, overlap=0.0, **rows):
    """Llama-2-7B on an A100 PCIe 80GB with the shipped calibration's constants."""
    base = dict(n_layers=32, hidden=4096, n_heads=32, n_kv_heads=32, head_dim=128, ffn=11008, ffn_matrices=3,
                vocab=32000, tied_embeddings=0, weight_bytes=2, kv_bytes=2, peak_tflops=312,
                memory_bandwidth_gb_s=1935, memory_gb=80, tp=tp, allreduce_alpha_s=5.37e-5,
                link_bandwidth_gb_s=306, batch=1, prompt_tokens=1, output_tokens=1, eta_compute=0.778,
                eta_memory=0.823, smooth_max_p=2.7, layer_overhead_s=3.5e-5, cpu_base_s=0.00143,
                cpu_per_seq_s=0.000115, cpu_tp_base_s=0.00234, cpu_tp_per_seq_s=9.36e-5, engine_overlap=overlap)
    base.update(rows)
    return pack_params(**base)[:, 0]


def instance(tp=1, overlap=0.0, max_num_seqs=256, budget=4096, chunked=0, block_size=16, group=0, kv_blocks=None,
             share=1.0, limit_w=300.0, max_model_len=4096):
    p = llama7b_a100(tp, overlap)
    blocks = kv_cache_blocks(p, budget, block_size, share)[0] if kv_blocks is None else kv_blocks
    return pack_instance(p, max_num_seqs=max_num_seqs, token_budget=budget, chunked_prefill=chunked,
                         block_size=block_size, kv_blocks=blocks, watermark_blocks=np.floor(0.01 * blocks),
                         max_model_len=max_model_len, gpu_group=group, idle_loaded_w=62.9, cap_w=300.0, a_c=0.848,
                         a_m=0.525, power_eta_c=0.7, power_eta_m=0.75, power_limit_w=limit_w)


def system(cols, seed, arrival, qps, n, prompt, output):
    """Instances and their requests, each instance with its own stream."""
    parts = [draw_requests(seed, arrival, qps=qps, requests=n, prompt=prompt, output=output, model=e)
             for e in range(len(cols))]
    owner = np.concatenate([np.full(len(a), e) for e, (a, _, _) in enumerate(parts)])
    return (np.stack(cols, axis=1), *(np.concatenate([x[i] for x in parts]) for i in range(3)), owner)


NO_SLO = np.zeros(2)


# --- reference vs kernel ----------------------------------------------------------------------------

def _random_case(rng, i):
    k = int(rng.integers(1, 3))
    shared = k == 2 and rng.random() < 0.5
    chunked = int(rng.random() < 0.5)
    cols = []
    for e in range(k):
        cols.append(instance(tp=2 if shared else int(rng.integers(1, 3)), overlap=float(rng.random() < 0.5),
                             max_num_seqs=int(rng.integers(1, 40)),
                             budget=int(rng.choice([64, 512, 4096])) if chunked else 4096, chunked=chunked,
                             block_size=int(rng.choice([8, 16, 32])), group=0 if shared else e,
                             kv_blocks=int(rng.integers(30, 400)) if rng.random() < 0.6 else None,
                             limit_w=float(rng.choice([300.0, 180.0]))))
    qps = float(rng.uniform(0.5, 30))
    return system(cols, i, int(rng.integers(0, 2)), qps, int(rng.integers(1, 40)),
                  (EXP, float(rng.uniform(10, 600)), 0.0, 1, 3000), (PARETO, float(rng.uniform(5, 150)), 2.5, 1, 2000))


def _assert_same(a, b):
    (ra, pa), (rb, pb) = a, b
    np.testing.assert_allclose(rb, ra, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pb, pa, rtol=1e-9, atol=1e-9)


def test_kernel_matches_reference_on_random_systems():
    # Seeded random systems: one or two instances, shared or separate GPUs, both schedulers,
    # small KV caches (preemption), power limits, both engine forms.
    rng = np.random.default_rng(7)
    for i in range(14):
        inst, arr, p, o, owner = _random_case(rng, i)
        slo = np.array([rng.uniform(0, 1), rng.uniform(0, 0.05)])
        _assert_same(simulate_reference(inst, arr, p, o, owner, slo), simulate(inst, arr, p, o, owner, slo))


@pytest.mark.parametrize("chunked", [0, 1])
@pytest.mark.parametrize("shared", [False, True])
def test_kernel_matches_reference_under_heavy_preemption(chunked, shared):
    k = 2 if shared else 1
    cols = [instance(tp=2 if shared else 1, overlap=1.0, max_num_seqs=32, budget=128 if chunked else 4096,
                     chunked=chunked, kv_blocks=60) for _ in range(k)]
    inst, arr, p, o, owner = system(cols, 5, 1, 0.0, 25, (EXP, 50.0, 0.0, 1, 200), (EXP, 250.0, 0.0, 1, 700))
    ref = simulate_reference(inst, arr, p, o, owner, NO_SLO)
    assert ref[0][OUT["preemptions"]] > 10
    _assert_same(ref, simulate(inst, arr, p, o, owner, NO_SLO))


@pytest.mark.parametrize("overlap", [0.0, 1.0])
def test_kernel_matches_reference_for_models_taking_turns(overlap):
    # Two models on the same GPUs, long decodes between few arrivals: the kernel replays runs
    # of decode steps of both engines in their queue order (its fast path for shared GPUs).
    cols = [instance(tp=2, overlap=overlap, group=0, share=0.5) for _ in range(2)]
    inst, arr, p, o, owner = system(cols, 12, 0, 0.4, 12, (EXP, 300.0, 0.0, 1, 2000), (EXP, 400.0, 0.0, 1, 1500))
    ref = simulate_reference(inst, arr, p, o, owner, NO_SLO)
    assert ref[0][OUT["steps"]] > 20 * ref[0][OUT["served"]]
    _assert_same(ref, simulate(inst, arr, p, o, owner, NO_SLO))


def disaggregated(cols_p, cols_d, seed, arrival, qps, n, prompt, output, kv_link_gb_s=270.0, kv_alpha_s=3e-5):
    """A prefill-decode disaggregated system: prefill instances ``cols_p``, decode instances
    ``cols_d`` (each given GPUs of its own), one request stream sent round robin to the prefill
    instances (each instance's requests contiguous, as the simulator takes them)."""
    cols = []
    for e, c in enumerate(list(cols_p) + list(cols_d)):
        c = c.copy()
        c[I["role"]] = ROLES["prefill"] if e < len(cols_p) else ROLES["decode"]
        c[I["gpu_group"]] = e
        c[I["kv_link_gb_s"]] = kv_link_gb_s
        c[I["kv_link_alpha_s"]] = kv_alpha_s
        cols.append(c)
    arr, p, o = draw_requests(seed, arrival, qps=qps, requests=n, prompt=prompt, output=output)
    owner = np.arange(len(arr)) % len(cols_p)
    order = np.argsort(owner, kind="stable")
    return np.stack(cols, axis=1), arr[order], p[order], o[order], owner[order]


def _random_disaggregated_case(rng, i):
    n_p, n_d = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    chunked = int(rng.random() < 0.5)

    def col():
        return instance(tp=int(rng.integers(1, 3)), overlap=float(rng.random() < 0.5),
                        max_num_seqs=int(rng.integers(1, 40)),
                        budget=int(rng.choice([64, 512, 4096])) if chunked else 4096, chunked=chunked,
                        block_size=int(rng.choice([8, 16, 32])),
                        kv_blocks=int(rng.integers(30, 400)) if rng.random() < 0.6 else None,
                        limit_w=float(rng.choice([300.0, 180.0])))

    return disaggregated([col() for _ in range(n_p)], [col() for _ in range(n_d)], i, int(rng.integers(0, 2)),
                         float(rng.uniform(0.5, 30)), int(rng.integers(1, 60)),
                         (EXP, float(rng.uniform(10, 600)), 0.0, 1, 3000),
                         (PARETO, float(rng.uniform(5, 150)), 2.5, 1, 2000),
                         kv_link_gb_s=float(rng.uniform(20, 400)), kv_alpha_s=float(rng.uniform(0, 1e-4)))


def test_kernel_matches_reference_on_random_disaggregated_systems():
    # Seeded random prefill-decode systems: 1-3 prefill and 1-3 decode instances of different
    # sizes, caches, block sizes and power limits, both schedulers and engine forms, bursts and
    # Poisson arrivals; hand-offs, KV receives and preemption on decode instances included.
    rng = np.random.default_rng(17)
    for i in range(24):
        inst, arr, p, o, owner = _random_disaggregated_case(rng, i)
        slo = np.array([rng.uniform(0, 1), rng.uniform(0, 0.05)])
        _assert_same(simulate_reference(inst, arr, p, o, owner, slo), simulate(inst, arr, p, o, owner, slo))


@pytest.mark.parametrize("chunked", [0, 1])
@pytest.mark.parametrize("n_p, n_d", [(1, 2), (2, 1), (1, 1)])
def test_kernel_matches_reference_for_disaggregation_under_pressure(chunked, n_p, n_d):
    # a burst onto decode instances with small caches: transferred requests queue, decodes
    # preempt and recompute on the decode instance; long decodes run the kernel's replay path
    def col(kv_blocks=None):
        return instance(overlap=1.0, max_num_seqs=32, budget=128 if chunked else 4096, chunked=chunked,
                        kv_blocks=kv_blocks)

    for arrival, qps in ((1, 0.0), (0, 0.3)):
        sysm = disaggregated([col() for _ in range(n_p)], [col(60 + 20 * n_p) for _ in range(n_d)], 5, arrival, qps,
                             40, (EXP, 50.0, 0.0, 1, 200), (EXP, 250.0, 0.0, 1, 700))
        ref = simulate_reference(*sysm, NO_SLO)
        if arrival == 1:
            assert ref[0][OUT["preemptions"]] > 10
        assert ref[0][OUT["served"]] == 40
        _assert_same(ref, simulate(*sysm, NO_SLO))


def test_many_systems_in_parallel_equal_one_by_one():
    rng = np.random.default_rng(3)
    systems = [_random_case(rng, i) for i in range(6)] + [_random_disaggregated_case(rng, i) for i in range(3)]
    many = simulate_many(systems, np.zeros((2, len(systems))))
    for j, s in enumerate(systems):
        np.testing.assert_array_equal(many[:, j], simulate(*s, NO_SLO)[0])


# --- determinism -----------------------------------------------------------------------------------

def test_same_seed_same_results_bit_for_bit():
    cols = [instance(chunked=1, budget=512)]
    a = system(cols, 11, 0, 3.0, 300, (PARETO, 400.0, 2.5, 1, 4000), (EXP, 200.0, 0.0, 1, 2000))
    b = system(cols, 11, 0, 3.0, 300, (PARETO, 400.0, 2.5, 1, 4000), (EXP, 200.0, 0.0, 1, 2000))
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    ra, pa = simulate(*a, NO_SLO)
    rb, pb = simulate(*b, NO_SLO)
    assert ra.tobytes() == rb.tobytes() and pa.tobytes() == pb.tobytes()
    c = system(cols, 12, 0, 3.0, 300, (PARETO, 400.0, 2.5, 1, 4000), (EXP, 200.0, 0.0, 1, 2000))
    assert not np.array_equal(a[1], c[1])


def test_streams_are_common_random_numbers_across_rates():
    a1, p1, o1 = draw_requests(4, 0, qps=1.0, requests=100, prompt=(EXP, 100.0, 0, 1, 0), output=(EXP, 50.0, 0, 1, 0))
    a2, p2, o2 = draw_requests(4, 0, qps=4.0, requests=100, prompt=(EXP, 100.0, 0, 1, 0), output=(EXP, 50.0, 0, 1, 0))
    assert np.array_equal(p1, p2) and np.array_equal(o1, o2)
    np.testing.assert_allclose(a2 * 4.0, a1, rtol=1e-12)
    assert a1[0] == 0.0 and np.all(np.diff(a1) > 0)
    # a second model draws its own stream
    b1, q1, _ = draw_requests(4, 0, qps=1.0, requests=100, prompt=(EXP, 100.0, 0, 1, 0),
                              output=(EXP, 50.0, 0, 1, 0), model=1)
    assert not np.array_equal(p1, q1)


@pytest.mark.parametrize("dist, shape, tol", [(EXP, 0.0, 0.02), (LOGN, 1.0, 0.03), (PARETO, 2.5, 0.05)])
def test_length_distributions_have_the_stated_mean(dist, shape, tol):
    # 200,000 draws: the standard error of the mean is 0.2 % (exponential), 0.3 % (lognormal,
    # sigma 1) and larger for the Pareto's heavy tail (a = 2.5 has infinite variance... of the
    # variance estimate; 5 % covers its slow convergence at this n).
    x = draw_tokens(streams(0)[1], 200_000, dist, 512.0, shape)
    assert x.min() >= 1
    assert abs(x.mean() / 512.0 - 1) < tol


def test_poisson_arrivals_have_the_stated_rate():
    t = draw_requests(2, 0, qps=5.0, duration_s=2000.0, prompt=(FIXED, 1, 0, 1, 0), output=(FIXED, 1, 0, 1, 0))[0]
    assert t.max() < 2000.0
    # 10,000 expected arrivals: a Poisson count's standard deviation is 1 %
    assert abs(len(t) / 10_000 - 1) < 0.04
    gaps = np.diff(t)
    assert abs(gaps.std() / gaps.mean() - 1) < 0.03  # exponential gaps: coefficient of variation 1


# --- queueing sanity --------------------------------------------------------------------------------

def test_at_low_load_ttft_is_the_prefill_step():
    col = instance()
    inst, arr, p, o, owner = system([col], 1, 0, 0.01, 30, (FIXED, 512, 0, 1, 0), (FIXED, 64, 0, 1, 0))
    out, per = simulate(inst, arr, p, o, owner, NO_SLO)
    alone = step_cost(col, [(512, 0, True)], [])
    prefill_s = alone["cpu_phase_s"] + alone["gpu_phase_s"]
    # 100 s between requests, 64 tokens take under a second: every request runs alone
    np.testing.assert_allclose(per[R["ttft_s"]], prefill_s, rtol=1e-9)  # times of ~3000 s differenced
    assert out[OUT["max_batch"]] == 1


def test_littles_law():
    # L = lambda W: the time-average number of requests in the server, counted by the step loop
    # (running and queued requests at each step's formation, times the step's duration), against
    # the throughput times the mean latency from the request timestamps. Requests arriving during
    # a step are counted from the next one, about half a step (~10 ms) of a ~2 s latency: 1 %.
    col = instance(overlap=1.0, max_num_seqs=16)
    inst, arr, p, o, owner = system([col], 2, 0, 2.0, 3000, (EXP, 200.0, 0, 1, 2000), (EXP, 200.0, 0, 1, 1500))
    out, per = simulate(inst, arr, p, o, owner, NO_SLO)
    assert out[OUT["rejected"]] == 0
    lam = out[OUT["served"]] / out[OUT["duration_s"]]
    assert abs(out[OUT["concurrency"]] / (lam * per[R["latency_s"]].mean()) - 1) < 0.01


def test_saturation_throughput_plateaus_and_queues_grow():
    col = instance(max_num_seqs=64)
    res = {}
    for qps in (0.5, 40.0, 80.0):
        inst, arr, p, o, owner = system([col], 3, 0, qps, 1500, (EXP, 200.0, 0, 1, 2000), (EXP, 200.0, 0, 1, 1500))
        out, _ = simulate(inst, arr, p, o, owner, NO_SLO)
        res[qps] = out
    thr = {q: r[OUT["served"]] / r[OUT["duration_s"]] for q, r in res.items()}
    # below capacity the server keeps up with the arrivals (3000 s of Poisson arrivals: the
    # realised rate is within 5 % of the nominal one)
    assert abs(thr[0.5] / 0.5 - 1) < 0.05
    # far above capacity throughput is the service rate, whatever the offered load
    assert thr[40.0] < 40.0 * 0.5
    assert abs(thr[80.0] / thr[40.0] - 1) < 0.05
    # and the queue, hence the time to first token, grows with the offered load
    assert res[80.0][OUT["ttft_p50_s"]] > res[40.0][OUT["ttft_p50_s"]] > 10 * res[0.5][OUT["ttft_p50_s"]]
    assert res[80.0][OUT["max_batch"]] == 64


def test_idle_power_is_paid_between_requests():
    col = instance()[:, None]
    n = 50
    lengths = np.full(n, 100), np.full(n, 100), np.zeros(n, int)
    # one request every 100 s or every 10 s: each runs alone (about 1.4 s) either way
    lo = simulate(col, np.arange(n) * 100.0, *lengths, NO_SLO)[0]
    hi = simulate(col, np.arange(n) * 10.0, *lengths, NO_SLO)[0]
    busy_lo = lo[OUT["gpu_energy_j"]] - lo[OUT["gpu_idle_energy_j"]]
    busy_hi = hi[OUT["gpu_energy_j"]] - hi[OUT["gpu_idle_energy_j"]]
    np.testing.assert_allclose(busy_lo, busy_hi, rtol=1e-9)   # the same work
    np.testing.assert_allclose(lo[OUT["gpu_idle_energy_j"]], 62.9 * lo[OUT["idle_s"]], rtol=1e-9)
    np.testing.assert_allclose(lo[OUT["idle_s"]] - hi[OUT["idle_s"]], (n - 1) * 90.0, rtol=1e-9)
    assert lo[OUT["gpu_energy_j"]] > 5 * hi[OUT["gpu_energy_j"]] / 2


def test_per_request_energy_adds_up_to_the_total():
    col = instance(chunked=1, budget=256, kv_blocks=300)
    out, per = simulate(*system([col], 6, 0, 6.0, 200, (EXP, 300.0, 0, 1, 2000), (EXP, 150.0, 0, 1, 1500)), NO_SLO)
    assert out[OUT["preemptions"]] > 0
    np.testing.assert_allclose(np.nansum(per[R["gpu_energy_j"]]), out[OUT["gpu_energy_j"]], rtol=1e-9)


# --- the offline batch is a special case -------------------------------------------------------------

@pytest.mark.parametrize("tp, overlap", [(1, 0.0), (2, 0.0), (1, 1.0)])
def test_a_burst_of_equal_requests_is_the_offline_batch(tp, overlap):
    # B equal requests at t = 0, all admitted in one prefill step: vLLM's prefill emits the first
    # token, so the batch runs the offline model's prefill and s_out - 1 of its decode steps.
    B, s_in, s_out = 16, 128, 64
    col = instance(tp=tp, overlap=overlap, max_num_seqs=B, budget=B * s_in)
    out, per = simulate(*system([col], 0, 1, 0.0, B, (FIXED, s_in, 0, 1, 0), (FIXED, s_out, 0, 1, 0)), NO_SLO)
    off = offline_task_reference(pack_params(**{**dict(zip(*_perf_names(col))), "batch": B, "prompt_tokens": s_in,
                                                "output_tokens": s_out - 1, "max_batched_tokens": 0}))
    np.testing.assert_allclose(per[R["latency_s"]], off[O["latency_s"], 0], rtol=1e-9)
    np.testing.assert_allclose(per[R["ttft_s"]], off[O["ttft_s"], 0], rtol=1e-9)
    # energy: the activity power is linear in FLOPs and bytes below the cap, so summing steps
    # equals the offline phase averages
    from carbonsim.models.power.gpu import gpu_power_w

    def phase_j(name):
        pw = gpu_power_w(off[O[f"{name}_mfu"], 0], off[O[f"{name}_mbu"], 0], 62.9, 300.0, 0.848, 0.525, 0.7, 0.75)
        return pw * off[O[f"{name}_gpu_s"], 0]

    offline_j = tp * (phase_j("prefill") + phase_j("decode") + 62.9 * (off[O["comm_s"], 0] + off[O["gpu_wait_s"], 0]))
    np.testing.assert_allclose(out[OUT["gpu_energy_j"]], offline_j, rtol=1e-9)


def _perf_names(col):
    from carbonsim.models.perf.layout import N_PARAMS, PARAM_NAMES

    return PARAM_NAMES, col[:N_PARAMS]


# --- the KV cache ------------------------------------------------------------------------------------

def test_kv_cache_blocks_from_memory():
    p = llama7b_a100()
    blocks, free_gb = kv_cache_blocks(p, 4096, 16)
    # 0.9 x 80 GB - 13.5 GB of weights - 2 GB reserve - 4096 tokens of activations
    assert 54.0 < free_gb < 56.5
    # Llama-2-7B holds 0.5 MB of KV per token (32 layers x 2 x 4096 x 2 bytes)
    assert blocks == np.floor(free_gb * 1e9 / (16 * 524288))
    assert kv_cache_blocks(p, 4096, 16, 0.1)[0] < 0  # 7.2 GB cannot hold 13.5 GB of weights


def test_memory_pressure_preempts_and_recomputes():
    roomy = instance(max_num_seqs=64)
    tight = instance(max_num_seqs=64, kv_blocks=400)
    args = (8, 1, 0.0, 120, (EXP, 200.0, 0, 1, 1500), (EXP, 300.0, 0, 1, 2000))
    r, _ = simulate(*system([roomy], *args), NO_SLO)
    t, _ = simulate(*system([tight], *args), NO_SLO)
    assert r[OUT["preemptions"]] == 0 and r[OUT["prefill_tokens"]] == r[OUT["prompt_tokens"]]
    assert t[OUT["preemptions"]] > 0 and t[OUT["prefill_tokens"]] > t[OUT["prompt_tokens"]]
    assert t[OUT["served"]] == r[OUT["served"]] == 120
    assert t[OUT["duration_s"]] > r[OUT["duration_s"]] and t[OUT["gpu_energy_j"]] > r[OUT["gpu_energy_j"]]


def test_requests_that_can_never_fit_are_rejected():
    col = instance(kv_blocks=20, max_model_len=600)
    arr = np.zeros(3)
    out, per = simulate(col[:, None], arr, np.array([100, 700, 200]), np.array([100, 10, 300]), np.zeros(3, int),
                        np.array([0.5, 0.0]))
    # 700 > max_model_len; 200 + 300 - 1 tokens need 32 blocks of 16 > 20
    assert out[OUT["served"]] == 1 and out[OUT["rejected"]] == 2
    assert per[R["served"]].tolist() == [1.0, 0.0, 0.0]
    assert out[OUT["slo_attainment"]] == pytest.approx(1 / 3)


# --- two models on shared GPUs ----------------------------------------------------------------------

def test_an_idle_neighbour_changes_nothing():
    a = instance(tp=2, group=0)
    busy = system([a], 9, 0, 2.0, 200, (EXP, 200.0, 0, 1, 2000), (EXP, 200.0, 0, 1, 1500))
    solo, _ = simulate(*busy, NO_SLO)
    inst = np.stack([a, a], axis=1)
    shared, _ = simulate(inst, busy[1], busy[2], busy[3], busy[4], NO_SLO)  # instance 1 gets no request
    np.testing.assert_allclose(shared, solo, rtol=1e-12)


def test_sharing_gpus_serialises_the_models_steps():
    args = (10, 0, 3.0, 300, (EXP, 200.0, 0, 1, 2000), (EXP, 200.0, 0, 1, 1500))
    apart = simulate(*system([instance(tp=2, group=0), instance(tp=2, group=1)], *args), NO_SLO)[0]
    shared = simulate(*system([instance(tp=2, group=0, share=0.5), instance(tp=2, group=0, share=0.5)], *args),
                      NO_SLO)[0]
    assert apart[OUT["gpus"]] == 4 and shared[OUT["gpus"]] == 2
    assert shared[OUT["tpot_mean_s"]] > apart[OUT["tpot_mean_s"]]
    # two GPUs doing the work four did: less idle floor, more busy time per GPU
    assert shared[OUT["gpu_energy_j"]] < apart[OUT["gpu_energy_j"]]
    assert shared[OUT["gpu_kernel_s"]] / 2 > apart[OUT["gpu_kernel_s"]] / 4


# --- prefill-decode disaggregation -------------------------------------------------------------------

def test_a_lone_request_is_prefilled_then_decoded_elsewhere_after_its_kv_moves():
    # one request every 100 s: each runs alone. Its first token comes from the prefill
    # instance's step; the decode instance runs the same decode steps a colocated engine would,
    # the first after receiving the prompt's KV cache (synchronous engine: CPU phases unchanged)
    col = instance()
    n, s_in, s_out = 5, 512, 64
    arr, prompt, output = np.arange(n) * 100.0, np.full(n, s_in), np.full(n, s_out)
    single, per_s = simulate(col[:, None], arr, prompt, output, np.zeros(n, int), NO_SLO)
    inst = disaggregated([col], [col], 0, 1, 0.0, 1, (FIXED, 1, 0, 1, 0), (FIXED, 1, 0, 1, 0))[0]
    pd_out, per_pd = simulate(inst, arr, prompt, output, np.zeros(n, int), NO_SLO)
    np.testing.assert_allclose(per_pd[R["ttft_s"]], per_s[R["ttft_s"]], rtol=1e-12)
    kv_s = kv_transfer_s(inst[:, 1], s_in)
    # Llama-2-7B's 0.5 MB of KV per token, 512 tokens over 270 GB/s: about 1 ms
    assert 0.5e-3 < kv_s < 2e-3
    np.testing.assert_allclose(per_pd[R["latency_s"]] - per_s[R["latency_s"]], kv_s, rtol=1e-6)
    # the decode instance produced all but the first token of every request
    assert pd_out[OUT["steady_decode_output_tokens"]] == 0   # nothing ever waited
    assert pd_out[OUT["gpus"]] == 2 and pd_out[OUT["served"]] == n
    # both GPUs draw loaded idle when their instance has nothing to do
    assert 0.4 < pd_out[OUT["decode_gpu_energy_j"]] / pd_out[OUT["gpu_energy_j"]] < 0.6


def test_disaggregated_energy_adds_up_and_decode_share_is_reported():
    col = instance(chunked=1, budget=512)
    sysm = disaggregated([col], [col, col], 3, 1, 0.0, 300, (PARETO, 400.0, 2.5, 1, 3000), (EXP, 300.0, 0, 1, 1500))
    out, per = simulate(*sysm, NO_SLO)
    assert out[OUT["served"]] == 300
    np.testing.assert_allclose(np.nansum(per[R["gpu_energy_j"]]), out[OUT["gpu_energy_j"]], rtol=1e-9)
    # two decode GPUs of three; decodes dominate: more than two thirds of the energy
    assert 2 / 3 < out[OUT["decode_gpu_energy_j"]] / out[OUT["gpu_energy_j"]] < 1
    # in the steady state the prefill instance produced one token per request it prefilled,
    # the decode instances the rest
    first = out[OUT["steady_output_tokens"]] - out[OUT["steady_decode_output_tokens"]]
    assert 0 < first <= 300 and out[OUT["steady_decode_output_tokens"]] > 10 * first
    assert 0 < out[OUT["steady_decode_gpu_energy_j"]] < out[OUT["steady_gpu_energy_j"]]
    # a colocated engine reports no decode-only energy
    single = simulate(*system([col], 3, 1, 0.0, 300, (PARETO, 400.0, 2.5, 1, 3000), (EXP, 300.0, 0, 1, 1500)),
                      NO_SLO)[0]
    assert single[OUT["decode_gpu_energy_j"]] == single[OUT["steady_decode_gpu_energy_j"]] == 0


def test_requests_no_decode_instance_can_hold_are_rejected_at_the_prefill_instance():
    roomy, small = instance(), instance(kv_blocks=20)
    inst = disaggregated([roomy], [small], 0, 1, 0.0, 1, (FIXED, 1, 0, 1, 0), (FIXED, 1, 0, 1, 0))[0]
    out, per = simulate(inst, np.zeros(3), np.array([100, 200, 100]), np.array([100, 300, 1]), np.zeros(3, int),
                        NO_SLO)
    # 200 + 300 - 1 tokens need 32 blocks of 16 > 20 on the decode instance
    assert per[R["served"]].tolist() == [1.0, 0.0, 1.0] and out[OUT["rejected"]] == 1


def test_a_slow_prefill_stage_starves_the_decodes():
    # long prompts, short outputs: one prefill instance cannot keep three decode instances busy,
    # two can keep two busier: decode energy per output token is lower with 2P2D than with 1P3D
    col = instance(chunked=1, budget=2048)
    args = (4, 1, 0.0, 400, (PARETO, 2000.0, 2.5, 1, 3000), (EXP, 200.0, 0, 1, 1000))
    per_token = {}
    for n_p, n_d in ((1, 3), (2, 2)):
        out = simulate(*disaggregated([col] * n_p, [col] * n_d, *args), NO_SLO)[0]
        per_token[n_p] = out[OUT["steady_decode_gpu_energy_j"]] / out[OUT["steady_decode_output_tokens"]]
    assert per_token[2] < per_token[1]


@pytest.mark.parametrize("roles, groups, owner, words", [
    ([1, 1], [0, 1], [0, 1], "at least one of each"),
    ([1, 0], [0, 1], [0, 0], "prefill and decode instances only"),
    ([1, 2], [0, 0], [0, 0], "GPUs of its own"),
    ([1, 2], [0, 1], [0, 1], "not from arrivals"),
])
def test_bad_disaggregated_systems_are_refused(roles, groups, owner, words):
    cols = [instance(group=g) for g in groups]
    for c, r in zip(cols, roles):
        c[I["role"]] = r
        c[I["kv_link_gb_s"]] = 270.0
    args = (np.stack(cols, axis=1), np.zeros(2), np.full(2, 10), np.full(2, 10), np.array(owner), NO_SLO)
    for fn in (simulate_reference, simulate):
        with pytest.raises(ValueError, match=words):
            fn(*args)


def test_steady_energy_per_generation_adds_a_prefill_and_the_decodes():
    from carbonsim.models.serving.steady import steady_energy_per_generation

    # colocated: 1,000 J over 100 tokens, 50-token outputs: 500 J per generation
    e, share = steady_energy_per_generation(1000.0, 100, 0.0, 0, 50.0, False)
    assert e == pytest.approx(500.0) and np.isnan(share)
    # disaggregated: 10 prefills for 80 J (8 J each), 2,000 decode tokens for 600 J (0.3 J each);
    # 51-token outputs: 8 + 0.3 x 50 = 23 J, 15 of them decode
    e, share = steady_energy_per_generation(680.0, 2010, 600.0, 2000, 51.0, True)
    assert e == pytest.approx(23.0) and share == pytest.approx(15 / 23)
    # a stage without a steady step has no estimate
    assert np.isnan(steady_energy_per_generation(80.0, 10, 0.0, 0, 51.0, True)[0])


def test_the_simulator_reports_percentiles_within_the_bound_of_its_own_requests():
    from carbonsim.models.serving.quantiles import ALPHA

    out, per = simulate(*system([instance(chunked=1, budget=512, max_num_seqs=64)], 3, 0, 8.0, 400,
                                (LOGN, 300.0, 1.0, 1, 3000), (EXP, 150.0, 0, 2, 1000)), NO_SLO)
    served = per[R["served"]] > 0.5
    assert served.sum() == 400
    for name in ("ttft", "tpot", "latency"):
        values = per[R[f"{name}_s"], served]
        assert out[OUT[f"{name}_mean_s"]] == pytest.approx(values.mean(), rel=1e-12)
        for q in (50, 90, 99):
            exact = np.percentile(values, q)
            assert abs(out[OUT[f"{name}_p{q}_s"]] - exact) <= ALPHA * exact * (1 + 1e-9), (name, q)


# --- drawn request streams and bounded memory --------------------------------------------------------

def _stream_cases():
    from carbonsim.models.serving.workload import RequestStream

    a, b = instance(), instance(chunked=1, budget=512, max_num_seqs=32, kv_blocks=300)
    length = dict(prompt=(LOGN, 200.0, 1.0, 1, 3000), output=(PARETO, 60.0, 2.5, 1, 1000))
    streams = [RequestStream(3, 0, qps=4.0, requests=120, **length),
               # a window whose arrivals need a second block of gaps (seed 2529: the first block of
               # 256 gaps ends before 10 s; the block bookkeeping of poisson_arrivals_s)
               RequestStream(2529, 0, qps=20.0, duration_s=10.0, prompt=(EXP, 30.0, 0, 1, 3000),
                             output=(FIXED, 4, 0, 1, 0)),
               RequestStream(5, 1, requests=60, prompt=(FIXED, 100, 0, 1, 0), output=(EXP, 40.0, 0, 1, 1000))]
    cases = [(col[:, None], [(s, 0, 1)]) for s in streams for col in (a, b)]
    two = [RequestStream(7, 0, qps=3.0, requests=60, model=m, **length) for m in (0, 1)]
    cases.append((np.stack([instance(tp=2, group=0, share=0.5), instance(tp=2, group=0, share=0.5)], axis=1),
                  [(two[0], 0, 1), (two[1], 1, 1)]))
    inst = disaggregated([instance(), instance()], [instance(), instance()], 0, 0, 1.0, 1, (FIXED, 1, 0, 1, 0),
                         (FIXED, 1, 0, 1, 0))[0]
    cases.append((inst, [(RequestStream(9, 0, qps=6.0, requests=120, **length), 0, 2)]))
    return cases


def test_drawn_streams_simulate_the_same_requests_as_drawn_arrays():
    # The kernel draws seeded requests while it runs (RequestStream) with the same generators,
    # order and arithmetic as workload.draw_requests: the same results, bit for bit, as the same
    # requests drawn first as arrays (Poisson by count and by window, a burst, two models on
    # shared GPUs, a disaggregated system's round robin).
    from carbonsim.models.serving import system_arrays

    cases = _stream_cases()
    drawn = simulate_many(cases, np.zeros((2, len(cases))))
    given = simulate_many([system_arrays(c) for c in cases], np.zeros((2, len(cases))))
    np.testing.assert_array_equal(drawn, given)
    assert drawn[OUT["served"], 2] == len(system_arrays(cases[2])[1]) > 256   # the window's arrivals


def test_the_request_slots_grow_with_the_requests_in_the_server():
    # A burst larger than the first slot pool (1,024): every request waits at once, so the pool
    # doubles while requests arrive; results as the reference's.
    col = instance(max_num_seqs=64, budget=2048)
    inst, arr, p, o, owner = system([col], 0, 1, 0.0, 1500, (FIXED, 4, 0, 1, 0), (FIXED, 2, 0, 1, 0))
    ref = simulate_reference(inst, arr, p, o, owner, NO_SLO)
    assert ref[0][OUT["served"]] == 1500
    _assert_same(ref, simulate(inst, arr, p, o, owner, NO_SLO))


_PEAK_RSS = """
import resource
import numpy as np
from carbonsim.models.serving import simulate_many
from carbonsim.models.serving.workload import RequestStream
from test_serving_simulator import instance   # run in this folder
col = instance(max_num_seqs=128)
def run(n):
    s = RequestStream(1, 0, qps=30.0, requests=n, prompt=(3, 200.0, 1.0, 1, 2000), output=(1, 20.0, 0, 1, 200))
    return simulate_many([(col[:, None], [(s, 0, 1)])], np.zeros((2, 1)))
run(20_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = run({n})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, out[0, 0])
"""


@pytest.mark.skipif(__import__("os").environ.get("NUMBA_DISABLE_JIT") == "1", reason="a million requests, compiled")
def test_a_point_s_memory_does_not_grow_with_its_requests():
    # Peak memory of a process after 2x10^4 drawn requests and after 10^6 (a few seconds): with
    # per-request arrays the second would add about 230 MB (230 B per request); with request
    # slots and histograms it adds nothing measurable (allowed: 20 MB).
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    code = _PEAK_RSS.format(n=1_000_000)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent.parent), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=str(here))
    assert res.returncode == 0, res.stderr
    before_kb, after_kb, served = res.stdout.split()
    assert float(served) == 1_000_000
    assert int(after_kb) - int(before_kb) < 20_000, (before_kb, after_kb)


def test_the_kernel_names_its_step_cost_columns_as_the_reference_s_keys():
    # one vocabulary for a step's cost: the reference's step_cost dict and the kernel's SC_* columns
    from carbonsim.models.serving import _kernels as K
    from carbonsim.models.serving.layout import STEP_COST_NAMES

    cost = step_cost(instance(), [(100, 0, True)], [50, 60])
    assert set(STEP_COST_NAMES) <= set(cost)
    columns = [getattr(K, f"SC_{name.upper().replace('GPU_PHASE', 'PHASE')}") for name in STEP_COST_NAMES]
    assert columns == list(range(K.N_CST, K.N_CST + len(STEP_COST_NAMES)))
