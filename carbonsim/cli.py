"""The ``carbonsim`` command line (layer 3): each command parses its options, calls one engine
function and hands the result to :mod:`carbonsim.report`.

Exit codes: 0 success; 2 bad input or usage (one line on stderr naming the file or option and
the field); 3 a valid question with no feasible answer (a sweep with no feasible point, a plan
no fleet of its candidates can serve; one line); 1 anything else (``--debug`` shows the traceback).

Conventions shared by every command:

- ``--format`` is what goes to stdout (``table``, ``json`` or ``csv``); by default ``table``, or
  the type of the ``--out`` file (``.json``, ``.csv``);
- ``--out FILE`` writes that text to FILE instead (``sweep --out DIR`` names the results folder);
- utilisation is ``--util U`` (CPU and GPUs), or ``--cpu-util`` / ``--gpu-util`` separately;
- ``--grid G`` defaults to ``world`` (the latest world average) everywhere;
- ``-q/--quiet`` silences warnings, notes and progress on stderr.

Shell completion: ``eval "$(_CARBONSIM_COMPLETE=bash_source carbonsim)"`` (zsh: ``zsh_source``,
fish: ``fish_source``), see docs/cli.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

import carbonsim
from carbonsim.errors import InputError, NoFeasibleAnswer

FORMATS = click.Choice(["table", "json", "csv"])
#: The grid every command uses unless told otherwise.
DEFAULT_GRID = "world"
PUE_HELP = "Power usage effectiveness, >= 1 (default 1: IT energy only)."
GRID_HELP = (f"Energy source (coal, wind, ...), mix (coal:0.3,wind:0.7), region (ESP, us-ca, aws-us-east-1), "
             f"trajectory or trace id, or a trace CSV; default {DEFAULT_GRID} (`carbonsim grid list`).")


def _quiet(ctx, param, value):
    if value:
        ctx.obj["quiet"] = True


class _Command(click.Command):
    """A subcommand that also takes ``-q/--quiet`` after its name (``carbonsim sweep S -q``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params.append(click.Option(["--quiet", "-q"], is_flag=True, expose_value=False, callback=_quiet,
                                        help="No warnings, notes or progress on stderr."))


class _Group(click.Group):
    """Turns InputError and usage errors into one readable line and exit code 2 (3 when a valid question
    has no feasible answer); prints carbonsim's warnings as one line each; records the inputs each
    command reads, so that no output replaces one."""

    command_class = _Command
    group_class = type  # subgroups (db, grid, power) are _Groups whose commands take -q too

    def invoke(self, ctx):
        import warnings

        from carbonsim.engine.readers.text import tracking_inputs
        from carbonsim.errors import CarbonsimWarning

        try:
            with tracking_inputs(), warnings.catch_warnings():
                warnings.simplefilter("always", CarbonsimWarning)
                shown = warnings.showwarning
                said = set()

                def show(message, category, filename, lineno, file=None, line=None):
                    if not issubclass(category, CarbonsimWarning):
                        return shown(message, category, filename, lineno, file, line)
                    if str(message) not in said:
                        said.add(str(message))
                        if not (ctx.obj or {}).get("quiet"):
                            click.echo(f"carbonsim: warning: {message}", err=True)

                warnings.showwarning = show
                return super().invoke(ctx)
        except NoFeasibleAnswer as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"carbonsim: no feasible answer: {exc.for_cli()}", err=True)
            ctx.exit(NoFeasibleAnswer.EXIT_CODE)
        except InputError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"carbonsim: error: {exc.for_cli()}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # one line, like every other bad input
            hint = f" ({exc.ctx.command_path} -h for help)" if exc.ctx is not None else ""
            click.echo(f"carbonsim: error: {exc.format_message()}{hint}", err=True)
            ctx.exit(exc.exit_code)
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


# --- shared helpers --------------------------------------------------------------------------------
def _db(ctx, extra=()):
    from carbonsim.engine.db import default_database

    return default_database(list(ctx.obj.get("db", ())) + list(extra))


def _say(ctx, text: str) -> None:
    """A warning or note on stderr, unless --quiet."""
    if not ctx.obj.get("quiet"):
        click.echo(f"carbonsim: {text}", err=True)


def _fmt(fmt: str | None, out: str | None) -> str:
    """--format, or the type of the --out file, or table."""
    if fmt:
        return fmt
    if out and out.lower().endswith((".json", ".csv")):
        return out.rsplit(".", 1)[1].lower()
    return "table"


def _emit(ctx, text: str, out: str | None, option: str = "--out") -> None:
    """Print ``text``, or write it to ``out`` (``-`` or a path that is stdout prints it)."""
    from carbonsim.engine.outputs import is_stdout, write_text_atomic

    if out and not is_stdout(out):
        write_text_atomic(out, text if text.endswith("\n") else text + "\n", option)
        _say(ctx, f"wrote {out}")
    else:
        click.echo(text.rstrip("\n"))


