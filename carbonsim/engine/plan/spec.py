"""Plan files (``carbonsim plan PLAN.yaml``): load and check (layer 2). Fields: ``docs/plan.md``.

A plan names the services to serve (online: a request rate, flat or a 24-hour profile, or a
request trace, token-length distributions and an SLO; offline: output tokens a day and a
deadline), the candidate servers and the settings to choose among, the datacenter (grid and
PUE: the user's circumstance, never chosen), the horizon, and optionally prices, host-CPU
reuse and the capacity search's settings. Every value passes the checks below, whether it comes
from the file, ``--set`` or a Python dict; a bad one is an :class:`~carbonsim.errors.InputError`
naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from carbonsim.engine.db.schema import Checker, Choice, Count, Fields, ListOf, MapOf, Number, Spec, Text
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.options import MAX_NUM_SEQS, PUE, REQUESTS, SEED, SLO_S, YEARS
from carbonsim.engine.inputs.overrides import parse_assignment, set_path
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.engine.sweep.scenario import NAME_PATTERN, _Bool, _Tokens
from carbonsim.errors import InputError
from carbonsim.models.perf.layout import PRECISIONS

#: Hours in a day: a profile has one request rate per hour.
HOURS = 24
#: SLO attainment when a service gives none: nine requests in ten meet both targets.
DEFAULT_ATTAINMENT = 0.9
#: Engines a plan may simulate (vLLM's continuous batching; hf-eager runs static batches only).
PLAN_ENGINES = ("synchronous", "overlapped")
#: Capacity search: requests per simulation, bisection steps, seed, and the share of the highest
#: rate that met the SLO a server is planned for (headroom for the run's sampling noise; docs/plan.md §3).
DEFAULT_SEARCH = {"requests": 400, "steps": 7, "seed": 0, "margin": 0.95}
#: Newer GPUs' energy per unit of work halves every this many years (the seed, Sec. 5.4: FLOPS
#: per watt doubles about every 3-4 years; the short end is taken).
DEFAULT_DOUBLING_YR = 3.0


class _Rate(Spec):
    """A request rate: one number, or 24 numbers (one per hour of the day), each >= 0."""

    NUM = Number(0.0, 1e6)

    def check(self, value, path, ck):
        if isinstance(value, list):
            if len(value) != HOURS:
                ck.error(path, f"a daily profile has {HOURS} values (one per hour), found {len(value)}")
                return None
            out = [self.NUM.check(v, f"{path}[{i}]", ck) for i, v in enumerate(value)]
            return None if None in out else out
        return self.NUM.check(value, path, ck)


_NUM_LIST = ListOf(Number(0.0, 1e15, exclusive_min=True), 1)
_YEAR_LIST = ListOf(YEARS, 1)
SLO = Fields({"ttft_s": SLO_S, "tpot_s": SLO_S, "attainment": Number(0.0, 1.0, exclusive_min=True)},
             what="slo")
SERVICE = Fields(
    {
        "name": Text(NAME_PATTERN, "a plain name"),
        "model": Text(),
        "mode": Choice(("online", "offline")),
        "qps": _Rate(),
        "trace": Text(),
        "prompt_tokens": _Tokens(),
        "output_tokens": _Tokens(),
        "slo": SLO,
        "precision": Choice(tuple(PRECISIONS)),
        "engine": Choice(PLAN_ENGINES),
        "chunked_prefill": _Bool(),
        "tokens_per_day": Number(0.0, 1e18),
        "deadline_h": Number(1.0, 24.0),
        "start_h": Count(0, HOURS - 1),
        "note": Text(),
    },
    required=("name", "model", "mode"),
    what="a service",
)
CANDIDATES = Fields(
    {
        "servers": ListOf(Text(), 1),
        "tensor_parallel": ListOf(Count(1, 1024), 1),
        "max_num_seqs": ListOf(MAX_NUM_SEQS, 1),
        "batch_size": ListOf(Count(1, 1_000_000), 1),
        "host": Fields({"dram_gb": _NUM_LIST, "ssd_gb": ListOf(Number(0.0, 1e9), 1)}, what="host"),
        "lifetime": Fields({"gpu_yr": _YEAR_LIST, "host_yr": _YEAR_LIST}, what="lifetime"),
        "efficiency_doubling_yr": Number(0.0, 100.0, exclusive_min=True),
        "refresh_gain": _Bool(),
    },
    required=("servers",),
    what="candidates",
)
SERVER_PRICE = Fields({"gpus_usd": Number(0.0, 1e12), "host_usd": Number(0.0, 1e12)},
                      required=("gpus_usd", "host_usd"), what="a server's price")
PRICES = Fields(
    {
        "servers": MapOf(SERVER_PRICE, None, "a server id"),
        "dram_usd_per_gb": Number(0.0, 1e6),
        "ssd_usd_per_gb": Number(0.0, 1e6),
        "energy_usd_per_kwh": Number(0.0, 1e3),
    },
    required=("servers", "energy_usd_per_kwh"),
    what="prices",
)
PLAN = Fields(
    {
        "name": Text(NAME_PATTERN, "a plain name (letters, digits, '.', '-', '_')"),
        "description": Text(),
        "horizon_yr": YEARS,
        "coefficients": Text(),
        "datacenter": Fields({"grid": Text(), "pue": PUE}, what="datacenter"),
        "services": ListOf(SERVICE, 1),
        "candidates": CANDIDATES,
        "reuse": Fields({"host_cpus": _Bool(), "batch_size": ListOf(Count(1, 100_000), 1)}, what="reuse"),
        "idle": Choice(("on", "off")),
        "prices": PRICES,
        "search": Fields({"requests": REQUESTS, "steps": Count(2, 20), "seed": SEED,
                          "margin": Number(0.0, 1.0, exclusive_min=True)}, what="search"),
        "solver": Fields({"time_limit_s": Number(0.0, 86400.0, exclusive_min=True),
                          "mip_rel_gap": Number(0.0, 1.0)}, what="solver"),
        "note": Text(),
    },
    required=("name", "horizon_yr", "services", "candidates"),
    what="a plan",
)


@dataclass
class Service:
    """One service of a plan, checked.

    ``rate`` is the request rate per slot (online; shape (24,) or (1,)); ``work_per_day`` the
    output tokens a day (offline); ``window`` the hours the offline work may run in.
    """

    index: int
    name: str
    model: str
    mode: str
    spec: dict
    rate: np.ndarray | None = None
    trace_lengths: tuple[np.ndarray, np.ndarray] | None = None
    work_per_day: float = 0.0
    window: np.ndarray | None = None

    @property
    def online(self) -> bool:
        return self.mode == "online"

    @property
    def where(self) -> str:
        return f"services[{self.index}]"

    @property
    def slo(self) -> dict:
        s = self.spec.get("slo") or {}
        return {"ttft_s": s.get("ttft_s", 0.0), "tpot_s": s.get("tpot_s", 0.0),
                "attainment": s.get("attainment", DEFAULT_ATTAINMENT)}


@dataclass
class Plan:
    """A checked plan file (fields as in :data:`PLAN`, defaults filled)."""

    file: str
    doc: dict
    services: list[Service]
    slots: int
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.doc["name"]

    @property
    def horizon_yr(self) -> float:
        return float(self.doc["horizon_yr"])

    @property
    def grid(self) -> str:
        return str((self.doc.get("datacenter") or {}).get("grid", "world"))

    @property
    def pue(self) -> float:
        return float((self.doc.get("datacenter") or {}).get("pue", 1.0))

    @property
    def candidates(self) -> dict:
        return self.doc["candidates"]

    @property
    def search(self) -> dict:
        return {**DEFAULT_SEARCH, **(self.doc.get("search") or {})}

    @property
    def solver(self) -> dict:
        return {"time_limit_s": 60.0, "mip_rel_gap": 1e-4, **(self.doc.get("solver") or {})}

    @property
    def reuse(self) -> dict:
        return {"host_cpus": False, "batch_size": [1, 4, 16, 64], **(self.doc.get("reuse") or {})}

    @property
    def idle_on(self) -> bool:
        return self.doc.get("idle", "on") == "on"

    @property
    def prices(self) -> dict | None:
        return self.doc.get("prices")

    @property
    def doubling_yr(self) -> float | None:
        c = self.candidates
        if c.get("refresh_gain", True) is False:
            return None
        return float(c.get("efficiency_doubling_yr", DEFAULT_DOUBLING_YR))

    @property
    def slot_s(self) -> np.ndarray:
        return np.full(self.slots, 86400.0 / self.slots)


def _fail(message: str, file, field) -> InputError:
    return InputError(message, file=file, field=field)


def _trace_profile(path: Path, file: str, where: str):
    """Requests per second in each hour of the day (the trace's days averaged), and its lengths."""
    from carbonsim.engine.readers.requests import read_request_trace

    if not path.is_file():
        raise _fail("trace file not found", file, f"{where}.trace")
    tr = read_request_trace(path)
    if len(tr) == 0:
        raise _fail("the trace has no request", str(path), "arrival_s")
    t = np.asarray(tr.arrival_s, float)
    days = max(1.0, float(np.ceil((t.max() + 1e-9) / 86400.0)))
    hours = np.floor((t % 86400.0) / 3600.0).astype(int)
    counts = np.bincount(hours, minlength=HOURS)[:HOURS]
    return counts / (days * 3600.0), (np.asarray(tr.prompt_tokens), np.asarray(tr.output_tokens))


def _check_service(svc: dict, i: int, file: str, base: Path, db: Database) -> Service:
    where = f"services[{i}]"
    mode = svc["mode"]
    if not db.has("models", svc["model"]):
        known = ", ".join(db.ids("models"))
        raise _fail(f"unknown model {svc['model']!r}; known: {known}", file, f"{where}.model")
    online_only = ("qps", "trace", "slo", "engine", "chunked_prefill")
    offline_only = ("tokens_per_day", "deadline_h", "start_h")
    for key in (offline_only if mode == "online" else online_only):
        if key in svc:
            raise _fail(f"applies to mode: {'offline' if mode == 'online' else 'online'}", file, f"{where}.{key}")
    out = Service(i, svc["name"], svc["model"], mode, svc)
    if mode == "online":
        if ("qps" in svc) == ("trace" in svc):
            raise _fail("give the request rate (qps: a number or 24 hourly values) or a request trace (trace), "
                        "not both" if "qps" in svc else "an online service needs its request rate (qps: a number "
                        "or 24 hourly values) or a request trace (trace)", file, f"{where}.qps")
        if "qps" in svc:
            rate = np.atleast_1d(np.asarray(svc["qps"], float))
            for key in ("prompt_tokens", "output_tokens"):
                if key not in svc:
                    raise _fail("required key is missing (the capacity search draws request lengths from it)",
                                file, f"{where}.{key}")
        else:
            p = Path(svc["trace"])
            rate, out.trace_lengths = _trace_profile(p if p.is_absolute() else base / p, file, where)
        if not np.any(rate > 0):
            raise _fail("the request rate is 0 in every hour", file, f"{where}.qps")
        out.rate = rate
        slo = svc.get("slo") or {}
        if not ("ttft_s" in slo or "tpot_s" in slo):
            raise _fail("an online service needs an SLO: slo: {ttft_s, tpot_s, attainment} (at least one target)",
                        file, f"{where}.slo")
    else:
        for key in ("tokens_per_day", "deadline_h", "prompt_tokens", "output_tokens"):
            if key not in svc:
                raise _fail("required key is missing for mode: offline", file, f"{where}.{key}")
        for key in ("prompt_tokens", "output_tokens"):
            if isinstance(svc[key], dict):
                raise _fail("an offline service needs a number of tokens per request", file, f"{where}.{key}")
        if svc["tokens_per_day"] <= 0:
            raise _fail(f"must be greater than 0, found {svc['tokens_per_day']!r}", file, f"{where}.tokens_per_day")
        out.work_per_day = float(svc["tokens_per_day"])
        start, hours = int(svc.get("start_h", 0)), int(np.floor(svc["deadline_h"] + 1e-9))
        window = np.zeros(HOURS, dtype=bool)
        window[(start + np.arange(hours)) % HOURS] = True
        out.window = window
    return out


def plan_from_dict(raw, file: str = "<plan>", sets=(), db: Database | None = None) -> Plan:
    """Check a plan document (``sets``: ``--set PATH=VALUE`` strings applied first).

    Raises
    ------
    InputError
        Naming the file and the field of the first problem.
    """
    from carbonsim.engine.db import default_database

    db = db or default_database()
    if not isinstance(raw, dict):
        raise _fail("expected a mapping at the top of the plan file", file, None)
    for text in sets or ():
        path, value = parse_assignment(text)
        raw = set_path(raw, path, value, file=file)
    ck = Checker(file)
    doc = PLAN.check(raw, "", ck)
    ck.raise_if_errors()
    base = Path(file).resolve().parent if file != "<plan>" else Path(".").resolve()
    names = [s["name"] for s in doc["services"]]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise _fail(f"service name {n!r} is used twice", file, f"services[{i}].name")
    services = [_check_service(s, i, file, base, db) for i, s in enumerate(doc["services"])]
    cand = doc["candidates"]
    for j, ref in enumerate(cand["servers"]):
        p = Path(ref)
        if not db.has("servers", ref) and not (p if p.is_absolute() else base / p).is_file():
            known = ", ".join(db.ids("servers"))
            raise _fail(f"unknown server {ref!r} (a database id or a server file); known: {known}", file,
                        f"candidates.servers[{j}]")
    prices = doc.get("prices")
    if prices:
        for ref in cand["servers"]:
            if ref not in prices["servers"]:
                raise _fail(f"no price for server {ref!r}: give prices.servers.{ref}: {{gpus_usd, host_usd}}", file,
                            "prices.servers")
        if (cand.get("host") or {}).get("dram_gb") and "dram_usd_per_gb" not in prices:
            raise _fail("host variants change the DRAM: give prices.dram_usd_per_gb", file, "prices.dram_usd_per_gb")
        if (cand.get("host") or {}).get("ssd_gb") and "ssd_usd_per_gb" not in prices:
            raise _fail("host variants change the SSD: give prices.ssd_usd_per_gb", file, "prices.ssd_usd_per_gb")
    if (doc.get("reuse") or {}).get("host_cpus") and all(s.online for s in services):
        raise _fail("host CPUs are reused for offline services only, and this plan has none", file, "reuse.host_cpus")
    hourly = any(s.online and len(s.rate) == HOURS for s in services) or any(not s.online for s in services)
    slots = HOURS if hourly else 1
    for s in services:
        if s.online and len(s.rate) != slots:
            s.rate = np.full(slots, float(s.rate[0]))
    return Plan(file, doc, services, slots)


def load_plan(path, sets=(), db: Database | None = None) -> Plan:
    """Load and check a plan file."""
    p = Path(path)
    if not p.is_file():
        raise InputError("plan file not found", file=str(path))
    return plan_from_dict(load_yaml(p, "scenario"), str(path), sets, db)


__all__ = ["Plan", "Service", "load_plan", "plan_from_dict", "DEFAULT_ATTAINMENT", "HOURS"]
