"""Matching free-text part names (a spreadsheet's or CodeCarbon's ``cpu_model``, ``gpu_model``)
to database ids (layer 2).

A name is normalised by: lower case; drop ``(r)``, ``(tm)``, ``®``, ``™``, ``@`` and clock
speeds (``2.50GHz``) and core counts (``64-Core``); for CPUs also drop the words ``processor`` and ``cpu``; split into
alphanumeric tokens. It matches a database part when its tokens equal, as a set, the tokens of
the part's id, of its ``name`` or of one of its ``aliases`` (the names drivers report, such as
``NVIDIA H100 80GB HBM3`` for the H100 SXM5), first as written and then with the brand words ``nvidia``,
``amd``, ``intel`` and ``tesla`` removed from both sides. The match must be unique. So
``AMD EPYC 7713``, ``epyc-7713`` and ``AMD EPYC 7713 2.0GHz`` all give ``amd-epyc-7713``, and
``NVIDIA A100-SXM4-80GB`` or ``A100 SXM4 80GB`` give ``nvidia-a100-sxm4-80gb``.
"""

from __future__ import annotations

import itertools
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


def part_names(db, kind: str, pid: str) -> list[str]:
    """The texts a part is matched by: its id, its name and its aliases."""
    entry = db.get(kind, pid)
    return [pid, str(entry.get("name", pid))] + [str(a) for a in entry.get("aliases") or []]


def name_collisions(db, kind: str) -> list[tuple[str, str, str, str]]:
    """``(part, text, other part, other text)`` for every alias whose tokens equal those of
    another part's id, name or alias (as written, or with brand words removed): such an alias
    would make a name match two parts."""
    keys = []
    for pid in db.ids(kind):
        for i, text in enumerate(part_names(db, kind, pid)):
            toks = name_tokens(text, kind)
            keys.append((pid, text, i >= 2, toks, toks - _BRANDS))
    out = []
    for (p, t, alias, full, bare), (q, u, alias2, full2, bare2) in itertools.combinations(keys, 2):
        if p != q and (alias or alias2) and (full == full2 or (bare and bare == bare2)):
            out.append((p, t, q, u) if alias else (q, u, p, t))
    return out


class PartMatcher:
    """Match free-text part names to database ids of one kind (``cpus`` or ``gpus``)."""

    def __init__(self, db, kind: str):
        self.kind = kind
        self._keys: list[tuple[str, frozenset, frozenset]] = []
        for pid in db.ids(kind):
            for text in part_names(db, kind, pid):
                toks = name_tokens(text, kind)
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
