"""The numeric description of one LLM inference point that the performance kernels evaluate.

One point (a model on a GPU type with a tensor-parallel degree, a batch and a task shape,
plus the efficiency and engine constants) is one column of a ``(N_PARAMS, n_points)`` float
array; row ``P[name]`` holds parameter ``name``. Outputs are ``(N_OUTPUTS, n_points)`` with
row ``O[name]``. Units are in the names: seconds (``_s``), GB = 1e9 bytes (``_gb``),
GB/s (``_gb_s``), TFLOP/s (``_tflops``); counts and fractions carry no suffix. Flags are
0.0/1.0.

The layer-2 code that fills a column must set every row; :data:`DEFAULTS` lists the values a
row may take when the caller has nothing better (efficiency and engine constants come from
``hardware_db/perf/calibration.yaml``).
"""

from __future__ import annotations

PARAM_NAMES: tuple[str, ...] = (
    # --- model shape (hardware_db/models/<id>.yaml) ---
    "n_layers",          # decoder layers L
    "hidden",            # model width h
    "n_heads",           # query heads
    "n_kv_heads",        # key/value heads (GQA: fewer than n_heads)
    "head_dim",          # per-head width d (hidden / n_heads unless the config says otherwise)
    "ffn",               # dense FFN width F (ignored when moe_experts > 0)
    "ffn_matrices",      # 3 for gated (SwiGLU: up, gate, down), 2 for plain (up, down)
    "vocab",             # vocabulary V
    "tied_embeddings",   # 1 if the LM head shares the input embedding
    "extra_params",      # parameters outside the count below (biases, norms, learned positions)
    "moe_experts",       # routed experts E (0 = dense model)
    "moe_top_k",         # experts per token k
    "moe_expert_ffn",    # width of one routed expert F_e
    "moe_shared_ffn",    # total width of always-active shared experts F_s (0 if none)
    # --- precision ---
    "weight_bytes",      # bytes per stored weight (fp16 2, int8/fp8 1, int4 ~0.53 incl. scales)
    "kv_bytes",          # bytes per KV-cache element
    "act_bytes",         # bytes per activation element (2)
    # --- GPU (one card) ---
    "peak_tflops",       # dense tensor TFLOP/s at the precision the matrix products run in
    "memory_bandwidth_gb_s",
    "memory_gb",
    # --- tensor parallelism ---
    "tp",                # tensor-parallel degree t (GPUs per model replica)
    "allreduce_alpha_s",     # fixed latency of one all-reduce call
    "link_bandwidth_gb_s",   # effective all-reduce bus bandwidth (NCCL busbw)
    # --- workload (offline task) ---
    "batch",             # requests processed together B
    "prompt_tokens",     # s_in
    "output_tokens",     # s_out (decode steps)
    "max_batched_tokens",    # prefill tokens per engine step (0 = whole batch in one step)
    # --- efficiency constants ---
    "eta_compute",       # achieved fraction of peak FLOP/s in matrix products
    "eta_memory",        # achieved fraction of peak HBM bandwidth
    "smooth_max_p",      # exponent of the smooth roofline max
    "layer_overhead_s",  # fixed GPU time per layer per step (kernel launch and tail)
    "moe_compute_factor",    # >= 1: slowdown of routed-expert matrix products vs dense
    # --- engine (CPU/scheduler per iteration) ---
    "cpu_base_s",
    "cpu_per_seq_s",
    "cpu_tp_base_s",     # extra when tp > 1 (worker RPC)
    "cpu_tp_per_seq_s",
    "engine_overlap",    # 0: CPU time adds to GPU time (synchronous); 1: max of both (overlapped)
    # --- memory limit ---
    "memory_utilization",    # usable fraction of GPU memory (vLLM gpu_memory_utilization)
    "memory_reserve_gb",     # CUDA context, graphs, allocator slack per GPU
    # --- engine features of current vLLM (docs/perf.md section 2; 0 = absent) ---
    "step_sync_s",       # per-step time the overlapped form does not hide (GPU waiting)
    "attn_head_s",       # decode: fixed GPU time per sequence, layer and query head on a GPU
    "graph_max_batch",   # largest decode batch run as a captured CUDA graph, padded (0: no graphs)
    "static_batch",      # 1: a static batch decodes until its longest output ends
    "max_new_tokens",    # generation cap of a static batch's output lengths (0: none)
)
P: dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}
N_PARAMS = len(PARAM_NAMES)

