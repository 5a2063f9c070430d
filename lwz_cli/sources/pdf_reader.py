"""PDF through pypdf: each page's text, cut into paragraphs, with its 1-based page."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

from lwz_cli.sources.blocks import Block
from lwz_cli.sources.unreadable import Unreadable

# pypdf logs every oddity of a damaged file; lwz says one line per unreadable file instead
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


def _paragraphs(page_text: str) -> Iterator[str]:
    """pypdf gives a page as lines; a blank line, or a line ending a sentence that is much
    shorter than the page's longest (the last line of a paragraph), ends a paragraph."""
    lines = page_text.splitlines()
    width = max((len(line.strip()) for line in lines), default=0)
    current: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if current:
                yield " ".join(current)
                current = []
            continue
        current.append(stripped)
        if stripped[-1:] in ".!?。！？" and len(stripped) < 0.7 * width:
            yield " ".join(current)
            current = []
    if current:
        yield " ".join(current)


def read_pdf(data: bytes) -> Iterator[Block]:
    from pypdf import PdfReader  # the [sources] extra; checked by readers.require

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Unreadable("an encrypted PDF (lwz cannot open it without its password)")
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            blocks.extend(Block(paragraph, number) for paragraph in _paragraphs(text))
    except Unreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file; each is a skip
        raise Unreadable(f"not a readable PDF ({type(exc).__name__}: {exc})"[:200]) from None
    if not blocks:
        raise Unreadable("a PDF with no text (a scanned PDF needs OCR first)")
    return iter(blocks)
