"""The Python API (layer 3): the command line's verbs as functions that return objects with
pandas tables, for notebooks and scripts.

>>> import carbonsim
>>> r = carbonsim.embodied("azure-a100-x4")                    # doctest: +SKIP
>>> r.total_kg, r.to_frame()                                   # doctest: +SKIP
>>> s = carbonsim.sweep("scenarios/a100x4.yaml")               # nothing written
>>> s.points.head(), s.best                                    # doctest: +SKIP
>>> carbonsim.db.frame("gpus")                                 # doctest: +SKIP

Every argument gets the same checks as on the command line (a bad value raises
:class:`carbonsim.InputError` naming it). ``docs/api.md`` is a worked session; its examples run
as tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import re

from carbonsim.errors import CarbonsimWarning, InputError, OptionError

__all__ = ["CarbonsimWarning", "PlanOutcome", "SweepOutcome", "budget", "codecarbon", "compare", "db", "embodied",
           "experiment", "footprint", "inventory", "plan", "schedule", "sweep", "train"]

_GIVE = re.compile(r"\bgive --([a-z][a-z0-9-]*)")
_OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def python_words(text: str) -> str:
    """An engine message in a Python caller's words: ``give --cpu-util`` becomes ``pass
    cpu_util=...``, any other ``--name`` the keyword ``name=``."""
    text = _GIVE.sub(lambda m: f"pass {m.group(1).replace('-', '_')}=...", text)
    return _OPTION.sub(lambda m: f"{m.group(1).replace('-', '_')}=", text)


def _warn(messages) -> None:
    """Each message once, as a :class:`CarbonsimWarning` pointing at the caller's line."""
    import warnings

    for m in dict.fromkeys(messages):
        warnings.warn(python_words(m), CarbonsimWarning, stacklevel=3)


def _database(db=None):
    """A :class:`~carbonsim.engine.db.Database` from None (shipped), a folder, a list of folders
    (layered on the shipped one) or a Database; reused across calls while its files are unchanged
    (:func:`~carbonsim.engine.db.load_database`)."""
    from carbonsim.engine.db import Database, load_database

    if isinstance(db, Database):
        return db
    if db is None:
        return load_database()
    return load_database([db] if isinstance(db, (str, Path)) else list(db))


def _pue(pue):
    from carbonsim.engine.inputs.options import pue_or_default

    return pue_or_default(pue)


def _sets(set) -> list[str]:
    """``set=`` as ``{"server.host.dram.gb": 512}`` or ``["server.host.dram.gb=512"]``."""
    if not set:
        return []
    if isinstance(set, dict):
        import yaml

        return [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                for k, v in set.items()]
    return list(set)


def _server_and_set(server, coefficients, set, db):
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.overrides import split_sets
    from carbonsim.engine.inputs.server import load_server

    server_over, coeff_over = split_sets(_sets(set))
    spec = server if isinstance(server, dict) else str(server)
    return load_server(spec, db, overrides=server_over), load_coefficients(coefficients, db, coeff_over)


def embodied(server, coefficients: str | None = None, *, samples: int = 0, seed: int = 0, set=None, db=None):
    """Embodied carbon of ``server`` by component.

    Parameters
    ----------
    server : str, path or dict
        A database id (``"azure-a100-x4"``), a YAML path or a server spec as a dict.
    coefficients : str, optional
        Coefficient set id (default ``server-lca``; ``hotcarbon24`` reproduces the seed paper).
    samples, seed : int
        Monte-Carlo percentiles of ranged inputs.
    set : dict or list of str, optional
        Overrides, as ``--set`` (``{"server.host.dram.gb": 512}``).
    db : folder, list of folders or Database, optional
        A user database layered on the shipped one.

    Returns
    -------
    EmbodiedResult
        ``total_kg``, ``host_kg``, ``gpu_kg``, ``host_components_kg``, ``gpu_components_kg``,
        ``mg_per_s``, ``uncertainty`` and ``to_frame()``.
    """
    from carbonsim.engine.studies.embodied import embodied as study

    database = _database(db)
    srv, cs = _server_and_set(server, coefficients, set, database)
    return study(srv, cs, samples=samples, seed=seed)


