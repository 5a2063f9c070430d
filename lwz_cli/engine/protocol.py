"""The engine protocol: what the writing layer needs from any backend.

The in-process llama.cpp engine and the HTTP `/v1/completions` engine both
implement it, which is why nothing here mentions llama.cpp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from lwz_cli.config import default

DEFAULT_TEMPERATURE: float = default("temperature")  # LongWriter-Zero's model card
DEFAULT_TOP_P: float = default("top_p")


@dataclass(frozen=True)
class Sampling:
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class Piece:
    """One generated token and the text it releases.

    `text` may be empty (a UTF-8 sequence or a possible stop string is still
    incomplete) or hold text held back from earlier tokens. `clean` is true when
    nothing is held back after this token: the text released so far is exactly
    the detokenization of the tokens so far, so a checkpoint taken here can be
    resumed by replaying the token ids. `tokens` is how many model tokens the
    piece stands for: always 1 in the llama.cpp engine; the HTTP engine's ids are
    code points, and it puts a chunk's token on its first code point (0 on the rest).
    """

    token: int
    text: str
    clean: bool = True
    tokens: int = 1


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    prompt_tokens_evaluated: int = 0  # prompt tokens the engine had to prefill
    generated_tokens: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    finish_reason: str = ""  # stop | eos | length | cancelled
    stop_string: str | None = None


class Detokenizer(Protocol):
    """Turns an engine's ids back into text, one id at a time."""

    @property
    def pending(self) -> bool:
        """True while bytes of an incomplete character are held back."""
        ...

    def feed(self, token: int) -> str: ...

    def flush(self) -> str: ...

    def reset(self) -> None: ...


WarningCallback = Callable[[str], None]


class Engine(Protocol):
    """Everything a strategy asks of a backend. Ids are the engine's own units:
    model tokens in process, code points over HTTP; `count_tokens` converts."""

    n_ctx: int  # the context size in model tokens the job plans for
    n_ctx_train: int
    last: GenerationStats  # the latest stream's numbers
    # Called with a message when the engine recovers from a fault on its own (an
    # endpoint retried or dropped); None: such messages are not reported.
    on_warning: WarningCallback | None

    @property
    def supports_snapshots(self) -> bool:
        """Whether save_snapshot/load_snapshot can hold the KV cache."""
        ...

    @property
    def token_counts(self) -> str | None:
        """How `last.generated_tokens` were obtained when they are not the engine's
        own count ("server usage", "counted pieces"); None in process."""
        ...

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]: ...

    def count_tokens(self, ids: Sequence[int]) -> int:
        """Model tokens a sequence of this engine's ids stands for."""
        ...

    def detokenizer(self) -> Detokenizer: ...

    def stream(
        self,
        prompt_tokens: Sequence[int],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        sampling: Sampling = Sampling(),
        cancel: threading.Event | None = None,
        ignore_eos: bool = False,
    ) -> Iterator[Piece]: ...

    def snapshot_size(self) -> int:
        """Bytes a snapshot of the KV cache would take now."""
        ...

    def save_snapshot(self, path: str) -> int:
        """Write the KV cache to `path`; returns the tokens it holds. OSError on failure."""
        ...

    def load_snapshot(self, path: str, expected: Sequence[int]) -> int:
        """Restore a snapshot holding a prefix of `expected`; returns the tokens restored."""
        ...

    def close(self) -> None: ...
