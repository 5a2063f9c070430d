"""One loaded engine kept across jobs: chat steps and batch jobs that need the
same model and context reuse it instead of loading the model again."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from lwz_cli.engine.protocol import Engine
from lwz_cli.engine_slot import Claim, SlotRequest, waiting_event
from lwz_cli.events import Emit
from lwz_cli.writing.backend import Backend, EngineSettings, runs_in_process


class EngineCache:
    """Holds at most one engine; asking for another closes it first. Thread-safe
    (batch workers share one); the engine itself still runs one stream at a time.

    With a `slot` request, the first in-process model it loads takes the machine's
    engine slot (waiting for another lwz), and it keeps the slot until `close()`:
    across models and jobs, so a batch or a chat takes it once."""

    def __init__(self, slot: SlotRequest | None = None) -> None:
        self._engine: Engine | None = None
        self._key: Hashable = None
        self._lock = threading.Lock()
        self._slot = slot
        self._claim: Claim | None = None

    def get(
        self,
        backend: Backend,
        settings: EngineSettings,
        *,
        emit: Emit | None = None,
        run: str | None = None,
    ) -> Engine:
        """The engine for `backend` at `settings`; `emit` hears a `waiting` event while
        another lwz holds the slot; `run` names the run it serves (for `lwz runs`)."""
        key = backend.engine_key(settings)
        with self._lock:
            if self._slot is not None and runs_in_process(backend):
                if self._claim is None:
                    self._claim = self._slot.claim(
                        on_wait=None if emit is None else lambda h: emit(waiting_event(h))
                    )
                self._claim.note_run(run)
            if self._engine is not None and self._key != key:
                self._close()
            if self._engine is None:
                self._engine = backend.load_engine(settings)
                self._key = key
            return self._engine

    def close(self) -> None:
        with self._lock:
            self._close()
            claim, self._claim = self._claim, None
            if claim is not None:
                claim.release()

    def _close(self) -> None:
        engine, self._engine, self._key = self._engine, None, None
        if engine is not None:
            engine.close()
