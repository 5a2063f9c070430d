"""`lwz batch` end to end on the real tiny model: a recipe runs, a rerun skips what
is done, a changed prompt regenerates, a batch killed mid-job resumes, and bad
recipes or escaping outputs stop everything before any job starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECIPE = """\
name: tea-notes
model: tiny
words: 120
params: {{seed: 3, max_tokens: 400}}
prompt: "Write a {{words}}-word note about {{tea}} tea{extra}."
output: "notes/{{tea}}.md"
items:
  - {{tea: green}}
  - {{tea: black, words: 90}}
"""


def _recipe(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "tea.yaml"
    path.write_text(RECIPE.format(extra=extra))
    return path


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_batch_runs_then_skips_then_regenerates(tmp_path, run_lwz):
    recipe = _recipe(tmp_path)
    first = run_lwz("batch", str(recipe), "--json")
    assert first.returncode == 0, first.stderr
    summary = _events(first.stdout)[-1]
    assert summary["event"] == "batch" and summary["done"] == 2 and summary["failed"] == 0
    green, black = tmp_path / "notes" / "green.md", tmp_path / "notes" / "black.md"
    assert green.read_text().strip() and black.read_text().strip()
    assert all(e.get("job") for e in _events(first.stdout)[:-1])  # every event names its job
    assert "tea-notes/notes/green.md" in first.stderr and "done" in first.stderr  # summary table
    before = green.stat().st_mtime_ns

    again = run_lwz("batch", str(recipe), "--json")
    assert again.returncode == 0, again.stderr
    results = _events(again.stdout)[-1]["results"]
    assert [r["status"] for r in results] == ["skipped", "skipped"]
    assert green.stat().st_mtime_ns == before

    changed = _recipe(tmp_path, extra=" for a beginner")
    third = run_lwz("batch", str(changed), "--only", "green*")
    assert third.returncode == 0, third.stderr
    assert "regenerating: the prompt changed" in third.stderr
    assert green.stat().st_mtime_ns != before

    dry = run_lwz("batch", str(changed), "--dry-run", "--json")
    actions = {e["job"]: e["action"] for e in _events(dry.stdout)}
    assert actions == {"tea-notes/notes/green.md": "skip", "tea-notes/notes/black.md": "regenerate"}


@pytest.mark.slow
def test_batch_killed_mid_job_resumes(tmp_path, lwz_env):
    recipe = tmp_path / "long.yaml"
    recipe.write_text(
        "name: long\nmodel: tiny\nstrategy: planned\nparams: {seed: 4}\n"
        "prompt: 'Write a {words}-word essay on {topic}.'\n"
        "output: '{topic}.md'\nwords: 600\nitems:\n  - {topic: rivers}\n"
    )
    cmd = [sys.executable, "-m", "lwz_cli", "batch", str(recipe), "--json"]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=lwz_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    for line in proc.stdout:  # wait for the first section's checkpoint, then kill -9
        event = json.loads(line)
        if (
            event["event"] == "checkpoint" and event.get("sections", 0) >= 1
        ) or time.monotonic() > deadline:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = tmp_path / "rivers.md.partial"
    assert partial.exists() and not (tmp_path / "rivers.md").exists()
    held = partial.read_text()

    rerun = subprocess.run(
        cmd, cwd=tmp_path, env=lwz_env, capture_output=True, text=True, timeout=400
    )
    assert rerun.returncode == 0, rerun.stderr
    events = _events(rerun.stdout)
    start = next(e for e in events if e["event"] == "job_start")
    assert start["action"] == "resume"
    assert (tmp_path / "rivers.md").read_text().startswith(held.strip())


def test_invalid_recipes_stop_before_any_job(tmp_path, lwz):
    good = _recipe(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nprompt: 'x {topic}'\noutput: '../{topic}.md'\nitems:\n  - {topic: a}\n"
    )
    result = lwz("batch", str(good), str(bad))
    assert result.returncode == 2
    assert f"{bad}:3:9:" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "notes").exists()  # the good recipe did not start either

    typo = tmp_path / "typo.yaml"
    typo.write_text("name: t\npromt: 'x'\noutput: 'x.md'\n")
    result = lwz("batch", str(typo))
    assert result.returncode == 2 and "did you mean 'prompt'" in result.stderr

    result = lwz("batch", str(good), "--jobs", "2")
    assert result.returncode == 2 and "--jobs 2 needs --endpoint" in result.stderr
    result = lwz("batch", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.slow
def test_failing_job_exit_1_and_continue_on_error(tmp_path, run_lwz):
    recipe = tmp_path / "mixed.yaml"
    recipe.write_text(
        "name: mixed\nmodel: tiny\nparams: {seed: 1, max_tokens: 200}\n"
        "prompt: 'Write a short note about {topic}. {detail}'\noutput: 'out/{topic}.md'\n"
        "items:\n  - {topic: huge, detail: '" + "tea " * 12000 + "'}\n"
        "  - {topic: tea, detail: ''}\n"
    )  # item 1's request overflows the context
    stop = run_lwz("batch", str(recipe), "--json")
    assert stop.returncode == 1
    statuses = [r["status"] for r in _events(stop.stdout)[-1]["results"]]
    assert statuses == ["failed", "not run"]
    go_on = run_lwz("batch", str(recipe), "--continue-on-error", "--json")
    assert go_on.returncode == 1
    statuses = [r["status"] for r in _events(go_on.stdout)[-1]["results"]]
    assert statuses == ["failed", "done"]
    assert (tmp_path / "out" / "tea.md").exists()
    errors = [e for e in _events(go_on.stdout) if e["event"] == "error"]
    assert len(errors) == 1 and errors[0]["job"] == "mixed/out/huge.md"

    # a model that is not here is found before any job starts
    recipe.write_text(
        recipe.read_text().replace("{topic: tea,", "{topic: tea, model: /no/such.gguf,")
    )
    result = run_lwz("batch", str(recipe))
    assert result.returncode == 2 and f"{recipe}:8: model '/no/such.gguf'" in result.stderr


@pytest.mark.slow
def test_batch_on_a_terminal_shows_the_jobs_bar_and_the_running_job(tmp_path, lwz_env):
    from test_chat import Terminal

    recipe = _recipe(tmp_path)
    env = {**lwz_env, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "40"}
    term = Terminal(["batch", str(recipe)], env, tmp_path)
    term.expect(r"jobs .*0/2", 60)  # the overall bar
    term.expect(r"tea-notes/notes/green\.md:", 60)  # the running job's own live view...
    term.expect(r"words", 60)
    term.expect(r"lwz batch", 120)  # ...then the summary table
    assert term.wait() == 0
    assert "done" in term.seen[term.pos :] or "done" in term.seen