OUTPUT_NAMES: tuple[str, ...] = (
    "latency_s",         # per task: the whole batch finishes together (prefill + decode)
    "ttft_s",            # time to first token = prefill time
    "tpot_s",            # mean time per output token = decode_s / output_tokens
    "throughput_tok_s",  # B * s_out / latency_s
    "prefill_s",
    "decode_s",
    "prefill_gpu_s",     # kernel time per GPU during prefill
    "decode_gpu_s",      # kernel time per GPU during decode
    "gpu_busy_s",        # prefill_gpu_s + decode_gpu_s
    "comm_s",            # all-reduce time per GPU (GPU in a collective)
    "cpu_s",             # CPU/scheduler busy time (exposed or not)
    "gpu_wait_s",        # latency_s - gpu_busy_s - comm_s: GPUs loaded but waiting on the CPU
    "prefill_mfu",       # achieved FLOP/s / peak while prefill kernels run
    "prefill_mbu",       # achieved bytes/s / peak bandwidth while prefill kernels run
    "decode_mfu",
    "decode_mbu",
    "mfu",               # over all busy time
    "mbu",
    "flop_per_gpu",      # FLOPs executed by one GPU for the batch
    "bytes_per_gpu",     # HBM bytes moved by one GPU for the batch
    "server_s_per_task",     # latency_s / B: wall time attributable to one task
    "gpu_s_per_task",        # tp * latency_s / B: GPU-seconds attributable to one task
    "weights_gb_per_gpu",
    "kv_gb_per_gpu",
    "memory_needed_gb",      # weights + KV + activations + reserve, per GPU
    "memory_available_gb",   # memory_utilization * memory_gb
    "max_batch",         # largest batch that fits (same task shape)
    "feasible",          # 1.0 if memory_needed_gb <= memory_available_gb
)
O: dict[str, int] = {name: i for i, name in enumerate(OUTPUT_NAMES)}
N_OUTPUTS = len(OUTPUT_NAMES)

#: Activation traffic per token and layer, in elements: ``ACT_H * hidden`` (norms, residual adds,
#: RoPE, GEMM inputs/outputs; replicated under TP) plus ``ACT_F_PER_MATRIX * ffn_matrices``
#: times the active FFN width per GPU (writing and reading the FFN intermediate).
ACT_H = 20.0
ACT_F_PER_MATRIX = 2.0
#: Live activation elements per prefill token at the peak (for the memory limit).
ACT_LIVE_H = 4.0

#: Precision name -> (weight_bytes, kv_bytes, precision whose peak_tflops the math runs at).
#: int8 and fp8 are W8A8 (low-precision tensor cores); int4 is weight-only (AWQ/GPTQ with a
#: fp16 scale and zero per group of 128: 0.5 + 4/128 bytes) and computes in fp16.
PRECISIONS: dict[str, tuple[float, float, str]] = {
    "fp32": (4.0, 4.0, "tf32"),
    "fp16": (2.0, 2.0, "fp16"),
    "bf16": (2.0, 2.0, "bf16"),
    "fp8": (1.0, 1.0, "fp8"),
    "int8": (1.0, 2.0, "int8"),
    "int4": (0.53125, 2.0, "fp16"),
    # llama.cpp GGUF block formats (ggml-common.h): Q4_0 is 32 4-bit weights + one FP16 scale
    # (4.5 bits/weight), Q8_0 32 int8 weights + one FP16 scale (8.5), Q4_K_M super-blocks of 4.5
    # bits with some tensors in Q6_K: 4.85 bits/weight over a Llama-3-8B file (4.58 GiB for 8.03 B).
    # The FP16 KV cache is llama.cpp's default; prompt processing dequantises the blocks and runs the
    # matrix products at the FP16 rate (the llama.cpp of the validation rows; CUDA builds since
    # mid-2024 use INT8 tensor cores instead, faster: docs/validation_perf.md).
    "q4_0": (4.5 / 8, 2.0, "fp16"),
    "q4_k_m": (4.85 / 8, 2.0, "fp16"),
    "q8_0": (8.5 / 8, 2.0, "fp16"),
}

#: Values a row may take when nothing better is known (documented in docs/perf.md).
DEFAULTS: dict[str, float] = {
    "extra_params": 0.0,
    "moe_experts": 0.0, "moe_top_k": 0.0, "moe_expert_ffn": 0.0, "moe_shared_ffn": 0.0,
    "act_bytes": 2.0,
    "max_batched_tokens": 0.0,
    "moe_compute_factor": 1.0,
    "engine_overlap": 0.0,
    "memory_utilization": 0.9,
    "memory_reserve_gb": 2.0,
    "step_sync_s": 0.0, "attn_head_s": 0.0, "graph_max_batch": 0.0, "static_batch": 0.0,
    "max_new_tokens": 0.0,
}

#: CUDA-graph batch sizes (vLLM's capture list, 0.5 to 0.11): 1, 2, 4, multiples of 8 up to 256,
#: then multiples of 16 (up to min(2 x max_num_seqs, 512) in vLLM 0.11; 256 in vLLM 0.5).
GRAPH_BUCKET = 8.0
GRAPH_BUCKET_LARGE, GRAPH_LARGE_FROM = 16.0, 256.0
