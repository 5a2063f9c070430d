"""An outline built from the request's own words, for when the model cannot plan.

A fixed list ("Introduction, Background, Key Concepts, ...") reads the same for
every request; the phrases a person wrote ("a guide to growing tomatoes,
covering soil, watering and pests") name the sections they expect. The topic
fills the rest, each time with another angle suited to the kind of text.
"""

from __future__ import annotations

import re

_LEAD_EN = re.compile(
    r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:write|compose|draft|create|produce|generate|"
    r"prepare|give me|tell)\b\s*(?:me\s+)?",
    re.IGNORECASE,
)
_LENGTH_EN = re.compile(
    r"\b(?:about\s+|around\s+)?\d[\d,.]*\s*k?[- ]?(?:words?|字)(?:[- ]long)?\b", re.I
)
_ARTICLE = re.compile(r"^(?:an?|the|one|some)\s+", re.IGNORECASE)
_TOPIC = re.compile(r"\b(?:to|about|on|of|for|describing|explaining)\s+(.+)$", re.IGNORECASE)
# who the text is for, not what it is about, when an "about"/"on" follows ("a report
# for a city council on the costs of bicycle lanes", "a letter to my landlord about")
_ADDRESSEE = re.compile(
    r"^\s*(?:(?:for|to)\s+(?:my|our|your)|for\s+(?:a|an|the))\b.*?\b(?:about|on)\s+(.+)$",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"\b(?:covering|including|such as|with sections on|that covers|focusing on)\b|[:：]",
    re.IGNORECASE,
)
_SPLIT_EN = re.compile(r",|;|\band\b|\bor\b|\bthen\b", re.IGNORECASE)
_SMALL = {"a", "an", "the", "of", "to", "and", "or", "in", "on", "for", "with", "at", "by"}

_LEAD_ZH = re.compile(r"^\s*(?:请|帮我|请你)?(?:写|撰写|创作|编写)?(?:一篇|一份|一个|一封|篇|份)?")
_LENGTH_ZH = re.compile(r"(?:约|大约)?[\d,，]+\s*(?:字|个字)(?:左右)?的?")
_LINE_BREAK = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")
_VERB_ZH = re.compile(r"^(?:介绍|讲述|说明|描述)")
_KIND_ZH = re.compile(r"(?:的)?(?:文章|指南|介绍|故事|报告|短文|长文)$")
_SPLIT_ZH = re.compile(r"[，,、；;。：:]|以及|和|与|及")

_STORY = re.compile(r"\b(?:story|tale|novel|novella|fable|fiction|narrative)\b|故事|小说", re.I)
_LETTER = re.compile(r"\b(?:letter|email|e-mail|note to)\b|信|邮件", re.IGNORECASE)
ANGLES = {
    "en": [
        "Where It Began",
        "How It Works",
        "In Practice",
        "What Gets in the Way",
        "What Comes Next",
    ],
    "zh": ["的由来", "的原理", "的实践", "的难点", "的未来"],
}
STORY_ANGLES = {
    "en": ["The Beginning", "A Turn", "Rising Trouble", "The Crisis", "Aftermath"],
    "zh": ["开端", "转折", "波澜", "高潮", "余波"],
}
LETTER_ANGLES = {
    "en": ["Why I Am Writing", "What Happened", "What It Means", "What I Ask", "Closing Words"],
    "zh": ["写信的缘由", "近况", "想法", "请求", "祝愿"],
}


# a heading this long that copies the request is its echo (plan_check.REQUEST_RUN is 7):
# a topic or point longer is shortened to its head noun phrase
MAX_TITLE_WORDS = 5
MAX_TITLE_CHARS_ZH = 12


def _short(phrase: str, zh: bool) -> str:
    """`phrase` short enough to be a heading, not a copy of the request: its subject,
    after its last "of" ("Costs and Benefits of Protected Bicycle Lanes" -> "Protected
    Bicycle Lanes") or before its last "的", or else its first words."""
    if zh:
        if len(phrase) <= MAX_TITLE_CHARS_ZH:
            return phrase
        head = phrase.rsplit("的", 1)[0]  # what X的Y is about: X
        return head if 2 <= len(head) <= MAX_TITLE_CHARS_ZH else phrase[:MAX_TITLE_CHARS_ZH]
    words = phrase.split()
    if len(words) <= MAX_TITLE_WORDS:
        return phrase
    tail = re.split(r"\s+of\s+", phrase, flags=re.IGNORECASE)[-1].split()
    if 2 <= len(tail) <= MAX_TITLE_WORDS:
        return " ".join(tail)
    words = words[:MAX_TITLE_WORDS]
    while len(words) > 1 and words[-1].lower() in _SMALL:
        words.pop()
    return " ".join(words)


