"""Tables people copy from: piped, one row per line however long; on a terminal, the
columns that hold ids, paths and commands are never cut (the others wrap)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

_UNBOUNDED = 1_000_000


def print_table(table: Table, *, stderr: bool = False) -> None:
    """Print `table` on stdout (or stderr); make its uncuttable columns `no_wrap`."""
    stream = sys.stderr if stderr else sys.stdout
    console = Console(stderr=stderr)
    if not stream.isatty():
        console = Console(stderr=stderr, width=_UNBOUNDED)
    else:
        unbounded = console.options.update_width(_UNBOUNDED)
        for column in table.columns:  # Rich would shrink a no_wrap column to its longest word
            if column.no_wrap:
                cells = [column.header, *column.cells]
                column.min_width = max(console.measure(c, options=unbounded).maximum for c in cells)
        needed = console.measure(table, options=unbounded).minimum
        if needed > console.width:  # the terminal folds the long rows, whole
            console = Console(stderr=stderr, width=needed)
    console.print(table)
