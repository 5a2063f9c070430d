"""Outline files: a plan a person can edit in any editor, and `lwz write --outline` follows.

The format is plain Markdown, so it survives any editor:

    # Title of the document
    ## Grinding <!-- 900 words -->
    Notes on what this section covers (any lines, until the next ##).

A `##` heading starts a section; a trailing `<!-- N words -->` (or `<!-- N 字 -->`)
is its budget; the lines under it are its notes, the section's brief. A heading
without a budget gets an equal share. Lines that are a whole HTML comment are
ignored anywhere (the file lwz writes starts with one saying how to use it).
Every mistake is reported as `FILE:LINE: message` (exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lwz_cli.errors import UsageError
from lwz_cli.writing.length import has_cjk
from lwz_cli.writing.plan import Plan, Section, distribute

_HEADING = re.compile(r"^(#{1,6})(?:\s+(.*?))?\s*$")
_BUDGET = re.compile(r"<!--(.*?)-->\s*$")
_BUDGET_VALUE = re.compile(r"^\s*(\d[\d,_]*)\s*(words?|字)?\s*$", re.IGNORECASE)
_COMMENT_LINE = re.compile(r"^\s*<!--.*-->\s*$")
MAX_HEADING_CHARS = 200
DEFAULT_SECTION_WORDS = 450  # a section with no budget and no total to share
FORMAT_HINT = (
    "an outline is `# Title`, then `## Heading <!-- 900 words -->` lines, each followed "
    "by its notes"
)


@dataclass(frozen=True)
class FittedOutline:
    """An outline sized to a target: its budgets sum to `target`; `scaled_from` is the
    total the file's budgets gave when lwz had to scale them (None: they fit)."""

    plan: Plan
    target: int
    scaled_from: int | None


def outline_path(output: Path) -> Path:
    """Where `lwz plan -o guide.md` puts the outline: guide.outline.md (a path
    already ending in .outline.md is used as it is)."""
    if output.name.endswith(".outline.md"):
        return output
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.outline.md")


def format_outline(plan: Plan, language: str = "en") -> str:
    """The outline file for `plan`: what `parse_outline` reads back unchanged."""
    unit = "字" if language == "zh" else "words"
    lines = [
        "<!-- lwz outline: edit the headings, budgets and notes, then "
        "`lwz write --outline THIS_FILE -o DOCUMENT.md` -->",
        "",
    ]
    if plan.title:
        lines += [f"# {plan.title}", ""]
    for section in plan.sections:
        budget = f" <!-- {section.budget} {unit} -->" if section.budget > 0 else ""
        lines.append(f"## {section.title}{budget}")
        if section.points:
            lines.append(section.points)
        lines.append("")
    return "\n".join(lines)


def _fail(path: str, line: int, message: str, hint: str | None = FORMAT_HINT) -> UsageError:
    return UsageError(f"{path}:{line}: {message}", hint=hint)


def _key(title: str) -> str:
    return " ".join(title.lower().split())


def parse_outline(text: str, path: str = "<outline>") -> Plan:
    """An outline file's text -> a Plan (budget 0: none given); raises UsageError
    naming `path:line` for anything malformed."""
    title: str | None = None
    sections: list[Section] = []
    notes: list[list[str]] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if _COMMENT_LINE.match(line):
            continue
        heading = _HEADING.match(line)
        level = len(heading.group(1)) if heading else 0
        if heading and level == 1:
            if sections or title is not None:
                raise _fail(
                    path, number, "a second `# ` title; sections are `## ` headings", hint=None
                )
            title = (heading.group(2) or "").strip() or None
            if title is None:
                raise _fail(path, number, "the `# ` title is empty")
            continue
        if heading and level == 2:
            sections.append(_section(heading.group(2) or "", path, number, seen))
            notes.append([])
            continue
        if not sections:
            if line.strip():
                raise _fail(
                    path,
                    number,
                    "text before the first `## ` section",
                    hint="put it under a section as its notes, or remove it",
                )
            continue
        notes[-1].append(line.strip())
    if not sections:
        last = max(1, len(text.splitlines()))
        raise _fail(path, last, "no `## ` section in the outline")
    for section, lines in zip(sections, notes, strict=True):
        # the notes are the section's brief, read by the model on one line
        section.points = " ".join(part for part in lines if part)
    return Plan(title, sections, len(sections), source="outline")


