"""`--json`: JSON Lines on stdout, one event per line, as design.md specifies."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

# `progress` ticks are for the interactive views only; scripts get the contract.
PUBLIC_EVENTS = frozenset({
    "start", "think", "plan", "section_start", "text", "section_end",
    "checkpoint", "warning", "done", "error",
})


class JsonLinesView:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] in PUBLIC_EVENTS:
            self.stream.write(json.dumps(event, ensure_ascii=False) + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass
