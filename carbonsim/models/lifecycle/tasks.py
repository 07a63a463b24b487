r"""Carbon per LLM task (one request; the seed paper's Sec. 5.1): energy, operational and embodied
carbon, and ACT's delay products.

A batch of :math:`B` requests runs on the server and finishes together after the latency
:math:`D`; each request is charged :math:`1/B` of the batch:

.. math::

    E = \frac{E_{GPU,batch}}{B} + P_{host} \frac{D}{B}, \qquad
    C_{op} = E \cdot PUE \cdot CI, \qquad
    C_{emb} = \Big(r_{host} + n_{held}\, r_{card}\Big) \frac{D}{B}

with :math:`r = E_{emb} / LT` the embodied rates (:mod:`carbonsim.models.lifecycle.amortisation`)
and :math:`n_{held}` the GPUs the task holds: all of the server's (the seed's accounting, "embodied
carbon is proportional to delay") or only the tensor-parallel group. EDP = E·D [J·s],
CDP = C·D [g·s], CEP = C·E [g·J] (ACT, Gupta et al. ISCA 2022).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.grid.carbon import operational_g
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.units import J_PER_KWH


def offline_task_carbon(latency_s, batch, gpu_batch_j, host_w, host_kg, gpu_kg, gpu_count, gpus_held,
                        host_lifetime_yr, gpu_lifetime_yr, pue, ci_g_per_kwh) -> dict[str, np.ndarray]:
    """Energy and carbon of one request of an offline batch.

    Parameters
    ----------
    latency_s : array_like
        Time the batch takes [s].
    batch : array_like
        Requests in the batch.
    gpu_batch_j : array_like
        Energy of the GPUs the batch is charged for, over the batch [J].
    host_w : array_like
        Host power while the batch runs [W].
    host_kg, gpu_kg : array_like
        Embodied carbon of the host and of all the server's GPUs [kg].
    gpu_count : array_like
        GPUs in the server.
    gpus_held : array_like
        GPUs whose embodied carbon the batch is charged for.
    host_lifetime_yr, gpu_lifetime_yr : array_like
        [yr]
    pue : array_like
    ci_g_per_kwh : array_like
        Grid intensity [g/kWh].

    Returns
    -------
    dict of ndarray
        ``energy_j, gpu_energy_j, host_energy_j, operational_g, embodied_g, gpu_embodied_g,
        host_embodied_g, total_g, edp_j_s, cdp_g_s, cep_g_j`` (all per request).
    """
    per_task_s = latency_s / batch
    gpu_j = gpu_batch_j / batch
    host_j = host_w * per_task_s
    energy_j = gpu_j + host_j
    op_g = operational_g(energy_j / J_PER_KWH, pue, ci_g_per_kwh)
    host_rate_g_s = embodied_rate_mg_per_s(host_kg, host_lifetime_yr) / 1e3
    card_kg = np.where(gpu_count > 0, gpu_kg / np.maximum(gpu_count, 1), 0.0)
    card_rate_g_s = embodied_rate_mg_per_s(card_kg, gpu_lifetime_yr) / 1e3
    emb_host_g = host_rate_g_s * per_task_s
    emb_gpu_g = card_rate_g_s * gpus_held * per_task_s
    emb_g = emb_host_g + emb_gpu_g
    total_g = op_g + emb_g
    return {
        "energy_j": energy_j,
        "gpu_energy_j": gpu_j,
        "host_energy_j": host_j,
        "operational_g": op_g,
        "embodied_g": emb_g,
        "gpu_embodied_g": emb_gpu_g,
        "host_embodied_g": emb_host_g,
        "total_g": total_g,
        "edp_j_s": energy_j * latency_s,
        "cdp_g_s": total_g * latency_s,
        "cep_g_j": total_g * energy_j,
    }
