"""Experiment files (layer 2, beside the study that runs them): a study's LLM calls and the configurations that could run them,
loaded and validated (docs/experiments.md).

An experiment names the calls (``study``: items x strategies per configuration, or a plain
``calls`` count), the tokens of a call (``tokens``: numbers or distributions, as an online
scenario's lengths) and one or more ``configurations``, each run either on a ``local`` machine
(a server id, a path or an inline machine; a model of ``hardware_db/models``; a precision and an
engine; the grid and PUE where it runs; optionally a measured CodeCarbon file) or through an
``api`` (a model of ``hardware_db/api_models`` and one of its provider's regions). Every problem
is an :class:`~carbonsim.errors.InputError` naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from carbonsim.engine.db.schema import Checker, Choice, Count, Fields, ListOf, Text
from carbonsim.engine.inputs.llm import ENGINES
from carbonsim.engine.inputs.options import PUE, SEED
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.engine.sweep.scenario import NAME_PATTERN, _ServerRef, _Tokens
from carbonsim.errors import InputError
from carbonsim.models.perf.layout import PRECISIONS

#: Calls one configuration may make (a study of a billion calls is a fleet, not an experiment).
CALLS = Count(1, 1_000_000_000)

LOCAL = Fields(
    {
        "server": _ServerRef(),
        "model": Text(),
        "precision": Choice(tuple(PRECISIONS)),
        "engine": Choice(tuple(ENGINES)),
        "grid": Text(),
        "pue": PUE,
        "measured": Fields({"codecarbon": Text(), "note": Text()}, required=("codecarbon",), what="measured"),
        "note": Text(),
    },
    required=("server", "model", "grid"),
    what="local",
)
API = Fields(
    {"provider": Text(), "model": Text(), "region": Text(), "note": Text()},
    required=("model",),
    what="api",
)
CONFIGURATION = Fields(
    {"name": Text(), "local": LOCAL, "api": API, "note": Text()},
    required=("name",),
    what="a configuration",
)
EXPERIMENT = Fields(
    {
        "name": Text(NAME_PATTERN, "a plain name (letters, digits, '.', '-', '_')"),
        "description": Text(),
        "study": Fields(
            {"items": CALLS, "strategies": CALLS, "calls": CALLS, "note": Text()}, what="study"),
        "tokens": Fields({"prompt": _Tokens(), "output": _Tokens(), "note": Text()},
                         required=("prompt", "output"), what="tokens"),
        "coefficients": Text(),
        "seed": SEED,
        "configurations": ListOf(CONFIGURATION, 1),
        "note": Text(),
    },
    required=("name", "study", "tokens", "configurations"),
    what="an experiment",
)


@dataclass
class Experiment:
    """A validated experiment file.

    Attributes
    ----------
    name : str
    calls : int
        Calls each configuration makes (``items x strategies`` or ``calls``).
    prompt, output : int or dict
        Tokens of a call: a number or a length distribution (``{dist, mean, shape, min, max}``).
    configurations : list of dict
        Each ``{"name", "local": {...}}`` or ``{"name", "api": {...}}``.
    coefficients : str or None
    seed : int
    file : str
        The file named in errors (``<experiment>`` for a dict).
    base : Path
        Folder relative paths (an inline server file, a CodeCarbon file) are read from.
    """

    name: str
    calls: int
    prompt: object
    output: object
    configurations: list
    coefficients: str | None = None
    seed: int = 0
    file: str = "<experiment>"
    base: Path = Path(".")
    study: dict = field(default_factory=dict)
    description: str = ""


def experiment_from_dict(raw, file: str = "<experiment>", base: Path | None = None) -> Experiment:
    """Validate an experiment document.

    Raises
    ------
    InputError
        The first problem, naming ``file`` and the field.
    """
    if not isinstance(raw, dict):
        raise InputError("expected a mapping at the top of the experiment file", file=file)
    ck = Checker(file)
    spec = EXPERIMENT.check(raw, "", ck)
    ck.raise_if_errors()
    study = spec["study"]
    if "calls" in study and ("items" in study or "strategies" in study):
        raise InputError("give the calls (study.calls) or items and strategies (study.items, study.strategies), "
                         "not both", file=file, field="study.calls")
    if "calls" not in study and "items" not in study:
        raise InputError("give the number of items (study.items, times study.strategies) or of calls (study.calls)",
                         file=file, field="study.items")
    calls = study["calls"] if "calls" in study else study["items"] * study.get("strategies", 1)
    names: set[str] = set()
    for i, c in enumerate(spec["configurations"]):
        where = f"configurations[{i}]"
        if ("local" in c) == ("api" in c):
            raise InputError("give either local: (a machine you run) or api: (a provider's model), one of them",
                             file=file, field=where)
        if c["name"] in names:
            raise InputError(f"configuration name {c['name']!r} is used twice", file=file, field=f"{where}.name")
        names.add(c["name"])
    base = base if base is not None else (Path(file).parent if file != "<experiment>" else Path("."))
    return Experiment(name=spec["name"], calls=int(calls), prompt=spec["tokens"]["prompt"],
                      output=spec["tokens"]["output"], configurations=spec["configurations"],
                      coefficients=spec.get("coefficients"), seed=int(spec.get("seed", 0)), file=file, base=base,
                      study=study, description=spec.get("description", ""))


def load_experiment(path) -> Experiment:
    """Load and validate an experiment file (:func:`experiment_from_dict`; the size limit of a scenario)."""
    return experiment_from_dict(load_yaml(path, kind="scenario"), str(path), Path(path).parent)
