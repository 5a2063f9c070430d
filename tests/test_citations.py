"""Citations: the model's `[n]` kept, renumbered, listed and checked (pure text, no model)."""

from __future__ import annotations

import re
import subprocess

import pytest

from lwz_cli.sources.passage import Passage
from lwz_cli.writing.citations import (
    CITATION_MODES,
    SUPPORT_THRESHOLD,
    CitationReport,
    cite,
    escape_markdown,
    find_markers,
    support,
)

TEA = Passage(
    "notes/tea.md",
    "Tea was first drunk in China around 2737 BC, according to legend, when leaves fell "
    "into the emperor Shen Nong's boiling water.",
    lines=(10, 24),
)
KETTLE = Passage(
    "specs/kettle.pdf",
    "The Model K2 kettle heats one litre of water to 85 degrees Celsius in 40 seconds "
    "and switches off automatically.",
    page=3,
)
STARTER = Passage(
    "minutes.docx",
    "Sourdough starters need feeding twice a day with equal weights of flour and water.",
)
HANDED = {3: TEA, 5: KETTLE, 7: STARTER}

# (sentence, passage, supported?): what SUPPORT_THRESHOLD was chosen from (see its comment)
SUPPORT_EXAMPLES = [
    ("Legend says tea was first drunk in China, around 2737 BC.", TEA, True),
    ("The emperor Shen Nong found tea when leaves fell into his boiling water.", TEA, True),
    ("The K2 kettle brings a litre of water to 85 °C in forty seconds.", KETTLE, True),
    ("It switches off automatically once the water is heated.", KETTLE, True),
    ("A starter must be fed twice daily with equal weights of flour and water.", STARTER, True),
    ("Green tea lowers blood pressure by twenty percent in adults.", TEA, False),
    ("Tea became popular in Britain during the 17th century.", TEA, False),
    ("The kettle is made of recycled aluminium and comes in three colours.", KETTLE, False),
    ("Rye flour gives bread a darker crumb and a sour taste.", STARTER, False),
]


def references(document: str) -> list[str]:
    """The entries of the References section lwz appended."""
    _, _, tail = document.partition("## References\n\n")
    return tail.strip().splitlines() if tail else []


def test_kept_numbers_are_renumbered_in_order_of_first_use():
    text = "Kettles are fast [5]. Tea is old [3]. Kettles again [5]. Starters [7].\n"
    out, report = cite(text, HANDED)
    assert out.startswith(
        "Kettles are fast [1]. Tea is old [2]. Kettles again [1]. Starters [3].\n"
    )
    entries = references(out)
    assert [e.split(".")[0] for e in entries] == ["1", "2", "3"]
    assert entries[0].startswith("1. specs/kettle.pdf, p. 3: ")
    assert entries[1].startswith("2. notes/tea.md, lines 10-24: ")
    assert entries[2].startswith('3. minutes.docx: "Sourdough')
    assert report.to_json() == {"total": 4, "kept": 4, "dropped": 0, "unsupported": 0}


def test_the_same_passage_under_two_numbers_gets_one():
    out, report = cite("A kettle [5]. Same kettle [9].\n", {5: KETTLE, 9: KETTLE})
    assert out.startswith("A kettle [1]. Same kettle [1].")
    assert len(references(out)) == 1
    assert report.kept == 2


def test_unknown_numbers_are_dropped_cleanly():
    text = "Tea is old [12]. Kettles boil water [5], fast [40] and well.[8]\n[9] Starters too.\n"
    out, report = cite(text, HANDED)
    body = out.split("\n\n## References")[0]
    assert body == "Tea is old. Kettles boil water [1], fast and well.\nStarters too."
    assert (report.total, report.kept, report.dropped) == (5, 1, 4)


def test_grouped_and_ranged_markers():
    text = "Both [3, 5]. Adjacent [5][3]. Range [3-5]. Dash [3–5]. Wide 【3】 and ［7］.\n"
    out, report = cite(text, HANDED)
    body = out.split("\n\n## References")[0]
    # 3-5 expands to 3, 4, 5; 4 was never handed
    assert body == "Both [1, 2]. Adjacent [1, 2]. Range [1, 2]. Dash [1, 2]. Wide [1] and [3]."
    assert report.total == 2 + 2 + 3 + 3 + 1 + 1
    assert report.dropped == 2


def test_links_footnotes_checkboxes_code_and_headings_are_untouched():
    text = (
        "## Tea [3]\n\n"
        "See [the spec](https://example.com/a[5]) and ![3](img.png) and [text][3] and [3](x).\n"
        "- [ ] open task\n- [x] done task\n"
        "A note[^1] and `a[5]` in code.\n\n"
        "```python\nvalues[3] = 1\n```\n\n"
        "~~~\n[5]\n~~~\n\n"
        "[^1]: the model's own note.\n"
    )
    out, report = cite(text, HANDED)
    assert out == text
    assert report.total == 0
    assert find_markers(text) == []


