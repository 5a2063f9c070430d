"""One engine per machine (`lwz_cli.engine_slot`): a second lwz waits for the first's
model, says whom it waits for, starts when the slot frees (kill -9 included), and
--no-wait fails at once. The holder is a tiny Python process holding the lock, so
the fast tests need no model; the last test runs two real `lwz write --model tiny`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT
from fake_engine import Reply, prose
from lwz_cli.engine.protocol import Sampling
from lwz_cli.engine_slot import Holder, SlotBusy, SlotRequest, current_holder, waiting_line
from lwz_cli.errors import Interrupted

REQUEST = "Write a short note about green tea."
ARGS = ["-m", "tiny", "-o", "tea.md", "--strategy", "single", "--seed", "1"]
NOTE = "<think>\nA short plan.\n</think>\n<answer>\n# Green Tea\n\n" + prose(120, seed=2)

# a stand-in for another lwz that has a model loaded: it holds the slot until killed
HOLD = """
import sys, time
from lwz_cli.engine_slot import Holder, SlotRequest
SlotRequest(Holder.me("write", "guide.md", run=sys.argv[2] or None)).claim()
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "lwz-home"
    monkeypatch.setenv("LWZ_HOME", str(path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return path


@pytest.fixture()
def holder(home):
    """`start(seconds, run)`: another process holding the slot for `seconds`."""
    started: list[subprocess.Popen] = []

    def start(seconds: float = 60, run: str = "") -> subprocess.Popen:
        env = {**os.environ, "LWZ_HOME": str(home), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(seconds), run],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def me(command: str = "write", target: str | None = "tea.md") -> Holder:
    return Holder.me(command, target)


# -- the slot itself ------------------------------------------------------------------


def test_the_slot_names_its_holder_and_no_wait_fails_at_once(holder, home):
    proc = holder()
    held = current_holder()
    assert held is not None and (held.pid, held.command, held.target) == (
        proc.pid,
        "write",
        "guide.md",
    )
    assert (home / "state" / "engine.lock").stat().st_mode & 0o777 == 0o600
    began = time.monotonic()
    with pytest.raises(SlotBusy) as busy:
        SlotRequest(me(), wait=False).claim()
    assert time.monotonic() - began < 0.5
    assert busy.value.exit_code == 1
    assert str(busy.value) == (
        f"the lwz writing guide.md (pid {proc.pid}) is running a model on this machine; "
        "run this again when it is done, or without --no-wait to wait for it"
    )


def test_a_waiter_says_whom_it_waits_for_and_starts_when_the_holder_is_killed_9(holder):
    proc = holder()
    told: list[Holder] = []
    claims = []
    waiter = threading.Thread(
        target=lambda: claims.append(SlotRequest(me("resume")).claim(on_wait=told.append))
    )
    waiter.start()
    deadline = time.monotonic() + 5
    while not told and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [h.pid for h in told] == [proc.pid] and not claims  # waiting, told once
    assert waiting_line(told[0]) == (
        f"waiting for the lwz writing guide.md (pid {proc.pid}) to finish; Ctrl-C to stop"
    )
    proc.send_signal(signal.SIGKILL)  # no cleanup: the kernel drops the flock
    waiter.join(5)
    assert claims, "the slot was not taken after its holder was killed"
    now = current_holder()
    assert now is not None and (now.pid, now.command) == (os.getpid(), "resume")
    claims[0].release()
    assert current_holder() is None


def test_ctrl_c_while_waiting_stops_the_wait_and_takes_nothing(holder):
    proc = holder()
    cancel = threading.Event()
    with pytest.raises(Interrupted) as stopped:
        SlotRequest(me(), cancel=cancel).claim(on_wait=lambda h: cancel.set())
    assert stopped.value.exit_code == 130 and f"pid {proc.pid}" in str(stopped.value)
    held = current_holder()
    assert held is not None and held.pid == proc.pid


def test_one_process_takes_the_slot_once_so_it_never_waits_on_itself(home):
    first = SlotRequest(me("batch", "r.yaml")).claim()
    second = SlotRequest(me(), wait=False).claim()  # would raise SlotBusy if it waited
    second.release()
    held = current_holder()
    assert held is not None and held.command == "batch"  # still held, by the first
    first.release()
    assert current_holder() is None


def test_a_holder_file_that_names_nobody_alive_reads_as_another_lwz(home, holder):
    proc = holder()
    (home / "state" / "engine.lock").write_text('{"pid": 999999999, "command": "write"}')
    held = current_holder()
    assert held is not None and held.describe() == "another lwz"
    assert waiting_line(held) == "waiting for another lwz to finish; Ctrl-C to stop"
    proc.kill()


# -- the commands -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, env", [("--no-wait", None), (None, {"LWZ_WAIT": "false"})], ids=["flag", "setting"]
)
def test_write_no_wait_exits_1_naming_the_holder_and_writes_nothing(
    flag, env, lwz, fake_model, holder, tmp_path
):
    fake_model([NOTE])
    proc = holder()
    result = lwz("write", REQUEST, *ARGS, *([flag] if flag else []), env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"lwz: error: the lwz writing guide.md (pid {proc.pid}) is running a model on "
        "this machine; run this again when it is done, or without --no-wait to wait for it"
    ]
    assert not (tmp_path / "tea.md").exists() and not (tmp_path / "tea.md.partial").exists()
    assert json.loads(lwz("runs", "--json").stdout) == []


def test_write_waits_for_the_holder_then_writes(lwz, fake_model, holder, tmp_path):
    fake_model([NOTE])
    proc = holder(seconds=0.5)
    result = lwz("write", REQUEST, *ARGS)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"lwz: waiting for the lwz writing guide.md (pid {proc.pid}) to finish; Ctrl-C to stop"
    )
    assert (tmp_path / "tea.md").read_text().startswith("# Green Tea")
    assert current_holder() is None  # released when the run ended


