"""Fit the constants of the ``server-lca`` coefficient set and write them into its YAML.

Reads   carbonsim/validation/data/server_pcf_rows.csv   (the 34 training vendor footprints)
        carbonsim/validation/data/gpu_card_lca.csv      (component LCAs of seven GPU cards)
Writes  hardware_db/coefficients/server-lca.yaml:
          host.unitemised_electronics.ref_kg   U0 (value: fit on the 34 rows, form chosen by
                                               nested CV) and its range U0 +- d (d: the conformal
                                               half-width calibrated on the 34 rows)
          fab.yield, fab.defect_density_per_cm2  the GPU package's constant and Murphy's density
          the gpu: section                       VRAM kg/GB, board kg/cm2, cooling reference
Then run  python docs/make_validation.py   (docs/validation.md states the fits and their errors).

The held-out vendor footprints (server_pcf_heldout.csv) are not read here: nothing is fitted on
them. Run from the repository root:  python calibration/write_server_lca.py
"""

from __future__ import annotations

import re
from pathlib import Path

from carbonsim.validation import gpu_lca, vendor_lca

ROOT = Path(__file__).resolve().parents[1]
YAML = ROOT / "hardware_db" / "coefficients" / "server-lca.yaml"
SOURCE = "ademe-gpu-lca-2026"
#: kg/GB of GPU-attached DDR, not measured on any card: kept at the seed's values
UNMEASURED_MEMORY = """\
    ddr4:  {value: 0.29, low: 0.074, high: 1.39, source: li-hotcarbon24, note: "not measured on a card: the seed's value"}
    ddr5:  {value: 0.29, low: 0.074, high: 1.39, source: li-hotcarbon24, note: "DDR4 value (carbonsim's choice)"}
    lpddr5: {value: 0.29, low: 0.055, high: 1.39, source: li-hotcarbon24, note: "not measured on a card: the seed's value"}
    lpddr5x: {value: 0.29, low: 0.055, high: 1.39, source: li-hotcarbon24, note: "LPDDR5 value (carbonsim's choice)"}
"""


def _q(value, low, high, note):
    return f"{{value: {value:.4g}, low: {low:.4g}, high: {high:.4g}, source: {SOURCE}, note: \"{note}\"}}"


def gpu_section() -> str:
    f = gpu_lca.fit()
    lines = [
        "gpu:",
        "  # FITTED by calibration/write_server_lca.py on the component LCAs of seven GPU cards",
        "  # (ademe-gpu-lca-2026; docs/validation.md, \"GPU cards against component LCAs\").",
        "  # GPU package: ACT's die model with fab.yield and fab.defect_density_per_cm2 above.",
        "  soc: die",
        "  memory_kg_per_gb:",
    ]
    for tech, (v, lo, hi) in gpu_lca.set_memory_table().items():
        base = gpu_lca.DERIVED_MEMORY.get(tech)
        if base is None:
            note = "measured cards' VRAM per GB, geometric mean"
        elif base == "hbm2" and tech != "hbm":
            note = f"hbm2 x {gpu_lca.LATER_HBM_RATIO:.3f}, the seed's ratio (no card measured)"
        else:
            note = f"{base} value (no card measured)"
        lines.append(f"    {tech}: {_q(v, lo, hi, note)}")
    lines.append(UNMEASURED_MEMORY.rstrip("\n"))
    v, lo, hi = f.pcb_kg_per_cm2
    lines += [
        f"  pcb_kg_per_cm2: {_q(v, lo, hi, 'board with all its parts but GPU and VRAM, power delivery included, per cm2 of the PCIe cards')}",
        "  # no pdn: the measured boards carry the power delivery",
        "  cooling:",
    ]
    v, lo, hi = f.cooling_ref_kg
    lines += [
        f"    air: {{ref_w: {gpu_lca.COOLING_REF_W:.0f}, ref_kg: {_q(v, lo, hi, 'heat sink + casing per W of TDP, geometric mean over the seven cards, x 300 W')}}}",
        "  interconnect_kg: {value: 0, source: li-hotcarbon24, note: \"NVLink/NVSwitch and baseboard beyond the card: NVIDIA's HGX PCFs publish no split; 8 cards are compared with them in docs/validation.md\"}",
        "  margin: 1.0  # the components are the card (upstream transport, 0.04-0.46 kg a card, left out)",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    text = YAML.read_text(encoding="utf-8")
    ev, iv = vendor_lca.evaluation(), vendor_lca.interval_cv()
    assert vendor_lca.nested_cv().shipped_form == vendor_lca.ADDITIVE, "the set expresses only the additive form"
    u0, d = round(ev.u0_all_kg), round(iv.shipped_half_width_kg)
    folds = f"{ev.u0_folds_kg.min():.0f}-{ev.u0_folds_kg.max():.0f}"
    ref = (f"    ref_kg: {{value: {u0}, low: {u0 - d}, high: {u0 + d}, source: carbonsim-estimate, note: \"FITTED "
           f"(calibration/write_server_lca.py): least squares of ln(estimate / reported) on the 34 vendor PCF rows "
           f"with a stated configuration (carbonsim/validation/data/server_pcf_rows.csv), the form chosen by nested "
           f"leave-one-out CV ({folds} kg over the folds); low/high = U0 -+ {d} kg, the split-conformal half-width "
           f"that puts 80 % of the rows' vendor figures inside the 5-95 % band (docs/validation.md)\"}}")
    text, n = re.subn(r"^    ref_kg: .*$", ref, text, flags=re.M)
    assert n == 1, n
    fab = (f"  yield: {gpu_lca.fit().soc_yield:.4f}  # FITTED: GPU packages measured against ACT with Murphy's "
           "yield (docs/validation.md); not a fab yield alone\n"
           f"  defect_density_per_cm2: {{value: {gpu_lca.DEFECT_DENSITY_PER_CM2:g}, source: {SOURCE}, "
           "note: \"Murphy's yield of the die's area, as the ADEME GPU model (murphy-1964)\"}\n")
    text, n = re.subn(r"^  yield: .*\n(  defect_density_per_cm2: .*\n)?", fab, text, flags=re.M)
    assert n == 1, n
    text, n = re.subn(r"^gpu:\n(?:(?:  |#).*\n|\n)*?(?=^host:)", gpu_section(), text, flags=re.M)
    assert n == 1, n
    YAML.write_text(text, encoding="utf-8")
    print(f"wrote {YAML.relative_to(ROOT)}: U0 {u0} kg ({u0 - d}..{u0 + d}), GPU package constant "
          f"{gpu_lca.fit().soc_yield:.4f}")


if __name__ == "__main__":
    main()