def footprint(server, grid: str = "world", *, pue: float | None = None, util: float | None = None,
              cpu_util: float | None = None, gpu_util: float | None = None, power_w: float | None = None,
              year: int | None = None, years: float | None = None, coefficients: str | None = None,
              samples: int = 0, seed: int = 0, set=None, db=None):
    """Per-second footprint of ``server`` on ``grid``: amortised embodied + operational carbon;
    with ``years`` also the totals over that period of use (``period``).

    Parameters are those of ``carbonsim footprint`` (``util`` sets CPU and GPU utilisation; ``pue``
    defaults to 1).

    Returns
    -------
    FootprintResult
        ``embodied_mg_per_s``, ``operational_mg_per_s``, ``total_mg_per_s``, ``power_w``,
        ``host_power_w``, ``gpu_power_w``, ``total_kg``, ``embodied`` (an EmbodiedResult) and
        ``to_frame()`` (rates per second, hour and year).
    """
    from carbonsim.engine.chain import Load
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.inputs.options import check_options
    from carbonsim.engine.studies.footprint import footprint as study

    database = _database(db)
    srv, cs = _server_and_set(server, coefficients, set, database)
    check_options(year=year, util=util)
    load = Load(util if cpu_util is None else cpu_util, util if gpu_util is None else gpu_util, power_w=power_w)
    g = resolve_grid(grid, database, year=year)
    result = study(srv, cs, g, database, pue=_pue(pue), load=load, samples=samples, seed=seed, years=years,
                   start_year=year)
    _warn([*result.grid.warnings, *result.notes])
    return result


def compare(servers, grid: str = "world", *, years: float = 4.0, util: float | None = None,
            cpu_util: float | None = None, gpu_util: float | None = None, pue: float | None = None,
            coefficients: str | None = None, db=None, year: int | None = None, samples: int = 0, seed: int = 0):
    """Servers over ``years`` of use: embodied + operational, and the break-even grid intensity
    (``samples``: p5/p95 of each total from draws of the ranged embodied inputs).

    Returns
    -------
    CompareResult
        ``servers`` (one Comparison each) and ``to_frame()`` (one row per server).
    """
    from carbonsim.engine.chain import Load
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.inputs.options import check_options
    from carbonsim.engine.inputs.server import load_server
    from carbonsim.engine.studies.compare import compare as study

    database = _database(db)
    check_options(util=util, year=year)
    load = Load(util if cpu_util is None else cpu_util, util if gpu_util is None else gpu_util)
    g = resolve_grid(grid, database, year=year)
    result = study([load_server(s, database) for s in servers], load_coefficients(coefficients, database), g,
                   database, years, load, _pue(pue), year, samples, seed)
    _warn(result.grid.warnings)
    return result


def inventory(fleet_csv, *, util=(0.5,), grid: str = "world", pue: float | None = None, years: float = 1.0,
              coefficients: str | None = None, samples: int = 0, seed: int = 0, db=None):
    """A fleet spreadsheet: embodied carbon, power and yearly energy/carbon per server and
    utilisation. Returns an InventoryResult (``rows``, ``to_frame()``). ``coefficients``
    defaults to ``server-lca``, as in every other function."""
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.readers.inventory import read_inventory_columns
    from carbonsim.engine.studies.inventory_fleet import inventory as study

    database = _database(db)
    utils = [util] if isinstance(util, (int, float)) else list(util)
    g = resolve_grid(grid, database)
    result = study(read_inventory_columns(fleet_csv), database, utils=utils, grid=g, pue=_pue(pue), years=years,
                   coefficients=coefficients, samples=samples, seed=seed)
    _warn(g.warnings)
    return result


