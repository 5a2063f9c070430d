"""Loopback servers for the endpoint tests that misbehave on purpose: each answers
GET /v1/models and POST /v1/completions with whatever bytes a test scripts, so a
test can send a never-ending line, a stall, garbage, a redirect or an echo of the
request's headers."""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[BaseHTTPRequestHandler], None]


def sse(*events: Any, done: bool = True) -> bytes:
    """An event stream of `events` (JSON values; bytes are sent as they are)."""
    out = b""
    for event in events:
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        out += b"data: " + data + b"\n\n"
    return out + (b"data: [DONE]\n\n" if done else b"")


def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"text": text, "index": 0, "finish_reason": finish}]}


ANSWER = [
    "<think>",
    "A plan.",
    "</think>",
    "<answer>",
    "# Tea\n\n",
    "Tea is a drink. ",
    "Green tea is picked young.",
    "</answer>",
]
GOOD_STREAM = sse(*[chunk(t) for t in ANSWER], chunk("", "stop"))


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    headers.setdefault("Content-Type", "application/json")
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)


def stream(handler: BaseHTTPRequestHandler, body: bytes, content_type="text/event-stream") -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


def models_list(*names: str, **extra: Any) -> bytes:
    return json.dumps({"object": "list", "data": [{"id": n, **extra} for n in names]}).encode()


class HostileServer:
    """`models(handler)` answers GET /v1/models (by default a one-model list) and
    `completions(handler)` POST /v1/completions (by default a good stream). Records
    each request: (method, path, headers)."""

    def __init__(
        self,
        completions: Handler | None = None,
        models: Handler | None = None,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ):
        self.completions = completions or (lambda h: stream(h, GOOD_STREAM))
        self.models = models or (lambda h: send(h, 200, models_list("fake-model")))
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.stop = threading.Event()  # set when the test is over: stalls end
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        # handlers reach these through `handler.server`: wait on `stop`, read `owner`
        self._server.stop = self.stop  # type: ignore[attr-defined]
        self._server.owner = self  # type: ignore[attr-defined]
        if tls is not None:  # https: the handshake happens as each connection is accepted
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handler(server):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                server.requests.append((self.command, self.path, dict(self.headers)))

            def _run(self, answer: Handler) -> None:
                # the client hangs up, as it should on garbage
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    answer(self)
                self.close_connection = True

            def do_GET(self) -> None:
                self._record()
                if self.path.endswith("/v1/models"):
                    self._run(server.models)
                else:
                    send(self, 404, b'{"detail": "Not Found"}')

            def do_POST(self) -> None:
                self._record()
                length = int(self.headers.get("Content-Length", 0))
                self.body = json.loads(self.rfile.read(length) or b"{}")
                self._run(server.completions)

        return Handler
