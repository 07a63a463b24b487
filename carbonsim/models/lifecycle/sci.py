r"""Carbon per functional unit: the Green Software Foundation's Software Carbon Intensity (layer 1).

.. math:: SCI = \frac{E \cdot I + M}{R}

with :math:`E` the energy of the software in a window [kWh] (here facility energy, PUE
included), :math:`I` the location-based grid intensity [g/kWh], :math:`M` the embodied carbon
charged to the window [g] and :math:`R` the number of functional units served in it. The choice
of :math:`R` is the user's: a request, 1,000 output tokens, a user, a training run, a day of
inference.

References
----------
.. [1] Green Software Foundation, "Software Carbon Intensity (SCI) Specification", v1.0 (2021),
   adopted as ISO/IEC 21031:2024; the functional unit R, location-based I, amortised M.
"""

from __future__ import annotations

import numpy as np

#: Functional units and what one of them is.
FUNCTIONAL_UNITS = {
    "request": "one request (an LLM task: prompt in, output tokens out)",
    "1k-tokens": "1,000 output tokens",
    "user": "one user (over the accounting window, at the given requests per user)",
    "run": "one training run",
    "day": "one day of inference at the point's throughput",
    "hour": "one hour of operation",
}


def sci_g(operational_g, embodied_g, units):
    r""":math:`SCI = (E \cdot I + M) / R` [g per functional unit]: the one place carbonsim writes it.

    :math:`E \cdot I` is the window's operational carbon, facility energy times intensity, as
    :func:`carbonsim.models.grid.carbon.operational_g` computes it (so the product is written
    once); a window whose intensity changes (a fleet over years) passes the sum of its parts.

    Parameters
    ----------
    operational_g : array_like
        :math:`E \cdot I`: operational carbon of the window [g].
    embodied_g : array_like
        :math:`M`: embodied carbon charged to the window [g].
    units : array_like
        :math:`R`: functional units served in the window (> 0).

    Examples
    --------
    >>> sci_g(800.0, 200.0, 1000.0)   # (2 kWh x 400 g/kWh + 200 g) / 1000 requests
    1.0
    """
    out = (np.asarray(operational_g, float) + embodied_g) / np.asarray(units, float)
    return float(out) if np.ndim(out) == 0 else out


def units_per_request(unit: str, output_tokens=None, requests_per_user=None, latency_s=None, batch=None):
    r"""Functional units in one request, for carbon already computed per request
    (:math:`SCI_{unit} = SCI_{request} / (\text{units per request})`).

    - ``request``: 1;
    - ``1k-tokens``: output tokens / 1000;
    - ``user``: 1 / requests per user;
    - ``day``: the seconds one request holds its engine, :math:`D/B`, over 86,400 s (a day of
      back-to-back batches serves :math:`86400\,B/D` requests).

    Raises
    ------
    ValueError
        For ``run`` and ``hour`` (not per-request units) or a missing input.
    """
    if unit == "request":
        return 1.0
    if unit == "1k-tokens":
        if output_tokens is None:
            raise ValueError("1k-tokens needs the output tokens per request")
        return np.asarray(output_tokens, float) / 1000.0
    if unit == "user":
        if requests_per_user is None:
            raise ValueError("user needs the requests per user")
        return 1.0 / np.asarray(requests_per_user, float)
    if unit == "day":
        if latency_s is None or batch is None:
            raise ValueError("day needs the latency and batch of the point")
        return np.asarray(latency_s, float) / np.asarray(batch, float) / 86400.0
    raise ValueError(f"{unit!r} is not a per-request unit")
