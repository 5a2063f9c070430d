"""Fuzz: citations (the model's finished text, any numbers it made up).

Whatever the text and whichever numbers lwz handed out, `cite` gives a document and a
report: no exception, `kept + dropped == total`, and in the numeric mode every citation
left in the text resolves to a References entry, numbered 1..k without a gap, under a
heading a Markdown reader sees as the document's last section.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from hypothesis_profiles import outcome
from lwz_cli.sources.passage import Passage
from lwz_cli.writing.citations import CITATION_MODES, WEAKEST, cite, find_markers

# pieces of a model's Markdown, biased to what the citation finder looks for
ATOMS = st.sampled_from(
    [
        "[", "]", "[1]", "[2]", "[3]", "[12]", "[1, 2]", "[2-4]", "[3–1]", "[1-99999]", "[0]",
        "【2】", "［3］", "【", "】", "[^1]", "[^1]: note", "[ ]", "[x]", "(", ")", "](http://a)",
        "[a](b)", "![3](i.png)", "[t][3]", "[3]: http://x", "`", "``", "```", "~~~", "\n", "\n\n",
        " ", "\t", ".", "。", ",", "## ", "# ", "### ", "## References", "## 参考文献",
        "**Sources:**", "- ", "1. ", "> ", "tea", "kettle", "water", "茶叶", "\\", "^", "!", ":",
        "\r\n", "<", ">", "http://x.com/[2]",
    ]
)  # fmt: skip
TEXTS = st.lists(st.one_of(ATOMS, st.text(max_size=8)), max_size=40).map("".join)
PASSAGES = st.builds(
    Passage,
    path=st.text(min_size=1, max_size=20),
    text=st.text(max_size=200),
    page=st.none() | st.integers(1, 500),
    lines=st.none() | st.tuples(st.integers(1, 50), st.integers(1, 50)),
)
HANDED = st.dictionaries(st.integers(-2, 14), PASSAGES, max_size=8)


def _check(text: str, handed: dict[int, Passage], mode: str) -> None:
    out, report = cite(text, handed, mode=mode)
    assert report.kept + report.dropped == report.total
    assert 0 <= report.unsupported <= report.kept
    assert len(report.weakest) == min(report.unsupported, WEAKEST)
    assert [w.score for w in report.weakest] == sorted(w.score for w in report.weakest)
    outcome(f"{mode}: {'kept' if report.kept else 'none kept'}")
    heading = "## References"
    if mode != "numeric" or report.kept == 0:
        # no citation left: any bracket a removal formed is escaped (`\\[5]`), not a marker
        assert find_markers(out) == [], out
        assert f"\n\n{heading}\n\n" not in out or heading in text
        return
    body, found, refs = out.rpartition(f"\n\n{heading}\n\n")
    assert found, out
    entries = refs.rstrip("\n").split("\n")
    numbers = [int(entry.split(".", 1)[0]) for entry in entries]
    assert numbers == list(range(1, len(numbers) + 1))
    for marker in find_markers(body):
        assert all(1 <= n <= len(numbers) for n in marker.numbers), (body, marker)
    # a Markdown reader sees lwz's References as the last h2, its entries as one list
    tokens = MarkdownIt("commonmark").parse(out)
    h2 = [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert h2 and tokens[h2[-1] + 1].content == "References", out
    items = [t for t in tokens[h2[-1] :] if t.type == "list_item_open"]
    assert len(items) == len(numbers), out


@given(TEXTS, HANDED, st.sampled_from(CITATION_MODES))
@example("[[9]5]", {1: Passage("a", "b")}, "numeric")
@example("```\ncode [3]\n", {}, "numeric")
@example("text [1]\n```\ncode [3]\n", {1: Passage("a", "b")}, "numeric")
def test_any_text_and_numbers_give_a_document(text, handed, mode):
    _check(text, handed, mode)


# a document of sentences citing numbers, some handed: the renumbering is by first use
SENTENCES = st.lists(
    st.tuples(st.sampled_from(["Tea is old", "Kettles boil", "茶叶很古老", "Water"]), st.lists(st.integers(0, 9), min_size=1, max_size=3)),
    max_size=12,
)  # fmt: skip


@given(SENTENCES, st.sets(st.integers(0, 9)))
def test_numbers_follow_first_use(sentences, numbers):
    handed = {n: Passage(f"file{n}.md", f"passage {n}") for n in numbers}
    text = " ".join(f"{words} [{', '.join(map(str, cited))}]." for words, cited in sentences)
    out, report = cite(text, handed)
    first_use = list(dict.fromkeys(n for _, cited in sentences for n in cited if n in handed))
    assert report.kept == sum(n in handed for _, cited in sentences for n in cited)
    _, found, refs = out.rpartition("\n## References\n\n")
    listed = [line.split(": ")[0].split(". ", 1)[1] for line in refs.splitlines()] if found else []
    assert listed == [f"file{n}.md" for n in first_use]
    _check(text, handed, "numeric")
