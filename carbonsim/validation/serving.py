"""Online-serving checks against published numbers: the cases, their settings and tolerances.

Used by ``tests/engine/test_serving_validation.py`` (which asserts them) and by
``docs/make_serving_validation.py`` (which writes the tables in ``docs/validation_energy.md`` and
``docs/validation_serving.md``). The published values are in ``carbonsim/validation/data/serving_reference.csv``
with their sources; nothing here reads the reference folder the values were researched from.

Every comparison is of GPU energy (the ML.ENERGY numbers are Zeus/NVML GPU counters), per
request, through the same sweep a user runs (``carbonsim.sweep``).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass

from carbonsim.validation import DATA as _DATA

DATA = _DATA / "serving_reference.csv"


@functools.lru_cache(maxsize=1)
def reference() -> dict[str, dict]:
    """Rows of ``serving_reference.csv`` by id."""
    lines = [line for line in DATA.read_text().splitlines() if line and not line.startswith("#")]
    return {row["id"]: row for row in csv.DictReader(lines)}


def value(row_id: str) -> float:
    return float(reference()[row_id]["value"])


# --- ML.ENERGY: TGI request-rate sweep (Llama-2-7B, one A100) ---------------------------------------
#
# Settings, each from the source or stated as an assumption:
# * one A100 with a 400 W limit: the leaderboard's A100 variant is not stated (the group's other runs
#   name A100-SXM4-40GB, which is not in the database; the SXM4 80GB has the same limit and 31 % more
#   memory bandwidth);
# * ShareGPT first turns: prompts of mean 262 tokens (system prompt and chat template included),
#   outputs of mean 598 with max_tokens 1000 (the same script's 1,000-request run); drawn as a
#   lognormal (sigma 1) and an exponential of scale 885 cut at 1,000 tokens (mean 600);
# * TGI 1.4: continuous batching without chunked prefill, prefill budget 4,096 tokens
#   (max_batch_prefill_tokens), up to 128 concurrent requests; its router and Python shard
#   exchange every step over gRPC, so the synchronous engine profile (CPU work adds to each step);
# * 500 requests with Poisson arrivals, energy = all GPU energy of the run / requests (Zeus).
TGI_QPS = (0.25, 0.5, 0.75, 1.0)


def tgi_scenario(qps_values=TGI_QPS, requests: int = 500) -> dict:
    return {
        "name": "mlenergy-tgi-llama2-7b",
        "server": "azure-nd96amsr-a100-v4",
        "model": "llama-2-7b",
        "workload": {
            "mode": "online", "arrival": "poisson", "qps": qps_values[0], "requests": requests, "seed": 0,
            "prompt_tokens": {"dist": "lognormal", "mean": 262, "shape": 1.0, "max": 3000},
            "output_tokens": {"dist": "exponential", "mean": 885, "max": 1000},
            "max_num_seqs": 128, "max_num_batched_tokens": 4096, "engine": "synchronous", "precision": "fp16",
        },
        "datacenter": {"pue": 1.0, "grid": "coal"},
        "sweep": {"product": {"workload.qps": list(qps_values)}},
        "objectives": ["energy_per_task"],
    }


@functools.lru_cache(maxsize=1)
def tgi_points():
    import carbonsim

    return carbonsim.sweep(tgi_scenario()).points.set_index("workload.qps")


# --- ML.ENERGY Benchmark: chunked prefill (Llama-3.1-8B, one H100) ------------------------------------
#
# * prompts Pareto (a = 2.5) of mean 4,096, outputs exponential of mean 512 (the paper);
# * every request at once (a burst of 1,500), energy per generation = steady-state GPU energy per
#   output token (steps formed while requests wait, the engine at its limits) x the mean output;
# * vLLM with chunked prefill, max_num_seqs and max_num_batched_tokens of each row, bf16, the
#   context of Llama-3.1 (131,072 tokens); engine version not stated: the overlapped profile
#   (async scheduling, vLLM >= 0.6), whose CPU constants are estimates (docs/perf.md).
T5_ROWS = ("mlebench-t5-1", "mlebench-t5-2", "mlebench-t5-3", "mlebench-t5-4", "mlebench-t5-5", "mlebench-t5-6",
           "mlebench-t5-7", "mlebench-t5-8", "mlebench-t5-9")


def t5_scenario(requests: int = 1500) -> dict:
    rows = [reference()[r] for r in T5_ROWS]
    return {
        "name": "mlenergy-chunked-prefill",
        "server": "hgx-h100-x8",
        "model": "llama-3.1-8b",
        "workload": {
            "mode": "online", "arrival": "burst", "requests": requests, "seed": 0, "precision": "bf16",
            "prompt_tokens": {"dist": "pareto", "mean": 4096, "shape": 2.5},
            "output_tokens": {"dist": "exponential", "mean": 512},
            "chunked_prefill": True, "max_num_seqs": 128, "max_num_batched_tokens": 1024, "engine": "overlapped",
        },
        "datacenter": {"pue": 1.0, "grid": "coal"},
        "sweep": {"zip": {"workload.max_num_seqs": [int(r["max_num_seqs"]) for r in rows],
                          "workload.max_num_batched_tokens": [int(r["max_num_batched_tokens"]) for r in rows]}},
        "objectives": ["energy_per_task"],
    }


@functools.lru_cache(maxsize=1)
def t5_points():
    import carbonsim

    df = carbonsim.sweep(t5_scenario()).points
    df["steady_gpu_energy_per_generation_j"] = (df["steady_gpu_energy_j"] / df["steady_output_tokens"]
                                                * df["output_tokens_per_request"])
    df.index = list(T5_ROWS)
    return df


# --- ML.ENERGY Benchmark: prefill-decode disaggregation (Llama-3.1-8B / 70B, H100) -------------------
#
# Settings, each from the source or stated as an assumption:
# * model, deployment (P prefill and D decode instances, each on tensor_parallel GPUs of one 8-GPU H100
#   server, AWS p5) and length distributions of each row (the table; prompts Pareto a = 2.5, outputs
#   exponential);
# * vLLM's scheduler settings are not stated: carbonsim's defaults on every instance (max_num_seqs 256,
#   chunked prefill with a 2,048-token budget, vLLM's OpenAI-server defaults with chunked prefill), bf16
#   and the overlapped engine profile, as for Table 5;
# * a burst of 48,000 requests: a disaggregated system settles slowly (the decode instances fill as the
#   prefill instances feed them, and with long exponential outputs their running mix drifts towards the
#   long requests); from 1,500 requests (Table 5's burst) to 48,000 a row's energy moves by up to 21 %,
#   from 24,000 to 96,000 by under 2 %, with another request seed by about 1 %; prompts capped at 65,536 tokens
#   so that no request of the Pareto tail exceeds the 131,072-token context (the mean moves by 0.3 %);
# * requests go round robin to the prefill instances, and on to the decode instances in the order their
#   prefills end (vLLM's proxy example for XpYd deployments routes round robin); KV caches move over
#   NVLink at 270 GB/s per GPU (docs/serving.md);
# * energy per generation = steady-state energy per prefill + steady-state decode energy per token x
#   (mean output - 1), each over the steps formed while requests were waiting anywhere in the system
#   (models/serving/steady.py); the decode share is the second term over the sum.
T4_ROWS = tuple(f"mlebench-t4-{i}" for i in range(1, 10))
T4_REQUESTS = 48_000
T4_PROMPT_MAX = 65_536


def t4_scenario(requests: int = T4_REQUESTS) -> dict:
    rows = [reference()[r] for r in T4_ROWS]
    return {
        "name": "mlenergy-pd-disaggregation",
        "server": "hgx-h100-x8",
        "model": "llama-3.1-8b",
        "workload": {
            "mode": "online", "arrival": "burst", "requests": requests, "seed": 0, "precision": "bf16",
            "prompt_tokens": {"dist": "pareto", "mean": 512, "shape": 2.5, "max": T4_PROMPT_MAX},
            "output_tokens": {"dist": "exponential", "mean": 512},
            "chunked_prefill": True, "max_num_seqs": 256, "max_num_batched_tokens": 2048, "engine": "overlapped",
            "placement": "disaggregated", "prefill_instances": 1, "decode_instances": 1,
        },
        "datacenter": {"pue": 1.0, "grid": "coal"},
        "sweep": {"zip": {
            "model": [r["model"] for r in rows],
            "workload.prefill_instances": [int(r["prefill_instances"]) for r in rows],
            "workload.decode_instances": [int(r["decode_instances"]) for r in rows],
            "workload.tensor_parallel": [int(r["tensor_parallel"]) for r in rows],
            "workload.prompt_tokens.mean": [int(r["prompt_tokens_mean"]) for r in rows],
            "workload.output_tokens.mean": [int(r["output_tokens_mean"]) for r in rows],
        }},
        "objectives": ["energy_per_task"],
    }


@functools.lru_cache(maxsize=1)
def t4_points():
    import carbonsim
    from carbonsim.models.serving.steady import steady_energy_per_generation

    df = carbonsim.sweep(t4_scenario()).points
    per_gen, share = steady_energy_per_generation(
        df["steady_gpu_energy_j"], df["steady_output_tokens"], df["steady_decode_gpu_energy_j"],
        df["steady_decode_output_tokens"], df["output_tokens_per_request"], True)
    df["steady_gpu_energy_per_generation_j"] = per_gen
    df["decode_energy_share"] = share
    df.index = list(T4_ROWS)
    return df


def deployment(row_id: str) -> str:
    r = reference()[row_id]
    return f"{r['prefill_instances']}P{r['decode_instances']}D"


# --- the seed's §5.3 -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def seed_points(scenario: str, seeds: tuple[int, ...] = (0,)):
    """The seed's §5.3 scenario (the shipped ``scenarios/seed-sharing.yaml``, given by its path),
    swept once for each request seed."""
    import carbonsim
    import pandas as pd

    frames = []
    for s in seeds:
        df = carbonsim.sweep(scenario, set={"workload.seed": s}).points
        df["seed"] = s
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def placement_ratios(df, column: str):
    """Horizontal / vertical - 1 of ``column``, per engine and QPS (averaged over seeds first)."""
    g = df.groupby(["workload.engine", "workload.qps", "workload.placement"])[column].mean().unstack()
    return g["horizontal"] / g["vertical"] - 1.0


@dataclass
class Case:
    """One published number, carbonsim's value and the tolerance the test allows."""

    group: str
    quantity: str
    published: float
    unit: str
    compute: callable
    rtol: float
    why_tolerance: str
    source_id: str
    atol: float = 0.0          # absolute tolerance (shares: 0.05 = 5 percentage points)
    xfail: str = ""            # an expected miss: why, with the numbers (a strict xfail in the tests)


