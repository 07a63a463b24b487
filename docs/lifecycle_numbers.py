"""Every number docs/lifecycle.md section 1 quotes, recomputed from the model as shipped.

    python docs/lifecycle_numbers.py

Prints: each generation's numbers at the workload of ``scenarios/refresh-cycles.yaml``; energy per
served token at the fleet's load; what a GPU swap saves and costs, its payback on coal and wind and
the intensity above which it repays within T years; the shipped sweep's answer on coal and wind;
the same sweep on other grids; the sensitivity table (one input changed at a time); the coal
answer's operational carbon split into GPUs and hosts; what rounding to whole servers does to the
coal saving; how the coal answer moves with the newer generations' GPU power and with other A100
constants. Nothing is written; docs/lifecycle.md is edited by hand from this output.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml

from carbonsim.engine.db import default_database
from carbonsim.engine.chain import CarbonChain
from carbonsim.engine.sweep.lifecycle import LifecyclePoints
from carbonsim.engine.sweep.run import run_sweep
from carbonsim.engine.sweep.scenario import scenario_from_dict
from carbonsim.units import SECONDS_PER_YEAR

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "refresh-cycles.yaml"
GPU, HOST = "lifecycle.gpu_refresh_yr", "lifecycle.host_refresh_yr"
#: Grids of the "where it turns" paragraph (besides the shipped coal and wind).
OTHER_GRIDS = ("gas", "world", "usa-cfe-2035", "FRA", "solar", "nuclear")
SWAPS = (("A100", "B200"), ("A100", "H100"), ("H100", "B200"))


def base_doc() -> dict:
    return yaml.safe_load(SCENARIO.read_text())


def with_changes(doc: dict, changes: dict) -> dict:
    d = copy.deepcopy(doc)
    for path, value in changes.items():
        node = d
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return d


def best_by_grid(db, doc: dict):
    """``{grid: (best, keep_longest)}`` of a refresh-policy sweep, and the sweep's result."""
    r = run_sweep(scenario_from_dict(doc, str(SCENARIO)), db, None)
    out = {}
    for g in r.lifecycle["groups"]:
        out[g["group"].get("datacenter.grid", doc["datacenter"]["grid"])] = (g["best"], g.get("keep_longest"))
    return out, r


def policy_text(best, keep) -> str:
    s = f"GPU {best[GPU]}, host {best[HOST]}: {best['total_kg'] / 1e3:,.1f} t " \
        f"(embodied {best['embodied_kg'] / 1e3:,.1f}, operational {best['operational_kg'] / 1e3:,.1f})"
    if keep and (keep[GPU], keep[HOST]) != (best[GPU], best[HOST]):
        s += (f"; keep {keep[GPU]}/{keep[HOST]} {keep['total_kg'] / 1e3:,.1f} t, best "
              f"{100 * (1 - best['total_kg'] / keep['total_kg']):.2f} % less (embodied "
              f"{(best['embodied_kg'] - keep['embodied_kg']) / 1e3:+,.1f} t, operational "
              f"{(best['operational_kg'] - keep['operational_kg']) / 1e3:+,.1f} t)")
    return s


def served_j(g: dict, u: float) -> float:
    """Energy per served output token [J] of a generation's server (GPU set and its own host) at
    load ``u``, idle power included."""
    return (u * (g["gpu_busy_w"] + g["host_busy_w"]) + (1 - u) * (g["gpu_idle_w"] + g["host_idle_w"])) \
        / (u * g["cap_tok_s"])


