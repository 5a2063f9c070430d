"""The HTTP side of the endpoint engine, on httpx2 (the client huggingface_hub
itself uses: one HTTP stack for the whole tool).

- Settings from the environment (`trust_env`): `HTTP_PROXY`, `HTTPS_PROXY`,
  `ALL_PROXY`, `NO_PROXY`; CA bundles from `SSL_CERT_FILE` / `SSL_CERT_DIR`, and
  from `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE`, which httpx2 itself ignores.
- Redirects are never followed, so the `Authorization` header cannot reach
  another host; the engine reports a 3xx with the address it points to.
- Bounded: a JSON document is read up to a size and a total time; a streaming
  response is read by a worker thread into a small queue while the caller waits
  in short ticks, so a cancel (Ctrl-C, SIGTERM) is seen within a tick even when
  the server trickles or stalls, and a stall ends the call at its deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import httpx2

from lwz_cli.engine.endpoint_errors import Retry, describe
from lwz_cli.engine.sse import MAX_LINE, MalformedStream, SseParser
from lwz_cli.errors import UsageError

CONNECT_TIMEOUT: Final = 10.0
MAX_JSON: Final = 8 << 20  # bytes of a JSON answer (/v1/models, /props)
MAX_ERROR_BODY: Final = 64 << 10  # bytes of an error body kept for its message
TICK: Final = 0.1  # seconds between looks at the cancel event while waiting
QUEUE_CHUNKS: Final = 16  # chunks (64 KiB each from httpcore) read ahead of the parser

# checked in this order; the first that is set is used
CA_VARIABLES: Final = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class TooLarge(Exception):
    """A JSON answer larger than its bound."""


def _verify() -> ssl.SSLContext | bool:
    """The CA bundle the environment names, else the system's (httpx2's default)."""
    for name in CA_VARIABLES:
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        try:
            if os.path.isdir(value):
                return ssl.create_default_context(capath=value)
            return ssl.create_default_context(cafile=value)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"${name} names {value!r}, which is not a readable CA bundle ({exc})",
                hint=f"point {name} at a PEM file of CA certificates, or unset it",
            ) from None
    return True


def make_client(read_timeout: float) -> httpx2.Client:
    """A client with lwz's settings; `read_timeout` bounds each wait for bytes."""
    timeout = httpx2.Timeout(
        connect=CONNECT_TIMEOUT, read=read_timeout, write=read_timeout, pool=CONNECT_TIMEOUT
    )
    try:
        return httpx2.Client(
            timeout=timeout,
            follow_redirects=False,
            trust_env=True,
            verify=_verify(),
            headers={"User-Agent": "lwz", "Accept-Encoding": "identity"},
        )
    except (ValueError, ImportError, httpx2.HTTPError, httpx2.InvalidURL) as exc:
        # a proxy variable httpx2 cannot use (a bad URL, socks:// without socksio)
        raise UsageError(
            f"the proxy settings in the environment cannot be used ({exc})",
            hint="check HTTP_PROXY, HTTPS_PROXY and ALL_PROXY",
        ) from None


def headers(api_key: str | None, accept: str = "application/json") -> dict[str, str]:
    out = {"Accept": accept}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def read_bounded(response: httpx2.Response, limit: int, deadline: float | None = None) -> bytes:
    """The body, up to `limit` bytes (TooLarge past it) and until `deadline`."""
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"more than {limit >> 20 or limit} {'MiB' if limit >> 20 else 'bytes'}")
        parts.append(chunk)
        if deadline is not None and time.monotonic() > deadline:
            raise httpx2.ReadTimeout("the answer took too long")
    return b"".join(parts)


def get_bounded(
    client: httpx2.Client, url: str, *, api_key: str | None, timeout: float
) -> tuple[int, dict[str, str], bytes]:
    """GET `url`: status, headers and a body of at most MAX_JSON bytes, within
    `timeout` seconds in all. Raises httpx2 errors, TooLarge."""
    deadline = time.monotonic() + timeout
    with client.stream("GET", url, headers=headers(api_key), timeout=timeout) as response:
        limit = MAX_JSON if response.status_code < 300 else MAX_ERROR_BODY
        body = read_bounded(response, limit, deadline)
        return response.status_code, dict(response.headers), body


def parse_json(body: bytes) -> Any:
    """JSON from a body (ValueError, UnicodeDecodeError when it is not)."""
    return json.loads(body.decode("utf-8"))


