r"""A fleet serving a growing demand over a horizon of years, with GPUs and hosts refreshed on their
own schedules (layer 1).

Each year :math:`k = 0 \dots H-1` the fleet must serve a mean demand of :math:`D_k = D_0 (1+g)^k`
output tokens per second and is sized so that its mean load is the target utilisation :math:`u^*`
of its capacity (headroom for peaks). A **GPU set** (the GPUs of one server) bought in year
:math:`j` is the newest generation available then, with that generation's capacity :math:`c_j`
[tokens/s], busy and idle power, and embodied carbon. It serves until age :math:`R_G` (the GPU
refresh period), a host until age :math:`R_H`. Each year:

.. math::

    A_k &= \sum_{j=k-R_G+1}^{k-1} n_j c_j  \quad\text{(capacity still in service)} \\
    n_k &= \left\lceil \frac{\max(0,\ D_k/u^* - A_k)}{c_k} \right\rceil  \quad\text{(GPU sets bought)} \\
    S_k &= \sum_{j=k-R_G+1}^{k} n_j, \qquad u_k = \frac{D_k}{A_k + n_k c_k} \\
    m_k &= \max\Big(0,\ S_k - \sum_{j=k-R_H+1}^{k-1} m_j\Big)  \quad\text{(hosts bought)}

A host takes any generation's GPU set (the seed's asymmetric refresh: new GPUs in kept hosts);
spare hosts (when fewer sets are needed) are powered off and reused first, youngest first, until
their own refresh age. Every server in service runs at the same utilisation :math:`u_k`; a GPU
set draws :math:`u_k P^{busy}_j + (1-u_k) P^{idle}_j`, a host likewise with its own generation's
powers. Energy :math:`E_k = \sum P \cdot 8760\,h`, operational carbon
:math:`E_k \cdot PUE \cdot CI_k` with the grid's intensity in year :math:`k`
(:func:`carbonsim.models.grid.carbon.operational_g`).

**Accounting rule.** Embodied carbon is charged in full in the year of purchase (GHG Protocol
Scope 3, Category 2, capital goods: emissions are reported in the year of acquisition). A device
retired at its refresh age, or a spare host left unused, gets no credit: no resale or second life
is modelled. A device still within its refresh period at the end of the horizon is credited the
unused share of its planned life, :math:`E \cdot \max(0, j + R - H)/R` (``credit = 1``; straight
line, :func:`carbonsim.models.lifecycle.amortisation.amortised_kg` over the years left), so that
a purchase shortly before the horizon's end is not charged for years the horizon does not
contain; ``credit = 0`` charges it in full. With refresh periods equal to the lifetimes, the
fleet's embodied carbon over :math:`H` years is therefore :math:`E \cdot H / LT`, the amortised
share every other command charges to a period of use.

References
----------
.. [1] Y. Li, O. Graif, U. Gupta, "Towards Carbon-efficient LLM Life Cycle", HotCarbon 2024,
   Sec. 5.4 (refresh GPUs more often than hosts; FLOPS/W doubles about every 3 years).
.. [2] U. Gupta et al., "Chasing Carbon", HPCA 2021 (embodied vs operational over a device's life).
.. [3] WRI/WBCSD, GHG Protocol Technical Guidance for Calculating Scope 3 Emissions (2013),
   Category 2 "Capital goods".
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.grid.carbon import operational_g
from carbonsim.models.lifecycle.amortisation import amortised_kg, period_energy_kwh
from carbonsim.units import SECONDS_PER_YEAR

#: Inputs per point (one value each) of :func:`fleet_reference`, in order.
POINT_INPUTS = ("horizon_yr", "gpu_refresh_yr", "host_refresh_yr", "demand_tok_s", "growth_per_yr",
                "utilization", "pue", "credit")
#: Inputs per point and year (shape ``(n_points, n_years)``): the intensity of year k and the
#: properties of the generation bought in year k.
YEAR_INPUTS = ("ci_g_per_kwh", "cap_tok_s", "gpu_busy_w", "gpu_idle_w", "host_busy_w", "host_idle_w",
               "gpu_set_kg", "host_kg", "gpus_per_set")
#: Per-year outputs (shape ``(n_points, n_years)``).
YEAR_OUTPUTS = ("demand_tok_s", "gpu_sets_bought", "gpus_bought", "hosts_bought", "gpu_sets_in_service",
                "hosts_in_service", "capacity_tok_s", "utilization", "energy_kwh", "operational_kg",
                "embodied_kg")
#: Guards ceil() against rounding noise (a shortfall of 3.0000000001 sets is 3 sets).
_CEIL_TOL = 1e-9


def demand_tok_s(demand0_tok_s, growth_per_yr, year_index):
    r"""Mean demand in year ``k``: :math:`D_k = D_0 (1 + g)^k` [tokens/s]."""
    return np.asarray(demand0_tok_s, float) * (1.0 + np.asarray(growth_per_yr, float)) ** year_index


def fleet_reference(point: dict, years: dict, per_year: bool = False) -> dict[str, np.ndarray]:
    r"""The fleet model (module docstring) for many points at once; readable NumPy reference.

    Parameters
    ----------
    point : dict of array_like, shape (n,)
        :data:`POINT_INPUTS`: horizon [yr] (whole), GPU and host refresh periods [yr] (whole,
        >= 1), year-0 demand [output tokens/s] (> 0), growth per year (fraction, > -1), target
        utilisation (0..1], PUE, credit flag (1: remaining-life credit at the horizon's end).
    years : dict of array_like, shape (n, n_years)
        :data:`YEAR_INPUTS` for years 0..n_years-1 (n_years >= the largest horizon): grid
        intensity [g/kWh]; of the generation bought that year, capacity of one GPU set
        [tokens/s], busy and idle power of the set and of a host [W], embodied carbon of the set
        and of a host [kg], GPUs per set.
    per_year : bool
        Also return the per-year table (:data:`YEAR_OUTPUTS`, shape ``(n, n_years)``; zero after
        the horizon).

    Returns
    -------
    dict of ndarray, shape (n,)
        ``embodied_kg`` (net of the end credit), ``embodied_gross_kg``, ``end_credit_kg``,
        ``operational_kg``, ``total_kg``, ``energy_mwh``, ``gpus_bought``, ``hosts_bought``,
        ``gpu_sets_bought``, ``tokens`` (output tokens served), ``mean_utilization``
        (time-weighted), plus ``year_<name>`` arrays when ``per_year``.
    """
    H = np.asarray(point["horizon_yr"], float)
    Rg = np.asarray(point["gpu_refresh_yr"], float)
    Rh = np.asarray(point["host_refresh_yr"], float)
    d0 = np.asarray(point["demand_tok_s"], float)
    g = np.asarray(point["growth_per_yr"], float)
    ustar = np.asarray(point["utilization"], float)
    pue = np.asarray(point["pue"], float)
    credit = np.asarray(point["credit"], float)
    y = {k: np.asarray(years[k], float) for k in YEAR_INPUTS}
    n, ny = y["cap_tok_s"].shape
    last = int(min(ny, H.max(initial=0)))  # years after every point's horizon stay zero
    sets = np.zeros((n, ny))
    hosts = np.zeros((n, ny))
    out_year = {k: np.zeros((n, ny)) for k in YEAR_OUTPUTS}
    for k in range(last):
        active = k < H
        dem = np.where(active, demand_tok_s(d0, g, k), 0.0)
        alive_cap = np.zeros(n)
        alive_sets = np.zeros(n)
        for j in range(k):
            alive = (k - j) < Rg
            alive_cap += np.where(alive, sets[:, j] * y["cap_tok_s"][:, j], 0.0)
            alive_sets += np.where(alive, sets[:, j], 0.0)
        short = np.maximum(0.0, dem / ustar - alive_cap)
        new = np.where(active & (short > 0), np.ceil(short / y["cap_tok_s"][:, k] - _CEIL_TOL), 0.0)
        sets[:, k] = new
        in_service = alive_sets + new
        capacity = alive_cap + new * y["cap_tok_s"][:, k]
        u = np.where(capacity > 0, dem / np.where(capacity > 0, capacity, 1.0), 0.0)
        # GPU power of every set in service, each at its generation's powers
        gpu_w = new * (u * y["gpu_busy_w"][:, k] + (1 - u) * y["gpu_idle_w"][:, k])
        for j in range(k):
            alive = (k - j) < Rg
            gpu_w += np.where(alive, sets[:, j] * (u * y["gpu_busy_w"][:, j] + (1 - u) * y["gpu_idle_w"][:, j]), 0.0)
        # hosts: reuse those still within their refresh period, buy the rest
        alive_hosts = np.zeros(n)
        for j in range(k):
            alive_hosts += np.where((k - j) < Rh, hosts[:, j], 0.0)
        hosts[:, k] = np.where(active, np.maximum(0.0, in_service - alive_hosts), 0.0)
        # the hosts that serve: youngest first, up to one per GPU set
        need = in_service.copy()
        host_w = np.zeros(n)
        for j in range(k, -1, -1):
            take = np.where((k - j) < Rh, np.minimum(need, hosts[:, j]), 0.0)
            host_w += take * (u * y["host_busy_w"][:, j] + (1 - u) * y["host_idle_w"][:, j])
            need -= take
        energy_kwh = np.where(active, period_energy_kwh(gpu_w + host_w, 1.0), 0.0)
        op_kg = operational_g(energy_kwh, pue, y["ci_g_per_kwh"][:, k]) / 1000.0
        emb_kg = sets[:, k] * y["gpu_set_kg"][:, k] + hosts[:, k] * y["host_kg"][:, k]
        for name, value in (("demand_tok_s", dem), ("gpu_sets_bought", new),
                            ("gpus_bought", new * y["gpus_per_set"][:, k]), ("hosts_bought", hosts[:, k]),
                            ("gpu_sets_in_service", np.where(active, in_service, 0.0)),
                            ("hosts_in_service", np.where(active, in_service, 0.0)),
                            ("capacity_tok_s", np.where(active, capacity, 0.0)), ("utilization", u),
                            ("energy_kwh", energy_kwh), ("operational_kg", op_kg), ("embodied_kg", emb_kg)):
            out_year[name][:, k] = value
    # remaining-life credit of what is still within its refresh period when the horizon ends
    j = np.arange(ny)[None, :]
    left_g_s = np.clip(j + Rg[:, None] - H[:, None], 0.0, Rg[:, None]) * SECONDS_PER_YEAR  # planned life left
    left_h_s = np.clip(j + Rh[:, None] - H[:, None], 0.0, Rh[:, None]) * SECONDS_PER_YEAR
    credit_kg = credit * (amortised_kg(sets * y["gpu_set_kg"], left_g_s, Rg[:, None]).sum(1)
                          + amortised_kg(hosts * y["host_kg"], left_h_s, Rh[:, None]).sum(1))
    gross = out_year["embodied_kg"].sum(1)
    op = out_year["operational_kg"].sum(1)
    tokens = (out_year["demand_tok_s"] * SECONDS_PER_YEAR).sum(1)
    busy = (out_year["utilization"] * (np.arange(ny)[None, :] < H[:, None])).sum(1)
    res = {
        "embodied_kg": gross - credit_kg,
        "embodied_gross_kg": gross,
        "end_credit_kg": credit_kg,
        "operational_kg": op,
        "total_kg": gross - credit_kg + op,
        "energy_mwh": out_year["energy_kwh"].sum(1) / 1000.0,
        "gpus_bought": out_year["gpus_bought"].sum(1),
        "hosts_bought": out_year["hosts_bought"].sum(1),
        "gpu_sets_bought": sets.sum(1),
        "tokens": tokens,
        "mean_utilization": busy / H,
    }
    if per_year:
        res.update({f"year_{k}": v for k, v in out_year.items()})
    return res


def check_policy(horizon_yr, gpu_refresh_yr, host_refresh_yr) -> str | None:
    """Why a refresh policy cannot be evaluated over a horizon (None when it can).

    A refresh period longer than the horizon never refreshes inside it; it is refused rather than
    silently equal to "keep to the end".
    """
    for name, r in (("gpu_refresh_yr", gpu_refresh_yr), ("host_refresh_yr", host_refresh_yr)):
        if r > horizon_yr:
            return f"{name} {r:g} is longer than the horizon of {horizon_yr:g} years"
    return None
