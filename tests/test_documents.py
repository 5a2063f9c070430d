"""The documents lwz writes (issue 13): their file mode, and a finished
document that is never replaced silently (`lwz write`, chat's /save, batch)."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from fake_engine import Reply, outline, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.repl.app import ChatApp
from lwz_cli.writing.drafting import DraftingSession, Settings

PLAN = outline("Green Tea", [("Origins", "where it grows", 150), ("Brewing", "water", 150)])
REQUEST = "Write a 300-word guide to green tea."
WRITE = ["-m", "tiny", "--strategy", "planned", "--seed", "1"]


class QuietView:
    """A view that draws nothing (the chat's steps need one)."""

    def __call__(self, event) -> None:
        pass

    def close(self) -> None:
        pass


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_documents_get_the_umask_mode_and_the_journal_stays_private(
    lwz, fake_model, tmp_path, umask_022
):
    # interrupted after the first section: tea.md.partial is on disk
    fake_model([PLAN, prose(150, seed=1), Reply(prose(150, seed=2), interrupt_after=20)])
    assert lwz("write", REQUEST, *WRITE, "-o", "tea.md").returncode == 130
    assert mode(tmp_path / "tea.md.partial") == 0o644
    fake_model([prose(150, seed=3)])
    assert lwz("resume", "tea.md").returncode == 0
    assert mode(tmp_path / "tea.md") == 0o644
    run = next((tmp_path / "lwz-home" / "data" / "runs").iterdir())
    assert mode(run) == 0o700 and mode(run / "sections") == 0o700
    assert {mode(f) for f in run.rglob("*") if f.is_file()} == {0o600}

    recipe = tmp_path / "tea.yaml"
    recipe.write_text(
        'name: notes\nmodel: tiny\nwords: 100\nprompt: "A {words}-word note on {tea} tea."\n'
        'output: "notes/{tea}.md"\nitems:\n  - {tea: green}\n'
    )
    fake_model([prose(100, seed=4)])
    assert lwz("batch", str(recipe)).returncode == 0
    assert mode(tmp_path / "notes" / "green.md") == 0o644


def test_an_existing_document_keeps_its_mode(lwz, fake_model, tmp_path, umask_022):
    doc = tmp_path / "tea.md"
    doc.write_text("old\n")
    doc.chmod(0o640)
    fake_model([PLAN, prose(150, seed=1), prose(150, seed=2)])
    assert lwz("write", REQUEST, *WRITE, "-o", "tea.md", "--force").returncode == 0
    assert doc.read_text() != "old\n" and mode(doc) == 0o640


def test_write_refuses_to_replace_a_finished_document_unless_forced(lwz, fake_model, tmp_path):
    doc = tmp_path / "tea.md"
    doc.write_text("my finished guide\n")
    refused = lwz("write", REQUEST, *WRITE, "-o", "tea.md")
    assert refused.returncode == 2 and doc.read_text() == "my finished guide\n"
    assert refused.stderr.strip().splitlines() == [
        "lwz: error: tea.md already exists; pass --force to replace it, or -o another path"
    ]
    as_json = lwz("write", REQUEST, *WRITE, "-o", "tea.md", "--json")
    error = json.loads(as_json.stdout.splitlines()[-1])
    assert as_json.returncode == 2 and error["event"] == "error" and "--force" in error["message"]
    fake_model([PLAN, prose(150, seed=1), prose(150, seed=2)])
    assert lwz("write", REQUEST, *WRITE, "-o", "tea.md", "--force").returncode == 0
    assert doc.read_text().startswith("# Green Tea")


def test_write_asks_on_a_terminal(lwz, fake_model, tmp_path, monkeypatch):
    import lwz_cli.cli.write as write_cmd
    from lwz_cli.cli import terminal

    doc = tmp_path / "tea.md"
    doc.write_text("my finished guide\n")
    monkeypatch.setattr(terminal, "interactive", lambda json_mode: True)
    monkeypatch.setattr(write_cmd.typer, "confirm", lambda *a, **k: False)
    kept = lwz("write", REQUEST, *WRITE, "-o", "tea.md")
    assert kept.returncode == 2 and "kept tea.md" in kept.stderr
    assert doc.read_text() == "my finished guide\n"
    monkeypatch.setattr(write_cmd.typer, "confirm", lambda *a, **k: True)
    fake_model([PLAN, prose(150, seed=1), prose(150, seed=2)])
    assert lwz("write", REQUEST, *WRITE, "-o", "tea.md").returncode == 0
    assert doc.read_text().startswith("# Green Tea")


def test_chat_save_asks_before_replacing_another_file(tmp_path, monkeypatch, fake_model):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    monkeypatch.chdir(tmp_path)
    other = tmp_path / "notes.md"
    other.write_text("my notes\n")
    fake_model([PLAN, prose(190, seed=1), prose(190, seed=2)])
    session = DraftingSession(Settings(model="tiny", words=300, sampling=Sampling(seed=1)))
    answers = iter([False, True])
    out = io.StringIO()
    try:
        with create_pipe_input() as pipe:
            app = ChatApp(
                session,
                view_factory=QuietView,
                out=out,
                pt_input=pipe,
                pt_output=DummyOutput(),
                confirm=lambda question: next(answers),
            )
            for line in (
                "/write a guide to green tea",
                "/save notes.md",
                "/save notes.md",
                "/quit",
            ):
                pipe.send_text(line + "\r")
            app.run()
    finally:
        session.close()
    text = out.getvalue()
    assert "kept notes.md" in text and "saved notes.md" in text
    assert other.read_text().startswith("# Green Tea")
