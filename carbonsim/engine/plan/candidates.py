"""The choices a plan considers (layer 2): server variants, lifetimes, instances and candidates.

* a **server variant** is a candidate server with one host configuration (``candidates.host``:
  DRAM and SSD sizes; EcoServe's *Reduce*), the server's own when none is given;
* a **lifetime** is a pair of GPU and host lifetimes (``candidates.lifetime``; *Recycle*), the
  server's own when none is given;
* an **instance** is one engine: a service's model on ``tensor_parallel`` GPUs of one type with
  one scheduler limit (``max_num_seqs`` online, ``batch_size`` offline; *Rightsize*); its capacity
  does not depend on the host, so servers with the same GPU share it;
* a **candidate** is what the integer program counts: servers of one variant and lifetime, each
  running ``gpus // tensor_parallel`` copies of one instance for one service.

A variant whose DRAM or SSD cannot hold what its engines need is not a candidate for that
service (:func:`host_needs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.server import Server, load_server
from carbonsim.engine.plan.spec import Plan, Service
from carbonsim.errors import InputError

#: Host DRAM an engine needs beyond one copy of the model's weights: vLLM's default swap space,
#: 4 GiB per GPU (``swap_space``), and 16 GB for the operating system and the serving processes.
SWAP_GB_PER_GPU = 4 * 1.073741824
OS_DRAM_GB = 16.0
#: Local storage beyond the model checkpoints: the operating system, containers and logs.
OS_SSD_GB = 100.0


@dataclass
class Variant:
    """A candidate server with one host configuration."""

    index: int
    ref: str
    server: Server
    dram_gb: float
    ssd_gb: float
    default: bool
    own_dram_gb: float = 0.0   # the server's own, as listed (prices refer to it)
    own_ssd_gb: float = 0.0

    @property
    def label(self) -> str:
        return f"DRAM {self.dram_gb:g} GB, SSD {self.ssd_gb:g} GB"

    @property
    def sockets(self) -> int:
        return int(self.server.host.cpu_count)


@dataclass(frozen=True)
class Lifetime:
    gpu_yr: float
    host_yr: float
    default: bool

    @property
    def label(self) -> str:
        return f"GPU {self.gpu_yr:g} yr, host {self.host_yr:g} yr"


@dataclass
class Instance:
    """One engine configuration of one service (capacity shared by every server with its GPU)."""

    index: int
    service: Service
    gpu_id: str
    tp: int
    setting: int
    server: Server            # a representative server (its GPU and power constants)
    cap: float = 0.0          # online: requests/s at the SLO; offline: a batch's output tokens/s
    reason: str = ""          # why it cannot serve (empty: it can)
    outputs: dict = field(default_factory=dict)
    column: int = -1          # its column in the capacity search's matrix
    levels: list = field(default_factory=list)   # simulations at the load levels of its capacity

    @property
    def feasible(self) -> bool:
        return not self.reason and self.cap > 0


@dataclass
class Candidate:
    """Servers of one variant and lifetime running one instance for one service."""

    index: int
    service: Service
    variant: Variant
    lifetime: Lifetime
    instance: Instance
    replicas: int

    @property
    def gpus(self) -> int:
        return int(self.variant.server.gpu_count)

    @property
    def tp(self) -> int:
        return self.instance.tp

    @property
    def default(self) -> bool:
        return self.variant.default and self.lifetime.default


def weights_gb(model: dict, precision: str) -> float:
    """Bytes of a model's weights at ``precision`` [GB] (parameters from the model file)."""
    from carbonsim.engine.inputs.llm import _v
    from carbonsim.models.perf.layout import PRECISIONS

    return float(_v(model["params_b"])) * PRECISIONS[precision][0]


def host_needs(model: dict, precision: str, gpus: int) -> tuple[float, float]:
    """DRAM and SSD [GB] a server needs to serve ``model`` on ``gpus`` GPUs: a copy of the weights
    (loaded through host memory; the checkpoint on disk) plus swap space and the operating system."""
    w = weights_gb(model, precision)
    return w + SWAP_GB_PER_GPU * gpus + OS_DRAM_GB, w + OS_SSD_GB


def _ssd_gb(server: Server) -> float:
    return float(sum(g.count * g.gb_each.value for g in server.host.ssd))