def train(params_b: float, tokens_b: float, gpu: str, *, grid: str = "world", active_params_b: float | None = None,
          gpus: int | None = None, mfu: float | None = None, pue: float | None = None, seq_len: int | None = None,
          model: str | None = None, gpu_hours: float | None = None, days: float | None = None,
          power_w: float | None = None, server: str | None = None, lifetime_yr: float | None = None,
          usage: float = 1.0, per: str = "run", coefficients: str | None = None, year: int | None = None, db=None):
    """The carbon of training an LLM, as ``carbonsim train`` (docs/lifecycle.md).

    Returns
    -------
    TrainResult
        ``gpu_hours``, ``energy_mwh``, ``operational_kg``, ``embodied_kg``, ``total_kg``, ``mfu``,
        ``flops``, ``sci_g`` and ``as_dict()``.
    """
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.training import train as study

    database = _database(db)
    g = resolve_grid(str(grid), database, year=year)
    result = study(database, params_b=params_b, tokens_b=tokens_b, gpu=gpu, grid=g,
                   cs=load_coefficients(coefficients, database), active_params_b=active_params_b, gpus=gpus, mfu=mfu,
                   pue=_pue(pue), seq_len=seq_len, model=model, gpu_hours=gpu_hours, days=days, power_w=power_w,
                   server=server, lifetime_yr=lifetime_yr, usage=usage, per=per, year=year)
    _warn([*g.warnings, *result.notes])
    return result


def budget(budget_file, *, db=None):
    """Planned runs and sweeps against a carbon budget file, as ``carbonsim budget``
    (docs/budgets.md). Returns a BudgetResult (``items``, ``allocation_kg``, ``as_dict()``)."""
    from carbonsim.engine.studies.budget import budget as study

    return study(budget_file, _database(db))


def schedule(energy_kwh: float, hours: float, grids=("world",), *, start: str | None = None,
             window_hours: float = 24.0, pue: float | None = None, wrap_day: bool = False, db=None):
    """The region and start time with the least carbon for a deferrable job, as
    ``carbonsim schedule`` (the first grid is the default region; ``wrap_day`` as ``--wrap-day``).
    Returns a ScheduleResult (``best``, ``best_kg``, ``now_kg``, ``saving``, ``as_dict()``)."""
    from carbonsim.engine.studies.schedule import schedule as study

    grids = [grids] if isinstance(grids, str) else list(grids)
    result = study(grids, _database(db), energy_kwh, hours, start, window_hours, _pue(pue), wrap_day=wrap_day)
    _warn(result.notes)
    return result


def codecarbon(emissions_csv, *, server=None, grid: str | None = None, share: float | None = None,
               coefficients: str | None = None, set=None, db=None):
    """The runs of a CodeCarbon ``emissions.csv`` (or task file) with embodied carbon added, as
    ``carbonsim codecarbon`` (docs/codecarbon.md): each run and task once, charged its share of
    the server; with ``grid``, operational carbon recomputed on it beside CodeCarbon's own.
    Repaired or skipped rows and other notes arrive as :class:`CarbonsimWarning`.

    Returns
    -------
    CodeCarbonResult
        ``runs``, ``totals()``, ``records()`` and ``to_frame()`` (one row per run or task).
    """
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.inputs.overrides import split_sets
    from carbonsim.engine.studies.codecarbon import codecarbon as study

    database = _database(db)
    if server is None:
        srv, cs = None, load_coefficients(coefficients, database, split_sets(_sets(set))[1])
    else:
        srv, cs = _server_and_set(server, coefficients, set, database)
    g = None if grid is None else resolve_grid(str(grid), database)
    result = study(emissions_csv, cs, database, srv, grid=g, share=share)
    _warn(result.warnings)
    return result


