"""What lwz accepts from a Hub before any of it becomes a path.

`HF_ENDPOINT` can point lwz at any server (a mirror, a proxy, someone else's box),
so every field of its answers that reaches the file system or a URL is checked
here first: the commit (a folder name), file names (paths under it), LFS sha256
(a blob's name) and sizes (what is fetched and how much space it needs). A value
outside the rules is refused with one line naming the server and the field.

Repo ids follow the Hub's own rules (huggingface_hub's `validate_repo_id`); they
come from the user, so a bad one is a usage error.
"""

from __future__ import annotations

import os
import re
import reprlib
import unicodedata

from lwz_cli.errors import RuntimeFailure, UsageError

# The Hub's rules: OWNER/NAME, each 1-96 of A-Z a-z 0-9 _ . -, starting and ending
# with a letter, digit or underscore; no `--` (the cache folder maps `/` to `--`,
# so `a--b/c` and `a/b--c` would share one), no `..`, no trailing `.git`.
_REPO_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
REPO_ID = re.compile(rf"{_REPO_PART}/{_REPO_PART}")
COMMIT = re.compile(r"[0-9a-f]{40}")  # a git commit id as the Hub writes it
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_FILE_SIZE = 1 << 40  # 1 TiB: far above any single file the Hub stores
MAX_NAME_BYTES = 1024  # a whole file name; each folder or file in it at most NAME_MAX
MAX_SEGMENT_BYTES = 255
# Unicode categories refused in file names: control and format characters (NUL,
# newlines, ESC, bidi overrides), line and paragraph separators, lone surrogates
# (which no file system encoding can write).
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_ASCII_BAD = re.compile(r"[\x00-\x1f\x7f]")  # the same, for the common all-ASCII name
# A name every rule below accepts, in one match (most names are ASCII): parts of 1-255
# characters, no control character, backslash or `.`/`..` part.
_PART = r"(?!\.\.?(?:/|$))[^\x00-\x1f\x7f\\/]{1,255}"
_PLAIN_ASCII_NAME = re.compile(rf"(?:{_PART}/)*{_PART}", re.ASCII)
_SHOWN = 60  # characters of a bad value quoted in a message


def endpoint() -> str:
    from huggingface_hub import constants  # lazy: huggingface_hub is slow to import

    return str(constants.ENDPOINT).rstrip("/")


def offline() -> bool:
    from huggingface_hub import constants  # lazy: huggingface_hub is slow to import

    return bool(constants.HF_HUB_OFFLINE)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def unreachable(exc: BaseException, *, hint_extra: str) -> RuntimeFailure:
    """The one-line "cannot reach the Hub" error for a network failure; the hint
    names HF_ENDPOINT when the user set it (a typo there is the likely cause)."""
    where = "check your connection"
    if os.environ.get("HF_ENDPOINT"):
        where = f"check HF_ENDPOINT ({os.environ['HF_ENDPOINT']}) and your connection"
    return RuntimeFailure(
        f"cannot reach the Hub at {endpoint()} ({one_line(exc)})", hint=f"{where}, {hint_extra}"
    )


_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist = 2, 3, 3
_REPR.maxstring = _REPR.maxother = _SHOWN


def shown(value: object) -> str:
    """`value` quoted for a one-line message: repr escapes every control character,
    and a long value is cut (a container without repr-ing all of it)."""
    if isinstance(value, str) and len(value) > _SHOWN:
        return repr(value[:_SHOWN]) + "…"
    text = repr(value) if isinstance(value, str) else _REPR.repr(value)
    return text if len(text) <= _SHOWN + 2 else text[:_SHOWN] + "…"


def misbehaved(what: str, where: str, *, then: str = "") -> RuntimeFailure:
    """The Hub sent something lwz will not use: `what` names the field and value,
    `where` the repo or file it came with, `then` what lwz did about it."""
    hint = "check HF_ENDPOINT" if os.environ.get("HF_ENDPOINT") else "try again later"
    return RuntimeFailure(f"the Hub at {endpoint()} sent {what} for {where}{then}", hint=hint)


def check_repo_id(repo_id: str) -> str:
    """`repo_id` as the user typed it, if the Hub could have such a repository."""
    forbidden = "--" in repo_id or ".." in repo_id or repo_id.endswith(".git")
    if REPO_ID.fullmatch(repo_id) and not forbidden:
        return repo_id
    raise UsageError(
        f"{shown(repo_id)} is not a Hub repository name",
        hint="name it OWNER/NAME: letters, digits, '_', '.', '-', at most 96 each, no '--' or '..'",
    )


def check_commit(value: object, repo_id: str) -> str:
    if isinstance(value, str) and COMMIT.fullmatch(value):
        return value
    raise misbehaved(f"an invalid commit id {shown(value)} (expected 40 hex digits)", repo_id)


def check_sha256(value: object, where: str) -> str:
    if isinstance(value, str) and SHA256.fullmatch(value):
        return value
    raise misbehaved(f"an invalid sha256 {shown(value)} (expected 64 hex digits)", where)


def check_size(value: object, where: str) -> int:
    # bool is an int to Python, not to JSON; a float or a string is not a byte count
    if type(value) is int and 0 <= value <= MAX_FILE_SIZE:
        return value
    raise misbehaved(
        f"an invalid size {shown(value)} (expected a whole number of bytes up to 1 TiB)", where
    )


def filename_problem(name: str) -> str | None:
    """Why `name` cannot be a path under a snapshot folder, or None if it can."""
    if name.isascii() and len(name) <= MAX_NAME_BYTES and _PLAIN_ASCII_NAME.fullmatch(name):
        return None  # the fast path for a listing of many files; the rules follow
    if not name:
        return "it is empty"
    if name.startswith("/"):
        return "it is absolute"
    if "\\" in name:
        return "it holds a backslash"
    if (
        _ASCII_BAD.search(name)
        if name.isascii()
        else any(unicodedata.category(c) in _BAD_CATEGORIES for c in name)
    ):
        return "it holds a control character"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    for segment in name.split("/"):
        if segment in (".", ".."):
            return f"it has a {segment!r} part"
        if not segment:
            return "it has an empty part"
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            return f"a part of it is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def check_filename(value: object, repo_id: str) -> str:
    """A file name the Hub listed: relative, normalised, printable, of sane length."""
    if not isinstance(value, str):
        raise misbehaved(f"an invalid file name {shown(value)}", repo_id)
    problem = filename_problem(value)
    if problem:
        raise misbehaved(f"an invalid file name {shown(value)} ({problem})", repo_id)
    return value
