"""Online serving through the engine (layer 2): scenario fields, the chain's accounting, sweeps,
traces, determinism and the errors every entry point gives."""

import numpy as np
import pandas as pd
import pytest

import carbonsim
from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.sweep.points import PointBuilder
from carbonsim.engine.sweep.scenario import scenario_from_dict
from carbonsim.engine.sweep.space import Space
from carbonsim.errors import InputError
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s


def online(**workload):
    wl = {"mode": "online", "arrival": "poisson", "qps": 2.0, "requests": 150, "seed": 3,
          "prompt_tokens": {"dist": "lognormal", "mean": 200, "shape": 1.0, "max": 2000},
          "output_tokens": {"dist": "exponential", "mean": 150, "max": 1000}}
    wl.update(workload)
    return {"name": "t", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b", "coefficients": "hotcarbon24",
            "workload": wl, "datacenter": {"pue": 1.2, "grid": "coal"}}


def run(doc, **kw):
    return carbonsim.sweep(doc, **kw)


# --- results and their accounting ---------------------------------------------------------------------

def test_an_online_point_reports_the_offline_column_names():
    r = run(online())
    row = r.points.iloc[0]
    for name in ("latency_s", "ttft_s", "tpot_s", "energy_j", "gpu_energy_j", "host_energy_j", "operational_g",
                 "embodied_g", "total_g", "edp_j_s", "cdp_g_s", "cep_g_j", "energy_j_per_token",
                 "ttft_p99_s", "tpot_p90_s", "slo_attainment", "gpu_idle_energy_j", "host_idle_energy_j"):
        assert np.isfinite(row[name]), name
    assert row["energy_j"] == pytest.approx(row["gpu_energy_j"] + row["host_energy_j"], rel=1e-12)
    assert row["gpu_energy_j"] == pytest.approx(row["gpu_busy_energy_j"] + row["gpu_idle_energy_j"], rel=1e-12)
    assert row["host_energy_j"] == pytest.approx(row["host_busy_energy_j"] + row["host_idle_energy_j"], rel=1e-12)
    assert row["total_g"] == pytest.approx(row["operational_g"] + row["embodied_g"], rel=1e-12)
    # operational = energy x PUE x intensity (coal 820 g/kWh)
    assert row["operational_g"] == pytest.approx(row["energy_j"] / 3.6e6 * 1.2 * 820, rel=1e-12)
    assert row["served_requests"] == 150 and row["feasible"]
    assert row["ttft_p50_s"] <= row["ttft_p90_s"] <= row["ttft_p99_s"]


def test_embodied_carbon_is_the_servers_rate_over_the_run():
    r = run(online()).points.iloc[0]
    kg = carbonsim.embodied("azure-nc96ads-a100-v4", coefficients="hotcarbon24").total_kg
    rate_g_s = embodied_rate_mg_per_s(kg, 4.0) / 1e3  # host and GPUs both 4 years
    assert r["embodied_g"] == pytest.approx(rate_g_s * r["duration_s"] / r["served_requests"], rel=1e-9)
    used = run(online(embodied_attribution="used")).points.iloc[0]
    assert used["embodied_g"] < r["embodied_g"] and used["gpu_energy_j"] == r["gpu_energy_j"]


def test_host_power_comes_from_the_same_curve_as_the_footprint():
    # While the server holds no request its host draws its curve at 0 % CPU: the same watts
    # `carbonsim footprint` gives for that server at zero load.
    r = run(online(qps=0.02, requests=20)).points.iloc[0]
    fp = carbonsim.footprint("azure-nc96ads-a100-v4", grid="coal", cpu_util=0.0, gpu_util=0.0)
    assert r["idle_s"] > 0.5 * r["duration_s"]
    assert r["host_idle_energy_j"] * r["served_requests"] == pytest.approx(fp.host_power_w * r["idle_s"], rel=1e-9)
    assert r["host_busy_energy_j"] > 0


