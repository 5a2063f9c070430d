"""The document file `PATH` and its `PATH.partial` mirror: the one place that writes them.

While a document is written, `PATH.partial` holds its finished sections, rewritten
atomically at each checkpoint (never ahead of the journal). On completion `PATH`
is written atomically and `PATH.partial` removed: `PATH` existing means complete.

A `PATH` that exists and is not a regular file (a FIFO, a device, `/dev/stdout`) is a
stream: the document is written through it once, at the end, and nothing is renamed
over it or created beside it (the journal still holds every finished section).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lwz_cli.atomic import atomic_write_document
from lwz_cli.errors import UsageError


def check_replace(path: Path | None, *, force: bool, ask: Callable[[Path], bool] | None) -> None:
    """A finished document is never replaced silently: `force` replaces it, `ask`
    (on a terminal) asks, and otherwise the run is refused before anything loads."""
    if path is None or force or not path.is_file():
        return
    if ask is None:
        raise UsageError(
            f"{path} already exists", hint="pass --force to replace it, or -o another path"
        )
    if not ask(path):
        raise UsageError(f"kept {path}", hint="pass --force to replace it, or -o another path")


class DocumentOutput:
    def __init__(self, path: Path):
        self.path = path
        # a FIFO or device stays one: decided when this is made, from what PATH is
        self.is_stream = path.exists() and not path.is_file() and not path.is_dir()

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def write_partial(self, text: str) -> None:
        """The finished sections so far (the caller has checkpointed them)."""
        if not self.is_stream:
            atomic_write_document(self.partial, text)

    def write(self, text: str) -> None:
        """`PATH` only, leaving any `PATH.partial` alone: a copy saved elsewhere."""
        self._write(text)

    def finish(self, text: str) -> None:
        """The complete document: `PATH` first, then `PATH.partial` goes."""
        self._write(text)
        self.discard()

    def discard(self) -> None:
        """Drop `PATH.partial` (a run started again, or finished)."""
        if not self.is_stream:
            self.partial.unlink(missing_ok=True)

    def _write(self, text: str) -> None:
        if self.is_stream:  # written through: a rename would replace the FIFO or device
            with open(self.path, "w", encoding="utf-8") as stream:
                stream.write(text)
        else:
            atomic_write_document(self.path, text)
