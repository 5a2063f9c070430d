"""The errors an OpenAI-compatible endpoint ends in, and the words for them.

Every message built from what a server sent goes through `redact`: a hostile or
careless server may echo the request's `Authorization` header back (in an error
body, a `Location`, a garbage event), and the API key must never reach a
terminal, an event or a log.
"""

from __future__ import annotations

import json
import socket
import ssl

import httpx2

from lwz_cli.errors import RuntimeFailure

MESSAGE_CHARS = 300  # at most this much of a server's own words in one line


class EndpointError(RuntimeFailure):
    """An OpenAI-compatible endpoint failed (exit 1). `url` names it."""

    def __init__(self, message: str, *, url: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.url = url


class EndpointUnreachable(EndpointError):
    """The endpoint could not be reached, kept failing, or is not an OpenAI-compatible
    server at all, after the retries."""


class EndpointRejected(EndpointError):
    """The endpoint answered with an error that retrying will not fix (a 3xx or 4xx,
    an `error` event)."""

    def __init__(self, message: str, *, url: str, status: int, hint: str | None = None):
        super().__init__(message, url=url, hint=hint)
        self.status = status


class Retry(Exception):
    """One attempt failed in a way worth retrying; the message says how."""


def redact(text: str, secret: str | None) -> str:
    """`text` without `secret` (the API key) anywhere in it."""
    if secret:
        text = text.replace(secret, "***")
    return text


def one_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A server's words squeezed onto one line, cut at `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_message(body: bytes) -> str:
    """The server's own words from an error body (OpenAI, llama-server, FastAPI shapes)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text) or "no message"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or json.dumps(err)
        elif isinstance(err, list) and err and isinstance(err[0], dict):
            err = "; ".join(str(e.get("msg", e)) for e in err)
        if err:
            return one_line(str(err))
    return one_line(text) or "no message"


def describe(exc: BaseException) -> str:
    """A failed connection or read in a few words (never the request's headers)."""
    if isinstance(exc, httpx2.ProxyError):
        return f"the proxy failed: {one_line(str(exc), 120)}"
    if isinstance(exc, httpx2.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, (httpx2.TimeoutException, socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, (httpx2.ConnectError, OSError)):
        text = str(exc)
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in text:
            return "its TLS certificate is not trusted"
        if isinstance(exc, ConnectionRefusedError) or "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "unknown host"
        if isinstance(exc, ConnectionResetError) or "reset" in text.lower():
            return "connection reset"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return "the server closed the connection"
    if isinstance(exc, httpx2.ReadError):
        return "the connection broke"
    return one_line(str(exc) or type(exc).__name__, 200)


def untrusted_hint(reason: str) -> str | None:
    """The fix for a certificate lwz does not trust."""
    if "certificate" in reason:
        return "point SSL_CERT_FILE (or REQUESTS_CA_BUNDLE) at the CA bundle that signed it"
    return None
