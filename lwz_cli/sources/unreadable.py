"""Why a source file cannot be read: one warning line, and the file is skipped."""

from __future__ import annotations


class Unreadable(Exception):
    """A file that holds no text lwz can read (binary, encrypted, scanned, bad encoding)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
