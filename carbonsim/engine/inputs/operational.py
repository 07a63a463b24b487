"""A server's power draw for the footprint (layer 2): measured, fitted or estimated.

In order of preference:

1. a measured power (``--power-w``);
2. the host's own fitted curve (``host.power_model`` in the server spec, written by
   ``carbonsim power fit --out-yaml``) at the CPU utilisation, plus the GPUs;
3. the spec-based host prior (SPECpower-calibrated, :mod:`carbonsim.models.power.prior`) at the CPU
   utilisation, plus the GPUs.

GPUs draw ``P = P_idle,loaded + (P_cap - P_idle,loaded) * activity`` (the activity model of
:mod:`carbonsim.models.power.gpu` with the activity given directly, 0..1). A VM carries its share of
the host's power, as it does of the host's embodied carbon.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import Server
from carbonsim.models.power.gpu import gpu_power_w
from carbonsim.models.power.host import evaluate_form

#: Utilisations assumed when the user gives none (stated in every output that uses them).
DEFAULT_CPU_UTIL = 0.5
DEFAULT_GPU_ACTIVITY = 0.5


@dataclass
class PowerEstimate:
    power_w: float
    host_w: float | None
    gpu_w: float | None
    origin: str
    notes: list[str] = field(default_factory=list)


def _fraction(x, name):
    if x is not None and not 0.0 <= x <= 1.0:
        raise InputError(f"{name} must be between 0 and 1, found {x}", field=name)


def gpu_constants(server: Server) -> tuple[dict, str | None]:
    """Activity-model constants of the server's GPU and a note when they are a fallback."""
    from carbonsim.engine.inputs.power import gpu_activity_constants

    return gpu_activity_constants(server.gpu.id, server.gpu.tdp_w.value)


def host_power(server: Server, share: float, cpu_util: float, mem_util: float = 0.0) -> tuple[float, str]:
    """The host's power at ``cpu_util`` [W] (its VM share) and where the number comes from."""
    host = server.host
    if host.power_model:
        pm = {k: v for k, v in host.power_model.items() if k not in ("form", "fit", "source", "note")}
        p = float(evaluate_form(host.power_model["form"], cpu_util, pm, mem_util))
        return share * p, f"host power from its fitted {host.power_model['form']} curve (host.power_model)"
    from carbonsim.engine.inputs.power import spec_prior_power_w

    cpu = host.cpu
    if cpu.tdp_w is None or cpu.cores is None:
        raise InputError("the host CPU needs tdp_w and cores for the power prior (or give host.power_model "
                         "or --power-w)", file=server.file, field="host.cpus")
    chassis_dram_gb = host.dram_gb.value / share if share > 0 else host.dram_gb.value
    n_ssd = sum(g.count for g in host.ssd)
    n_hdd = sum(g.count for g in host.hdd)
    psu = host.facts.get("psu_w")
    p, note = spec_prior_power_w(cpu_util, cpu.tdp_w.value, host.cpu_count, cpu.cores * host.cpu_count,
                                 max(chassis_dram_gb, 1.0), year=server.year, ssd_count=n_ssd,
                                 hdd_count=n_hdd, psu_w=None if psu is None else psu.value)
    return share * float(p), note


def server_power(server: Server, share: float, power_w=None, cpu_util=None, gpu_activity=None,
                 mem_util=None) -> PowerEstimate:
    """Power draw of ``server`` for a footprint.

    Parameters
    ----------
    server : Server
    share : float
        The server's share of its chassis (see :func:`carbonsim.engine.inputs.columns.host_share`).
    power_w : float, optional
        A measured power [W]; used as is.
    cpu_util, gpu_activity, mem_util : float, optional
        0..1. Defaults: :data:`DEFAULT_CPU_UTIL`, :data:`DEFAULT_GPU_ACTIVITY`, 0.
    """
    for x, name in ((cpu_util, "cpu_util"), (gpu_activity, "gpu_activity"), (mem_util, "mem_util")):
        _fraction(x, name)
    if power_w is not None:
        if not power_w >= 0:
            raise InputError(f"power must be a non-negative number of watts, found {power_w}", field="power_w")
        return PowerEstimate(float(power_w), None, None, "measured (--power-w)")
    notes = []
    if cpu_util is None:
        cpu_util = DEFAULT_CPU_UTIL
        notes.append(f"CPU utilisation assumed {DEFAULT_CPU_UTIL:g} (give --cpu-util)")
    host_w, origin = host_power(server, share, cpu_util, mem_util or 0.0)
    gpu_w = 0.0
    if server.gpu is not None and server.gpu_count:
        if gpu_activity is None:
            gpu_activity = DEFAULT_GPU_ACTIVITY
            notes.append(f"GPU activity assumed {DEFAULT_GPU_ACTIVITY:g} (give --gpu-activity)")
        c, fallback = gpu_constants(server)
        if fallback:
            notes.append(fallback)
        # activity given directly: MFU/eta_c term carries it, MBU term 0, a_c = 1
        per_gpu = float(gpu_power_w(gpu_activity * c["eta_c"], 0.0, c["idle_loaded_w"], c["cap_w"], 1.0, 0.0,
                                    c["eta_c"], c["eta_m"]))
        gpu_w = server.gpu_count * per_gpu
        origin += f"; GPUs at activity {gpu_activity:g} ({server.gpu_count} x {per_gpu:.0f} W, activity model)"
    return PowerEstimate(host_w + gpu_w, host_w, gpu_w, origin, notes)
