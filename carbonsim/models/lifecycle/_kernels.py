"""Numba kernel of the fleet model (layer 1): the same equations as
:func:`carbonsim.models.lifecycle.refresh.fleet_reference`, one point at a time in compiled loops.
The parity test (``tests/models/test_refresh_training.py``) holds the two together on random inputs.

Energy, operational carbon and the end-of-horizon credit are not written again here: the kernel
compiles the very functions the reference calls (``njit(period_energy_kwh)``,
``njit(operational_g)``, ``njit(amortised_kg)``), so E x PUE x CI and the amortisation exist once
in carbonsim, and the parity test holds the two callers together.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from carbonsim import kernel_cache
from carbonsim.models.grid.carbon import operational_g
from carbonsim.models.lifecycle.amortisation import amortised_kg, period_energy_kwh
from carbonsim.models.lifecycle.refresh import _CEIL_TOL, POINT_INPUTS, YEAR_INPUTS
from carbonsim.units import SECONDS_PER_YEAR

kernel_cache.install()  # stored kernels follow the carbonsim modules they import (docs/architecture.md)

# the layer-1 formulas themselves, compiled (one definition each; see the module docstring)
_period_energy_kwh = njit(cache=True)(period_energy_kwh)
_operational_g = njit(cache=True)(operational_g)
_amortised_kg = njit(cache=True)(amortised_kg)

#: Rows of the kernel's output, in order.
OUTPUTS = ("embodied_kg", "embodied_gross_kg", "end_credit_kg", "operational_kg", "total_kg", "energy_mwh",
           "gpus_bought", "hosts_bought", "gpu_sets_bought", "tokens", "mean_utilization")


@njit(cache=True)
def _fleet(p, y, out):  # pragma: no cover - compiled (CI reruns the parity test with the JIT off)
    n = p.shape[1]
    ny = y.shape[2]
    sets = np.zeros(ny)
    hosts = np.zeros(ny)
    for i in range(n):
        H = p[0, i]
        Rg = p[1, i]
        Rh = p[2, i]
        d0 = p[3, i]
        g = p[4, i]
        ustar = p[5, i]
        pue = p[6, i]
        credit = p[7, i]
        sets[:] = 0.0
        hosts[:] = 0.0
        gross = 0.0
        op = 0.0
        energy = 0.0
        tokens = 0.0
        busy = 0.0
        gpus = 0.0
        nhosts = 0.0
        nsets = 0.0
        for k in range(ny):
            if not k < H:
                break
            dem = d0 * (1.0 + g) ** k
            alive_cap = 0.0
            alive_sets = 0.0
            for j in range(k):
                if (k - j) < Rg:
                    alive_cap += sets[j] * y[1, i, j]
                    alive_sets += sets[j]
            short = dem / ustar - alive_cap
            new = 0.0
            if short > 0.0:
                new = math.ceil(short / y[1, i, k] - _CEIL_TOL)
            sets[k] = new
            in_service = alive_sets + new
            capacity = alive_cap + new * y[1, i, k]
            u = dem / capacity if capacity > 0.0 else 0.0
            gpu_w = 0.0
            for j in range(k + 1):
                if (k - j) < Rg:
                    gpu_w += sets[j] * (u * y[2, i, j] + (1.0 - u) * y[3, i, j])
            alive_hosts = 0.0
            for j in range(k):
                if (k - j) < Rh:
                    alive_hosts += hosts[j]
            hosts[k] = max(0.0, in_service - alive_hosts)
            need = in_service
            host_w = 0.0
            for j in range(k, -1, -1):
                if (k - j) < Rh:
                    take = min(need, hosts[j])
                    host_w += take * (u * y[4, i, j] + (1.0 - u) * y[5, i, j])
                    need -= take
            e_kwh = _period_energy_kwh(gpu_w + host_w, 1.0)
            energy += e_kwh
            op += _operational_g(e_kwh, pue, y[0, i, k]) / 1000.0
            gross += sets[k] * y[6, i, k] + hosts[k] * y[7, i, k]
            gpus += new * y[8, i, k]
            nhosts += hosts[k]
            nsets += new
            tokens += dem * SECONDS_PER_YEAR
            busy += u
        cred = 0.0
        for j in range(ny):
            left_g_s = min(Rg, max(0.0, j + Rg - H)) * SECONDS_PER_YEAR  # planned life left
            left_h_s = min(Rh, max(0.0, j + Rh - H)) * SECONDS_PER_YEAR
            cred += (_amortised_kg(sets[j] * y[6, i, j], left_g_s, Rg)
                     + _amortised_kg(hosts[j] * y[7, i, j], left_h_s, Rh))
        cred *= credit
        out[0, i] = gross - cred
        out[1, i] = gross
        out[2, i] = cred
        out[3, i] = op
        out[4, i] = gross - cred + op
        out[5, i] = energy / 1000.0
        out[6, i] = gpus
        out[7, i] = nhosts
        out[8, i] = nsets
        out[9, i] = tokens
        out[10, i] = busy / H


def fleet_compiled(point: dict, years: dict) -> dict[str, np.ndarray]:
    """:func:`~carbonsim.models.lifecycle.refresh.fleet_reference` (totals only) through the kernel."""
    p = np.ascontiguousarray(np.stack([np.asarray(point[k], float) for k in POINT_INPUTS]))
    y = np.ascontiguousarray(np.stack([np.asarray(years[k], float) for k in YEAR_INPUTS]))
    out = np.empty((len(OUTPUTS), p.shape[1]))
    _fleet(p, y, out)
    return {k: out[i] for i, k in enumerate(OUTPUTS)}
