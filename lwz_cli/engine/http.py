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

Failures: connection refused / reset, a 5xx or 429, a timeout, or a stream that
breaks mid-way are retried with exponential backoff; the pieces already
yielded stand, and the retry asks for the rest with prompt = prompt + the text
received so far and `max_tokens` reduced accordingly. After the retries (and
any fallback endpoints) are spent, `EndpointUnreachable` is raised; the run's
journal then lets `lwz resume` finish the job. A 4xx (bad model name, context
overflow, bad key) is not retried: `EndpointRejected`, with the server's message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import socket
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from lwz_cli.clock import active_seconds
from lwz_cli.engine.protocol import GenerationStats, Piece, Sampling, WarningCallback
from lwz_cli.engine.stops import StopMatcher
from lwz_cli.errors import RuntimeFailure, UsageError

DEFAULT_RETRIES = 5  # consecutive failures without progress; LWZ_ENDPOINT_RETRIES
DEFAULT_BACKOFF = 0.5  # first wait, doubled each retry (0.5, 1, 2, 4, 8 s); LWZ_ENDPOINT_BACKOFF
DEFAULT_TIMEOUT = 600.0  # seconds a read may wait (long CPU prefills); LWZ_ENDPOINT_TIMEOUT
CONNECT_TIMEOUT = 10.0
PROBE_TIMEOUT = 5.0

# Conservative starting ratios (most tokenizers do ~4 chars/token in English and
# ~1.4 CJK chars/token): estimates err towards more tokens until calibrated.
CHARS_PER_TOKEN = 3.0
WIDE_CHARS_PER_TOKEN = 1.2
CALIBRATION_MIN_TOKENS = 200  # observed tokens before the measured ratio is trusted
CALIBRATION_MARGIN = 1.1  # keep estimates 10% above the measured ratio

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class EndpointError(RuntimeFailure):
    """An OpenAI-compatible endpoint failed (exit 1). `url` names it."""

    def __init__(self, message: str, *, url: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.url = url


class EndpointUnreachable(EndpointError):
    """The endpoint could not be reached, or kept failing, after the retries."""


class EndpointRejected(EndpointError):
    """The endpoint answered with an error that retrying will not fix (a 4xx)."""

    def __init__(self, message: str, *, url: str, status: int, hint: str | None = None):
        super().__init__(message, url=url, hint=hint)
        self.status = status


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""


def normalize_url(url: str) -> str:
    """`http://host:8080`, `http://host:8080/` and `http://host:8080/v1` are the
    same endpoint; a URL without a scheme gets http://."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--endpoint {url!r} is not an http(s) URL",
            hint="for example --endpoint http://127.0.0.1:8080",
        )
    url = url.rstrip("/")
    for suffix in ("/v1/completions", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


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


def raw_estimate(ids: Sequence[int]) -> float:
    wide = sum(1 for c in ids if c >= 0x2E80 and _is_wide(c))
    return (len(ids) - wide) / CHARS_PER_TOKEN + wide / WIDE_CHARS_PER_TOKEN


def estimate_tokens(ids: Sequence[int], scale: float = 1.0) -> int:
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


@dataclass
class EndpointInfo:
    url: str
    models: list[str] = field(default_factory=list)
    n_ctx: int | None = None  # the server's context size, when it says
    server: str = ""  # what answered: llama-server | vllm | openai-compatible

    @property
    def model(self) -> str | None:
        return self.models[0] if self.models else None


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "lwz"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.hostname is None:  # unreachable: every caller passes a normalize_url() URL
        raise UsageError(f"--endpoint {url!r} is not an http(s) URL")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname, parts.port, timeout=timeout), parts.path.rstrip("/")


def _error_message(body: bytes) -> str:
    """The server's own words from an error body (OpenAI, llama-server, FastAPI shapes)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300] or "no message"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or json.dumps(err)
        elif isinstance(err, list) and err and isinstance(err[0], dict):
            err = "; ".join(str(e.get("msg", e)) for e in err)
        if err:
            return " ".join(str(err).split())[:300]
    return " ".join(text.split())[:300]


def get_json(
    url: str, path: str, *, api_key: str | None = None, timeout: float = PROBE_TIMEOUT
) -> Any:
    """GET a JSON document; raises OSError/http.client errors, or EndpointRejected."""
    conn, base = _connection(url, timeout)
    try:
        conn.request("GET", base + path, headers=_headers(api_key))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status >= 400:
            raise EndpointRejected(
                f"{url}{path} answered {resp.status}: {_error_message(body)}",
                url=url,
                status=resp.status,
            )
        return json.loads(body.decode("utf-8"))
    finally:
        conn.close()


def probe(url: str, *, api_key: str | None = None, timeout: float = PROBE_TIMEOUT) -> EndpointInfo:
    """Is the endpoint there, which models does it serve and (where it says) what
    is its context size? llama-server: GET /props (default_generation_settings.n_ctx);
    vLLM: max_model_len in /v1/models; llama-cpp-python's server does not say."""
    url = normalize_url(url)
    try:
        listing = get_json(url, "/v1/models", api_key=api_key, timeout=timeout)
    except EndpointRejected as exc:
        if exc.status in (401, 403):
            raise EndpointRejected(
                f"the endpoint {url} refused the API key ({exc.status})",
                url=url,
                status=exc.status,
                hint="pass --api-key or set LWZ_API_KEY",
            ) from None
        raise
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise EndpointUnreachable(
            f"the endpoint {url} is not reachable ({_describe(exc)})",
            url=url,
            hint="start the server, or check --endpoint",
        ) from None
    info = EndpointInfo(url, server="openai-compatible")
    for entry in (listing or {}).get("data") or []:
        if isinstance(entry, dict) and entry.get("id"):
            info.models.append(str(entry["id"]))
            if entry.get("max_model_len") and info.n_ctx is None:
                info.n_ctx = int(entry["max_model_len"])
                info.server = "vllm"
    if info.n_ctx is None:
        try:
            props = get_json(url, "/props", api_key=api_key, timeout=timeout)
            n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx") or props.get(
                "n_ctx"
            )
            if n_ctx:
                info.n_ctx = int(n_ctx)
                info.server = "llama-server"
        except (EndpointError, OSError, http.client.HTTPException, ValueError, AttributeError):
            pass
    return info