def experiment(experiment, *, coefficients: str | None = None, db=None):
    """The carbon of an LLM study's calls, local or through an API, as ``carbonsim experiment``
    (docs/experiments.md).

    Parameters
    ----------
    experiment : path or dict
        An experiment file, or its content as a dict (relative paths then read from the current folder).
    coefficients : str, optional
        Coefficient set (default: the file's, else carbonsim's default).
    db : folder, list of folders or Database, optional

    Returns
    -------
    ExperimentResult
        ``configurations`` (each with ``corners`` low/central/high, ``per_call``, ``measured``),
        ``totals()``, ``as_dict()`` and ``to_frame()`` (one row per configuration and corner).
    """
    from carbonsim.engine.studies.experiment import experiment as study
    from carbonsim.engine.studies.experiment_input import experiment_from_dict, load_experiment

    if isinstance(experiment, dict):
        exp = experiment_from_dict(experiment)
    elif isinstance(experiment, (str, Path)):
        exp = load_experiment(experiment)
    else:
        raise InputError(f"experiment must be a path or a dict, found {type(experiment).__name__}", field="experiment")
    result = study(exp, _database(db), coefficients)
    _warn(f"{c.name}: {n}" for c in result.configurations for n in c.notes)
    return result


@dataclass
class SweepOutcome:
    """A finished sweep.

    Attributes
    ----------
    points : pandas.DataFrame
        Every point: swept and fixed inputs, then results (units in ``units``).
    best : pandas.DataFrame
        One row per objective, per combination of held circumstances and ``best_by`` values
        (``group.<column>`` columns; one row per objective when nothing is held or grouped): the
        best value among points meeting the constraints, its point's inputs, the baseline and
        the saving.
    units : dict
        Column -> unit.
    result : SweepResult
        The engine's result (``meta``, ``warnings``, ``results`` path when written).
    """

    points: object
    best: object
    units: dict
    result: object

    @property
    def meta(self) -> dict:
        return self.result.meta

    @property
    def warnings(self) -> list[str]:
        return self.result.warnings

    @property
    def decisions(self) -> dict:
        """Held and chosen axes, the scenario's own held values, the constraints' counts, the
        front's columns (docs/sweep.md, "Constraints, circumstances and fronts")."""
        return self.result.decisions

    def pareto(self, columns=None, *, maximise=(), minimise=()):
        """The Pareto front: the feasible points within the scenario's constraints that no other
        such point of their held group beats in every column.

        Parameters
        ----------
        columns : list of str, optional
            Two or three result columns (``["total_g", "latency_s"]``), each minimised or
            maximised by its meaning (carbon, energy, latency minimised; throughput,
            ``slo_attainment``, ``requests_per_s`` maximised). Default: the front the sweep
            computed (``pareto=`` or the scenario's ``pareto:``).
        maximise, minimise : list of str
            Columns whose direction differs from their meaning.

        Returns
        -------
        pandas.DataFrame
            The front's rows (every column of the table), by held values, then by the columns.
        """
        from carbonsim.engine.sweep.decisions import pareto_frame

        if columns is None:
            if self.result.pareto is None:
                raise OptionError("this sweep computed no front; name two or three columns", "columns")
            return self.result.pareto
        return pareto_frame(self.points, list(columns), maximise, minimise, self.decisions.get("held", []))


def _scenario(scenario, set):
    """A scenario from a path or a dict, with ``set`` assignments applied (validated)."""
    from carbonsim.engine.sweep.scenario import load_scenario, scenario_from_dict

    if isinstance(scenario, dict):
        return scenario_from_dict(scenario, "<scenario>", _sets(set))
    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario, _sets(set))
    raise InputError(f"scenario must be a path or a dict, found {type(scenario).__name__}", field="scenario")


