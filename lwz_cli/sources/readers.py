"""Which reader a source file gets, by its suffix, and the passages it yields.

Markdown and plain text need nothing; HTML uses the standard library; PDF (pypdf)
and DOCX (python-docx) come with the `lwz-cli[sources]` extra, checked before any
file is read so a missing one is one line saying how to install it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Iterator

from lwz_cli.errors import UsageError
from lwz_cli.sources.blocks import Block, passages
from lwz_cli.sources.docx_reader import read_docx
from lwz_cli.sources.html_reader import read_html
from lwz_cli.sources.passage import Passage
from lwz_cli.sources.pdf_reader import read_pdf
from lwz_cli.sources.text_reader import read_text
from lwz_cli.sources.unreadable import Unreadable

Reader = Callable[[bytes], Iterator[Block]]

READERS: dict[str, Reader] = {
    ".md": read_text,
    ".markdown": read_text,
    ".txt": read_text,
    ".text": read_text,
    ".rst": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".xhtml": read_html,
    ".pdf": read_pdf,
    ".docx": read_docx,
}
# the module each suffix needs beyond the standard library, and its package's name
NEEDS = {".pdf": ("pypdf", "pypdf"), ".docx": ("docx", "python-docx")}
FORMATS = "Markdown, text, HTML, PDF or DOCX"


def known(suffix: str) -> bool:
    """Whether a folder's file with this suffix is a source (others in a folder are left out)."""
    return suffix.lower() in READERS


def require(suffixes: Iterable[str]) -> None:
    """Refuse, before reading anything, sources whose reader is not installed."""
    for suffix in sorted({s.lower() for s in suffixes}):
        if suffix in NEEDS:
            module, package = NEEDS[suffix]
            if importlib.util.find_spec(module) is None:
                raise UsageError(
                    f"reading {suffix} sources needs {package}",
                    hint="pip install 'lwz-cli[sources]'",
                )


def parse(data: bytes, suffix: str) -> list[Passage]:
    """The passages of one file's bytes (path left empty: the index knows whose they are).

    Raises `Unreadable` with the reason; a file named explicitly with another suffix
    is read as plain text.
    """
    reader = READERS.get(suffix.lower(), read_text)
    found = list(passages("", reader(data)))
    if not found:
        raise Unreadable("no text")
    return found