def test_lower_rates_pay_more_idle_energy_per_request():
    df = run({**online(requests=200), "sweep": {"product": {"workload.qps": [0.1, 0.5, 2.0]}}}).points
    df = df.set_index("workload.qps")
    assert df["gpu_idle_energy_j"].is_monotonic_decreasing
    assert df["energy_j"].is_monotonic_decreasing
    assert df.loc[0.1, "gpu_idle_energy_j"] > df.loc[0.1, "gpu_busy_energy_j"]


def test_online_batching_saves_less_than_an_offline_batch():
    # The point: with mixed lengths a server rarely runs its full batch (short requests
    # leave, prefill steps interrupt decoding), so raising max_num_seqs lowers the energy per
    # request less than raising an offline batch of equal requests does.
    base = {"name": "x", "server": "azure-nc96ads-a100-v4", "model": "llama-2-7b", "datacenter": {"grid": "coal"}}
    caps = [8, 128]
    off = run({**base, "workload": {"mode": "offline", "prompt_tokens": 128, "output_tokens": 256, "batch_size": 8},
               "sweep": {"product": {"workload.batch_size": caps}}}).points["gpu_energy_j"].to_numpy()
    on = run({**base, "workload": {"mode": "online", "arrival": "burst", "requests": 1024, "prompt_tokens": 128,
                                   "output_tokens": {"dist": "exponential", "mean": 256}, "max_num_seqs": 8},
              "sweep": {"product": {"workload.max_num_seqs": caps}}}).points
    saving_off = 1 - off[1] / off[0]
    saving_on = 1 - on["gpu_energy_j"].iloc[1] / on["gpu_energy_j"].iloc[0]
    assert saving_on < saving_off - 0.02
    assert on["mean_batch"].iloc[1] < 0.75 * caps[1]


def test_slo_attainment_falls_as_load_rises():
    df = run({**online(slo={"ttft_s": 0.2, "tpot_s": 0.03}, requests=300, max_num_seqs=32),
              "sweep": {"product": {"workload.qps": [1.0, 8.0, 30.0]}}}).points
    att = df["slo_attainment"].to_numpy()
    assert att[0] > 0.9 and att[-1] < 0.5 and np.all(np.diff(att) <= 0)


def test_two_models_share_the_host_and_a_placement_is_a_sweep_axis():
    doc = {**online(placement="horizontal", requests=80), "server": "azure-nc48ads-a100-v4", "model": "mistral-7b",
           "sweep": {"product": {"workload.placement": ["horizontal", "vertical"]}}}
    df = run(doc).points.set_index("workload.placement")
    assert (df["served_requests"] == 160).all() and (df["gpus_used"] == 2).all()
    assert df.loc["horizontal", "tpot_s"] > df.loc["vertical", "tpot_s"]
    # each model holds half of each GPU's memory when they share the GPUs
    assert df.loc["horizontal", "kv_cache_tokens"] < df.loc["vertical", "kv_cache_tokens"]
    # a placement needs two GPUs (x tensor_parallel)
    one = run({**doc, "server": "azure-a100-x1", "sweep": {"product": {"workload.placement": ["single", "vertical"]}},
               "workload": {**doc["workload"], "placement": "single"}}).points.set_index("workload.placement")
    assert not one.loc["vertical", "feasible"]
    assert "exceeds the GPUs" in one.loc["vertical", "infeasible_reason"]


# --- determinism and the two implementations ------------------------------------------------------------

def test_same_seed_same_table_bit_for_bit():
    doc = {**online(chunked_prefill=True, max_num_batched_tokens=512),
           "sweep": {"product": {"workload.qps": [1.0, 4.0], "workload.max_num_seqs": [16, 64]}}}
    a, b = run(doc).points, run(doc).points
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = run({**doc, "workload": {**doc["workload"], "seed": 4}}).points
    assert not np.array_equal(a["latency_s"].to_numpy(), c["latency_s"].to_numpy())


