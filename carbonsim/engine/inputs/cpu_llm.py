"""A host CPU socket as the performance model's device (layer 2): the rows of one CPU inference point.

The model shape and precision bytes are those of a GPU point (:func:`carbonsim.engine.inputs.llm.model_rows`);
the device rows come from the CPU's database entry (``memory_channels``, ``memory_mt_s``,
``peak_tflops``; :mod:`carbonsim.models.perf.cpu`) and the DRAM the socket may give the model;
the achieved efficiencies from ``hardware_db/perf/calibration.yaml: cpu_inference``, fitted on
published CPU measurements (``calibration/write_cpu_inference.py``, ``docs/validation_perf.md``).
One socket runs one engine (one NUMA node, no tensor parallelism); engine overheads between steps
are in ``layer_overhead_s``.
"""

from __future__ import annotations

from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.llm import CALIBRATION_ID, _v, model_rows
from carbonsim.engine.inputs.server import CPU
from carbonsim.errors import InputError
from carbonsim.models.perf.cpu import memory_bandwidth_gb_s, usable_peak_tflops
from carbonsim.models.perf.layout import PRECISIONS

#: Math precisions a CPU may run a model's matrix products in, best first, by the model's precision:
#: 16-bit models run in bf16 where the CPU has bf16 units (AMX, AVX512_BF16), else in fp32.
MATH_FALLBACK = {"bf16": ("bf16", "fp32"), "fp16": ("fp16", "bf16", "fp32"), "tf32": ("fp32",),
                 "fp8": ("int8", "bf16", "fp32"), "int8": ("int8", "bf16", "fp32")}


def cpu_constants(db: Database) -> dict:
    """The CPU inference constants of the performance calibration (raises when absent)."""
    cal = db.get("perf", CALIBRATION_ID)
    if "cpu_inference" not in cal:
        raise InputError("the performance calibration has no cpu_inference constants (run "
                         "calibration/write_cpu_inference.py)", field="cpu_inference")
    return cal["cpu_inference"]


def cpu_peak(cpu: CPU, precision: str) -> tuple[float, str]:
    """The socket's peak [TFLOP/s] at the precision a model of ``precision`` computes in, and that
    math precision.

    Raises
    ------
    InputError
        The CPU has no memory or matrix data (``memory_channels``, ``memory_mt_s``, ``peak_tflops``).
    """
    spec = cpu.spec or {}
    missing = [k for k in ("memory_channels", "memory_mt_s", "peak_tflops") if spec.get(k) is None]
    if missing:
        raise InputError(f"CPU {cpu.id} has no {', '.join(missing)}, needed to run inference on it",
                         field="host.cpus")
    peaks = spec["peak_tflops"]
    math = PRECISIONS[precision][2]
    for p in MATH_FALLBACK.get(math, (math, "fp32")):
        if peaks.get(p) is not None:
            return float(_v(peaks[p])), p
    raise InputError(f"CPU {cpu.id} has no peak_tflops for {precision} or fp32", field="host.cpus.peak_tflops")


def cpu_perf_rows(db: Database, cpu: CPU, model: dict, workload: dict, *, free_cores: float,
                  memory_gb: float) -> dict:
    """Rows of :data:`carbonsim.models.perf.layout.PARAM_NAMES` for one socket of ``cpu`` running
    ``model`` on ``workload`` (``batch_size``, ``prompt_tokens``, ``output_tokens``, ``precision``).

    Parameters
    ----------
    free_cores : float
        Cores of the socket left to inference.
    memory_gb : float
        DRAM of the socket the model's weights and KV cache may take [GB].
    """
    spec = cpu.spec
    peak, _ = cpu_peak(cpu, workload.get("precision", "fp16"))
    cal = db.get("perf", CALIBRATION_ID)
    return cpu_rows(model, workload, peak_tflops=float(usable_peak_tflops(peak, cpu.cores or 1, free_cores)),
                    memory_bandwidth_gb_s=float(memory_bandwidth_gb_s(_v(spec["memory_channels"]),
                                                                      _v(spec["memory_mt_s"]))),
                    memory_gb=memory_gb, constants=cpu_constants(db), calibration=cal)


def cpu_rows(model: dict, workload: dict, *, peak_tflops: float, memory_bandwidth_gb_s: float, memory_gb: float,
             constants: dict, calibration: dict, weight_bytes: float | None = None) -> dict:
    """The performance rows of a CPU socket given its device numbers (:func:`cpu_perf_rows`; the
    validation gives them directly, ``weight_bytes`` overriding the precision's for quantised files)."""
    precision = workload.get("precision", "fp16")
    w_bytes, kv_bytes, _ = PRECISIONS[precision]
    c, cal = constants, calibration
    return {
        **model_rows(model),
        "weight_bytes": w_bytes if weight_bytes is None else float(weight_bytes),
        "kv_bytes": kv_bytes,
        "act_bytes": 2.0,
        "peak_tflops": float(peak_tflops),
        "memory_bandwidth_gb_s": float(memory_bandwidth_gb_s),
        "memory_gb": float(memory_gb),
        "tp": 1,
        "allreduce_alpha_s": 0.0,
        "link_bandwidth_gb_s": 1.0,
        "batch": int(workload.get("batch_size", 1)),
        "prompt_tokens": int(workload["prompt_tokens"]),
        "output_tokens": int(workload["output_tokens"]),
        "max_batched_tokens": 0.0,
        "eta_compute": _v(c["eta_compute"]),
        "eta_memory": _v(c["eta_memory"]),
        "smooth_max_p": _v(cal["smooth_max_p"]),
        "layer_overhead_s": _v(c["layer_overhead_s"]),
        "moe_compute_factor": _v(cal["moe_compute_factor"]) if model.get("moe") else 1.0,
        "cpu_base_s": 0.0,
        "cpu_per_seq_s": 0.0,
        "cpu_tp_base_s": 0.0,
        "cpu_tp_per_seq_s": 0.0,
        "engine_overlap": 0.0,
        "memory_utilization": _v(c["memory_utilization"]),
        "memory_reserve_gb": 0.0,
        # no vLLM engine features on a CPU socket (docs/perf.md section 2): no per-step sync, no fixed
        # attention time, no CUDA graphs, continuous batches
        "step_sync_s": 0.0, "attn_head_s": 0.0, "graph_max_batch": 0.0, "static_batch": 0.0, "max_new_tokens": 0.0,
    }