def _is_stdout(out) -> bool:
    from carbonsim.engine.outputs import is_stdout

    return is_stdout(out)


def _stream(ctx, pieces, out: str | None, option: str = "--out") -> None:
    """Print text that comes piece by piece, or write it to ``out`` as it comes (through a
    temporary renamed into place at the end: a run stopped half-way leaves no partial file)."""
    from carbonsim.engine.outputs import atomic_file

    if out and not _is_stdout(out):
        with atomic_file(out, option) as fh:
            for piece in pieces:
                fh.write(piece)
        _say(ctx, f"wrote {out}")
    else:
        for piece in pieces:
            click.echo(piece, nl=False)


def _load(ctx, server_spec, coefficients, sets, db_dirs):
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.overrides import split_sets
    from carbonsim.engine.inputs.server import load_server

    db = _db(ctx, db_dirs)
    server_over, coeff_over = split_sets(sets)
    return db, load_server(server_spec, db, overrides=server_over), load_coefficients(coefficients, db, coeff_over)


def _period_notes(ctx, grid) -> None:
    """Warnings the grid gained when it was taken over a period (the years it used)."""
    for w in getattr(grid, "warnings", ())[len(ctx.obj.get("grid_warnings", ())):]:
        _say(ctx, f"note: {w}")


def _grid(ctx, db, text, year=None):
    from carbonsim.engine.inputs.grid import resolve_grid
    from carbonsim.engine.inputs.options import check_options

    check_options(year=year)
    try:
        g = resolve_grid(text, db, year=year)
    except InputError as exc:
        if exc.file is None and exc.field == "grid":  # name the option: --grid: ...
            from carbonsim.errors import OptionError

            raise OptionError(exc.message, "grid") from None
        raise
    for w in g.warnings:
        _say(ctx, f"warning: {w}")
    ctx.obj["grid_warnings"] = g.warnings
    return g


def _pue(pue):
    from carbonsim.engine.inputs.options import pue_or_default

    return pue_or_default(pue)


def _load_of(util, cpu_util, gpu_util, power_w=None):
    from carbonsim.engine.chain import Load

    return Load(util if cpu_util is None else cpu_util, util if gpu_util is None else gpu_util, power_w=power_w)


def _opts(*opts):
    def deco(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return deco


def _coefficients_option():
    from carbonsim.engine.inputs.coefficients import DEFAULT_SET

    return click.option("--coefficients", "-c", default=None, metavar="ID",
                        help=f"Coefficient set (hardware_db/coefficients); default {DEFAULT_SET} "
                             "(hotcarbon24 reproduces the seed paper).")


DB_OPTION = click.option("--db", "db_dirs", multiple=True, type=click.Path(), metavar="DIR",
                         help="Extra database directory layered on the shipped one (repeatable).")
FORMAT_OPTION = click.option("--format", "fmt", type=FORMATS, default=None,
                             help="What to print: table, json or csv (default: table, or the --out file's type).")
def _out_file(ctx, param, value):
    """Refuse a folder, device, FIFO or socket as an output file before any work is done (inputs
    are checked again when written: the command has read them by then)."""
    if value is not None:
        from carbonsim.engine.outputs import check_output_file, is_stdout

        if not is_stdout(value):
            try:
                check_output_file(value, "--" + param.name.replace("_", "-"))
            except InputError as exc:
                raise click.BadParameter(f"{value}: {exc.message}", ctx, param) from None
    return value


OUT_OPTION = click.option("--out", type=click.Path(), default=None, metavar="FILE", callback=_out_file,
                          help="Write the output to FILE instead of stdout (- for stdout).")
SET_OPTION = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                          help="Override a field: server.host.dram.gb=512, coefficients.fab.location=iceland.")
SAMPLING = _opts(
    click.option("--samples", default=0, show_default=True, type=int,
                 help="Monte-Carlo samples of ranged inputs; adds p5/p50/p95."),
    click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampler."),
)


def _util_options(many=False):
    from carbonsim.engine.inputs.options import DEFAULT_UTIL

    what = "U[,U...]" if many else "U"
    return _opts(
        click.option("--util", "util", default=str(DEFAULT_UTIL) if many else None, metavar=what,
                     help="Utilisation of CPUs and GPUs, 0..1" + (", one result per value" if many else "")
                     + f" (default {DEFAULT_UTIL:g})."),
        click.option("--cpu-util", type=float, default=None, metavar="U", help="CPU utilisation 0..1 (overrides --util)."),
        click.option("--gpu-util", "--gpu-activity", "gpu_util", type=float, default=None, metavar="U",
                     help="GPU utilisation 0..1 (overrides --util): the load of a GPU load ladder (docs/nomenclature.md)."),
    )


