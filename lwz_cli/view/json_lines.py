"""`--json`: JSON Lines on stdout, one event per line, as design.md specifies."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from lwz_cli.events import CONTRACT, Event


class JsonLinesView:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        if isinstance(event, CONTRACT):
            self.stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass
