"""Outlines: the plan prompt, a tolerant parser for what models write back, and
the word-budget arithmetic (budgets always sum to the target).

Weak models answer an outline request with numbered lists, bullets, tables,
bold titles, budgets in brackets or none at all, or loops of the same line. The
parser takes what it can; `normalise_plan` turns any result, even an empty
one, into a usable plan of the right size.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

from lwz_cli.writing.request_outline import outline_titles

MIN_SECTION_WORDS = 80
WORDS_PER_SECTION = 450  # AgentWrite used 200-1000 words per paragraph step
MAX_SECTIONS = 40

# Linear time on any line: no two adjacent repeats share a run of spaces (the budget's
# `\s*(?:-)?\s*(?:\d+)?\s*` was cubic in them), and a separator's leading spaces are
# matched from the start of their run only (the (?<!\s) look-behinds), not from each space.
_BUDGET = re.compile(r"(\d{2,5})\s*(?:(?:-|to|–)\s*)?(?:\d{2,5}\s*)?(?:words?|字)", re.IGNORECASE)
_SEPARATOR = re.compile(r"(?<!\s)\s*\|\s*|(?<!\s)\s+[-–—]\s+|[:：]\s+")
_LEAD = re.compile(
    r"^\s*(?:[-*+•]|\d{1,3}\s*\||\d{1,3}[.)、:]|#{1,6}|section\s+\d+[:.]?|part\s+\d+[:.]?|"
    r"第[一二三四五六七八九十\d]+[部分节章][:：]?)\s*",
    re.IGNORECASE,
)
_TITLE_LINE = re.compile(r"^\s*(?:#\s+)?(?:title|标题)\s*[:：]\s*(.+)$", re.IGNORECASE)


@dataclass
class Section:
    title: str
    points: str = ""
    budget: int = 0


@dataclass
class Plan:
    title: str | None
    sections: list[Section] = field(default_factory=list)
    planned_count: int = 0  # sections in the original plan (later ones extend it)
    # where the outline came from: "model" (its first answer), "resampled" (a later
    # answer, the first ones were junk), "request" (built from the request's words) or
    # "outline" (an outline file the author gave: used as it is, never judged)
    source: str = "model"

    def to_json(self) -> dict:
        data = {
            "title": self.title,
            "sections": [asdict(s) for s in self.sections],
            "planned_count": self.planned_count,
        }
        if self.source != "model":  # journals of older versions hold model plans only
            data["source"] = self.source
        return data

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        return cls(
            data.get("title"),
            [Section(**s) for s in data.get("sections", [])],
            data.get("planned_count", 0),
            data.get("source", "model"),
        )

    def outline_text(self, language: str = "en") -> str:
        unit = "字" if language == "zh" else " words"
        lines = [f"Title: {self.title}"] if self.title else []
        for i, s in enumerate(self.sections, 1):
            points = f" | {s.points}" if s.points else ""
            lines.append(f"{i}. {s.title}{points} | {s.budget}{unit}")
        return "\n".join(lines)


def section_count(target: int) -> int:
    return max(2, min(MAX_SECTIONS, round(target / WORDS_PER_SECTION)))


def plan_request(request: str, target: int, language: str) -> str:
    n = section_count(target)
    if language == "zh":
        return (
            f"请为下面的写作任务制定一个约{target}字的大纲。\n\n任务：{request}\n\n"
            f"只写大纲：第一行写“标题：……”，然后每个部分一行，格式为"
            f"“序号. 部分标题 | 要点 | 字数”。共{n}个部分，各部分字数之和为{target}字。"
        )
    return (
        f"Plan a {target}-word document for this request:\n\n{request}\n\n"
        f"Write only the outline. First a line `Title: <title>`, then one line per section "
        f"in the form `N. <section title> | <main points> | <words> words`. Use {n} sections "
        f"whose word counts add up to {target}."
    )


def _clean(text: str) -> str:
    text = re.sub(r"[*_`<>\[\]{}]+", "", text)
    return re.sub(r"\s+", " ", text).strip(" -–—:|.;,")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary (a heading cut mid-word,
    "...also supports our p", gets copied by the model into its text)."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        return cut[:space].rstrip(" ,;:-–—")
    return text[:limit]  # one long word (or CJK text, which has no spaces)


def parse_plan(text: str) -> Plan:
    """Whatever outline a model wrote -> a Plan (possibly with zero-budget or no sections)."""
    title = None
    sections: list[Section] = []
    seen: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or set(line) <= set("-|: #*"):
            continue
        found = _TITLE_LINE.match(line)
        if found or re.match(r"^\s*(?:title|标题)\s*(?:[:：]\s*)?$", line, re.IGNORECASE):
            if found and title is None and not sections:
                title = _clean(found.group(1)) or None
            continue
        if re.fullmatch(r"[\w\s]{1,20}[:：]", line):
            continue  # a bare label ("Summary:") is not a section
        budget_match = _BUDGET.search(line)
        budget = int(budget_match.group(1)) if budget_match else 0
        body = _BUDGET.sub("", line) if budget_match else line
        body = re.sub(r"[(\[（【]\s*[)\]）】]", "", body)
        body = _LEAD.sub("", body.strip().strip("|"))
        parts = [p for p in (_clean(p) for p in _SEPARATOR.split(body, maxsplit=1)) if p]
        if not parts:
            continue
        name = clip(parts[0], 120)
        key = re.sub(r"\W+", "", name.lower())
        if not key or key in seen or len(name) < 2:
            continue  # loops and junk lines
        seen.add(key)
        sections.append(Section(name, clip(parts[1], 300) if len(parts) > 1 else "", budget))
        if len(sections) >= MAX_SECTIONS:
            break
    return Plan(title, sections)


def distribute(total: int, weights: list[float], minimum: int = MIN_SECTION_WORDS) -> list[int]:
    """Integer budgets proportional to `weights`, summing exactly to `total`; a share
    below `minimum` is raised to it (where the total allows) at the others' expense."""
    if not weights:
        return []
    weights = [w if w > 0 else 1.0 for w in weights]
    minimum = min(minimum, total // len(weights))
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(len(weights)) if i not in fixed]
        left = total - sum(fixed.values())
        scale = sum(weights[i] for i in free)
        raw = {i: left * weights[i] / scale for i in free}
        low = [i for i in free if raw[i] < minimum]
        if not low:
            break
        for i in low:
            fixed[i] = minimum
    budgets = [fixed.get(i, 0) for i in range(len(weights))]
    floors = {i: math.floor(r) for i, r in raw.items()}
    for i, value in floors.items():
        budgets[i] = value
    for i in sorted(raw, key=lambda i: raw[i] - floors[i], reverse=True)[: total - sum(budgets)]:
        budgets[i] += 1
    return budgets


