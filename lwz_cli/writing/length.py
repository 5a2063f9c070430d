"""Word counts and length targets, the way LongBench-Write measures them.

Words = CJK ideographs ([\\u4e00-\\u9fff]) + matches of ``\\b[a-zA-Z]+\\b``.
A ``\\b[a-zA-Z]+\\b`` match is exactly a maximal run of ``\\w`` characters made
only of ASCII letters, which is what lets `WordCounter` count incrementally.
"""

from __future__ import annotations

import re

CJK = re.compile(r"[\u4e00-\u9fff]")
_ASCII_WORD = re.compile(r"\b[a-zA-Z]+\b")
_WORD_RUN = re.compile(r"\w+")
_ASCII_LETTERS = re.compile(r"[a-zA-Z]+")

MAX_TARGET_WORDS = 200_000  # beyond any document a local model can write


def count_words(text: str) -> int:
    """LongBench-Write's count: CJK ideographs plus ASCII words."""
    return len(CJK.findall(text)) + len(_ASCII_WORD.findall(text))


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def length_score(target: int, produced: int) -> float:
    """LongBench-Write's S_l for required length x and produced length y."""
    x, y = target, produced
    if y <= 0:
        return 0.0
    if y > x:
        return 100.0 * max(0.0, 1.0 - (y / x - 1.0) / 3.0)
    return 100.0 * max(0.0, 1.0 - (x / y - 1.0) / 2.0)


class WordCounter:
    """Counts words of streamed text exactly as `count_words` would, in O(piece).

    State is two flags about the trailing run of word characters, so the cost
    per piece never depends on how much text came before.
    """

    def __init__(self) -> None:
        self.count = 0
        self._in_run = False  # the text so far ends inside a \\w run
        self._run_ascii = False  # ...and that run is ASCII letters only so far

    def feed(self, piece: str) -> int:
        if not piece:
            return self.count
        self.count += len(CJK.findall(piece))
        matched = False
        for match in _WORD_RUN.finditer(piece):
            matched = True
            ascii_only = _ASCII_LETTERS.fullmatch(match.group()) is not None
            if match.start() == 0 and self._in_run:
                ascii_only = ascii_only and self._run_ascii
            elif self._in_run:
                self._close_run()
            self._in_run, self._run_ascii = True, ascii_only
            if match.end() < len(piece):
                self._close_run()
        if not matched:  # a piece with no word characters ends any open run
            self._close_run()
        return self.count

    def _close_run(self) -> None:
        if self._in_run and self._run_ascii:
            self.count += 1
        self._in_run = self._run_ascii = False

    @property
    def total(self) -> int:
        """The count if the text ended here."""
        return self.count + (1 if self._in_run and self._run_ascii else 0)


# --- Targets -----------------------------------------------------------------

# Linear time on any prompt: no two adjacent repeats can share a run of spaces (the
# forms `\s*(k)?\s*[-\s]?\s*` were cubic in blank lines after a number), and a run of
# digits (or of Chinese numerals) is read from its start only (the (?<!...) look-behinds),
# not again from each of its characters.
_NUM = r"(\d{1,3}(?:[,\s]\d{3})+|(?<!\d)\d+(?:\.\d+)?)"
_EN_TARGET = re.compile(_NUM + r"\s*(?:(k|thousand)\s*)?(?:-\s*)?words?\b", re.IGNORECASE)
_ZH_DIGITS_TARGET = re.compile(_NUM + r"\s*(?:(千|万)\s*)?字")
_HUGE = 10**15  # far past MAX_TARGET_WORDS, so still refused as too long; float("1"*400) is inf
_ZH_NUMERAL_TARGET = re.compile(
    r"(?<![零〇一二两三四五六七八九十百千万])([零〇一二两三四五六七八九十百千万]+)\s*字"
)

_ZH_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_UNIT = {"十": 10, "百": 100, "千": 1000}


def chinese_numeral(text: str) -> int | None:
    """两千 -> 2000, 一万五千 -> 15000, 三百五十 -> 350, 十二 -> 12."""
    total, section, digit = 0, 0, None
    for char in text:
        if char in _ZH_DIGIT:
            digit = _ZH_DIGIT[char]
        elif char in _ZH_UNIT:
            section += (1 if digit is None else digit) * _ZH_UNIT[char]
            digit = None
        elif char == "万":
            section += digit or 0
            total += (section or 1) * 10_000
            section, digit = 0, None
        else:
            return None
    section += digit or 0
    value = total + section
    return value or None


def _number(raw: str) -> float:
    return min(float(re.sub(r"[,\s]", "", raw)), _HUGE)


def parse_target(request: str) -> int | None:
    """The length a request asks for, in words (字 for Chinese), or None.

    "a 10,000-word guide", "5000 words", "2k words", "3000字", "3万字", "两千字".
    The first stated length wins.
    """
    found: list[tuple[int, int]] = []  # (position, words)
    for m in _EN_TARGET.finditer(request):
        value = _number(m.group(1)) * (1000 if m.group(2) else 1)
        found.append((m.start(), int(value)))
    for m in _ZH_DIGITS_TARGET.finditer(request):
        unit = {"千": 1000, "万": 10_000}.get(m.group(2) or "", 1)
        found.append((m.start(), int(_number(m.group(1)) * unit)))
    for m in _ZH_NUMERAL_TARGET.finditer(request):
        numeral = chinese_numeral(m.group(1))
        if numeral:
            found.append((m.start(), numeral))
    found = [item for item in found if item[1] > 0]
    return min(found)[1] if found else None


def word_unit(language: str | None) -> str:
    """What a run's lengths count: 字 for Chinese, words otherwise (as lwz counts them)."""
    return "字" if language == "zh" else "words"


def first_words(text: str, limit: int) -> str:
    """The first `limit` words of `text` (a Chinese character counts as one word)."""
    if has_cjk(text):
        out, used = [], 0
        for char in text:
            used += count_words(char)
            if used > limit:
                break
            out.append(char)
        return "".join(out).strip()
    return " ".join(text.split()[:limit])
