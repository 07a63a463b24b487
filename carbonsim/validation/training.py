"""Published training footprints and carbonsim's numbers for them: the cases
``tests/engine/test_training_validation.py`` asserts and ``docs/make_validation_training.py``
tabulates (docs/validation.md, section "Training runs").

Values are copied here with their sources (the project never reads the reference folder they were researched from):

- Patterson et al. 2021, "Carbon Emissions and Large Neural Network Training" (arXiv 2104.10350),
  Table 4, as transcribed in LLMCarbon's ``data/database.csv`` (MLCarbon, commit dbd96b7): chips,
  days, measured average system power per chip (host share included), PUE, intensity,
  measured hardware efficiency, published tCO2e. LLMCarbon's own errors on these five rows
  (its 6ND FLOPs at the measured efficiency, re-run from its repository): T5 -2.06 %, GPT-3
  +0.23 %, GShard +3.26 %, Switch +7.92 %, XLM -3.54 %.
- Luccioni, Viguier, Ligozat 2023 (JMLR 24(253), arXiv 2211.02001): BLOOM 1,082,990 GPU-hours,
  57 g/kWh, 24.7 t from dynamic GPU power at 400 W, 14.6 t idle (256,646 kWh), 50.5 t in all,
  so 11.2 t embodied; embodied from 2,500 kg per 8-GPU server and 150 kg per GPU over 6 years
  at 85 % use.
- GPU-hours of published runs: the database's ``hardware_db/training/published-runs.yaml``
  (LLaMA paper Table 15, the Llama 2/3/3.1 model cards, Luccioni et al. for BLOOM).
"""

from __future__ import annotations

from dataclasses import dataclass

from carbonsim.engine.inputs.grid import GridIntensity


@dataclass(frozen=True)
class PattersonCase:
    name: str
    params_b: float  # active parameters for the MoE rows (LLMCarbon's "base model param.")
    tokens_b: float
    gpu: str
    chips_llmcarbon: int
    chips_patterson: int
    days: float
    power_w: float  # measured average system power per chip
    pue: float
    ci_kg_per_kwh: float
    efficiency: float  # measured hardware efficiency (achieved / peak)
    published_t: float
    llmcarbon_err_pct: float
    note: str = ""


#: The five rows LLMCarbon validates on. GShard and Switch ran on 1,024 TPU v3 chips (Patterson
#: Table 4; 24.1 MWh / (288 W x 1.09 x 3.1 d x 24 h) = 1,030 chips, 179 MWh / (245 W x 1.1 x 27 d
#: x 24 h) = 1,025 chips); LLMCarbon's database rounds them to 1,000.
PATTERSON = (
    PattersonCase("T5", 11, 600, "google-tpu-v3", 512, 512, 20, 310, 1.12, 0.545, 0.37, 46.7, -2.06,
                  "600 B tokens in LLMCarbon's database.csv (500 B in an earlier draft)"),
    PattersonCase("GPT-3", 175, 300, "nvidia-v100-sxm2-32gb", 10000, 10000, 14.8, 330, 1.1, 0.429, 0.197, 552.1,
                  0.23),
    PattersonCase("GShard-600B", 2.3, 1000, "google-tpu-v3", 1000, 1024, 3.1, 288, 1.09, 0.177, 0.39, 4.3, 3.26,
                  "mixture of experts: 2.3 B parameters per token"),
    PattersonCase("Switch", 7.41, 2000, "google-tpu-v3", 1000, 1024, 27, 245, 1.1, 0.33, 0.28, 59.1, 7.92,
                  "mixture of experts: 7.41 B parameters per token"),
    PattersonCase("XLM", 0.55, 7000, "nvidia-v100-sxm2-32gb", 512, 512, 20.4, 342, 1.1, 0.413, 0.212, 39.0, -3.54),
)

#: BLOOM (Luccioni et al. 2023).
BLOOM = {"gpu_hours": 1_082_990, "ci_g_per_kwh": 57.0, "dynamic_t": 24.7, "idle_t": 14.6, "embodied_t": 11.2,
         "total_t": 50.5, "tdp_w": 400.0, "server_kg": 2500.0, "gpu_kg": 150.0, "lifetime_yr": 6.0, "usage": 0.85,
         "gpus_per_server": 8, "params_b": 176.2, "tokens_b": 366, "seq_len": 2048}


def given_grid(ci_g_per_kwh: float) -> GridIntensity:
    """An intensity a published case states (its basis is the case's, not known here)."""
    return GridIntensity(ci_g_per_kwh=ci_g_per_kwh, basis="unknown", label=f"{ci_g_per_kwh:g} g/kWh", kind="value",
                         id=f"{ci_g_per_kwh:g}")


