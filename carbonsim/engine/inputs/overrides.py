"""``--set PATH=VALUE`` overrides: change one field of a loaded YAML document by dotted path."""

from __future__ import annotations

from carbonsim.engine.readers.yamlfile import loads_yaml
from carbonsim.errors import InputError


def parse_assignment(text: str) -> tuple[str, object]:
    """Split ``"host.dram.gb=512"`` into ``("host.dram.gb", 512)``; the value is read as YAML."""
    if "=" not in text:
        raise InputError(f"--set expects PATH=VALUE, found {text!r}")
    path, _, value = text.partition("=")
    path = path.strip()
    if not path or any(not part for part in path.split(".")):
        raise InputError(f"--set has an empty path in {text!r}")
    return path, loads_yaml(value, file=f"--set {path}")


def set_path(document: dict, path: str, value, file: str | None = None) -> dict:
    """A copy of ``document`` with the field at dotted ``path`` set to ``value``.

    Only the mappings along ``path`` are copied; the rest is shared with ``document``, which is
    left unchanged (documents are never modified in place). Intermediate mappings are created
    where missing; the document's own schema check then decides whether the field is allowed.
    """
    doc = dict(document) if document is not None else {}
    if not isinstance(document, (dict, type(None))):
        raise InputError("cannot apply --set: the document is not a mapping", file=file)
    node = doc
    parts = path.split(".")
    for i, key in enumerate(parts[:-1]):
        child = node.get(key)
        if child is None:
            child = {}
        if not isinstance(child, dict):
            raise InputError(f"cannot set {path!r}: {'.'.join(parts[: i + 1])!r} is not a mapping",
                             file=file, field=path)
        node[key] = child = dict(child)
        node = child
    node[parts[-1]] = value
    return doc


#: Scenario fields that name a database entry; ``head.rest`` paths below an id override a field
#: inside that entry and are kept in ``_<head>_overrides``.
ENTRY_FIELDS = ("server", "coefficients", "model")


def set_scenario_path(doc: dict, path: str, value, file: str | None = None) -> dict:
    """``doc`` (a scenario) with the field at ``path`` set; ``server.host.dram.gb`` on a scenario
    whose ``server`` is an id becomes an override of that server's field, and
    ``sweep.product.workload.batch_size`` sets the values of the axis ``workload.batch_size``
    (axis names hold dots of their own)."""
    for block in ("sweep.product.", "sweep.zip."):
        if path.startswith(block) and len(path) > len(block):
            sweep = doc.get("sweep")
            sweep = dict(sweep) if isinstance(sweep, dict) else {}
            axes = sweep.get(block[6:-1])
            sweep[block[6:-1]] = (dict(axes) if isinstance(axes, dict) else {}) | {path[len(block):]: value}
            return dict(doc) | {"sweep": sweep}
    head, _, rest = path.partition(".")
    if head in ENTRY_FIELDS and rest and not isinstance(doc.get(head), dict):
        out = dict(doc)
        over = dict(out.get(f"_{head}_overrides") or {})
        over[rest] = value
        out[f"_{head}_overrides"] = over
        return out
    return set_path(doc, path, value, file=file)


def apply_overrides(document: dict, overrides: dict[str, object] | None, file: str | None = None) -> dict:
    """Apply several ``path -> value`` overrides in order."""
    for path, value in (overrides or {}).items():
        document = set_path(document, path, value, file=file)
    return document


def split_sets(assignments) -> tuple[dict, dict]:
    """``--set`` texts of a server command into (server overrides, coefficient overrides).

    Raises
    ------
    OptionError
        A path that starts with neither ``server.`` nor ``coefficients.``.
    """
    from carbonsim.errors import OptionError

    server, coeffs = {}, {}
    for text in assignments:
        path, value = parse_assignment(text)
        head, _, rest = path.partition(".")
        if head == "server" and rest:
            server[rest] = value
        elif head == "coefficients" and rest:
            coeffs[rest] = value
        else:
            raise OptionError(f"the path must start with 'server.' or 'coefficients.', found {path!r}", "set")
    return server, coeffs
