"""carbonsim: lifecycle carbon (embodied + operational) of AI servers and the LLM work they run.

The Python API (docs/api.md)::

    import carbonsim
    carbonsim.embodied("azure-a100-x4").total_kg
    carbonsim.footprint("azure-a100-x4", grid="ESP", util=0.6).to_frame()
    carbonsim.sweep("scenarios/a100x4.yaml").points      # a pandas DataFrame; nothing written
    carbonsim.plan("scenarios/plan-chat-batch.yaml").fleet   # a carbon-optimal fleet and its baselines
    carbonsim.db.frame("gpus")

Layers (imports point downward only): :mod:`carbonsim.models` (layer 1: physics and accounting,
pure functions over arrays), :mod:`carbonsim.engine` (layer 2: files to objects to arrays, the
one composition :class:`~carbonsim.engine.chain.CarbonChain`, one study per command, the sweep),
and the interfaces (layer 3): :mod:`carbonsim.cli`, :mod:`carbonsim.api`, :mod:`carbonsim.report`.
"""

from carbonsim.errors import CarbonsimWarning, InputError
from carbonsim.version import __version__

__all__ = ["CarbonsimWarning", "InputError", "__version__", "budget", "codecarbon", "compare", "db", "embodied",
           "experiment", "footprint", "inventory", "plan", "schedule", "sweep", "train"]

_API = ("budget", "codecarbon", "compare", "db", "embodied", "experiment", "footprint", "inventory", "plan", "schedule",
        "sweep", "train")


def __getattr__(name):
    # the API loads on first use, so `import carbonsim` (and the command line) stays quick
    if name in _API:
        from carbonsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'carbonsim' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
