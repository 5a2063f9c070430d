"""Plain text and Markdown: paragraphs between blank lines, with their line numbers."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from lwz_cli.sources.blocks import Block
from lwz_cli.sources.unreadable import Unreadable

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(data: bytes) -> str:
    """UTF-8 (or UTF-16 with its byte-order mark); anything else is a file lwz cannot read
    faithfully, so it is skipped rather than guessed at."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise Unreadable(f"not valid {encoding.upper()} text (byte {exc.start})") from None
    if b"\0" in data[:8192]:
        raise Unreadable("a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start}); convert it to UTF-8") from None


_HEADING = re.compile(r"#{1,6}\s")
_MARKS = re.compile(r"^#{1,6}\s+|\s+#+\s*$")  # a heading's `#`s: markup, not words


def text_blocks(text: str) -> Iterator[Block]:
    """One block per run of non-blank lines (lines are 1-based); a Markdown heading line
    is a block of its own."""
    first = 0
    paragraph: list[str] = []
    starts_with_heading = False
    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line) is not None
        if paragraph and (heading or not line.strip()):
            yield Block("\n".join(paragraph), None, (first, number - 1), starts_with_heading)
            paragraph = []
        if line.strip():
            if not paragraph:
                first = number
                starts_with_heading = heading
            paragraph.append(_MARKS.sub("", line) if heading else line)
    if paragraph:
        yield Block(
            "\n".join(paragraph), None, (first, first + len(paragraph) - 1), starts_with_heading
        )


def read_text(data: bytes) -> Iterator[Block]:
    return text_blocks(decode(data))
