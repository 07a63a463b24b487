"""Host power measurements from a CSV (layer 2), for ``carbonsim power fit``.

Columns: ``cpu_util`` and ``power_w`` (``mem_util`` optional; other columns ignored; ``#``
lines and blank lines skipped). Each utilisation column is read as per cent if any value
exceeds 1, otherwise as a fraction 0..1; the scale found is reported. The table is read by
:func:`carbonsim.engine.readers.table.read_table`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.readers.table import parse_number, read_table

REQUIRED_COLUMNS = ("cpu_util", "power_w")
OPTIONAL_COLUMNS = ("mem_util",)
#: Largest power accepted [W]: a megawatt is far above any server or rack.
MAX_POWER_W = 1e6


@dataclass
class Measurements:
    """Validated measurements.

    Attributes
    ----------
    file : str
    cpu_util : ndarray
        0..1.
    power_w : ndarray
        [W]
    mem_util : ndarray or None
        0..1.
    util_scale : dict[str, str]
        ``"percent"`` or ``"fraction"`` per utilisation column, as detected.
    lines : ndarray
        File line of each row (1 = first line of the file).
    """

    file: str
    cpu_util: np.ndarray
    power_w: np.ndarray
    mem_util: np.ndarray | None
    util_scale: dict
    lines: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.power_w)


def read_measurements_csv(path) -> Measurements:
    """Read and validate a measurements CSV.

    Raises
    ------
    InputError
        Naming the file, the column and the line: a missing column, an empty, non-numeric,
        non-finite, negative or implausibly large value, utilisation above 100 %, power not
        positive, no data rows, a record with too many or too few cells.
    """
    table = read_table(path, REQUIRED_COLUMNS, kind="measurements", what="measurements CSV")
    file = table.file
    cols = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if table.has(c)]
    values = {c: [] for c in cols}
    for rec in table.records:
        for c in cols:
            values[c].append(parse_number(rec.cells[c], file, rec.line, c, required=True,
                                          positive=c == "power_w",
                                          maximum=MAX_POWER_W if c == "power_w" else 100.0))
    lines = np.asarray([r.line for r in table.records])
    arrays = {c: np.asarray(v, dtype=float) for c, v in values.items()}
    scale = {}
    for c in ("cpu_util", "mem_util"):
        if c not in arrays:
            continue
        a = arrays[c]
        if np.max(a) > 1.0:
            scale[c] = "percent"
            arrays[c] = a / 100.0
        else:
            scale[c] = "fraction"
    return Measurements(file=file, cpu_util=arrays["cpu_util"], power_w=arrays["power_w"],
                        mem_util=arrays.get("mem_util"), util_scale=scale, lines=lines)
