"""Fleet inventories in chunks (engine/studies/inventory_fleet.py, issue 19 §5) give the rows the
readable, row-by-row path gives (engine/studies/inventory.py: fill_row, run_inventory), number for
number, on a few hundred varied rows: database CPUs written several ways and unknown ones, GPUs
with and without counts, every blank filled, drives, PSU caps, years inside and outside the
coefficient sets' spans, rows naming a server (database entries and the user's own files, with
and without a lifetime of their own) among them, under every coefficient set; and the same
errors, warnings and text."""

import warnings

import numpy as np
import pytest

from carbonsim.engine.inputs.grid import resolve_grid
from carbonsim.engine.readers.inventory import read_inventory, read_inventory_columns
from carbonsim.engine.studies import inventory_fleet
from carbonsim.engine.studies.inventory import run_inventory
from carbonsim.engine.studies.inventory_fleet import fleet_rows, plan_inventory
from carbonsim.errors import InputError, PlausibilityWarning
from carbonsim.report.study_text import inventory_pieces
from carbonsim.report.text import csv_text, fmt_num, json_text, table

HEADER = ("id,cpu_model,cpu_count,cores_total,cpu_tdp_w,dram_gb,ssd_count,ssd_gb,hdd_count,hdd_gb,gpu_model,gpu_count,"
          "psu_w,year,lifetime_yr\n")
CPUS = ["AMD EPYC 7713", "Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz", "amd-epyc-9654", "AMD EPYC 7V12",
        "Intel Xeon Gold 6126", "Xeon Platinum 8480C", "NVIDIA Grace", "Intel Xeon E5-2680 v4", "AMD EPYC 7302", ""]
GPUS = ["", "", "NVIDIA A100-SXM4-80GB", "Tesla T4", "NVIDIA H100 SXM5 80GB", "nvidia-l4", "NVIDIA A10G",
        "Tesla V100-SXM2-32GB", "AMD MI300X", "NVIDIA RTX A6000"]


def fleet(n: int, seed: int = 1) -> str:
    """``n`` varied rows: every column blank in about a third of them."""
    rng = np.random.default_rng(seed)

    def maybe(text):
        return "" if rng.random() < 0.35 else text

    lines = [HEADER]
    for i in range(n):
        cpu, gpu = CPUS[rng.integers(len(CPUS))], GPUS[rng.integers(len(GPUS))]
        count = ["", "0", "1", "4", "8"][rng.integers(5)] if gpu else ""
        lines.append(",".join([
            f"s{i}", f'"{cpu}"' if "," in cpu else cpu, maybe(str(rng.choice([1, 2, 2, 4]))),
            maybe(str(rng.choice([8, 16, 28, 48, 64, 96, 128, 144]))), maybe(f"{rng.uniform(65, 400):.1f}"),
            maybe(str(rng.choice([32, 192, 512, 1536]))), maybe(str(rng.integers(0, 4))),
            maybe(str(rng.choice([0, 480, 1920, 7680]))), maybe(str(rng.integers(0, 3))),
            maybe(str(rng.choice([0, 4000, 16000]))), gpu, count, maybe(str(rng.choice([250, 750, 1600, 3000]))),
            maybe(str(rng.integers(2009, 2026))), maybe(str(rng.choice([3, 4.5, 6])))]) + "\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def fleet_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("fleet") / "fleet.csv"
    p.write_text(fleet(300))
    return p


#: A user's server file (relative to the CSV's folder): 4 H100s of an 8-slot chassis by default
#: (charged half of it), GPUs kept 6 years whatever its lifetime_yr, a PSU that caps its power,
#: a measured host curve.
SPLIT_SERVER = """name: split
year: 2023
lifetime_yr: 4
gpu_lifetime_yr: 6
gpus: {part: nvidia-h100-sxm5-80gb, count: 4}
host:
  cpus: {part: amd-epyc-9654, count: 2}
  dram: {gb: 1536, technology: ddr5}
  ssd_gb: 7680
  psu_w: 1200
  power_model: {form: linear, idle_w: 300, max_w: 700}
"""
NAMED = ["azure-a100-x4", "hgx-h100-x8", "aws-t4-x8", "dell-poweredge-r740", "servers/split.yaml"]


def with_servers(text: str, seed: int = 2, share: float = 0.3) -> str:
    """``text`` (a :func:`fleet`) with a ``server`` column: about ``share`` of its rows replaced
    by rows naming a server, about half of them with a lifetime of their own."""
    rng = np.random.default_rng(seed)
    head, *rows = text.splitlines()
    out = [head + ",server"]
    for line in rows:
        if rng.random() < share:
            life = str(rng.choice([3, 5, 7])) if rng.random() < 0.5 else ""
            out.append(line.split(",", 1)[0] + "," * 14 + life + "," + NAMED[rng.integers(len(NAMED))])
        else:
            out.append(line + ",")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "servers").mkdir()
    (folder / "servers" / "split.yaml").write_text(SPLIT_SERVER)
    p = folder / "fleet.csv"
    p.write_text(with_servers(fleet(300)))
    return p


