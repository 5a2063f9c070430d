"""Plans worth writing, on the scripted engine: junk outlines are rejected and asked
for again (or replaced by one from the request's words), headings the model writes
inside a section stay inside it, and a model that loops forever leaves no loop in
the document."""

from __future__ import annotations

import itertools
import re

import pytest

from fake_engine import FakeEngine, Recorder, Reply, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.writing.plan import Plan, Section, clip, normalise_plan, parse_plan
from lwz_cli.writing.plan_check import judge, junk_reason
from lwz_cli.writing.run import write_document
from lwz_cli.writing.session import WriteRequest, prepare

REQUEST = "Write a 1500-word guide to growing tomatoes, covering soil, watering and pests."
GOOD = outline(
    "Growing Tomatoes",
    [("Soil", "compost", 500), ("Watering", "deep and rare", 500), ("Pests", "aphids", 500)],
)
# what the tiny model answered to a plan prompt (issue 15)
ECHOED = "Title\nN. per section, using markdown formatting\n3 sections\nTitle: x\n"
PLACEHOLDERS = "Title: Guide\n1. Section 1\n2. Section 2\n3. <section title> | <main points>\n"
DUPLICATES = "1. N. 18 (continued)\n2. N. 19 (continued)\n3. N. 20 (continued)\n"
REQUEST_ECHO = f"1. {REQUEST}\n2. Soil\n"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    return tmp_path


def planned(tmp_path, request: str = REQUEST):
    return prepare(
        WriteRequest(
            prompt=request,
            model="tiny",
            strategy="planned",
            output=tmp_path / "doc.md",
            sampling=Sampling(seed=1),
        )
    )


def section_of(prompt: str) -> str | None:
    """The title of the section the prompt's last turn asks for (None: the plan prompt)."""
    asked = re.findall(r'Now write section \d+ of \d+: "([^"]+)"', prompt)
    return asked[-1] if asked else None


def script(plans: list[str], body=lambda title, n: prose(520, seed=n)):
    """Plan answers in turn, then `body(title, call number)` for every section."""
    plans = list(plans)
    count = [0]

    def reply(prompt: str):
        title = section_of(prompt)
        if title is None:  # the last answer again for any further plan prompt
            return plans.pop(0) if len(plans) > 1 else plans[0]
        count[0] += 1
        return body(title, count[0])

    return reply


def headings(text: str, level: int = 2) -> list[str]:
    mark = "#" * level + " "
    return [line[len(mark) :] for line in text.splitlines() if line.startswith(mark)]


def plan_event(events) -> dict:
    return [e for e in events if e["event"] == "plan"][-1]


@pytest.mark.parametrize("junk", [ECHOED, PLACEHOLDERS, DUPLICATES, REQUEST_ECHO])
def test_junk_outlines_are_asked_again_then_built_from_the_request(home, junk):
    fake = FakeEngine(script([junk]))
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)

    plan = plan_event(events)
    assert plan["source"] == "request"
    seeds = [c.sampling.seed for c in fake.calls if section_of(c.prompt) is None]
    assert len(seeds) == 3 and len(set(seeds)) == 3  # bounded, each with another seed
    titles = headings(result.document)
    assert titles == [s["title"] for s in plan["sections"]]
    assert titles == ["Growing Tomatoes", "Soil", "Conclusion"]  # the request's words
    for title in titles:
        assert junk_reason(title, REQUEST) is None, title
    assert not any("Section 1" in t or "continued" in t or "N." in t for t in titles)
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("rejected" in w and "asking again" in w for w in warnings)


def test_a_junk_answer_is_resampled_and_the_good_one_is_used(home):
    fake = FakeEngine(script([ECHOED, GOOD]))
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    assert plan_event(events)["source"] == "resampled"
    assert headings(result.document) == ["Soil", "Watering", "Pests"]


def test_one_junk_line_in_a_good_outline_is_dropped_not_written(home):
    fake = FakeEngine(script([GOOD + "4. Section 4 | more | 300 words\n"]))
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    assert plan_event(events)["source"] == "model"
    assert headings(result.document) == ["Soil", "Watering", "Pests"]


