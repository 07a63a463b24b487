"""Write the generated tables of docs/experiments.md: the seed's study (scenarios/experiment-puma.yaml)
and the comparison of carbonsim's API-call estimates with EcoLogits' on the same calls.

Run from the repository root: ``python docs/make_experiments.py`` (needs ``pip install ".[test]"``,
which brings carbonsim and EcoLogits;
carbonsim itself never imports it). Each table replaces the text between its markers
``<!-- make_experiments: NAME -->`` and ``<!-- /make_experiments -->``.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import carbonsim
from carbonsim.report.experiment_text import markdown_table

ROOT = Path(__file__).resolve().parent.parent

DOC = ROOT / "docs" / "experiments.md"
SCENARIO = ROOT / "scenarios" / "experiment-puma.yaml"
#: Calls compared with EcoLogits: (prompt tokens, output tokens).
CALLS = [(1700, 300), (200, 800)]
#: carbonsim API model, its region, EcoLogits' model name and the country EcoLogits' grid is of.
PEERS = [("gpt-4o", "eastus", "gpt-4o", "USA"), ("gpt-4o-mini", "eastus", "gpt-4o-mini", "USA"),
         ("gpt-4o", "swedencentral", "gpt-4o", "SWE")]


def carbonsim_call(model: str, region: str, prompt: int, output: int) -> dict:
    """carbonsim's per-call numbers (central, low, high) for one API call shape."""
    exp = {"name": "peer", "study": {"calls": 1000}, "tokens": {"prompt": prompt, "output": output},
           "configurations": [{"name": model, "api": {"model": model, "region": region}}]}
    r = carbonsim.experiment(exp).configurations[0]
    out = {}
    for corner, t in r.corners.items():
        out[corner] = {"energy_wh": t.energy_kwh * 1e3 / t.calls, "operational_g": t.operational_kg * 1e3 / t.calls,
                       "embodied_g": t.embodied_kg * 1e3 / t.calls}
    out["ci"] = r.ci_g_per_kwh
    out["batch"] = r.assumptions["corners"]["central"]["mean_batch"]
    return out


def ecologits_call(model: str, zone: str, output: int) -> dict:
    """EcoLogits' per-call numbers (its min and max) for the same call (it counts output tokens only)."""
    from ecologits.electricity_mix_repository import electricity_mixes
    from ecologits.tracers.utils import llm_impacts

    r = llm_impacts("openai", model, output, 1e6, zone)  # latency not capping: EcoLogits' own tps and ttft

    def ends(v):
        return (v.min, v.max) if hasattr(v, "min") else (v, v)

    return {"energy_wh": [x * 1e3 for x in ends(r.energy.value)],
            "operational_g": [x * 1e3 for x in ends(r.usage.gwp.value)],
            "embodied_g": [x * 1e3 for x in ends(r.embodied.gwp.value)],
            "grid": electricity_mixes.find_electricity_mix(zone).gwp * 1e3}


def peer_table() -> str:
    lines = [f"EcoLogits {version('ecologits')}, carbonsim {carbonsim.__version__}; per call. carbonsim: central "
             "[low-high]; EcoLogits: its range (the model's active-parameter range). Energy includes PUE.", "",
             "| model, region (EcoLogits zone) | call (in / out tokens) | energy Wh: carbonsim | energy Wh: EcoLogits | "
             "operational g: carbonsim | operational g: EcoLogits | EcoLogits energy x carbonsim grid, g | "
             "embodied g: carbonsim | embodied g: EcoLogits |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for model, region, eco_model, zone in PEERS:
        for prompt, output in CALLS:
            c = carbonsim_call(model, region, prompt, output)
            e = ecologits_call(eco_model, zone, output)

            def cs(key, d=3):
                return f"{c['central'][key]:.{d}g} [{c['low'][key]:.{d}g}-{c['high'][key]:.{d}g}]"

            def eco(key, d=3):
                lo, hi = e[key]
                return f"{lo:.{d}g}-{hi:.{d}g}"

            lo, hi = e["energy_wh"]
            lines.append(f"| {model}, {region} ({zone}: {e['grid']:.0f} g/kWh; carbonsim {c['ci']:.0f}) | "
                         f"{prompt} / {output} | {cs('energy_wh')} | {eco('energy_wh')} | {cs('operational_g')} | "
                         f"{eco('operational_g')} | {lo * c['ci'] / 1e3:.3g}-{hi * c['ci'] / 1e3:.3g} | "
                         f"{cs('embodied_g')} | {eco('embodied_g')} |")
    return "\n".join(lines)


def worked_example() -> str:
    r = carbonsim.experiment(SCENARIO)
    by = {c.name: c for c in r.configurations}
    seed_calls = 500  # the seed's local figure: 500 issues, one configuration, one strategy
    lines = [markdown_table(r), "Per call and for the seed's own counts (central [low-high]):", "",
             "| configuration | g per call | Wh per call | the seed's 500 local calls, g | the seed's 9,000 calls, kg |",
             "|---|---:|---:|---:|---:|"]
    for name, c in by.items():
        k = c.corners
        per = {x: k[x].total_kg * 1e3 / k[x].calls for x in k}
        lines.append(f"| {name} | {per['central']:.3f} [{per['low']:.3f}-{per['high']:.3f}] | "
                     f"{c.per_call['energy_wh']:.3f} | {per['central'] * seed_calls:.1f} "
                     f"[{per['low'] * seed_calls:.1f}-{per['high'] * seed_calls:.1f}] | "
                     f"{per['central'] * 9000 / 1e3:.2f} [{per['low'] * 9 :.2f}-{per['high'] * 9:.2f}] |")
    return "\n".join(lines)


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- make_experiments: {name} -->\n).*?(<!-- /make_experiments -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"docs/experiments.md has no markers for {name}")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def main():
    text = DOC.read_text()
    text = replace(text, "worked-example", worked_example())
    text = replace(text, "peer", peer_table())
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
