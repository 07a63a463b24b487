"""CodeCarbon imports: a run counts once (its last, cumulative row), verbatim duplicate rows count
once, and the server can come from what CodeCarbon recorded. Before, every flush of a run was
added again (a run flushed three times counted 1 + 2 + 3 of its time)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carbonsim.cli import main
from carbonsim.engine.readers.codecarbon import read_emissions

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
