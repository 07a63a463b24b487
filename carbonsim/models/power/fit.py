r"""Fit the host power forms of :mod:`carbonsim.models.power.host` to measurements, and choose one.

Each form is fitted by bounded non-linear least squares (``scipy.optimize.least_squares``,
trust-region reflective) on the residuals :math:`r_i = P(u_i, m_i) - P_i` in watts. A memory
term ``mem_w`` is fitted only when memory utilisation is given, varies, and is not (almost)
a copy of CPU utilisation (``|corr| > 0.99`` makes the two slopes unidentifiable; the term is
then dropped and a note says so).

Fit quality reported for every form: RMSE [W], :math:`R^2`, residuals [W], mean and maximum
absolute error, AICc, BIC and the standard error of each constant (from the Jacobian at the
optimum).

Selection rule (``select_form``)
--------------------------------
Lowest small-sample Akaike criterion with a parsimony margin:

.. math::

    \mathrm{AICc} = n \ln(\mathrm{RSS}/n) + 2k + \frac{2k(k+1)}{n-k-1}, \qquad k = p + 1

(``p`` fitted constants plus the noise variance). Among the forms whose AICc is within
**2** of the minimum (a difference below 2 is not evidence for the richer model; Burnham &
Anderson 2002, Sec. 2.6), the one with the **fewest constants** wins; ties go to the lower
AICc. A form is eligible only when ``n > k + 1``; if no form is eligible, ``linear`` is used.
RSS is floored at ``n·(1e-9·mean P)^2`` so exact synthetic data do not give ``-inf``.

References
----------
.. [1] K. P. Burnham, D. R. Anderson, *Model Selection and Multimodel Inference*, 2nd ed.,
   Springer 2002 (AICc, Eq. 2.14; the "within 2" rule, Sec. 2.6).
.. [2] C. M. Hurvich, C.-L. Tsai, "Regression and time series model selection in small
   samples", Biometrika 76 (1989) (AICc).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from carbonsim.models.power.host import CONSTANT_UNITS, FORMS, evaluate_form

#: AICc difference below which a simpler form is preferred.
AICC_MARGIN = 2.0
#: |corr(cpu_util, mem_util)| above which the memory term is dropped.
MEM_COLLINEAR_CORR = 0.99


@dataclass
class FormFit:
    """One fitted form.

    Attributes
    ----------
    form : str
        ``linear``, ``power`` or ``log``.
    constants : dict[str, float]
        Fitted constants (``idle_w``, ``max_w``, shape constant, ``mem_w`` if fitted).
    stderr : dict[str, float]
        Standard error of each constant (NaN when not estimable).
    units : dict[str, str]
        Unit of each constant.
    n : int
        Number of measurements.
    n_params : int
        Number of fitted constants ``p``.
    rmse_w, mae_w, max_abs_error_w : float
        Root-mean-square, mean absolute and largest absolute residual [W].
    r2 : float
        Coefficient of determination.
    aicc, bic : float
        Information criteria (NaN when ``n <= p + 2``).
    residuals_w : ndarray
        Fitted minus measured power, per measurement [W].
    """

    form: str
    constants: dict
    stderr: dict
    units: dict
    n: int
    n_params: int
    rmse_w: float
    mae_w: float
    max_abs_error_w: float
    r2: float
    aicc: float
    bic: float
    residuals_w: np.ndarray = field(repr=False)

    def predict_w(self, cpu_util, mem_util=0.0, const_w=0.0):
        """Power of the fitted form at ``cpu_util`` (and ``mem_util``) [W]."""
        return evaluate_form(self.form, cpu_util, self.constants, mem_util, const_w)


@dataclass
class HostPowerFit:
    """Fits of several forms and the chosen one.

    Attributes
    ----------
    fits : dict[str, FormFit]
        Every form fitted, by name.
    chosen : str
        The selected form (by :func:`select_form`, or the one requested).
    rule : str
        The selection rule in words.
    notes : list[str]
        Anything the user should know (dropped memory term, too few points for AICc ...).
    """

    fits: dict
    chosen: str
    rule: str
    notes: list = field(default_factory=list)

    @property
    def best(self) -> FormFit:
        """The chosen :class:`FormFit`."""
        return self.fits[self.chosen]


SELECTION_RULE = (
    f"lowest AICc; among forms within {AICC_MARGIN:g} AICc of the minimum, the one with the "
    "fewest constants (ties: lower AICc); linear if no form has n > p + 2"
)


def _information_criteria(rss: float, n: int, p: int, mean_power: float):
    floor = n * (1e-9 * max(abs(mean_power), 1e-12)) ** 2
    rss = max(rss, floor)
    k = p + 1
    ll_term = n * np.log(rss / n)
    bic = ll_term + k * np.log(n)
    if n - k - 1 <= 0:
        return float("nan"), float("nan")
    aicc = ll_term + 2 * k + 2 * k * (k + 1) / (n - k - 1)
    return float(aicc), float(bic)


def _stderr(jac, resid, p):
    n = len(resid)
    if n <= p:
        return np.full(p, np.nan)
    s2 = float(resid @ resid) / (n - p)
    try:
        cov = np.linalg.pinv(jac.T @ jac) * s2
        return np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:  # pragma: no cover - pinv rarely fails
        return np.full(p, np.nan)


def fit_form(form: str, cpu_util, power_w, mem_util=None) -> FormFit:
    """Fit one form by bounded least squares.

    Parameters
    ----------
    form : {"linear", "power", "log"}
        The form to fit.
    cpu_util : array_like
        CPU utilisation per measurement, 0..1.
    power_w : array_like
        Measured wall power [W].
    mem_util : array_like, optional
        Memory utilisation per measurement, 0..1. When given (and usable) a ``mem_w`` term is fitted.

    Returns
    -------
    FormFit

    Raises
    ------
    ValueError
        Unknown form, arrays of different length, non-finite values or fewer measurements
        than constants.
    """
    if form not in FORMS:
        raise ValueError(f"unknown host power form {form!r}; allowed: {', '.join(FORMS)}")
    u = np.asarray(cpu_util, dtype=float).ravel()
    y = np.asarray(power_w, dtype=float).ravel()
    m = None if mem_util is None else np.asarray(mem_util, dtype=float).ravel()
    if u.shape != y.shape or (m is not None and m.shape != u.shape):
        raise ValueError("cpu_util, mem_util and power_w must have the same length")
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(y)) and (m is None or np.all(np.isfinite(m)))):
        raise ValueError("measurements must be finite")
    names = list(FORMS[form]) + (["mem_w"] if m is not None else [])
    p = len(names)
    n = len(y)
    if n < p:
        raise ValueError(f"form {form!r} has {p} constants but only {n} measurements were given")

    # Starting point from an ordinary linear least-squares fit (idle, slope[, mem]).
    cols = [np.ones(n), u] + ([m] if m is not None else [])
    A = np.column_stack(cols)
    beta = np.linalg.lstsq(A, y, rcond=None)[0]
    idle0, max0 = float(beta[0]), float(beta[0] + beta[1])
    mem0 = float(beta[2]) if m is not None else None
    ymax = float(np.max(np.abs(y))) if n else 1.0

    def unpack(theta):
        c = dict(zip(names, theta))
        return c

    def resid(theta):
        c = unpack(theta)
        return evaluate_form(form, u, c, 0.0 if m is None else m) - y

    lo = {"idle_w": 0.0, "max_w": 0.0, "exponent": 0.05, "curvature": 1e-4, "mem_w": -10.0 * ymax - 1.0}
    hi = {"idle_w": np.inf, "max_w": np.inf, "exponent": 20.0, "curvature": 1e4, "mem_w": 10.0 * ymax + 1.0}
    lower = np.array([lo[k] for k in names])
    upper = np.array([hi[k] for k in names])

    starts = []
    shape_starts = {"linear": [None], "power": [1.0, 0.5, 2.0], "log": [1.0, 0.1, 0.01, 10.0]}[form]
    for s0 in shape_starts:
        th = {"idle_w": max(idle0, 0.0), "max_w": max(max0, 0.0)}
        if s0 is not None:
            th["exponent" if form == "power" else "curvature"] = s0
        if m is not None:
            th["mem_w"] = mem0
        starts.append(np.clip(np.array([th[k] for k in names]), lower + 1e-12, np.where(np.isfinite(upper), upper - 1e-12, np.inf)))

    best = None
    for x0 in starts:
        sol = least_squares(resid, x0, bounds=(lower, upper), method="trf", x_scale="jac")
        if best is None or sol.cost < best.cost:
            best = sol
    r = best.fun
    rss = float(r @ r)
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - rss / tss if tss > 0 else float("nan")
    aicc, bic = _information_criteria(rss, n, p, float(np.mean(y)))
    se = _stderr(best.jac, r, p)
    constants = {k: float(v) for k, v in zip(names, best.x)}
    return FormFit(
        form=form,
        constants=constants,
        stderr={k: float(v) for k, v in zip(names, se)},
        units={k: CONSTANT_UNITS[k] for k in names},
        n=n,
        n_params=p,
        rmse_w=float(np.sqrt(rss / n)),
        mae_w=float(np.mean(np.abs(r))),
        max_abs_error_w=float(np.max(np.abs(r))),
        r2=float(r2),
        aicc=aicc,
        bic=bic,
        residuals_w=r,
    )


def select_form(fits) -> str:
    """Choose among fitted forms by the rule in the module docstring.

    Parameters
    ----------
    fits : dict[str, FormFit] or list of FormFit

    Returns
    -------
    str
        The chosen form's name.
    """
    items = list(fits.values()) if isinstance(fits, dict) else list(fits)
    eligible = [f for f in items if np.isfinite(f.aicc)]
    if not eligible:
        names = [f.form for f in items]
        return "linear" if "linear" in names else items[0].form
    best_aicc = min(f.aicc for f in eligible)
    close = [f for f in eligible if f.aicc <= best_aicc + AICC_MARGIN]
    close.sort(key=lambda f: (f.n_params, f.aicc))
    return close[0].form


def fit_host_power(cpu_util, power_w, mem_util=None, forms=None, form=None) -> HostPowerFit:
    """Fit several host power forms and choose one.

    Parameters
    ----------
    cpu_util : array_like
        CPU utilisation per measurement, 0..1.
    power_w : array_like
        Measured wall power [W].
    mem_util : array_like, optional
        Memory utilisation, 0..1.
    forms : iterable of str, optional
        Forms to fit (default: all of :data:`carbonsim.models.power.host.FORMS`).
    form : str, optional
        Force this form as the chosen one (it is fitted even if not in ``forms``).

    Returns
    -------
    HostPowerFit

    Examples
    --------
    >>> import numpy as np
    >>> u = np.linspace(0, 1, 11)
    >>> res = fit_host_power(u, 100 + 200 * u)
    >>> res.chosen, round(res.best.constants["max_w"], 3)
    ('linear', 300.0)
    """
    forms = list(FORMS) if forms is None else list(forms)
    if form is not None and form not in forms:
        forms.append(form)
    notes: list[str] = []
    u = np.asarray(cpu_util, dtype=float).ravel()
    m = None
    if mem_util is not None:
        m = np.asarray(mem_util, dtype=float).ravel()
        if m.shape != u.shape:
            raise ValueError("cpu_util and mem_util must have the same length")
        if np.ptp(m) == 0:
            notes.append("mem_util is constant; no memory term fitted")
            m = None
        elif np.ptp(u) > 0 and abs(np.corrcoef(u, m)[0, 1]) > MEM_COLLINEAR_CORR:
            notes.append(
                f"mem_util follows cpu_util (|corr| > {MEM_COLLINEAR_CORR}); their slopes cannot be "
                "separated, so no memory term was fitted"
            )
            m = None
    fits = {}
    for name in forms:
        try:
            fits[name] = fit_form(name, u, power_w, m)
        except ValueError as exc:
            if name == form:
                raise
            notes.append(f"{name}: not fitted ({exc})")
    if not fits:
        raise ValueError("no form could be fitted: " + "; ".join(notes))
    if form is not None:
        chosen, rule = form, f"form {form!r} requested"
    else:
        chosen, rule = select_form(fits), SELECTION_RULE
        if not any(np.isfinite(f.aicc) for f in fits.values()):
            notes.append("too few measurements for AICc; linear form used")
    return HostPowerFit(fits=fits, chosen=chosen, rule=rule, notes=notes)
