"""Citations lwz has checked: the model's `[n]` markers kept, renumbered, listed, checked.

The model is handed numbered excerpts (`[3] ...`) and asked to cite them as `[n]`. What
it writes is not trusted: it may cite numbers it was never given, cite the right number
for the wrong claim, and write a References section of its own (invented). At the end of
a run, `cite()` turns the finished Markdown into the document the user gets:

- markers are found outside code, headings, links and footnotes (`find_markers`);
- numbers lwz did not hand out are dropped (the marker removed, with its space);
- kept passages are renumbered 1..k in order of first use over the whole document
  (one number per passage, however often and under whatever number it was cited);
- the model's own References section at the end is removed and lwz's appended
  (`numeric`), or footnotes written (`footnotes`), or markers removed (`none`);
- each cited sentence is scored against its passages (shared content words, CJK
  character bigrams); the weakest are reported so a warning can name them.

Pure text: no model, no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lwz_cli.sources.passage import Passage

CITATION_MODES = ("none", "numeric", "footnotes")

# A cited sentence whose best passage shares less than this fraction of the sentence's
# content features (stemmed words without stopwords, CJK character bigrams) is reported
# as unsupported. Chosen from the examples in tests/test_citations.py (SUPPORT_EXAMPLES):
# a sentence restating its passage in other words scores 0.48-0.91 (names, numbers and
# the key nouns survive paraphrase), a claim about something else citing the same passage
# scores 0.0-0.17 (the topic word or two it shares). 0.25 sits in the gap, nearer the
# unsupported side, so that a loose but honest paraphrase is not flagged: the warning is
# a prompt to look, and one that fires on good citations would be ignored. What it cannot
# see: a wrong detail among the right words ("first drunk in Japan around 2737 BC").
SUPPORT_THRESHOLD = 0.25
WEAKEST = 3  # how many unsupported citations the report names
QUOTE_CHARS = 160  # the References quote, at most (cut at a word boundary)
SENTENCE_CHARS = 200  # an Unsupported's sentence, at most
RANGE_SPAN = 50  # `[3-5]` expands; a wider range (`[1-9999]`) counts only its two ends

# the model's own list of sources at the end of the document: removed (see _own_references)
_OWN_REFERENCES = re.compile(
    r"(references?|reference list|bibliography|sources?|works cited|citations|"
    r"参考文献|参考资料|资料来源|引用文献)",
    re.IGNORECASE,
)

_NUM = r"\d{1,6}(?:\s*[-–—~]\s*\d{1,6})?"
_NUMS = rf"{_NUM}(?:\s*[,，;；、]\s*{_NUM})*"
_BRACKET = rf"(?:\[\s*{_NUMS}\s*\]|【\s*{_NUMS}\s*】|［\s*{_NUMS}\s*］)"
# a run of adjacent markers (`[3][5]`) is one citation of one sentence
_RUN = re.compile(rf"{_BRACKET}(?:{_BRACKET})*")
_ONE = re.compile(_BRACKET)
_RANGE = re.compile(r"(\d+)\s*[-–—~]\s*(\d+)")
_DIGITS = re.compile(r"\d+")

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t#]*$")
# `[3]: https://...`: a numeric link reference definition, the model's invented source list
_NUMERIC_DEFINITION = re.compile(r"^ {0,3}\[\s*\d+\s*\]:")
# spans inside a line where a bracket is not a citation: code spans, link destinations,
# autolinks and bare URLs
_PROTECTED = re.compile(r"(`+).*?(?<!`)\1(?!`)|\]\([^)]*\)|<[^>\s]*>|https?://\S+")
_TERMINATOR = re.compile(r"[.!?](?=\s)|[。！？]")
_PUNCT_AFTER = ".,;:!?)]}…。，；：！？）、》」"

_WORD = re.compile(r"[^\W_]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# English function words: they match any passage, so they carry no support
_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers him his how i if in into is it its
    itself just me more most my no nor not now of off on once only or other our ours out
    over own same she should so some such than that the their theirs them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours however thus therefore may might must
    shall also many much one two use used using well within without yet see cf eg ie etc per
    according note noted""".split()  # noqa: SIM905 (a list literal would be 180 lines)
)


@dataclass(frozen=True)
class Unsupported:
    number: int  # the citation's number as the output shows it (its best passage)
    section: str  # the nearest `##` heading above the sentence ("" when none)
    sentence: str  # the cited sentence, markers and Markdown removed, bounded
    score: float  # the share of its content found in its best passage, 0..1


