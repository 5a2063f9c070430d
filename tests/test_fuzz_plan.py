"""Fuzz: outlines as models write them back (`parse_plan`, then `normalise_plan`).

Any text gives a plan without raising, in time linear in the text; normalising it
for any target gives budgets that sum exactly to the target.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.writing.length import MAX_TARGET_WORDS
from lwz_cli.writing.plan import MAX_SECTIONS, normalise_plan, parse_plan, section_count

ATOMS = st.sampled_from(
    [
        "Title: ", "标题：", "1. ", "2) ", "- ", "* ", "• ", "## ", "Section 3: ", "第一部分：",
        " | ", "|", " - ", " – ", ": ", "：", "(", ")", "[", "]", "（）", "**", "`", "400 words",
        "300-500 words", "200 to 300 words", "500字", "12", "99999", " ", "  ", "\t", "\n",
        "\n\n", "Introduction", "Step 1: Begin", "Summary:", "the end", "字", "x",
    ]
)  # fmt: skip
OUTLINES = st.lists(st.one_of(ATOMS, st.text(max_size=10)), max_size=60).map("".join)


@given(
    st.one_of(OUTLINES, st.text()), st.integers(1, MAX_TARGET_WORDS), st.sampled_from(["en", "zh"])
)
@example("11" + " " * 3000 + "x", 2000, "en")  # was cubic: 12 s for 2,000 spaces (this test)
def test_any_outline_normalises_to_budgets_that_sum_to_the_target(text, target, language):
    parsed = parse_plan(text)
    assert len(parsed.sections) <= MAX_SECTIONS
    plan = normalise_plan(parsed, target, "a request", language)
    assert sum(s.budget for s in plan.sections) == target
    assert all(s.budget >= 0 for s in plan.sections)
    assert 1 <= len(plan.sections) <= 2 * section_count(target)


@pytest.mark.parametrize(
    "line",
    [
        "11" + " " * 20_000 + "x",  # a budget-like number, then spaces: was cubic
        "12 - " + " " * 20_000 + "x",
        "1. Intro" + " " * 20_000 + "x",  # a long gap in a title: was quadratic
        "1. Intro" + " " * 20_000 + "-x",
        "Intro:" + " " * 20_000,
        "Title" + " " * 20_000 + "x",  # was quadratic
    ],
)
def test_outline_parsing_takes_linear_time(line):
    start = time.perf_counter()
    parse_plan(line)
    assert time.perf_counter() - start < 0.5
