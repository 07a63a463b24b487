"""Read CodeCarbon's ``emissions.csv`` and add the embodied carbon it leaves out (layer 2).

CodeCarbon (mlco2/codecarbon) measures energy and operational emissions of a run; its users
have asked for the embodied half since 2023 (mlco2/codecarbon#471). carbonsim reads its 38-column
``emissions.csv`` (one row per run or per flush; ``duration`` in s, ``emissions`` in kg CO2e,
``energy_consumed`` in kWh) and attributes to each run the embodied carbon of the server it ran
on, amortised over the run's duration: ``E_host · T / LT_host + E_GPU · T / LT_GPU``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from carbonsim.engine.studies.assessment import EmbodiedResult
from carbonsim.models.lifecycle.amortisation import amortised_kg
from carbonsim.errors import InputError

#: CodeCarbon 3.x header (38 columns, in order).
CODECARBON_COLUMNS = (
    "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
    "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,"
    "region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,"
    "gpu_model,longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,"
    "gpu_utilization_percent,ram_utilization_percent,ram_used_gb,on_cloud,pue,wue"
).split(",")
REQUIRED = ("duration", "emissions", "energy_consumed")
NUMERIC = ("duration", "emissions", "energy_consumed", "cpu_energy", "gpu_energy", "ram_energy", "pue")


@dataclass
class Run:
    """One row of emissions.csv with its embodied share."""

    row: int
    run_id: str
    timestamp: str
    project_name: str
    duration_s: float
    energy_kwh: float
    operational_kg: float
    embodied_host_kg: float
    embodied_gpu_kg: float
    country: str
    pue: float | None

    @property
    def embodied_kg(self) -> float:
        return self.embodied_host_kg + self.embodied_gpu_kg

    @property
    def total_kg(self) -> float:
        return self.operational_kg + self.embodied_kg

    @property
    def embodied_share(self) -> float:
        return self.embodied_kg / self.total_kg if self.total_kg > 0 else 0.0

    @property
    def ci_g_per_kwh(self) -> float | None:
        """Intensity CodeCarbon applied (emissions / energy)."""
        return 1000 * self.operational_kg / self.energy_kwh if self.energy_kwh > 0 else None


def _number(text: str, file: str, row: int, column: str, required: bool) -> float | None:
    if text is None or text.strip() == "":
        if required:
            raise InputError("value is missing", file=file, field=f"row {row}, column {column}")
        return None
    try:
        x = float(text)
    except ValueError:
        raise InputError(f"expected a number, found {text!r}", file=file, field=f"row {row}, column {column}") from None
    if not math.isfinite(x) or x < 0:
        raise InputError(f"expected a finite non-negative number, found {text!r}", file=file,
                         field=f"row {row}, column {column}")
    return x


def read_runs(path: str | Path, server_embodied: EmbodiedResult) -> list[Run]:
    """Runs of a CodeCarbon ``emissions.csv`` with the server's embodied carbon attributed.

    Parameters
    ----------
    path : path
        CodeCarbon's output file (its header line first).
    server_embodied : EmbodiedResult
        Embodied carbon of the server the runs used.

    Raises
    ------
    InputError
        Missing file, a missing required column, or a bad value (named by row and column).
    """
    file = str(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", file=file) from None
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", file=file) from None
    with fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(f"not a CodeCarbon emissions.csv: missing column(s) {', '.join(missing)}", file=file,
                             field="header")
        host_kg, gpu_kg = server_embodied.host_kg, server_embodied.gpu_kg
        life_h = server_embodied.server.host_lifetime_yr.value
        life_g = server_embodied.server.gpu_lifetime_yr.value
        runs = []
        for i, rec in enumerate(reader, start=2):  # row 1 is the header
            vals = {c: _number(rec.get(c), file, i, c, c in REQUIRED) for c in NUMERIC if c in header}
            dur = vals["duration"]
            runs.append(Run(
                row=i, run_id=rec.get("run_id") or "", timestamp=rec.get("timestamp") or "",
                project_name=rec.get("project_name") or "", duration_s=dur, energy_kwh=vals["energy_consumed"],
                operational_kg=vals["emissions"],
                embodied_host_kg=float(amortised_kg(host_kg, dur, life_h)),
                embodied_gpu_kg=float(amortised_kg(gpu_kg, dur, life_g)),
                country=rec.get("country_iso_code") or rec.get("country_name") or "", pue=vals.get("pue"),
            ))
    if not runs:
        raise InputError("the file has a header but no runs", file=file)
    return runs