def plausibility_warnings(fn) -> list[str]:
    """The plausibility warnings ``fn()`` gives, each once, in order."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    return list(dict.fromkeys(str(x.message) for x in w if issubclass(x.category, PlausibilityWarning)))


def chunked(path, db, rows, **kw):
    """The chunked path's output rows as dicts, in chunks of ``rows`` servers."""
    run = plan_inventory(read_inventory_columns(path), db, **kw)
    out = []
    for chunk in run.chunks(rows):
        values = [v.tolist() for v in chunk.values()]
        out += [dict(zip(run.columns, r)) for r in zip(*values)]
    return out


@pytest.mark.parametrize("coefficients, options", [
    ("server-lca", {"grid": "coal", "utils": (0.3, 0.7)}),
    ("act", {"grid": "usa-cfe-2035", "utils": (0.0, 0.5, 1.0), "years": 3.0, "pue": 1.3}),
    ("ecoserve", {"utils": (0.4,), "cpu_util": 0.2}),
    ("hotcarbon24", {"grid": "FRA", "utils": (0.6, 0.1), "gpu_util": 0.9}),
])
@pytest.mark.parametrize("which", ["described", "mixed"])
def test_chunked_rows_equal_the_row_by_row_rows(fleet_csv, mixed_csv, db, coefficients, options, which):
    path = fleet_csv if which == "described" else mixed_csv
    kw = dict(options, coefficients=coefficients)
    if "grid" in kw:
        kw["grid"] = resolve_grid(kw["grid"], db)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = run_inventory(read_inventory(path), db, **kw)
        new = chunked(path, db, 37, **kw)  # chunks that end anywhere
    assert len(ref) == len(new) == 300 * len(kw["utils"])
    assert new == ref  # every number bit for bit, every note and filled field
    # the fleet is varied: priors and database CPUs, GPUs, filled cells, notes of every kind
    notes = " ".join(r["notes"] for r in ref)
    for words in ("from the database", "not in the database", "cpu die", "dram", "x GPU memory",
                  "counted as 1 drive", "differs from", "power capped at psu_w"):
        assert words in notes, words
    if which == "mixed":
        named = [r for r in ref if r["notes"].startswith("server ")]
        assert 60 < len(named) / len(kw["utils"]) < 120 and all(r["filled"] == "" for r in named)
        said = " ".join(r["notes"] for r in named)
        for words in ("server azure-a100-x4 from the database", f"server split from {mixed_csv.parent}",
                      "charged 0.5 of its chassis", "GPU lifetime 6 yr, host", "power capped at 0.5 of psu_w 1200 W"):
            assert words in said, words
        assert {r["lifetime_yr"] for r in named} == {3.0, 4.0, 5.0, 7.0}


def test_sampled_rows_equal_and_keep_their_seeds_across_chunks(fleet_csv, db):
    rows = read_inventory(fleet_csv)[:40]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = run_inventory(rows, db, samples=30, seed=5)
        cols = read_inventory_columns(fleet_csv)
        cols.ids, cols.lines = cols.ids[:40], cols.lines[:40]
        cols.numbers = {k: v[:40] for k, v in cols.numbers.items()}
        cols.text = {k: v[:40] for k, v in cols.text.items()}
        run = plan_inventory(cols, db, samples=30, seed=5)
        new = []
        for chunk in run.chunks(7):
            new += [dict(zip(run.columns, r)) for r in zip(*chunk.values())]
    assert new == ref


