"""Listings (`lwz runs`, `lwz models list`, the batch dry run) as tables that copy whole.

Piped, a table is plain text: one row per line, columns aligned with spaces,
nothing wrapped or cut, no colour, so `| grep` and `| cut` work. On a terminal it
is a rich table in which no cell is wrapped or cut except in the columns marked
`wrap` (prose, such as a reason): those shrink first, and when even that is not
enough the table is printed wider than the terminal (which then wraps the line
itself, so a copied path or command stays one piece).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TextIO

GAP = 2  # spaces between columns


@dataclass(frozen=True)
class Column:
    header: str
    right: bool = False  # right-aligned (numbers)
    wrap: bool = False  # prose that may wrap on a terminal; paths and commands never do


@dataclass(frozen=True)
class Cell:
    """A cell with a rich style, shown only on a terminal."""

    text: str
    style: str


CellValue = str | Cell


def _text(cell: CellValue) -> str:
    return cell.text if isinstance(cell, Cell) else cell


def plain_lines(
    columns: Sequence[Column], rows: Sequence[Sequence[CellValue]], *, title: str | None = None
) -> list[str]:
    """The table as aligned lines; the last column is not padded."""
    texts = [[column.header for column in columns]] + [[_text(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in texts) for i in range(len(columns))]
    lines = [title] if title else []
    for row in texts:
        cells = []
        for i, (column, text) in enumerate(zip(columns, row, strict=True)):
            last = i == len(columns) - 1
            if column.right:
                cells.append(text.rjust(widths[i]))
            else:
                cells.append(text if last else text.ljust(widths[i]))
        lines.append((" " * GAP).join(cells).rstrip())
    return lines


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[CellValue]],
    *,
    title: str | None = None,
    file: TextIO | None = None,
) -> None:
    """Print a table to `file` (stdout): plain when piped, rich on a terminal."""
    out = file or sys.stdout
    if not out.isatty():
        out.write("".join(f"{line}\n" for line in plain_lines(columns, rows, title=title)))
        return
    from rich.console import Console  # lazy: only a terminal needs rich
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, highlight=False)
    table = Table(box=None, pad_edge=False, padding=(0, GAP, 0, 0), title=title)
    table.title_justify = "left"
    need = 0
    for i, column in enumerate(columns):
        longest = max([len(column.header)] + [len(_text(row[i])) for row in rows])
        justify: Literal["left", "right"] = "right" if column.right else "left"
        if column.wrap:
            table.add_column(column.header, justify=justify)
            need += min(longest, 20) + GAP  # what a shrunk column keeps
        else:
            table.add_column(
                column.header, justify=justify, no_wrap=True, min_width=longest, overflow="fold"
            )
            need += longest + GAP
    for row in rows:
        # Text, not markup: a path may hold "[...]"
        table.add_row(*(Text(c.text, c.style) if isinstance(c, Cell) else Text(c) for c in row))
    console.width = max(console.width, need)
    console.print(table, soft_wrap=False)
