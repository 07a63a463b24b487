"""Parsed YAML documents kept on disk between runs, keyed by the text itself.

Parsing YAML is most of what a short command does after Python has started: the main job reads
36 files (its server and parts, the coefficient set, ``sources.yaml``, the shipped servers the
plausibility warnings compare with), 70-80 ms of parsing against 4 ms to read them back from here
(docs/performance.md). A document is stored under the SHA-256 of its text together with
:data:`RULES` (what decides a parse: this module's format, the strict loader's rules, Python's
version for ``marshal``), so a changed file, a changed rule or another Python simply misses.
Only documents that parsed without error are stored: a bad file is parsed, and refused, every
time.

Where: ``$CARBONSIM_CACHE_DIR`` if set (empty or ``off`` turns the cache off), else
``$XDG_CACHE_HOME/carbonsim/yaml``, else ``~/.cache/carbonsim/yaml``. The folder is created
private (mode 0700) and used only while it belongs to this user and nobody else can write to it;
each file carries a SHA-256 of its content, checked before it is read. A file is written under
a temporary name and renamed into place, so runs in parallel never see half of one. Any problem
with the folder (read-only, full, someone else's) leaves the cache unused, silently: it can only
make a command faster, never change or stop it. carbonsim writes nothing else there, and nothing
removes the folder but its owner (``carbonsim`` never deletes it; delete it to empty the cache).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path

#: What decides a parse besides the text: bump ``strict-yaml-N`` when the loader's rules change.
RULES = f"carbonsim parsed-yaml 1; strict-yaml 2; python {sys.version_info[0]}.{sys.version_info[1]}"
ENV = "CARBONSIM_CACHE_DIR"
_DIGEST = 32  # bytes of SHA-256 in front of each file's payload

_folder: Path | None | bool = False  # False: not looked up yet


def cache_folder() -> Path | None:
    """The cache folder, created if needed, or None when the cache is off or unusable."""
    global _folder
    if _folder is False:
        _folder = _usable_folder()
    return _folder


def _usable_folder() -> Path | None:
    env = os.environ.get(ENV)
    if env is not None:
        if env.strip().lower() in ("", "off"):
            return None
        folder = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base) / "carbonsim" / "yaml"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
        if not folder.is_dir() or folder.is_symlink():
            return None
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None  # another user's folder, or one others can write to
    except OSError:
        return None
    return folder


def _key(text: str) -> str:
    return hashlib.sha256(RULES.encode() + b"\0" + text.encode("utf-8", "surrogatepass")).hexdigest()


def lookup(text: str):
    """The stored document of ``text``, or None when there is none (or it cannot be read)."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        blob = (folder / _key(text)).read_bytes()
    except OSError:
        return None
    digest, payload = blob[:_DIGEST], blob[_DIGEST:]
    if len(blob) <= _DIGEST or hashlib.sha256(payload).digest() != digest:
        return None
    try:
        return marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return None


def store(text: str, doc) -> None:
    """Keep ``doc``, the parse of ``text`` (plain data only: a document ``marshal`` cannot hold,
    such as one with dates, is not kept)."""
    folder = cache_folder()
    if folder is None or doc is None:
        return
    try:
        payload = marshal.dumps(doc)
    except ValueError:
        return
    name = _key(text)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(hashlib.sha256(payload).digest() + payload)
        os.replace(tmp, folder / name)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
