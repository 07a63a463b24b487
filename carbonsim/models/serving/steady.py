r"""Steady-state energy per generation of a serving run (layer 1).

A benchmark that sends many requests at once reports the engine "at its limits": energy over the
time the engine was saturated, not over the ramp-down while the last requests finish. The
simulator sums, over the steps formed while requests were waiting (at that engine; for a
disaggregated system, at any of its engines), their GPU energy :math:`E` and the tokens they
produced :math:`N`, and separately the part of both of the decode-only instances
(:math:`E^d`, :math:`N^d`; outputs ``steady_*`` in :mod:`carbonsim.models.serving.layout`).
With :math:`\bar o` the mean output of the served requests:

.. math::

    E_{gen} = \frac{E}{N}\,\bar o \qquad \text{(one engine doing both phases)}

    E_{gen} = \underbrace{\frac{E - E^d}{N - N^d}}_{E_{prefill}}
            + \underbrace{\frac{E^d}{N^d}\,(\bar o - 1)}_{E_{decode}}
      \qquad \text{(prefill-decode disaggregation)}

A prefill instance's step produces one token per request whose prefill it ends, so
:math:`(E - E^d)/(N - N^d)` is the steady energy per prefill; the decode instances produce the
other :math:`\bar o - 1` tokens. Each stage is weighed by its own rate, so a window that holds
more prefills than finished decodes (or the reverse) does not bias the sum. The decode share is
:math:`E_{decode}/E_{gen}`.
"""

from __future__ import annotations

import numpy as np


def steady_energy_per_generation(steady_gpu_energy_j, steady_output_tokens, steady_decode_gpu_energy_j,
                                 steady_decode_output_tokens, output_tokens_per_request, disaggregated):
    r"""Steady-state GPU energy per generation [J] and the decode instances' share of it.

    Parameters
    ----------
    steady_gpu_energy_j, steady_output_tokens : array_like
        :math:`E`, :math:`N`: GPU energy [J] and tokens of the steps formed while requests waited.
    steady_decode_gpu_energy_j, steady_decode_output_tokens : array_like
        :math:`E^d`, :math:`N^d`: the part of the decode-only instances.
    output_tokens_per_request : array_like
        :math:`\bar o`, mean output of the served requests [tokens].
    disaggregated : array_like of bool
        Prefill-decode disaggregation (the second form of the module's equation).

    Returns
    -------
    per_generation_j : ndarray
        :math:`E_{gen}`; NaN where a stage had no steady step.
    decode_share : ndarray
        :math:`E_{decode}/E_{gen}` (disaggregated; NaN for one engine doing both phases).
    """
    e, n = np.asarray(steady_gpu_energy_j, float), np.asarray(steady_output_tokens, float)
    e_d, n_d = np.asarray(steady_decode_gpu_energy_j, float), np.asarray(steady_decode_output_tokens, float)
    o = np.asarray(output_tokens_per_request, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        prefill = np.where(n - n_d > 0, (e - e_d) / (n - n_d), np.nan)
        decode = np.where(n_d > 0, e_d / n_d * (o - 1.0), np.nan)
        colocated = np.where(n > 0, e / n * o, np.nan)
        per_generation = np.where(disaggregated, prefill + decode, colocated)
        share = np.where(disaggregated, decode / per_generation, np.nan)
    return per_generation, share
