"""CodeCarbon's ``emissions.csv`` and task files (layer 2), read as CodeCarbon writes them.

CodeCarbon (github.com/mlco2/codecarbon) appends a row to ``emissions.csv`` at every flush of a
tracker; each row is cumulative for its ``run_id`` (``duration`` in s, ``emissions`` in kg CO2e,
``energy_consumed`` in kWh since the run started). Its task mode (``tracker.start_task(name)``)
writes ``emissions_<experiment>_<run_id>.csv`` with a ``task_name`` column: one row per task, each
task's own totals. So:

- an *entry* is one ``(run_id, task_name)`` (``task_name`` blank outside task files); it counts
  once, as its **last row by timestamp** (then by duration, which only grows within a run, then
  by line), whatever the order of the rows in the file (a file sorted in a spreadsheet keeps
  the right row). Rows repeated verbatim count once;
- a *run* is one ``run_id``: the sum of its entries (its tasks). Rows without a ``run_id``
  (older versions) are entries of their own;
- CodeCarbon's CSV append before mlco2/codecarbon#1304 (fixed 2026-08) dropped the cells of
  columns that were empty for that run (``region``, ``gpu_count``, ``gpu_model``,
  ``longitude``, ``latitude``), shifting the rest left: such short rows are repaired when the
  columns' kinds leave one reading, and skipped otherwise, each with a warning naming the line;
- a number that is not one (``gpu_count`` = ``four``, ``nan``, ``1e400``) is an error naming the
  line and the column.

The table is read by :func:`carbonsim.engine.readers.table.read_table`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from carbonsim.engine.readers.table import Record, parse_number, read_table
from carbonsim.errors import InputError

REQUIRED = ("duration", "emissions", "energy_consumed")
#: Numeric columns read, with their checks (``parse_number`` keywords).
NUMERIC = {"duration": {}, "emissions": {}, "energy_consumed": {}, "pue": {}, "ram_total_size": {},
           "cpu_count": {"integer": True}, "gpu_count": {"integer": True}}
_GPU_MODEL = re.compile(r"^\s*(\d+)\s*x\s+(.+?)\s*$")
_VERSION = re.compile(r"^\d+(\.\d+)+\S*$")

# What each column CodeCarbon writes may hold, for repairing short rows: a kind per column; the
# columns CodeCarbon left out of a short row are among NULLABLE.
_KIND = {
    "timestamp": "time", "duration": "num", "emissions": "num", "emissions_rate": "num", "cpu_power": "num",
    "gpu_power": "num", "ram_power": "num", "cpu_energy": "num", "gpu_energy": "num", "ram_energy": "num",
    "energy_consumed": "num", "water_consumed": "num", "country_iso_code": "iso", "python_version": "version",
    "codecarbon_version": "version", "cpu_count": "num", "cpu_model": "name", "gpu_count": "num", "gpu_model": "name",
    "longitude": "num", "latitude": "num", "ram_total_size": "num", "tracking_mode": "mode",
    "cpu_utilization_percent": "num", "gpu_utilization_percent": "num", "ram_utilization_percent": "num",
    "ram_used_gb": "num", "on_cloud": "yn", "pue": "num", "wue": "num", "region": "name", "cloud_provider": "name",
    "cloud_region": "name", "country_name": "name", "os": "name",
}
#: The columns CodeCarbon writes as None (not as an empty text) and so were dropped from short rows.
NULLABLE = ("region", "gpu_count", "gpu_model", "longitude", "latitude")
#: Columns whose values a repair must settle (the others are not used).
_USED = ("timestamp", "run_id", "project_name", "task_name", "duration", "emissions", "energy_consumed",
         "country_iso_code", "country_name", "pue", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "ram_total_size",
         "tracking_mode", "on_cloud", "cloud_provider", "cloud_region")


def _fits(kind: str | None, text: str) -> bool:
    t = text.strip()
    if kind is None or t == "":
        return True
    if kind == "num":
        try:
            float(t)
            return True
        except ValueError:
            return False
    if kind == "time":
        return _parse_time(t) is not None
    if kind == "version":
        return bool(_VERSION.match(t))
    if kind == "iso":
        return bool(re.fullmatch(r"[A-Za-z]{2,3}", t))
    if kind == "mode":
        return t in ("machine", "process")
    if kind == "yn":
        return t in ("Y", "N")
    return any(c.isalpha() for c in t)  # a name: never a bare number


def _parse_time(text: str) -> float | None:
    s = (text or "").strip()
    if not s:
        return None
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def repair_short_row(header: list[str], cells: list[str]) -> tuple[dict[str, str] | None, list[str]]:
    """The cells of a short row placed under their columns, and the columns left blank.

    Tries every choice of ``len(header) - len(cells)`` columns among :data:`NULLABLE` as the
    missing ones; a choice fits when every cell suits its column's kind. Returns ``(cells,
    dropped)`` when all fitting choices agree on the columns carbonsim uses, else ``(None,
    [])``.
    """
    missing = len(header) - len(cells)
    candidates = [c for c in header if c in NULLABLE]
    readings: dict[tuple, tuple[dict, list]] = {}
    for dropped in itertools.combinations(candidates, missing):
        cols = [c for c in header if c not in dropped]
        if all(_fits(_KIND.get(c), v) for c, v in zip(cols, cells)):
            row = dict(zip(cols, cells)) | {c: "" for c in dropped}
            key = tuple(row.get(c, "").strip() for c in _USED)
            readings.setdefault(key, (row, list(dropped)))
    if len(readings) != 1:
        return None, []
    row, dropped = next(iter(readings.values()))
    return row, dropped


@dataclass
class CodeCarbonRun:
    """One entry (a run, or one task of a run): its last row, and the hardware CodeCarbon saw."""

    line: int
    run_id: str
    timestamp: str
    project_name: str
    duration_s: float
    energy_kwh: float
    emissions_kg: float
    country: str
    pue: float | None
    cpu_model: str | None
    gpu_model: str | None
    gpu_count: int | None
    ram_gb: float | None
    rows: int = 1
    task_name: str = ""
    cpu_count: int | None = None
    tracking_mode: str = ""
    on_cloud: bool = False
    cloud: str = ""

    @property
    def hardware(self) -> tuple:
        """What identifies the machine (entries on the same hardware share a server)."""
        return (self.cpu_model, self.gpu_model, self.gpu_count, self.ram_gb, self.cpu_count)

    @property
    def end_s(self) -> float | None:
        """The entry's end (its last row's timestamp) as Unix seconds, when readable."""
        return _parse_time(self.timestamp)


@dataclass
class Emissions:
    """The entries of a CodeCarbon file, and what was repaired or skipped on the way."""

    file: str
    runs: list[CodeCarbonRun]
    warnings: list[str] = field(default_factory=list)
    tasks: bool = False


def _gpu(model: str | None, count: int | None) -> tuple[str | None, int | None]:
    """CodeCarbon writes ``gpu_model`` as ``"4 x NVIDIA A100-PCIE-40GB"``."""
    model = (model or "").strip() or None
    n = count
    if model:
        m = _GPU_MODEL.match(model)
        if m:
            n, model = n or int(m.group(1)), m.group(2)
    return model, n


def read_codecarbon(path) -> Emissions:
    """The entries of a CodeCarbon ``emissions.csv`` or task file (module docstring), in order
    of first appearance.

    Raises
    ------
    InputError
        A missing required column, a bad value (named by line and column), no usable rows.
    """
    table = read_table(path, REQUIRED, kind="codecarbon", what="CodeCarbon emissions.csv", short_rows=True)
    file, header = table.file, table.columns
    warnings: list[str] = []
    entries: dict[tuple, list] = {}
    seen_rows: set[tuple] = set()
    for rec in table.records:
        if rec.short is not None:
            rec = _repaired(rec, header, file, warnings)
            if rec is None:
                continue
        key_row = tuple(rec.cells.values())
        if key_row in seen_rows:
            continue
        seen_rows.add(key_row)
        run = _entry(rec, file)
        key = (run.run_id or f"line-{rec.line}", run.task_name)
        entries.setdefault(key, []).append(run)
    if not entries:
        raise InputError("no usable rows (every row was short and could not be repaired)", file=file)
    runs = []
    for rows in entries.values():
        last = max(rows, key=lambda r: (r.end_s if r.end_s is not None else float("-inf"), r.duration_s, r.line))
        last.rows = len(rows)
        runs.append(last)
    return Emissions(file, runs, warnings, tasks="task_name" in header)


def read_emissions(path) -> list[CodeCarbonRun]:
    """The entries of a CodeCarbon file (:func:`read_codecarbon`), without its warnings."""
    return read_codecarbon(path).runs


def _repaired(rec: Record, header: list[str], file: str, warnings: list[str]) -> Record | None:
    cells, dropped = repair_short_row(header, rec.short)
    n, m = len(rec.short), len(header)
    why = "as CodeCarbon's CSV append wrote them before mlco2/codecarbon#1304"
    if cells is None:
        warnings.append(f"{file}: line {rec.line}: skipped: {n} of {m} cells ({why}) and the cells fit its "
                        "columns in more than one way (or in none)")
        return None
    warnings.append(f"{file}: line {rec.line}: {n} of {m} cells ({why}); repaired with "
                    f"{', '.join(dropped)} blank")
    return Record(rec.line, cells)


def _entry(rec: Record, file: str) -> CodeCarbonRun:
    c = rec.cells
    vals = {col: parse_number(c.get(col), file, rec.line, col, required=col in REQUIRED, **kw)
            for col, kw in NUMERIC.items() if col in c}
    gpu_model, gpu_count = _gpu(c.get("gpu_model"), vals.get("gpu_count"))
    cloud = "/".join(x for x in ((c.get("cloud_provider") or "").strip(), (c.get("cloud_region") or "").strip()) if x)
    return CodeCarbonRun(
        line=rec.line, run_id=(c.get("run_id") or "").strip(), timestamp=(c.get("timestamp") or "").strip(),
        project_name=c.get("project_name") or "", duration_s=vals["duration"], energy_kwh=vals["energy_consumed"],
        emissions_kg=vals["emissions"], country=c.get("country_iso_code") or c.get("country_name") or "",
        pue=vals.get("pue"), cpu_model=(c.get("cpu_model") or "").strip() or None, gpu_model=gpu_model,
        gpu_count=gpu_count, ram_gb=vals.get("ram_total_size"), task_name=(c.get("task_name") or "").strip(),
        cpu_count=vals.get("cpu_count") or None, tracking_mode=(c.get("tracking_mode") or "").strip(),
        on_cloud=(c.get("on_cloud") or "").strip() == "Y", cloud=cloud,
    )