def generations_section(result, doc) -> dict:
    """Each generation's numbers, its decode step, and what a GPU swap saves and costs."""
    rows = {g["generation"]: g for g in result.lifecycle["generations"]}
    u = float(doc["lifecycle"]["utilization"])
    pue = float(doc["datacenter"]["pue"])
    print("== generations (per server)")
    for name, g in rows.items():
        n = g["gpus_per_set"]
        busy = (g["gpu_busy_w"] + g["host_busy_w"]) / g["cap_tok_s"]
        served = g["served_j"] = served_j(g, u)
        print(f"{name:5s} {g['server']:15s} {g['cap_tok_s']:8,.0f} tok/s  J/tok busy {busy:.3f}  "
              f"prefill {g['prefill_j_per_token']:.3f}  decode {g['decode_j_per_token']:.3f}  "
              f"GPU set {g['gpu_set_kg']:,.0f} kg  host {g['host_kg']:,.0f} kg  | per GPU busy "
              f"{g['gpu_busy_w'] / n:.0f} W idle {g['gpu_idle_w'] / n:.0f} W; host busy {g['host_busy_w']:.0f} W "
              f"idle {g['host_idle_w']:.0f} W; J per served token at u={u}: {served:.3f}")
    import carbonsim

    for name, g in rows.items():  # a decode step (time per output token) on each generation's server
        step = {"name": "step", "server": g["server"], "model": doc["model"], "workload": doc["workload"],
                "datacenter": {"grid": "coal", "pue": pue}}
        if "coefficients" in doc:  # the scenario's set, or else the default, as the fleet's
            step["coefficients"] = doc["coefficients"]
        s = carbonsim.sweep(step)
        print(f"{name}: time per output token {1000 * s.points['tpot_s'].iloc[0]:.1f} ms")
    a, b = rows["A100"], rows["B200"]
    print(f"prefill A100/B200 {a['prefill_j_per_token'] / b['prefill_j_per_token']:.2f}x, "
          f"decode A100/B200 {a['decode_j_per_token'] / b['decode_j_per_token']:.2f}x")
    print("\n== GPU swaps (one served token/s at the fleet's load; the host is kept, and a host draws its own"
          " generation's power whatever GPU set it holds, as in the fleet model)")
    for old, new in SWAPS:
        o, n_ = rows[old], rows[new]
        # before: the old GPU set in its host; after: the new set in the same (old) host, fewer of them
        after = (u * (n_["gpu_busy_w"] + o["host_busy_w"]) + (1 - u) * (n_["gpu_idle_w"] + o["host_idle_w"])) \
            / (u * n_["cap_tok_s"])
        gpu_before = (u * o["gpu_busy_w"] + (1 - u) * o["gpu_idle_w"]) / (u * o["cap_tok_s"])
        gpu_after = (u * n_["gpu_busy_w"] + (1 - u) * n_["gpu_idle_w"]) / (u * n_["cap_tok_s"])
        to_kwh = SECONDS_PER_YEAR / 3.6e6 * pue
        kwh = (o["served_j"] - after) * to_kwh
        kg = n_["gpu_set_kg"] / (u * n_["cap_tok_s"])
        turn = kg * 1000 / kwh if kwh > 0 else float("inf")
        own_kwh = (o["served_j"] - n_["served_j"]) * to_kwh  # the new set with its own host's power
        own = f"{kg / (own_kwh * 820 / 1000):.1f} yr" if own_kwh > 0 else "never"  # coal, 820 g/kWh
        msg = (f"{old} -> {new}: J per served token {o['served_j']:.3f} -> {after:.3f} (GPUs {gpu_before:.3f} -> "
               f"{gpu_after:.3f}, host {o['served_j'] - gpu_before:.3f} -> {after - gpu_after:.3f}); saves "
               f"{kwh:.3f} kWh/yr (GPUs {(gpu_before - gpu_after) * to_kwh:+.3f}), costs {kg:.3f} kg; "
               f"repays within T years above {turn:,.0f}/T g/kWh")
        for grid, ci in (("coal", 820), ("wind", 11)):
            msg += f"; payback on {grid} {kg / (kwh * ci / 1000):.2f} yr" if kwh > 0 else f"; never repays on {grid}"
        print(msg + f"; with the new generation's own host power: saves {own_kwh:.3f} kWh/yr, payback on coal {own}")
    return rows


def shares(best) -> str:
    t = best["total_kg"]
    return f"operational {100 * best['operational_kg'] / t:.1f} %, embodied {100 * best['embodied_kg'] / t:.1f} %"


def uncertainty_section(db, doc: dict, scale_gens=("H100", "B200")) -> None:
    """Scale the newer generations' GPU power (busy and idle) by a factor and find where the coal
    answer becomes 'keep GPUs 8 years'."""
    print("\n== coal answer against the newer generations' GPU power (x factor, busy and idle)")
    pts = LifecyclePoints(db, str(SCENARIO))
    ev = CarbonChain.for_fleet(db, compiled=False)
    coal = with_changes(doc, {"datacenter.grid": "coal"})
    cols, policies = [], []
    for rg in range(1, 9):
        for rh in range(1, 9):
            d = with_changes(coal, {"lifecycle.gpu_refresh_yr": rg, "lifecycle.host_refresh_yr": rh})
            cols.append(pts.column(d).value)
            policies.append((rg, rh))
    base = np.stack(cols, axis=1)
    names = [g["name"] for g in pts.db.get("generations", doc["lifecycle"]["generations"])["generations"]]
    ix = ev.index
    for f in (0.90, 0.95, 0.98, 1.0, 1.01, 1.02, 1.03, 1.05, 1.10):
        mat = base.copy()
        for i, name in enumerate(names):
            if name in scale_gens:
                for p in ("gpu_busy_w", "gpu_idle_w"):
                    mat[ix[f"gen{i}_{p}"]] *= f
        tot = ev.run_fleet(mat)["total_kg"]
        k = int(np.argmin(tot))
        keep = policies.index((8, 8))
        print(f"x{f:.2f}: best {policies[k]} {tot[k] / 1e3:,.1f} t, keep 8/8 {tot[keep] / 1e3:,.1f} t, "
              f"saving {100 * (1 - tot[k] / tot[keep]):.2f} %")


def rounding_section(db, doc: dict) -> None:
    """The shipped sweep with 10 and 100 times the demand: whole servers no longer round, so the
    change of the coal saving is what rounding does to it."""
    print("\n== coal saving with more demand (rounding of whole servers)")
    for f in (1, 10, 100):
        r, _ = best_by_grid(db, with_changes(doc, {"lifecycle.demand.tokens_per_s":
                                                   f * doc["lifecycle"]["demand"]["tokens_per_s"]}))
        best, keep = r["coal"]
        print(f"x{f}: {policy_text(best, keep)}")


