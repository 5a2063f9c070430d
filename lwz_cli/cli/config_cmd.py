"""`lwz config path|show|get|set|unset`."""

from __future__ import annotations

import difflib
import json
import sys

import typer

from lwz_cli.cli.help import LwzTyper
from lwz_cli.config import SETTINGS, config_path, convert, effective, env_name, load_file, save_file
from lwz_cli.errors import UsageError

config_app = LwzTyper(help="Show and change your defaults (config.yaml).", no_args_is_help=True)


def _key(key: str):
    if key not in SETTINGS:
        close = difflib.get_close_matches(key, SETTINGS, n=1)
        raise UsageError(
            f"unknown setting {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
            hint="`lwz config show` lists them",
        )
    return SETTINGS[key]


@config_app.command("path")
def path() -> None:
    """Print where config.yaml is (it may not exist yet)."""
    sys.stdout.write(f"{config_path()}\n")


@config_app.command("show")
def show(json_mode: bool = typer.Option(False, "--json", help="JSON on stdout.")) -> None:
    """Every setting, its value, and where it came from (env, file or default)."""
    rows = effective()
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
def get(key: str = typer.Argument(..., metavar="KEY")) -> None:
    """Print one setting's effective value."""
    _key(key)
    row = next(r for r in effective() if r["key"] == key)
    sys.stdout.write("" if row["value"] is None else f"{row['value']}\n")


@config_app.command("set")
def set_(
    key: str = typer.Argument(..., metavar="KEY"), value: str = typer.Argument(..., metavar="VALUE")
) -> None:
    """Set a default in config.yaml (validated first)."""
    setting = _key(key)
    values = load_file()
    values[key] = convert(setting, value, f"lwz config set {key}")
    save_file(values)
    sys.stderr.write(f"lwz: {key} = {values[key]}\n")


@config_app.command("unset")
def unset(key: str = typer.Argument(..., metavar="KEY")) -> None:
    """Remove a default from config.yaml."""
    _key(key)
    values = load_file()
    if values.pop(key, None) is None:
        sys.stderr.write(f"lwz: {key} was not set in the file\n")
        return
    save_file(values)
    sys.stderr.write(f"lwz: {key} unset\n")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