def test_compiled_and_reference_chains_agree(db):
    sc = scenario_from_dict({**online(requests=40, chunked_prefill=True, max_num_batched_tokens=256, max_num_seqs=8,
                                      placement="vertical", slo={"ttft_s": 0.5}),
                             "server": "azure-nc48ads-a100-v4",
                             "sweep": {"product": {"workload.engine": ["synchronous", "overlapped"]}}}, "t.yaml")
    builder = PointBuilder(db, sc.file, CarbonChain.for_online(db, compiled=False))
    space = Space(sc.doc, sc.product, sc.zipped, builder)
    mat = space.chunk(0, space.size)
    ref = CarbonChain.for_online(db, compiled=False)
    ker = CarbonChain.for_online(db, compiled=True)
    ref.traces = ker.traces = builder.traces.entries
    a, b = ref.evaluate(mat), ker.evaluate(mat)
    for k, v in a.items():
        if v.dtype.kind == "f":
            np.testing.assert_allclose(b[k], v, rtol=1e-9, err_msg=k)
        else:
            assert np.array_equal(b[k], v), k


def test_simulate_point_gives_every_request(db):
    sc = scenario_from_dict(online(requests=30), "t.yaml")
    builder = PointBuilder(db, sc.file, CarbonChain.for_online(db, compiled=False))
    chain = CarbonChain.for_online(db)
    out, per, system = chain.simulate_point(builder.vector(sc.doc))
    assert per.shape[1] == 30 and np.all(per[0] > 0)
    np.testing.assert_allclose(np.nansum(per[4]), out[20], rtol=1e-9)  # per-request GPU energy adds up


# --- traces ------------------------------------------------------------------------------------------

def trace_doc(path, **workload):
    doc = online(arrival="trace", trace=str(path))
    for k in ("qps", "requests", "prompt_tokens", "output_tokens"):
        doc["workload"].pop(k, None)
    doc["workload"].update(workload)
    return doc


def test_a_trace_gives_arrivals_and_lengths(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("# my trace\narrival_s,prompt_tokens,output_tokens,user\n2.0,100,50,a\n0.0,300,20,b\n1.0,10,1,c\n")
    row = run(trace_doc(f)).points.iloc[0]
    assert row["served_requests"] == 3
    assert row["prompt_tokens_per_request"] == pytest.approx(410 / 3)
    assert row["output_tokens_per_request"] == pytest.approx(71 / 3)
    # a limit on the trace
    assert run(trace_doc(f, requests=2)).points.iloc[0]["served_requests"] == 2
    assert run(trace_doc(f, duration_s=1.5)).points.iloc[0]["served_requests"] == 2


def test_two_models_read_their_rows_of_a_trace(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens,model\n0,100,50,mistral-7b\n0.5,100,50,1\n1,100,50,0\n")
    doc = {**trace_doc(f, placement="vertical"), "server": "azure-nc48ads-a100-v4", "model": "mistral-7b"}
    assert run(doc).points.iloc[0]["served_requests"] == 3
    g = tmp_path / "g.csv"
    g.write_text("arrival_s,prompt_tokens,output_tokens\n0,100,50\n")
    with pytest.raises(InputError, match="needs a 'model' column"):
        run({**doc, "workload": {**doc["workload"], "trace": str(g)}})
    h = tmp_path / "h.csv"
    h.write_text("arrival_s,prompt_tokens,output_tokens,model\n0,100,50,llama\n")
    with pytest.raises(InputError, match="line 2: model 'llama'"):
        run({**doc, "workload": {**doc["workload"], "trace": str(h)}})


@pytest.mark.parametrize("text, words", [
    ("arrival_s,prompt_tokens,output_tokens\n", "no data rows"),
    ("", "file is empty"),
    ("arrival_s,prompt_tokens\n0,1\n", "missing column 'output_tokens'"),
    ("arrival_s,prompt_tokens,output_tokens\n0,0,5\n", "below 1"),
    ("arrival_s,prompt_tokens,output_tokens\n-1,10,5\n", "negative"),
    ("arrival_s,prompt_tokens,output_tokens\n0,10.5,5\n", "whole number"),
])
def test_bad_traces(tmp_path, text, words):
    f = tmp_path / "t.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=words) as err:
        run(trace_doc(f))
    assert "t.csv" in str(err.value)


# --- input checks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, words", [
    ({"qps": 0}, "workload.qps", "greater than 0"),
    ({"qps": -2}, "workload.qps", "greater than 0"),
    ({"max_num_seqs": 0}, "workload.max_num_seqs", "below 1"),
    ({"requests": 0}, "workload.requests", "below 1"),
    ({"qps": None}, "workload.qps", "needs a request rate"),
    ({"duration_s": 10}, "workload.requests", "not both"),
    ({"arrival": "burst"}, "workload.qps", "does not apply to arrival: burst"),
    ({"batch_size": 8}, "workload.batch_size", "applies to mode: offline"),
    ({"chunked_prefill": True, "max_num_batched_tokens": 64, "max_num_seqs": 128}, "workload.max_num_batched_tokens",
     "at least max_num_seqs"),
    ({"max_num_batched_tokens": 1024}, "workload.max_num_batched_tokens", "at least max_model_len"),
    ({"chunked_prefill": 1}, "workload.chunked_prefill", "true or false"),
    ({"second_model": "mistral-7b"}, "workload.second_model", "placement"),
    ({"prompt_tokens": {"dist": "pareto", "mean": 100, "shape": 1.0}}, "workload.prompt_tokens.shape", "greater than 1"),
    ({"prompt_tokens": {"dist": "gamma", "mean": 100}}, "workload.prompt_tokens.dist", "expected one of"),
    ({"arrival": "trace"}, "workload.qps", "does not apply to arrival: trace"),
    ({"slo": {"ttft_s": 0}}, "workload.slo.ttft_s", "greater than 0"),
])
def test_bad_online_workloads(change, field, words):
    doc = online(**change)
    doc["workload"] = {k: v for k, v in doc["workload"].items() if v is not None}
    with pytest.raises(InputError, match=words) as err:
        run(doc)
    assert field in str(err.value)


