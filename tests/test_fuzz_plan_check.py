"""Fuzz: judging the model's outline (`plan_check`) and building one from the
request's words (`request_outline`), both fed text from outside (a model's answer,
a person's request).

Any heading gives a verdict without raising, in linear time; a judged plan keeps
only headings it would pass again, in their order (a stated length taken out), none
twice; any request gives
exactly the titles asked for, distinct, each one line of text.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.writing.plan import Plan, Section
from lwz_cli.writing.plan_check import MIN_GOOD, _key, judge, junk_reason
from lwz_cli.writing.request_outline import outline_titles, without_length

REASONS = {None, "placeholder", "markup", "sentence", "instructions", "request"}
ATOMS = st.sampled_from(
    [
        "Title", "N.", "Section 1", "section titleTitle", "Header", "per section", "words",
        "<h1>", 'class="post"', "=", "{", "(continued)", "Introduction", "Soil", "Watering",
        "标题", "第一部分", "茶", "的历史", "Write a 1,500-word guide to", "tomatoes", " ", "\n",
        "，", ",", "and", "covering", "story", "letter", "500字", "3000 words", "'", '"',
    ]
)  # fmt: skip
TEXT = st.lists(st.one_of(ATOMS, st.text(max_size=8)), max_size=20).map("".join)
LANGUAGES = st.sampled_from(["en", "zh"])


@given(TEXT, TEXT, LANGUAGES)
@example('pcode"Title', "Write a story.", "en")
@example("tr border=18 class=", "Write a story.", "en")
def test_any_heading_gets_a_verdict(title, request, language):
    assert junk_reason(title, request, language) in REASONS


@given(st.lists(TEXT, max_size=12), TEXT, LANGUAGES)
@example(["茶500字", "The Orchard (500 words)"], "", "en")
def test_a_judged_plan_keeps_good_headings_in_order_none_twice(titles, request, language):
    plan = Plan("T", [Section(t, "", 100) for t in titles])
    verdict = judge(plan, request, language)
    kept = [s.title for s in verdict.plan.sections]
    assert len(kept) + len(verdict.rejected) == len(titles)
    # kept is a subsequence of the titles, a stated length taken out
    rest = iter(without_length(t) or t for t in titles)
    assert all(any(t == k for t in rest) for k in kept)
    assert all(junk_reason(k, request, language) is None for k in kept)
    assert len({_key(k) for k in kept}) == len(kept)
    assert not verdict.usable or len(kept) >= MIN_GOOD


@given(TEXT, st.integers(1, 40), LANGUAGES)
@example("写一篇茶\n历史", 3, "zh")  # was "茶\n历史": a heading of two lines
def test_any_request_gives_the_titles_asked_for(request, count, language):
    titles = outline_titles(request, count, language)
    assert len(titles) == count
    assert len(set(titles)) == count
    assert all(t.strip() and len(t.splitlines()) == 1 for t in titles)


@pytest.mark.parametrize(
    "title", ["a" * 50_000, "a " * 25_000, "<" * 50_000, "茶" * 50_000, 'a"' * 25_000]
)
def test_judging_takes_linear_time(title):
    start = time.perf_counter()
    junk_reason(title, title[:2000], "en")
    outline_titles(title, 8, "en")
    assert time.perf_counter() - start < 0.5