@dataclass(frozen=True)
class CitationReport:
    total: int  # cited numbers found (`[3, 5]` is two)
    kept: int  # of them, numbers lwz handed out
    dropped: int  # the others, removed from the text
    unsupported: int  # citations (marker runs) whose sentence its passages do not support
    weakest: tuple[Unsupported, ...]  # the least supported, worst first (at most WEAKEST)

    def to_json(self) -> dict[str, int]:
        return {
            "total": self.total,
            "kept": self.kept,
            "dropped": self.dropped,
            "unsupported": self.unsupported,
        }


@dataclass(frozen=True)
class Marker:
    """One run of citation markers in the text, as written."""

    line: int  # index in the document's lines
    start: int  # character span in that line
    end: int
    numbers: tuple[int, ...]  # as the model wrote them, in order, ranges expanded


@dataclass(frozen=True)
class _Line:
    text: str
    kind: str  # "text", "code" (fenced, or a fence), "heading"
    level: int = 0  # a heading's level
    title: str = ""  # a heading's text


def _classify(lines: list[str]) -> tuple[list[_Line], str | None]:
    """Each line's kind, and the fence still open at the end (None: all closed)."""
    out: list[_Line] = []
    fence: str | None = None
    for line in lines:
        opened = _FENCE.match(line)
        if fence is not None:
            # a fence closes on a run of its own character at least as long, nothing after
            closing = opened.group(1) if opened else ""
            if (
                closing[:1] == fence[0]
                and len(closing) >= len(fence)
                and not line.strip().lstrip(fence[0])
            ):
                fence = None
            out.append(_Line(line, "code"))
        elif opened:
            fence = opened.group(1)
            out.append(_Line(line, "code"))
        elif heading := _HEADING.match(line.rstrip("\r")):
            out.append(
                _Line(line, "heading", len(heading.group(1)), (heading.group(2) or "").strip())
            )
        else:
            out.append(_Line(line, "text"))
    return out, fence


def _numbers(bracket: str) -> list[int]:
    found: list[int] = []
    for part in re.split(r"[,，;；、]", bracket.strip("[]【】［］ \t")):
        span = _RANGE.search(part)
        if span:
            low, high = int(span.group(1)), int(span.group(2))
            if low <= high and high - low <= RANGE_SPAN:
                found.extend(range(low, high + 1))
            else:
                found.extend((low, high))
        else:
            found.extend(int(d) for d in _DIGITS.findall(part))
    return found


def _markers_in(line: str, index: int) -> list[Marker]:
    protected = [m.span() for m in _PROTECTED.finditer(line)]
    found: list[Marker] = []
    for run in _RUN.finditer(line):
        start, end = run.span()
        if any(start < b and a < end for a, b in protected):
            continue
        before = line[start - 1] if start else ""
        after = line[end] if end < len(line) else ""
        # `![3](img)`, `[text][3]`, `\[3]`, `[3](url)`, `[3][label]`, `[3]: definition`
        if before in ("!", "]", "\\", "^") or after in ("(", "[", ":"):
            continue
        numbers = tuple(n for b in _ONE.findall(run.group()) for n in _numbers(b))
        found.append(Marker(index, start, end, numbers))
    return found


def find_markers(text: str) -> list[Marker]:
    """Every run of citation markers in `text`, in order; none in code, headings or links."""
    lines, _ = _classify(text.split("\n"))
    return [
        m for i, line in enumerate(lines) if line.kind == "text" for m in _markers_in(line.text, i)
    ]


def _is_entry(line: str) -> bool:
    """A line of a source list: `[1] ...`, `1. ...`, `- ...`, `* ...`, `[^1]: ...`, or blank."""
    stripped = line.strip()
    return not stripped or bool(re.match(r"(\[[^\]]*\]|【[^】]*】|\d+[.)]|[-*+])\s*", stripped))


def _references_title(title: str) -> bool:
    plain = title.strip().strip("*_#:：").strip()
    return bool(plain) and _OWN_REFERENCES.fullmatch(plain) is not None


