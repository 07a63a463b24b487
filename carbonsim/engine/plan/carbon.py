r"""One candidate server's carbon over a plan's horizon, through the one composition (layer 2).

:func:`candidate_carbon` is the single place a plan turns a server and its operating point into
carbon: embodied carbon from the chain's embodied stage, amortised over the horizon by the GPU
and host lifetimes (:func:`carbonsim.models.lifecycle.amortisation.period_embodied_kg`); host
power from the chain's host stage; operational carbon at the chain's grid intensity and PUE.
The integer program needs it linear in the load, so a server's IT power at load :math:`x`
(requests/s or tokens/s) is the chord from idle to its capacity point:

.. math::

    P(x) = P_0 + e\,x, \qquad e = \frac{P(c) - P_0}{c}

with :math:`P_0` the server on and serving nothing (GPUs holding their model at loaded idle,
spare GPUs idle, the host at zero utilisation) and :math:`P(c)` its simulated mean power at
capacity :math:`c`. A concave power curve lies above the chord, so the chord underestimates
power at part load; the SLO re-check simulates every chosen server at its assigned load and
the output reports the re-simulated energy beside the program's (docs/plan.md §2).

Refreshed GPUs: with a GPU lifetime :math:`L` shorter than the horizon the fleet's GPUs are
replaced by a newer generation whose energy per unit of work is lower by
:math:`2^{-\Delta t/T_2}` (:func:`carbonsim.models.lifecycle.refresh_gain.refreshed_energy_factor`);
the GPUs' idle and busy power are scaled by the horizon's mean factor, the host's are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.models.embodied.layout import N_HOST
from carbonsim.models.lifecycle.amortisation import period_embodied_kg
from carbonsim.units import J_PER_KWH


@dataclass
class CandidateCarbon:
    """A candidate server's prices for the integer program (per server).

    Attributes
    ----------
    host_embodied_kg, gpu_embodied_kg : float
        Embodied carbon charged to the horizon [kg].
    idle_w : float
        IT power on and serving nothing [W] (GPU part after the refresh factor).
    unit_j : float
        IT energy per unit served beyond idle [J per request or per output token].
    reuse_j : dict
        Offline service index -> IT energy per output token of host-CPU work [J].
    kg_per_j : float
        Operational carbon per joule of IT energy: PUE x grid intensity [kg/J].
    busy_w : float
        IT power at the capacity point [W].
    """

    host_embodied_kg: float
    gpu_embodied_kg: float
    idle_w: float
    unit_j: float
    kg_per_j: float
    busy_w: float
    reuse_j: dict = field(default_factory=dict)

    @property
    def embodied_kg(self) -> float:
        return self.host_embodied_kg + self.gpu_embodied_kg


def candidate_carbon(chain: CarbonChain, column: np.ndarray, *, horizon_yr: float, gpu_lifetime_yr: float,
                     host_lifetime_yr: float, energy_factor: float, gpu_idle_w: float, gpu_busy_w: float,
                     rate: float, host_util: float | None = None, host_busy_w: float | None = None,
                     reuse=()) -> CandidateCarbon:
    """Prices of one candidate server (module docstring).

    Parameters
    ----------
    chain : CarbonChain
        The composition ``column`` was built by (its embodied, host-power and grid stages).
    column : ndarray
        The server's point (rows of ``chain``): server, coefficient set, grid and PUE.
    horizon_yr, gpu_lifetime_yr, host_lifetime_yr : float
    energy_factor : float
        Mean GPU energy factor over the horizon for this GPU lifetime (1: no refresh gain).
    gpu_idle_w, gpu_busy_w : float
        All the server's GPUs, idle with their models loaded and at the capacity point [W].
    rate : float
        Units served per second at the capacity point (> 0).
    host_util, host_busy_w : float, optional
        The host's CPU utilisation at the capacity point, or its power there [W].
    reuse : iterable of (service index, base utilisation, added utilisation, tokens/s)
        Host-CPU inference options: the host's utilisation from its GPU engines, the share of its
        cores the CPU engines add, and their output tokens/s.
    """
    mat = np.asarray(column, float)[:, None]
    ix = chain.index
    comps = chain.components_kg(mat)
    host_kg, gpu_kg = float(comps[:N_HOST].sum()), float(comps[N_HOST:].sum())
    host_e = float(period_embodied_kg(host_kg, 0.0, host_lifetime_yr, 1.0, horizon_yr))
    gpu_e = float(period_embodied_kg(0.0, gpu_kg, 1.0, gpu_lifetime_yr, horizon_yr))
    host_idle = float(chain.host_w(mat, np.zeros(1))[0])
    if host_busy_w is None:
        host_busy_w = float(chain.host_w(mat, np.array([min(1.0, max(0.0, host_util or 0.0))]))[0])
    idle_w = host_idle + energy_factor * gpu_idle_w
    busy_w = host_busy_w + energy_factor * gpu_busy_w
    unit_j = max(0.0, busy_w - idle_w) / rate
    ci = float(chain.ci_g_per_kwh(mat)[0])
    kg_per_j = float(mat[ix["pue"], 0]) * (ci if np.isfinite(ci) else 0.0) / J_PER_KWH / 1000.0
    reuse_j = {}
    for s, base, added, tok_s in reuse:
        u = np.array([min(1.0, base), min(1.0, base + added)])
        w = chain.host_w(np.repeat(mat, 2, axis=1), u)
        reuse_j[s] = max(0.0, float(w[1] - w[0])) / tok_s
    return CandidateCarbon(host_e, gpu_e, idle_w, unit_j, kg_per_j, busy_w, reuse_j)