def _section(text: str, path: str, number: int, seen: dict[str, int]) -> Section:
    budget = 0
    found = _BUDGET.search(text)
    if found:
        value = _BUDGET_VALUE.match(found.group(1))
        if value is None:
            raise _fail(
                path,
                number,
                f"the budget `<!--{found.group(1)}-->` is not a number of words",
                hint="write it as <!-- 900 words --> (or <!-- 900 字 -->), or remove it",
            )
        budget = int(value.group(1).replace(",", "").replace("_", ""))
        if budget <= 0:
            raise _fail(path, number, "a budget must be a positive number of words", hint=None)
        text = text[: found.start()]
    title = text.strip()
    if not title:
        raise _fail(path, number, "a `## ` heading with no text")
    if len(title) > MAX_HEADING_CHARS:
        raise _fail(
            path,
            number,
            f"a heading of {len(title)} characters (at most {MAX_HEADING_CHARS})",
            hint="shorten it and move the rest into its notes",
        )
    key = _key(title)
    if key in seen:
        raise _fail(
            path,
            number,
            f"the heading {title!r} repeats line {seen[key]}",
            hint="every section needs its own heading",
        )
    seen[key] = number
    return Section(title, "", budget)


def read_outline(path: Path) -> Plan:
    """The outline in the file at `path` (UTF-8; a BOM is dropped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such outline file", hint="`lwz plan REQUEST -o DOC.md` writes one"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not an outline file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}:{line}: not UTF-8 text", hint="save the outline as UTF-8"
        ) from None
    return parse_outline(text, str(path))


def fit_outline(plan: Plan, words: int | None) -> FittedOutline:
    """Budgets summing to the target: `words` when given, else the file's own total
    (a heading without a budget counting as the mean of the others). Budgets that
    do not add up to `words` are scaled in proportion; unbudgeted headings share
    what the budgeted ones leave, equally."""
    given = [s.budget for s in plan.sections if s.budget > 0]
    missing = len(plan.sections) - len(given)
    mean = sum(given) / len(given) if given else float(DEFAULT_SECTION_WORDS)
    if words is None:
        target = round(sum(given) + missing * mean)
        fill = mean
    else:
        target = words
        left = words - sum(given)
        fill = left / missing if missing and left >= missing else mean
    weights = [float(s.budget) if s.budget > 0 else fill for s in plan.sections]
    budgets = distribute(target, weights)
    pairs = zip(plan.sections, budgets, strict=True)
    scaled = any(s.budget > 0 and s.budget != b for s, b in pairs)
    fitted = Plan(
        plan.title,
        [Section(s.title, s.points, b) for s, b in zip(plan.sections, budgets, strict=True)],
        len(plan.sections),
        source="outline",
    )
    return FittedOutline(fitted, target, sum(given) if scaled else None)


def outline_prompt(plan: Plan) -> str:
    """The request for an outline given without one: write the outlined document."""
    words = " ".join([plan.title or "", *(s.title for s in plan.sections)])
    if has_cjk(words):
        return f"按照大纲写一篇文章《{plan.title}》。" if plan.title else "按照大纲写一篇文章。"
    name = f' "{plan.title}"' if plan.title else ""
    return f"Write the document{name} that the outline describes."


def plan_from_record(data: object, where: str) -> Plan:
    """The outline a run's manifest records (`Plan.to_json`); a damaged one is an error
    naming the journal, not a crash."""
    try:
        if not isinstance(data, dict):
            raise TypeError(type(data).__name__)
        plan = Plan.from_json(data)
        if not plan.sections or not all(
            isinstance(s.title, str) and isinstance(s.points, str) and isinstance(s.budget, int)
            for s in plan.sections
        ):
            raise ValueError("no sections")
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(
            f"the outline recorded in {where} is damaged ({exc})",
            hint="`lwz write --outline FILE ... --restart` starts the document again",
        ) from None
    return plan
