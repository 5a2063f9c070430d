"""Progress as a few plain lines on stderr: for pipes, logs and CI."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from lwz_cli.view.format import duration, words_of

REPORT_EVERY = 15.0  # seconds between progress lines while writing


class PlainView:
    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.target: int | None = None
        self._phase = ""
        self._last_report = time.monotonic()

    def _say(self, text: str) -> None:
        self.stream.write(f"lwz: {text}\n")
        self.stream.flush()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            self.target = event.get("target_words")
            target = f", target {event['target_words']:,} words" if event.get("target_words") else ""
            verb = "resuming" if event.get("resumed") else "writing"
            self._say(f"{verb} with {event['model']} (ctx {event['n_ctx']}, "
                      f"{event['threads']} threads{target})")
            if event.get("strategy_reason"):
                self._say(f"strategy {event['strategy']}: {event['strategy_reason']}")
        elif kind == "plan":
            self._say(f"plan: {len(event['sections'])} sections")
            for section in event["sections"]:
                self._say(f"  {section['index']:>2}. {section['title']} ({section['budget']:,} words)")
        elif kind == "progress":
            phase = event.get("phase")
            if phase == "loading":
                self._say("loading the model")
            elif phase == "resumed":
                self._say(f"resumed: {event.get('words', 0):,} words were already written")
            elif phase == "planning" and self._phase != "planning":
                self._say("planning the outline")
            elif phase == "think" and self._phase != "think":
                self._say("thinking")
            elif phase == "answer" and self._phase != "answer":
                self._say("writing the document")
            self._phase = phase or self._phase
            now = time.monotonic()
            if "tokens" in event and now - self._last_report >= REPORT_EVERY:
                self._last_report = now
                rate = event["tokens"] / event["decode_seconds"] if event.get("decode_seconds") else 0
                self._say(f"{words_of(event['words'], self.target)}, "
                          f"{event['tokens']:,} tokens, {rate:.1f} tok/s")
        elif kind == "section_start":
            budget = f" ({event['budget']:,} words)" if event.get("budget") else ""
            self._say(f"section {event['index']}: {event['title']}{budget}")
        elif kind == "warning":
            self._say(f"warning: {event['message']}")
        elif kind == "done":
            where = f" -> {event['output']}" if event.get("output") else ""
            self._say(f"done: {words_of(event['words'], event.get('target_words'))} in "
                      f"{duration(event['seconds'])}, {event['generated_tokens']:,} tokens at "
                      f"{event['tokens_per_second']:.1f} tok/s{where}")

    def close(self) -> None:
        pass


class QuietView:
    """`--quiet`: warnings only."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "warning":
            self.stream.write(f"lwz: warning: {event['message']}\n")

    def close(self) -> None:
        pass
