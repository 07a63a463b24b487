"""Refresh-policy sweeps (layer 2): a scenario with a ``lifecycle:`` section evaluates a fleet over
a horizon of years instead of one request (docs/lifecycle.md).

A point is a column of the chain's fleet rows (:data:`carbonsim.engine.chain.FLEET_ROWS`): the
policy and demand, then each generation's server as numbers (built once per generation by
:func:`carbonsim.engine.sweep.generations.generation_numbers` through the tasks chain), then for
each year the generation a purchase gets and the grid's intensity in that year
(:func:`carbonsim.engine.inputs.grid.grid_by_year`). The sweep machinery (lazy space, chunks,
executors, best points) is the same as for every scenario; the chain's fleet mode
(:meth:`carbonsim.engine.chain.CarbonChain.run_fleet`) evaluates the points.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from carbonsim.engine.chain import MAX_GENERATIONS, MAX_YEARS, CarbonChain, Column
from carbonsim.engine.db.store import Database
from carbonsim.engine.inputs.coefficients import DEFAULT_SET, load_coefficients
from carbonsim.engine.inputs.grid import grid_by_year, resolve_grid
from carbonsim.engine.inputs.llm import model_spec
from carbonsim.engine.inputs.options import DEFAULT_PUE
from carbonsim.engine.sweep.generations import generation_numbers, generations
from carbonsim.errors import InputError
from carbonsim.models.lifecycle.refresh import check_policy

#: Default target utilisation of the fleet's capacity.
DEFAULT_UTILIZATION = 0.5
#: Inputs every lifecycle table carries as columns.
FIXED_INPUTS = {
    "model": None, "coefficients": DEFAULT_SET, "lifecycle.generations": None, "lifecycle.start_year": None,
    "lifecycle.horizon_yr": None, "lifecycle.gpu_refresh_yr": None, "lifecycle.host_refresh_yr": None,
    "lifecycle.demand.growth_per_yr": 0.0, "lifecycle.utilization": DEFAULT_UTILIZATION,
    "lifecycle.end_of_horizon": "credit", "workload.batch_size": 1, "workload.tensor_parallel": 1,
    "datacenter.pue": DEFAULT_PUE, "datacenter.grid": None,
}
#: Units of the input columns (results carry theirs: :data:`carbonsim.engine.chain.RESULT_UNITS`).
INPUT_UNITS = {"lifecycle.horizon_yr": "yr", "lifecycle.gpu_refresh_yr": "yr", "lifecycle.host_refresh_yr": "yr",
               "lifecycle.demand.growth_per_yr": "fraction per yr"}


def is_lifecycle(doc: dict) -> bool:
    return isinstance(doc, dict) and "lifecycle" in doc


class LifecyclePoints:
    """Builds fleet point columns (the interface of :class:`~carbonsim.engine.sweep.points.PointBuilder`)."""

    def __init__(self, db: Database, scenario_file: str):
        self.db, self.file = db, scenario_file
        self.chain = CarbonChain.for_fleet(db, compiled=False)
        self.rows = self.chain.rows
        self._gen_cache: dict[str, object] = {}
        self._grid_cache: dict[tuple, tuple] = {}
        self.notes: list[str] = []

    # -- pieces ---------------------------------------------------------------------------------
    def grid(self, doc: dict):
        text = (doc.get("datacenter") or {}).get("grid")
        if text is None:
            return None
        start = (doc.get("lifecycle") or {}).get("start_year")
        if start is None:
            return resolve_grid(str(text), self.db)
        _, g, _ = self._yearly(str(text), int(start), 1)
        return g

    def _yearly(self, text: str, start: int, years: int):
        key = (text, start, years)
        if key not in self._grid_cache:
            first = resolve_grid(text, self.db, year=start)
            ci, notes = grid_by_year(first, self.db, start, years)
            self._grid_cache[key] = (ci, first, notes)
        return self._grid_cache[key]

    def _numbers(self, doc: dict, gen, pue: float):
        key = json.dumps([gen.server, doc["model"], doc.get("_model_overrides"), doc["workload"],
                          doc.get("coefficients"), doc.get("_coefficients_overrides"), pue], sort_keys=True,
                         default=str)
        if key not in self._gen_cache:
            cs = load_coefficients(doc.get("coefficients"), self.db, doc.get("_coefficients_overrides"))
            model = model_spec(self.db, doc["model"], doc.get("_model_overrides"), self.file)
            self._gen_cache[key] = generation_numbers(self.db, gen, cs, model, doc["workload"], pue, self.file)
        return self._gen_cache[key]

    # -- a point --------------------------------------------------------------------------------
    def column(self, doc: dict) -> Column:
        """The point's numbers, checked across fields (the schema checked each field alone)."""
        lc = doc["lifecycle"]
        f = self.file
        horizon, start = int(lc["horizon_yr"]), int(lc["start_year"])
        if horizon > MAX_YEARS:
            raise InputError(f"at most {MAX_YEARS} years, found {horizon}", file=f, field="lifecycle.horizon_yr")
        why = check_policy(horizon, lc["gpu_refresh_yr"], lc["host_refresh_yr"])
        if why:
            field_ = "lifecycle.gpu_refresh_yr" if why.startswith("gpu") else "lifecycle.host_refresh_yr"
            raise InputError(why, file=f, field=field_)
        demand = lc["demand"]
        given = [k for k in ("tokens_per_s", "requests_per_s") if k in demand]
        if len(given) != 1:
            raise InputError("give one of tokens_per_s (output tokens) or requests_per_s", file=f,
                             field="lifecycle.demand")
        out_tokens = float(doc["workload"]["output_tokens"])
        d0 = float(demand["tokens_per_s"]) if "tokens_per_s" in demand else float(demand["requests_per_s"]) * out_tokens
        gens = generations(lc["generations"], self.db, f)
        if len(gens) > MAX_GENERATIONS:
            raise InputError(f"at most {MAX_GENERATIONS} generations, found {len(gens)}", file=f,
                             field="lifecycle.generations")
        if gens[0].available > start:
            raise InputError(f"no generation is available in {start} (the first, {gens[0].name}, comes in "
                             f"{gens[0].available})", file=f, field="lifecycle.start_year")
        dc = doc.get("datacenter") or {}
        pue = float(dc.get("pue", DEFAULT_PUE))
        if dc.get("grid") is None:
            raise InputError("a lifecycle scenario needs datacenter.grid", file=f, field="datacenter.grid")
        ci, g, notes = self._yearly(str(dc["grid"]), start, horizon)
        policy = {"horizon_yr": horizon, "gpu_refresh_yr": lc["gpu_refresh_yr"],
                  "host_refresh_yr": lc["host_refresh_yr"], "demand_tok_s": d0,
                  "growth_per_yr": demand.get("growth_per_yr", 0.0),
                  "utilization": lc.get("utilization", DEFAULT_UTILIZATION), "pue": pue,
                  "credit": 1.0 if lc.get("end_of_horizon", "credit") == "credit" else 0.0,
                  "start_year": start, "output_tokens": out_tokens}
        numbers = [self._numbers(doc, gen, pue) for gen in gens]
        years_avail = np.array([gen.available for gen in gens])
        year_gen = [int(np.searchsorted(years_avail, start + k, side="right") - 1) for k in range(horizon)]
        sources = set(g.sources).union(*(n.sources for n in numbers))
        return self.chain.fleet_column(policy, [n.values for n in numbers], year_gen, ci, sources, notes)

    def vector(self, doc: dict) -> np.ndarray:
        return self.column(doc).value

    def generation_table(self, doc: dict) -> list[dict]:
        """Each generation's numbers at the scenario's workload (for reports and docs)."""
        lc = doc["lifecycle"]
        pue = float((doc.get("datacenter") or {}).get("pue", DEFAULT_PUE))
        rows = []
        for gen in generations(lc["generations"], self.db, self.file):
            n = self._numbers(doc, gen, pue)
            rows.append({"generation": gen.name, "server": gen.server, "available": gen.available, **n.values,
                         "prefill_j_per_token": n.prefill_j_per_token, "decode_j_per_token": n.decode_j_per_token})
        return rows