def first_reachable(
    urls: Sequence[str], *, api_key: str | None = None, timeout: float = PROBE_TIMEOUT
) -> tuple[EndpointInfo, list[str]]:
    """The first endpoint that answers, and a warning for each one that did not.
    Raises the last failure when none answers (a refused key is raised at once)."""
    warnings: list[str] = []
    last: EndpointError | None = None
    for url in urls:
        try:
            return probe(url, api_key=api_key, timeout=timeout), warnings
        except EndpointUnreachable as exc:
            warnings.append(f"{exc.message}; skipped")
            last = exc
    if last is None:
        raise UsageError("no --endpoint given")
    if len(urls) > 1:
        raise EndpointUnreachable(
            f"none of the {len(urls)} endpoints is reachable ({', '.join(urls)})",
            url=last.url,
            hint=last.hint,
        )
    raise last


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, (http.client.IncompleteRead, http.client.RemoteDisconnected)):
        return "the server closed the connection"
    text = str(exc) or type(exc).__name__
    return text[:200]


def sse_events(resp) -> Iterator[Any]:
    """JSON objects from a `text/event-stream` body; stops at `data: [DONE]`.
    Comments (`: ping`) and other fields are skipped."""
    data: list[str] = []
    while True:
        try:
            raw = resp.readline()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # ValueError: http.client reading a response whose socket was closed
            raise _Retry(_describe(exc)) from None
        if not raw:  # EOF: the caller decides from finish_reason whether that was the end
            try:  # a last event without its blank line; a torn one is dropped
                last = json.loads("\n".join(data)) if data else None
            except ValueError:
                last = None
            if last is not None:
                yield last
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line == "":
            if data:
                text = "\n".join(data)
                data = []
                if text.strip() == "[DONE]":
                    yield "[DONE]"
                    return
                yield _decode_event(text)
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            if value.strip() == "[DONE]" and not data:
                yield "[DONE]"
                return
            data.append(value)
        elif name == "error":  # llama-server reports some failures this way
            data.append(json.dumps({"error": _decode_event(value)}))


