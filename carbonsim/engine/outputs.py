"""Writing results without losing anyone's data (layer 2).

Rules every writer in carbonsim follows:

- only a **regular file** or a **folder** is written: an existing device, FIFO or socket is
  refused (``--out -``, or a path that is this process's standard output such as
  ``/dev/stdout``, prints to stdout instead: :func:`is_stdout`), and so is a path that is one of
  the command's own inputs (:func:`carbonsim.engine.readers.text.tracking_inputs`);
- a file is written to a temporary name beside its target and renamed into place, so a failure
  leaves no partial file. A new file gets the user's normal permissions (``0o666 & ~umask``); a
  file replaced keeps its permissions (a 0600 file stays 0600);
- an output *folder* (``sweep --out DIR``) is built in a temporary folder beside the target and
  swapped in only when complete. An existing folder is replaced only if carbonsim wrote it (its
  ``meta.json`` names carbonsim and lists every file it wrote) and holds nothing else; an empty
  folder may be used; anything else is refused with an :class:`~carbonsim.errors.InputError`.
  Where the system offers an atomic exchange of two paths (Linux ``renameat2``), there is no
  moment at which neither the old nor the new result exists. The current folder (``--out .``)
  is filled in place when empty (swapping it would leave the user's shell in a removed folder);
  a current folder that holds a result is refused;
- temporaries are named ``.<target>.carbonsim-tmp-<host>-<pid>-<random>``; a run that was
  killed (SIGKILL, a power cut) cannot remove its own, so every later write into the same folder
  removes those older than :data:`STALE_AFTER_S` whose process is gone, and says so
  (:class:`~carbonsim.errors.CleanupWarning`);
- a target that is a symbolic link is followed: the result goes where the link points and the
  link stays;
- a write the system refuses (read-only folder, ``/proc``, a full disk) is an ``InputError``
  naming the path, not an internal error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import warnings
from pathlib import Path

from carbonsim.engine.readers.text import file_type, input_read_as, inputs_read, read_text
from carbonsim.errors import CleanupWarning, InputError

#: File that marks a folder as carbonsim's output; its ``generator`` key is :data:`GENERATOR`.
META_FILE = "meta.json"
GENERATOR = "carbonsim"
#: Files a carbonsim output folder could hold before meta.json listed them (version 0.1).
_LEGACY_FILES = {"meta.json", "points.parquet", "points.csv"} | {
    f"{name}.{ext}" for name in ("edp_cdp_cep_vs_batch", "latency_vs_energy", "embodied_vs_operational",
                                 "embodied_vs_operational_rate") for ext in ("png", "svg")}
#: A temporary is removed by a later run once it is this old [s] and its process is gone.
STALE_AFTER_S = 600.0
#: The mark in a temporary's name; the host tag and process id follow it.
TMP_MARK = "carbonsim-tmp"
_TMP_NAME = re.compile(r"^\..*\." + TMP_MARK + r"-([0-9a-f]{8})-([0-9]+)-")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file under the user's umask."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """Permissions of a new folder under the user's umask."""
    return 0o777 & ~_umask()


def write_error(exc: OSError, path) -> InputError:
    """The one-line error for a write the system refused."""
    why = exc.strerror or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        why = "no space left on the device"
    return InputError(f"cannot write here ({why})", file=str(path))


