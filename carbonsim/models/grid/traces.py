"""Statistics of hourly (or any regular) grid-intensity traces (layer 1).

A trace is a step function: sample ``i`` (time :math:`t_i` [s], intensity :math:`c_i` [g/kWh])
holds from :math:`t_i` until the next sample, but for no longer than the trace's nominal step
:math:`\\Delta` (the median spacing). Hours missing from a trace are therefore *not covered*
instead of being filled with a neighbour's value; every statistic below averages over covered
time only, and :func:`covered_intervals` tells how much that is.

References
----------
.. [1] Green Software Foundation, Software Carbon Intensity (SCI) v1.1, Sec. "Carbon intensity
   of electricity (I)": use the finest time granularity available; annual averages are the
   lowest acceptable.
.. [2] Radovanovic et al., "Carbon-Aware Computing for Datacenters", IEEE Trans. Power Systems
   2023 (energy-weighted hourly intensity vs. annual average; time shifting of flexible load).
"""

from __future__ import annotations

import numpy as np


def series(x, values, what: str, x_name: str = "times", values_name: str = "intensities"):
    """``x`` and ``values`` as float arrays, checked: 1-D, equal non-zero length, ``x`` strictly
    increasing, values finite and not negative (``ValueError`` naming ``what`` otherwise)."""
    t = np.asarray(x, dtype=float)
    c = np.asarray(values, dtype=float)
    if t.ndim != 1 or t.shape != c.shape or t.size == 0:
        raise ValueError(f"{x_name} and {values_name} must be 1-D arrays of the same, non-zero length")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{what} {x_name} must increase strictly")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ValueError(f"{what} {values_name} must be finite and not negative")
    return t, c


def _check(t_s, ci_g_per_kwh):
    return series(t_s, ci_g_per_kwh, "trace")


def nominal_step_s(t_s) -> float:
    """The trace's nominal sample spacing [s]: the median of the spacings (3600 for hourly).

    A single-sample trace has no spacing; it is given 3600 s (one hour) by convention.
    """
    t = np.asarray(t_s, dtype=float)
    return float(np.median(np.diff(t))) if t.size > 1 else 3600.0


def covered_intervals(t_s, step_s=None):
    r"""Start and end [s] of the interval each sample covers: :math:`[t_i, \min(t_{i+1}, t_i + \Delta))`.

    Parameters
    ----------
    t_s : array_like, shape (n,)
        Sample times [s], strictly increasing.
    step_s : float, optional
        Nominal step :math:`\Delta`; default :func:`nominal_step_s`.

    Returns
    -------
    start_s, end_s : ndarray, shape (n,)
    """
    t = np.asarray(t_s, dtype=float)
    step = nominal_step_s(t) if step_s is None else float(step_s)
    end = np.minimum(np.append(t[1:], np.inf), t + step)
    return t.copy(), end


def trace_mean_g_per_kwh(ci_g_per_kwh) -> float:
    r"""Unweighted mean of the samples: :math:`\bar c = \frac{1}{n}\sum_i c_i` [g/kWh]."""
    c = np.asarray(ci_g_per_kwh, dtype=float)
    if c.size == 0:
        raise ValueError("empty trace")
    return float(c.mean())


def time_weighted_mean_g_per_kwh(t_s, ci_g_per_kwh, start_s=None, end_s=None, step_s=None) -> float:
    r"""Time-weighted mean intensity over a window, on covered time only.

    .. math:: \bar c_{[a,b)} = \frac{\sum_i c_i\, |[s_i, e_i) \cap [a, b)|}{\sum_i |[s_i, e_i) \cap [a, b)|}

    with :math:`[s_i, e_i)` from :func:`covered_intervals`. For a gap-free hourly trace over
    whole hours this equals the unweighted mean of the hours in the window.

    Parameters
    ----------
    t_s : array_like, shape (n,)
        Sample times [s] (for example Unix seconds), strictly increasing.
    ci_g_per_kwh : array_like, shape (n,)
        [g/kWh], finite and >= 0.
    start_s, end_s : float, optional
        Window; default the whole trace.
    step_s : float, optional
        Nominal step; default the median spacing.

    Returns
    -------
    float
        [g/kWh]

    Raises
    ------
    ValueError
        If the window covers no sample.
    """
    t, c = _check(t_s, ci_g_per_kwh)
    s, e = covered_intervals(t, step_s)
    a = -np.inf if start_s is None else float(start_s)
    b = np.inf if end_s is None else float(end_s)
    w = np.clip(np.minimum(e, b) - np.maximum(s, a), 0.0, None)
    total = w.sum()
    if total <= 0:
        raise ValueError("the window covers no sample of the trace")
    return float((w * c).sum() / total)


