"""``carbonsim power fit``: fit host power curves to measurements (layer 2).

>>> report = fit_measurements_csv("measurements.csv", form="auto")     # doctest: +SKIP
>>> power_fit_rows(report)          # one dict per form, for table/csv   # doctest: +SKIP
>>> power_fit_json(report)          # one JSON-able dict                 # doctest: +SKIP
>>> power_model_yaml(report)        # the ``host: {power_model: ...}`` block # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carbonsim.engine.readers.measurements import Measurements, read_measurements_csv
from carbonsim.errors import InputError
from carbonsim.models.power.fit import HostPowerFit, fit_host_power
from carbonsim.models.power.host import FORMS

FORM_CHOICES = ("auto",) + tuple(FORMS)


@dataclass
class PowerFitReport:
    """Measurements and the fits made from them."""

    measurements: Measurements
    fit: HostPowerFit

    @property
    def best(self):
        return self.fit.best


def fit_measurements(meas: Measurements, form: str = "auto") -> PowerFitReport:
    """Fit the host power forms to validated measurements.

    Parameters
    ----------
    meas : Measurements
    form : {"auto", "linear", "power", "log"}
        ``auto`` fits all forms and chooses by the rule of :mod:`carbonsim.models.power.fit`.

    Returns
    -------
    PowerFitReport

    Raises
    ------
    InputError
        Unknown form, fewer than 3 rows, or a single distinct CPU utilisation.
    """
    if form not in FORM_CHOICES:
        raise InputError(f"unknown form {form!r}; allowed: {', '.join(FORM_CHOICES)}", field="form")
    if meas.n < 3:
        raise InputError(f"{meas.n} data row(s); a fit needs at least 3", file=meas.file)
    if np.ptp(meas.cpu_util) == 0:
        raise InputError("all rows have the same cpu_util; a fit needs at least two load levels",
                         file=meas.file, field="cpu_util")
    forced = None if form == "auto" else form
    try:
        fit = fit_host_power(meas.cpu_util, meas.power_w, meas.mem_util, form=forced)
    except ValueError as exc:
        raise InputError(str(exc), file=meas.file) from None
    c = fit.best.constants
    if c.get("max_w", 0.0) < c.get("idle_w", 0.0):
        from carbonsim.engine.inputs.plausibility import falling_curve_message, warn

        warn(falling_curve_message(f"{meas.file}: fitted {fit.chosen} curve", c["idle_w"], c["max_w"]))
    return PowerFitReport(meas, fit)


def fit_measurements_csv(path, form: str = "auto") -> PowerFitReport:
    """Read ``path`` (:func:`read_measurements_csv`) and fit it (:func:`fit_measurements`)."""
    return fit_measurements(read_measurements_csv(path), form)


def power_fit_rows(report: PowerFitReport) -> list[dict]:
    """One flat row per fitted form (for ``--format table`` or ``csv``); the chosen one first.

    Keys: ``form``, ``chosen``, ``n``, ``idle_w``, ``max_w``, ``exponent``, ``curvature``,
    ``mem_w`` (absent constants are None), ``rmse_w``, ``r2``, ``mae_w``, ``max_abs_error_w``,
    ``aicc``, ``bic``.
    """
    order = [report.fit.chosen] + [f for f in report.fit.fits if f != report.fit.chosen]
    rows = []
    for name in order:
        f = report.fit.fits[name]
        row = {"form": name, "chosen": name == report.fit.chosen, "n": f.n}
        for k in ("idle_w", "max_w", "exponent", "curvature", "mem_w"):
            row[k] = f.constants.get(k)
        row.update(rmse_w=f.rmse_w, r2=f.r2, mae_w=f.mae_w, max_abs_error_w=f.max_abs_error_w,
                   aicc=f.aicc, bic=f.bic)
        rows.append(row)
    return rows


def _finite_or_none(x):
    return None if x is None or not np.isfinite(x) else float(x)


def power_fit_json(report: PowerFitReport) -> dict:
    """Everything about a fit as one JSON-serialisable dict (for ``--format json``)."""
    m = report.measurements
    fits = {}
    for name, f in report.fit.fits.items():
        fits[name] = {
            "constants": f.constants, "stderr": {k: _finite_or_none(v) for k, v in f.stderr.items()},
            "units": f.units, "n": f.n, "n_params": f.n_params, "rmse_w": f.rmse_w, "r2": _finite_or_none(f.r2),
            "mae_w": f.mae_w, "max_abs_error_w": f.max_abs_error_w, "aicc": _finite_or_none(f.aicc),
            "bic": _finite_or_none(f.bic), "residuals_w": [float(r) for r in f.residuals_w],
        }
    return {
        "file": m.file, "n": m.n, "util_scale": m.util_scale, "columns": ["cpu_util", "power_w"]
        + (["mem_util"] if m.mem_util is not None else []),
        "chosen": report.fit.chosen, "rule": report.fit.rule, "notes": list(report.fit.notes), "fits": fits,
        "power_model": power_model_dict(report),
    }


def power_model_dict(report: PowerFitReport) -> dict:
    """The ``host.power_model`` mapping of the chosen fit (what :func:`power_model_yaml` writes)."""
    f = report.best
    out = {"form": f.form}
    for k in FORMS[f.form] + (("mem_w",) if "mem_w" in f.constants else ()):
        out[k] = float(f.constants[k])
    out["fit"] = {"n": f.n, "rmse_w": float(f.rmse_w), "r2": _finite_or_none(f.r2)}
    out["note"] = (f"fitted by carbonsim power fit to {Path(report.measurements.file).name}; "
                   f"{report.fit.rule}")
    return out


_EQUATION = {
    "linear": "P = idle_w + (max_w - idle_w) * u",
    "power": "P = idle_w + (max_w - idle_w) * u**exponent",
    "log": "P = idle_w + (max_w - idle_w) * ln(1 + u/curvature) / ln(1 + 1/curvature)",
}


def power_model_yaml(report: PowerFitReport) -> str:
    """The chosen fit as a YAML block a server spec can hold under ``host:``.

    Returns
    -------
    str
        For example::

            host:
              power_model:
                form: power          # P = idle_w + (max_w - idle_w) * u**exponent (+ mem_w * m)
                idle_w: 120.4        # W at 0 % CPU
                max_w: 310.2         # W at 100 % CPU
                exponent: 0.8731
                fit: {n: 11, rmse_w: 2.13, r2: 0.9981}
                note: "fitted by carbonsim power fit to ladder.csv; lowest AICc; ..."
    """
    d = power_model_dict(report)
    mem = " (+ mem_w * m)" if "mem_w" in d else ""
    lines = ["host:", "  power_model:", f"    form: {d['form']}    # {_EQUATION[d['form']]}{mem}; u, m in 0..1"]
    comments = {"idle_w": "W at 0 % CPU", "max_w": "W at 100 % CPU", "mem_w": "W added at full memory utilisation",
                "exponent": "dimensionless", "curvature": "dimensionless"}
    for k, v in d.items():
        if k in ("form", "fit", "note"):
            continue
        lines.append(f"    {k}: {v:.6g}    # {comments[k]}")
    fit = d["fit"]
    r2 = "null" if fit["r2"] is None else f"{fit['r2']:.5f}"
    lines.append(f"    fit: {{n: {fit['n']}, rmse_w: {fit['rmse_w']:.4g}, r2: {r2}}}")
    note = d["note"].replace("\\", "\\\\").replace('"', '\\"')
    lines.append(f'    note: "{note}"')
    return "\n".join(lines) + "\n"
