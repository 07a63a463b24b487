"""``carbonsim budget BUDGET.yaml``: planned training runs and inference sweeps against a carbon
budget (layer 2). Tiers and allocation rules: :mod:`carbonsim.models.lifecycle.budgets`.

A budget file::

    name: nlp-team-2025
    period: "2025"
    budget_kg: 20000
    split: {training: 0.7, inference: 0.3}        # shares of the budget (sum to 1)
    classify: {by: share, thresholds: [0.05, 0.25, 1.0]}   # optional (by: share | kg)
    grid: FRA                                      # the grid the plan is on (every item without its own)
    items:
      - {name: pretrain-1b, kind: training,
         train: {params_b: 1.3, tokens_b: 300, gpu: nvidia-a100-sxm4-80gb, gpus: 64, pue: 1.2}}
      - {name: chat, kind: inference, sweep: ../scenarios/a100x4.yaml, requests: 2.0e7, point: baseline}
      - {name: evaluations, kind: training, kg: 350}

A ``train`` item takes the options of ``carbonsim train`` (``params_b``, ``tokens_b``, ``gpu``,
``gpus``, ``mfu``, ``grid``, ``pue``, ``seq_len``, ``gpu_hours`` ...). A ``sweep`` item runs the
scenario (nothing written) and charges ``requests`` x the request carbon (``total_g``) or
``tokens`` x the carbon per 1,000 output tokens of its ``baseline`` point (the scenario's own
values) or its ``best`` one (least carbon per request among the feasible points that meet the
scenario's constraints, at the scenario's own values of its held axes: a best point never moves
the grid, PUE or load the plan is on; docs/sweep.md); refresh-policy scenarios take ``tokens``
(their ``sci_g_per_1k_tokens``). Paths are relative to the budget file.

The budget's ``grid`` is the grid the plan is on: a training item without a ``grid`` of its own
runs on it, and a sweep item without one runs its scenario on it (``datacenter.grid`` set to it,
and a swept grid axis reduced to it, as ``--set`` would), so no item is charged on another grid
than the one the budget states. An item's own ``grid`` overrides the budget's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from carbonsim.engine.db.schema import Checker, Choice, Count, Fields, ListOf, Number, Spec, Text, _typename
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.options import (
    DAYS, DEVICE_HOURS, DEVICES, MFU, PARAMS_B, POWER_W, PUE, SEQ_LEN, TOKENS_B, USAGE, YEARS,
)
from carbonsim.engine.readers.yamlfile import load_yaml
from carbonsim.errors import InputError
from carbonsim.models.lifecycle.budgets import DEFAULT_THRESHOLDS, TIERS, classify, running_use

CATEGORIES = ("training", "inference")

TRAIN_ITEM = Fields(
    {"params_b": PARAMS_B, "active_params_b": PARAMS_B, "tokens_b": TOKENS_B, "gpu": Text(), "gpus": DEVICES,
     "mfu": MFU, "grid": Text(), "pue": PUE, "seq_len": SEQ_LEN, "model": Text(), "gpu_hours": DEVICE_HOURS,
     "days": DAYS, "power_w": POWER_W, "server": Text(), "lifetime_yr": YEARS, "usage": USAGE},
    required=("params_b", "tokens_b", "gpu"),
    what="train",
)
_AMOUNT = Number(0.0, 1e18, exclusive_min=True)
ITEM = Fields(
    {"name": Text(), "kind": Choice(CATEGORIES), "train": TRAIN_ITEM, "sweep": Text(), "requests": _AMOUNT,
     "tokens": _AMOUNT, "point": Choice(("baseline", "best")), "kg": Number(0.0, 1e15), "grid": Text(),
     "note": Text()},
    required=("name", "kind"),
    what="an item",
)


class _Thresholds(Spec):
    def check(self, value, path, ck):
        if not isinstance(value, list) or len(value) != 3:
            ck.error(path, f"expected three increasing numbers, found {_typename(value)}")
            return None
        out = [Number(0.0, 1e15, exclusive_min=True).check(v, f"{path}[{i}]", ck) for i, v in enumerate(value)]
        if None in out:
            return None
        if not out[0] < out[1] < out[2]:
            ck.error(path, f"thresholds must increase, found {out}")
            return None
        return out


BUDGET = Fields(
    {"name": Text(), "period": Text(), "budget_kg": Number(0.0, 1e15, exclusive_min=True),
     "split": Fields({"training": Number(0.0, 1.0), "inference": Number(0.0, 1.0)}, required=CATEGORIES,
                     what="split"),
     "classify": Fields({"by": Choice(("share", "kg")), "thresholds": _Thresholds()}, what="classify"),
     "grid": Text(), "items": ListOf(ITEM, 1), "note": Text(), "year": Count(1990, 2100)},
    required=("name", "budget_kg", "items"),
    what="a budget",
)


@dataclass
class ItemResult:
    name: str
    kind: str
    kg: float
    how: str
    share: float = 0.0
    tier: str = ""
    cumulative_kg: float = 0.0
    remaining_kg: float = 0.0
    fits: bool = True


@dataclass
class BudgetResult:
    name: str
    period: str | None
    budget_kg: float
    allocation_kg: dict[str, float]
    by: str
    thresholds: tuple
    items: list[ItemResult]
    notes: list[str] = field(default_factory=list)

    def planned_kg(self, kind: str) -> float:
        return sum(i.kg for i in self.items if i.kind == kind)

    def status(self, kind: str) -> str:
        return "within" if self.planned_kg(kind) <= self.allocation_kg[kind] * (1 + 1e-12) else "over"

    def as_dict(self) -> dict:
        return {
            "name": self.name, "period": self.period, "budget_kg": self.budget_kg,
            "classification": {"by": self.by, "thresholds": list(self.thresholds), "tiers": list(TIERS)},
            "categories": {k: {"allocation_kg": self.allocation_kg[k], "planned_kg": self.planned_kg(k),
                               "remaining_kg": self.allocation_kg[k] - self.planned_kg(k), "status": self.status(k)}
                           for k in CATEGORIES},
            "items": [vars(i) for i in self.items], "notes": self.notes,
        }


def _train_item(spec: dict, db: Database, default_grid: str, where: str) -> tuple[float, str]:
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.training import train

    args = dict(spec)
    grid = resolve_grid(str(args.pop("grid", default_grid)), db)
    try:
        r = train(db, grid=grid, cs=load_coefficients(None, db), **args)
    except InputError as exc:
        raise InputError(exc.message, field=f"{where}.train.{exc.field or ''}".rstrip(".")) from None
    return r.total_kg, (f"train: {r.gpu_hours:,.0f} GPU-h, {r.energy_mwh:,.1f} MWh on {grid.label}, "
                        f"coefficients {r.coefficients}")


def _grid_sets(scenario, grid: str | None) -> list[str]:
    """``--set`` strings that put ``scenario`` on ``grid`` (its base point and any swept grid axis)."""
    if grid is None:
        return []
    sets = [f"datacenter.grid={grid}"]
    for part, axes in (("product", scenario.product), ("zip", scenario.zipped)):
        if "datacenter.grid" in axes:
            if part == "zip":
                raise InputError("the scenario zips datacenter.grid with other axes; give the item a scenario "
                                 "without a grid axis, or no grid", file=scenario.file, field="sweep.zip")
            sets.append(f"sweep.product.datacenter.grid=[{grid}]")
    return sets


def _sweep_item(item: dict, db: Database, base: Path, where: str, grid: str | None = None) -> tuple[float, str]:
    from carbonsim.engine.sweep.decisions import eligible_rows
    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import load_scenario

    path = (base / item["sweep"]).resolve() if not Path(item["sweep"]).is_absolute() else Path(item["sweep"])
    if not path.is_file():
        raise InputError("scenario file not found", file=str(path), field=f"{where}.sweep")
    sc = load_scenario(path)
    grid = item.get("grid", grid)
    if grid is not None:
        sc = load_scenario(path, _grid_sets(sc, grid))
    amount = [k for k in ("requests", "tokens") if k in item]
    if len(amount) != 1:
        raise InputError("a sweep item needs one of requests or tokens (over the budget's period)",
                         field=where)
    if sc.lifecycle and amount[0] != "tokens":
        raise InputError("a refresh-policy scenario is charged by tokens", field=f"{where}.requests")
    r = run_sweep(sc, db, None, collect=True)
    point = item.get("point", "baseline")
    frame = r.frame
    at = f" on {grid} (the budget's grid)" if grid is not None and item.get("grid") is None else \
        f" on {grid}" if grid is not None else ""
    if point == "best":  # within the scenario's own circumstances and constraints (docs/sweep.md)
        try:
            ok = eligible_rows(frame, r)
        except InputError as exc:
            raise InputError(f"{path.name}: {exc.message}", field=f"{where}.point") from None
        if not ok.any():
            raise InputError(f"no feasible point of {path.name} meets its constraints at its own held values",
                             field=f"{where}.point")
        frame = frame[ok]
        held = r.decisions.get("own") or {}
        at = f" at {', '.join(f'{k}={v}' for k, v in held.items())} (held)" if held else at
    if sc.lifecycle:
        column = "sci_g_per_1k_tokens"
        value = float(r.baseline[column]) if point == "baseline" else float(frame[column].min())
    else:
        column = "total_g" if amount[0] == "requests" else "total_g_per_1k_tokens"
        if point == "baseline":
            if r.baseline.get("feasible") is False:
                raise InputError("the scenario's own point is infeasible; use point: best", field=f"{where}.point")
            value = float(r.baseline["total_g"])
            if column == "total_g_per_1k_tokens":
                value *= 1000.0 / float(sc.doc["workload"]["output_tokens"])
        else:
            value = float(frame[column].min())
    units = float(item[amount[0]]) / (1000.0 if amount[0] == "tokens" else 1.0)
    kg = value * units / 1000.0
    return kg, (f"sweep {sc.name}: {point} point{at}, {value:.4g} g per "
                f"{'1k tokens' if amount[0] == 'tokens' else 'request'}")


def budget(path: str | Path, db: Database) -> BudgetResult:
    """Check a budget file's planned items against it (module docstring)."""
    raw = load_yaml(path, "budget")
    ck = Checker(path)
    doc = BUDGET.check(raw, "", ck) if isinstance(raw, dict) else None
    if not isinstance(raw, dict):
        ck.error("", "expected a mapping at the top of the budget file")
    ck.raise_if_errors()
    split = doc.get("split") or {"training": 0.7, "inference": 0.3}
    if abs(split["training"] + split["inference"] - 1.0) > 1e-6:
        raise InputError(f"split shares must sum to 1, found {split['training'] + split['inference']:g}", file=path,
                         field="split")
    cls = doc.get("classify") or {}
    by = cls.get("by", "share")
    thresholds = tuple(cls.get("thresholds") or DEFAULT_THRESHOLDS[by])
    allocation = {k: doc["budget_kg"] * split[k] for k in CATEGORIES}
    base = Path(path).resolve().parent
    items = []
    for i, it in enumerate(doc["items"]):
        where = f"items[{i}]"
        sources = [k for k in ("train", "sweep", "kg") if k in it]
        if len(sources) != 1:
            raise InputError("an item needs exactly one of train, sweep or kg", file=path, field=where)
        try:
            if "kg" in it:
                kg, how = float(it["kg"]), "given"
            elif "train" in it:
                kg, how = _train_item(it["train"], db, doc.get("grid", "world"), where)
            else:
                kg, how = _sweep_item(it, db, base, where, doc.get("grid"))
        except InputError as exc:
            if exc.file is None:
                raise InputError(exc.message, file=path, field=exc.field or where) from None
            raise
        items.append(ItemResult(it["name"], it["kind"], kg, how))
    for kind in CATEGORIES:
        mine = [x for x in items if x.kind == kind]
        if not mine:
            continue
        kgs = [x.kg for x in mine]
        cum, rem, fits = running_use(kgs, allocation[kind])
        alloc = allocation[kind]
        shares = [k / alloc if alloc > 0 else float("inf") for k in kgs]
        tiers = classify(shares if by == "share" else kgs, thresholds)
        for x, c, r, f, s, t in zip(mine, cum, rem, fits, shares, tiers):
            x.cumulative_kg, x.remaining_kg, x.fits, x.share, x.tier = float(c), float(r), bool(f), float(s), t
    return BudgetResult(doc["name"], doc.get("period"), doc["budget_kg"], allocation, by, thresholds, items)