def decomposition(db, doc: dict, policies=((1, 8), (3, 8), (5, 8), (8, 8))) -> None:
    """Operational carbon on coal split into GPU and host energy (a power set to zero at a time)."""
    print("\n== coal: operational carbon of GPUs and of hosts by policy")
    pts = LifecyclePoints(db, str(SCENARIO))
    ev = CarbonChain.for_fleet(db, compiled=False)
    ix = ev.index
    for rg, rh in policies:
        d = with_changes(doc, {"datacenter.grid": "coal", "lifecycle.gpu_refresh_yr": rg,
                               "lifecycle.host_refresh_yr": rh})
        m = pts.column(d).value[:, None]
        parts = {}
        for keep_part in ("gpu", "host"):
            mm = m.copy()
            other = "host" if keep_part == "gpu" else "gpu"
            for i in range(int(m[ix["n_generations"], 0])):
                for p in ("busy_w", "idle_w"):
                    mm[ix[f"gen{i}_{other}_{p}"]] = 0.0
            parts[keep_part] = ev.run_fleet(mm)["operational_kg"][0]
        r = ev.run_fleet(m, per_year=True)
        print(f"GPU {rg}, host {rh}: operational {r['operational_kg'][0] / 1e3:,.1f} t = GPUs "
              f"{parts['gpu'] / 1e3:,.1f} + hosts {parts['host'] / 1e3:,.1f}; embodied "
              f"{r['embodied_kg'][0] / 1e3:,.1f} t; servers in the last year "
              f"{int(r['year_gpu_sets_in_service'][0, int(m[ix['horizon_yr'], 0]) - 1])}")


def engine_section(db, doc: dict, engine: str = "vllm-0.11") -> None:
    """Each generation's decode and prefill energy per token with another engine profile (the
    measured vLLM 0.11 profile, the engine of the H100 and B200 measurements)."""
    print(f"\n== generations with workload.engine {engine}")
    d = with_changes(doc, {"workload.engine": engine})
    res, result = best_by_grid(db, d)
    for g in result.lifecycle["generations"]:
        print(f"{g['generation']}: prefill {g['prefill_j_per_token']:.3f} decode {g['decode_j_per_token']:.3f} "
              f"J/token, {g['cap_tok_s']:,.0f} tok/s per server")
    for grid, (best, keep) in res.items():
        print(f"{grid}: {policy_text(best, keep)}")


def main() -> None:
    db = default_database()
    doc = base_doc()
    res, result = best_by_grid(db, doc)
    generations_section(result, doc)
    print("\n== shipped sweep")
    for grid, (best, keep) in res.items():
        print(f"{grid}: {policy_text(best, keep)}; {shares(best)}")
    print("\n== other grids")
    grids = copy.deepcopy(doc)
    grids["sweep"]["product"]["datacenter.grid"] = list(OTHER_GRIDS)
    other, _ = best_by_grid(db, grids)
    for grid, (best, keep) in other.items():
        print(f"{grid}: {policy_text(best, keep)}")
    from carbonsim.engine.inputs.grid import grid_by_year, resolve_grid

    ci, _ = grid_by_year(resolve_grid("usa-cfe-2035", db, year=2020), db, 2020, 10)
    print("usa-cfe-2035 over 2020-2029:", ", ".join(f"{c:.0f}" for c in ci))
    print("\n== sensitivity (coal | wind)")
    cases = [
        ("none (as shipped)", {}),
        ("demand flat", {"lifecycle.demand.growth_per_yr": 0.0}),
        ("demand doubling yearly", {"lifecycle.demand.growth_per_yr": 1.0}),
        ("end_of_horizon: none", {"lifecycle.end_of_horizon": "none"}),
        ("utilization 0.3", {"lifecycle.utilization": 0.3}),
        ("utilization 0.8", {"lifecycle.utilization": 0.8}),
        ("coefficients hotcarbon24", {"coefficients": "hotcarbon24"}),
        ("coefficients ecoserve", {"coefficients": "ecoserve"}),
        ("coefficients act", {"coefficients": "act"}),
        ("Llama-2-7B at TP 1", {"model": "llama-2-7b", "workload.tensor_parallel": 1}),
        ("batch 8", {"workload.batch_size": 8}),
        ("2048 prompt / 128 output", {"workload.prompt_tokens": 2048, "workload.output_tokens": 128}),
    ]
    for label, changes in cases:
        d = with_changes(doc, changes)
        r, result = best_by_grid(db, d)
        u = float(d["lifecycle"]["utilization"])
        gens = "; ".join(f"{g['generation']} {served_j(g, u):.3f} J/served token, GPU set {g['gpu_set_kg']:,.0f} kg"
                         for g in result.lifecycle["generations"])
        print(f"{label}: {gens}")
        for grid, (best, keep) in r.items():
            print(f"    {grid}: {policy_text(best, keep)}")
    decomposition(db, doc)
    rounding_section(db, doc)
    uncertainty_section(db, doc)
    engine_section(db, doc)


if __name__ == "__main__":
    main()