def _floats(text, option):
    """A comma-separated list of numbers, each checked as the engine checks ``option``."""
    from carbonsim.engine.inputs.options import check_options
    from carbonsim.errors import OptionError

    if text is None:
        return None
    try:
        values = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise OptionError(f"expected numbers like 0.3,0.6, found {text!r}", option) from None
    check_options(**{option: values})
    return values


# --- the group ---------------------------------------------------------------------------------------
@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(carbonsim.__version__, prog_name="carbonsim")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--quiet", "-q", is_flag=True, help="No warnings, notes or progress on stderr.")
@DB_OPTION
@click.pass_context
def main(ctx, debug, quiet, db_dirs):
    """Lifecycle carbon of AI servers: embodied + operational."""
    ctx.ensure_object(dict)
    ctx.obj.update(debug=debug, quiet=quiet, db=db_dirs)
    _exit_cleanly_on_signals()


# --- embodied --------------------------------------------------------------------------------------
@main.command()
@click.argument("server")
@_coefficients_option()
@SAMPLING
@SET_OPTION
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def embodied(ctx, server, coefficients, samples, seed, sets, db_dirs, fmt, out):
    """Embodied carbon of SERVER (a database id or a YAML path), by component."""
    from carbonsim.engine.studies.embodied import embodied as study
    from carbonsim.report.embodied_text import embodied_text

    _, srv, cs = _load(ctx, server, coefficients, sets, db_dirs)
    _emit(ctx, embodied_text(study(srv, cs, samples=samples, seed=seed), _fmt(fmt, out)), out)


# --- footprint -------------------------------------------------------------------------------------
@main.command()
@click.argument("server")
@click.option("--grid", "-g", default=DEFAULT_GRID, show_default=True, metavar="G", help=GRID_HELP)
@click.option("--year", type=int, default=None, help="Year of a region's or trajectory's intensity "
              "(with --years: the first year of use).")
@click.option("--years", type=float, default=None,
              help="Also the totals over this many years of use (a trajectory grid followed over them).")
@click.option("--power-w", type=float, default=None, help="Measured IT power [W] (else estimated).")
@_util_options()
@click.option("--pue", type=float, default=None, help=PUE_HELP)
@click.option("--per", type=click.Choice(["hour", "day", "request", "1k-tokens"]), default=None,
              help="Also give the carbon per functional unit (SCI); request and 1k-tokens need --rate.")
@click.option("--rate", type=float, default=None, help="Requests (--per request) or output tokens (--per 1k-tokens) per second.")
@_coefficients_option()
@SAMPLING
@SET_OPTION
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def footprint(ctx, server, grid, year, years, power_w, util, cpu_util, gpu_util, pue, per, rate, coefficients,
              samples, seed, sets, db_dirs, fmt, out):
    """Per-second footprint of SERVER: amortised embodied + operational carbon."""
    from carbonsim.engine.studies.footprint import footprint as study
    from carbonsim.report.embodied_text import footprint_text

    db, srv, cs = _load(ctx, server, coefficients, sets, db_dirs)
    u = _floats(util, "util")
    result = study(srv, cs, _grid(ctx, db, grid, year), db, pue=_pue(pue),
                   load=_load_of(u[0] if u else None, cpu_util, gpu_util, power_w), samples=samples, seed=seed,
                   years=years, start_year=year)
    if per is not None or rate is not None:
        from carbonsim.engine.studies.footprint import with_sci

        result = with_sci(result, per, rate)
    _period_notes(ctx, result.grid)
    _emit(ctx, footprint_text(result, _fmt(fmt, out)), out)


# --- compare ---------------------------------------------------------------------------------------
@main.command()
@click.argument("servers", nargs=-1, required=True)
@click.option("--grid", "-g", default=DEFAULT_GRID, show_default=True, metavar="G", help=GRID_HELP)
@click.option("--years", type=float, default=4.0, show_default=True, help="Years of use.")
@click.option("--year", "start_year", type=int, default=None,
              help="First year of use (a trajectory grid is followed over the years of use from it).")
