"""Issue 15 item 4: a memory across sections. After each section the model notes what it
established; every later section's prompt carries those notes, with the brief and the
style sample, on a fresh run and after a crash and resume (the scripted engine records
each prompt). Junk notes are cleaned or dropped; the memory stays bounded."""

from __future__ import annotations

import json

import pytest

from fake_engine import FakeEngine, Recorder, Reply, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.journal import Journal
from lwz_cli.runstate import Checkpoint, PlannedState
from lwz_cli.writing.brief import REMINDER
from lwz_cli.writing.length import count_words
from lwz_cli.writing.memory import (
    clean_note,
    memory_block,
    memory_words,
    note_request,
    note_words,
)
from lwz_cli.writing.resume import prepare_resume
from lwz_cli.writing.run import write_document
from lwz_cli.writing.session import WriteRequest, manifest_for, prepare

REQUEST = "Write a 900-word guide to green tea."
TITLES = ["Origins", "Brewing", "Health"]
PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "what studies say", 300),
    ],
)
BRIEF = "For office workers new to tea; warm tone; mention that sencha costs 8 euros per 100 g."
VOICE = "I brew my sencha at seventy degrees, never hotter, and I drink it standing by the window."
NOTE_ASK = note_request("en")
NOTES = {
    "Origins": "the farmer is named Kenji Mori; the garden lies at 400 metres",
    "Brewing": "water at 70 degrees; steep for 90 seconds",
    "Health": "one cup holds 30 mg of caffeine",
}
LONGER = "Write a 1500-word guide to green tea."  # four sections or so on the tiny model
ARGS = ["-m", "tiny", "-o", "tea.md", "--json", "--seed", "1", "--strategy", "planned"]


class ClosingRecorder(Recorder):
    def close(self) -> None:
        pass


class Crash(Exception):
    """The process dies here: nothing is saved at this moment (what kill -9 leaves)."""


def is_note(prompt: str) -> bool:
    return prompt.rstrip().endswith(NOTE_ASK) or NOTE_ASK in prompt[-800:]


def last_section(prompt: str) -> str:
    """The title of the section the conversation last asked for."""
    return max(TITLES, key=lambda t: prompt.rfind(f': "{t}"'))


def scripted(crash_in: str | None = None):
    """A model that answers the plan, each section, and each note turn (naming the
    section it follows), and crashes when asked to write `crash_in`."""

    def reply(prompt: str) -> str | Reply:
        if is_note(prompt):
            return NOTES[last_section(prompt)]
        if prompt.count("Now write section") == 0:
            return PLAN
        title = last_section(prompt[-2000:])
        if title == crash_in:
            raise Crash(title)
        return prose(300, seed=TITLES.index(title))

    return reply


def section_prompts(fake: FakeEngine) -> list[str]:
    return [p for p in fake.prompts if "Now write section" in p[-1500:] and not is_note(p)]


def planned(tmp_path, **kw):
    return prepare(
        WriteRequest(
            prompt=REQUEST,
            model="tiny",
            strategy="planned",
            output=tmp_path / "doc.md",
            sampling=Sampling(seed=1),
            brief=BRIEF,
            style=VOICE,
            **kw,
        )
    )


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    return tmp_path


def test_every_section_prompt_holds_brief_style_and_the_earlier_notes(lwz, fake_model, tmp_path):
    (tmp_path / "voice.txt").write_text(VOICE, encoding="utf-8")
    fake = fake_model(scripted())
    args = [*ARGS, "--brief", BRIEF, "--style", "voice.txt", "--memory"]
    result = lwz("write", REQUEST, *args)
    assert result.returncode == 0, result.stderr
    sections = section_prompts(fake)
    assert len(sections) == 3
    for i, prompt in enumerate(sections):
        assert BRIEF in prompt and VOICE in prompt
        turn = prompt[prompt.rfind("Now write section") - 600 :]
        assert REMINDER["en"][True, True] in turn  # the brief and voice, recalled in every turn
        for title in TITLES[:i]:  # the memory of every earlier section, in this turn
            assert f"{title}: {NOTES[title]}" in turn
        for title in TITLES[i:]:
            assert NOTES[title] not in prompt
    # a note is asked after each section but the last, in a turn the sections never see
    notes = [p for p in fake.prompts if is_note(p)]
    assert len(notes) == 2
    for ask, later in zip(notes, sections[1:], strict=True):
        assert NOTE_ASK not in later
        base = ask[: ask.rfind(NOTE_ASK)]
        shared = len(base) - 200  # the note turn extends the conversation the section continues
        assert later[:shared] == ask[:shared]
    document = (tmp_path / "tea.md").read_text()
    assert "Kenji" not in document  # memory is guidance, not text
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["memory_tokens"] > 0