# -- what the sweep reports beyond its table ------------------------------------------------------
YEAR_COLUMNS = ("year", "calendar_year", "generation", "demand_tok_s", "gpu_sets_bought", "gpus_bought",
                "hosts_bought", "gpu_sets_in_service", "capacity_tok_s", "utilization", "ci_g_per_kwh",
                "energy_kwh", "operational_kg", "embodied_kg")


#: Refresh-policy sweeps up to this many points keep each point's years (``years.csv``).
YEARS_MAX_POINTS = 100_000


def year_table(found, frame, i: int, gens) -> list[dict]:
    """The per-year table of point ``i``, from the years its chunk kept (``found``: the run's
    :class:`~carbonsim.engine.sweep.chunks.ChunkSummary`; ``gens``: its generations)."""
    start, horizon = int(frame["lifecycle.start_year"].iloc[i]), int(frame["lifecycle.horizon_yr"].iloc[i])
    year = {c: found.detail_of(f"year_{c}")[i] for c in YEAR_COLUMNS[3:]}
    generation = found.detail_of("year_generation")[i]
    return [{"year": k, "calendar_year": start + k, "generation": gens[int(generation[k])].name,
             **{c: float(year[c][k]) for c in YEAR_COLUMNS[3:] if c != "ci_g_per_kwh"},
             "ci_g_per_kwh": float(year["ci_g_per_kwh"][k])} for k in range(horizon)]


