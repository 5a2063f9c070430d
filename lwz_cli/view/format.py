"""Small formatting helpers shared by the views."""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def unit(language: str | None) -> str:
    """What a run's lengths count: 字 for Chinese, words otherwise (as lwz counts them)."""
    return "字" if language == "zh" else "words"


def words_of(words: int, target: int | None, language: str | None = None) -> str:
    counted = unit(language)
    return f"{words:,} / {target:,} {counted}" if target else f"{words:,} {counted}"


def eta_seconds(words: int, target: int | None, words_per_second: float) -> float | None:
    if not target or words_per_second <= 0 or words <= 0:
        return None
    return max(0.0, (target - words) / words_per_second)


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def wrap_line(line: str, width: int) -> list[str]:
    """`line` as display rows of at most `width` cells, broken after spaces; a
    word longer than a row, and CJK text (which has no spaces), break anywhere.
    The space a row breaks at is dropped, as a terminal's word wrap does."""
    rows: list[str] = []
    if line.isascii():  # the common case, one cell a character: no per-character widths
        while len(line) > width:
            space = line.rfind(" ", 1, width + 1)
            if space < 0:
                rows.append(line[:width])
                line = line[width:]
            else:
                rows.append(line[:space].rstrip(" ") or line[:space])
                line = line[space + 1 :]
        rows.append(line)
        return rows
    while cell_len(line) > width:
        cut, cells = 0, 0  # the most characters that fit in `width` cells
        while cut < len(line) and cells + cell_len(line[cut]) <= width:
            cells += cell_len(line[cut])
            cut += 1
        cut = max(cut, 1)  # a row always takes a character, however narrow the screen
        if line[cut] == " ":  # the row ends exactly at a word's end
            rows.append(line[:cut])
            line = line[cut + 1 :]
            continue
        at = cut
        # back to the last break opportunity: a space, or either side of a wide character
        while at > 0 and not (line[at - 1] == " " or _wide(line[at - 1]) or _wide(line[at])):
            at -= 1
        if at == 0:  # one word wider than the row: it has to be cut
            at = cut
        rows.append(line[:at].rstrip(" ") or line[:at])
        line = line[at:]
    rows.append(line)
    return rows
