r"""Seeded request streams for the serving simulator: arrival times and token lengths (layer 1).

Every random number comes from :func:`numpy.random.default_rng` seeded by a
:class:`numpy.random.SeedSequence` built from the user's seed and the stream's place, so

* the same seed gives the same requests, bit for bit, on every machine NumPy supports;
* arrivals, prompt lengths and output lengths have their own child streams: changing the
  request rate leaves the lengths unchanged, and the arrival gaps are unit-rate draws scaled
  by :math:`1/\lambda` (common random numbers across a QPS sweep);
* model :math:`i` of a shared server draws from its own child stream :math:`i`.

The reference simulator and the compiled kernel take the drawn arrays, never a generator.

Arrivals
--------
``poisson``
    Gaps :math:`\Delta t \sim \mathrm{Exp}(\lambda)`, the first request at :math:`t = 0` (vLLM's
    ``benchmark_serving``: send, then sleep an exponential gap).
``burst``
    Every request at :math:`t = 0` (offline benchmarks, ``request_rate = inf``).

Lengths (tokens, whole numbers :math:`\ge 1`)
----------------------------------------------
A number is used as is. A distribution ``(kind, mean, shape)`` draws :math:`X`, rounds it to
the nearest whole number and clips it to ``[low, high]`` (clipping moves the mean; the
drawn mean is reported):

``exponential``
    :math:`X \sim \mathrm{Exp}` with mean :math:`\mu` (ML.ENERGY: outputs of mean 512).
``pareto``
    Classical Pareto with shape :math:`a > 1` and scale :math:`x_m = \mu (a-1)/a`, so that
    :math:`E[X] = \mu` (ML.ENERGY: prompts of mean 4,096, :math:`a = 2.5`).
``lognormal``
    :math:`\ln X \sim N(m, \sigma^2)` with :math:`m = \ln\mu - \sigma^2/2`, so that
    :math:`E[X] = \mu`.

References
----------
.. [1] J. Chung et al., "The ML.ENERGY Benchmark", arXiv 2505.06371, App. B (Pareto prompts,
   exponential outputs).
.. [2] vLLM ``benchmarks/benchmark_serving.py`` (Poisson request generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Distribution name -> code (the code travels in numeric point vectors).
DISTRIBUTIONS: dict[str, int] = {"fixed": 0, "exponential": 1, "pareto": 2, "lognormal": 3}
#: Arrival process name -> code.
ARRIVALS: dict[str, int] = {"poisson": 0, "burst": 1, "trace": 2}
#: Default shape of each distribution (Pareto ``a`` of ML.ENERGY's prompts; lognormal sigma 1).
DEFAULT_SHAPE: dict[str, float] = {"fixed": 0.0, "exponential": 0.0, "pareto": 2.5, "lognormal": 1.0}

#: Child stream of each quantity, per model.
_ARRIVAL, _PROMPT, _OUTPUT = 0, 1, 2


def streams(seed: int, model: int = 0) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """The arrival, prompt and output generators of model ``model`` under ``seed`` (fresh ones
    each call, each at the start of its stream)."""
    return tuple(np.random.default_rng(c) for c in _children(int(seed), int(model)))


@lru_cache(maxsize=256)
def _children(seed: int, model: int) -> tuple:
    """The seed sequences of model ``model``'s three streams (spawning them is most of the cost
    of a generator; a generator made from a child starts at the same state every time)."""
    return tuple(np.random.SeedSequence(seed).spawn(model + 1)[model].spawn(3))


def draw_tokens(rng: np.random.Generator, n: int, dist: int, mean: float, shape: float = 0.0,
                low: float = 1.0, high: float = 0.0) -> np.ndarray:
    r"""``n`` token lengths from distribution code ``dist`` (see the module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
    dist : int
        :data:`DISTRIBUTIONS` code.
    mean : float
        :math:`\mu`, the distribution's mean before rounding and clipping [tokens]; for
        ``fixed`` the length itself.
    shape : float
        Pareto :math:`a` (> 1) or lognormal :math:`\sigma` (> 0); unused otherwise.
    low, high : float
        Clip range [tokens]; ``high = 0`` means no upper limit.

    Returns
    -------
    ndarray of int64
    """
    dist, a, b, low, high = length_params(dist, mean, shape, low, high)
    if dist == DISTRIBUTIONS["fixed"]:
        x = np.full(n, a)
    elif dist == DISTRIBUTIONS["exponential"]:
        x = rng.exponential(a, n)
    elif dist == DISTRIBUTIONS["pareto"]:
        x = a * (1.0 + rng.pareto(b, n))  # numpy's pareto is the Lomax form
    else:
        x = rng.lognormal(a, b, n)
    x = np.maximum(np.rint(x), low)
    if high > 0:
        x = np.minimum(x, high)
    return x.astype(np.int64)


def length_params(dist: int, mean: float, shape: float = 0.0, low: float = 1.0,
                  high: float = 0.0) -> tuple[int, float, float, float, float]:
    """A length distribution as its draws take it: ``(dist, a, b, low, high)``.

    ``a`` is the length (``fixed``), the mean (``exponential``), the Pareto scale
    :math:`x_m = \\mu (a-1)/a` or the lognormal :math:`m = \\ln\\mu - \\sigma^2/2`; ``b`` the
    Pareto shape or :math:`\\sigma`; ``low`` at least 1. :func:`draw_tokens` and the compiled
    simulator's drawn streams both take these numbers, so they draw the same lengths.
    """
    dist = int(dist)
    if dist == DISTRIBUTIONS["fixed"]:
        return dist, float(mean), 0.0, max(float(low), 1.0), float(high)
    if dist == DISTRIBUTIONS["exponential"]:
        return dist, float(mean), 0.0, max(float(low), 1.0), float(high)
    if dist == DISTRIBUTIONS["pareto"]:
        return dist, float(mean * (shape - 1.0) / shape), float(shape), max(float(low), 1.0), float(high)
    if dist == DISTRIBUTIONS["lognormal"]:
        return dist, float(np.log(mean) - 0.5 * shape * shape), float(shape), max(float(low), 1.0), float(high)
    raise ValueError(f"unknown length distribution code {dist}")


def unit_gaps(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` arrival gaps of a unit-rate Poisson process (mean 1)."""
    return rng.exponential(1.0, n)


def poisson_arrivals_s(rng: np.random.Generator, qps: float, n: int | None = None,
                       duration_s: float | None = None) -> np.ndarray:
    r"""Arrival times [s] of a Poisson process of rate ``qps``, the first at 0.

    Either ``n`` requests, or every arrival before ``duration_s``. Gaps are unit-rate draws
    divided by :math:`\lambda`, so the same seed at another rate gives the same pattern,
    stretched.
    """
    if n is not None:
        gaps = unit_gaps(rng, max(int(n) - 1, 0)) / qps
        return np.concatenate(([0.0], np.cumsum(gaps)))[: int(n)]
    if duration_s is None:
        raise ValueError("give the number of requests or a duration")
    out = [np.zeros(1)]
    last = 0.0
    block = max(16, int(qps * duration_s * 1.2) + 16)
    while True:  # draw in blocks until the process passes the duration (deterministic for a seed)
        t = last + np.cumsum(unit_gaps(rng, block) / qps)
        out.append(t)
        last = float(t[-1])
        if last >= duration_s:
            break
    times = np.concatenate(out)
    return times[times < duration_s]


def draw_requests(seed: int, arrival: int, *, qps: float = 0.0, requests: int | None = None,
                  duration_s: float | None = None, prompt=(0, 1.0, 0.0, 1.0, 0.0), output=(0, 1.0, 0.0, 1.0, 0.0),
                  model: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times [s], prompt and output lengths [tokens] of one model's request stream.

    Parameters
    ----------
    seed : int
    arrival : int
        :data:`ARRIVALS` code (``poisson`` or ``burst``; traces are read by the engine).
    qps : float
        Poisson rate [requests/s].
    requests : int, optional
        Number of requests (burst needs it; Poisson takes it or ``duration_s``).
    duration_s : float, optional
        Poisson: every arrival before this time.
    prompt, output : tuple
        ``(dist code, mean, shape, low, high)`` for :func:`draw_tokens`.
    model : int
        Which model's child streams (0 for the first).

    Returns
    -------
    arrival_s : ndarray of float
    prompt_tokens, output_tokens : ndarray of int64
    """
    r_arr, r_prompt, r_out = streams(seed, model)
    if arrival == ARRIVALS["burst"]:
        if requests is None:
            raise ValueError("a burst needs a number of requests")
        times = np.zeros(int(requests))
    elif arrival == ARRIVALS["poisson"]:
        times = poisson_arrivals_s(r_arr, qps, requests, duration_s)
    else:
        raise ValueError(f"arrival code {arrival} is drawn by the caller (a trace)")
    n = len(times)
    return times, draw_tokens(r_prompt, n, *prompt), draw_tokens(r_out, n, *output)


@dataclass(frozen=True)
class RequestStream:
    """One model's seeded request stream, as :func:`draw_requests` takes it, for the compiled
    simulator to draw while it runs.

    The simulator draws each request when its instance needs the next arrival, from the same
    generators (:func:`streams`) in the same order and with the same arithmetic as
    :func:`draw_requests`, so it simulates the same requests, bit for bit (the tests compare
    the two), while holding only the requests in the server. :meth:`draw` gives them as arrays.
    """

    seed: int
    arrival: int
    qps: float = 0.0
    requests: int | None = None
    duration_s: float | None = None
    prompt: tuple = (0, 1.0, 0.0, 1.0, 0.0)
    output: tuple = (0, 1.0, 0.0, 1.0, 0.0)
    model: int = 0

    def draw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrival times [s], prompt and output lengths [tokens], as arrays."""
        return draw_requests(self.seed, self.arrival, qps=self.qps, requests=self.requests,
                             duration_s=self.duration_s, prompt=self.prompt, output=self.output, model=self.model)

    def generators(self) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
        """Fresh arrival, prompt and output generators (each simulation starts from the seed)."""
        return streams(self.seed, self.model)

    def column(self, first_instance: int, instances: int, first_id: int = 0) -> np.ndarray:
        """The stream as a column of the simulator's stream array
        (:data:`carbonsim.models.serving.layout.STREAM_NAMES`), its requests sent round robin to
        instances ``first_instance`` ... ``first_instance + instances - 1``."""
        from carbonsim.models.serving.layout import N_STREAM, STREAM, STREAM_KINDS

        col = np.zeros(N_STREAM)
        col[STREAM["first_instance"]] = first_instance
        col[STREAM["instances"]] = instances
        col[STREAM["first_id"]] = first_id
        col[STREAM["requests"]] = -1.0 if self.requests is None else int(self.requests)
        if self.arrival == ARRIVALS["burst"]:
            if self.requests is None:
                raise ValueError("a burst needs a number of requests")
            col[STREAM["kind"]] = STREAM_KINDS["burst"]
        elif self.arrival == ARRIVALS["poisson"]:
            col[STREAM["kind"]] = STREAM_KINDS["poisson"]
            col[STREAM["qps"]] = self.qps
            if self.requests is None:
                if self.duration_s is None:
                    raise ValueError("give the number of requests or a duration")
                col[STREAM["duration_s"]] = self.duration_s
                col[STREAM["block"]] = max(16, int(self.qps * self.duration_s * 1.2) + 16)  # as poisson_arrivals_s
        else:
            raise ValueError(f"arrival code {self.arrival} is drawn by the caller (a trace)")
        for name, spec in (("prompt", self.prompt), ("output", self.output)):
            for field, value in zip(("dist", "a", "b", "low", "high"), length_params(*spec)):
                col[STREAM[f"{name}_{field}"]] = value
        return col
