"""Compare servers over a period of use (layer 2): embodied + operational, and the break-even grid.

For each server, over ``years`` of use at utilisation ``u`` in a datacenter with ``pue`` on a grid
of intensity ``CI``:

.. math::

    C = E \\cdot \\frac{Y}{LT} + P(u) \\cdot 8760\\,h \\cdot Y \\cdot PUE \\cdot CI

(embodied amortised over its lifetime, ACT Eq. 1; GPU and host lifetimes separately). Against the
first server, the **break-even intensity** is the CI at which the two totals are equal,
``CI* = (E'_B - E'_A) / ((P_A - P_B) · 8760 h · Y · PUE)`` with ``E'`` the amortised embodied
carbon; below it the server with less embodied carbon wins, above it the one drawing less power.
"""

from __future__ import annotations

from dataclasses import dataclass

from carbonsim.engine.studies.assessment import embodied
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import Server
from carbonsim.engine.inputs.operational import server_power
from carbonsim.units import HOURS_PER_YEAR


@dataclass
class Comparison:
    server: Server
    embodied_kg: float
    embodied_kg_amortised: float
    power_w: float
    energy_kwh: float
    operational_kg: float
    power_origin: str
    break_even_ci_g_per_kwh: float | None = None

    @property
    def total_kg(self) -> float:
        return self.embodied_kg_amortised + self.operational_kg


def compare_servers(servers: list[Server], cs: CoefficientSet, ci_g_per_kwh: float, years: float = 4.0,
                    utilization: float = 0.5, pue: float = 1.0) -> list[Comparison]:
    """Totals over ``years`` for each server, and each one's break-even intensity against the first."""
    if not years > 0:
        raise InputError(f"--years must be positive, found {years}", field="years")
    if not 0 <= utilization <= 1:
        raise InputError(f"--utilization must be between 0 and 1, found {utilization}", field="utilization")
    if not pue >= 1:
        raise InputError(f"PUE must be at least 1.0, found {pue}", field="pue")
    out = []
    for s in servers:
        e = embodied(s, cs)
        amortised = (e.host_kg * years / s.host_lifetime_yr.value + e.gpu_kg * years / s.gpu_lifetime_yr.value)
        p = server_power(s, e.host_share, None, utilization, utilization)
        energy_kwh = p.power_w / 1000.0 * HOURS_PER_YEAR * years  # W -> kW, times hours
        out.append(Comparison(s, e.total_kg, amortised, p.power_w, energy_kwh,
                              energy_kwh * pue * ci_g_per_kwh / 1000.0, p.origin))
    a = out[0]
    for b in out[1:]:
        d_power_kwh = (a.energy_kwh - b.energy_kwh) * pue
        if abs(d_power_kwh) > 1e-12:
            ci = (b.embodied_kg_amortised - a.embodied_kg_amortised) * 1000.0 / d_power_kwh
            b.break_even_ci_g_per_kwh = ci if ci > 0 else None
    return out