_FILLER = re.compile(
    r"\b(step|section|part|chapter|begin|beginning|end|ending|finish|start|"
    r"first|second|third|last|final|the|with|and|of|a|title|\d+)\b",
    re.IGNORECASE,
)

CLOSING = {"en": "Conclusion", "zh": "结语"}


def is_usable(plan: Plan) -> bool:
    """A weak model's outline ("Step 1: Begin", "Title:", the same line over and
    over) is not worth following; a generic outline serves the reader better."""
    good = [
        s
        for s in plan.sections
        if len(_FILLER.sub(" ", s.title).split()) >= 1 and len(s.title) >= 3
    ]
    return len(good) >= 2 and len(good) >= 0.6 * len(plan.sections)


def skeleton(count: int, language: str, request: str = "") -> list[Section]:
    """An outline from the request's own words (its listed points, its topic from
    several angles), then the closing section."""
    body = outline_titles(request, max(1, count - 1), language)
    return [Section(name) for name in body] + [Section(CLOSING.get(language, "Conclusion"))]


def normalise_plan(plan: Plan, target: int, request: str, language: str = "en") -> Plan:
    """Right number of sections, budgets that sum to the target."""
    want = section_count(target)
    usable = is_usable(plan)
    sections = list(plan.sections) if usable else skeleton(want, language, request)
    if len(sections) > 2 * want:  # an endless list: keep the first ones
        sections = sections[: 2 * want]
    while len(sections) < -(-want // 2):  # too few: split the biggest in two
        biggest = max(range(len(sections)), key=lambda i: sections[i].budget)
        part = sections[biggest]
        part.budget //= 2
        sections.insert(biggest + 1, Section(f"{part.title} (continued)", part.points, part.budget))
    weights = [float(s.budget) if s.budget > 0 else 0.0 for s in sections]
    if sum(weights) <= 0 or min(weights) <= 0:
        mean = (sum(weights) / max(1, sum(1 for w in weights if w > 0))) or 1.0
        weights = [w if w > 0 else mean for w in weights]
    for section, budget in zip(sections, distribute(target, weights), strict=True):
        section.budget = budget
    title = plan.title or None
    return Plan(title, sections, source=plan.source if usable else "request")


def rebalance(done_words: int, target: int, remaining: list[Section]) -> None:
    """Carry a finished section's shortfall or excess into the sections left."""
    if not remaining:
        return
    left = max(MIN_SECTION_WORDS * len(remaining), target - done_words)
    for section, budget in zip(
        remaining, distribute(left, [s.budget for s in remaining]), strict=True
    ):
        section.budget = budget
