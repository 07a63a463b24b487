"""The ``carbonsim`` command line (layer 3): parse, call the engine, print or write.

Exit codes: 0 success; 2 bad input or usage (one line on stderr naming file and field);
1 anything else. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import csv
import io
import json
import sys

import click

import carbonsim
from carbonsim.errors import InputError

FORMATS = click.Choice(["table", "json", "csv"])


class _Group(click.Group):
    """Turns InputError into one readable line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"carbonsim: error: {exc.for_cli()}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - last-resort message, traceback with --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"carbonsim: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", err=True)
            ctx.exit(1)


def _on_signal(signum, frame):
    # SystemExit unwinds through every `finally`, so temporary output is removed.
    raise SystemExit(128 + signum)


def _exit_cleanly_on_signals():
    """SIGTERM and SIGHUP end carbonsim like Ctrl-C: temporary files removed, old results intact."""
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), _on_signal)
            except ValueError:  # not the main thread (an embedding application); leave its handlers
                pass


def _db(ctx, extra=()):
    from carbonsim.engine.db import default_database

    return default_database(list(ctx.obj.get("db", ())) + list(extra))


def _emit(ctx, text: str, out: str | None) -> None:
    if out:
        from carbonsim.engine.outputs import write_text_atomic

        write_text_atomic(out, text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text)


def _split_sets(assignments) -> tuple[dict, dict]:
    """``--set`` values into (server overrides, coefficient overrides)."""
    from carbonsim.engine.inputs.overrides import parse_assignment

    server, coeffs = {}, {}
    for text in assignments:
        path, value = parse_assignment(text)
        head, _, rest = path.partition(".")
        if head == "server" and rest:
            server[rest] = value
        elif head == "coefficients" and rest:
            coeffs[rest] = value
        else:
            raise InputError(f"--set path must start with 'server.' or 'coefficients.', found {path!r}")
    return server, coeffs


def _load(ctx, server_spec, coefficients, sets, db_dirs):
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.server import load_server

    db = _db(ctx, db_dirs)
    server_over, coeff_over = _split_sets(sets)
    server = load_server(server_spec, db, overrides=server_over)
    cs = load_coefficients(coefficients, db, overrides=coeff_over)
    return db, server, cs


def _csv_text(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def common_options(fn):
    """--coefficients, --samples, --seed, --set, --db, --format, --out."""
    from carbonsim.engine.inputs.coefficients import DEFAULT_SET

    opts = [
        click.option("--coefficients", "-c", default=None, metavar="ID",
                     help=f"Coefficient set (hardware_db/coefficients); default {DEFAULT_SET}."),
        click.option("--samples", default=0, show_default=True, type=click.IntRange(0, None),
                     help="Monte-Carlo samples of ranged inputs; adds p5/p50/p95."),
        click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampler."),
        click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                     help="Override a field: server.host.dram.gb=512, coefficients.fab.location=iceland."),
        click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR",
                     help="Extra database directory layered on the shipped one (repeatable)."),
        click.option("--format", "fmt", type=FORMATS, default="table", show_default=True),
        click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write to FILE instead of stdout."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(carbonsim.__version__, prog_name="carbonsim")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR",
              help="Extra database directory (also CARBONSIM_DB).")
