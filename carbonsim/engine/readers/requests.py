"""Request traces from CSV files (layer 2), for online serving (``workload.arrival: trace``).

Three layouts are read (``format``, or detected from the header):

- ``carbonsim``: the columns below;
- ``azure``: the Azure LLM inference traces (github.com/Azure/AzurePublicDataset, 2023 and 2024:
  ``TIMESTAMP, ContextTokens, GeneratedTokens``; TIMESTAMP a wall-clock time such as
  ``2023-11-16 18:15:46.6805900``, taken as UTC);
- ``burstgpt``: BurstGPT (github.com/HPMLL/BurstGPT: ``Timestamp, Model, Request tokens,
  Response tokens, Total tokens, Log Type``; Timestamp in seconds from the trace's first day).

In the public layouts arrivals count from the first request; requests with no prompt or no
output tokens (BurstGPT's failed requests, with 0 response tokens) are left out and counted in
a note. A window and a time scale apply to every layout (:class:`TraceOptions`): the requests
arriving in ``[start_s, start_s + duration_s)``, re-zeroed at ``start_s``, with every gap divided
by ``speedup``.

carbonsim's own columns: ``arrival_s`` (seconds from the start of the run, >= 0), ``prompt_tokens`` and
``output_tokens`` (whole numbers >= 1); with two models on a server also ``model`` (the model's
id, or 0 / 1 for the first / second). Other columns are ignored; ``#`` lines and blank lines
are skipped. Rows need not be sorted: requests are ordered by arrival (ties keep file order).
The table is read by :func:`carbonsim.engine.readers.table.read_table`, so an empty file, a
missing column or a bad cell is an error naming the file, the line and the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.readers.table import _header_words, parse_number, parse_utc_seconds, read_table
from carbonsim.errors import InputError

REQUIRED_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")
#: Layouts and their columns (arrival, prompt tokens, output tokens), lower case.
LAYOUTS = {
    "carbonsim": ("arrival_s", "prompt_tokens", "output_tokens"),
    "azure": ("timestamp", "contexttokens", "generatedtokens"),
    "burstgpt": ("timestamp", "request tokens", "response tokens"),
}
TRACE_FORMATS = ("auto", *LAYOUTS)
#: Longest request accepted in a trace [tokens] (no model has a context near it).
MAX_TOKENS = 100_000_000


@dataclass(frozen=True)
class RequestTrace:
    """A validated request trace, sorted by arrival.

    Attributes
    ----------
    file : str
    arrival_s : ndarray of float
    prompt_tokens, output_tokens : ndarray of int64
    model : ndarray of str or None
        The ``model`` column as written (None when the file has none).
    lines : ndarray of int
        File line of each request.
    """

    file: str
    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    model: np.ndarray | None = None
    lines: np.ndarray = field(default=None, repr=False)
    #: Layout read (``carbonsim``, ``azure``, ``burstgpt``) and what was left out or rescaled.
    layout: str = "carbonsim"
    notes: tuple = ()

    def __len__(self) -> int:
        return len(self.arrival_s)

    def for_model(self, index: int, model_ids: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Arrival times and lengths of the requests for model ``index`` of ``model_ids``.

        A ``model`` value is a model's index (0, 1) or its id; an id two models share names the
        first of them.

        Raises
        ------
        InputError
            Two models and no ``model`` column, or a value naming neither model.
        """
        if len(model_ids) == 1:
            keep = np.ones(len(self), bool)
        else:
            if self.model is None:
                raise InputError("two models share the server: the trace needs a 'model' column "
                                 "(a model id, or 0 / 1)", file=self.file, field="model")
            keep = self.targets(model_ids) == index
        return self.arrival_s[keep], self.prompt_tokens[keep], self.output_tokens[keep]

    def targets(self, model_ids: list[str]) -> np.ndarray:
        """The model index each request names (see :meth:`for_model`)."""
        out = np.empty(len(self), np.int64)
        for i, m in enumerate(self.model):
            if m in {str(k) for k in range(len(model_ids))}:
                out[i] = int(m)
            elif m in model_ids:
                out[i] = model_ids.index(m)
            else:
                raise InputError(f"line {self.lines[i]}: model {m!r} is not one of the scenario's models "
                                 f"({', '.join(model_ids)}, or 0 / 1)", file=self.file, field="model")
        return out


@dataclass(frozen=True)
class TraceOptions:
    """How a trace file is read: its layout, a window of it and a time scale.

    Attributes
    ----------
    format : str
        ``auto`` (from the header), ``carbonsim``, ``azure`` or ``burstgpt``.
    start_s : float
        Start of the window, seconds after the first arrival (>= 0).
    duration_s : float or None
        Length of the window [s] (None: to the end).
    speedup : float
        Time scale (> 0): 2 replays the window twice as fast (twice the request rate).
    """

    format: str = "auto"
    start_s: float = 0.0
    duration_s: float | None = None
    speedup: float = 1.0


