"""Click's usage errors as lwz errors: one line naming the problem, one usage line.

Click (vendored by Typer) would print its usage, a "Try ... for help" line and
an "Error:" line, and a bare `lwz write` its whole help; lwz says what is wrong
in one line and how the command is called in another, and exits 2.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from typing import Any

# Typer exports only the base class of these; they are the Click exceptions it
# vendors, and their fields (ctx, param, option_name, possibilities) are public.
from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
)
from typer._click.exceptions import UsageError as ClickUsageError

__all__ = ["ClickUsageError", "describe", "json_error", "usage_line"]
from typer.core import TyperArgument

from lwz_cli.events import ErrorEvent

# pydantic error types (what Typer validates values with) as plain words
_VALUE_PROBLEMS = {
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "int_parsing": "is not a whole number",
    "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "bool_parsing": "is not true or false",
    "path_type": "is not a path",
}


def usage_line(ctx: Any) -> str:
    """`usage: lwz write PROMPT [options]; lwz write --help for more`."""
    command = ctx.command
    if hasattr(command, "commands"):  # a group
        return f"usage: {ctx.command_path} COMMAND ...; {ctx.command_path} --help lists them"
    pieces = [
        piece for piece in command.collect_usage_pieces(ctx) if piece != command.options_metavar
    ]
    options = any(not isinstance(p, TyperArgument) for p in command.get_params(ctx))
    call = " ".join([ctx.command_path, *pieces] + (["[options]"] if options else []))
    return f"usage: {call}; {ctx.command_path} --help for more"


def _param_name(param: Any) -> str:
    if isinstance(param, TyperArgument):
        return param.metavar or (param.name or "").upper()
    return max(param.opts, key=len) if param.opts else str(param.name)


def _bad_value(exc: BadParameter) -> str:
    name = _param_name(exc.param) if exc.param is not None else "value"
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):  # a pydantic ValidationError: it knows the input and the kind
        first = (errors() or [{}])[0]
        problem = _VALUE_PROBLEMS.get(first.get("type", ""))
        if problem and "input" in first:
            return f"{name}: {first['input']!r} {problem}"
    message = exc.message.rstrip(".")
    return f"{name}: {message[:1].lower()}{message[1:]}"


def _suggestion(word: str, choices: list[str]) -> str:
    """` (did you mean --words?)` for a near miss; option names compare without their
    dashes, which would make every `--x` look close to every other."""
    bare = {choice.lstrip("-"): choice for choice in choices}
    close = difflib.get_close_matches(word.lstrip("-"), list(bare), n=1, cutoff=0.7)
    return f" (did you mean {bare[close[0]]}?)" if close else ""


def describe(exc: ClickUsageError) -> tuple[str | None, list[str]]:
    """(the error, the lines after it) for a Click usage error. A command run bare
    gets its usage line only; a group run bare, its short list of commands."""
    ctx = exc.ctx
    usage = [usage_line(ctx)] if ctx is not None else []
    if isinstance(exc, NoArgsIsHelpError):
        if ctx is not None and hasattr(ctx.command, "commands"):
            return None, [ctx.get_help()]  # a group: its list of commands is short
        return None, usage
    if isinstance(exc, MissingParameter):
        name = _param_name(exc.param) if exc.param is not None else "an argument"
        return f"missing {name}", usage
    if isinstance(exc, BadParameter):
        return _bad_value(exc), usage
    if isinstance(exc, NoSuchOption):
        hint = _suggestion(exc.option_name, list(exc.possibilities or []))
        return f"no such option {exc.option_name}{hint}", usage
    if isinstance(exc, BadOptionUsage) and "requires an argument" in exc.message:
        return f"{exc.option_name} needs a value", usage
    unknown = re.match(r"No such command '(.+?)'", exc.message)
    if unknown and ctx is not None:
        commands = list(getattr(ctx.command, "commands", {}))
        return (
            f"no such command {unknown.group(1)!r}{_suggestion(unknown.group(1), commands)}",
            usage,
        )
    message = exc.message.rstrip(".")
    return f"{message[:1].lower()}{message[1:]}", usage


# the commands whose --json is a stream of events ending in `error` on failure
# (docs/json.md); the others print one JSON document and report errors on stderr only
JSON_LINES_COMMANDS = (("write",), ("resume",), ("batch",), ("models", "pull"))


def json_error(args: list[str], message: str, exit_code: int) -> None:
    """The `error` event on stdout for an error found before the command ran (a bad
    option, a broken config file) when `args` run a JSON Lines command with --json,
    so a script reading the events sees why it got none."""
    options = args[: args.index("--")] if "--" in args else args
    if "--json" not in options:
        return
    words = tuple(arg for arg in options if not arg.startswith("-"))
    if not any(words[: len(command)] == command for command in JSON_LINES_COMMANDS):
        return
    event = ErrorEvent(message, exit_code).to_json()
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()
