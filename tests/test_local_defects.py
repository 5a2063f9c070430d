"""Issue 14, the local defects of the adversarial pass, in-process on the scripted engine:
a symlinked -o, a full output disk, missing checkpoints, a manifest naming another
document, file modes, stopped time in tok/s, a read-only LWZ_HOME, invalid UTF-8 on
stdin and usage errors under --json."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from fake_engine import Reply, outline, prose

REQUEST = "Write a 900-word guide to green tea."
PLAN = outline(
    "Green Tea",
    [
        ("Origins", "where it grows", 300),
        ("Brewing", "water and time", 300),
        ("Health", "what studies say", 300),
    ],
)
PLANNED = ["-m", "tiny", "--strategy", "planned", "--seed", "1"]


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def full_script() -> list:
    return [PLAN, *(prose(300, seed=i) for i in range(3))]


def interrupted_script() -> list:
    """The outline, section 1, then Ctrl-C inside section 2."""
    return [PLAN, prose(300, seed=1), Reply(prose(300, seed=2), interrupt_after=30)]


def journal_for(path: Path):
    from lwz_cli.journal import Journal

    journal = Journal.find(path)
    assert journal is not None
    return journal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- 1. a symlinked -o: written through to its target, by write and resume alike ----------


def test_write_to_a_symlink_writes_through_to_its_target(lwz, fake_model, tmp_path):
    target = tmp_path / "docs" / "guide.md"
    target.parent.mkdir()
    target.write_text("PRECIOUS TARGET\n")
    target.chmod(0o640)
    link = tmp_path / "guide.md"
    link.symlink_to(target)
    fake_model(full_script())
    result = lwz("write", REQUEST, "-o", "guide.md", "--force", *PLANNED)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link is left intact
    assert target.read_text().startswith("# Green Tea\n\n## Origins")
    assert mode(target) == 0o640  # the target keeps its mode
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "lwz-home") == [
        "docs",
        "guide.md",
    ]
    assert sorted(p.name for p in target.parent.iterdir()) == ["guide.md"]


def test_resume_to_a_symlink_follows_the_same_rule(lwz, fake_model, tmp_path):
    target = tmp_path / "docs" / "guide.md"
    target.parent.mkdir()
    link = tmp_path / "guide.md"
    link.symlink_to(Path("docs") / "guide.md")  # relative, and dangling until written
    fake_model(interrupted_script())
    stopped = lwz("write", REQUEST, "-o", "guide.md", *PLANNED)
    assert stopped.returncode == 130, stopped.stderr
    assert "lwz resume guide.md" in stopped.stderr
    assert link.is_symlink() and not target.exists()
    # the finished sections sit beside the document the link points at
    partial = target.with_name("guide.md.partial")
    assert partial.read_text().startswith("# Green Tea\n\n## Origins")
    assert not tmp_path.joinpath("guide.md.partial").exists()
    target.write_text(
        "PRECIOUS TARGET 2\n"
    )  # written meanwhile: resume replaces it, as write would
    target.chmod(0o604)

    fake_model([prose(280, seed=3), prose(300, seed=4)])
    resumed = lwz("resume", "guide.md")
    assert resumed.returncode == 0, resumed.stderr
    assert link.is_symlink() and os.readlink(link) == "docs/guide.md"
    assert target.read_text().startswith("# Green Tea\n\n## Origins")
    assert mode(target) == 0o604 and not partial.exists()


def test_a_symlink_to_an_existing_file_is_refused_without_force_naming_the_target(
    lwz, fake_model, tmp_path
):
    target = tmp_path / "kept.md"
    target.write_text("PRECIOUS\n")
    (tmp_path / "link.md").symlink_to(target)
    fake_model(full_script())
    result = lwz("write", REQUEST, "-o", "link.md", *PLANNED)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "link.md already exists" in result.stderr
    assert str(target) in result.stderr and "--force" in result.stderr
    assert target.read_text() == "PRECIOUS\n"


def test_a_stream_as_output_needs_only_itself_writable(tmp_path, monkeypatch):
    """A FIFO or /dev/stdout is opened by its name: its folder (/dev, /proc/PID/fd for
    /dev/stdout's target) need not be writable, as it would for a rename."""
    from lwz_cli.writing.session import check_output

    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: not Path(p).is_dir() and real(p, m))
    check_output(fifo)


