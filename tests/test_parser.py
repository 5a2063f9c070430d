import random

from lwz_cli.writing.parser import ProtocolParser


def run(chunks):
    parser, events = ProtocolParser(), []
    for chunk in chunks:
        events += parser.feed(chunk)
    events += parser.finish()
    events = [e.to_json() for e in events]  # as `--json` writes them
    doc = "".join(e["text"] for e in events if e["event"] == "text")
    think = "".join(e["text"] for e in events if e["event"] == "think")
    other = [e for e in events if e["event"] not in ("text", "think")]
    return doc, think, other


SAMPLE = (
    " <think>plan it\nok</think>\n<answer>\n# Title\n\nIntro text.\n\n## Part A\nbody a\n"
    "```\n# not a heading\n```\n## Part B\nbody b</answer> trailing"
)


def test_full_protocol():
    doc, think, other = run([SAMPLE])
    assert think == "plan it\nok"
    assert doc.startswith("# Title\n") and doc.endswith("body b")
    assert "<" not in doc.replace("```", "")
    titles = [e["title"] for e in other if e["event"] == "section_start"]
    assert titles == ["Title", "Part A", "Part B"]
    ends = [e for e in other if e["event"] == "section_end"]
    assert [e["words"] for e in ends] == [3, 7, 4]


def test_any_split_gives_the_same_events():
    expected = run([SAMPLE])
    rng = random.Random(3)
    for _ in range(1000):
        cuts = sorted(rng.sample(range(1, len(SAMPLE)), rng.randint(1, 40)))
        chunks = [SAMPLE[a:b] for a, b in zip([0, *cuts], [*cuts, len(SAMPLE)], strict=True)]
        assert run(chunks) == expected


def test_tags_split_one_character_at_a_time():
    doc, think, _ = run(list("<think>x</think><answer>Doc.</answer>"))
    assert (doc, think) == ("Doc.", "x")


def test_no_tags_at_all_is_the_document():
    doc, think, other = run(["Just a document.\n## H\nbody"])
    assert doc == "Just a document.\n## H\nbody" and think == ""
    assert [e["title"] for e in other if e["event"] == "section_start"] == ["H"]


def test_missing_close_think_then_answer():
    doc, think, _ = run(["<think>plan <answer>The doc"])
    assert (doc, think) == ("The doc", "plan ")


def test_missing_answer_tag_after_think():
    doc, think, _ = run(["<think>plan</think>\n\nThe doc."])
    assert (doc, think) == ("The doc.", "plan")


def test_unclosed_think_yields_no_document_text():
    doc, think, _ = run(["<think>only a plan"])
    assert (doc, think) == ("", "only a plan")


def test_text_after_answer_close_is_dropped():
    doc, _, _ = run(["<answer>Doc</answer><|user|>: more"])
    assert doc == "Doc"


def test_lone_angle_bracket_is_text():
    doc, _, _ = run(["a < b and x <thinking> y"])
    assert doc == "a < b and x <thinking> y"


def test_hash_lines_in_fences_are_not_sections():
    _, _, other = run(["```\n", "# comment\n", "```\n", "# Real\n"])
    assert [e["title"] for e in other if e["event"] == "section_start"] == ["Real"]


def test_heading_without_trailing_newline_is_closed_at_finish():
    doc, _, other = run(["intro\n## Last"])
    assert doc == "intro\n## Last"
    assert [e["title"] for e in other if e["event"] == "section_start"] == ["Last"]
