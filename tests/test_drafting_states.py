"""`DraftingSession` (the library behind `lwz chat`) on the scripted engine,
in milliseconds: write, redo, undo, continue, expand, /plan edit, /words, save,
and a Ctrl-C in the middle of a step. The same steps on the real tiny model are
in test_chat.py."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest

from fake_engine import FakeEngine, Recorder, Reply, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import Interrupted, UsageError
from lwz_cli.journal import Journal
from lwz_cli.output import DocumentOutput
from lwz_cli.writing.drafting import DraftingSession, Settings

PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "what studies say", 300),
    ],
)
TITLES = ["Origins", "Brewing", "Health"]
ASKED = re.compile(r"(?:Write about|Expand this section to about) (\d+) words")


def writer(plan: str = PLAN, *, interrupt: Callable[[int], int | None] = lambda call: None):
    """A model that writes the outline first, then as many words as each turn asks
    for, different text on every call; `interrupt(call)` says after how many tokens
    of that call Ctrl-C is pressed."""
    calls = itertools.count()

    def reply(prompt: str) -> Reply:
        call = next(calls)
        if call == 0:
            return Reply(plan)
        words = int(ASKED.findall(prompt)[-1])
        return Reply(prose(words + 40, seed=call), interrupt_after=interrupt(call))

    return reply


@pytest.fixture()
def chat(tmp_path, monkeypatch, fake_model):
    """A drafting session writing tmp/tea.md on the scripted engine."""
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    sessions: list[DraftingSession] = []

    def start(script=None) -> tuple[DraftingSession, FakeEngine]:
        engine = fake_model(script or writer())
        sessions.append(
            DraftingSession(
                Settings(
                    model="tiny", output=tmp_path / "tea.md", words=900, sampling=Sampling(seed=3)
                )
            )
        )
        return sessions[-1], engine

    yield start
    for session in sessions:
        session.close()


def chunks(session: DraftingSession) -> list[str]:
    return [session.section_text(n) for n in range(1, session.written + 1)]


def body(chunk: str) -> str:
    return chunk.split("\n\n", 1)[1].strip()


def last_turn(prompt: str) -> str:
    return prompt.rsplit("<|im_start|>user\n", 1)[-1]


def section_file(output, number: int) -> str:
    return (Journal.find(output).dir / "sections" / f"{number:04d}.md").read_text()


def test_redo_undo_continue_expand_words_save(chat, tmp_path):
    session, fake = chat()
    output = tmp_path / "tea.md"
    events = Recorder()
    session.write("a guide to green tea", events)
    assert [s.title for s in session.sections] == TITLES and session.written == 3
    first = chunks(session)
    for i, chunk in enumerate(first):  # each section is the start of what the model wrote
        assert chunk.startswith(f"## {TITLES[i]}\n\n")
        assert fake.calls[i + 1].reply.text.startswith(body(chunk))
    assert DocumentOutput(output).partial.read_text() == session.document() and not output.exists()
    assert session.stats.action == "write" and session.stats.generated > 0

    # redo a middle section with notes: the others stay byte-identical
    session.redo(2, events, notes="say more about water temperature")
    call = fake.calls[-1]
    assert last_turn(call.prompt).count("The author's notes: say more about water temperature") == 1
    # its prompt is rebuilt from the request and the text before it, not the later sections
    assert "Request: a guide to green tea" in call.prompt and body(first[0])[-200:] in call.prompt
    assert body(first[2])[:200] not in call.prompt
    assert call.sampling.seed == 3 + 7919  # a redo differs from the text it replaces
    second = chunks(session)
    assert second[0] == first[0] and second[2] == first[2] and second[1] != first[1]
    assert second[1].startswith("## Brewing\n\n") and call.reply.text.startswith(body(second[1]))
    assert section_file(output, 2) == second[1]
    assert DocumentOutput(output).partial.read_text() == session.document()

    # undo puts the first text back exactly, in memory and on disk
    assert session.undo() == "redo 2"
    assert chunks(session) == first and section_file(output, 2) == first[1]
    assert DocumentOutput(output).partial.read_text() == session.document()

    # all written: continue adds a section after the last, and the target grows with it
    target = session.target
    session.continue_(events, words=200)
    assert [s.title for s in session.sections] == [*TITLES, "Going Further"]
    assert session.sections[-1].budget == 200 and session.target == target + 200
    assert Journal.find(output).manifest.request.target_words == target + 200
    assert chunks(session)[:3] == first and session.written == 4
    assert 'Now write section 4 of 4: "Going Further"' in last_turn(fake.prompts[-1])
    # undo brought back the conversation after section 3: the new turn is appended to it
    assert fake.prompts[-1].startswith(fake.prompts[3] + fake.calls[3].reply.text[:100])

    # redoing the last section re-reads only its turn: the KV cache holds the rest
    before = chunks(session)
    session.redo(4, events, notes="end with a question")
    assert chunks(session)[:3] == before[:3] and chunks(session)[3] != before[3]
    assert session.stats.prompt_tokens > 1000
    assert session.stats.prefilled <= 30, session.stats
    assert session.stats.reused >= session.stats.prompt_tokens - 30

    # expand: the section is rewritten at the new length from its own text
    before = chunks(session)
    words_before, total = session.run.done[0]["words"], session.words
    session.expand(1, 500, events)
    turn = last_turn(fake.prompts[-1])
    assert "Expand this section to about 500 words" in turn and body(before[0])[:300] in turn
    assert session.sections[0].budget == 500 and session.target == total - words_before + 500
    assert session.run.done[0]["words"] > words_before and chunks(session)[1:] == before[1:]

    with pytest.raises(UsageError, match="no written section 9"):
        session.redo(9, events)
    with pytest.raises(UsageError, match="already has"):
        session.expand(1, 10, events)
    assert [label for label, _ in session.undo_stack] == ["continue", "redo 4", "expand 1"]

    session.set_words(2000)
    assert session.target == 2000
    assert Journal.find(output).manifest.request.target_words == 2000
    session.set_words(session.words)  # back to what is written: the draft is complete again

    saved = session.save()
    assert saved == output and output.read_text() == session.document().strip() + "\n"
    assert not DocumentOutput(output).partial.exists()
    assert Journal.find(output).manifest.status == "done"


def test_an_edited_outline_renames_drops_and_adds_sections(chat, tmp_path):
    session, fake = chat()
    output = tmp_path / "tea.md"
    session.write("a guide to green tea", lambda e: None)
    first = chunks(session)
    shown = session.plan_text()
    assert shown.startswith("Title: Green Tea\n\n1. Origins — where it grows (")
    lines = shown.splitlines()
    # rename section 1, drop section 2, add a new last one
    edited = [
        lines[0],
        "",
        lines[2].replace("1. Origins", "1. Where Tea Grows"),
        lines[4].replace("3. Health", "2. Health"),
        "3. Buying — where to buy it (200 words)",
    ]
    session.edit_plan("\n".join(edited) + "\n")

    assert [s.title for s in session.sections] == ["Where Tea Grows", "Health", "Buying"]
    assert session.sections[2].budget == 200
    assert session.target == sum(s.budget for s in session.sections)
    # the renamed section keeps its text under the new heading; the kept one moves up
    assert chunks(session) == ["## Where Tea Grows\n\n" + first[0].split("\n\n", 1)[1], first[2]]
    files = sorted(p.name for p in (Journal.find(output).dir / "sections").glob("*.md"))
    assert files == ["0001.md", "0002.md"]
    assert DocumentOutput(output).partial.read_text() == session.document()

    # the next section is asked for from the request and the text so far
    session.continue_(lambda e: None)
    prompt = fake.prompts[-1]
    assert "Request: a guide to green tea" in prompt
    assert 'Now write section 3 of 3: "Buying" (where to buy it). Write about 200 words' in prompt
    assert body(first[2])[-200:] in prompt and body(first[1])[:200] not in prompt
    assert re.findall(r"^## (.+)$", session.document(), re.M) == [
        "Where Tea Grows",
        "Health",
        "Buying",
    ]

    assert session.undo() == "continue" and session.undo() == "plan edit"
    assert [s.title for s in session.sections] == TITLES and chunks(session) == first
    assert section_file(output, 3) == first[2]
    with pytest.raises(UsageError, match="no numbered sections"):
        session.edit_plan("Title: nothing here\n")
    with pytest.raises(UsageError, match="nothing to undo"):
        session.undo()


def test_a_step_stopped_mid_section_keeps_its_text_and_continue_finishes_it(chat, tmp_path):
    output = tmp_path / "tea.md"
    session, fake = chat(writer(interrupt=lambda call: 30 if call == 2 else None))
    with pytest.raises(Interrupted):
        session.write("a guide to green tea", lambda e: None)
    held = DocumentOutput(output).partial.read_text()
    assert session.written == 1 and held == session.run.document()
    assert len(session.document()) > len(held)  # the stopped section's text is kept too
    stopped = fake.calls[2]
    kept = session.document()[len(held) :]
    assert kept.startswith("## Brewing\n\n") and stopped.reply.text.startswith(body(kept))
    with pytest.raises(UsageError, match="section 2 was stopped mid-way"):
        session.redo(1, lambda e: None)
    with pytest.raises(UsageError, match="stopped mid-way"):
        session.edit_plan(session.plan_text())

    session.cancel.clear()  # what `lwz chat` does before each step
    session.continue_(lambda e: None)
    resumed = fake.calls[3]
    # it goes on from exactly the saved tokens, in the same turn
    assert (
        resumed.prompt.startswith(stopped.prompt)
        and "Now write section" not in resumed.prompt[len(stopped.prompt) :]
    )
    assert resumed.evaluated <= 1  # the KV cache still held all of it
    assert session.written == 3 and session.document().startswith(held + kept.rstrip())
    assert re.findall(r"^## (.+)$", session.document(), re.M) == TITLES


def test_ctrl_c_during_a_redo_or_expand_keeps_the_old_section(chat, tmp_path):
    session, _fake = chat(writer(interrupt=lambda call: 25 if call >= 4 else None))
    session.write("a guide to green tea", lambda e: None)
    first, budget, target = chunks(session), session.sections[0].budget, session.target
    with pytest.raises(Interrupted, match="section 1 is unchanged"):
        session.redo(1, lambda e: None, notes="shorter sentences")
    assert chunks(session) == first and session.undo_stack == []
    assert DocumentOutput(tmp_path / "tea.md").partial.read_text() == session.document()
    session.cancel.clear()
    with pytest.raises(Interrupted, match="section 1 is unchanged"):
        session.expand(1, 800, lambda e: None)
    assert chunks(session) == first
    assert session.sections[0].budget == budget and session.target == target


class ViewRecorder:
    """A view that keeps the events (what `lwz chat`'s live view would draw)."""

    def __init__(self) -> None:
        self.events = Recorder()

    def __call__(self, event) -> None:
        self.events(event)

    def close(self) -> None:
        pass


def test_the_chat_loop_over_pipe_input(chat, tmp_path, monkeypatch):
    """`lwz chat`'s loop: commands, guidance that reaches the next prompt, /plan edit
    through $EDITOR, /undo, /stats, /save, /words."""
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lwz_cli.repl.app import ChatApp

    monkeypatch.setenv("EDITOR", r"sed -i -e 's/^1\. Origins/1. Opening Thoughts/'")
    session, fake = chat()
    out = io.StringIO()
    history = tmp_path / "lwz-home" / "state" / "chat-history"
    with create_pipe_input() as pipe:
        app = ChatApp(
            session,
            view_factory=ViewRecorder,
            out=out,
            history=history,
            pt_input=pipe,
            pt_output=DummyOutput(),
        )
        for line in (
            "/help",
            "/redo 1",
            "/rdo 1",
            "a guide to green tea",
            "/show 1",
            "/plan",
            "mention the price",
            "/redo 2",
            "/plan edit",
            "/show 1",
            "/undo",
            "/undo",
            "/show 1",
            "/stats",
            "/save saved.md",
            "/words",
            "/quit",
        ):
            pipe.send_text(line + "\r")
        app.run()
    text = out.getvalue()
    assert "/expand N WORDS" in text  # /help
    assert "there is no draft yet" in text and "did you mean /redo?" in text
    assert re.search(r"[\d,]+ of 900 words in 3 section\(s\)", text)
    assert "noted: the next /continue or /redo follows it" in text
    assert last_turn(fake.prompts[-1]).count("The author's notes: mention the price") == 1
    assert "1. Opening Thoughts — where it grows" in text  # the edited outline, shown back
    assert "undid plan edit" in text and "undid redo 2" in text
    shown = re.findall(r"^## (.+)$", text, re.M)
    assert shown == ["Origins", "Opening Thoughts", "Origins"]  # /show 1 before, during, after
    assert re.search(r"prompt: [\d,]+ tokens, [\d,]+ reused from the KV cache", text)
    saved = tmp_path / "saved.md"
    assert "saved saved.md" in text and saved.read_text().startswith("# Green Tea\n\n## Origins")
    assert re.findall(r"^## (.+)$", saved.read_text(), re.M) == TITLES
    assert "target: 900 words" in text and "/plan edit" in history.read_text()
    assert "lwz resume" in text  # leaving says how to go on


def test_a_chat_draft_says_why_it_is_planned_and_a_finished_one_pass_document_is_not_sent_to_resume(
    chat, tmp_path
):
    """Issue 13, bug 7: a chat draft's strategy reason names no flag the user never gave;
    opening a finished one-pass document does not advise `lwz resume` (it is complete)."""
    from lwz_cli.runstate import Manifest, RequestRecord, RunStatus
    from lwz_cli.strategy import Strategy
    from lwz_cli.writing.drafting import CHAT_STRATEGY_REASON

    session, _ = chat()
    session.write("a guide to green tea", Recorder())
    reason = Journal.find(tmp_path / "tea.md").manifest.request.strategy_reason
    assert reason == CHAT_STRATEGY_REASON and "--strategy" not in reason

    done = tmp_path / "done.md"
    manifest = Manifest(request=RequestRecord(prompt="tea", strategy=Strategy.SINGLE))
    manifest.output = str(done)
    Journal.create(manifest, done).set_status(RunStatus.DONE, words=400)
    with pytest.raises(UsageError) as refused:
        session.open(str(done), Recorder())
    assert "lwz resume" not in (refused.value.hint or "")
    assert "complete" in (refused.value.hint or "")
