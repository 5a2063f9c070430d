"""Fuzz: the protocol parser (model output, streamed in pieces split anywhere).

Whatever the text and however it is cut into pieces, the parser never raises and
gives the same think text, document text, sections and word count as when the
whole text arrives in one piece.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.writing.length import count_words
from lwz_cli.writing.parser import ANSWER, PRE, THINK, ProtocolParser

# pieces of text a model writes, biased to what the parser looks for
ATOMS = st.sampled_from(
    [
        "<think>", "</think>", "<answer>", "</answer>", "<", "</", "<thi", "nk>", "</ans",
        "wer>", ">", "<thinking>", "<answer >", "#", "# ", "## ", "###### ", "####### ",
        "# Title", "## Part", " ##", "```", "~~~", "`", "~", "\n", "\n\n", " ", "\t", "\r\n",
        "word", "two words", "字", "中文", "ünï", "x1", "\u2028", "\x00", "--",
    ]
)  # fmt: skip
LONG_LINES = st.builds(
    lambda mark, n, end: mark + "x" * n + end,
    st.sampled_from(["# ", "## ", "```", "~~~"]),
    st.integers(280, 320),
    st.sampled_from(["", "\n"]),
)
TEXTS = st.lists(st.one_of(ATOMS, st.text(max_size=12), LONG_LINES), max_size=30).map("".join)


def run(pieces: list[str], mode: str) -> tuple[list[tuple], int]:
    """The events as one canonical list (adjacent text/think merged), and the words."""
    parser = ProtocolParser(mode=mode)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.finish()
    merged: list[tuple] = []
    for event in (e.to_json() for e in events):
        kind = event["event"]
        if kind in ("text", "think") and merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + event["text"])
        else:
            merged.append((kind, *(v for k, v in sorted(event.items()) if k != "event")))
    return merged, parser.words


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@given(TEXTS, st.lists(st.integers(0, 400), max_size=25), st.sampled_from([PRE, THINK, ANSWER]))
# a heading line longer than the 300 characters a held line may grow to: cut before its
# newline it was text, whole it was a heading (found by this test)
@example("# " + "x" * 300 + "\n", [301], PRE)
@example("```" + "x" * 300 + "\n# not a heading\n```\n", [302], PRE)
def test_any_chunking_gives_the_events_of_the_whole_text(text, cuts, mode):
    whole, words = run([text], mode)
    pieces, piece_words = run(split(text, cuts), mode)
    assert pieces == whole
    assert piece_words == words
    document = "".join(e[1] for e in whole if e[0] == "text")
    assert words == count_words(document)


@given(TEXTS, st.sampled_from([PRE, THINK, ANSWER]))
def test_one_character_at_a_time_gives_the_events_of_the_whole_text(text, mode):
    assert run(list(text), mode) == run([text], mode)


def test_a_long_heading_line_is_text_however_it_arrives():
    line = "# " + "x" * 400 + "\n"
    for pieces in ([line], [line[:350], line[350:]], list(line)):
        events, _ = run(["<answer>", *pieces, "body\n"], PRE)
        assert [e[0] for e in events] == ["text"]
