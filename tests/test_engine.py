"""The in-process engine on the real tiny model."""

import threading

import pytest

from lwz_cli.engine.protocol import Sampling

pytestmark = pytest.mark.slow  # the real tiny model

PROMPT = "<|im_start|>user\nTell me about the sea.<|im_end|>\n<|im_start|>assistant\n"


def collect(engine, tokens, **kw):
    return "".join(p.text for p in engine.stream(tokens, **kw))


def test_max_tokens_and_stats(tiny_engine):
    tokens = tiny_engine.tokenize(PROMPT, add_bos=False)
    text = collect(tiny_engine, tokens, max_tokens=16, sampling=Sampling(seed=1), ignore_eos=True)
    stats = tiny_engine.last
    assert stats.generated_tokens == 16 and stats.finish_reason == "length"
    assert text and stats.decode_seconds > 0


def test_same_seed_same_text(tiny_engine):
    tokens = tiny_engine.tokenize(PROMPT, add_bos=False)
    a = collect(tiny_engine, tokens, max_tokens=24, sampling=Sampling(seed=5))
    b = collect(tiny_engine, tokens, max_tokens=24, sampling=Sampling(seed=5))
    assert a == b


def test_stop_string_ends_generation_and_is_not_returned(tiny_engine):
    tokens = tiny_engine.tokenize(PROMPT, add_bos=False)
    free = collect(tiny_engine, tokens, max_tokens=40, sampling=Sampling(temperature=0))
    word = free.split()[3]
    stopped = collect(
        tiny_engine, tokens, max_tokens=40, stop=[word], sampling=Sampling(temperature=0)
    )
    assert tiny_engine.last.finish_reason == "stop"
    assert stopped == free[: free.index(word)]


def test_cancel_stops_within_one_token(tiny_engine):
    tokens = tiny_engine.tokenize(PROMPT, add_bos=False)
    cancel = threading.Event()
    seen = 0
    for _ in tiny_engine.stream(tokens, max_tokens=500, cancel=cancel, ignore_eos=True):
        seen += 1
        if seen == 5:
            cancel.set()
    assert seen == 5
    assert tiny_engine.last.finish_reason == "cancelled"
    assert tiny_engine.last.generated_tokens == 5


def test_kv_prefix_is_reused_when_the_prompt_extends(tiny_engine):
    tokens = tiny_engine.tokenize(PROMPT, add_bos=False)
    pieces = list(
        tiny_engine.stream(tokens, max_tokens=20, sampling=Sampling(seed=2), ignore_eos=True)
    )
    assert tiny_engine.last.prompt_tokens_evaluated > 0
    extended = tokens + [p.token for p in pieces if p.token >= 0]
    collect(tiny_engine, extended, max_tokens=5, sampling=Sampling(seed=2))
    # only the last generated token is replayed, not the whole prefix
    assert tiny_engine.last.prompt_tokens_evaluated <= 2


def test_eos_ends_generation(tiny_engine):
    tokens = tiny_engine.tokenize(
        "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n", add_bos=False
    )
    collect(tiny_engine, tokens, max_tokens=400, sampling=Sampling(temperature=0))
    assert tiny_engine.last.finish_reason == "eos"
