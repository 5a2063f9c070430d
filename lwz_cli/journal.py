"""Run directories: what it takes to lose no more than seconds of a long document.

One directory per document under `$LWZ_HOME/data/runs` (XDG data dir otherwise),
named from the output path so `lwz resume PATH` finds it:

    manifest.json         request, model identity, settings, status (+ sha256)
    checkpoint-0.json     generated token ids and progress, two slots written
    checkpoint-1.json       alternately, so a damaged newest one leaves the other
    think.md              the model's thinking so far
    sections/0001.md      each finished section
    kv.bin, kv.json       optional llama.cpp KV snapshot and its verification data

Every write is atomic (temp file, fsync, rename, directory fsync), and every JSON
file carries the sha256 of its own content, so a torn or corrupt file is
detected and reported, never silently used. The records themselves are typed in
`lwz_cli.runstate`; the document and its `PATH.partial` are `lwz_cli.output`'s.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from lwz_cli import __version__
from lwz_cli.atomic import atomic_write_bytes, atomic_write_text, fsync_dir
from lwz_cli.errors import RuntimeFailure, UsageError
from lwz_cli.paths import paths
from lwz_cli.runstate import FORMAT, Checkpoint, Manifest, RunStatus, StateError

CHECKPOINT_INTERVAL = 2.0  # seconds: the most writing a crash can lose
MANIFEST = "manifest.json"
SLOTS = ("checkpoint-0.json", "checkpoint-1.json")
KV_FILE, KV_META = "kv.bin", "kv.json"
_FINGERPRINT_SPAN = 1 << 20


class JournalCorrupt(UsageError):
    pass


def _fault_pause() -> None:
    """Fault injection for tests: LWZ_FAULT_PAUSE_IN_CHECKPOINT=SECONDS holds every
    checkpoint between its fsync'd temp file and the rename, and says so on
    stderr, so a test can kill -9 lwz in the middle of a checkpoint write."""
    pause = os.environ.get("LWZ_FAULT_PAUSE_IN_CHECKPOINT")
    if pause:
        sys.stderr.write("lwz: [fault] paused inside a checkpoint write\n")
        sys.stderr.flush()
        time.sleep(float(pause))


def _sealed(data: dict[str, Any]) -> bytes:
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return (
        json.dumps({"sha256": digest, "data": data}, ensure_ascii=False, sort_keys=True) + "\n"
    ).encode("utf-8")


def _unseal(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise JournalCorrupt(f"cannot read journal file {path}: {exc.strerror}") from exc
    try:
        wrapper = json.loads(raw)
        data, digest = wrapper["data"], wrapper["sha256"]
        if not isinstance(data, dict):  # every journal file holds an object
            raise TypeError
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: [[[[...
        raise JournalCorrupt(
            f"journal file {path} is damaged (not the JSON lwz wrote; {len(raw)} bytes)"
        ) from None
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != digest:
        raise JournalCorrupt(f"journal file {path} is damaged (checksum mismatch)")
    return data


def model_fingerprint(path: Path) -> dict[str, Any]:
    """Size plus a hash of the first and last MiB: cheap, and catches a different file."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_FINGERPRINT_SPAN))
        if size > _FINGERPRINT_SPAN:
            handle.seek(max(_FINGERPRINT_SPAN, size - _FINGERPRINT_SPAN))
            digest.update(handle.read(_FINGERPRINT_SPAN))
    identity: dict[str, Any] = {
        "path": str(path),
        "size": size,
        "fingerprint": digest.hexdigest()[:32],
        "sha256": None,
    }
    # In the HF cache a file links to blobs/<sha256 of its content> (LFS files).
    target = Path(os.path.realpath(path))
    if target.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{64}", target.name):
        identity["sha256"] = target.name
    return identity


def runs_dir() -> Path:
    return paths().runs


def run_id_for(output: Path | None) -> str:
    if output is None:
        return time.strftime("stdout-%Y%m%d-%H%M%S-") + os.urandom(3).hex()
    absolute = str(output.expanduser().resolve())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", output.name)[:40] or "doc"
    return f"{slug}-{hashlib.sha1(absolute.encode()).hexdigest()[:10]}"


def disk_reason(exc: OSError) -> str:
    """Why a write failed, in words: the disk, the filesystem or the folder's mode."""
    return {
        errno.ENOSPC: "the disk is full",
        errno.EROFS: "the filesystem is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EDQUOT: "the disk quota is exceeded",
    }.get(exc.errno or 0, exc.strerror or str(exc))


def disk_error(exc: OSError, failed: str, kept: str, resume_hint: str) -> RuntimeFailure:
    """A write during a run failed. `failed` says what could not be written and
    names its path (the disk to free is that path's: the journal's and the
    document's may differ), `kept` what is still safe."""
    return RuntimeFailure(
        f"{failed}: {disk_reason(exc)}; {kept}",
        hint=f"free space or fix the folder, then {resume_hint}",
    )


