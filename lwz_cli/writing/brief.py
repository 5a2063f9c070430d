"""The author's brief and voice: `--brief TEXT|FILE` and `--style FILE`.

Both become part of the user's request text, in a labelled block after the request
itself, so LongWriter-Zero's prompt protocol stays exactly the one it was trained on.
The style sample is bounded (`STYLE_WORDS`), cut at a paragraph or sentence boundary:
a voice shows in a few paragraphs, and every token of it is prefilled again on each
rebuilt section prompt.
"""

from __future__ import annotations

import re
from pathlib import Path

from lwz_cli.errors import UsageError
from lwz_cli.writing.length import count_words, first_words

TEXT_SUFFIXES = (".md", ".txt", ".markdown", ".rst")  # a brief naming one must exist
STYLE_WORDS = 400  # words (a Chinese character counts as one) kept from a style sample
_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])[\"'”’）)]*\s*")


def read_text_file(path: Path, what: str) -> str:
    """A file's text, strictly UTF-8; any failure is one line, exit 2."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UsageError(f"{what} {path} is a folder", hint="give a text file") from None
    except FileNotFoundError:
        raise UsageError(f"{what} {path} does not exist", hint="check the path") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read {what} {path}: {exc.strerror or exc}", hint="check its permissions"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what} {path} is not UTF-8 text (byte {exc.start + 1})", hint="save it as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff").strip()
    if not text:
        raise UsageError(f"{what} {path} is empty", hint="write something in it or leave it out")
    return text


def read_brief(value: str, *, base: Path | None = None, what: str = "--brief") -> str:
    """`--brief`'s value: a file that exists is read; anything else is the brief itself."""
    if not value.strip():
        raise UsageError(
            f"{what} is empty", hint='say what the document needs, e.g. --brief "for beginners"'
        )
    if "\n" not in value and len(value) < 4096:  # a path is one short line
        path = (base / value) if base is not None else Path(value)
        try:
            exists = path.exists()
        except OSError:  # a name the OS cannot take (too long): text, then
            exists = False
        if exists:
            return read_text_file(path, what)
        if not any(c.isspace() for c in value.strip()) and path.suffix.lower() in TEXT_SUFFIXES:
            # one word ending in .md is a file name mistyped, not a brief
            raise UsageError(f"{what} {value} does not exist", hint="check the path")
    return value.strip()


def read_style(path: Path, *, what: str = "--style") -> str:
    """The bounded excerpt of a style sample file."""
    return style_excerpt(read_text_file(path, what))


def style_excerpt(text: str, limit: int = STYLE_WORDS) -> str:
    """The sample's first paragraphs within `limit` words; when the first paragraph is
    already longer, its first sentences; a single overlong sentence is cut at a word."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    kept: list[str] = []
    used = 0
    for paragraph in paragraphs:
        words = count_words(paragraph)
        if used + words > limit:
            if not kept:
                kept.append(_sentences(paragraph, limit))
            break
        kept.append(paragraph)
        used += words
    return "\n\n".join(kept)


def _sentences(paragraph: str, limit: int) -> str:
    kept = ""
    for match in _SENTENCE_END.finditer(paragraph):
        candidate = paragraph[: match.end()].strip()
        if count_words(candidate) > limit:
            break
        kept = candidate
    return kept or first_words(paragraph, limit)


def guidance_block(brief: str | None, style: str | None, language: str) -> str:
    """The labelled block the request text gains ("" when neither is given)."""
    parts = []
    if language == "zh":
        if brief:
            parts.append(f"【作者的写作说明（读者、语气、要点、可用的事实）】\n{brief}")
        if style:
            parts.append(
                f"【作者本人的文字样本：请用这种文风写作，不要照抄】\n{style}\n【样本结束】"
            )
    else:
        if brief:
            parts.append(
                f"[The author's brief: audience, tone, points to cover, facts to use]\n{brief}"
            )
        if style:
            parts.append(
                "[A sample of the author's own prose: write in this voice, do not copy it]\n"
                f"{style}\n[End of the sample]"
            )
    return "\n\n".join(parts)


# by what the job has: (brief, style) -> the line, per language
REMINDER = {
    "en": {
        (True, True): "Keep to the author's brief and write in the voice of their sample, "
        "both given with the request.",
        (True, False): "Keep to the author's brief given with the request.",
        (False, True): "Write in the voice of the author's sample given with the request.",
    },
    "zh": {
        (True, True): "请遵循作者的写作说明，并沿用其文字样本的文风（见写作任务）。",
        (True, False): "请遵循作者的写作说明（见写作任务）。",
        (False, True): "请沿用作者文字样本的文风（见写作任务）。",
    },
}


def reminder(brief: str | None, style: str | None, language: str) -> str | None:
    """One line a section turn carries when there is a brief or a style: the block itself
    is read once, in the first turn, and a voice drifts over a long conversation."""
    if not brief and not style:
        return None
    return REMINDER["zh" if language == "zh" else "en"][(bool(brief), bool(style))]


def with_guidance(request: str, brief: str | None, style: str | None, language: str) -> str:
    """The request text with the brief and style block after it."""
    block = guidance_block(brief, style, language)
    return f"{request}\n\n{block}" if block else request
