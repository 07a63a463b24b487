"""Power models from files (layer 2): measurement CSVs, fitted blocks for server specs, the
shipped host prior and per-GPU activity constants.

What the command line calls (``carbonsim power fit MEASUREMENTS.csv [--form F] [--format ...] [--out-yaml FILE]``):

>>> report = fit_measurements_csv("measurements.csv", form="auto")     # doctest: +SKIP
>>> power_fit_rows(report)          # one dict per form, for table/csv   # doctest: +SKIP
>>> power_fit_json(report)          # one JSON-able dict                 # doctest: +SKIP
>>> power_model_yaml(report)        # the ``host: {power_model: ...}`` block # doctest: +SKIP

Measurement CSV: header with ``cpu_util`` and ``power_w`` (``mem_util`` optional; other columns
ignored; lines starting with ``#`` and blank lines skipped). Each utilisation column is read
as per cent if any value exceeds 1, otherwise as a fraction 0..1; the scale found is reported.
"""

from __future__ import annotations

import copy
import functools

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.errors import InputError
from carbonsim.engine.readers.text import read_text
from carbonsim.models.power.fit import HostPowerFit, fit_host_power
from carbonsim.models.power.host import FORMS
from carbonsim.models.power.prior import (
    FEATURES_WITH_YEAR, FEATURES_WITHOUT_YEAR, HostPrior, host_prior_power_w,
)

REQUIRED_COLUMNS = ("cpu_util", "power_w")
OPTIONAL_COLUMNS = ("mem_util",)
FORM_CHOICES = ("auto",) + tuple(FORMS)
MAX_CSV_BYTES = 50_000_000


@dataclass
class Measurements:
    """Validated measurements from a CSV.

    Attributes
    ----------
    file : str
    cpu_util : ndarray
        0..1.
    power_w : ndarray
        [W]
    mem_util : ndarray or None
        0..1.
    util_scale : dict[str, str]
        ``"percent"`` or ``"fraction"`` per utilisation column, as detected.
    lines : ndarray
        File line number of each row (1 = first line of the file).
    """

    file: str
    cpu_util: np.ndarray
    power_w: np.ndarray
    mem_util: np.ndarray | None
    util_scale: dict
    lines: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.power_w)


@dataclass
class PowerFitReport:
    """Measurements and the fits made from them."""

    measurements: Measurements
    fit: HostPowerFit

    @property
    def best(self):
        return self.fit.best


def _parse_number(text, file, column, line):
    raw = text.strip()
    if raw == "":
        raise InputError(f"line {line}: empty value; a number is required", file=file, field=column)
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"line {line}: {raw!r} is not a number", file=file, field=column) from None
    if not math.isfinite(value):
        raise InputError(f"line {line}: {raw!r} is not a finite number", file=file, field=column)
    if value < 0:
        raise InputError(f"line {line}: {raw} is negative; must be >= 0", file=file, field=column)
    return value


