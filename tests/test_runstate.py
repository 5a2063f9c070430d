"""Typed run state: journals written by lwz 0.1 (format 1) load, resume-ready, and
save back unchanged; keys lwz does not know survive; a newer format is refused."""

import copy
import hashlib
import json

import pytest

from lwz_cli.errors import UsageError
from lwz_cli.journal import MANIFEST, SLOTS, Journal, JournalCorrupt
from lwz_cli.runstate import (
    UNFINISHED,
    BatchRecord,
    Checkpoint,
    Manifest,
    PlannedState,
    RunStatus,
    RunTotals,
    WrittenSection,
)
from lwz_cli.writing.plan import Plan, Section


def legacy_manifest(**changes) -> dict:
    """A manifest as lwz 0.1 writes it (Journal.create over session.manifest_for, then
    set_status), for a planned run through the in-process engine."""
    data = {
        "format": 1,
        "lwz_version": "0.1.0",
        "id": "guide.md-0123456789",
        "created": 1764490000.5,
        "updated": 1764490100.25,
        "status": "interrupted",
        "output": "/home/u/guide.md",
        "request": {
            "prompt": "Write a 2000-word guide to tea.",
            "words": None,
            "target_words": 2000,
            "stated_words": 2000,
            "strategy": "planned",
            "strategy_asked": "auto",
            "strategy_reason": "2,000 words: beyond one pass",
            "max_tokens": 5200,
            "max_tokens_flag": None,
        },
        "prompt": {
            "text": "<|im_start|>user\nWrite...",
            "stop": ["<|im_end|>"],
            "protocol": "chat",
            "language": "en",
            "add_bos": False,
            "tokens": [1, 2, 3, 4],
            "bos": "<|im_start|>",
            "eos": "<|im_end|>",
        },
        "sampling": {
            "temperature": 0.6,
            "top_p": 0.95,
            "top_k": 40,
            "min_p": 0.05,
            "repeat_penalty": 1.0,
            "seed": 7,
        },
        "engine": {"n_ctx": 8192, "gpu_layers": 0, "kv_type": "f16", "threads": 2},
        "model": {
            "spec": "tiny",
            "name": "tiny",
            "alias": "tiny",
            "repo_id": None,
            "path": "/models/tiny.gguf",
            "size": 1234,
            "fingerprint": "ab" * 16,
            "sha256": None,
        },
        "words": 812,
    }
    data.update(changes)
    return data


def legacy_planned_checkpoint() -> dict:
    """A planned run's checkpoint as lwz 0.1 writes it: the common fields plus
    PlannedRun._state(), flat."""
    return {
        "seq": 5,
        "generated": [10, 11, 12],
        "words": 812,
        "sections_done": 2,
        "time": 1764490099.0,
        "strategy": "planned",
        "phase": "sections",
        "plan": {
            "title": "Tea",
            "sections": [
                {"title": "Leaves", "points": "kinds", "budget": 700},
                {"title": "Water", "points": "", "budget": 600},
                {"title": "Brewing", "points": "time", "budget": 700},
            ],
            "planned_count": 3,
        },
        "done": [
            {"title": "Leaves", "chunk": "## Leaves\n\nGreen.\n\n", "words": 2},
            {"title": "Water", "chunk": "## Water\n\nSoft.\n\n", "words": 2},
        ],
        "index": 2,
        "base": [1, 2, 3, 4, 50, 51],
        "context": [1, 2, 3, 4, 50, 51, 60],
        "heading": "## Brewing\n\n",
        "continuations": 1,
        "totals": {
            "evaluated": 900,
            "decode": 12.5,
            "prefill": 3.25,
            "new": 640,
            "rewinds": 0,
            "generated": 700,
            "prompt": 1200,
        },
    }


def sealed(data: dict) -> bytes:
    """A journal file as lwz 0.1 seals it: the sha256 of the compact, sorted JSON."""
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return (
        json.dumps({"sha256": digest, "data": data}, ensure_ascii=False, sort_keys=True) + "\n"
    ).encode("utf-8")