def test_headings_the_model_writes_stay_inside_the_planned_section(home):
    def body(title: str, n: int) -> str:  # n: the call, so each answer is new text
        return (
            f"## {title} {n}\n\n{prose(150, seed=n)}\n\n## N. {n} (continued)\n\n"
            f"{prose(150, seed=100 + n)}\n\n# Also {n}\n\n{prose(250, seed=200 + n)}"
        )

    fake = FakeEngine(script([GOOD], body))
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    text = result.document
    assert headings(text) == ["Soil", "Watering", "Pests"]  # the plan's, in order
    assert headings(text, 1) == ["Growing Tomatoes"]  # the document's title only
    assert "### N. 1 (continued)" in text and "### Also 1" in text
    ends = [e for e in events if e["event"] == "section_end"]
    assert [e["title"] for e in ends] == ["Soil", "Watering", "Pests"]
    assert abs(events[-1]["words"] - 1500) <= 0.25 * 1500  # the budget, not the headings


def _no_repeat_in_a_row(text: str) -> None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for a, b in itertools.pairwise(lines):
        assert a != b, a
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    for a, b in itertools.pairwise(sentences):
        assert a != b, a


@pytest.mark.parametrize(
    "loop",
    [
        "N. Early Humans | 490 words\n",
        "The bicycle changed how people lived and worked in every town.\n",
        "### Special Guest:\n\nA guest came.\n\n",
    ],
)
def test_a_model_that_loops_forever_leaves_no_loop_in_the_document(home, loop):
    fake = FakeEngine(script([GOOD], lambda title, n: Reply(prose(40, seed=n) + "\n\n", loop)))
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    text = result.document
    _no_repeat_in_a_row(text)
    line = loop.strip().splitlines()[0]
    assert text.count(line) <= 1  # once at most, across all sections
    done = events[-1]
    assert done["event"] == "done" and done["cut_words"] > 0


def test_a_heading_is_never_cut_mid_word(home):
    long_title = (
        "Understanding thoroughly decomposed horticultural compost microorganisms supporting "
        "extraordinarily productive tomato plants throughout unpredictable summertime conditions"
    )  # 12 words, 160 characters: a heading, clipped to 120 characters on a word boundary
    assert len(long_title) > 120
    answer = outline("Tomatoes", [(long_title, "", 500), ("Watering", "", 500), ("Pests", "", 500)])
    fake = FakeEngine(script([answer], lambda title, n: prose(520, seed=n) + "\n\n## Also supp"))
    result = write_document(planned(home), Recorder(), engine=fake)
    whole = long_title.split()
    for heading in re.findall(r"^#+ (.*)$", result.document, re.MULTILINE):
        words = heading.split()
        assert heading in {"Tomatoes", "Watering", "Pests"} or words == whole[: len(words)]
    assert "Also supp" not in result.document


def test_clip_keeps_whole_words():
    assert clip("also supports our plants", 18) == "also supports our"
    assert clip("short", 18) == "short"


def test_judge_drops_junk_and_keeps_good_headings():
    verdict = judge(parse_plan(GOOD + "4. Title\n"), REQUEST)
    assert [s.title for s in verdict.plan.sections] == ["Soil", "Watering", "Pests"]
    assert verdict.rejected == ("Title",) and verdict.usable
    assert not judge(parse_plan(ECHOED), REQUEST).usable
    assert junk_reason("Introduction", REQUEST) is None
    assert junk_reason("Markdown Formatting", "a guide to markdown formatting") is None


def test_markup_and_glued_placeholders_are_no_headings():
    # the tiny model's second answer for an 8,000-word story (issue 15): web-page markup
    story = "Write an 8,000-word story about two sisters who inherit an orchard."
    for title in ('tr border=18 class="post-inner header" s', 'pcode"Title', "<h1>Orchard</h1>"):
        assert junk_reason(title, story) == "markup", title
    assert junk_reason("section titleTitle", story) == "instructions"
    assert junk_reason("Header", story) == "placeholder"
    for title in ('The "Perfect" Loaf', "iPhone Repairs", "NASA and the Moon", "The Orchard"):
        assert junk_reason(title, story) is None, title