def variants(plan: Plan, db: Database) -> list[Variant]:
    """Every candidate server with every host configuration of ``candidates.host``."""
    base = Path(plan.file).resolve().parent if plan.file != "<plan>" else Path(".").resolve()
    host = plan.candidates.get("host") or {}
    out: list[Variant] = []
    for j, ref in enumerate(plan.candidates["servers"]):
        spec = ref if db.has("servers", ref) else str(base / ref) if not Path(ref).is_absolute() else ref
        where = f"candidates.servers[{j}]"
        try:
            own = load_server(spec, db)
        except InputError as exc:
            raise InputError(exc.message, file=exc.file or plan.file, field=exc.field or where) from None
        if own.gpu is None or own.gpu_count == 0:
            raise InputError(f"server {ref!r} has no GPUs; a plan serves LLMs on GPU servers", file=plan.file,
                             field=where)
        own_dram, own_ssd = float(own.host.dram_gb.value), _ssd_gb(own)
        # the server as listed is always a variant (the baselines keep it unless their objective gains)
        drams = [own_dram] + [d for d in host.get("dram_gb") or [] if d != own_dram]
        ssds = [own_ssd] + [d for d in host.get("ssd_gb") or [] if d != own_ssd]
        for dram in drams:
            for ssd in ssds:
                overrides = {}
                if dram != own_dram:
                    overrides["host.dram.gb"] = float(dram)
                if ssd != own_ssd:
                    overrides["host.ssd_gb"] = float(ssd)
                try:
                    server = load_server(spec, db, overrides=overrides) if overrides else own
                except InputError as exc:
                    raise InputError(f"cannot apply the host variant to server {ref!r}: {exc.message}",
                                     file=plan.file, field="candidates.host") from None
                out.append(Variant(len(out), ref, server, float(dram), float(ssd), not overrides, own_dram, own_ssd))
    return out


def lifetimes(plan: Plan, server: Server) -> list[Lifetime]:
    """The GPU x host lifetime pairs of ``candidates.lifetime`` (the server's own where absent)."""
    life = plan.candidates.get("lifetime") or {}
    own_g, own_h = float(server.gpu_lifetime_yr.value), float(server.host_lifetime_yr.value)
    gs = [own_g] + [g for g in life.get("gpu_yr") or [] if g != own_g]
    hs = [own_h] + [h for h in life.get("host_yr") or [] if h != own_h]
    return [Lifetime(float(g), float(h), g == own_g and h == own_h) for g in gs for h in hs]


def enumerate_candidates(plan: Plan, db: Database, models: dict[str, dict]) -> tuple[list[Candidate], list[Instance],
                                                                                      list[str]]:
    """Every candidate of every service, the instances they share, and notes on what was left out.

    Parameters
    ----------
    models : dict
        Model id -> model spec.
    """
    vs = variants(plan, db)
    tps = plan.candidates.get("tensor_parallel") or [1]
    online_settings = plan.candidates.get("max_num_seqs") or [256]
    offline_settings = plan.candidates.get("batch_size") or [64]
    instances: dict[tuple, Instance] = {}
    cands: list[Candidate] = []
    notes: list[str] = []
    for s in plan.services:
        model = models[s.model]
        precision = s.spec.get("precision", "fp16")
        short = 0
        for v in vs:
            g = v.server.gpu_count
            dram_need, ssd_need = host_needs(model, precision, g)
            if v.dram_gb < dram_need or v.ssd_gb < ssd_need:
                short += 1
                continue
            for lt in lifetimes(plan, v.server):
                for tp in tps:
                    if tp > g:
                        continue
                    for setting in (online_settings if s.online else offline_settings):
                        key = (s.index, v.server.gpu.id, tp, setting)
                        if key not in instances:
                            instances[key] = Instance(len(instances), s, v.server.gpu.id, tp, int(setting), v.server)
                        cands.append(Candidate(len(cands), s, v, lt, instances[key], g // tp))
        if short:
            notes.append(f"{s.name}: {short} server variant(s) left out: DRAM or SSD below what serving "
                         f"{s.model} needs (a copy of its weights, {SWAP_GB_PER_GPU:.1f} GB swap per GPU, "
                         f"{OS_DRAM_GB:g} GB DRAM and {OS_SSD_GB:g} GB SSD for the system)")
    return cands, list(instances.values()), notes


def window_slots(service: Service, slots: int) -> np.ndarray:
    """The slots a service's work may run in: every slot (online) or its deadline window (offline)."""
    if service.online or service.window is None:
        return np.ones(slots, dtype=bool)
    return service.window.copy()
