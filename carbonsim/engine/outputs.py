"""Writing results without losing anyone's data (layer 2).

Rules every writer in carbonsim follows:

- a file is written to a temporary name beside its target and renamed into place, so a failure
  leaves no partial file, and it gets the user's normal permissions (``0o666 & ~umask``);
- an output *folder* (``sweep --out DIR``) is built in a temporary folder beside the target and
  swapped in only when complete. An existing folder is replaced only if carbonsim wrote it (its
  ``meta.json`` names carbonsim and lists every file it wrote) and holds nothing else; an empty
  folder may be used; anything else is refused with an :class:`~carbonsim.errors.InputError`.
  Where the system offers an atomic exchange of two paths (Linux ``renameat2``), there is no
  moment at which neither the old nor the new result exists;
- a target that is a symbolic link is followed: the result goes where the link points and the
  link stays;
- a write the system refuses (read-only folder, ``/proc``, a full disk) is an ``InputError``
  naming the path, not an internal error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

from carbonsim.errors import InputError

#: File that marks a folder as carbonsim's output; its ``generator`` key is :data:`GENERATOR`.
META_FILE = "meta.json"
GENERATOR = "carbonsim"
#: Files a carbonsim output folder could hold before meta.json listed them (version 0.1).
_LEGACY_FILES = {"meta.json", "points.parquet", "points.csv"} | {
    f"{name}.{ext}" for name in ("edp_cdp_cep_vs_batch", "latency_vs_energy", "embodied_vs_operational",
                                 "embodied_vs_operational_rate") for ext in ("png", "svg")}


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


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Returns
    -------
    Path
        The file written (the link's target when ``path`` is a symbolic link).

    Raises
    ------
    InputError
        ``path`` is a folder, or the system refused the write.
    """
    target = resolve_target(path)
    if target.is_dir():
        raise InputError("is a folder; give a file name", file=str(path))
    parent = target.parent if str(target.parent) else Path(".")
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise write_error(exc, path) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return target


# --------------------------------------------------------------------------------------------
# Output folders

def _read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def foreign_files(folder: Path) -> list[str] | None:
    """Files in ``folder`` that carbonsim did not write; ``None`` when it is not a carbonsim output.

    A carbonsim output has a ``meta.json`` whose ``generator`` is ``carbonsim`` and whose
    ``files`` lists what it wrote (outputs of version 0.1 carry ``carbonsim_version`` and
    no list: their possible file names are known).
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
    return sorted(_files_under(folder) - known)


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` may receive a carbonsim output folder; return the folder to write.

    Raises
    ------
    InputError
        ``path`` is a file; a non-empty folder carbonsim did not write; a carbonsim output
        that now holds other files too.
    """
    target = resolve_target(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"exists and is not a folder; {option} names a folder for the results",
                         file=str(path))
    if target.is_dir() and any(target.iterdir()):
        foreign = foreign_files(target)
        if foreign is None:
            raise InputError(f"folder is not empty and was not written by carbonsim (no carbonsim "
                             f"{META_FILE}); carbonsim replaces only its own results: choose a new or "
                             f"empty {option} folder", file=str(path))
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise InputError(f"holds files carbonsim did not write ({shown}); move them or choose "
                             f"another {option} folder", file=str(path))
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

    Parameters
    ----------
    target : path
        The folder the user asked for (``--out``); checked by :func:`check_output_folder`.
    """

    def __init__(self, target: str | Path, option: str = "--out"):
        self.requested = Path(target)
        self.option = option
        self.target = check_output_folder(target, option)
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))
            os.chmod(self.path, folder_mode())
        except OSError as exc:
            raise write_error(exc, self.requested) from None
        self._done = False

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
            self._swap()
        except OSError as exc:
            raise write_error(exc, self.requested) from None
        return self.target

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
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            os.rename(self.path, target)
        self.path = old
        self.discard()
