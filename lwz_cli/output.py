"""The document file `PATH` and its `PATH.partial` mirror: the one place that writes them.

While a document is written, `PATH.partial` holds its finished sections, rewritten
atomically at each checkpoint (never ahead of the journal). On completion `PATH`
is written atomically and `PATH.partial` removed: `PATH` existing means complete.

A `PATH` that exists and is not a regular file (a FIFO, a device, `/dev/stdout`) is a
stream: the document is written through it once, at the end, and nothing is renamed
over it or created beside it (the journal still holds every finished section).

A `PATH` that is a symlink is written through: the document replaces the file the
link points at (atomically, by a rename in the target's folder), the target keeps
its mode, `PATH.partial` sits beside the target, and the link stays a link. The
user named the link to reach the file behind it, as `>` in a shell or an editor
would; replacing the link with a file would silently split the two. `lwz write`
and `lwz resume` both go through here, so both follow this one rule.

A `PATH` whose suffix names an export format (`.docx`, `.odt`, `.epub`, `.pdf`,
`.html`: `lwz_cli.export`) gets the finished Markdown converted to that format, once,
atomically; `PATH.partial` still holds Markdown (`guide.docx.partial` is the Markdown
so far), as does the journal: Markdown stays the truth until the very end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lwz_cli.atomic import atomic_write_document
from lwz_cli.errors import LwzError, RuntimeFailure, UsageError
from lwz_cli.export import convert, format_for, write_converted


def written_path(path: Path) -> Path:
    """The file a document for `-o path` lands in: a symlink's target (a dangling
    link's too: it is created), else `path` itself."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath gives up on a loop and returns a link
        raise UsageError(f"-o {path} is a symlink loop", hint="point the link at a file")
    return target


def check_replace(path: Path | None, *, force: bool, ask: Callable[[Path], bool] | None) -> None:
    """A finished document is never replaced silently: `force` replaces it, `ask`
    (on a terminal) asks, and otherwise the run is refused before anything loads."""
    if path is None or force or not path.is_file():
        return
    if ask is None:
        target = written_path(path)
        link = f" (a link to {target})" if target != path else ""
        raise UsageError(
            f"{path} already exists{link}", hint="pass --force to replace it, or -o another path"
        )
    if not ask(path):
        raise UsageError(f"kept {path}", hint="pass --force to replace it, or -o another path")


class DocumentOutput:
    def __init__(self, path: Path):
        self.path = path  # as the user named it: what messages show
        # a FIFO or device stays one: decided when this is made, from what PATH is
        self.is_stream = path.exists() and not path.is_file() and not path.is_dir()
        # where the file is written (a stream is opened by its name: /dev/stdout's
        # target is a /proc link that only makes sense to this process)
        self.target = path if self.is_stream else written_path(path)

    @property
    def partial(self) -> Path:
        return self.target.with_name(self.target.name + ".partial")

    def write_partial(self, text: str) -> None:
        """The finished sections so far (the caller has checkpointed them)."""
        if not self.is_stream:
            atomic_write_document(self.partial, text)

    def write(self, text: str) -> None:
        """`PATH` only, leaving any `PATH.partial` alone: a copy saved elsewhere."""
        self._write(text)

    def finish(self, text: str) -> None:
        """The complete document: `PATH` first, then `PATH.partial` goes. A conversion
        that fails leaves the whole Markdown in `PATH.partial` (and `PATH` untouched)."""
        try:
            self._write(text)
        except LwzError as exc:
            if format_for(self.path) is None or self.is_stream:
                raise
            atomic_write_document(self.partial, text)
            raise RuntimeFailure(
                exc.message,
                hint=f"the whole Markdown is in {self.partial}; "
                f"`lwz export {self.partial} -o {self.path}` converts it",
            ) from None
        self.discard()

    def discard(self) -> None:
        """Drop `PATH.partial` (a run started again, or finished)."""
        if not self.is_stream:
            self.partial.unlink(missing_ok=True)

    def _write(self, text: str) -> None:
        fmt = format_for(self.path)  # the suffix the user named (a link's target may differ)
        if fmt is not None:
            if self.is_stream:
                with open(self.path, "wb") as stream:
                    stream.write(convert(text, fmt))
            else:
                write_converted(self.target, text, fmt)
            return
        if self.is_stream:  # written through: a rename would replace the FIFO or device
            with open(self.path, "w", encoding="utf-8") as stream:
                stream.write(text)
        else:
            atomic_write_document(self.target, text)
