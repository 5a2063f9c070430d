"""Typed events: the `--json` contract of every event, and each view drawing each
type (no model, milliseconds)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from lwz_cli import events as ev
from lwz_cli.view import JsonLinesView, PlainView, QuietView
from lwz_cli.view.live import LiveView

START = ev.StartEvent(
    model="tiny",
    model_path="/m/tiny.gguf",
    protocol="chat",
    language="en",
    strategy="planned",
    strategy_reason="beyond one pass",
    target_words=1500,
    prompt_tokens=40,
    n_ctx=8192,
    max_tokens=6000,
    threads=2,
    gpu_layers=0,
    kv_type="f16",
    flash_attn=False,
    fit_reason="cpu",
    temperature=0.6,
    top_p=0.95,
    seed=5,
    kv_snapshot=True,
    output="doc.md",
    run="20261130-abc",
    resumed=False,
    resumed_tokens=0,
    resumed_words=0,
    endpoint=None,
)
PLAN = ev.PlanEvent(
    "Tomatoes", (ev.PlanEntry(1, "Soil", "pH, compost", 700), ev.PlanEntry(2, "Water", "", 800))
)
DONE_SINGLE = ev.DoneEvent(
    output="doc.md",
    words=310,
    target_words=300,
    generated_tokens=420,
    prompt_tokens_evaluated=40,
    decode_seconds=5.2,
    tokens_per_second=80.77,
    prefill_seconds=0.1,
    seconds=5.5,
    resumed=False,
    resumed_tokens=0,
    finish_reason="eos",
    repetition_rewinds=1,
    continuations=0,
    sections=3,
    think_chars=120,
    planned_sections=None,
    model="tiny",
    strategy="single",
)
DONE_PLANNED = ev.DoneEvent(
    output=None,
    words=1490,
    target_words=1500,
    generated_tokens=2100,
    prompt_tokens_evaluated=2300,
    decode_seconds=26.0,
    tokens_per_second=80.0,
    prefill_seconds=1.5,
    seconds=30.0,
    resumed=True,
    resumed_tokens=300,
    finish_reason="plan",
    repetition_rewinds=0,
    continuations=None,
    sections=3,
    think_chars=None,
    planned_sections=2,
    model="tiny",
    strategy="planned",
    token_counts="counted pieces",
)
JOB_END = ev.JobEndEvent(
    job="tea",
    output="out/tea.md",
    action="write",
    status="done",
    words=300,
    target_words=300,
    seconds=12.5,
    message="",
    endpoint=None,
)

# one instance of every event, and the keys its JSON has, in order
CONTRACT: list[tuple[ev.Event, list[str]]] = [
    (
        START,
        [
            "event",
            "model",
            "model_path",
            "protocol",
            "language",
            "strategy",
            "strategy_reason",
            "target_words",
            "prompt_tokens",
            "n_ctx",
            "max_tokens",
            "threads",
            "gpu_layers",
            "kv_type",
            "flash_attn",
            "fit_reason",
            "temperature",
            "top_p",
            "seed",
            "kv_snapshot",
            "output",
            "run",
            "resumed",
            "resumed_tokens",
            "resumed_words",
            "endpoint",
        ],
    ),
    (
        ev.WaitingEvent("waiting for the lwz writing a.md (pid 12) to finish", 12, "writing a.md"),
        ["event", "message", "pid", "holder"],
    ),
    (ev.ThinkEvent("hmm"), ["event", "text"]),
    (PLAN, ["event", "title", "sections", "source"]),
    (ev.SectionStartEvent(1, "Soil", 2), ["event", "index", "title", "level"]),
    (ev.SectionStartEvent(1, "Soil", 2, 700), ["event", "index", "title", "level", "budget"]),
    (ev.TextEvent("Tea is a drink. "), ["event", "text"]),
    (ev.SectionEndEvent(1, "Soil", 690), ["event", "index", "title", "words"]),
    (ev.SectionEndEvent(1, "Soil", 690, 700), ["event", "index", "title", "words", "budget"]),
    (ev.CheckpointEvent(120, 90, 1), ["event", "tokens", "words", "sections"]),
    (ev.WarningEvent("the document is short"), ["event", "message"]),
    (
        DONE_SINGLE,
        [
            "event",
            "output",
            "words",
            "target_words",
            "generated_tokens",
            "prompt_tokens_evaluated",
            "decode_seconds",
            "tokens_per_second",
            "prefill_seconds",
            "seconds",
            "resumed",
            "resumed_tokens",
            "finish_reason",
            "repetition_rewinds",
            "continuations",
            "sections",
            "think_chars",
            "model",
            "strategy",
            "cut_words",
            "memory_tokens",
        ],
    ),
    (
        DONE_PLANNED,
        [
            "event",
            "output",
            "words",
            "target_words",
            "generated_tokens",
            "prompt_tokens_evaluated",
            "decode_seconds",
            "tokens_per_second",
            "prefill_seconds",
            "seconds",
            "resumed",
            "resumed_tokens",
            "finish_reason",
            "repetition_rewinds",
            "sections",
            "planned_sections",
            "model",
            "strategy",
            "token_counts",
            "cut_words",
            "memory_tokens",
        ],
    ),
    (ev.ErrorEvent("no model", 2), ["event", "message", "exit_code"]),
    (ev.LoadingEvent(), ["event", "phase"]),
    (ev.ResumedEvent(400, "...tail"), ["event", "phase", "words", "draft_tail", "tokens"]),
    (
        ev.ResumedEvent(400, "...tail", think_tail="thought"),
        ["event", "phase", "draft_tail", "think_tail", "words", "tokens"],
    ),
    (
        ev.TickEvent("answer", 200, 150, 2.5),
        ["event", "phase", "tokens", "words", "decode_seconds"],
    ),
    (
        ev.JobEvent("tea", "out/tea.md", "write", "new", 300, "a note on tea"),
        ["event", "job", "output", "action", "reason", "words", "prompt", "model"],
    ),
    (
        ev.JobStartEvent("tea", "out/tea.md", "write", "new"),
        ["event", "job", "output", "action", "reason"],
    ),
    (
        JOB_END,
        [
            "event",
            "job",
            "output",
            "action",
            "status",
            "words",
            "target_words",
            "seconds",
            "message",
            "endpoint",
        ],
    ),
    (
        ev.BatchEvent(jobs=1, done=1, skipped=0, failed=0, interrupted=False, results=(JOB_END,)),
        ["event", "jobs", "done", "skipped", "failed", "interrupted", "results"],
    ),
    (
        ev.DownloadEvent("m.gguf", 10, 100, 5.0, 0, 0),
        ["event", "file", "done", "total", "rate", "resumed_from", "offset"],
    ),
    (ev.PulledEvent("/hf/m.gguf", 100), ["event", "path", "size"]),
]


@pytest.mark.parametrize("event,keys", CONTRACT, ids=lambda x: type(x).__name__)
def test_to_json_keys_and_order(event, keys):
    out = event.to_json()
    assert list(out) == keys
    assert json.loads(json.dumps(out)) == out  # plain JSON values only


def test_every_event_class_is_in_the_contract():
    covered = {type(e) for e, _ in CONTRACT}
    defined = {
        cls
        for cls in vars(ev).values()
        if isinstance(cls, type)
        and issubclass(cls, ev.Event)
        and cls.NAME
        and cls is not ev.ProgressEvent
    }
    assert defined - covered == set()


def test_values_are_today_s():
    assert ev.LoadingEvent().to_json() == {"event": "progress", "phase": "loading"}
    assert ev.ResumedEvent(4, "x").to_json() == {
        "event": "progress",
        "phase": "resumed",
        "words": 4,
        "draft_tail": "x",
        "tokens": 0,
    }
    assert PLAN.to_json()["sections"] == [
        {"index": 1, "title": "Soil", "points": "pH, compost", "budget": 700},
        {"index": 2, "title": "Water", "points": "", "budget": 800},
    ]
    assert DONE_PLANNED.to_json()["output"] is None  # None kept where today writes null
    summary = ev.BatchEvent(1, 1, 0, 0, False, (JOB_END,)).to_json()
    assert summary["results"] == [{k: v for k, v in JOB_END.to_json().items() if k != "event"}]
    assert ev.PulledEvent("p", 1).to_json()["event"] == "done"


def test_events_are_frozen_and_slotted():
    text = ev.TextEvent("a")
    with pytest.raises(AttributeError):
        text.text = "b"  # type: ignore[misc]
    assert not hasattr(text, "__dict__")


def test_a_tick_is_counted_from_the_document_start():
    tick = ev.TickEvent("answer", 10, 8, 0.5)
    moved = tick.offset(words=100, tokens=200, decode_seconds=2.0)
    assert moved == ev.TickEvent("answer", 210, 108, 2.5) and tick.words == 8


# -- views -----------------------------------------------------------------------------------

RUN = [
    START,
    ev.LoadingEvent(),
    ev.TickEvent("planning", 5, 0, 0.1),
    PLAN,
    ev.SectionStartEvent(1, "Soil", 2, 700),
    ev.TextEvent("## Soil\n\nLoam holds water. "),
    ev.TickEvent("answer", 50, 40, 1.0),
    ev.SectionEndEvent(1, "Soil", 690, 700),
    ev.CheckpointEvent(60, 690, 1),
    ev.WarningEvent("the model stopped early"),
    DONE_PLANNED,
]


def test_json_view_writes_the_contract_and_drops_progress():
    out = io.StringIO()
    view = JsonLinesView(out)
    for event in RUN:
        view(event)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [e.to_json() for e in RUN if not isinstance(e, ev.ProgressEvent)]
    assert [line["event"] for line in lines] == [
        "start",
        "plan",
        "section_start",
        "text",
        "section_end",
        "checkpoint",
        "warning",
        "done",
    ]


def test_json_view_keeps_non_ascii():
    out = io.StringIO()
    JsonLinesView(out)(ev.TextEvent("茶是一种饮料。"))
    assert "茶是一种饮料。" in out.getvalue()


def test_plain_view_lines():
    out = io.StringIO()
    view = PlainView(out)
    for event in RUN:
        view(event)
    assert out.getvalue().splitlines() == [
        "lwz: writing with tiny (ctx 8192, 2 threads, target 1,500 words)",
        "lwz: strategy planned: beyond one pass",
        "lwz: loading the model",
        "lwz: planning the outline",
        "lwz: plan: 2 sections",
        "lwz:    1. Soil (700 words)",
        "lwz:    2. Water (800 words)",
        "lwz: section 1: Soil (700 words)",
        "lwz: writing the document",
        "lwz: warning: the model stopped early",
        "lwz: done: 1,490 / 1,500 words in 30s, 2,100 tokens at 80.0 tok/s",
    ]


def test_plain_view_resumed_and_periodic_report(monkeypatch):
    monkeypatch.setattr("lwz_cli.view.plain.REPORT_EVERY", -1.0)  # a report line every event
    out = io.StringIO()
    view = PlainView(out)
    view(ev.ResumedEvent(1234, "tail"))
    view(ev.TickEvent("answer", 400, 1300, 5.0))
    assert out.getvalue().splitlines() == [
        "lwz: resumed: 1,234 words were already written",
        "lwz: 1,234 words, 0 tokens, 0.0 tok/s",
        "lwz: writing the document",
        "lwz: 1,300 words, 400 tokens, 80.0 tok/s",
    ]


def test_quiet_view_shows_warnings_only():
    out = io.StringIO()
    view = QuietView(out)
    for event in RUN:
        view(event)
    assert out.getvalue() == "lwz: warning: the model stopped early\n"


def test_live_view_draws_each_type():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, height=40, color_system=None)
    view = LiveView(console)
    for event in [*RUN[:-1], ev.ThinkEvent("Soil first, then water.")]:
        view(event)
    assert (view.phase, view.words, view.tokens) == ("answer", 40, 50)
    assert view.planned[2].title == "Water" and view.sections[0][3] == 690
    view(DONE_PLANNED)
    view.close()
    screen = out.getvalue()
    for shown in (
        "lwz tiny",
        "doc.md",
        "Soil first, then water.",
        "Loam holds water.",
        "Water",
        "690 / 700",
        "warning: the model stopped early",
        "done",
        "1,490 / 1,500",
    ):
        assert shown in screen, shown


def test_live_view_shows_a_resumed_tail():
    console = Console(file=io.StringIO(), force_terminal=True, width=80, height=30)
    view = LiveView(console, attach=False)
    view(ev.ResumedEvent(900, "...the last lines before the stop.", think_tail="old thought"))
    assert view.phase == "resumed" and view.words == 900
    assert view.draft.text.endswith("before the stop.") and view.think.text == "old thought"


def test_batch_json_view_tags_every_event_with_its_job(capsys):
    from lwz_cli.recipes import Job
    from lwz_cli.view.batch import BatchView

    job = Job(
        id="tea",
        index=1,
        prompt="a note on tea",
        output=Path("out/tea.md"),
        relpath="tea.md",
        words=300,
        model=None,
        strategy=None,
        params={},
        endpoint=(),
        recipe="notes",
        source=Path("notes.yaml"),
    )
    view = BatchView(1, json_mode=True, quiet=False)
    view(job, ev.JobStartEvent("tea", "out/tea.md", "write", "new"))
    view(job, ev.TickEvent("answer", 5, 4, 0.1))  # a tick is for the live views only
    view(None, ev.WarningEvent("dropping endpoint"))
    view(job, JOB_END)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["event"], line["job"]) for line in lines] == [
        ("job_start", "tea"),
        ("warning", None),
        ("job_end", "tea"),
    ]
    assert list(lines[0]) == ["event", "job", "output", "action", "reason"]  # "job" keeps its place
    assert list(lines[1])[-1] == "job" and view.finished == 1