def test_by_default_only_a_document_that_outgrows_the_window_keeps_a_memory(home):
    assert planned(home).memory is False  # 900 words: every section reads the whole text
    long = prepare(
        WriteRequest(
            prompt="Write a 9000-word guide to green tea.", model="tiny", strategy="planned"
        )
    )
    assert long.memory is True  # beyond the tiny model's 8,192-token window
    assert manifest_for(long).request.memory is True  # journaled for the resume
    assert planned(home, memory=True).memory is True


def test_lwz_memory_turns_it_on_and_no_memory_off(lwz, fake_model, tmp_path):
    fake = fake_model(scripted())
    result = lwz("write", REQUEST, *ARGS, env={"LWZ_MEMORY": "1"})
    assert result.returncode == 0, result.stderr
    assert sum(map(is_note, fake.prompts)) == 2
    assert not any("the author's" in p for p in fake.prompts)  # no brief, no style
    fake = fake_model(scripted())
    result = lwz("write", REQUEST, *ARGS, "--force", "--no-memory", env={"LWZ_MEMORY": "1"})
    assert not any(is_note(p) for p in fake.prompts)
    assert json.loads(result.stdout.splitlines()[-1])["memory_tokens"] == 0


def test_a_crash_keeps_the_memory_and_resume_carries_it_with_brief_and_style(home):
    prepared = planned(home, memory=True)
    journal = Journal.create(manifest_for(prepared), prepared.request.output)
    fake = FakeEngine(scripted(crash_in="Health"))
    with pytest.raises(Crash):
        write_document(prepared, Recorder(), engine=fake, journal=journal)

    reopened = Journal.find(prepared.request.output)
    checkpoint = reopened.latest_checkpoint()
    assert checkpoint is not None and checkpoint.planned is not None
    assert checkpoint.planned.memory == [NOTES["Origins"], NOTES["Brewing"]]

    prepared2, checkpoint2 = prepare_resume(reopened)
    assert prepared2.memory
    fake2 = FakeEngine(scripted())
    events = Recorder()
    write_document(prepared2, events, engine=fake2, journal=reopened, checkpoint=checkpoint2)
    (prompt,) = section_prompts(fake2)  # only the last section is left, on a fresh engine
    assert BRIEF in prompt and VOICE in prompt
    for title in ("Origins", "Brewing"):
        assert f"{title}: {NOTES[title]}" in prompt
    assert not any(is_note(p) for p in fake2.prompts)  # the notes came from the journal
    assert events[-1]["memory_tokens"] >= checkpoint.planned.totals.memory > 0


def test_a_crash_during_a_note_asks_for_it_again_on_resume(home):
    prepared = planned(home, memory=True)
    journal = Journal.create(manifest_for(prepared), prepared.request.output)
    answer = scripted()

    def crash_on_second_note(prompt: str):
        if is_note(prompt) and last_section(prompt) == "Brewing":
            raise Crash("note")
        return answer(prompt)

    with pytest.raises(Crash):
        write_document(
            prepared, Recorder(), engine=FakeEngine(crash_on_second_note), journal=journal
        )
    prepared2, checkpoint2 = prepare_resume(Journal.find(prepared.request.output))
    assert checkpoint2.planned is not None and len(checkpoint2.planned.memory) == 1
    fake2 = FakeEngine(scripted())
    write_document(
        prepared2,
        Recorder(),
        engine=fake2,
        journal=Journal.find(prepared.request.output),
        checkpoint=checkpoint2,
    )
    assert sum(map(is_note, fake2.prompts)) == 1
    assert f"Brewing: {NOTES['Brewing']}" in section_prompts(fake2)[-1]


def test_junk_notes_are_cleaned_or_dropped_and_never_stop_the_run(home):
    junk = iter(
        [
            "",  # nothing
            NOTE_ASK,  # the request read back
        ]
    )
    answer = scripted()

    def reply(prompt: str):
        return next(junk) if is_note(prompt) else answer(prompt)

    fake = FakeEngine(reply)
    events = Recorder()
    result = write_document(planned(home, memory=True), events, engine=fake)
    assert [s.split("\n")[0] for s in result.document.split("## ")[1:]] == TITLES
    for prompt in section_prompts(fake):
        assert "Facts established" not in prompt[-1500:]  # an empty memory is left out


