"""Safe YAML reading for user and database files.

Only plain data is built (no Python objects). Anchors and aliases are refused, so a file
cannot expand into billions of nodes ("billion laughs"); duplicate keys are refused because
YAML silently keeps the last one, which hides typos in hand-written specs. The loaders are in
:mod:`~carbonsim.engine.readers.yaml_loaders`; texts parsed before come back from
:mod:`~carbonsim.engine.readers.parsed_cache`.
"""

from __future__ import annotations

from pathlib import Path

from carbonsim.engine.readers import parsed_cache
from carbonsim.engine.readers.text import read_text
from carbonsim.errors import InputError


def _describe(exc) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem


_TOO_DEEP = "YAML nested too deeply (a spec is a few levels deep)"


def loads_yaml(text: str, file: str | Path = "<string>"):
    """Parse YAML text strictly; raise :class:`InputError` naming ``file`` on any problem.

    A text parsed before is read back from the parsed cache
    (:mod:`~carbonsim.engine.readers.parsed_cache`); only texts that parsed are kept there."""
    doc = parsed_cache.lookup(text)
    if doc is not None:
        return doc
    doc = _parse(text, file)
    parsed_cache.store(text, doc)
    return doc


def _parse(text: str, file):
    import yaml

    from carbonsim.engine.readers.yaml_loaders import PlainLoader, StrictLoader

    try:
        plain = "&" not in text and "*" not in text  # no anchor or alias can be written without them
        return yaml.load(text, Loader=PlainLoader if plain else StrictLoader)  # noqa: S506 - strict safe loaders
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
