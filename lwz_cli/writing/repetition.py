"""Catching degenerate loops while they stream, at constant cost per token.

LongWriter-Zero pads to length by repeating passages (paper and reviews), and
small models loop outright. `SentenceSplitter` cuts the document stream into
sentences (and lines); `RepetitionGuard` remembers a window of recent
sentences by a normalised hash and flags one that comes back, and keeps a
running 4-gram repetition rate. The writer then rewinds to the start of the
repeated sentence and resamples.
"""

from __future__ import annotations

import re
from collections import Counter, deque

_END = re.compile(r"(?<=[.!?])[\"')\]’”]*\s+|[。！？]+[”’」』]*|\n+")
_NORMAL = re.compile(r"[\W\d_]+", re.UNICODE)
_WORD = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]")

MIN_WORDS = 6  # words (or CJK characters); shorter lines (headings, "Yes.") may repeat...
MIN_LINE_WORDS = 3  # ...or for a line of its own (a list item, a label)
MAX_SHORT_RUN = 3  # ...but not the same short line (or one with no words) this often in a row,
MAX_SAME_RUN = 2  # nor the very same line (digits and all) twice in a row
MARKER_CHARS = 3  # a "sentence" this short before a space is a list number or an abbreviation
HISTORY_CHARS = 20_000  # of earlier text remembered by a fresh guard (`remember`)
_HEADING = re.compile(r"^\s{0,3}#{1,6}[ \t]+(\S.*)$")
WINDOW = 200  # sentences remembered
NGRAM_WINDOW = 400  # words over which the 4-gram rate is measured
LOOP_RATE = 0.6  # natural prose repeats well under 10% of its 4-grams in 400 words
MAX_SENTENCE = 600  # characters: a run-on "sentence" is checked in pieces of this size


def normalise(sentence: str) -> str:
    """Case, digits and punctuation do not make a sentence new ("Section 7" vs "Section 8")."""
    return _NORMAL.sub(" ", sentence.lower()).strip()


class SentenceSplitter:
    """Feeds text, yields (start offset, sentence) for each completed sentence.

    Holds only the unfinished sentence, so the cost is proportional to the text fed.
    """

    def __init__(self, offset: int = 0):
        self.offset = offset  # document offset of `self.pending`
        self.pending = ""
        self.line_start = True  # `self.pending` begins a line

    def feed(self, text: str) -> list[tuple[int, str]]:
        self.pending += text
        out = []
        position = 0
        for match in _END.finditer(self.pending):
            sentence = self.pending[position : match.end()]
            if len(sentence.strip()) <= MARKER_CHARS and "\n" not in sentence:
                continue  # "N. ", "1. ", "Dr. ": the sentence goes on past it
            if self.line_start and sentence.lstrip(" ").startswith("#") and "\n" not in sentence:
                continue  # a heading line is one piece: the parser gives it out whole
            if sentence.strip():
                out.append((self.offset + position, sentence))
            position = match.end()
            self.line_start = sentence.endswith("\n")
        if position:
            self.pending = self.pending[position:]
            self.offset += position
        while len(self.pending) > MAX_SENTENCE:
            # a loop without full stops must not hide in one endless sentence
            cut = self.pending.rfind(" ", 0, MAX_SENTENCE) + 1 or MAX_SENTENCE
            out.append((self.offset, self.pending[:cut]))
            self.pending = self.pending[cut:]
            self.offset += cut
            self.line_start = False
        return out


