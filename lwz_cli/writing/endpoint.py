"""Writing through an OpenAI-compatible endpoint (`--endpoint URL`).

The job is prepared as for the in-process engine, with three differences:

- model identity and prompt format: when `--model` names a local model (e.g.
  `--model tiny`), its GGUF metadata gives the chat template, the BOS/EOS text,
  LongWriter-Zero detection and the trained context, as in-process. Otherwise the
  served model name (`--endpoint-model`, else the first id of GET /v1/models)
  decides: LongWriter-Zero's raw protocol when the name is LongWriter-Zero's,
  else a ChatML layout (`<|im_start|>role\\n...<|im_end|>\\n`, stop `<|im_end|>`);
- "tokens" are code points (see lwz_cli.engine.http); token counts compared
  with the context are estimates from `count_tokens`;
- the context size is the server's when it says (llama-server, vLLM), else
  `--ctx`, else the local model's trained context, else 32,768 for
  LongWriter-Zero and 8,192 for other models. No KV snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lwz_cli.engine.http import HttpEngine, estimate_tokens, first_reachable, normalize_url
from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import UsageError
from lwz_cli.models.gguf import read_gguf
from lwz_cli.models.identity import ModelIdentity
from lwz_cli.models.registry import ModelNotDownloaded, resolve_model
from lwz_cli.profiles import profile_for
from lwz_cli.runstate import Manifest
from lwz_cli.writing import prompts
from lwz_cli.writing.backend import EngineSettings, Fit, Vocab, local_manifest_model

if TYPE_CHECKING:
    from lwz_cli.engine.llama import VocabTokenizer


class RemoteVocab:
    """`prepare`'s tokenizer for an endpoint job: code points, as HttpEngine has them,
    with BOS/EOS text from the local GGUF when there is one."""

    def __init__(self, local: VocabTokenizer | None = None):
        self._local = local

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def count_tokens(self, ids: Sequence[int]) -> int:
        return estimate_tokens(ids)

    @property
    def bos_token(self) -> int:
        return self._local.bos_token if self._local is not None else -1

    @property
    def eos_token(self) -> int:
        return self._local.eos_token if self._local is not None else -1

    def token_text(self, token: int) -> str:
        return self._local.token_text(token) if self._local is not None and token >= 0 else ""

    def close(self) -> None:
        if self._local is not None:
            self._local.close()


def endpoint_list(values: Iterable[str] | None) -> list[str]:
    """--endpoint values (repeatable; a config or env value may hold several,
    separated by spaces or commas), normalized, duplicates dropped."""
    urls: list[str] = []
    for value in values or ():
        for part in str(value).replace(",", " ").split():
            url = normalize_url(part)
            if url not in urls:
                urls.append(url)
    return urls


@dataclass(frozen=True)
class EndpointBackend:
    """An OpenAI-compatible server runs the model; `identity` is a local GGUF when
    --model names one (its template and BOS/EOS text), else the served name."""

    identity: ModelIdentity
    url: str  # the endpoint that answered
    urls: tuple[str, ...]  # `url` first, then the fallbacks
    model: str | None  # the served model name sent with each request
    n_ctx: int | None  # the server's context size, when it says
    server: str = ""
    warnings: tuple[str, ...] = ()
    api_key: str | None = field(default=None, repr=False)  # never in the journal

    supports_snapshots = False
    reuses_engine = False

    @property
    def endpoint_url(self) -> str | None:
        return self.url

    @property
    def n_ctx_train(self) -> int:
        return self.n_ctx or self.identity.context_length or 0

    def vocab(self, *, verbose: bool = False) -> Vocab:
        from lwz_cli.engine.llama import VocabTokenizer

        local = (
            VocabTokenizer(self.identity.location, verbose=verbose)
            if self.identity.is_local
            else None
        )
        return RemoteVocab(local)

    def count_tokens(self, ids: Sequence[int]) -> int:
        return estimate_tokens(ids)

    def fit(self, *, n_ctx: int, gpu_layers: int | None, kv_type: str | None) -> Fit:
        return Fit(reason=f"the endpoint {self.url} runs the model")

    def engine_key(self, settings: EngineSettings) -> Hashable:
        return (self.url, self.model, settings.n_ctx)

    def load_engine(self, settings: EngineSettings) -> Engine:
        return HttpEngine(
            self.url,
            model=self.model,
            api_key=self.api_key,
            n_ctx=settings.n_ctx,
            n_ctx_train=self.identity.context_length,
            ctx_known=bool(self.n_ctx),
            fallbacks=self.urls[1:],
        )

    def manifest_model(self) -> dict[str, Any]:
        """A local model's fingerprint, or an entry without a file."""
        return local_manifest_model(self.identity)

    def manifest_endpoint(self) -> dict[str, Any] | None:
        return {
            "url": self.url,
            "urls": list(self.urls),
            "model": self.model,
            "n_ctx": self.n_ctx,
            "server": self.server,
            "local_model": self.identity.is_local,
        }


def open_endpoint(
    endpoints: Iterable[str],
    *,
    api_key: str | None,
    model_spec: str | None,
    endpoint_model: str | None,
    ctx: int | None,
) -> EndpointBackend:
    """Probe the endpoints (the first that answers is used) and settle the model
    identity: `model_spec` (--model) when it names a local GGUF, else the served name."""
    urls = endpoint_list(endpoints)
    found, warnings = first_reachable(urls, api_key=api_key)
    served = endpoint_model or found.model
    model = None
    if model_spec is not None:
        try:
            model = resolve_model(model_spec)
        except ModelNotDownloaded:
            model = None  # the server runs it: its name still tells the protocol
    if model is not None:
        identity = ModelIdentity.local(model, read_gguf(model.path))
    else:
        name = served or model_spec or "endpoint"
        lwz = prompts.is_longwriter_zero(name, model_spec, endpoint_model)
        identity = ModelIdentity.served(
            name, context_length=found.n_ctx or ctx or profile_for(lwz).endpoint_ctx
        )
    return EndpointBackend(
        identity,
        found.url,
        (found.url, *[u for u in urls if u != found.url]),
        served,
        found.n_ctx,
        found.server,
        tuple(warnings),
        api_key,
    )


def resume_endpoint(
    manifest: Manifest,
    *,
    local_model: Callable[[], ModelIdentity],
    endpoints: Iterable[str] | None,
    api_key: str | None,
    endpoint_model: str | None,
) -> EndpointBackend:
    """The backend for resuming a run written through an endpoint: the recorded
    endpoint unless `endpoints` overrides it. `local_model` gives the run's GGUF
    when it was written with one."""
    recorded = manifest.endpoint
    if recorded is None:
        raise UsageError(
            "this run was written by the in-process engine; its token ids are "
            "llama.cpp's, not an endpoint's",
            hint="resume it without --endpoint (or start again with --restart)",
        )
    urls = endpoint_list(endpoints) or list(recorded.get("urls") or [recorded["url"]])
    found, warnings = first_reachable(urls, api_key=api_key)
    served = endpoint_model or recorded.get("model") or found.model
    entry = manifest.model
    if recorded.get("local_model") and entry.get("path"):
        identity = local_model()
    else:
        name = entry.get("name") or served or "endpoint"
        identity = ModelIdentity.served(
            name, spec=entry.get("spec") or name, context_length=manifest.engine.n_ctx
        )
    return EndpointBackend(
        identity,
        found.url,
        (found.url, *[u for u in urls if u != found.url]),
        served,
        found.n_ctx or recorded.get("n_ctx"),
        found.server,
        tuple(warnings),
        api_key,
    )
