"""Matching free-text part names (a spreadsheet's or CodeCarbon's ``cpu_model``, ``gpu_model``)
to database ids (layer 2).

A name is normalised by: lower case; drop ``(r)``, ``(tm)``, ``®``, ``™``, ``@`` and clock
speeds (``2.50GHz``) and core counts (``64-Core``); for CPUs also drop the words ``processor`` and ``cpu``; split into
alphanumeric tokens. It matches a database part when its tokens equal, as a set, the tokens of
the part's id or of its ``name``, first as written and then with the brand words ``nvidia``,
``amd``, ``intel`` and ``tesla`` removed from both sides. The match must be unique. So
``AMD EPYC 7713``, ``epyc-7713`` and ``AMD EPYC 7713 2.0GHz`` all give ``amd-epyc-7713``, and
``NVIDIA A100-SXM4-80GB`` or ``A100 SXM4 80GB`` give ``nvidia-a100-sxm4-80gb``.
"""

from __future__ import annotations

import re

# trademarks, clock speeds and core counts ("AMD EPYC 7V12 64-Core Processor", as CPU-info tools
# such as CodeCarbon's report it) say nothing about which part it is
_NOISE = re.compile(r"\(r\)|\(tm\)|®|™|@|\b\d+(\.\d+)?\s*[gm]hz\b|\b\d+[- ]cores?\b")
_BRANDS = {"nvidia", "amd", "intel", "tesla"}
_CPU_WORDS = {"processor", "cpu"}


def name_tokens(text: str, kind: str = "cpus") -> frozenset:
    """Tokens of a part name under the matching rule (see the module docstring)."""
    t = _NOISE.sub(" ", text.lower())
    toks = [w for w in re.split(r"[^a-z0-9]+", t) if w]
    if kind == "cpus":
        toks = [w for w in toks if w not in _CPU_WORDS]
    return frozenset(toks)


class PartMatcher:
    """Match free-text part names to database ids of one kind (``cpus`` or ``gpus``)."""

    def __init__(self, db, kind: str):
        self.kind = kind
        self._keys: list[tuple[str, frozenset, frozenset]] = []
        for pid in db.ids(kind):
            name = db.get(kind, pid).get("name", pid)
            for toks in (name_tokens(pid, kind), name_tokens(str(name), kind)):
                self._keys.append((pid, toks, toks - _BRANDS))
        self._cache: dict[str, tuple[str | None, list[str]]] = {}

    def match(self, text: str) -> tuple[str | None, list[str]]:
        """``(id, [])`` for a unique match, ``(None, candidates)`` otherwise."""
        if text in self._cache:
            return self._cache[text]
        toks = name_tokens(text, self.kind)
        found = sorted({pid for pid, k, _ in self._keys if k == toks})
        if not found:
            bare = toks - _BRANDS
            found = sorted({pid for pid, _, k in self._keys if bare and k == bare})
        result = (found[0], []) if len(found) == 1 else (None, found)
        self._cache[text] = result
        return result


# ------------------------------------------------------------------------------------------------
# Priors
