"""Embodied carbon and per-second footprint of one server (layer 2).

``embodied(server, coefficients)`` is what ``carbonsim embodied`` prints; ``footprint`` adds
operational carbon for a power draw, PUE and grid intensity (``carbonsim footprint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.db.schema import cited_sources
from carbonsim.models.embodied._kernels import server_components
from carbonsim.models.embodied.layout import C, GPU_COMPONENTS, HOST_COMPONENTS, P
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.models.grid.carbon import operational_rate_mg_per_s
from carbonsim.engine.inputs.server import Server
from carbonsim.engine.inputs.columns import server_column
from carbonsim.errors import InputError
from carbonsim.models.uncertainty import percentiles, sample_matrix, triangular

MAX_SAMPLES = 10_000_000


@dataclass
class EmbodiedResult:
    """Embodied carbon of one server under one coefficient set.

    All masses in kg CO2e; rates in mg CO2e per second of the server's life.
    """

    server: Server
    coefficients: CoefficientSet
    host_components_kg: dict[str, float]
    gpu_components_kg: dict[str, float]
    host_share: float
    sources: set[str]
    notes: list[str] = field(default_factory=list)
    uncertainty: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: int = 0
    seed: int | None = None

    @property
    def host_kg(self) -> float:
        return float(sum(self.host_components_kg.values()))

    @property
    def gpu_kg(self) -> float:
        return float(sum(self.gpu_components_kg.values()))

    @property
    def total_kg(self) -> float:
        return self.host_kg + self.gpu_kg

    @property
    def per_gpu_kg(self) -> float | None:
        return self.gpu_kg / self.server.gpu_count if self.server.gpu_count else None

    @property
    def host_mg_per_s(self) -> float:
        return float(embodied_rate_mg_per_s(self.host_kg, self.server.host_lifetime_yr.value))

    @property
    def gpu_mg_per_s(self) -> float:
        return float(embodied_rate_mg_per_s(self.gpu_kg, self.server.gpu_lifetime_yr.value))

    @property
    def mg_per_s(self) -> float:
        return self.host_mg_per_s + self.gpu_mg_per_s


def embodied(server: Server, cs: CoefficientSet, samples: int = 0, seed: int | None = 0) -> EmbodiedResult:
    """Embodied carbon of ``server`` under ``cs``, with optional Monte-Carlo percentiles.

    Parameters
    ----------
    server : Server
    cs : CoefficientSet
    samples : int
        Number of Monte-Carlo samples of the ranged inputs (0: point estimate only).
    seed : int or None
        Seed of the sampler.
    """
    col = server_column(server, cs)
    comp = server_components(col.value[:, None])[:, 0]
    result = EmbodiedResult(
        server=server,
        coefficients=cs,
        host_components_kg={n: float(comp[C[n]]) for n in HOST_COMPONENTS},
        gpu_components_kg={n: float(comp[C[n]]) for n in GPU_COMPONENTS},
        host_share=float(col.value[P['host_share']]),
        sources=col.sources | cited_sources(server),
        notes=list(col.notes),
        samples=int(samples),
        seed=seed,
    )
    if samples:
        if not 1 <= samples <= MAX_SAMPLES:
            raise InputError(f"--samples must be between 1 and {MAX_SAMPLES}, found {samples}")
        result.uncertainty = _sample(col, server, samples, seed)
    return result


def _sample(col, server: Server, n: int, seed) -> dict[str, dict[str, float]]:
    """p5/p50/p95 of totals and rates from ``n`` draws through the kernel."""
    mat = sample_matrix(col.value, col.low, col.high, n, seed)
    comp = server_components(mat)
    host = comp[: len(HOST_COMPONENTS)].sum(axis=0)
    gpu = comp[len(HOST_COMPONENTS):].sum(axis=0)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    life_h = _life_draws(server.host_lifetime_yr, n, rng)
    life_g = _life_draws(server.gpu_lifetime_yr, n, rng)
    rate = embodied_rate_mg_per_s(host, life_h) + embodied_rate_mg_per_s(gpu, life_g)
    return {
        "total_kg": percentiles(host + gpu),
        "host_kg": percentiles(host),
        "gpu_kg": percentiles(gpu),
        "embodied_mg_per_s": percentiles(rate),
    }


def _life_draws(life, n, rng):
    lo = life.value if life.low is None else life.low
    hi = life.value if life.high is None else life.high
    return triangular(life.value, lo, hi, n, rng)


@dataclass
class FootprintResult:
    """Per-second footprint: embodied (amortised) and operational."""

    embodied: EmbodiedResult
    power_w: float
    pue: float
    ci_g_per_kwh: float
    grid: str
    grid_basis: str
    grid_source: str | None
    power_origin: str
    host_power_w: float | None = None
    gpu_power_w: float | None = None

    @property
    def operational_mg_per_s(self) -> float:
        return float(operational_rate_mg_per_s(self.power_w, self.pue, self.ci_g_per_kwh))

    @property
    def embodied_mg_per_s(self) -> float:
        return self.embodied.mg_per_s

    @property
    def total_mg_per_s(self) -> float:
        return self.operational_mg_per_s + self.embodied_mg_per_s

    @property
    def embodied_share(self) -> float:
        return self.embodied_mg_per_s / self.total_mg_per_s if self.total_mg_per_s else 0.0


def footprint(server: Server, cs: CoefficientSet, ci_g_per_kwh: float, grid: str, grid_basis: str,
              grid_source: str | None = None, power_w: float | None = None, pue: float = 1.0,
              cpu_util: float | None = None, gpu_activity: float | None = None, mem_util: float | None = None,
              samples: int = 0, seed: int | None = 0) -> FootprintResult:
    """Per-second footprint of a server at a constant power draw.

    Parameters
    ----------
    server : Server
    cs : CoefficientSet
    ci_g_per_kwh : float
        Grid intensity [g/kWh].
    grid, grid_basis, grid_source : str
        What the intensity is (label), its basis (lifecycle / direct) and its source id.
    power_w : float, optional
        Measured IT power [W]. Otherwise the power is estimated from ``cpu_util``,
        ``gpu_activity`` (0..1) by :func:`carbonsim.engine.inputs.operational.server_power`.
    pue : float
        Power usage effectiveness, >= 1.
    """
    from carbonsim.engine.inputs.operational import server_power

    if not pue >= 1.0:
        raise InputError(f"PUE must be at least 1.0, found {pue}", field="pue")
    e = embodied(server, cs, samples=samples, seed=seed)
    p = server_power(server, e.host_share, power_w, cpu_util, gpu_activity, mem_util)
    e.notes.extend(p.notes)
    return FootprintResult(e, p.power_w, float(pue), float(ci_g_per_kwh), grid, grid_basis,
                           grid_source, p.origin, p.host_w, p.gpu_w)