# -- 2. a full output disk is named, not the journal's ------------------------------------


def fail_writes_under(monkeypatch, folder: Path, code: int = errno.ENOSPC) -> None:
    """Every atomic write into `folder` fails with `code` at its fsync, as on a full disk."""
    import lwz_cli.atomic as atomic

    real = atomic.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        fd, name = real(*args, dir=dir, **kwargs)
        if Path(dir or ".").resolve() == folder.resolve():
            os.close(fd)
            os.unlink(name)
            raise OSError(code, os.strerror(code))
        return fd, name

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)


def test_a_full_output_disk_names_the_documents_folder(lwz, fake_model, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    fake_model(full_script())
    fail_writes_under(monkeypatch, out)
    result = lwz("write", REQUEST, "-o", "out/tea.md", "--json", *PLANNED)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "the disk is full" in line, line
    assert "cannot write out/tea.md.partial" in line and "runs" not in line, line
    assert "lwz resume out/tea.md" in line
    assert events(result.stdout)[-1]["event"] == "error"
    # the journal's checkpoint was saved: resume goes on once there is room
    assert journal_for(out / "tea.md").latest_checkpoint() is not None


def test_a_full_journal_disk_still_names_the_journal(lwz, fake_model, tmp_path, monkeypatch):
    fake_model(full_script())
    runs = tmp_path / "lwz-home" / "data" / "runs"
    from lwz_cli.journal import run_id_for

    fail_writes_under(monkeypatch, runs / run_id_for(tmp_path / "tea.md"))
    result = lwz("write", REQUEST, "-o", "tea.md", *PLANNED)
    assert result.returncode == 1
    assert "the disk is full" in result.stderr and str(runs) in result.stderr


def test_ctrl_c_on_a_full_disk_still_saves_and_names_the_resume(
    lwz, fake_model, tmp_path, monkeypatch
):
    """The checkpoint fits but the manifest's new status does not: still exit 130."""
    from lwz_cli.journal import Journal
    from lwz_cli.runstate import RunStatus

    real = Journal.save_manifest

    def save_manifest(self):
        if self.manifest.status == RunStatus.INTERRUPTED:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(self)

    monkeypatch.setattr(Journal, "save_manifest", save_manifest)
    fake_model(interrupted_script())
    stopped = lwz("write", REQUEST, "-o", "tea.md", *PLANNED)
    assert stopped.returncode == 130, stopped.stderr
    assert "lwz resume tea.md" in stopped.stderr and "internal error" not in stopped.stderr
    assert journal_for(tmp_path / "tea.md").latest_checkpoint() is not None


# -- 3. missing checkpoints are reported, never a silent new start --------------------------


def test_missing_checkpoints_with_saved_sections_are_refused(lwz, fake_model, tmp_path):
    fake_model(interrupted_script())
    assert lwz("write", REQUEST, "-o", "tea.md", *PLANNED).returncode == 130
    journal = journal_for(tmp_path / "tea.md")
    assert (journal.dir / "sections" / "0001.md").exists()
    for slot in journal.dir.glob("checkpoint-*.json"):
        slot.unlink()
    held = (tmp_path / "tea.md.partial").read_text()

    fake_model([PLAN, *(prose(300, seed=9 + i) for i in range(3))])  # a new start would use it
    for args in (["resume", "tea.md"], ["write", REQUEST, "-o", "tea.md", *PLANNED]):
        result = lwz(*args)
        assert result.returncode == 2, (args, result.stderr)
        line = result.stderr.strip()
        assert line.count("\n") == 0 and "checkpoint" in line and "--restart" in line, line
        assert "Traceback" not in result.stderr
    assert (journal.dir / "sections" / "0001.md").exists()
    assert (tmp_path / "tea.md.partial").read_text() == held and not (tmp_path / "tea.md").exists()
    result = lwz("resume", "tea.md", "--json")
    assert events(result.stdout)[-1] == {
        "event": "error",
        "message": result.stderr.strip()[len("lwz: error: ") :],
        "exit_code": 2,
    }
    # the fix it names works
    assert lwz("write", REQUEST, "-o", "tea.md", "--restart", *PLANNED).returncode == 0


def test_a_run_stopped_before_its_first_checkpoint_starts_again(lwz, fake_model, tmp_path):
    """Nothing saved, nothing lost: no checkpoint and no sections is a fresh start."""
    fake_model(full_script())
    assert lwz("write", REQUEST, "-o", "tea.md", *PLANNED).returncode == 0
    journal = journal_for(tmp_path / "tea.md")
    from lwz_cli.runstate import RunStatus

    for path in [*journal.dir.glob("checkpoint-*.json"), *journal.dir.glob("sections/*")]:
        path.unlink()
    (tmp_path / "tea.md").unlink()
    journal.manifest.words = 0
    journal.set_status(RunStatus.INTERRUPTED)
    fake_model(full_script())
    result = lwz("resume", "tea.md")
    assert result.returncode == 0, result.stderr


# -- 4. a manifest naming another document is refused --------------------------------------


def test_a_manifest_naming_another_document_is_refused(lwz, fake_model, tmp_path):
    fake_model(interrupted_script())
    assert lwz("write", REQUEST, "-o", "tea.md", *PLANNED).returncode == 130
    journal = journal_for(tmp_path / "tea.md")
    journal.manifest.output = str(tmp_path / "other.md")
    journal.save_manifest()
    fake_model([prose(280, seed=3), prose(300, seed=4)])
    for args in (["resume", "tea.md"], ["write", REQUEST, "-o", "tea.md", *PLANNED]):
        result = lwz(*args)
        assert result.returncode == 2, (args, result.stderr)
        line = result.stderr.strip()
        assert line.count("\n") == 0 and "other.md" in line and "tea.md" in line, line
    by_id = lwz("resume", journal.dir.name)  # the folder's name says whose it is, too
    assert by_id.returncode == 2 and "other.md" in by_id.stderr, by_id.stderr
    assert not (tmp_path / "other.md").exists() and not (tmp_path / "tea.md").exists()
    assert (tmp_path / "tea.md.partial").exists()


# -- 5. the journal is private: folder 0700, every file 0600 -------------------------------


def test_every_file_of_a_run_is_private(lwz, fake_model, tmp_path):
    runs = tmp_path / "lwz-home" / "data" / "runs"
    runs.mkdir(parents=True, mode=0o755)  # left by an older lwz
    runs.chmod(0o755)
    fake_model(interrupted_script())
    assert lwz("write", REQUEST, "-o", "tea.md", *PLANNED).returncode == 130
    journal = journal_for(tmp_path / "tea.md")
    assert (journal.dir / "kv.bin").exists() and (journal.dir / "sections" / "0001.md").exists()
    assert mode(runs) == 0o700
    for path in [journal.dir, *journal.dir.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_a_kv_snapshot_is_private_while_it_is_written(lwz, fake_model, tmp_path):
    fake = fake_model(interrupted_script())
    modes = []
    real = fake.save_snapshot

    def save(path: str) -> int:
        modes.append(mode(Path(path)))  # what llama.cpp's fopen("wb") would keep
        return real(path)

    fake.save_snapshot = save
    assert lwz("write", REQUEST, "-o", "tea.md", *PLANNED).returncode == 130
    assert modes and set(modes) == {0o600}


# -- 6. tok/s and ETA leave out time spent stopped (SIGSTOP, Ctrl-Z) ------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_active_clock_leaves_out_a_stop():
    from lwz_cli.clock import ActiveClock

    wall = FakeTime()
    clock = ActiveClock(wall)
    start = clock()
    wall.now += 2.0
    assert clock() - start == pytest.approx(2.0)
    wall.now += 600.0  # stopped for ten minutes: no reading in between
    clock.continued()  # SIGCONT
    wall.now += 0.01  # the handler runs a moment later
    assert clock() - start == pytest.approx(2.0)
    wall.now += 1.0
    assert clock() - start == pytest.approx(3.0)
    wall.now += 5.0  # a slow stretch without a SIGCONT counts
    assert clock() - start == pytest.approx(8.0)


def test_a_stop_mid_run_does_not_lower_the_rate_the_views_show(home_clock):
    """The draft's ticks (the live view's tok/s) and the live view's ETA on one
    injected clock: a ten-minute stop in the middle changes neither."""
    from lwz_cli.view.live import LiveView
    from lwz_cli.writing.run import write_document
    from lwz_cli.writing.session import WriteRequest, prepare

    wall, clock = home_clock

    class Stopping:
        """The fake engine, with the wall clock moving 10 ms a token and a stop at token 200."""

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def stream(self, *args, **kwargs):
            for i, piece in enumerate(self.inner.stream(*args, **kwargs)):
                wall.now += 0.01
                if i == 200:
                    wall.now += 600.0
                    clock.continued()
                yield piece

    from fake_engine import FakeEngine

    inner = FakeEngine(full_script())
    view = LiveView(attach=False)  # on the active clock by default
    ticks = []

    def emit(event):
        view(event)
        if type(event).__name__ == "TickEvent":
            ticks.append(event)

    prepared = prepare(WriteRequest(prompt=REQUEST, model="tiny", strategy="planned", output=None))
    write_document(prepared, emit, engine=Stopping(inner))
    last = ticks[-1]
    assert last.tokens / last.decode_seconds == pytest.approx(100.0, rel=0.1)
    assert view._words_per_second() > 10  # about 75 words a second, not 1


@pytest.mark.slow  # a process stopped and continued for real
def test_sigstop_and_sigcont_leave_the_stop_out_of_the_active_clock():
    import signal
    import sys

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import threading, time\n"
            "from lwz_cli.clock import active_seconds\n"
            "from lwz_cli.interrupt import interrupt_sets\n"
            "with interrupt_sets(threading.Event()):\n"
            "    wall, active = time.monotonic(), active_seconds()\n"
            "    print('ready', flush=True)\n"
            "    while time.monotonic() - wall < 2.5:\n"
            "        active_seconds()\n"
            "        time.sleep(0.01)\n"
            "    print(time.monotonic() - wall, active_seconds() - active, flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    import time

    time.sleep(0.3)
    child.send_signal(signal.SIGSTOP)
    time.sleep(1.5)
    child.send_signal(signal.SIGCONT)
    wall, active = map(float, child.stdout.readline().split())
    assert child.wait(timeout=10) == 0
    assert wall >= 2.5 and active == pytest.approx(wall - 1.5, abs=0.4)


@pytest.fixture()
def home_clock(tmp_path, monkeypatch):
    """LWZ_HOME in tmp_path, and lwz's active clock on a fake wall clock."""
    import lwz_cli.clock

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    wall = FakeTime()
    clock = lwz_cli.clock.ActiveClock(wall)
    monkeypatch.setattr(lwz_cli.clock, "active_clock", clock)
    return wall, clock


# -- 7. a read-only LWZ_HOME ---------------------------------------------------------------


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` read-only: by its mode, or (as root, who ignores modes) as a read-only mount."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip("as root, a read-only folder needs a read-only mount")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_doctor_reports_a_read_only_lwz_home(lwz, tmp_path):
    home = tmp_path / "lwz-home"
    with read_only(home):
        result = lwz("doctor", "--json")
        report = json.loads(result.stdout)
        checks = [c for c in report["checks"] if c["name"] == "LWZ_HOME"]
        assert checks and checks[0]["status"] == "fail", report["checks"]
        assert str(home) in checks[0]["detail"] and "LWZ_HOME" in checks[0]["fix"]
        assert result.returncode == 1 and report["ok"] is False
        plain = lwz("doctor")
        assert f"fail LWZ_HOME: {home}" in plain.stdout


def test_write_with_a_read_only_lwz_home_is_one_line(lwz, fake_model, tmp_path):
    home = tmp_path / "lwz-home"
    fake_model(full_script())
    with read_only(home):
        result = lwz("write", REQUEST, "-o", "tea.md", "--json", *PLANNED)
    assert result.returncode == 1, result.stderr
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "internal error" not in line, line
    assert str(home) in line and "LWZ_HOME" in line, line
    assert events(result.stdout)[-1]["event"] == "error"
    assert not (tmp_path / "tea.md").exists()


# -- 8. invalid UTF-8 on stdin -------------------------------------------------------------


def test_invalid_utf8_on_stdin_is_one_line_exit_2(fake_model, tmp_path, monkeypatch, capsys):
    from lwz_cli.cli import main

    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "lwz-home"))
    fake_model(full_script())
    for json_mode in ([], ["--json"]):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe")))
        with pytest.raises(SystemExit) as exited:
            main(["write", "-", "-m", "tiny", *json_mode])
        out, err = capsys.readouterr()
        assert exited.value.code == 2
        assert err == (
            "lwz: error: standard input is not UTF-8 text (byte 0 is 0xff); convert it "
            "first, e.g. iconv -f LATIN1 -t UTF-8 FILE | lwz write -\n"
        )
        if json_mode:
            assert events(out) == [
                {"event": "error", "message": err[len("lwz: error: ") : -1], "exit_code": 2}
            ]
        else:
            assert out == ""


def test_a_prompt_argument_that_is_not_utf8_is_one_line(lwz):
    # what Python makes of argv bytes that are not UTF-8: lone surrogates
    result = lwz("write", b"tea \xff".decode("utf-8", "surrogateescape"), "-m", "tiny")
    assert result.returncode == 2
    assert result.stderr.startswith("lwz: error: PROMPT is not UTF-8 text (character 4)")


def test_invalid_utf8_on_stdin_says_where(capsys, monkeypatch):
    from lwz_cli.cli.write import read_prompt
    from lwz_cli.errors import UsageError

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Write a guide\n\xff\xfe")))
    with pytest.raises(UsageError) as error:
        read_prompt("-")
    assert "standard input is not UTF-8" in str(error.value)
    assert "byte 14" in str(error.value) and "iconv" in str(error.value)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("Écris un guide".encode())))
    assert read_prompt("-") == "Écris un guide"


# -- 9. usage errors under --json ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["write", "tea", "--json", "--words", "abc"],
        ["resume", "--json", "tea.md", "--bogus"],
        ["batch", "--json", "--jobs", "x", "recipe.yaml"],
    ],
)
def test_a_usage_error_under_json_is_an_error_event(lwz, args):
    result = lwz(*args)
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert first.startswith("lwz: error: ")
    assert events(result.stdout) == [
        {"event": "error", "message": first[len("lwz: error: ") :], "exit_code": 2}
    ]


def test_a_broken_config_under_json_is_an_error_event(lwz, tmp_path):
    config = tmp_path / "lwz-home" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("words: [1\n")
    result = lwz("write", "tea", "--json")
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.count("\n") == 0
    assert events(result.stdout) == [
        {"event": "error", "message": line[len("lwz: error: ") :], "exit_code": 2}
    ]


def test_a_usage_error_without_json_prints_nothing_on_stdout(lwz):
    result = lwz("write", "tea", "--words", "abc")
    assert result.returncode == 2 and result.stdout == ""
    result = lwz("runs", "--json", "--bogus")  # one JSON document: errors stay on stderr
    assert result.returncode == 2 and result.stdout == ""
