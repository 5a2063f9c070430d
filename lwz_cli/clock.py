"""Time a run spends running: tok/s, decode seconds and the ETA leave out the time the
process spent stopped (Ctrl-Z, `kill -STOP`), which would otherwise drag the rate down
for the rest of the run.

SIGSTOP cannot be caught, but SIGCONT can: `interrupt_sets` calls `continued()` on it,
and the next reading drops the gap since the reading before it. Generation reads the
clock at every token, so that gap is the stop plus at most one token's time; a stop
during a long prefill (no readings) also drops the prefill's time before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ActiveClock:
    """Monotonic seconds less the stops signalled by `continued()`; callable like
    `time.monotonic`, and safe to read from several threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._stopped = 0.0  # seconds left out so far
        self._continued = False

    def __call__(self) -> float:
        with self._lock:
            now = self._clock()
            if self._continued:  # the process was stopped since the last reading
                self._continued = False
                self._stopped += now - self._last
            self._last = now
            return now - self._stopped

    def continued(self) -> None:
        """SIGCONT arrived: the time since the last reading was spent stopped. Only a
        flag is set, so this is safe in a signal handler (no lock taken)."""
        self._continued = True


# the one clock of this process: engines, drafts and views read it
active_clock = ActiveClock()


def active_seconds() -> float:
    """The active clock's reading (through the module, so a test can swap the clock)."""
    return active_clock()