def cases() -> list[Case]:
    out = []
    tgi_why = ("25 %: the A100 variant and the request lengths are inferred (same group's runs), TGI's step "
               "overheads use vLLM's synchronous profile, and the power constants are A100 ladder values, "
               "not fitted to these data")
    for i, q in enumerate(TGI_QPS, start=1):
        out.append(Case("ML.ENERGY TGI (Llama-2-7B, A100)", f"GPU energy per request at {q:g} req/s",
                        value(f"mletgi-{i}"), "J", lambda q=q: float(tgi_points().loc[q, "gpu_energy_j"]), 0.25,
                        tgi_why, f"mletgi-{i}"))
    out.append(Case("ML.ENERGY TGI (Llama-2-7B, A100)", "energy per request, 0.25 / 1 req/s",
                    value("mletgi-1") / value("mletgi-4"), "ratio",
                    lambda: float(tgi_points().loc[0.25, "gpu_energy_j"] / tgi_points().loc[1.0, "gpu_energy_j"]),
                    0.10, "10 %: the ratio cancels the GPU variant and most of the power constants; what remains "
                    "is how power rises with batch size", "mletgi-1/mletgi-4"))
    t5_why = ("20 %: vLLM version not stated (overlapped-engine CPU constants are estimates), carbonsim's H100 "
              "decode steps miss per-sequence work (research note: steps 1.5-2x too fast on H100 vLLM chat), "
              "power constants carried over from the A100 calibration")
    for rid in T5_ROWS:
        row = reference()[rid]
        out.append(Case("ML.ENERGY Benchmark (Llama-3.1-8B, H100)",
                        f"GPU energy per generation, max_num_seqs {row['max_num_seqs']}, "
                        f"max_num_batched_tokens {row['max_num_batched_tokens']}", float(row["value"]), "J",
                        lambda rid=rid: float(t5_points().loc[rid, "steady_gpu_energy_per_generation_j"]), 0.20,
                        t5_why, rid))
    return out