def _decode_event(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"error": {"message": text[:300]}}


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
        connect_timeout: float = CONNECT_TIMEOUT,
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
        self.connect_timeout = connect_timeout
        self.fallbacks = [normalize_url(u) for u in fallbacks]
        self.on_warning = on_warning
        self.last = GenerationStats()
        # calibration: model tokens observed against the raw estimate of their text
        self._seen_tokens = 0
        self._seen_raw = 0.0
        # how token counts were obtained across the streams so far
        self.usage_streams = 0
        self.counted_streams = 0
        self._conn: http.client.HTTPConnection | None = None

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

    def count_tokens(self, ids: Sequence[int]) -> int:
        """Model tokens a sequence of this engine's ids (code points) is likely to take."""
        return estimate_tokens(ids, self.scale)

    def calibrate(self, ids: Sequence[int], tokens: int) -> None:
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

    def _open(self, body: bytes):
        """POST /v1/completions; the response once its status is 200. Raises _Retry
        for what retrying can fix, EndpointRejected for what it cannot."""
        conn, base = _connection(self.url, self.connect_timeout)
        self._conn = conn
        headers = _headers(self._api_key)
        headers["Content-Type"] = "application/json"
        headers["Accept"] = "text/event-stream"
        try:
            conn.connect()
            conn.sock.settimeout(self.timeout)
            conn.request("POST", base + "/v1/completions", body=body, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self._close()
            raise _Retry(_describe(exc)) from None
        if resp.status == 200:
            return resp
        try:
            detail = _error_message(resp.read())
        except (OSError, http.client.HTTPException):
            detail = "no message"
        self._close()
        if resp.status in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {resp.status}: {detail}")
        if resp.status in (401, 403):
            raise EndpointRejected(
                f"the endpoint {self.url} refused the request ({resp.status}: {detail})",
                url=self.url,
                status=resp.status,
                hint="pass --api-key or set LWZ_API_KEY",
            )
        hint = (
            "check --endpoint-model (`curl URL/v1/models` lists the served names)"
            if resp.status == 404 or "model" in detail.lower()
            else "shorten the request, lower --max-tokens or --words, or give the server a "
            "larger context"
        )
        raise EndpointRejected(
            f"the endpoint {self.url} rejected the request ({resp.status}: {detail})",
            url=self.url,
            status=resp.status,
            hint=hint,
        )

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

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
                    resp = self._open(self._body(sent_prompt, left, stop, sampling, ignore_eos))
                    request_usage = None
                    prompt_n = None
                    got_text = False
                    finish = None
                    for event in sse_events(resp):
                        if event == "[DONE]":
                            break
                        if not isinstance(event, dict):
                            continue
                        if event.get("error"):
                            err = event["error"]
                            detail = err.get("message") if isinstance(err, dict) else str(err)
                            raise EndpointRejected(
                                f"the endpoint {self.url} failed the request: {detail}",
                                url=self.url,
                                status=0,
                                hint="shorten the request, or check the server's log",
                            )
                        if isinstance(event.get("usage"), dict):
                            request_usage = event["usage"]
                        timings = event.get("timings")  # llama-server: exact prefill count
                        choices = event.get("choices") or []
                        choice = choices[0] if choices else {}
                        text = choice.get("text") or ""
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
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                        if isinstance(timings, dict) and timings.get("prompt_n") is not None:
                            prompt_n = int(timings["prompt_n"])
                    if done:  # a stop string or cancel: the rest is not wanted
                        evaluated += self.count_tokens([ord(c) for c in sent_prompt])
                        break
                    if finish is None:
                        # no finish_reason: the stream broke (server gone, proxy cut it)
                        raise _Retry(
                            "the stream ended early"
                            if got_text
                            else "the server closed the stream without an answer"
                        )
                    # a finish_reason chunk may precede the usage chunk: drain to [DONE]
                    done = True
                    reason = {"length": "length", "stop": "stop", "eos": "eos"}.get(finish, "stop")
                    estimate = self.count_tokens([ord(c) for c in sent_prompt])
                    if prompt_n is not None:  # llama-server's timings: exact prefill
                        evaluated += prompt_n
                    elif request_usage is not None:
                        evaluated += _evaluated(request_usage, estimate)
                    else:
                        evaluated += estimate
                    if (
                        request_usage is not None
                        and request_usage.get("completion_tokens") is not None
                    ):
                        usage_seen = True
                        usage_completion = (usage_completion or 0) + int(
                            request_usage["completion_tokens"]
                        )
                except _Retry as exc:
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
                                else "check the server",
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
            text_ids = [ord(c) for c in "".join(received)]
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

    def close(self) -> None:
        self._close()


def _evaluated(usage: dict[str, Any], fallback: int) -> int:
    """Prompt tokens the server had to prefill for one request."""
    prompt = usage.get("prompt_tokens")
    if prompt is None:
        return fallback
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return max(0, int(prompt) - int(cached))
