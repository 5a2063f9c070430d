"""What lwz assumes about a model, per prompt protocol: LongWriter-Zero's own raw
protocol, or a chat template (every other model).

Each number is written here once, with the evidence for it; the budget, the
strategies and the endpoint code read it from the profile of the job's protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

LWZ = "longwriter-zero"  # the raw-completion protocol LongWriter-Zero was trained on
CHAT = "chat"  # any other model: its GGUF chat template (or ChatML on an endpoint)


@dataclass(frozen=True)
class Profile:
    protocol: str
    think_tokens: int  # tokens of <think> before the document starts
    plan_tokens: int  # allowance for the planned strategy's outline (with its thinking)
    default_new_tokens: int  # what a request with no target length may generate
    capped_at_default: bool  # one pass stops at default_new_tokens unless the target needs more
    single_pass_reach: int  # words the model writes well in one pass (`--strategy auto`)
    single_cap: float  # a single pass stops past target x this, on a sentence
    planned_ctx: int  # context window for section-by-section writing
    endpoint_ctx: int  # context assumed when neither the server, --ctx nor a local GGUF says
    restate_outline: bool  # the first section's request repeats the outline


PROFILES = {
    LWZ: Profile(
        LWZ,
        think_tokens=3000,  # paper: LWZ thinks 2-3k tokens
        plan_tokens=4000,  # LWZ thinks before its outline
        default_new_tokens=15_500,  # the model card's max_tokens
        capped_at_default=True,
        # paper: RL on up to 14k tokens, ~10k words in one pass
        single_pass_reach=10_000,
        single_cap=1.3,
        planned_ctx=16_384,
        endpoint_ctx=32_768,  # Qwen2.5-32B's trained context
        restate_outline=True,  # LongWriter-Zero follows a restated outline
    ),
    CHAT: Profile(
        CHAT,
        think_tokens=600,
        plan_tokens=700,
        default_new_tokens=4096,
        capped_at_default=False,
        # conservative. bench/length.py on the tiny model: one pass reached 297 of 500
        # and 182 of 800 words (S_l 66, 0), planned 517 and 811 (99)
        single_pass_reach=400,
        single_cap=1.0,
        planned_ctx=8192,
        endpoint_ctx=8192,
        restate_outline=False,  # small chat models copy it out instead
    ),
}


def profile(protocol: str) -> Profile:
    """The profile of a prompt protocol (`Prompt.protocol`, `Conversation.protocol`)."""
    return PROFILES[protocol]


def profile_for(lwz: bool) -> Profile:
    """The profile for a model that is (or is not) LongWriter-Zero."""
    return PROFILES[LWZ if lwz else CHAT]