@_util_options()
@click.option("--utilization", "-u", "utilization", type=float, default=None, hidden=True)
@click.option("--pue", type=float, default=None, help=PUE_HELP)
@_coefficients_option()
@SAMPLING
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def compare(ctx, servers, grid, years, start_year, util, cpu_util, gpu_util, utilization, pue, coefficients, samples,
            seed, db_dirs, fmt, out):
    """Compare SERVERS over --years of use: embodied + operational, and the break-even grid intensity."""
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.inputs.server import load_server
    from carbonsim.engine.studies.compare import compare as study
    from carbonsim.report.study_text import compare_text

    db = _db(ctx, db_dirs)
    u = _floats(util, "util")
    u = u[0] if u else utilization  # --utilization/-u: the earlier spelling of --util
    result = study([load_server(s, db) for s in servers], load_coefficients(coefficients, db),
                   _grid(ctx, db, grid, start_year), db, years, _load_of(u, cpu_util, gpu_util), _pue(pue), start_year,
                   samples, seed)
    _period_notes(ctx, result.grid)
    _emit(ctx, compare_text(result, _fmt(fmt, out)), out)


# --- inventory ------------------------------------------------------------------------------------
@main.command()
@click.argument("fleet_csv", type=click.Path(dir_okay=False))
@_util_options(many=True)
@click.option("--grid", "-g", default=DEFAULT_GRID, show_default=True, metavar="G", help=GRID_HELP)
@click.option("--pue", type=float, default=None, help=PUE_HELP)
@click.option("--years", type=float, default=1.0, show_default=True, help="Years of operation for the totals.")
@_coefficients_option()
@SAMPLING
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def inventory(ctx, fleet_csv, util, cpu_util, gpu_util, grid, pue, years, coefficients, samples, seed, db_dirs,
              fmt, out):
    """Embodied carbon, power and yearly energy/carbon of a fleet spreadsheet (one server per row:
    described by its columns, gaps filled from priors, or named in a column `server`: a database
    id or a server YAML file, taken exactly as `embodied`/`compare` take it)."""
    from carbonsim.engine.readers.inventory import read_inventory_columns
    from carbonsim.engine.studies.inventory_fleet import plan_inventory
    from carbonsim.report.study_text import inventory_pieces

    db = _db(ctx, db_dirs)
    run = plan_inventory(read_inventory_columns(fleet_csv), db, utils=_floats(util, "util"), grid=_grid(ctx, db, grid),
                         pue=_pue(pue), years=years, coefficients=coefficients, samples=samples, seed=seed,
                         cpu_util=cpu_util, gpu_util=gpu_util)
    progress = _progress(ctx, "servers", quiet_on_tty_stdout=not out or _is_stdout(out))
    _stream(ctx, inventory_pieces(run.columns, run.chunks(progress=progress), _fmt(fmt, out)), out)


# --- codecarbon ------------------------------------------------------------------------------------
@main.command()
@click.argument("emissions_csv", type=click.Path(dir_okay=False))
@click.option("--server", "server", default=None, metavar="SERVER",
              help="The server the runs used (database id or YAML path); default: built from the cpu_model, "
                   "gpu_model, gpu_count and ram_total_size CodeCarbon recorded.")
@click.option("--grid", "-g", default=None, metavar="G",
              help="Also recompute operational carbon on this grid (any --grid value; an hourly trace is averaged "
                   "over each run's hours); the total then uses it. Default: CodeCarbon's own figure only.")
@click.option("--share", type=float, default=None, metavar="F",
              help="Share (0..1] of the server charged to every run, replacing the one from the vCPUs, memory and "
                   "GPUs CodeCarbon recorded (docs/codecarbon.md).")
@_coefficients_option()
@SET_OPTION
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def codecarbon(ctx, emissions_csv, server, grid, share, coefficients, sets, db_dirs, fmt, out):
    """Add embodied carbon to the runs of a CodeCarbon EMISSIONS_CSV (each run and task once: its last row)."""
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.studies.codecarbon import codecarbon as study
    from carbonsim.report.study_text import codecarbon_text

    if server is None:
        from carbonsim.engine.inputs.overrides import split_sets

        db, srv = _db(ctx, db_dirs), None
        cs = load_coefficients(coefficients, db, split_sets(sets)[1])
    else:
        db, srv, cs = _load(ctx, server, coefficients, sets, db_dirs)
    g = None if grid is None else _grid(ctx, db, grid)
    result = study(emissions_csv, cs, db, srv, grid=g, share=share)
    for w in result.warnings:
        if not g or w not in g.warnings:
            _say(ctx, f"warning: {w}")
    _emit(ctx, codecarbon_text(result, _fmt(fmt, out)), out)


# --- power --------------------------------------------------------------------------------------
@main.group()
def power():
    """Fit host power curves to measurements."""


@power.command("fit")
@click.argument("measurements", type=click.Path(dir_okay=False))
@click.option("--form", type=click.Choice(["auto", "linear", "power", "log"]), default="auto", show_default=True,
              help="Form to fit; auto fits all and picks the lowest AICc (fewest constants within 2).")