def test_the_text_is_the_rows_text(fleet_csv, db):
    # CSV and the table as the command wrote them before it streamed; JSON character for character
    g = resolve_grid("coal", db)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = fleet_rows(read_inventory_columns(fleet_csv), db, utils=(0.3, 0.7), grid=g)
        run = plan_inventory(read_inventory_columns(fleet_csv), db, utils=(0.3, 0.7), grid=g)
    cols = list(rows[0])

    def text(fmt):
        return "".join(inventory_pieces(run.columns, run.chunks(50), fmt))

    assert text("json") == json_text({"columns": cols, "rows": rows}) + "\n"
    assert text("csv") == csv_text(cols, [[f"{v:.6g}" if isinstance(v, float) else v for v in x.values()] for x in rows])
    show = ["id", "util", "embodied_kg", "power_w", "energy_kwh_per_yr", "operational_kg_per_yr", "total_kg_per_yr",
            "filled"]
    body = table([[fmt_num(x[c], 1) if isinstance(x[c], float) else x[c] for c in show] for x in rows], show,
                 "l" + "r" * (len(show) - 2) + "l")
    assert text("table").startswith(body + "\n\ngrid coal")


def test_csv_cells_are_quoted_as_the_csv_module_quotes_them():
    import csv
    import io

    from carbonsim.report.study_text import csv_cell

    cells = ["plain", "a,b", 'say "x"', "line\nbreak", "cr\rhere", "", " spaced ", "semi;colon", "tab\there", "ü"]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    assert ",".join(map(csv_cell, cells)) + "\n" == buf.getvalue()


@pytest.mark.parametrize("body, where", [
    ("a,,,,,,,,,,Not A GPU,2,,,\n", "'Not A GPU' is not a GPU"),        # unknown GPU: named, with its row
    ("a,,,,,,,,,,,3,,,\n", "3 GPUs but no gpu_model"),
    ("a,,4,1,,,,,,,,,,,\n", "host.cpus.cores"),                        # the priors give a CPU of no core
    ("a,,,,,,,,,,,,,,abc\n", "'abc' is not a number"),
    ("a,,,,,,,,,,,,,,nan\n", "'nan' is not a finite number"),
    ("a,,,,,,,,,,,,,1800,\n", "outside 1990..2100"),
    ("a,,,,,,,,,,,,,,\na,,,,,,,,,,,,,,\n", "duplicate id 'a'"),
])
def test_errors_are_the_row_by_row_errors(tmp_path, db, body, where):
    p = tmp_path / "fleet.csv"
    p.write_text(HEADER + "ok1,,,,,,,,,,,,,,\n" + body + "ok2,AMD EPYC 7713,,,,,,,,,,,,,\n")

    def error(fn):
        with pytest.raises(InputError) as e:
            fn()
        return str(e.value)

    ref = error(lambda: run_inventory(read_inventory(p), db))
    assert where in ref and error(lambda: plan_inventory(read_inventory_columns(p), db)) == ref


@pytest.mark.parametrize("body, where", [
    ("b,,2,,,,,,,,,,,,,azure-a100-x4\n", "cpu_count: line 3 (id 'b'): cpu_count is given on a row that names server "
                                          "'azure-a100-x4'"),
    ("b,,,,,,,,,,NVIDIA A100-SXM4-80GB,,,,,azure-a100-x4\n", "gpu_model: line 3 (id 'b'): gpu_model is given"),
    ("b,,,,,,,,,,,,,2021,,servers/split.yaml\n", "year: line 3 (id 'b'): year is given"),
    ("b,,,,,,,,,,,,,,,nope\n", "server: line 3 (id 'b'): unknown server 'nope'; known: aws-t4-x1"),
    ("b,,,,,,,,,,,,,,,servers/none.yaml\n", "server: line 3 (id 'b'): "),
    ("b,,,,,,,,,,,,,,,servers/bad.yaml\n", "server: line 3 (id 'b'): "),
])
def test_a_named_server_is_that_server_or_an_error_naming_the_row(tmp_path, db, body, where):
    (tmp_path / "servers").mkdir()
    (tmp_path / "servers" / "split.yaml").write_text(SPLIT_SERVER)
    (tmp_path / "servers" / "bad.yaml").write_text(SPLIT_SERVER.replace("gb: 1536", "gb: -1"))
    p = tmp_path / "fleet.csv"
    p.write_text(HEADER.strip() + ",server\nok1,,,,,,,,,,,,,,,\n" + body + "ok2,,,,,,,,,,,,,,,hgx-h100-x8\n")

    def error(fn):
        with pytest.raises(InputError) as e:
            fn()
        return str(e.value)

    ref = error(lambda: run_inventory(read_inventory(p), db))
    assert ref.startswith(f"{p}: {where}") and error(lambda: plan_inventory(read_inventory_columns(p), db)) == ref
    if "none.yaml" in body:  # the file's own problem, with its path tried in the CSV's folder
        assert ref.endswith(f"{tmp_path / 'servers' / 'none.yaml'}: file not found")
    if "bad.yaml" in body:
        assert ref.endswith("bad.yaml: host.dram.gb: must not be negative, found -1")


