r"""Host (CPU + memory + platform) power as a function of utilisation (the seed's Eq. 1).

Every form shares one structure: the wall power of the host is its idle power, plus a
dynamic part that grows with CPU utilisation ``u`` (0..1) along a *shape* ``s(u)`` with
``s(0) = 0`` and ``s(1) = 1``, plus an optional linear memory term and a constant for parts
that do not follow the CPU (storage, network cards, fans at a fixed speed):

.. math::

    P(u, m) = P_{idle} + (P_{max} - P_{idle}) \, s(u) + c_{mem} \, m + P_{const}

``m`` is memory utilisation (0..1, e.g. bandwidth or occupancy) and ``c_mem`` [W] is the power
added at full memory utilisation. Shapes:

``linear``
    :math:`s(u) = u`.
``power``
    :math:`s(u) = u^k` (``k < 1`` concave, ``k > 1`` convex).
``log``
    :math:`s(u) = \ln(1 + u/c) / \ln(1 + 1/c)`, concave, tending to linear as ``c`` grows.
    It is the four-constant form :math:`a \ln(b (u + c)) + d` of Boavizta (``cpu_profile.csv``)
    with one redundant constant removed: :math:`a \ln(b(u + c)) + d = a \ln(u + c) + (a \ln b + d)`,
    so ``b`` and ``d`` cannot be told apart by any data. Here
    :math:`a = (P_{max} - P_{idle}) / \ln(1 + 1/c)` and :math:`a \ln b + d = P_{idle} - a \ln c`.

In a fit (:mod:`carbonsim.models.power.fit`) ``P_const`` cannot be separated from ``P_idle`` and is
held at 0, so a fitted ``idle_w`` includes whatever the measured machine drew at rest. Use
``const_w`` to add parts the measured machine did not have.

All functions are pure and broadcast over NumPy arrays. Utilisations are fractions 0..1.

References
----------
.. [1] Y. Li, O. Graif, U. Gupta, "Towards Carbon-efficient LLM Life Cycle", HotCarbon 2024,
   Sec. 3.3, Eq. 1 (host power from CPU and memory utilisation plus a constant).
.. [2] X. Fan, W.-D. Weber, L. A. Barroso, "Power provisioning for a warehouse-sized computer",
   ISCA 2007 (linear and ``2u - u^r`` server power models fitted to utilisation).
.. [3] Boavizta API 2.5.0, CPU consumption profile ``a ln(b (x + c)) + d`` (x in % load);
   see github.com/Boavizta/boaviztapi.
"""

from __future__ import annotations

import numpy as np

#: Forms offered, with the names of their fitted constants (in order) and units.
FORMS: dict[str, tuple[str, ...]] = {
    "linear": ("idle_w", "max_w"),
    "power": ("idle_w", "max_w", "exponent"),
    "log": ("idle_w", "max_w", "curvature"),
}

#: Number standing for each form in a numeric point vector (a sweep holds one curve per point);
#: ``table`` is a shape tabulated at :data:`TABLE_LEVELS` (the spec-based prior's).
FORM_CODES: dict[str, int] = {"linear": 0, "power": 1, "log": 2, "table": 3}
#: Utilisations at which a tabulated shape is given: 0, 0.1, ..., 1 (SPECpower's load levels).
TABLE_LEVELS = np.linspace(0.0, 1.0, 11)

#: Unit of every constant a form may carry ("" = dimensionless).
CONSTANT_UNITS: dict[str, str] = {
    "idle_w": "W",
    "max_w": "W",
    "exponent": "",
    "curvature": "",
    "mem_w": "W",
    "const_w": "W",
}


def _arr(x):
    return np.asarray(x, dtype=float)


def linear_shape(cpu_util):
    r"""Linear shape :math:`s(u) = u`.

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.

    Returns
    -------
    ndarray
        Fraction of the dynamic range, 0..1.
    """
    return _arr(cpu_util) * 1.0


def power_shape(cpu_util, exponent):
    r"""Power-law shape :math:`s(u) = u^k`.

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.
    exponent : float or array_like
        ``k`` > 0; below 1 the curve is concave (power rises fast at low load).

    Returns
    -------
    ndarray
        Fraction of the dynamic range, 0..1.
    """
    u = np.clip(_arr(cpu_util), 0.0, None)
    return np.power(u, _arr(exponent))