def resolve_target(path: str | Path) -> Path:
    """Where writing ``path`` puts the data: symbolic links are followed to their target."""
    path = Path(path).expanduser()
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def is_stdout(path: str | Path, fd: int = 1) -> bool:
    """Whether writing ``path`` means printing to standard output: ``-``, or a path that is the
    file, pipe or terminal file descriptor ``fd`` already writes to (``/dev/stdout``,
    ``/proc/self/fd/1``, or the file stdout is redirected to)."""
    if str(path) == "-":
        return True
    try:
        a, b = os.stat(Path(path).expanduser()), os.fstat(fd)
    except (OSError, ValueError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# --------------------------------------------------------------------------------------------
# Temporaries

def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temp_prefix(name: str) -> str:
    """Prefix of a temporary beside ``name``: ``.<name>.carbonsim-tmp-<host>-<pid>-``."""
    return f".{name}.{TMP_MARK}-{_host_tag()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's), or cannot tell: keep
    return True


def _size(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())


def remove_stale_temporaries(folder: str | Path, now: float | None = None) -> list[str]:
    """Remove the temporaries in ``folder`` that killed carbonsim runs left behind.

    A temporary is removed when its name carries this host's tag, its process is gone and it is
    older than :data:`STALE_AFTER_S` (so a run in progress, here or on another machine sharing
    the folder, is never touched). Each removal is a :class:`~carbonsim.errors.CleanupWarning`.

    Returns
    -------
    list of str
        One message per temporary removed.
    """
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    said = []
    for e in entries:
        m = _TMP_NAME.match(e.name)
        if not m or m.group(1) != _host_tag() or int(m.group(2)) == os.getpid() or _alive(int(m.group(2))):
            continue
        path = Path(e.path)
        try:
            st = path.lstat()
            if now - st.st_mtime < STALE_AFTER_S or stat.S_ISLNK(st.st_mode):
                continue
            size = _size(path)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        msg = (f"removed {path} ({size / 1e6:.1f} MB), a temporary of carbonsim process {m.group(2)}, which "
               "ended without removing it")
        warnings.warn(msg, CleanupWarning, stacklevel=2)
        said.append(msg)
    return said


# --------------------------------------------------------------------------------------------
# Files

def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` may receive an output file; return the file to write.

    Raises
    ------
    InputError
        ``path`` is a folder, a device, FIFO or socket, or one of the command's own inputs.
    """
    target = resolve_target(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise write_error(exc, path) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a folder; give a file name", file=str(path))
    what = file_type(st.st_mode)
    if what is not None:
        raise InputError(f"is {what}, not a regular file; carbonsim writes only regular files "
                         f"({option} - prints to stdout)", file=str(path))
    source = input_read_as(st)
    if source is not None:
        same = "" if os.path.abspath(source) == os.path.abspath(path) else f" (read as {source})"
        raise InputError(f"is an input of this command{same}; writing it would replace what was read: choose "
                         f"another {option} file", file=str(path))
    return target


def write_text_atomic(path: str | Path, text: str, option: str = "--out") -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Returns
    -------
    Path
        The file written (the link's target when ``path`` is a symbolic link).

    Raises
    ------
    InputError
        ``path`` is refused by :func:`check_output_file`, or the system refused the write.
    """
    with atomic_file(path, option) as fh:
        fh.write(text)
    return fh.target


class atomic_file:
    """A text file written as it goes into a temporary beside ``path`` and renamed into place when
    the block ends without an error (an error, Ctrl-C or SIGTERM removes the temporary: no partial
    file, and a file it would replace is left as it was). A new file gets the user's normal
    permissions; a file replaced keeps its own (and its owner, where allowed).

    >>> with atomic_file("out.csv") as fh:           # doctest: +SKIP
    ...     for piece in pieces:
    ...         fh.write(piece)

    Raises
    ------
    InputError
        ``path`` is refused by :func:`check_output_file`, or the system refused the write.
    """

    def __init__(self, path: str | Path, option: str = "--out"):
        self.path, self.option = path, option
        self.target = check_output_file(path, option)
        self._fh = self._tmp = self._old = None

    def __enter__(self):
        parent = self.target.parent if str(self.target.parent) else Path(".")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(parent)
            try:
                self._old = os.stat(self.target)
            except FileNotFoundError:
                self._old = None
            fd, self._tmp = tempfile.mkstemp(prefix=temp_prefix(self.target.name), suffix=".tmp", dir=parent)
            self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
        except OSError as exc:
            self._discard()
            raise write_error(exc, self.path) from None
        return self

    def write(self, text: str) -> None:
        try:
            self._fh.write(text)
        except OSError as exc:
            raise write_error(exc, self.path) from None

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:
            self._discard()
            return
        try:
            self._fh.close()
            old = self._old
            os.chmod(self._tmp, file_mode() if old is None else stat.S_IMODE(old.st_mode))
            if old is not None and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                try:  # keep the owner where allowed (root replacing a user's file)
                    os.chown(self._tmp, old.st_uid, old.st_gid)
                except OSError:
                    pass
            check_output_file(self.path, self.option)  # again, just before replacing
            os.replace(self._tmp, self.target)
            self._tmp = None
        except OSError as exc:
            raise write_error(exc, self.path) from None
        finally:
            self._discard()

    def _discard(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
        if self._tmp is not None:
            try:
                os.unlink(self._tmp)
            except OSError:
                pass
            self._tmp = None


# --------------------------------------------------------------------------------------------
# Output folders

def _read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads(read_text(folder / META_FILE, "JSON", "meta", record=False))
    except (OSError, ValueError):  # InputError is a ValueError
        return None
    return meta if isinstance(meta, dict) else None


def _files_under(folder: Path) -> set[str]:
    """Every entry under ``folder`` that is not a real folder (files, links, devices ...)."""
    out = set()
    for p in folder.rglob("*"):
        if not (p.is_dir() and not p.is_symlink()):
            out.add(p.relative_to(folder).as_posix())
    return out


def foreign_files(folder: Path) -> list[str] | None:
    """Files in ``folder`` that carbonsim did not write; ``None`` when it is not a carbonsim output.

    A carbonsim output has a ``meta.json`` whose ``generator`` is ``carbonsim`` and whose
    ``files`` lists what it wrote (outputs of version 0.1 carry ``carbonsim_version`` and
    no list: their possible file names are known). A listed name that is no longer a regular
    file (a link, a FIFO put in its place) is foreign too.
    """
    meta = _read_meta(folder)
    if meta is None:
        return None
    if meta.get("generator") == GENERATOR and isinstance(meta.get("files"), list):
        known = {str(f) for f in meta["files"]} | {META_FILE}
    elif "carbonsim_version" in meta and "generator" not in meta:
        known = _LEGACY_FILES
    else:
        return None
    return sorted(f for f in _files_under(folder)
                  if f not in known or not stat.S_ISREG((folder / f).lstat().st_mode))


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _holds_cwd(target: Path) -> bool:
    """Whether ``target`` is the current folder or one of its parents."""
    try:
        cwd = Path(os.path.realpath(os.getcwd()))
    except OSError:
        return False
    real = _real(target)
    return cwd == real or real in cwd.parents


def _visible(folder: Path) -> list[Path]:
    """The entries of ``folder`` but carbonsim's temporaries."""
    return [p for p in folder.iterdir() if not _TMP_NAME.match(p.name)]


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` may receive a carbonsim output folder; return the folder to write.

    Raises
    ------
    InputError
        ``path`` is a file (or a device, FIFO ...); a non-empty folder carbonsim did not write;
        a carbonsim output that now holds other files too, or one of the command's inputs; a
        result that is (or holds) the current folder.
    """
    if str(path) == "-":
        raise InputError(f"{option} names the results folder; - (stdout) is not a folder: print the best points "
                         "with --format json or csv, or get every point from the Python API "
                         "(carbonsim.sweep(...).points)", field=option)
    target = Path(os.path.abspath(resolve_target(path)))
    if target.exists() and not target.is_dir():
        what = file_type(target.stat().st_mode) or "a file"
        raise InputError(f"exists and is {what}, not a folder; {option} names a folder for the results",
                         file=str(path))
    real = _real(target)
    for source in inputs_read().values():
        if real in _real(Path(source)).parents:
            raise InputError(f"holds {source}, an input of this command; carbonsim would replace the folder: "
                             f"choose another {option} folder", file=str(path))
    if target.is_dir() and _visible(target):
        foreign = foreign_files(target)
        if foreign is None:
            raise InputError(f"folder is not empty and was not written by carbonsim (no carbonsim "
                             f"{META_FILE}); carbonsim replaces only its own results: choose a new or "
                             f"empty {option} folder", file=str(path))
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise InputError(f"holds files carbonsim did not write ({shown}); move them or choose "
                             f"another {option} folder", file=str(path))
        if _holds_cwd(target):
            raise InputError("is the current folder (or holds it) and holds a result; replacing it would leave "
                             f"your shell in a removed folder: run from another folder or give another {option}",
                             file=str(path))
    return target


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


class OutputFolder:
    """A result folder built aside and swapped into place only when complete.

    Use as a context manager: write into :attr:`path`, call :meth:`commit` with the metadata;
    leaving the block without committing (an error, Ctrl-C, SIGTERM) removes the temporary
    folder and leaves any previous result untouched.

    The current folder (``--out .``), when empty, is filled in place instead: the temporary is
    built inside it and its files are moved up, ``meta.json`` last.

    Parameters
    ----------
    target : path
        The folder the user asked for (``--out``); checked by :func:`check_output_folder`.
    """

    def __init__(self, target: str | Path, option: str = "--out"):
        self.requested = Path(target)
        self.option = option
        self.path = None
        probe = Path(os.path.abspath(resolve_target(target))) if str(target) != "-" else None
        if probe is not None:
            remove_stale_temporaries(probe.parent)
            if probe.is_dir() and not probe.is_symlink():
                remove_stale_temporaries(probe)
        self.target = check_output_folder(target, option)
        self.in_place = self.target.is_dir() and _holds_cwd(self.target)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            where = self.target if self.in_place else self.target.parent
            self.path = Path(tempfile.mkdtemp(prefix=temp_prefix(self.target.name or "out"), dir=where))
            os.chmod(self.path, folder_mode())
        except OSError as exc:
            raise write_error(exc, self.requested) from None

    def __enter__(self) -> "OutputFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the temporary folder (after a failure, or what is left after a swap)."""
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        self.path = None

    def commit(self, meta: dict) -> Path:
        """Write ``meta.json`` (with the list of files) and swap the folder into place."""
        try:
            for p in self.path.rglob("*"):
                os.chmod(p, folder_mode() if p.is_dir() else file_mode())
            files = sorted(_files_under(self.path))
            meta = {"generator": GENERATOR, **meta, "files": files}
            write_text_atomic(self.path / META_FILE, json.dumps(meta, indent=2, default=str) + "\n")
            if self.in_place:
                self._fill()
            else:
                self._swap()
        except OSError as exc:
            raise write_error(exc, self.requested) from None
        return self.target

    def _fill(self) -> None:
        """Move the files into the (empty) target, ``meta.json`` last: the folder is a result only
        once complete, and a run stopped half-way leaves a folder without carbonsim's mark."""
        target = check_output_folder(self.requested, self.option)
        if _visible(target):
            raise InputError(f"the folder is no longer empty; nothing was written there", file=str(self.requested))
        entries = sorted(self.path.iterdir(), key=lambda p: p.name == META_FILE)
        for p in entries:
            os.rename(p, target / p.name)
        self.discard()

    def _swap(self) -> None:
        target = check_output_folder(self.requested, self.option)  # again, just before replacing
        if not target.exists():
            os.rename(self.path, target)
            self.path = None
            return
        if _exchange(self.path, target):
            old = self.path  # now holds the previous result (or the empty folder)
        else:
            # No atomic exchange here: move the old result aside first (a brief moment with no result).
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(target.name), dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            os.rename(self.path, target)
        self.path = old
        self.discard()
