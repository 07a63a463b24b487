"""One online-serving point in detail (layer 2): a table with one row per request.

The scenario's own point (before sweeping) is simulated once through
:class:`~carbonsim.engine.chain.CarbonChain` (the same simulation, power and accounting as its
sweep row). Each request carries the GPU energy the simulator attributes to it (its share of
every step it took part in, by tokens, plus an equal share of the GPUs' energy between steps);
the host's energy and the run's embodied carbon are shared in proportion to that GPU energy, and
the run's operational carbon (the chain's, energy × PUE × intensity) in proportion to each
request's energy, so the requests' columns add up to the sweep row's per-request values times the
requests served.
Column names are those of the sweep tables (``energy_j``, ``gpu_energy_j``, ``host_energy_j``,
``operational_g``, ``embodied_g``, ``total_g``), per request.
"""

from __future__ import annotations

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.db.store import Database
from carbonsim.engine.sweep.points import PointBuilder
from carbonsim.engine.sweep.scenario import Scenario, check_point
from carbonsim.errors import InputError
from carbonsim.models.serving.layout import R


def request_table(scenario: Scenario, db: Database):
    """One row per request of the scenario's own point (a pandas DataFrame).

    Raises
    ------
    InputError
        Not an online scenario, or its point is infeasible.
    """
    import pandas as pd

    if not scenario.online:
        raise InputError("a request table needs an online-serving scenario (workload.mode: online)",
                         file=scenario.file, field="workload.mode")
    check_point(scenario.doc, scenario.file)
    builder = PointBuilder(db, scenario.file, CarbonChain.for_online(db, compiled=False))
    vec = builder.vector(scenario.doc)
    chain = CarbonChain.for_online(db)
    chain.traces = builder.traces.entries
    row = chain.run_online(vec[:, None]).point(0)
    if not row["feasible"]:
        raise InputError(f"the scenario's point is infeasible: {row['infeasible_reason']}", file=scenario.file)
    _, per, (_, arrival, prompt, output, owner) = chain.simulate_point(vec)
    wl = scenario.doc["workload"]
    models = [scenario.doc["model"], wl.get("second_model", scenario.doc["model"])]
    served = per[R["served"]] > 0.5
    n = row["served_requests"]
    gpu_j = np.where(served, per[R["gpu_energy_j"]], 0.0)
    share = gpu_j / max(gpu_j.sum(), 1e-300)
    host_j = share * row["host_energy_j"] * n
    energy = gpu_j + host_j
    op = energy / max(energy.sum(), 1e-300) * row["operational_g"] * n
    emb = share * row["embodied_g"] * n
    nan = np.where(served, 1.0, np.nan)
    return pd.DataFrame({
        "request": np.arange(len(arrival)),
        "model": np.asarray(models, dtype=object)[owner],
        "arrival_s": arrival,
        "prompt_tokens": prompt,
        "output_tokens": output,
        "served": served,
        "ttft_s": per[R["ttft_s"]],
        "tpot_s": per[R["tpot_s"]],
        "latency_s": per[R["latency_s"]],
        "finish_s": per[R["finish_s"]],
        "preemptions": per[R["preemptions"]].astype(np.int64),
        "energy_j": energy * nan,
        "gpu_energy_j": gpu_j * nan,
        "host_energy_j": host_j * nan,
        "operational_g": op * nan,
        "embodied_g": emb * nan,
        "total_g": (op + emb) * nan,
    })
