"""Ctrl-C and SIGTERM during generation: the first asks the run to stop, the second stops it.

Shared by the front ends that generate (`lwz write`, `lwz batch`, the `lwz chat` REPL).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupt_sets(cancel: threading.Event) -> Iterator[None]:
    """First Ctrl-C / SIGTERM asks the run to stop at the next token; a second one
    stops at once."""

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
