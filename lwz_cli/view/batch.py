"""`lwz batch`'s view: overall progress plus the running jobs."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from lwz_cli.events import (
    BATCH_CONTRACT,
    DoneEvent,
    Event,
    JobEndEvent,
    JobStartEvent,
    ProgressEvent,
    ResumedEvent,
    StartEvent,
    TickEvent,
    WaitingEvent,
    WarningEvent,
)
from lwz_cli.system import NATIVE_IO
from lwz_cli.view.live import LiveView

if TYPE_CHECKING:
    from rich.console import RenderableType

    from lwz_cli.recipes import Job


def _print_event_json(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class BatchView:
    """Overall progress plus the running jobs: Rich on a terminal, plain lines when
    piped, JSON Lines (every event tagged with its job) with --json."""

    def __init__(self, total: int, *, json_mode: bool, quiet: bool):
        self.total = total
        self.json_mode = json_mode
        self.quiet = quiet
        self.lock = threading.Lock()
        self.finished = 0
        self.running: dict[str, dict] = {}
        self.views: dict[str, LiveView] = {}  # the running jobs' live views (embedded)
        self.live = None
        self._drawn = 0.0
        if not json_mode and not quiet and sys.stderr.isatty():
            self.console = Console(stderr=True)
            self.live = Live(
                self._render(),
                console=self.console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.live.start()

    def __call__(self, job: Job | None, event: Event) -> None:
        with NATIVE_IO, self.lock:  # never while a model load has stdout/stderr muted
            if self.json_mode:  # `lwz write --json`'s contract, each event tagged with its job
                if isinstance(event, BATCH_CONTRACT):
                    _print_event_json({**event.to_json(), "job": job.id if job else None})
                if isinstance(event, JobEndEvent):
                    self.finished += 1
                return
            key = job.id if job else None
            if self.live is not None and key in self.views:
                self.views[key](event)  # state only: drawn below, under the jobs bar
            match event:
                case JobStartEvent(action=action) if job is not None:  # job events carry their job
                    key = job.id
                    self.running[key] = {
                        "words": 0,
                        "target": job.words,
                        "tps": 0.0,
                        "action": action,
                    }
                    if self.live is not None and action in ("write", "resume", "regenerate"):
                        self.views[key] = LiveView(self.console, attach=False)
                    if action in ("write", "resume", "regenerate"):
                        self._line(f"[{self.finished + 1}/{self.total}] {key}: {action}")
                case ProgressEvent() if key in self.running:
                    row = self.running[key]
                    if isinstance(event, (TickEvent, ResumedEvent)):  # loading has no counts
                        row["words"] = event.words
                    if isinstance(event, TickEvent) and event.decode_seconds:
                        row["tps"] = event.tokens / event.decode_seconds
                case StartEvent(target_words=target) if key in self.running:
                    self.running[key]["target"] = target
                case WarningEvent(message=message):
                    self._line(f"warning: {message}", always=True)
                case WaitingEvent(message=message):
                    self._line(message, always=True)
                case JobEndEvent() if job is not None:
                    key = job.id
                    self.running.pop(key, None)
                    self.views.pop(key, None)
                    self.finished += 1
                    of_target = f"/{event.target_words:,}" if event.target_words else ""
                    note = f" ({event.message})" if event.message and event.status != "done" else ""
                    self._line(
                        f"[{self.finished}/{self.total}] {key}: {event.status}, "
                        f"{event.words:,}{of_target} words{note}"
                    )
            if self.live is not None:
                now = time.monotonic()  # at most 8 redraws a second, like lwz write's view
                if now - self._drawn >= 0.125 or isinstance(
                    event, (JobStartEvent, JobEndEvent, DoneEvent)
                ):
                    self._drawn = now
                    self.live.update(self._render(), refresh=True)

    def _line(self, text: str, *, always: bool = False) -> None:
        if self.quiet and not always:
            return
        if self.live is not None:
            self.live.console.print(f"lwz: {text}", markup=False, highlight=False)
        else:
            sys.stderr.write(f"lwz: {text}\n")
            sys.stderr.flush()

    def _render(self):
        head = Table.grid(padding=(0, 1))
        head.add_row(
            Text("jobs"),
            ProgressBar(total=max(1, self.total), completed=self.finished, width=40),
            Text(f"{self.finished}/{self.total}"),
        )
        rows: list[RenderableType] = [head]
        focus = next(iter(self.views), None)  # the oldest running job is shown in full
        for key, row in list(self.running.items())[:8]:
            target = f"/{row['target']:,}" if row.get("target") else ""
            rows.append(Text(f"  {key}: {row['words']:,}{target} words, {row['tps']:.1f} tok/s"))
        if focus is not None:
            rows += [Text(f"{focus}:", style="bold"), self.views[focus].render()]
        return Group(*rows)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
