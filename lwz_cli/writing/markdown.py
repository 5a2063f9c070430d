"""Structure of a finished document, read with markdown-it-py."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _md():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def outline(text: str) -> list[tuple[int, str]]:
    """(level, title) for every heading, setext and ATX, outside code blocks."""
    tokens = _md().parse(text)
    found = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            found.append((int(token.tag[1]), tokens[i + 1].content.strip()))
    return found


def unclosed_fence(text: str) -> bool:
    """True when the text ends inside a fenced code block."""
    open_fence = None
    for line in text.splitlines():
        stripped = line.lstrip()
        if len(line) - len(stripped) > 3:
            continue
        for mark in ("```", "~~~"):
            if stripped.startswith(mark):
                if open_fence is None:
                    open_fence = mark
                elif open_fence == mark:
                    open_fence = None
                break
    return open_fence is not None
