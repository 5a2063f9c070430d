"""Crash safety end to end: kill -9 / SIGINT a real `lwz write`, then resume it."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # kill -9 and SIGINT of a real `lwz write` on the tiny model

REQUEST = "Write a 1200-word guide to brewing tea at home, with ## section headings."
BASE = ["-m", "tiny", "--seed", "11", "--max-tokens", "700", "--strategy", "single"]


def start(tmp_path, env, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "lwz_cli", "write", REQUEST, "-o", "doc.md", "--json", *BASE, *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def events_until(proc, stop):
    """Read JSON events until stop(event, seen) is true; returns the events seen."""
    seen = []
    for line in proc.stdout:
        event = json.loads(line)
        seen.append(event)
        if stop(event, seen):
            return seen
    raise AssertionError(
        f"the run ended before the kill point: {proc.wait()} {proc.stderr.read()[-500:]}"
    )


def kill9(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def journal_dir(tmp_path, env):
    from lwz_cli.journal import run_id_for

    return Path(env["LWZ_HOME"]) / "data" / "runs" / run_id_for(tmp_path / "doc.md")


def resume_and_check(run_lwz, tmp_path, lwz_env, partial_at_kill):
    result = run_lwz("resume", "doc.md", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    done = events[-1]
    assert done["event"] == "done" and done["resumed"] is True
    final = (tmp_path / "doc.md").read_text()
    assert final.startswith(partial_at_kill.strip()) or not partial_at_kill.strip()
    assert not (tmp_path / "doc.md.partial").exists()
    # every finished section the journal saved appears once, in order, at the start
    sections = sorted((journal_dir(tmp_path, lwz_env) / "sections").glob("*.md"))
    saved = "".join(p.read_text() for p in sections)
    assert final.startswith(saved.strip()) or not saved.strip()
    return done, final


def test_kill9_mid_section_then_resume(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "checkpoint" and e["sections"] >= 2)
    texts_after = 0
    for line in proc.stdout:  # a little further: inside the next section
        if json.loads(line)["event"] == "text":
            texts_after += 1
            if texts_after == 15:
                break
    kill9(proc)
    partial = (tmp_path / "doc.md.partial").read_text()
    assert partial.strip() and not (tmp_path / "doc.md").exists()
    done, final = resume_and_check(run_lwz, tmp_path, lwz_env, partial)
    assert done["resumed_tokens"] > 0
    assert len(final) > len(partial)


def test_kill9_right_after_a_section_checkpoint(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "checkpoint" and e["sections"] >= 1)
    kill9(proc)
    partial_file = tmp_path / "doc.md.partial"
    partial = partial_file.read_text() if partial_file.exists() else ""
    resume_and_check(run_lwz, tmp_path, lwz_env, partial)


def test_kill9_before_the_document_starts(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "start")
    kill9(proc)  # during model load / prefill: nothing generated yet
    _done, final = resume_and_check(run_lwz, tmp_path, lwz_env, "")
    assert final.strip()


def test_kill9_inside_a_checkpoint_write(run_lwz, lwz_env, tmp_path):
    env = dict(lwz_env, LWZ_FAULT_PAUSE_IN_CHECKPOINT="30")
    proc = start(tmp_path, env)
    for line in proc.stderr:
        if "[fault] paused inside a checkpoint write" in line:
            break
    kill9(proc)
    leftovers = list(journal_dir(tmp_path, lwz_env).glob(".checkpoint-*.tmp"))
    assert leftovers  # killed between the temp file and the rename
    partial_file = tmp_path / "doc.md.partial"
    partial = partial_file.read_text() if partial_file.exists() else ""
    resume_and_check(run_lwz, tmp_path, lwz_env, partial)


def test_sighup_a_closed_terminal_saves_like_ctrl_c_and_resume_completes(
    run_lwz, lwz_env, tmp_path
):
    """Issue 14, item 5: closing the terminal (SIGHUP) checkpoints and exits like SIGTERM."""
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: sum(x["event"] == "text" for x in s) >= 40)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "lwz resume doc.md" in err and "Traceback" not in err
    result = run_lwz("resume", "doc.md", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["resumed"] is True
    assert (tmp_path / "doc.md").is_file() and not (tmp_path / "doc.md.partial").exists()


def test_sigint_saves_exits_130_and_names_the_resume_command(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: sum(x["event"] == "text" for x in s) >= 40)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "lwz resume doc.md" in err and "Traceback" not in err
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 130
    runs = json.loads(run_lwz("runs", "--json").stdout)
    assert (
        runs[0]["status"] == "interrupted"
        and runs[0]["resume"] == f"lwz resume {tmp_path / 'doc.md'}"
    )
    # the KV snapshot saved at the interrupt spares the re-prefill
    result = run_lwz("resume", "doc.md", "--json")
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["resumed"] is True and done["resumed_tokens"] > 40
    # a re-prefill would read the ~90-token prompt plus every resumed token again; from
    # the snapshot only a token or two per stream is replayed (rewinds, continuations)
    assert done["prompt_tokens_evaluated"] < 16


def test_rerunning_the_same_write_resumes_and_restart_discards(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "checkpoint")
    kill9(proc)
    result = run_lwz("write", REQUEST, "-o", "doc.md", "--json", *BASE)
    assert result.returncode == 0, result.stderr
    first = json.loads(result.stdout.splitlines()[0])
    assert first["event"] == "start" and first["resumed"] is True
    # a finished document is not replaced silently; with --force, a new run replaces it
    kept = run_lwz("write", REQUEST, "-o", "doc.md", *BASE)
    assert kept.returncode == 2 and "--force" in kept.stderr
    result = run_lwz(
        "write", REQUEST, "-o", "doc.md", "--json", "--force", *BASE, "--max-tokens", "30"
    )
    assert json.loads(result.stdout.splitlines()[0])["resumed"] is False


def test_restart_flag_and_different_request(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "checkpoint")
    kill9(proc)
    other = run_lwz("write", "Something else entirely.", "-o", "doc.md", *BASE)
    assert other.returncode == 2 and "different request" in other.stderr
    fresh = run_lwz(
        "write", REQUEST, "-o", "doc.md", "--json", "--restart", *BASE, "--max-tokens", "30"
    )
    assert fresh.returncode == 0
    assert json.loads(fresh.stdout.splitlines()[0])["resumed"] is False


def test_resume_errors(run_lwz, lwz_env, tmp_path, tiny_path):
    none = run_lwz("resume", "nothing.md")
    assert none.returncode == 2 and "no lwz run" in none.stderr
    model = tmp_path / "copy.gguf"
    model.write_bytes(tiny_path.read_bytes())
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lwz_cli",
            "write",
            REQUEST,
            "-o",
            "doc.md",
            "--json",
            "-m",
            str(model),
            "--max-tokens",
            "1400",
            "--strategy",
            "single",
        ],
        cwd=tmp_path,
        env=lwz_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events_until(proc, lambda e, s: e["event"] == "checkpoint")
    kill9(proc)
    other = tmp_path / "other.gguf"
    data = bytearray(tiny_path.read_bytes())
    data[-100] ^= 0xFF  # another file: same size, different bytes
    other.write_bytes(bytes(data))
    model.unlink()
    gone = run_lwz("resume", "doc.md")
    assert gone.returncode == 2 and "is gone" in gone.stderr
    different = run_lwz("resume", "doc.md", "-m", str(other))
    assert (
        different.returncode == 2 and "not the model this run was written with" in different.stderr
    )
    forced = run_lwz("resume", "doc.md", "-m", str(other), "--force", "--json")
    assert forced.returncode == 0, forced.stderr


def test_corrupt_journal_is_reported_and_kept(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "checkpoint")
    kill9(proc)
    directory = journal_dir(tmp_path, lwz_env)
    for slot in directory.glob("checkpoint-*.json"):
        slot.write_bytes(slot.read_bytes()[: len(slot.read_bytes()) // 2])
    result = run_lwz("resume", "doc.md")
    assert result.returncode == 2
    assert "damaged" in result.stderr and "Traceback" not in result.stderr
    assert list(directory.glob("checkpoint-*.json"))  # nothing destroyed
    manifest = directory / "manifest.json"
    manifest.write_text(manifest.read_text()[:-40])
    result = run_lwz("resume", "doc.md")
    assert result.returncode == 2 and "damaged" in result.stderr


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


def test_disk_full_while_checkpointing_keeps_the_last_checkpoint(run_lwz, lwz_env, tmp_path):
    small = tmp_path / "small"
    if os.geteuid() != 0 or not _mount_tmpfs(small, "64k"):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        env = dict(lwz_env, LWZ_HOME=str(small / "home"))
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lwz_cli",
                "write",
                REQUEST,
                "-o",
                str(small / "doc.md"),
                "-m",
                "tiny",
                "--seed",
                "11",
                "--max-tokens",
                "3000",
                "--ctx",
                "4096",
                "--no-kv-snapshot",
                "--strategy",
                "single",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 1, result.stderr
        assert "disk is full" in result.stderr and "previous checkpoint is intact" in result.stderr
        assert "Traceback" not in result.stderr
        from lwz_cli.journal import Journal

        journals = list((small / "home" / "data" / "runs").iterdir())
        cp = Journal(journals[0]).latest_checkpoint()
        assert cp is not None and cp.generated
        subprocess.run(["mount", "-o", "remount,size=16m", str(small)], check=True)
        resumed = subprocess.run(
            [sys.executable, "-m", "lwz_cli", "resume", str(small / "doc.md"), "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert (small / "doc.md").exists()
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_second_ctrl_c_exits_at_once_and_the_run_still_resumes(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: sum(x["event"] == "checkpoint" for x in s) >= 3)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    partial_file = tmp_path / "doc.md.partial"
    partial = partial_file.read_text() if partial_file.exists() else ""
    resume_and_check(run_lwz, tmp_path, lwz_env, partial)


def test_runs_lists_and_removes(run_lwz, lwz_env, tmp_path):
    proc = start(tmp_path, lwz_env)
    events_until(proc, lambda e, s: e["event"] == "checkpoint")
    kill9(proc)
    rows = json.loads(run_lwz("runs", "--json").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == "interrupted"  # its process is gone, though it never said so
    assert row["model"] and row["target_words"] == 1200 and row["words"] >= 0
    table = run_lwz("runs")
    assert "interrupted" in table.stdout and "lwz resume" in table.stdout
    removed = run_lwz("runs", "rm", "doc.md")
    assert removed.returncode == 0 and "freed" in removed.stderr
    assert json.loads(run_lwz("runs", "--json").stdout) == []
    missing = run_lwz("runs", "rm", "doc.md")
    assert missing.returncode == 2
