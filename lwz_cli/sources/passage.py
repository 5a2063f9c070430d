"""A passage: about a paragraph of one source file, and where it came from.

The contract between the index (`lwz_cli.sources`) and the writing layer, which
retrieves passages per section, numbers them as excerpts, journals them and cites
them in References.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Passage:
    path: str  # the file as shown to the user (relative to where it was named, else absolute)
    text: str  # the passage itself, whitespace-normalised
    page: int | None = None  # 1-based page of a PDF
    lines: tuple[int, int] | None = None  # 1-based first and last line of a text file

    def locator(self) -> str:
        """Where in its file: `p. 3`, `lines 10-24`, or nothing (a DOCX paragraph)."""
        if self.page is not None:
            return f"p. {self.page}"
        if self.lines is not None:
            first, last = self.lines
            return f"line {first}" if first == last else f"lines {first}-{last}"
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "text": self.text,
            "page": self.page,
            "lines": list(self.lines) if self.lines is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Passage:
        lines = data.get("lines")
        return cls(
            path=str(data["path"]),
            text=str(data["text"]),
            page=data.get("page"),
            lines=(int(lines[0]), int(lines[1])) if lines else None,
        )
