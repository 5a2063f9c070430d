"""`PlannedRun`'s interactive-drafting API (what `DraftingSession` drives) on the
scripted engine, in milliseconds: undo snapshots, an edited outline, an added
section, the per-step token allowance, a change of model, and reopening a
finished run."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest

from fake_engine import FakeEngine, Recorder, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import UsageError
from lwz_cli.journal import Journal
from lwz_cli.writing.drafting import DraftingSession, Settings
from lwz_cli.writing.plan import Plan, Section
from lwz_cli.writing.planned import PlannedRun
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
ASKED = re.compile(r"Write about (\d+) words")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    return tmp_path


def planned(tmp_path):
    return prepare(
        WriteRequest(
            prompt=REQUEST,
            model="tiny",
            strategy="planned",
            output=tmp_path / "doc.md",
            sampling=Sampling(seed=1),
        )
    )


def script() -> Callable[[str], str]:
    """The outline first, then as many words as each turn asks for, new text each call."""
    calls = itertools.count()

    def reply(prompt: str) -> str:
        call = next(calls)
        return PLAN if call == 0 else prose(int(ASKED.findall(prompt)[-1]) + 20, seed=call)

    return reply


def writer() -> FakeEngine:
    return FakeEngine(script())


def written_run(home, events: Recorder | None = None) -> tuple[PlannedRun, FakeEngine]:
    fake = writer()
    run = PlannedRun(planned(home), events if events is not None else Recorder(), engine=fake)
    run.write_sections()
    return run, fake


def headings(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, re.M)


def test_restore_state_puts_back_exactly_what_state_took(home):
    run, fake = written_run(home)
    assert run.all_written and not run.section_in_progress and run.target == 900
    before, document = run.state(), run.document()
    assert before.index == 3 and [d["title"] for d in before.done] == TITLES

    run.rewrite_section(1, notes="more about water")
    run.set_budget(0, 700)
    run.set_target(1500)
    run.add_section("Buying", 200)
    assert run.document() != document and len(run.plan.sections) == 4

    run.restore_state(before)
    assert run.state() == before and run.document() == document
    assert run.target == 900 and [s.title for s in run.plan.sections] == TITLES
    # the conversation is back too: the next section's turn goes onto section 3's reply
    run.add_section("Buying", 200)
    run.write_sections()
    assert fake.prompts[-1].startswith(fake.prompts[3] + fake.calls[3].reply.text[:100])
    assert headings(run.document()) == [*TITLES, "Buying"]


def test_state_is_a_copy_that_later_changes_do_not_reach(home):
    run, _ = written_run(home)
    state = run.state()
    run.set_budget(2, 999)
    run.done[0]["words"] = -1  # even an entry changed in place
    run.rewrite_section(2)
    run.set_target(2000)
    assert state.plan.sections[2].budget != 999 and state.done[0]["words"] > 0
    assert state.target == 900 and state.done[2]["chunk"] != run.done[2]["chunk"]

    run.restore_state(state)
    run.set_budget(0, 5)  # changing the restored run leaves the state usable again
    assert state.plan.sections[0].budget != 5
    run.restore_state(state)
    assert run.state() == state
    assert state.without_tokens().base is None and state.base is not None


def test_replace_plan_takes_the_kept_sections_and_writes_on_after_them(home):
    run, fake = written_run(home)
    health, origins = run.done[2], run.done[0]
    run.replace_plan(
        Plan(
            "Green Tea",
            [
                Section("Health", "", 300),
                Section("Origins", "", 300),
                Section("Buying", "where", 250),
            ],
            3,
        ),
        [health, origins],
    )
    assert run.done == [health, origins] and not run.all_written and run.state().base is None

    run.write_sections()  # the new section is asked for from the request and the text so far
    prompt = fake.prompts[-1]
    assert "Request: Write a 900-word guide to green tea." in prompt
    assert 'Now write section 3 of 3: "Buying" (where). Write about' in prompt
    assert origins["chunk"].strip()[-200:] in prompt  # the text just before it
    assert headings(run.document()) == ["Health", "Origins", "Buying"]
    with pytest.raises(ValueError):
        run.replace_plan(Plan("Tea", [Section("Health", "", 300)], 1), [health, origins])


def test_an_edited_outline_keeps_written_sections_by_title(home, monkeypatch, fake_model):
    """Through `DraftingSession.edit_plan`: a moved line takes its text along."""
    monkeypatch.chdir(home)
    fake_model(script())
    session = DraftingSession(
        Settings(model="tiny", output=home / "tea.md", words=900, sampling=Sampling(seed=3))
    )
    try:
        session.write("a guide to green tea", lambda e: None)
        first = {d["title"]: d["chunk"] for d in session.run.done}
        lines = session.plan_text().splitlines()
        session.edit_plan(
            "\n".join(
                [
                    lines[4].replace("3.", "1."),
                    lines[2].replace("1.", "2."),
                    lines[3].replace("2.", "3."),
                ]
            )
            + "\n"
        )
        assert [d["chunk"] for d in session.run.done] == [
            first[t] for t in ("Health", "Origins", "Brewing")
        ]
        assert session.undo() == "plan edit"
        assert [d["chunk"] for d in session.run.done] == list(first.values())
    finally:
        session.close()


def test_add_section_announces_the_new_plan_and_the_run_writes_it(home):
    events = Recorder()
    run, _ = written_run(home, events)
    later = Recorder()
    run.add_section("Going Further", 200)
    assert [s["title"] for s in events[-1]["sections"]] == [*TITLES, "Going Further"]
    run.set_emit(later)
    run.set_notes("end with a question")
    run.write_sections()
    assert [e["title"] for e in later if e["event"] == "section_start"] == ["Going Further"]
    assert headings(run.document()) == [*TITLES, "Going Further"]


def test_allow_tokens_bounds_a_step_and_never_changes_the_prepared_job(home):
    prepared = planned(home)
    max_tokens, target = prepared.tokens.max_tokens, prepared.target_words
    events = Recorder()
    run = PlannedRun(prepared, events, engine=writer())
    run.allow_tokens(300)  # the outline, and not much more
    run.write_sections()
    assert any(
        "stopped at the token limit" in e["message"] for e in events if e["event"] == "warning"
    )
    assert run.totals.generated <= 300 and not run.all_written
    run.set_target(1200)
    assert prepared.tokens.max_tokens == max_tokens and prepared.target_words == target
    run.allow_tokens(10_000)
    run.write_sections()
    assert run.all_written and run.prepared.tokens.max_tokens > max_tokens


def test_move_to_goes_on_with_the_other_engine_from_a_rebuilt_prompt(home):
    run, old = written_run(home)
    calls = len(old.calls)
    new = FakeEngine([prose(220, seed=9)])
    run.move_to(planned(home), new)
    run.add_section("Buying", 200)
    run.write_sections()
    assert len(old.calls) == calls and len(new.calls) == 1
    assert "Request: Write a 900-word guide to green tea." in new.prompts[0]
    assert headings(run.document()) == [*TITLES, "Buying"]


def test_a_finished_run_reopens_only_when_allowed(home):
    prepared = planned(home)
    journal = Journal.create(manifest_for(prepared), prepared.request.output)
    write_document(prepared, lambda e: None, engine=writer(), journal=journal)
    done = Journal.find(prepared.request.output)
    assert done.manifest.status == "done"
    with pytest.raises(UsageError, match="already complete"):
        prepare_resume(done)
    reopened, checkpoint = prepare_resume(done, allow_done=True)
    assert reopened.target_words == 900 and checkpoint.planned is not None
    assert Journal.find(prepared.request.output).manifest.status == "done"
