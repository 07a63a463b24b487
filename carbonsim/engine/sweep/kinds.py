"""The kinds of sweep point behind one declared interface (layer 2).

A scenario's points are of one kind: a **server** at a steady load, an **offline** LLM batch, an
**online**-serving run, a **lifecycle** fleet over a horizon, or a **training** run. Each kind
declares, through :class:`PointKind`, how its points are built (a builder turning a scenario
document into a column of the chain's rows), how they are evaluated (an
:class:`~carbonsim.engine.sweep.evaluators.Evaluator`: the chain's mode, compiled or not, its
objective columns), the inputs its tables carry as constant columns, and the units of its input
columns (results carry theirs: :class:`~carbonsim.engine.chain.ChainResult`). The sweep
(:func:`carbonsim.engine.sweep.run.run_sweep`) asks :func:`kind_of` for the scenario's kind and
knows nothing else about it; a refresh-policy sweep adds its report through :meth:`PointKind.report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from carbonsim.engine.chain import COMPILED_ABOVE, CarbonChain, result_unit
from carbonsim.engine.sweep.columns import INPUT_UNITS, ONLINE_INPUTS, SERVER_INPUTS, TASK_INPUTS, input_unit
from carbonsim.engine.sweep.evaluators import TASK_OBJECTIVE_COLUMNS, Evaluator

#: LLM sweeps up to this many output tokens may run on the NumPy reference, which sums decode
#: steps one by one.
SMALL_SWEEP_OUTPUT_TOKENS = 512


@runtime_checkable
class PointKind(Protocol):
    """What a sweep needs to know about one kind of point.

    Attributes
    ----------
    name : str
        ``server``, ``offline``, ``online``, ``lifecycle`` or ``training``.
    mode : str
        The chain mode that evaluates its points (:data:`carbonsim.engine.chain.MODES`).
    fixed_inputs : dict
        Dotted path -> default of the inputs every table of the kind carries as columns.
    input_units : dict
        Unit of each input column that has one.
    """

    name: str
    mode: str
    fixed_inputs: dict
    input_units: dict

    def points(self, db, scenario_file: str, samples: int = 0):
        """The builder of point columns: ``column(doc)``, ``vector(doc)``, ``grid(doc)``, ``rows``
        (with the ranges of the embodied inputs when the points are sampled)."""

    def evaluator(self, scenario, space, samples: int = 0, seed: int = 0) -> Evaluator:
        """The picklable evaluator of a chunk of this scenario's points (``samples`` draws each)."""

    def objective_column(self, objective: str) -> str:
        """The result column an objective minimises."""

    def unit_of(self, column: str) -> str:
        """The unit of any column of this kind's tables ("" for names and choices)."""

    def run_options(self, space, best_by, collect: bool) -> tuple:
        """``(best_by, collect)`` for the run (a kind may group or keep points by default)."""

    def report(self, scenario, builder, space, frame, fixed: dict, folder=None, found=None) -> dict | None:
        """What the sweep reports beyond its table (None for most kinds), from the points (``frame``)
        and what their chunks kept (``found``, :class:`~carbonsim.engine.sweep.chunks.ChunkSummary`);
        may write files into ``folder`` (returning their meta entries under ``"meta"``)."""

    def warnings(self, scenario, base_metrics: dict, best: dict) -> list[str]:
        """Plausibility warnings about the answer (the scenario's own point and the best ones)."""


