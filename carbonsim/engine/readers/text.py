"""Reading a user's text file (YAML, CSV) with one clear error for every way it can fail (layer 2)."""

from __future__ import annotations

from pathlib import Path

from carbonsim.errors import InputError


def read_text(path: str | Path, what: str, max_bytes: int) -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped).

    Raises
    ------
    InputError
        Missing, unreadable, a directory, larger than ``max_bytes`` or not UTF-8; the message
        names the file and says a ``what`` (``"YAML"``, ``"CSV"``) file was expected.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", file=path) from None
    if path.is_dir():
        raise InputError(f"is a directory, expected a {what} file", file=path)
    if size > max_bytes:
        raise InputError(f"file is {size} bytes; the limit is {max_bytes}", file=path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("file is not UTF-8 text", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", file=path) from None