def patterson_measured(case: PattersonCase, db, cs, chips: int | None = None):
    """carbonsim with the case's measured inputs: chips x days, measured power, PUE, intensity."""
    from carbonsim.engine.training import train

    return train(db, params_b=case.params_b, tokens_b=case.tokens_b, gpu=case.gpu, gpus=chips or case.chips_patterson,
                 days=case.days, power_w=case.power_w, pue=case.pue, grid=given_grid(case.ci_kg_per_kwh * 1000), cs=cs)


def patterson_llmcarbon_path(case: PattersonCase, db, cs):
    """LLMCarbon's path: 6ND FLOPs at the measured efficiency on LLMCarbon's chip count."""
    from carbonsim.engine.training import train

    return train(db, params_b=case.params_b, tokens_b=case.tokens_b, gpu=case.gpu, gpus=case.chips_llmcarbon,
                 mfu=case.efficiency, power_w=case.power_w, pue=case.pue, grid=given_grid(case.ci_kg_per_kwh * 1000),
                 cs=cs)


def bloom_with_their_inputs():
    """BLOOM's split from the paper's own inputs through carbonsim's layer-1 functions."""
    from carbonsim.models.lifecycle.training import embodied_per_device_hour_kg, training_energy_kwh

    b = BLOOM
    e = training_energy_kwh(b["gpu_hours"], b["tdp_w"], 0.0, 1.0)
    dynamic_t = float(e["total_kwh"]) * b["ci_g_per_kwh"] / 1e6
    rate = embodied_per_device_hour_kg(b["gpu_kg"], b["server_kg"] / b["gpus_per_server"], b["lifetime_yr"],
                                       b["lifetime_yr"], b["usage"])
    return {"dynamic_t": dynamic_t, "embodied_t": float(rate * b["gpu_hours"]) / 1000.0}


def bloom_from_models(db, cs):
    """BLOOM from carbonsim's own models: the activity power at the efficiency its GPU-hours imply,
    the host of the database's 8x A100 SXM server, its embodied carbon over 6 years at 85 % use."""
    from carbonsim.engine.training import train

    b = BLOOM
    return train(db, params_b=b["params_b"], tokens_b=b["tokens_b"], gpu="nvidia-a100-sxm4-80gb",
                 gpu_hours=b["gpu_hours"], seq_len=b["seq_len"], server="lambda-a100-x8", lifetime_yr=b["lifetime_yr"],
                 usage=b["usage"], grid=given_grid(b["ci_g_per_kwh"]), cs=cs)


def gpu_hours_predictions(db, seq_len_known: bool = False):
    """Each published run's GPU-hours predicted from parameters, tokens and hardware only, by the
    efficiency model fitted to the *other* runs (leave-one-out), at the default sequence length
    (or the run's own with ``seq_len_known``). Returns (run, predicted, published) triples."""
    from carbonsim.engine.training import DEFAULT_SEQ_LEN, efficiency_model
    from carbonsim.models.lifecycle.training import device_hours, estimated_shape, training_flops

    em = efficiency_model(db)
    out = []
    for run, mfu in zip(em.runs, em.loo_mfu):
        s = run.seq_len if seq_len_known else DEFAULT_SEQ_LEN
        layers, width = (run.layers, run.d_attn) if seq_len_known else estimated_shape(run.params_b * 1e9)
        flops = training_flops(run.params_b * 1e9, run.tokens_b * 1e9, layers, s, width)
        out.append((run, float(device_hours(flops, run.peak_tflops * 1e12, mfu)), run.gpu_hours))
    return out


#: LLMCarbon's throughput predictor (``predict_num_throughput``; the polynomial fits to Megatron-LM's
#: A100-80GB weak-scaling table it publishes): achieved TFLOP/s per GPU from the parameter count P
#: (raw), tensor-parallel fit when the model fits in one 8-GPU node (P < 8 x 0.03 x 80 GB = 19.2 B),
#: pipeline fit otherwise. Coefficients copied from MLCarbon's code (commit dbd96b7) via the
#: research notes; it has no fit for other GPUs, and for an 80 GB part returns the same numbers.
LLMCARBON_TENSOR = (-8.82079068e-20, 1.68591116e-09, 133.954735)
LLMCARBON_PIPE = (-5.60233749e-23, 8.45435587e-11, 134.546129)


def llmcarbon_predicted_hours(params_b: float, tokens_b: float) -> float:
    """GPU-hours LLMCarbon's predictor gives: 6ND over its predicted throughput."""
    p = params_b * 1e9
    a, b, c = LLMCARBON_TENSOR if p < 8 * 0.03 * 80 * 1e9 else LLMCARBON_PIPE
    tflops = a * p * p + b * p + c
    return 6 * p * tokens_b * 1e9 / (tflops * 1e12) / 3600.0