def energy_weighted_ci_g_per_kwh(t_s, ci_g_per_kwh, load_t_s, load_power_w, load_end_s=None,
                                 step_s=None) -> float:
    r"""Intensity seen by a load profile: energy-weighted mean of the trace.

    .. math:: CI_E = \frac{\int P(t)\, c(t)\, dt}{\int P(t)\, dt}

    Both :math:`P` and :math:`c` are step functions. The load's sample ``j`` holds power
    :math:`P_j` from ``load_t_s[j]`` until the next load sample (the last until ``load_end_s``,
    default one load step later). Only times covered by the trace count, in numerator and
    denominator alike. Operational carbon is then :math:`E \cdot PUE \cdot CI_E`
    (:func:`carbonsim.models.grid.carbon.operational_g`).

    Parameters
    ----------
    t_s, ci_g_per_kwh : array_like
        The trace (see :func:`time_weighted_mean_g_per_kwh`).
    load_t_s : array_like, shape (m,)
        Times [s] at which the load's power changes, strictly increasing.
    load_power_w : array_like, shape (m,)
        Power [W] from each of those times, >= 0.
    load_end_s : float, optional
        End of the last load step.
    step_s : float, optional
        Nominal step of the trace.

    Returns
    -------
    float
        [g/kWh]

    Raises
    ------
    ValueError
        If the load draws no energy while the trace covers it.
    """
    t, c = _check(t_s, ci_g_per_kwh)
    lt, p = series(load_t_s, load_power_w, "load", values_name="powers")
    end = (lt[-1] + nominal_step_s(lt)) if load_end_s is None else float(load_end_s)
    if end <= lt[-1]:
        raise ValueError("load_end_s must be after the last load time")

    s, e = covered_intervals(t, step_s)
    # Overlap of every trace interval with every load interval, via the merged breakpoints.
    cuts = np.unique(np.concatenate([s, e[np.isfinite(e)], lt, [end]]))
    mid = 0.5 * (cuts[:-1] + cuts[1:])
    dt = np.diff(cuts)
    i = np.searchsorted(s, mid, side="right") - 1
    j = np.searchsorted(lt, mid, side="right") - 1
    ok = (i >= 0) & (j >= 0) & (mid < end)
    ok[ok] &= mid[ok] < e[i[ok]]
    energy = p[j[ok]] * dt[ok]
    if energy.sum() <= 0:
        raise ValueError("the load draws no energy during the time the trace covers")
    return float((energy * c[i[ok]]).sum() / energy.sum())


def lowest_mean_window(ci_g_per_kwh, n_samples: int):
    r"""Start index and mean of the ``n_samples``-long run with the lowest mean intensity.

    .. math:: k^* = \arg\min_k \frac{1}{N}\sum_{i=k}^{k+N-1} c_i, \qquad 0 \le k \le n - N

    This is the "best start time" of a deferrable job of N samples (the Carbon Aware SDK's
    forecast optimum; the last admissible start is :math:`n - N`). Samples are taken as
    evenly spaced.

    Returns
    -------
    (int, float)
        Start index and mean [g/kWh].
    """
    c = np.asarray(ci_g_per_kwh, dtype=float)
    n = int(n_samples)
    if n < 1 or n > c.size:
        raise ValueError(f"window of {n} samples does not fit a trace of {c.size}")
    csum = np.concatenate([[0.0], np.cumsum(c)])
    means = (csum[n:] - csum[:-n]) / n
    k = int(np.argmin(means))
    return k, float(means[k])