def test_a_document_without_kept_citations_gets_no_references():
    out, report = cite("Nothing cited [99] here.\n", HANDED)
    assert out == "Nothing cited here.\n"
    assert "References" not in out
    assert report.to_json() == {"total": 1, "kept": 0, "dropped": 1, "unsupported": 0}
    assert cite("", HANDED)[0] == ""


@pytest.mark.parametrize(
    "own",
    [
        "## References\n\n1. Smith, J. (2020). Tea. Journal.\n2. Invented, A. (2019).\n",
        "## Bibliography\n\n### Books\n\n- Someone. A Book.\n",
        "### Sources:\n\n[1] Made up\n[2] https://example.com/fake\n",
        "**References**\n\n[1] Made up, 2020.\n[2] Also made up.\n",
        "## 参考文献\n\n1. 张三. 茶史. 2020.\n",
    ],
)
def test_the_models_own_references_are_replaced(own):
    text = f"# Tea\n\n## Origins\n\nTea was first drunk in China [3].\n\n{own}"
    out, _ = cite(text, HANDED)
    assert (
        "Smith" not in out and "Made up" not in out and "Someone" not in out and "张三" not in out
    )
    assert out.endswith('## References\n\n1. notes/tea.md, lines 10-24: "Tea was first drunk in '
                        "China around 2737 BC, according to legend, when leaves fell into the "
                        "emperor Shen Nong's boiling water.\"\n")  # fmt: skip


def test_a_sources_heading_mid_document_is_kept():
    text = "## Sources of tea\n\nChina [3].\n\n## Sources\n\nWhere leaves come from.\n\n## Later\n\nMore.\n"
    out, _ = cite(text, HANDED)
    assert "## Sources\n\nWhere leaves come from." in out


def test_numeric_definitions_the_model_wrote_are_removed():
    out, _ = cite("Tea [3].\n\n[3]: https://example.com/invented\n\nMore text.\n", HANDED)
    assert "invented" not in out and "More text." in out
    assert out.startswith("Tea [1].")


def test_mode_none_removes_markers_and_adds_nothing():
    out, report = cite("Tea is old [3]. Kettles [5, 99].\n", HANDED, mode="none")
    assert out == "Tea is old. Kettles.\n"
    assert report.kept == 2 and report.dropped == 1


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="footnotes"):
        cite("x", HANDED, mode="apa")
    assert CITATION_MODES == ("none", "numeric", "footnotes")


def test_footnotes_mode_writes_definitions_at_the_end():
    out, _ = cite("Tea is old [3]. Kettles [5]. Tea again [3].\n", HANDED, mode="footnotes")
    assert out.startswith("Tea is old [^1]. Kettles [^2]. Tea again [^1].\n\n[^1]: notes/tea.md")
    assert "\n[^2]: specs/kettle.pdf, p. 3: " in out
    assert "## References" not in out


def test_footnote_labels_avoid_the_models_own_notes():
    out, _ = cite("Tea [3] and a note[^1].\n\n[^1]: mine.\n", HANDED, mode="footnotes")
    assert "Tea [^ref1] and a note[^1]." in out and "\n[^ref1]: notes/tea.md" in out


def test_footnotes_parse_with_markdown_it_footnote_plugin():
    from markdown_it import MarkdownIt
    from mdit_py_plugins import footnote

    out, _ = cite("Tea is old [3]. Kettles [5].\n", HANDED, mode="footnotes")
    html = MarkdownIt("commonmark").use(footnote.footnote_plugin).render(out)
    assert html.count('class="footnote-ref"') == 2 and "[^" not in html


