"""`lwz export SOURCE -o PATH`: a Markdown document already written, converted by PATH's suffix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lwz_cli.errors import UsageError
from lwz_cli.export import FORMATS, read_markdown, require
from lwz_cli.output import DocumentOutput, check_replace

SUFFIXES = ", ".join(dict.fromkeys(FORMATS))


def export(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SOURCE",
            help="The Markdown document to convert (e.g. what `lwz write -o guide.md` wrote).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help=f"Write the converted document here; its suffix picks the format ({SUFFIXES}). "
            "DOCX, ODT, EPUB and PDF need pandoc (pip install 'lwz-cli[export]'); PDF also a PDF engine.",
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace PATH if it exists (default: refuse).")
    ] = False,
) -> None:
    """Convert a Markdown document to DOCX, ODT, EPUB, PDF or HTML."""
    if require(output) is None:  # the converter first: nothing is read or written without it
        raise UsageError(
            f"-o {output}: '{output.suffix or output.name}' is not an export format",
            hint=f"use one of {SUFFIXES}",
        )
    if output.resolve() == source.resolve():
        raise UsageError(f"-o {output} is SOURCE itself", hint="-o another path")
    text = read_markdown(source)  # a missing SOURCE is the first thing to hear about
    check_replace(output, force=force, ask=None)
    DocumentOutput(output).write(text)  # converted by suffix, atomically
    sys.stderr.write(f"lwz: wrote {output}\n")


def register(app: typer.Typer) -> None:
    app.command("export", no_args_is_help=True)(export)