@click.pass_context
def main(ctx, debug, db_dirs):
    """Lifecycle carbon of AI servers: embodied + operational."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _exit_cleanly_on_signals()
    ctx.obj["db"] = db_dirs


# --- embodied --------------------------------------------------------------------------------------
@main.command()
@click.argument("server")
@common_options
@click.pass_context
def embodied(ctx, server, coefficients, samples, seed, sets, db_dirs, fmt, out):
    """Embodied carbon of SERVER (a database id or a YAML path), by component."""
    from carbonsim.engine.studies.embodied import embodied as assess
    from carbonsim.report.documents import embodied_document

    _, srv, cs = _load(ctx, server, coefficients, sets, db_dirs)
    result = assess(srv, cs, samples=samples, seed=seed)
    doc = embodied_document(result)
    if fmt == "json":
        text = json.dumps(doc, indent=2)
    elif fmt == "csv":
        rows = [["host", k, f"{v:.6f}"] for k, v in result.host_components_kg.items()]
        rows += [["gpu", k, f"{v:.6f}"] for k, v in result.gpu_components_kg.items()]
        rows += [["total", "host", f"{result.host_kg:.6f}"], ["total", "gpu", f"{result.gpu_kg:.6f}"],
                 ["total", "server", f"{result.total_kg:.6f}"]]
        text = _csv_text(["scope", "component", "embodied_kg"], rows)
    else:
        from carbonsim.report.embodied_text import embodied_table

        text = embodied_table(result)
    _emit(ctx, text, out)


# --- footprint -------------------------------------------------------------------------------------
@main.command()
@click.argument("server")
@click.option("--grid", "-g", required=True, metavar="G",
              help="Energy source (coal, gas, solar, ...) or a mix like coal:0.3,wind:0.7.")
@click.option("--power-w", type=float, default=None, help="Measured IT power [W] (else estimated).")
@click.option("--cpu-util", type=float, default=None, help="Host CPU utilisation 0..1 (default 0.5).")
@click.option("--gpu-activity", type=float, default=None,
              help="GPU activity 0..1 of the activity power model (default 0.5).")
@click.option("--pue", type=float, default=1.0, show_default=True,
              help="Power usage effectiveness (1.0 = IT energy only).")
@click.option("--year", type=int, default=None, help="Year of a region's intensity (default: the latest).")
@common_options
@click.pass_context
def footprint(ctx, server, grid, power_w, cpu_util, gpu_activity, pue, year, coefficients, samples, seed, sets,
              db_dirs, fmt, out):
    """Per-second footprint of SERVER: amortised embodied + operational carbon.

    GRID is an energy source (coal, gas, solar, ...), a mix (coal:0.3,wind:0.7), a region id
    (ESP, us-ca, aws-us-east-1), a trajectory or trace id, or a trace CSV path."""
    from carbonsim.engine.chain import Load
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.studies.footprint import footprint as assess
    from carbonsim.report.documents import footprint_document

    db, srv, cs = _load(ctx, server, coefficients, sets, db_dirs)
    g = resolve_grid(grid, db, year=year)
    for w in g.warnings:
        click.echo(f"carbonsim: warning: {w}", err=True)
    result = assess(srv, cs, g, db, pue=pue, load=Load(cpu_util, gpu_activity, power_w=power_w),
                    samples=samples, seed=seed)
    doc = footprint_document(result)
    if fmt == "json":
        text = json.dumps(doc, indent=2)
    elif fmt == "csv":
        header = ["server", "coefficients", "grid", "grid_basis", "ci_g_per_kwh", "power_w", "pue", "embodied_mg_per_s",
                  "operational_mg_per_s", "total_mg_per_s", "embodied_share"]
        text = _csv_text(header, [[doc[k] for k in header]])
    else:
        from carbonsim.report.embodied_text import footprint_table

        text = footprint_table(result)
    _emit(ctx, text, out)


# --- sweep -----------------------------------------------------------------------------------------
@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output directory (default out/<scenario name>).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="table: summary + Parquet table; csv: summary + CSV table; json: JSON summary on stdout.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a scenario field.")
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.option("--plots", is_flag=True, help="Also draw the seed's figures (PNG and SVG) into the output directory.")
@click.option("--no-write", is_flag=True, help="Evaluate and report the best points without writing the table.")
@click.option("--chunk", type=click.IntRange(1024, None), default=1 << 18, show_default=True,
              help="Points evaluated at once (bounds memory).")
@click.pass_context
def sweep(ctx, scenario, out_dir, fmt, sets, db_dirs, plots, no_write, chunk):
    """Sweep SCENARIO (a YAML file): evaluate every point, write a tidy table, report the best."""
    from carbonsim.report.sweep_text import sweep_document, sweep_table
    from carbonsim.engine.sweep.scenario import load_scenario
    from carbonsim.engine.sweep.run import run_sweep

    sc = load_scenario(scenario, sets)
    db = _db(ctx, db_dirs)
    if out_dir is None and not no_write:
        out_dir = f"out/{sc.name}"
    progress = None
    if sys.stderr.isatty():
        def progress(done, total):
            click.echo(f"\r  {done:,}/{total:,} points ({100 * done / total:.0f}%)", err=True, nl=done == total)
    result = run_sweep(sc, db, None if no_write else out_dir, "csv" if fmt == "csv" else "parquet",
                       chunk=chunk, progress=progress)
    for w in result.warnings:
        click.echo(f"carbonsim: warning: {w}", err=True)
    if plots and result.results:
        from carbonsim.report.plots import sweep_plots

        for path in sweep_plots(result):
            click.echo(f"wrote {path}", err=True)
    if fmt == "json":
        click.echo(json.dumps(sweep_document(result), indent=2))
    else:
        click.echo(sweep_table(result))


# --- compare --------------------------------------------------------------------------------------
@main.command()
@click.argument("servers", nargs=-1, required=True)
@click.option("--grid", "-g", default="coal", show_default=True, metavar="G")
@click.option("--years", type=float, default=4.0, show_default=True, help="Years of use.")
@click.option("--utilization", "-u", type=float, default=0.5, show_default=True,
              help="CPU utilisation and GPU activity, 0..1.")
@click.option("--pue", type=float, default=1.0, show_default=True)
@click.option("--coefficients", "-c", default=None, metavar="ID")
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def compare(ctx, servers, grid, years, utilization, pue, coefficients, db_dirs, fmt):
    """Compare SERVERS over --years of use: embodied + operational, and the break-even grid intensity."""
    from carbonsim.engine.chain import Load
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.inputs.server import load_server
    from carbonsim.engine.studies.compare import compare_servers

    db = _db(ctx, db_dirs)
    cs = load_coefficients(coefficients, db)
    g = resolve_grid(grid, db)
    rows = compare_servers([load_server(s, db) for s in servers], cs, g.ci_g_per_kwh, db, years,
                           Load(utilization, utilization), pue)
    keys = ["server", "embodied_kg", "embodied_kg_amortised", "power_w", "energy_kwh", "operational_kg",
            "total_kg", "break_even_ci_g_per_kwh"]
    recs = [{"server": r.server.id, **{k: getattr(r, k) for k in keys[1:]}} for r in rows]
    if fmt == "json":
        click.echo(json.dumps({"grid": g.label, "ci_g_per_kwh": g.ci_g_per_kwh, "grid_basis": g.basis,
                               "years": years, "utilization": utilization, "pue": pue,
                               "coefficients": cs.id, "servers": recs}, indent=2))
    elif fmt == "csv":
        click.echo(_csv_text(keys, [[r[k] for k in keys] for r in recs]), nl=False)
    else:
        from carbonsim.report.text import fmt_num, table

        best = min(recs, key=lambda r: r["total_kg"])["server"]
        body = table([[("* " if r["server"] == best else "  ") + r["server"], fmt_num(r["embodied_kg"], 0),
                       fmt_num(r["embodied_kg_amortised"], 0), fmt_num(r["power_w"], 0),
                       fmt_num(r["operational_kg"], 0), fmt_num(r["total_kg"], 0),
                       "-" if r["break_even_ci_g_per_kwh"] is None else fmt_num(r["break_even_ci_g_per_kwh"], 0)]
                      for r in recs],
                     ["server", "embodied_kg", f"embodied_{years:g}yr_kg", "power_w", "operational_kg",
                      "total_kg", f"break_even_vs_{recs[0]['server']}_g_per_kwh"])
        click.echo(f"{years:g} years at utilisation {utilization:g}, PUE {pue:g}, grid {g.label} "
                   f"{g.ci_g_per_kwh:g} g/kWh ({g.basis}); coefficients {cs.id}\n\n{body}\n\n"
                   "* lowest total. Break-even: the grid intensity at which a server's total equals the first's.")


# --- codecarbon ------------------------------------------------------------------------------------
@main.command()
@click.argument("emissions_csv", type=click.Path(dir_okay=False))
@click.option("--server", "server", default=None, metavar="SERVER",
              help="The server the runs used (database id or YAML path); default: built from the "
                   "cpu_model, gpu_model, gpu_count and ram_total_size CodeCarbon recorded.")
@common_options
@click.pass_context
def codecarbon(ctx, emissions_csv, server, coefficients, samples, seed, sets, db_dirs, fmt, out):
    """Add embodied carbon to the runs of a CodeCarbon EMISSIONS_CSV (per run and in total)."""
    from carbonsim.engine.studies.codecarbon import read_runs

    if server is None:
        from carbonsim.engine.inputs.coefficients import load_coefficients

        db, srv = _db(ctx, db_dirs), None
        cs = load_coefficients(coefficients, db)
    else:
        db, srv, cs = _load(ctx, server, coefficients, sets, db_dirs)
    runs = read_runs(emissions_csv, cs, db, srv)
    servers = {r.server.server.id: r.server for r in runs}
    keys = ["line", "run_id", "timestamp", "server", "flushes", "duration_s", "energy_kwh", "operational_kg",
            "embodied_host_kg", "embodied_gpu_kg", "embodied_kg", "total_kg", "embodied_share"]
    records = [r.record() for r in runs]
    totals = {k: sum(rec[k] for rec in records) for k in keys[5:12]}
    totals["embodied_share"] = totals["embodied_kg"] / totals["total_kg"] if totals["total_kg"] else 0.0
    if fmt == "json":
        text = json.dumps({"coefficients": cs.id,
                           "servers": {k: {"embodied_kg": e.total_kg, "name": e.server.name}
                                       for k, e in servers.items()},
                           "runs": records, "total": totals}, indent=2)
    elif fmt == "csv":
        text = _csv_text(keys, [[rec[k] for k in keys] for rec in records])
    else:
        from carbonsim.report.text import table

        rows = [[rec["run_id"][:13] or f"line {rec['line']}", f"{rec['duration_s']:,.0f}", f"{rec['energy_kwh']:.4f}",
                 f"{1000 * rec['operational_kg']:.3f}", f"{1000 * rec['embodied_kg']:.3f}",
                 f"{1000 * rec['total_kg']:.3f}", f"{100 * rec['embodied_share']:.1f}%"] for rec in records]
        rows.append(["TOTAL", f"{totals['duration_s']:,.0f}", f"{totals['energy_kwh']:.4f}",
                     f"{1000 * totals['operational_kg']:.3f}", f"{1000 * totals['embodied_kg']:.3f}",
                     f"{1000 * totals['total_kg']:.3f}", f"{100 * totals['embodied_share']:.1f}%"])
        head = "".join(f"CodeCarbon runs on {e.server.name} [{k}]; server embodied {e.total_kg:,.1f} kg ({cs.id}), "
                       f"amortised over GPU {e.server.gpu_lifetime_yr.value:g} yr / host "
                       f"{e.server.host_lifetime_yr.value:g} yr\n" for k, e in servers.items())
        text = head + "\n" + table(rows, ["run", "duration_s", "energy_kwh", "operational_g", "embodied_g",
                                          "total_g", "embodied"], "lrrrrrr")
    _emit(ctx, text, out)


# --- power --------------------------------------------------------------------------------------
@main.group()
def power():
    """Fit host power curves to measurements."""


@power.command("fit")
@click.argument("measurements", type=click.Path(dir_okay=False))
@click.option("--form", type=click.Choice(["auto", "linear", "power", "log"]), default="auto", show_default=True,
              help="Form to fit; auto fits all and picks the lowest AICc (fewest constants within 2).")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--out-yaml", type=click.Path(dir_okay=False), default=None,
              help="Write the chosen curve as a host.power_model block for a server spec.")
@click.pass_context
def power_fit(ctx, measurements, form, fmt, out_yaml):
    """Fit host power to MEASUREMENTS (CSV: cpu_util, optional mem_util, power_w)."""
    from carbonsim.engine.studies.power_fit import fit_measurements_csv, power_fit_json, power_fit_rows, power_model_yaml

    report = fit_measurements_csv(measurements, form)
    rows = power_fit_rows(report)
    if fmt == "json":
        text = json.dumps(power_fit_json(report), indent=2)
    elif fmt == "csv":
        keys = list(rows[0])
        text = _csv_text(keys, [[r[k] for k in keys] for r in rows])
    else:
        from carbonsim.report.text import table

        def f(x, d=2):
            return "-" if x is None else (f"{x:.{d}f}" if isinstance(x, float) else str(x))

        head = (f"{measurements}: {rows[0]['n']} points, utilisation read as "
                f"{report.measurements.util_scale}; chosen form: {report.fit.chosen}")
        body = table([[("* " if r["chosen"] else "  ") + r["form"], f(r["idle_w"], 1), f(r["max_w"], 1),
                       f(r["exponent"], 3), f(r["curvature"], 3), f(r["mem_w"], 1), f(r["rmse_w"]), f(r["r2"], 4),
                       f(r["aicc"], 1)] for r in rows],
                     ["form", "idle_w", "max_w", "exponent", "curvature", "mem_w", "rmse_w", "r2", "aicc"])
        notes = "".join(f"\nnote: {n}" for n in report.fit.notes)
        text = f"{head}\n\n{body}\n\nrule: {report.fit.rule}{notes}"
    if out_yaml:
        from carbonsim.engine.outputs import write_text_atomic

        write_text_atomic(out_yaml, power_model_yaml(report))
        click.echo(f"wrote {out_yaml}", err=True)
    click.echo(text)


# --- grid ------------------------------------------------------------------------------------------
@main.group()
def grid():
    """Grid carbon intensities: energy sources, regions, trajectories, hourly traces."""


@grid.command("list")
@click.option("--kind", type=click.Choice(["source", "mix", "region", "trajectory", "trace", "table"]), default=None)
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def grid_list(ctx, kind, db_dirs, fmt):
    """List what --grid accepts, with intensity, year, basis and source."""
    from carbonsim.engine.studies.grids import list_grids

    rows = list_grids(_db(ctx, db_dirs), kind)
    keys = ["kind", "id", "name", "ci_g_per_kwh", "year", "basis", "source", "table"]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
    elif fmt == "csv":
        click.echo(_csv_text(keys, [[r.get(k) for k in keys] for r in rows]), nl=False)
    else:
        from carbonsim.report.text import table

        def ci(x):
            return "-" if x is None else f"{x:,.1f}"

        click.echo(table([[r["kind"], r["id"], str(r.get("name") or "")[:40], ci(r.get("ci_g_per_kwh")),
                           r.get("year") or "-", r.get("basis") or "-", r.get("source") or "-"] for r in rows],
                         ["kind", "id", "name", "g/kWh", "year", "basis", "source"], "lllrlll"))


@grid.command("show")
@click.argument("grid_id", metavar="ID")
@click.option("--table", "table_id", default=None, help="Per-source table (ipcc-ar5, unece-2021).")
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.pass_context
def grid_show(ctx, grid_id, table_id, db_dirs):
    """Show one grid entry: every value, year, basis, scope, source and licence."""
    from carbonsim.engine.studies.grids import show_grid

    click.echo(json.dumps(show_grid(grid_id, _db(ctx, db_dirs), table=table_id), indent=2, default=str))


# --- inventory ------------------------------------------------------------------------------------
@main.command()
@click.argument("fleet_csv", type=click.Path(dir_okay=False))
@click.option("--util", "utils", default="0.5", show_default=True, metavar="U[,U...]",
              help="Utilisation(s) 0..1 (host CPU and GPU activity), one output row per server and value.")
@click.option("--grid", "-g", default=None, metavar="G", help="Grid for operational carbon (source, mix, region).")
@click.option("--pue", type=float, default=1.0, show_default=True)
@click.option("--years", type=float, default=1.0, show_default=True, help="Years of operation for the totals.")
@click.option("--coefficients", "-c", default=None, metavar="ID")
@click.option("--samples", default=0, show_default=True, type=click.IntRange(0, None))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the CSV to FILE.")
@click.pass_context
def inventory(ctx, fleet_csv, utils, grid, pue, years, coefficients, samples, seed, db_dirs, out):
    """Embodied carbon, power and yearly energy/carbon for a fleet spreadsheet (one server per row)."""
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.readers.inventory import read_inventory
    from carbonsim.engine.studies.inventory import inventory_csv, run_inventory

    try:
        values = tuple(float(u) for u in utils.split(","))
    except ValueError:
        raise InputError(f"--util expects numbers like 0.3,0.6, found {utils!r}") from None
    if any(not 0 <= u <= 1 for u in values):
        raise InputError(f"--util values must be between 0 and 1, found {utils!r}")
    rows = read_inventory(fleet_csv)
    db = _db(ctx, db_dirs)
    g = None if grid is None else resolve_grid(grid, db)
    results = run_inventory(rows, db, utils=values, grid=g, pue=pue, years=years,
                            coefficients=coefficients, samples=samples, seed=seed)
    _emit(ctx, inventory_csv(results).rstrip("\n"), out)


# --- db ------------------------------------------------------------------------------------------
@main.group()
def db():
    """List, show and check the hardware database."""


@db.command("list")
@click.argument("kind", required=False)
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def db_list(ctx, kind, db_dirs, fmt):
    """List entries, all kinds or one KIND (gpus, cpus, servers, coefficients, ...)."""
    from carbonsim.engine.db.listing import list_rows

    rows = list_rows(_db(ctx, db_dirs), kind)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        click.echo(_csv_text(["kind", "id", "name", "summary", "path"],
                             [[r[k] for k in ("kind", "id", "name", "summary", "path")] for r in rows]), nl=False)
    else:
        from carbonsim.report.text import table

        click.echo(table([[r["kind"], r["id"], r["name"], r["summary"]] for r in rows],
                         ["kind", "id", "name", "summary"], "llll"))


@db.command("show")
@click.argument("part_id", metavar="ID")
@click.option("--kind", default=None, help="Kind, when the id exists in several.")
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.pass_context
def db_show(ctx, part_id, kind, db_dirs):
    """Show one entry with its sources resolved."""
    from carbonsim.engine.db.listing import show_text

    click.echo(show_text(_db(ctx, db_dirs), part_id, kind))


@db.command("check")
@click.argument("directory", required=False, type=click.Path())
@click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR")
@click.pass_context
def db_check(ctx, directory, db_dirs):
    """Check every file (DIRECTORY layered on the shipped database, or the database in use)."""
    from carbonsim.engine.db import Database
    from carbonsim.engine.db.store import database_dirs

    dirs = database_dirs(list(ctx.obj.get("db", ())) + list(db_dirs))
    if directory:
        dirs = [d for d in dirs if str(d) != str(directory)] + [directory]
    n_files, problems = Database(dirs).check()
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {n_files} files", err=True)
        ctx.exit(2)
    click.echo(f"ok: {n_files} files checked, no problems")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
