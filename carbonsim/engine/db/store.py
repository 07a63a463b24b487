"""Find, load and check files of the hardware database.

The shipped database lives inside the installed package; a user database (``--db DIR`` or
the ``CARBONSIM_DB`` environment variable, several joined by ``os.pathsep``) is layered on top:
an entry with the same kind and id overrides the shipped one, and its ``sources.yaml`` adds to
the bibliography.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from carbonsim.engine.db.kinds import KINDS, SOURCE_ENTRY
from carbonsim.engine.db.schema import ID_PATTERN, Checker, MapOf
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.errors import InputError

#: Kind directories and the singular word used in messages.
KIND_WORD = {
    "gpus": "GPU",
    "cpus": "CPU",
    "servers": "server",
    "coefficients": "coefficient set",
    "logic": "logic node table",
    "fab_ci": "fab intensity table",
    "grid": "grid source table",
    "regions": "region table",
    "trajectories": "grid trajectory",
    "models": "LLM model",
    "perf": "performance calibration",
    "power": "power calibration",
    "traces": "grid trace",
    "generations": "generation table",
    "training": "training-run table",
    "api_models": "API model",
}
#: Kinds stored as CSV tables rather than YAML (each read by its own reader).
CSV_KINDS = ("traces",)


@functools.lru_cache(maxsize=1)
def shipped_database_dir() -> Path:
    """Directory of the database that ships with carbonsim."""
    package = Path(__file__).resolve().parents[2]  # carbonsim/engine/db/store.py -> carbonsim/
    installed = package / "hardware_db"
    if installed.is_dir():
        return installed
    return package.parent / "hardware_db"


class Database:
    """A stack of database directories; later directories override earlier ones.

    Parameters
    ----------
    dirs : list of path
        Database roots, lowest priority first. Each may hold ``gpus/``, ``cpus/``,
        ``servers/``, ``coefficients/``, ``logic/``, ``fab_ci/``, ``grid/`` and ``sources.yaml``.
    """

    def __init__(self, dirs):
        self.dirs = [Path(d) for d in dirs]
        for d in self.dirs:
            if not d.is_dir():
                raise InputError("database directory not found", file=d)
        self._stamps: dict[Path, tuple] = {}
        self._index = self._build_index()
        self._cache: dict[tuple[str, str], dict] = {}
        self._sources: dict | None = None
        self._source_errors: list[InputError] = []
        self._regions: dict | None = None
        self._memo: dict = {}
        self._read: set[Path] = set()

    # -- discovery ---------------------------------------------------------------------------
    def _build_index(self) -> dict[str, dict[str, Path]]:
        index: dict[str, dict[str, Path]] = {k: {} for k in (*KINDS, *CSV_KINDS)}
        for root in self.dirs:
            self.stamp(root)
            for kind in index:
                sub = root / kind
                if not sub.is_dir():
                    continue
                self.stamp(sub)
                for path in sorted(sub.glob("*.csv" if kind in CSV_KINDS else "*.yaml")):
                    index[kind][path.stem] = path
        return index

    # -- freshness -------------------------------------------------------------------------------
    def stamp(self, path: Path) -> None:
        """Remember what ``path`` was when read (folders: when listed), for :meth:`fresh`; a reader
        that parses a database file outside :meth:`get` (and keeps the result) stamps it too."""
        try:
            st = os.stat(path)
            self._stamps[Path(path)] = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            self._stamps[Path(path)] = None

    def fresh(self) -> bool:
        """Whether nothing this database listed or read has changed since: no folder gained or lost
        a file (folder modification times) and no file read was edited (modification time, size,
        inode). Files not read yet are read when first needed, so they cannot be stale."""
        for path, stamp in list(self._stamps.items()):
            try:
                st = os.stat(path)
            except OSError:
                if stamp is not None:
                    return False
                continue
            if stamp != (st.st_mtime_ns, st.st_size, st.st_ino):
                return False
        return True

    def ids(self, kind: str) -> list[str]:
        """Sorted ids of one kind."""
        self._check_kind(kind)
        return sorted(self._index[kind])

    def has(self, kind: str, part_id: str) -> bool:
        return part_id in self._index.get(kind, {})

    def path(self, kind: str, part_id: str) -> Path:
        """Path of an entry; :class:`InputError` naming the known ids when absent."""
        self._check_kind(kind)
        try:
            path = self._index[kind][part_id]
        except KeyError:
            known = ", ".join(self.ids(kind)) or "none"
            raise InputError(f"unknown {KIND_WORD[kind]} {part_id!r}; known: {known}") from None
        self._read.add(path)  # every entry is read through its path: what a result used (files_used)
        return path

    def layer(self, path) -> int:
        """Index of the database directory ``path`` lies in (0 = the shipped one)."""
        path = Path(path).resolve()
        for i, root in enumerate(self.dirs):
            if path.is_relative_to(root.resolve()):
                return i
        return len(self.dirs)

    @staticmethod
    def _check_kind(kind: str) -> None:
        if kind not in KINDS and kind not in CSV_KINDS:
            raise InputError(f"unknown kind {kind!r}; kinds are: {', '.join((*KINDS, *CSV_KINDS))}")

    # -- sources ---------------------------------------------------------------------------------
    def sources(self) -> dict[str, dict]:
        """The merged bibliography (``sources.yaml`` of every layer)."""
        if self._sources is None:
            merged: dict[str, dict] = {}
            errors: list[InputError] = []
            for root in self.dirs:
                path = root / "sources.yaml"
                self.stamp(path)
                if not path.exists():
                    continue
                self._read.add(path)
                try:
                    raw = load_yaml(path)
                except InputError as exc:
                    errors.append(exc)
                    continue
                if raw is None:
                    continue
                ck = Checker(path)
                out = MapOf(SOURCE_ENTRY, ID_PATTERN, "a source id").check(raw, "", ck)
                errors.extend(ck.errors)
                if out:
                    merged.update({k: v for k, v in out.items() if v is not None})
            self._sources, self._source_errors = merged, errors
        return self._sources

    # -- loading ---------------------------------------------------------------------------------
    def check_file(self, kind: str, path: Path) -> tuple[dict | None, list[InputError]]:
        """Validate one file of ``kind``; return (normalised content, problems)."""
        sources = set(self.sources())
        try:
            raw = load_yaml(path)
        except InputError as exc:
            return None, [exc]
        ck = Checker(path, sources=sources)
        if not ID_PATTERN.match(path.stem):
            ck.error("", f"file name {path.name!r} is not a valid id (lower case, digits, '.', '-', '_')")
        if not isinstance(raw, dict):
            ck.error("", "expected a mapping at the top of the file")
            return None, ck.errors
        if isinstance(raw.get("source"), str):
            ck.default_source = raw["source"]
        out = KINDS[kind].check(raw, "", ck)
        return out, ck.errors

    def check_document(self, kind: str, raw, path) -> dict:
        """Validate an edited document of ``kind`` (a file's content with ``--set`` overrides
        applied) exactly as the file itself is validated; raise the first problem."""
        ck = Checker(path, sources=set(self.sources()))
        if not isinstance(raw, dict):
            ck.error("", "expected a mapping at the top of the file")
        elif isinstance(raw.get("source"), str):
            ck.default_source = raw["source"]
        out = KINDS[kind].check(raw, "", ck) if isinstance(raw, dict) else None
        ck.raise_if_errors()
        return out

    def get(self, kind: str, part_id: str) -> dict:
        """Load and validate one entry; raise :class:`InputError` on the first problem."""
        key = (kind, part_id)
        if key not in self._cache:
            path = self.path(kind, part_id)
            self.stamp(path)
            out, errors = self.check_file(kind, path)
            if errors:
                raise errors[0] if len(errors) == 1 else _many(errors)
            out["_path"] = str(path)
            out["_id"] = part_id
            self._cache[key] = out
            self._read.add(path)
        return self._cache[key]

    def memo(self, key, build):
        """``build()`` once per database: objects derived from entries (fitted priors, indexes)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def regions(self) -> dict[str, tuple[str, dict]]:
        """Every region id -> (region table id, entry), across tables; a layer above overrides."""
        if self._regions is None:
            tables = sorted(self.ids("regions"), key=lambda t: (self.layer(self.path("regions", t)), t))
            out: dict[str, tuple[str, dict]] = {}
            for t in tables:
                for rid, entry in (self.get("regions", t).get("regions") or {}).items():
                    out[rid] = (t, entry)
            self._regions = out
        return self._regions

    def trace(self, trace_id: str):
        """The grid trace ``trace_id`` (``traces/<id>.csv``), read and validated once."""
        key = ("traces", trace_id)
        if key not in self._cache:
            from carbonsim.engine.readers.traces import read_trace_csv

            self.stamp(self.path("traces", trace_id))
            self._cache[key] = read_trace_csv(self.path("traces", trace_id))
            self._read.add(self.path("traces", trace_id))
        return self._cache[key]

    def files_used(self) -> dict[str, str]:
        """Every database file read so far, as ``layer/kind/file`` (layer 0 is the shipped
        database, 1... the ``--db`` folders in order) -> its SHA-256: what a result rests on."""
        import hashlib

        out = {}
        for path in sorted(self._read, key=lambda p: (self.layer(p), str(p))):
            i = self.layer(path)
            rel = path.resolve().relative_to(self.dirs[i].resolve()) if i < len(self.dirs) else path
            out[f"{i}/{rel.as_posix()}"] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out

    # -- checking everything ------------------------------------------------------------------------
    def check(self) -> tuple[int, list[InputError]]:
        """Validate every file and every cross-reference.

        Returns
        -------
        n_files : int
            Number of files checked.
        problems : list of InputError
            Every problem found, in file order.
        """
        from carbonsim.engine.db.references import check_references

        self._sources = None
        self.sources()
        problems = list(self._source_errors)
        n_files = sum(1 for root in self.dirs if (root / "sources.yaml").exists())
        loaded: dict[tuple[str, str], dict] = {}
        for root in self.dirs:
            for kind in KINDS:
                sub = root / kind
                if not sub.is_dir():
                    continue
                for path in sorted(sub.glob("*.yaml")):
                    n_files += 1
                    out, errors = self.check_file(kind, path)
                    problems.extend(errors)
                    if out is not None and not errors and self._index[kind].get(path.stem) == path:
                        out["_path"] = str(path)
                        out["_id"] = path.stem
                        loaded[(kind, path.stem)] = out
            for kind in CSV_KINDS:
                for path in sorted((root / kind).glob("*.csv")) if (root / kind).is_dir() else []:
                    n_files += 1
                    try:
                        from carbonsim.engine.readers.traces import read_trace_csv

                        read_trace_csv(path)
                    except InputError as exc:
                        problems.append(exc)
            for extra in sorted(root.glob("*/*.yml")):
                problems.append(InputError("use the .yaml extension; .yml files are ignored", file=extra))
            problems.extend(_unknown_folders(root))
        problems.extend(check_references(self, loaded))
        return n_files, problems


