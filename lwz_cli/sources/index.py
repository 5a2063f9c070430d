"""`SourceIndex`: the user's sources, indexed once and searched with BM25.

SQLite's FTS5 (in the standard library) was chosen over bm25s 0.3 by measurement
(bench/sources.py, 1,000 files, 50 MB, 74,000 passages, on the 2-core machine):

                        FTS5        bm25s
    full index          4.8 s       5.5 s
    nothing changed     0.04 s      0.03 s (a load from disk)
    1% changed          0.15 s      5.5 s (no incremental update: all read again)
    query p50 / p99     3.4 / 11 ms 1.9 / 3.3 ms (FTS5 leaving out terms in 5% of passages)
    on disk             94 MB       39 MB (the index only: passages stored apart)
    peak memory         31 MB       314 MB

bm25s answers faster but holds the whole index in memory (10x), rebuilds it on any
change and has no locking for two processes; FTS5 updates one file's passages in
place, keeps memory flat and lets several processes share one file.

The index lives under `$LWZ_HOME`'s cache (`paths().cache / "sources" / KEY`), KEY
being a hash of the sources as absolute paths and patterns: every run naming the same
sources shares it, and a file added to a named folder updates it rather than starting
another. Opening takes an flock beside it while the index is brought up to date, so
two processes opening it at once do the work once; searching takes no lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lwz_cli import atomic
from lwz_cli.errors import RuntimeFailure
from lwz_cli.paths import paths
from lwz_cli.sources import readers, store
from lwz_cli.sources.discover import SourceFile, resolve, spec_key_part
from lwz_cli.sources.passage import Passage
from lwz_cli.sources.terms import match_expression, query_terms

INDEX_FILE = "index.sqlite"
# a term in more passages than this (and than a twentieth of them) is too common to rank
# by: its BM25 weight is a third of a rare term's, and leaving those out took the p99 of
# bench/sources.py's queries from 21 ms (a tenth) to 11 ms
COMMON_FLOOR = 2000


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """One source as `lwz sources` lists it."""

    path: str  # as shown to the user
    passages: int
    skipped: str | None  # why it was skipped, or None


def source_key(specs: Sequence[str], base: Path) -> str:
    parts = sorted({spec_key_part(spec, base) for spec in specs})
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


class SourceIndex:
    """An open index of one source set. Use `SourceIndex.open(...)`; close it after."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        key: str,
        location: Path,
        sources: list[SourceFile],
        reread: int,
        seconds: float,
    ) -> None:
        self.key = key
        self.location = location  # the index file
        self.reread = reread  # files read (new or changed) when opened
        self.seconds = seconds  # time to open and update it
        self._connection = connection
        self._sources = sources
        self._load_files()

    @classmethod
    def open(
        cls,
        specs: Sequence[str],
        *,
        base: Path | None = None,
        warn: Callable[[str], None] = lambda message: None,
    ) -> SourceIndex:
        """Resolve the specs, bring their index up to date, and open it for searching.

        A spec that matches nothing raises UsageError; each unreadable file is one
        `warn` line and is skipped.
        """
        started = time.perf_counter()
        root = Path(os.path.abspath(base if base is not None else Path.cwd()))
        sources = resolve(specs, root)
        readers.require(source.path.suffix for source in sources)
        key = source_key(specs, root)
        folder = paths().cache / "sources" / key
        location = folder / INDEX_FILE
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with _locked(folder / "lock"):
                connection, reread = _bring_up_to_date(location, sources, warn)
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot write the source index in {folder}: {exc.strerror or exc}"
            ) from None
        index = cls(
            connection,
            key=key,
            location=location,
            sources=sources,
            reread=reread,
            seconds=time.perf_counter() - started,
        )
        for entry in index.entries:
            if entry.skipped:
                warn(f"{entry.path}: {entry.skipped}; skipped")
        return index

    def _load_files(self) -> None:
        shown = {str(source.path): source.shown for source in self._sources}
        rows = store.file_rows(self._connection)
        self._shown = {file_id: shown.get(path, path) for file_id, path, _, _ in rows}
        by_path = {path: (count, problem) for _, path, count, problem in rows}
        self.entries: list[IndexedFile] = []
        for source in self._sources:
            count, problem = by_path.get(str(source.path), (0, "not indexed"))
            self.entries.append(IndexedFile(source.shown, 0 if problem else count, problem))
        self.files = sum(1 for entry in self.entries if entry.skipped is None)
        self.passages = sum(entry.passages for entry in self.entries)

    def search(self, query: str, limit: int = 20) -> list[Passage]:
        """The passages that best match `query` (BM25), best first. Any text is a query:
        nothing in it is read as FTS5 syntax."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        try:
            rows = self._ranked(terms, limit)
        except sqlite3.DatabaseError:  # damaged since it was opened: rebuild, then ask again
            self._rebuild()
            rows = self._ranked(terms, limit)
        return [
            Passage(
                self._shown.get(file_id, "?"),
                text,
                page,
                (first, last) if first is not None and last is not None else None,
            )
            for text, file_id, page, first, last in rows
        ]

    def _ranked(self, terms: list[str], limit: int) -> list[store.SearchRow]:
        """BM25 over the query's terms, leaving out those in a great many passages: BM25
        gives them almost no weight, and FTS5 would score every passage holding them
        (on 74,000 passages a query with such words took 80 ms instead of a few)."""
        counts = store.document_counts(self._connection, terms)
        common = max(COMMON_FLOOR, self.passages // 20)
        kept = [term for term in terms if counts.get(term, 0) <= common]
        if not kept:  # only common words: the rarest two of them still rank
            kept = sorted(terms, key=lambda term: counts.get(term, 0))[:2]
        expression = match_expression(kept)
        return store.search(self._connection, expression, limit) if expression else []

    def _rebuild(self) -> None:
        self._connection.close()
        with _locked(self.location.parent / "lock"):
            store.remove(self.location)
            self._connection, self.reread = _bring_up_to_date(
                self.location, self._sources, lambda message: None
            )
        self._load_files()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> SourceIndex:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _bring_up_to_date(
    location: Path, sources: list[SourceFile], warn: Callable[[str], None]
) -> tuple[sqlite3.Connection, int]:
    """The index at `location` brought up to date (the caller holds the lock): updated in
    place when it is sound, else built afresh and renamed into place."""
    if location.exists():
        connection = None
        try:
            connection = store.connect(location)
            if store.current(connection):
                return connection, store.update(connection, sources).read
            warn(f"the source index {location} is from another lwz version; rebuilding it")
        except sqlite3.DatabaseError as exc:
            warn(f"the source index {location} was damaged ({exc}); rebuilding it")
        if connection is not None:
            connection.close()
    temporary = location.with_name(f"{INDEX_FILE}.{os.getpid()}.tmp")
    store.remove(temporary)
    try:
        building = store.create(temporary)
        try:
            read = store.update(building, sources, optimize=True).read
        finally:
            building.close()
        store.replace(temporary, location, atomic.fsync_dir)
    finally:
        store.remove(temporary)
    return store.connect(location), read
