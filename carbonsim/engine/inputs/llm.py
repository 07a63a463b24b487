"""Fill the performance model's input rows from database entries and a workload (layer 2).

Model shape from ``hardware_db/models/<id>.yaml``, GPU peak and bandwidth from the GPU part,
efficiency, link and engine constants from ``hardware_db/perf/calibration.yaml`` (docs/perf.md
§3 documents each row's origin), precision bytes from :data:`carbonsim.models.perf.layout.PRECISIONS`.
"""

from __future__ import annotations

from carbonsim.engine.db.schema import Quantity
from carbonsim.engine.db.store import Database
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import Server
from carbonsim.engine.inputs.overrides import apply_overrides
from carbonsim.models.perf.layout import PRECISIONS

CALIBRATION_ID = "calibration"
#: Engine (workload.engine) -> engine profile in the calibration file: vLLM with its CPU work
#: between GPU steps (<= 0.5) or hidden behind them (>= 0.6), or Hugging Face transformers in
#: eager mode (static batches; host time per step grows with the layers).
ENGINES = {"synchronous": "vllm-sync", "overlapped": "vllm-overlapped", "hf-eager": "hf-eager",
           "vllm-0.5": "vllm-0.5", "vllm-0.11": "vllm-0.11", "llama.cpp": "llama-cpp-cuda"}
#: Engines calibrated on single-GPU runs only.
SINGLE_GPU_ENGINES = ("hf-eager", "llama.cpp")
#: Engine profiles whose step-time terms the online-serving simulator does not model (offline
#: tasks and steady-state batches only; docs/perf.md section 2).
OFFLINE_ONLY_ENGINES = ("vllm-0.5", "vllm-0.11")
#: llama.cpp's profile by GPU vendor (its CUDA or Metal backend); the profile's efficiencies
#: replace the GPU's (they were fitted on llama.cpp's own kernels: docs/validation_perf.md).
LLAMA_CPP_BACKENDS = {"apple": "llama-cpp-metal"}


def engine_profile(db: Database, engine_id: str, gpu) -> tuple[str, dict]:
    """The calibration's profile id and entry for ``workload.engine`` on ``gpu``."""
    profile = ENGINES[engine_id]
    if engine_id == "llama.cpp":
        profile = LLAMA_CPP_BACKENDS.get((gpu.spec or {}).get("vendor"), profile)
    return profile, db.get("perf", CALIBRATION_ID)["engines"][profile]


def fully_connected_nvlink(gpu, tp: int) -> bool:
    """Whether ``tp`` GPUs of this kind all-reduce over NVLink peer to peer (an SXM board's
    NVSwitch, or a bridged pair), the condition for vLLM's custom all-reduce."""
    link = gpu.interconnect or {}
    kind = str(link.get("kind", ""))
    if not kind.startswith("nvlink"):
        return False
    return (gpu.spec or {}).get("form_factor") in ("sxm", "superchip") or tp <= 2


def _v(x):
    return x.value if isinstance(x, Quantity) else x


def model_spec(db: Database, model, overrides: dict | None = None, file: str | None = None) -> dict:
    """A validated model spec by id, with optional field overrides."""
    if not isinstance(model, str):
        raise InputError("model must be a model id (hardware_db/models)", file=file, field="model")
    spec = db.get("models", model)
    if not overrides:
        return dict(spec)
    # the overridden document gets the same check as the file
    path = db.path("models", model)
    return db.check_document("models", apply_overrides(load_yaml(path), overrides, file=str(path)), path)


def model_rows(model: dict) -> dict:
    """The model-shape rows of :data:`carbonsim.models.perf.layout.PARAM_NAMES` (``n_layers`` ...
    ``moe_shared_ffn``) of a model spec (:func:`model_spec`)."""
    moe = model.get("moe") or {}
    heads = int(_v(model["heads"]))
    return {
        "n_layers": _v(model["layers"]),
        "hidden": _v(model["hidden"]),
        "n_heads": heads,
        "n_kv_heads": _v(model.get("kv_heads", heads)),
        "head_dim": _v(model.get("head_dim") or _v(model["hidden"]) / heads),
        "ffn": _v(model["ffn"]),
        "ffn_matrices": 3.0 if model.get("gated") else 2.0,
        "vocab": _v(model["vocab"]),
        "tied_embeddings": 1.0 if model.get("tied_embeddings") else 0.0,
        "extra_params": _v(model.get("extra_params", 0.0)),
        "moe_experts": _v(moe.get("experts", 0)),
        "moe_top_k": _v(moe.get("top_k", 0)),
        "moe_expert_ffn": _v(moe.get("expert_ffn", 0)),
        "moe_shared_ffn": _v(moe.get("shared_ffn", 0)),
    }


