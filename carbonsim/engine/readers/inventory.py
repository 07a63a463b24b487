"""Fleet inventory spreadsheets (layer 2): one server per CSV row, blanks kept as ``None``.

Columns (header required, names case-insensitive; every column but ``id`` may be left blank;
other columns are ignored): ``id, cpu_model, cpu_count, cores_total, cpu_tdp_w, dram_gb,
ssd_count, ssd_gb, hdd_count, hdd_gb, gpu_model, gpu_count, psu_w, year`` and, optionally,
``lifetime_yr`` and ``server``. ``cores_total`` counts cores over all CPUs; ``ssd_gb`` and
``hdd_gb`` are the *total* capacity over all drives of that kind. ``server`` names a server
(a database id or a server file) that the row is, exactly: such a row may fill only ``id`` and
``lifetime_yr`` besides (:data:`SPEC_COLUMNS` describe the machine another way, and the two
descriptions could disagree), else the row is refused naming its line and the column. The
table is read by :func:`carbonsim.engine.readers.table.scan_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonsim.engine.readers.table import (
    MAX_MAGNITUDE, MIN_POSITIVE, parse_number, paused_gc, read_table, scan_table,
)
from carbonsim.errors import InputError

COLUMNS = ("id", "cpu_model", "cpu_count", "cores_total", "cpu_tdp_w", "dram_gb", "ssd_count", "ssd_gb",
           "hdd_count", "hdd_gb", "gpu_model", "gpu_count", "psu_w", "year")
OPTIONAL_COLUMNS = ("lifetime_yr", "server")
#: The columns that describe a machine: blank on a row that names a ``server``.
SPEC_COLUMNS = COLUMNS[1:]
_TEXT = ("id", "cpu_model", "gpu_model", "server")
_INTEGER = ("cpu_count", "cores_total", "ssd_count", "hdd_count", "gpu_count", "year")
_POSITIVE = ("cpu_count", "cores_total", "cpu_tdp_w", "dram_gb", "psu_w", "year", "lifetime_yr")
YEAR_LIMITS = (1990, 2100)


@dataclass
class InventoryRow:
    """One server as read from the CSV; ``None`` where the cell was blank.

    Attributes
    ----------
    file : str
    line : int
        Line of the row in the file (1 = the first line).
    """

    id: str
    file: str
    line: int
    cpu_model: str | None = None
    cpu_count: int | None = None
    cores_total: int | None = None
    cpu_tdp_w: float | None = None
    dram_gb: float | None = None
    ssd_count: int | None = None
    ssd_gb: float | None = None
    hdd_count: int | None = None
    hdd_gb: float | None = None
    gpu_model: str | None = None
    gpu_count: int | None = None
    psu_w: float | None = None
    year: int | None = None
    lifetime_yr: float | None = None
    server: str | None = None
    has_lifetime_column: bool = False

    def where(self) -> str:
        return f"line {self.line} (id {self.id!r})"



def read_inventory(path) -> list[InventoryRow]:
    """Read and validate an inventory CSV.

    Returns
    -------
    list of InventoryRow
        In file order.

    Raises
    ------
    InputError
        One line naming the file, the column and the line: a missing file, no ``id`` column,
        a record with too many or too few cells or an open quote, an empty or duplicate id, a
        value that is not a number, not finite, negative, zero where a positive value is
        needed, or fractional where a count is needed; a row that names a ``server`` and fills
        a column of :data:`SPEC_COLUMNS`; no data rows.
    """
    return read_inventory_columns(path).rows()


@dataclass
class InventoryColumns:
    """An inventory CSV as columns (what :func:`read_inventory_columns` returns): each numeric
    column a float array with NaN where the cell is blank, each text column a list with None
    where it is blank, one entry per server in file order.

    Attributes
    ----------
    file : str
    ids : list of str
    lines : ndarray of int
        Line of each row in the file.
    numbers : dict
        Column -> float array (the columns the file has; counts and the year hold whole numbers).
    text : dict
        ``cpu_model``, ``gpu_model``, ``server`` -> list (the columns the file has).
    has_lifetime_column : bool
    """

    file: str
    ids: list
    lines: np.ndarray
    numbers: dict
    text: dict
    has_lifetime_column: bool = False

    def __len__(self) -> int:
        return len(self.ids)

    def number(self, column: str) -> np.ndarray:
        """A numeric column (all NaN, blank, when the file has no such column)."""
        return self.numbers[column] if column in self.numbers else np.full(len(self), np.nan)

    def names(self, column: str) -> list:
        """A text column (all None when the file has no such column)."""
        return self.text[column] if column in self.text else [None] * len(self)

    def row(self, i: int) -> InventoryRow:
        """Row ``i`` as an :class:`InventoryRow`."""
        values = {}
        for column, v in self.numbers.items():
            x = v[i]
            values[column] = None if x != x else (int(x) if column in _INTEGER else float(x))
        for column, v in self.text.items():
            values[column] = v[i]
        return InventoryRow(id=self.ids[i], file=self.file, line=int(self.lines[i]),
                            has_lifetime_column=self.has_lifetime_column, **values)

    def rows(self, start: int = 0, stop: int | None = None) -> list[InventoryRow]:
        return [self.row(i) for i in range(start, len(self) if stop is None else stop)]


#: Records converted to arrays at a time while reading (bounds the reader's memory).
READ_BLOCK = 1 << 16


def read_inventory_columns(path) -> InventoryColumns:
    """Read and validate an inventory CSV as columns (the same checks and messages as
    :func:`read_inventory`, for fleets of any size: the records are converted to arrays in
    blocks of :data:`READ_BLOCK`).

    Raises
    ------
    InputError
        As :func:`read_inventory`.
    """
    with paused_gc():
        return _read_columns(path)


def _read_columns(path) -> InventoryColumns:
    table, records = scan_table(path, ("id",), kind="inventory", what="inventory CSV")
    idx = [c for c in COLUMNS + OPTIONAL_COLUMNS if table.has(c)]
    at = {c: table.columns.index(c) for c in idx}
    ids: list[str] = []
    lines: list[int] = []
    numbers: dict[str, list] = {c: [] for c in idx if c not in _TEXT}
    text: dict[str, list] = {c: [] for c in idx if c in _TEXT and c != "id"}
    names: dict[str, str] = {}  # one string object per distinct model name
    block: list = []

    def convert():
        cols = list(zip(*(cells for _, cells in block)))
        for c in text:
            text[c].extend(names.setdefault(v, v) if v else None for v in (x.strip() for x in cols[at[c]]))
        ids.extend(x.strip() for x in cols[at["id"]])
        lines.extend(start for start, _ in block)
        for c in numbers:
            v = _numbers(cols[at[c]], c)
            if v is None:
                return False
            numbers[c].append(v)
        size = len(block)
        block.clear()
        return "server" not in text or _spec_blank(numbers, text, size)

    for rec in records:
        block.append(rec)
        if len(block) >= READ_BLOCK and not convert():
            break
    else:
        if not block or convert():
            if all(ids) and len(set(ids)) == len(ids):
                return InventoryColumns(table.file, ids, np.asarray(lines, dtype=np.int64),
                                        {c: np.concatenate(v) for c, v in numbers.items()}, text,
                                        "lifetime_yr" in idx)
    return _by_records(path)


def _numbers(cells, column: str) -> np.ndarray | None:
    """A numeric column's cells as floats (NaN where blank), or None when any cell would be
    refused (:func:`read_inventory` then names the first): each stripped cell read by ``float``,
    as :func:`~carbonsim.engine.readers.table.parse_number` reads it, and checked as arrays."""
    raw = [c.strip() for c in cells]
    try:
        out = np.array([float(r) if r else _NAN for r in raw], dtype=float)
    except ValueError:
        return None
    blank = np.isnan(out)
    if int(blank.sum()) != raw.count(""):  # a cell that says nan
        return None
    v = out[~blank]
    bad = ~np.isfinite(v) | (v < 0.0) | (np.abs(v) > MAX_MAGNITUDE)
    if column in _POSITIVE:
        bad |= v < MIN_POSITIVE
    if column in _INTEGER:
        bad |= v != np.floor(v)
    if column == "year":
        bad |= (v < YEAR_LIMITS[0]) | (v > YEAR_LIMITS[1])
    return None if bad.any() else out


_NAN = float("nan")


def _spec_blank(numbers: dict, text: dict, size: int) -> bool:
    """Whether the last ``size`` rows read leave every :data:`SPEC_COLUMNS` cell blank where they
    name a server (else :func:`_by_records` names the first such cell)."""
    named = np.fromiter((v is not None for v in text["server"][-size:]), bool, size)
    if not named.any():
        return True
    for c, blocks in numbers.items():
        if c in SPEC_COLUMNS and not np.isnan(blocks[-1][named]).all():
            return False
    return not any(c in SPEC_COLUMNS and any(v is not None for v, m in zip(text[c][-size:], named) if m)
                   for c in text)


def _by_records(path) -> InventoryColumns:
    """Read the file record by record, each cell as :func:`~carbonsim.engine.readers.table.parse_number`
    reads it, raising the first problem with its line and column (the columnar reader saw one,
    or a cell it leaves to this reader)."""
    table = read_table(path, ("id",), kind="inventory", what="inventory CSV")
    file = table.file
    idx = [c for c in COLUMNS + OPTIONAL_COLUMNS if table.has(c)]
    seen: dict[str, int] = {}
    numbers: dict[str, list] = {c: [] for c in idx if c not in _TEXT}
    text: dict[str, list] = {c: [] for c in idx if c in _TEXT and c != "id"}
    for rec in table.records:
        values = {}
        for column in idx:
            raw = rec.cells[column].strip()
            if column in _TEXT:
                values[column] = raw or None
                continue
            v = parse_number(raw, file, rec.line, column, positive=column in _POSITIVE,
                             integer=column in _INTEGER)
            if column == "year" and v is not None and not YEAR_LIMITS[0] <= v <= YEAR_LIMITS[1]:
                raise InputError(f"line {rec.line}: {raw!r} is outside {YEAR_LIMITS[0]}..{YEAR_LIMITS[1]}",
                                 file=file, field=column)
            values[column] = v
        if values["id"] is None:
            raise InputError(f"line {rec.line}: empty id; every row needs one", file=file, field="id")
        if values.get("server") is not None:
            given = next((c for c in SPEC_COLUMNS if values.get(c) is not None), None)
            if given is not None:
                raise InputError(f"line {rec.line} (id {values['id']!r}): {given} is given on a row that names "
                                 f"server {values['server']!r}; such a row is that server exactly and may give "
                                 "only id and lifetime_yr besides (leave the cell blank, or leave server blank "
                                 "to describe the machine by its columns)", file=file, field=given)
        if values["id"] in seen:
            raise InputError(f"line {rec.line}: duplicate id {values['id']!r} (first on line "
                             f"{seen[values['id']]})", file=file, field="id")
        seen[values["id"]] = rec.line
        for c in numbers:
            numbers[c].append(np.nan if values[c] is None else values[c])
        for c in text:
            text[c].append(values[c])
    return InventoryColumns(file, list(seen), np.asarray(list(seen.values()), dtype=np.int64),
                            {c: np.asarray(v, dtype=float) for c, v in numbers.items()}, text,
                            "lifetime_yr" in idx)