def test_a_named_server_warns_as_the_row_by_row_path(tmp_path, db):
    (tmp_path / "huge.yaml").write_text(SPLIT_SERVER.replace("gb: 1536", "gb: 90000")
                                        .replace("idle_w: 300, max_w: 700", "idle_w: 700, max_w: 300"))
    p = tmp_path / "fleet.csv"
    lines = fleet(30).splitlines()
    lines = [lines[0] + ",server"] + [x + "," for x in lines[1:]]
    lines[5] = "h1" + "," * 14 + "40,huge.yaml"  # a lifetime far beyond the database's, on a named server
    lines[9] = "h2" + "," * 15 + "huge.yaml"
    lines[12] = "h3" + "," * 15 + "azure-a100-x4"
    p.write_text("\n".join(lines) + "\n")

    ref = plausibility_warnings(lambda: run_inventory(read_inventory(p), db))
    assert plausibility_warnings(lambda: plan_inventory(read_inventory_columns(p), db)) == ref
    huge = [m for m in ref if m.startswith(str(tmp_path / "huge.yaml"))]
    assert [m.split(":")[1].split(" =")[0].strip() for m in huge] == ["host.dram.gb", "lifetime_yr", "host.power_model"]


def test_a_cell_numpy_would_read_differently_is_read_as_float_reads_it(tmp_path, db):
    p = tmp_path / "fleet.csv"
    p.write_bytes(b"id,cpu_count\na,2\x00\n")  # a trailing NUL: float() refuses it
    with pytest.raises(InputError, match=r"cpu_count: line 2: '2\\x00' is not a number"):
        read_inventory_columns(p)
    p.write_text("id,cpu_count,dram_gb\na,1_0, 64 \nb,,\n")  # what float() accepts, the columns accept
    cols = read_inventory_columns(p)
    assert [r.cpu_count for r in cols.rows()] == [10, None] and cols.rows() == read_inventory(p)


def test_the_same_plausibility_warnings(fleet_csv, db, tmp_path):
    p = tmp_path / "big.csv"
    p.write_text(HEADER + "a,AMD EPYC 7713,16,,,,,,,,NVIDIA A100-SXM4-80GB,64,,,\n"
                 + "b,,,,,90000,,,,,,,,,40\n" + fleet(30).split("\n", 1)[1])

    ref = plausibility_warnings(lambda: run_inventory(read_inventory(p), db))
    assert len(ref) >= 3 and plausibility_warnings(lambda: plan_inventory(read_inventory_columns(p), db)) == ref


def test_a_formula_that_drifts_from_the_readable_path_is_caught(fleet_csv, db, monkeypatch):
    # each structure's own row must come out equal to its template (built by the readable path)
    real = inventory_fleet.row_values

    def drifted(*args):
        out = real(*args)
        out["dram_gb"] = out["dram_gb"] * (1 + 1e-12)
        return out

    monkeypatch.setattr(inventory_fleet, "row_values", drifted)
    with pytest.raises(RuntimeError, match="dram_gb"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan_inventory(read_inventory_columns(fleet_csv), db)


def test_a_chunk_holds_only_its_own_servers(fleet_csv, db):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = plan_inventory(read_inventory_columns(fleet_csv), db, utils=(0.2, 0.8))
    sizes = [len(c["id"]) for c in run.chunks(64)]
    assert sizes == [128, 128, 128, 128, 88] and run.size == 600 and run.servers == 300


def test_the_rows_a_chunk_sets_are_the_documented_ones(fleet_csv, db):
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.parts import PartMatcher

    f = inventory_fleet.fill_columns(read_inventory_columns(fleet_csv), db, PartMatcher(db, "cpus"),
                                     PartMatcher(db, "gpus"))
    for set_id in ("server-lca", "act", "ecoserve"):
        names = set(inventory_fleet.row_values(f, np.arange(10), db, load_coefficients(set_id, db)))
        assert names | {"cpu_util", "gpu_util"} <= set(inventory_fleet.ROW_VALUES), set_id
