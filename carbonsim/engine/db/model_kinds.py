"""Schemas of the LLM database kinds: model specs and performance-model calibration.

``hardware_db/models/<id>.yaml`` describes the shape of a decoder-only transformer as its
public ``config.json`` gives it (layers, hidden size, heads, FFN width, vocabulary, MoE
routing); ``hardware_db/perf/<id>.yaml`` holds fitted constants of the performance model
(:mod:`carbonsim.models.perf`). Formats are documented in ``docs/perf.md``.
"""

from __future__ import annotations

import re

from carbonsim.engine.db.schema import (
    ID_PATTERN,
    Choice,
    Count,
    Fields,
    ListOf,
    MapOf,
    Number,
    QuantitySpec,
    SourceRef,
    Text,
)

Q = QuantitySpec
BOOL = Choice((True, False))
DTYPES = ("fp32", "fp16", "bf16", "fp8", "int8", "int4")

MOE = Fields(
    {
        "experts": Count(2),
        "top_k": Count(1),
        "expert_ffn": Count(1),
        "shared_ffn": Count(0),
        "shared_experts": Count(0),
        "note": Text(),
    },
    required=("experts", "top_k", "expert_ffn"),
    what="moe",
)

MODEL = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "family": Text(),
        "architecture": Text(),
        "year": Count(2000, 2100),
        "layers": Count(1),
        "hidden": Count(1),
        "heads": Count(1),
        "kv_heads": Count(1),
        "head_dim": Count(1),
        "ffn": Count(1),
        "gated": BOOL,
        "activation": Text(),
        "vocab": Count(1),
        "tied_embeddings": BOOL,
        "max_position": Count(1),
        "position_embedding": Choice(("rope", "learned", "alibi", "none")),
        "attention_bias": BOOL,
        "sliding_window": Count(1),
        "dtype": Choice(DTYPES),
        "moe": MOE,
        # weights the forward pass does not read every step (e.g. inactive attention experts):
        # they take memory but no bandwidth
        "extra_params": Q(),
        "params_b": Q(exclusive_min=True),
        "active_params_b": Q(exclusive_min=True),
        "note": Text(),
    },
    required=("name", "source", "layers", "hidden", "heads", "kv_heads", "ffn", "gated", "vocab",
              "tied_embeddings", "params_b"),
    what="an LLM model",
)

# --- performance-model calibration --------------------------------------------------------------
_CONST_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
CONSTANTS = MapOf(Q(), _CONST_KEY, "a constant name (lower case with unit suffix)")

#: Achieved efficiencies of the step model: a GPU's (fitted on vLLM's kernels), or an engine's own
#: (llama.cpp: they replace the GPU's).
EFFICIENCIES = {
    "eta_compute": Q(maximum=1.0, exclusive_min=True),
    "eta_memory": Q(maximum=1.0, exclusive_min=True),
    "layer_overhead_s": Q(),
}
PERF_GPU = Fields(
    {
        **EFFICIENCIES,
        "fit_rows": Count(0),
        "fit_median_abs_pct": Number(0),
        "fit_max_abs_pct": Number(0),
        "note": Text(),
    },
    required=("eta_compute", "eta_memory", "layer_overhead_s"),
    what="per-GPU efficiency constants",
)
PERF_LINK = Fields(
    {
        "gpus": ListOf(Text(ID_PATTERN, "a GPU id")),
        "tp": Count(2),
        "allreduce_alpha_s": Q(),
        "bus_bandwidth_gb_s": Q(exclusive_min=True),
        "fit_rows": Count(0),
        "fit_median_abs_pct": Number(0),
        "fit_max_abs_pct": Number(0),
        "note": Text(),
    },
    required=("tp", "allreduce_alpha_s", "bus_bandwidth_gb_s"),
    what="an all-reduce fit",
)
PERF_ENGINE = Fields(
    {
        "form": Choice(("synchronous", "overlapped")),
        "cpu_base_s": Q(),
        "cpu_per_seq_s": Q(),
        "cpu_tp_base_s": Q(),
        "cpu_tp_per_seq_s": Q(),
        "cpu_per_layer_s": Q(),
        # engine features of current vLLM (docs/perf.md section 2); absent = 0 / none
        "step_sync_s": Q(),
        "attn_head_s": Q(),
        "graph_max_batch": Count(0),
        "graph_allreduce_alpha_s": Q(),
        "batching": Choice(("continuous", "static")),
        "max_new_tokens": Count(0),
        **EFFICIENCIES,
        "held_out_rows": Count(0),
        "held_out_median_abs_pct": Number(0),
        "held_out_max_abs_pct": Number(0),
        "fit_rows": Count(0),
        "fit_median_abs_pct": Number(0),
        "fit_max_abs_pct": Number(0),
        "fit_set": Text(),
        "note": Text(),
    },
    required=("form", "cpu_base_s", "cpu_per_seq_s", "cpu_tp_base_s", "cpu_tp_per_seq_s"),
    what="an engine profile",
)
#: CPU inference constants (host CPUs reused for offline work, docs/plan.md): the same roofline
#: with a CPU socket as the device.
PERF_CPU = Fields(
    {
        "eta_compute": Q(maximum=1.0, exclusive_min=True),
        "eta_memory": Q(maximum=1.0, exclusive_min=True),
        "layer_overhead_s": Q(),
        "memory_utilization": Q(maximum=1.0, exclusive_min=True),
        "fit_rows": Count(0),
        "fit_median_abs_pct": Number(0),
        "holdout_rows": Count(0),
        "holdout_median_abs_pct": Number(0),
        "note": Text(),
    },
    required=("eta_compute", "eta_memory", "layer_overhead_s", "memory_utilization"),
    what="CPU inference constants",
)
PERF_CALIBRATION = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "note": Text(),
        "smooth_max_p": Q(minimum=1.0),
        "memory_utilization": Q(maximum=1.0, exclusive_min=True),
        "memory_reserve_gb": Q(),
        "moe_compute_factor": Q(minimum=1.0),
        "precision_bytes": CONSTANTS,
        "gpus": MapOf(PERF_GPU, ID_PATTERN, "a GPU id or 'default'"),
        "links": MapOf(PERF_LINK, ID_PATTERN, "a link profile id"),
        "link_default": Fields(
            {"allreduce_alpha_s": Q(), "bus_efficiency": Q(maximum=1.0, exclusive_min=True),
             "note": Text()},
            required=("allreduce_alpha_s", "bus_efficiency"), what="link_default"),
        "engines": MapOf(PERF_ENGINE, ID_PATTERN, "an engine profile id"),
        "cpu_inference": PERF_CPU,
    },
    required=("name", "source", "smooth_max_p", "gpus", "links", "engines"),
    what="a performance calibration",
)
