"""Download progress: a Rich bar on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import json
import sys
import time

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from lwz_cli.events import DownloadEvent
from lwz_cli.view.format import duration


class DownloadProgress:
    def __init__(self, total: int, label: str, *, json_mode: bool = False, quiet: bool = False):
        self.total = total
        self.json_mode = json_mode
        self.quiet = quiet
        self._last_line = 0.0
        self._bar = None
        if not (json_mode or quiet) and sys.stderr.isatty():
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)
        elif not (json_mode or quiet):
            sys.stderr.write(f"lwz: downloading {label} ({total / 1e9:.1f} GB)\n")

    def __call__(self, update: dict) -> None:
        done = update["done"]
        if self._bar is not None:
            self._bar.update(self._task, completed=done + update.get("offset", 0))
            return
        now = time.monotonic()
        if self.json_mode:
            if now - self._last_line >= 1.0 or done == update["total"]:
                self._last_line = now
                event = DownloadEvent(
                    file=update["file"],
                    done=done,
                    total=update["total"],
                    rate=update["rate"],
                    resumed_from=update["resumed_from"],
                    offset=update["offset"],
                )
                sys.stdout.write(json.dumps(event.to_json()) + "\n")
                sys.stdout.flush()
            return
        if self.quiet or now - self._last_line < 5.0:
            return
        self._last_line = now
        rate = update.get("rate", 0.0)
        eta = (update["total"] - done) / rate if rate > 0 else None
        resumed = (
            f", resumed at {update['resumed_from'] / 1e9:.1f} GB"
            if update.get("resumed_from")
            else ""
        )
        sys.stderr.write(
            f"lwz: {update['file']}: {done / 1e9:.2f} / {update['total'] / 1e9:.2f} GB, "
            f"{rate / 1e6:.1f} MB/s, ETA {duration(eta)}{resumed}\n"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
