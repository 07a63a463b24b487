r"""Unitemised electronics: what vendor carbon footprints count beyond an LCA's itemised parts.

Vendors' product carbon footprints (PCFs) of ordinary servers report 1,100–1,700 kg of
manufacturing carbon for near-empty 2014–2018 servers (Dell's PAIA sheets of 2019) and
400–950 kg for 2020–2022 ones (HPE, Dell 2021), where the parts itemised by the Dell R740 full
LCA (boards, PSU, chassis, fans, CPUs, DIMMs, drives) add up to 350–700 kg. The gap is not a
missing part of the bill of materials: it is what the streamlined PCF methods attribute to the
electronics (ICs and boards as their inventories count them). carbonsim carries it as one term
that declines with the year the server was made:

.. math:: E_{U}(y) = U_0\, e^{-\lambda (y - y_0)}

* :math:`\lambda` is published: Teehan and Kandlikar [1]_ found the embodied greenhouse gases of
  computing products of about 2008–2012 50–60 % below their counterparts modelled about 8
  years earlier, mainly through less IC and circuit-board content:
  :math:`\lambda = -\ln(1 - 0.55)/8 = 0.0998` /yr (:func:`decline_rate_per_yr`), rounded to 0.10.
* :math:`U_0` [kg] is the level in :math:`y_0` = 2017. It has no physical source: it is fitted
  (:func:`fit_unitemised_ref_kg`) on the 34 vendor PCF rows that state their configuration
  (docs/validation.md, "Servers against vendor carbon footprints"), with the form of the term
  chosen among others by nested cross-validation; the level and its calibrated range are all the
  ``server-lca`` set fits on those rows.

References
----------
.. [1] P. Teehan, M. Kandlikar, "Comparing embodied greenhouse gas emissions of modern
   computing and electronics products", Environ. Sci. Technol. 47 (2013) 3997–4003.
"""

from __future__ import annotations

import numpy as np


def unitemised_electronics_kg(year, ref_kg, ref_year, decline_per_yr):
    r"""Electronics a vendor PCF counts beyond the itemised parts, by year made.

    .. math:: E_{U}(y) = U_0\, e^{-\lambda (y - y_0)}

    Parameters
    ----------
    year : numeric
        Year the server was made.
    ref_kg : numeric
        :math:`U_0`, the level in ``ref_year`` [kg] (610 in ``server-lca``).
    ref_year : numeric
        :math:`y_0` (2017).
    decline_per_yr : numeric
        :math:`\lambda` [1/yr] (0.10 [1]_).

    Returns
    -------
    numeric
        [kg]

    Examples
    --------
    >>> round(float(unitemised_electronics_kg(2019, 610.0, 2017, 0.10)), 1)
    499.4
    """
    return ref_kg * np.exp(-decline_per_yr * (year - ref_year))


def decline_rate_per_yr(reduction, years):
    r"""Constant yearly rate that gives a fractional reduction over a number of years.

    .. math:: \lambda = -\ln(1 - r) / T

    Parameters
    ----------
    reduction : numeric
        Fraction removed over the period (0.55: 55 % lower).
    years : numeric
        Length of the period [yr].

    Returns
    -------
    numeric
        [1/yr]

    Examples
    --------
    Teehan and Kandlikar's 50–60 % over about 8 years [1]_:

    >>> round(float(decline_rate_per_yr(0.55, 8)), 4)
    0.0998
    """
    return -np.log(1.0 - reduction) / years


def fit_unitemised_ref_kg(itemised_kg, reported_kg, weight, max_kg=20000.0, mask=None):
    r"""Least-squares fit of :math:`U_0` to reported totals, on the logarithm of the ratio.

    .. math::

        \hat U_0 = \arg\min_{0 \le U_0 \le U_{max}} \sum_i m_i
            \left[\ln \frac{I_i + U_0 w_i}{R_i}\right]^2,
        \qquad w_i = e^{-\lambda (y_i - y_0)}

    The log ratio weighs a factor of two too high and too low alike, and no server's size
    dominates the sum. The minimum is found by bisection on the sign of the loss's derivative
    (60 halvings of ``[0, max_kg]``: below 1e-13 of ``max_kg``). A term's derivative rises with
    :math:`U_0` while its estimate is below :math:`e` times its reported value, so for such data
    the zero found is the one minimum. Where the derivative is positive at 0 the fit is 0; where
    it is negative at ``max_kg``, ``max_kg``.

    Any term :math:`I_i + U_0 w_i` works, not only the year decline: ``weight`` is whatever
    multiplies :math:`U_0` (per CPU: :math:`n_i w_i`; multiplicative: :math:`I_i w_i`).

    Parameters
    ----------
    itemised_kg : array_like, shape (n,) or (..., n)
        Each server's estimate without the term, :math:`I_i` [kg] (> 0).
    reported_kg : array_like, shape (n,) or (..., n)
        Each server's reported manufacturing carbon, :math:`R_i` [kg] (> 0).
    weight : array_like, shape (n,) or (..., n)
        :math:`w_i`, the term per kg of :math:`U_0` for each server (>= 0), e.g.
        ``unitemised_electronics_kg(year, 1.0, ref_year, decline_per_yr)``.
    max_kg : float
        Upper bound of the search [kg].
    mask : array_like of bool, shape (..., n), optional
        :math:`m_i`: which servers each fit uses (default all). Many fits at once, e.g. the
        folds of a cross-validation, one per leading index.

    Returns
    -------
    float or ndarray, shape (...)
        :math:`\hat U_0` [kg], one per fit.
    """
    i = np.asarray(itemised_kg, dtype=float)
    ln_r = np.log(np.asarray(reported_kg, dtype=float))
    w = np.asarray(weight, dtype=float)
    m = np.ones(np.broadcast_shapes(i.shape, ln_r.shape, w.shape), bool) if mask is None \
        else np.asarray(mask, dtype=bool)

    def slope(u):
        x = i + u[..., None] * w
        return np.sum(np.where(m, (np.log(x) - ln_r) * w / x, 0.0), axis=-1)

    shape = np.broadcast_shapes(m.shape, i.shape, w.shape)[:-1]
    lo, hi = np.zeros(shape), np.full(shape, float(max_kg))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        up = slope(mid) > 0
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    u = 0.5 * (lo + hi)
    u = np.where(slope(np.zeros(shape)) >= 0, 0.0, u)
    return float(u) if u.ndim == 0 else u
