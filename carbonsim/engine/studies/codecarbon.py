"""``carbonsim codecarbon``: the embodied carbon CodeCarbon leaves out, added per run (layer 2).

CodeCarbon measures a run's energy and operational emissions; its users have asked for the
embodied half since 2023 (mlco2/codecarbon#471). Each entry (a run, or a task of a run:
:mod:`carbonsim.engine.readers.codecarbon`) is charged the embodied carbon of the server it ran
on, amortised over its duration and shared by what it held of that server:

.. math:: E_{run} = s_{mem} E_{DRAM} \\frac{T}{LT_{host}} + s_{cpu} (E_{host} - E_{DRAM}) \\frac{T}{LT_{host}}
          + s_{gpu} E_{GPU} \\frac{T}{LT_{GPU}}

(:func:`carbonsim.models.lifecycle.amortisation.amortised_kg`, :func:`~carbonsim.models.
lifecycle.amortisation.resource_share`). The shares are CodeCarbon's ``cpu_count`` (the logical
CPUs the run saw) over the host's hardware threads, ``ram_total_size`` over the host's DRAM, and
the GPUs it saw over the server's GPUs: a 2-vCPU VM is charged 2/256 of a 2 x 64-core host, not
the whole of it; a run on a whole machine gets shares of 1. ``share=`` replaces the three.

The server is the one given, or is built from what CodeCarbon recorded (``cpu_model``,
``gpu_model``, ``gpu_count``, ``ram_total_size``) with the fleet-inventory rules of
:mod:`carbonsim.engine.studies.inventory` (an unknown GPU is an error, never guessed). A run that
saw fewer CPUs than its CPU model's host has ran on a VM or in a container: its host is then
built with the inventory's DRAM prior (and at least the memory the run saw), since
``ram_total_size`` is the VM's and not the host's.

Operational carbon is CodeCarbon's own figure; with a grid it is also recomputed as
``energy_consumed x intensity`` (an hourly trace: its mean over the run's hours when the trace
covers them), and that figure enters the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carbonsim.engine.inputs.coefficients import CoefficientSet
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.inputs.server import Server, server_from_dict
from carbonsim.engine.readers.codecarbon import CodeCarbonRun, read_codecarbon
from carbonsim.engine.readers.inventory import InventoryRow
from carbonsim.engine.studies.embodied import EmbodiedResult, embodied
from carbonsim.engine.studies.inventory import fill_row
from carbonsim.errors import InputError, OptionError
from carbonsim.models.lifecycle.amortisation import amortised_kg, resource_share


@dataclass(frozen=True)
class Share:
    """What a run held of its server: host CPUs, host memory, GPUs (each 0..1), and how."""

    cpu: float = 1.0
    memory: float = 1.0
    gpu: float = 1.0
    basis: str = "whole server"


@dataclass
class Run:
    """One entry with its embodied share (and, with a grid, its recomputed operational carbon)."""

    run: CodeCarbonRun
    server: EmbodiedResult
    embodied_host_kg: float
    embodied_gpu_kg: float
    share: Share = field(default_factory=Share)
    grid_kg: float | None = None
    grid_ci_g_per_kwh: float | None = None

    @property
    def embodied_kg(self) -> float:
        return self.embodied_host_kg + self.embodied_gpu_kg

    @property
    def operational_kg(self) -> float:
        """CodeCarbon's own operational figure."""
        return self.run.emissions_kg

    @property
    def total_kg(self) -> float:
        """Embodied + operational (recomputed on the grid when one was given, else CodeCarbon's)."""
        return (self.operational_kg if self.grid_kg is None else self.grid_kg) + self.embodied_kg

    @property
    def embodied_share(self) -> float:
        return self.embodied_kg / self.total_kg if self.total_kg > 0 else 0.0

    def record(self) -> dict:
        r, s, srv = self.run, self.share, self.server.server
        out = {"line": r.line, "run_id": r.run_id, "task": r.task_name, "timestamp": r.timestamp,
               "server": srv.id, "cpu": srv.host.cpu.id, "gpu": srv.gpu.id if srv.gpu is not None else "",
               "gpu_count": r.gpu_count or 0, "share_cpu": s.cpu, "share_memory": s.memory, "share_gpu": s.gpu,
               "share_basis": s.basis, "tracking_mode": r.tracking_mode, "flushes": r.rows,
               "duration_s": r.duration_s, "energy_kwh": r.energy_kwh, "operational_kg": self.operational_kg}
        if self.grid_kg is not None:
            out |= {"grid_ci_g_per_kwh": self.grid_ci_g_per_kwh, "operational_grid_kg": self.grid_kg}
        return out | {"embodied_host_kg": self.embodied_host_kg, "embodied_gpu_kg": self.embodied_gpu_kg,
                      "embodied_kg": self.embodied_kg, "total_kg": self.total_kg,
                      "embodied_share": self.embodied_share}


