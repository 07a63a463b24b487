"""Inventories: parsing, filling from priors, equivalence with server specs, the SPECpower check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from carbonsim.engine.studies.embodied import embodied
from carbonsim.engine.inputs.coefficients import load_coefficients
from carbonsim.errors import InputError
from carbonsim.engine.inputs.server import server_from_dict
from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.engine.inputs.parts import PartMatcher
from carbonsim.engine.readers.inventory import read_inventory
from carbonsim.engine.studies.inventory import derive_priors, fill_row, inventory_columns, run_inventory
from carbonsim.models import spec_priors as inv
from carbonsim.validation import DATA

ROOT = Path(__file__).resolve().parents[2]
SPECPOWER = DATA / "specpower_sample.csv"
HEADER = "id,cpu_model,cpu_count,cores_total,cpu_tdp_w,dram_gb,ssd_count,ssd_gb,hdd_count,hdd_gb,gpu_model,gpu_count,psu_w,year\n"


def write(tmp_path, body, header=HEADER, name="fleet.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_text(header + body, encoding=encoding)
    return p


# --- parsing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, column, line, words", [
    ("a,,x2,,,,,,,,,,,\n", "cpu_count", 2, "not a number"),
    ("a,,,,,-5,,,,,,,,\n", "dram_gb", 2, "negative"),
    ("a,,,,,nan,,,,,,,,\n", "dram_gb", 2, "finite"),
    ("a,,,,,,,,,,,,,\nb,,,,,,inf,,,,,,,\n", "ssd_count", 3, "finite"),
    ("a,,1.5,,,,,,,,,,,\n", "cpu_count", 2, "whole number"),
    ("a,,0,,,,,,,,,,,\n", "cpu_count", 2, "> 0"),
    ("a,,,,,,,,,,,,,1850\n", "year", 2, "outside"),
    ("a,,,,,,,,,,,,,\na,,,,,,,,,,,,,\n", "id", 3, "duplicate id 'a' (first on line 2)"),
    (",,2,,,,,,,,,,,\n", "id", 2, "empty"),
    # the one CSV reader: every record has as many cells as the header, quotes close
    ("a,,2,,,,,,,,,,,,\n", "", 2, "15 cells for 14 columns"),
    ("a,,2,,,,,,,,,,\n", "", 2, "13 cells for 14 columns"),
    ('a,"AMD EPYC,2,,,,,,,,,,,\n', "", 2, "quote"),
])
def test_bad_cells_name_file_line_and_column(tmp_path, body, column, line, words):
    p = write(tmp_path, body)
    with pytest.raises(InputError) as ei:
        read_inventory(p)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(p) in msg and f"line {line}" in msg and column in msg and words in msg


def test_header_problems(tmp_path):
    with pytest.raises(InputError, match="missing column 'id'"):
        read_inventory(write(tmp_path, "1,2\n", header="cpu_model,cpu_count\n"))
    with pytest.raises(InputError, match="duplicate column"):
        read_inventory(write(tmp_path, "a,1,2\n", header="id,cpu_count,cpu_count\n"))
    with pytest.raises(InputError, match="empty"):
        read_inventory(write(tmp_path, "", header=""))
    with pytest.raises(InputError, match="no data rows"):
        read_inventory(write(tmp_path, ""))
    with pytest.raises(InputError, match="file not found"):
        read_inventory(tmp_path / "missing.csv")


def test_bom_extra_columns_case_and_blank_lines(tmp_path):
    p = write(tmp_path, "srv-1,2,AMD EPYC 7713,x\n\n# comment\nsrv-2,,,\n",
              header="ID,CPU_Count,cpu_model,rack\n", encoding="utf-8-sig")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = read_inventory(p)
    assert [r.id for r in rows] == ["srv-1", "srv-2"]
    assert rows[0].cpu_count == 2 and rows[0].cpu_model == "AMD EPYC 7713" and rows[1].cpu_count is None
    assert rows[1].line == 5


# --- matching ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("AMD EPYC 7713", "amd-epyc-7713"), ("amd-epyc-7713", "amd-epyc-7713"), ("EPYC 7713", "amd-epyc-7713"),
    ("AMD EPYC 7713 2.0GHz", "amd-epyc-7713"), ("AMD EPYC 7V12 64-Core Processor", "amd-epyc-7v12"),
    ("Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz", "intel-xeon-platinum-8180"),
    ("NVIDIA Grace CPU", "nvidia-grace"), ("Intel Xeon Platinum 8180M", None), ("AMD EPYC 7742", None),
])
def test_cpu_names(db, text, expected):
    assert PartMatcher(db, "cpus").match(text)[0] == expected


@pytest.mark.parametrize("text, expected", [
    ("NVIDIA A100-SXM4-80GB", "nvidia-a100-sxm4-80gb"), ("A100 SXM4 80GB", "nvidia-a100-sxm4-80gb"),
    ("NVIDIA A100 80GB PCIe", "nvidia-a100-pcie-80gb"), ("Tesla T4", "nvidia-t4"),
    ("Tesla V100-PCIE-32GB", "nvidia-v100-pcie-32gb"), ("nvidia-h100-sxm5-80gb", "nvidia-h100-sxm5-80gb"),
    ("NVIDIA A100-SXM4-40GB", "nvidia-a100-sxm4-40gb"), ("NVIDIA A40", "nvidia-a40"),
    ("Tesla V100-PCIE-16GB", None),  # another memory variant of a GPU the database has is not matched
])
def test_gpu_names(db, text, expected):
    assert PartMatcher(db, "gpus").match(text)[0] == expected


def test_unknown_gpu_is_an_error_naming_the_row(tmp_path, db):
    p = write(tmp_path, "a,,,,,,,,,,,,,\nb,,,,,,,,,,NVIDIA Quantum X9,2,,\n")
    with pytest.raises(InputError) as ei:
        run_inventory(read_inventory(p), db)
    msg = str(ei.value)
    assert "line 3" in msg and "'b'" in msg and "gpu_model" in msg and str(p) in msg and "\n" not in msg
    p = write(tmp_path, "a,,,,,,,,,,,4,,\n")
    with pytest.raises(InputError, match="no gpu_model"):
        run_inventory(read_inventory(p), db)


# --- filling -----------------------------------------------------------------------------------------

def _one(tmp_path, db, body, **kw):
    return run_inventory(read_inventory(write(tmp_path, body)), db, **kw)[0]


def test_known_cpu_fills_from_the_database(tmp_path, db):
    r = _one(tmp_path, db, "a,AMD EPYC 7713,,128,,512,2,1920,,,,,,2022\n")
    assert r["filled"].split(";") == ["cpu_count", "cpu_tdp_w"]
    assert "amd-epyc-7713 from the database" in r["notes"]


def test_blank_row_fills_everything_and_flags_it(tmp_path, db):
    r = _one(tmp_path, db, "a,,,,,,,,,,,,,\n")
    assert set(r["filled"].split(";")) == {"year", "cpu_count", "cores_total", "cpu_tdp_w", "die_area_mm2", "node",
                                           "dram_technology", "dram_gb", "ssd_count", "ssd_gb"}
    assert "prior without year" in r["notes"]
    rows = read_inventory(write(tmp_path, "a,,,,,,,,,,,,,\n"))
    cpus, gpus = PartMatcher(db, "cpus"), PartMatcher(db, "gpus")
    f = fill_row(rows[0], db, cpus, gpus)
    per = inv.prior_cores_per_cpu(inv.DEFAULT_YEAR)
    assert (f.cpu_count, f.cores_total, f.year, f.year_known) == (2, 2 * per, 2020, False)
    assert f.cpu_tdp_w == pytest.approx(inv.prior_tdp_w(per))
    assert f.dram_gb == pytest.approx(inv.prior_dram_gb(2 * per, 2020))
    assert f.spec["host"]["cpus"]["node"] == "7nm"
    assert (f.ssd_count, f.ssd_gb, f.hdd_count) == (1, 960.0, 0)


def test_priors_and_node_rule(tmp_path, db):
    assert [inv.node_for_year(y) for y in (2008, 2012, 2013, 2015, 2016, 2019, 2020, 2021, 2022, 2030)] == \
        ["28nm", "28nm", "22nm", "22nm", "14nm", "14nm", "7nm", "7nm", "5nm", "5nm"]
    # nodes of the database CPUs' largest compute dies: 7 of 8 reproduced (8480C: Intel 7 = 10nm)
    hits = 0
    for pid in db.ids("cpus"):
        d = db.get("cpus", pid)
        die = max(d["dies"], key=lambda x: x["area_mm2"].value * x.get("count", 1))
        alias = {"4nm": "5nm", "6nm": "7nm"}.get(die["node"], die["node"])
        hits += inv.node_for_year(int(d["year"])) == alias
    assert hits == 7


def test_gpu_row_and_drive_defaults(tmp_path, db):
    rows = read_inventory(write(tmp_path, "g,,,,,,3,,2,,NVIDIA A100-SXM4-80GB,,3000,\n"))
    f = fill_row(rows[0], db, PartMatcher(db, "cpus"), PartMatcher(db, "gpus"))
    assert (f.gpu_id, f.gpu_count, f.year) == ("nvidia-a100-sxm4-80gb", 1, 2020)
    assert f.year_known  # launch year of the GPU
    assert f.dram_gb == pytest.approx(3 * 80)
    assert (f.ssd_count, f.ssd_gb, f.hdd_count, f.hdd_gb) == (3, 3 * 960.0, 2, 32000.0)
    assert {"gpu_count", "year", "dram_gb", "ssd_gb", "hdd_gb"} <= set(f.filled)
    assert f.spec["host"]["chassis_gpu_slots"] == 1


def test_pinned_priors_match_their_sources(db):
    d = derive_priors(SPECPOWER, db)
    assert d["die_area_ln"] == pytest.approx(inv.DIE_AREA_LN, abs=1e-4)
    assert d["die_area_sd_ln"] == pytest.approx(inv.DIE_AREA_SD_LN, abs=1e-3)
    assert d["tdp_ln"] == pytest.approx(inv.TDP_LN, abs=1e-4)
    assert d["cores_from_tdp_ln"] == pytest.approx(inv.CORES_FROM_TDP_LN, abs=1e-4)
    assert d["cores_from_year_ln"] == pytest.approx(inv.CORES_FROM_YEAR_LN, abs=1e-4)
    assert d["dram_ln"] == pytest.approx(inv.DRAM_LN, abs=1e-4)
    assert d["dram_sd_ln"] == pytest.approx(inv.DRAM_SD_LN, abs=1e-3)
    assert [round(x, 1) for x in d["tdp_err_pct"]] == [12.4, 33.5]
    assert [round(x, 1) for x in d["dram_err_pct"]] == [29.0, 59.4]


# --- equivalence with a server spec -----------------------------------------------------------------

@pytest.mark.parametrize("set_id", ["hotcarbon24", "act", "ecoserve"])
def test_known_cpu_row_equals_the_server_spec(tmp_path, db, set_id):
    p = write(tmp_path, "r1,AMD EPYC 7713,2,128,225,512,2,1920,1,8000,NVIDIA A100-SXM4-80GB,8,,2021\n")
    r = run_inventory(read_inventory(p), db, coefficients=set_id)[0]
    spec = {"name": "r1", "lifetime_yr": 4,
            "gpus": {"part": "nvidia-a100-sxm4-80gb", "count": 8},
            "host": {"cpus": {"part": "amd-epyc-7713", "count": 2}, "dram": {"gb": 512, "technology": "ddr4"},
                     "ssd_gb": 1920, "hdd_gb": 8000}}
    cs = load_coefficients(set_id, db)
    e = embodied(server_from_dict(spec, db, "spec.yaml"), cs)
    assert r["embodied_kg"] == pytest.approx(e.total_kg, rel=1e-12)
    assert r["embodied_kg_per_yr"] == pytest.approx(e.total_kg / 4, rel=1e-12)
    assert r["filled"] == ""


def test_prior_cpu_row_equals_inline_spec(tmp_path, db):
    p = write(tmp_path, "r1,Some CPU,2,64,,256,1,960,,,,,,2018\n")
    r = run_inventory(read_inventory(p), db, coefficients="act")[0]
    area = inv.prior_die_area_mm2(32)
    spec = {"name": "r1", "host": {"cpus": {"die_area_mm2": area, "node": "14nm", "count": 2},
                                   "dram": {"gb": 256, "technology": "ddr4"}, "ssd_gb": 960}}
    e = embodied(server_from_dict(spec, db, "spec.yaml"), load_coefficients("act", db))
    assert r["embodied_kg"] == pytest.approx(e.total_kg, rel=1e-12)


# --- outputs -------------------------------------------------------------------------------------------

def test_outputs_power_energy_and_operational(tmp_path, db):
    from carbonsim.engine.inputs.power import gpu_activity_table, prior_curve

    p = write(tmp_path, "r1,AMD EPYC 7713,2,128,225,512,3,2880,,,NVIDIA A100-SXM4-80GB,4,,2021\n")
    out = run_inventory(read_inventory(p), db, utils=(0.0, 0.5, 1.0), grid=resolve_grid("coal", db), pue=1.5, years=3, samples=200)
    assert [o["util"] for o in out] == [0.0, 0.5, 1.0]
    assert list(out[0]) == inventory_columns(samples=200, grid=True)
    c = gpu_activity_table(db)["nvidia-a100-sxm4-80gb"]
    slope = db.get("power", "gpu-activity")["ladder_slope"]
    for o in out:
        host = prior_curve(db, 225, 2, 128, 512, 2021, ssd_count=3).power_w(o["util"])
        x = min(1.0, slope * o["util"])
        gpu = 4 * (c["idle_loaded_w"] + (c["cap_w"] - c["idle_loaded_w"]) * x)
        assert o["host_power_w"] == pytest.approx(host, rel=1e-12)
        assert o["gpu_power_w"] == pytest.approx(gpu, rel=1e-12)
        assert o["power_w"] == pytest.approx(host + gpu)
        assert o["energy_kwh_per_yr"] == pytest.approx(o["power_w"] * 8.76)
        assert o["operational_kg_per_yr"] == pytest.approx(o["energy_kwh_per_yr"] * 1.5 * 0.820)
        assert o["energy_kwh"] == pytest.approx(3 * o["energy_kwh_per_yr"])
        assert o["total_kg"] == pytest.approx(3 * (o["operational_kg_per_yr"] + o["embodied_kg_per_yr"]))
        assert o["embodied_kg_p5"] <= o["embodied_kg_p95"]
        assert o["grid_basis"] == "lifecycle"
    no_grid = run_inventory(read_inventory(p), db)
    assert list(no_grid[0]) == inventory_columns()
    assert "operational_kg_per_yr" not in no_grid[0] and "embodied_kg_p5" not in no_grid[0]


def test_each_utilisation_row_notes_its_own_load_and_cap(tmp_path, db):
    # a row's notes at --util 0.3,0.7 once named the first utilisation on every row; each row
    # now says its own GPU load, and a PSU cap only where that load reached it (psu_w 1,500 W:
    # uncapped this server draws about 1,190 W at 0.3 and 1,960 W at 0.7)
    p = write(tmp_path, "r1,AMD EPYC 7713,2,128,225,512,,,,,NVIDIA A100-SXM4-80GB,4,1500,2021\n")
    out = run_inventory(read_inventory(p), db, utils=(0.3, 0.7))
    for o in out:
        assert f"GPUs by the activity model at utilisation {o['util']:g}" in o["notes"]
        assert o["notes"].count("at utilisation") == 1
    assert ["capped at psu_w" in o["notes"] for o in out] == [False, True]
    assert out[0]["power_w"] < 1500 and out[1]["power_w"] == pytest.approx(1500)


def test_psu_cap_and_bad_arguments(tmp_path, db):
    r = _one(tmp_path, db, "a,,2,64,250,512,,,,,,,150,2020\n", utils=(1.0,))
    assert r["power_w"] == 150 and "capped at psu_w" in r["notes"]
    rows = read_inventory(write(tmp_path, "a,,,,,,,,,,,,,\n"))
    for kw, field in (({"utils": (50,)}, "util"), ({"pue": 0.9}, "pue"), ({"years": 0}, "years"),
                      ({"samples": -1}, "samples")):
        with pytest.raises(InputError) as ei:
            run_inventory(rows, db, **kw)
        assert ei.value.field == field


def test_samples_are_seeded(tmp_path, db):
    rows = read_inventory(write(tmp_path, "a,,,,,,,,,,,,,\nb,,,,,,,,,,,,,\n"))
    a = run_inventory(rows, db, samples=300, seed=3, coefficients="act")
    b = run_inventory(rows, db, samples=300, seed=3, coefficients="act")
    assert [x["embodied_kg_p95"] for x in a] == [x["embodied_kg_p95"] for x in b]
    assert a[0]["embodied_kg_p5"] < a[0]["embodied_kg"] < a[0]["embodied_kg_p95"]


def test_two_thousand_rows_run(tmp_path, db):
    cpus = ["AMD EPYC 7713", "Intel Xeon Platinum 8180", "", "Xeon E5-2680 v4"]
    gpus = ["", "NVIDIA A100-SXM4-80GB,8", "Tesla T4,4"]
    lines = []
    for i in range(2000):
        g = gpus[i % 3] or ","
        lines.append(f"s{i},{cpus[i % 4]},{1 + i % 2},,,{'' if i % 5 else 256},,,,,{g},,{2015 + i % 9}\n")
    out = run_inventory(read_inventory(write(tmp_path, "".join(lines))), db, utils=(0.2, 0.8), grid=resolve_grid("wind", db))
    assert len(out) == 4000
    assert all(math.isfinite(o["power_w"]) and o["power_w"] > 0 and o["embodied_kg"] > 0 for o in out)


# --- SPECpower check ---------------------------------------------------------------------------------

def test_specpower_inventory_error_equals_the_prior_in_sample_error(tmp_path, db):
    import pandas as pd
    from carbonsim.models.power.prior import LOAD_LEVELS, abs_pct_error, design_matrix, fit_host_prior, \
        prior_power_from_features_w

    df = pd.read_csv(SPECPOWER)
    cols = ["p_idle_w"] + [f"p{i}_w" for i in range(10, 101, 10)]
    P = df[cols].to_numpy(float)
    lines = [f"{r.result_id},\"{r.cpu_model}\",{r.sockets},{r.cores_total},"
             f"{'' if pd.isna(r.cpu_tdp_w) else r.cpu_tdp_w},{r.memory_gb},{r.year}\n" for r in df.itertuples()]
    p = write(tmp_path, "".join(lines), header="id,cpu_model,cpu_count,cores_total,cpu_tdp_w,dram_gb,year\n")
    utils = [round(u, 1) for u in LOAD_LEVELS]
    out = run_inventory(read_inventory(p), db, utils=utils)
    W = np.array([o["power_w"] for o in out]).reshape(len(df), len(utils))
    has = df.cpu_tdp_w.notna().to_numpy()
    err_inv = abs_pct_error(W[has], P[has])

    d = df[has]
    X = design_matrix(d.cpu_tdp_w, d.sockets, d.cores_total, d.memory_gb, d.year)
    fit = prior_power_from_features_w(np.broadcast_to(LOAD_LEVELS, P[has].shape), X, fit_host_prior(X, P[has]))
    err_fit = abs_pct_error(fit, P[has])
    assert np.max(np.abs(err_inv - err_fit)) < 0.05  # percentage points: the YAML's 6-digit rounding
    assert np.median(err_inv, axis=0) == pytest.approx(np.median(err_fit, axis=0), abs=0.05)
    assert float(np.median(err_inv)) == pytest.approx(float(np.median(err_fit)), abs=0.05)

    # the numbers in docs/validation_power.md are the benchmark's
    from carbonsim.validation.inventory_power import evaluate

    r = evaluate()
    assert r["inventory"]["all_median"] == pytest.approx(float(np.median(err_inv)), abs=1e-9)
    doc = (ROOT / "docs" / "validation_power.md").read_text(encoding="utf-8")
    assert "<!-- inventory-specpower:begin -->" in doc
    row = (f"| all levels | **{r['inventory']['all_median']:.1f}** | **{r['insample']['all_median']:.1f}** | "
           f"**{r['cv']['all_median']:.1f}** |")
    assert row in doc


# --- rows that name a server --------------------------------------------------------------------------

def test_a_named_server_from_a_db_layer_or_a_file_beside_the_csv(tmp_path, monkeypatch):
    """A row's ``server`` is a database id (a --db layer's too: "from the database") or a file,
    tried as given and then in the CSV's folder (as a scenario's ``server:``), whatever the
    working directory; it is that server (the same numbers as loading it), nothing filled."""
    from carbonsim.engine.db import default_database
    from carbonsim.engine.inputs.server import load_server
    from carbonsim.engine.studies.compare import compare

    layer, fleet = tmp_path / "layer", tmp_path / "fleet"
    (layer / "servers").mkdir(parents=True)
    (fleet / "racks").mkdir(parents=True)
    spec = ("name: mine\nyear: 2022\nlifetime_yr: 5\nhost_lifetime_yr: 8\ngpus: {part: nvidia-l4, count: 2}\n"
            "host:\n  cpus: {part: amd-epyc-7713, count: 1}\n  dram: {gb: 256, technology: ddr4}\n  ssd_gb: 1920\n")
    (layer / "servers" / "my-l4.yaml").write_text(spec)
    (fleet / "racks" / "l4-box.yaml").write_text(spec)
    p = write(fleet, "a,my-l4,\nb,racks/l4-box.yaml,3\n", header="id,server,lifetime_yr\n")
    monkeypatch.chdir(tmp_path)  # the file is found in the CSV's folder, not the working directory
    db = default_database([layer])
    rows = read_inventory(p)
    assert [r.server for r in rows] == ["my-l4", "racks/l4-box.yaml"]
    from carbonsim.errors import CarbonsimWarning

    with pytest.warns(CarbonsimWarning, match="charged 0.25 of its chassis"):  # as in every command
        out = run_inventory(rows, db, utils=(0.5,), grid=resolve_grid("FRA", db), years=3)
    assert out[0]["notes"].startswith("server my-l4 from the database; GPU lifetime 5 yr, host 8 yr")
    assert out[1]["notes"].startswith(f"server l4-box from {fleet / 'racks' / 'l4-box.yaml'}; "
                                      "GPU lifetime 3 yr, host 8 yr")
    assert "charged 0.25 of its chassis" in out[0]["notes"] and out[0]["filled"] == out[1]["filled"] == ""
    assert out[0]["lifetime_yr"] == out[1]["lifetime_yr"] == 8  # the host's: lifetime_yr does not reach it
    mine = load_server("my-l4", db)
    kept3 = load_server("my-l4", db, overrides={"lifetime_yr": 3})  # --set server.lifetime_yr=3
    with pytest.warns(CarbonsimWarning):
        cmp = compare([mine, kept3], load_coefficients(None, db), resolve_grid("FRA", db), db, years=3).servers
    for r, c in zip(out, cmp):
        assert (r["embodied_kg"], r["total_kg"], r["embodied_kg_amortised"]) == (c.embodied_kg, c.total_kg,
                                                                                 c.embodied_kg_amortised)
    assert cmp[1].embodied_kg_amortised > cmp[0].embodied_kg_amortised  # the GPUs over 3 years, not 5


def test_a_named_server_row_with_a_spec_cell_is_refused(tmp_path):
    p = write(tmp_path, "a,,azure-a100-x4,\nb,512,azure-a100-x4,4\n", header="id,dram_gb,server,lifetime_yr\n")
    with pytest.raises(InputError) as e:
        read_inventory(p)
    assert str(e.value).startswith(f"{p}: dram_gb: line 3 (id 'b'): dram_gb is given on a row that names server "
                                   "'azure-a100-x4'")
