"""Schemas of the grid database kinds: regional yearly averages and grid trajectories.

``hardware_db/regions/<table>.yaml`` holds yearly average carbon intensities of regions
(countries, US states, grid zones, cloud regions); ``hardware_db/trajectories/<id>.yaml``
holds an intensity path over years. The formats are documented in ``docs/grid.md``.

Every value names its ``basis`` (``lifecycle`` or ``direct``) and its ``scope``, which must
be location-based: market-based figures (after certificates, PPAs or offsets) are not grid
intensities and are refused here (GSF SCI v1.1 excludes them).
"""

from __future__ import annotations

from carbonsim.models.grid.carbon import BASES
from carbonsim.engine.db.schema import (
    ID_PATTERN,
    Choice,
    Count,
    Fields,
    ListOf,
    MapOf,
    QuantitySpec,
    SourceRef,
    Spec,
    Text,
)

#: How a trajectory is evaluated between its points (see carbonsim.models.grid.trajectory).
INTERPOLATIONS = ("linear", "exponential", "step")


class _Scope(Text):
    """Free text that must state a location-based scope (``location-based; ...``)."""

    def __init__(self):
        super().__init__(what="a scope note starting with 'location-based'")

    def check(self, value, path, ck):
        out = super().check(value, path, ck)
        if out is not None and not out.strip().lower().startswith("location-based"):
            ck.error(path, "scope must start with 'location-based' (market-based figures are not "
                           f"grid intensities); found {out!r}")
            return None
        return out


class _EntrySourced(Spec):
    """A mapping whose own ``source:`` is the default source of its bare numbers."""

    def __init__(self, inner: Fields):
        self.inner = inner

    def check(self, value, path, ck):
        saved = ck.default_source
        if isinstance(value, dict) and isinstance(value.get("source"), str):
            ck.default_source = value["source"]
        try:
            return self.inner.check(value, path, ck)
        finally:
            ck.default_source = saved


_VALUE_FIELDS = {
    "ci_g_per_kwh": QuantitySpec(),
    "year": Count(1990, 2100),
    "basis": Choice(BASES),
    "scope": _Scope(),
    "source": SourceRef(),
    "licence": Text(),
    "note": Text(),
}
_VALUE_REQUIRED = ("ci_g_per_kwh", "year", "basis", "scope", "source", "licence")

#: Another published value for the same region (other year, basis or publisher).
REGION_ALTERNATIVE = _EntrySourced(
    Fields(_VALUE_FIELDS, required=_VALUE_REQUIRED, what="an alternative value")
)

#: One region: its default yearly value plus alternatives.
REGION = _EntrySourced(
    Fields(
        _VALUE_FIELDS
        | {
            "name": Text(),
            "zone": Text(ID_PATTERN, "a region id of the grid zone this region draws from"),
            "alternatives": ListOf(REGION_ALTERNATIVE),
        },
        required=("name",) + _VALUE_REQUIRED,
        what="a region",
    )
)

#: A file ``hardware_db/regions/<table>.yaml``.
REGIONS = Fields(
    {
        "name": Text(),
        "source": SourceRef(),
        "note": Text(),
        "regions": MapOf(REGION, ID_PATTERN, "a region id (lower case, digits, '.', '-', '_')"),
    },
    required=("name", "regions"),
    what="a region table",
)

_POINT = Fields(
    {"year": Count(1900, 2100), "ci_g_per_kwh": QuantitySpec(), "note": Text()},
    required=("year", "ci_g_per_kwh"),
    what="a trajectory point",
)


class _Trajectory(Fields):
    """Trajectory fields plus ordering checks on ``points``."""

    def check(self, value, path, ck):
        out = super().check(value, path, ck)
        pts = out.get("points") if isinstance(out, dict) else None
        if not pts:
            return out
        years = [p.get("year") for p in pts if p]
        for i in range(1, len(years)):
            if years[i] is not None and years[i - 1] is not None and years[i] <= years[i - 1]:
                ck.error(f"points[{i}].year",
                         f"years must increase strictly; {years[i]} follows {years[i - 1]}")
        if out.get("interpolation") == "exponential":
            for i, p in enumerate(pts):
                q = p.get("ci_g_per_kwh") if p else None
                if q is not None and q.value <= 0:
                    ck.error(f"points[{i}].ci_g_per_kwh",
                             "exponential interpolation needs values above 0; use linear to reach 0")
        return out


#: A file ``hardware_db/trajectories/<id>.yaml``.
TRAJECTORIES = _Trajectory(
    {
        "name": Text(),
        "region": Text(ID_PATTERN, "a region id"),
        "basis": Choice(BASES),
        "scope": _Scope(),
        "source": SourceRef(),
        "licence": Text(),
        "note": Text(),
        "interpolation": Choice(INTERPOLATIONS),
        "points": ListOf(_POINT, 1),
    },
    required=("name", "basis", "scope", "source", "interpolation", "points"),
    what="a grid trajectory",
)