class Cancelled(Exception):
    """The cancel event was set while waiting."""


class StreamingCall:
    """One POST read by a worker thread. `head()` waits for the status line; then
    `events()` yields the SSE events. Both wait in ticks of TICK seconds, raising
    `Cancelled` once `cancel` is set and `Retry` when a deadline passes:
    `first_timeout` seconds from the request to its first event (a long prefill),
    then `stall_timeout` seconds between events. `close()` ends the call at once."""

    def __init__(
        self,
        client: httpx2.Client,
        url: str,
        body: bytes,
        *,
        api_key: str | None,
        first_timeout: float,
        stall_timeout: float,
        cancel: threading.Event | None,
        max_line: int = MAX_LINE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.first_timeout = first_timeout
        self.stall_timeout = stall_timeout
        self.cancel = cancel
        self.max_line = max_line
        self.clock = clock
        self.status = 0
        self.headers: dict[str, str] = {}
        self.error_body = b""
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._started = clock()
        request_headers = headers(api_key, "text/event-stream")
        request_headers["Content-Type"] = "application/json"
        # never back to the pool: close() may shut this call's socket down at any time
        request_headers["Connection"] = "close"
        request = client.build_request(
            "POST", url, content=body, headers=request_headers, extensions={"trace": self._trace}
        )
        self._thread = threading.Thread(
            target=self._work, args=(client, request), name="lwz-http", daemon=True
        )
        self._thread.start()

    # -- the worker --------------------------------------------------------------

    def _trace(self, name: str, info: dict[str, Any]) -> None:
        """Keep the connection's socket, so that close() can wake a blocked read."""
        if name.endswith(("connect_tcp.complete", "start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self._socket = sock

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=TICK)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, client: httpx2.Client, request: httpx2.Request) -> None:
        response: httpx2.Response | None = None
        try:
            response = client.send(request, stream=True)
            stream = response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                self._socket = sock
            if response.status_code != 200:
                body = b""
                with contextlib.suppress(httpx2.HTTPError, TooLarge, OSError):
                    body = read_bounded(response, MAX_ERROR_BODY)
                self._put(("head", (response.status_code, dict(response.headers), body)))
                return
            if not self._put(("head", (200, dict(response.headers), b""))):
                return
            for chunk in response.iter_bytes():
                if not self._put(("data", chunk)):
                    return
            self._put(("eof", None))
        except BaseException as exc:  # handed to the caller, who decides
            self._put(("fail", exc))
        finally:
            if response is not None:
                with contextlib.suppress(Exception):
                    response.close()

    # -- the caller's side ----------------------------------------------------------

    def _get(self, deadline: float, waiting_for: str) -> tuple[str, Any]:
        while True:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled
            left = deadline - self.clock()
            if left <= 0:
                raise Retry(waiting_for)
            try:
                return self._queue.get(timeout=min(TICK, left))
            except queue.Empty:
                continue

    def _first_deadline(self) -> float:
        return self._started + self.first_timeout

    def head(self) -> int:
        """Wait for the status; for an error status, its body is in `error_body`."""
        kind, value = self._get(self._first_deadline(), f"no answer in {self.first_timeout:g} s")
        if kind == "fail":
            raise Retry(describe(value))
        self.status, self.headers, self.error_body = value
        return self.status

    def events(self) -> Iterator[Any]:
        """The stream's events (JSON values, then DONE if the server sends it)."""
        parser = SseParser(self.max_line)
        deadline = self._first_deadline()
        waiting = f"no answer in {self.first_timeout:g} s"
        while True:
            kind, value = self._get(deadline, waiting)
            if kind == "fail":
                raise Retry(describe(value))
            try:
                found = parser.end() if kind == "eof" else parser.feed(value)
            except MalformedStream as exc:
                raise Retry(str(exc)) from None
            yield from found
            if found:  # progress: the stall clock starts again
                deadline = self.clock() + self.stall_timeout
                waiting = f"the stream stalled for {self.stall_timeout:g} s"
            if kind == "eof" or parser.done:
                return

    def close(self) -> None:
        """End the call: the worker stops, and a read blocked on the socket wakes."""
        self._stop.set()
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                # socket.socket's own shutdown, even on an SSLSocket: it wakes the
                # worker's recv without touching the TLS object it is using
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
