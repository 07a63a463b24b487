r"""Candidate servers' carbon over a plan's horizon, through the one composition (layer 2).

:func:`candidate_carbon` is the single place a plan turns servers and their operating points into
carbon, for many candidates at once (one column each, as :class:`~carbonsim.engine.chain.CarbonChain`
evaluates points): embodied carbon from the chain's embodied stage, charged to the horizon by the
GPU and host lifetimes, and the carbon per joule at the chain's grid intensity and PUE, both from
the chain's period stage (:meth:`~carbonsim.engine.chain.CarbonChain.over_period`); host power
from the chain's host stage.
The integer program needs it linear in the load, so a server's IT power at load :math:`x`
(requests/s or tokens/s) is the chord from idle to its capacity point:

.. math::

    P(x) = P_0 + e\,x, \qquad e = \frac{P(c) - P_0}{c}

with :math:`P_0` the server on and serving nothing (GPUs holding their model at loaded idle,
spare GPUs idle, the host at zero utilisation) and :math:`P(c)` its simulated mean power at
capacity :math:`c`. That suits offline work (a server runs batches back to back or idles, so its
energy is linear in its throughput) and host-CPU work alike. An online server's power is concave
in its load (its first requests already keep the GPUs busy), so online candidates are priced at
load levels instead: the simulated power at each level of its capacity, beyond idle
(``level_w``), the program choosing how many servers run at each level (docs/plan.md §2.2).

Refreshed GPUs: with a GPU lifetime :math:`L` shorter than the horizon the fleet's GPUs are
replaced by a newer generation whose energy per unit of work is lower by
:math:`2^{-\Delta t/T_2}` (:func:`carbonsim.models.lifecycle.refresh_gain.refreshed_energy_factor`);
the GPUs' idle and busy power are scaled by the horizon's mean factor, the host's are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonsim.engine.chain import CarbonChain
from carbonsim.models.embodied.layout import N_HOST
from carbonsim.units import J_PER_KWH


@dataclass
class CandidateCarbon:
    """Candidate servers' prices for the integer program (per server; arrays over candidates).

    Attributes
    ----------
    host_embodied_kg, gpu_embodied_kg : ndarray
        Embodied carbon charged to the horizon [kg].
    idle_w : ndarray
        IT power on and serving nothing [W] (GPU part after the refresh factor).
    busy_w : ndarray
        IT power at the capacity point [W].
    unit_j : ndarray
        IT energy per unit served beyond idle [J per request or per output token].
    kg_per_j : ndarray
        Operational carbon per joule of IT energy: PUE x grid intensity [kg/J].
    reuse_j : ndarray, shape (n, m)
        IT energy per output token of host-CPU work for each of ``m`` offline services [J]
        (``nan`` where the host has no such option).
    level_w : ndarray, shape (n, L)
        IT power beyond idle of a server at each load level [W] (online candidates; zeros otherwise).
    """

    host_embodied_kg: np.ndarray
    gpu_embodied_kg: np.ndarray
    idle_w: np.ndarray
    busy_w: np.ndarray
    unit_j: np.ndarray
    kg_per_j: np.ndarray
    reuse_j: np.ndarray
    level_w: np.ndarray

    @property
    def embodied_kg(self) -> np.ndarray:
        return self.host_embodied_kg + self.gpu_embodied_kg


def candidate_carbon(chain: CarbonChain, columns: np.ndarray, *, horizon_yr: float, gpu_lifetime_yr, host_lifetime_yr,
                     energy_factor, gpu_idle_w, gpu_busy_w, rate, host_util, host_busy_w,
                     reuse_base_util=None, reuse_added_util=None, reuse_tok_s=None, level_gpu_w=None,
                     level_host_util=None) -> CandidateCarbon:
    """Prices of candidate servers (module docstring); every argument but ``chain``, ``columns`` and
    ``horizon_yr`` is an array with one value per candidate.

    Parameters
    ----------
    chain : CarbonChain
        The composition ``columns`` were built by (its embodied, host-power and grid stages).
    columns : ndarray, shape (len(chain.rows), n)
        Each candidate's server point: server, coefficient set, grid and PUE.
    horizon_yr : float
    gpu_lifetime_yr, host_lifetime_yr : array_like
    energy_factor : array_like
        Mean GPU energy factor over the horizon for the GPU lifetime (1: no refresh gain).
    gpu_idle_w, gpu_busy_w : array_like
        All the server's GPUs, idle with their models loaded and at the capacity point [W].
    rate : array_like
        Units served per second at the capacity point (> 0).
    host_util, host_busy_w : array_like
        The host's CPU utilisation at the capacity point, or (where not ``nan``) its power there [W].
    reuse_base_util : array_like, shape (n,), optional
        The host's utilisation from its GPU engines alone.
    reuse_added_util, reuse_tok_s : array_like, shape (n, m), optional
        Share of the host's cores each offline service's CPU engines add, and their output tokens/s
        (``nan``: no option).
    level_gpu_w, level_host_util : array_like, shape (n, L), optional
        All the server's GPUs' power and the host's utilisation at each load level (``nan`` rows:
        not an online candidate).
    """
    mat = np.asarray(columns, float)
    n = mat.shape[1]
    ix = chain.index
    comps = chain.components_kg(mat)
    host_kg, gpu_kg = comps[:N_HOST].sum(axis=0), comps[N_HOST:].sum(axis=0)
    ci = np.nan_to_num(chain.ci_g_per_kwh(mat))
    # the chain's period stage: embodied carbon charged to the horizon (host and GPUs apart), and the
    # operational carbon of 1 W over it, which gives the carbon per joule of IT energy
    host_p = chain.over_period(np.ones(n), horizon_yr, mat[ix["pue"]], ci, host_kg, 0.0,
                               np.asarray(host_lifetime_yr, float), 1.0)
    gpu_p = chain.over_period(np.ones(n), horizon_yr, mat[ix["pue"]], ci, 0.0, gpu_kg, 1.0,
                              np.asarray(gpu_lifetime_yr, float))
    host_e, gpu_e = host_p["embodied_kg_amortised"], gpu_p["embodied_kg_amortised"]
    kg_per_j = host_p["operational_kg"] / (host_p["energy_kwh"] * J_PER_KWH)
    host_idle = chain.host_w(mat, np.zeros(n))
    given = np.asarray(host_busy_w, float)
    util = np.clip(np.nan_to_num(np.asarray(host_util, float)), 0.0, 1.0)
    host_busy = np.where(np.isnan(given), chain.host_w(mat, util), given)
    f = np.asarray(energy_factor, float)
    idle_w = host_idle + f * np.asarray(gpu_idle_w, float)
    busy_w = host_busy + f * np.asarray(gpu_busy_w, float)
    unit_j = np.maximum(0.0, busy_w - idle_w) / np.asarray(rate, float)
    if reuse_tok_s is None:
        reuse_j = np.zeros((n, 0))
    else:
        tok = np.asarray(reuse_tok_s, float)
        base = np.clip(np.asarray(reuse_base_util, float), 0.0, 1.0)
        w0 = chain.host_w(mat, base)
        reuse_j = np.full(tok.shape, np.nan)
        for j in range(tok.shape[1]):
            has = ~np.isnan(tok[:, j])
            w1 = chain.host_w(mat, np.clip(base + np.nan_to_num(np.asarray(reuse_added_util, float)[:, j]), 0.0, 1.0))
            reuse_j[has, j] = np.maximum(0.0, (w1 - w0)[has]) / tok[has, j]
    if level_gpu_w is None:
        level_w = np.zeros((n, 0))
    else:
        lg = np.asarray(level_gpu_w, float)
        lu = np.clip(np.nan_to_num(np.asarray(level_host_util, float)), 0.0, 1.0)
        level_w = np.zeros(lg.shape)
        for j in range(lg.shape[1]):
            w = chain.host_w(mat, lu[:, j]) + f * np.nan_to_num(lg[:, j])
            level_w[:, j] = np.where(np.isnan(lg[:, j]), 0.0, np.maximum(0.0, w - idle_w))
    return CandidateCarbon(host_e, gpu_e, idle_w, busy_w, unit_j, kg_per_j, reuse_j, level_w)