def _own_references(lines: list[_Line]) -> int:
    """Where the model's own References section at the end begins (len(lines): none).

    A heading named like a source list after which no heading of its level or above
    follows (sub-headings such as `### Books` belong to it); or a line that is only such
    a name (`**Sources:**`) followed by nothing but list entries.
    """
    for i, line in enumerate(lines):
        if line.kind == "heading" and _references_title(line.title):
            if all(later.kind != "heading" or later.level > line.level for later in lines[i + 1 :]):
                return i
        elif line.kind == "text" and line.text.strip() and _references_title(line.text):
            rest = lines[i + 1 :]
            if all(later.kind == "text" and _is_entry(later.text) for later in rest):
                return i
    return len(lines)


# --- support ----------------------------------------------------------------------------


def _stem(word: str) -> str:
    """Plurals folded: `teas`/`tea`, `studies`/`study`, `boxes`/`box` (not `leaves`/`leaf`)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def features(text: str) -> frozenset[str]:
    """The content of `text`: stemmed non-stopwords (any script but CJK) and CJK bigrams."""
    folded = text.casefold()
    found: set[str] = set()
    for word in _WORD.findall(_CJK.sub(" ", folded)):
        if word not in _STOPWORDS and (len(word) > 1 or word.isdigit()):
            found.add(_stem(word))
    for run in _CJK.findall(folded):
        if len(run) == 1:
            found.add(run)
        found.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(found)


def support(sentence: str, passage: str) -> float:
    """The share of `sentence`'s content found in `passage`, 0..1 (1 when it has none)."""
    mine = features(sentence)
    if len(mine) < 2:
        return 1.0  # too little to judge ("See [3].", "Kettles [5]."): not reported
    return len(mine & features(passage)) / len(mine)


# --- text -------------------------------------------------------------------------------


def _bounded(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a word boundary, `…` when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # no space in the tail (CJK, a long word): cut at the character
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


_ESCAPED = re.compile(r"([\\`*_\[\]<>|~&$])")


def escape_markdown(text: str) -> str:
    """Inline text that renders as itself: no emphasis, link, HTML, code or autolink."""
    text = _ESCAPED.sub(r"\\\1", " ".join(text.split()))
    text = re.sub(r"(?i)(https?|ftp)://", r"\1\\://", text)  # GFM's bare-URL autolinks
    text = re.sub(r"(?i)\bwww\.", r"www\\.", text)
    # at the start of a list item or footnote, `#`, `>`, `-`, `1.` would open a block
    text = re.sub(r"^([#>+=-])", r"\\\1", text)
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", text)


def _plain(sentence: str) -> str:
    """A sentence as a reader sees it: markers, emphasis, link syntax, list bullets gone."""
    text = _RUN.sub("", sentence)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]+", "", text)
    text = re.sub(r"^\s*(?:>\s*)*(?:[-*+]|\d+[.)])?\s+", "", text)
    return " ".join(text.split())


def _sentence_before(line: str, start: int) -> str:
    """The sentence a marker at `start` cites: the one it follows ("old.[3]" and "old [3].")."""
    left = _RUN.sub("", line[:start]).rstrip()  # "Hamburg.[1] Exports [2]": two sentences
    ends = [m.end() for m in _TERMINATOR.finditer(left) if m.end() < len(left)]
    return _plain(left[ends[-1] :] if ends else left)


def _quote(passage: Passage, cited_by: list[str]) -> str:
    """The passage's sentence nearest to what cites it, bounded and escaped."""
    pieces = [
        s.strip() for s in re.split(r"(?<=[.!?])\s+|(?<=[。！？])", passage.text) if s.strip()
    ]
    wanted = features(" ".join(cited_by))
    best = max(pieces or [passage.text], key=lambda s: len(features(s) & wanted)) if wanted else ""
    return escape_markdown(_bounded(best or passage.text, QUOTE_CHARS))


def _entry(passage: Passage, cited_by: list[str]) -> str:
    where = escape_markdown(passage.path)
    locator = passage.locator()
    if locator:
        where += f", {locator}"
    quote = _quote(passage, cited_by)
    return f'{where}: "{quote}"' if quote else where


def _remove(line: str, start: int, end: int) -> str:
    """`line` without [start, end), its spacing mended: `old [9].` -> `old.`"""
    before, after = line[:start], line[end:]
    if not after.strip() or after[0] in _PUNCT_AFTER:
        return before.rstrip(" \t") + after
    if before.endswith((" ", "\t")) and after[0] in " \t":
        return before + after.lstrip(" \t")
    if not before.strip():
        return before + after.lstrip(" \t")
    return before + after


