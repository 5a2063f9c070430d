"""`lwz config path|show|get|set|unset`."""

from __future__ import annotations

import difflib
import json
import sys

import typer

from lwz_cli.cli import complete
from lwz_cli.cli.help import LwzTyper
from lwz_cli.config import (
    SETTINGS,
    Setting,
    config_path,
    convert,
    effective,
    env_name,
    read_file,
    save_file,
)
from lwz_cli.errors import UsageError

config_app = LwzTyper(help="Show and change your defaults (config.yaml).", no_args_is_help=True)


def _key(key: str) -> Setting:
    if key not in SETTINGS:
        close = difflib.get_close_matches(key, SETTINGS, n=1)
        raise UsageError(
            f"unknown setting {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint="`lwz config show` lists them",
        )
    return SETTINGS[key]


def _warn_problems() -> dict:
    """The file's valid settings; each bad entry is a warning line (the rest still show)."""
    found = read_file()
    for problem in found.problems:
        sys.stderr.write(f"lwz: warning: {problem}\n")
    return found.values


@config_app.command("path")
def path() -> None:
    """Print where config.yaml is (it may not exist yet)."""
    sys.stdout.write(f"{config_path()}\n")


@config_app.command("show")
def show(json_mode: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Every setting, its value, and where it came from (env, file or default)."""
    rows = effective(_warn_problems())
    for row in rows:  # a secret is shown as set or not, never printed
        if row["key"] == "api_key" and row["value"] is not None:
            row["value"] = "(set, hidden)"
    if json_mode:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    for row in rows:
        value = "(unset)" if row["value"] is None else row["value"]
        sys.stdout.write(
            f"{row['key']:<16} {value!s:<22} {row['source']}  [{env_name(row['key'])}]\n"
        )


@config_app.command("get")
def get(key: str = typer.Argument(..., metavar="KEY", autocompletion=complete.config_keys)) -> None:
    """Print one setting's effective value."""
    _key(key)
    row = next(r for r in effective(_warn_problems()) if r["key"] == key)
    sys.stdout.write("" if row["value"] is None else f"{row['value']}\n")


# VALUE may start with a dash (`gpu_layers -1`, `words -5`): it reaches the validator
# instead of being read as an option
@config_app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    key: str = typer.Argument(..., metavar="KEY", autocompletion=complete.config_keys),
    value: str = typer.Argument(..., metavar="VALUE", autocompletion=complete.config_values),
) -> None:
    """Set a default in config.yaml (validated first)."""
    setting = _key(key)
    converted = convert(setting, value, f"lwz config set {key}")
    if key == "model" and converted:
        from lwz_cli.models.names import check_model_name  # lazy: lwz --help start-up

        check_model_name(converted)
    entries = read_file().entries  # other entries stay as they are, bad ones too
    entries[key] = converted
    save_file(entries)
    sys.stderr.write(f"lwz: {key} = {converted}\n")


@config_app.command("unset")
def unset(
    key: str = typer.Argument(..., metavar="KEY", autocompletion=complete.config_keys),
) -> None:
    """Remove a default (or a key lwz does not know) from config.yaml."""
    entries = read_file().entries
    if key not in entries:
        _key(key)  # a typo of a setting gets its did-you-mean
        sys.stderr.write(f"lwz: {key} was not set in the file\n")
        return
    del entries[key]
    save_file(entries)
    sys.stderr.write(f"lwz: {key} unset\n")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
