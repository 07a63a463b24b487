"""A small schema language for the YAML files, with errors that name file and field.

Each spec checks one value and returns it normalised; problems are collected in a
:class:`Checker` so that ``carbonsim db check`` can report every problem in a file at once.
Quantities (numbers that are not counts or choices) become :class:`Quantity` objects that
carry their provenance.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from carbonsim.engine.readers.table import MIN_POSITIVE
from carbonsim.errors import InputError

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
#: Largest magnitude any number in a file may have: far above every physical input carbonsim
#: takes, and low enough that no product of inputs overflows to infinity.
MAX_MAGNITUDE = 1e15

NODE_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?nm$")


@dataclass(frozen=True)
class Quantity:
    """A number with its provenance.

    Attributes
    ----------
    value : float
        Point estimate.
    source : str or None
        Key in ``sources.yaml``.
    low, high : float or None
        Range for Monte-Carlo sampling (split triangular: ``value`` is the median of the draws).
    note : str or None
        How the value was obtained.
    """

    value: float
    source: str | None = None
    low: float | None = None
    high: float | None = None
    note: str | None = None

    @property
    def ranged(self) -> bool:
        return self.low is not None or self.high is not None

    def scaled(self, factor: float) -> "Quantity":
        """The same quantity multiplied by a positive constant (range scaled too)."""
        return Quantity(
            self.value * factor,
            self.source,
            None if self.low is None else self.low * factor,
            None if self.high is None else self.high * factor,
            self.note,
        )


def cited_sources(node) -> set[str]:
    """Every source id cited inside ``node``: quantities' sources and ``source:`` keys of mappings,
    walking dicts, lists, tuples and dataclasses."""
    found: set[str] = set()

    def walk(n):
        if isinstance(n, Quantity):
            if n.source:
                found.add(n.source)
        elif isinstance(n, dict):
            if isinstance(n.get("source"), str):
                found.add(n["source"])
            for v in n.values():
                walk(v)
        elif isinstance(n, (list, tuple)):
            for v in n:
                walk(v)
        elif hasattr(n, "__dataclass_fields__"):
            for name in n.__dataclass_fields__:
                walk(getattr(n, name))

    walk(node)
    return found


def q(value: float, source: str | None = None, low=None, high=None) -> Quantity:
    """Shorthand for building a :class:`Quantity` in code."""
    return Quantity(float(value), source, low, high)


class Checker:
    """Collects problems found in one file."""

    def __init__(self, file, default_source: str | None = None, sources: set[str] | None = None):
        self.file = str(file)
        self.default_source = default_source
        self.sources = sources
        self.errors: list[InputError] = []
        self.used_sources: set[str] = set()

    def error(self, path: str, message: str) -> None:
        self.errors.append(InputError(message, file=self.file, field=path or None))

    def raise_if_errors(self) -> None:
        if self.errors:
            from carbonsim.errors import InputErrors

            if len(self.errors) == 1:
                raise self.errors[0]
            raise InputErrors(self.errors)


def _typename(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {value!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        if len(value) > 60 or "\n" in value:  # a long text is not quoted whole: it may not be the user's
            return f"text of {len(value)} characters"
        return f"text {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Spec:
    """Base class: ``check`` returns the normalised value or ``None`` after recording errors."""

    def check(self, value, path: str, ck: Checker):  # pragma: no cover - interface
        raise NotImplementedError

    def child(self, key) -> Spec | None:
        """The spec of the field ``key`` when that field can be checked on its own; None when
        this spec checks its keys together (or has no such field)."""
        return None


class Number(Spec):
    """A plain number with bounds (used for counts and inside quantities)."""

    def __init__(self, minimum: float = 0.0, maximum: float | None = None, integer=False,
                 exclusive_min=False):
        self.minimum, self.maximum, self.integer = minimum, maximum, integer
        self.exclusive_min = exclusive_min

    def check(self, value, path, ck):
        if not _is_number(value):
            ck.error(path, f"expected {'a whole number' if self.integer else 'a number'}, found {_typename(value)}")
            return None
        if not math.isfinite(value):
            ck.error(path, f"expected a finite number, found {value!r}")
            return None
        if self.integer and float(value) != int(value):
            ck.error(path, f"expected a whole number, found {value!r}")
            return None
        if self.minimum is not None:
            if self.exclusive_min and value <= self.minimum:
                ck.error(path, f"must be greater than {self.minimum:g}, found {value!r}")
                return None
            if self.exclusive_min and self.minimum == 0 and value < MIN_POSITIVE:
                ck.error(path, f"must be at least {MIN_POSITIVE:g} (a positive value this small has no meaning and "
                               f"its reciprocal overflows), found {value!r}")
                return None
            if value < self.minimum:
                word = "negative" if self.minimum == 0 else f"below {self.minimum:g}"
                ck.error(path, f"must not be {word}, found {value!r}")
                return None
        if self.maximum is not None and value > self.maximum:
            ck.error(path, f"must be at most {self.maximum:g}, found {value!r}")
            return None
        if abs(value) > MAX_MAGNITUDE:
            ck.error(path, f"{value!r} is beyond any plausible value (limit {MAX_MAGNITUDE:g})")
            return None
        return int(value) if self.integer else float(value)


def Count(minimum: int = 0, maximum: int | None = None) -> Number:
    """A whole number (counts, years, layers)."""
    return Number(minimum, maximum, integer=True)


class QuantitySpec(Spec):
    """A number with provenance: bare (file source) or ``{value, source, low, high, note}``."""

    KEYS = {"value", "source", "low", "high", "note"}

    def __init__(self, minimum: float = 0.0, maximum: float | None = None, exclusive_min=False):
        self.num = Number(minimum, maximum, exclusive_min=exclusive_min)

    def check(self, value, path, ck):
        if isinstance(value, dict):
            unknown = set(value) - self.KEYS
            for key in sorted(map(str, unknown)):
                ck.error(f"{path}.{key}", f"unknown key; a quantity allows {sorted(self.KEYS)}")
            if "value" not in value:
                ck.error(path, "quantity has no 'value'")
                return None
            v = self.num.check(value["value"], f"{path}.value", ck)
            lo = hi = None
            if "low" in value:
                lo = self.num.check(value["low"], f"{path}.low", ck)
            if "high" in value:
                hi = self.num.check(value["high"], f"{path}.high", ck)
            if v is not None and lo is not None and lo > v:
                ck.error(f"{path}.low", f"low {lo:g} is above value {v:g}")
            if v is not None and hi is not None and hi < v:
                ck.error(f"{path}.high", f"high {hi:g} is below value {v:g}")
            src = value.get("source", ck.default_source)
            if "source" in value and not isinstance(value["source"], str):
                ck.error(f"{path}.source", f"expected a source id, found {_typename(value['source'])}")
                src = None
            note = value.get("note")
            if note is not None and not isinstance(note, str):
                ck.error(f"{path}.note", f"expected text, found {_typename(note)}")
            if v is None:
                return None
            self._check_source(src, path, ck)
            return Quantity(v, src, lo, hi, note)
        v = self.num.check(value, path, ck)
        if v is None:
            return None
        self._check_source(ck.default_source, path, ck)
        return Quantity(v, ck.default_source)

    @staticmethod
    def _check_source(src, path, ck):
        if src is None:
            ck.error(path, "number has no source: give {value: ..., source: ...} or a file-level 'source:'")
            return
        ck.used_sources.add(src)
        if ck.sources is not None and src not in ck.sources:
            ck.error(path, f"source {src!r} is not in sources.yaml")


class Text(Spec):
    def __init__(self, pattern: re.Pattern | None = None, what: str = "text"):
        self.pattern, self.what = pattern, what

    def check(self, value, path, ck):
        if not isinstance(value, str):
            ck.error(path, f"expected {self.what}, found {_typename(value)}")
            return None
        if self.pattern is not None and not self.pattern.match(value):
            ck.error(path, f"expected {self.what}, found {value!r}")
            return None
        return value


def Node() -> Text:
    """A process node written like ``7nm``."""
    return Text(NODE_PATTERN, "a process node like '7nm'")


class Choice(Spec):
    def __init__(self, options):
        self.options = tuple(options)

    def check(self, value, path, ck):
        if value not in self.options:
            ck.error(path, f"expected one of {', '.join(map(str, self.options))}; found {_typename(value)}")
            return None
        return value


class SourceRef(Spec):
    """A source id that must resolve in sources.yaml."""

    def check(self, value, path, ck):
        if not isinstance(value, str):
            ck.error(path, f"expected a source id, found {_typename(value)}")
            return None
        ck.used_sources.add(value)
        if ck.sources is not None and value not in ck.sources:
            ck.error(path, f"source {value!r} is not in sources.yaml")
        return value


class ListOf(Spec):
    def __init__(self, item: Spec, min_items: int = 0):
        self.item, self.min_items = item, min_items

    def check(self, value, path, ck):
        if not isinstance(value, list):
            ck.error(path, f"expected a list, found {_typename(value)}")
            return None
        if len(value) < self.min_items:
            ck.error(path, f"expected at least {self.min_items} item(s)")
            return None
        out = [self.item.check(v, f"{path}[{i}]", ck) for i, v in enumerate(value)]
        return None if any(o is None for o in out) else out


class MapOf(Spec):
    """A mapping with free keys (matching ``key_pattern``) and uniform values."""

    def __init__(self, item: Spec, key_pattern: re.Pattern | None = ID_PATTERN, what="a key"):
        self.item, self.key_pattern, self.what = item, key_pattern, what

    def child(self, key):
        ok = isinstance(key, str) and (self.key_pattern is None or self.key_pattern.match(key))
        return self.item if ok else None

    def check(self, value, path, ck):
        if not isinstance(value, dict):
            ck.error(path, f"expected a mapping, found {_typename(value)}")
            return None
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if not isinstance(k, str) or (self.key_pattern and not self.key_pattern.match(k)):
                ck.error(sub, f"expected {self.what}, found {k!r}")
                continue
            out[k] = self.item.check(v, sub, ck)
        return out


class Fields(Spec):
    """A mapping with a fixed set of keys; unknown keys are errors.

    ``fields`` maps key -> spec; ``required`` names the keys that must be present.
    """

    def __init__(self, fields: dict[str, Spec], required=(), what: str = "this mapping"):
        self.fields, self.required, self.what = fields, set(required), what

    def child(self, key):
        return self.fields.get(key) if isinstance(key, str) else None

    def check(self, value, path, ck):
        if not isinstance(value, dict):
            ck.error(path, f"expected a mapping, found {_typename(value)}")
            return None
        out = {}
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            spec = self.fields.get(k) if isinstance(k, str) else None
            if spec is None:
                allowed = ", ".join(sorted(self.fields))
                ck.error(sub, f"unknown key; {self.what} allows: {allowed}")
                continue
            out[k] = spec.check(v, sub, ck)
        for k in sorted(self.required - set(value)):
            ck.error(f"{path}.{k}" if path else k, "required key is missing")
        return out


def check_field(spec: Spec, checked: dict, path: str, value, ck: Checker, where: str = "") -> dict | None:
    """``checked`` with the field at dotted ``path`` set to ``value``, checked on its own.

    ``checked`` is what ``spec.check`` returned for a document without errors. Changing one
    field of it then needs only that field's check, which records the same errors (same field
    names) as checking the whole changed document: a sweep axis over a server field is checked
    this way once per value instead of re-checking the whole server. Returns None when the field
    cannot be checked apart from the rest: a mapping along the path is missing (creating it
    needs its required keys checked) or a spec along it checks its keys together. ``where`` is
    the path of ``checked`` inside the document, for error messages.
    """
    key, _, rest = path.partition(".")
    sub = spec.child(key)
    if sub is None or not isinstance(checked, dict):
        return None
    here = f"{where}.{key}" if where else key
    if rest:
        changed = check_field(sub, checked.get(key), rest, value, ck, here)
        if changed is None:
            return None
    else:
        changed = sub.check(value, here, ck)
    return checked | {key: changed}
