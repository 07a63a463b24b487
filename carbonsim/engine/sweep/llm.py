"""LLM offline-task sweeps: performance, energy and carbon per task (layer 2).

A task is one request (seed §5.1). A batch of ``B`` requests runs on ``tp`` GPUs of the server
and finishes together after ``latency_s``; each task is attributed ``1/B`` of the batch:

- GPU energy: ``tp · (P(prefill activity)·t_prefill + P(decode activity)·t_decode
  + P_idle,loaded·(t_comm + t_wait)) / B`` with the activity power model (docs/power.md);
  under ``workload.power_cap_w`` the compute-bound share of each phase (``x_c / (x_c + x_m)``
  of its activity) slows by the clock factor the cap forces, and power stays under the cap;
- host energy: the host's power (linear between its idle and full-load power from the spec
  prior or its fitted curve, at the CPU utilisation the engine's scheduler causes) times
  ``latency_s / B``;
- operational carbon: energy × PUE × CI;
- embodied carbon: the embodied rate of what the task holds times ``latency_s / B``. By default
  (``workload.embodied_attribution: server``) the task holds the whole server, host and every
  GPU, as the seed does (its §5: "embodied carbon is proportional to delay", so TP lowers
  embodied carbon exactly when it lowers latency); with ``used`` it holds the host and only its
  ``tp`` GPUs (the others are free for other work);
- EDP = E·D [J·s], CDP = C·D [g·s], CEP = C·E [g·J] (ACT's metrics), per task.
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.embodied.layout import N_HOST, N_PARAMS, PARAM_NAMES
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.models.grid.carbon import operational_g
from carbonsim.engine.inputs.llm import model_spec, perf_rows
from carbonsim.engine.inputs.operational import gpu_constants, host_power
from carbonsim.models.perf import offline_task
from carbonsim.models.perf.layout import O, PARAM_NAMES as PERF_NAMES
from carbonsim.models.power.gpu import capped_gpu_power, capped_time_factor
from carbonsim.engine.sweep.points import PointBuilder, embodied_rows
from carbonsim.units import J_PER_KWH

POWER_ROWS = ("gpu_idle_loaded_w", "gpu_cap_w", "gpu_a_c", "gpu_a_m", "gpu_eta_c", "gpu_eta_m",
              "host_idle_w", "host_max_w", "host_cores", "attribute_whole_server", "gpu_power_limit_w")
LLM_ROWS = embodied_rows() + tuple(f"perf_{n}" for n in PERF_NAMES) + POWER_ROWS

OBJECTIVE_COLUMNS = {
    "carbon_per_task": "total_g",
    "energy_per_task": "energy_j",
    "latency": "latency_s",
    "edp": "edp_j_s",
    "cdp": "cdp_g_s",
    "cep": "cep_g_j",
    "embodied_per_task": "embodied_g",
    "operational_per_task": "operational_g",
}


class LLMPointBuilder(PointBuilder):
    """Point vectors with the performance and power rows of an LLM task."""

    def vector(self, doc: dict) -> np.ndarray:
        v = super().vector(doc)
        server = self.server(doc)
        model = model_spec(self.db, doc["model"], doc.get("_model_overrides"), self.file)
        rows = perf_rows(self.db, server, model, doc["workload"], self.file)
        ix = self.index
        for name, value in rows.items():
            v[ix[f"perf_{name}"]] = value
        c, _ = gpu_constants(server)
        for key in ("idle_loaded_w", "cap_w", "a_c", "a_m", "eta_c", "eta_m"):
            v[ix[f"gpu_{key}"]] = c[key]
        share = v[PARAM_NAMES.index("host_share")]
        v[ix["host_idle_w"]] = host_power(server, share, 0.0)[0]
        v[ix["host_max_w"]] = host_power(server, share, 1.0)[0]
        v[ix["host_cores"]] = share * server.host.cpu_count * (server.host.cpu.cores or 1)
        v[ix["attribute_whole_server"]] = doc["workload"].get("embodied_attribution", "server") == "server"
        v[ix["gpu_power_limit_w"]] = doc["workload"].get("power_cap_w", c["cap_w"])
        return v


class LLMEvaluator:
    """Per-task latency, energy and carbon of offline LLM inference."""

    rows = LLM_ROWS
    builder_class = LLMPointBuilder

    def __init__(self):
        self.ix = {name: i for i, name in enumerate(self.rows)}
        self._perf = slice(self.ix[f"perf_{PERF_NAMES[0]}"], self.ix[f"perf_{PERF_NAMES[-1]}"] + 1)

    def metrics(self, mat: np.ndarray) -> dict[str, np.ndarray]:
        ix = self.ix
        comps = server_components(mat[:N_PARAMS])
        host_kg = comps[:N_HOST].sum(axis=0)
        gpu_kg = comps[N_HOST:].sum(axis=0)
        n_gpu = mat[PARAM_NAMES.index("gpu_count")]
        out = offline_task(np.ascontiguousarray(mat[self._perf]))
        batch = mat[ix["perf_batch"]]
        tp = mat[ix["perf_tp"]]
        idle = mat[ix["gpu_idle_loaded_w"]]
        a_c, a_m = mat[ix["gpu_a_c"]], mat[ix["gpu_a_m"]]
        eta_c, eta_m = mat[ix["gpu_eta_c"]], mat[ix["gpu_eta_m"]]

        def phase(name):
            """Power and kernel time of a phase under the power limit (no limit: the TDP)."""
            mfu, mbu = out[O[f"{name}_mfu"]], out[O[f"{name}_mbu"]]
            power, f = capped_gpu_power(mfu, mbu, idle, mat[ix["gpu_cap_w"]], a_c, a_m, eta_c, eta_m,
                                        mat[ix["gpu_power_limit_w"]])
            x_c, x_m = mfu / eta_c, mbu / eta_m
            share = np.where(x_c + x_m > 0, x_c / np.maximum(x_c + x_m, 1e-12), 0.0)  # compute-bound share
            return power, out[O[f"{name}_gpu_s"]] * capped_time_factor(share, f)

        p_pre, t_pre = phase("prefill")
        p_dec, t_dec = phase("decode")
        stretch = (t_pre - out[O["prefill_gpu_s"]]) + (t_dec - out[O["decode_gpu_s"]])
        lat = out[O["latency_s"]] + stretch
        per_task_s = lat / batch
        gpu_batch_j = tp * (p_pre * t_pre + p_dec * t_dec + idle * (out[O["comm_s"]] + out[O["gpu_wait_s"]]))
        # scheduler: one busy core per engine worker while the CPU works
        cpu_util = np.minimum(1.0, tp * out[O["cpu_s"]] / np.maximum(lat, 1e-12) / mat[ix["host_cores"]])
        host_w = mat[ix["host_idle_w"]] + (mat[ix["host_max_w"]] - mat[ix["host_idle_w"]]) * cpu_util
        gpu_j = gpu_batch_j / batch
        host_j = host_w * per_task_s
        energy_j = gpu_j + host_j
        op_g = operational_g(energy_j / J_PER_KWH, mat[ix["pue"]], mat[ix["ci_g_per_kwh"]])
        host_rate_g_s = embodied_rate_mg_per_s(host_kg, mat[ix["host_lifetime_yr"]]) / 1e3
        card_kg = np.where(n_gpu > 0, gpu_kg / np.maximum(n_gpu, 1), 0.0)
        card_rate_g_s = embodied_rate_mg_per_s(card_kg, mat[ix["gpu_lifetime_yr"]]) / 1e3
        emb_host_g = host_rate_g_s * per_task_s
        gpus_held = np.where(mat[ix["attribute_whole_server"]] > 0.5, n_gpu, tp)
        emb_gpu_g = card_rate_g_s * gpus_held * per_task_s
        emb_g = emb_host_g + emb_gpu_g
        total_g = op_g + emb_g
        feasible = (out[O["feasible"]] > 0.5) & (tp <= n_gpu)
        return {
            "latency_s": lat,
            "ttft_s": out[O["ttft_s"]] + (t_pre - out[O["prefill_gpu_s"]]),
            "tpot_s": out[O["tpot_s"]] + (t_dec - out[O["decode_gpu_s"]]) / mat[ix["perf_output_tokens"]],
            "throughput_tok_s": out[O["throughput_tok_s"]] * out[O["latency_s"]] / lat,
            "energy_j": energy_j,
            "gpu_energy_j": gpu_j,
            "host_energy_j": host_j,
            "operational_g": op_g,
            "embodied_g": emb_g,
            "gpu_embodied_g": emb_gpu_g,
            "host_embodied_g": emb_host_g,
            "total_g": total_g,
            "edp_j_s": energy_j * lat,
            "cdp_g_s": total_g * lat,
            "cep_g_j": total_g * energy_j,
            "mfu": out[O["mfu"]],
            "mbu": out[O["mbu"]],
            "gpu_power_w": gpu_batch_j / np.maximum(lat * tp, 1e-12),
            "host_power_w": host_w,
            "ci_g_per_kwh": mat[ix["ci_g_per_kwh"]].copy(),
            "memory_needed_gb": out[O["memory_needed_gb"]],
            "max_batch": out[O["max_batch"]],
            "feasible": feasible,
        }

    @staticmethod
    def objective_column(objective: str) -> str:
        return OBJECTIVE_COLUMNS[objective]

    @staticmethod
    def feasible(metrics: dict) -> np.ndarray:
        return metrics["feasible"]
