"""Request traces from CSV files (layer 2), for online serving (``workload.arrival: trace``).

Columns: ``arrival_s`` (seconds from the start of the run, >= 0), ``prompt_tokens`` and
``output_tokens`` (whole numbers >= 1); with two models on a server also ``model`` (the model's
id, or 0 / 1 for the first / second). Other columns are ignored; ``#`` lines and blank lines
are skipped. Rows need not be sorted: requests are ordered by arrival (ties keep file order).
The table is read by :func:`carbonsim.engine.readers.table.read_table`, so an empty file, a
missing column or a bad cell is an error naming the file, the line and the column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from carbonsim.engine.readers.table import parse_number, read_table
from carbonsim.errors import InputError

REQUIRED_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")
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


def read_request_trace(path) -> RequestTrace:
    """Read and validate a request-trace CSV (see the module docstring).

    Raises
    ------
    InputError
        Naming the file and, for a bad cell, the line and column.
    """
    table = read_table(path, REQUIRED_COLUMNS, kind="requests", what="request trace")
    file = table.file
    n = len(table.records)
    arrival = np.empty(n)
    prompt = np.empty(n, np.int64)
    output = np.empty(n, np.int64)
    lines = np.empty(n, np.int64)
    models = [] if table.has("model") else None
    for i, rec in enumerate(table.records):
        c = rec.cells
        arrival[i] = parse_number(c["arrival_s"], file, rec.line, "arrival_s", required=True)
        for col, arr in (("prompt_tokens", prompt), ("output_tokens", output)):
            arr[i] = parse_number(c[col], file, rec.line, col, required=True, minimum=1, integer=True,
                                  maximum=MAX_TOKENS)
        lines[i] = rec.line
        if models is not None:
            m = c["model"].strip()
            if not m:
                raise InputError(f"line {rec.line}: empty model", file=file, field="model")
            models.append(m)
    order = np.argsort(arrival, kind="stable")
    return RequestTrace(file, arrival[order], prompt[order], output[order],
                        None if models is None else np.asarray(models, dtype=object)[order], lines[order])
