import random

import pytest

from lwz_cli.writing.length import (
    WordCounter,
    chinese_numeral,
    count_words,
    length_score,
    parse_target,
)


@pytest.mark.parametrize(
    "request_text, expected",
    [
        ("a 10,000-word guide to home espresso", 10000),
        ("Write 5000 words on tea", 5000),
        ("Write a 2k-word post", 2000),
        ("write it in approximately 150 words", 150),
        ("The content should be no less than 200 words.", 200),
        ("Write a 200 words abstract", 200),
        ("写一篇3000字的报告", 3000),
        ("写一篇 3000 字的报告", 3000),
        ("写一篇3万字的小说", 30000),
        ("请写两千字的文章", 2000),
        ("一万五千字的长文", 15000),
        ("Write a list of 15 emojis relating to emotions", None),
        ("Write about tea", None),
    ],
)
def test_parse_target(request_text, expected):
    assert parse_target(request_text) == expected


def test_first_stated_length_wins():
    assert parse_target("a 300-word intro, then 2000 words of detail") == 300


@pytest.mark.parametrize(
    "text, numeral",
    [("两千", 2000), ("三百五十", 350), ("十二", 12), ("一万", 10000), ("两万五千", 25000)],
)
def test_chinese_numerals(text, numeral):
    assert chinese_numeral(text) == numeral


def test_count_words_like_longbench():
    assert count_words("Hello, world! It's 2024.") == 4  # Hello world It s
    assert count_words("café abc123 naïve ok") == 1  # only pure-ASCII \w runs count
    assert count_words("中文写作 and English") == 6
    assert count_words("") == 0


def test_incremental_counter_matches_batch_count_on_any_split():
    rng = random.Random(7)
    alphabet = "ab Z1_é中文,.\n -'"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50)))
        counter, pos = WordCounter(), 0
        while pos < len(text):
            step = rng.randint(1, 6)
            counter.feed(text[pos : pos + step])
            pos += step
        assert counter.total == count_words(text), text


def test_length_score():
    assert length_score(1000, 1000) == 100
    assert length_score(1000, 500) == pytest.approx(50)
    assert length_score(1000, 4000) == 0
    assert length_score(1000, 0) == 0
