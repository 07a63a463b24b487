"""The small plan that the plan tests of the engine and of the command line share (``tests/``
is on the test path: its ``conftest.py`` puts it there)."""

from __future__ import annotations

import copy

#: A small plan: a flat chat load and a nightly batch on two-GPU A100 servers (fast: short runs).
SMALL = {
    "name": "small",
    "horizon_yr": 4,
    "datacenter": {"grid": "coal", "pue": 1.2},
    "services": [
        {"name": "chat", "model": "llama-2-7b", "mode": "online", "qps": 3.0,
         "prompt_tokens": {"dist": "lognormal", "mean": 200, "shape": 1.0, "max": 1000},
         "output_tokens": {"dist": "exponential", "mean": 100, "max": 400},
         "slo": {"ttft_s": 1.0, "tpot_s": 0.1, "attainment": 0.9}},
        {"name": "batch", "model": "llama-2-7b", "mode": "offline", "tokens_per_day": 2.0e7,
         "prompt_tokens": 256, "output_tokens": 128, "deadline_h": 8},
    ],
    "candidates": {"servers": ["azure-nc48ads-a100-v4", "azure-a100-x2"], "tensor_parallel": [1],
                   "max_num_seqs": [16], "batch_size": [16], "host": {"dram_gb": [128]},
                   "lifetime": {"gpu_yr": [3, 6]}},
    "search": {"requests": 64, "steps": 4},
    "prices": {"servers": {"azure-nc48ads-a100-v4": {"gpus_usd": 30000, "host_usd": 10000},
                           "azure-a100-x2": {"gpus_usd": 20000, "host_usd": 10000}},
               "dram_usd_per_gb": 4, "energy_usd_per_kwh": 0.1},
}


def small(**changes) -> dict:
    doc = copy.deepcopy(SMALL)
    for path, value in changes.items():
        node = doc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc
