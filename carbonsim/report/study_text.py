"""Tables, CSV and JSON for ``compare``, ``codecarbon``, ``inventory``, ``power fit``, ``grid`` and
``db`` (layer 3): each function takes an engine result and returns the text to print."""

from __future__ import annotations

import itertools

from carbonsim.engine.inputs.options import DEFAULT_UTIL
from carbonsim.report.text import csv_text, fmt_num, json_text, table, table_lines


def _plain(x):
    return None if x is None else x


# --- compare ------------------------------------------------------------------------------------------
def compare_text(r, fmt: str) -> str:
    recs = r.records()
    keys = ["server", *r.KEYS]
    sampled = ["total_kg_p5", "total_kg_p95"] if r.samples else []
    if fmt == "json":
        g = r.grid
        doc = {"grid": g.label, "grid_years": list(g.period) if g.period else g.year, "ci_g_per_kwh": g.ci_g_per_kwh,
               "grid_basis": g.basis, "years": r.years, "cpu_util": r.load.cpu_util, "gpu_util": r.load.gpu_util,
               "pue": r.pue, "coefficients": r.coefficients.id, "servers": recs}
        if r.samples:
            doc["uncertainty"] = {"samples": r.samples, "seed": r.seed, "drawn": "ranged embodied inputs and lifetimes, "
                                  "each with its value as median"}
        return json_text(doc)
    if fmt == "csv":
        keys += sampled + ["embodied_kg_amortised_p5", "embodied_kg_amortised_p95"] * bool(r.samples)
        return csv_text(keys, [[rec[k] for k in keys] for rec in recs])
    best = min(recs, key=lambda x: x["total_kg"])["server"]
    body = table([[("* " if x["server"] == best else "  ") + x["server"], fmt_num(x["embodied_kg"], 0),
                   fmt_num(x["embodied_kg_amortised"], 0), fmt_num(x["power_w"], 0), fmt_num(x["operational_kg"], 0),
                   fmt_num(x["total_kg"], 0), *[fmt_num(x[k], 0) for k in sampled],
                   fmt_num(x["break_even_ci_g_per_kwh"], 0)] for x in recs],
                 ["server", "embodied_kg", f"embodied_{r.years:g}yr_kg", "power_w", "operational_kg", "total_kg",
                  *sampled, f"break_even_vs_{recs[0]['server']}_g_per_kwh"])
    g = r.grid
    cpu, gpu = r.load.cpu_util, r.load.gpu_util
    util = (f"{DEFAULT_UTIL:g} (default)" if cpu is None and gpu is None else
            "CPU " + (f"{cpu:g}" if cpu is not None else f"{DEFAULT_UTIL:g} (default)")
            + ", GPU " + (f"{gpu:g}" if gpu is not None else f"{DEFAULT_UTIL:g} (default)"))
    return (f"{r.years:g} years at utilisation {util}, PUE {r.pue:g}, grid {g.label} {g.ci_g_per_kwh:g} g/kWh "
            f"({g.basis}); coefficients {r.coefficients.id}\n\n{body}\n\n"
            "* lowest total. Break-even: the grid intensity at which a server's total equals the first's "
            "(- where one is lower on every grid)."
            + (f" p5/p95: {r.samples:,} draws of the ranged embodied inputs and lifetimes (seed {r.seed})." if r.samples
               else ""))


# --- codecarbon ---------------------------------------------------------------------------------------
CODECARBON_KEYS = ["line", "run_id", "task", "timestamp", "server", "cpu", "gpu", "gpu_count", "share_cpu",
                   "share_memory", "share_gpu", "share_basis", "tracking_mode", "flushes", "duration_s", "energy_kwh",
                   "operational_kg", "grid_ci_g_per_kwh", "operational_grid_kg", "embodied_host_kg", "embodied_gpu_kg",
                   "embodied_kg", "total_kg", "embodied_share"]


def codecarbon_text(r, fmt: str) -> str:
    recs, totals = r.records(), r.totals()
    keys = [k for k in CODECARBON_KEYS if recs and k in recs[0]]
    g = r.grid
    if fmt == "json":
        servers = {k: {"embodied_kg": e.total_kg, "name": e.server.name, "cpu": e.server.host.cpu.id,
                       "gpu": e.server.gpu.id if e.server.gpu is not None else None, "gpu_count": e.server.gpu_count}
                   for k, e in r.servers.items()}
        return json_text({"coefficients": r.coefficients.id, "grid": None if g is None else g.as_dict(),
                          "servers": servers, "runs": recs, "total": totals, "warnings": list(r.warnings)})
    if fmt == "csv":
        return csv_text(keys, [[rec[k] for k in keys] for rec in recs])
    tasks = any(rec["task"] for rec in recs)

    def row(label, x, share=""):
        cells = [label] + ([x.get("task", "")] if tasks else []) + [
            f"{x['duration_s']:,.0f}", f"{x['energy_kwh']:.4f}", f"{1000 * x['operational_kg']:.3f}"]
        if g is not None:
            cells.append(f"{1000 * x['operational_grid_kg']:.3f}")
        return cells + [f"{1000 * x['embodied_kg']:.3f}", f"{1000 * x['total_kg']:.3f}",
                        f"{100 * x['embodied_share']:.1f}%", share]

    def share_text(x):
        if x["share_basis"].startswith("whole server"):
            return "1"
        return "/".join(f"{x[k]:.3g}" for k in ("share_cpu", "share_memory", "share_gpu"))

    rows = [row(rec["run_id"][:13] or f"line {rec['line']}", rec, share_text(rec)) for rec in recs]
    rows.append(row("TOTAL", totals | {"task": f"{totals['entries']} entries"} if tasks else totals))
    head = "".join(f"CodeCarbon runs on {e.server.name} [{k}]: CPU {e.server.host.cpu_count} x {e.server.host.cpu.id}"
                   + (f", GPU {e.server.gpu_count} x {e.server.gpu.id}" if e.server.gpu is not None else "")
                   + f"; server embodied {e.total_kg:,.1f} kg ({r.coefficients.id}), amortised over GPU "
                   f"{e.server.gpu_lifetime_yr.value:g} yr / host {e.server.host_lifetime_yr.value:g} yr\n"
                   for k, e in r.servers.items())
    shares = sorted({rec["share_basis"] for rec in recs if not rec["share_basis"].startswith("whole server")})
    if shares:
        head += "shared host (share cpu/memory/GPU of the server charged): " + " | ".join(shares) + "\n"
    if g is not None:
        head += (f"operational recomputed on {g.label} ({g.basis}, {g.ci_g_per_kwh:.4g} g/kWh mean) beside "
                 "CodeCarbon's own figure; the total uses the recomputed one\n")
    heads = ["run"] + (["task"] if tasks else []) + ["duration_s", "energy_kwh", "operational_g"]
    heads += (["grid_operational_g"] if g is not None else []) + ["embodied_g", "total_g", "embodied", "share"]
    return head + "\n" + table(rows, heads, "l" + ("l" if tasks else "") + "r" * (len(heads) - 2 - tasks) + "l")


# --- inventory ----------------------------------------------------------------------------------------
def inventory_text(r, fmt: str) -> str:
    """An :class:`~carbonsim.engine.studies.inventory.InventoryResult` as text (all of it at once;
    ``carbonsim inventory`` streams :func:`inventory_pieces` instead)."""
    rows = r.rows
    cols = list(rows[0]) if rows else []
    return "".join(inventory_pieces(cols, [{c: [x[c] for x in rows] for c in cols}] if rows else [], fmt))


#: The columns the inventory's table shows (every column: --format csv or json).
INVENTORY_SHOWN = ("id", "util", "embodied_kg", "power_w", "energy_kwh_per_yr", "operational_kg_per_yr",
                   "total_kg_per_yr", "filled")


def inventory_pieces(columns: list[str], chunks, fmt: str):
    """The inventory's text piece by piece as its rows come, chunk by chunk (a chunk: column ->
    values of its rows, a list, an array or a column of repeated values with ``values`` and
    ``times``, each value ``times`` times in a row). CSV and JSON are written as they go; the
    table needs its widths, so it keeps the shown columns' text (a few short strings a row) and
    comes at the end.

    CSV is what :func:`~carbonsim.report.text.csv_text` writes (numbers to 6 significant digits,
    :mod:`csv`'s quoting); JSON the document :func:`~carbonsim.report.text.json_text` writes for
    ``{"columns": ..., "rows": [...]}``, character for character. Each distinct number of a chunk
    is formatted once, and a repeated value once."""
    import json
    from json.encoder import encode_basestring_ascii

    if fmt == "csv":
        yield ",".join(map(csv_cell, columns)) + "\n"
        for chunk in chunks:
            numbers: dict = {}  # one text per number of the chunk, whatever its column
            cells = [_cells(chunk[c], "{:.6g}".format, csv_cell, numbers) for c in columns]
            yield "\n".join(map(",".join, zip(*cells))) + "\n"
        return
    if fmt == "json":
        row = "    {\n" + ",\n".join(f"      {encode_basestring_ascii(c)}: %s" for c in columns) + "\n    }"
        yield json.dumps({"columns": columns}, indent=2)[:-2] + ',\n  "rows": ['
        sep = "\n"
        for chunk in chunks:
            numbers = {}
            cells = [_cells(chunk[c], _json_number, encode_basestring_ascii, numbers) for c in columns]
            yield sep + ",\n".join(row % vals for vals in zip(*cells))
            sep = ",\n"
        yield "\n  ]\n}\n"
        return
    show = [c for c in INVENTORY_SHOWN if c in columns]
    shown: list = [[] for _ in show]
    head = None
    for chunk in chunks:
        if head is None:
            head = {c: _scalar(chunk[c][0]) for c in columns}
        for k, c in enumerate(show):
            shown[k] += _cells(chunk[c], lambda v: fmt_num(v, 1), str)
    lines = table_lines(shown, show, "l" + "r" * (len(show) - 2) + "l")
    sep = ""
    while True:
        block = list(itertools.islice(lines, 1 << 14))
        if not block:
            break
        yield sep + "\n".join(block)
        sep = "\n"
    tail = (f"\n\ngrid {head['grid']} {head['ci_g_per_kwh']:g} g/kWh ({head['grid_basis']}), PUE {head['pue']:g}, "
            f"coefficients {head['coefficients']}; filled: values taken from priors (docs/inventory.md). "
            "Every column: --format csv or json." if head is not None and "grid" in head else "")
    yield tail + "\n"


def _scalar(x):
    return x.item() if hasattr(x, "item") else x


def _cells(values, number, text, numbers: dict | None = None) -> list:
    """A column's values as text: floats by ``number``, strings by ``text``, anything else by
    ``json.dumps``; each distinct number formatted once (``numbers``: the texts of the numbers
    already formatted, shared by a chunk's columns), and a repeated value once."""
    import json

    import numpy as np

    times = getattr(values, "times", None)
    if times is not None:  # a column of repeated values: their text, repeated
        words = _cells(values.values, number, text, numbers)
        return words * times if len(words) == 1 else [w for w in words for _ in range(times)]
    if (isinstance(values, np.ndarray) and values.dtype.kind == "f"
            and not np.any((values == 0.0) & np.signbit(values))):  # -0.0 and 0.0 are one key, not one text
        numbers = {} if numbers is None else numbers
        distinct, where = np.unique(values, return_inverse=True)
        keys = distinct.tolist()
        missing = [v for v in keys if v not in numbers]
        numbers.update(zip(missing, map(number, missing)))
        words = np.array(list(map(numbers.__getitem__, keys)), dtype=object)
        return words[where.reshape(-1)].tolist()
    values = values.tolist() if hasattr(values, "tolist") else values
    return [text(v) if isinstance(v, str) else number(v) if isinstance(v, float) else json.dumps(v) for v in values]


def _json_number(v: float) -> str:
    """A float as JSON writes it; a number that is not finite is a bug, never written."""
    if v != v or v in (float("inf"), float("-inf")):
        raise ValueError(f"Out of range float values are not JSON compliant: {v!r}")
    return float.__repr__(v)


