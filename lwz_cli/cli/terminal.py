"""What the write-like commands (write, plan) share about the terminal they run on:
whether they may ask, how they ask to replace a file, and the `error` event they
print under --json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from lwz_cli.errors import LwzError


def ask_replace(path: Path) -> bool:
    return typer.confirm(f"lwz: {path} exists. Replace it?", default=False, err=True)


def interactive(json_mode: bool) -> bool:
    """A person at a terminal who can answer: never under --json or with a pipe."""
    return not json_mode and sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()


def error_json(exc: LwzError) -> str:
    from lwz_cli.events import ErrorEvent  # lazy: lwz --help start-up

    return json.dumps(ErrorEvent(str(exc), exc.exit_code).to_json(), ensure_ascii=False) + "\n"
