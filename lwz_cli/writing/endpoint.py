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

from pathlib import Path
from typing import Any

from lwz_cli.engine.http import (EndpointError, HttpEngine, estimate_tokens, first_reachable,
                                 normalize_url)
from lwz_cli.errors import UsageError
from lwz_cli.models.gguf import GGUFInfo, read_gguf
from lwz_cli.models.registry import ModelNotDownloaded, ResolvedModel, resolve_model
from lwz_cli.profiles import profile_for
from lwz_cli.writing import prompts


class RemoteVocab:
    """`prepare`'s tokenizer for an endpoint job: code points, as HttpEngine has them,
    with BOS/EOS text from the local GGUF when there is one."""

    def __init__(self, local=None, server_ctx: int | None = None):
        self._local = local
        self.server_ctx = server_ctx  # overrides the GGUF's trained context

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        return [ord(c) for c in text]

    def count_tokens(self, ids) -> int:
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


def endpoint_list(values) -> list[str]:
    """--endpoint values (repeatable; a config or env value may hold several,
    separated by spaces or commas), normalized, duplicates dropped."""
    urls: list[str] = []
    for value in values or ():
        for part in str(value).replace(",", " ").split():
            url = normalize_url(part)
            if url not in urls:
                urls.append(url)
    return urls


def _placeholder(name: str, n_ctx: int) -> tuple[ResolvedModel, GGUFInfo]:
    """Model identity for a model that lives only on the server."""
    info = GGUFInfo(path=Path(name), version=0, tensor_count=0,
                    metadata={"general.name": name, "general.architecture": "remote",
                              "remote.context_length": n_ctx})
    return ResolvedModel(path=Path(name), spec=name), info


def open_identity(request) -> tuple[ResolvedModel, GGUFInfo, RemoteVocab, dict[str, Any]]:
    """Probe the endpoints (the first that answers is used) and settle the model
    identity; returns what `prepare` needs in place of a local model."""
    urls = endpoint_list(request.endpoints)
    found, warnings = first_reachable(urls, api_key=request.api_key)
    served = request.endpoint_model or found.model
    model = None
    if request.model is not None:
        try:
            model = resolve_model(request.model)
        except ModelNotDownloaded:
            model = None  # the server runs it: its name still tells the protocol
    if model is not None:
        from lwz_cli.engine.llama import VocabTokenizer

        info = read_gguf(model.path)
        vocab = RemoteVocab(VocabTokenizer(str(model.path), verbose=request.verbose),
                            server_ctx=found.n_ctx)
    else:
        name = served or request.model or "endpoint"
        names = (name, request.model, request.endpoint_model)
        lwz = prompts.is_longwriter_zero(*names)
        model, info = _placeholder(name, found.n_ctx or request.ctx or profile_for(lwz).endpoint_ctx)
        vocab = RemoteVocab(None, server_ctx=found.n_ctx)
    endpoint = {
        "url": found.url, "urls": [found.url] + [u for u in urls if u != found.url],
        "model": served, "n_ctx": found.n_ctx, "server": found.server,
        "local_model": model.path.is_file() and info.version > 0,
        "warnings": warnings,
    }
    request.kv_snapshot = False
    return model, info, vocab, endpoint


def manifest_model(prepared) -> dict[str, Any]:
    """The manifest's model entry: a local model's fingerprint, or none."""
    from lwz_cli.journal import model_fingerprint

    model = prepared.model
    entry = {"spec": model.spec, "name": prepared.model_name, "alias": model.alias,
             "repo_id": model.repo_id}
    if prepared.endpoint and not prepared.endpoint.get("local_model"):
        return {**entry, "path": None, "size": 0, "fingerprint": None, "sha256": None}
    return {**entry, **model_fingerprint(model.path)}


def manifest_endpoint(prepared) -> dict[str, Any]:
    """What the journal records of the endpoint (never the API key)."""
    endpoint = prepared.endpoint
    return {"url": endpoint["url"], "urls": endpoint["urls"], "model": endpoint["model"],
            "n_ctx": endpoint.get("n_ctx"), "server": endpoint.get("server", ""),
            "local_model": endpoint.get("local_model", False)}


def load_engine(prepared) -> HttpEngine:
    endpoint = prepared.endpoint
    return HttpEngine(endpoint["url"], model=endpoint.get("model"),
                      api_key=prepared.request.api_key, n_ctx=prepared.tokens.n_ctx,
                      n_ctx_train=prepared.info.context_length,
                      ctx_known=bool(endpoint.get("n_ctx")),
                      fallbacks=endpoint.get("urls", [])[1:])


def prompt_token_count(prepared) -> int:
    """The prompt's length in model tokens (estimated for an endpoint)."""
    if prepared.endpoint:
        return estimate_tokens(prepared.prompt_tokens)
    return len(prepared.prompt_tokens)


def resume_identity(journal, *, model: str | None, force: bool, endpoints, api_key: str | None,
                    endpoint_model: str | None):
    """Model identity and endpoint for resuming a run written through an endpoint:
    the recorded endpoint unless `endpoints` overrides it."""
    manifest = journal.manifest
    recorded = manifest.get("endpoint")
    if recorded is None:
        raise UsageError("this run was written by the in-process engine; its token ids are "
                         "llama.cpp's, not an endpoint's",
                         hint="resume it without --endpoint (or start again with --restart)")
    urls = endpoint_list(endpoints) or list(recorded.get("urls") or [recorded["url"]])
    found, warnings = first_reachable(urls, api_key=api_key)
    served = endpoint_model or recorded.get("model") or found.model
    entry = manifest["model"]
    if recorded.get("local_model") and entry.get("path"):
        from lwz_cli.writing.resume import _model_for

        resolved = _model_for(journal, model, force)
        info = read_gguf(resolved.path)
    else:
        name = entry.get("name") or served or "endpoint"
        resolved, info = _placeholder(name, manifest["engine"]["n_ctx"])
        resolved = ResolvedModel(path=resolved.path, spec=entry.get("spec") or name)
    endpoint = {"url": found.url, "urls": [found.url] + [u for u in urls if u != found.url],
                "model": served, "n_ctx": found.n_ctx or recorded.get("n_ctx"),
                "server": found.server, "local_model": bool(recorded.get("local_model")),
                "warnings": warnings}
    return resolved, info, endpoint


def failed(exc: EndpointError, prepared, journal, save) -> EndpointError:
    """After the engine gave up: save what was written (`save` takes the checkpoint
    and marks the run interrupted), and say how to continue."""
    from lwz_cli.errors import Interrupted
    from lwz_cli.writing.result import resume_command

    if journal is not None:
        try:
            save()
        except Interrupted:
            pass
        except OSError:
            pass
    exc.hint = f"{exc.hint or 'check the server'}; then continue with: " \
               f"{resume_command(prepared, journal)}"
    return exc