def test_ctrl_c_while_waiting_exits_130_with_nothing_written(
    lwz, fake_model, holder, monkeypatch, tmp_path
):
    fake_model([NOTE])
    proc = holder()
    import lwz_cli.engine_slot as slot

    told = slot.waiting_event

    def press_ctrl_c(h: Holder):  # the moment the wait starts
        os.kill(os.getpid(), signal.SIGINT)
        return told(h)

    monkeypatch.setattr(slot, "waiting_event", press_ctrl_c)
    result = lwz("write", REQUEST, *ARGS, "--json")
    assert result.returncode == 130, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["waiting", "error"]
    assert events[0]["pid"] == proc.pid and events[0]["holder"] == "writing guide.md"
    assert events[1]["exit_code"] == 130
    assert f"stopped while waiting for the lwz writing guide.md (pid {proc.pid})" in result.stderr
    assert list(tmp_path.glob("tea.md*")) == []
    assert json.loads(lwz("runs", "--json").stdout) == []  # no run left behind


def test_an_endpoint_run_never_takes_the_slot(lwz, holder, tmp_path):
    from test_endpoint import ANSWER, FakeServer

    holder()
    fake = FakeServer([{"chunks": ANSWER, "finish": "stop"}])
    try:
        result = lwz("write", REQUEST, "--endpoint", fake.url, "-o", "tea.md", "--no-wait")
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    assert "waiting" not in result.stderr and (tmp_path / "tea.md").exists()


def test_lwz_runs_shows_who_holds_the_slot(lwz, fake_model, holder):
    fake_model([NOTE])
    assert lwz("write", REQUEST, *ARGS).returncode == 0
    assert "engine is in use" not in lwz("runs").stderr
    run_id = json.loads(lwz("runs", "--json").stdout)[0]["id"]
    proc = holder(run=run_id)
    rows = json.loads(lwz("runs", "--json").stdout)
    assert [r["holds_engine"] for r in rows] == [True]
    assert f"the engine is in use by the lwz writing guide.md (pid {proc.pid})" in (
        lwz("runs").stderr
    )


