r"""GPU power from roofline activity (MFU, MBU), not from "GPU utilisation", and power caps.

.. math::

    x = \frac{a_c \, \mathrm{MFU}}{\eta_c} + \frac{a_m \, \mathrm{MBU}}{\eta_m}, \qquad
    P = P_{idle,loaded} + (P_{cap} - P_{idle,loaded}) \min(1, x)

``MFU`` is achieved FLOP/s over peak and ``MBU`` achieved memory bytes/s over peak, both while
kernels run; ``eta_c`` and ``eta_m`` are the efficiencies the GPU reaches when saturated
(GEMM about 0.70, weight streaming about 0.75), so ``MFU/eta_c`` and ``MBU/eta_m`` are 0..1
"how saturated" measures. ``a_c`` and ``a_m`` are the shares of the dynamic range that full
compute and full memory saturation each draw; ``a_m`` around 0.45–0.6 because pure weight
streaming reaches only about half of TDP (Chung et al., *The ML.ENERGY Benchmark*, arXiv 2505.06371).
``P_idle,loaded`` is the floor with a model resident and the GPU in P0 (2–4× the bare idle),
``P_cap`` the power limit (TDP unless set lower).

Power cap below the default limit (§3.3 of the note): the GPU lowers its clock by a factor
``f``; the compute term scales with ``f`` while the memory term does not,

.. math::

    P(f) = P_{idle,loaded} + (P_{TDP} - P_{idle,loaded}) \min(1, f x_c + x_m), \qquad
    f = \mathrm{clip}\!\left(\frac{b - x_m}{x_c}, f_{min}, 1\right),\;
    b = \frac{P_{limit} - P_{idle,loaded}}{P_{TDP} - P_{idle,loaded}}

and the time of the compute-bound part stretches by ``1/f`` (memory-bound time unchanged).
The result never exceeds the limit. This reproduces the qualitative finding that capping
decode costs little time (Samsi et al. 2023; DVFS study arXiv 2501.08219).

References
----------
.. [1] M. Özcan et al., Vidur-Energy, Euro-Par 2025 PECS workshop, arXiv 2507.11417 (MFU-based
   concave power; carbonsim adds the memory term and the cap treatment).
.. [2] S. Samsi et al., "From Words to Watts", HPEC 2023 (power caps on A100).
.. [3] J. Chung et al., "The ML.ENERGY Benchmark", arXiv 2505.06371 (LLM serving draws well below TDP).
"""

from __future__ import annotations

import numpy as np


def activity(mfu, mbu, a_c, a_m, eta_c, eta_m):
    r"""Uncapped activity :math:`x = a_c\,\mathrm{MFU}/\eta_c + a_m\,\mathrm{MBU}/\eta_m` (not clipped).

    Parameters
    ----------
    mfu, mbu : array_like
        Model FLOP utilisation and memory bandwidth utilisation while kernels run, 0..1.
    a_c, a_m : float
        Shares of the dynamic range drawn at full compute / memory saturation.
    eta_c, eta_m : float
        Achievable compute / memory efficiency (0..1).

    Returns
    -------
    ndarray
    """
    return a_c * np.asarray(mfu, dtype=float) / eta_c + a_m * np.asarray(mbu, dtype=float) / eta_m


def gpu_power_w(mfu, mbu, idle_loaded_w, cap_w, a_c, a_m, eta_c, eta_m):
    r"""GPU power while kernels run.

    .. math:: P = P_{idle,loaded} + (P_{cap} - P_{idle,loaded}) \min(1, x)

    Parameters
    ----------
    mfu, mbu : array_like
        0..1.
    idle_loaded_w : float
        Power with a model resident and no kernel running (P0) [W].
    cap_w : float
        Power limit (TDP by default) [W].
    a_c, a_m, eta_c, eta_m : float
        See :func:`activity`.

    Returns
    -------
    ndarray
        [W]

    Examples
    --------
    Research-note example (A100 SXM, decode 7B at batch 64):

    >>> round(float(gpu_power_w(0.29, 0.72, 80, 400, 0.945, 0.525, 0.70, 0.75)), 1)
    366.6
    """
    x = np.clip(activity(mfu, mbu, a_c, a_m, eta_c, eta_m), 0.0, 1.0)
    return idle_loaded_w + (cap_w - idle_loaded_w) * x