def read_measurements_csv(path) -> Measurements:
    """Read and validate a measurements CSV.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Measurements

    Raises
    ------
    InputError
        Naming the file, the column and the line: file missing or empty, missing column,
        empty, non-numeric, non-finite or negative value, utilisation above 100 %, power not
        positive, no data rows.
    """
    path = Path(path)
    file = str(path)
    text = read_text(path, "CSV", MAX_CSV_BYTES)

    header = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    for lineno, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or all(c.strip() == "" for c in record) or record[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = [c.strip().lower() for c in record], lineno
            continue
        rows.append((lineno, record))
    if header is None:
        raise InputError(
            "file is empty; expected a header with columns cpu_util, power_w (and optionally mem_util)", file=file,
        )
    dupes = sorted({c for c in header if header.count(c) > 1 and c})
    if dupes:
        raise InputError(f"line {header_line}: duplicate column", file=file, field=dupes[0])
    for col in REQUIRED_COLUMNS:
        if col not in header:
            found = ", ".join(c for c in header if c) or "nothing"
            raise InputError(f"missing column {col!r} (found: {found})", file=file, field=col)
    if not rows:
        raise InputError(f"no data rows after the header (line {header_line})", file=file)

    cols = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in header]
    idx = {c: header.index(c) for c in cols}
    values = {c: [] for c in cols}
    lines = []
    for lineno, record in rows:
        for c in cols:
            cell = record[idx[c]] if idx[c] < len(record) else ""
            values[c].append(_parse_number(cell, file, c, lineno))
        lines.append(lineno)
    lines = np.asarray(lines)

    arrays = {c: np.asarray(v, dtype=float) for c, v in values.items()}
    bad = np.flatnonzero(arrays["power_w"] <= 0)
    if bad.size:
        raise InputError(f"line {lines[bad[0]]}: power must be > 0 W", file=file, field="power_w")
    scale = {}
    for c in ("cpu_util", "mem_util"):
        if c not in arrays:
            continue
        a = arrays[c]
        if np.max(a) > 1.0:
            scale[c] = "percent"
            over = np.flatnonzero(a > 100.0)
            if over.size:
                raise InputError(
                    f"line {lines[over[0]]}: {a[over[0]]:g} is above 100 (read as per cent because values exceed 1)",
                    file=file, field=c,
                )
            arrays[c] = a / 100.0
        else:
            scale[c] = "fraction"
    return Measurements(file=file, cpu_util=arrays["cpu_util"], power_w=arrays["power_w"],
                        mem_util=arrays.get("mem_util"), util_scale=scale, lines=lines)


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


# --------------------------------------------------------------------------------------------
# Shipped database entries (hardware_db/power/)

def _power_db_file(name: str, db_dir=None) -> Path:
    if db_dir is not None:
        p = Path(db_dir) / "power" / name
        if p.exists():
            return p
    from carbonsim.engine.db.store import shipped_database_dir

    return shipped_database_dir() / "power" / name