def sweep(scenario, *, set=None, db=None, out=None, best_by=None, table_format: str = "parquet",
          dask: str | None = None, samples: int = 0, seed: int = 0, pareto=None) -> SweepOutcome:
    """Evaluate every point of a scenario; nothing is written unless ``out`` names a folder.

    Parameters
    ----------
    scenario : path or dict
        A scenario file, or the scenario as a dict (the file's content).
    set : dict or list of str, optional
        Overrides of scenario fields (``{"workload.output_tokens": 256}``).
    db : folder, list of folders or Database, optional
    out : folder, optional
        Also write the table and ``meta.json`` there (only a folder carbonsim wrote is replaced).
    best_by : list of str, optional
        Columns to group the best points by (``["model", "datacenter.grid"]``).
    table_format : {"parquet", "csv"}
    dask : str, optional
        ``"local"`` (a LocalCluster) or a scheduler address.
    samples, seed : int
        Server sweeps: p5/p95 columns from draws of each point's ranged embodied inputs.
    pareto : list of str, optional
        Two or three result columns: their front, computed chunk by chunk (``.pareto()``; with
        ``out``, also ``pareto.parquet`` beside the table).

    The best points are chosen among feasible points within the scenario's ``constraints``, and
    within each combination of held circumstances (grid, PUE, offered load ...; docs/sweep.md):
    ``.best`` has one row per objective and held group.
    """
    import pandas as pd

    from carbonsim.engine.readers.text import tracking_inputs
    from carbonsim.engine.sweep.run import run_sweep

    with tracking_inputs():  # so that out= never replaces a folder holding one of the sweep's inputs
        sc = _scenario(scenario, set)
        r = run_sweep(sc, _database(db), out, table_format, best_by=list(best_by) if best_by else None,
                      executor=dask, collect=True, samples=samples, seed=seed,
                      pareto=pareto.split(",") if isinstance(pareto, str) else pareto)
    rows = []
    for b in (r.best_by or r.best.values()):
        rows.append({"objective": b.objective, **{f"group.{k}": v for k, v in b.group.items()}, "column": b.column,
                     "value": b.value, "baseline_value": b.baseline_value, "saving": b.saving,
                     "baseline_note": b.baseline_note, **b.params})
    best = pd.DataFrame(rows).set_index("objective")
    points = r.frame
    _warn(r.warnings)
    return SweepOutcome(points, best, {c: r.units.get(c, "") for c in points.columns}, r)


@dataclass
class PlanOutcome:
    """A solved fleet plan (``carbonsim plan``; docs/plan.md).

    Attributes
    ----------
    fleet : pandas.DataFrame
        The carbon-optimal fleet, one row per (service, server configuration): ``service, server,
        count, tensor_parallel, max_num_seqs, batch_size, host_variant, lifetime`` and capacity,
        peak load, embodied and operational kg.
    plans : pandas.DataFrame
        One row per plan (``carbon`` and the baselines ``performance``, ``energy``, ``cost``):
        ``total_kg, embodied_kg, operational_kg, operational_kg_simulated, energy_mwh, gpus,
        cost_usd, saving, ratio, status, gap``.
    result : PlanResult
        The engine's result (``plans``, ``savings()``, ``as_dict()``: the ``--format json`` document).
    """

    fleet: object
    plans: object
    result: object

    @property
    def total_kg(self) -> float:
        return self.result.carbon.total_kg

    def as_dict(self) -> dict:
        return self.result.as_dict()

    def figure(self, path=None):
        """The plan's figure (a matplotlib Figure), also written to ``path`` (.png, .pdf, .svg) if given."""
        from carbonsim.report.plan_plots import fig_plan, write_plan_figure

        if path is not None:
            write_plan_figure(self.result, path)
        return fig_plan(self.result)