def _layout(table, wanted: str, file: str) -> str:
    cols = set(table.columns)
    found = [k for k, need in LAYOUTS.items() if set(need) <= cols]
    if wanted != "auto":
        missing = [c for c in LAYOUTS[wanted] if c not in cols]
        if missing:
            raise InputError(f"a {wanted} trace needs the column {missing[0]!r} "
                             f"({_header_words(table.columns, LAYOUTS[wanted])})", file=file, field=missing[0])
        return wanted
    if not found:
        near = max(LAYOUTS, key=lambda k: len(set(LAYOUTS[k]) & cols))
        if set(LAYOUTS[near]) & cols:
            missing = [c for c in LAYOUTS[near] if c not in cols]
            raise InputError(f"line {table.header_line}: missing column {missing[0]!r} "
                             f"({_header_words(table.columns, LAYOUTS[near])}); a {near} request trace needs "
                             f"{', '.join(LAYOUTS[near])}", file=file, field=missing[0])
        raise InputError("not a request trace: the header names none of the layouts carbonsim reads (carbonsim: "
                         "arrival_s, prompt_tokens, output_tokens; Azure: TIMESTAMP, ContextTokens, GeneratedTokens; "
                         f"BurstGPT: Timestamp, Request tokens, Response tokens); "
                         f"{_header_words(table.columns, ())}",
                         file=file, field="header")
    return found[0]


def read_request_trace(path, options: TraceOptions | None = None) -> RequestTrace:
    """Read and validate a request trace (module docstring), with ``options`` applied.

    Raises
    ------
    InputError
        Naming the file and, for a bad cell, the line and column; an unknown layout; a window
        that holds no request.
    """
    options = options or TraceOptions()
    if options.format not in TRACE_FORMATS:
        raise InputError(f"format must be one of {', '.join(TRACE_FORMATS)}, found {options.format!r}",
                         field="trace.format")
    table = read_table(path, (), kind="requests", what="request trace")
    file = table.file
    layout = _layout(table, options.format, file)
    t_col, p_col, o_col = LAYOUTS[layout]
    n = len(table.records)
    arrival = np.empty(n)
    prompt = np.empty(n, np.int64)
    output = np.empty(n, np.int64)
    lines = np.empty(n, np.int64)
    models = [] if layout == "carbonsim" and table.has("model") else None
    public = layout != "carbonsim"
    for i, rec in enumerate(table.records):
        c = rec.cells
        if layout == "azure":
            arrival[i] = parse_utc_seconds(c[t_col], file, rec.line, "TIMESTAMP", "2023-11-16 18:15:46.68")
        else:
            arrival[i] = parse_number(c[t_col], file, rec.line, t_col, required=True)
        for col, arr in ((p_col, prompt), (o_col, output)):
            arr[i] = parse_number(c[col], file, rec.line, col, required=True, minimum=0 if public else 1,
                                  integer=True, maximum=MAX_TOKENS)
        lines[i] = rec.line
        if models is not None:
            m = c["model"].strip()
            if not m:
                raise InputError(f"line {rec.line}: empty model", file=file, field="model")
            models.append(m)
    notes = []
    if public:
        keep = (prompt > 0) & (output > 0)
        if not keep.all():
            notes.append(f"{file}: {int((~keep).sum()):,} of {n:,} requests with no prompt or no output tokens left "
                         "out" + (" (BurstGPT's failed requests)" if layout == "burstgpt" else ""))
        arrival, prompt, output, lines = arrival[keep], prompt[keep], output[keep], lines[keep]
        if arrival.size:
            arrival = arrival - arrival.min()
    order = np.argsort(arrival, kind="stable")
    arrival, prompt, output, lines = arrival[order], prompt[order], output[order], lines[order]
    model = None if models is None else np.asarray(models, dtype=object)[order]
    if options.start_s or options.duration_s is not None or options.speedup != 1.0:
        end = np.inf if options.duration_s is None else options.start_s + options.duration_s
        keep = (arrival >= options.start_s) & (arrival < end)
        if not keep.any():
            raise InputError(f"no request arrives in the window [{options.start_s:g}, {end:g}) s of the trace "
                             f"(its arrivals span 0-{arrival.max() if arrival.size else 0:g} s)", file=file,
                             field="trace.start_s")
        arrival = (arrival[keep] - options.start_s) / options.speedup
        prompt, output, lines = prompt[keep], output[keep], lines[keep]
        model = None if model is None else model[keep]
        notes.append(f"{file}: {int(keep.sum()):,} requests from {options.start_s:g} s"
                     + ("" if options.duration_s is None else f" for {options.duration_s:g} s")
                     + (f", replayed {options.speedup:g}x faster" if options.speedup != 1.0 else ""))
    if arrival.size == 0:
        raise InputError("the trace has no request with prompt and output tokens", file=file)
    return RequestTrace(file, arrival, prompt, output, model, lines, layout, tuple(notes))