def without_length(text: str) -> str:
    """`text` without a stated length ("8,000-word Story of Two Sisters", "茶文化3000字"):
    a heading that carries one repeats the request's instructions."""
    text = _LENGTH_ZH.sub("", _LENGTH_EN.sub("", text))
    text = re.sub(r"\(\s*\)|（\s*）|\[\s*\]", "", text)  # "(500 words)" leaves "()"
    return re.sub(r"\s{2,}", " ", text).strip(" -:：,，")


def _title_case(phrase: str) -> str:
    words = phrase.split()
    return " ".join(
        w if (i and w.lower() in _SMALL) or not w[:1].islower() else w[:1].upper() + w[1:]
        for i, w in enumerate(words)
    )


def _phrases_en(request: str) -> tuple[str, list[str]]:
    first = re.split(r"(?<=[.!?])\s+|\n", request.strip(), maxsplit=1)[0]
    text = _LENGTH_EN.sub(" ", _LEAD_EN.sub("", first)).strip(" .!?")
    text = _ARTICLE.sub("", re.sub(r"\s+", " ", text))
    parts = _LIST.split(text, maxsplit=1)
    head = parts[0]
    tail = parts[1] if len(parts) > 1 else ""
    found = _TOPIC.search(head)
    topic = (found.group(1) if found else head).strip(" ,.;")
    addressed = _ADDRESSEE.match(head[found.start() :]) if found else None
    if addressed:
        topic = addressed.group(1).strip(" ,.;")
    topic = _ARTICLE.sub("", topic)
    items = [_ARTICLE.sub("", p.strip(" ,.;")) for p in _SPLIT_EN.split(tail)]
    return topic, [p for p in items if 1 <= len(p.split()) <= 8]


def _phrases_zh(request: str) -> tuple[str, list[str]]:
    # a line break separates phrases like a comma: a title is one line
    request = _LINE_BREAK.sub("，", request.strip())
    text = _LENGTH_ZH.sub("", _LEAD_ZH.sub("", request, count=1)).strip("。！？ ")
    text = re.sub(r"^关于", "", text)
    # each phrase without a leading verb ("介绍") or a trailing kind ("的文章"): "文章，
    # 介绍中国茶文化的历史" has its topic in the second phrase, not the first
    parts = [_KIND_ZH.sub("", _VERB_ZH.sub("", p.strip())) for p in _SPLIT_ZH.split(text)]
    parts = [p for p in parts if 1 <= len(p) <= 20]
    return (parts[0] if parts else text[:MAX_TITLE_CHARS_ZH]), parts[1:]


def outline_titles(request: str, count: int, language: str) -> list[str]:
    """`count` distinct section titles (no closing one) taken from the request: its
    listed points first, then its topic seen from one angle after another."""
    zh = language == "zh"
    topic, items = _phrases_zh(request) if zh else _phrases_en(request)
    titles: list[str] = []
    seen: set[str] = set()

    def add(title: str) -> None:
        key = re.sub(r"\W+", "", title.lower())
        if key and key not in seen and len(titles) < count:
            seen.add(key)
            titles.append(title)

    lang = "zh" if zh else "en"
    if _STORY.search(request):
        angles, on_topic = STORY_ANGLES[lang], False
    elif _LETTER.search(request):
        angles, on_topic = LETTER_ANGLES[lang], False
    else:
        angles, on_topic = ANGLES[lang], bool(topic)
    name = _short(topic if zh else _title_case(topic), zh)
    if on_topic:
        add(name)
    for item in items:
        add(_short(item if zh else _title_case(item), zh))
    round_ = 0
    while len(titles) < count:
        for angle in angles:
            title = (f"{name}{angle}" if zh else f"{name}: {angle}") if on_topic else angle
            add(title if not round_ else f"{title} ({round_ + 1})")
        round_ += 1
    return titles
