"""The server-lca coefficient set in the engine: its schema, the server's year, the new rows, and
every command's default (its validation against vendor footprints is in test_vendor_lca.py)."""

import json
import math

import pytest
from click.testing import CliRunner

from carbonsim.cli import main
from carbonsim.engine.db import Database
from carbonsim.engine.db.store import shipped_database_dir
from carbonsim.engine.inputs.coefficients import DEFAULT_SET, load_coefficients
from carbonsim.engine.inputs.columns import DEFAULT_SERVER_YEAR, server_column
from carbonsim.engine.inputs.server import server_from_dict
from carbonsim.engine.readers.inventory import read_inventory
from carbonsim.engine.studies import inventory as inventory_module
from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.studies.inventory import run_inventory
from carbonsim.models.embodied.layout import P

HEADER = "id,cpu_model,cpu_count,cores_total,cpu_tdp_w,dram_gb,ssd_count,ssd_gb,hdd_count,hdd_gb,gpu_model,gpu_count,psu_w,year\n"
NEW_ROWS = ("server_year", "ssd_count", "ssd_kg_per_drive", "hdd_count", "hdd_kg_per_drive", "ssd_trend_ref_year",
            "ssd_trend_decline_per_yr", "ssd_floor_kg_per_gb", "ssd_ceiling_kg_per_gb", "assembly_kg",
            "unitemised_ref_kg", "unitemised_ref_year", "unitemised_decline_per_yr", "fab_defect_density_per_cm2")


def _server(db, year=None, **host):
    spec = {"name": "s", "host": {"cpus": {"die_area_mm2": 400, "node": "14nm", "count": 2},
                                  "dram": {"gb": 256, "technology": "ddr4"}, **host}}
    if year is not None:
        spec["year"] = year
    return server_from_dict(spec, db, "s.yaml")


def test_one_default_set_for_every_command():
    # one constant: server-lca, the set closest to measured vendor footprints (issue 15)
    assert DEFAULT_SET == "server-lca"
    assert not hasattr(inventory_module, "INVENTORY_DEFAULT_SET")


@pytest.mark.parametrize("set_id", ["hotcarbon24", "ecoserve", "act"])
def test_other_sets_get_no_new_terms(db, set_id):
    # the appended rows are zero (or a constant year) for the published methods: nothing changes
    srv = _server(db, 2023, ssd=[{"count": 4, "gb_each": 3840}], hdd=[{"count": 2, "gb_each": 8000}])
    col = server_column(srv, load_coefficients(set_id, db))
    assert col.value[P["server_year"]] == 2023
    for name in NEW_ROWS[1:]:
        if name not in ("ssd_count", "hdd_count"):
            assert col.value[P[name]] == 0, name
    c = embodied(srv, load_coefficients(set_id, db)).host_components_kg
    assert c["assembly"] == 0 and c["unitemised"] == 0
    # and the SSD is its capacity times the set's own constant kg/GB
    per_gb = load_coefficients(set_id, db).host["ssd_kg_per_gb"]
    if set_id == "hotcarbon24":
        assert c["ssd"] == pytest.approx(4 * 3840 * per_gb["default"].value, rel=1e-15)


def test_server_lca_terms_by_year_and_drive_count(db):
    cs = load_coefficients("server-lca", db)
    a = embodied(_server(db, 2019, ssd=[{"count": 2, "gb_each": 1920}], hdd=[{"count": 3, "gb_each": 4000}]), cs)
    b = embodied(_server(db, 2024, ssd=[{"count": 2, "gb_each": 1920}], hdd=[{"count": 3, "gb_each": 4000}]), cs)
    ha, hb = a.host_components_kg, b.host_components_kg
    assert ha["cpu"] == 47.0 and ha["dram"] == pytest.approx(256 * 1.38802)
    assert ha["hdd"] == pytest.approx(3 * 31.11)                    # per drive, capacity not counted
    assert ha["ssd"] == pytest.approx(2 * 6.34 + 3840 * 0.108342)    # 2019: the LCA's kg/GB
    assert hb["ssd"] == pytest.approx(2 * 6.34 + 3840 * 0.108342 * math.exp(-0.2834 * 5))
    assert ha["unitemised"] == pytest.approx(610 * math.exp(-0.2))
    assert hb["unitemised"] == pytest.approx(610 * math.exp(-0.7))
    for part in ("mainboard", "peripheral_pwb", "psu", "chassis", "fans", "assembly", "cpu", "dram", "hdd"):
        assert ha[part] == hb[part], part
    assert a.total_kg == pytest.approx(a.host_kg)  # no GPU