#: Rows carbonsim does not reproduce, with the numbers (strict expected failures in the tests; the
#: reasons are discussed in docs/validation_energy.md, Online serving).
T4_MISSES = {
    "mlebench-t4-8": ("carbonsim 3,757 J against 907.6 J measured (+314 %): measured, the 70B's decode energy per "
                      "generation grows 4.5x from 512 to 4,096 mean output tokens (179 to 810 J) against 22.6x and "
                      "25.1x on the 8B rows and 22.6x in carbonsim; at a KV-limited batch of about 90 long requests "
                      "a 70B decode token costs about 0.9 J on four H100s, not the 0.2 J measured"),
    "mlebench-t4-8-decode": ("carbonsim 97.6 % against 89.2 % measured (+8.4 points): the same row's decode energy "
                             "is 4.2x the measured one (see its energy case)"),
    "mlebench-t4-9-decode": ("carbonsim 43.4 % against 50.0 % measured (-6.6 points): with the H100 constants fitted "
                             "on the leaderboard fit set F1 (a_c held at 1.0, a_m 0.74) the 70B's decode steps on four "
                             "GPUs draw less, 531 J per generation against 746 J measured (-29 %), while its prefill is "
                             "692 J against 746 J (-7 %); the energy per generation is within its tolerance (-18 %)"),
}


