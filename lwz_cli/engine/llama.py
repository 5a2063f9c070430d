"""In-process llama.cpp engine (llama-cpp-python), driven token by token.

`Llama.generate()` keeps the KV cache for the longest prefix shared with the
previous call, so continuing a prompt only prefills the new tokens. We drive
it ourselves with an incremental detokenizer and our own stop matching so the
Python cost per token is constant.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Generator, Sequence

from lwz_cli.clock import active_seconds
from lwz_cli.engine.detokenizer import IncrementalDetokenizer, llama_token_bytes
from lwz_cli.engine.protocol import GenerationStats, Piece, Sampling, WarningCallback
from lwz_cli.engine.stops import StopMatcher
from lwz_cli.errors import RuntimeFailure, UsageError
from lwz_cli.system import NATIVE_IO, use_extra_buffers


@contextlib.contextmanager
def quiet_native_output(enabled: bool = True):
    """Silence llama.cpp's C-level stderr writes (model load chatter)."""
    if not enabled:
        yield
        return
    try:
        stderr_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(stderr_fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stderr_fd)
        yield
    finally:
        os.dup2(saved, stderr_fd)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _model_params(use_extra_bufts: bool):
    """Make `Llama()` build its model params with `use_extra_bufts` set.

    `Llama.__init__` takes its params from `llama_model_default_params()` and
    has no argument for this field, so the default is swapped for the length
    of the constructor call only.
    """
    import llama_cpp.llama_cpp as low

    if use_extra_bufts:
        yield
        return
    original = low.llama_model_default_params

    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    low.llama_model_default_params = defaults
    try:
        yield
    finally:
        low.llama_model_default_params = original


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeFailure(
            f"llama-cpp-python is not importable ({exc})",
            hint="reinstall it: pip install --force-reinstall llama-cpp-python",
        ) from exc
    return llama_cpp


class VocabTokenizer:
    """Tokenizer from a vocab-only load: seconds cheaper than loading weights.

    Lets lwz check that a request fits the context before it loads the model.
    """

    def __init__(self, model_path: str, *, verbose: bool = False):
        llama_cpp = _llama_cpp()
        from llama_cpp import _internals

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        from llama_cpp._logger import set_verbose

        set_verbose(verbose)
        with NATIVE_IO, quiet_native_output(not verbose):
            try:
                self._model = _internals.LlamaModel(
                    path_model=model_path, params=params, verbose=verbose
                )
            except Exception as exc:
                raise UsageError(
                    f"llama.cpp cannot load {model_path}: the file is incomplete or its "
                    "architecture is not supported by this llama-cpp-python",
                    hint="re-download it, or upgrade llama-cpp-python",
                ) from exc
        self.vocab = self._model.vocab
        self.n_ctx_train = self._model.n_ctx_train()

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return self._model.tokenize(text.encode("utf-8"), add_bos, True)

    def count_tokens(self, ids: Sequence[int]) -> int:
        """The ids are model tokens."""
        return len(ids)

    def token_text(self, token: int) -> str:
        return self._model.token_get_text(token)

    @property
    def bos_token(self) -> int:
        return self._model.token_bos()

    @property
    def eos_token(self) -> int:
        return self._model.token_eos()

    def close(self) -> None:
        self._model.close()


