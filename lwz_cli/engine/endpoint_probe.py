"""Finding an endpoint and what it serves: `probe` asks GET /v1/models (and
llama-server's /props) which models a server runs and its context size, and
refuses what is not an OpenAI-compatible answer with one line naming the server.

Everything read is bounded (http_client.get_bounded: 8 MiB within the probe's
timeout) and checked before use: a listing that is not an object with a `data`
array is refused; entries without a printable string id of at most 512
characters are skipped; a context size that is not a positive whole number is
ignored. The API key is redacted from all a server says, model ids included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import httpx2

from lwz_cli.engine.endpoint_errors import (
    EndpointError,
    EndpointRejected,
    EndpointUnreachable,
    describe,
    error_message,
    one_line,
    redact,
    untrusted_hint,
)
from lwz_cli.engine.http_client import TooLarge, get_bounded, make_client, parse_json
from lwz_cli.errors import UsageError

PROBE_TIMEOUT = 5.0
MAX_MODEL_ID = 512  # characters; longer ids in a model list are skipped
MAX_CTX = 1 << 31  # a context size past this is not believed
REDIRECT_HINT = (
    "if that is the server's new address, pass it as --endpoint (lwz follows no redirects, so "
    "the API key never goes to another host)"
)


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


@dataclass
class EndpointInfo:
    url: str
    models: list[str] = field(default_factory=list)
    n_ctx: int | None = None  # the server's context size, when it says
    server: str = ""  # what answered: llama-server | vllm | openai-compatible

    @property
    def model(self) -> str | None:
        return self.models[0] if self.models else None


def json_kind(value: Any) -> str:
    """What a JSON value is, in words, for a message about a wrong one."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "null"


def positive_int(value: Any, limit: int = MAX_CTX) -> int | None:
    """A count a server reported (an int, or digits), or None when it is anything else."""
    if isinstance(value, bool):
        return None
    if (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and value.strip().isdigit() and len(value) < 20
    ):
        value = int(value)
    if isinstance(value, int) and 0 < value < limit:
        return value
    return None


def _get(
    client: httpx2.Client, url: str, path: str, api_key: str | None, timeout: float
) -> tuple[int, dict[str, str], bytes]:
    """GET url+path, bounded in size and time. Raises EndpointUnreachable when the
    server cannot be reached or answers too much."""
    try:
        return get_bounded(client, url + path, api_key=api_key, timeout=timeout)
    except TooLarge as exc:
        raise EndpointUnreachable(
            f"the endpoint {url} answered GET {path} with {exc}",
            url=url,
            hint="check --endpoint: it should name an OpenAI-compatible server",
        ) from None
    except (httpx2.HTTPError, OSError) as exc:
        reason = describe(exc)
        raise EndpointUnreachable(
            f"the endpoint {url} is not reachable ({redact(reason, api_key)})",
            url=url,
            hint=untrusted_hint(reason) or _unreachable_hint(),
        ) from None


def _unreachable_hint() -> str:
    hint = "start the server, or check --endpoint"
    proxies = sorted(k for k in getproxies() if k != "no")
    if proxies:  # the failure may be the proxy's
        names = ", ".join(f"{k.upper()}_PROXY" for k in proxies)
        hint += f" ({names} is set: check the proxy, or name the host in NO_PROXY)"
    return hint


def redirect_message(
    url: str, path: str, status: int, headers: dict[str, str], key: str | None
) -> str:
    where = one_line(redact(headers.get("location", "") or "nowhere", key), 200)
    return f"the endpoint {url} redirects {path} ({status}) to {where}"


def _served(listing: Any, url: str, key: str | None) -> tuple[list[str], int | None]:
    """The model ids of a /v1/models answer and vLLM's max_model_len. A listing that
    is not an OpenAI model list is refused; odd entries are skipped."""
    data = listing.get("data") if isinstance(listing, dict) else listing
    if not isinstance(listing, dict) or not isinstance(data, (list, type(None))):
        what = json_kind(listing) if not isinstance(listing, dict) else f"data as {json_kind(data)}"
        raise EndpointUnreachable(
            f"the endpoint {url} is not an OpenAI-compatible server: GET /v1/models "
            f"answered {what}, not a model list",
            url=url,
            hint="check --endpoint: it should name the server, e.g. http://127.0.0.1:8080",
        )
    models: list[str] = []
    n_ctx = None
    for entry in data or ():
        if not isinstance(entry, dict):
            continue
        name = entry.get("id")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_MODEL_ID:
            continue
        if not name.isprintable():
            continue
        models.append(redact(name, key))  # a server echoing the key gets no further
        if n_ctx is None:
            n_ctx = positive_int(entry.get("max_model_len"))
    return models, n_ctx


def probe(url: str, *, api_key: str | None = None, timeout: float = PROBE_TIMEOUT) -> EndpointInfo:
    """Is the endpoint there, which models does it serve and (where it says) what
    is its context size? llama-server: GET /props (default_generation_settings.n_ctx);
    vLLM: max_model_len in /v1/models; llama-cpp-python's server does not say."""
    url = normalize_url(url)
    with make_client(timeout) as client:
        status, headers, body = _get(client, url, "/v1/models", api_key, timeout)
        if status in (401, 403):
            raise EndpointRejected(
                f"the endpoint {url} refused the API key ({status})",
                url=url,
                status=status,
                hint="pass --api-key or set LWZ_API_KEY",
            )
        if 300 <= status < 400:
            raise EndpointRejected(
                redirect_message(url, "/v1/models", status, headers, api_key),
                url=url,
                status=status,
                hint=REDIRECT_HINT,
            )
        if status >= 400:
            raise EndpointRejected(
                f"{url}/v1/models answered {status}: {redact(error_message(body), api_key)}",
                url=url,
                status=status,
            )
        try:
            listing = parse_json(body)
        except ValueError:  # UnicodeDecodeError is one
            raise EndpointUnreachable(
                f"the endpoint {url} is not an OpenAI-compatible server: GET /v1/models "
                "answered something that is not JSON",
                url=url,
                hint="check --endpoint: it should name the server, e.g. http://127.0.0.1:8080",
            ) from None
        models, n_ctx = _served(listing, url, api_key)
        info = EndpointInfo(url, models, n_ctx, "vllm" if n_ctx else "openai-compatible")
        if info.n_ctx is None:
            info.n_ctx = _props_ctx(client, url, api_key, timeout)
            if info.n_ctx is not None:
                info.server = "llama-server"
    return info


def _props_ctx(client: httpx2.Client, url: str, key: str | None, timeout: float) -> int | None:
    """llama-server's context size from GET /props; None when it does not say."""
    try:
        status, _headers, body = _get(client, url, "/props", key, timeout)
        props = parse_json(body) if status == 200 else None
    except (EndpointError, ValueError):
        return None
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return positive_int(n_ctx) or positive_int(props.get("n_ctx"))


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
