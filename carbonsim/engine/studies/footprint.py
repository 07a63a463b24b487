"""``carbonsim footprint``: the per-second footprint of a server at a steady load (layer 2):
amortised embodied plus operational carbon, through :class:`~carbonsim.engine.chain.CarbonChain`;
with ``years`` also the totals over that period of use (the chain's period stage, as
``compare`` and ``inventory``), and per functional unit (:func:`with_sci`, the chain's unit stage)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.chain import CarbonChain, Load
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.grid import GridIntensity, grid_over_period
from carbonsim.engine.inputs.options import DEFAULT_PUE, check_options
from carbonsim.engine.inputs.server import Server
from carbonsim.engine.studies.embodied import EmbodiedResult, embodied
from carbonsim.units import KG_TO_MG, SECONDS_PER_YEAR

#: mg/s -> kg per year (365 days).
MG_PER_S_TO_KG_PER_YR = SECONDS_PER_YEAR / KG_TO_MG


@dataclass
class FootprintResult:
    """Per-second footprint: embodied (amortised) and operational, split host/GPU.

    ``rates`` holds the chain's results for the point (``embodied_mg_per_s``,
    ``operational_mg_per_s``, ``host_power_w`` ...).
    """

    embodied: EmbodiedResult
    grid: GridIntensity
    pue: float
    rates: dict[str, float]
    power_origin: str
    notes: list[str] = field(default_factory=list)
    sci: dict | None = None  # carbon per functional unit (with_sci)
    period: dict | None = None  # totals over a period of use (years given)

    @property
    def power_w(self) -> float:
        return self.rates["power_w"]

    @property
    def host_power_w(self) -> float | None:
        return self.rates["host_power_w"]

    @property
    def gpu_power_w(self) -> float | None:
        return self.rates["gpu_power_w"]

    @property
    def embodied_mg_per_s(self) -> float:
        return self.rates["embodied_mg_per_s"]

    @property
    def operational_mg_per_s(self) -> float:
        return self.rates["operational_mg_per_s"]

    @property
    def total_mg_per_s(self) -> float:
        return self.rates["total_mg_per_s"]

    @property
    def embodied_share(self) -> float:
        return self.rates["embodied_share"]

    @property
    def ci_g_per_kwh(self) -> float:
        return self.grid.ci_g_per_kwh

    @property
    def total_kg(self) -> float:
        return self.embodied.total_kg

    @property
    def host_kg(self) -> float:
        return self.embodied.host_kg

    @property
    def gpu_kg(self) -> float:
        return self.embodied.gpu_kg

    def to_frame(self):
        """Rates per second, hour and year as a pandas DataFrame (index: embodied, operational, total)."""
        import pandas as pd

        per_s = {k: self.rates[f"{k}_mg_per_s"] for k in ("embodied", "operational", "total")}
        return pd.DataFrame({"mg_per_s": per_s, "g_per_h": {k: v * 3.6 for k, v in per_s.items()},
                             "kg_per_yr": {k: v * MG_PER_S_TO_KG_PER_YR for k, v in per_s.items()}})


def footprint(server: Server, cs: CoefficientSet, grid: GridIntensity, db: Database, pue: float = DEFAULT_PUE,
              load: Load | None = None, samples: int = 0, seed: int | None = 0, years: float | None = None,
              start_year: int | None = None) -> FootprintResult:
    """Per-second footprint of ``server`` on ``grid`` at a steady ``load``.

    Parameters
    ----------
    server : Server
    cs : CoefficientSet
    grid : GridIntensity
    db : Database
        Power constants are read from it.
    pue : float
        Power usage effectiveness, >= 1.
    load : Load, optional
        Utilisations or a measured power (default: utilisation 0.5, stated in the notes).
    samples, seed
        Monte-Carlo percentiles of the embodied part.
    years : float, optional
        A period of use: the result's :attr:`FootprintResult.period` holds the energy,
        operational, amortised embodied and total carbon over it, and the rates use the grid's
        intensity over it (a trajectory's mean from ``start_year``, default the grid's year).
    """
    load = load or Load()
    check_options(pue=pue, cpu_util=load.cpu_util, gpu_util=load.gpu_util, power_w=load.power_w, samples=samples,
                  seed=seed, years=years, year=start_year)
    if years is not None:
        grid = grid_over_period(grid, db, years, start_year)
    chain = CarbonChain.for_points(db, 1)
    col = chain.column(server, cs, ci_g_per_kwh=grid.ci_g_per_kwh, pue=pue, load=load, period_yr=years or 0.0)
    mat = col.value[:, None]
    comps = chain.components_kg(mat)  # once: the rates and the component breakdown both use it
    res = chain.run_load(mat, comps=comps)
    rates = {k: float(v[0]) for k, v in res.items()}
    period = None
    if years is not None:
        period = {"years": float(years), "grid": grid.label, "grid_years": list(grid.period) if grid.period else
                  ([grid.year] if grid.year is not None else None), "ci_g_per_kwh": grid.ci_g_per_kwh,
                  **{k: rates.pop(k) for k in ("energy_kwh", "operational_kg", "embodied_kg_amortised", "total_kg")}}
        rates.pop("period_yr")
    for k in ("host_power_w", "gpu_power_w", "host_operational_mg_per_s", "gpu_operational_mg_per_s"):
        if np.isnan(rates[k]):
            rates[k] = None
    e = embodied(server, cs, samples=samples, seed=seed, model=chain.embodied, column=col.embodied,
                 components=comps[:, 0])
    notes = [n for n in col.notes if n not in e.notes]
    return FootprintResult(e, grid, float(pue), rates, col.power_origin, notes, period=period)


#: Functional units of ``footprint --per`` and what ``rate`` is for each (None: no rate needed).
FOOTPRINT_UNITS = {"hour": None, "day": None, "request": "requests per second",
                   "1k-tokens": "output tokens per second"}


def with_sci(result: FootprintResult, per: str | None, rate: float | None = None) -> FootprintResult:
    r"""Add the carbon per functional unit, :math:`SCI = (E \cdot I + M)/R`, to a footprint
    (the chain's unit stage, :meth:`~carbonsim.engine.chain.CarbonChain.per_unit`).

    Per second: :math:`E \cdot I` is the operational carbon (power × PUE × the grid's intensity),
    :math:`M` the amortised embodied carbon; :math:`R` is 1/3600 hours, 1/86400 days, ``rate``
    requests or ``rate``/1000 thousands of output tokens (:mod:`carbonsim.models.lifecycle.sci`).
    """
    from carbonsim.errors import OptionError

    if per is None:
        raise OptionError("--rate needs --per request or --per 1k-tokens (what the rate counts)", "per")
    if per not in FOOTPRINT_UNITS:
        raise OptionError(f"expected one of {', '.join(FOOTPRINT_UNITS)}, found {per!r}", "per")
    needs = FOOTPRINT_UNITS[per]
    if rate is not None and needs is None:
        raise OptionError(f"--per {per} takes no --rate (a rate counts requests or output tokens)", "rate")
    if needs and rate is None:
        raise OptionError(f"--per {per} needs --rate ({needs})", "rate")
    check_options(rate=rate)
    units_per_s = {"hour": 1 / 3600.0, "day": 1 / 86400.0, "request": rate, "1k-tokens": (rate or 0) / 1000.0}[per]
    value = CarbonChain.per_unit(result.operational_mg_per_s / 1000.0, result.embodied_mg_per_s / 1000.0, units_per_s)
    result.sci = {"unit": per, "g_per_unit": value, "rate": rate, "rate_is": needs,
                  "formula": "(E*I + M) / R (Green Software Foundation SCI)"}
    if per == "request":
        from carbonsim.engine.inputs.plausibility import per_request_message, warn

        message = per_request_message("--rate", rate, float(value))
        if message:
            warn(message)
    return result