def test_clean_note_drops_echoes_loops_repeats_and_bounds_the_rest():
    assert clean_note("", "en") == ""
    assert clean_note("<think></think>" + NOTE_ASK, "en") == ""
    assert (
        clean_note("Kenji farms tea; Kenji farms tea\nKenji farms tea", "en") == "Kenji farms tea"
    )
    assert clean_note("- tea tea tea tea tea tea tea tea tea tea", "en") == ""
    assert clean_note("1. Kenji is the farmer\n2. the garden is at 400 m", "en") == (
        "Kenji is the farmer; the garden is at 400 m"
    )
    long = "; ".join(f"fact number {i} about the kettle" for i in range(40))
    cleaned = clean_note(long, "en")
    assert 0 < count_words(cleaned) <= note_words("en") and cleaned.startswith("fact number 0")
    # a note cut off by its token cap loses its unfinished last item
    assert clean_note("Kenji is the farmer; the garden lies at", "en", complete=False) == (
        "Kenji is the farmer"
    )
    assert clean_note("主人公叫李明；茶园海拔四百米", "zh") == "主人公叫李明；茶园海拔四百米"


def test_the_memory_stays_bounded_however_long_the_document():
    notes = [(f"Section {i}", f"fact {i} alpha beta gamma; detail {i} delta") for i in range(60)]
    block = memory_block(notes, "en")
    assert block is not None
    assert count_words(block) <= memory_words("en") + 20  # the heading line besides
    assert "Section 59: fact 59 alpha beta gamma; detail 59 delta" in block  # the newest whole
    assert "Section 0:" not in block  # the oldest dropped first
    lines = block.splitlines()[1:]
    assert lines == sorted(lines, key=lambda line: int(line.split()[2].rstrip(":")))
    assert memory_block([("A", ""), ("B", "")], "en") is None


def test_journals_from_before_the_memory_resume_without_one():
    data = PlannedState(
        phase="sections",
        plan=None,
        done=[],
        index=0,
        base=None,
        context=None,
        heading="",
        continuations=0,
        totals=PlannedState.from_json({"phase": "sections"}).totals,
    ).to_json()
    assert "memory" not in data  # nothing new in a journal that has no memory
    old = Checkpoint.from_json({"seq": 1, "generated": [], **data})
    assert old.planned is not None and old.planned.memory == []
    data["memory"] = ["a note"]
    assert Checkpoint.from_json({"seq": 1, "generated": [], **data}).planned.memory == ["a note"]