def test_footnotes_parse_with_pandoc():
    pypandoc = pytest.importorskip("pypandoc")
    pandoc = pypandoc.get_pandoc_path()
    out, _ = cite("Tea is old [3]. Kettles [5]. Tea again [3].\n", HANDED, mode="footnotes")
    html = subprocess.run(
        [pandoc, "--from", "gfm-raw_html", "--to", "html"],
        input=out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "[^" not in html
    assert html.count('class="footnote-ref"') == 3  # pandoc repeats a note cited twice
    assert "specs/kettle.pdf, p. 3" in html


def test_references_quote_is_bounded_escaped_and_the_nearest_sentence():
    long = Passage(
        "a_b/*notes*.md",
        "# Heading injection [link](http://evil.example) <script>x</script> "
        + "word " * 80
        + ". The second sentence names kettles and boiling points.",
        lines=(1, 1),
    )
    out, _ = cite("Kettles and boiling points matter [1].\n", {1: long})
    entry = references(out)[0]
    assert entry.startswith(r"1. a\_b/\*notes\*.md, line 1: ")
    assert '"The second sentence names kettles and boiling points."' in entry
    out, _ = cite("Unrelated claim [1].\n", {1: long})
    entry = references(out)[0]
    assert len(entry) < 220 and entry.endswith('…"')
    assert r"\[link\]" in entry and r"\<script\>" in entry and "http\\://" in entry
    assert "\n#" not in out.split("## References")[1]


def test_escape_markdown_neutralises_block_starts():
    assert escape_markdown("# not a heading") == r"\# not a heading"
    assert escape_markdown("1984. A year") == r"1984\. A year"
    assert escape_markdown("a\nb   c") == "a b c"


@pytest.mark.parametrize(("sentence", "passage", "supported"), SUPPORT_EXAMPLES)
def test_support_threshold_separates_the_examples(sentence, passage, supported):
    assert (support(sentence, passage.text) >= SUPPORT_THRESHOLD) is supported


def test_unsupported_citations_are_reported_with_their_section():
    text = (
        "# Tea\n\n## Origins\n\n"
        "Legend says tea was first drunk in China, around 2737 BC [3].\n"
        "Green tea lowers blood pressure by twenty percent in adults [3].\n\n"
        "## Kettles\n\n"
        "- The kettle is made of recycled aluminium and comes in three colours.[5]\n"
        "- The K2 brings a litre of water to 85 °C in forty seconds [5].\n"
        "See [7].\n"
    )
    _, report = cite(text, HANDED)
    assert report.unsupported == 2
    assert [(w.section, w.number) for w in report.weakest] == [("Origins", 1), ("Kettles", 2)]
    assert (
        report.weakest[0].sentence == "Green tea lowers blood pressure by twenty percent in adults"
    )
    assert report.weakest[1].sentence.startswith("The kettle is made of recycled aluminium")
    assert all(w.score < SUPPORT_THRESHOLD for w in report.weakest)


def test_a_marker_after_the_full_stop_ends_its_sentence():
    text = "Tea was first drunk in China around 2737 BC.[3] Kettles are made of recycled tin in Portugal [5].\n"
    _, report = cite(text, HANDED)
    assert [w.sentence for w in report.weakest] == ["Kettles are made of recycled tin in Portugal"]


def test_a_sentence_is_checked_against_its_best_passage():
    text = "Tea was first drunk in China around 2737 BC [5, 3].\n"
    _, report = cite(text, HANDED)
    assert report.unsupported == 0


def test_chinese_document():
    tea = Passage(
        "笔记/茶.md", "茶叶最早在中国被饮用，相传神农氏在煮水时有茶叶落入锅中。", lines=(1, 2)
    )
    text = "## 起源\n\n传说神农氏煮水时茶叶落入锅中【3】。绿茶可以降低血压并改善睡眠质量［3］。未知【8】。\n"
    out, report = cite(text, {3: tea}, language="zh")
    assert out.startswith(
        "## 起源\n\n传说神农氏煮水时茶叶落入锅中[1]。绿茶可以降低血压并改善睡眠质量[1]。未知。\n"
    )
    assert '\n## 参考资料\n\n1. 笔记/茶.md, lines 1-2: "' in out
    assert report.to_json() == {"total": 3, "kept": 2, "dropped": 1, "unsupported": 1}
    assert report.weakest[0].section == "起源"
    assert report.weakest[0].sentence == "绿茶可以降低血压并改善睡眠质量"


def test_report_json():
    report = CitationReport(total=3, kept=2, dropped=1, unsupported=0, weakest=())
    assert report.to_json() == {"total": 3, "kept": 2, "dropped": 1, "unsupported": 0}


def test_every_marker_left_resolves():
    text = "One [3]. Two [4]. Three [5, 6]. Four [7][8]. Five [3-7].\n"
    out, report = cite(text, HANDED)
    body, _, refs = out.partition("\n## References\n\n")
    numbers = {int(n) for group in re.findall(r"\[([\d, ]+)\]", body) for n in group.split(",")}
    listed = [int(line.split(".")[0]) for line in refs.strip().splitlines()]
    assert numbers == set(listed) == {1, 2, 3}
    assert report.kept + report.dropped == report.total


def test_html_export_renders_lwz_footnotes_with_mdit_py_plugins():
    from lwz_cli.export import to_html

    out, _ = cite("Tea is old [3].\n", HANDED, mode="footnotes")
    body = to_html(out).decode().split("<body>")[1]
    assert 'class="footnote-ref"' in body and "[^1]" not in body
    assert "notes/tea.md, lines 10-24" in body


def test_a_final_notes_section_is_the_writers_and_kept():
    text = "## Tea\n\nChina [3].\n\n## Notes\n\n- Brew at 80 degrees.\n"
    out, _ = cite(text, HANDED)
    assert "## Notes\n\n- Brew at 80 degrees.\n\n## References\n\n1. notes/tea.md" in out


def test_a_code_block_left_open_does_not_swallow_the_references():
    out, _ = cite("Tea is old [3].\n\n```\nunclosed [3]\n", HANDED)
    assert out.endswith('```\nunclosed [3]\n```\n\n## References\n\n1. notes/tea.md, lines 10-24: "Tea'
                        " was first drunk in China around 2737 BC, according to legend, when leaves"
                        " fell into the emperor Shen Nong's boiling water.\"\n")  # fmt: skip