@FORMAT_OPTION
@OUT_OPTION
@click.option("--out-yaml", type=click.Path(), default=None, metavar="FILE", callback=_out_file,
              help="Write the chosen curve as a host.power_model block for a server spec.")
@click.pass_context
def power_fit(ctx, measurements, form, fmt, out, out_yaml):
    """Fit host power to MEASUREMENTS (CSV: cpu_util, optional mem_util, power_w)."""
    from carbonsim.engine.studies.power_fit import (
        fit_measurements_csv, power_fit_json, power_fit_rows, power_model_yaml,
    )
    from carbonsim.report.study_text import power_fit_text

    from carbonsim.engine.outputs import is_stdout

    if out_yaml and is_stdout(out_yaml) and not (out and not is_stdout(out)):
        raise click.UsageError("--out-yaml - prints the curve to stdout, where the fit's report goes too: give "
                               "--out FILE for the report")
    report = fit_measurements_csv(measurements, form)
    text = power_fit_text(report, power_fit_rows(report), power_fit_json(report), _fmt(fmt, out))
    if out_yaml:
        _emit(ctx, power_model_yaml(report), out_yaml, "--out-yaml")
    _emit(ctx, text, out)


# --- grid ------------------------------------------------------------------------------------------
@main.group()
def grid():
    """Grid carbon intensities: energy sources, regions, trajectories, hourly traces."""


@grid.command("list")
@click.option("--kind", type=click.Choice(["source", "mix", "region", "trajectory", "trace", "table"]), default=None)
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def grid_list(ctx, kind, db_dirs, fmt, out):
    """List what --grid accepts, with intensity, year, basis and source."""
    from carbonsim.engine.studies.grids import list_grids
    from carbonsim.report.study_text import grid_list_text

    _emit(ctx, grid_list_text(list_grids(_db(ctx, db_dirs), kind), _fmt(fmt, out)), out)


@grid.command("show")
@click.argument("grid_id", metavar="ID")
@click.option("--table", "table_id", default=None, help="Per-source table (ipcc-ar5, unece-2021).")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table (readable YAML) or json (default: table, or the --out file's type).")
@OUT_OPTION
@click.pass_context
def grid_show(ctx, grid_id, table_id, db_dirs, fmt, out):
    """Show one grid entry: every value, year, basis, scope, source and licence."""
    from carbonsim.engine.studies.grids import show_grid
    from carbonsim.report.study_text import mapping_text

    _emit(ctx, mapping_text(show_grid(grid_id, _db(ctx, db_dirs), table=table_id), _fmt(fmt, out)), out)


# --- sweep -----------------------------------------------------------------------------------------
@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Results FOLDER (default out/<scenario name>): the table, meta.json and figures. Only a "
                   "folder carbonsim wrote is ever replaced.")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True,
              help="What to print: the best points as a table, JSON or CSV.")
@click.option("--table-format", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True,
              help="File type of the points table written into --out.")
@SET_OPTION
@DB_OPTION
@click.option("--best-by", default=None, metavar="PATH[,PATH...]",
              help="Report the best point per group of these columns (e.g. model,datacenter.grid).")
@click.option("--plots", is_flag=True, help="Also draw the seed's figures (PDF, SVG, PNG; docs/figures.md) into "
              "the results folder.")
@click.option("--no-write", is_flag=True, help="Evaluate and report the best points without writing anything.")
@click.option("--chunk", type=click.IntRange(1024, 1 << 24), default=1 << 16, show_default=True,
              help="Largest number of points evaluated at once (bounds memory).")
