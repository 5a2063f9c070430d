"""Writing from the author's sources: passages retrieved per section, numbered once
for the whole run, and handed to the model as excerpts it may cite as `[n]`.

LongWriter-Zero was trained on short input and long output, so each prompt gets a
small, budgeted set (`excerpt_tokens`), chosen for the section it asks for: the
section's heading, its outline notes and the brief form the query. A passage
handed out again keeps its number, so `[n]` means one passage across the whole
document. What each section was given is kept in a `Ledger`, journaled with every
checkpoint, so a resume or a redo prompts with the same excerpts and numbers.

The index itself (`lwz_cli.sources.index.SourceIndex`) is opened lazily, on the
first retrieval, and the citation check (`lwz_cli.writing.citations.cite`) runs
once on the finished document (`RunLifecycle.finish`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lwz_cli.config import default
from lwz_cli.errors import UsageError
from lwz_cli.sources.passage import Passage
from lwz_cli.tokens import TOKENS_PER_WORD
from lwz_cli.writing.length import count_words, has_cjk

if TYPE_CHECKING:
    from lwz_cli.writing.citations import CitationReport

CITATION_MODES = ("none", "numeric", "footnotes")  # as `writing.citations` spells them
CANDIDATES = 20  # passages asked of the index per query, before de-duplication
OVERLAP = 0.9  # a passage sharing this share of its words with one kept is a duplicate
# (not lower: passages of one template, "in 1987 ... 41 euros", differ in a few words)
LOCATOR_TOKENS = 12  # "[12] notes/tea.md, lines 10-24: " and the line break
MIN_CUT_TOKENS = 60
CHARS_PER_TOKEN = 3.5  # a first passage longer than the budget is cut, never below this

HEADERS = {
    ("en", True): "Excerpts from the author's sources. Cite a fact taken from an excerpt "
    "with its number, as [n]; cite nothing else:",
    ("en", False): "Excerpts from the author's sources; use their facts where they fit:",
    (
        "zh",
        True,
    ): "作者提供的资料摘录。使用其中的事实时，用编号标注出处，如 [n]；其他内容不要标注：",
    ("zh", False): "作者提供的资料摘录，可在合适处使用其中的事实：",
}


class Retriever(Protocol):
    """What the writing layer needs of a source index (`SourceIndex` is one)."""

    @property
    def files(self) -> int: ...

    @property
    def passages(self) -> int: ...

    def search(self, query: str, limit: int = 20) -> list[Passage]: ...

    def close(self) -> None: ...


class NoSources:
    """The index of a resumed run whose source files are gone: it finds nothing."""

    files = 0
    passages = 0

    def search(self, query: str, limit: int = 20) -> list[Passage]:
        return []

    def close(self) -> None:
        pass


Opener = Callable[[Sequence[str], Path | None, Callable[[str], None]], Retriever]


def open_index(specs: Sequence[str], base: Path | None, warn: Callable[[str], None]) -> Retriever:
    """The persistent index over `specs` (files, folders, globs, relative to `base`)."""
    from lwz_cli.sources.index import SourceIndex  # lazy: only a run with sources needs it

    return SourceIndex.open(specs, base=base, warn=warn)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def passage_tokens(passage: Passage) -> int:
    """A generous estimate of the tokens one numbered excerpt line takes."""
    text = passage.text + " " + passage.path
    rate = TOKENS_PER_WORD["zh" if has_cjk(text) else "en"]
    # words by LongBench's count, or characters for text it counts little of (numbers, codes)
    return int(max(count_words(text) * rate, len(text) / CHARS_PER_TOKEN)) + LOCATOR_TOKENS


def _cut(passage: Passage, tokens: int) -> Passage:
    """The passage's first words within `tokens` (a whole first passage longer than
    the budget is still worth its opening)."""
    room = tokens - LOCATOR_TOKENS - passage_tokens(replace(passage, text="")) - 2
    cut = passage.text
    while cut and passage_tokens(replace(passage, text=cut)) - LOCATOR_TOKENS > room:
        # drop a tenth at a time, at a space when there is one (CJK text has none)
        keep = max(0, len(cut) - max(1, len(cut) // 10))
        space = cut.rfind(" ", 0, keep)
        cut = cut[: space if space > keep // 2 else keep].rstrip()
    return replace(passage, text=cut + "…")


def select(found: Sequence[Passage], budget: int) -> list[Passage]:
    """The ranked passages worth handing out: duplicates (the same text, or most of
    its words in one kept) dropped, within `budget` tokens."""
    kept: list[Passage] = []
    seen: list[set[str]] = []
    used = 0
    for passage in found:
        words = _words(passage.text)
        if not words:
            continue
        if any(len(words & other) >= OVERLAP * min(len(words), len(other)) for other in seen):
            continue
        cost = passage_tokens(passage)
        if used + cost > budget:
            if kept or budget < MIN_CUT_TOKENS:
                continue  # a shorter one further down may still fit
            passage, cost = _cut(passage, budget), budget
        kept.append(passage)
        seen.append(words)
        used += cost
    return kept


@dataclass
class Ledger:
    """The run's excerpts: each passage's number (first handed out, first numbered)
    and the numbers each prompt was given, by key ("document" for a single pass,
    "section:TITLE" for a planned section)."""

    numbers: dict[int, Passage] = field(default_factory=dict)
    sets: dict[str, list[int]] = field(default_factory=dict)

    def number(self, passage: Passage) -> int:
        for n, known in self.numbers.items():
            if known == passage:
                return n
        n = len(self.numbers) + 1
        self.numbers[n] = passage
        return n

    def to_json(self) -> dict[str, Any]:
        return {
            "passages": {str(n): p.to_json() for n, p in self.numbers.items()},
            "sets": {key: list(numbers) for key, numbers in self.sets.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        return cls(
            numbers={int(n): Passage.from_json(p) for n, p in data.get("passages", {}).items()},
            sets={str(k): [int(n) for n in v] for k, v in data.get("sets", {}).items()},
        )


def excerpt_block(numbered: Sequence[tuple[int, Passage]], language: str, *, cite: bool) -> str:
    """The numbered excerpts as prompt text: "[3] notes.md, p. 2: text"."""
    lines = [HEADERS["zh" if language == "zh" else "en", cite]]
    for n, passage in numbered:
        where = ", ".join(x for x in (passage.path, passage.locator()) if x)
        lines.append(f"[{n}] {where}: {passage.text}")
    return "\n".join(lines)


@dataclass(frozen=True)
class SourcesSpec:
    """The sources a request names, as the manifest keeps them for `lwz resume`."""

    specs: tuple[str, ...]
    base: str | None = None  # the folder relative specs were named from
    citations: str = "numeric"
    excerpt_tokens: int = default("excerpt_tokens")

    def to_json(self) -> dict[str, Any]:
        return {
            "specs": list(self.specs),
            "base": self.base,
            "citations": self.citations,
            "excerpt_tokens": self.excerpt_tokens,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourcesSpec:
        return cls(
            specs=tuple(str(s) for s in data.get("specs", ())),
            base=data.get("base"),
            citations=str(data.get("citations", "numeric")),
            excerpt_tokens=int(data.get("excerpt_tokens", default("excerpt_tokens"))),
        )


class Grounding:
    """One job's sources: the index (opened on first use), the ledger of what was
    handed out, and the warnings opening the index gave (shown when the run starts).
    Mutable on purpose: a `Prepared` job holds one, and the run it starts numbers
    passages in it as it goes."""

    def __init__(self, spec: SourcesSpec, *, opener: Opener | None = None, resumed: bool = False):
        self.spec = spec
        self.ledger = Ledger()
        self.warnings: list[str] = []
        # a resumed run whose sources are gone goes on with the excerpts it journaled
        # (a fresh run naming a missing source stops at once: exit 2)
        self.resumed = resumed
        self._opener = opener
        self._index: Retriever | None = None

    @property
    def cite(self) -> bool:
        return self.spec.citations != "none"

    def index(self) -> Retriever:
        if self._index is None:
            opener = self._opener or open_index
            base = Path(self.spec.base) if self.spec.base else None
            try:
                self._index = opener(self.spec.specs, base, self.warnings.append)
            except UsageError as exc:
                if not self.resumed:
                    raise
                self.warnings.append(
                    f"{exc.message}: the sources cannot be read now, so the sections left "
                    "get only the excerpts already journaled"
                )
                self._index = NoSources()
        return self._index

    def close(self) -> None:
        """Close the index; the next retrieval opens it again."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def excerpts(
        self, key: str, query: str, language: str, *, share: float = 1.0, cite: bool = True
    ) -> str | None:
        """The numbered excerpts for prompt `key` (`share` of the budget): the
        ledger's, if it was given some before (a resume, a redo), else retrieved for
        `query` now. `cite`: the header asks for [n] (never when citations are off)."""
        numbers = self.ledger.sets.get(key)
        if numbers is None:
            found = self.index().search(query, limit=CANDIDATES)
            budget = int(self.spec.excerpt_tokens * share)
            numbers = [self.ledger.number(p) for p in select(found, budget)]
            self.ledger.sets[key] = numbers
        if not numbers:
            return None
        numbered = [(n, self.ledger.numbers[n]) for n in numbers]
        return excerpt_block(numbered, language, cite=cite and self.cite)

    def check(self, text: str, language: str) -> tuple[str, CitationReport]:
        """The document with its citations checked against the passages handed out,
        renumbered, and its References (or footnotes) appended."""
        from lwz_cli.writing.citations import cite  # lazy: only a run with sources needs it

        cited, report = cite(text, self.handed(), mode=self.spec.citations, language=language)
        return (cited if cited.endswith("\n") else cited + "\n"), report

    def handed(self) -> dict[int, Passage]:
        """Every passage handed to the model, by number."""
        return dict(self.ledger.numbers)

    def figures(self) -> dict[str, int]:
        """`done.sources`: the files and passages the index holds."""
        index = self.index()
        return {"files": index.files, "passages": index.passages}


def section_query(title: str, points: str, brief: str) -> str:
    """What a section retrieves by: its heading, its outline notes and the brief."""
    return " ".join(part for part in (title, points, brief) if part)


def section_key(title: str) -> str:
    return f"section:{title}"


DOCUMENT_KEY = "document"  # the single pass's one set
PLAN_KEY = "plan"  # the outline's short set: what the sources hold, to plan around
PLAN_SHARE = 0.5  # of the excerpt budget, for the outline