def _load(path: Path):
    """The parsed file, cached while it is unchanged (sweeps ask for it once per point built)."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return copy.deepcopy(_load_cached(str(path), stamp))


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, stamp):
    from carbonsim.engine.readers.yamlfile import load_yaml

    return load_yaml(path)


def load_host_prior(with_year: bool = True, db_dir=None) -> tuple[HostPrior, dict]:
    """The shipped spec-based host prior (``hardware_db/power/host-prior-specpower.yaml``).

    Parameters
    ----------
    with_year : bool, default True
        The variant that uses the server's year (lower error) or the one without.
    db_dir : path, optional
        A user database root whose ``power/host-prior-specpower.yaml`` overrides the shipped one.

    Returns
    -------
    prior : HostPrior
    meta : dict
        The whole YAML mapping (``name``, ``source``, ``note``, errors, drive powers).
    """
    path = _power_db_file("host-prior-specpower.yaml", db_dir)
    d = _load(path)
    key = "with_year" if with_year else "without_year"
    try:
        block = d[key]
        features = tuple(block["features"])
        expected = FEATURES_WITH_YEAR if with_year else FEATURES_WITHOUT_YEAR
        if features != expected:
            raise InputError(f"features {list(features)} differ from {list(expected)}", file=path, field=f"{key}.features")
        prior = HostPrior(features, np.asarray(block["ln_idle_w"], float), np.asarray(block["ln_max_w"], float),
                          np.asarray(d["load_levels"], float), np.asarray(d["shape"], float))
    except KeyError as exc:
        raise InputError(f"missing key {exc.args[0]!r}", file=path) from None
    return prior, d


def spec_prior_power_w(cpu_util, cpu_tdp_w, sockets, cores_total, memory_gb, year=None,
                       ssd_count=0, hdd_count=0, psu_w=None, db_dir=None):
    """Host wall power from a spec with the shipped prior, and a note saying so.

    Uses the year variant when ``year`` is given. The calibration servers carried one drive
    of their own, so the first drive (SSD first) is already in the prior; each further drive
    adds the ``extra_ssd_w`` / ``extra_hdd_w`` of the YAML.

    Returns
    -------
    power_w : float or ndarray
    note : str
        "power from the spec-based prior ..." with its cross-validated median error.
    """
    prior, meta = load_host_prior(with_year=year is not None, db_dir=db_dir)
    extra_ssd = max(int(ssd_count) - 1, 0) if ssd_count else 0
    extra_hdd = max(int(hdd_count) - (0 if ssd_count else 1), 0) if hdd_count else 0
    ssd_w = float(meta["extra_ssd_w"]["value"])
    hdd_w = float(meta["extra_hdd_w"]["value"])
    p = host_prior_power_w(cpu_util, cpu_tdp_w, sockets, cores_total, memory_gb, prior, year=year,
                           extra_ssd_count=extra_ssd, extra_hdd_count=extra_hdd, ssd_w=ssd_w, hdd_w=hdd_w, psu_w=psu_w)
    key = "with_year" if year is not None else "without_year"
    err = meta[key]["error_cv_pct"]["all_levels"]
    note = (f"host power from the spec-based prior ({key.replace('_', ' ')}; SPECpower-calibrated, "
            f"cross-validated median error {err['median']:g} %, 90th percentile {err['p90']:g} %), not measured")
    return p, note


#: Loaded-idle / TDP ratio for GPUs without a reading: the median of the measured anchors
#: (A100, H100, V100, A40, MI300X; benchmarks/calibrate_gpu_activity.py, docs/power.md).
IDLE_LOADED_PER_TDP = 0.210
#: GPU whose calibrated slopes (a_c, a_m, eta_c, eta_m) other GPUs borrow.
REFERENCE_GPU = "nvidia-a100-sxm4-80gb"


def gpu_activity_constants(gpu_id: str, tdp_w: float, db_dir=None) -> tuple[dict, str | None]:
    """Activity constants of a GPU, and a note when they are a fallback.

    A GPU with no entry in ``gpu-activity.yaml`` gets a loaded idle of
    :data:`IDLE_LOADED_PER_TDP` × TDP, its TDP as cap, and the slopes of :data:`REFERENCE_GPU`.
    """
    gpus = load_gpu_activity(None, db_dir=db_dir)
    if gpu_id in gpus:
        return dict(gpus[gpu_id]), None
    ref = gpus.get(REFERENCE_GPU) or next(iter(gpus.values()))
    note = (f"{gpu_id}: no activity constants; loaded idle {IDLE_LOADED_PER_TDP} x TDP, cap = TDP, "
            f"slopes of {REFERENCE_GPU}")
    c = dict(ref, idle_loaded_w=IDLE_LOADED_PER_TDP * tdp_w, cap_w=tdp_w, note=note)
    return c, note


def load_gpu_activity(gpu_id: str | None = None, db_dir=None) -> dict:
    """Activity-model constants per GPU (``hardware_db/power/gpu-activity.yaml``).

    Parameters
    ----------
    gpu_id : str, optional
        A GPU id (file stem in ``hardware_db/gpus/``). Without it, the whole ``gpus`` mapping.

    Returns
    -------
    dict
        ``{idle_loaded_w, cap_w, a_c, a_m, eta_c, eta_m, source, note}`` (or id -> that).

    Raises
    ------
    InputError
        Unknown GPU id.
    """
    path = _power_db_file("gpu-activity.yaml", db_dir)
    gpus = _load(path)["gpus"]
    if gpu_id is None:
        return gpus
    if gpu_id not in gpus:
        raise InputError(f"no activity constants for GPU {gpu_id!r}; known: {', '.join(sorted(gpus))}",
                         file=path, field=f"gpus.{gpu_id}")
    return gpus[gpu_id]
