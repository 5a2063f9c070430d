"""`lwz sources PATH... [--query Q]`: what the index of these sources holds, and what a
query retrieves from it (the passages `--source` would hand a section)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lwz_cli.cli import terminal
from lwz_cli.errors import LwzError, UsageError
from lwz_cli.view.table import Cell, CellValue, Column, print_table

if TYPE_CHECKING:
    from lwz_cli.sources.passage import Passage

PREVIEW_CHARS = 300  # of a retrieved passage, on a terminal or a pipe (--json has it all)


def sources(
    specs: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH...",
            help="Source files, folders (searched recursively) or globs: Markdown, text, "
            "HTML, PDF, DOCX (PDF and DOCX need pip install 'lwz-cli[sources]').",
        ),
    ],
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", metavar="Q", help="Show the passages this query retrieves."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="How many passages --query shows.")
    ] = 10,
    json_mode: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Index source files (incrementally) and show what is indexed or what a query retrieves."""
    try:
        _run(specs, query, limit, json_mode)
    except LwzError as exc:
        if json_mode:
            sys.stdout.write(terminal.error_json(exc))
            sys.stdout.flush()
        raise


def _run(specs: list[str], query: str | None, limit: int, json_mode: bool) -> None:
    from lwz_cli.sources.index import SourceIndex  # lazy: lwz --help start-up

    if limit < 1:
        raise UsageError(f"--limit {limit}: must be 1 or more")
    if query is not None and not query.strip():
        raise UsageError("--query is empty", hint="give the words to search for")

    def warn(message: str) -> None:
        # under --json each skipped file is in `sources` with its reason, and the
        # listing shows them too: a warning line only above a query's results
        if not json_mode and query is not None:
            sys.stderr.write(f"lwz: warning: {message}\n")

    with SourceIndex.open(specs, warn=warn) as index:
        found = index.search(query, limit) if query is not None else None
        if json_mode:
            report: dict[str, Any] = {
                "key": index.key,
                "index": str(index.location),
                "files": index.files,
                "passages": index.passages,
                "read": index.reread,
                "seconds": round(index.seconds, 3),
                "sources": [
                    {"path": e.path, "passages": e.passages, "skipped": e.skipped}
                    for e in index.entries
                ],
            }
            if found is not None:
                report["query"] = query
                report["results"] = [passage.to_json() for passage in found]
            sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
            return
        skipped = sum(1 for entry in index.entries if entry.skipped)
        if found is None:
            rows: list[list[CellValue]] = [
                [
                    entry.path,
                    str(entry.passages) if entry.skipped is None else "-",
                    Cell(f"skipped: {entry.skipped}", "yellow") if entry.skipped else "",
                ]
                for entry in index.entries
            ]
            print_table(
                (Column("file"), Column("passages", right=True), Column("", wrap=True)), rows
            )
        else:
            _print_results(found)
        sys.stderr.write(
            f"lwz: {_count(index.files, 'file')} indexed"
            + (f", {skipped:,} skipped" if skipped else "")
            + f"; {_count(index.passages, 'passage')}; {_count(index.reread, 'file')} read anew"
            + f" in {index.seconds:.2f} s; index at {index.location}\n"
        )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _print_results(found: list[Passage]) -> None:
    if not found:
        sys.stderr.write("lwz: no passage matches the query\n")
        return
    for number, passage in enumerate(found, start=1):
        where = passage.locator()
        text = passage.text
        if len(text) > PREVIEW_CHARS:
            text = text[:PREVIEW_CHARS].rstrip() + "…"
        sys.stdout.write(f"[{number}] {passage.path}{', ' + where if where else ''}\n    {text}\n")


def register(app: typer.Typer) -> None:
    app.command("sources", no_args_is_help=True)(sources)
