"""Ctrl-C, SIGTERM and SIGHUP (a closed terminal) during generation: the first asks the
run to stop, checkpointed and resumable; the second stops it at once.

Shared by the front ends that generate (`lwz write`, `lwz batch`, the `lwz chat` REPL).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lwz_cli import clock

# closing the terminal (SIGHUP) saves the run like Ctrl-C or `kill` (SIGTERM)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def interrupt_sets(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C / SIGTERM / SIGHUP asks the run to stop at the next token; a second
    one stops at once. SIGCONT (after Ctrl-Z or `kill -STOP`) tells the active clock."""

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    def continued(signum, frame):
        clock.active_clock.continued()  # tok/s and the ETA leave the stop out

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    previous[signal.SIGCONT] = signal.signal(signal.SIGCONT, continued)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
