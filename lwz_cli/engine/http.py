"""HTTP engine: an OpenAI-compatible `/v1/completions` server (llama-server,
llama-cpp-python's server, vLLM, SGLang, Ollama) behind the same protocol as
the in-process engine.

A remote server does not hand out its token ids portably (llama-cpp-python's
server takes only string prompts), so this engine is text-native: its
"tokens" are Unicode code points. `tokenize(text)` is `[ord(c) for c in text]`,
`stream()` sends `"".join(map(chr, ids))` as the raw prompt and yields one
`Piece` per code point of the streamed text. A continuation therefore sends
exactly the text the model wrote (raw completion, never re-tokenized on our
side), and the journal, resume, rewinds and planned sections work unchanged.

Units: code points are not model tokens. Each `Piece` says how many model
tokens it stands for (`Piece.tokens`): 1 on the first code point of each SSE
chunk, 0 on the rest, because llama.cpp servers (llama-server and
llama-cpp-python's) send one chunk per sampled token (a chunk holds several
tokens only when a character spans tokens, or when text held back as a
possible stop string is released). `max_tokens` is in model tokens and is sent
as the server's `max_tokens`. Lengths of whole sequences (a prompt against the
context size) are estimated by `count_tokens()`, from a chars-per-token ratio
that starts conservative and is calibrated from what the server reports.

Failures: connection refused / reset, a 5xx or 429, a timeout, a stall, a
stream that breaks mid-way or is not a well-formed stream of JSON events are
retried with exponential backoff; the pieces already yielded stand, and the retry asks for the rest with prompt = prompt + the text
received so far and `max_tokens` reduced accordingly. After the retries (and
any fallback endpoints) are spent, `EndpointUnreachable` is raised; the run's
journal then lets `lwz resume` finish the job. A 4xx (bad model name, context
overflow, bad key) or a redirect is not retried: `EndpointRejected`, with the
server's message. The HTTP itself (proxies, CA bundles, bounded reads, waking up
for a cancel) is `http_client`'s, the event-stream parser `sse`'s, and finding an
endpoint and what it serves (`probe`) `endpoint_probe`'s.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

import httpx2

from lwz_cli.clock import active_seconds
from lwz_cli.engine.endpoint_errors import (
    EndpointError,
    EndpointRejected,
    EndpointUnreachable,
    Retry,
    error_message,
    one_line,
    redact,
    untrusted_hint,
)
from lwz_cli.engine.endpoint_probe import (
    PROBE_TIMEOUT,
    REDIRECT_HINT,
    EndpointInfo,
    first_reachable,
    json_kind,
    normalize_url,
    positive_int,
    probe,
    redirect_message,
)
from lwz_cli.engine.http_client import Cancelled, StreamingCall, make_client
from lwz_cli.engine.protocol import GenerationStats, Piece, Sampling, WarningCallback
from lwz_cli.engine.sse import DONE
from lwz_cli.engine.stops import StopMatcher
from lwz_cli.errors import RuntimeFailure, UsageError

__all__ = [
    "PROBE_TIMEOUT",
    "EndpointError",
    "EndpointInfo",
    "EndpointRejected",
    "EndpointUnreachable",
    "HttpEngine",
    "estimate_tokens",
    "first_reachable",
    "normalize_url",
    "probe",
]

DEFAULT_RETRIES = 5  # consecutive failures without progress; LWZ_ENDPOINT_RETRIES
DEFAULT_BACKOFF = 0.5  # first wait, doubled each retry (0.5, 1, 2, 4, 8 s); LWZ_ENDPOINT_BACKOFF
# seconds from a request to its first event: a long prefill on a CPU server sends
# nothing meanwhile; LWZ_ENDPOINT_TIMEOUT
DEFAULT_TIMEOUT = 600.0
# seconds a started stream may go without an event before it is retried; LWZ_ENDPOINT_STALL
DEFAULT_STALL = 120.0

# Conservative starting ratios (most tokenizers do ~4 chars/token in English and
# ~1.4 CJK chars/token): estimates err towards more tokens until calibrated.
CHARS_PER_TOKEN = 3.0
WIDE_CHARS_PER_TOKEN = 1.2
CALIBRATION_MIN_TOKENS = 200  # observed tokens before the measured ratio is trusted
CALIBRATION_MARGIN = 1.1  # keep estimates 10% above the measured ratio

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return max(0, int(value)) if value else default
    except ValueError:
        raise UsageError(f"${name} must be a whole number, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        raise UsageError(f"${name} must be a number, not {value!r}") from None


def _is_wide(cp: int) -> bool:
    """CJK and other scripts where a token holds about one character."""
    return cp >= 0x2E80 and not (0xE000 <= cp <= 0xF8FF)


def raw_estimate(ids: Sequence[int] | str) -> float:
    """Code points (or the text they spell: no list of ints for a long text)."""
    if isinstance(ids, str):
        wide = sum(1 for ch in ids if ch >= "\u2e80" and _is_wide(ord(ch)))
    else:
        wide = sum(1 for c in ids if c >= 0x2E80 and _is_wide(c))
    return (len(ids) - wide) / CHARS_PER_TOKEN + wide / WIDE_CHARS_PER_TOKEN


def estimate_tokens(ids: Sequence[int] | str, scale: float = 1.0) -> int:
    """Model tokens a sequence of code points is likely to take (uncalibrated:
    conservative)."""
    if not ids:
        return 0
    return max(1, math.ceil(raw_estimate(ids) * scale))


class CodePointDetokenizer:
    """IncrementalDetokenizer's interface for code-point "tokens"."""

    pending = False

    def feed(self, token: int) -> str:
        return chr(token)

    def flush(self) -> str:
        return ""

    def reset(self) -> None:
        pass


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