def perf_rows(db: Database, server: Server, model: dict, workload: dict, file: str | None = None) -> dict:
    """Rows of :data:`carbonsim.models.perf.layout.PARAM_NAMES` for one point.

    Parameters
    ----------
    db : Database
    server : Server
        Its GPU supplies peak FLOP/s, bandwidth and memory.
    model : dict
        Model spec (:func:`model_spec`).
    workload : dict
        The scenario's ``workload`` mapping.
    """
    gpu = server.gpu
    if gpu is None or server.gpu_count == 0:
        raise InputError("an LLM scenario needs a server with GPUs", file=file, field="server")
    precision = workload.get("precision", "fp16")
    w_bytes, kv_bytes, math_precision = PRECISIONS[precision]
    if "kv_precision" in workload:
        kv_bytes = PRECISIONS[workload["kv_precision"]][0]  # element size of that precision
    peaks = gpu.peak_tflops
    engine_id = workload.get("engine", "synchronous")
    _, engine = engine_profile(db, engine_id, gpu)
    peak = peaks.get(math_precision) or (peaks.get("fp16") if math_precision == "bf16" else None)
    if peak is None:
        raise InputError(f"GPU {gpu.id} has no peak_tflops.{math_precision} for precision {precision!r}",
                         file=file, field="workload.precision")
    if gpu.memory_bandwidth_gb_s is None:
        raise InputError(f"GPU {gpu.id} has no memory.bandwidth_gb_s", file=file, field="server.gpus")
    cal = db.get("perf", CALIBRATION_ID)
    eff = cal["gpus"].get(gpu.id) or cal["gpus"]["default"]
    tp = int(workload.get("tensor_parallel", 1))
    link = next((l for l in cal.get("links", {}).values() if gpu.id in l["gpus"] and l["tp"] == tp), None)
    if link is not None:
        alpha, bus = _v(link["allreduce_alpha_s"]), _v(link["bus_bandwidth_gb_s"])
    else:
        d = cal["link_default"]
        alpha = _v(d["allreduce_alpha_s"])
        link = gpu.interconnect or {}
        bw = _v(link.get("bandwidth_gb_s") or link.get("pcie_gb_s"))
        if bw is None and tp > 1:
            raise InputError(f"GPU {gpu.id} has no interconnect bandwidth, needed for tensor_parallel {tp}",
                             file=file, field="server.gpus.interconnect")
        # with tp = 1 there is no all-reduce; the row only has to be positive
        bus = _v(d["bus_efficiency"]) * (bw or 1.0) / 2.0
    if engine_id in SINGLE_GPU_ENGINES and tp > 1:
        raise InputError(f"engine {engine_id} is calibrated on single-GPU runs (tensor_parallel 1); found "
                         f"tensor_parallel {tp}", file=file, field="workload.engine")
    if tp > 1 and "graph_allreduce_alpha_s" in engine and fully_connected_nvlink(gpu, tp):
        # inside CUDA graphs vLLM all-reduces small messages with its own one-shot kernel over
        # NVLink: the latency of a launch from Python (the link profiles) does not apply
        alpha = min(alpha, _v(engine["graph_allreduce_alpha_s"]))
    # an engine fitted on its own kernels (llama.cpp) brings its efficiencies; others use the GPU's
    eff = {k: engine.get(k, eff[k]) for k in ("eta_compute", "eta_memory", "layer_overhead_s")}
    moe = model.get("moe") or {}
    return {
        **model_rows(model),
        "weight_bytes": w_bytes,
        "kv_bytes": kv_bytes,
        "act_bytes": 2.0,
        "peak_tflops": _v(peak),
        "memory_bandwidth_gb_s": _v(gpu.memory_bandwidth_gb_s),
        "memory_gb": _v(gpu.memory_gb),
        "tp": tp,
        "allreduce_alpha_s": alpha,
        "link_bandwidth_gb_s": bus,
        "batch": int(workload.get("batch_size", 1)),
        "prompt_tokens": int(workload["prompt_tokens"]),
        "output_tokens": int(workload["output_tokens"]),
        "max_batched_tokens": 0.0,
        "eta_compute": _v(eff["eta_compute"]),
        "eta_memory": _v(eff["eta_memory"]),
        "smooth_max_p": _v(cal["smooth_max_p"]),
        "layer_overhead_s": _v(eff["layer_overhead_s"]),
        "moe_compute_factor": _v(cal["moe_compute_factor"]) if moe else 1.0,
        # host time per step: a constant, and for eager engines a part per decoder layer
        "cpu_base_s": _v(engine["cpu_base_s"]) + _v(engine.get("cpu_per_layer_s", 0.0)) * _v(model["layers"]),
        "cpu_per_seq_s": _v(engine["cpu_per_seq_s"]),
        "cpu_tp_base_s": _v(engine["cpu_tp_base_s"]),
        "cpu_tp_per_seq_s": _v(engine["cpu_tp_per_seq_s"]),
        "engine_overlap": 1.0 if engine["form"] == "overlapped" else 0.0,
        "memory_utilization": _v(cal["memory_utilization"]),
        "memory_reserve_gb": _v(cal["memory_reserve_gb"]),
        "step_sync_s": _v(engine.get("step_sync_s", 0.0)),
        "attn_head_s": _v(engine.get("attn_head_s", 0.0)),
        "graph_max_batch": float(engine.get("graph_max_batch", 0)),
        "static_batch": 1.0 if engine.get("batching") == "static" else 0.0,
        "max_new_tokens": float(engine.get("max_new_tokens", 0)),
    }