def log_shape(cpu_util, curvature):
    r"""Logarithmic shape :math:`s(u) = \ln(1 + u/c) / \ln(1 + 1/c)`.

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.
    curvature : float or array_like
        ``c`` > 0; small ``c`` is strongly concave, large ``c`` is nearly linear.

    Returns
    -------
    ndarray
        Fraction of the dynamic range, 0..1.

    Examples
    --------
    >>> round(float(log_shape(0.5, 1e6)), 6)   # nearly linear for large c
    0.5
    """
    u = np.clip(_arr(cpu_util), 0.0, None)
    c = _arr(curvature)
    return np.log1p(u / c) / np.log1p(1.0 / c)


def table_shape(cpu_util, fractions):
    r"""A shape tabulated at :data:`TABLE_LEVELS`, interpolated linearly.

    Parameters
    ----------
    cpu_util : array_like, shape (n,) or scalar
        CPU utilisation, 0..1 (clipped).
    fractions : array_like, shape (11,) or (11, n)
        :math:`s` at 0, 0.1, ..., 1: one table for all points, or one per point.

    Returns
    -------
    ndarray
        Fraction of the dynamic range, 0..1.
    """
    u = np.clip(_arr(cpu_util), 0.0, 1.0)
    f = _arr(fractions)
    steps = len(TABLE_LEVELS) - 1
    i = np.minimum((u * steps).astype(int), steps - 1)
    w = u * steps - i
    if f.ndim == 1:
        return f[i] + (f[i + 1] - f[i]) * w
    j = np.arange(f.shape[1]) if u.ndim else 0
    return f[i, j] + (f[i + 1, j] - f[i, j]) * w


def coded_shape(cpu_util, form_code, k, fractions):
    r"""The shape of the form numbered ``form_code`` (:data:`FORM_CODES`), point by point.

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.
    form_code : array_like
        0 linear, 1 power (``k`` = exponent), 2 log (``k`` = curvature), 3 table.
    k : array_like
        Shape constant of the power and log forms (any positive value for the others).
    fractions : array_like, shape (11,) or (11, n)
        The tabulated shape, used where the form is ``table``.

    Returns
    -------
    ndarray
    """
    u = np.clip(_arr(cpu_util), 0.0, 1.0)
    code = _arr(form_code)
    kk = np.where(code == FORM_CODES["power"], k, 1.0)
    cc = np.where(code == FORM_CODES["log"], k, 1.0)
    return np.select(
        [code == FORM_CODES["linear"], code == FORM_CODES["power"], code == FORM_CODES["log"]],
        [u, power_shape(u, kk), log_shape(u, cc)],
        table_shape(u, fractions),
    )


def host_power_w(cpu_util, idle_w, max_w, shape, mem_util=0.0, mem_w=0.0, const_w=0.0):
    r"""Host wall power from a shape value (the common structure of all forms).

    .. math:: P = P_{idle} + (P_{max} - P_{idle}) \, s + c_{mem} m + P_{const}

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation 0..1 (only broadcast here; ``shape`` already depends on it).
    idle_w, max_w : float or array_like
        Power at 0 % and 100 % CPU utilisation with memory idle [W].
    shape : array_like
        ``s(u)``, fraction of the dynamic range.
    mem_util : array_like, default 0
        Memory utilisation 0..1.
    mem_w : float, default 0
        Power added at full memory utilisation [W].
    const_w : float, default 0
        Constant for parts not following utilisation (storage, network) [W].

    Returns
    -------
    ndarray
        [W]
    """
    _ = cpu_util
    return _arr(idle_w) + (_arr(max_w) - _arr(idle_w)) * _arr(shape) + _arr(mem_w) * _arr(mem_util) + _arr(const_w)


def linear_power_w(cpu_util, idle_w, max_w, mem_util=0.0, mem_w=0.0, const_w=0.0):
    r"""Linear host power model.

    .. math:: P = P_{idle} + (P_{max} - P_{idle}) u + c_{mem} m + P_{const}

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.
    idle_w, max_w : float
        Power at 0 % and 100 % CPU [W].
    mem_util, mem_w, const_w
        See :func:`host_power_w`.

    Returns
    -------
    ndarray
        [W]

    Examples
    --------
    >>> float(linear_power_w(0.5, 100.0, 300.0))
    200.0
    """
    return host_power_w(cpu_util, idle_w, max_w, linear_shape(cpu_util), mem_util, mem_w, const_w)


