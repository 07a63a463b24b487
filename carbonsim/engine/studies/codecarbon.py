"""``carbonsim codecarbon``: the embodied carbon CodeCarbon leaves out, added per run (layer 2).

CodeCarbon measures a run's energy and operational emissions; its users have asked for the
embodied half since 2023 (mlco2/codecarbon#471). Each run is attributed the embodied carbon of
the server it ran on, amortised over the run's duration,
``E_host · T / LT_host + E_GPU · T / LT_GPU`` (:mod:`carbonsim.models.lifecycle.amortisation`).
The server is the one given, or is built from what CodeCarbon recorded (``cpu_model``,
``gpu_model``, ``gpu_count``, ``ram_total_size``) with the fleet-inventory rules of
:mod:`carbonsim.engine.studies.inventory` (an unknown GPU is an error, never guessed).
"""

from __future__ import annotations

from dataclasses import dataclass

from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.inputs.server import Server, server_from_dict
from carbonsim.engine.readers.codecarbon import CodeCarbonRun, read_emissions
from carbonsim.engine.readers.inventory import InventoryRow
from carbonsim.engine.studies.embodied import EmbodiedResult, embodied
from carbonsim.engine.studies.inventory import fill_row
from carbonsim.errors import InputError
from carbonsim.models.lifecycle.amortisation import amortised_kg


@dataclass
class Run:
    """One run with its embodied share."""

    run: CodeCarbonRun
    server: EmbodiedResult
    embodied_host_kg: float
    embodied_gpu_kg: float

    @property
    def embodied_kg(self) -> float:
        return self.embodied_host_kg + self.embodied_gpu_kg

    @property
    def operational_kg(self) -> float:
        return self.run.emissions_kg

    @property
    def total_kg(self) -> float:
        return self.operational_kg + self.embodied_kg

    @property
    def embodied_share(self) -> float:
        return self.embodied_kg / self.total_kg if self.total_kg > 0 else 0.0

    def record(self) -> dict:
        r = self.run
        return {"line": r.line, "run_id": r.run_id, "timestamp": r.timestamp, "server": self.server.server.id,
                "flushes": r.rows, "duration_s": r.duration_s, "energy_kwh": r.energy_kwh,
                "operational_kg": self.operational_kg, "embodied_host_kg": self.embodied_host_kg,
                "embodied_gpu_kg": self.embodied_gpu_kg, "embodied_kg": self.embodied_kg,
                "total_kg": self.total_kg, "embodied_share": self.embodied_share}


@dataclass
class CodeCarbonResult:
    """Every run with its embodied share, and the totals."""

    runs: list[Run]
    coefficients: CoefficientSet

    SUMMED = ("duration_s", "energy_kwh", "operational_kg", "embodied_host_kg", "embodied_gpu_kg", "embodied_kg",
              "total_kg")

    @property
    def servers(self) -> dict[str, EmbodiedResult]:
        return {r.server.server.id: r.server for r in self.runs}

    def records(self) -> list[dict]:
        return [r.record() for r in self.runs]

    def totals(self) -> dict:
        recs = self.records()
        out = {k: sum(r[k] for r in recs) for k in self.SUMMED}
        out["embodied_share"] = out["embodied_kg"] / out["total_kg"] if out["total_kg"] else 0.0
        return out

    def to_frame(self):
        """One row per run (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.records())


def server_from_run(run: CodeCarbonRun, db, file: str) -> Server:
    """The server a run used, from the hardware CodeCarbon recorded."""
    if not run.gpu_model and not run.cpu_model:
        raise InputError(f"line {run.line}: CodeCarbon recorded no cpu_model or gpu_model; give --server",
                         file=file, field="cpu_model")
    row = InventoryRow(id=f"codecarbon-line-{run.line}", file=file, line=run.line, cpu_model=run.cpu_model,
                       gpu_model=run.gpu_model, gpu_count=run.gpu_count, dram_gb=run.ram_gb)
    try:
        filled = fill_row(row, db, PartMatcher(db, "cpus"), PartMatcher(db, "gpus"))
    except InputError as exc:
        raise InputError(f"{exc.message}; or give --server", file=file, field=exc.field) from None
    return server_from_dict(filled.spec, db, file, row.id)


def codecarbon(path, cs: CoefficientSet, db, server: Server | None = None) -> CodeCarbonResult:
    """The runs of ``path`` with embodied carbon added (:func:`read_runs`)."""
    return CodeCarbonResult(read_runs(path, cs, db, server), cs)


def read_runs(path, cs: CoefficientSet, db, server: Server | None = None) -> list[Run]:
    """Runs of a CodeCarbon ``emissions.csv`` with their servers' embodied carbon attributed.

    Parameters
    ----------
    path : path
    cs : CoefficientSet
    db : Database
    server : Server, optional
        The server every run used; without it, each run's server is built from its row.
    """
    runs = read_emissions(path)
    cache: dict[tuple, EmbodiedResult] = {}
    out = []
    for r in runs:
        key = ("given",) if server is not None else r.hardware
        if key not in cache:
            cache[key] = embodied(server if server is not None else server_from_run(r, db, str(path)), cs)
        e = cache[key]
        out.append(Run(r, e, float(amortised_kg(e.host_kg, r.duration_s, e.server.host_lifetime_yr.value)),
                       float(amortised_kg(e.gpu_kg, r.duration_s, e.server.gpu_lifetime_yr.value))))
    return out
