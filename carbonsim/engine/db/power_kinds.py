"""Schemas of the power calibration files in ``hardware_db/power/``.

Two formats, told apart by their keys: the spec-based host power prior (``rows``,
``load_levels``, ``shape``, ``with_year``, ``without_year``) and the per-GPU activity constants
(``gpus``). Both are written by the calibration scripts in ``calibration/``.
"""

from __future__ import annotations

import re

from carbonsim.engine.db.schema import (
    Choice,
    Count,
    Fields,
    ListOf,
    MapOf,
    Number,
    QuantitySpec,
    SourceRef,
    Spec,
    Text,
)

_FLOATS = ListOf(Number(minimum=None))
_ERRORS = Fields(
    {"median": ListOf(Number()), "p90": ListOf(Number()),
     "all_levels": Fields({"median": Number(), "p90": Number()}, required=("median", "p90"))},
    required=("median", "p90", "all_levels"),
    what="cross-validated errors",
)
_VARIANT = Fields(
    {"features": ListOf(Text()), "ln_idle_w": _FLOATS, "ln_max_w": _FLOATS, "error_cv_pct": _ERRORS,
     "error_in_sample_pct": _ERRORS},
    required=("features", "ln_idle_w", "ln_max_w", "error_cv_pct"),
    what="a prior variant",
)
HOST_PRIOR = Fields(
    {
        "name": Text(), "source": SourceRef(), "note": Text(), "rows": Count(1),
        "load_levels": ListOf(Number(0, 1)), "shape": ListOf(Number(0, 1)),
        "with_year": _VARIANT, "without_year": _VARIANT,
        "extra_ssd_w": QuantitySpec(), "extra_hdd_w": QuantitySpec(),
    },
    required=("name", "source", "load_levels", "shape", "with_year", "without_year"),
    what="host power prior",
)
_FIT_ERROR = Fields({"n": Count(0), "median_pct": Number(0), "p90_pct": Number(0)}, required=("n",),
                    what="a fit's error (n runs, median and 90th percentile of |error| in %)")
#: How a GPU's constants were obtained (docs/power.md section 3): fitted to measured power of that
#: GPU, derived from a measured GPU on the same die, or pooled over the measured GPUs.
_CALIBRATION = Fields(
    {"kind": Choice(("measured", "sibling", "pooled")), "data": Text(), "fit_set_n": Count(0),
     "in_sample": _FIT_ERROR, "held_out": _FIT_ERROR, "from": ListOf(Text()),
     "adjustments": Text(), "rule": Text(), "source_in_sample": _FIT_ERROR, "source_held_out": _FIT_ERROR},
    required=("kind",), what="a GPU's calibration")
GPU_ACTIVITY = Fields(
    {
        "name": Text(), "source": SourceRef(), "note": Text(),
        "ladder_slope": Number(exclusive_min=True),
        # a GPU without an entry (a user's part): the pooled rule's constants (docs/power.md section 3)
        "fallback": Fields(
            {"idle_loaded_per_tdp": Number(0, 1, exclusive_min=True), "a_c": Number(), "a_m": Number(),
             "eta_c": Number(0, 1, exclusive_min=True), "eta_m": Number(0, 1, exclusive_min=True), "note": Text()},
            required=("idle_loaded_per_tdp", "a_c", "a_m", "eta_c", "eta_m"), what="fallback constants"),
        "gpus": MapOf(Fields(
            {"idle_loaded_w": Number(), "cap_w": Number(exclusive_min=True), "a_c": Number(), "a_m": Number(),
             "eta_c": Number(0, 1, exclusive_min=True), "eta_m": Number(0, 1, exclusive_min=True),
             "source": SourceRef(), "note": Text(), "calibration": _CALIBRATION},
            required=("idle_loaded_w", "cap_w", "a_c", "a_m", "eta_c", "eta_m", "source"),
            what="GPU activity constants"), re.compile(r"^[a-z0-9][a-z0-9._-]*$"), "a GPU id"),
    },
    required=("name", "source", "ladder_slope", "gpus"),
    what="GPU activity constants",
)


class PowerFile(Spec):
    """Either format, chosen by the presence of ``gpus``."""

    def check(self, value, path, ck):
        spec = GPU_ACTIVITY if isinstance(value, dict) and "gpus" in value else HOST_PRIOR
        return spec.check(value, path, ck)


POWER = PowerFile()
