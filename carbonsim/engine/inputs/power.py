"""A server's power inputs (layer 2): its host curve and its GPUs' activity constants.

Both come from the server spec where it has them (``host.power_model`` written by
``carbonsim power fit``) and otherwise from the database's power entries
(``hardware_db/power/``), read through :class:`~carbonsim.engine.db.Database` like every kind,
so a user layer (``--db``) overrides them everywhere:

- ``host-prior-specpower``: the spec-based host prior (:mod:`carbonsim.models.power.prior`),
  SPECpower-calibrated, with and without the server's year;
- ``gpu-activity``: per-GPU constants of the activity model (:mod:`carbonsim.models.power.gpu`).

Utilisation, for every command (docs/nomenclature.md): a host's CPU utilisation ``u`` is the
fraction of CPU time busy (SPECpower's load level); a GPU's utilisation is the load of a load
ladder whose slope (``ladder_slope``) is the database's, the same for every GPU
(:func:`~carbonsim.models.power.gpu.steady_load_power_w`). LLM work replaces the GPU's ``u``
by the performance model's MFU and MBU and the GPU's activity constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.db.store import Database
from carbonsim.errors import InputError
from carbonsim.models.power.host import FORM_CODES, FORMS, TABLE_LEVELS, coded_shape, host_power_w
from carbonsim.models.power.prior import (
    FEATURES_WITH_YEAR, FEATURES_WITHOUT_YEAR, HostPrior, design_matrix, prior_idle_full_w,
)

HOST_PRIOR_ID = "host-prior-specpower"
GPU_ACTIVITY_ID = "gpu-activity"
#: Loaded-idle / TDP ratio for GPUs without a reading: the median of the measured anchors
#: (A100, H100, V100, A40, MI300X; calibration/write_gpu_activity.py, docs/power.md).
IDLE_LOADED_PER_TDP = 0.210
#: GPU whose calibrated slopes (a_c, a_m, eta_c, eta_m) other GPUs borrow.
REFERENCE_GPU = "nvidia-a100-sxm4-80gb"


@dataclass(frozen=True)
class HostCurve:
    """Wall power of a whole host chassis against CPU utilisation.

    ``P(u, m) = idle_w + (max_w - idle_w) s(u) + mem_w m + const_w`` with the shape ``s`` of
    ``form`` (:mod:`carbonsim.models.power.host`): ``linear``, ``power`` (``k`` = exponent),
    ``log`` (``k`` = curvature) or ``table`` (``fractions`` at :data:`TABLE_LEVELS`).
    """

    form: str
    idle_w: float
    max_w: float
    k: float = 1.0
    fractions: np.ndarray = field(default_factory=lambda: TABLE_LEVELS.copy(), repr=False)
    mem_w: float = 0.0
    const_w: float = 0.0
    origin: str = ""

    @property
    def code(self) -> int:
        return FORM_CODES[self.form]

    def power_w(self, cpu_util, mem_util=0.0):
        """[W] at CPU utilisation ``cpu_util`` (0..1)."""
        s = coded_shape(cpu_util, self.code, self.k, self.fractions)
        return host_power_w(cpu_util, self.idle_w, self.max_w, s, mem_util, self.mem_w, self.const_w)


def host_prior(db: Database, with_year: bool = True) -> tuple[HostPrior, dict]:
    """The spec-based host prior of the database, and its whole entry (errors, drive powers).

    Parameters
    ----------
    db : Database
    with_year : bool
        The variant using the server's year (lower error) or the one without.
    """
    entry = db.get("power", HOST_PRIOR_ID)
    key = "with_year" if with_year else "without_year"

    def build():
        block = entry[key]
        expected = FEATURES_WITH_YEAR if with_year else FEATURES_WITHOUT_YEAR
        if tuple(block["features"]) != expected:
            raise InputError(f"features {block['features']} differ from {list(expected)}",
                             file=entry["_path"], field=f"{key}.features")
        if not np.allclose(entry["load_levels"], TABLE_LEVELS):
            raise InputError("load_levels must be 0, 0.1, ..., 1", file=entry["_path"], field="load_levels")
        return HostPrior(expected, np.asarray(block["ln_idle_w"], float), np.asarray(block["ln_max_w"], float),
                         np.asarray(entry["load_levels"], float), np.asarray(entry["shape"], float))

    return db.memo(("host-prior", key), build), entry


def prior_note(entry: dict, with_year: bool) -> str:
    key = "with_year" if with_year else "without_year"
    err = entry[key]["error_cv_pct"]["all_levels"]
    return (f"host power from the spec-based prior ({key.replace('_', ' ')}; SPECpower-calibrated, "
            f"cross-validated median error {err['median']:g} %, 90th percentile {err['p90']:g} %), not measured")


def prior_curve(db: Database, cpu_tdp_w, sockets, cores_total, memory_gb, year=None, ssd_count=0,
                hdd_count=0) -> HostCurve:
    """The host curve the spec-based prior gives for a chassis spec.

    The calibration servers carried one drive of their own, so the first drive (SSD first) is
    already in the prior; each further drive adds the entry's ``extra_ssd_w`` / ``extra_hdd_w``.
    """
    key = ("prior-curve", float(cpu_tdp_w), int(sockets), float(cores_total), float(memory_gb), year,
           int(ssd_count), int(hdd_count))
    return db.memo(key, lambda: _prior_curve(db, *key[1:]))  # sweeps ask for the same spec many times


def _prior_curve(db, cpu_tdp_w, sockets, cores_total, memory_gb, year, ssd_count, hdd_count) -> HostCurve:
    idle, full, const = prior_power_w(db, cpu_tdp_w, sockets, cores_total, memory_gb, year, ssd_count, hdd_count)
    prior, entry = host_prior(db, with_year=year is not None)
    return HostCurve("table", float(idle[0]), float(full[0]), 1.0, np.asarray(prior.shape_fraction, float), 0.0,
                     float(const[0]), prior_note(entry, year is not None))


def prior_power_w(db: Database, cpu_tdp_w, sockets, cores_total, memory_gb, year=None, ssd_count=0, hdd_count=0):
    """Idle and full-load power of the spec-based prior and the power of the drives beyond the
    first, for many chassis specs at once (arrays; ``year`` None: the prior without year). The
    same numbers :func:`prior_curve` gives one spec at a time (fleet inventories).

    Returns
    -------
    idle_w, full_w, const_w : ndarray
    """
    prior, entry = host_prior(db, with_year=year is not None)
    X = design_matrix(cpu_tdp_w, sockets, cores_total, np.maximum(np.asarray(memory_gb, dtype=float), 1.0), year)
    idle, full = prior_idle_full_w(X, prior)
    ssd, hdd = np.asarray(ssd_count, dtype=np.int64), np.asarray(hdd_count, dtype=np.int64)
    extra_ssd = np.maximum(ssd - 1, 0)
    extra_hdd = np.where(hdd > 0, np.maximum(hdd - np.where(ssd > 0, 0, 1), 0), 0)
    const = extra_ssd * entry["extra_ssd_w"].value + extra_hdd * entry["extra_hdd_w"].value
    return idle, full, np.broadcast_to(const, idle.shape).astype(float)


def host_curve(server, db: Database, share: float = 1.0) -> HostCurve:
    """The host chassis curve of ``server``: its fitted ``host.power_model``, else the spec prior.

    ``share`` is the server's share of its chassis (a VM's), used to scale its DRAM up to the
    chassis' for the prior.

    Raises
    ------
    InputError
        The CPU lacks ``tdp_w`` or ``cores`` and there is no fitted curve.
    """
    host = server.host
    pm = host.power_model
    if pm:
        form = pm["form"]
        k = pm.get("exponent") if form == "power" else pm.get("curvature") if form == "log" else 1.0
        if k is None:
            raise InputError(f"a {form} power_model needs {'exponent' if form == 'power' else 'curvature'}",
                             file=server.file, field="host.power_model")
        return HostCurve(form, pm["idle_w"], pm["max_w"], float(k), TABLE_LEVELS.copy(), pm.get("mem_w", 0.0),
                         pm.get("const_w", 0.0), f"host power from its fitted {form} curve (host.power_model)")
    cpu = host.cpu
    if cpu.tdp_w is None or cpu.cores is None:
        raise InputError("the host CPU needs tdp_w and cores for the power prior (or give host.power_model "
                         "or a measured power)", file=server.file, field="host.cpus")
    chassis_dram_gb = host.dram_gb.value / share if share > 0 else host.dram_gb.value
    return prior_curve(db, cpu.tdp_w.value, host.cpu_count, cpu.cores * host.cpu_count, chassis_dram_gb,
                       year=server.year, ssd_count=sum(g.count for g in host.ssd),
                       hdd_count=sum(g.count for g in host.hdd))


def gpu_activity_table(db: Database) -> dict:
    """Activity-model constants per GPU id (the database's ``gpu-activity`` entry)."""
    return db.get("power", GPU_ACTIVITY_ID)["gpus"]


def gpu_constants(db: Database, gpu_id: str, tdp_w: float) -> tuple[dict, str | None]:
    """Activity constants of a GPU, and a note when they are a fallback.

    A GPU with no entry gets the file's ``fallback`` (the pooled rule: a loaded idle per TDP and
    the measured GPUs' median slopes) with its TDP as cap; a file without one (an older user
    layer) gives :data:`IDLE_LOADED_PER_TDP` × TDP and the slopes of :data:`REFERENCE_GPU`.

    Returns
    -------
    constants : dict
        ``idle_loaded_w, cap_w, a_c, a_m, eta_c, eta_m`` (LLM work), ``ladder_slope`` (steady
        loads, the same for every GPU), plus ``source``, ``note``.
    note : str or None
    """
    gpus = gpu_activity_table(db)
    doc = db.get("power", GPU_ACTIVITY_ID)
    slope = doc["ladder_slope"]
    if gpu_id in gpus:
        return dict(gpus[gpu_id], ladder_slope=slope), None
    fb = doc.get("fallback")
    if fb is not None:  # the pooled rule: median shares of the measured GPUs, loaded floor per TDP
        note = (f"{gpu_id}: no activity constants; the pooled rule of hardware_db/power/gpu-activity.yaml "
                f"(loaded idle {fb['idle_loaded_per_tdp']:.3f} x TDP, cap = TDP, the measured GPUs' median slopes)")
        consts = {k: fb[k] for k in ("a_c", "a_m", "eta_c", "eta_m")}
        return dict(consts, idle_loaded_w=fb["idle_loaded_per_tdp"] * tdp_w, cap_w=tdp_w, ladder_slope=slope,
                    source=doc["source"], note=note), note
    ref = gpus.get(REFERENCE_GPU) or next(iter(gpus.values()))
    note = (f"{gpu_id}: no activity constants; loaded idle {IDLE_LOADED_PER_TDP} x TDP, cap = TDP, "
            f"slopes of {REFERENCE_GPU}")
    return dict(ref, idle_loaded_w=IDLE_LOADED_PER_TDP * tdp_w, cap_w=tdp_w, ladder_slope=slope, note=note), note


__all__ = ["FORMS", "GPU_ACTIVITY_ID", "HOST_PRIOR_ID", "HostCurve", "gpu_activity_table", "gpu_constants",
           "host_curve", "host_prior", "prior_curve", "prior_note", "prior_power_w"]
