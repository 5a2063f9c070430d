"""A memory across sections: what each written section established (names, defined
terms, numbers, decisions), as a short note the model writes, bounded, cleaned, and
given to every later section's prompt.

Pure text: the note's prompt, the cleaning of a weak model's answer, and the bounded
block a section turn carries. `writing.planned` asks for the notes and journals them.

The bounds are in tokens, converted to words with `TOKENS_PER_WORD`:

- `NOTE_TOKENS` (64) caps one note's generation: a planned section is about
  `WORDS_PER_SECTION` (450) words, ~600 tokens, and establishes a handful of facts;
  64 tokens hold five or six short ones and keep the note's decode near a tenth of
  the section's.
- `MEMORY_TOKENS` (160) caps the whole memory a section turn carries, however long
  the document: every token of it is prefilled again for each section, so it must
  stay a small share of a section (~600 tokens) for the planned prefill ratio to stay
  within 1.3 (`bench/length.py --memory off,on`, tiny model: 0.47 without and 0.88
  with for 6,000 words; 0.75 and 1.23 for 500 words, whose sections are short). Older
  notes are trimmed to their first fact, then dropped oldest first.
"""

from __future__ import annotations

import re

from lwz_cli.tokens import MARGIN, TOKENS_PER_WORD
from lwz_cli.writing.length import count_words, first_words, has_cjk

NOTE_TOKENS = 64  # one note's generation
MEMORY_TOKENS = 160  # the memory one section turn carries
NOTE_SOURCE_CHARS = 2000  # the end of a section a fresh note prompt quotes (~450 tokens)
TURN_TOKENS = 100  # a section's user turn, for the window estimate

_NOTE_REQUEST = {
    "en": (
        "Note the facts this section established for later sections to keep consistent "
        "(names, terms, numbers, decisions): at most {words} words, separated by semicolons."
    ),
    "zh": (
        "记下这一部分确立的、后文须保持一致的事实（人名、术语、数字、决定）："
        "不超过{words}字，用分号隔开。"
    ),
}
_SECTION_QUOTE = {
    "en": 'Here is a section of a document:\n"{text}"\n\n',
    "zh": "以下是一篇文章中的一部分：\n“{text}”\n\n",
}
_BLOCK_HEAD = {
    "en": "Facts established in earlier sections (keep them consistent, do not copy them out):",
    "zh": "前文已确立的事实（保持一致，不要照抄）：",
}
_JOIN = {"en": "; ", "zh": "；"}

