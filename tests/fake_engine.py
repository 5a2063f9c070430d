"""A scripted engine for fast tests of the writing state machines.

It speaks the same protocol as the llama.cpp engine (tokenize, stream of
`Piece`s, detokenizer, token counts, KV snapshots, stats) but its text comes
from a script instead of a model. It uses the real tiny model's vocabulary
(a vocab-only load, once per process), so `prepare()` on
`WriteRequest(model="tiny")` yields prompt tokens this engine understands,
replays and resumes are token-exact, and every prompt it receives can be read
back as text.

A script is a list of replies, taken one per `stream()` call, or a function of
the prompt text giving the reply, so each section can answer differently. A
reply is a plain string (written, then end of sequence) or a `Reply`, which can
also loop one sentence forever or press Ctrl-C after some tokens.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lwz_cli.engine.detokenizer import IncrementalDetokenizer, llama_token_bytes
from lwz_cli.engine.llama import VocabTokenizer
from lwz_cli.engine.protocol import GenerationStats, Piece, Sampling
from lwz_cli.engine.stops import StopMatcher
from lwz_cli.errors import RuntimeFailure
from lwz_cli.models.registry import tiny_model_path

SECONDS_PER_TOKEN = 0.01  # a fixed, fake decode speed: 100 tokens/s, so rates are exact


@dataclass(frozen=True)
class Reply:
    """What the model says to one prompt.

    text: written first. loop: then repeated forever (a model stuck in a loop)
    until max_tokens or the caller stops reading. interrupt_after: set the
    stream's cancel event after this many tokens (what Ctrl-C does). Without a
    loop the reply ends with end of sequence: an empty text is a model that
    stalls at once, a short one a model that stops early.
    """

    text: str = ""
    loop: str = ""
    interrupt_after: int | None = None


Script = Sequence[str | Reply] | Callable[[str], str | Reply]


@dataclass
class Call:
    """One `stream()` call as the engine received it."""

    prompt_tokens: list[int]
    prompt: str  # the prompt decoded, special tokens included
    max_tokens: int
    stop: tuple[str, ...]
    sampling: Sampling
    reply: Reply
    evaluated: int  # prompt tokens prefilled: those a KV cache did not hold already
    pieces: list[Piece] = field(default_factory=list)


@lru_cache(maxsize=1)
def tiny_vocab() -> VocabTokenizer:
    """The tiny model's vocabulary, loaded once per test process (~0.1 s)."""
    return VocabTokenizer(str(tiny_model_path()))


class ScriptExhausted(AssertionError):
    """The code under test asked for more generations than the script holds."""


