"""The index on disk: one SQLite file per source set, updated in place file by file.

Tables: `files` (each source's size, mtime, content digest, and the rowids of its
passages, or why it was skipped) and `passages`, an FTS5 table whose `text` and
`extra` (CJK bigrams, `terms.py`) columns are indexed and ranked with BM25. A file's
passages get consecutive rowids, so replacing them is one range delete.

A file whose size and mtime are unchanged is not opened; one whose bytes hash the
same is not parsed again. Every update is one transaction, so a reader never sees a
half-updated index, and a new or damaged index is built in a temporary file and
renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lwz_cli.sources import readers
from lwz_cli.sources.discover import SourceFile
from lwz_cli.sources.passage import Passage
from lwz_cli.sources.terms import extra_terms
from lwz_cli.sources.unreadable import Unreadable

# the tables and how readers cut passages: an index of another version is rebuilt
# (2: a Markdown heading joins its text as a sentence, without its `#` marks)
SCHEMA_VERSION = "2"
SCHEMA = """
CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files(
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    first_row INTEGER NOT NULL,
    last_row INTEGER NOT NULL,
    problem TEXT
);
CREATE VIRTUAL TABLE passages USING fts5(
    text, extra, file UNINDEXED, page UNINDEXED, first_line UNINDEXED, last_line UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE vocabulary USING fts5vocab(passages, 'row');
"""
WAIT_S = 120  # for another process's write to the same index (a full build is < 60 s)


@dataclass(frozen=True, slots=True)
class FileState:
    id: int
    size: int
    mtime_ns: int
    digest: str
    first_row: int
    last_row: int
    problem: str | None


@dataclass
class Update:
    read: int = 0  # files parsed this time (new or changed)


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=WAIT_S, isolation_level=None)
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def create(path: Path) -> sqlite3.Connection:
    """A new, empty index at `path` (a temporary file: nothing reads it before the rename,
    so it is written without a journal)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    connection.executescript(SCHEMA)
    connection.execute(
        "INSERT INTO meta VALUES ('version', ?), ('next_row', '1')", (SCHEMA_VERSION,)
    )
    return connection


def current(connection: sqlite3.Connection) -> bool:
    """Whether the file is an index of this schema (raises sqlite3.DatabaseError when it
    is no SQLite database at all)."""
    try:
        row = connection.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
    except sqlite3.OperationalError:  # no such table: another program's database
        return False
    return row is not None and row[0] == SCHEMA_VERSION


def _states(connection: sqlite3.Connection) -> dict[str, FileState]:
    rows = connection.execute(
        "SELECT path, id, size, mtime_ns, digest, first_row, last_row, problem FROM files"
    )
    return {row[0]: FileState(*row[1:]) for row in rows}


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def update(
    connection: sqlite3.Connection, sources: list[SourceFile], *, optimize: bool = False
) -> Update:
    """Bring the index up to date with `sources`, in one transaction."""
    done = Update()
    connection.execute("BEGIN IMMEDIATE")  # one writer at a time; readers go on meanwhile
    try:
        states = _states(connection)
        (next_row,) = connection.execute(
            "SELECT value FROM meta WHERE name = 'next_row'"
        ).fetchone()
        next_row = int(next_row)
        wanted = {str(source.path) for source in sources}
        for path, state in states.items():
            if path not in wanted:  # a file gone from a named folder
                _forget(connection, path, state)
        for source in sources:
            next_row = _refresh(connection, source, states.get(str(source.path)), next_row, done)
        connection.execute("UPDATE meta SET value = ? WHERE name = 'next_row'", (str(next_row),))
        if optimize:  # one b-tree per column: the fastest queries, worth it after a full build
            connection.execute("INSERT INTO passages(passages) VALUES ('optimize')")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return done


def _forget(connection: sqlite3.Connection, path: str, state: FileState) -> None:
    connection.execute(
        "DELETE FROM passages WHERE rowid BETWEEN ? AND ?", (state.first_row, state.last_row)
    )
    connection.execute("DELETE FROM files WHERE path = ?", (path,))


def _refresh(
    connection: sqlite3.Connection,
    source: SourceFile,
    state: FileState | None,
    next_row: int,
    done: Update,
) -> int:
    """Re-read one file if it changed; returns the next free passage rowid."""
    path = str(source.path)
    try:
        stat = os.stat(source.path)
        if state and (state.size, state.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return next_row  # unchanged: not even opened
        data = source.path.read_bytes()
    except OSError as exc:
        # size -1: never "unchanged", so it is tried again next time
        _store(
            connection, path, state, (-1, 0, ""), [], f"cannot read it: {exc.strerror}", next_row
        )
        return next_row
    digest = _digest(data)
    if state and state.digest == digest:  # touched, same bytes: keep its passages
        connection.execute(
            "UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?",
            (stat.st_size, stat.st_mtime_ns, state.id),
        )
        return next_row
    done.read += 1
    try:
        found = readers.parse(data, source.path.suffix)
        problem = None
    except Unreadable as exc:
        found, problem = [], exc.reason
    except RecursionError:  # a pathologically nested file
        found, problem = [], "nested too deeply to read"
    return _store(
        connection, path, state, (stat.st_size, stat.st_mtime_ns, digest), found, problem, next_row
    )


def _store(
    connection: sqlite3.Connection,
    path: str,
    state: FileState | None,
    stat: tuple[int, int, str],
    found: list[Passage],
    problem: str | None,
    next_row: int,
) -> int:
    if state is not None:
        _forget(connection, path, state)
    (file_id,) = connection.execute(
        "INSERT INTO files(path, size, mtime_ns, digest, first_row, last_row, problem) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (path, *stat, next_row, next_row + len(found) - 1, problem),
    ).fetchone()
    connection.executemany(
        "INSERT INTO passages(rowid, text, extra, file, page, first_line, last_line) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (
                next_row + offset,
                passage.text,
                extra_terms(passage.text),
                file_id,
                passage.page,
                passage.lines[0] if passage.lines else None,
                passage.lines[1] if passage.lines else None,
            )
            for offset, passage in enumerate(found)
        ),
    )
    return next_row + len(found)


def file_rows(connection: sqlite3.Connection) -> list[tuple[int, str, int, str | None]]:
    """Each file's id, path, passage count and problem."""
    rows = connection.execute("SELECT id, path, last_row - first_row + 1, problem FROM files")
    return [(row[0], row[1], max(0, row[2]), row[3]) for row in rows]


def document_counts(connection: sqlite3.Connection, terms: list[str]) -> dict[str, int]:
    """How many passages hold each term (a term FTS5 spells otherwise is left out)."""
    marks = ", ".join("?" * len(terms))
    rows = connection.execute(f"SELECT term, doc FROM vocabulary WHERE term IN ({marks})", terms)
    return dict(rows.fetchall())


SearchRow = tuple[str, int, int | None, int | None, int | None]


def search(connection: sqlite3.Connection, expression: str, limit: int) -> list[SearchRow]:
    """(text, file id, page, first line, last line), best first."""
    return connection.execute(
        "SELECT text, file, page, first_line, last_line FROM passages "
        "WHERE passages MATCH ? ORDER BY rank LIMIT ?",
        (expression, limit),
    ).fetchall()


def remove(path: Path) -> None:
    """An index file and its rollback journal (a damaged one's journal is no use)."""
    for stale in (path, path.with_name(path.name + "-journal")):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def replace(temporary: Path, path: Path, fsync_dir: Callable[[Path], None]) -> None:
    remove(path.with_name(path.name + "-journal"))
    os.replace(temporary, path)
    fsync_dir(path.parent)
