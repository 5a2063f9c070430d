"""Source specs (files, folders, globs) resolved to the files they name.

A folder is searched recursively for files of the known suffixes, leaving out hidden
files and folders (`.git`); a glob may match files of any suffix, as may a file named
outright. Each file keeps the name it is shown by: relative to the base folder when
it lies under it, else absolute.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lwz_cli.errors import UsageError
from lwz_cli.sources.readers import FORMATS, known

_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: Path  # absolute and resolved: what the index stores
    shown: str  # what the user sees and what a passage's `path` says


def _folder(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root) / name
            for name in sorted(files)
            if not name.startswith(".") and known(Path(name).suffix)
        )
    return found


def _matches(spec: str, base: Path) -> list[Path]:
    path = base / Path(spec).expanduser()
    if any(char in spec for char in _GLOB):
        found: list[Path] = []
        for match in sorted(glob.glob(str(path), recursive=True)):
            candidate = Path(match)
            found.extend(_folder(candidate) if candidate.is_dir() else [candidate])
        return [p for p in found if p.is_file()]
    if path.is_dir():
        return _folder(path)
    return [path] if path.is_file() else []


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def spec_key_part(spec: str, base: Path) -> str:
    """The spec as an absolute pattern: what keys the index (so a file added to a named
    folder updates the same index)."""
    return os.path.normpath(base / Path(spec).expanduser())


def resolve(specs: Sequence[str], base: Path) -> list[SourceFile]:
    """The files the specs name, each once, in the order named."""
    if not specs:
        raise UsageError("no sources named", hint=f"name {FORMATS} files, folders or globs")
    seen: dict[Path, SourceFile] = {}
    for spec in specs:
        matched = _matches(spec, base)
        if not matched:
            what = (
                f"holds no {FORMATS} files"
                if (base / spec).is_dir()
                else "matches no files"
                if any(char in spec for char in _GLOB)
                else "no such file or folder"
            )
            raise UsageError(f"source '{spec}': {what}")
        for path in matched:
            real = path.resolve()
            if real not in seen:
                absolute = Path(os.path.abspath(path))
                seen[real] = SourceFile(real, _shown(absolute, base))
    return list(seen.values())