class HttpEngine:
    """One OpenAI-compatible endpoint. Not thread-safe: one stream at a time.

    `n_ctx` is the context size in model tokens the writing layer plans for (the
    server's, when it says). `fallbacks` are further endpoints serving the same
    model: when `url` keeps failing it is dropped (a warning through
    `on_warning`) and the job goes on at the next one.
    """

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        n_ctx: int = 8192,
        n_ctx_train: int | None = None,
        ctx_known: bool = False,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float | None = None,
        stall: float | None = None,
        fallbacks: Sequence[str] = (),
        on_warning: WarningCallback | None = None,
    ):
        self.url = normalize_url(url)
        self.model = model
        self._api_key = api_key
        self.n_ctx = n_ctx
        self.n_ctx_train = n_ctx_train or n_ctx
        self.ctx_known = ctx_known  # n_ctx is the server's own: cap max_tokens to fit it
        self.retries = (
            env_int("LWZ_ENDPOINT_RETRIES", DEFAULT_RETRIES) if retries is None else retries
        )
        self.backoff = (
            env_float("LWZ_ENDPOINT_BACKOFF", DEFAULT_BACKOFF) if backoff is None else backoff
        )
        self.timeout = (
            env_float("LWZ_ENDPOINT_TIMEOUT", DEFAULT_TIMEOUT) if timeout is None else timeout
        )
        self.stall = env_float("LWZ_ENDPOINT_STALL", DEFAULT_STALL) if stall is None else stall
        self.fallbacks = [normalize_url(u) for u in fallbacks]
        self.on_warning = on_warning
        self.last = GenerationStats()
        # calibration: model tokens observed against the raw estimate of their text
        self._seen_tokens = 0
        self._seen_raw = 0.0
        # how token counts were obtained across the streams so far
        self.usage_streams = 0
        self.counted_streams = 0
        self._client: httpx2.Client | None = None
        self._call: StreamingCall | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"HttpEngine({self.url!r}, model={self.model!r})"

    # -- tokens: code points ------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        """Code points. `add_bos` is ignored: the prompt text already holds whatever
        BOS text its template has, and the server adds a BOS token itself when its
        model wants one."""
        return [ord(c) for c in text]

    def detokenizer(self) -> CodePointDetokenizer:
        return CodePointDetokenizer()

    @property
    def scale(self) -> float:
        """Estimated tokens per raw-estimate token (1.0 until calibrated)."""
        if self._seen_tokens < CALIBRATION_MIN_TOKENS or self._seen_raw <= 0:
            return 1.0
        return min(1.5, self._seen_tokens / self._seen_raw * CALIBRATION_MARGIN)

    def count_tokens(self, ids: Sequence[int] | str) -> int:
        """Model tokens a sequence of this engine's ids (code points), or the text they
        spell, is likely to take."""
        return estimate_tokens(ids, self.scale)

    def calibrate(self, ids: Sequence[int] | str, tokens: int) -> None:
        if tokens > 0 and ids:
            self._seen_tokens += tokens
            self._seen_raw += raw_estimate(ids)

    @property
    def token_counts(self) -> str | None:
        """How `generated_tokens` were obtained: from the server's usage data, or by
        counting streamed chunks (None before any stream)."""
        if self.counted_streams:
            return "counted pieces"
        if self.usage_streams:
            return "server usage"
        return None

    # -- KV snapshots: not for remote servers ----------------------------------------

    supports_snapshots = False

    def snapshot_size(self) -> int:
        return 1 << 62  # larger than any budget: Snapshots never saves one

    def save_snapshot(self, path: str) -> int:
        raise OSError("an endpoint has no KV snapshots")

    def load_snapshot(self, path: str, expected: Sequence[int]) -> int:
        return 0

    # -- requests -----------------------------------------------------------------------

    def _body(
        self,
        prompt: str,
        max_tokens: int,
        stop: Sequence[str],
        sampling: Sampling,
        ignore_eos: bool,
    ) -> bytes:
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "min_p": sampling.min_p,
            "repeat_penalty": sampling.repeat_penalty,  # llama.cpp servers
            "repetition_penalty": sampling.repeat_penalty,  # vLLM, SGLang
            "cache_prompt": True,  # llama-server: reuse the KV prefix
        }
        if stop:
            body["stop"] = list(stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if ignore_eos:
            body["ignore_eos"] = True
        if self.model:
            body["model"] = self.model
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    def _http(self) -> httpx2.Client:
        if self._client is None:
            self._client = make_client(max(self.timeout, self.stall))
        return self._client

    def _open(self, body: bytes, cancel: threading.Event | None) -> StreamingCall:
        """POST /v1/completions; the call once its status is 200. Raises Retry for
        what retrying can fix, EndpointRejected for what it cannot, Cancelled."""
        call = self._call = StreamingCall(
            self._http(),
            self.url + "/v1/completions",
            body,
            api_key=self._api_key,
            first_timeout=self.timeout,
            stall_timeout=self.stall,
            cancel=cancel,
        )
        status = call.head()
        if status == 200:
            if _media_type(call.headers) == "text/html":  # a proxy's or portal's page
                raise Retry("it answered with an HTML page, not an event stream")
            return call
        detail = redact(error_message(call.error_body), self._api_key)
        if status in RETRYABLE_STATUS:
            raise Retry(f"HTTP {status}: {detail}")
        if 300 <= status < 400:
            raise EndpointRejected(
                redirect_message(self.url, "the request", status, call.headers, self._api_key),
                url=self.url,
                status=status,
                hint=REDIRECT_HINT,
            )
        if status in (401, 403):
            raise EndpointRejected(
                f"the endpoint {self.url} refused the request ({status}: {detail})",
                url=self.url,
                status=status,
                hint="pass --api-key or set LWZ_API_KEY",
            )
        if status == 404 or "model" in detail.lower():
            hint = "check --endpoint-model (`curl URL/v1/models` lists the served names)"
        elif status in (400, 413, 422):
            hint = (
                "shorten the request, lower --max-tokens or --words, or give the server a "
                "larger context"
            )
        else:
            hint = "check --endpoint and the server's log"
        raise EndpointRejected(
            f"the endpoint {self.url} rejected the request ({status}: {detail})",
            url=self.url,
            status=status,
            hint=hint,
        )

    def _close(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            call.close()

    def _warn(self, message: str) -> None:
        if self.on_warning is not None:
            self.on_warning(message)

    def _wait(self, attempt: int, cancel: threading.Event | None) -> bool:
        """Back off before retry `attempt` (1-based); False when cancelled meanwhile."""
        delay = self.backoff * (2 ** (attempt - 1))
        if cancel is not None:
            return not cancel.wait(delay)
        time.sleep(delay)
        return True

    # -- generation ---------------------------------------------------------------------

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
        prompt = "".join(map(chr, prompt_tokens))
        stats = self.last = GenerationStats(prompt_tokens=self.count_tokens(prompt_tokens))
        if self.ctx_known:
            room = self.n_ctx - stats.prompt_tokens
            if room <= 0:
                raise RuntimeFailure(
                    f"the prompt is about {stats.prompt_tokens} tokens but the endpoint's "
                    f"context holds {self.n_ctx}",
                    hint="shorten the request",
                )
            max_tokens = min(max_tokens, room)
        stops = StopMatcher(stop)
        received: list[str] = []  # every chunk's text, in order (what the model wrote)
        chunks = 0  # SSE chunks with text: model tokens, counted
        usage_completion: int | None = None
        evaluated = 0
        usage_seen = False
        reason = "length"
        failures = 0
        clock = active_seconds  # stopped time (Ctrl-Z) is not decode time
        started = clock()
        first_at: float | None = None
        done = False
        try:
            while not done:
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
                left = max_tokens - chunks
                if left <= 0:
                    reason = "length"
                    break
                sent_prompt = prompt + "".join(received)
                try:
                    call = self._open(
                        self._body(sent_prompt, left, stop, sampling, ignore_eos), cancel
                    )
                    request_usage: dict[str, Any] | None = None
                    prompt_n = None
                    got_text = False
                    finish = None
                    for event in call.events():
                        if event == DONE:
                            break
                        if not isinstance(event, dict):
                            raise Retry(
                                f"it sent an event that is {json_kind(event)}, not an object"
                            )
                        if event.get("error"):
                            raise self._failed(event["error"])
                        if isinstance(event.get("usage"), dict):
                            request_usage = event["usage"]
                        text, finish_reason = _choice(event)
                        if text:
                            if first_at is None:
                                first_at = clock()
                            got_text = True
                            failures = 0
                            chunks += 1
                            received.append(text)
                            for i, ch in enumerate(text):
                                out, hit = stops.feed(ch)
                                if hit:
                                    stats.stop_string = stops.matched
                                    reason = "stop"
                                    done = True
                                    yield Piece(ord(ch), out, False, 1 if i == 0 else 0)
                                    break
                                yield Piece(ord(ch), out, not stops.pending, 1 if i == 0 else 0)
                            if done:
                                break
                            if cancel is not None and cancel.is_set():
                                reason = "cancelled"
                                done = True
                                break
                        if finish_reason:
                            finish = finish_reason
                        timings = event.get("timings")  # llama-server: exact prefill count
                        if isinstance(timings, dict):
                            prompt_n = positive_int(timings.get("prompt_n"), 1 << 62) or prompt_n
                    if done:  # a stop string or cancel: the rest is not wanted
                        evaluated += self.count_tokens(sent_prompt)
                        break
                    if finish is None:
                        # no finish_reason: the stream broke (server gone, proxy cut it)
                        raise Retry(
                            "the stream ended early"
                            if got_text
                            else "the server closed the stream without an answer"
                        )
                    # a finish_reason chunk may precede the usage chunk: drain to [DONE]
                    done = True
                    reason = {"length": "length", "stop": "stop", "eos": "eos"}.get(finish, "stop")
                    estimate = self.count_tokens(sent_prompt)
                    if prompt_n is not None:  # llama-server's timings: exact prefill
                        evaluated += prompt_n
                    elif request_usage is not None:
                        evaluated += _evaluated(request_usage, estimate)
                    else:
                        evaluated += estimate
                    completion = (
                        positive_int(request_usage.get("completion_tokens"), 1 << 62)
                        if request_usage is not None
                        else None
                    )
                    if completion is not None or (
                        request_usage is not None and request_usage.get("completion_tokens") == 0
                    ):
                        usage_seen = True
                        usage_completion = (usage_completion or 0) + (completion or 0)
                except Cancelled:
                    reason = "cancelled"
                    evaluated += self.count_tokens(sent_prompt)
                    break
                except Retry as exc:
                    self._close()
                    failures += 1
                    if failures > self.retries:
                        if not self._fail_over(str(exc)):
                            silent = str(exc).endswith("without an answer")
                            raise EndpointUnreachable(
                                f"the endpoint {self.url} failed {failures} "
                                f"time{'s' if failures != 1 else ''} in a row ({exc})",
                                url=self.url,
                                hint="the server took the request but sent nothing: see its log "
                                "(llama-cpp-python's server does this when the prompt is "
                                "longer than its context: pass --ctx with its n_ctx)"
                                if silent
                                else untrusted_hint(str(exc)) or "check the server",
                            ) from None
                        failures = 0
                        continue
                    self._warn(
                        f"the endpoint {self.url} failed ({exc}); retrying in "
                        f"{self.backoff * 2 ** (failures - 1):g} s "
                        f"({failures}/{self.retries})"
                    )
                    if not self._wait(failures, cancel):
                        reason = "cancelled"
                        break
                    continue
                finally:
                    self._close()
            if reason != "stop":
                tail = stops.flush()
                if tail:
                    yield Piece(-1, tail, True, 0)
        finally:
            self._close()
            end = clock()
            text_ids = "".join(received)
            if usage_seen and usage_completion is not None and usage_completion >= chunks:
                stats.generated_tokens = usage_completion
                self.usage_streams += 1
                self.calibrate(text_ids, usage_completion)
            else:
                stats.generated_tokens = chunks
                self.counted_streams += 1
                self.calibrate(text_ids, chunks)
            stats.prompt_tokens_evaluated = evaluated or (stats.prompt_tokens if first_at else 0)
            stats.finish_reason = reason
            stats.prefill_seconds = (first_at or end) - started
            stats.decode_seconds = end - (first_at or end)

    def _fail_over(self, why: str) -> bool:
        """Drop the failing endpoint for the next fallback that answers."""
        while self.fallbacks:
            nxt = self.fallbacks.pop(0)
            try:
                probe(nxt, api_key=self._api_key)
            except EndpointError as exc:
                self._warn(f"{exc.message}; skipped")
                continue
            self._warn(
                f"the endpoint {self.url} keeps failing ({why}); dropped it, continuing at {nxt}"
            )
            self.url = nxt
            return True
        return False

    def _failed(self, error: Any) -> EndpointRejected:
        """An `error` event: the server gave up on the request."""
        detail = error.get("message") if isinstance(error, dict) else error
        return EndpointRejected(
            f"the endpoint {self.url} failed the request: "
            f"{one_line(redact(str(detail), self._api_key))}",
            url=self.url,
            status=0,
            hint="shorten the request, or check the server's log",
        )

    def close(self) -> None:
        self._close()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


def _malformed(what: str) -> Retry:
    return Retry(f"it sent a malformed event: {what}")


def _choice(event: dict[str, Any]) -> tuple[str, str | None]:
    """The text and finish_reason of an OpenAI completion chunk (Retry when the
    chunk is not one)."""
    choices = event.get("choices")
    if choices is None or choices == []:
        return "", None
    if not isinstance(choices, list):
        raise _malformed(f"choices is {json_kind(choices)}, not an array")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _malformed(f"a choice is {json_kind(choice)}, not an object")
    text = choice.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise _malformed(f"its text is {json_kind(text)}, not a string")
    finish = choice.get("finish_reason")
    if finish is not None and not isinstance(finish, str):
        raise _malformed(f"finish_reason is {json_kind(finish)}, not a string")
    return text, finish or None


def _evaluated(usage: dict[str, Any], fallback: int) -> int:
    """Prompt tokens the server had to prefill for one request."""
    prompt = usage.get("prompt_tokens")
    if prompt == 0:
        return 0
    prompt = positive_int(prompt, 1 << 62)
    if prompt is None:
        return fallback
    details = usage.get("prompt_tokens_details")
    cached = (
        positive_int(details.get("cached_tokens"), 1 << 62) if isinstance(details, dict) else None
    )
    return max(0, prompt - (cached or 0))
