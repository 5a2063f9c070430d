"""How `lwz ... --help` reads: Click's plain formatter, classic usage lines.

Typer's rich help boxes squeeze descriptions to a few characters at 80 columns
and cut long option names; Click's plain formatter wraps the description under
its option instead. Typer also writes a required argument as `{PROMPT}` and its
type as `<str>`; here arguments read `PROMPT` (required) and `[MODEL]` (optional).
Every `typer.Typer` of the CLI is an `LwzTyper`, so each command gets this.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup


def _argument_name(param: TyperArgument) -> str:
    """`PROMPT`, `[MODEL]`, `PATH...`: a metavar that already brackets itself is kept."""
    name = param.metavar or (param.name or "").upper()
    if not param.required and not name.startswith("["):
        name = f"[{name}]"
    if param.nargs != 1 and not name.rstrip("]").endswith("..."):
        name += "..."
    return name


def _usage_pieces(command: TyperCommand, ctx: Any) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            pieces.append(_argument_name(param))
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


def _help_records(command: TyperCommand, ctx: Any) -> tuple[list, list]:
    """(arguments, options) as (name, description) pairs, arguments without `<str>`."""
    arguments, options = [], []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if isinstance(param, TyperArgument):
            help_text = record[1].replace("[required]", "").rstrip()
            arguments.append((_argument_name(param).strip("[]"), help_text))
        else:
            options.append(record)
    return arguments, options


def _format_options(command: TyperCommand, ctx: Any, formatter: Any) -> None:
    arguments, options = _help_records(command, ctx)
    for title, records in (("Arguments", arguments), ("Options", options)):
        if records:
            with formatter.section(title):
                formatter.write_dl(records)


class LwzCommand(TyperCommand):
    """A command whose help and usage line read as described in this module."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_options(self, ctx, formatter)


class LwzGroup(TyperGroup):
    """A command group (`lwz`, `lwz models`, ...) with the plain formatter."""


class LwzTyper(typer.Typer):
    """`typer.Typer` with plain help and `LwzCommand` as every command's class."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", LwzGroup)
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", LwzCommand)
        return super().command(name, **kwargs)
