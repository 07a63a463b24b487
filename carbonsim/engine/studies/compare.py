r"""``carbonsim compare``: servers over a period of use, and the break-even grid (layer 2).

For each server, over ``years`` of use at a steady load in a datacenter with ``pue`` on a grid
of intensity ``CI`` over those years, through the period stage of
:class:`~carbonsim.engine.chain.CarbonChain` (:meth:`~carbonsim.engine.chain.CarbonChain.over_period`):

.. math::

    C = E_{host} \frac{Y}{LT_{host}} + E_{GPU} \frac{Y}{LT_{GPU}} + P \cdot 8760\,h \cdot Y \cdot PUE \cdot CI

(ACT Eq. 1 amortisation; :mod:`carbonsim.models.lifecycle.amortisation`). Against the first
server, the break-even intensity is where the two totals are equal
(:func:`~carbonsim.models.lifecycle.amortisation.break_even_ci_g_per_kwh`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonsim.engine.chain import CarbonChain, Load
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.grid import grid_over_period
from carbonsim.engine.inputs.options import DEFAULT_PUE, check_options
from carbonsim.engine.inputs.server import Server
from carbonsim.models.lifecycle.amortisation import break_even_ci_g_per_kwh


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
    uncertainty: dict | None = None  # with samples: p5/p95 of total_kg and embodied_kg_amortised

    @property
    def total_kg(self) -> float:
        return self.embodied_kg_amortised + self.operational_kg


@dataclass
class CompareResult:
    """Servers compared over a period: one :class:`Comparison` each, and the setting."""

    servers: list[Comparison]
    grid: object
    years: float
    load: Load
    pue: float
    coefficients: CoefficientSet
    samples: int = 0
    seed: int = 0

    KEYS = ("embodied_kg", "embodied_kg_amortised", "power_w", "energy_kwh", "operational_kg", "total_kg",
            "break_even_ci_g_per_kwh")

    def records(self) -> list[dict]:
        return [{"server": c.server.id, **{k: getattr(c, k) for k in self.KEYS}, **(c.uncertainty or {})}
                for c in self.servers]

    def to_frame(self):
        """One row per server (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.records()).set_index("server")


def compare(servers: list[Server], cs: CoefficientSet, grid, db: Database, years: float = 4.0,
            load: Load | None = None, pue: float = DEFAULT_PUE, start_year: int | None = None, samples: int = 0,
            seed: int = 0) -> CompareResult:
    """:func:`compare_servers` on the grid over the period of use, with the setting kept for reports.

    The grid is resolved over ``[start_year, start_year + years]`` (default start: the year it was
    resolved for) in the grid inputs (:func:`~carbonsim.engine.inputs.grid.grid_over_period`): a
    trajectory's mean over those years, not its value in one year; the result's grid label names
    the years. With ``samples``, each server's total and amortised embodied carbon get p5/p95 from
    draws of its ranged embodied inputs and lifetimes (the chain's sampling; power and grid fixed).
    """
    load = load or Load()
    check_options(years=years, year=start_year, samples=samples, seed=seed)
    grid = grid_over_period(grid, db, years, start_year)
    rows = compare_servers(servers, cs, grid.ci_g_per_kwh, db, years, load, pue, samples, seed)
    return CompareResult(rows, grid, float(years), load, float(pue), cs, int(samples), seed)


def compare_servers(servers: list[Server], cs: CoefficientSet, ci_g_per_kwh: float, db: Database,
                    years: float = 4.0, load: Load | None = None, pue: float = DEFAULT_PUE, samples: int = 0,
                    seed: int = 0) -> list[Comparison]:
    """Totals over ``years`` for each server (the chain's period stage), and each one's break-even
    intensity against the first.

    Parameters
    ----------
    servers : list of Server
    cs : CoefficientSet
    ci_g_per_kwh : float
        Grid intensity over the period [g/kWh].
    db : Database
    years : float
        Period of use [yr], > 0.
    load : Load, optional
        Utilisations (the same for every server; default 0.5).
    pue : float
    """
    load = load or Load()
    check_options(years=years, pue=pue, cpu_util=load.cpu_util, gpu_util=load.gpu_util)
    chain = CarbonChain.for_points(db, len(servers), samples=samples, seed=seed)
    cols = [chain.column(s, cs, ci_g_per_kwh=ci_g_per_kwh, pue=pue, load=load, period_yr=years) for s in servers]
    res = chain.run_load(np.stack([c.value for c in cols], axis=1))
    out = [Comparison(s, float(res.embodied_kg[i]), float(res.embodied_kg_amortised[i]), float(res.power_w[i]),
                      float(res.energy_kwh[i]), float(res.operational_kg[i]), cols[i].power_origin)
           for i, s in enumerate(servers)]
    if samples:
        for i, c in enumerate(out):
            c.uncertainty = {f"{q}_{p}": float(res[f"{q}_{p}"][i]) for q in ("total_kg", "embodied_kg_amortised")
                             for p in ("p5", "p95")}
    amortised, energy = res.embodied_kg_amortised, res.energy_kwh
    be = break_even_ci_g_per_kwh(amortised[0], energy[0], amortised[1:], energy[1:], pue)
    for b, ci in zip(out[1:], np.atleast_1d(be)):
        b.break_even_ci_g_per_kwh = None if np.isnan(ci) else float(ci)
    return out
