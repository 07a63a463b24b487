"""The one CSV reader (layer 2): every user table (fleet inventories, grid traces, power
measurements, CodeCarbon logs) is read here, so every table gets the same checks and the same
errors, each naming the file, the line and the column.

Checked: the file exists, is a regular UTF-8 text file under its kind's size limit
(:mod:`carbonsim.engine.readers.text`); quotes are closed; the header
has no duplicate or empty names and holds the required columns; every record has exactly as
many cells as the header; there is at least one data record. Blank lines are skipped; lines
starting with ``#`` are comments (those before the header are kept, for files that carry
``# key: value`` metadata).
"""

from __future__ import annotations

import csv
import gc
import io
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from carbonsim.engine.readers.text import read_text
from carbonsim.errors import InputError

#: Largest magnitude of a number in a table: beyond it products overflow; no physical input
#: of carbonsim comes near it.
MAX_MAGNITUDE = 1e12
#: Smallest value a strictly positive number may have, in a table, a file or an option (a rate, a
#: lifetime, a share that divides): far below any physical input, and large enough that dividing
#: by it stays finite (1e-320 is a positive float whose reciprocal is infinite).
MIN_POSITIVE = 1e-12


@contextmanager
def paused_gc():
    """Python's cycle collector paused while a large table's millions of small objects (cells,
    records) are made: it would walk them again and again (a third of the reading time of a
    200,000-row inventory), and none of them forms a cycle."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Record:
    """One data record: its first physical line and its cells by column name."""

    line: int
    cells: dict[str, str]
    #: The cells as written, for a record with fewer cells than the header (``short_rows=True``);
    #: its ``cells`` is then empty and the caller decides what the cells are.
    short: list[str] | None = None

    def where(self) -> str:
        return f"line {self.line}"


@dataclass
class Table:
    """A validated CSV table."""

    file: str
    columns: list[str]
    records: list[Record]
    comments: list[str] = field(default_factory=list)
    header_line: int = 1
    #: The header as written (``columns`` may be lower-cased), for messages.
    written: list[str] = field(default_factory=list)

    def as_written(self, column: str) -> str:
        """A column's name as the file writes it."""
        return dict(zip(self.columns, self.written)).get(column, column)

    def has(self, column: str) -> bool:
        return column in self.columns


def read_table(path: str | Path, required=(), *, lower: bool = True, kind: str = "table",
               max_bytes: int | None = None, what: str = "CSV", short_rows: bool = False) -> Table:
    """Read ``path`` as a CSV table.

    Parameters
    ----------
    path : path
    required : sequence of str
        Columns that must be in the header.
    lower : bool
        Compare column names in lower case (and return them so).
    kind : str
        What the file is, for its size limit (:data:`carbonsim.engine.readers.text.LIMITS`).
    max_bytes : int, optional
        A size limit of the caller's own instead.
    what : str
        What the file is, for messages ("inventory CSV").
    short_rows : bool
        Keep records with fewer cells than the header (as :attr:`Record.short`) instead of
        refusing the file; for formats whose writers are known to drop cells.

    Raises
    ------
    InputError
        Naming the file and, where it applies, the line and column.
    """
    table, scan = scan_table(path, required, lower=lower, kind=kind, max_bytes=max_bytes, what=what,
                             short_rows=short_rows)
    header = table.columns
    for start, cells in scan:
        if len(cells) < len(header):  # short_rows
            table.records.append(Record(start, {}, cells))
        else:
            table.records.append(Record(start, dict(zip(header, cells))))
    return table


