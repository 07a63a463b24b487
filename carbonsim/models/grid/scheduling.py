r"""When and where to run a deferrable job: mean intensity of every candidate window of hourly
traces, and the region and start time with the least carbon (layer 1).

A job of duration :math:`\tau` drawing constant power (energy :math:`E` IT) started at
:math:`t` in region :math:`r` emits

.. math:: C(r, t) = E \cdot PUE \cdot \bar c_r[t, t+\tau), \qquad
          \bar c_r[a, b) = \frac{\int_a^b c_r(x)\,dx}{\text{covered time in } [a, b)}

with the trace a step function over its covered intervals
(:func:`carbonsim.models.grid.traces.covered_intervals`; gaps are not filled). A region given
by a yearly average has the same :math:`\bar c` at every start. The best choice is
:math:`\arg\min_{r,t} C(r,t)` over the allowed starts; the saving is against running now in the
default region, :math:`1 - C^* / C(r_0, t_0)`.

References
----------
.. [1] P. Wiesner et al., "Let's Wait Awhile: How Temporal Workload Shifting Can Reduce Carbon
   Emissions in the Cloud", Middleware 2021 (shifting deferrable jobs within a window).
.. [2] Green Software Foundation, Carbon Aware SDK (best window of a forecast: the lowest mean
   intensity over the job's duration).
"""

from __future__ import annotations

import numpy as np

from carbonsim.models.grid.traces import _check, covered_intervals


def _cumulative(t_s, ci_g_per_kwh, step_s=None):
    t, c = _check(t_s, ci_g_per_kwh)
    s, e = covered_intervals(t, step_s)
    w = e - s
    cum_c = np.concatenate([[0.0], np.cumsum(c * w)])
    cum_w = np.concatenate([[0.0], np.cumsum(w)])
    return s, e, c, cum_c, cum_w


def _integrals(x, s, e, c, cum_c, cum_w):
    """Integral of the trace and covered time over (-inf, x)."""
    x = np.asarray(x, float)
    i = np.clip(np.searchsorted(s, x, side="right") - 1, 0, s.size - 1)
    before = x < s[0]
    part = np.clip(x - s[i], 0.0, e[i] - s[i])
    f = np.where(before, 0.0, cum_c[i] + c[i] * part)
    g = np.where(before, 0.0, cum_w[i] + part)
    return f, g


def window_means_g_per_kwh(t_s, ci_g_per_kwh, starts_s, duration_s, step_s=None, min_coverage=0.5):
    r"""Mean intensity of the window ``[start, start + duration)`` for every start, on covered time.

    Parameters
    ----------
    t_s, ci_g_per_kwh : array_like, shape (n,)
        The trace: sample times [s] (strictly increasing) and intensities [g/kWh].
    starts_s : array_like, shape (m,)
        Candidate start times [s].
    duration_s : float
        Job duration [s], > 0.
    step_s : float, optional
        Nominal step of the trace (default: the median spacing).
    min_coverage : float
        Windows the trace covers for less than this share of their length give ``nan``.

    Returns
    -------
    means : ndarray, shape (m,)
        [g/kWh]; ``nan`` where coverage is short.
    coverage : ndarray, shape (m,)
        Share of each window the trace covers.
    """
    if not duration_s > 0:
        raise ValueError("duration_s must be positive")
    s, e, c, cum_c, cum_w = _cumulative(t_s, ci_g_per_kwh, step_s)
    a = np.asarray(starts_s, float)
    fa, ga = _integrals(a, s, e, c, cum_c, cum_w)
    fb, gb = _integrals(a + duration_s, s, e, c, cum_c, cum_w)
    covered = gb - ga
    coverage = covered / duration_s
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(coverage >= min_coverage, (fb - fa) / np.where(covered > 0, covered, 1.0), np.nan)
    return means, coverage


def repeat_last_day(t_s, ci_g_per_kwh, until_s, day_s=86400.0):
    r"""A trace extended past its end by repeating its last day (a typical day wrapped).

    Samples of the last ``day_s`` of the trace, :math:`\{(t_i, c_i) : t_i \ge t_{n-1} + \Delta - D\}`
    with :math:`D` one day and :math:`\Delta` the nominal step, are appended shifted by
    :math:`D, 2D, \ldots` until the trace covers ``until_s``: an hour past the end takes the
    intensity of the same hour of the trace's last day. This assumes a daily cycle and nothing
    else (no trend, no weekday pattern); it is what "the typical day" means for a window that
    runs past the data ([2]_ forecasts a day ahead from recent days in the same spirit).

    Parameters
    ----------
    t_s, ci_g_per_kwh : array_like, shape (n,)
        The trace [s], [g/kWh]; it must span at least one day.
    until_s : float
        Time [s] the extended trace must cover.
    day_s : float
        Length of the repeated period [s].

    Returns
    -------
    t_s, ci_g_per_kwh : ndarray
        The trace with the repeated days appended (unchanged when it already covers ``until_s``).

    Raises
    ------
    ValueError
        The trace spans less than one day.
    """
    t, c = _check(t_s, ci_g_per_kwh)
    s, e = covered_intervals(t)
    end = float(e[-1])
    if until_s <= end:
        return t, c
    if end - float(s[0]) < day_s:
        raise ValueError("the trace spans less than a day: it has no day to repeat")
    last = t >= end - day_s
    days = int(np.ceil((until_s - end) / day_s))
    shifts = day_s * np.arange(1, days + 1)
    extra_t = (t[last][None, :] + shifts[:, None]).ravel()
    extra_c = np.tile(c[last], days)
    return np.concatenate([t, extra_t]), np.concatenate([c, extra_c])


def best_choice(carbon_g):
    r"""Index ``(region, start)`` of the least carbon in a ``(regions, starts)`` array (``nan``
    ignored), and its value.

    Raises
    ------
    ValueError
        When no candidate has a value.
    """
    a = np.asarray(carbon_g, float)
    if a.ndim != 2 or not np.isfinite(a).any():
        raise ValueError("no candidate window has a value")
    flat = int(np.nanargmin(a))
    r, k = np.unravel_index(flat, a.shape)
    return int(r), int(k), float(a[r, k])