def test_server_without_year_uses_the_default_and_says_so(db):
    cs = load_coefficients("server-lca", db)
    col = server_column(_server(db), cs)
    assert col.value[P["server_year"]] == DEFAULT_SERVER_YEAR == 2020
    assert any("no year" in n and "2020" in n for n in col.notes)
    # a set without year-dependent terms does not mention it
    assert not any("no year" in n for n in server_column(_server(db), load_coefficients("hotcarbon24", db)).notes)
    # a year outside the span the unitemised term was fitted on is flagged
    assert any("outside 2014-2022" in n for n in server_column(_server(db, 2030), cs).notes)
    assert not any("outside" in n for n in server_column(_server(db, 2018), cs).notes)


def test_host_share_scales_the_chassis_terms_of_a_vm(db):
    cs = load_coefficients("server-lca", db)
    whole = embodied(server_from_dict({"name": "x", "year": 2023, "gpus": {"part": "nvidia-h100-sxm5-80gb", "count": 8},
                                       "host": {"cpus": {"part": "intel-xeon-platinum-8480c", "count": 2},
                                                "dram": {"gb": 2000, "technology": "ddr5"}}}, db), cs)
    vm = embodied(server_from_dict({"name": "x", "year": 2023, "gpus": {"part": "nvidia-h100-sxm5-80gb", "count": 2},
                                    "host": {"cpus": {"part": "intel-xeon-platinum-8480c", "count": 2},
                                             "dram": {"gb": 2000, "technology": "ddr5"}}}, db), cs)
    for part in ("assembly", "unitemised", "mainboard", "cpu"):
        assert vm.host_components_kg[part] == pytest.approx(whole.host_components_kg[part] / 4), part
    assert vm.host_components_kg["dram"] == whole.host_components_kg["dram"]


def test_samples_draw_the_new_ranges(db):
    e = embodied(_server(db, 2021, ssd=[{"count": 1, "gb_each": 3840}]), load_coefficients("server-lca", db),
                 samples=400, seed=1)
    u = e.uncertainty["host_kg"]
    assert u["p5"] < e.host_kg < u["p95"]


@pytest.mark.parametrize("text, field, words", [
    ("cpu: {model: fixed_per_cpu}", "host.cpu.kg_per_cpu", "required by model 'fixed_per_cpu'"),
    ("cpu: {model: fixed}", "host.cpu.kg_per_server", "required by model 'fixed'"),
    ("ssd_kg_per_gb_trend: {ref_year: 2019, decline_per_yr: 0.28, floor_kg_per_gb: 0.2, ceiling_kg_per_gb: 0.16}",
     "host.ssd_kg_per_gb_trend.floor_kg_per_gb", "above the ceiling"),
    ("unitemised_electronics: {ref_kg: 610, ref_year: 2017, decline_per_yr: 0.1, fitted_years: [2022, 2014]}",
     "host.unitemised_electronics.fitted_years", "first <= last"),
    ("unitemised_electronics: {ref_kg: 610, decline_per_yr: 0.1}", "host.unitemised_electronics.ref_year",
     "required key is missing"),
    # the low end of U0 may be negative (a calibrated spread of vendor methods), its value may not
    ("unitemised_electronics: {ref_kg: {value: -5, low: -10, high: 0}, ref_year: 2017, decline_per_yr: 0.1}",
     "host.unitemised_electronics.ref_kg", "below 0"),
])
def test_bad_coefficient_sets_are_reported_with_their_field(tmp_path, text, field, words):
    base = (shipped_database_dir() / "coefficients" / "hotcarbon24.yaml").read_text()
    (tmp_path / "coefficients").mkdir()
    if text.startswith("cpu:"):  # replace the host's cpu block
        start = base.index("  cpu:\n")
        body = base[:start] + "  " + text + "\n" + base[base.index("  memory_kg_per_gb:", start):]
    else:  # add a host key
        body = base.replace("  chassis_gpu_slots: 8", f"  chassis_gpu_slots: 8\n  {text}")
    (tmp_path / "coefficients" / "bad.yaml").write_text(body)
    db = Database([shipped_database_dir(), tmp_path])
    _, problems = db.check()
    mine = [p for p in problems if p.file and p.file.endswith("bad.yaml")]
    assert [p.field for p in mine] == [field], mine
    assert words in mine[0].message


def test_inventory_defaults_to_server_lca_and_coefficients_overrides(tmp_path, db):
    p = tmp_path / "fleet.csv"
    p.write_text(HEADER + "a,AMD EPYC 7713,2,128,225,512,2,1920,,,,,,2021\n")
    rows = read_inventory(p)
    default = run_inventory(rows, db)[0]
    assert default["coefficients"] == "server-lca"
    assert run_inventory(rows, db, coefficients="hotcarbon24")[0]["coefficients"] == "hotcarbon24"
    # the row equals the same server written as a spec (the year included)
    spec = {"name": "a", "year": 2021, "lifetime_yr": 4,
            "host": {"cpus": {"part": "amd-epyc-7713", "count": 2}, "dram": {"gb": 512, "technology": "ddr4"},
                     "ssd": [{"count": 2, "gb_each": 960}]}}
    e = embodied(server_from_dict(spec, db, "spec.yaml"), load_coefficients("server-lca", db))
    assert default["embodied_kg"] == pytest.approx(e.total_kg, rel=1e-12)
    # a row without a year: 2020 for the year-dependent terms, with a note
    p.write_text(HEADER + "b,,2,,,256,,,,,,,,\n")
    r = run_inventory(read_inventory(p), db)[0]
    assert "year" in r["filled"].split(";") and "assumes 2020" in r["notes"]


