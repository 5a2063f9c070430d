"""Blocks and passages: what a reader yields, cut into passages of about a paragraph.

A reader yields `Block`s: a paragraph of its file (or a heading, a list item, a
table cell) with where it came from. `passages()` merges short blocks into the
next one on the same page (a heading travels with its paragraph, so a query for
the heading's words finds the text under it; a heading always starts a passage) and splits long ones at sentences,
so every passage is at most `MAX_CHARS`: retrieval hands out whole passages
within a token budget, and one huge paragraph would take the whole budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lwz_cli.sources.passage import Passage

MAX_CHARS = 1200  # about 200 English words or 800 Chinese characters
MIN_CHARS = 200  # a shorter block joins the next one (a heading, a one-line item)

# the end of a sentence: Western punctuation then space, or CJK punctuation (no space follows)
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|(?<=[。！？；])")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Block:
    text: str
    page: int | None = None
    lines: tuple[int, int] | None = None
    heading: bool = False  # starts a new passage: never joined to the text before it


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _pieces(text: str) -> list[str]:
    """`text` cut at sentence ends into pieces of at most MAX_CHARS (a longer sentence at
    spaces, and a text with no spaces at MAX_CHARS characters)."""
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        for part in _hard_split(sentence):
            if current and len(current) + 1 + len(part) > MAX_CHARS:
                pieces.append(current)
                current = ""
            current = f"{current} {part}" if current and not _cjk_join(current) else current + part
    if current:
        pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def _cjk_join(left: str) -> bool:
    """CJK sentences join without a space."""
    return left[-1:] in "。！？；"


def _hard_split(sentence: str) -> Iterator[str]:
    while len(sentence) > MAX_CHARS:
        cut = sentence.rfind(" ", MAX_CHARS // 2, MAX_CHARS)
        cut = cut if cut > 0 else MAX_CHARS
        yield sentence[:cut].strip()
        sentence = sentence[cut:].strip()
    if sentence:
        yield sentence


def _joined(first: Block, second: Block) -> Block:
    lines = None
    if first.lines is not None and second.lines is not None:
        lines = (first.lines[0], second.lines[1])
    # a heading joined to its text ends like a sentence: "History. The cooperative..."
    last = first.text[-1:]
    glue = " "
    if first.heading and last.isalnum():
        glue = "。" if "\u3400" <= last <= "\u9fff" else ". "
    return Block(f"{first.text}{glue}{second.text}", first.page, lines)


def passages(path: str, blocks: Iterable[Block]) -> Iterator[Passage]:
    """The passages of one file, in reading order."""
    pending: Block | None = None
    for raw in blocks:
        text = normalise(raw.text)
        if not text:
            continue
        block = Block(text, raw.page, raw.lines, raw.heading)
        if pending is not None:
            if (
                not block.heading
                and pending.page == block.page
                and len(pending.text) + len(text) < MAX_CHARS
            ):
                block = _joined(pending, block)
            else:
                yield from _split(path, pending)
            pending = None
        if len(block.text) < MIN_CHARS:
            pending = block
        else:
            yield from _split(path, block)
    if pending is not None:
        yield from _split(path, pending)


def _split(path: str, block: Block) -> Iterator[Passage]:
    # the pieces of a long paragraph keep its page and line range: lines are not
    # tracked within a paragraph, and the range still finds it in the file
    for piece in _pieces(block.text):
        yield Passage(path, piece, block.page, block.lines)
