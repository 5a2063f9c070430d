"""`lwz runs` and `lwz runs rm` over journals built with the Journal API (no model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from lwz_cli.journal import Journal
from lwz_cli.runstate import BatchRecord, Checkpoint, Manifest, RequestRecord, RunStatus


def _journal(output: Path, *, target: int = 600) -> Journal:
    manifest = Manifest(request=RequestRecord(prompt="tea", target_words=target))
    manifest.model = {"name": "tiny"}
    manifest.output = str(output)
    return Journal.create(manifest, output)


def test_a_killed_run_lists_the_words_of_its_last_checkpoint(lwz, tmp_path):
    # kill -9: checkpoints were written, the manifest still says what it said at start
    journal = _journal(tmp_path / "tea.md")
    journal.checkpoint(Checkpoint(seq=0, generated=[1, 2, 3], words=251))
    journal.checkpoint(Checkpoint(seq=0, generated=[1, 2, 3, 4], words=263))

    rows = json.loads(lwz("runs", "--json").stdout)
    assert [(r["status"], r["words"], r["target_words"]) for r in rows] == [
        ("interrupted", 263, 600)
    ]
    table = lwz("runs").stdout
    assert "263 / 600" in table and "0 / 600" not in table
    # piped: one row per line, the path and the command whole (copyable)
    row = next(line for line in table.splitlines() if "interrupted" in line)
    assert row.split()[-3:] == ["lwz", "resume", str(tmp_path / "tea.md")]


def test_a_run_stopped_cleanly_lists_the_words_its_manifest_recorded(lwz, tmp_path):
    journal = _journal(tmp_path / "tea.md")
    journal.checkpoint(Checkpoint(seq=0, generated=[1, 2, 3], words=240))
    journal.set_status(RunStatus.INTERRUPTED, words=251)  # the interrupt handler, after it
    assert json.loads(lwz("runs", "--json").stdout)[0]["words"] == 251


def _finished(output: Path, *, batch: bool) -> Journal:
    journal = _journal(output)
    if batch:
        journal.manifest = replace(
            journal.manifest, batch=BatchRecord(fingerprint="f", recipe="r.yaml", job="j1")
        )
    journal.set_status(RunStatus.DONE, words=600, finished=1.0)
    return journal


def test_rm_finished_keeps_what_a_batch_rerun_needs_and_says_so(lwz, tmp_path):
    plain = _finished(tmp_path / "plain.md", batch=False)
    job = _finished(tmp_path / "job.md", batch=True)

    result = lwz("runs", "rm", "--finished")
    assert result.returncode == 0
    assert not plain.dir.exists() and job.dir.exists()
    assert f"removed the done run of {tmp_path / 'plain.md'} (" in result.stderr
    assert "kept 1 finished batch run" in result.stderr and "--batch" in result.stderr
    assert "0.0 MB" not in result.stderr and " B" in result.stderr

    assert lwz("runs", "rm", "--finished", "--batch").returncode == 0
    assert not job.dir.exists()


def test_rm_removes_a_batch_run_the_user_names(lwz, tmp_path):
    job = _finished(tmp_path / "job.md", batch=True)
    result = lwz("runs", "rm", str(tmp_path / "job.md"))
    assert result.returncode == 0 and not job.dir.exists()
    assert "kept" not in result.stderr


def test_readable_sizes():
    from lwz_cli.view.format import human_size

    assert [human_size(n) for n in (1, 812, 4_100, 2_345_678, 1_500_000_000)] == [
        "1 B",
        "812 B",
        "4.0 KiB",
        "2.2 MiB",
        "1.4 GiB",
    ]
