"""The planned strategy's state machine on the scripted engine (milliseconds each):
the outline, append-only section prompts, rebalancing, continuing a short
section, extending a short document, rewinding a loop, and a Ctrl-C resumed
from the journal's checkpoint."""

from __future__ import annotations

import threading

import pytest

from fake_engine import FakeEngine, Recorder, Reply, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import Interrupted
from lwz_cli.journal import Journal
from lwz_cli.output import DocumentOutput
from lwz_cli.writing.length import count_words
from lwz_cli.writing.resume import prepare_resume
from lwz_cli.writing.run import write_document
from lwz_cli.writing.session import WriteRequest, manifest_for, prepare

REQUEST = "Write a 900-word guide to green tea."
PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "what studies say", 300),
    ],
)
TITLES = ["Origins", "Brewing", "Health"]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    return tmp_path


def planned(tmp_path, request: str = REQUEST, **kw):
    return prepare(
        WriteRequest(
            prompt=request,
            model="tiny",
            strategy="planned",
            output=tmp_path / "doc.md",
            sampling=Sampling(seed=1),
            **kw,
        )
    )


def headings(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


def kinds(events, *names):
    return [e for e in events if e["event"] in names]


def test_sections_follow_the_outline_with_append_only_prompts(home):
    bodies = [prose(300, seed=i) for i in range(3)]
    fake = FakeEngine([PLAN, *bodies])
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)

    text = (home / "doc.md").read_text()
    assert text == result.document and text.startswith("# Green Tea\n\n## Origins\n\n")
    assert headings(text) == TITLES
    assert "".join(e["text"] for e in kinds(events, "text")) == text.rstrip("\n") + "\n\n"
    order = [
        e["event"]
        for e in events
        if e["event"] in ("start", "plan", "section_start", "section_end", "done")
    ]
    assert order == ["start", "plan"] + ["section_start", "section_end"] * 3 + ["done"]
    done = events[-1]
    assert done["finish_reason"] == "plan" and done["planned_sections"] == 3
    assert 850 <= done["words"] <= 950 and done["words"] == count_words(text)
    # every section prompt extends the one before with the model's own reply and one turn
    for i, title in enumerate(TITLES, 1):
        before, prompt = fake.prompts[i - 1], fake.prompts[i]
        assert prompt.startswith(before) and f'Now write section {i} of 3: "{title}"' in prompt
        assert (
            fake.calls[i].prompt_tokens[: len(fake.calls[i - 1].prompt_tokens)]
            == fake.calls[i - 1].prompt_tokens
        )
    # so the engine prefilled the plan prompt once plus the short turns between sections
    turns = sum(len(c.prompt_tokens) for c in fake.calls[1:]) - sum(
        len(c.prompt_tokens) + len(c.pieces) for c in fake.calls[:-1]
    )
    assert done["prompt_tokens_evaluated"] <= len(fake.calls[0].prompt_tokens) + turns + 3
    assert fake.replies_left == 0


