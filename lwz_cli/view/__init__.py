"""Views subscribe to events and never touch the engine.

- `JsonLinesView`: the `--json` contract, one event per line on stdout;
- `PlainView`: a few progress lines on stderr when it is not a terminal;
- `LiveView`: the Rich live view on a terminal;
- `BatchView` (`view/batch.py`): `lwz batch`'s jobs, each event tagged with its job.

Each is a `View`: called with every event (it dispatches on the event's type),
closed once at the end.
"""

from typing import Protocol

from lwz_cli.events import Event
from lwz_cli.view.json_lines import JsonLinesView
from lwz_cli.view.plain import PlainView, QuietView


class View(Protocol):
    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


__all__ = ["JsonLinesView", "PlainView", "QuietView", "View"]
