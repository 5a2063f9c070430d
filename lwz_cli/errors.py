"""Errors a user sees as one line, each with the exit code it maps to."""

from __future__ import annotations

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class LwzError(Exception):
    """An error with a one-line, actionable message; never shown as a traceback."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(LwzError):
    """Bad input: a flag, a prompt, a path or a model the user named."""

    exit_code = EXIT_USAGE


class RuntimeFailure(LwzError):
    """Something failed while running: the engine, the disk, the network."""

    exit_code = EXIT_RUNTIME


class Interrupted(LwzError):
    """The user stopped the run (Ctrl-C, SIGTERM, or SIGHUP when the terminal closed)."""

    exit_code = EXIT_INTERRUPTED