def _section_of(lines: list[_Line], index: int) -> str:
    """The nearest `##` heading above line `index`; else the nearest heading of any level."""
    nearest = ""
    for line in reversed(lines[:index]):
        if line.kind == "heading":
            if line.level == 2:
                return line.title
            nearest = nearest or line.title
    return nearest


def cite(
    text: str,
    handed: Mapping[int, Passage],
    *,
    mode: str = "numeric",
    language: str = "en",
) -> tuple[str, CitationReport]:
    """The document with checked citations in `mode`, and what was found."""
    if mode not in CITATION_MODES:
        raise ValueError(f"citation mode {mode!r} is not one of {', '.join(CITATION_MODES)}")
    lines, fence = _classify(text.split("\n"))
    end = _own_references(lines)
    if end < len(lines):
        lines, fence = lines[:end], None  # the section cut began outside any code block
    lines = [ln for ln in lines if not (ln.kind == "text" and _NUMERIC_DEFINITION.match(ln.text))]

    markers = [
        m for i, ln in enumerate(lines) if ln.kind == "text" for m in _markers_in(ln.text, i)
    ]
    # one number per passage, in order of first use
    order: dict[Passage, int] = {}
    cited_by: dict[Passage, list[str]] = {}
    total = kept = 0
    unsupported: list[tuple[float, int, Unsupported]] = []
    replacement: dict[tuple[int, int], list[int]] = {}
    for position, marker in enumerate(markers):
        sentence = _sentence_before(lines[marker.line].text, marker.start)
        passages: list[Passage] = []
        for number in marker.numbers:
            total += 1
            passage = handed.get(number)
            if passage is None:
                continue
            kept += 1
            order.setdefault(passage, len(order) + 1)
            if passage not in passages:
                passages.append(passage)
        for passage in passages:
            cited_by.setdefault(passage, []).append(sentence)
        replacement[(marker.line, marker.start)] = sorted({order[p] for p in passages})
        if passages:
            score, best = max((support(sentence, p.text), -order[p]) for p in passages)
            if score < SUPPORT_THRESHOLD:
                found = Unsupported(
                    number=-best,
                    section=_section_of(lines, marker.line),
                    sentence=_bounded(sentence, SENTENCE_CHARS),
                    score=round(score, 3),
                )
                unsupported.append((score, position, found))

    # footnote labels must not meet the model's own `[^1]` notes (labels are not shown)
    body_text = "\n".join(ln.text for ln in lines)
    label = "ref" if re.search(r"\[\^\d+\]", body_text) else ""
    out = [ln.text for ln in lines]
    for marker in reversed(markers):  # right to left: earlier spans stay valid
        numbers = replacement[(marker.line, marker.start)]
        line = out[marker.line]
        if mode == "none" or not numbers:
            out[marker.line] = _remove(line, marker.start, marker.end)
        elif mode == "numeric":
            new = "[" + ", ".join(str(n) for n in numbers) + "]"
            out[marker.line] = line[: marker.start] + new + line[marker.end :]
        else:
            new = "".join(f"[^{label}{n}]" for n in numbers)
            out[marker.line] = line[: marker.start] + new + line[marker.end :]

    for marker in reversed(find_markers("\n".join(out))):  # brackets the removals joined ("[[9]5]")
        line = out[marker.line]
        if mode != "numeric" or not all(1 <= n <= len(order) for n in marker.numbers):
            out[marker.line] = line[: marker.start] + "\\" + line[marker.start :]
    document = "\n".join(out).rstrip()
    if fence is not None and order and mode != "none":
        document += "\n" + fence  # an unclosed code block would swallow the References
    if order and mode != "none":
        entries = [(n, _entry(p, cited_by.get(p, []))) for p, n in order.items()]
        if mode == "numeric":
            heading = "## 参考资料" if language.lower().startswith("zh") else "## References"
            listing = "\n".join(f"{n}. {entry}" for n, entry in entries)
            document += f"\n\n{heading}\n\n{listing}"
        else:
            document += "\n\n" + "\n".join(f"[^{label}{n}]: {entry}" for n, entry in entries)
    unsupported.sort(key=lambda found: (found[0], found[1]))
    report = CitationReport(
        total=total,
        kept=kept,
        dropped=total - kept,
        unsupported=len(unsupported),
        weakest=tuple(found for _, _, found in unsupported[:WEAKEST]),
    )
    return (document + "\n" if document else ""), report
