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

from dataclasses import dataclass, fields

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


def steady_load_power_w(load, idle_loaded_w, cap_w, ladder_slope):
    r"""GPU power under a steady utilisation (no LLM workload to give MFU and MBU).

    .. math:: P = P_{idle,loaded} + (P_{cap} - P_{idle,loaded}) \min(1, s\,u)

    ``u`` is the load of a load ladder and ``s`` the ladder's slope, fitted by
    :func:`fit_saturating_ladder` (the Teads A100 ladder gives ``s = 1.373``: the cap is reached
    at ``u = 0.73``). The slope is kept apart from the LLM activity constants ``a_c, a_m``: those
    describe kernels that saturate compute or memory, one at a time, and on GPUs fitted to
    measured LLM power their sum reaches 2, which would put a half-loaded GPU at its cap.

    Parameters
    ----------
    load : array_like
        Utilisation, 0..1.
    idle_loaded_w, cap_w : float or array_like
        Loaded idle and power limit [W].
    ladder_slope : float or array_like
        ``s`` (dimensionless).

    Returns
    -------
    ndarray
        [W]

    Examples
    --------
    Teads A100 ladder (loaded idle 83.9 W, cap 400 W): 50 % load.

    >>> round(float(steady_load_power_w(0.5, 83.9, 400.0, 1.373)), 1)
    300.9
    """
    x = np.clip(ladder_slope * np.asarray(load, dtype=float), 0.0, 1.0)
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


@dataclass(frozen=True)
class KernelPhases:
    """One GPU's kernel work over a run, by phase, as the performance model gives it.

    Arrays with one element per run: kernel seconds of the prefill and decode phases, seconds in
    collectives, and each phase's MFU and MBU while its kernels run.
    """

    prefill_s: np.ndarray
    decode_s: np.ndarray
    comm_s: np.ndarray
    prefill_mfu: np.ndarray
    prefill_mbu: np.ndarray
    decode_mfu: np.ndarray
    decode_mbu: np.ndarray

    def take(self, index) -> "KernelPhases":
        """The runs at ``index`` (an index array or a boolean mask)."""
        return KernelPhases(*(np.asarray(getattr(self, f.name))[index] for f in fields(self)))


def power_over_duration_w(phases: KernelPhases, duration_s, idle_loaded_w, cap_w, a_c, a_m, eta_c, eta_m):
    r"""Average GPU power over a measured duration, with the performance model's kernel work.

    The kernels of each phase run at their activity power (:func:`gpu_power_w`); for the rest of
    the duration (collectives, host stalls, anything the step model does not count) the GPU sits
    at its loaded idle, the split :class:`carbonsim.engine.chain.CarbonChain` uses for a task:

    .. math::

        \bar P = \frac{P_{pre} t_{pre} + P_{dec} t_{dec}
                       + P_{idle,loaded}\,(T - t_{pre} - t_{dec})}{T},
        \qquad T = \max(T_{measured},\ t_{pre} + t_{dec} + t_{comm})

    Comparing :math:`\bar P` with a measured average power tests the power model alone: the
    timing model's error is removed by using the measured duration.

    Parameters
    ----------
    phases : KernelPhases
    duration_s : array_like
        Measured wall time of the run [s].
    idle_loaded_w, cap_w, a_c, a_m, eta_c, eta_m : float or array_like
        Activity constants (:func:`gpu_power_w`).

    Returns
    -------
    ndarray
        [W]
    """
    consts = (idle_loaded_w, cap_w, a_c, a_m, eta_c, eta_m)
    p_pre = gpu_power_w(phases.prefill_mfu, phases.prefill_mbu, *consts)
    p_dec = gpu_power_w(phases.decode_mfu, phases.decode_mbu, *consts)
    t_pre, t_dec = np.asarray(phases.prefill_s, float), np.asarray(phases.decode_s, float)
    total = np.maximum(np.asarray(duration_s, dtype=float), t_pre + t_dec + np.asarray(phases.comm_s, float))
    energy = p_pre * t_pre + p_dec * t_dec + idle_loaded_w * (total - t_pre - t_dec)
    return energy / total