class _ChainKind:
    """The shared behaviour of the kinds (each overrides what differs)."""

    name = mode = ""
    fixed_inputs: dict = {}
    input_units: dict = INPUT_UNITS
    finite_columns: tuple = ()
    objective_columns: dict = {}

    #: Whether the kind's points can be sampled (``--samples``): steady-load points only.
    sampled = False

    def _check_samples(self, samples: int) -> None:
        if samples and not self.sampled:
            from carbonsim.errors import OptionError

            raise OptionError(f"sampling applies to server sweeps (steady-load points), not to {self.name} points",
                              "samples")

    def points(self, db, scenario_file: str, samples: int = 0):
        from carbonsim.engine.sweep.points import PointBuilder

        self._check_samples(samples)
        return PointBuilder(db, scenario_file, CarbonChain(db, self.mode, compiled=False, samples=samples))

    def compiled(self, scenario, space, samples: int = 0) -> bool:
        return space.size * max(1, samples) > COMPILED_ABOVE[self.mode]

    def evaluator(self, scenario, space, samples: int = 0, seed: int = 0) -> Evaluator:
        self._check_samples(samples)
        return Evaluator(self.mode, self.compiled(scenario, space, samples), dict(self.objective_columns),
                         tuple(self.finite_columns), samples=samples, seed=seed)

    def objective_column(self, objective: str) -> str:
        return self.objective_columns.get(objective, objective)

    def unit_of(self, column: str) -> str:
        unit = input_unit(column, self.input_units)
        return result_unit(column, self.mode) if unit is None else unit

    def run_options(self, space, best_by, collect: bool) -> tuple:
        return best_by, collect

    def report(self, scenario, builder, space, frame, fixed: dict, folder=None, found=None) -> dict | None:
        return None

    def warnings(self, scenario, base_metrics: dict, best: dict) -> list[str]:
        return []


class ServerKind(_ChainKind):
    """A server at a steady load: embodied carbon, per-second rates, totals over a ``period``."""

    name, mode = "server", "load"
    fixed_inputs = SERVER_INPUTS
    finite_columns = ("embodied_kg", "embodied_mg_per_s")
    sampled = True


class OfflineKind(_ChainKind):
    """Offline LLM batches, per request (the seed's §5 sweeps)."""

    name, mode = "offline", "tasks"
    fixed_inputs = TASK_INPUTS
    finite_columns = ("latency_s", "energy_j", "embodied_g")
    objective_columns = TASK_OBJECTIVE_COLUMNS

    def compiled(self, scenario, space, samples: int = 0) -> bool:
        """The kernels where they save more than their loading time; below that the reference,
        unless the decode steps it sums one by one are many (long outputs)."""
        if space.size > COMPILED_ABOVE[self.mode]:
            return True
        out = [scenario.doc["workload"].get("output_tokens")]
        for axes in (scenario.product, scenario.zipped):
            out += axes.get("workload.output_tokens", [])
        return max(float(x) for x in out if isinstance(x, (int, float))) > SMALL_SWEEP_OUTPUT_TOKENS

    def evaluator(self, scenario, space, samples: int = 0, seed: int = 0) -> Evaluator:
        ev = super().evaluator(scenario, space, samples, seed)
        ev.per_token, ev.sci = True, sci_unit(scenario)
        return ev


class OnlineKind(_ChainKind):
    """Online-serving runs, per served request (the simulator always runs compiled: its
    reference visits every request every step)."""

    name, mode = "online", "online"
    fixed_inputs = ONLINE_INPUTS
    finite_columns = ("latency_s", "energy_j", "embodied_g")
    objective_columns = TASK_OBJECTIVE_COLUMNS

    def compiled(self, scenario, space, samples: int = 0) -> bool:
        return True

    def evaluator(self, scenario, space, samples: int = 0, seed: int = 0) -> Evaluator:
        ev = super().evaluator(scenario, space, samples, seed)
        ev.per_token, ev.traces = True, tuple(space.builder.traces.entries)
        return ev

    def warnings(self, scenario, base_metrics: dict, best: dict) -> list[str]:
        """A plausibility warning when the scenario's own point, or even the best point, weighs more
        than a stated bound per request (a request rate far below the server's capacity)."""
        from carbonsim.engine.inputs.plausibility import per_request_message

        qps = (scenario.doc.get("workload") or {}).get("qps")
        lowest = min((b.metrics.get("total_g", 0.0) for b in best.values()), default=0.0)
        found = [per_request_message("workload.qps" if qps is not None else "the scenario's request rate", qps,
                                     base_metrics.get("total_g") or 0.0),
                 per_request_message("even the best point's workload.qps", None, lowest)]
        return [m for m in found if m][:1]


