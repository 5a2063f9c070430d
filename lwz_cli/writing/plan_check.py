"""Is the model's outline worth writing? Headings a weak model produces when it
does not understand the plan prompt are judged here, before any section is
written under them.

Seen on the tiny model: the instructions echoed back ("Title", "N. per section,
using markdown formatting", "3 sections"), the request copied as a heading, and
the same heading numbered again and again ("N. 18 (continued)"). Such headings
are dropped; an outline left with too few good ones is rejected, and the planned
strategy asks again or builds the outline from the request's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lwz_cli.writing.plan import Plan, plan_request
from lwz_cli.writing.request_outline import without_length

# words, camelCase split ("titleTitle" is two: the model glued placeholders together)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[\u4e00-\u9fff]")
# markup a model copied from web pages it saw (`tr border=18 class="post-inner`,
# `pcode"Title`): an attribute, a tag bracket, a brace, a quote glued between letters
_MARKUP = re.compile(r"[<>{}=]|[A-Za-z]\"[A-Za-z]")
# words of any plan or section instructions: a heading made of nothing else
# (and none of the request's own words) repeats the instructions, not the topic
INSTRUCTION_WORDS = frozenset(
    [
        "n",
        "x",
        "per",
        "section",
        "sections",
        "part",
        "parts",
        "chapter",
        "chapters",
        "using",
        "use",
        "markdown",
        "formatting",
        "format",
        "formatted",
        "words",
        "word",
        "title",
        "titles",
        "heading",
        "headings",
        "subheading",
        "outline",
        "main",
        "point",
        "points",
        "line",
        "lines",
        "form",
        "count",
        "counts",
        "add",
        "adds",
        "up",
        "only",
        "write",
        "writing",
        "plan",
        "document",
        "request",
        "each",
        "one",
        "first",
        "then",
        "total",
        "number",
        "approximately",
        "about",
        "around",
        "bullet",
        "list",
        "numbered",
        "following",
        "below",
        "above",
        "here",
        "your",
        "this",
        "that",
        "these",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "to",
        "with",
        "for",
        "and",
        "or",
        "is",
        "are",
        "be",
        "as",
        "by",
        "it",
        "its",
        "sum",
        "whose",
        "use",
        "must",
        "should",
        "include",
        "includes",
        "short",
        "long",
        "paragraph",
        "paragraphs",
        "text",
        "content",
        "describe",
        "description",
        "placeholder",
        "example",
    ]
)
# meta words even where the request uses them ("... with sections"): "3 sections" is no topic
ALWAYS_META = frozenset(
    [
        "n",
        "x",
        "per",
        "section",
        "sections",
        "part",
        "parts",
        "chapter",
        "chapters",
        "words",
        "word",
        "title",
        "heading",
        "headings",
        "outline",
    ]
)
_PLACEHOLDER = re.compile(
    r"^(?:title|heading|header|headline|subheading|section|part|chapter|topic|name|section title|"
    r"section name|main points?|key points?|points?|words?|outline|content|summary of section|"
    r"(?:first|second|third|fourth|fifth|sixth|next|last|new) (?:line|section|part)|"
    r"标题|部分|章节|要点|字数|小标题|部分标题|大纲)"
    r"(?:\s*(?:\d+|[ivx]+|n|x|[一二三四五六七八九十]+))?$|^第[\d一二三四五六七八九十]+[部分节章]+$",
    re.IGNORECASE,
)
# a heading about the outline rather than the topic: a meta word with a person or a
# pointer ("This is the section you are referring to", "I have the following section")
META_TALK = frozenset(["section", "sections", "heading", "headings", "outline", "title", "titles"])
PERSONS = frozenset(["i", "you", "your", "we", "our", "following", "referring", "below", "here"])
MAX_HEADING_WORDS = 14  # more is a sentence the model wrote, not a heading
MIN_GOOD = 2  # sections a usable outline keeps at least
MAX_JUNK_SHARE = 0.25  # of the headings: above it the whole outline is suspect
ECHO_RUN = 4  # consecutive words (CJK characters x2) shared with the plan prompt: an echo
REQUEST_RUN = 7  # ...with the request: a copy of it, not a heading on its topic


@dataclass(frozen=True)
class Verdict:
    plan: Plan  # the outline with its junk headings dropped
    rejected: tuple[str, ...]  # the headings dropped, as the model wrote them
    usable: bool  # good enough to write from


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _runs(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _instructions(request: str, language: str) -> str:
    """The plan prompt's own text, without the request (a heading may share its words)."""
    return plan_request("", 3000, language)


def junk_reason(title: str, request: str, language: str = "en") -> str | None:
    """Why `title` is no section heading ("placeholder", "markup", "sentence",
    "instructions", "request"),
    or None for a heading worth writing under."""
    words = _words(title)
    plain = " ".join(words)
    if not words or _PLACEHOLDER.match(plain) or _PLACEHOLDER.match(title.strip(" .:#")):
        return "placeholder"
    if _MARKUP.search(title):
        return "markup"
    if len(words) > (MAX_HEADING_WORDS * 2 if language == "zh" else MAX_HEADING_WORDS):
        return "sentence"  # "In this guide, I will explain what green tea is, how it is ..."
    request_words = set(_words(request))
    said = set(words) - request_words
    if said & META_TALK and said & PERSONS:
        return "instructions"
    if all(w in ALWAYS_META or (w in INSTRUCTION_WORDS and w not in request_words) for w in words):
        return "instructions"
    scale = 2 if language == "zh" else 1
    run = ECHO_RUN * scale
    if len(words) >= run and _runs(words, run) & _runs(
        _words(_instructions(request, language)), run
    ):
        return "instructions"
    run = REQUEST_RUN * scale  # a heading may well name the request's topic
    if len(words) >= run and _runs(words, run) & _runs(_words(request), run):
        return "request"
    return None


def _key(title: str) -> str:
    """Numbers and punctuation do not make a heading new ("Part 2: Tea", "Part 3: Tea")."""
    return re.sub(r"[\W\d_]+", "", title.lower())


def judge(plan: Plan, request: str, language: str = "en") -> Verdict:
    """Drop junk and duplicate headings; usable when enough good ones remain."""
    kept, rejected, seen = [], [], set()
    # a stated length is the request's instruction, not part of a heading
    plan = replace(
        plan,
        title=without_length(plan.title) if plan.title else plan.title,
        sections=[replace(s, title=without_length(s.title) or s.title) for s in plan.sections],
    )
    for section in plan.sections:
        key = _key(section.title)
        if junk_reason(section.title, request, language) or not key or key in seen:
            rejected.append(section.title)
            continue
        seen.add(key)
        kept.append(section)
    usable = len(kept) >= MIN_GOOD and len(rejected) <= MAX_JUNK_SHARE * len(plan.sections)
    title = plan.title if plan.title and not junk_reason(plan.title, request, language) else None
    return Verdict(replace(plan, title=title, sections=kept), tuple(rejected), usable)
