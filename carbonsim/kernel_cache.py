"""Numba's on-disk cache of carbonsim's kernels, made to follow the modules a kernel imports.

Numba (``@njit(cache=True)``) keeps a compiled kernel beside its source file and reuses it while the
*kernel's own file* is unchanged (its index stores a hash of that file, or its time and size in
older releases) and the kernel's bytecode is the same. Constants and ``@njit`` helpers a kernel
imports from other modules are compiled into it, yet changing them does not invalidate it: after
``models/perf/layout.py`` changed its column order, a serving kernel compiled against the old layout
was loaded again and divided by the wrong column.

:func:`install` puts a cache locator in front of Numba's own for carbonsim's files. It finds the
cache where Numba would (``NUMBA_CACHE_DIR``, the package's ``__pycache__``, the user-wide cache)
and adds to Numba's freshness stamp a hash of every carbonsim module the file imports, directly or
through other carbonsim modules (read from their ``import`` statements). A change to any of them
makes the stored kernels stale, and Numba compiles again and overwrites them. Files outside
carbonsim keep Numba's own behaviour. ``carbonsim.models`` installs it before any kernel is
defined. A user who sets ``NUMBA_CACHE_LOCATOR_CLASSES`` chooses Numba's locators and loses this.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
PACKAGE = PACKAGE_ROOT.name


def _module_file(name: str) -> Path | None:
    """The source file of a carbonsim module (a package's ``__init__.py``), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _module_name(path: Path) -> str:
    rel = path.resolve().relative_to(PACKAGE_ROOT).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level_imports(body):
    """Import statements executed when the module loads (not those inside functions or classes)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in (getattr(node, "body", []), getattr(node, "orelse", []), getattr(node, "finalbody", []),
                          *[h.body for h in getattr(node, "handlers", [])]):
                yield from _module_level_imports(block)


def imported_modules(path: Path) -> set[Path]:
    """The carbonsim source files whose names ``path`` imports when it loads (:func:`_imports`,
    parsed once per process and file version: every kernel's cache lookup asks, 77 in an online
    sweep, and parsing each time cost 3 s a run)."""
    st = path.stat()
    return set(_imports(path, st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=None)
def _imports(path: Path, mtime_ns: int, size: int) -> frozenset[Path]:
    """The carbonsim source files whose names ``path`` imports when it loads.

    ``from carbonsim.a import b`` depends on ``carbonsim/a/b.py`` where ``b`` is a submodule and
    otherwise on the module that defines ``b`` (``carbonsim/a.py`` or ``carbonsim/a/__init__.py``);
    ``import carbonsim.a.b`` on ``carbonsim/a/b.py``. A package's ``__init__`` that only runs on the
    way to a submodule is not a dependency: a kernel compiles in names, not side effects. Relative
    imports are resolved against ``path``. Imports inside functions run later and are left out.
    """
    tree = ast.parse(path.read_bytes(), filename=str(path))
    here = _module_name(path).split(".")
    is_package = path.name == "__init__.py"
    out: set[Path] = set()
    for node in _module_level_imports(tree.body):
        if isinstance(node, ast.Import):
            found = [_module_file(a.name) for a in node.names]
        else:
            if node.level:
                anchor = here if is_package else here[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found = []
            for a in node.names:
                sub = _module_file(f"{mod}.{a.name}")
                found.append(sub if sub is not None else _module_file(mod))
        out.update(f for f in found if f is not None)
    out.discard(path)
    return frozenset(out)


def dependency_closure(path: Path) -> list[Path]:
    """``path`` and every carbonsim source file it imports, directly or through others, sorted."""
    seen = {path.resolve()}
    todo = [path.resolve()]
    while todo:
        for dep in imported_modules(todo.pop()):
            dep = dep.resolve()
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _sources_hash(files: tuple[tuple[Path, int, int], ...]) -> str:
    h = hashlib.sha256()
    for f, _, _ in files:
        h.update(f.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def dependency_stamp(path: str | Path) -> str:
    """SHA-256 over the sources of ``path`` and of every carbonsim module it imports (transitively).

    Memoised on the files' times and sizes, so a file changed within a process is read again."""
    files = tuple((f, f.stat().st_mtime_ns, f.stat().st_size) for f in dependency_closure(Path(path)))
    return _sources_hash(files)


def _is_ours(py_file: str) -> bool:
    try:
        Path(py_file).resolve().relative_to(PACKAGE_ROOT)
    except (ValueError, OSError):
        return False
    return Path(py_file).is_file()


def _dependency_aware(base: type) -> type:
    """A subclass of one of Numba's cache locators: the same cache folder and file names, for
    carbonsim's files only, with the dependency stamp added to Numba's own."""

    class Locator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if not _is_ours(py_file):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return (super().get_source_stamp(), dependency_stamp(self._py_file))

    Locator.__name__ = Locator.__qualname__ = f"CarbonsimDependencies{base.__name__}"
    return Locator


def _impl_class():
    from numba.core import caching

    # CacheImpl in recent Numba (0.68), _CacheImpl in older releases
    return getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")


def install() -> bool:
    """Put the dependency-aware locators in front of Numba's (once per process).

    Returns whether they are in place. Numba's file-backed locators (a user's ``NUMBA_CACHE_DIR``,
    the in-tree ``__pycache__``, the user-wide cache) are each wrapped, in Numba's own order."""
    try:
        impl = _impl_class()
        classes = impl._locator_classes
    except (ImportError, AttributeError):  # a Numba without this hook: its own behaviour
        return False
    if any(getattr(c, "_carbonsim", False) for c in classes):
        return True
    from numba.core import caching

    file_backed = getattr(caching, "_SourceFileBackedLocatorMixin", ())
    ours = []
    for c in classes:
        if file_backed and issubclass(c, file_backed):
            w = _dependency_aware(c)
            w._carbonsim = True
            ours.append(w)
    impl._locator_classes = ours + list(classes)
    return bool(ours)