def csv_cell(text: str) -> str:
    """A cell as :mod:`csv`'s writer writes it among others (``QUOTE_MINIMAL``, ``"`` doubled): quoted
    when it holds a comma, a quote or a line feed. A carriage return is left to the writer itself
    (whether it quotes one depends on the Python version)."""
    if "\r" in text:
        import csv
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([text, ""])
        return buf.getvalue()[:-2]
    if "," in text or '"' in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


# --- power fit ----------------------------------------------------------------------------------------
def power_fit_text(report, rows: list[dict], doc: dict, fmt: str) -> str:
    if fmt == "json":
        return json_text(doc)
    if fmt == "csv":
        keys = list(rows[0])
        return csv_text(keys, [[x[k] for k in keys] for x in rows])

    def f(x, d=2):
        return "-" if x is None else (f"{x:.{d}f}" if isinstance(x, float) else str(x))

    head = (f"{report.measurements.file}: {rows[0]['n']} points, utilisation read as "
            f"{report.measurements.util_scale}; chosen form: {report.fit.chosen}")
    body = table([[("* " if x["chosen"] else "  ") + x["form"], f(x["idle_w"], 1), f(x["max_w"], 1),
                   f(x["exponent"], 3), f(x["curvature"], 3), f(x["mem_w"], 1), f(x["rmse_w"]), f(x["r2"], 4),
                   f(x["aicc"], 1)] for x in rows],
                 ["form", "idle_w", "max_w", "exponent", "curvature", "mem_w", "rmse_w", "r2", "aicc"])
    notes = "".join(f"\nnote: {n}" for n in report.fit.notes)
    return f"{head}\n\n{body}\n\nrule: {report.fit.rule}{notes}"


# --- grid ---------------------------------------------------------------------------------------------
GRID_KEYS = ["kind", "id", "name", "ci_g_per_kwh", "year", "basis", "source", "table"]


def grid_list_text(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json_text(rows)
    if fmt == "csv":
        return csv_text(GRID_KEYS, [[x.get(k) for k in GRID_KEYS] for x in rows])

    def ci(x):
        return "-" if x is None else f"{x:,.1f}"

    return table([[x["kind"], x["id"], str(x.get("name") or "")[:40], ci(x.get("ci_g_per_kwh")), x.get("year") or "-",
                   x.get("basis") or "-", x.get("source") or "-"] for x in rows],
                 ["kind", "id", "name", "g/kWh", "year", "basis", "source"], "lllrlll")


def mapping_text(doc: dict, fmt: str) -> str:
    """A nested mapping (``grid show``): JSON, or indented ``key: value`` lines."""
    if fmt == "json":
        return json_text(doc)
    import yaml

    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100).rstrip()


# --- db -----------------------------------------------------------------------------------------------
DB_KEYS = ["kind", "id", "name", "summary", "path"]


def db_list_text(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json_text(rows)
    if fmt == "csv":
        return csv_text(DB_KEYS, [[x[k] for k in DB_KEYS] for x in rows])
    return table([[x["kind"], x["id"], x["name"], x["summary"]] for x in rows], ["kind", "id", "name", "summary"],
                 "llll")


def db_show_text(shown: dict, fmt: str) -> str:
    """``db show``: the entry as YAML with its sources listed after it, or one JSON document."""
    if fmt == "json":
        return json_text(shown)
    import yaml

    text = f"# {shown['kind']}/{shown['id']}  ({shown['path']})\n"
    text += yaml.safe_dump(shown["entry"], sort_keys=False, allow_unicode=True, width=100)
    if "activity_power" in shown:
        power = dict(shown["activity_power"])
        kind = (power.get("calibration") or {}).get("kind", "fallback")
        text += f"\n# activity power ({power.pop('path')}): calibration kind {kind}\n"
        text += yaml.safe_dump({"activity_power": power}, sort_keys=False, allow_unicode=True, width=100)
    text += "\n# sources\n"
    for s in shown["sources"]:
        who = ", ".join(s.get("authors", [])) or s.get("publisher", "")
        text += f"- {s['id']}: {s.get('title', '?')} ({who}, {s.get('year', '?')}) {s.get('url', '')}\n"
    return text.rstrip()