@click.option("--dask", "dask", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Evaluate chunks on Dask: a LocalCluster, or the scheduler at ADDRESS (pip install '.[dask]').")
@click.option("--samples", default=0, show_default=True, type=int,
              help="Server sweeps: Monte-Carlo samples of each point's ranged embodied inputs; adds p5/p95 columns.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sampler.")
@click.option("--pareto", default=None, metavar="COL,COL[,COL]",
              help="Write the Pareto front of two or three result columns (pareto.parquet and a figure beside "
                   "the table); each is minimised or maximised by its meaning.")
@click.pass_context
def sweep(ctx, scenario, out_dir, fmt, table_format, sets, db_dirs, best_by, plots, no_write, chunk, dask, samples,
          seed, pareto):
    """Sweep SCENARIO (a YAML file): evaluate every point, write a tidy table, report the best."""
    from carbonsim.engine.sweep.run import run_sweep
    from carbonsim.engine.sweep.scenario import load_scenario
    from carbonsim.report.sweep_text import sweep_text

    if no_write and (plots or out_dir):
        raise click.UsageError("--no-write writes nothing: it cannot be combined with --plots or --out")
    sc = load_scenario(scenario, sets)
    db = _db(ctx, db_dirs)
    if out_dir is None and not no_write:
        out_dir = f"out/{sc.name}"
    result = run_sweep(sc, db, None if no_write else out_dir, table_format, chunk=chunk,
                       progress=_progress(ctx), best_by=_keys(best_by), executor=dask,
                       figures=_figures if plots else None, samples=samples, seed=seed, pareto=_keys(pareto),
                       pareto_figure=_pareto_figure)
    for w in result.warnings:
        _say(ctx, f"warning: {w}")
    click.echo(sweep_text(result, fmt).rstrip("\n"))


def _keys(text):
    return None if not text else [k.strip() for k in text.split(",") if k.strip()]


def _pareto_figure(points, front, columns, maximise, out_dir, title, held):
    from carbonsim.report.pareto_plots import pareto_figures

    return pareto_figures(points, front, columns, maximise, out_dir, title, held)


def _figures(points, out_dir, title, grid=None):
    from carbonsim.report.plots import sweep_figures

    written = sweep_figures(points, out_dir, title, grid=grid)
    if "lifecycle.gpu_refresh_yr" in points:  # refresh-policy sweeps (docs/lifecycle.md)
        from carbonsim.report.lifecycle_plots import refresh_figures

        written += refresh_figures(points, out_dir, title)
    return written


#: Seconds between two plain progress lines when stderr is not a terminal (a log, a pipe).
PLAIN_PROGRESS_S = 5.0


def _progress(ctx, unit: str = "points", quiet_on_tty_stdout: bool = False):
    """Progress on stderr unless --quiet: on a terminal a line redrawn at most every 0.2 s; else
    (a pipe, a log file, CI) plain lines, one every PLAIN_PROGRESS_S seconds and one at the end
    once a line was printed, so a long run is never silent and a short one prints nothing. The
    compiling notice is printed either way. ``unit`` names what is counted;
    ``quiet_on_tty_stdout``: none when the output itself streams to the same terminal."""
    if ctx.obj.get("quiet") or (quiet_on_tty_stdout and sys.stdout.isatty() and sys.stderr.isatty()):
        return None
    import time

    tty = sys.stderr.isatty()
    state = {"t": time.perf_counter(), "t0": time.perf_counter()}

    def show(done, total, message=None):
        now = time.perf_counter()
        if message:
            click.echo(f"carbonsim: {message}", err=True)
            return
        text = f"{done:,}/{total:,} {unit} ({100 * done / max(total, 1):.0f}%, {now - state['t0']:.1f} s)"
        if tty:
            if done < total and now - state["t"] < 0.2:
                return
            state["t"] = now
            click.echo(f"\r  {text}", err=True, nl=done >= total)
            return
        if now - state["t"] < PLAIN_PROGRESS_S and (done < total or not state.get("shown")):
            return
        state["t"], state["shown"] = now, True
        click.echo(f"carbonsim: {text}", err=True)

    return show


# --- train -----------------------------------------------------------------------------------------
@main.command()
@click.option("--params-b", type=float, required=True, metavar="N", help="Parameters [billions].")
@click.option("--active-params-b", type=float, default=None, metavar="A",
              help="Parameters active per token [billions] (mixture of experts; default all).")
@click.option("--tokens-b", type=float, required=True, metavar="D", help="Training tokens [billions].")
@click.option("--gpu", required=True, metavar="ID", help="GPU part id (carbonsim db list gpus).")
@click.option("--gpus", type=int, default=None, metavar="K", help="GPUs of the run (gives its days).")
@click.option("--mfu", type=float, default=None, metavar="X",
              help="Model FLOP utilisation 0..1 (default: predicted from published runs).")
@click.option("--grid", "-g", default=DEFAULT_GRID, show_default=True, metavar="G", help=GRID_HELP + " Or g/kWh.")
@click.option("--year", type=int, default=None,
              help="First year of the run (a trajectory grid is followed over the run's days, with --gpus).")
@click.option("--pue", type=float, default=None, help=PUE_HELP)
@click.option("--seq-len", type=int, default=None, metavar="S", help="Training sequence length (counts attention FLOPs).")
@click.option("--model", "model_id", default=None, metavar="ID", help="Model shape from the database (layers, heads).")
@click.option("--gpu-hours", type=float, default=None, help="Measured device-hours (replaces the efficiency).")
@click.option("--days", type=float, default=None, help="Measured days of the run (with --gpus).")
@click.option("--power-w", type=float, default=None,
              help="Measured average power per device [W], host share included (replaces the power model).")
@click.option("--server", default=None, metavar="SERVER",
              help="Server holding the GPU, for host power and embodied carbon (default: the database's).")
@click.option("--lifetime-yr", type=float, default=None, help="Lifetime embodied carbon is spread over (default the server's).")
@click.option("--usage", type=float, default=1.0, show_default=True, help="Share of its life a device is in use.")
@click.option("--per", type=click.Choice(["run", "1k-tokens", "gpu-hour"]), default="run", show_default=True,
              help="Functional unit of the SCI value.")
@_coefficients_option()
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def train(ctx, params_b, active_params_b, tokens_b, gpu, gpus, mfu, grid, year, pue, seq_len, model_id, gpu_hours,
          days, power_w, server, lifetime_yr, usage, per, coefficients, db_dirs, fmt, out):
    """Carbon of training an LLM: FLOPs, GPU-hours, energy, operational + embodied (LLMCarbon-style)."""
    from carbonsim.engine.inputs.coefficients import load_coefficients
    from carbonsim.engine.training import train as study
    from carbonsim.report.lifecycle_text import train_text

    database = _db(ctx, db_dirs)
    result = study(database, params_b=params_b, active_params_b=active_params_b, tokens_b=tokens_b, gpu=gpu,
                   gpus=gpus, mfu=mfu, grid=_grid(ctx, database, grid, year), cs=load_coefficients(coefficients, database),
                   pue=_pue(pue), seq_len=seq_len, model=model_id, gpu_hours=gpu_hours, days=days, power_w=power_w,
                   server=server, lifetime_yr=lifetime_yr, usage=usage, per=per, year=year)
    for n in result.notes:
        _say(ctx, f"note: {n}")
    _emit(ctx, train_text(result, _fmt(fmt, out)), out)


# --- budget ----------------------------------------------------------------------------------------
@main.command()
@click.argument("budget_file", metavar="BUDGET.yaml", type=click.Path(dir_okay=False))
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def budget(ctx, budget_file, db_dirs, fmt, out):
    """Check planned training runs and inference sweeps against a carbon budget (docs/budgets.md)."""
    from carbonsim.engine.studies.budget import budget as study
    from carbonsim.report.lifecycle_text import budget_text

    _emit(ctx, budget_text(study(budget_file, _db(ctx, db_dirs)), _fmt(fmt, out)), out)


# --- plan ------------------------------------------------------------------------------------------
@main.command()
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(dir_okay=False))
@SET_OPTION
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.option("--figure", type=click.Path(), default=None, metavar="FILE", callback=_out_file,
              help="Also draw the plans' carbon and fleets to FILE (.png, .pdf or .svg).")
