r"""Carbon per LLM task (one request; the seed paper's Sec. 5.1): energy, operational and embodied
carbon, and ACT's delay products.

A server with :math:`n` GPUs runs :math:`R` replicas of the model, each on a tensor-parallel
group of :math:`t` GPUs; each replica serves a batch of :math:`B` requests that finish together
after the latency :math:`D`. Over that period the server completes :math:`R B` requests, and each
is charged :math:`1/(R B)` of what the requests hold:

.. math::

    E = \frac{E_{GPU} + f_h P_{host} D}{R B}, \qquad
    C_{op} = E \cdot PUE \cdot CI, \qquad
    C_{emb} = \big(f_h\, r_{host} + n_{held}\, r_{card}\big) \frac{D}{R B}

with :math:`r = E_{emb} / LT` the embodied rates (:mod:`carbonsim.models.lifecycle.amortisation`).
Power and embodied carbon are attributed alike:

- the whole server (the default): :math:`f_h = 1`, :math:`n_{held} = n`, and :math:`E_{GPU}` holds
  the serving GPUs' energy plus the idle power of the :math:`n - R t` GPUs that do not serve;
- only what the replicas use: :math:`f_h = R t / n`, :math:`n_{held} = R t`, and idle GPUs are
  someone else's (neither their power nor their embodied carbon is charged).

EDP = E·D [J·s], CDP = C·D [g·s], CEP = C·E [g·J] per request (ACT, Gupta et al. ISCA 2022).

The seed paper reads "embodied carbon is proportional to delay" per request: each request is
charged the embodied rate for its whole latency :math:`D`, not its share :math:`D/(RB)`.
That counts the server's time once per request of a batch, but it is what gives the seed's
CEP its minimum inside the batch range; it is reported beside carbonsim's accounting as
``embodied_delay_g`` and ``cep_delay_g_j = (C_op + C_emb,delay) · E``.
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.grid.carbon import operational_g
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.units import J_PER_KWH


def request_carbon(per_request_s, latency_s, gpu_j, host_j, host_share, host_kg, gpu_kg, gpu_count, gpus_held,
                   host_lifetime_yr, gpu_lifetime_yr, pue, ci_g_per_kwh) -> dict[str, np.ndarray]:
    r"""Carbon of one request from its energy and its share of the server's time.

    .. math::

        C_{op} = (E_{GPU} + E_{host}) \cdot PUE \cdot CI, \qquad
        C_{emb} = \big(f_h\, r_{host} + n_{held}\, r_{card}\big)\, t

    with :math:`t` the request's share of the server's time and :math:`r = E_{emb}/LT`.

    Parameters
    ----------
    per_request_s : array_like
        The request's share of the server's time :math:`t` [s].
    latency_s : array_like
        The delay of the delay products [s].
    gpu_j, host_j : array_like
        The request's GPU and host energy [J].
    host_share : array_like
        Share of the host charged :math:`f_h`, 0..1.
    host_kg, gpu_kg : array_like
        Embodied carbon of the host and of all the server's GPUs [kg].
    gpu_count, gpus_held : array_like
        GPUs in the server; GPUs whose embodied carbon is charged :math:`n_{held}`.
    host_lifetime_yr, gpu_lifetime_yr : array_like
        [yr]
    pue : array_like
    ci_g_per_kwh : array_like
        Grid intensity [g/kWh].

    Returns
    -------
    dict of ndarray
        ``energy_j, gpu_energy_j, host_energy_j, operational_g, embodied_g, gpu_embodied_g,
        host_embodied_g, total_g, edp_j_s, cdp_g_s, cep_g_j``.
    """
    energy_j = gpu_j + host_j
    op_g = operational_g(energy_j / J_PER_KWH, pue, ci_g_per_kwh)
    host_rate_g_s = embodied_rate_mg_per_s(host_kg, host_lifetime_yr) / 1e3
    card_kg = np.where(gpu_count > 0, gpu_kg / np.maximum(gpu_count, 1), 0.0)
    card_rate_g_s = embodied_rate_mg_per_s(card_kg, gpu_lifetime_yr) / 1e3
    emb_host_g = host_share * host_rate_g_s * per_request_s
    emb_gpu_g = card_rate_g_s * gpus_held * per_request_s
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


def offline_task_carbon(latency_s, tasks, gpu_j, host_w, host_share, host_kg, gpu_kg, gpu_count, gpus_held,
                        host_lifetime_yr, gpu_lifetime_yr, pue, ci_g_per_kwh) -> dict[str, np.ndarray]:
    """Energy and carbon of one request of offline batches.

    Parameters
    ----------
    latency_s : array_like
        Time a batch takes [s] (the period over which ``tasks`` complete).
    tasks : array_like
        Requests completed in that period (replicas × batch).
    gpu_j : array_like
        Energy of the GPUs the requests are charged for, over the period [J].
    host_w : array_like
        Host power during the period [W].
    host_share : array_like
        Share of the host the requests hold, 0..1 (its power and embodied carbon).
    host_kg, gpu_kg : array_like
        Embodied carbon of the host and of all the server's GPUs [kg].
    gpu_count : array_like
        GPUs in the server.
    gpus_held : array_like
        GPUs whose embodied carbon the requests are charged for.
    host_lifetime_yr, gpu_lifetime_yr : array_like
        [yr]
    pue : array_like
    ci_g_per_kwh : array_like
        Grid intensity [g/kWh].

    Returns
    -------
    dict of ndarray
        ``energy_j, gpu_energy_j, host_energy_j, operational_g, embodied_g, gpu_embodied_g,
        host_embodied_g, total_g, edp_j_s, cdp_g_s, cep_g_j`` (all per request), and the
        seed's delay-proportional ``embodied_delay_g`` and ``cep_delay_g_j``.
    """
    per_task_s = latency_s / tasks
    out = request_carbon(per_task_s, latency_s, gpu_j / tasks, host_share * host_w * per_task_s, host_share,
                         host_kg, gpu_kg, gpu_count, gpus_held, host_lifetime_yr, gpu_lifetime_yr, pue,
                         ci_g_per_kwh)
    out["embodied_delay_g"] = out["embodied_g"] * tasks  # the whole latency, D, instead of D / tasks
    out["cep_delay_g_j"] = (out["operational_g"] + out["embodied_delay_g"]) * out["energy_j"]
    return out
