"""Streamed text -> events: think text, document text and Markdown sections.

Work per piece is proportional to the piece (plus a few held-back characters
of a possibly split tag or heading line), never to the document so far.

Protocol handling:
- `<think>...</think>` goes to `think` events and never into the document;
- `<answer>` starts the document; `</answer>` ends it (text after is dropped);
- text with no tags at all is the document;
- `<answer>` inside an unclosed `<think>` ends the think (missing `</think>`);
- tags split across pieces (`<thi` + `nk>`) are recognised.
"""

from __future__ import annotations

import re
from typing import Any

from lwz_cli.events import SectionEndEvent, SectionStartEvent, TextEvent, ThinkEvent
from lwz_cli.writing.length import WordCounter

ParserEvent = TextEvent | ThinkEvent | SectionStartEvent | SectionEndEvent  # what the parser yields

TAGS = ("<think>", "</think>", "<answer>", "</answer>")
_TAG = re.compile(r"</?(?:think|answer)>")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^(```|~~~)")
_MAX_HEADING_LINE = 300

# Modes
PRE, THINK, BETWEEN, ANSWER, POST = "pre", "think", "between", "answer", "post"


class SectionTracker:
    """Document text -> `text`, `section_start`, `section_end` events.

    A line that may be a heading or a code fence (it starts with '#', '`' or
    '~') is held until its end, so `section_start` precedes the heading's own
    text and '#' lines inside fenced code are not taken for headings.
    """

    def __init__(self, min_level: int = 1) -> None:
        self.min_level = min_level  # a heading above this level is demoted to it
        self.words = WordCounter()
        self.sections: list[dict[str, Any]] = []
        self._at_line_start = True
        self._line: str | None = None  # buffered possible heading line
        self._in_fence = False
        self._section_words_at_start = 0

    @property
    def held(self) -> int:
        """Characters of document text held back (a line that may be a heading)."""
        return len(self._line or "")

    def feed(self, text: str, out: list[ParserEvent]) -> None:
        i, n = 0, len(text)
        while i < n:
            if self._line is not None:
                newline = text.find("\n", i)
                if newline == -1:
                    self._line += text[i:]
                    if len(self._line) > _MAX_HEADING_LINE:
                        self._emit(self._line, out)
                        self._line = None
                        self._at_line_start = False
                    return
                line = self._line + text[i : newline + 1]
                self._line = None
                i = newline + 1
                self._complete_line(line, out)
                continue
            if self._at_line_start and text[i] in "#`~":
                self._line = ""  # a possible heading or code fence: hold the line
                continue
            newline = text.find("\n", i)
            if newline == -1:
                self._emit(text[i:], out)
                self._at_line_start = False
                return
            self._emit(text[i : newline + 1], out)
            i = newline + 1
            self._at_line_start = True

    def _complete_line(self, line: str, out: list[ParserEvent]) -> None:
        if len(line.rstrip("\n")) > _MAX_HEADING_LINE:
            # text, as when feed() gives up holding it: the same however the line was split
            self._emit(line, out)
            self._at_line_start = line.endswith("\n")
            return
        heading = _HEADING.match(line.rstrip("\n"))
        if heading and not self._in_fence:
            self._close_section(out)
            index = len(self.sections) + 1
            title = heading.group(2).strip()
            level = len(heading.group(1))
            if level < self.min_level:  # inside a planned section: a sub-heading of it
                line = "#" * self.min_level + line[level:]
                level = self.min_level
            self.sections.append({"index": index, "title": title, "level": level})
            self._section_words_at_start = self.words.total
            out.append(SectionStartEvent(index, title, level))
        elif _FENCE.match(line):
            self._in_fence = not self._in_fence
        self._emit(line, out)
        self._at_line_start = line.endswith("\n")

    def _emit(self, text: str, out: list[ParserEvent]) -> None:
        if text:
            self.words.feed(text)
            last = out[-1] if out else None
            if isinstance(last, TextEvent):  # one event per piece: merge with the last
                out[-1] = TextEvent(last.text + text)
            else:
                out.append(TextEvent(text))

    def _close_section(self, out: list[ParserEvent]) -> None:
        if self.sections and "words" not in self.sections[-1]:
            section = self.sections[-1]
            section["words"] = self.words.total - self._section_words_at_start
            out.append(SectionEndEvent(section["index"], section["title"], section["words"]))

    def finish(self, out: list[ParserEvent]) -> None:
        if self._line is not None:
            line, self._line = self._line, None
            self._complete_line(line, out)
        self._close_section(out)


class ProtocolParser:
    """Feeds text pieces, returns events. Call `finish()` once at the end."""

    def __init__(self, *, mode: str = PRE, min_heading: int = 1) -> None:
        self.mode = mode
        self.sections = SectionTracker(min_heading)
        self.think_chars = 0
        self._held = ""  # a possible partial tag at the end of the last piece
        self._doc_started = False  # leading whitespace of the answer is dropped
        self.saw_tags = False

    @property
    def words(self) -> int:
        return self.sections.words.total

    @property
    def held_chars(self) -> int:
        """Document text fed but not yet given out as events."""
        return self.sections.held

    def feed(self, piece: str) -> list[ParserEvent]:
        out: list[ParserEvent] = []
        text = self._held + piece
        self._held = ""
        cut = text.rfind("<", max(0, len(text) - 9))
        if cut != -1:
            tail = text[cut:]
            if tail not in TAGS and any(tag.startswith(tail) for tag in TAGS):
                text, self._held = text[:cut], tail
        position = 0
        for match in _TAG.finditer(text):
            self._route(text[position : match.start()], out)
            self._tag(match.group(), out)
            position = match.end()
        self._route(text[position:], out)
        return out

    def finish(self) -> list[ParserEvent]:
        out: list[ParserEvent] = []
        held, self._held = self._held, ""
        self._route(held, out)
        self.sections.finish(out)
        return out

    def _tag(self, tag: str, out: list[ParserEvent]) -> None:
        self.saw_tags = True
        if tag == "<think>":
            if self.mode != POST:
                self.mode = THINK
        elif tag == "</think>":
            if self.mode in (THINK, PRE):
                self.mode = BETWEEN
        elif tag == "<answer>":
            if self.mode != POST:
                self.mode = ANSWER
        elif tag == "</answer>":
            self.mode = POST

    def _route(self, text: str, out: list[ParserEvent]) -> None:
        if not text:
            return
        mode = self.mode
        if mode == THINK:
            self.think_chars += len(text)
            last = out[-1] if out else None
            if isinstance(last, ThinkEvent):
                out[-1] = ThinkEvent(last.text + text)
            else:
                out.append(ThinkEvent(text))
            return
        if mode == POST:
            return
        if not self._doc_started:
            # Whitespace before the document starts is not part of it.
            text = text.lstrip()
            if not text:
                return
            self.mode = ANSWER
            self._doc_started = True
        self.sections.feed(text, out)
