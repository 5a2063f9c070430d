"""Small formatting helpers shared by the views."""

from __future__ import annotations

from rich.cells import get_character_cell_size

from lwz_cli.writing.length import word_unit


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


def words_of(words: int, target: int | None, language: str | None = None) -> str:
    counted = word_unit(language)
    return f"{words:,} / {target:,} {counted}" if target else f"{words:,} {counted}"


def eta_seconds(words: int, target: int | None, words_per_second: float) -> float | None:
    if not target or words_per_second <= 0 or words <= 0:
        return None
    return max(0.0, (target - words) / words_per_second)


def human_size(size: float) -> str:
    """Bytes in binary units, as `ls -h` and `df -h` count them: 512 B, 93.8 MiB, 18.5 GiB."""
    if abs(size) < 1024:
        return f"{size:.0f} B"
    for unit in ("KiB", "MiB"):
        size /= 1024
        if abs(size) < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GiB"


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
    sizes = [get_character_cell_size(char) for char in line]
    start, end = 0, len(line)
    while True:
        cut, cells = start, 0  # the most characters from `start` that fit in `width` cells
        while cut < end and cells + sizes[cut] <= width:
            cells += sizes[cut]
            cut += 1
        if cut == end:
            rows.append(line[start:])
            return rows
        cut = max(cut, start + 1)  # a row takes a character, however narrow the screen
        if line[cut] == " ":  # the row ends exactly at a word's end: drop the space
            rows.append(line[start:cut])
            start = cut + 1
            continue
        # back to the last break opportunity: after a space, or beside a wide character
        at = cut
        while at > start and not (line[at - 1] == " " or sizes[at - 1] == 2 or sizes[at] == 2):
            at -= 1
        if at == start:  # one word wider than the row: it has to be cut
            at = cut
        rows.append(line[start:at].rstrip(" ") or line[start:at])
        start = at


def citations_line(citations: dict[str, int] | None, sources: dict[str, int] | None) -> str | None:
    """`done.citations` and `done.sources` in a line: "citations: 5 kept of 7 (2 dropped,
    1 looks unsupported) from 3 files"; None for a run without sources."""
    if citations is None or sources is None:
        return None
    notes = [f"{citations['dropped']} dropped"] if citations.get("dropped") else []
    if citations.get("unsupported"):
        count = citations["unsupported"]
        notes.append(f"{count} look{'s' if count == 1 else ''} unsupported")
    more = f" ({', '.join(notes)})" if notes else ""
    files = sources.get("files", 0)
    return (
        f"citations: {citations.get('kept', 0)} kept of {citations.get('total', 0)}{more} "
        f"from {files} source file{'s' if files != 1 else ''}"
    )