def _unknown_folders(root: Path) -> list[InputError]:
    """A folder of a database that is not a kind (``gpu/`` for ``gpus/``): its files would be
    silently ignored, so ``db check`` reports it."""
    import difflib

    kinds = (*KINDS, *CSV_KINDS)
    out = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if sub.name in kinds:
            continue
        close = difflib.get_close_matches(sub.name, kinds, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}/?" if close else f"; kinds are: {', '.join(kinds)}"
        n = sum(1 for p in sub.rglob("*") if p.is_file())
        out.append(InputError(f"not a kind of the database, so its {n} file{'s' if n != 1 else ''} "
                              f"{'are' if n != 1 else 'is'} never read{hint}", file=sub))
    return out


def _many(errors):
    from carbonsim.errors import InputErrors

    return InputErrors(errors)


def database_dirs(user_dirs=()) -> list[Path]:
    """Shipped directory, then ``CARBONSIM_DB`` entries, then ``user_dirs``."""
    dirs = [shipped_database_dir()]
    env = os.environ.get("CARBONSIM_DB", "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    dirs += [Path(p) for p in user_dirs]
    return dirs


def default_database(user_dirs=()) -> Database:
    """The shipped database with the user's layers on top (a new one, read as needed)."""
    return Database(database_dirs(user_dirs))


#: Databases kept by :func:`load_database`, by their layers (at most :data:`KEEP` of them).
_LOADED: dict[tuple[str, ...], Database] = {}
KEEP = 8


def load_database(user_dirs=()) -> Database:
    """The shipped database with the user's layers on top, reused while nothing in it changed.

    The Python API calls this for every call: a database is keyed by its layers (the shipped
    folder, ``CARBONSIM_DB``, ``user_dirs``; resolved paths) and reused as long as
    :meth:`Database.fresh` holds (no file it read was edited, no folder gained or lost a file);
    otherwise it is read again. Entries already parsed are not parsed again, so a loop of calls
    costs the evaluation, not the YAML.
    """
    dirs = database_dirs(user_dirs)
    key = tuple(os.path.abspath(d) for d in dirs)
    db = _LOADED.get(key)
    if db is None or not db.fresh():
        db = Database(dirs)
        _LOADED.pop(key, None)
        while len(_LOADED) >= KEEP:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = db
    return db
