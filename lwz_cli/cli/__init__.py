"""The `lwz` command: a thin Typer layer over the library.

Each command module parses arguments, calls the library and renders; errors
become one line on stderr and an exit code (2 usage, 1 runtime, 130 interrupted).
"""

from __future__ import annotations

import os
import sys

import typer
from typer.exceptions import TyperException

from lwz_cli import __version__
from lwz_cli.cli.help import LwzTyper
from lwz_cli.cli.usage_errors import ClickUsageError, describe, json_error
from lwz_cli.config import default_map
from lwz_cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, Interrupted, LwzError

app = LwzTyper(
    name="lwz",
    help="Write long, well-structured Markdown documents with LongWriter-Zero on your own machine.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lwz {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Write long, well-structured Markdown documents with LongWriter-Zero on your own machine."""


from lwz_cli.cli import batch as _batch  # noqa: E402  (each module registers its commands)
from lwz_cli.cli import chat as _chat  # noqa: E402
from lwz_cli.cli import config_cmd as _config  # noqa: E402
from lwz_cli.cli import doctor as _doctor  # noqa: E402
from lwz_cli.cli import export as _export  # noqa: E402
from lwz_cli.cli import models as _models  # noqa: E402
from lwz_cli.cli import plan as _plan  # noqa: E402
from lwz_cli.cli import resume as _resume  # noqa: E402
from lwz_cli.cli import runs as _runs  # noqa: E402
from lwz_cli.cli import sources as _sources  # noqa: E402
from lwz_cli.cli import write as _write  # noqa: E402

for _module in (
    _write,
    _plan,
    _resume,
    _export,
    _chat,
    _batch,
    _runs,
    _sources,
    _models,
    _config,
    _doctor,
):
    _module.register(app)


def error_line(message: str) -> None:
    sys.stderr.write(f"lwz: error: {message}\n")
    sys.stderr.flush()


def _defaults(argv: list[str] | None) -> dict:
    """config.yaml as Click defaults. A broken file stops every command except the
    ones that help fix it."""
    args = sys.argv[1:] if argv is None else argv
    try:
        return default_map()
    except LwzError:
        if args[:1] in (["config"], ["doctor"]) or "--help" in args or "-h" in args:
            return {}
        raise


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        try:
            defaults = _defaults(argv)
        except LwzError as exc:  # before any command ran: none printed an error event
            json_error(args, str(exc), exc.exit_code)
            raise
        result = app(args=argv, prog_name="lwz", standalone_mode=False, default_map=defaults)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        error_line("interrupted")
        code = EXIT_INTERRUPTED
    except ClickUsageError as exc:  # bad option or value, missing argument: one line
        error, after = describe(exc)
        if error is not None:
            json_error(args, error, EXIT_USAGE)
            error_line(error)
        sys.stderr.write("".join(f"{line}\n" for line in after))
        code = EXIT_USAGE
    except TyperException as exc:  # Click's other errors (none lwz triggers): its own words
        exc.show()  # type: ignore[attr-defined]
        code = getattr(exc, "exit_code", EXIT_USAGE)
    except Interrupted as exc:
        sys.stderr.write(f"lwz: {exc}\n")
        code = exc.exit_code
    except LwzError as exc:
        error_line(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        error_line("interrupted")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = EXIT_RUNTIME
    except Exception as exc:  # a bug: one line, and the traceback only when asked for
        if os.environ.get("LWZ_DEBUG"):
            raise
        error_line(
            f"internal error: {type(exc).__name__}: {exc}; rerun with LWZ_DEBUG=1 for "
            "the traceback and please report it"
        )
        code = EXIT_RUNTIME
    sys.exit(code)
