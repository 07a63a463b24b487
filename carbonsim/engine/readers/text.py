"""Opening a user's input file (layer 2): the one door every file carbonsim reads goes through.

Rules (docs/cli.md, "Inputs"):

- only a **regular file** is read (a symbolic link is followed to one); a folder, device
  (``/dev/zero``), FIFO or socket is refused before a byte is read, so nothing can make carbonsim
  read without end or wait for a writer;
- each **kind** of file has a size limit (:data:`LIMITS`), checked before parsing and again
  while reading (a file that grows past it is refused too); ``CARBONSIM_LIMIT_<KIND>``
  (``CARBONSIM_LIMIT_INVENTORY=2GB``) raises or lowers one;
- every file read is recorded for the command under way (:func:`tracking_inputs`), so an output
  path that is one of its inputs is refused (:mod:`carbonsim.engine.outputs`);
- messages name the file and say what was expected; they never quote the file's content (a
  path may point at a private file).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import stat
from pathlib import Path

from carbonsim.errors import InputError

#: Size limit of each kind of input [bytes], checked before parsing. The values are far above
#: any real file of the kind (a hardware spec is a few kB, a year of hourly grid values 0.25 MB,
#: a 200,000-server inventory about 30 MB) and far below what would exhaust memory.
LIMITS = {
    "scenario": 5_000_000,      # a scenario YAML (long axis lists included)
    "server": 1_000_000,        # a server spec YAML
    "budget": 1_000_000,        # a carbon-budget YAML
    "database": 5_000_000,      # one YAML file of a database (shipped or --db)
    "inventory": 200_000_000,   # a fleet inventory CSV
    "trace": 50_000_000,        # a grid-intensity trace CSV
    "requests": 100_000_000,    # a request-arrival trace CSV (online serving)
    "codecarbon": 100_000_000,  # a CodeCarbon emissions.csv
    "measurements": 50_000_000,  # a power-measurement CSV (power fit)
    "table": 100_000_000,       # any other CSV table
    "meta": 1_000_000,          # a results folder's meta.json
}
#: Environment variable that overrides the limit of a kind: ``CARBONSIM_LIMIT_`` + kind in capitals.
LIMIT_ENV = "CARBONSIM_LIMIT_"
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)[bB]?\s*$")
_UNIT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def limit(kind: str) -> int:
    """The size limit [bytes] of ``kind``: ``CARBONSIM_LIMIT_<KIND>`` if set, else :data:`LIMITS`.

    Raises
    ------
    InputError
        The environment variable is not a size (``500MB``, ``2GB``, ``100000``).
    """
    if kind not in LIMITS:
        raise ValueError(f"unknown input kind {kind!r}")
    name = LIMIT_ENV + kind.upper()
    text = os.environ.get(name)
    if text is None or not text.strip():
        return LIMITS[kind]
    m = _SIZE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"expected a size like 500MB, 2GB or a number of bytes, found {text[:40]!r}", field=name)
    return int(float(m.group(1)) * _UNIT[m.group(2).lower()])


def file_type(mode: int) -> str | None:
    """What a ``st_mode`` is when it is not a regular file (``"a FIFO (named pipe)"``), else None."""
    for test, word in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return word
    return None if stat.S_ISREG(mode) else "not a regular file"


# --------------------------------------------------------------------------------------------
# The inputs of the command under way

_READ: contextvars.ContextVar[dict | None] = contextvars.ContextVar("carbonsim_inputs_read", default=None)


@contextlib.contextmanager
def tracking_inputs():
    """Record every file read inside the block (the command line wraps each command in it; the
    Python API each call that writes). Yields the record: ``(st_dev, st_ino) -> path``."""
    record: dict = {}
    token = _READ.set(record)
    try:
        yield record
    finally:
        _READ.reset(token)


def input_read_as(st: os.stat_result) -> str | None:
    """The path under which the file ``st`` was read by the command under way, else None."""
    record = _READ.get()
    if not record:
        return None
    return record.get((st.st_dev, st.st_ino))


def inputs_read() -> dict:
    """Every file read by the command under way: ``(st_dev, st_ino) -> path`` (empty outside one)."""
    return dict(_READ.get() or {})


def _note_read(st: os.stat_result, path: Path) -> None:
    record = _READ.get()
    if record is not None:
        record.setdefault((st.st_dev, st.st_ino), str(path))


# --------------------------------------------------------------------------------------------
# Reading

def read_bytes(path: str | Path, kind: str, max_bytes: int | None = None, record: bool = True) -> bytes:
    """The bytes of the regular file ``path``, at most the limit of ``kind``.

    Parameters
    ----------
    path : path
    kind : str
        A key of :data:`LIMITS` (``"scenario"``, ``"inventory"`` ...).
    max_bytes : int, optional
        A limit of the caller's own (otherwise :func:`limit` of ``kind``).
    record : bool
        Count the file among the command's inputs (False for carbonsim's own bookkeeping, such
        as a results folder's ``meta.json``).

    Raises
    ------
    InputError
        Missing, unreadable, not a regular file, or larger than the limit.
    """
    path = Path(path)
    cap = limit(kind) if max_bytes is None else int(max_bytes)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or type(exc).__name__})", file=path) from None
    _refuse_special(st, path)
    _refuse_large(st.st_size, cap, path, kind)
    try:
        # O_NONBLOCK: a path swapped for a FIFO after the check cannot block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or type(exc).__name__})", file=path) from None
    try:
        st = os.fstat(fd)  # what was opened, whatever the path points at now
        _refuse_special(st, path)
        _refuse_large(st.st_size, cap, path, kind)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                _refuse_large(total, cap, path, kind)
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or type(exc).__name__})", file=path) from None
    finally:
        os.close(fd)
    if record:
        _note_read(st, path)
    return b"".join(chunks)


def _refuse_special(st: os.stat_result, path: Path) -> None:
    what = file_type(st.st_mode)
    if what is not None:
        raise InputError(f"is {what}, not a regular file; carbonsim reads its inputs only from regular files",
                         file=path)


def _refuse_large(size: int, cap: int, path: Path, kind: str) -> None:
    if size > cap:
        raise InputError(f"file is larger than the {kind} limit of {cap:,} bytes (set "
                         f"{LIMIT_ENV}{kind.upper()} to change it)", file=path)


def read_text(path: str | Path, what: str, kind: str = "table", max_bytes: int | None = None,
              record: bool = True) -> str:
    """The UTF-8 text of the regular file ``path`` (a leading BOM dropped), by :func:`read_bytes`.

    Raises
    ------
    InputError
        As :func:`read_bytes`, or not UTF-8 (the message says a ``what`` file, ``"YAML"`` or
        ``"CSV"``, was expected).
    """
    data = read_bytes(path, kind, max_bytes, record)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"file is not UTF-8 text; expected a {what} file", file=path) from None
