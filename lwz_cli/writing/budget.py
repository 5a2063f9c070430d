"""Token arithmetic: how big a context a request needs, and whether it fits.

No silent truncation: if the document cannot fit the model's trained
context, say so before generating.
"""

from __future__ import annotations

from dataclasses import dataclass

from lwz_cli.errors import UsageError
from lwz_cli.profiles import profile
from lwz_cli.tokens import MARGIN, TOKENS_PER_WORD, document_tokens, round_down, round_up


@dataclass(frozen=True)
class TokenBudget:
    n_ctx: int
    max_tokens: int
    needed_tokens: int  # what the target is expected to take (prompt excluded)


def plan_tokens(
    *,
    prompt_tokens: int,
    target_words: int | None,
    language: str,
    protocol: str,
    n_ctx_train: int,
    ctx_override: int | None = None,
    max_tokens_override: int | None = None,
    model_name: str = "the model",
) -> TokenBudget:
    limit = round_down(n_ctx_train) if n_ctx_train else 32_768
    wanted = max_tokens_override or document_tokens(target_words, language, protocol)
    if ctx_override:
        n_ctx = round_up(ctx_override)
        if prompt_tokens >= n_ctx:
            raise UsageError(
                f"the request is {prompt_tokens} tokens, longer than --ctx {n_ctx}",
                hint=f"raise --ctx (the model was trained on {n_ctx_train}) or shorten the request",
            )
    else:
        if prompt_tokens >= limit:
            raise UsageError(
                f"the request is {prompt_tokens} tokens, longer than {model_name}'s "
                f"{n_ctx_train}-token context",
                hint="shorten the request",
            )
        n_ctx = min(round_up(prompt_tokens + wanted), limit)
    room = n_ctx - prompt_tokens
    if max_tokens_override and max_tokens_override > room:
        raise UsageError(
            f"--max-tokens {max_tokens_override} does not fit: the context holds "
            f"{n_ctx} tokens and the prompt takes {prompt_tokens}",
            hint=f"use --max-tokens {room} or less"
            + ("" if ctx_override else f" ({model_name} was trained on {n_ctx_train})"),
        )
    if target_words is not None and not max_tokens_override:
        minimum = int(target_words * TOKENS_PER_WORD[language])
        if minimum > room:
            fit_words = max(0, int(room / TOKENS_PER_WORD[language] / MARGIN))
            raise UsageError(
                f"a {target_words}-word document needs about {minimum} tokens, but "
                f"{model_name}'s context leaves {room} after the prompt",
                hint=f"ask for about {fit_words} words or fewer"
                + (" or raise --ctx" if ctx_override else ""),
            )
    max_tokens = min(max_tokens_override or room, room)
    if profile(protocol).capped_at_default and not max_tokens_override:
        max_tokens = min(max_tokens, max(wanted, profile(protocol).default_new_tokens))
    return TokenBudget(n_ctx=n_ctx, max_tokens=max_tokens, needed_tokens=wanted)


def plan_planned(
    *,
    prompt_tokens: int,
    target_words: int,
    language: str,
    protocol: str,
    n_ctx_train: int,
    ctx_override: int | None = None,
    max_tokens_override: int | None = None,
    model_name: str = "the model",
) -> TokenBudget:
    """The planned strategy needs a window for one section at a time, not the whole
    document: the prompt is rebuilt when it fills."""
    limit = round_down(n_ctx_train) if n_ctx_train else 32_768
    n_ctx = round_up(ctx_override) if ctx_override else min(limit, profile(protocol).planned_ctx)
    if prompt_tokens + 512 > n_ctx:
        raise UsageError(
            f"the request is {prompt_tokens} tokens, too long to plan within a {n_ctx}-token context",
            hint="shorten the request" + ("" if ctx_override else " or raise --ctx"),
        )
    document = int(target_words * TOKENS_PER_WORD[language] * 1.8)  # room for rewinds
    max_tokens = max_tokens_override or document + profile(protocol).plan_tokens + 512
    return TokenBudget(n_ctx=n_ctx, max_tokens=max_tokens, needed_tokens=document)
