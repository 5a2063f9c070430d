"""Views subscribe to events and never touch the engine.

- `JsonLinesView`: the `--json` contract, one event per line on stdout;
- `PlainView`: a few progress lines on stderr when it is not a terminal;
- `LiveView`: the Rich live view on a terminal.
"""

from lwz_cli.view.json_lines import JsonLinesView
from lwz_cli.view.plain import PlainView, QuietView

__all__ = ["JsonLinesView", "PlainView", "QuietView"]
