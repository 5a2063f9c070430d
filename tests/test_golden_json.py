"""The `--json` stream is a contract: a fixed-seed `tiny` run must give the same events,
with the same fields, in the same order, as the golden files recorded from the 0.1.0 code
before the issue-12 restructuring (tests/fixtures/golden/, made by `lwz write ... --json`
with the arguments below)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
RUNS = {
    "single": ["Write a 300-word note on green tea.", "--strategy", "single", "-o", "single.md"],
    "planned": [
        "Write a 600-word guide to green tea, with sections.",
        "--strategy",
        "planned",
        "-o",
        "planned.md",
    ],
}
# measured values that differ from run to run (time, and paths on another machine)
VARIABLE = {
    "decode_seconds",
    "tokens_per_second",
    "prefill_seconds",
    "seconds",
    "model_path",
    "threads",
    "elapsed",
    "eta_seconds",
    "run",
    "fit_reason",
}
# (`run` is named from the absolute output path; `fit_reason` quotes the free RAM)


# `checkpoint` events also come every CHECKPOINT_INTERVAL seconds, so where they fall
# depends on the machine's speed: compared by their fields, not their positions.
TIMED = "checkpoint"


def shape(lines: list[str]) -> list[tuple[str, list[str]]]:
    return [(e["event"], list(e)) for e in map(json.loads, lines) if e["event"] != TIMED]


def stable(lines: list[str]) -> list[dict]:
    return [
        {k: v for k, v in e.items() if k not in VARIABLE}
        for e in map(json.loads, lines)
        if e["event"] != TIMED
    ]


def timed_fields(lines: list[str]) -> set[tuple[str, ...]]:
    return {tuple(e) for e in map(json.loads, lines) if e["event"] == TIMED}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_json_stream_matches_the_golden_file(name, run_lwz):
    result = run_lwz("write", *RUNS[name], "-m", "tiny", "--seed", "7", "--json")
    assert result.returncode == 0, result.stderr
    got = result.stdout.splitlines()
    want = (GOLDEN / f"golden-{name}.jsonl").read_text().splitlines()
    assert shape(got) == shape(want)  # event names, their fields, and their order
    assert stable(got) == stable(want)  # and, at a fixed seed, the same text and counts
    assert timed_fields(got) == timed_fields(want)