def test_a_batch_takes_the_slot_once_for_all_its_jobs(lwz, fake_model, monkeypatch, tmp_path):
    fake_model(lambda prompt: Reply(NOTE))
    claims: list[Holder] = []
    claim = SlotRequest.claim

    def counted(self, on_wait=None):
        claims.append(self.holder)
        return claim(self, on_wait)

    monkeypatch.setattr(SlotRequest, "claim", counted)
    (tmp_path / "r.yaml").write_text(
        "name: r\nmodel: tiny\nstrategy: single\nprompt: Write a note about {topic}.\n"
        "output: '{topic}.md'\nitems:\n  - {topic: tea}\n  - {topic: coffee}\n"
    )
    result = lwz("batch", "r.yaml")
    assert result.returncode == 0, result.stderr
    assert [(h.command, h.target) for h in claims] == [("batch", "r.yaml")]
    assert (tmp_path / "tea.md").exists() and (tmp_path / "coffee.md").exists()
    assert current_holder() is None


def test_batch_no_wait_fails_its_local_jobs_at_once(lwz, fake_model, holder, tmp_path):
    fake_model([NOTE])
    proc = holder()
    (tmp_path / "r.yaml").write_text(
        "name: r\nmodel: tiny\nprompt: Write a note about tea.\noutput: tea.md\n"
    )
    result = lwz("batch", "r.yaml", "--no-wait")
    assert result.returncode == 1
    assert f"pid {proc.pid}" in result.stderr and not (tmp_path / "tea.md").exists()


def test_a_chat_holds_the_slot_while_its_model_is_loaded(fake_model, home, tmp_path):
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from test_drafting_states import writer

    fake_model(writer())
    session = DraftingSession(
        Settings(model="tiny", output=tmp_path / "tea.md", words=900, sampling=Sampling(seed=1))
    )
    try:
        assert current_holder() is None  # nothing loaded yet
        session.write(REQUEST, lambda event: None)
        held = current_holder()
        assert held is not None and (held.pid, held.doing) == (
            os.getpid(),
            f"chat {tmp_path}/tea.md",
        )
    finally:
        session.close()
    assert current_holder() is None


def test_chat_no_wait_names_the_holder_and_stays_open(fake_model, holder, home):
    import io

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    from rich.console import Console

    from lwz_cli.repl.app import ChatApp
    from lwz_cli.view.live import LiveView
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from test_drafting_states import writer

    fake_model(writer())
    proc = holder()
    session = DraftingSession(Settings(model="tiny", words=600, wait=False))
    out = io.StringIO()
    try:
        with create_pipe_input() as pipe:
            app = ChatApp(
                session,
                view_factory=lambda: LiveView(Console(file=io.StringIO()), attach=False),
                out=out,
                pt_input=pipe,
                pt_output=DummyOutput(),
            )
            pipe.send_text("a guide to green tea\r/words 300\r/quit\r")
            app.run()
    finally:
        session.close()
    said = out.getvalue()
    assert f"lwz: error: the lwz writing guide.md (pid {proc.pid}) is running a model" in said
    assert "target for the next draft: 300 words" in said  # the chat goes on
    held = current_holder()
    assert held is not None and held.pid == proc.pid


# -- the proof, on the real model -----------------------------------------------------------


@pytest.mark.slow
def test_two_real_writes_run_one_after_the_other(lwz_env, tmp_path):
    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lwz_cli",
                "write",
                "Write a short note about tea.",
                "-m",
                "tiny",
                "-o",
                name,
                "--max-tokens",
                "120",
                "--seed",
                "1",
                "--threads",
                "2",
            ],
            cwd=tmp_path,
            env=lwz_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = start("a.md")
    while current_holder(Path(lwz_env["LWZ_HOME"]) / "state" / "engine.lock") is None:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = start("b.md")
    _, err_b = second.communicate(timeout=240)
    _, err_a = first.communicate(timeout=240)
    assert first.returncode == 0 and second.returncode == 0, (err_a, err_b)
    assert f"lwz: waiting for the lwz writing a.md (pid {first.pid}) to finish" in err_b
    assert (tmp_path / "a.md").exists() and (tmp_path / "b.md").exists()
