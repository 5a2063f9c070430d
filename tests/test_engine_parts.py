import random

import pytest

from lwz_cli.engine.stops import StopMatcher


def stream(matcher, chunks):
    out, hit = [], False
    for chunk in chunks:
        text, hit = matcher.feed(chunk)
        out.append(text)
        if hit:
            break
    if not hit:
        out.append(matcher.flush())
    return "".join(out), hit


def test_stop_string_split_across_pieces():
    text, hit = stream(StopMatcher(["</answer>"]), ["doc </an", "swer> more"])
    assert (text, hit) == ("doc ", True)


def test_partial_stop_prefix_is_released_when_it_diverges():
    text, hit = stream(StopMatcher(["</answer>"]), ["a </a", "nd b"])
    assert (text, hit) == ("a </and b", False)


def test_earliest_of_several_stops_wins():
    m = StopMatcher(["<|user|>", "</answer>"])
    assert stream(m, ["x</answer> <|user|>"]) == ("x", True)
    assert m.matched == "</answer>"


def test_random_splits_never_leak_a_stop():
    rng = random.Random(1)
    source = "Hello <b> world </answer> tail"
    for _ in range(500):
        cuts = sorted(rng.sample(range(1, len(source)), rng.randint(1, 10)))
        chunks = [source[a:b] for a, b in zip([0, *cuts], [*cuts, len(source)], strict=True)]
        assert stream(StopMatcher(["</answer>"]), chunks) == ("Hello <b> world ", True)


@pytest.mark.slow
def test_detokenizer_is_utf8_safe_token_by_token(tiny_engine):
    text = "Café 中文写作 🙂 naïve — done"
    tokens = tiny_engine.tokenize(text, add_bos=False)
    detok = tiny_engine.detokenizer()
    pieces = [detok.feed(t) for t in tokens] + [detok.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)  # no broken characters mid-stream
