"""An online-serving point as numbers (layer 2): the scenario's ``workload`` (``mode: online``),
the server and the model(s) -> the rows the serving simulator takes.

Each model on the server is an **instance** (a vLLM engine): its performance rows come from
:func:`carbonsim.engine.inputs.llm.perf_rows` (the same model, GPU, calibration and engine
constants as an offline task), its KV cache from GPU memory
(:func:`carbonsim.models.serving.memory.kv_cache_blocks`), its scheduler rows from the
workload. The GPUs' power constants are filled by :class:`carbonsim.engine.chain.CarbonChain`
from the same database entries every other command uses. The request stream is described by
numbers (arrival process, rate, count, seed, length distributions) and drawn when the point is
evaluated, so a sweep point stays a column of floats; a trace file is read once and referred
to by its index in a :class:`TraceBook`.

Placement of two models on one server (seed §5.3, Fig. 11): ``horizontal`` runs each model on
all ``2 x tensor_parallel`` GPUs (tensor parallel over both, each engine with half of each
GPU's memory, their steps taking turns on the GPUs); ``vertical`` runs each model on its own
``tensor_parallel`` GPUs. Both share the host.

``disaggregated`` (prefill-decode disaggregation) runs one model as ``prefill_instances``
prefill-only and ``decode_instances`` decode-only engines, each on its own ``tensor_parallel``
GPUs: the point holds one instance column of each kind (``inst0`` prefill, ``inst1`` decode)
and the counts; :meth:`carbonsim.engine.chain.CarbonChain.online_systems` makes the copies. A
decode instance receives each request's KV cache over the GPUs' link (:func:`kv_link`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.llm import CALIBRATION_ID, OFFLINE_ONLY_ENGINES, _v, perf_rows
from carbonsim.engine.inputs.server import Server
from carbonsim.engine.readers.requests import RequestTrace, TraceOptions, read_request_trace
from carbonsim.errors import InputError
from carbonsim.models.perf.layout import PARAM_NAMES
from carbonsim.models.serving.layout import INSTANCE_NAMES, ROLES, SERVING_NAMES
from carbonsim.models.serving.memory import kv_cache_blocks
from carbonsim.models.serving.workload import ARRIVALS, DEFAULT_SHAPE, DISTRIBUTIONS

#: Most models one scenario places on a server.
MAX_INSTANCES = 2
INSTANCE_ROWS = tuple(f"inst{i}_{name}" for i in range(MAX_INSTANCES) for name in INSTANCE_NAMES)
LENGTH_FIELDS = ("dist", "mean", "shape", "min", "max")
STREAM_ROWS = (
    "online_instances", "online_placement", "online_gpus_used", "online_arrival", "online_qps", "online_requests",
    "online_duration_s", "online_seed", "online_trace", "online_trace_2",
    *(f"online_prompt_{k}" for k in LENGTH_FIELDS), *(f"online_output_{k}" for k in LENGTH_FIELDS),
    "online_ttft_slo_s", "online_tpot_slo_s",
)
#: Rows of a disaggregated point: its prefill and decode instances (0 for the other placements).
DISAGGREGATED_ROWS = ("online_prefill_instances", "online_decode_instances")
#: Rows an online point adds to a steady-load point (see CarbonChain).
ONLINE_ROWS = INSTANCE_ROWS + STREAM_ROWS + DISAGGREGATED_ROWS + ("whole_server",)

PLACEMENTS = {"single": 0, "horizontal": 1, "vertical": 2, "disaggregated": 3}
#: Placements of two models.
TWO_MODELS = ("horizontal", "vertical")
#: Fields only a disaggregated placement takes.
DISAGGREGATED_ONLY = ("prefill_instances", "decode_instances")
#: Serving defaults (vLLM's where it has one; docs/serving.md).
DEFAULT_MAX_NUM_SEQS = 256
DEFAULT_BLOCK_SIZE = 16
DEFAULT_CHUNKED_BUDGET = 2048
MIN_UNCHUNKED_BUDGET = 2048
WATERMARK = 0.01
#: Fields only an offline task takes, and fields only online serving takes.
OFFLINE_ONLY = ("batch_size",)
ONLINE_ONLY = ("arrival", "qps", "requests", "duration_s", "seed", "trace", "max_num_seqs", "max_num_batched_tokens",
               "chunked_prefill", "block_size", "max_model_len", "slo", "placement", "second_model",
               *DISAGGREGATED_ONLY)


@dataclass
class TraceBook:
    """Request traces read for a scenario, each file once; points refer to each model's requests
    by their index in :attr:`entries` (arrival times, prompt and output lengths)."""

    base: Path = Path(".")
    files: dict = field(default_factory=dict)
    entries: list = field(default_factory=list)
    _index: dict = field(default_factory=dict)

    def read(self, spec) -> RequestTrace:
        """A trace from ``workload.trace``: a path, or ``{path, format, start_s, duration_s,
        speedup}`` (:class:`~carbonsim.engine.readers.requests.TraceOptions`)."""
        if isinstance(spec, dict):
            path = spec["path"]
            options = TraceOptions(spec.get("format", "auto"), float(spec.get("start_s", 0.0)),
                                   None if spec.get("duration_s") is None else float(spec["duration_s"]),
                                   float(spec.get("speedup", 1.0)))
        else:
            path, options = spec, TraceOptions()
        p = Path(path)
        if not p.is_absolute():
            p = self.base / p
        key = (str(p.resolve()), options)
        if key not in self.files:
            self.files[key] = read_request_trace(p, options)
        return self.files[key]

    def add(self, trace: RequestTrace, index: int, model_ids: list[str]) -> int:
        """Index of model ``index``'s requests in ``trace`` (the scenario's models ``model_ids``)."""
        key = (id(trace), index, tuple(model_ids))  # one entry per trace read (file and window)
        if key not in self._index:
            self._index[key] = len(self.entries)
            self.entries.append(trace.for_model(index, list(model_ids)))
        return self._index[key]


def length_spec(value, field_name: str, file: str | None) -> tuple[float, float, float, float, float]:
    """``(dist code, mean, shape, min, max)`` of a length: a number or ``{dist, mean, shape, min, max}``
    (``shape``: Pareto a or lognormal sigma; an exponential has none and ignores it, so that
    ``dist`` can be a sweep axis)."""
    if not isinstance(value, dict):
        return (DISTRIBUTIONS["fixed"], float(value), 0.0, 1.0, 0.0)
    dist = value["dist"]
    shape = float(value.get("shape", DEFAULT_SHAPE[dist]))
    if dist == "pareto" and shape <= 1.0:
        raise InputError(f"a Pareto distribution needs shape > 1 (its mean is infinite otherwise), found {shape:g}",
                         file=file, field=f"{field_name}.shape")
    low, high = float(value.get("min", 1)), float(value.get("max", 0))
    if high and high < low:
        raise InputError(f"max ({high:g}) is below min ({low:g})", file=file, field=f"{field_name}.max")
    return (DISTRIBUTIONS[dist], float(value["mean"]), shape, low, high)


def check_offline_workload(workload: dict, file: str | None) -> None:
    """An offline task takes fixed lengths and none of the serving fields."""
    for key in ONLINE_ONLY:
        if key in workload:
            raise InputError("applies to mode: online (an offline task is one batch)", file=file,
                             field=f"workload.{key}")
    for key in ("prompt_tokens", "output_tokens"):
        if isinstance(workload.get(key), dict):
            raise InputError("an offline task needs a number of tokens; distributions apply to mode: online",
                             file=file, field=f"workload.{key}")


def _fail(message: str, key: str, file):
    raise InputError(message, file=file, field=f"workload.{key}")


def kv_link(db: Database, server: Server, file: str | None = None) -> tuple[float, float, str]:
    r"""The link a decode instance receives transferred KV caches over, per GPU.

    .. math:: \beta_{kv} = e_{bus}\,B_{link}/2, \qquad \alpha_{kv} = \alpha_{default}

    with :math:`B_{link}` the GPU's interconnect bandwidth (both directions: NVLink within a
    server; PCIe where the card has none), halved for one direction, :math:`e_{bus}` and
    :math:`\alpha_{default}` the calibration's ``link_default`` (the efficiency and latency it
    gives links without a fit).

    Returns
    -------
    kv_link_gb_s : float
    kv_link_alpha_s : float
    note : str
        What was used, for the point's notes.
    """
    gpu = server.gpu
    link = gpu.interconnect or {}
    kind = "interconnect" if link.get("bandwidth_gb_s") is not None else "PCIe"
    bw = _v(link.get("bandwidth_gb_s") or link.get("pcie_gb_s"))
    if bw is None:
        raise InputError(f"GPU {gpu.id} has no interconnect bandwidth, needed to move KV caches between "
                         "prefill and decode instances", file=file, field="server.gpus.interconnect")
    d = db.get("perf", CALIBRATION_ID)["link_default"]
    eff, alpha = _v(d["bus_efficiency"]), _v(d["allreduce_alpha_s"])
    gb_s = eff * bw / 2.0
    return gb_s, alpha, (f"KV caches move to decode instances over the GPU {kind} at {gb_s:.0f} GB/s per GPU "
                         f"({eff:g} x {bw:g} GB/s / 2) plus {alpha * 1e6:.0f} us per request")


def online_rows(db: Database, server: Server, models: list[tuple[str, dict]], workload: dict,
                traces: TraceBook, file: str | None = None) -> tuple[dict[str, float], list[str]]:
    """The numbers of one online point (rows :data:`ONLINE_ROWS` except the GPUs' power constants
    and ``whole_server``), and notes on what was assumed.

    Parameters
    ----------
    db : Database
    server : Server
    models : list of (model id, model spec)
        One model, or two for a horizontal or vertical placement.
    workload : dict
        The scenario's ``workload`` mapping (``mode: online``).
    traces : TraceBook
        Where trace files are read and kept.
    file : str, optional
        The scenario file, named in errors.

    Raises
    ------
    InputError
        A field that does not apply, a combination vLLM would refuse, or a missing field,
        naming ``workload.<field>``.
    """
    for key in OFFLINE_ONLY:
        if key in workload:
            _fail("applies to mode: offline; online serving batches by max_num_seqs and max_num_batched_tokens",
                  key, file)
    if workload.get("engine") == "hf-eager":
        _fail("hf-eager runs static batches; online serving simulates vLLM's continuous batching "
              "(engine synchronous or overlapped)", "engine", file)
    if workload.get("engine") in OFFLINE_ONLY_ENGINES:
        _fail(f"engine {workload['engine']} is calibrated for offline and steady-state batches; the online "
              "simulator does not model its per-step sync, fixed attention time or CUDA-graph padding "
              "(engine synchronous or overlapped)", "engine", file)
    if workload.get("engine") == "llama.cpp":
        _fail("llama.cpp is calibrated as a single-user engine (one sequence); online serving simulates "
              "vLLM's continuous batching (engine synchronous or overlapped)", "engine", file)
    notes: list[str] = []
    placement = workload.get("placement", "single")
    disaggregated = placement == "disaggregated"
    n_models = 2 if placement in TWO_MODELS else 1
    if placement not in TWO_MODELS and "second_model" in workload:
        _fail("a second model needs placement: horizontal or vertical", "second_model", file)
    unused = [k for k in DISAGGREGATED_ONLY if k in workload and not disaggregated]
    if unused:  # not an error: a sweep may compare placements with the counts set
        notes.append(f"placement {placement} runs no disaggregated engines; {' and '.join(unused)} not used")
    for key in DISAGGREGATED_ONLY:
        if disaggregated and key not in workload:
            _fail("placement: disaggregated needs the number of prefill and of decode instances "
                  "(workload.prefill_instances, workload.decode_instances)", key, file)
    if len(models) != n_models:  # pragma: no cover - the point builder passes the right number
        raise InputError(f"placement {placement} needs {n_models} model(s)", file=file, field="workload.placement")
    tp = int(workload.get("tensor_parallel", 1))
    tp_model = 2 * tp if placement == "horizontal" else tp
    n_prefill = int(workload["prefill_instances"]) if disaggregated else 0
    n_decode = int(workload["decode_instances"]) if disaggregated else 0
    gpus_used = {"single": tp, "disaggregated": (n_prefill + n_decode) * tp}.get(placement, 2 * tp)
    share = 0.5 if placement == "horizontal" else 1.0
    link_gb_s = link_alpha_s = 0.0
    if disaggregated:
        link_gb_s, link_alpha_s, note = kv_link(db, server, file)
        notes.append(note)
    # the instance columns: one per model, or (disaggregated) a prefill and a decode instance of the model
    columns = [(models[0], ROLES["prefill"]), (models[0], ROLES["decode"])] if disaggregated else \
        [(m, ROLES["both"]) for m in models]
    chunked = bool(workload.get("chunked_prefill", False))
    block = int(workload.get("block_size", DEFAULT_BLOCK_SIZE))
    max_seqs = int(workload.get("max_num_seqs", DEFAULT_MAX_NUM_SEQS))

    rows: dict[str, float] = {}
    for i in range(MAX_INSTANCES):
        for name in INSTANCE_NAMES:
            rows[f"inst{i}_{name}"] = 0.0
    for i, ((model_id, model), role) in enumerate(columns):
        max_len = int(workload.get("max_model_len") or model.get("max_position") or 100_000_000)
        if "max_num_batched_tokens" in workload:
            budget = int(workload["max_num_batched_tokens"])
        else:
            budget = DEFAULT_CHUNKED_BUDGET if chunked else max(max_len, MIN_UNCHUNKED_BUDGET)
        if chunked and budget < max_seqs:
            _fail(f"with chunked prefill max_num_batched_tokens ({budget}) must be at least max_num_seqs "
                  f"({max_seqs}), as vLLM requires", "max_num_batched_tokens", file)
        if not chunked and budget < max_len:
            _fail(f"without chunked prefill max_num_batched_tokens ({budget}) must be at least max_model_len "
                  f"({max_len}, the model's context unless workload.max_model_len says otherwise), as vLLM "
                  "requires", "max_num_batched_tokens", file)
        perf = perf_rows(db, server, model, {**workload, "tensor_parallel": tp_model, "batch_size": 1,
                                             "prompt_tokens": 1, "output_tokens": 1}, file)
        p = np.array([perf[name] for name in PARAM_NAMES], dtype=float)
        blocks, _ = kv_cache_blocks(p, budget, block, share)
        serving = {
            "max_num_seqs": max_seqs, "token_budget": budget, "chunked_prefill": 1.0 if chunked else 0.0,
            "block_size": block, "kv_blocks": float(blocks), "watermark_blocks": float(np.floor(WATERMARK * max(blocks, 0))),
            "max_model_len": max_len, "gpu_group": float(i if placement in ("vertical", "disaggregated") else 0),
            "role": float(role),
            "kv_link_gb_s": link_gb_s if role == ROLES["decode"] else 0.0,
            "kv_link_alpha_s": link_alpha_s if role == ROLES["decode"] else 0.0,
        }
        for name in PARAM_NAMES:
            rows[f"inst{i}_{name}"] = float(perf[name])
        for name in SERVING_NAMES:
            if name in serving:
                rows[f"inst{i}_{name}"] = float(serving[name])

    arrival = workload.get("arrival", "poisson")
    qps, requests, duration = workload.get("qps"), workload.get("requests"), workload.get("duration_s")
    trace_id = trace_id_2 = -1
    if arrival == "poisson":
        if qps is None:
            _fail("arrival: poisson needs a request rate (workload.qps)", "qps", file)
        if (requests is None) == (duration is None):
            _fail("give the number of requests (workload.requests) or an arrival window (workload.duration_s), "
                  "not both" if requests is not None else "give the number of requests (workload.requests) or "
                  "an arrival window (workload.duration_s)", "requests", file)
    elif arrival == "burst":
        for key, v in (("qps", qps), ("duration_s", duration), ("trace", workload.get("trace"))):
            if v is not None:
                _fail("does not apply to arrival: burst (every request at time 0)", key, file)
        if requests is None:
            _fail("arrival: burst needs the number of requests (workload.requests)", "requests", file)
    else:  # trace
        if qps is not None:
            _fail("does not apply to arrival: trace (the trace gives the arrival times)", "qps", file)
        if not workload.get("trace"):
            _fail("arrival: trace needs a trace file (workload.trace: a CSV of arrival_s, prompt_tokens, "
                  "output_tokens, an Azure LLM inference or a BurstGPT trace; docs/serving.md)", "trace", file)
        tr = traces.read(workload["trace"])
        notes.extend(tr.notes)
        model_ids = [m for m, _ in models]
        ids = [traces.add(tr, i, model_ids) for i in range(n_models)]
        for i, (m, _) in enumerate(models):
            if len(traces.entries[ids[i]][0]) == 0:
                raise InputError(f"the trace has no request for model {m}", file=tr.file, field="model")
        trace_id = ids[0]
        trace_id_2 = ids[-1]
    if arrival != "trace":
        for key in ("prompt_tokens", "output_tokens"):
            if key not in workload:
                _fail(f"required key is missing (arrival: {arrival} draws the lengths from it)", key, file)
    elif any(k in workload for k in ("prompt_tokens", "output_tokens")):
        notes.append("arrival: trace takes the lengths from the trace; prompt_tokens and output_tokens are not used")

    slo = workload.get("slo") or {}
    prompt = length_spec(workload.get("prompt_tokens", 1), "workload.prompt_tokens", file)
    output = length_spec(workload.get("output_tokens", 1), "workload.output_tokens", file)
    rows.update({
        "online_instances": float(len(columns)),
        "online_placement": float(PLACEMENTS[placement]),
        "online_gpus_used": float(gpus_used),
        "online_arrival": float(ARRIVALS[arrival]),
        "online_qps": float(qps or 0.0),
        "online_requests": float(requests or 0),
        "online_duration_s": float(duration or 0.0),
        "online_seed": float(workload.get("seed", 0)),
        "online_trace": float(trace_id),
        "online_trace_2": float(trace_id_2),
        **{f"online_prompt_{k}": v for k, v in zip(LENGTH_FIELDS, prompt)},
        **{f"online_output_{k}": v for k, v in zip(LENGTH_FIELDS, output)},
        "online_ttft_slo_s": float(slo.get("ttft_s", 0.0)),
        "online_tpot_slo_s": float(slo.get("tpot_s", 0.0)),
        "online_prefill_instances": float(n_prefill),
        "online_decode_instances": float(n_decode),
    })
    return rows, notes
