"""How a run ends when it does not finish, the same for both strategies (on the
scripted engine, milliseconds each): an endpoint that gives up is saved like a
Ctrl-C and names `lwz resume`; a crash leaves the run marked interrupted, its
last checkpoint standing; both resume to a complete document."""

from __future__ import annotations

import pytest

from fake_engine import FakeEngine, Recorder, outline, prose
from lwz_cli.engine.http import EndpointError
from lwz_cli.engine.protocol import Sampling
from lwz_cli.journal import Journal
from lwz_cli.output import DocumentOutput
from lwz_cli.runstate import RunStatus
from lwz_cli.writing.resume import prepare_resume
from lwz_cli.writing.run import write_document
from lwz_cli.writing.session import WriteRequest, manifest_for, prepare

PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "what studies say", 300),
    ],
)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    return tmp_path


def job(tmp_path, strategy: str):
    words = 900 if strategy == "planned" else 300
    return prepare(
        WriteRequest(
            prompt=f"Write a {words}-word guide to green tea.",
            model="tiny",
            strategy=strategy,
            output=tmp_path / "doc.md",
            sampling=Sampling(seed=1),
        )
    )


def failing_after(replies: list[str], error: BaseException):
    """A script that gives `replies`, then raises `error` (what the engine does when
    a server stops answering, or when something breaks)."""
    left = list(replies)

    def reply(prompt: str) -> str:
        if not left:
            raise error
        return left.pop(0)

    return reply


# planned: the outline and the first section, then the failure; single: a short
# answer, then the failure when it is continued
SCRIPTS = {
    "planned": [PLAN, prose(300, seed=1)],
    "single": ["<think>A plan.</think><answer># Green Tea\n\n" + prose(60, seed=1) + "</answer>"],
}


def start(tmp_path, strategy: str, error: BaseException):
    prepared = job(tmp_path, strategy)
    journal = Journal.create(manifest_for(prepared), prepared.request.output)
    fake = FakeEngine(failing_after(SCRIPTS[strategy], error))
    return prepared, journal, fake


@pytest.mark.parametrize("strategy", ["planned", "single"])
def test_an_endpoint_that_gives_up_is_saved_and_names_the_resume_command(home, strategy):
    gave_up = EndpointError(
        "http://127.0.0.1:9 stopped answering", url="http://127.0.0.1:9", hint="check the server"
    )
    prepared, journal, fake = start(home, strategy, gave_up)
    output = prepared.request.output
    events = Recorder()
    with pytest.raises(EndpointError) as caught:
        write_document(prepared, events, engine=fake, journal=journal)
    assert caught.value.hint == f"check the server; then continue with: lwz resume {output}"
    reopened = Journal.find(output)
    assert reopened.manifest.status == RunStatus.INTERRUPTED and not output.exists()
    saved = reopened.latest_checkpoint()
    assert saved.words > 0 and reopened.manifest.words == saved.words
    assert events[-1]["event"] == "checkpoint"  # saved as it stopped, like a Ctrl-C
    if strategy == "planned":
        assert DocumentOutput(output).partial.read_text().count("## ") == 1  # Origins

    prepared2, checkpoint = prepare_resume(reopened)
    rest = (
        [prose(300, seed=2), prose(300, seed=3)] if strategy == "planned" else [prose(250, seed=2)]
    )
    done = Recorder()
    write_document(
        prepared2, done, engine=FakeEngine(rest), journal=reopened, checkpoint=checkpoint
    )
    assert done[-1]["event"] == "done" and done[-1]["resumed"] is True
    assert output.exists() and not DocumentOutput(output).partial.exists()
    assert Journal.find(output).manifest.status == RunStatus.DONE


@pytest.mark.parametrize("strategy", ["planned", "single"])
def test_a_crash_marks_the_run_interrupted_and_keeps_its_last_checkpoint(home, strategy):
    prepared, journal, fake = start(home, strategy, ZeroDivisionError("a bug"))
    output = prepared.request.output
    with pytest.raises(ZeroDivisionError):
        write_document(prepared, Recorder(), engine=fake, journal=journal)
    reopened = Journal.find(output)
    assert reopened.manifest.status == RunStatus.INTERRUPTED and not output.exists()
    # `lwz runs` and `lwz resume` see it as unfinished, from its last checkpoint
    _, checkpoint = prepare_resume(reopened)
    if strategy == "planned":
        assert checkpoint.sections_done == 1
