"""Safe YAML reading for user and database files.

Only plain data is built (no Python objects). Anchors and aliases are refused, so a file
cannot expand into billions of nodes ("billion laughs"); duplicate keys are refused because
YAML silently keeps the last one, which hides typos in hand-written specs.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from carbonsim.errors import InputError
from carbonsim.engine.readers.text import read_text



try:  # libyaml's C parser, five times faster; the composer and constructor stay in Python
    from yaml.cyaml import CParser as _Parser

    class _Base(yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, stream):
            _Parser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    class _PlainBase(_Parser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        """libyaml's parser and composer: for text without ``&`` or ``*``, which can hold no
        anchor or alias (the Python composer below is needed only to refuse those)."""

        def __init__(self, stream):
            _Parser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
except ImportError:  # PyYAML built without libyaml
    _Base = _PlainBase = yaml.SafeLoader


class _NoDuplicates:
    """Refuses duplicate and non-scalar mapping keys (a constructor mix-in)."""

    def construct_mapping(self, node, deep=False):  # noqa: D102 - PyYAML hook
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (list, dict)):
                raise yaml.constructor.ConstructorError(
                    None, None, "mapping keys must be plain scalars", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


class _PlainLoader(_NoDuplicates, _PlainBase):
    """The strict loader for text that has no ``&`` or ``*`` at all."""


class _StrictLoader(_NoDuplicates, _Base):
    """A safe loader that refuses aliases and duplicate keys."""

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed", event.start_mark
            )
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"YAML anchors (&{anchor}) are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


# YAML 1.1 (PyYAML) reads 1e3 as text because its float pattern needs a dot; people write
# 1e3 and mean a number.
for _loader in {_StrictLoader, _PlainLoader}:
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )


def _describe(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem


_TOO_DEEP = "YAML nested too deeply (a spec is a few levels deep)"


def loads_yaml(text: str, file: str | Path = "<string>"):
    """Parse YAML text strictly; raise :class:`InputError` naming ``file`` on any problem."""
    try:
        plain = "&" not in text and "*" not in text  # no anchor or alias can be written without them
        return yaml.load(text, Loader=_PlainLoader if plain else _StrictLoader)  # noqa: S506 - strict safe loaders
    except yaml.YAMLError as exc:
        # libyaml's own depth limit (newer builds) and Python's recursion limit are the
        # same problem to the user.
        if "nesting depth" in str(exc):
            raise InputError(_TOO_DEEP, file=file) from None
        raise InputError(f"malformed YAML: {_describe(exc)}", file=file) from None
    except RecursionError:
        raise InputError(_TOO_DEEP, file=file) from None


def load_yaml(path: str | Path, kind: str = "database"):
    """Read and parse one YAML file strictly.

    Parameters
    ----------
    path : path
    kind : str
        What the file is, for its size limit (:data:`carbonsim.engine.readers.text.LIMITS`):
        ``scenario``, ``server``, ``budget`` or ``database``.

    Raises
    ------
    InputError
        The file is missing, unreadable, not a regular file, too large, not UTF-8 or not valid
        YAML.
    """
    text = read_text(path, "YAML", kind)
    return loads_yaml(text, file=path)
