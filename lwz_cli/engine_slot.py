"""One engine per machine: the per-user slot every in-process model load holds.

Two models loaded at once wreck each other: llama.cpp's worker threads spin, so two
runs on shared cores each go at a fraction of the speed (two writes side by side on
two cores took 2.7x as long as one after the other), and two large models on one GPU
do not fit at all. So `write`, `resume`, `chat` and `batch` hold this slot while a
local model is loaded, and a second lwz waits for it (or, with --no-wait, stops).
Endpoint runs never take it: their model runs elsewhere.

The slot is an flock on `paths().engine_slot` ($XDG_RUNTIME_DIR/lwz/engine.lock, else
the state folder; under $LWZ_HOME, its state folder), so the kernel drops it however
the holder ends, kill -9 included. The holder writes who it is into the file (JSON)
for the waiters' message and `lwz runs`; the lock, not the text, says whether the
slot is held. Within one process the slot is taken once: a second claim (a batch's
next job, a chat's next model) shares the first, so a process never waits on itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lwz_cli.errors import Interrupted, RuntimeFailure
from lwz_cli.events import WaitingEvent
from lwz_cli.paths import paths

POLL_SECONDS = 0.1  # how soon a waiter notices the slot is free, and a Ctrl-C
READ_TRIES = 10  # a holder writes its name just after locking: a reader may be early
VERBS = {"write": "writing", "resume": "resuming"}


@dataclass(frozen=True)
class Holder:
    """Who holds (or asks for) the slot: the lwz process and what it works on."""

    pid: int
    command: str  # write, resume, chat, batch ("" when the holder could not be read)
    target: str | None = None  # the document (or the recipes) it works on
    started: float = field(default_factory=time.time)
    run: str | None = None  # the run it is writing now, as `lwz runs` lists it

    @classmethod
    def me(cls, command: str, target: str | None = None, *, run: str | None = None) -> Holder:
        return cls(os.getpid(), command, target, run=run)

    @property
    def doing(self) -> str:
        """`writing guide.md`, `resuming guide.md`, `chat`, `batch tea.yaml`."""
        if not self.command:
            return ""
        verb = VERBS.get(self.command, self.command)
        if self.target:
            return f"{verb} {self.target}"
        return f"{verb} to stdout" if self.command == "write" else verb

    def describe(self) -> str:
        """`the lwz writing guide.md (pid 1234)`; `another lwz` when unknown."""
        if not self.command:
            return "another lwz" + (f" (pid {self.pid})" if self.pid else "")
        return f"the lwz {self.doing} (pid {self.pid})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Holder | None:
        """The holder a slot file names; None for anything else (empty, partial, foreign)."""
        if not isinstance(data, dict):
            return None
        pid, command, target = data.get("pid"), data.get("command"), data.get("target")
        started, run = data.get("started"), data.get("run")
        if not (isinstance(pid, int) and pid > 0 and isinstance(command, str)):
            return None
        return cls(
            pid,
            command,
            target if isinstance(target, str) else None,
            float(started) if isinstance(started, (int, float)) else 0.0,
            run if isinstance(run, str) else None,
        )


UNKNOWN = Holder(0, "", started=0.0)


class SlotBusy(RuntimeFailure):
    """--no-wait, and another lwz holds the slot."""

    def __init__(self, holder: Holder):
        super().__init__(
            f"{holder.describe()} is running a model on this machine",
            hint="run this again when it is done, or without --no-wait to wait for it",
        )
        self.holder = holder


class WaitStopped(Interrupted):
    """Ctrl-C (SIGTERM, SIGHUP) while waiting for the slot: nothing was started."""


def waiting_line(holder: Holder) -> str:
    return f"waiting for {holder.describe()} to finish; Ctrl-C to stop"


def waiting_event(holder: Holder) -> WaitingEvent:
    return WaitingEvent(waiting_line(holder), holder.pid, holder.doing)


def slot_path() -> Path:
    return paths().engine_slot


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, if not ours
    return True


def _read_holder(path: Path) -> Holder:
    """The holder named in a held slot's file. Just after it locks, the file may still
    be empty or name the previous holder (killed before it could clear it): read
    again for a moment, then say "another lwz"."""
    for attempt in range(READ_TRIES):
        try:
            holder = Holder.from_json(json.loads(path.read_text("utf-8") or "null"))
        except (OSError, ValueError):
            holder = None
        if holder is not None and _alive(holder.pid):
            return holder
        if attempt + 1 < READ_TRIES:
            time.sleep(0.02)
    return UNKNOWN


def current_holder(path: Path | None = None) -> Holder | None:
    """Who holds the slot now; None when it is free. Probes with a shared lock, as
    `Journal.is_live` does, so nothing is taken from a holder."""
    path = path or slot_path()
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below; closing drops the probe)
    except OSError:
        return None  # never taken on this machine (or unreadable: nothing to show)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_holder(path)
        return None


class _Taken:
    """This process's hold on one slot file: its descriptor and how many claims share it."""

    def __init__(self, fd: int, holder: Holder):
        self.fd = fd
        self.holder = holder
        self.count = 1

    def write(self, holder: Holder) -> None:
        self.holder = holder
        data = json.dumps(holder.to_json()).encode()
        with contextlib.suppress(OSError):  # the name is for others' messages only
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, data, 0)