def t4_cases() -> list[Case]:
    """The prefill-decode rows: energy per generation and the decode share, per row."""
    # Tolerances, stated before comparing: the energy per generation gets Table 5's 20 %, since the
    # same model, H100 constants and engine profile reproduce Table 5's colocated rows within
    # -3 ... +14 % (a 17-point spread) and each of the two stages here can err like one of them; the
    # decode share s = E_decode / (E_prefill + E_decode) moves by s (1 - s) (d_decode - d_prefill)
    # when the stages err by d, at most 0.25 x 0.17 = 4.3 points for errors within that spread: 5 points.
    why_energy = ("20 %, Table 5's tolerance: the same performance model, H100 constants and engine profile, which "
                  "reproduce Table 5's nine colocated rows within -3 ... +14 %; here the prefill and the decode "
                  "stage each carry an error of that kind, and vLLM's scheduler settings are not stated")
    why_share = ("5 percentage points: if the two stages' energies are off by errors within Table 5's spread "
                 "(17 points), the share s = E_decode / E_gen moves by at most s (1 - s) x 0.17 <= 4.3 points")
    out = []
    for rid in T4_ROWS:
        row = reference()[rid]
        label = (f"{deployment(rid)}, {row['model']}, prompts {row['prompt_tokens_mean']} / outputs "
                 f"{row['output_tokens_mean']}")
        group = "ML.ENERGY Benchmark PD disaggregation (H100)"
        out.append(Case(group, f"GPU energy per generation, {label}", float(row["value"]), "J",
                        lambda rid=rid: float(t4_points().loc[rid, "steady_gpu_energy_per_generation_j"]), 0.20,
                        why_energy, rid, xfail=T4_MISSES.get(rid, "")))
        out.append(Case(group, f"decode share of the energy, {label}", value(f"{rid}-decode") / 100, "fraction",
                        lambda rid=rid: float(t4_points().loc[rid, "decode_energy_share"]), 0.0, why_share,
                        f"{rid}-decode", atol=0.05, xfail=T4_MISSES.get(f"{rid}-decode", "")))
    return out