def capped_gpu_power(mfu, mbu, idle_loaded_w, tdp_w, a_c, a_m, eta_c, eta_m, limit_w, f_min=0.2):
    """GPU power under a power limit below TDP, and the clock factor it costs.

    Parameters
    ----------
    mfu, mbu : array_like
        Uncapped activity, 0..1.
    idle_loaded_w, tdp_w : float
        Loaded idle and default power limit [W].
    a_c, a_m, eta_c, eta_m : float
        See :func:`activity`.
    limit_w : float or array_like
        The cap [W]; a cap at or above the uncapped power changes nothing.
    f_min : float, default 0.2
        Lowest clock factor (the GPU's minimum clock relative to boost).

    Returns
    -------
    power_w : ndarray
        Power under the cap, never above ``limit_w`` [W].
    clock_factor : ndarray
        ``f`` in (f_min, 1]: compute-bound time stretches by ``1/f``.
    """
    x_c = a_c * np.asarray(mfu, dtype=float) / eta_c
    x_m = a_m * np.asarray(mbu, dtype=float) / eta_m
    span = tdp_w - idle_loaded_w
    budget = (np.asarray(limit_w, dtype=float) - idle_loaded_w) / span
    uncapped = x_c + x_m
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a tiny x_c gives f_need -> inf, clipped
        f_need = np.where(x_c > 0, (budget - x_m) / np.where(x_c > 0, x_c, 1.0), 1.0)
    f = np.where(np.minimum(uncapped, 1.0) > budget, np.clip(f_need, f_min, 1.0), 1.0)
    power = idle_loaded_w + span * np.clip(f * x_c + x_m, 0.0, 1.0)
    return np.minimum(power, limit_w), f


def capped_time_factor(compute_time_share, clock_factor):
    """Step-time multiplier under a clock factor: ``share/f + (1 − share)``.

    Parameters
    ----------
    compute_time_share : array_like
        Share of the step time that is compute-bound, 0..1.
    clock_factor : array_like
        ``f`` from :func:`capped_gpu_power`.

    Returns
    -------
    ndarray
        ≥ 1.
    """
    s = np.asarray(compute_time_share, dtype=float)
    return s / np.asarray(clock_factor, dtype=float) + (1.0 - s)


def step_energy_j(busy_s, idle_s, busy_power_w, idle_loaded_w):
    """Energy of one GPU over a step: busy at ``busy_power_w``, waiting at the loaded idle [J].

    ``E = P_busy·t_gpu + P_idle,loaded·(t_comm + t_cpu)`` (research note §3.3).
    """
    return np.asarray(busy_power_w) * np.asarray(busy_s) + idle_loaded_w * np.asarray(idle_s)


def fit_saturating_ladder(load, power_w, cap_w):
    """Fit ``P = P_idle,loaded + (cap − P_idle,loaded)·min(1, s·load)`` to a load ladder.

    Used to calibrate on load-ladder data (Teads) where the load is read as a stress that
    raises compute and memory saturation together (``MFU/eta_c = MBU/eta_m = load``), so that
    ``s = a_c + a_m``. Points at zero load are excluded (they are bare idle, not loaded idle).

    Parameters
    ----------
    load : array_like
        Load fractions > 0.
    power_w : array_like
        Measured power [W].
    cap_w : float
        Power limit [W].

    Returns
    -------
    idle_loaded_w : float
    slope : float
        ``s = a_c + a_m``.
    residuals_w : ndarray
        Model minus measurement at each point [W].
    """
    from scipy.optimize import least_squares

    u = np.asarray(load, dtype=float)
    y = np.asarray(power_w, dtype=float)

    def resid(th):
        return th[0] + (cap_w - th[0]) * np.minimum(1.0, th[1] * u) - y

    best = None
    for s0 in (1.0, 1.5, 2.5):
        sol = least_squares(resid, [float(np.min(y)) * 0.5, s0], bounds=([0.0, 0.0], [cap_w, 50.0]))
        if best is None or sol.cost < best.cost:
            best = sol
    return float(best.x[0]), float(best.x[1]), best.fun
