"""Fuzz: any bytes under any source suffix give passages or one `Unreadable` reason.

A folder of sources is outside input: a truncated PDF, a DOCX that is no zip, a text
file in another encoding, random bytes named `.md`. Each is read into bounded
passages or skipped with a one-line reason; no reader raises anything else.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.sources import readers
from lwz_cli.sources.blocks import MAX_CHARS
from lwz_cli.sources.index import SourceIndex
from lwz_cli.sources.terms import match_expression, query_terms
from lwz_cli.sources.unreadable import Unreadable

SUFFIXES = st.sampled_from([*readers.READERS, ".csv", ""])
PREFIXES = st.sampled_from(
    [b"", b"%PDF-1.4\n", b"PK\x03\x04", b"<html><p>", b"\xef\xbb\xbf", b"\xff\xfe"]
)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _check(data: bytes, suffix: str) -> None:
    try:
        found = readers.parse(data, suffix)
    except Unreadable as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert found and all(p.text and len(p.text) <= MAX_CHARS for p in found)
    assert all(p.lines is None or 1 <= p.lines[0] <= p.lines[1] for p in found)


@given(st.binary(max_size=3000), SUFFIXES, PREFIXES)
@example(b"%PDF-1.4\n1 0 obj<</Type/Pages/Kids[1 0 R]>>endobj trailer<</Root 1 0 R>>", ".pdf", b"")
@example(
    _zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<w:document/>"}), ".docx", b""
)
@example(b"<p>a</p></p></div><script>never closed", ".html", b"")
@example("\u3000。。！" * 400, ".txt", b"")  # CJK punctuation only: sentence cuts with no words
def test_any_bytes_under_any_suffix_give_passages_or_one_reason(data, suffix, prefix):
    if isinstance(data, str):
        data = data.encode("utf-8")
    _check(prefix + data, suffix)


@given(st.text(max_size=3000), SUFFIXES)
def test_any_text_under_any_suffix_gives_passages_or_one_reason(text, suffix):
    _check(text.encode("utf-8", "surrogatepass"), suffix)


@given(st.text())
def test_any_query_is_quoted_terms_or_none(query):
    expression = match_expression(query_terms(query))
    if expression is not None:
        # every term is one FTS5 string: an even number of quotes, joined by OR only
        assert expression.count('"') % 2 == 0 and expression.startswith('"')


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    (folder / "a.md").write_text("# Lamps\n\nThe lamp burned whale oil.\n\n茶是一种饮料。\n")
    home = folder / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LWZ_HOME", str(home))
        with SourceIndex.open(["a.md"], base=folder) as opened:
            yield opened


FTS_ATOMS = st.sampled_from(
    ['"', "AND", "OR", "NOT", "*", "NEAR(", ")", "(", ":", "^", "-", "+", "lamp", "茶", " "]
)


@given(st.lists(st.one_of(FTS_ATOMS, st.text(max_size=5)), max_size=20).map(" ".join))
@example('lamp" OR "x')
@example("NEAR(lamp oil, 2)")
def test_any_query_searches_without_error(index, query):
    found = index.search(query, 5)
    assert all(p.path == "a.md" for p in found)