class _ModuleKind(_ChainKind):
    """A kind whose builder and input columns live in their own module (imported when used)."""

    module = builder = ""

    def _module(self):
        from importlib import import_module

        return import_module(self.module)

    @property
    def fixed_inputs(self) -> dict:
        return self._module().FIXED_INPUTS

    @property
    def input_units(self) -> dict:
        return {**INPUT_UNITS, **self._module().INPUT_UNITS}

    def points(self, db, scenario_file: str, samples: int = 0):
        self._check_samples(samples)
        return getattr(self._module(), self.builder)(db, scenario_file)


class LifecycleKind(_ModuleKind):
    """A fleet over a horizon under a refresh policy (docs/lifecycle.md)."""

    name, mode = "lifecycle", "fleet"
    module, builder = "carbonsim.engine.sweep.lifecycle", "LifecyclePoints"
    finite_columns = ("total_kg", "embodied_kg", "operational_kg")

    def run_options(self, space, best_by, collect: bool) -> tuple:
        # the policy table is read from the points (lifecycle sweeps are small); the best policy
        # of each grid, growth ...: the other swept columns
        if best_by is None:
            best_by = [c for c in space.columns() if c not in ("lifecycle.gpu_refresh_yr", "lifecycle.host_refresh_yr")]
        return best_by, True

    def evaluator(self, scenario, space, samples: int = 0, seed: int = 0) -> Evaluator:
        ev = super().evaluator(scenario, space, samples, seed)
        if space.size <= self._module().YEARS_MAX_POINTS:  # each point's years, from its one evaluation
            ev.options = {"per_year": True}
        return ev

    def report(self, scenario, builder, space, frame, fixed: dict, folder=None, found=None) -> dict | None:
        lifecycle = self._module()
        out = lifecycle.lifecycle_result(scenario, builder, space, frame, fixed, found)
        if folder is not None:
            written = lifecycle.write_years(Path(folder) / "years.csv", found, frame, space.size)
            out["meta"] = {"years_table": "years.csv" if written else
                           f"not written (more than {lifecycle.YEARS_MAX_POINTS:,} points)"}
        return out


class TrainingKind(_ModuleKind):
    """Training runs (``carbonsim train`` as a file)."""

    name, mode = "training", "training"
    module, builder = "carbonsim.engine.sweep.training", "TrainingPoints"
    finite_columns = ("total_kg", "gpu_hours", "energy_mwh")

    def compiled(self, scenario, space, samples: int = 0) -> bool:
        return False  # plain arithmetic; no kernel


#: Every kind, by name.
KINDS = {k.name: k for k in (ServerKind(), OfflineKind(), OnlineKind(), LifecycleKind(), TrainingKind())}


def kind_of(scenario) -> PointKind:
    """The kind of a scenario's points."""
    if scenario.lifecycle:
        return KINDS["lifecycle"]
    if scenario.training:
        return KINDS["training"]
    if scenario.online:
        return KINDS["online"]
    return KINDS["offline"] if scenario.llm else KINDS["server"]


def sci_unit(scenario):
    """(unit, requests per user) of an offline LLM scenario's SCI column (docs/lifecycle.md);
    default per request."""
    from carbonsim.errors import InputError

    fu = scenario.doc.get("functional_unit") or {}
    unit = fu.get("unit", "request")
    if unit == "user" and "requests_per_user" not in fu:
        raise InputError("functional_unit user needs requests_per_user", file=scenario.file,
                         field="functional_unit.requests_per_user")
    return unit, fu.get("requests_per_user")
