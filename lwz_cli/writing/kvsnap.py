"""KV-cache snapshots for a run: saved at checkpoints when cheap enough, verified
and restored on resume. Shared by both strategies; a snapshot is only ever an
optimisation, so every failure here falls back to re-reading the text."""

from __future__ import annotations

import os
import time
from typing import Any

from lwz_cli.engine.protocol import Engine
from lwz_cli.events import Emit, WarningEvent
from lwz_cli.journal import Journal

SNAPSHOT_INTERVAL = 30.0  # seconds between snapshots at section ends


class Snapshots:
    def __init__(
        self,
        journal: Journal | None,
        engine: Engine,
        *,
        enabled: bool,
        budget_gb: float,
        n_ctx: int,
        emit: Emit,
    ):
        self.journal = journal
        self.engine = engine
        self.enabled = enabled and journal is not None and engine.supports_snapshots
        self.budget = budget_gb * (1 << 30)
        self.n_ctx = n_ctx
        self.emit = emit
        self.restored = 0
        self._last = 0.0

    def key(self) -> dict[str, Any]:
        model = self.journal.manifest.model if self.journal else {}
        return {"model": model.get("fingerprint"), "n_ctx": self.n_ctx}

    def _journal(self) -> Journal | None:
        """Where snapshots go; None while they are off (`enabled` implies a journal)."""
        return self.journal if self.enabled else None

    def save(self, sequence: list[int], *, force: bool = False) -> None:
        """Snapshot the KV cache (a prefix of `sequence`) unless one was taken
        recently or it would be larger than the budget."""
        journal = self._journal()
        if journal is None:
            return
        now = time.monotonic()
        if not force and now - self._last < SNAPSHOT_INTERVAL:
            return
        self._last = now
        if self.engine.snapshot_size() > self.budget:
            return
        tmp = journal.dir / f".kv.{os.getpid()}.tmp"
        try:
            # made private before llama.cpp fills it (its fopen would use the umask's
            # mode, readable by all until record_snapshot's chmod)
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            n = self.engine.save_snapshot(str(tmp))
            journal.record_snapshot(tmp, n, sequence, self.key())
        except OSError:
            tmp.unlink(missing_ok=True)
            journal.drop_snapshot()

    def restore(self, sequence: list[int]) -> int:
        """Load a verified snapshot holding a prefix of `sequence`; returns the
        tokens it spared (0: the text will be re-read)."""
        journal = self._journal()
        if journal is None:
            return 0
        found = journal.verified_snapshot(sequence, self.key())
        for message in journal.warnings:
            self.emit(WarningEvent(message))
        journal.warnings.clear()
        if found is None:
            return 0
        self.restored = self.engine.load_snapshot(str(found[0]), sequence)
        if self.restored == 0:
            self.emit(
                WarningEvent("llama.cpp refused the KV snapshot; re-reading the text instead")
            )
        return self.restored
