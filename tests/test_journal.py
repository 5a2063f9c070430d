"""Journal files: atomic, checksummed, A/B checkpoint slots, clear errors."""

import json

import pytest

from lwz_cli.errors import UsageError
from lwz_cli.journal import Checkpoint, Journal, JournalCorrupt, run_id_for
from lwz_cli.runstate import Manifest, RequestRecord


@pytest.fixture()
def journal(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "home"))
    return Journal.create(
        Manifest(output=str(tmp_path / "doc.md"), request=RequestRecord("x")), tmp_path / "doc.md"
    )


def test_run_is_found_by_output_path_and_by_id(journal, tmp_path):
    assert Journal.find(tmp_path / "doc.md").dir == journal.dir
    assert Journal.find(journal.dir.name).dir == journal.dir
    assert Journal.find(tmp_path / "other.md") is None
    assert run_id_for(tmp_path / "doc.md") == journal.dir.name


def test_checkpoints_alternate_slots_and_the_newest_wins(journal):
    for n in range(1, 4):
        journal.checkpoint(Checkpoint(seq=0, generated=list(range(n)), words=n))
    assert journal.latest_checkpoint().generated == [0, 1, 2]
    names = sorted(p.name for p in journal.dir.glob("checkpoint-*.json"))
    assert names == ["checkpoint-0.json", "checkpoint-1.json"]


def test_damaged_newest_checkpoint_falls_back_with_a_warning(journal):
    journal.checkpoint(Checkpoint(seq=0, generated=[1], words=1))
    journal.checkpoint(Checkpoint(seq=0, generated=[1, 2], words=2))
    newest = journal.dir / "checkpoint-0.json"  # seq 2 lands in slot 0
    data = json.loads(newest.read_text())
    data["data"]["generated"] = [9, 9]  # flipped bits: content no longer matches its sha256
    newest.write_text(json.dumps(data))
    fresh = Journal(journal.dir)
    cp = fresh.latest_checkpoint()
    assert cp.generated == [1]
    assert "checksum mismatch" in fresh.warnings[0]


def test_a_checkpoint_killed_before_its_rename_is_not_lost(journal):
    """kill -9 between the fsync'd temp file and the rename: the sealed temp is the
    newest state; an unfinished temp (what a kill mid-write leaves) is ignored."""
    journal.checkpoint(Checkpoint(seq=0, generated=[1], words=1))
    journal.checkpoint(Checkpoint(seq=0, generated=[1, 2], words=2))
    newest = journal.dir / "checkpoint-0.json"
    newest.rename(journal.dir / ".checkpoint-0.json.k9x.tmp")
    unfinished = journal.dir / ".checkpoint-1.json.zz.tmp"
    unfinished.write_bytes(b'{"sha256": "00", "da')
    fresh = Journal(journal.dir)
    assert fresh.latest_checkpoint().generated == [1, 2]
    assert fresh.warnings == []


def test_truncated_checkpoints_with_no_intact_slot_are_an_error(journal):
    journal.checkpoint(Checkpoint(seq=0, generated=[1, 2, 3]))
    slot = journal.dir / "checkpoint-1.json"
    slot.write_bytes(slot.read_bytes()[:20])
    with pytest.raises(JournalCorrupt, match=r"damaged.*no intact checkpoint"):
        Journal(journal.dir).latest_checkpoint()
    assert slot.exists()  # reported, not deleted


def test_manifest_from_a_newer_lwz_is_refused(journal, tmp_path):
    journal.manifest.format = 99
    journal.save_manifest()
    with pytest.raises(UsageError, match="newer lwz"):
        Journal.find(tmp_path / "doc.md")


def test_damaged_manifest_is_reported(journal, tmp_path):
    (journal.dir / "manifest.json").write_text('{"sha256": "0", "data": {}}')
    with pytest.raises(JournalCorrupt, match="checksum"):
        Journal.find(tmp_path / "doc.md")


def test_second_writer_is_refused(journal):
    journal.lock()
    try:
        assert journal.is_live()
        with pytest.raises(UsageError, match="another lwz"):
            Journal(journal.dir).lock()
    finally:
        journal.unlock()
    assert not journal.is_live()
