"""Outlines from strong and weak models, and the budget arithmetic."""

import pytest

from lwz_cli.writing.plan import (
    Plan,
    Section,
    distribute,
    is_usable,
    normalise_plan,
    parse_plan,
    rebalance,
    section_count,
)

GOOD = """Title: Brewing Tea at Home
1. Introduction | why brew at home | 300 words
2. **Equipment** - kettles, pots and strainers (400 words)
- Water and temperature: the key factor [350 words]
3) Steeping times
## Serving
| 6 | Conclusion | 200 words |
"""


def test_parses_many_outline_shapes():
    plan = parse_plan(GOOD)
    assert plan.title == "Brewing Tea at Home"
    assert [s.title for s in plan.sections] == [
        "Introduction",
        "Equipment",
        "Water and temperature",
        "Steeping times",
        "Serving",
        "Conclusion",
    ]
    assert [s.budget for s in plan.sections] == [300, 400, 350, 0, 0, 200]
    assert plan.sections[1].points == "kettles, pots and strainers"


def test_chinese_outline():
    plan = parse_plan(
        "标题：城市更新\n1. 引言 | 背景 | 500字\n2. 案例分析 | 三个城市 | 1500字\n3. 结语 | 1000字"
    )
    assert plan.title == "城市更新"
    assert [s.budget for s in plan.sections] == [500, 1500, 1000]


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "#\n#\n#\n",
        "### Step 1: Begin\n\nTitle: 3000-word guide\n\n### Step 2: Begin with the first section\n"
        "Title: x\n### Step 3: End",
        "Title:\nSummary:\nTitle:\n",
        "1. Intro (3000 words)",
    ],
)
def test_weak_model_outlines_fall_back_to_a_usable_plan(junk):
    plan = normalise_plan(parse_plan(junk), 3000, "a guide")
    assert len(plan.sections) == section_count(3000)
    assert sum(s.budget for s in plan.sections) == 3000
    assert plan.sections[-1].title == "Conclusion"
    assert len({s.title for s in plan.sections}) == len(plan.sections)


def test_repeated_lines_are_one_section():
    plan = parse_plan("1. Tea history\n2. Tea history\n3. Tea history\n4. Brewing\n")
    assert [s.title for s in plan.sections] == ["Tea history", "Brewing"]


def test_budgets_always_sum_to_the_target():
    for target in (500, 1234, 10_000, 30_000):
        plan = normalise_plan(parse_plan(GOOD), target, "x")
        assert sum(s.budget for s in plan.sections) == target
        assert all(s.budget > 0 for s in plan.sections)


def test_stated_budgets_keep_their_proportions():
    plan = normalise_plan(parse_plan("1. Apples | 100 words\n2. Bananas | 300 words"), 2000, "x")
    assert [s.budget for s in plan.sections] == [500, 1500]


def test_distribute_is_exact_and_fair():
    assert distribute(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(distribute(1001, [3, 1, 2])) == 1001
    assert min(distribute(1000, [100, 1, 1])) >= 80  # each section keeps a minimum


def test_rebalance_carries_shortfall_and_excess():
    remaining = [Section("b", budget=500), Section("c", budget=500)]
    rebalance(done_words=300, target=1500, remaining=remaining)  # 200 short after section a
    assert [s.budget for s in remaining] == [600, 600]
    rebalance(done_words=900, target=1500, remaining=remaining)  # far over: minimum remains
    assert sum(s.budget for s in remaining) == 600


def test_usable_plan_check():
    assert is_usable(parse_plan(GOOD))
    assert not is_usable(Plan(None, [Section("Step 1"), Section("Step 2"), Section("Begin")]))
