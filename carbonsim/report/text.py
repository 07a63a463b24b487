"""Plain-text tables for terminals."""

from __future__ import annotations


def fmt_num(x, digits: int = 2) -> str:
    """A number with ``digits`` decimals and thousands separators; '-' for None."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    return f"{x:,.{digits}f}"


def table(rows: list[list], header: list[str], align: str | None = None) -> str:
    """Render rows as an aligned text table. ``align``: one of 'l'/'r' per column."""
    columns = [[str(r[i]) for r in rows] for i in range(len(header))]
    return "\n".join(table_lines(columns, header, align))


def table_lines(columns: list[list[str]], header: list[str], align: str | None = None):
    """The lines of :func:`table` from its cells column by column (text), one at a time (a
    table of many rows is never held as lines)."""
    header = [str(c) for c in header]
    widths = [max([len(h)] + list(map(len, col))) for h, col in zip(header, columns)]
    align = align or "l" + "r" * (len(header) - 1)

    def line(r):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)).rstrip()

    yield line(header)
    yield "  ".join("-" * w for w in widths)
    for r in zip(*columns):
        yield line(r)


def csv_text(header, rows) -> str:
    """Rows as CSV text with a header line."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def json_text(doc) -> str:
    """One JSON document; a number that is not finite is a bug, never written as Infinity/NaN."""
    import json

    return json.dumps(doc, indent=2, allow_nan=False, default=str)
