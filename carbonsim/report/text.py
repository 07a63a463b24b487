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
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    align = align or "l" + "r" * (len(header) - 1)

    def line(r):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


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
