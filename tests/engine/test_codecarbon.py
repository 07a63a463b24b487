"""CodeCarbon imports: a run counts once (its last, cumulative row), verbatim duplicate rows count
once, and the server can come from what CodeCarbon recorded. Before, every flush of a run was
added again (a run flushed three times counted 1 + 2 + 3 of its time)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonsim.cli import main
from carbonsim.engine.readers.codecarbon import read_codecarbon, read_emissions

DATA = Path(__file__).resolve().parents[1] / "data" / "codecarbon_emissions.csv"
HEADER, ROW_A, ROW_B = DATA.read_text().splitlines()[:3]


def flushed(row: str, duration: float, emissions: float, energy: float) -> str:
    """Row ``row`` as CodeCarbon writes it at a later flush (cumulative values)."""
    cells = row.split(",")
    cells[4], cells[5], cells[13] = str(duration), str(emissions), str(energy)
    return ",".join(cells)


def test_a_run_counts_once_its_last_row(tmp_path):
    f = tmp_path / "emissions.csv"
    f.write_text("\n".join([HEADER, flushed(ROW_A, 1200.0, 0.1188, 0.4475), ROW_B,
                            flushed(ROW_A, 2400.0, 0.2376, 0.8950), ROW_A]) + "\n")
    runs = read_emissions(f)
    assert [r.run_id[:8] for r in runs] == ["5b0fa12a", "9c1e7d3b"]
    a = runs[0]
    assert (a.duration_s, a.emissions_kg, a.energy_kwh, a.rows) == (3600.0, 0.3564, 1.3425, 3)
    assert a.gpu_model == "NVIDIA A100-PCIE-40GB" and a.gpu_count == 4


def test_identical_rows_are_not_added_twice(tmp_path):
    f = tmp_path / "emissions.csv"
    f.write_text("\n".join([HEADER, ROW_A, ROW_B, ROW_A, ROW_B]) + "\n")
    once = tmp_path / "once.csv"
    once.write_text("\n".join([HEADER, ROW_A, ROW_B]) + "\n")
    twice = json.loads(CliRunner().invoke(main, ["codecarbon", str(f), "--server", "azure-a100-x4",
                                                 "--format", "json"]).stdout)
    single = json.loads(CliRunner().invoke(main, ["codecarbon", str(once), "--server", "azure-a100-x4",
                                                  "--format", "json"]).stdout)
    assert twice["total"] == single["total"] and len(twice["runs"]) == 2


def test_server_from_what_codecarbon_recorded(db):
    from carbonsim.engine.studies.codecarbon import server_from_run

    s = server_from_run(read_emissions(DATA)[0], db, str(DATA))
    # "4 x NVIDIA A100-PCIE-40GB", "AMD EPYC 7V12 64-Core Processor", ram_total_size 880
    assert (s.gpu.id, s.gpu_count, s.host.cpu.id, s.host.dram_gb.value) == \
        ("nvidia-a100-pcie-40gb", 4, "amd-epyc-7v12", 880.0)
    r = CliRunner().invoke(main, ["codecarbon", str(DATA), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (sid, _), = doc["servers"].items()
    assert sid.startswith("codecarbon-line-")
    run0 = doc["runs"][0]
    assert run0["embodied_gpu_kg"] > 0 and run0["embodied_host_kg"] > 0
    assert run0["operational_kg"] == pytest.approx(0.3564)


def test_unknown_gpu_asks_for_server(tmp_path):
    f = tmp_path / "emissions.csv"
    f.write_text(HEADER + "\n" + ROW_A.replace("4 x NVIDIA A100-PCIE-40GB", "1 x Quantum Accelerator 9000") + "\n")
    r = CliRunner().invoke(main, ["codecarbon", str(f)])
    assert r.exit_code == 2 and "give --server" in r.stderr and "Quantum Accelerator" in r.stderr


# --- CodeCarbon as it really writes (issue 18) --------------------------------------------------
# The header CodeCarbon 3.3.2 writes for a task file (TaskEmissionsData, all-blank columns dropped,
# as written by the real tracker in test_the_real_tracker_file below).
TASK_HEADER = ("task_name,timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
               "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,"
               "country_iso_code,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,"
               "ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,ram_utilization_percent,"
               "ram_used_gb,on_cloud")


def _task(name, t, duration, kg, kwh):
    return (f"{name},{t},llm,5b0fa12a-3dd7-45bb-9766-cc326314d9f1,{duration},{kg},0,100,1200,30,0,0,0,{kwh},0,"
            "Spain,ESP,Linux,3.11.7,3.3.2,96,AMD EPYC 7V12 64-Core Processor,4,4 x NVIDIA A100-PCIE-40GB,880,machine,"
            "40,80,30,200,N")


def test_a_task_file_sums_its_tasks(tmp_path):
    # one run of three tasks, 100 + 3000 + 200 s and 0.01 + 0.25 + 0.02 kg: the run is all three,
    # not its last task (before: 200 s and 0.020 kg, 93 % low)
    f = tmp_path / "emissions_base_5b0fa12a.csv"
    f.write_text("\n".join([TASK_HEADER, _task("load", "2026-11-01T10:01:40", 100, 0.01, 0.03),
                            _task("train", "2026-11-01T10:51:40", 3000, 0.25, 0.9),
                            _task("eval", "2026-11-01T10:55:00", 200, 0.02, 0.06)]) + "\n")
    doc = json.loads(CliRunner().invoke(main, ["codecarbon", str(f), "--server", "azure-a100-x4",
                                               "--format", "json"]).stdout)
    assert [r["task"] for r in doc["runs"]] == ["load", "train", "eval"]
    assert doc["total"]["duration_s"] == 3300 and doc["total"]["operational_kg"] == pytest.approx(0.28)
    assert doc["total"]["runs"] == 1 and doc["total"]["entries"] == 3


def test_reordered_rows_keep_the_last_by_timestamp(tmp_path):
    # a run flushed at 1,200, 2,400 and 3,600 s, sorted in a spreadsheet so that the 1,200 s row
    # comes last in the file: the run is still 3,600 s and 356.4 g (before: 1,200 s, 118.8 g)
    a1 = flushed(ROW_A, 1200.0, 0.1188, 0.4475).replace("2026-11-01T10:00:00", "2026-11-01T09:20:00")
    a2 = flushed(ROW_A, 2400.0, 0.2376, 0.8950).replace("2026-11-01T10:00:00", "2026-11-01T09:40:00")
    f = tmp_path / "emissions.csv"
    f.write_text("\n".join([HEADER, ROW_A, ROW_B, a2, a1]) + "\n")
    a = read_emissions(f)[0]
    assert (a.duration_s, a.emissions_kg, a.rows) == (3600.0, 0.3564, 3)


# A CPU-only offline run as CodeCarbon 3.3.2 writes it (38 cells; region, gpu_count, gpu_model,
# longitude and latitude blank), and the 33-cell row CodeCarbon's append wrote for the same run
# before mlco2/codecarbon#1304 (those five cells dropped, the rest shifted left).
CPU_ROW = ("2026-11-02T09:00:00,cpu-job,7d4e2f10-0000-4000-8000-000000000001,exp,600.0,0.0021,3.5e-06,42.5,0,10,"
           "0.007,0,0.0017,0.0087,0,France,FRA,,,,Linux-6.1,3.11.7,2.8.0,8,Intel(R) Xeon(R) Platinum 8259CL CPU @ "
           "2.50GHz,,,,,31.0,machine,50,0,20,6.2,N,1.0,0.0")


def _short(row: str) -> str:
    cells = row.split(",")
    names = HEADER.split(",")
    drop = {names.index(c) for c in ("region", "gpu_count", "gpu_model", "longitude", "latitude")}
    return ",".join(c for i, c in enumerate(cells) if i not in drop)


def test_short_rows_of_older_versions_are_repaired(tmp_path):
    short = _short(CPU_ROW.replace("7d4e2f10-0000-4000-8000-000000000001", "7d4e2f10-0000-4000-8000-000000000002"))
    assert len(short.split(",")) == 33 and len(HEADER.split(",")) == 38
    f = tmp_path / "emissions.csv"
    f.write_text("\n".join([HEADER, CPU_ROW, short]) + "\n")
    e = read_codecarbon(f)
    whole, repaired = e.runs
    assert (repaired.ram_gb, repaired.tracking_mode, repaired.cpu_count, repaired.gpu_count) == (31.0, "machine", 8, None)
    assert repaired.cpu_model == whole.cpu_model and repaired.duration_s == 600.0
    (w,) = e.warnings
    assert "line 3" in w and "repaired" in w and "#1304" in w


def test_a_short_row_that_cannot_be_placed_is_skipped(tmp_path):
    # 33 of 38 cells, but the missing ones are not columns CodeCarbon leaves blank (the last five
    # cut off): no placing fits the columns' kinds, so the row is skipped with a warning
    short = ",".join(CPU_ROW.split(",")[:33])
    f = tmp_path / "emissions.csv"
    f.write_text("\n".join([HEADER, CPU_ROW, short]) + "\n")
    e = read_codecarbon(f)
    assert len(e.runs) == 1
    assert any("line 3: skipped" in w for w in e.warnings)


@pytest.mark.parametrize("value, words", [("four", "'four' is not a number"), ("nan", "not a finite number"),
                                          ("1e400", "not a finite number"), ("2.5", "whole number")])
def test_bad_gpu_count_is_one_line(tmp_path, value, words):
    from tests.cli.cli_helpers import one_line_exit_2

    cells = ROW_A.split(",")
    cells[HEADER.split(",").index("gpu_count")] = value
    f = tmp_path / "emissions.csv"
    f.write_text(HEADER + "\n" + ",".join(cells) + "\n")
    one_line_exit_2(CliRunner().invoke(main, ["codecarbon", str(f)]), "gpu_count", "line 2", words)


def test_a_vm_is_charged_its_share_of_the_host(tmp_path, db):
    # a 2-vCPU, 8 GB VM on an EPYC 7V12 host (2 x 64 cores, 256 threads): before, the whole
    # physical server's embodied carbon was charged (43 % of the total)
    cells = ROW_A.split(",")
    names = HEADER.split(",")
    for col, v in (("cpu_count", "2"), ("ram_total_size", "8"), ("gpu_count", "0"), ("gpu_model", ""),
                   ("duration", "3600"), ("emissions", "0.0097"), ("energy_consumed", "0.06")):
        cells[names.index(col)] = v
    f = tmp_path / "emissions.csv"
    f.write_text(HEADER + "\n" + ",".join(cells) + "\n")
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.studies.codecarbon import codecarbon, host_threads

    r = codecarbon(f, load_coefficients(None, db), db)
    (run,) = r.runs
    srv = run.server.server
    assert host_threads(srv) == 256 and srv.host.cpu.id == "amd-epyc-7v12"
    dram = srv.host.dram_gb.value
    assert dram > 8  # the host's DRAM (prior), not the VM's 8 GB
    assert (run.share.cpu, run.share.memory, run.share.gpu) == pytest.approx((2 / 256, 8 / dram, 1.0))
    e = run.server
    life = srv.host_lifetime_yr.value * 365 * 86400
    d_kg = e.host_components_kg["dram"]
    expected = 3600 / life * (d_kg * 8 / dram + (e.host_kg - d_kg) * 2 / 256)
    assert run.embodied_kg == pytest.approx(expected, rel=1e-9)
    whole = 3600 / life * e.host_kg
    assert run.embodied_kg < whole / 20 and run.embodied_share < 0.05
    assert "2 of 256 CPU threads" in run.share.basis
    given = codecarbon(f, load_coefficients(None, db), db, share=1.0).runs[0]
    assert given.embodied_kg == pytest.approx(whole, rel=1e-9)


def test_grid_recomputes_operational_beside_codecarbons(db):
    r = CliRunner().invoke(main, ["codecarbon", str(DATA), "--server", "azure-a100-x4", "--grid", "coal",
                                  "--format", "json"])
    doc = json.loads(r.stdout)
    run0 = doc["runs"][0]
    assert run0["operational_kg"] == pytest.approx(0.3564)  # CodeCarbon's own, kept
    assert run0["operational_grid_kg"] == pytest.approx(1.3425 * 820 / 1000)  # IPCC AR5 coal median
    assert run0["total_kg"] == pytest.approx(run0["operational_grid_kg"] + run0["embodied_kg"])
    assert doc["grid"]["basis"] == "lifecycle"
    assert run0["cpu"] == "amd-epyc-7v12" and run0["gpu"] == "nvidia-a100-pcie-40gb"


@pytest.mark.parametrize("name, part", [
    ("NVIDIA H100 80GB HBM3", "nvidia-h100-sxm5-80gb"), ("NVIDIA H100 PCIe", "nvidia-h100-pcie-80gb"),
    ("NVIDIA H200", "nvidia-h200-sxm-141gb"), ("NVIDIA GH200 480GB", "nvidia-gh200"), ("NVIDIA A10G", "nvidia-a10g"),
    ("Tesla V100-SXM2-16GB", "nvidia-v100-sxm2-16gb"), ("MI250X", "amd-mi250x"), ("AMD Instinct MI250X", "amd-mi250x"),
    ("Tesla V100-SXM2-32GB", "nvidia-v100-sxm2-32gb"), ("AMD Instinct MI300X", "amd-mi300x"),
])
def test_driver_names_match_their_parts(db, name, part):
    from carbonsim.engine.inputs.parts import PartMatcher

    assert PartMatcher(db, "gpus").match(name) == (part, [])


def test_mi250x_devices_are_half_packages(tmp_path, db):
    cells = ROW_A.split(",")
    names = HEADER.split(",")
    cells[names.index("gpu_model")], cells[names.index("gpu_count")] = "8 x AMD Instinct MI250X", "8"
    cells[names.index("cpu_model")] = "AMD EPYC 7713 64-Core Processor"
    cells[names.index("cpu_count")] = "128"
    f = tmp_path / "emissions.csv"
    f.write_text(HEADER + "\n" + ",".join(cells) + "\n")
    from carbonsim.engine.studies.codecarbon import server_from_run

    s = server_from_run(read_emissions(f)[0], db, str(f))
    assert (s.gpu.id, s.gpu_count) == ("amd-mi250x", 4)


def test_db_check_refuses_an_alias_that_names_two_parts(tmp_path):
    import shutil

    gpus = tmp_path / "gpus"
    gpus.mkdir()
    src = Path(__file__).resolve().parents[2] / "hardware_db" / "gpus" / "nvidia-l4.yaml"
    text = src.read_text().replace("name: NVIDIA L4", 'name: My L4\naliases: ["NVIDIA H100 PCIe"]')
    (gpus / "my-l4.yaml").write_text(text)
    shutil.copy(Path(__file__).resolve().parents[2] / "hardware_db" / "sources.yaml", tmp_path / "sources.yaml")
    r = CliRunner().invoke(main, ["db", "check", str(tmp_path)])
    assert r.exit_code == 2 and "'NVIDIA H100 PCIe' also matches GPU 'nvidia-h100-pcie-80gb'" in r.stderr


def test_the_real_tracker_file(tmp_path, db):
    """CodeCarbon's own offline tracker writes the files (no network), with two tasks; carbonsim
    reads them as written: the columns are whatever this CodeCarbon version writes."""
    cc = pytest.importorskip("codecarbon")
    import logging

    # CodeCarbon >= 3.3 names its outputs with output_methods (save_to_file is deprecated there)
    out = {"output_methods": [cc.OutputMethod.CSV]} if hasattr(cc, "OutputMethod") else {"save_to_file": True}
    tracker = cc.OfflineEmissionsTracker(country_iso_code="FRA", output_dir=str(tmp_path), log_level="error",
                                         measure_power_secs=1, project_name="carbonsim-test", **out)
    tracker.start_task("load")
    sum(i * i for i in range(200_000))
    load = tracker.stop_task()
    tracker.start_task("train")
    sum(i * i for i in range(400_000))
    train = tracker.stop_task()
    tracker.stop()
    logging.getLogger("codecarbon").handlers.clear()
    main_file = tmp_path / "emissions.csv"
    (task_file,) = tmp_path.glob("emissions_*_*.csv")
    header = main_file.read_text().splitlines()[0].split(",")
    assert {"run_id", "duration", "emissions", "energy_consumed", "cpu_count", "ram_total_size"} <= set(header)
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.studies.codecarbon import codecarbon

    cs = load_coefficients(None, db)
    tasks = codecarbon(task_file, cs, db, server=None, share=None)
    assert [r.run.task_name for r in tasks.runs] == ["load", "train"]
    assert tasks.totals()["operational_kg"] == pytest.approx(load.emissions + train.emissions, rel=1e-9)
    assert tasks.totals()["duration_s"] == pytest.approx(load.duration + train.duration, rel=1e-9)
    whole = codecarbon(main_file, cs, db)
    (run,) = whole.runs
    assert run.run.run_id == tasks.runs[0].run.run_id and run.embodied_kg > 0
    assert run.record()["cpu"] and 0 < run.share.cpu <= 1
