"""LLM inference performance model (layer 1): roofline step model of prefill and decode.

* :mod:`carbonsim.models.perf.layout` names the parameter and output rows;
* :mod:`carbonsim.models.perf.llm` is the readable NumPy reference
  (:func:`~carbonsim.models.perf.llm.offline_task_reference`, building blocks, :func:`~carbonsim.models.perf.llm.pack_params`);
* :mod:`carbonsim.models.perf._kernels` is the Numba kernel (:func:`~carbonsim.models.perf._kernels.offline_task`).

Equations, constants and calibration error: ``docs/perf.md``.
"""

from carbonsim.models.perf.layout import N_OUTPUTS, N_PARAMS, O, OUTPUT_NAMES, P, PARAM_NAMES, PRECISIONS
from carbonsim.models.perf.llm import (
    allreduce_time_s,
    cpu_time_s,
    expected_distinct_experts,
    offline_task_reference,
    pack_params,
    smooth_max,
    unpack_outputs,
)

__all__ = [
    "N_OUTPUTS", "N_PARAMS", "O", "OUTPUT_NAMES", "P", "PARAM_NAMES", "PRECISIONS",
    "allreduce_time_s", "cpu_time_s", "expected_distinct_experts", "offline_task_reference",
    "pack_params", "smooth_max", "unpack_outputs", "offline_task",
]


def offline_task(params, out=None):
    """Compiled offline-task model; see :func:`carbonsim.models.perf._kernels.offline_task`."""
    from carbonsim.models.perf._kernels import offline_task as _kernel

    return _kernel(params, out)
