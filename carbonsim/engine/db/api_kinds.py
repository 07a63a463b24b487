"""Schema of the API-model kind (layer 2): a model served through a provider's API, described by
what carbonsim needs to estimate a call from physics (docs/experiments.md).

``hardware_db/api_models/<id>.yaml`` holds the model's parameter count and active parameters
(published, or a stated range where the provider publishes none, each with its source), the
transformer shape carbonsim builds from them, the hardware and engine that serve it, the load
the provider runs it at (a fraction of the node's saturated throughput) and the provider's data
centres: PUE and the region whose annual location-based grid intensity applies, with the
provider's market-based figure beside it where the provider publishes one.
"""

from __future__ import annotations

from carbonsim.engine.db.schema import (
    ID_PATTERN, Choice, Count, Fields, MapOf, QuantitySpec, SourceRef, Text,
)
from carbonsim.models.perf.layout import PRECISIONS

Q = QuantitySpec
_ID = Text(ID_PATTERN, "an id (lower case, digits, '.', '-', '_')")

API_SERVING = Fields(
    {
        "server": _ID,
        "tensor_parallel": Count(1, 64),
        "precision": Choice(tuple(PRECISIONS)),
        "engine": Choice(("synchronous", "overlapped")),
        "max_num_seqs": Count(1, 100_000),
        "max_num_batched_tokens": Count(1, 10_000_000),
        # offered load as a fraction of the node's saturated request throughput
        "load": Q(maximum=1.0, exclusive_min=True),
        "note": Text(),
    },
    required=("server", "tensor_parallel", "precision", "engine", "load"),
    what="serving",
)
API_REGION = Fields(
    {
        "region": _ID,
        # the provider's own market-based figure (after certificates and PPAs), shown beside the
        # location-based intensity the estimate uses; never used in the estimate
        "market_based_g_per_kwh": Q(),
        "note": Text(),
    },
    required=("region",),
    what="a provider region",
)
API_DATACENTER = Fields(
    {
        "operator": Text(),
        "pue": Q(minimum=1.0),
        "default_region": _ID,
        "regions": MapOf(API_REGION, ID_PATTERN, "a region name of the provider"),
        "note": Text(),
    },
    required=("operator", "pue", "default_region", "regions"),
    what="datacenter",
)
API_MODEL = Fields(
    {
        "name": Text(),
        "provider": _ID,
        "source": SourceRef(),
        "year": Count(2000, 2100),
        "architecture": Choice(("dense", "moe")),
        "params_b": Q(exclusive_min=True),
        "active_params_b": Q(exclusive_min=True),
        "top_k": Count(1),
        "vocab": Count(1),
        "context": Count(1),
        "serving": API_SERVING,
        "datacenter": API_DATACENTER,
        "note": Text(),
    },
    required=("name", "provider", "source", "architecture", "params_b", "vocab", "serving", "datacenter"),
    what="an API model",
)


def check_api_references(db, loaded: dict) -> list:
    """An API model's server and regions must exist; its default region must be one of its
    regions; active parameters are at most the total; a mixture of experts names its routing."""
    from carbonsim.errors import InputError

    problems = []
    regions = None
    for (kind, _), e in loaded.items():
        if kind != "api_models":
            continue
        file = e["_path"]
        if not db.has("servers", e["serving"]["server"]):
            problems.append(InputError(f"unknown server {e['serving']['server']!r}", file=file, field="serving.server"))
        if regions is None:
            regions = db.regions()
        dc = e["datacenter"]
        for name, r in dc["regions"].items():
            if r["region"] not in regions:
                problems.append(InputError(f"region {r['region']!r} is not a region id", file=file,
                                           field=f"datacenter.regions.{name}.region"))
        if dc["default_region"] not in dc["regions"]:
            problems.append(InputError(f"default_region {dc['default_region']!r} is not one of datacenter.regions "
                                       f"({', '.join(dc['regions'])})", file=file, field="datacenter.default_region"))
        active = e.get("active_params_b")
        if active is not None and active.value > e["params_b"].value:
            problems.append(InputError("active parameters exceed the total", file=file, field="active_params_b"))
        if e["architecture"] == "moe":
            for key in ("active_params_b", "top_k"):
                if key not in e:
                    problems.append(InputError("required by architecture: moe", file=file, field=key))
    return problems