@click.pass_context
def plan(ctx, plan_file, sets, db_dirs, fmt, out, figure):
    """A carbon-optimal fleet for online and offline LLM services, with performance-, energy- and
    cost-optimal baselines (docs/plan.md). Exit 3 when no fleet meets a service's SLO or deadline."""
    from carbonsim.engine.plan import plan as study
    from carbonsim.engine.plan.spec import load_plan
    from carbonsim.report.plan_text import plan_text

    database = _db(ctx, db_dirs)
    if figure and not str(figure).lower().endswith((".png", ".pdf", ".svg")):
        raise InputError("the figure's file must end in .png, .pdf or .svg", field="--figure")
    spec = load_plan(plan_file, sets, database)
    if figure:  # the plan's own files (read by now) are refused before the work, as for --out
        from carbonsim.engine.outputs import check_output_file

        check_output_file(figure, "--figure")
    result = study(spec, database, progress=lambda m: _say(ctx, m))
    rc = result.carbon.recheck
    if rc["simulated"] and rc["met"] < rc["simulated"]:
        _say(ctx, f"warning: {rc['simulated'] - rc['met']} of {rc['simulated']} re-simulated servers missed their SLO "
                  f"after {rc['rounds']} rounds")
    text = plan_text(result, _fmt(fmt, out))
    if figure:
        from carbonsim.report.plan_plots import write_plan_figure

        for p in write_plan_figure(result, figure):
            _say(ctx, f"wrote {p}")
    _emit(ctx, text, out)


# --- experiment ------------------------------------------------------------------------------------
@main.command()
@click.argument("experiment_file", metavar="EXP.yaml", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown", "latex"]), default=None,
              help="What to print: table, json, csv, markdown or latex (default: table, or the --out file's type: "
                   ".json, .csv, .md, .tex).")
@_coefficients_option()
@DB_OPTION
@OUT_OPTION
@click.pass_context
def experiment(ctx, experiment_file, fmt, coefficients, db_dirs, out):
    """The carbon of an LLM study's calls, local or through an API, with ranges and a paper table
    (docs/experiments.md)."""
    from carbonsim.engine.studies.experiment import experiment as study
    from carbonsim.engine.studies.experiment_input import load_experiment
    from carbonsim.report.experiment_text import SUFFIXES, experiment_notes, experiment_text

    exp = load_experiment(experiment_file)
    if fmt is None:
        fmt = next((f for s, f in SUFFIXES.items() if out and out.lower().endswith(s)), "table")
    result = study(exp, _db(ctx, db_dirs), coefficients)
    for n in experiment_notes(result):
        _say(ctx, f"note: {n}")
    _emit(ctx, experiment_text(result, fmt), out)


