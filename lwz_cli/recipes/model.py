"""Recipe data: the schema's constants, Recipe, Job, and the errors a recipe can raise."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lwz_cli.errors import UsageError
from lwz_cli.export import FORMATS
from lwz_cli.writing.plan import Plan

KEYS = (
    "name",
    "model",
    "strategy",
    "words",
    "params",
    "prompt",
    "output",
    "format",
    "items",
    "matrix",
    "endpoint",
    "vars",
    "outline",
    "brief",
    "style",
    "sources",
    "citations",
)
REQUIRED = {
    "name": "name: my-series",
    "prompt": 'prompt: "Write a {words}-word guide to {topic}."',
    "output": 'output: "out/{topic}.md"',
}
SUFFIXES = (".md", ".txt", *FORMATS)  # Markdown, or converted by suffix (lwz_cli.export)
ITEM_SETTINGS = (
    "words",
    "model",
    "strategy",
    "params",
)  # item keys that are settings, not variables
RESERVED = ("name", "index", "words", "model", "strategy", "params")  # not settable as variables
# params: name -> (type, minimum, maximum, an example value)
PARAMS = {
    "temperature": (float, 0.0, None, 0.6),
    "top_p": (float, 0.0, 1.0, 0.95),
    "top_k": (int, 0, None, 40),
    "min_p": (float, 0.0, 1.0, 0.05),
    "repeat_penalty": (float, 0.0, None, 1.1),
    "seed": (int, None, None, 7),
    "max_tokens": (int, 1, None, 8192),
}
MAX_JOBS = 10_000  # items x matrix beyond this is a mistake (or a YAML alias bomb)
MAX_SHOWN = 20  # problems listed in one error; the rest are counted

YAML_TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = {YAML_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
NAME = re.compile(r"\w[\w.-]{0,79}")  # a folder name on every OS: no separators, no leading dot


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RecipeError(UsageError):
    """Every problem found in one or more recipes; one line each.

    With one problem, `message` is `FILE:LINE:COL: message` and `hint` its fix; with
    several, each line carries its own hint (`...; hint`) so they print alike.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            super().__init__(str(self.problems[0]), hint=self.problems[0].hint)
            return
        lines = [f"{p}; {p.hint}" if p.hint else str(p) for p in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:
            lines.append(f"... and {len(self.problems) - MAX_SHOWN} more problems")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Overrides:
    """`lwz batch --model/--words`: settings that win over every recipe and item (so a
    recipe can be tried with another model or a short target without editing it);
    `words` fills `{words}` in the templates too."""

    model: str | None = None
    words: int | None = None


@dataclass(frozen=True)
class Job:
    """One document to write. `output` is absolute; `relpath` is relative to the recipe's
    output folder (posix). `item` and `item_line` (1-based) say which item made it."""

    id: str  # "<recipe name>/<relpath>": unique within a batch
    index: int  # 1-based position in the recipe's expansion (before --only)
    prompt: str
    output: Path
    relpath: str
    words: int | None  # None: the prompt's own stated length, if any
    model: str | None  # None: the default model (--model / config)
    strategy: str | None  # None: the default strategy
    params: dict[str, Any]
    endpoint: tuple[str, ...]
    recipe: str
    source: Path
    item: int | None = None
    item_line: int | None = None
    variables: dict[str, str] = field(default_factory=dict)
    outline: Plan | None = None  # `outline:`: the sections every job writes
    brief: str | None = None  # the recipe's brief, as text
    style: str | None = None  # the bounded excerpt of its style sample
    sources: tuple[str, ...] = ()  # `sources:`, relative to `source`'s folder
    citations: str | None = None  # `citations:`; None: the default

    @property
    def where(self) -> str:
        """`FILE:LINE` of the item (or the recipe), for messages."""
        return f"{self.source}:{self.item_line or 1}"

    def fingerprint(self) -> str:
        """sha256 of what shapes the text (prompt, words, model, strategy, params), so a
        finished output can be kept or regenerated. Endpoint and output path are left out:
        where a text is computed or stored does not change it. Replace `model`/`strategy`
        with the effective ones (dataclasses.replace) before calling if they are None."""
        data = {
            "v": 1,
            "prompt": self.prompt,
            "words": self.words,
            "model": self.model,
            "strategy": self.strategy,
            "params": dict(sorted(self.params.items())),
        }
        if self.outline is not None:  # an edited outline file rewrites the documents
            data["outline"] = self.outline.to_json()
        # only when set, so a recipe without them keeps the fingerprints it had
        data.update({k: v for k, v in (("brief", self.brief), ("style", self.style)) if v})
        if self.sources:  # the files' contents are the index's concern, their names are ours
            data["sources"] = list(self.sources)
        if self.citations:
            data["citations"] = self.citations
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Recipe:
    """A validated recipe and its jobs. `prompt`/`output` are the raw templates;
    `positions` maps each top-level key to the (line, column) of its value."""

    path: Path
    name: str
    prompt: str
    output: str
    out_root: Path  # absolute: --out-dir, else the recipe's folder
    format: str | None = None  # `format: docx`: every output gets that suffix (md: .md)
    model: str | None = None
    strategy: str | None = None
    words: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    endpoint: tuple[str, ...] = ()
    vars: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    matrix: dict[str, list[str]] = field(default_factory=dict)
    outline: Plan | None = None
    brief: str | None = None
    style: str | None = None
    sources: tuple[str, ...] = ()
    citations: str | None = None
    jobs: list[Job] = field(default_factory=list)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