def test_chat_memory_shows_edits_and_a_redo_notes_its_section_again(
    tmp_path, monkeypatch, fake_model
):
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from lwz_cli.repl.app import ChatApp
    from lwz_cli.writing.drafting import DraftingSession, Settings

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    answer = scripted()
    redone = {"n": 0}

    def reply(prompt: str):
        if is_note(prompt) and "Tea arrived by boat" in prompt[-3000:]:
            return "the boat docked at Nagasaki"
        if "Kenji is too old" in prompt[-600:]:  # /redo 1's notes
            redone["n"] += 1
            return "Tea arrived by boat. " + prose(290, seed=9)
        return answer(prompt)

    fake = fake_model(reply)
    session = DraftingSession(
        Settings(model="tiny", words=900, sampling=Sampling(seed=3), memory=True)
    )
    out = io.StringIO()
    editor = tmp_path / "editor.sh"  # an $EDITOR that rewrites note 2
    editor.write_text("#!/bin/sh\nsed -i 's/steep for 90 seconds/steep for 2 minutes/' \"$1\"\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    try:
        with create_pipe_input() as pipe:
            app = ChatApp(
                session,
                view_factory=ClosingRecorder,
                out=out,
                pt_input=pipe,
                pt_output=DummyOutput(),
            )
            app.handle(f"/write {REQUEST}")
            app.handle("/memory")
            shown = out.getvalue()
            assert f"1. Origins: {NOTES['Origins']}" in shown
            assert f"2. Brewing: {NOTES['Brewing']}" in shown
            app.handle("/memory edit")
            assert session.run is not None and session.run.memory[1] == (
                "water at 70 degrees; steep for 2 minutes"
            )
            app.handle("/redo 1 Kenji is too old")
            assert redone["n"] == 1
            assert session.run.memory[0] == "the boat docked at Nagasaki"  # noted again
            app.handle("/undo")
            assert session.run.memory[0] == NOTES["Origins"]
            app.handle("/brief For chemists.")  # the conversation is prompted afresh
            app.handle("/continue 300")  # a fourth section reads the edited memory
            assert "steep for 2 minutes" in section_prompts(fake)[-1]
            # section 3's note, asked without the conversation, quotes the section
            (quoted,) = [p for p in fake.prompts if "Here is a section of a document" in p]
            assert session.run.done[2]["chunk"].strip()[-200:] in quoted
            assert len(session.run.memory) == 3
            app.handle("/memory off")
            assert not session.run.memory_on and "memory off" in out.getvalue()
    finally:
        session.close()


def test_the_memory_works_the_same_through_an_endpoint(lwz, tmp_path):
    from test_endpoint import FakeServer

    server = FakeServer()
    bodies = [prose(300, seed=i) for i in range(3)]
    server.script = [
        {"chunks": [PLAN], "finish": "stop"},
        {"chunks": [bodies[0]], "finish": "stop"},
        {"chunks": [NOTES["Origins"]], "finish": "stop"},
        {"chunks": [bodies[1]], "finish": "stop"},
        {"chunks": [NOTES["Brewing"]], "finish": "stop"},
        {"chunks": [bodies[2]], "finish": "stop"},
    ]
    try:
        result = lwz(
            "write", REQUEST, *ARGS, "--endpoint", server.url, "--memory", "--brief", BRIEF
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    prompts = [r["body"]["prompt"] for r in server.requests]
    assert len(prompts) == 6 and NOTE_ASK in prompts[2][-400:]  # the note turn
    section3 = prompts[5]
    assert BRIEF in section3 and NOTE_ASK not in section3
    assert f"Origins: {NOTES['Origins']}" in section3 and f"Brewing: {NOTES['Brewing']}" in section3
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["memory_tokens"] > 0 and done["token_counts"] == "counted pieces"


@pytest.mark.slow
def test_kill9_then_resume_goes_on_with_the_same_memory_on_the_tiny_model(
    run_lwz, lwz_env, tmp_path, monkeypatch
):
    """The real model: notes are taken, journaled before the next section starts, and a
    resume after kill -9 goes on with exactly the notes it had."""
    import signal
    import subprocess
    import sys

    from lwz_cli.journal import Journal

    args = ["-o", "doc.md", "--json", "-m", "tiny", "--seed", "5", "--strategy", "planned"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwz_cli", "write", LONGER, *args, "--memory", "--brief", BRIEF],
        cwd=tmp_path,
        env=lwz_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:  # the third section starts once two notes are saved
        event = json.loads(line)
        if event["event"] == "section_start" and event["index"] == 3:
            break
    else:
        raise AssertionError(f"the run ended first: {proc.wait()} {proc.stderr.read()[-500:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    monkeypatch.setenv("LWZ_HOME", lwz_env["LWZ_HOME"])  # where Journal.find looks
    saved = Journal.find(tmp_path / "doc.md").latest_checkpoint()
    assert saved is not None and saved.planned is not None
    kept = saved.planned.memory
    assert len(kept) == 2 and saved.planned.totals.memory > 0

    result = run_lwz("resume", "doc.md", "--json")
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["resumed"] and done["memory_tokens"] > 0
    final = Journal.find(tmp_path / "doc.md").latest_checkpoint()
    assert final is not None and final.planned is not None
    assert final.planned.memory[:2] == kept  # the same notes, not taken again


def test_a_weak_models_chatter_is_not_a_note():
    # answers the tiny model gave in a real run (lwz write --memory, seed 3 and 4)
    assert (
        clean_note(
            "Here's the revised section:; [The author's brief: \"A 1200-word guide to green tea",
            "en",
        )
        == ""
    )
    assert (
        clean_note(
            "This section is going to be a new one, so please keep going to be creative", "en"
        )
        == ""
    )
    assert (
        clean_note(
            "I'm sorry for the confusion. I've made sure to keep all the necessary formatting", "en"
        )
        == ""
    )
    assert clean_note("Note: Kenji is the farmer; Sure, here it is", "en") == "Kenji is the farmer"
    assert clean_note("好的，以下是事实；茶园海拔四百米", "zh") == "茶园海拔四百米"


def test_the_reminder_names_only_what_the_job_has():
    from lwz_cli.writing.brief import reminder

    assert reminder(None, None, "en") is None
    assert "sample" not in reminder("for beginners", None, "en")
    assert "brief" not in reminder(None, "I write like this.", "en")
    assert "样本" not in reminder("给初学者", None, "zh")