def test_offline_tasks_keep_their_rules():
    doc = online()
    doc["workload"] = {"mode": "offline", "prompt_tokens": {"dist": "exponential", "mean": 100}, "output_tokens": 8}
    with pytest.raises(InputError, match="workload.prompt_tokens: an offline task needs a number"):
        run(doc)
    doc["workload"] = {"mode": "offline", "prompt_tokens": 32, "output_tokens": 8, "qps": 2}
    with pytest.raises(InputError, match="workload.qps: applies to mode: online"):
        run(doc)
    doc["workload"] = {"mode": "offline", "output_tokens": 8}
    with pytest.raises(InputError, match="workload.prompt_tokens: required"):
        run(doc)


def test_mode_is_not_a_sweep_axis():
    with pytest.raises(InputError, match="sweep.product.workload.mode: workload.mode cannot be a sweep axis"):
        run({**online(), "sweep": {"product": {"workload.mode": ["offline", "online"]}}})


def test_a_model_that_does_not_fit_is_an_input_error():
    doc = {**online(), "server": "aws-t4-x1"}
    with pytest.raises(InputError, match="no feasible point.*weights and KV cache do not fit"):
        run(doc)


def test_a_sweep_value_names_its_axis():
    with pytest.raises(InputError, match=r"sweep.product.workload.qps\[1\].*greater than 0"):
        run({**online(), "sweep": {"product": {"workload.qps": [1.0, 0.0]}}})


def test_dask_gives_the_same_online_rows(tmp_path):
    # Traces travel with the chunk plan: the workers read no file.
    pytest.importorskip("dask.distributed", reason="the Dask executor is an extra: pip install '.[dask]'")
    f = tmp_path / "t.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{i * 0.3},{100 + i},{20 + i}\n"
                                                                    for i in range(40)))
    doc = {**trace_doc(f), "sweep": {"product": {"workload.max_num_seqs": [4, 16, 64]}}}
    local = run(doc).points
    dist = run(doc, dask="local").points
    pd.testing.assert_frame_equal(local, dist, check_exact=True)