class FakeEngine:
    """Scripted stand-in for `LlamaEngine`. Not thread-safe, like the real one."""

    supports_snapshots = True  # its "KV cache" is the token ids, saved as JSON

    def __init__(self, script: Script, *, n_ctx: int = 8192, n_ctx_train: int = 8192):
        vocab = tiny_vocab()
        self._vocab = vocab
        self._script = script if callable(script) else list(script)
        self._token_bytes = llama_token_bytes(vocab.vocab)
        self._special_bytes = llama_token_bytes(vocab.vocab, special=True)
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train
        self.last = GenerationStats()
        self.calls: list[Call] = []
        self.cache: list[int] = []  # the tokens a real KV cache would hold now
        self.closed = False
        self.on_warning: Callable[[str], None] | None = None  # a fake never recovers from faults

    def load(self, n_ctx: int) -> FakeEngine:
        """What loading the model gives: this engine, open, with an empty KV cache
        and the context size asked for."""
        self.n_ctx, self.cache, self.closed = n_ctx, [], False
        return self

    # -- what tests read ----------------------------------------------------------

    @property
    def prompts(self) -> list[str]:
        return [call.prompt for call in self.calls]

    @property
    def replies_left(self) -> int:
        return -1 if callable(self._script) else len(self._script)

    def decode(self, tokens: Sequence[int]) -> str:
        return b"".join(self._special_bytes(t) for t in tokens).decode("utf-8", "replace")

    # -- tokens -------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return self._vocab.tokenize(text, add_bos=add_bos)

    def detokenizer(self) -> IncrementalDetokenizer:
        return IncrementalDetokenizer(self._token_bytes)

    def count_tokens(self, ids: Sequence[int]) -> int:
        return len(ids)

    @property
    def token_counts(self) -> str | None:
        return None  # only an endpoint estimates its token counts

    def is_eog(self, token: int) -> bool:
        return token == self._vocab.eos_token

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        same = 0
        for a, b in zip(self.cache, tokens, strict=False):
            if a != b:
                break
            same += 1
        return same

    # -- generation -----------------------------------------------------------------

    def _next_reply(self, prompt: str) -> Reply:
        if callable(self._script):
            answer = self._script(prompt)
        elif self._script:
            answer = self._script.pop(0)
        else:
            raise ScriptExhausted(
                f"the script has no reply left for call {len(self.calls) + 1}; "
                f"the prompt ends with {prompt[-300:]!r}"
            )
        return answer if isinstance(answer, Reply) else Reply(answer)

    def _tokens(self, reply: Reply) -> Iterator[int]:
        yield from self.tokenize(reply.text, add_bos=False)
        if reply.loop:
            ids = self.tokenize(reply.loop, add_bos=False)
            while True:
                yield from ids
        yield self._vocab.eos_token

    def stream(
        self,
        prompt_tokens: Sequence[int],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        sampling: Sampling = Sampling(),
        cancel: threading.Event | None = None,
        ignore_eos: bool = False,
    ) -> Iterator[Piece]:
        """Like `LlamaEngine.stream`: the same stop matching, clean flags, finish
        reasons, cancel check after each token, and stats (prefill counted against
        the tokens a KV cache would still hold from the previous call)."""
        assert not self.closed, "stream() on a closed engine"
        prompt = list(prompt_tokens)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            raise RuntimeFailure(
                f"the prompt is {len(prompt)} tokens but the context holds {self.n_ctx}",
                hint="raise --ctx or shorten the request",
            )
        max_tokens = min(max_tokens, room)
        text = self.decode(prompt)
        reply = self._next_reply(text)
        reused = min(self.cached_prefix(prompt), len(prompt) - 1)  # the last is re-read
        stats = self.last = GenerationStats(
            prompt_tokens=len(prompt), prompt_tokens_evaluated=len(prompt) - max(reused, 0)
        )
        call = Call(
            prompt, text, max_tokens, tuple(stop), sampling, reply, stats.prompt_tokens_evaluated
        )
        self.calls.append(call)
        return self._generate(call, stats, cancel, ignore_eos)

    def _generate(
        self, call: Call, stats: GenerationStats, cancel: threading.Event | None, ignore_eos: bool
    ) -> Iterator[Piece]:
        detok = self.detokenizer()
        stops = StopMatcher(call.stop)
        generated: list[int] = []
        reason = "length"
        try:
            for token in self._tokens(call.reply):
                generated.append(token)
                if not ignore_eos and self.is_eog(token):
                    reason = "eos"
                    break
                text, hit = stops.feed(detok.feed(token))
                if hit:
                    stats.stop_string = stops.matched
                    reason = "stop"
                    yield self._piece(call, Piece(token, text, False))
                    break
                yield self._piece(call, Piece(token, text, not (detok.pending or stops.pending)))
                if len(generated) == call.reply.interrupt_after and cancel is not None:
                    cancel.set()
                if len(generated) >= call.max_tokens:
                    reason = "length"
                    break
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
            if reason != "stop":
                tail = stops.feed(detok.flush())[0] + stops.flush()
                if tail:
                    yield self._piece(call, Piece(-1, tail))
        finally:
            # the last sampled token is not evaluated yet, as in llama.cpp
            self.cache = call.prompt_tokens + generated[:-1]
            stats.generated_tokens = len(generated)
            stats.finish_reason = reason
            stats.decode_seconds = len(generated) * SECONDS_PER_TOKEN

    @staticmethod
    def _piece(call: Call, piece: Piece) -> Piece:
        call.pieces.append(piece)
        return piece

    # -- KV snapshots: the token ids stand in for llama.cpp's state file ------------------

    def snapshot_size(self) -> int:
        return 4 * len(self.cache)

    def save_snapshot(self, path: str) -> int:
        Path(path).write_text(json.dumps(self.cache))
        return len(self.cache)

    def load_snapshot(self, path: str, expected: Sequence[int]) -> int:
        held = json.loads(Path(path).read_text())
        if not held or len(held) > len(expected) or held != list(expected[: len(held)]):
            self.cache = []
            return 0
        self.cache = held
        return len(held)

    def close(self) -> None:
        self.closed = True


# -- script material --------------------------------------------------------------------

_WORDS = [
    "tea",
    "leaf",
    "water",
    "kettle",
    "steep",
    "cup",
    "pot",
    "green",
    "black",
    "oolong",
    "garden",
    "hill",
    "mist",
    "morning",
    "harvest",
    "roast",
    "aroma",
    "bitter",
    "sweet",
    "grassy",
    "floral",
    "warm",
    "cool",
    "patient",
    "careful",
    "slow",
    "bright",
    "clay",
    "porcelain",
    "village",
    "farmer",
    "market",
    "history",
    "journey",
    "season",
    "spring",
    "autumn",
    "ritual",
    "guest",
    "friend",
    "quiet",
    "table",
    "bamboo",
    "whisk",
    "powder",
    "bowl",
    "steam",
    "scent",
    "flavour",
    "texture",
    "colour",
    "golden",
    "amber",
    "jade",
    "river",
    "stone",
    "mountain",
    "valley",
    "shade",
    "sun",
    "rain",
    "soil",
    "root",
    "bud",
    "picker",
    "basket",
    "wither",
    "roll",
    "dry",
    "sort",
    "grade",
    "blend",
    "batch",
    "craft",
    "tradition",
    "story",
    "memory",
    "recipe",
]


def prose(words: int, seed: int = 0) -> str:
    """About `words` words of sentences that never repeat (so the repetition guard
    lets them through): seeded, so a test can script the same text twice."""
    rng = random.Random(seed)
    sentences: list[str] = []
    count = 0
    while count < words:
        n = min(rng.randint(8, 14), max(words - count, 6))
        picked = [rng.choice(_WORDS) for _ in range(n)]
        sentences.append(" ".join(picked).capitalize() + ".")
        count += n
    return " ".join(sentences)


def outline(title: str, sections: Sequence[tuple[str, str, int]]) -> str:
    """An outline as the plan prompt asks for it."""
    lines = [f"Title: {title}"]
    lines += [
        f"{i}. {name} | {points} | {words} words"
        for i, (name, points, words) in enumerate(sections, 1)
    ]
    return "\n".join(lines) + "\n"


class Recorder(list):
    """An `Emit` that keeps each event as its `--json` form: the contract the tests check."""

    def __call__(self, event) -> None:
        self.append(event.to_json())