@dataclass(frozen=True)
class ActivityFit:
    """Activity constants fitted to measured average GPU power (:func:`fit_activity_power`)."""

    idle_loaded_w: float
    cap_w: float
    a_c: float
    a_m: float
    eta_c: float
    eta_m: float
    fitted: tuple[str, ...]
    residuals: np.ndarray  # model / measured - 1 at each run
    at_bound: tuple[str, ...]  # slopes the fit drove to their upper bound

    def constants(self) -> dict:
        """The six constants of :func:`gpu_power_w`, rounded as the database stores them."""
        return {"idle_loaded_w": round(self.idle_loaded_w, 1), "cap_w": self.cap_w, "a_c": round(self.a_c, 3),
                "a_m": round(self.a_m, 3), "eta_c": round(self.eta_c, 3), "eta_m": round(self.eta_m, 3)}


#: Upper bound of a fitted ``a_c`` or ``a_m``: saturating one resource cannot draw much more than
#: the whole dynamic range (values above 1 say the other resource's term adds nothing at saturation).
A_MAX = 1.2


def fit_activity_power(phases: KernelPhases, duration_s, power_w, cap_w, eta_c, eta_m, idle_loaded_w=None,
                       idle_min_w=30.0, a_c=None, a_max=A_MAX) -> ActivityFit:
    r"""Fit activity constants to measured average GPU power at the measured durations.

    Least squares on the relative error :math:`\bar P / P_{measured} - 1` of
    :func:`power_over_duration_w` (``scipy.optimize.least_squares``, trust-region reflective),
    from the start ``idle = max(idle_min_w, 100)``, ``a_m = 0.6``, ``a_c = 0.9``.

    Parameters
    ----------
    phases : KernelPhases
        Each measured run's kernel work from the performance model.
    duration_s, power_w : array_like
        Measured wall time [s] and average GPU power [W] of each run.
    cap_w, eta_c, eta_m : float
        Held fixed: the power limit and the saturation efficiencies.
    idle_loaded_w : float, optional
        A loaded-idle reading to hold fixed; ``None`` fits it within ``[idle_min_w, cap_w]``.
    idle_min_w : float
        Lower bound of a fitted loaded idle (a bare-idle reading).
    a_c : float, optional
        Hold ``a_c`` fixed (it cannot be identified when every run has a tiny MFU).
    a_max : float
        Upper bound of the fitted slopes.

    Returns
    -------
    ActivityFit
    """
    from scipy.optimize import least_squares

    duration = np.asarray(duration_s, dtype=float)
    power = np.asarray(power_w, dtype=float)
    names = (() if idle_loaded_w is not None else ("idle_loaded_w",)) + ("a_m",) + (() if a_c is not None else ("a_c",))
    fixed = {"idle_loaded_w": idle_loaded_w, "a_c": a_c}

    def model(theta):
        k = {**fixed, **dict(zip(names, theta))}
        return power_over_duration_w(phases, duration, k["idle_loaded_w"], cap_w, k["a_c"], k["a_m"], eta_c, eta_m)

    start = {"idle_loaded_w": max(idle_min_w, 100.0), "a_m": 0.6, "a_c": 0.9}
    lower = {"idle_loaded_w": idle_min_w, "a_m": 0.0, "a_c": 0.0}
    upper = {"idle_loaded_w": float(cap_w), "a_m": a_max, "a_c": a_max}
    sol = least_squares(lambda th: model(th) / power - 1.0, [start[n] for n in names],
                        bounds=([lower[n] for n in names], [upper[n] for n in names]))
    k = {**fixed, **{n: float(x) for n, x in zip(names, sol.x)}}
    at_bound = tuple(n for n in names if n != "idle_loaded_w" and k[n] >= a_max - 1e-3)
    return ActivityFit(float(k["idle_loaded_w"]), float(cap_w), float(k["a_c"]), float(k["a_m"]), float(eta_c),
                       float(eta_m), names, model(sol.x) / power - 1.0, at_bound)
