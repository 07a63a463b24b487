"""When no point of a sweep is feasible (layer 2): why, and what to change.

The message counts the reasons over the points (the ``infeasible_reason`` column), names the
scenario field to change for each, and says where the table is (it is written even then, so the
reasons of every point can be read) or how to get it.
"""

from __future__ import annotations

import numpy as np

from carbonsim.errors import NoFeasibleAnswer

#: What to change for each reason an LLM point cannot run (the reasons of engine/chain.py).
ADVICE = {
    "replicas x tensor_parallel exceeds the GPUs in the server":
        "lower workload.tensor_parallel or workload.replicas, or choose a server with more GPUs",
    "tensor_parallel does not divide the attention heads":
        "choose a workload.tensor_parallel that divides the model's attention heads (1, 2, 4, 8 ...)",
    "tensor_parallel and the KV heads do not divide one another":
        "choose a workload.tensor_parallel that divides the model's KV heads, or a multiple of them",
    "weights and KV cache do not fit in GPU memory":
        "lower workload.batch_size or the token counts, raise workload.tensor_parallel, use a smaller "
        "workload.precision, or choose GPUs with more memory",
    "no request arrives": "raise workload.qps, workload.requests or workload.duration_s",
    "(prefill_instances + decode_instances) x tensor_parallel exceeds the GPUs in the server":
        "lower workload.prefill_instances, workload.decode_instances or workload.tensor_parallel",
}
def reason_counts(reasons) -> dict[str, int]:
    """``{reason: points}`` of an ``infeasible_reason`` column, most frequent first."""
    values, counts = np.unique(np.asarray(reasons, dtype=object).astype(str), return_counts=True)
    pairs = sorted(((str(v), int(c)) for v, c in zip(values, counts) if v), key=lambda p: -p[1])
    return dict(pairs)


def no_feasible(file: str, points: int, counts: dict[str, int], seen: int, table: str | None,
                base_reason: str | None = None) -> NoFeasibleAnswer:
    """The one-line answer when no point of ``points`` is feasible.

    Parameters
    ----------
    counts, seen
        Reasons counted over ``seen`` points (all of them when ``seen == points``).
    table : str or None
        The table written (with every point's ``infeasible_reason``), or None (``--no-write``).
    base_reason : str, optional
        Why the scenario's own point is infeasible.
    """
    over = f"all {points:,} points" if seen >= points else f"{seen:,} of {points:,} points looked at"
    parts = []
    for reason, n in list(counts.items())[:3]:
        advice = ADVICE.get(reason)
        share = over if n == seen else f"{n:,} of {over.removeprefix('all ')}"
        parts.append(f"{reason} ({share}){': ' + advice if advice else ''}")
    why = "; ".join(parts) if parts else "every point is marked infeasible"
    own = f"; the scenario's own point: {base_reason}" if base_reason and base_reason not in counts else ""
    where = (f"; each point's reason is in the infeasible_reason column of {table}" if table
             else "; run without --no-write for the table of every point's infeasible_reason")
    return NoFeasibleAnswer(f"no feasible point in the sweep: {why}{own}{where}", file=file, field="sweep")