def scan_table(path: str | Path, required=(), *, lower: bool = True, kind: str = "table",
               max_bytes: int | None = None, what: str = "CSV", short_rows: bool = False):
    """Read ``path`` as a CSV table record by record: the :class:`Table` (header, comments; no
    records) and an iterator of ``(line, cells)`` over its data records, each checked as
    :func:`read_table` checks them (which is built on this). The header is read before this
    returns; a record's problem is raised when the iterator reaches it, and an empty table when
    it ends. For tables too large to hold as :class:`Record` objects (fleet inventories)."""
    file = str(path)
    text = read_text(path, "CSV", kind, max_bytes)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    del text
    comments: list[str] = []
    state = {"last": 0}

    def records():
        """Non-blank, non-comment records: ``(first line, cells)``."""
        while True:
            start = state["last"] + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise InputError(f"line {start}: not a readable CSV record ({exc}; is a quote left open?)",
                                 file=file) from None
            state["last"] = reader.line_num
            if not cells or not "".join(cells).strip():
                continue
            if cells[0].lstrip().startswith("#"):
                if header is None:
                    comments.append(",".join(cells).lstrip()[1:].strip())
                continue
            yield start, cells

    header = None
    found = records()
    for header_line, cells in found:
        written = [c.strip() for c in cells]
        header = [c.strip().lower() if lower else c.strip() for c in cells]
        if any(not c for c in header):
            raise InputError(f"line {header_line}: the header has an empty column name", file=file)
        dupes = sorted({c for c in header if header.count(c) > 1})
        if dupes:
            raise InputError(f"line {header_line}: duplicate column", file=file, field=dupes[0])
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(f"line {header_line}: missing column {missing[0]!r} ({_header_words(header, required)}); "
                             f"{_a(what)} needs {', '.join(required)}", file=file, field=missing[0])
        break
    if header is None:
        raise InputError(f"file is empty (no header line); expected {_a(what)}", file=file)

    def data():
        n = 0
        for start, cells in found:
            if len(cells) != len(header) and not (short_rows and len(cells) < len(header)):
                more = "more" if len(cells) > len(header) else "fewer"
                raise InputError(f"line {start}: {len(cells)} cells for {len(header)} columns ({more} cells than "
                                 "the header names; a stray comma, or a value with a comma that needs quotes?)",
                                 file=file)
            n += 1
            yield start, cells
        if not n:
            raise InputError(f"no data rows after the header (line {header_line})", file=file)

    return Table(file, header, [], comments, header_line, written), data()


#: A column name as people write them; anything else in a first line is not quoted back.
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ().%/\[\]-]{0,63}$")


def _a(what: str) -> str:
    return f"{'an' if what[:1].lower() in 'aeio' else 'a'} {what}"


def _header_words(header: list[str], required) -> str:
    """What the header has, for a message, without quoting a file that is not a table of this
    kind: its names are listed only when some required column is there and every name looks
    like a column name (a path may point at a private file: never echo its first line)."""
    if any(c in header for c in required) and all(_COLUMN_NAME.match(c) for c in header):
        return f"the header has: {', '.join(header)}"
    return (f"its first line has {len(header)} comma-separated name{'s' if len(header) != 1 else ''}, none of the "
            "required ones; not quoted, in case this is not a table")


def parse_number(text: str | None, file: str, line: int, column: str, *, required: bool = False,
                 minimum: float | None = 0.0, positive: bool = False, integer: bool = False,
                 maximum: float = MAX_MAGNITUDE) -> float | None:
    """A cell as a number, or ``None`` when blank and not required.

    Raises
    ------
    InputError
        ``line N: ...`` naming the file and column: not a number, not finite, out of range,
        fractional where a whole number is needed.
    """
    raw = (text or "").strip()
    if raw == "":
        if required:
            raise InputError(f"line {line}: empty value; a number is required", file=file, field=column)
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"line {line}: {raw!r} is not a number", file=file, field=column) from None
    if not math.isfinite(value):
        raise InputError(f"line {line}: {raw!r} is not a finite number", file=file, field=column)
    if minimum is not None and value < minimum:
        word = "negative" if minimum == 0 else f"below {minimum:g}"
        raise InputError(f"line {line}: {raw} is {word}", file=file, field=column)
    if positive and value <= 0:
        raise InputError(f"line {line}: {raw} must be > 0", file=file, field=column)
    if positive and value < MIN_POSITIVE:
        raise InputError(f"line {line}: {raw} is too small to mean anything (below {MIN_POSITIVE:g})", file=file,
                         field=column)
    if abs(value) > maximum:
        raise InputError(f"line {line}: {raw} is larger than {maximum:g}", file=file, field=column)
    if integer:
        if value != int(value):
            raise InputError(f"line {line}: {raw!r} must be a whole number", file=file, field=column)
        return int(value)
    return value


def parse_utc_seconds(text: str, file: str, line: int, column: str, example: str) -> float:
    """An ISO 8601 date and time (``2022-01-01 00:00:00``, ``...Z``, ``...+01:00``, any fraction
    of a second) as Unix seconds; without an offset it is UTC.

    Raises
    ------
    InputError
        ``line N: ... is not a date and time like <example>``, naming the file and column.
    """
    from datetime import datetime, timezone

    raw = (text or "").strip()
    try:
        t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"line {line}: {raw!r} is not a date and time like {example}", file=file,
                         field=column) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()
