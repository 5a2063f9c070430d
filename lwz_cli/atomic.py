"""Atomic file writes: temp file in the same directory, fsync, rename, fsync dir.

A reader (or a crash) sees either the old file or the new one, never a torn one.
The temp file is private (mkstemp's 0600): right for the journal, whose files
stay 0600. Documents go through `atomic_write_document`, which gives them the
mode an editor would: an existing file keeps its mode, a new one gets
0666 & ~umask.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems cannot open directories; nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (a
    set-and-restore would briefly give other threads' new files umask 0)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def document_mode(path: Path) -> int:
    """The permission bits a document at `path` should get: those of the file it
    replaces, else what `open(path, "w")` would give a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def atomic_write_bytes(
    path: Path | str,
    data: bytes,
    before_rename: Callable[[], None] | None = None,
    *,
    mode: int | None = None,
) -> None:
    """Write `data` to `path` atomically; the file gets `mode`, or stays private
    (0600) when it is None."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:  # closes fd on every path
            if mode is not None:
                os.fchmod(fd, mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_document(path: Path | str, text: str) -> None:
    """A user's document (PATH, PATH.partial, a /save copy, a batch output):
    written atomically with the mode an editor would give it (`document_mode`)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=document_mode(Path(path)))
