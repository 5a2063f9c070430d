"""DOCX through python-docx: its paragraphs and table cells, in document order.

A DOCX has no pages or lines until it is laid out, so its passages carry neither.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from lwz_cli.sources.blocks import Block
from lwz_cli.sources.unreadable import Unreadable


def _is_heading(paragraph: Any) -> bool:
    style = getattr(paragraph.style, "name", "") or ""
    return style.startswith("Heading") or style == "Title"


def read_docx(data: bytes) -> Iterator[Block]:
    import docx  # the [sources] extra (python-docx); checked by readers.require

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [
            Block(paragraph.text, heading=_is_heading(paragraph))
            for paragraph in document.paragraphs
        ]
        for table in document.tables:
            for row in table.rows:
                blocks.extend(Block(cell.text) for cell in row.cells)
    except Exception as exc:  # not a zip, not a Word document, a damaged part
        raise Unreadable(f"not a readable DOCX ({type(exc).__name__}: {exc})"[:200]) from None
    if not any(block.text.strip() for block in blocks):
        raise Unreadable("a DOCX with no text")
    return iter(blocks)
