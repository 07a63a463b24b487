"""CodeCarbon's ``emissions.csv`` (layer 2): one entry per run.

CodeCarbon (github.com/mlco2/codecarbon) appends a row at every flush of a tracker, and each
row is cumulative for its ``run_id`` (``duration`` in s, ``emissions`` in kg CO2e,
``energy_consumed`` in kWh since the run started). A run therefore counts once: its last row
in the file. Rows repeated verbatim (a file concatenated twice) count once too. Rows without a
``run_id`` (older versions) are runs of their own. The table is read by
:func:`carbonsim.engine.readers.table.read_table`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from carbonsim.engine.readers.table import parse_number, read_table

REQUIRED = ("duration", "emissions", "energy_consumed")
NUMERIC = ("duration", "emissions", "energy_consumed", "pue", "ram_total_size")
_GPU_MODEL = re.compile(r"^\s*(\d+)\s*x\s+(.+?)\s*$")


@dataclass
class CodeCarbonRun:
    """One run: its last row, and the hardware CodeCarbon saw."""

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

    @property
    def hardware(self) -> tuple:
        """What identifies the machine (runs on the same hardware share a server)."""
        return (self.cpu_model, self.gpu_model, self.gpu_count, self.ram_gb)


def _gpu(model: str | None, count: str | None) -> tuple[str | None, int | None]:
    """CodeCarbon writes ``gpu_model`` as ``"4 x NVIDIA A100-PCIE-40GB"``."""
    model = (model or "").strip() or None
    n = int(float(count)) if count and count.strip() else None
    if model:
        m = _GPU_MODEL.match(model)
        if m:
            n, model = n or int(m.group(1)), m.group(2)
    return model, n


def read_emissions(path) -> list[CodeCarbonRun]:
    """The runs of a CodeCarbon ``emissions.csv``, each counted once, in order of first appearance.

    Raises
    ------
    InputError
        A missing required column, a bad value (named by line and column), no rows.
    """
    table = read_table(path, REQUIRED, kind="codecarbon", what="CodeCarbon emissions.csv")
    file = table.file
    runs: dict[str, CodeCarbonRun] = {}
    seen_rows: set[tuple] = set()
    for k, rec in enumerate(table.records):
        key_row = tuple(rec.cells.values())
        if key_row in seen_rows:
            continue
        seen_rows.add(key_row)
        c = rec.cells
        vals = {col: parse_number(c.get(col), file, rec.line, col, required=col in REQUIRED)
                for col in NUMERIC if col in c}
        gpu_model, gpu_count = _gpu(c.get("gpu_model"), c.get("gpu_count"))
        run_id = (c.get("run_id") or "").strip()
        run = CodeCarbonRun(
            line=rec.line, run_id=run_id, timestamp=c.get("timestamp") or "",
            project_name=c.get("project_name") or "", duration_s=vals["duration"],
            energy_kwh=vals["energy_consumed"], emissions_kg=vals["emissions"],
            country=c.get("country_iso_code") or c.get("country_name") or "", pue=vals.get("pue"),
            cpu_model=(c.get("cpu_model") or "").strip() or None, gpu_model=gpu_model, gpu_count=gpu_count,
            ram_gb=vals.get("ram_total_size"),
        )
        key = run_id or f"line-{rec.line}"
        if key in runs:
            run.rows = runs[key].rows + 1
            runs[key] = run  # the later row is cumulative: it replaces the earlier one, in place
        else:
            runs[key] = run
    return list(runs.values())