@dataclass
class CodeCarbonResult:
    """Every entry with its embodied share, and the totals."""

    runs: list[Run]
    coefficients: CoefficientSet
    warnings: list[str] = field(default_factory=list)
    grid: object = None
    file: str = ""

    SUMMED = ("duration_s", "energy_kwh", "operational_kg", "operational_grid_kg", "embodied_host_kg",
              "embodied_gpu_kg", "embodied_kg", "total_kg")

    @property
    def servers(self) -> dict[str, EmbodiedResult]:
        return {r.server.server.id: r.server for r in self.runs}

    def records(self) -> list[dict]:
        return [r.record() for r in self.runs]

    def totals(self) -> dict:
        recs = self.records()
        out = {k: sum(r[k] for r in recs) for k in self.SUMMED if recs and k in recs[0]}
        out["embodied_share"] = out["embodied_kg"] / out["total_kg"] if out["total_kg"] else 0.0
        out["runs"] = len({r.run.run_id or f"line-{r.run.line}" for r in self.runs})
        out["entries"] = len(self.runs)
        return out

    def to_frame(self):
        """One row per entry (a run, or a task of a run) as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.records())


# ------------------------------------------------------------------------------------------------
# The server and the share
# ------------------------------------------------------------------------------------------------
def _devices_per_package(db, gpu_id: str | None) -> int:
    if gpu_id is None:
        return 1
    return int(db.get("gpus", gpu_id).get("devices_per_package") or 1)


def _packages(run: CodeCarbonRun, per: int, file: str) -> int | None:
    """GPU packages from the devices CodeCarbon counted (an MI250X shows 2 devices per package)."""
    if run.gpu_count is None or per == 1:
        return run.gpu_count
    if run.gpu_count % per:
        raise InputError(f"line {run.line}: {run.gpu_count} x {run.gpu_model} is not a whole number of packages "
                         f"({per} devices each); give --server", file=file, field="gpu_count")
    return run.gpu_count // per


def host_threads(server: Server) -> int | None:
    """Hardware threads of a server's host: sockets x the CPU's threads (2 per core when the CPU
    entry gives only cores)."""
    cpu = server.host.cpu
    per = cpu.spec.get("threads") if cpu.spec else None
    if per is None and cpu.cores:
        per = 2 * cpu.cores
    return None if per is None else int(per) * server.host.cpu_count


def server_from_run(run: CodeCarbonRun, db, file: str) -> Server:
    """The server a run used, from the hardware CodeCarbon recorded (module docstring)."""
    if not run.gpu_model and not run.cpu_model:
        raise InputError(f"line {run.line}: CodeCarbon recorded no cpu_model or gpu_model; give --server",
                         file=file, field="cpu_model")
    gpus = PartMatcher(db, "gpus")
    gpu_id = gpus.match(run.gpu_model)[0] if run.gpu_model else None

    def build(dram_gb):
        row = InventoryRow(id=f"codecarbon-line-{run.line}", file=file, line=run.line, cpu_model=run.cpu_model,
                           gpu_model=run.gpu_model, gpu_count=_packages(run, _devices_per_package(db, gpu_id), file),
                           dram_gb=dram_gb)
        try:
            filled = fill_row(row, db, PartMatcher(db, "cpus"), gpus)
        except InputError as exc:
            raise InputError(f"{exc.message}; or give --server", file=file, field=exc.field) from None
        return server_from_dict(filled.spec, db, file, row.id)

    server = build(run.ram_gb)
    threads = host_threads(server)
    if run.cpu_count is not None and threads is not None and run.cpu_count < threads:
        # a VM or container: ram_total_size is the tenant's memory, not the host's
        host = build(None)
        if run.ram_gb is not None and host.host.dram_gb.value < run.ram_gb:
            return server
        return host
    return server


def run_share(run: CodeCarbonRun, server: Server, db, file: str) -> Share:
    """What ``run`` held of ``server`` (module docstring)."""
    threads = host_threads(server)
    parts, cpu, mem, gpu = [], 1.0, 1.0, 1.0
    if run.cpu_count is not None and threads:
        cpu = float(resource_share(run.cpu_count, threads))
        parts.append(f"{run.cpu_count} of {threads} CPU threads")
    dram = server.host.dram_gb.value
    if run.ram_gb is not None and dram > 0 and cpu < 1.0:
        mem = float(resource_share(run.ram_gb, dram))
        parts.append(f"{run.ram_gb:g} of {dram:g} GB")
    elif cpu < 1.0:
        mem = cpu
    if server.gpu_count:
        per = _devices_per_package(db, server.gpu.id)
        seen = _packages(run, per, file)
        if seen is not None:
            gpu = float(resource_share(seen, server.gpu_count))
            parts.append(f"{seen} of {server.gpu_count} GPUs")
    if cpu >= 1.0 and mem >= 1.0 and gpu >= 1.0:
        return Share(1.0, 1.0, 1.0, "whole server" + (f" ({'; '.join(parts)})" if parts else ""))
    return Share(cpu, mem, gpu, "; ".join(parts))


# ------------------------------------------------------------------------------------------------
# The study
# ------------------------------------------------------------------------------------------------
def codecarbon(path, cs: CoefficientSet, db, server: Server | None = None, grid=None,
               share: float | None = None) -> CodeCarbonResult:
    """The entries of a CodeCarbon file with embodied carbon added (module docstring).

    Parameters
    ----------
    path : path
        ``emissions.csv`` or a task file.
    cs : CoefficientSet
    db : Database
    server : Server, optional
        The server every run used; without it, each run's server is built from its row.
    grid : GridIntensity, optional
        Recompute operational carbon on this grid (beside CodeCarbon's own figure).
    share : float, optional
        Share of the server (0..1] charged to every run, replacing the one from its vCPUs,
        memory and GPUs.
    """
    if share is not None and not (0.0 < share <= 1.0):
        raise OptionError(f"must be in (0, 1], found {share:g}", "share")
    emissions = read_codecarbon(path)
    file = emissions.file
    warnings = list(emissions.warnings) + (list(grid.warnings) if grid is not None else [])
    servers: dict[tuple, Server] = {}
    results: dict[str, EmbodiedResult] = {}
    out = []
    for r in emissions.runs:
        key = ("given",) if server is not None else r.hardware
        if key not in servers:
            servers[key] = server if server is not None else server_from_run(r, db, file)
        srv = servers[key]
        if srv.id not in results:
            results[srv.id] = embodied(srv, cs)
        e = results[srv.id]
        s = Share(share, share, share, f"given (share {share:g})") if share is not None else run_share(r, srv, db, file)
        dram_kg = e.host_components_kg.get("dram", 0.0)
        host_life, gpu_life = e.server.host_lifetime_yr.value, e.server.gpu_lifetime_yr.value
        host = (s.memory * float(amortised_kg(dram_kg, r.duration_s, host_life))
                + s.cpu * float(amortised_kg(e.host_kg - dram_kg, r.duration_s, host_life)))
        gpu = s.gpu * float(amortised_kg(e.gpu_kg, r.duration_s, gpu_life))
        run = Run(r, e, host, gpu, s)
        if grid is not None:
            run.grid_ci_g_per_kwh = _run_ci(grid, r, warnings)
            run.grid_kg = r.energy_kwh * run.grid_ci_g_per_kwh / 1000.0
        out.append(run)
    if any(r.tracking_mode == "process" for r in emissions.runs):
        warnings.append("tracking_mode 'process': CodeCarbon's energy is the process's share of the machine; the "
                        "embodied share is still by the CPUs, memory and GPUs the run saw")
    return CodeCarbonResult(out, cs, warnings, grid, file)


def _run_ci(grid, run: CodeCarbonRun, warnings: list[str]) -> float:
    """The grid's intensity for a run: a trace's mean over the run's time when it covers it."""
    trace = getattr(grid, "trace", None)
    end = run.end_s
    if trace is None or end is None:
        return grid.ci_g_per_kwh
    start = end - run.duration_s
    if trace.t_s[0] <= start and end <= trace.t_s[-1] + (trace.t_s[-1] - trace.t_s[-2] if len(trace.t_s) > 1 else 0):
        try:
            return trace.time_weighted_mean_g_per_kwh(start, max(end, start + 1.0))
        except ValueError:
            pass
    warnings.append(f"line {run.line}: {grid.label} does not cover the run ({run.timestamp}); its mean is used")
    return grid.ci_g_per_kwh


def read_runs(path, cs: CoefficientSet, db, server: Server | None = None) -> list[Run]:
    """The entries of a CodeCarbon file with embodied carbon attributed (:func:`codecarbon`)."""
    return codecarbon(path, cs, db, server).runs
