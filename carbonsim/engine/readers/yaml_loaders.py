"""The strict YAML loaders :mod:`~carbonsim.engine.readers.yamlfile` parses with (imported only
when a text is not in the parsed cache: PyYAML itself takes 17 ms to import)."""

from __future__ import annotations

import re

import yaml

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


class PlainLoader(_NoDuplicates, _PlainBase):
    """The strict loader for text that has no ``&`` or ``*`` at all."""


class StrictLoader(_NoDuplicates, _Base):
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
for _loader in {StrictLoader, PlainLoader}:
    _loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