def test_a_request_table_adds_up_to_the_sweep_row():
    from carbonsim.api import requests

    doc = {**online(placement="vertical", requests=60, slo={"tpot_s": 0.02}), "server": "azure-nc48ads-a100-v4",
           "model": "mistral-7b"}
    table = requests(doc)
    row = run(doc).points.iloc[0]
    assert len(table) == 120 and table["served"].all()
    assert set(table["model"]) == {"mistral-7b"}
    for col in ("energy_j", "gpu_energy_j", "host_energy_j", "operational_g", "embodied_g", "total_g",
                "ttft_s", "tpot_s", "latency_s"):
        assert table[col].mean() == pytest.approx(row[col], rel=1e-9), col
    assert (table["tpot_s"] <= 0.02).mean() == pytest.approx(row["slo_attainment"], rel=1e-12)
    with pytest.raises(InputError, match="online-serving scenario"):
        requests({**doc, "workload": {"mode": "offline", "prompt_tokens": 8, "output_tokens": 8}})


def test_length_distributions_and_the_arrival_window_are_sweep_axes():
    df = run({**online(), "sweep": {"product": {"workload.output_tokens.mean": [50, 200],
                                                "workload.prompt_tokens.dist": ["lognormal", "exponential"]}}}).points
    assert list(df["workload.output_tokens.mean"]) == [50, 50, 200, 200]
    by_mean = df.groupby("workload.output_tokens.mean")["output_tokens_per_request"].mean()
    assert by_mean[200] > 3 * by_mean[50]
    # the same seed: the lognormal and exponential prompts differ, the outputs do not
    assert df["prompt_tokens_per_request"].iloc[0] != df["prompt_tokens_per_request"].iloc[1]
    assert df["output_tokens_per_request"].iloc[0] == df["output_tokens_per_request"].iloc[1]
    doc = online(duration_s=60.0, qps=2.0)
    del doc["workload"]["requests"]
    window = run(doc).points.iloc[0]
    assert 80 < window["served_requests"] < 160   # a Poisson count of mean 120
    with pytest.raises(InputError, match="is not a mapping"):
        run({**online(prompt_tokens=200), "sweep": {"product": {"workload.prompt_tokens.mean": [100]}}})


# --- prefill-decode disaggregation ---------------------------------------------------------------------

def pd_doc(**workload):
    wl = {"placement": "disaggregated", "prefill_instances": 1, "decode_instances": 2, "arrival": "burst",
          "requests": 120, "chunked_prefill": True, "max_num_batched_tokens": 1024, "qps": None}
    wl.update(workload)
    doc = online(**wl)
    doc["workload"] = {k: v for k, v in doc["workload"].items() if v is not None}
    return doc


def test_a_disaggregated_point_runs_prefill_and_decode_engines_on_their_own_gpus():
    df = run({**pd_doc(), "sweep": {"zip": {"workload.prefill_instances": [1, 2, 1],
                                            "workload.decode_instances": [1, 2, 3]}}}).points
    assert df["feasible"].all() and (df["served_requests"] == 120).all()
    assert df["gpus_used"].tolist() == [2, 4, 4]
    # the decode GPUs' share of the run's GPU energy grows with their number
    share = df["decode_gpu_energy_share"].to_numpy()
    assert np.all((share > 0) & (share < 1)) and share[2] > share[0]
    np.testing.assert_allclose(df["decode_gpu_energy_j"], share * df["gpu_energy_j"], rtol=1e-12)
    assert (df["steady_decode_output_tokens"] > 0).all()
    assert (df["steady_decode_gpu_energy_j"] < df["steady_gpu_energy_j"]).all()
    assert (df["workload.prefill_instances"] == [1, 2, 1]).all()
    # a colocated engine has no decode-only GPUs
    one = run(online()).points.iloc[0]
    assert one["decode_gpu_energy_j"] == one["decode_gpu_energy_share"] == 0