def test_headings_about_the_outline_and_stated_lengths_are_instructions():
    # the tiny model's outline for an 800-word letter, and its 8,000-word story's title
    letter = "Write an 800-word letter to my landlord about the broken heating."
    for title in (
        "In your address, I have the following section",
        "This is the section you are referring to",
    ):
        assert junk_reason(title, letter) == "instructions", title
    for title in ("Your Landlord's Letter to You", "What You Need to Know", "The Title Deed"):
        assert junk_reason(title, letter) is None, title
    verdict = judge(
        Plan(
            "8,000-word Story of Two Sisters",
            [Section("The Orchard (500 words)"), Section("Harvest")],
        ),
        "Write an 8,000-word story about two sisters.",
    )
    assert verdict.plan.title == "Story of Two Sisters"
    assert [s.title for s in verdict.plan.sections] == ["The Orchard", "Harvest"]


def test_the_requests_topic_is_what_it_is_about_not_whom_it_is_for():
    from lwz_cli.writing.request_outline import outline_titles

    council = "Write a report for a city council on the costs of protected bicycle lanes."
    assert outline_titles(council, 1, "en") == ["Costs of Protected Bicycle Lanes"]
    balcony = "Write a guide to growing tomatoes on a balcony."
    assert outline_titles(balcony, 1, "en") == ["Growing Tomatoes on a Balcony"]


@pytest.mark.parametrize(
    ("request_", "language"),
    [
        (
            "Write a report for a town board on the risks and rewards of shared electric scooters.",
            "en",
        ),
        (
            "Write an essay on the long and uneven history of public swimming pools in northern cities.",
            "en",
        ),
        (
            "Write a guide covering choosing a second-hand road bike for commuting in the rain, fitting it.",
            "en",
        ),
        ("写一篇2000字的文章，介绍江南地区传统园林建筑的历史渊源与艺术特色。", "zh"),
        ("写一篇2500字的文章，讲述丝绸之路上的商队、城市和宗教交流。", "zh"),
    ],
)
def test_an_outline_from_the_request_passes_the_plan_check(request_, language):
    """A long topic is no heading lwz itself would reject as a copy of the request
    (seen: "Costs and Benefits of Protected Bicycle Lanes", 7 of the request's words)."""
    from lwz_cli.writing.request_outline import outline_titles

    titles = outline_titles(request_, 6, language)
    assert [t for t in titles if junk_reason(t, request_, language)] == []
    assert not any("文章" in t or "，" in t for t in titles)  # the kind and a comma are no topic


def test_the_fallback_outline_uses_the_requests_words():
    plan = normalise_plan(
        Plan(None, []), 3000, "写一篇3000字的关于茶文化的文章，介绍历史、种类和冲泡方法", "zh"
    )
    titles = [s.title for s in plan.sections]
    assert titles[:4] == ["茶文化", "历史", "种类", "冲泡方法"] and titles[-1] == "结语"
    assert plan.source == "request"
    story = normalise_plan(Plan(None, [Section("Step 1")]), 3000, "Write a story about a fox.")
    assert "Introduction" not in [s.title for s in story.sections]


def test_a_heading_line_of_sentences_is_rewound_whole(home):
    """A heading line is given out whole by the parser: a repeat found in it rewinds
    to the line's start, so the streamed text stays the document (it was `### 14### 14`)."""
    said = "Those who are interested in tea should taste it slowly and often."

    def body(title: str, n: int) -> str | Reply:
        if n == 1:
            return f"{said}\n\n### 14. {said}\n\n{prose(520, seed=n)}"
        return prose(520, seed=n)

    fake = FakeEngine(script([GOOD], body))
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    streamed = "".join(e["text"] for e in events if e["event"] == "text")
    assert streamed == result.document.rstrip("\n") + "\n\n"
    assert result.document.count(said) == 1 and "### 14" not in result.document
