import pytest

from lwz_cli.errors import UsageError
from lwz_cli.writing.budget import plan_tokens


def plan(**kw):
    base = {
        "prompt_tokens": 100,
        "target_words": 400,
        "language": "en",
        "protocol": "chat",
        "n_ctx_train": 8192,
    }
    base.update(kw)
    return plan_tokens(**base)


def test_context_is_a_multiple_of_256_sized_to_the_target():
    b = plan()
    assert b.n_ctx % 256 == 0
    assert b.n_ctx >= 100 + 400 * 1.4
    assert b.max_tokens == b.n_ctx - 100


def test_longwriter_zero_fits_10k_words_in_its_trained_context():
    b = plan(target_words=10_000, protocol="longwriter-zero", n_ctx_train=32768, prompt_tokens=300)
    assert 14_000 <= b.n_ctx <= 32768 and b.n_ctx % 256 == 0
    assert b.max_tokens >= 15_500


def test_target_that_cannot_fit_is_refused_before_generating():
    with pytest.raises(UsageError, match="ask for about"):
        plan(target_words=10_000)


def test_prompt_longer_than_the_context_is_refused():
    with pytest.raises(UsageError, match="longer than"):
        plan(prompt_tokens=9000)
    with pytest.raises(UsageError, match="--ctx"):
        plan(prompt_tokens=600, ctx_override=512)


def test_max_tokens_that_does_not_fit_is_refused():
    with pytest.raises(UsageError, match="--max-tokens"):
        plan(max_tokens_override=9000)


def test_ctx_override_rounds_up():
    assert plan(ctx_override=1000).n_ctx == 1024