def test_a_disaggregated_deployment_larger_than_the_server_is_infeasible():
    # four A100s: 2 + 2 instances of tensor_parallel 1 fit, 2 + 3 do not, nor 2 + 2 of tensor_parallel 2
    df = run({**pd_doc(prefill_instances=2), "sweep": {"zip": {"workload.decode_instances": [2, 3, 2],
                                                               "workload.tensor_parallel": [1, 1, 2]}}}).points
    assert df["feasible"].tolist() == [True, False, False]
    assert df["gpus_used"].tolist() == [4, 5, 8]
    assert all("exceeds the GPUs" in r for r in df["infeasible_reason"].iloc[1:])
    with pytest.raises(InputError, match="no feasible point.*prefill_instances \\+ decode_instances"):
        run(pd_doc(prefill_instances=2, decode_instances=3))


def test_the_kv_link_comes_from_the_gpu_and_is_noted(db):
    # the A100 PCIe's NVLink bridge, 600 GB/s both ways: 0.6 x 300 GB/s one way (link_default)
    sc = scenario_from_dict(pd_doc(), "t.yaml")
    builder = PointBuilder(db, sc.file, CarbonChain.for_online(db, compiled=False))
    col = builder.column(sc.doc)
    assert any("KV caches move to decode instances" in n and "180 GB/s" in n for n in col.notes)
    ix = builder.chain.index
    assert col.value[ix["inst1_kv_link_gb_s"]] == pytest.approx(180.0)
    assert col.value[ix["inst0_kv_link_gb_s"]] == 0.0   # the prefill instance receives nothing


@pytest.mark.parametrize("change, field, words", [
    ({"prefill_instances": 0}, "workload.prefill_instances", "below 1"),
    ({"decode_instances": 0}, "workload.decode_instances", "below 1"),
    ({"decode_instances": None}, "workload.decode_instances", "needs the number of prefill and of decode"),
    ({"second_model": "mistral-7b"}, "workload.second_model", "placement: horizontal or vertical"),
])
def test_bad_disaggregated_workloads(change, field, words):
    with pytest.raises(InputError, match=words) as err:
        run(pd_doc(**change))
    assert field in str(err.value)


def test_placement_can_be_swept_with_the_instance_counts_set():
    df = run({**pd_doc(), "sweep": {"product": {"workload.placement": ["single", "disaggregated"]}}}).points
    df = df.set_index("workload.placement")
    assert df.loc["single", "gpus_used"] == 1 and df.loc["disaggregated", "gpus_used"] == 3
    assert df.loc["single", "decode_gpu_energy_share"] == 0 < df.loc["disaggregated", "decode_gpu_energy_share"]


def test_compiled_and_reference_chains_agree_on_disaggregation(db):
    sc = scenario_from_dict({**pd_doc(requests=40, max_num_seqs=8, max_num_batched_tokens=256),
                             "sweep": {"product": {"workload.engine": ["synchronous", "overlapped"],
                                                   "workload.decode_instances": [1, 3]}}}, "t.yaml")
    builder = PointBuilder(db, sc.file, CarbonChain.for_online(db, compiled=False))
    space = Space(sc.doc, sc.product, sc.zipped, builder)
    mat = space.chunk(0, space.size)
    ref = CarbonChain.for_online(db, compiled=False)
    ker = CarbonChain.for_online(db, compiled=True)
    a, b = ref.evaluate(mat), ker.evaluate(mat)
    for k, v in a.items():
        if v.dtype.kind == "f":
            np.testing.assert_allclose(b[k], v, rtol=1e-9, err_msg=k)
        else:
            assert np.array_equal(b[k], v), k


def test_a_disaggregated_request_table_is_in_arrival_order_and_adds_up():
    from carbonsim.api import requests

    doc = pd_doc(prefill_instances=2, decode_instances=2, arrival="poisson", qps=6.0, requests=80)
    table = requests(doc)
    row = run(doc).points.iloc[0]
    assert len(table) == 80 and table["served"].all() and set(table["model"]) == {"llama-2-7b"}
    assert np.all(np.diff(table["arrival_s"].to_numpy()) >= 0)
    for col in ("gpu_energy_j", "energy_j", "total_g", "ttft_s", "latency_s"):
        assert table[col].mean() == pytest.approx(row[col], rel=1e-9), col