def test_cli_inventory_help_and_override(tmp_path):
    runner = CliRunner()
    assert "default server-lca" in " ".join(runner.invoke(main, ["inventory", "--help"]).output.split())
    for command in ("embodied", "footprint", "compare", "train", "codecarbon"):
        assert "default server-lca" in " ".join(runner.invoke(main, [command, "--help"]).output.split()), command
    f = tmp_path / "fleet.csv"
    f.write_text(HEADER + "a,,2,,,384,1,960,,,,,,2019\n")
    out = {}
    for args in ([], ["--coefficients", "hotcarbon24"]):
        r = runner.invoke(main, ["inventory", str(f), "--format", "json", *args])
        assert r.exit_code == 0, r.output
        out[tuple(args)] = json.loads(r.stdout)["rows"][0]
    assert out[()]["coefficients"] == "server-lca"
    assert out[("--coefficients", "hotcarbon24")]["coefficients"] == "hotcarbon24"
    assert out[()]["embodied_kg"] > 3 * out[("--coefficients", "hotcarbon24")]["embodied_kg"]


def test_server_lca_set_cites_every_number(db):
    cs = load_coefficients("server-lca", db)
    assert {"dell-r740-lca", "boaviztapi-2.5.0", "uba-green-cloud-2021", "teehan-kandlikar-2013", "act-repo",
            "tannu-nair-hotcarbon22", "carbonsim-estimate", "li-hotcarbon24", "eserve-code",
            "ademe-gpu-lca-2026"} <= cs.sources()


def test_negative_low_end_of_u0_is_allowed_and_drawn(tmp_path, db):
    # the shipped range of U0 reaches below 0 (vendor methods that count less than the itemised
    # parts); a set with it checks clean and its draws reach below the term's value
    cs = load_coefficients("server-lca", db)
    ref = cs.host["unitemised_electronics"]["ref_kg"]
    assert ref.low < 0 < ref.value < ref.high
    e = embodied(_server(db, 2017), cs, samples=2000, seed=3)
    # the unitemised term alone spans ref.low..ref.high: the host's band is wider than the itemised parts'
    assert e.uncertainty["host_kg"]["p95"] - e.uncertainty["host_kg"]["p5"] > 0.5 * (ref.high - ref.low)


def test_gpu_dies_get_murphys_yield_in_server_lca_only(db):
    # server-lca: the GPU package is ACT's die model over the set's yield times Murphy's yield of the
    # die area (0.1 defects/cm2); the other sets keep ACT's one yield (defect density 0)
    import math

    from carbonsim.models.embodied.logic import carbon_per_area_kg_per_cm2, murphy_yield

    srv = server_from_dict({"name": "x", "gpus": {"part": "nvidia-a100-pcie-40gb", "count": 1},
                            "host": {"cpus": {"die_area_mm2": 100, "node": "7nm", "count": 1},
                                     "dram": {"gb": 0, "technology": "ddr4"}}}, db)
    cs = load_coefficients("server-lca", db)
    f = cs.node("7nm", "x")
    y = cs.fab_yield * float(murphy_yield(8.26, 0.1))
    expect = 8.26 * carbon_per_area_kg_per_cm2(cs.fab_ci_g_per_kwh.value, f.epa_kwh_per_cm2, f.gpa_g_per_cm2,
                                               f.mpa_g_per_cm2, y)
    assert embodied(srv, cs).gpu_components_kg["soc"] == pytest.approx(expect, rel=1e-12)
    assert murphy_yield(8.26, 0.1) == pytest.approx(((1 - math.exp(-0.826)) / 0.826) ** 2, rel=1e-12)
    for set_id in ("hotcarbon24", "ecoserve", "act"):
        assert server_column(srv, load_coefficients(set_id, db)).value[P["fab_defect_density_per_cm2"]] == 0


def test_on_drive_dram_counts_as_dram_whatever_the_year(db):
    # with the NAND trend, the DRAM on a drive is a per-drive part at the DRAM kg/GB, not trended flash
    cs = load_coefficients("server-lca", db)
    drive = {"count": 1, "gb_each": 400, "dram_gb_each": 68}
    for year in (2016, 2019, 2030):
        with_dram = embodied(_server(db, year, ssd=[drive]), cs).host_components_kg["ssd"]
        without = embodied(_server(db, year, ssd=[{"count": 1, "gb_each": 400}]), cs).host_components_kg["ssd"]
        assert with_dram - without == pytest.approx(68 * 1.38802, rel=1e-12), year
