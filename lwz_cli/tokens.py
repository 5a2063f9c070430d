"""Words to tokens: how many tokens a document of so many words is expected to take.

A text-level fact, below both the writing layer (which budgets a run's context with
it) and the model layer (which sizes a machine's plan with it).
"""

from __future__ import annotations

import math

from lwz_cli.profiles import profile

TOKENS_PER_WORD = {"en": 1.4, "zh": 1.6}  # generous: Qwen ~1.3/word, ~1/字
MARGIN = 1.25
CTX_STEP = 256


def round_up(value: int, step: int = CTX_STEP) -> int:
    return max(step, math.ceil(value / step) * step)


def round_down(value: int, step: int = CTX_STEP) -> int:
    return max(step, (value // step) * step)


def document_tokens(target_words: int | None, language: str, protocol: str) -> int:
    """Tokens a document of `target_words` takes, its thinking included (no target: the
    protocol's default allowance)."""
    if target_words is None:
        return profile(protocol).default_new_tokens
    per_word = TOKENS_PER_WORD[language]
    return profile(protocol).think_tokens + int(target_words * per_word * MARGIN)