_taken: dict[Path, _Taken] = {}
_guard = threading.Lock()  # _taken, across batch workers and chat steps
_acquiring = threading.Lock()  # one thread of a process takes the slot; the others share it


class Claim:
    """One claim on the slot; `release()` (or leaving the `with`) gives it back."""

    def __init__(self, path: Path):
        self.path = path
        self._released = False

    def note_run(self, run: str | None) -> None:
        """Name the run now being written (a batch's next job, a chat's next draft)."""
        with _guard:
            taken = _taken.get(self.path)
            if taken is not None and not self._released and taken.holder.run != run:
                taken.write(replace(taken.holder, run=run))

    def release(self) -> None:
        with _guard:
            if self._released:
                return
            self._released = True
            taken = _taken.get(self.path)
            if taken is None:
                return
            taken.count -= 1
            if taken.count == 0:
                del _taken[self.path]
                # cleared first: a reader never sees a finished holder's name on a free slot
                with contextlib.suppress(OSError):
                    os.ftruncate(taken.fd, 0)
                os.close(taken.fd)  # drops the lock

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class SlotRequest:
    """How a front end asks for the slot: who it is, whether to wait (--no-wait says
    no), and the event that stops the wait (Ctrl-C, SIGTERM, SIGHUP)."""

    holder: Holder
    wait: bool = True
    cancel: threading.Event | None = None
    path: Path | None = None  # default: paths().engine_slot

    def claim(self, on_wait: Callable[[Holder], None] | None = None) -> Claim:
        """Take the slot, waiting while another process holds it; `on_wait(holder)` is
        told when the wait starts and whenever the holder changes. Raises SlotBusy
        (with --no-wait) or Interrupted (stopped while waiting); nothing is held then."""
        path = self.path or slot_path()
        with _acquiring:
            return self._claim(path, on_wait)

    def _claim(self, path: Path, on_wait: Callable[[Holder], None] | None) -> Claim:
        with _guard:
            taken = _taken.get(path)
            if taken is not None:  # this process holds it already
                taken.count += 1
                return Claim(path)
        fd = _open(path)
        told: Holder | None = None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                holder = _read_holder(path)
                if not self.wait:
                    raise SlotBusy(holder)
                if told is None or (holder.pid, holder.command) != (told.pid, told.command):
                    told = holder
                    if on_wait is not None:
                        on_wait(holder)
                if self._stopped(POLL_SECONDS):
                    raise WaitStopped(
                        f"stopped while waiting for {holder.describe()}; nothing was written"
                    )
        except BaseException:
            os.close(fd)
            raise
        with _guard:
            taken = _Taken(fd, self.holder)
            taken.write(self.holder)
            _taken[path] = taken
        return Claim(path)

    def _stopped(self, seconds: float) -> bool:
        if self.cancel is None:
            time.sleep(seconds)
            return False
        return self.cancel.wait(seconds)


def _open(path: Path) -> int:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise RuntimeFailure(
            f"cannot open the engine slot {path}: {exc.strerror or exc}",
            hint="make its folder writable (or set LWZ_HOME to one that is)",
        ) from None