def plan(plan, *, set=None, db=None, progress=None) -> PlanOutcome:
    """A carbon-optimal fleet and its performance-, energy- and cost-optimal baselines, as
    ``carbonsim plan`` (docs/plan.md).

    Parameters
    ----------
    plan : path or dict
        A plan file, or the plan as a dict (the file's content).
    set : dict or list of str, optional
        Overrides of plan fields (``{"datacenter.grid": "wind"}``).
    db : folder, list of folders or Database, optional
    progress : callable, optional
        Called with a line of text at each stage.

    Raises
    ------
    InputError
        A bad plan (the message names the field).
    NoFeasibleAnswer
        No fleet meets a service's SLO or deadline (``carbonsim.errors.NoFeasibleAnswer``).
    """
    import pandas as pd

    from carbonsim.engine.plan import plan as study
    from carbonsim.engine.plan.spec import load_plan, plan_from_dict

    database = _database(db)
    if isinstance(plan, dict):
        spec = plan_from_dict(plan, "<plan>", _sets(set), database)
    elif isinstance(plan, (str, Path)):
        spec = load_plan(plan, _sets(set), database)
    else:
        raise InputError(f"plan must be a path or a dict, found {type(plan).__name__}", field="plan")
    result = study(spec, database, progress=progress)
    sav = result.savings()
    rows = []
    for name, p in result.plans.items():
        rows.append({"plan": name, "total_kg": p.total_kg, "embodied_kg": p.embodied_kg,
                     "operational_kg": p.operational_kg, "operational_kg_simulated": p.operational_kg_simulated,
                     "energy_mwh": p.energy_mwh, "gpus": p.gpus, "cost_usd": p.cost_usd,
                     "saving": sav.get(name, {}).get("saving", 0.0), "ratio": sav.get(name, {}).get("ratio", 1.0),
                     "status": p.status, "gap": p.gap})
    return PlanOutcome(pd.DataFrame(result.carbon.fleet), pd.DataFrame(rows).set_index("plan"), result)


class _Database:
    """``carbonsim.db``: the hardware database as tables.

    >>> carbonsim.db.frame("gpus")              # doctest: +SKIP
    >>> carbonsim.db.show("nvidia-h100-sxm5-80gb")   # doctest: +SKIP
    """

    def frame(self, kind: str, db=None):
        """Every entry of ``kind`` (gpus, cpus, servers, models, ...) as a pandas DataFrame, one row
        per entry, one column per field (dotted paths), indexed by id."""
        import pandas as pd

        from carbonsim.engine.db.listing import frame_rows

        return pd.DataFrame(frame_rows(_database(db), kind)).set_index("id")

    def list(self, kind: str | None = None, db=None):
        """Kind, id, name and a summary of every entry (of one kind), as a DataFrame."""
        import pandas as pd

        from carbonsim.engine.db.listing import list_rows

        return pd.DataFrame(list_rows(_database(db), kind))

    def show(self, entry_id: str, kind: str | None = None, db=None) -> dict:
        """One entry as plain data, with the sources it cites."""
        from carbonsim.engine.db.listing import show_entry

        return show_entry(_database(db), entry_id, kind)

    def check(self, db=None) -> list:
        """Every problem in every file of the database (an empty list when all is well)."""
        return _database(db).check()[1]

    def load(self, db=None):
        """The database (the shipped one, with ``db``'s folders layered on top) as the API functions
        use it: read once and kept, keyed by its layers, and read again only when one of its
        files or folders changed (modification time, size). Pass it as ``db=`` to skip even the
        check of what changed; every function also finds it by itself."""
        return _database(db)

    def __repr__(self) -> str:
        return "carbonsim.db: frame(kind), list(kind), show(id), check(), load()"


db = _Database()



def requests(scenario, *, set=None, db=None):
    """One row per request of an online-serving scenario's own point (docs/serving.md).

    Columns: ``request, model, arrival_s, prompt_tokens, output_tokens, served, ttft_s, tpot_s,
    latency_s, finish_s, preemptions`` and, per request, ``energy_j, gpu_energy_j,
    host_energy_j, operational_g, embodied_g, total_g`` (the sweep tables' names; their means
    over the served requests are the sweep row's values).

    >>> carbonsim.api.requests("scenarios/seed-sharing.yaml").head()   # doctest: +SKIP
    """
    from carbonsim.engine.studies.serving import request_table
    sc = _scenario(scenario, set)
    return request_table(sc, _database(db))
