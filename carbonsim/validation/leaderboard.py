"""The ML.ENERGY leaderboard configurations (v2: vLLM 0.5.4; v3: vLLM 0.11.1) as measured runs.

Every text-generation configuration of both leaderboards is in ``data/mlenergy_v2_configs.csv``
and ``data/mlenergy_v3_configs.csv`` (sources in ``data/README.md``). Each becomes a
:class:`Config`: the :class:`~carbonsim.validation.runs.Run` carbonsim is given (steady state:
the measured average batch, the measured mean output, the task's prompt), the measured GPU energy
per output token of all the run's GPUs, and which fit set it belongs to, if any. The split
(:data:`FIT_SETS`) was fixed by model before carbonsim was run on any of these rows
(``data/README.md``, "Which rows train what"); a configuration carbonsim cannot express says why.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache

from carbonsim.validation import DATA
from carbonsim.validation.runs import Run

V2_CSV = DATA / "mlenergy_v2_configs.csv"
V3_CSV = DATA / "mlenergy_v3_configs.csv"

#: Mean prompt tokens per task. v3: the means the leaderboard states for Qwen3-32B (the cases
#: mleblog-3..5), used for every model (tokenizers differ). v2: ShareGPT first turns, mean 350
#: characters (~85 Llama-3 tokens) + the chat template (~30), as for the case mleblog-1.
PROMPT = {"lm-arena-chat": 224, "gpqa": 634, "sharegpt": 115}

#: Leaderboard model -> carbonsim model (hardware_db/models). Llama-3.3-70B has Llama-3.1-70B's shape.
V3_MODELS = {
    "Qwen/Qwen3-8B": "qwen3-8b", "Qwen/Qwen3-14B": "qwen3-14b", "Qwen/Qwen3-32B": "qwen3-32b",
    "meta-llama/Llama-3.1-8B-Instruct": "llama-3.1-8b", "meta-llama/Llama-3.1-70B-Instruct": "llama-3.1-70b",
    "meta-llama/Llama-3.3-70B-Instruct": "llama-3.1-70b",
    "meta-llama/Llama-3.1-405B-Instruct": "llama-3.1-405b", "meta-llama/Llama-3.1-405B-Instruct-FP8": "llama-3.1-405b",
    "Qwen/Qwen3-30B-A3B-Instruct-2507": "qwen3-30b-a3b", "Qwen/Qwen3-30B-A3B-Thinking-2507": "qwen3-30b-a3b",
}
V2_MODELS = {
    "meta-llama/Meta-Llama-3.1-8B-Instruct": "llama-3.1-8b", "meta-llama/Meta-Llama-3.1-70B-Instruct": "llama-3.1-70b",
    "mistralai/Mistral-7B-Instruct-v0.3": "mistral-7b-v0.3", "mistralai/Mistral-Nemo-Instruct-2407": "mistral-nemo-12b",
    "mistralai/Mistral-Large-Instruct-2407": "mistral-large-2407", "mistralai/Mixtral-8x7B-Instruct-v0.1": "mixtral-8x7b",
    "mistralai/Mixtral-8x22B-Instruct-v0.1": "mixtral-8x22b", "microsoft/Phi-3-mini-4k-instruct": "phi-3-mini",
    "microsoft/Phi-3-medium-4k-instruct": "phi-3-medium", "google/gemma-2-2b-it": "gemma-2-2b",
    "google/gemma-2-9b-it": "gemma-2-9b", "google/gemma-2-27b-it": "gemma-2-27b",
}
GPUS = {"H100": "nvidia-h100-sxm5-80gb", "B200": "nvidia-b200", "A100-SXM4-40GB": "nvidia-a100-sxm4-40gb",
        "H100-SXM5-80GB": "nvidia-h100-sxm5-80gb"}
#: Engine profile (workload.engine) of each leaderboard's vLLM.
ENGINE = {"v2": "vllm-0.5", "v3": "vllm-0.11"}
PRECISION = {"bfloat16": "bf16", "fp8": "fp8"}

#: Fit sets: (leaderboard, models, GPUs or None for all, tensor parallelism) -> name. A
#: configuration in none of them is held out of every fit (data/README.md).
FIT_SETS = {
    "F1": ("v3", ("Qwen/Qwen3-8B", "Qwen/Qwen3-14B"), None, 1),
    "F2": ("v3", ("Qwen/Qwen3-32B",), ("H100",), 2),
    "F3": ("v2", ("mistralai/Mistral-7B-Instruct-v0.3", "mistralai/Mistral-Nemo-Instruct-2407"), None, 1),
}
FIT_SET_TRAINS = {
    "F1": "H100 and B200 activity-power constants; vllm-0.11 step-time constants",
    "F2": "vllm-0.11 step-time constants (tensor parallelism 2)",
    "F3": "vllm-0.5 step-time constants; A100 SXM4 40GB activity-power constants",
}


@dataclass(frozen=True)
class Config:
    """One leaderboard configuration: what carbonsim is given and what was measured."""

    key: str                 # "v3:<model>:<task>:<gpu>:<gpus>:<max_num_seqs>[:tp..-ep..][#n]" (unique)
    board: str               # "v2" or "v3"
    model: str               # the leaderboard's model name
    task: str
    gpu: str                 # the leaderboard's GPU name
    n_gpus: int
    tp: int
    max_num_seqs: int
    avg_batch: float
    avg_out: float
    power_w: float           # measured average GPU power, all GPUs
    j_per_token: float       # measured GPU energy per output token, all GPUs
    tput: float              # output tokens/s
    precision: str
    fit_set: str             # "F1".."F3" or "" (held out)
    why_not: str             # "" if carbonsim can express it

    @property
    def step_s(self) -> float:
        """Measured steady-state time per engine step: average batch / output throughput."""
        return self.avg_batch / self.tput

    @property
    def expressible(self) -> bool:
        return not self.why_not

    @property
    def model_id(self) -> str:
        return (V3_MODELS if self.board == "v3" else V2_MODELS).get(self.model, "")

    @property
    def gpu_id(self) -> str:
        return GPUS[self.gpu]

    def run(self):
        """The :class:`~carbonsim.validation.runs.Run` carbonsim is given for this configuration."""
        B = max(1, round(self.avg_batch))
        s_out = max(1, round(self.avg_out))
        return Run(self.key, self.model_id, self.gpu_id, self.n_gpus, self.tp, B, False, PROMPT[self.task], s_out,
                   self.precision, 8192 if self.board == "v3" else 0, ENGINE[self.board], B * s_out / self.tput,
                   self.power_w, B / self.tput, self.avg_batch, self.task)


def _fit_set(board, model, gpu, tp) -> str:
    for name, (b, models, gpus, t) in FIT_SETS.items():
        if b == board and model in models and (gpus is None or gpu in gpus) and tp == t:
            return name
    return ""


#: Why a model of the leaderboards is not expressed (by a part of its name).
NOT_EXPRESSED = {
    "gpt-oss": "MXFP4 expert weights (no such precision in carbonsim)",
    "gemma-3": "interleaved 1,024-token sliding windows and a vision tower in memory",
    "Phi-3-small": "block-sparse attention",
    "Nemotron": "hybrid Mamba layers (not modelled)",
    "DeepSeek": "multi-head latent attention (not modelled)",
}


def _not_expressed(model: str) -> str:
    return next((why for part, why in NOT_EXPRESSED.items() if part in model), "model shape not in the database")


def _why_not_v3(r) -> str:
    if r["ep"] != "1" or r["dp"] != "1":
        return "expert or data parallelism (not modelled)"
    if r["task"] not in PROMPT:
        return "prompt lengths not stated (code completion)"
    if r["model"] not in V3_MODELS:
        return _not_expressed(r["model"])
    if r["prec"] not in PRECISION:
        return f"weight precision {r['prec']}"
    return ""


@lru_cache(maxsize=1)
def configs() -> tuple[Config, ...]:
    """Every leaderboard configuration (v2 then v3), expressible or not."""
    out = []
    with open(V2_CSV, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            tp, pp = int(r["tp"]), int(r["pp"])
            why = ("pipeline parallelism (not modelled)" if pp > 1 else
                   "" if r["model"] in V2_MODELS else _not_expressed(r["model"]))
            gpu = r["gpu"]
            short = "A100" if gpu.startswith("A100") else "H100"
            key = f"v2:{r['model'].split('/')[1]}:sharegpt:{short}:{tp * pp}:{r['max_num_seqs']}"
            out.append(Config(key, "v2", r["model"], "sharegpt", gpu, tp * pp, tp, int(r["max_num_seqs"]),
                              float(r["avg_batch"]), float(r["avg_out"]),
                              float(r["e_req"]) / float(r["avg_out"]) * float(r["tput"]),
                              float(r["e_req"]) / float(r["avg_out"]), float(r["tput"]), "bf16",
                              _fit_set("v2", r["model"], short, tp) if not why else "", why))
    with open(V3_CSV, newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            why = _why_not_v3(r)
            key = f"v3:{r['model'].split('/')[1]}:{r['task']}:{r['gpu']}:{r['n_gpus']}:{r['max_num_seqs']}"
            if r["tp"] != r["n_gpus"]:
                key += f":tp{r['tp']}-ep{r['ep']}"
            n_same = sum(1 for c in out if c.key == key or c.key.startswith(key + "#"))
            key += f"#{n_same + 1}" if n_same else ""  # the source lists a few configurations twice
            out.append(Config(key, "v3", r["model"], r["task"], r["gpu"], int(r["n_gpus"]), int(r["tp"]),
                              int(r["max_num_seqs"]), float(r["avg_batch"]), float(r["avg_out"]),
                              float(r["power_w"]), float(r["e_tok"]), float(r["tput"]),
                              PRECISION.get(r["prec"], r["prec"]),
                              _fit_set("v3", r["model"], r["gpu"], int(r["tp"])) if not why else "", why))
    keys = [c.key for c in out]
    assert len(keys) == len(set(keys)), "leaderboard keys must be unique"
    return tuple(out)


def expressible(fit_set: str | None = None) -> list[Config]:
    """Expressible configurations; ``fit_set``: only that set ("" = the held-out ones)."""
    return [c for c in configs() if c.expressible and (fit_set is None or c.fit_set == fit_set)]


def fit_runs(*sets: str, gpu_id: str | None = None):
    """Runs of the named fit sets (on one GPU if given)."""
    return [c.run() for c in configs() if c.expressible and c.fit_set in sets
            and (gpu_id is None or c.gpu_id == gpu_id)]


def is_finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)
