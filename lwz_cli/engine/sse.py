"""A bounded `text/event-stream` parser, fed bytes as they arrive.

Lines are split on bytes and decoded strictly, one at a time, so memory stays
within `max_line` whatever a server sends: a line (or one event's data) longer
than that, bytes that are not UTF-8, or data that is not JSON raise
`MalformedStream`, which the engine retries like a broken connection. The bound
is far above any honest chunk: a server that sends one 50 MB chunk is still read.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Final

MAX_LINE: Final = 64 << 20  # bytes in one line, or in one event's data
DONE: Final = "[DONE]"  # the OpenAI stream's last event


class MalformedStream(Exception):
    """The server's stream is not a well-formed event stream of JSON events."""


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


class SseParser:
    """`feed(bytes)` returns the events completed so far: decoded JSON values, or
    `DONE` (after which nothing more is returned). `end()` at EOF returns a last
    event that lacked its blank line; a torn one is dropped."""

    def __init__(self, max_line: int = MAX_LINE):
        self.max_line = max_line
        self._parts: list[bytes] = []  # the line being received, not yet ended
        self._pending = 0  # its size in bytes
        self._data: list[str] = []  # the event being received: its data lines
        self._data_size = 0
        self.done = False
        self.events = 0  # events returned so far (not counting DONE)

    def feed(self, chunk: bytes) -> list[Any]:
        out: list[Any] = []
        if self.done:
            return out
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                break
            piece = chunk[start:newline]
            if self._parts:
                self._parts.append(piece)
                piece = b"".join(self._parts)
                self._parts, self._pending = [], 0
            self._check(len(piece))
            start = newline + 1
            self._line(piece, out)
            if self.done:
                return out
        rest = chunk[start:]
        if rest:
            self._parts.append(rest)
            self._pending += len(rest)
            self._check(self._pending)
        return out

    def end(self) -> list[Any]:
        """EOF: the caller decides from finish_reason whether the stream was whole."""
        out: list[Any] = []
        if self.done:
            return out
        if self._parts:  # a last line without its newline
            try:
                self._line(b"".join(self._parts), out)
            except MalformedStream:
                return out  # torn: dropped
            self._parts, self._pending = [], 0
        if self._data and not self.done:
            with contextlib.suppress(MalformedStream):  # a torn last event is dropped
                out.append(self._event("\n".join(self._data)))
            self._data = []
        return out

    def _check(self, size: int) -> None:
        if size > self.max_line or self._data_size + size > self.max_line:
            raise MalformedStream(f"it sent a line longer than {_mib(self.max_line)}")

    def _line(self, raw: bytes, out: list[Any]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedStream("it sent bytes that are not UTF-8") from None
        if line == "":
            if self._data:
                text = "\n".join(self._data)
                self._data, self._data_size = [], 0
                if text.strip() == DONE:
                    self.done = True
                    out.append(DONE)
                    return
                out.append(self._event(text))
            return
        if line.startswith(":"):  # a comment: keep-alive pings
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            if value.strip() == DONE and not self._data:
                self.done = True
                out.append(DONE)
                return
            self._data.append(value)
            self._data_size += len(raw)
        elif name == "error":  # llama-server reports some failures this way
            try:
                detail = json.loads(value)
            except ValueError:
                detail = {"message": value}
            self._data.append(json.dumps({"error": detail}))
            self._data_size += len(raw)

    def _event(self, text: str) -> Any:
        try:
            event = json.loads(text)
        except ValueError:
            raise MalformedStream("it sent an event that is not JSON") from None
        self.events += 1
        return event
