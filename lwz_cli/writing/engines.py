"""One loaded engine kept across jobs: chat steps and batch jobs that need the
same model and context reuse it instead of loading the model again."""

from __future__ import annotations

import threading
from collections.abc import Hashable

from lwz_cli.engine.protocol import Engine
from lwz_cli.writing.backend import Backend, EngineSettings


class EngineCache:
    """Holds at most one engine; asking for another closes it first. Thread-safe
    (batch workers share one); the engine itself still runs one stream at a time."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._key: Hashable = None
        self._lock = threading.Lock()

    def get(self, backend: Backend, settings: EngineSettings) -> Engine:
        key = backend.engine_key(settings)
        with self._lock:
            if self._engine is not None and self._key != key:
                self._close()
            if self._engine is None:
                self._engine = backend.load_engine(settings)
                self._key = key
            return self._engine

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        engine, self._engine, self._key = self._engine, None, None
        if engine is not None:
            engine.close()
