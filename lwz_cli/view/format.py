"""Small formatting helpers shared by the views."""

from __future__ import annotations


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


def words_of(words: int, target: int | None) -> str:
    return f"{words:,} / {target:,} words" if target else f"{words:,} words"


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
