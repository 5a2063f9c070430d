"""The live and plain views as a newcomer reads them at 80 columns: the draft
wraps at word boundaries, the words counter counts only the document, the last
line names where the document goes, and Chinese runs count in 字."""

from __future__ import annotations

import io
import re
from dataclasses import replace

from rich.cells import cell_len
from rich.console import Console

import test_events
from lwz_cli import events as ev
from lwz_cli.view import PlainView
from lwz_cli.view.live import LiveView

START = replace(test_events.START, output="guide.md")
WORDS = [
    "steeping",
    "temperature",
    "matters",
    "because",
    "delicate",
    "leaves",
    "scorch",
    "in",
    "boiling",
    "water",
    "while",
    "robust",
    "oolongs",
    "unfurl",
    "slowly",
    "and",
    "reward",
    "patience",
    "with",
    "layered",
    "aromatics",
]


def prose(count: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(count))


def screen(view: LiveView, width: int = 80) -> list[str]:
    """The view drawn once on an 80-column terminal, as lines of text."""
    out = io.StringIO()
    console = Console(file=out, width=width, height=40, color_system=None, legacy_windows=False)
    console.print(view.render())
    return out.getvalue().rstrip("\n").split("\n")


def live(width: int = 80) -> LiveView:
    console = Console(file=io.StringIO(), width=width, height=40, color_system=None)
    return LiveView(console, attach=False)


def status(lines: list[str]) -> str:
    """The status line under the draft panel (it wraps, at word boundaries, at 80 columns)."""
    end = max(i for i, line in enumerate(lines) if line.startswith("╰"))
    return " ".join(line.strip() for line in lines[end + 1 :])


def draft_rows(lines: list[str]) -> list[str]:
    """The rows inside the draft panel, borders stripped."""
    start = next(i for i, line in enumerate(lines) if "draft" in line and "╭" in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("╰"):
            break
        rows.append(line.strip("│").strip())
    return rows


def test_the_draft_tail_wraps_at_word_boundaries():
    view = live()
    view(START)
    text = prose(600)
    for i in range(0, len(text), 37):  # arrives in pieces that end mid-word
        view(ev.TextEvent(text[i : i + 37]))
    rows = [row for row in draft_rows(screen(view)) if row]
    assert len(rows) >= 10
    for row in rows:
        assert set(row.split()) <= set(WORDS), row  # every word on a row is whole


def test_a_word_longer_than_a_row_and_cjk_text_may_break_anywhere():
    from lwz_cli.view.format import wrap_line

    assert wrap_line("x" * 50, 20) == ["x" * 20, "x" * 20, "x" * 10]
    chinese = "绿茶的冲泡温度很重要，因为嫩叶在沸水中会被烫伤。" * 4
    rows = wrap_line(chinese, 30)
    assert "".join(rows) == chinese and all(cell_len(row) <= 30 for row in rows)
    assert [cell_len(row) for row in rows[:-1]] == [30] * (len(rows) - 1)  # rows are full


def test_planning_does_not_count_the_outline_as_document_words():
    view = live()
    view(START)
    view(ev.TickEvent("planning", 200, 140, 2.0))  # the outline: 140 words of it so far
    assert view.words == 0
    assert "0 / 1,500 words" in status(screen(view))
    view(ev.TickEvent("answer", 260, 30, 2.8))
    assert view.words == 30


def test_the_last_line_names_the_output_file():
    view = live()
    view(START)
    view(ev.TickEvent("answer", 120, 80, 1.5))
    assert screen(view)[-1].rstrip().endswith("-> guide.md")
    to_stdout = live()
    to_stdout(replace(START, output=None))
    assert screen(to_stdout)[-1].rstrip().endswith("-> stdout")


def test_chinese_runs_count_in_zi():
    zh = replace(START, language="zh", target_words=600)
    view = live()
    view(zh)
    view(ev.TickEvent("answer", 300, 240, 3.0))
    last = status(screen(view))
    assert "240 / 600 字" in last and "words" not in last

    err = io.StringIO()
    clock = iter(range(0, 1000, 20)).__next__  # 20 s between events: every tick reports
    plain = PlainView(err, clock=lambda: float(clock()))
    plain(zh)
    plain(
        ev.PlanEvent("绿茶", (ev.PlanEntry(1, "起源", "", 300), ev.PlanEntry(2, "冲泡", "", 300)))
    )
    plain(ev.SectionStartEvent(1, "起源", 2, 300))
    plain(ev.TickEvent("answer", 300, 240, 3.0))
    text = err.getvalue()
    assert (
        "target 600 字" in text
        and "1. 起源 (300 字)" in text
        and "section 1: 起源 (300 字)" in text
    )
    assert "240 / 600 字" in text and "words" not in text


def test_plain_progress_lines_ignore_the_outline_words():
    err = io.StringIO()
    clock = iter(range(0, 1000, 20)).__next__
    plain = PlainView(err, clock=lambda: float(clock()))
    plain(START)
    plain(ev.TickEvent("planning", 200, 140, 2.0))
    assert re.search(r"^lwz: 0 / 1,500 words, 200 tokens", err.getvalue(), re.M)


def test_a_run_with_sources_ends_with_its_citations_line():
    view = live()
    view(START)
    done = replace(
        test_events.DONE_PLANNED,
        citations={"total": 7, "kept": 5, "dropped": 2, "unsupported": 1},
        sources={"files": 3, "passages": 40},
    )
    view(done)
    text = " ".join(screen(view))
    assert "citations: 5 kept of 7 (2 dropped, 1 looks unsupported)" in text
    assert "3 source files" in text
    plain = live()
    plain(START)
    plain(test_events.DONE_PLANNED)  # no sources: no such line
    assert "citations" not in " ".join(screen(plain))