def test_a_short_section_passes_its_shortfall_on(home):
    fake = FakeEngine([PLAN, prose(265, seed=1), prose(400, seed=2), prose(400, seed=3)])
    events = Recorder()
    write_document(planned(home), events, engine=fake)
    starts = kinds(events, "section_start")
    assert starts[0]["budget"] == 300
    ends = kinds(events, "section_end")
    written = count_words("# Green Tea\n\n") + ends[0]["words"]
    # what section 1 left unwritten is shared by the two sections after it...
    assert starts[1]["budget"] == -(-(900 - written) // 2) > 300
    # ...and the last section gets whatever the first two left (sections 2 ran over)
    assert starts[2]["budget"] == 900 - written - ends[1]["words"]
    assert f'"Brewing" (water and time). Write about {starts[1]["budget"]} words' in fake.prompts[2]


def test_a_section_that_stops_early_is_continued_as_the_models_own_text(home):
    early, rest = prose(60, seed=1), prose(300, seed=2)
    fake = FakeEngine([PLAN, early, rest, prose(300, seed=3), prose(300, seed=4)])
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    # the continuation is the same turn: the section so far, a paragraph break, no new request
    assert fake.prompts[2] == fake.prompts[1] + early + "\n\n"
    section = result.document.split("## Brewing")[0]
    assert headings(section) == ["Origins"] and early in section
    assert rest.split(".")[0] in section  # the continuation's first sentence follows
    assert headings(result.document) == TITLES and len(fake.calls) == 5


def test_a_document_that_falls_short_gets_extra_sections_before_the_closing_one(home):
    plan = outline(
        "Tea",
        [("Origins", "", 450), ("Brewing", "", 450), ("Health", "", 450), ("Closing", "", 450)],
    )
    count = iter(range(1000))
    fake = FakeEngine(lambda prompt: plan if next(count) == 0 else prose(10, seed=next(count)))
    events = Recorder()
    result = write_document(planned(home, "Write a 1800-word guide to tea."), events, engine=fake)
    warnings = [e["message"] for e in kinds(events, "warning")]
    added = [w for w in warnings if "before the closing section; adding section" in w]
    final_plan = kinds(events, "plan")[-1]
    titles = [s["title"] for s in final_plan["sections"]]
    # at most as many extra sections as were planned, each a closer look at a planned
    # one, and never a heading twice (issue 15)
    assert len(added) == 4 and len(titles) == 8
    assert titles[3:7] == [
        *(f"{t}: A Closer Look" for t in ("Origins", "Brewing", "Health")),
        "Origins: In Practice",
    ]
    assert titles[-1] == "Closing"
    assert headings(result.document) == titles


def test_a_loop_is_rewound_and_resampled_and_never_shown_twice(home):
    loop = "The garden is a quiet place where tea grows slowly in the morning sun. "
    looping = Reply(prose(50, seed=1) + " ", loop=loop)
    fake = FakeEngine([PLAN, looping, prose(300, seed=2), prose(300, seed=3), prose(300, seed=4)])
    events = Recorder()
    result = write_document(planned(home), events, engine=fake)
    assert result.document.count(loop.strip()) == 1
    streamed = "".join(e["text"] for e in kinds(events, "text"))
    assert streamed.count(loop.strip()) == 1  # the second occurrence was never released
    assert any("repetition caught" in e["message"] for e in kinds(events, "warning"))
    retry = fake.calls[2]
    assert retry.prompt.count(loop.strip()) == 1  # rewound to the start of the repeat
    assert retry.sampling.seed == 1 + 7919 and retry.sampling.repeat_penalty == pytest.approx(1.1)
    assert events[-1]["repetition_rewinds"] == 1


def test_ctrl_c_saves_a_checkpoint_and_resume_goes_on_from_it(home):
    prepared = planned(home)
    output = prepared.request.output
    journal = Journal.create(manifest_for(prepared), output)
    cancel = threading.Event()
    second = prose(300, seed=2)
    fake = FakeEngine([PLAN, prose(300, seed=1), Reply(second, interrupt_after=40)])
    first_events = Recorder()
    with pytest.raises(Interrupted, match="words are saved"):
        write_document(prepared, first_events, engine=fake, journal=journal, cancel=cancel)

    held = DocumentOutput(output).partial.read_text()
    assert headings(held) == ["Origins"] and not output.exists()
    reopened = Journal.find(output)
    assert reopened.manifest.status == "interrupted"
    checkpoint = reopened.latest_checkpoint()
    assert len(checkpoint.generated) >= 35  # the stopped section's tokens are in it
    assert (reopened.dir / "sections" / "0001.md").read_text() in held

    prepared2, checkpoint2 = prepare_resume(reopened)
    fake2 = FakeEngine([prose(250, seed=5), prose(300, seed=3)])
    events = Recorder()
    result = write_document(
        prepared2, events, engine=fake2, journal=reopened, checkpoint=checkpoint2
    )
    # the model is asked to go on from exactly the saved tokens
    assert fake2.calls[0].prompt_tokens == fake.calls[2].prompt_tokens + checkpoint.generated
    assert events[0]["event"] == "start" and events[0]["resumed"] is True
    final = output.read_text()
    assert final == result.document and final.startswith(held.strip())
    assert headings(final) == TITLES
    saved_words = fake.decode(checkpoint.generated)
    assert saved_words.strip() in final.split("## Brewing")[1]
    done = events[-1]
    assert done["resumed"] is True and done["resumed_tokens"] >= len(checkpoint.generated)
    # the KV snapshot taken at the interrupt spared re-reading the prompt and the text
    assert fake2.calls[0].evaluated == 1  # only the last token, for fresh logits
    assert not DocumentOutput(output).partial.exists()
    assert Journal.find(output).manifest.status == "done"
