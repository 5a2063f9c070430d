"""Fuzz: the length a request asks for (`parse_target`), from any prompt text.

Never raises, returns None or a positive whole number, and takes time linear in
the prompt: a prompt is whatever the user pasted, a file, or a recipe's template.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lwz_cli.errors import UsageError
from lwz_cli.writing.length import chinese_numeral, parse_target
from lwz_cli.writing.session import check_words

ATOMS = st.sampled_from(
    [
        "1", "0", "9", "000", ",000", " 000", ".5", ".", ",", " ", "\n", "\t", "-", "k", "K",
        "thousand", "word", "words", "Words", "-word", "字", "千", "万", "两", "十", "百",
        "一", "零", "〇", "五", "a ", "guide", "\u00a0", "١", "²",
    ]
)  # fmt: skip
PROMPTS = st.lists(st.one_of(ATOMS, st.text(max_size=8)), max_size=40).map("".join)


@given(st.one_of(PROMPTS, st.text()))
# a number too big for a float: int(inf) raised OverflowError (found by this test)
@example("1" * 400 + " words")
@example("1" * 400 + "字")
def test_any_prompt_gives_no_target_or_a_positive_one(prompt):
    target = parse_target(prompt)
    assert target is None or (isinstance(target, int) and target > 0)
    try:
        check_words(target, "the request")  # what `lwz write` does with it
    except UsageError as exc:
        assert "\n" not in str(exc)


@given(st.text(alphabet="零〇一二两三四五六七八九十百千万", max_size=30))
def test_any_chinese_numeral_is_a_whole_number_or_none(text):
    value = chinese_numeral(text)
    assert value is None or (isinstance(value, int) and value > 0)


@pytest.mark.parametrize(
    "prompt",
    [
        "1" + " " * 20_000 + "x",  # a number, then blank lines: was cubic (14 s at 2,000)
        "1" + "\n" * 20_000 + "字",
        "2k" + " " * 20_000 + "x",
        "1" * 20_000 + "x",  # was quadratic in the digits
        "1 " * 20_000 + "x",
        "一" * 20_000 + "x",  # was quadratic in the numerals
    ],
)
def test_target_parsing_takes_linear_time(prompt):
    start = time.perf_counter()
    parse_target(prompt)
    assert time.perf_counter() - start < 0.5