def power_law_power_w(cpu_util, idle_w, max_w, exponent, mem_util=0.0, mem_w=0.0, const_w=0.0):
    r"""Power-law host power model.

    .. math:: P = P_{idle} + (P_{max} - P_{idle}) u^k + c_{mem} m + P_{const}

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.
    idle_w, max_w : float
        Power at 0 % and 100 % CPU [W].
    exponent : float
        ``k`` > 0.
    mem_util, mem_w, const_w
        See :func:`host_power_w`.

    Returns
    -------
    ndarray
        [W]

    Examples
    --------
    >>> float(power_law_power_w(0.25, 100.0, 300.0, 0.5))
    200.0
    """
    return host_power_w(cpu_util, idle_w, max_w, power_shape(cpu_util, exponent), mem_util, mem_w, const_w)


def log_power_w(cpu_util, idle_w, max_w, curvature, mem_util=0.0, mem_w=0.0, const_w=0.0):
    r"""Logarithmic (concave) host power model.

    .. math:: P = P_{idle} + (P_{max} - P_{idle}) \frac{\ln(1 + u/c)}{\ln(1 + 1/c)} + c_{mem} m + P_{const}

    Equivalent to Boavizta's :math:`a \ln(b(u + c)) + d` (see the module docstring).

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation, 0..1.
    idle_w, max_w : float
        Power at 0 % and 100 % CPU [W].
    curvature : float
        ``c`` > 0.
    mem_util, mem_w, const_w
        See :func:`host_power_w`.

    Returns
    -------
    ndarray
        [W]
    """
    return host_power_w(cpu_util, idle_w, max_w, log_shape(cpu_util, curvature), mem_util, mem_w, const_w)


def evaluate_form(form: str, cpu_util, constants: dict, mem_util=0.0, const_w=0.0):
    """Evaluate a named form with a mapping of its constants.

    Parameters
    ----------
    form : {"linear", "power", "log"}
        Form name (see :data:`FORMS`).
    cpu_util : array_like
        CPU utilisation, 0..1.
    constants : dict
        ``idle_w``, ``max_w``, the form's shape constant (``exponent`` or ``curvature``) and
        optionally ``mem_w`` and ``const_w``.
    mem_util : array_like, default 0
        Memory utilisation, 0..1.
    const_w : float, default 0
        Added to ``constants.get("const_w", 0)`` [W].

    Returns
    -------
    ndarray
        [W]
    """
    if form not in FORMS:
        raise ValueError(f"unknown host power form {form!r}; allowed: {', '.join(FORMS)}")
    if form == "linear":
        shape = linear_shape(cpu_util)
    elif form == "power":
        shape = power_shape(cpu_util, constants["exponent"])
    else:
        shape = log_shape(cpu_util, constants["curvature"])
    return host_power_w(
        cpu_util, constants["idle_w"], constants["max_w"], shape, mem_util,
        constants.get("mem_w", 0.0), constants.get("const_w", 0.0) + const_w,
    )


def boavizta_log_constants(idle_w, max_w, curvature, load_in_percent=False):
    r"""Convert ``(idle_w, max_w, c)`` of the ``log`` form to Boavizta's ``(a, b, c, d)``.

    Boavizta writes :math:`P(x) = a \ln(b (x + c)) + d`. Because ``b`` and ``d`` are redundant,
    this returns the member of the family with ``b = 1``.

    Parameters
    ----------
    idle_w, max_w, curvature : float
        Constants of :func:`log_power_w` (utilisation as a fraction).
    load_in_percent : bool, default False
        Express ``x`` and ``c`` in % load (as Boavizta does) instead of fractions.

    Returns
    -------
    tuple of float
        ``(a [W], b [1/unit of x], c [unit of x], d [W])``
    """
    scale = 100.0 if load_in_percent else 1.0
    c = curvature * scale
    a = (max_w - idle_w) / np.log1p(1.0 / curvature)
    d = idle_w - a * np.log(c)
    return float(a), 1.0, float(c), float(d)