def write_years(path: Path, found, frame, size: int, max_points: int = YEARS_MAX_POINTS) -> int:
    """Write every point's per-year table (long format: ``point``, then :data:`YEAR_COLUMNS`) as CSV,
    from the years the chunks kept.

    Returns the number of points written (0 when the sweep has more than ``max_points``).
    """
    if size > max_points or not found.detail:
        return 0
    import pandas as pd

    horizon = frame["lifecycle.horizon_yr"].to_numpy().astype(int)
    start_year = frame["lifecycle.start_year"].to_numpy().astype(int)
    pts, ks = np.nonzero(np.arange(MAX_YEARS)[None, :] < horizon[:, None])
    table = {"point": pts, "year": ks, "calendar_year": start_year[pts] + ks,
             "generation_index": found.detail_of("year_generation")[pts, ks]}
    for c in YEAR_COLUMNS[3:]:
        table[c] = found.detail_of(f"year_{c}")[pts, ks]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        pd.DataFrame(table).to_csv(fh, index=False, float_format="%.9g")
    return size


def policy_summary(frame, objectives, fixed: dict) -> dict:
    """Per-policy totals grouped by the other swept columns (grid, growth ...), and the best
    policy of each group, from the sweep's points (pandas DataFrame)."""
    policy = [c for c in ("lifecycle.gpu_refresh_yr", "lifecycle.host_refresh_yr") if c in frame]
    others = [c for c in frame.columns if c.startswith(("lifecycle.", "datacenter.", "workload.", "model"))
              and c not in policy and c not in fixed and frame[c].nunique() > 1]
    groups = []
    keys = others or [None]
    grouped = frame.groupby(others, sort=False) if others else [((), frame)]
    for gkey, sub in grouped:
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        best = sub.loc[sub["total_kg"].idxmin()]
        worst = sub.loc[sub["total_kg"].idxmax()]
        entry = {
            "group": {k: _plain(v) for k, v in zip(others, gkey)} if others else {},
            "best": {c: _plain(best[c]) for c in policy + ["total_kg", "embodied_kg", "operational_kg",
                                                            "gpus_bought", "hosts_bought", "sci_g_per_1k_tokens"]},
            "worst": {c: _plain(worst[c]) for c in policy + ["total_kg"]},
            "point": int(best.name),
        }
        if len(policy) == 2:
            piv = sub.pivot_table(index=policy[0], columns=policy[1], values="total_kg", aggfunc="min")
            entry["matrix_kg"] = {"rows": [int(x) for x in piv.index], "columns": [int(x) for x in piv.columns],
                                  "values": piv.to_numpy().tolist()}
        groups.append(entry)
    return {"policy_axes": policy, "group_axes": others if keys != [None] else [], "groups": groups}


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _point_doc(space, i: int) -> dict:
    """The scenario document of point ``i`` (its axis values set)."""
    coords = [int(c[0]) for c in space.coords(i, i + 1)]
    doc = space.base_doc
    for axis, c in zip(space.axes, coords):
        doc = axis.assign(doc, c)
    return doc


def lifecycle_result(scenario, builder: LifecyclePoints, space, frame, fixed: dict, found) -> dict:
    """What a refresh-policy sweep reports beyond its table: each generation's numbers, the
    per-policy totals and best policy of every group of the other swept columns, the per-year
    table of each best policy (kept from its evaluation), and how it compares with keeping
    everything to the end of the horizon (the longest refresh periods swept)."""
    summary = policy_summary(frame, scenario.objectives, fixed)
    for g in summary["groups"]:
        doc = _point_doc(space, g["point"])
        if found.detail:
            g["years"] = year_table(found, frame, g["point"],
                                    generations(doc["lifecycle"]["generations"], builder.db, builder.file))
        sub = frame
        for k, v in g["group"].items():
            sub = sub[sub[k] == v]
        keep = sub
        for axis in summary["policy_axes"]:
            keep = keep[keep[axis] == keep[axis].max()]
        if len(keep):
            k = keep.iloc[0]
            g["keep_longest"] = {c: _plain(k[c]) for c in summary["policy_axes"] + ["total_kg", "embodied_kg",
                                                                                   "operational_kg"]}
    summary["generations"] = builder.generation_table(scenario.doc)
    summary["notes"] = sorted(set(builder._grid_cache and [n for v in builder._grid_cache.values() for n in v[2]]))
    return summary
