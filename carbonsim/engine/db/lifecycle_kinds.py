"""Schemas of the lifecycle database kinds: GPU generations a fleet buys over the years, and
published training runs (layer 2). Formats documented in ``docs/lifecycle.md``.

- ``hardware_db/generations/<id>.yaml``: a product line as a fleet buys it, one server per
  generation with the first year it could be bought in volume;
- ``hardware_db/training/<id>.yaml``: pretraining runs with their device-hours, the data the
  training efficiency model is fitted to.
"""

from __future__ import annotations

from carbonsim.engine.db.schema import (
    ID_PATTERN, Count, Fields, ListOf, MapOf, QuantitySpec, SourceRef, Text,
)
from carbonsim.errors import InputError

_ID = Text(ID_PATTERN, "an id (lower case, digits, '.', '-', '_')")

GENERATION = Fields(
    {"name": Text(), "server": _ID, "available": Count(1990, 2100), "source": SourceRef(), "note": Text()},
    required=("name", "server", "available"),
    what="a generation",
)
GENERATIONS = Fields(
    {"name": Text(), "source": SourceRef(), "note": Text(), "generations": ListOf(GENERATION, 1)},
    required=("name", "source", "generations"),
    what="a generation table",
)

TRAINING_RUN = Fields(
    {
        "name": Text(),
        "params_b": QuantitySpec(exclusive_min=True),
        "active_params_b": QuantitySpec(exclusive_min=True),
        "tokens_b": QuantitySpec(exclusive_min=True),
        "gpu": _ID,
        "gpu_hours": QuantitySpec(exclusive_min=True),
        "seq_len": QuantitySpec(exclusive_min=True),
        "layers": Count(1),
        "d_attn": Count(1),
        "source": SourceRef(),
        "note": Text(),
    },
    required=("name", "params_b", "tokens_b", "gpu", "gpu_hours"),
    what="a training run",
)
TRAINING_RUNS = Fields(
    {"name": Text(), "source": SourceRef(), "note": Text(), "runs": MapOf(TRAINING_RUN, ID_PATTERN, "a run id")},
    required=("name", "source", "runs"),
    what="a table of training runs",
)


def check_lifecycle_references(db, loaded: dict) -> list[InputError]:
    """Servers of every generation and GPUs of every run must exist; generation years increase."""
    problems = []
    for (kind, _), entry in loaded.items():
        file = entry["_path"]
        if kind == "generations":
            years = []
            for i, g in enumerate(entry.get("generations") or []):
                if g and g.get("server") and not db.has("servers", g["server"]):
                    problems.append(InputError(f"unknown server {g['server']!r}; known: {', '.join(db.ids('servers'))}",
                                               file=file, field=f"generations[{i}].server"))
                years.append(g.get("available") if g else None)
            if all(y is not None for y in years) and any(b <= a for a, b in zip(years, years[1:])):
                problems.append(InputError("generations must be listed in increasing `available` years",
                                           file=file, field="generations"))
        elif kind == "training":
            for rid, run in (entry.get("runs") or {}).items():
                if run and run.get("gpu") and not db.has("gpus", run["gpu"]):
                    problems.append(InputError(f"unknown GPU part {run['gpu']!r}", file=file, field=f"runs.{rid}.gpu"))
    return problems
