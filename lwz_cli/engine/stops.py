"""Incremental stop-string matching over streamed text.

Text that could be the start of a stop string is held back until it either
completes the stop string or cannot; the cost per piece depends only on the
length of the stop strings, never on the text generated so far.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    def __init__(self, stops: Sequence[str]):
        self.stops = tuple(dict.fromkeys(s for s in stops if s))
        self._max = max((len(s) for s in self.stops), default=0)
        self._firsts = frozenset(s[0] for s in self.stops)
        self._held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to release, whether a stop string was hit)."""
        if not self.stops:
            return text, False
        buf = self._held + text
        hit = -1
        for stop in self.stops:
            # Only the new text plus the held tail can contain a new match.
            index = buf.find(stop)
            if index != -1 and (hit == -1 or index < hit):
                hit, self.matched = index, stop
        if hit != -1:
            self._held = ""
            return buf[:hit], True
        start = max(0, len(buf) - self._max + 1)
        for i in range(start, len(buf)):
            if buf[i] in self._firsts:
                tail = buf[i:]
                if any(stop.startswith(tail) for stop in self.stops):
                    self._held = tail
                    return buf[:i], False
        self._held = ""
        return buf, False

    @property
    def pending(self) -> bool:
        return bool(self._held)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