class RepetitionGuard:
    def __init__(self, window: int = WINDOW):
        self._recent: deque[int] = deque(maxlen=window)
        self._seen: Counter[int] = Counter()
        self._grams: deque[int] = deque()
        self._gram_counts: Counter[int] = Counter()
        self._words: deque[str] = deque(maxlen=3)
        self.repeated_grams = 0
        self._last_short: str | None = None
        self._short_run = 0
        self._last_line: str | None = None
        self._same_run = 0
        self._headings: set[str] = set()  # every heading seen: one that comes back is a loop
        self._line_start = True  # the last sentence ended its line
        self.allowed = ""  # normalised text that never counts (the section's own title)

    def remember(self, text: str) -> None:
        """Take earlier text (the sections before this one) as already seen, so a
        sentence or heading of it written again counts as a repeat."""
        text = text[-HISTORY_CHARS:]
        splitter = SentenceSplitter()
        for _start, sentence in splitter.feed(text + "\n"):
            self._note(sentence)
        self._last_short, self._short_run = None, 0
        self._last_line, self._same_run = None, 0
        self._line_start = True

    def _note(self, sentence: str) -> bool:
        """Record a sentence; True if it repeats one seen (or is a short line too often)."""
        # a line with words (not code's "}" or a rule) written twice running is a loop
        exact = " ".join(sentence.lower().split()) if _WORD.search(sentence) else ""
        self._same_run = self._same_run + 1 if exact and exact == self._last_line else 1
        self._last_line = exact
        if exact and self._same_run >= MAX_SAME_RUN:
            return True
        heading = _HEADING.match(sentence.strip())
        if self.allowed and normalise(heading.group(1) if heading else sentence) == self.allowed:
            return False  # the section's own title, restated: not a loop of an earlier line
        if heading:  # numbers count here: "Chapter 2" is no repeat of "Chapter 1"
            title = " ".join(re.sub(r"[^\w]+", " ", heading.group(1).lower()).split())
            if title in self._headings:
                return True
            if title:
                self._headings.add(title)
        key_text = normalise(sentence)
        whole_line, self._line_start = self._line_start, sentence.endswith("\n")
        short = len(_WORD.findall(key_text)) < MIN_WORDS
        if short and whole_line and self._line_start and not sentence.lstrip().startswith("|"):
            # a short line of its own ("N. Early Humans | 490 words"): a repeat of it
            # anywhere is a loop once it has a few words (a table row may repeat)
            short = len(_WORD.findall(key_text)) < MIN_LINE_WORDS
        if short:
            # "#", "---", "Section 7", "是的。": harmless once, a loop when they keep coming
            self._short_run = self._short_run + 1 if key_text == self._last_short else 1
            self._last_short = key_text
            return self._short_run >= MAX_SHORT_RUN
        self._last_short, self._short_run = None, 0
        key = hash(key_text)
        if self._seen[key]:
            return True
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            self._seen[old] -= 1
            if not self._seen[old]:
                del self._seen[old]
        self._recent.append(key)
        self._seen[key] += 1
        return False

    def is_repeat(self, sentence: str) -> bool:
        """Record a completed sentence; True if it repeats one in the window, or if
        the recent text has become a loop."""
        if self._note(sentence):
            return True
        self._count_grams(sentence)
        # paraphrase loops (and loops of short sentences): no sentence repeats exactly,
        # but most 4-grams do. Judged afresh after each hit, so one loop costs one
        # rewind, not every sentence after it.
        if len(self._grams) >= NGRAM_WINDOW // 4 and self.gram_rate() > LOOP_RATE:
            self.reset_grams()
            return True
        return False

    def reset_grams(self) -> None:
        self._grams.clear()
        self._gram_counts.clear()

    def _count_grams(self, sentence: str) -> None:
        for word in _WORD.findall(sentence.lower()):
            if len(self._words) == 3:
                gram = hash((*self._words, word))
                if self._gram_counts[gram]:
                    self.repeated_grams += 1
                self._grams.append(gram)
                self._gram_counts[gram] += 1
                if len(self._grams) > NGRAM_WINDOW:
                    old = self._grams.popleft()
                    self._gram_counts[old] -= 1
                    if not self._gram_counts[old]:
                        del self._gram_counts[old]
            self._words.append(word)

    def gram_rate(self) -> float:
        """Share of 4-grams in the window that occur more than once."""
        if not self._grams:
            return 0.0
        repeated = sum(c for c in self._gram_counts.values() if c > 1)
        return repeated / len(self._grams)


def repetition_rate(text: str) -> float:
    """Share of a text's 4-grams that are repeats of an earlier 4-gram (bench metric)."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)
