"""HTML: the text of its block elements (paragraphs, headings, list items, cells), with
the lines they span in the file; scripts, styles and the head are left out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

from lwz_cli.sources.blocks import Block
from lwz_cli.sources.text_reader import decode
from lwz_cli.sources.unreadable import Unreadable

_BLOCKS = frozenset(
    [
        "p",
        "div",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "br",
        "tr",
        "td",
        "th",
        "dt",
        "dd",
        "pre",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "main",
        "aside",
        "nav",
        "table",
        "ul",
        "ol",
        "dl",
        "figure",
        "figcaption",
        "hr",
        "title",
    ]
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HIDDEN = frozenset({"script", "style", "noscript", "template", "svg"})
_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


class _Paragraphs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._parts: list[str] = []
        self._first = 1
        self._hidden = 0
        self._heading = False

    def finish(self) -> None:
        """Text after the last block element (a fragment with no closing tag)."""
        self._flush()

    def _flush(self) -> None:
        text = "".join(self._parts)
        if text.strip():
            last = self.getpos()[0]
            block = Block(text, None, (self._first, max(self._first, last)), self._heading)
            self.blocks.append(block)
        self._parts = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self._flush()
            self._heading = tag in _HEADINGS

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self._flush()
            self._heading = False

    def handle_data(self, data: str) -> None:
        if self._hidden or (not data.strip() and not self._parts):
            return
        if not self._parts:
            # the block starts on the line of its first text, past leading newlines
            self._first = self.getpos()[0] + data[: len(data) - len(data.lstrip())].count("\n")
        self._parts.append(data)


def _decode(data: bytes) -> str:
    declared = _CHARSET.search(data[:4096])
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        try:
            return data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            raise Unreadable(
                f"not readable as its declared charset {declared.group(1).decode('ascii')}"
            ) from None
    return decode(data)


def read_html(data: bytes) -> Iterator[Block]:
    parser = _Paragraphs()
    parser.feed(_decode(data))
    parser.close()
    parser.finish()
    return iter(parser.blocks)