# --- schedule --------------------------------------------------------------------------------------
@main.command()
@click.option("--energy-kwh", type=float, required=True, help="IT energy of the job [kWh].")
@click.option("--hours", type=float, required=True, help="Duration of the job [h].")
@click.option("--grid", "-g", "grids", multiple=True, metavar="G",
              help="A candidate region (repeatable; the first is the default one): a trace id, a trace CSV or any "
                   f"--grid value; default {DEFAULT_GRID}.")
@click.option("--start", default=None, metavar="TIME", help="Now, ISO 8601 (default: the first trace's first hour).")
@click.option("--window-hours", type=float, default=24.0, show_default=True,
              help="Allowed start times: from --start to this many hours later, minus the job.")
@click.option("--pue", type=float, default=None, help=PUE_HELP)
@click.option("--wrap-day", is_flag=True,
              help="Let jobs run past the end of a trace: the hours after it repeat its last day.")
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def schedule(ctx, energy_kwh, hours, grids, start, window_hours, pue, wrap_day, db_dirs, fmt, out):
    """When and where to run a deferrable job: the region and start time with the least carbon."""
    from carbonsim.engine.studies.schedule import schedule as study
    from carbonsim.report.lifecycle_text import schedule_text

    result = study(list(grids) or [DEFAULT_GRID], _db(ctx, db_dirs), energy_kwh, hours, start, window_hours,
                   _pue(pue), wrap_day=wrap_day)
    for n in result.notes:
        _say(ctx, f"note: {n}")
    _emit(ctx, schedule_text(result, _fmt(fmt, out)), out)


# --- db ------------------------------------------------------------------------------------------
@main.group()
def db():
    """List, show and check the hardware database."""


@db.command("list")
@click.argument("kind", required=False)
@DB_OPTION
@FORMAT_OPTION
@OUT_OPTION
@click.pass_context
def db_list(ctx, kind, db_dirs, fmt, out):
    """List entries, all kinds or one KIND (gpus, cpus, servers, coefficients, ...)."""
    from carbonsim.engine.db.listing import list_rows
    from carbonsim.report.study_text import db_list_text

    _emit(ctx, db_list_text(list_rows(_db(ctx, db_dirs), kind), _fmt(fmt, out)), out)


@db.command("show")
@click.argument("part_id", metavar="ID")
@click.option("--kind", default=None, help="Kind, when the id exists in several.")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table (the entry as YAML with its sources) or json.")
@OUT_OPTION
@click.pass_context
def db_show(ctx, part_id, kind, db_dirs, fmt, out):
    """Show one entry with its sources resolved."""
    from carbonsim.engine.db.listing import show_entry
    from carbonsim.report.study_text import db_show_text

    _emit(ctx, db_show_text(show_entry(_db(ctx, db_dirs), part_id, kind), _fmt(fmt, out)), out)


@db.command("import-model")
@click.argument("config_json", type=click.Path(dir_okay=False), metavar="CONFIG.json")
@click.option("--id", "model_id", required=True, metavar="NAME", help="Id of the model (the file name, lower case).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=".", show_default=True, metavar="DIR",
              help="Database folder to write into: DIR/models/NAME.yaml, and the source into DIR/sources.yaml "
                   "(use it with --db DIR).")
@click.option("--name", default=None, help="Display name (default: the config's _name_or_path, else NAME).")
@click.option("--url", default=None, help="Where the config.json was published, for the source entry.")
@DB_OPTION
@click.pass_context
def db_import_model(ctx, config_json, model_id, out_dir, name, url, db_dirs):
    """Write a model file from a Hugging Face CONFIG.json (docs/database.md, "Models from config.json")."""
    from carbonsim.engine.readers.hfconfig import import_model

    path, spec, entry = import_model(config_json, model_id, out_dir, _db(ctx, db_dirs), name=name, url=url)
    active = spec.get("active_params_b")
    click.echo(f"wrote {path}: {spec['layers']} layers, hidden {spec['hidden']}, {spec['heads']} heads / "
               f"{spec['kv_heads']} KV heads, {spec['params_b']['value']:g} B parameters"
               + (f" ({active['value']:g} B active)" if active else ""))
    if entry is not None:
        _say(ctx, f"added source {spec['source']!r} to {Path(out_dir) / 'sources.yaml'}")


@db.command("check")
@click.argument("directory", required=False, type=click.Path())
@DB_OPTION
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