def write_journal(directory, manifest: dict, checkpoint: dict | None) -> None:
    (directory / "sections").mkdir(parents=True)
    (directory / MANIFEST).write_bytes(sealed(manifest))
    if checkpoint is not None:
        (directory / SLOTS[checkpoint["seq"] % 2]).write_bytes(sealed(checkpoint))


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LWZ_HOME", str(tmp_path / "home"))
    from lwz_cli.journal import runs_dir

    return runs_dir()


def test_status_values_are_the_words_journals_and_lwz_runs_use():
    assert [s.value for s in RunStatus] == ["running", "interrupted", "done", "failed", "damaged"]
    assert RunStatus.DONE == "done" and f"{RunStatus.FAILED}" == "failed"
    assert json.dumps({"status": RunStatus.INTERRUPTED}) == '{"status": "interrupted"}'
    assert set(UNFINISHED) == {"running", "interrupted", "failed"}
    assert RunStatus.FAILED.resumable and not RunStatus.DONE.resumable


def test_a_legacy_manifest_loads_typed_and_writes_back_unchanged():
    data = legacy_manifest()
    manifest = Manifest.from_json(copy.deepcopy(data))
    assert manifest.status is RunStatus.INTERRUPTED
    assert manifest.request.target_words == 2000 and manifest.request.strategy_asked == "auto"
    assert manifest.prompt.tokens == [1, 2, 3, 4] and manifest.prompt.add_bos is False
    assert manifest.engine.n_ctx == 8192 and manifest.sampling["seed"] == 7
    assert manifest.model["fingerprint"] == "ab" * 16 and manifest.endpoint is None
    assert manifest.words == 812 and manifest.finished is None
    assert manifest.to_json() == data


def test_endpoint_batch_and_finish_fields_round_trip():
    data = legacy_manifest(
        status="done",
        finished=1764490200.0,
        endpoint={
            "url": "http://h:8080",
            "urls": ["http://h:8080"],
            "model": "m",
            "n_ctx": 8192,
            "server": "llama.cpp",
            "local_model": False,
        },
        batch={"fingerprint": "f" * 16, "recipe": "tea.yaml", "job": "tea/guide.md"},
    )
    manifest = Manifest.from_json(copy.deepcopy(data))
    assert manifest.batch == BatchRecord("f" * 16, "tea.yaml", "tea/guide.md")
    assert manifest.endpoint["url"] == "http://h:8080"
    assert manifest.to_json() == data


def test_a_run_from_before_strategy_asked_was_recorded_keeps_it_absent():
    data = legacy_manifest()
    del data["request"]["strategy_asked"]
    manifest = Manifest.from_json(copy.deepcopy(data))
    assert manifest.request.strategy_asked is None
    assert manifest.to_json() == data


def test_unknown_keys_survive_a_journal_load_and_save(runs):
    data = legacy_manifest(chat={"undo": 3})
    data["request"]["outline_file"] = "guide.outline.md"
    data["engine"]["rope"] = 2.0
    directory = runs / "guide.md-0123456789"
    write_journal(directory, data, None)
    journal = Journal(directory)
    journal.load_manifest()
    journal.set_status(RunStatus.RUNNING, words=900)
    again = Journal(directory).load_manifest().to_json()
    assert again["chat"] == {"undo": 3}
    assert again["request"]["outline_file"] == "guide.outline.md"
    assert again["engine"]["rope"] == 2.0
    assert again["status"] == "running" and again["words"] == 900


def test_a_manifest_from_a_newer_lwz_is_refused_with_the_upgrade_hint(runs):
    directory = runs / "guide.md-0123456789"
    write_journal(directory, legacy_manifest(format=2, lwz_version="9.0", future={"x": 1}), None)
    with pytest.raises(
        UsageError, match=r"written by a newer lwz \(9.0, journal format 2\)"
    ) as info:
        Journal(directory).load_manifest()
    assert info.value.hint == "upgrade lwz to resume it"


def test_a_manifest_missing_a_field_is_damaged_and_listed_as_such(runs):
    data = legacy_manifest()
    del data["prompt"]
    directory = runs / "guide.md-0123456789"
    write_journal(directory, data, None)
    with pytest.raises(JournalCorrupt, match=r"damaged.*prompt"):
        Journal(directory).load_manifest()
    [listed] = Journal.all()
    assert listed.manifest.status is RunStatus.DAMAGED and "prompt" in listed.manifest.error


