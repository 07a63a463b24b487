"""Fleet inventory spreadsheets (layer 2): one server per CSV row, blanks kept as ``None``.

Columns (header required, names case-insensitive; every column but ``id`` may be left blank;
other columns are ignored): ``id, cpu_model, cpu_count, cores_total, cpu_tdp_w, dram_gb,
ssd_count, ssd_gb, hdd_count, hdd_gb, gpu_model, gpu_count, psu_w, year`` and, optionally,
``lifetime_yr``. ``cores_total`` counts cores over all CPUs; ``ssd_gb`` and ``hdd_gb`` are the
*total* capacity over all drives of that kind. The table is read by
:func:`carbonsim.engine.readers.table.read_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

from carbonsim.engine.readers.table import parse_number, read_table
from carbonsim.errors import InputError

COLUMNS = ("id", "cpu_model", "cpu_count", "cores_total", "cpu_tdp_w", "dram_gb", "ssd_count", "ssd_gb",
           "hdd_count", "hdd_gb", "gpu_model", "gpu_count", "psu_w", "year")
OPTIONAL_COLUMNS = ("lifetime_yr",)
_TEXT = ("id", "cpu_model", "gpu_model")
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
        needed, or fractional where a count is needed; no data rows.
    """
    table = read_table(path, ("id",), kind="inventory", what="inventory CSV")
    file = table.file
    idx = [c for c in COLUMNS + OPTIONAL_COLUMNS if table.has(c)]
    rows: list[InventoryRow] = []
    seen: dict[str, int] = {}
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
        if values["id"] in seen:
            raise InputError(f"line {rec.line}: duplicate id {values['id']!r} (first on line "
                             f"{seen[values['id']]})", file=file, field="id")
        seen[values["id"]] = rec.line
        rows.append(InventoryRow(file=file, line=rec.line, has_lifetime_column="lifetime_yr" in idx, **values))
    return rows
