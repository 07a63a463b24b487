r"""Host power from a spec sheet when nothing was measured (the prior), and the curves tools use today.

The prior
---------
Idle and full-load wall power are log-linear in what a spec says, and the curve between them
follows a tabulated shape fitted on the same data:

.. math::

    \ln P_{idle} = \mathbf{x}^\top \boldsymbol\beta_{idle}, \qquad
    \ln P_{100} = \mathbf{x}^\top \boldsymbol\beta_{100}

    P(u) = P_{idle} + (P_{100} - P_{idle})\, s(u) + n_{SSD} P_{SSD} + n_{HDD} P_{HDD},
    \qquad P \le P_{PSU}

with features :math:`\mathbf{x} = [1, \ln(\text{TDP}\cdot\text{sockets}), \ln \text{DRAM GB},
\ln \text{cores}, \ln \text{sockets}]`, plus, when the year is known,
:math:`[y, \max(y - 2012, 0), \max(y - 2016, 0)]` with :math:`y` = year − 2015 clipped to the
calibration range 2007–2022 (a hinge line: the idle share of SPECpower servers fell until about
2012–2016 and rose again since). ``s(u)`` is the median, over the calibration servers, of
:math:`(P(u) - P_{idle}) / (P_{100} - P_{idle})` at u = 0, 0.1, …, 1 (made non-decreasing), and
is interpolated linearly in between. Log-space least squares gives a median-unbiased prediction,
which is what a median absolute % error rewards.

The coefficients are fitted once (``calibration/write_host_prior.py``) on 198 SPECpower_ssj2008
results and shipped in ``hardware_db/power/host-prior-specpower.yaml`` with their
cross-validated error. SPECpower "load" is the fraction of the maximum ssj_ops throughput, which
is close to, but not the same as, CPU utilisation; the measured power is AC at the wall (PSU
losses included). The calibration servers carry their own one or two drives, so the drive terms
are for drives *beyond* those.

Baselines (our implementations of the published equations, for comparison only)
------------------------------------------------------------------------------
Boavizta (API 2.5.0; github.com/Boavizta/boaviztapi):
  CPU per socket = TDP × interp(load; 0/10/50/100 % → 0.12/0.32/0.75/1.02) (Teads' ratios);
  RAM per DIMM = (3.0 + 0.055·GB_per_DIMM) × (0.7 + 0.3·load) (the 2.5.0 code's load factor);
  server = 1.33 × (CPU + RAM) + drives.
CodeCarbon (3.3.2; github.com/mlco2/codecarbon v3.3.2, ``core/cpu.py`` and ``core/ram.py``):
  constant mode: CPU = 0.5 × TDP (``CONSUMPTION_PERCENTAGE_CONSTANT``) whatever the load;
  ``cpu_load`` mode: CPU = TDP × (0.1 + 0.9·u³); RAM = the v3 DIMM heuristic (5 W per DIMM
  with a guessed DIMM count and diminishing marginal power); nothing else of the server.

References
----------
.. [1] SPEC, SPECpower_ssj2008 published results (spec.org), 200-result sample in
   ``carbonsim/validation/data/specpower_sample.csv``.
.. [2] Boavizta API 2.5.0, ``consumption_profile`` (CPU and RAM), as studied in
   github.com/Boavizta/boaviztapi; ratios from B. Davy, "Building an AWS EC2 carbon
   emissions dataset", Teads Engineering 2021.
.. [3] CodeCarbon 3.3.2, ``core/cpu.py`` and ``core/ram.py`` as described in
   github.com/mlco2/codecarbon v3.3.2, ``core/cpu.py`` and ``core/ram.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: SPECpower load levels (fractions) at which the prior's shape is tabulated.
LOAD_LEVELS = np.linspace(0.0, 1.0, 11)

#: Calibration year range; years outside are clipped to it.
YEAR_RANGE = (2007, 2022)

FEATURES_WITHOUT_YEAR = ("intercept", "ln_tdp_total_w", "ln_memory_gb", "ln_cores_total", "ln_sockets")
FEATURES_WITH_YEAR = FEATURES_WITHOUT_YEAR + ("year_minus_2015", "years_after_2012", "years_after_2016")


@dataclass(frozen=True)
class HostPrior:
    """Coefficients of the spec-based prior.

    Attributes
    ----------
    features : tuple of str
        Feature names (:data:`FEATURES_WITH_YEAR` or :data:`FEATURES_WITHOUT_YEAR`).
    idle_coef, max_coef : ndarray
        Coefficients of ``ln P_idle`` and ``ln P_100`` on the features.
    shape_util, shape_fraction : ndarray
        The tabulated shape ``s(u)``.
    """

    features: tuple
    idle_coef: np.ndarray
    max_coef: np.ndarray
    shape_util: np.ndarray
    shape_fraction: np.ndarray

    @property
    def uses_year(self) -> bool:
        return "year_minus_2015" in self.features


def design_matrix(cpu_tdp_w, sockets, cores_total, memory_gb, year=None):
    """Feature matrix of the prior.

    Parameters
    ----------
    cpu_tdp_w : array_like
        TDP of one CPU [W].
    sockets : array_like
        Number of CPUs.
    cores_total : array_like
        Cores over all CPUs.
    memory_gb : array_like
        DRAM [GB].
    year : array_like, optional
        Year of the server (clipped to :data:`YEAR_RANGE`). Without it the features are
        :data:`FEATURES_WITHOUT_YEAR`.

    Returns
    -------
    ndarray, shape (n, k)
    """
    tdp = np.atleast_1d(np.asarray(cpu_tdp_w, dtype=float))
    sock = np.atleast_1d(np.asarray(sockets, dtype=float))
    cores = np.atleast_1d(np.asarray(cores_total, dtype=float))
    mem = np.atleast_1d(np.asarray(memory_gb, dtype=float))
    tdp, sock, cores, mem = np.broadcast_arrays(tdp, sock, cores, mem)
    cols = [np.ones(tdp.shape), np.log(tdp * sock), np.log(mem), np.log(cores), np.log(sock)]
    if year is not None:
        y = np.clip(np.broadcast_to(np.asarray(year, dtype=float), tdp.shape), *YEAR_RANGE) - 2015.0
        cols += [y, np.maximum(y + 2015.0 - 2012.0, 0.0), np.maximum(y + 2015.0 - 2016.0, 0.0)]
    return np.column_stack(cols)


def fit_host_prior(X, level_power_w, levels=LOAD_LEVELS, features=None) -> HostPrior:
    """Fit the prior on measured load ladders.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Features from :func:`design_matrix`.
    level_power_w : ndarray, shape (n, len(levels))
        Measured power at each load level; the first column is idle, the last full load [W].
    levels : array_like
        Load levels (fractions, 0 first and 1 last).
    features : tuple of str, optional
        Names of the columns of ``X`` (inferred from ``k`` when omitted).

    Returns
    -------
    HostPrior
    """
    X = np.asarray(X, dtype=float)
    P = np.asarray(level_power_w, dtype=float)
    if features is None:
        features = FEATURES_WITH_YEAR if X.shape[1] == len(FEATURES_WITH_YEAR) else FEATURES_WITHOUT_YEAR
    coef = np.linalg.lstsq(X, np.log(P[:, [0, -1]]), rcond=None)[0]
    frac = (P - P[:, [0]]) / (P[:, [-1]] - P[:, [0]])
    shape = np.maximum.accumulate(np.clip(np.median(frac, axis=0), 0.0, 1.0))
    shape[0], shape[-1] = 0.0, 1.0
    return HostPrior(tuple(features), coef[:, 0], coef[:, 1], np.asarray(levels, dtype=float), shape)


def prior_idle_full_w(X, prior: HostPrior) -> tuple[np.ndarray, np.ndarray]:
    r"""Idle and full-load power of feature rows ``X`` [W]:
    :math:`P_{idle} = \exp(\mathbf{x}^\top \boldsymbol\beta_{idle})`,
    :math:`P_{100} = \exp(\mathbf{x}^\top \boldsymbol\beta_{100})`.

    The dot products are summed feature by feature in a fixed order, so a row gives the same
    watts alone or among a million (a matrix product's rounding depends on how many rows it
    multiplies).

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Features from :func:`design_matrix`.
    prior : HostPrior

    Returns
    -------
    idle, full : ndarray, shape (n,)
    """
    X = np.asarray(X, dtype=float)

    def dot(coef):
        acc = X[:, 0] * coef[0]
        for j in range(1, X.shape[1]):
            acc = acc + X[:, j] * coef[j]
        return acc

    return np.exp(dot(prior.idle_coef)), np.exp(dot(prior.max_coef))


def prior_power_from_features_w(cpu_util, X, prior: HostPrior):
    """Prior power for feature rows ``X`` at utilisation ``cpu_util`` [W].

    Parameters
    ----------
    cpu_util : array_like
        Utilisation 0..1; broadcast against the rows of ``X`` (shape (n,) or (n, m) for a ladder).
    X : ndarray, shape (n, k)
    prior : HostPrior

    Returns
    -------
    ndarray
    """
    idle, full = prior_idle_full_w(X, prior)
    u = np.asarray(cpu_util, dtype=float)
    s = np.interp(np.clip(u, 0.0, 1.0), prior.shape_util, prior.shape_fraction)
    if s.ndim == 2:
        return idle[:, None] + (full - idle)[:, None] * s
    return idle + (full - idle) * s


def host_prior_power_w(cpu_util, cpu_tdp_w, sockets, cores_total, memory_gb, prior: HostPrior,
                       year=None, extra_ssd_count=0, extra_hdd_count=0, ssd_w=0.0, hdd_w=0.0, psu_w=None):
    """Host wall power at ``cpu_util`` from a spec (the prior).

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation 0..1.
    cpu_tdp_w, sockets, cores_total, memory_gb
        See :func:`design_matrix`.
    prior : HostPrior
        Coefficients (with or without year).
    year : float, optional
        Needed when ``prior.uses_year``.
    extra_ssd_count, extra_hdd_count : int, default 0
        Drives beyond the one or two the calibration servers carried.
    ssd_w, hdd_w : float, default 0
        Power per extra drive [W] (the shipped YAML gives defaults).
    psu_w : float, optional
        PSU rating; the result is capped at it [W].

    Returns
    -------
    ndarray
        [W]
    """
    if prior.uses_year and year is None:
        raise ValueError("this prior needs the server's year; use the prior without year")
    scalar = all(np.ndim(a) == 0 for a in (cpu_util, cpu_tdp_w, sockets, cores_total, memory_gb))
    X = design_matrix(cpu_tdp_w, sockets, cores_total, memory_gb, year if prior.uses_year else None)
    p = prior_power_from_features_w(np.asarray(cpu_util, dtype=float), X, prior)
    p = p + np.asarray(extra_ssd_count) * ssd_w + np.asarray(extra_hdd_count) * hdd_w
    if psu_w is not None:
        p = np.minimum(p, psu_w)
    return float(np.reshape(p, -1)[0]) if scalar else p


# --------------------------------------------------------------------------------------------
# Baselines: the curves other tools use

#: Boavizta/Teads CPU load curve: load [%] and power as a fraction of TDP.
BOAVIZTA_LOAD_PCT = np.array([0.0, 10.0, 50.0, 100.0])
BOAVIZTA_TDP_RATIO = np.array([0.12, 0.32, 0.75, 1.02])
#: Boavizta server overhead factor on CPU + RAM.
BOAVIZTA_SERVER_FACTOR = 1.33


def boavizta_server_power_w(cpu_util, cpu_tdp_w, sockets, memory_gb, dimm_gb=16.0, drives_w=0.0):
    r"""Server power as Boavizta 2.5.0 computes it from TDP and RAM.

    .. math::

        P = 1.33 \left( n_s \, \text{TDP} \, r(u) + n_{DIMM} (3.0 + 0.055 \, g)(0.7 + 0.3 u) \right) + P_{drives}

    with ``r`` the linear interpolation of 0.12/0.32/0.75/1.02 at 0/10/50/100 % load,
    ``g`` GB per DIMM and :math:`n_{DIMM} = \max(1, \lceil GB / g \rceil)`.

    Parameters
    ----------
    cpu_util : array_like
        Load 0..1; shape (n,) or (n, m) against per-server arrays of shape (n,).
    cpu_tdp_w, sockets, memory_gb : array_like
        Per-server spec (TDP of one CPU [W], CPU count, DRAM [GB]).
    dimm_gb : float, default 16
        Assumed DIMM size [GB] (Boavizta's cloud default for DDR3 is 16 GB; DDR4 32, DDR5 64).
    drives_w : float, default 0
        Drive power [W].

    Returns
    -------
    ndarray
        [W]
    """
    u = np.asarray(cpu_util, dtype=float)
    tdp, sock, mem = (np.asarray(a, dtype=float) for a in (cpu_tdp_w, sockets, memory_gb))
    if u.ndim == 2:
        tdp, sock, mem = tdp[:, None], sock[:, None], mem[:, None]
    ratio = np.interp(u * 100.0, BOAVIZTA_LOAD_PCT, BOAVIZTA_TDP_RATIO)
    n_dimm = np.maximum(1.0, np.ceil(mem / dimm_gb))
    ram = n_dimm * (3.0 + 0.055 * dimm_gb) * (0.7 + 0.3 * u)
    return BOAVIZTA_SERVER_FACTOR * (sock * tdp * ratio + ram) + drives_w


def codecarbon_dimm_count(memory_gb):
    """DIMM count CodeCarbon v3 guesses from total RAM (x86).

    ≤16 GB → 2, ≤32 → 4, ≤64 → 4, ≤128 → 8, above: ``ceil(GB / d)`` with ``d`` the largest of
    128/64/32/16/8/4 GB not above GB/8, capped at 32 (minimum 2).
    """
    mem = np.atleast_1d(np.asarray(memory_gb, dtype=float))
    out = np.empty_like(mem)
    for i, g in enumerate(mem):
        if g <= 16:
            n = 2
        elif g <= 64:
            n = 4
        elif g <= 128:
            n = 8
        else:
            d = next((s for s in (128, 64, 32, 16, 8, 4) if s <= g / 8), 4)
            n = min(32, int(np.ceil(g / d)))
        out[i] = max(2, n)
    return out if np.ndim(memory_gb) else out[0]


def codecarbon_ram_power_w(memory_gb, dimm_w=5.0):
    """RAM power by CodeCarbon's v3 heuristic: 5 W per DIMM, marginal 100/90/80/70 %.

    DIMMs 1–4 count fully, 5–8 at 90 %, 9–16 at 80 %, beyond at 70 %.

    Examples
    --------
    >>> float(codecarbon_ram_power_w(128)), float(codecarbon_ram_power_w(220))
    (38.0, 62.0)
    """
    n = np.asarray(codecarbon_dimm_count(memory_gb), dtype=float)
    tiers = (np.minimum(n, 4) * 1.0 + np.clip(n - 4, 0, 4) * 0.9
             + np.clip(n - 8, 0, 8) * 0.8 + np.clip(n - 16, 0, None) * 0.7)
    return tiers * dimm_w


def codecarbon_constant_power_w(cpu_util, cpu_tdp_w, sockets, memory_gb):
    r"""CodeCarbon's constant-TDP fallback: :math:`P = 0.5\,n_s\,\text{TDP} + P_{RAM}`, any load.

    We take TDP per socket times the socket count (the reading most favourable to CodeCarbon
    on multi-socket servers).
    """
    u = np.asarray(cpu_util, dtype=float)
    tdp, sock, mem = (np.asarray(a, dtype=float) for a in (cpu_tdp_w, sockets, memory_gb))
    base = 0.5 * tdp * sock + codecarbon_ram_power_w(mem)
    if u.ndim == 2:
        return np.broadcast_to(base[:, None], u.shape) * 1.0
    return base + 0.0 * u


def codecarbon_cpu_load_power_w(cpu_util, cpu_tdp_w, sockets, memory_gb):
    r"""CodeCarbon's ``cpu_load`` mode: :math:`P = n_s\,\text{TDP}(0.1 + 0.9u^3) + P_{RAM}`."""
    u = np.asarray(cpu_util, dtype=float)
    tdp, sock, mem = (np.asarray(a, dtype=float) for a in (cpu_tdp_w, sockets, memory_gb))
    ram = codecarbon_ram_power_w(mem)
    if u.ndim == 2:
        tdp, sock, ram = tdp[:, None], sock[:, None], np.asarray(ram)[:, None]
    return tdp * sock * (0.1 + 0.9 * u ** 3) + ram


def abs_pct_error(predicted_w, measured_w):
    """Absolute percentage error ``100·|pred − meas| / meas``."""
    return 100.0 * np.abs(np.asarray(predicted_w) / np.asarray(measured_w) - 1.0)


def cross_validated_prior_power_w(X, level_power_w, n_folds=5, seed=0, levels=LOAD_LEVELS):
    """Out-of-sample predictions of the prior by k-fold cross-validation over rows.

    Rows are assigned to folds by a seeded random permutation (``numpy.random.default_rng(seed)``,
    fold = position mod ``n_folds``); each fold is predicted by a prior fitted on the others.

    Parameters
    ----------
    X : ndarray, shape (n, k)
        Features (:func:`design_matrix`).
    level_power_w : ndarray, shape (n, len(levels))
        Measured ladders [W].
    n_folds : int, default 5
    seed : int, default 0
    levels : array_like
        Load levels of the columns.

    Returns
    -------
    ndarray, shape (n, len(levels))
        Predicted power [W], each row from a model that never saw it.
    """
    X = np.asarray(X, dtype=float)
    P = np.asarray(level_power_w, dtype=float)
    folds = np.random.default_rng(seed).permutation(len(P)) % n_folds
    levels = np.asarray(levels, dtype=float)
    out = np.empty_like(P)
    for k in range(n_folds):
        test = folds == k
        prior = fit_host_prior(X[~test], P[~test], levels)
        out[test] = prior_power_from_features_w(np.broadcast_to(levels, (int(test.sum()), len(levels))), X[test], prior)
    return out
