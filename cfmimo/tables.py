"""Markdown tables for the notebooks: one builder, so that every table escapes and
checks its cells the same way."""

from __future__ import annotations

__all__ = ["markdown_table"]


def _cell(value) -> str:
    # a "|" inside a cell would end it; a newline would end the row
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header, rows) -> str:
    """A Markdown (GitHub/MyST) table.

    Parameters
    ----------
    header : sequence of str
        The column titles.
    rows : iterable of sequences
        One sequence of cells per row, as many as ``header``; each cell is shown as
        ``str(cell)`` (format numbers before), with ``|`` escaped.

    Returns
    -------
    str
        The header line, the ``|---|`` separator and one line per row, joined by newlines.

    Raises
    ------
    ValueError
        An empty header, or a row whose length differs from the header's.
    """
    header = [_cell(h) for h in header]
    if not header:
        raise ValueError("header must name at least one column")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, row in enumerate(rows):
        row = list(row)
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells; the header has {len(header)}")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)
