"""Scenario files: load and validate (layer 2). The format is a public contract (DESIGN.md §5).

A scenario names a server, optionally an LLM model and workload, a datacenter (PUE and grid),
and a sweep: ``product:`` (cartesian) and ``zip:`` (element-wise) lists over any field by its
dotted path. Without ``model`` and ``workload`` it sweeps the server alone.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from carbonsim.engine.db.schema import Checker, Choice, Count, Fields, ListOf, Number, Spec, Text, _typename
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.engine.inputs.options import (
    BLOCK_SIZE, DAYS, DEMAND_PER_S, DEVICE_HOURS, DEVICES, DURATION_S, ENGINE_INSTANCES, GROWTH_PER_YR, HORIZON_YR,
    LOGNORMAL_SIGMA,
    MAX_MODEL_LEN, MAX_NUM_SEQS, MEAN_TOKENS, MFU, PARAMS_B, PARETO_SHAPE, POWER_CAP_W, POWER_W, PUE, QPS, REFRESH_YR,
    REQUESTS, REQUESTS_PER_USER, SEED, SEQ_LEN, SLO_S, TARGET_UTIL, TOKEN_BUDGET, TOKENS_B, USAGE, UTIL, YEAR, YEARS,
)
from carbonsim.engine.inputs.llm import ENGINES
from carbonsim.engine.readers.requests import TRACE_FORMATS
from carbonsim.errors import InputError
from carbonsim.models.perf.layout import PRECISIONS
from carbonsim.engine.inputs.overrides import ENTRY_FIELDS, parse_assignment, set_scenario_path

PATH_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
#: A scenario name becomes a folder name (out/<name>): a plain file name, no path.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
MAX_AXIS_VALUES = 1_000_000
EMBODIED_OBJECTIVES = ("embodied_kg", "embodied_mg_per_s", "total_mg_per_s", "total_kg")
TASK_OBJECTIVES = ("carbon_per_task", "energy_per_task", "latency", "edp", "cdp", "cep", "cep_delay",
                   "embodied_per_task", "operational_per_task")


class _Scalar(Spec):
    """A sweep value: a number, text or boolean."""

    def check(self, value, path, ck):
        if isinstance(value, bool) or isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            if value != value or value in (float("inf"), float("-inf")):
                ck.error(path, f"expected a finite number, found {value!r}")
                return None
            return value
        if isinstance(value, dict):
            return value  # an inline part or a mapping value; checked when the point is built
        ck.error(path, f"expected a number or text, found {_typename(value)}")
        return None


class _Axes(Spec):
    """``{dotted.path: [v1, v2, ...]}``."""

    def check(self, value, path, ck):
        if not isinstance(value, dict):
            ck.error(path, f"expected a mapping of dotted paths to lists, found {_typename(value)}")
            return None
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}"
            if not isinstance(k, str) or not PATH_PATTERN.match(k):
                ck.error(sub, "expected a dotted field path like workload.batch_size")
                continue
            if not isinstance(v, list) or not v:
                ck.error(sub, f"expected a non-empty list of values, found {'an empty list' if v == [] else _typename(v)}")
                continue
            if len(v) > MAX_AXIS_VALUES:
                ck.error(sub, f"at most {MAX_AXIS_VALUES} values per axis")
                continue
            items = [_Scalar().check(x, f"{sub}[{i}]", ck) for i, x in enumerate(v)]
            out[k] = items
        return out


class _Bool(Spec):
    """true or false (not 0 / 1)."""

    def check(self, value, path, ck):
        if not isinstance(value, bool):
            ck.error(path, f"expected true or false, found {_typename(value)}")
            return None
        return value


#: A token-length distribution (online serving; docs/serving.md).
LENGTH_DISTRIBUTION = Fields(
    {
        "dist": Choice(("exponential", "pareto", "lognormal")),
        "mean": MEAN_TOKENS,
        "shape": Number(0.0, 100.0, exclusive_min=True),
        "min": Count(1, 100_000_000),
        "max": Count(1, 100_000_000),
    },
    required=("dist", "mean"),
    what="a length distribution",
)


class _Tokens(Spec):
    """A token count, or (online serving) a distribution of them."""

    COUNT = Count(1, 10_000_000)
    SHAPES = {"pareto": PARETO_SHAPE, "lognormal": LOGNORMAL_SIGMA}

    def check(self, value, path, ck):
        if isinstance(value, dict):
            out = LENGTH_DISTRIBUTION.check(value, path, ck)
            if out and out.get("dist") in self.SHAPES and "shape" in value:
                self.SHAPES[out["dist"]].check(value["shape"], f"{path}.shape", ck)
            return out
        return self.COUNT.check(value, path, ck)


#: Longest trace window (start or length) accepted [s]: ten years.
MAX_TRACE_S = 10 * 365 * 86400.0


class _TraceRef(Spec):
    """``workload.trace``: a path, or ``{path, format, start_s, duration_s, speedup}``."""

    OPTIONS = Fields({"path": Text(), "format": Choice(TRACE_FORMATS), "start_s": Number(0.0, MAX_TRACE_S),
                      "duration_s": Number(0.0, MAX_TRACE_S, exclusive_min=True),
                      "speedup": Number(0.0, 1e6, exclusive_min=True)},
                     required=("path",), what="trace")

    def check(self, value, path, ck):
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return self.OPTIONS.check(value, path, ck)
        ck.error(path, f"expected a trace file path or {{path, format, start_s, duration_s, speedup}}, found "
                       f"{_typename(value)}")
        return None


class _ServerRef(Spec):
    def check(self, value, path, ck):
        if isinstance(value, (str, dict)):
            return value
        ck.error(path, f"expected a server id, a path or an inline server, found {_typename(value)}")
        return None


SCENARIO = Fields(
    {
        "name": Text(NAME_PATTERN, "a plain name (letters, digits, '.', '-', '_'; no '/'), used as the output folder name"),
        "description": Text(),
        "server": _ServerRef(),
        "model": Text(),
        "coefficients": Text(),
        "workload": Fields(
            {
                "mode": Choice(("offline", "online")),
                "prompt_tokens": _Tokens(),
                "output_tokens": _Tokens(),
                "batch_size": Count(1, 1_000_000),
                "tensor_parallel": Count(1, 1024),
                "precision": Choice(tuple(PRECISIONS)),
                "kv_precision": Choice(tuple(PRECISIONS)),
                "engine": Choice(tuple(ENGINES)),
                "embodied_attribution": Choice(("server", "used")),
                "replicas": Count(1, 1024),
                "power_cap_w": POWER_CAP_W,
                # online serving (mode: online; docs/serving.md)
                "arrival": Choice(("poisson", "burst", "trace")),
                "qps": QPS,
                "requests": REQUESTS,
                "duration_s": DURATION_S,
                "seed": SEED,
                "trace": _TraceRef(),
                "max_num_seqs": MAX_NUM_SEQS,
                "max_num_batched_tokens": TOKEN_BUDGET,
                "chunked_prefill": _Bool(),
                "block_size": BLOCK_SIZE,
                "max_model_len": MAX_MODEL_LEN,
                "slo": Fields({"ttft_s": SLO_S, "tpot_s": SLO_S}, what="slo"),
                "placement": Choice(("single", "horizontal", "vertical", "disaggregated")),
                "second_model": Text(),
                "prefill_instances": ENGINE_INSTANCES,
                "decode_instances": ENGINE_INSTANCES,
            },
            required=("mode",),
            what="workload",
        ),
        "datacenter": Fields(
            {"pue": PUE, "grid": Text(), "power_w": POWER_W, "note": Text()},
            what="datacenter",
        ),
        "load": Fields({"cpu_util": UTIL, "gpu_util": UTIL, "gpu_activity": UTIL}, what="load"),
        # a server-only scenario's period of use: its table then has the totals over it, the grid
        # taken over those years (docs/sweep.md)
        "period": Fields({"years": YEARS, "start_year": YEAR, "note": Text()}, required=("years",), what="period"),
        "sweep": Fields({"product": _Axes(), "zip": _Axes()}, what="sweep"),
        "objectives": ListOf(Choice(EMBODIED_OBJECTIVES + TASK_OBJECTIVES), 1),
        "note": Text(),
    },
    required=("name", "server"),
    what="a scenario",
)


#: A result column's name (constraints and Pareto fronts name them; engine/sweep/decisions.py
#: checks that the kind's table has it).
COLUMN_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Most columns of a Pareto front.
MAX_PARETO_COLUMNS = 3


class _Constraints(Spec):
    """``{column: {min: X, max: Y}}``: bounds on result columns (each a finite number; min <= max)."""

    BOUNDS = Fields({"min": Number(None), "max": Number(None), "note": Text()}, what="a constraint")

    def check(self, value, path, ck):
        if not isinstance(value, dict):
            ck.error(path, f"expected a mapping of result columns to {{min, max}}, found {_typename(value)}")
            return None
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}"
            if not isinstance(k, str) or not COLUMN_PATTERN.match(k):
                ck.error(sub, "expected a result column's name, like slo_attainment")
                continue
            if not isinstance(v, dict):
                ck.error(sub, f"expected {{min: X}}, {{max: Y}} or both, found {_typename(v)}")
                continue
            b = self.BOUNDS.check(v, sub, ck)
            if b is None or any(x in v and b.get(x) is None for x in ("min", "max")):
                continue
            if "min" not in b and "max" not in b:
                ck.error(sub, "expected min, max or both")
                continue
            if "min" in b and "max" in b and b["min"] > b["max"]:
                ck.error(sub, f"min ({b['min']:g}) is above max ({b['max']:g})")
                continue
            out[k] = b
        return out


class _Pareto(Spec):
    """``{columns: [A, B(, C)], maximise: [...], minimise: [...]}``."""

    FIELDS = Fields({"columns": ListOf(Text(COLUMN_PATTERN, "a result column's name"), 2),
                     "maximise": ListOf(Text(COLUMN_PATTERN, "a result column's name")),
                     "minimise": ListOf(Text(COLUMN_PATTERN, "a result column's name")), "note": Text()},
                    required=("columns",), what="pareto")

    def check(self, value, path, ck):
        out = self.FIELDS.check(value, path, ck)
        if not out or out.get("columns") is None:
            return out
        cols = out["columns"]
        if len(cols) > MAX_PARETO_COLUMNS or len(set(cols)) != len(cols):
            ck.error(f"{path}.columns", f"expected two or three different columns, found {cols}")
            return None
        for key in ("maximise", "minimise"):
            for i, c in enumerate(out.get(key) or []):
                if c not in cols:
                    ck.error(f"{path}.{key}[{i}]", f"{c!r} is not one of pareto.columns ({', '.join(cols)})")
                    return None
        both = set(out.get("maximise") or []) & set(out.get("minimise") or [])
        if both:
            ck.error(f"{path}.maximise", f"{sorted(both)[0]!r} is both maximised and minimised")
            return None
        return out


#: What a planner decides and what is held (docs/sweep.md, "Constraints, circumstances and fronts").
DECISION_FIELDS = {
    "constraints": _Constraints(),
    "hold": ListOf(Text(PATH_PATTERN, "a dotted field path like model")),
    "choose": ListOf(Text(PATH_PATTERN, "a dotted field path like datacenter.grid")),
    "pareto": _Pareto(),
}
SCENARIO.fields.update(DECISION_FIELDS)

#: Functional unit of the SCI column of LLM tables (docs/lifecycle.md): ``sci_g_per_<unit>``.
SCI_UNITS = ("request", "1k-tokens", "user", "day")
SCENARIO.fields["functional_unit"] = Fields(
    {"unit": Choice(SCI_UNITS), "requests_per_user": REQUESTS_PER_USER, "note": Text()},
    required=("unit",), what="functional_unit",
)


class _Generations(Spec):
    """A generation-table id or an inline list of ``{name, server, available}`` (checked against
    the database when the point is built)."""

    def check(self, value, path, ck):
        if isinstance(value, str) or isinstance(value, list):
            return value
        ck.error(path, f"expected a generation-table id or a list of generations, found {_typename(value)}")
        return None


LIFECYCLE = Fields(
    {
        "horizon_yr": HORIZON_YR,
        "start_year": YEAR,
        "gpu_refresh_yr": REFRESH_YR,
        "host_refresh_yr": REFRESH_YR,
        "generations": _Generations(),
        "demand": Fields({"tokens_per_s": DEMAND_PER_S, "requests_per_s": DEMAND_PER_S,
                          "growth_per_yr": GROWTH_PER_YR, "note": Text()}, what="demand"),
        "utilization": TARGET_UTIL,
        "end_of_horizon": Choice(("credit", "none")),
        "note": Text(),
    },
    required=("horizon_yr", "start_year", "gpu_refresh_yr", "host_refresh_yr", "generations", "demand"),
    what="lifecycle",
)
#: A refresh-policy scenario: a fleet of generations' servers over a horizon (no single server).
LIFECYCLE_SCENARIO = Fields(
    {**SCENARIO.fields, "lifecycle": LIFECYCLE,
     "objectives": ListOf(Choice(("total_kg", "embodied_kg", "operational_kg", "energy_mwh",
                                  "sci_g_per_1k_tokens")), 1)},
    required=("name", "lifecycle", "model", "workload"),
    what="a lifecycle scenario",
)


#: ``carbonsim train`` as a file: its options under ``training:`` (docs/lifecycle.md, section 2).
TRAINING = Fields(
    {"params_b": PARAMS_B, "active_params_b": PARAMS_B, "tokens_b": TOKENS_B, "gpu": Text(), "gpus": DEVICES,
     "mfu": MFU, "seq_len": SEQ_LEN, "model": Text(), "gpu_hours": DEVICE_HOURS, "days": DAYS, "power_w": POWER_W,
     "server": Text(), "lifetime_yr": YEARS, "usage": USAGE, "per": Choice(("run", "1k-tokens", "gpu-hour")),
     "year": YEAR, "note": Text()},
    required=("params_b", "tokens_b", "gpu"),
    what="training",
)
TRAINING_SCENARIO = Fields(
    {"name": SCENARIO.fields["name"], "description": Text(), "coefficients": Text(), "training": TRAINING,
     "datacenter": SCENARIO.fields["datacenter"], "sweep": SCENARIO.fields["sweep"], "note": Text(),
     "objectives": ListOf(Choice(("total_kg", "operational_kg", "embodied_kg", "energy_mwh", "gpu_hours", "days")), 1),
     **DECISION_FIELDS},
    required=("name", "training"),
    what="a training scenario",
)


def _schema(doc) -> Fields:
    if isinstance(doc, dict) and "training" in doc:
        return TRAINING_SCENARIO
    return LIFECYCLE_SCENARIO if isinstance(doc, dict) and "lifecycle" in doc else SCENARIO


@dataclass
class Scenario:
    """A validated scenario: the base document and its sweep axes."""

    name: str
    file: str
    doc: dict
    product: dict[str, list] = field(default_factory=dict)
    zipped: dict[str, list] = field(default_factory=dict)
    objectives: list[str] = field(default_factory=list)
    #: ``{column: {min, max}}``: bounds every best point meets (docs/sweep.md).
    constraints: dict = field(default_factory=dict)
    #: Axes held beyond the circumstances held by default, and axes chosen though held by default.
    hold: list[str] = field(default_factory=list)
    choose: list[str] = field(default_factory=list)
    #: ``{columns, maximise, minimise}``: the Pareto front written beside the table (or None).
    pareto: dict | None = None

    @property
    def llm(self) -> bool:
        """True when the scenario evaluates LLM tasks (a model and a workload)."""
        return "model" in self.doc and "workload" in self.doc and not self.lifecycle

    @property
    def training(self) -> bool:
        """True when the scenario is a training run (a ``training`` section)."""
        return "training" in self.doc

    @property
    def lifecycle(self) -> bool:
        """True when the scenario evaluates a fleet over a horizon (a ``lifecycle`` section)."""
        return "lifecycle" in self.doc

    @property
    def online(self) -> bool:
        """True when the scenario simulates online serving (``workload.mode: online``)."""
        return self.llm and (self.doc.get("workload") or {}).get("mode") == "online"

    @property
    def n_points(self) -> int:
        n = 1
        for values in self.product.values():
            n *= len(values)
        if self.zipped:
            n *= len(next(iter(self.zipped.values())))
        return n

    def hash(self) -> str:
        """SHA-256 of the scenario's content (after --set), for the meta record."""
        blob = json.dumps({"doc": self.doc, "product": self.product, "zip": self.zipped,
                           **{k: v for k, v in self.decisions().items() if v}}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


    def decisions(self) -> dict:
        """The scenario's constraints, held and chosen axes and Pareto front, as written."""
        return {"constraints": self.constraints, "hold": self.hold, "choose": self.choose, "pareto": self.pareto}


def _with_decisions(sc: Scenario, spec: dict) -> Scenario:
    """``sc`` with the decision fields of ``spec`` (taken out of its base document)."""
    for key in DECISION_FIELDS:
        sc.doc.pop(key, None)
    sc.constraints = dict(spec.get("constraints") or {})
    sc.hold, sc.choose = list(spec.get("hold") or []), list(spec.get("choose") or [])
    sc.pareto = spec.get("pareto")
    return sc


def check_point(doc: dict, file: str) -> None:
    """Check one point of a sweep (the base document with its axis values set) against the same
    schema as the file, so a value gets the same check as a sweep axis as in the file.

    Raises
    ------
    InputError
        Naming the file and the field (``workload.batch_size: must not be below 1, found 0``).
    """
    ck = Checker(file)
    _schema(doc).check({k: v for k, v in doc.items() if not k.startswith("_")}, "", ck)
    ck.raise_if_errors()


def scenario_from_dict(raw: dict, file: str = "<scenario>", sets=()) -> Scenario:
    """Validate a scenario document (``--set`` assignments applied first)."""
    if not isinstance(raw, dict):
        raise InputError("expected a mapping at the top of the scenario file", file=file)
    for text in sets:
        path, value = parse_assignment(text)
        raw = set_scenario_path(raw, path, value, file=file)
    entry_overrides = {k: raw.pop(k) for k in [f"_{h}_overrides" for h in ENTRY_FIELDS] if k in raw}
    ck = Checker(file)
    spec = _schema(raw).check(raw, "", ck)
    ck.raise_if_errors()
    spec.update(entry_overrides)
    if "lifecycle" in spec:
        return _with_decisions(_lifecycle_scenario(spec, file), spec)
    if "training" in spec:
        return _with_decisions(_lifecycle_scenario(spec, file, default_objective="total_kg"), spec)
    sweep = spec.get("sweep") or {}
    product, zipped = sweep.get("product") or {}, sweep.get("zip") or {}
    if zipped:
        lengths = {k: len(v) for k, v in zipped.items()}
        if len(set(lengths.values())) > 1:
            raise InputError(f"zip lists must have equal lengths, found {lengths}", file=file, field="sweep.zip")
    both = set(product) & set(zipped)
    if both:
        raise InputError(f"{sorted(both)[0]!r} is in both product and zip", file=file, field="sweep")
    for axes, kind in ((product, "product"), (zipped, "zip")):
        if "workload.mode" in axes:
            raise InputError("workload.mode cannot be a sweep axis (offline tasks and online runs are different "
                             "tables); sweep them as two scenarios", file=file, field=f"sweep.{kind}.workload.mode")
    workload = spec.get("workload") or {}
    if workload.get("mode") == "offline":
        for key in ("prompt_tokens", "output_tokens"):
            if key not in workload:
                raise InputError("required key is missing", file=file, field=f"workload.{key}")
    llm = "model" in spec and "workload" in spec
    if ("model" in spec) != ("workload" in spec):
        missing = "workload" if "model" in spec else "model"
        raise InputError(f"an LLM scenario needs both model and workload; {missing} is missing", file=file,
                         field=missing)
    objectives = spec.get("objectives") or (["carbon_per_task", "edp", "cdp", "cep"] if llm
                                            else ["embodied_kg", "total_mg_per_s"])
    allowed = TASK_OBJECTIVES if llm else EMBODIED_OBJECTIVES
    for i, o in enumerate(objectives):
        if o not in allowed:
            kind = "an LLM scenario" if llm else "a server-only scenario (no model/workload)"
            raise InputError(f"objective {o!r} does not apply to {kind}; allowed: {', '.join(allowed)}",
                             file=file, field=f"objectives[{i}]")
    has_grid = bool((spec.get("datacenter") or {}).get("grid")) or "datacenter.grid" in product \
        or "datacenter.grid" in zipped
    if llm and not has_grid:
        raise InputError("an LLM scenario needs datacenter.grid (its tasks' operational carbon)", file=file,
                         field="datacenter.grid")
    if not llm and "total_mg_per_s" in objectives and not has_grid:
        raise InputError("objective total_mg_per_s needs datacenter.grid", file=file, field="datacenter")
    if llm and "period" in spec:
        raise InputError("a period of use applies to server-only scenarios (an LLM table is per request)",
                         file=file, field="period")
    if not llm and "total_kg" in objectives and ("period" not in spec or not has_grid):
        raise InputError("objective total_kg needs a period (period.years) and datacenter.grid", file=file,
                         field="objectives")
    base = {k: v for k, v in spec.items() if k not in ("sweep", "objectives")}
    return _with_decisions(Scenario(spec["name"], file, base, product, zipped, list(objectives)), spec)


def _lifecycle_scenario(spec: dict, file: str, default_objective: str = "total_kg") -> Scenario:
    """The checks of a lifecycle or training scenario beyond its schema (its points are checked
    when built)."""
    sweep = spec.get("sweep") or {}
    product, zipped = sweep.get("product") or {}, sweep.get("zip") or {}
    if zipped and len({len(v) for v in zipped.values()}) > 1:
        raise InputError(f"zip lists must have equal lengths, found { {k: len(v) for k, v in zipped.items()} }",
                         file=file, field="sweep.zip")
    both = set(product) & set(zipped)
    if both:
        raise InputError(f"{sorted(both)[0]!r} is in both product and zip", file=file, field="sweep")
    has_grid = bool((spec.get("datacenter") or {}).get("grid")) or "datacenter.grid" in product \
        or "datacenter.grid" in zipped
    if not has_grid:
        what = "a training" if "training" in spec else "a lifecycle"
        raise InputError(f"{what} scenario needs datacenter.grid", file=file, field="datacenter.grid")
    objectives = spec.get("objectives") or [default_objective]
    base = {k: v for k, v in spec.items() if k not in ("sweep", "objectives")}
    return Scenario(spec["name"], file, base, product, zipped, list(objectives))


def load_scenario(path: str | Path, sets=()) -> Scenario:
    """Load and validate a scenario file (``sets``: ``--set PATH=VALUE`` strings)."""
    raw = load_yaml(path, "scenario")
    return scenario_from_dict(raw, str(path), sets)