def test_a_legacy_planned_checkpoint_loads_typed_and_writes_back_unchanged():
    data = legacy_planned_checkpoint()
    cp = Checkpoint.from_json(copy.deepcopy(data))
    state = cp.planned
    assert state is not None and state.phase == "sections" and state.index == 2
    assert state.plan == Plan(
        "Tea",
        [
            Section("Leaves", "kinds", 700),
            Section("Water", "", 600),
            Section("Brewing", "time", 700),
        ],
        3,
    )
    assert state.done[1] == WrittenSection("Water", "## Water\n\nSoft.\n\n", 2)
    assert state.totals.generated == 700 and state.totals.rewritten == 0
    assert state.heading == "## Brewing\n\n" and state.context[-1] == 60
    assert cp.unknown == {}
    assert cp.to_json() == data


def test_a_checkpoint_still_writing_the_outline_round_trips():
    data = legacy_planned_checkpoint()
    data.update(
        phase="plan", plan=None, done=[], index=0, base=[1, 2, 3, 4], heading="", continuations=0
    )
    data["totals"]["rewritten"] = 2  # a chat redo was counted
    cp = Checkpoint.from_json(copy.deepcopy(data))
    assert cp.planned.plan is None and cp.planned.totals.rewritten == 2
    assert cp.to_json() == data


def test_a_single_run_checkpoint_has_no_planned_state_and_keeps_unknown_keys():
    data = {
        "seq": 3,
        "generated": [5, 6],
        "words": 2,
        "sections_done": 0,
        "time": 1.5,
        "think_chars": 40,
    }
    cp = Checkpoint.from_json(copy.deepcopy(data))
    assert cp.planned is None and cp.unknown == {"think_chars": 40}
    assert cp.to_json() == data


def test_a_legacy_journal_on_disk_gives_the_run_back(runs):
    directory = runs / "guide.md-0123456789"
    write_journal(directory, legacy_manifest(), legacy_planned_checkpoint())
    journal = Journal.find("guide.md-0123456789")
    assert journal is not None and journal.manifest.status.resumable
    cp = journal.latest_checkpoint()
    assert cp.seq == 5 and cp.generated == [10, 11, 12] and journal.warnings == []
    assert [d.title for d in cp.planned.done] == ["Leaves", "Water"]
    # the next checkpoint goes to the other slot, with the same state, sealed the same way
    journal.checkpoint(cp)
    newer = Journal(directory).latest_checkpoint()
    assert newer.seq == 6 and newer.planned == cp.planned
    written = json.loads((directory / SLOTS[0]).read_text())["data"]
    assert (directory / SLOTS[0]).read_bytes() == sealed(written)
    assert written == dict(legacy_planned_checkpoint(), seq=6, time=written["time"])


def test_a_checkpoint_missing_a_field_falls_back_to_the_other_slot(runs):
    directory = runs / "guide.md-0123456789"
    older = legacy_planned_checkpoint()
    newer = dict(older, seq=6)
    del newer["phase"]
    write_journal(directory, legacy_manifest(), older)
    (directory / SLOTS[0]).write_bytes(sealed(newer))
    journal = Journal(directory)
    assert journal.latest_checkpoint().seq == 5
    assert "phase" in journal.warnings[0] and "previous checkpoint (#5)" in journal.warnings[0]


def test_a_new_planned_state_serialises_as_lwz_0_1_reads_it():
    state = PlannedState(
        phase="sections",
        plan=Plan("T", [Section("A", "", 100)], 1),
        done=[WrittenSection("A", "## A\n\nx\n\n", 1)],
        index=1,
        base=None,
        context=None,
        heading="",
        continuations=0,
        totals=RunTotals(evaluated=5, generated=9, prompt=5),
    )
    data = Checkpoint(seq=1, generated=[], planned=state).to_json()
    # lwz 0.1's restore() reads these keys with these types
    assert data["strategy"] == "planned" and data["plan"]["sections"][0]["budget"] == 100
    assert data["done"] == [{"title": "A", "chunk": "## A\n\nx\n\n", "words": 1}]
    assert data["totals"] == {
        "evaluated": 5,
        "decode": 0.0,
        "prefill": 0.0,
        "new": 0,
        "rewinds": 0,
        "generated": 9,
        "prompt": 5,
    }