class LlamaEngine:
    """One loaded model and context. Not thread-safe: one stream at a time."""

    def __init__(
        self,
        model_path: str,
        *,
        n_ctx: int,
        n_threads: int,
        n_gpu_layers: int = 0,
        n_batch: int = 512,
        flash_attn: bool = False,
        type_k: int | None = None,
        type_v: int | None = None,
        use_mmap: bool = True,
        use_mlock: bool = False,
        seed: int | None = None,
        extra_buffers: bool | None = None,
        verbose: bool = False,
        on_warning: WarningCallback | None = None,
    ):
        llama_cpp = _llama_cpp()
        kwargs = {
            "model_path": model_path,
            "n_ctx": n_ctx,
            "n_batch": min(n_batch, n_ctx),
            "n_threads": n_threads,
            "n_threads_batch": n_threads,
            "n_gpu_layers": n_gpu_layers,
            "flash_attn": flash_attn,
            "use_mmap": use_mmap,
            "use_mlock": use_mlock,
            "verbose": verbose,
        }
        if type_k is not None:
            kwargs["type_k"] = type_k
        if type_v is not None:
            kwargs["type_v"] = type_v
        if seed is not None:
            kwargs["seed"] = seed
        self.extra_buffers = use_extra_buffers() if extra_buffers is None else extra_buffers
        with NATIVE_IO, quiet_native_output(not verbose), _model_params(self.extra_buffers):
            try:
                self.llm = llama_cpp.Llama(**kwargs)
            except Exception as exc:
                raise RuntimeFailure(
                    f"llama.cpp could not load {model_path} with n_ctx={n_ctx}, "
                    f"gpu_layers={n_gpu_layers} ({exc})",
                    hint="try a smaller --ctx or fewer --gpu-layers; --verbose shows llama.cpp's log",
                ) from exc
        self.model_path = model_path
        self.n_ctx = self.llm.n_ctx()
        self.n_ctx_train = self.llm._model.n_ctx_train()
        self._vocab = self.llm._model.vocab
        self._token_bytes = llama_token_bytes(self._vocab)
        self._eog: dict[int, bool] = {}
        self._is_eog_native = llama_cpp.llama_vocab_is_eog
        self.last = GenerationStats()
        self.on_warning = on_warning  # the in-process engine has nothing to warn about yet

    # -- capabilities ---------------------------------------------------------

    supports_snapshots = True

    @property
    def token_counts(self) -> str | None:
        """None: generated tokens are the engine's own count."""
        return None

    # -- tokens -------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def count_tokens(self, ids: Sequence[int]) -> int:
        """The ids are model tokens."""
        return len(ids)

    def detokenizer(self) -> IncrementalDetokenizer:
        return IncrementalDetokenizer(self._token_bytes)

    def is_eog(self, token: int) -> bool:
        known = self._eog.get(token)
        if known is None:
            known = self._eog[token] = bool(self._is_eog_native(self._vocab, token))
        return known

    def cached_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` the KV cache already holds."""
        held = self.llm.n_tokens
        if held == 0:
            return 0
        ids = self.llm.input_ids
        limit = min(held, len(tokens))
        same = 0
        for a, b in zip(ids[:limit].tolist(), tokens[:limit], strict=True):
            if a != b:
                break
            same += 1
        return same

    # -- generation ---------------------------------------------------------

    def stream(
        self,
        prompt_tokens: Sequence[int],
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        sampling: Sampling = Sampling(),
        cancel: threading.Event | None = None,
        ignore_eos: bool = False,
    ) -> Generator[Piece, None, None]:  # callers close() it to stop early
        prompt = list(prompt_tokens)
        room = self.n_ctx - len(prompt)
        if room <= 0:
            raise RuntimeFailure(
                f"the prompt is {len(prompt)} tokens but the context holds {self.n_ctx}",
                hint="raise --ctx or shorten the request",
            )
        max_tokens = min(max_tokens, room)
        stats = self.last = GenerationStats(prompt_tokens=len(prompt))
        reused = self.cached_prefix(prompt)
        if reused == len(prompt):  # generate() replays the last token for fresh logits
            reused -= 1
        stats.prompt_tokens_evaluated = len(prompt) - max(reused, 0)
        if sampling.seed is not None:
            self.llm.set_seed(sampling.seed)

        detok = self.detokenizer()
        stops = StopMatcher(stop)
        clock = active_seconds  # stopped time (Ctrl-Z) is not decode time
        started = clock()
        first_at = None
        generator = self.llm.generate(
            prompt,
            top_k=sampling.top_k,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            temp=sampling.temperature,
            repeat_penalty=sampling.repeat_penalty,
        )
        count = 0
        reason = "length"
        try:
            for token in generator:
                if first_at is None:
                    first_at = clock()
                count += 1
                if not ignore_eos and self.is_eog(token):
                    reason = "eos"
                    break
                text, hit = stops.feed(detok.feed(token))
                if hit:
                    stats.stop_string = stops.matched
                    reason = "stop"
                    yield Piece(token, text, False)
                    break
                yield Piece(token, text, not (detok.pending or stops.pending))
                if count >= max_tokens:
                    reason = "length"
                    break
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
            else:
                reason = "length"
            if reason != "stop":
                tail = stops.feed(detok.flush())[0] + stops.flush()
                if tail:
                    yield Piece(-1, tail)
        finally:
            generator.close()
            end = clock()
            stats.generated_tokens = count
            stats.finish_reason = reason
            stats.prefill_seconds = (first_at or end) - started
            stats.decode_seconds = end - (first_at or end)

    # -- KV snapshots ---------------------------------------------------------

    def snapshot_size(self) -> int:
        """Bytes a snapshot of the KV cache would take now."""
        import llama_cpp

        return int(llama_cpp.llama_state_seq_get_size(self.llm._ctx.ctx, 0))

    def save_snapshot(self, path: str) -> int:
        """Write the KV cache of the tokens evaluated so far (llama.cpp's own file
        format, which stores their ids too). Safe between two tokens of a stream:
        the last sampled token is not evaluated yet, so the snapshot holds a
        prefix of any checkpoint taken at that token. Returns the tokens held."""
        import llama_cpp

        n = self.llm.n_tokens
        ids = (llama_cpp.llama_token * n)(*self.llm.input_ids[:n].tolist())
        written = llama_cpp.llama_state_seq_save_file(self.llm._ctx.ctx, path.encode(), 0, ids, n)
        if not written:
            raise OSError(f"llama.cpp could not write the KV snapshot {path}")
        return n

    def load_snapshot(self, path: str, expected: Sequence[int]) -> int:
        """Load a snapshot if its tokens are a prefix of `expected`; returns the
        tokens restored (0: unusable, the cache is left empty)."""
        import ctypes

        import llama_cpp

        capacity = self.n_ctx
        ids = (llama_cpp.llama_token * capacity)()
        count = ctypes.c_size_t(0)
        self.llm.reset()
        self.llm._ctx.kv_cache_clear()
        read = llama_cpp.llama_state_seq_load_file(
            self.llm._ctx.ctx, path.encode(), 0, ids, capacity, ctypes.byref(count)
        )
        n = int(count.value)
        if not read or n == 0 or n > len(expected) or list(ids[:n]) != list(expected[:n]):
            self.llm._ctx.kv_cache_clear()
            self.llm.n_tokens = 0
            return 0
        self.llm.input_ids[:n] = ids[:n]
        self.llm.n_tokens = n
        self.llm._requires_eval = True  # logits are not in the snapshot
        return n

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
