"""One repo's folder in the Hugging Face cache: the only place a pull writes.

The rule for symlinks: HF_HUB_CACHE (or HF_HOME, or any folder above them) may be a
symlink, say to a bigger disk; it is resolved once. Below it, every path a pull
creates, replaces or deletes must stay inside `models--OWNER--NAME` once symlinks
are followed. A `models--*`, `blobs`, `snapshots`, `snapshots/<commit>` or `refs`
folder (or a file in one) that is a symlink leading out of it is refused in one
line before anything is written. Files are opened without following a symlink,
and snapshot links and `refs/main` are replaced by rename, never written through.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

from lwz_cli.errors import RuntimeFailure
from lwz_cli.models.registry import hf_cache_dir


def repo_folder_name(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


class RepoCache:
    """`models--OWNER--NAME` under the resolved cache root, and checked paths in it."""

    def __init__(self, repo_id: str) -> None:
        self.repo_id = repo_id
        self.folder = Path(os.path.realpath(hf_cache_dir())) / repo_folder_name(repo_id)

    def blob(self, name: str) -> Path:
        return self.checked(self.folder / "blobs" / name)

    def partial(self, name: str) -> Path:
        return self.checked(self.folder / "blobs" / (name + ".incomplete"))

    def snapshot(self, commit: str, filename: str) -> Path:
        return self.checked(self.folder / "snapshots" / commit / filename)

    def checked(self, path: Path) -> Path:
        """`path`, if it and each folder above it up to the repo folder stay inside
        the repo folder once symlinks are followed; else one line naming the link."""
        try:
            parts = path.relative_to(self.folder).parts
        except ValueError:
            parts = ("..",)
        if ".." in parts:  # names are checked before they get here: a bug, not input
            raise RuntimeFailure(f"{path} is outside {self.folder}; lwz writes only inside it")
        current = self.folder
        for part in ("", *parts):
            current = current / part if part else current
            if os.path.islink(current):
                target = os.path.realpath(current)
                if not self._inside(target):
                    raise RuntimeFailure(
                        f"{current} is a symlink to {target}, outside {self.folder}; "
                        "lwz writes only inside a model's own cache folder",
                        hint="remove the link; to keep models on another disk, point "
                        "HF_HUB_CACHE or HF_HOME there (that folder may be a symlink)",
                    )
            elif not os.path.lexists(current):
                break  # nothing below it exists yet: creating it stays inside
        return path

    def _inside(self, real: str) -> bool:
        folder = str(self.folder)
        return real == folder or real.startswith(folder + os.sep)

    def make_folder(self, path: Path | None = None) -> Path:
        """Create `path` (default: the repo folder) and the folders above it, inside."""
        path = self.checked(path or self.folder)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot create {path}: {exc.strerror or exc}",
                hint="fix that folder or point HF_HUB_CACHE elsewhere, then run the command again",
            ) from None
        return self.checked(path)

    def open_partial(self, path: Path, *, append: bool) -> BinaryIO:
        """`path` for writing, never through a symlink (O_NOFOLLOW)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
        fd = os.open(self.checked(path), flags, 0o666)
        return os.fdopen(fd, "ab" if append else "wb")

    def link(self, snapshot: Path, blob: Path) -> None:
        """Point `snapshot` at `blob` (relative, as huggingface_hub does), replacing
        whatever link was there by rename: a new link, never a write through one."""
        self.make_folder(snapshot.parent)
        self.checked(snapshot)
        temporary = snapshot.with_name(f".{snapshot.name}.{os.getpid()}.lwz-link")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(os.path.relpath(blob, snapshot.parent), temporary)
        try:
            os.replace(temporary, snapshot)
        except OSError as exc:  # a folder sits where the file goes
            temporary.unlink()
            raise RuntimeFailure(
                f"cannot place {snapshot}: {exc.strerror or exc}",
                hint="remove what is there, then run the command again",
            ) from None

    def write_ref(self, commit: str, ref: str = "main") -> None:
        """`refs/<ref>` = commit, written to a new file and renamed over the old one."""
        target = self.checked(self.make_folder(self.folder / "refs") / ref)
        temporary = target.with_name(f".{ref}.{os.getpid()}.lwz-ref")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "w") as out:
            out.write(commit)
        os.replace(temporary, target)