class Journal:
    def __init__(self, directory: Path):
        self.dir = directory
        self.manifest = Manifest()
        self.seq = 0
        self.warnings: list[str] = []
        self._lock: TextIO | None = None  # held while this process writes the run

    # -- finding and creating ---------------------------------------------------

    @classmethod
    def path_for(cls, output: Path | None, run_id: str | None = None) -> Path:
        return runs_dir() / (run_id or run_id_for(output))

    def made_for(self, output: Path) -> bool:
        """Whether this run's folder was named for the document `output`: its name
        ends in the hash of the document's absolute path (`run_id_for`)."""
        return self.dir.name.rsplit("-", 1)[-1] == run_id_for(output).rsplit("-", 1)[-1]

    @classmethod
    def find(cls, target: str | Path) -> Journal | None:
        """The run for an output path, or a run id; None when there is none."""
        text = str(target)
        candidates = [cls.path_for(Path(text))]
        if "/" not in text:
            candidates.append(runs_dir() / text)
        for directory in candidates:
            if (directory / MANIFEST).exists():
                journal = cls(directory)
                journal.load_manifest()
                return journal
        return None

    @classmethod
    def create(cls, manifest: Manifest, output: Path | None) -> Journal:
        """A new run directory recording `manifest` (with its id, times, format and status)."""
        directory = cls.path_for(output, manifest.id or None)
        try:
            journal = cls._make(directory)
        except OSError as exc:  # a full disk or a read-only LWZ_HOME: before any writing
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise RuntimeFailure(
                f"cannot create the run's journal in {directory.parent}: {disk_reason(exc)}",
                hint=("free space on that disk" if full else "make the folder writable")
                + ", or set LWZ_HOME to a folder you can write to",
            ) from None
        now = time.time()
        journal.manifest = replace(
            manifest,
            format=FORMAT,
            lwz_version=__version__,
            id=directory.name,
            created=now,
            updated=now,
            status=RunStatus.RUNNING,
        )
        try:
            journal.save_manifest()
        except OSError as exc:
            raise disk_error(
                exc,
                f"cannot save the run's manifest in {directory}",
                "nothing is written yet",
                "run the same command again",
            ) from None
        return journal

    @classmethod
    def _make(cls, directory: Path) -> Journal:
        """An empty run folder at `directory` (a previous one there is removed)."""
        if directory.exists():
            shutil.rmtree(directory)
        # private like its files (0600): the journal holds the prompt and the draft
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(directory.parent.stat().st_mode) & 0o077:
            with contextlib.suppress(OSError):  # made by an older lwz; not ours to fix if it fails
                directory.parent.chmod(0o700)
        directory.mkdir(mode=0o700)
        (directory / "sections").mkdir(mode=0o700)
        fsync_dir(directory.parent)
        return cls(directory)

    @classmethod
    def all(cls) -> list[Journal]:
        root = runs_dir()
        found = []
        if root.is_dir():
            for directory in sorted(root.iterdir()):
                if (directory / MANIFEST).exists():
                    journal = cls(directory)
                    try:
                        journal.load_manifest()
                    except UsageError as exc:
                        journal.manifest = Manifest.damaged(directory.name, str(exc))
                    found.append(journal)
        return found

    # -- manifest -------------------------------------------------------------

    def load_manifest(self) -> Manifest:
        path = self.dir / MANIFEST
        data = _unseal(path)
        try:
            newer = int(data.get("format", 0)) > FORMAT
        except (TypeError, ValueError, OverflowError) as exc:
            raise JournalCorrupt(f"journal file {path} is damaged (format: {exc})") from None
        if newer:
            raise UsageError(
                f"the run in {self.dir} was written by a newer lwz "
                f"({data.get('lwz_version')}, journal format {data.get('format')})",
                hint="upgrade lwz to resume it",
            )
        try:
            self.manifest = Manifest.from_json(data)
        except StateError as exc:
            raise JournalCorrupt(f"journal file {path} is damaged ({exc})") from None
        return self.manifest

    def save_manifest(self) -> None:
        self.manifest.updated = time.time()
        atomic_write_bytes(self.dir / MANIFEST, _sealed(self.manifest.to_json()))

    def set_status(
        self, status: RunStatus, *, words: int | None = None, finished: float | None = None
    ) -> None:
        """Record a status (and the words written, the time finished, when given)."""
        self.manifest.status = status
        if words is not None:
            self.manifest.words = words
        if finished is not None:
            self.manifest.finished = finished
        self.save_manifest()

    @property
    def output(self) -> Path | None:
        value = self.manifest.output
        return Path(value) if value else None

    # -- checkpoints ----------------------------------------------------------

    def checkpoint(self, cp: Checkpoint, *, think: str | None = None) -> None:
        """Write a checkpoint into the older slot; the newer one stays intact."""
        if think is not None:
            atomic_write_text(self.dir / "think.md", think)
        self.seq = max(self.seq, cp.seq) + 1
        cp.seq = self.seq
        cp.time = time.time()
        atomic_write_bytes(self.dir / SLOTS[cp.seq % 2], _sealed(cp.to_json()), _fault_pause)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest intact checkpoint. A damaged slot is reported in `warnings`;
        if every slot that exists is damaged, JournalCorrupt is raised."""
        good: list[Checkpoint] = []
        damaged: list[str] = []
        for name in SLOTS:
            try:
                good.append(Checkpoint.from_json(_unseal(self.dir / name)))
            except FileNotFoundError:
                continue
            except JournalCorrupt as exc:
                damaged.append(str(exc))
            except StateError as exc:
                damaged.append(f"journal file {self.dir / name} is damaged ({exc})")
        # kill -9 between a checkpoint's fsync'd temp file and its rename leaves the newest
        # state in the temp file; its seal proves it whole, so it counts (an unfinished one
        # fails the seal and is what a crash leaves: not damage). Read only, never renamed
        # here: the temp may be a live writer's.
        for temp in sorted(self.dir.glob(".checkpoint-*.tmp")):
            try:
                good.append(Checkpoint.from_json(_unseal(temp)))
            except (OSError, JournalCorrupt, StateError):
                continue
        if damaged and not good:
            raise JournalCorrupt(
                damaged[0] + "; no intact checkpoint is left",
                hint="lwz write --restart starts the document again",
            )
        if not good:
            return None
        best = max(good, key=lambda cp: cp.seq)
        for message in damaged:
            self.warnings.append(message + f"; using the previous checkpoint (#{best.seq})")
        self.seq = best.seq
        return best

    def saved_sections(self) -> list[Path]:
        """The finished sections' files, in order."""
        return sorted((self.dir / "sections").glob("[0-9]*.md"))

    def write_section(self, index: int, text: str) -> None:
        atomic_write_text(self.dir / "sections" / f"{index:04d}.md", text)

    # -- KV snapshots -----------------------------------------------------------

    @property
    def kv_path(self) -> Path:
        return self.dir / KV_FILE

    def record_snapshot(self, tmp: Path, n_tokens: int, tokens: list[int], engine_key: dict) -> int:
        """Seal a snapshot written to `tmp`: fsync, checksum, rename, then its metadata."""
        digest = hashlib.sha256()
        with open(tmp, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
            os.fsync(handle.fileno())
        size = tmp.stat().st_size
        os.chmod(tmp, 0o600)  # llama.cpp creates it with the umask's mode; the journal is private
        os.replace(tmp, self.kv_path)
        fsync_dir(self.dir)
        meta = {
            "n_tokens": n_tokens,
            "size": size,
            "sha256": digest.hexdigest(),
            "tokens_sha256": hashlib.sha256(json.dumps(tokens[:n_tokens]).encode()).hexdigest(),
            **engine_key,
        }
        atomic_write_bytes(self.dir / KV_META, _sealed(meta))
        return size

    def verified_snapshot(self, tokens: list[int], engine_key: dict) -> tuple[Path, int] | None:
        """The snapshot file if it is intact, made by the same model and settings,
        and holds a prefix of `tokens`; otherwise None (and a warning why)."""
        if not self.kv_path.exists():
            return None
        try:
            meta = _unseal(self.dir / KV_META)
        except (FileNotFoundError, JournalCorrupt):
            self.warnings.append(
                "the KV snapshot has no intact metadata; re-reading the text instead"
            )
            return None
        reason = None
        if any(meta.get(k) != v for k, v in engine_key.items()):
            reason = "it was made with another model or context size"
        elif (
            meta["n_tokens"] > len(tokens)
            or hashlib.sha256(json.dumps(tokens[: meta["n_tokens"]]).encode()).hexdigest()
            != meta["tokens_sha256"]
        ):
            reason = "it does not match the checkpoint's tokens"
        elif self.kv_path.stat().st_size != meta["size"]:
            reason = "its size is wrong (torn write?)"
        else:
            digest = hashlib.sha256()
            with open(self.kv_path, "rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
            if digest.hexdigest() != meta["sha256"]:
                reason = "its checksum does not match"
        if reason:
            self.warnings.append(
                f"the KV snapshot is not usable: {reason}; re-reading the text instead"
            )
            return None
        return self.kv_path, meta["n_tokens"]

    def drop_snapshot(self) -> None:
        for name in (KV_FILE, KV_META):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / name).unlink()

    # -- one writer at a time --------------------------------------------------

    def lock(self) -> None:
        """Hold an exclusive lock while writing; a second lwz on the run is refused."""
        # private like the rest of the journal; held open until unlock()
        handle = os.fdopen(os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600), "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UsageError(
                f"another lwz is writing this document right now ({self.dir.name})",
                hint="wait for it to finish, or stop it first",
            ) from None
        self._lock = handle

    def unlock(self) -> None:
        handle = self._lock
        if handle is not None:
            handle.close()
            self._lock = None

    def is_live(self) -> bool:
        """True while some process holds the run's lock."""
        try:
            with open(self.dir / "lock") as handle:  # never created here: lock() makes it
                try:
                    fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    return True  # a writer holds it
                return False
        except OSError:
            return False  # no lock file to be held (never locked, or the run is gone)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
