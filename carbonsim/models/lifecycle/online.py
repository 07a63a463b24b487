r"""Carbon per request of an online-serving run (layer 1).

A run serves :math:`N` requests over :math:`D` seconds (from the first arrival to the last
finish). Everything the server draws or holds during the run is charged to those requests,
idle time included, so that a lightly loaded server pays for its idle floor:

.. math::

    E = \frac{E_{GPU} + E_{host}}{N}, \qquad C_{op} = E \cdot PUE \cdot CI, \qquad
    C_{emb} = \Big(r_{host} + n_{held}\, r_{card}\Big) \frac{D}{N}

with :math:`r = E_{emb}/LT` the embodied rates (:mod:`carbonsim.models.lifecycle.amortisation`)
and :math:`n_{held}` the GPUs charged (all of the server's, as the seed does, or only those the
models use). For an offline batch (:func:`carbonsim.models.lifecycle.tasks.offline_task_carbon`)
:math:`D/N` is the batch latency over its size; here it is the run's time per request, which
grows as the request rate falls. EDP, CDP and CEP use the mean end-to-end latency of a request
(ACT, Gupta et al. ISCA 2022).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.lifecycle.tasks import request_carbon


def online_request_carbon(served, duration_s, latency_s, gpu_j, host_j, host_kg, gpu_kg, gpu_count, gpus_held,
                          host_lifetime_yr, gpu_lifetime_yr, pue, ci_g_per_kwh) -> dict[str, np.ndarray]:
    """Energy and carbon per served request of an online run.

    Parameters
    ----------
    served : array_like
        Requests served :math:`N`.
    duration_s : array_like
        Run length :math:`D` [s].
    latency_s : array_like
        Mean end-to-end latency of a request [s] (for the delay products).
    gpu_j, host_j : array_like
        Energy of the GPUs in use and of the host over the run [J].
    host_kg, gpu_kg : array_like
        Embodied carbon of the host and of all the server's GPUs [kg].
    gpu_count : array_like
        GPUs in the server.
    gpus_held : array_like
        GPUs whose embodied carbon the run is charged for.
    host_lifetime_yr, gpu_lifetime_yr : array_like
        [yr]
    pue : array_like
    ci_g_per_kwh : array_like
        Grid intensity [g/kWh].

    Returns
    -------
    dict of ndarray
        Per request: ``energy_j, gpu_energy_j, host_energy_j, operational_g, embodied_g,
        gpu_embodied_g, host_embodied_g, total_g, edp_j_s, cdp_g_s, cep_g_j``.
    """
    n = np.maximum(np.asarray(served, dtype=float), 1.0)
    return request_carbon(duration_s / n, latency_s, gpu_j / n, host_j / n, 1.0, host_kg, gpu_kg, gpu_count,
                          gpus_held, host_lifetime_yr, gpu_lifetime_yr, pue, ci_g_per_kwh)
