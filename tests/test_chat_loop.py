"""`lwz chat`'s loop over pipe input on the scripted engine, as a newcomer meets it:
the status line shows words / target and where the draft goes, a bare /save
writes the last /save target again, and a draft without a file is named as one
(in the toolbar, /runs and `lwz runs`)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from fake_engine import Reply, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.repl.app import ChatApp
from lwz_cli.run_listing import run_rows
from lwz_cli.view.live import LiveView
from lwz_cli.writing.drafting import DraftingSession, Settings

PLAN = outline("Green Tea", [("Origins", "where", 300), ("Brewing", "water", 300)])


def writer():
    """The outline first, then a section of about the asked length per call."""
    calls = itertools.count()

    def reply(prompt: str) -> Reply:
        call = next(calls)
        return Reply(PLAN if call == 0 else prose(330, seed=call))

    return reply


class Clock:
    """Seconds that pass half a second per reading: rates and an ETA to show."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


@pytest.fixture()
def run_chat(tmp_path, monkeypatch, fake_model):
    """Run ChatApp over `lines` without a PATH; returns (app, its output, the live
    views it drew with, each on an 80-column console)."""
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    fake_model(writer())
    session = DraftingSession(Settings(model="tiny", words=600, sampling=Sampling(seed=3)))
    views: list[LiveView] = []

    def live_view() -> LiveView:
        console = Console(file=io.StringIO(), width=80, height=40, color_system=None)
        views.append(LiveView(console, attach=False, clock=Clock()))
        return views[-1]

    def run(lines: Iterable[str], probe=None) -> tuple[ChatApp, str, list[LiveView]]:
        out = io.StringIO()
        with create_pipe_input() as pipe:
            app = ChatApp(
                session, view_factory=live_view, out=out, pt_input=pipe, pt_output=DummyOutput()
            )
            for line in lines:
                pipe.send_text(line + "\r")
            app.run()
        return app, out.getvalue(), views

    yield run
    session.close()


def drawn(view: LiveView) -> str:
    out = io.StringIO()
    Console(file=out, width=80, height=40, color_system=None).print(view.render())
    return out.getvalue()


def test_the_status_line_shows_the_target_and_an_eta(run_chat):
    _, _, views = run_chat(["a guide to green tea", "/continue 200", "/quit"])
    statuses = []
    for view in views:  # the /write, and a /continue (the chat's run announces neither)
        screen = drawn(view)
        statuses.append(" ".join(screen.rsplit("╰", 1)[1].split()))
        assert "lwz tiny" in screen and "-> stdout" not in screen, screen
        assert statuses[-1].endswith("· (unsaved draft)"), statuses[-1]
    assert "/ 600 words" in statuses[0] and "/ 800 words" in statuses[1]  # /continue 200
    assert "ETA" in statuses[0] and "ETA —" not in statuses[0]


def test_a_bare_save_writes_the_last_save_target_again(run_chat, tmp_path):
    lines = ["a guide to green tea", "/save guide.md", "/show", "/redo 1", "/save", "/show"]
    _, text, _ = run_chat([*lines, "/quit"])
    saved = (tmp_path / "guide.md").read_text().strip()
    assert text.count("saved guide.md") == 2 and "no file to save to" not in text
    first, second = text.split("saved guide.md")[1:]
    assert saved in second and saved not in first  # the redone draft, saved again
    assert "last saved to guide.md" in text  # leaving says where the copy is


def test_a_draft_without_a_file_is_named_as_one(run_chat):
    _, text, _ = run_chat(["a guide to green tea", "/runs", "/quit"])
    listed = [line for line in text.splitlines() if "(unsaved draft)" in line]
    assert len(listed) == 1 and "stdout-" in listed[0]  # /open needs the id
    rows = run_rows()
    assert [row["status"] for row in rows] == ["unsaved"]  # every section written: not interrupted
    assert rows[0]["resume"]  # and `lwz resume` still finishes it


def test_the_toolbar_names_where_the_draft_goes(tmp_path, monkeypatch, fake_model):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    fake_model(writer())
    session = DraftingSession(Settings(model="tiny", words=600, sampling=Sampling(seed=3)))
    try:
        with create_pipe_input() as pipe:
            app = ChatApp(
                session,
                view_factory=lambda: LiveView(Console(file=io.StringIO()), attach=False),
                out=io.StringIO(),
                pt_input=pipe,
                pt_output=DummyOutput(),
            )
            app.handle("a guide to green tea")
            assert "(unsaved draft)" in app.toolbar() and "stdout-" not in app.toolbar()
            app.handle("/save guide.md")
            assert "│ guide.md │" in app.toolbar()
            app.handle("/redo 1")
            assert "guide.md (unsaved changes)" in app.toolbar()
    finally:
        session.close()
