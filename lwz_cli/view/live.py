"""The Rich live view: think stream, plan, draft tail and a status line.

State kept here is bounded (a few lines of think, a capped draft tail, the
section list), and the screen is redrawn at most `REFRESH_HZ` times a second,
so the view costs the same at word 10 as at word 10,000.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from lwz_cli.clock import active_seconds
from lwz_cli.events import (
    CheckpointEvent,
    DoneEvent,
    Event,
    LoadingEvent,
    PlanEntry,
    PlanEvent,
    ResumedEvent,
    SectionEndEvent,
    SectionStartEvent,
    StartEvent,
    TextEvent,
    ThinkEvent,
    TickEvent,
    WaitingEvent,
    WarningEvent,
)
from lwz_cli.view.format import citations_line, duration, eta_seconds, words_of, wrap_line

REFRESH_HZ = 8
TAIL_KEEP = 6000  # characters of draft kept for display
THINK_LINES = 4
PLAN_ROWS = 8


class BoundedTail:
    """The last characters of a growing text; amortised O(1) per append."""

    def __init__(self, keep: int = TAIL_KEEP):
        self.keep = keep
        self.text = ""

    def append(self, piece: str) -> None:
        self.text += piece
        if len(self.text) > 2 * self.keep:
            self.text = self.text[-self.keep :]

    def rows(self, width: int, count: int) -> list[str]:
        """The last `count` display rows, long lines wrapped at word boundaries to
        `width` cells. Only the end of the text is looked at: a bounded cost."""
        rows: list[str] = []
        window = self.text[-(width * count * 2) :]
        lines = window.split("\n")
        if len(window) < len(self.text) and self.text[-len(window) - 1] != "\n":
            # the window starts inside a line: begin its first row at a word
            first = lines[0]
            lines[0] = first[first.find(" ") + 1 :]
        for line in reversed(lines):
            rows[:0] = wrap_line(line, width)
            if len(rows) >= count:
                break
        return rows[-count:]


class LiveView:
    def __init__(
        self,
        console: Console | None = None,
        *,
        attach: bool = True,
        clock: Callable[[], float] = active_seconds,
        no_output: str = "-> stdout",
    ):
        """`attach=False`: keep state and `render()` on demand, drawing nothing itself
        (lwz batch embeds the running job's view under its jobs bar). `clock`: seconds,
        for redraw pacing, rates and ages (bench/view.py runs it on a simulated one);
        by default the active clock, so time spent stopped (Ctrl-Z) is in no rate.
        `no_output`: where the document goes when the run names no file (`lwz chat`
        sets its own: a chat draft without PATH is not printed)."""
        self.console = console or Console(stderr=True)
        self._clock = clock
        self.no_output = no_output
        self.start: StartEvent | None = None
        self.think = BoundedTail(2000)
        self.draft = BoundedTail()
        self.sections: deque[list] = deque(maxlen=200)
        self.phase = "starting"
        self.tokens = 0
        self.words = 0
        self.decode_seconds = 0.0
        self.warnings: deque[str] = deque(maxlen=3)
        self.cited: str | None = None  # the citations line, once `done` gives one
        self.saved_at: float | None = None
        self.planned: dict[int, PlanEntry] = {}  # planned strategy: index -> section with budget
        self._began = self._clock()
        self._first_words_at: tuple[float, int] | None = None
        self._last_draw = 0.0
        self._live = None
        if attach:
            self._live = Live(
                console=self.console,
                auto_refresh=False,
                transient=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    # -- events -------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        match event:
            case TextEvent(text=text):
                self.draft.append(text)
            case ThinkEvent(text=text):
                self.think.append(text)
            case LoadingEvent():
                self.phase = "loading"
            case ResumedEvent():
                self.draft.append(event.draft_tail)
                self.think.append(event.think_tail or "")
                self.phase = "resumed"
                self.tokens = 0
                self._words(event.words)
            case TickEvent():
                self.phase = event.phase
                self.tokens = event.tokens
                self.decode_seconds = event.decode_seconds
                if event.phase != "planning":  # a planning tick counts the outline's words
                    self._words(event.words)
            case PlanEvent(sections=sections):
                self.planned = {s.index: s for s in sections}
            case SectionStartEvent():
                if event.index not in [row[0] for row in self.sections]:
                    self.sections.append([event.index, event.level, event.title, None])
            case SectionEndEvent():
                for row in reversed(self.sections):
                    if row[0] == event.index:
                        row[3] = event.words
                        break
            case StartEvent():
                self.start = event
            case CheckpointEvent():
                self.saved_at = self._clock()
            case WarningEvent(message=message):
                self.warnings.append(message)
            case WaitingEvent(message=message):
                # a line above the view, kept in the scrollback; nothing to draw before
                # the start event says what the run is
                if self._live is not None:
                    self.console.print(f"lwz: {message}", markup=False, highlight=False)
                return
            case DoneEvent(words=words):
                self.words = words
                self.phase = "done"
                self.cited = citations_line(event.citations, event.sources)
                self._draw(force=True)
                return
        self._draw()

    def _words(self, words: int) -> None:
        self.words = words
        if self.words and self._first_words_at is None:
            self._first_words_at = (self._clock(), self.words)

    def _draw(self, force: bool = False) -> None:
        if self._live is None:
            return
        now = self._clock()
        if force or now - self._last_draw >= 1.0 / REFRESH_HZ:
            self._last_draw = now
            self._live.update(self.render(), refresh=True)

    # -- rendering ----------------------------------------------------------

    def _words_per_second(self) -> float:
        if self._first_words_at is None:
            return 0.0
        since, words0 = self._first_words_at
        elapsed = self._clock() - since
        return (self.words - words0) / elapsed if elapsed > 1 else 0.0

    def _plan_rows(self) -> list[tuple[int, str, str]]:
        """(index, label, words) rows: written sections, then planned ones to come.
        With a plan, rows show words / budget; the current one is marked."""
        written = {row[0]: row for row in self.sections}
        indexes = sorted(set(written) | set(self.planned))
        rows = []
        current = max(written) if written else None
        for index in indexes:
            row = written.get(index)
            plan = self.planned.get(index)
            level = row[1] if row else 2
            title = row[2] if row else self.planned[index].title  # not written: so planned
            words = row[3] if row else None
            active = row is not None and words is None and self.phase != "done"
            mark = "▸ " if active or (index == current and words is None) else "  "
            budget = f" / {plan.budget:,}" if plan else ""
            shown = ("…" if row else "") if words is None else f"{words:,}"
            rows.append(
                (
                    index,
                    mark + "  " * max(0, level - 2 if plan else level - 1) + title,
                    f"{shown}{budget}",
                )
            )
        if self.planned and current is not None:
            # keep the current section in view: rows around it
            position = indexes.index(current)
            start = max(0, min(position - PLAN_ROWS // 2, len(rows) - PLAN_ROWS))
            rows = rows[start : start + PLAN_ROWS]
        return rows

    def render(self) -> Group:
        width = max(20, self.console.size.width - 4)
        height = self.console.size.height
        start = self.start
        target = start.target_words if start else None
        strategy = start.strategy if start else ""
        language = start.language if start else None
        parts: list[RenderableType] = []
        where = f"-> {start.output}" if start and start.output else self.no_output
        title = Text.assemble(
            ("lwz ", "bold cyan"), (start.model if start else "", "cyan"), ("  " + where, "dim")
        )
        parts.append(title)
        if self.think.text:
            think_rows = self.think.rows(width, THINK_LINES)
            parts.append(
                Panel(
                    Text("\n".join(think_rows), style="dim italic"),
                    title="think",
                    title_align="left",
                    border_style="dim",
                )
            )
        rows = self._plan_rows()
        if rows:
            table = Table.grid(padding=(0, 2))
            table.add_column(justify="right", style="dim")
            table.add_column()
            table.add_column(justify="right")
            for index, label, words in rows[-PLAN_ROWS:]:
                table.add_row(str(index), label, words)
            total = len(self.planned) or len(self.sections)
            parts.append(
                Panel(
                    table,
                    title=f"plan ({len(self.sections)}/{total} sections)"
                    if self.planned
                    else f"plan ({total} sections)",
                    title_align="left",
                    border_style="blue",
                )
            )
        used = (
            3
            + (THINK_LINES + 2 if self.think.text else 0)
            + (min(PLAN_ROWS, len(rows)) + 2 if rows else 0)
        )
        draft_rows = max(3, min(20, height - used - 6))
        draft = self.draft.rows(width, draft_rows) if self.draft.text else []
        parts.append(
            Panel(
                Text("\n".join(draft)),
                title="draft",
                title_align="left",
                border_style="green",
                height=draft_rows + 2,
            )
        )
        for message in self.warnings:
            parts.append(Text(f"warning: {message}", style="yellow"))
        rate = self.tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0
        eta = eta_seconds(self.words, target, self._words_per_second())
        status = Text.assemble(
            (f"{self.phase:<8} ", "bold"),
            (f"{strategy} · ", "dim") if strategy else "",
            words_of(self.words, target, language),
            f" · {self.tokens:,} tok · {rate:.1f} tok/s",
            f" · {duration(self._clock() - self._began)} elapsed",
            f" · ETA {duration(eta)}" if self.phase != "done" else "",
            (f" · saved {duration(self._clock() - self.saved_at)} ago", "dim")
            if self.saved_at is not None and self.phase != "done"
            else "",
        )
        # the document's destination ends the last line, whole: on the status line's
        # last row when it fits there, else on a row of its own
        last_row = status.wrap(self.console, width + 4)[-1]
        fits = cell_len(last_row.plain) + 3 + cell_len(where) <= width + 4
        status.append((" · " if fits else "\n") + where, "dim")
        parts.append(status)
        if self.cited:  # --source: what the citation check kept and dropped
            parts.append(Text(self.cited))
        return Group(*parts)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