_TAGS = re.compile(r"<\|[^|>]*\|>|</?(?:think|answer)>", re.IGNORECASE)
_ITEM_SPLIT = re.compile(r"[;；\n]+")
_BULLET = re.compile(
    r"^\s*(?:[-*•·]+|\d+[.)、]|#+|>)?\s*(?:(?:notes?|facts?|memory|记录|事实)\s*[:：]\s*)?",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9']+")
# what a weak model says about the task instead of noting facts (seen on the tiny model:
# "Here's the revised section:", "I'm sorry for the confusion...", "This section is
# going to be a new one..."), and the prompt's own labels read back ("[The author's brief")
_CHATTER = re.compile(
    r"^(?:here(?:'s| is| are)|sure\b|certainly|of course|okay|ok\b|sorry|i\b|i'm|i am|i'll"
    r"|i will|i've|as an ai|this section\b|the section\b|in this section|let me"
    r"|好的|以下是|抱歉|对不起|这一部分|本部分|我)"
    r"|\[(?:the author|a sample)|【",
    re.IGNORECASE,
)


def note_words(language: str) -> int:
    """The words (字) one cleaned note may hold."""
    return int(NOTE_TOKENS / TOKENS_PER_WORD[language])


def memory_words(language: str) -> int:
    """The words (字) the whole memory in one section turn may hold."""
    return int(MEMORY_TOKENS / TOKENS_PER_WORD[language])


def note_request(language: str, section_text: str | None = None) -> str:
    """The user turn asking for a note on the section just written; `section_text`
    quotes the section when the note is asked for outside the conversation (its
    context is full or gone)."""
    key = "zh" if language == "zh" else "en"
    ask = _NOTE_REQUEST[key].format(words=note_words(key))
    if section_text is None:
        return ask
    return _SECTION_QUOTE[key].format(text=section_text[-NOTE_SOURCE_CHARS:].strip()) + ask


def _words_of(text: str) -> list[str]:
    if has_cjk(text):
        return [c for c in text if not c.isspace() and c.isalnum()]
    return _WORD.findall(text.lower())


def _echoes(item: str, instruction: set[str]) -> bool:
    """Most of the item's words are the note request's own: the model read it back."""
    words = _words_of(item)
    return len(words) >= 3 and sum(w in instruction for w in words) >= 0.6 * len(words)


def _loops(item: str) -> bool:
    """An item that repeats itself ("tea tea tea tea ...")."""
    words = _words_of(item)
    return len(words) >= 8 and len(set(words)) < 0.4 * len(words)


def clean_note(text: str, language: str, *, complete: bool = True) -> str:
    """A model's note made usable: tags and list marks gone, items that echo the
    request, loop or repeat an earlier item dropped, and the rest bounded to
    `note_words`. `complete` is false when the note hit its token cap: its last
    item is cut off and is dropped when others remain. "" when nothing is left."""
    key = "zh" if language == "zh" else "en"
    limit = note_words(key)
    instruction = set(_words_of(_NOTE_REQUEST[key]))
    raw = [
        _BULLET.sub("", part).strip(" *_`\"'“”.。")
        for part in _ITEM_SPLIT.split(_TAGS.sub("\n", text))
    ]
    items = [" ".join(part.split()) for part in raw if part.strip()]
    if not complete and len(items) > 1:
        items = items[:-1]
    kept: list[str] = []
    seen: set[str] = set()
    used = 0
    for item in items:
        norm = " ".join(_words_of(item))
        if not norm or norm in seen or _echoes(item, instruction) or _loops(item):
            continue
        if _CHATTER.search(item):
            continue
        seen.add(norm)
        words = count_words(item)
        if used + words > limit:
            if not kept:
                kept.append(first_words(item, limit))
            break
        kept.append(item)
        used += words
    return _JOIN[key].join(kept)


def _first_fact(note: str, language: str) -> str:
    return note.split(_JOIN["zh" if language == "zh" else "en"].strip())[0].strip()


def memory_block(notes: list[tuple[str, str]], language: str) -> str | None:
    """The memory a section turn carries: one line per earlier section ("title: note"),
    within `memory_words`. The newest notes are kept whole; older ones are cut to their
    first fact, and dropped oldest first when even that does not fit. None when there
    is nothing to carry."""
    key = "zh" if language == "zh" else "en"
    limit = memory_words(key)
    lines: dict[int, str] = {}
    used = 0
    numbered = [(i, title, note) for i, (title, note) in enumerate(notes, 1) if note]
    for whole in (True, False):  # whole notes newest first, then first facts of the rest
        for i, title, note in reversed(numbered):
            if i in lines:
                continue
            text = note if whole else _first_fact(note, key)
            line = f"{title}: {text}"
            words = count_words(line)
            if used + words > limit:
                if whole:
                    break  # older notes get only their first fact
                continue
            lines[i] = line
            used += words
    if not lines:
        return None
    body = "\n".join(f"- {lines[i]}" for i in sorted(lines))
    return f"{_BLOCK_HEAD[key]}\n{body}"


def outgrows_window(
    *,
    prompt_tokens: int,
    plan_tokens: int,
    target_words: int,
    sections: int,
    language: str,
    n_ctx: int,
) -> bool:
    """Whether a planned document is expected to outgrow its context window, so that
    later sections are prompted without the earlier text: the memory's default."""
    key = "zh" if language == "zh" else "en"
    document = int(target_words * TOKENS_PER_WORD[key] * MARGIN)
    return prompt_tokens + plan_tokens + document + sections * TURN_TOKENS > n_ctx
