"""Progress as a few plain lines on stderr: for pipes, logs and CI."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from lwz_cli.events import (
    DoneEvent,
    Event,
    LoadingEvent,
    PlanEvent,
    ResumedEvent,
    SectionStartEvent,
    StartEvent,
    TickEvent,
    WaitingEvent,
    WarningEvent,
)
from lwz_cli.view.format import citations_line, duration, words_of
from lwz_cli.writing.length import word_unit

REPORT_EVERY = 15.0  # seconds between progress lines while writing


class PlainView:
    def __init__(
        self, stream: TextIO | None = None, *, clock: Callable[[], float] = time.monotonic
    ):
        self.stream = stream or sys.stderr
        self._clock = clock  # seconds, for pacing the progress lines
        self.target: int | None = None
        self.language: str | None = None  # the run's: lengths are in 字 for Chinese
        self.words = 0  # of the document (not of the outline being planned)
        self._phase = ""
        self._last_report = self._clock()

    def _say(self, text: str) -> None:
        self.stream.write(f"lwz: {text}\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        match event:
            case StartEvent():
                self.target, self.language = event.target_words, event.language
                target = (
                    f", target {event.target_words:,} {word_unit(event.language)}"
                    if event.target_words
                    else ""
                )
                verb = "resuming" if event.resumed else "writing"
                self._say(
                    f"{verb} with {event.model} (ctx {event.n_ctx}, "
                    f"{event.threads} threads{target})"
                )
                if event.strategy_reason:
                    self._say(f"strategy {event.strategy}: {event.strategy_reason}")
            case PlanEvent(sections=sections):
                self._say(f"plan: {len(sections)} sections")
                for section in sections:
                    self._say(
                        f"  {section.index:>2}. {section.title} "
                        f"({section.budget:,} {word_unit(self.language)})"
                    )
            case LoadingEvent():
                self._say("loading the model")
                self._phase = "loading"
            case ResumedEvent(words=words):
                self.words = words
                self._say(f"resumed: {words:,} {word_unit(self.language)} were already written")
                self._phase = "resumed"
                self._report(event)
            case TickEvent():
                phase = event.phase
                if phase == "planning" and self._phase != "planning":
                    self._say("planning the outline")
                elif phase == "think" and self._phase != "think":
                    self._say("thinking")
                elif phase == "answer" and self._phase != "answer":
                    self._say("writing the document")
                self._phase = phase or self._phase
                if phase != "planning":  # a planning tick counts the outline's words
                    self.words = event.words
                self._report(event)
            case SectionStartEvent():
                budget = f" ({event.budget:,} {word_unit(self.language)})" if event.budget else ""
                self._say(f"section {event.index}: {event.title}{budget}")
            case WarningEvent(message=message):
                self._say(f"warning: {message}")
            case WaitingEvent(message=message):
                self._say(message)
            case DoneEvent():
                where = f" -> {event.output}" if event.output else ""
                self._say(
                    f"done: {words_of(event.words, event.target_words, self.language)} in "
                    f"{duration(event.seconds)}, {event.generated_tokens:,} tokens at "
                    f"{event.tokens_per_second:.1f} tok/s{where}"
                )
                cited = citations_line(event.citations, event.sources)
                if cited:
                    self._say(cited)

    def _report(self, event: TickEvent | ResumedEvent) -> None:
        """A progress line every REPORT_EVERY seconds (events that carry counts)."""
        now = self._clock()
        if now - self._last_report >= REPORT_EVERY:
            self._last_report = now
            tokens, seconds = (
                (event.tokens, event.decode_seconds) if isinstance(event, TickEvent) else (0, 0.0)
            )
            rate = tokens / seconds if seconds else 0
            self._say(
                f"{words_of(self.words, self.target, self.language)}, {tokens:,} tokens, "
                f"{rate:.1f} tok/s"
            )

    def close(self) -> None:
        pass


class QuietView:
    """`--quiet`: warnings only, and why a run waits (else it would seem to hang)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr

    def __call__(self, event: Event) -> None:
        if isinstance(event, WarningEvent):
            self.stream.write(f"lwz: warning: {event.message}\n")
        elif isinstance(event, WaitingEvent):
            self.stream.write(f"lwz: {event.message}\n")

    def close(self) -> None:
        pass
