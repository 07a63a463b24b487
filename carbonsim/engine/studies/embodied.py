"""``carbonsim embodied``: a server's embodied carbon by component, with optional Monte-Carlo
percentiles (layer 2). The numbers come from :class:`~carbonsim.engine.chain.CarbonChain`'s
embodied stage."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.db.schema import cited_sources
from carbonsim.engine.inputs.columns import server_column
from carbonsim.engine.inputs.server import Server
from carbonsim.engine.inputs.options import check_options
from carbonsim.engine.chain import CarbonChain
from carbonsim.models.embodied.layout import C, GPU_COMPONENTS, HOST_COMPONENTS, N_HOST, P
from carbonsim.models.lifecycle.amortisation import embodied_rate_mg_per_s
from carbonsim.models.uncertainty import percentiles, sample_matrix, split_triangular

@dataclass
class EmbodiedResult:
    """Embodied carbon of one server under one coefficient set.

    Masses in kg CO2e; rates in mg CO2e per second of the server's life.
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

    def to_frame(self):
        """The components as a pandas DataFrame: ``scope, component, embodied_kg``."""
        import pandas as pd

        rows = [("host", k, v) for k, v in self.host_components_kg.items()]
        rows += [("gpu", k, v) for k, v in self.gpu_components_kg.items()]
        return pd.DataFrame(rows, columns=["scope", "component", "embodied_kg"])


def embodied(server: Server, cs: CoefficientSet, samples: int = 0, seed: int | None = 0,
             model=None, column=None, components=None) -> EmbodiedResult:
    """Embodied carbon of ``server`` under ``cs``, with optional Monte-Carlo percentiles.

    Parameters
    ----------
    server : Server
    cs : CoefficientSet
    samples : int
        Monte-Carlo samples of the ranged inputs (0: point estimate only).
    seed : int or None
        Seed of the sampler.
    model : callable, optional
        The embodied stage (:attr:`carbonsim.engine.chain.CarbonChain.embodied`); default the one a
        chain picks for this many points (the NumPy reference for a few, the kernel for many).
    column, components : optional
        The server's :class:`~carbonsim.engine.inputs.columns.ParamColumn` under ``cs`` and its
        embodied kg by component, when the caller has evaluated them already (``footprint``
        does, in its chain): the model is then not run again.
    """
    check_options(samples=samples, seed=seed if isinstance(seed, int) else None)
    col = server_column(server, cs) if column is None else column
    comp = (model or CarbonChain.for_points(None, 1).embodied)(col.value[:, None])[:, 0] if components is None \
        else components
    result = EmbodiedResult(
        server=server,
        coefficients=cs,
        host_components_kg={n: float(comp[C[n]]) for n in HOST_COMPONENTS},
        gpu_components_kg={n: float(comp[C[n]]) for n in GPU_COMPONENTS},
        host_share=float(col.value[P["host_share"]]),
        sources=col.sources | cited_sources(server),
        notes=list(col.notes),
        samples=int(samples),
        seed=seed,
    )
    if samples:
        result.uncertainty = _sample(col, server, samples, seed, model or CarbonChain.for_points(None, samples).embodied)
        u = result.uncertainty["total_kg"]
        if not u["p5"] <= result.total_kg <= u["p95"]:  # each input's value is its median; the sum's may differ
            result.notes.append(f"the point estimate {result.total_kg:,.1f} kg lies outside its p5-p95 "
                                f"({u['p5']:,.1f}-{u['p95']:,.1f} kg): the inputs' ranges are skewed enough that the "
                                "sum of their medians is not near the median of their sum")
    return result


def _sample(col, server: Server, n: int, seed, model) -> dict[str, dict[str, float]]:
    """p5/p50/p95 of totals and rates from ``n`` draws through the embodied stage."""
    mat = sample_matrix(col.value, col.low, col.high, n, seed)
    comp = model(mat)
    host = comp[:N_HOST].sum(axis=0)
    gpu = comp[N_HOST:].sum(axis=0)
    rng = np.random.default_rng(None if seed is None else [*np.atleast_1d(seed), 1])
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
    return split_triangular(life.value, lo, hi, n, rng)
