"""What runs a job's model: the backend seam between preparing a job and its engine.

A backend owns the model's identity, the vocabulary `prepare` sizes prompts
with, the hardware fit, loading the engine, and what the journal records of it.
`LocalBackend` (this module) runs a GGUF in process; `EndpointBackend`
(`lwz_cli.writing.endpoint`) an OpenAI-compatible server. The writing code asks
the backend and never which kind it has.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import UsageError
from lwz_cli.journal import model_fingerprint
from lwz_cli.models.catalog import architecture_of
from lwz_cli.models.fit import GGML_TYPE
from lwz_cli.models.fit import plan as fit_plan
from lwz_cli.models.gguf import GGUFInfo, read_gguf
from lwz_cli.models.hardware import probe
from lwz_cli.models.identity import ModelIdentity
from lwz_cli.models.registry import resolve_model


@dataclass(frozen=True)
class EngineSettings:
    """How to load an engine for a prepared job."""

    n_ctx: int
    threads: int
    gpu_layers: int = 0  # the fit plan's blocks on the GPU (-1: all)
    kv_type: str = "f16"
    flash_attn: bool = False
    seed: int | None = None
    verbose: bool = False


@dataclass(frozen=True)
class Fit:
    """Where the model runs, from the fit plan or the flags."""

    gpu_layers: int = 0
    kv_type: str = "f16"
    flash_attn: bool = False
    reason: str = ""  # the start event's fit_reason


class Vocab(Protocol):
    """The tokenizer `prepare` sizes prompts with before any engine loads; its ids
    are the engine's own (model tokens, or an endpoint's code points)."""

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]: ...

    def count_tokens(self, ids: Sequence[int]) -> int:
        """Model tokens a sequence of ids stands for."""
        ...

    @property
    def bos_token(self) -> int: ...

    @property
    def eos_token(self) -> int: ...

    def token_text(self, token: int) -> str: ...

    def close(self) -> None: ...


class Backend(Protocol):
    @property
    def identity(self) -> ModelIdentity: ...

    @property
    def n_ctx_train(self) -> int:
        """The context the token budget may plan for (0: unknown)."""
        ...

    @property
    def endpoint_url(self) -> str | None:
        """The server that runs the model (the start event's `endpoint`), or None."""
        ...

    @property
    def warnings(self) -> tuple[str, ...]:
        """What happened while the backend was opened (endpoints skipped)."""
        ...

    @property
    def supports_snapshots(self) -> bool:
        """Whether its engines can save KV snapshots (known before one loads)."""
        ...

    @property
    def reuses_engine(self) -> bool:
        """Whether one engine is worth keeping loaded across jobs (a model in
        memory is; an endpoint's engine is one per job, so parallel jobs never
        share a connection)."""
        ...

    def vocab(self, *, verbose: bool = False) -> Vocab: ...

    def count_tokens(self, ids: Sequence[int]) -> int:
        """Model tokens in a sequence of the engine's ids, before any engine loads."""
        ...

    def fit(self, *, n_ctx: int, gpu_layers: int | None, kv_type: str | None) -> Fit:
        """GPU layers, KV type and flash attention for a context of `n_ctx`;
        raises UsageError when the job cannot fit."""
        ...

    def engine_key(self, settings: EngineSettings) -> Hashable:
        """Equal for two jobs that can share one loaded engine."""
        ...

    def load_engine(self, settings: EngineSettings) -> Engine: ...

    def manifest_model(self) -> dict[str, Any]:
        """The journal's `model` entry."""
        ...

    def manifest_endpoint(self) -> dict[str, Any] | None:
        """The journal's `endpoint` entry (never the API key), or None."""
        ...


def llama_gpu_layers(info: GGUFInfo | None, gpu_layers: int) -> int:
    """llama.cpp's n_gpu_layers for the plan: it counts the output layer as one more
    than the model's blocks, so "all N blocks" must be -1 or layer 0 stays on the
    CPU (seen on an H100: "offloaded 30/31 layers" for a 30-block model)."""

    arch = architecture_of(info.metadata) if info is not None else None
    if gpu_layers < 0 or (arch is not None and gpu_layers >= arch.layers):
        return -1
    return gpu_layers


def local_manifest_model(identity: ModelIdentity) -> dict[str, Any]:
    """A local model's manifest entry: what names it, and its file's fingerprint."""

    entry = {
        "spec": identity.spec,
        "name": identity.display_name,
        "alias": identity.alias,
        "repo_id": identity.repo_id,
    }
    if identity.path is None:
        return {**entry, "path": None, "size": 0, "fingerprint": None, "sha256": None}
    return {**entry, **model_fingerprint(identity.path)}


def runs_in_process(backend: Backend) -> bool:
    """Whether the backend loads its model into this process, so that loading it holds
    the machine's engine slot (`lwz_cli.engine_slot`); an endpoint's model runs elsewhere."""
    return isinstance(backend, LocalBackend)


class LocalBackend:
    """A GGUF on this machine, run in process by llama.cpp."""

    endpoint_url = None
    warnings: tuple[str, ...] = ()
    supports_snapshots = True
    reuses_engine = True

    def __init__(self, identity: ModelIdentity):
        if identity.path is None or identity.info is None:
            raise ValueError("a local backend needs a GGUF file")
        self.identity = identity
        self.path = identity.path
        self.info: GGUFInfo = identity.info

    @classmethod
    def resolve(cls, spec: str | None) -> LocalBackend:
        """The model `--model` names (None: the default), read but not loaded."""
        model = resolve_model(spec)
        return cls(ModelIdentity.local(model, read_gguf(model.path)))

    @property
    def n_ctx_train(self) -> int:
        return self.identity.context_length or 0

    def vocab(self, *, verbose: bool = False) -> Vocab:
        from lwz_cli.engine.llama import VocabTokenizer

        return VocabTokenizer(self.identity.location, verbose=verbose)

    def count_tokens(self, ids: Sequence[int]) -> int:
        return len(ids)

    def fit(self, *, n_ctx: int, gpu_layers: int | None, kv_type: str | None) -> Fit:

        arch = architecture_of(self.info.metadata)
        if arch is None:
            kv = kv_type or "f16"
            return Fit(gpu_layers or 0, kv, kv != "f16")
        chosen = fit_plan(
            probe(), arch=arch, weights=self.path.stat().st_size, quant=self.path.name, ctx=n_ctx
        )
        if not chosen.fits and gpu_layers is None:
            raise UsageError(
                f"{self.identity.display_name} {chosen.reason}",
                hint=(f"nearest plan that would fit: {chosen.nearest}; " if chosen.nearest else "")
                + "`lwz fit` shows the arithmetic; --gpu-layers forces a plan",
            )
        layers = (
            chosen.gpu_layers
            if gpu_layers is None
            else (arch.layers if gpu_layers < 0 else gpu_layers)
        )
        kv = kv_type or (chosen.kv_type if gpu_layers is None else "f16")
        flash = kv != "f16" or (chosen.flash_attn and layers > 0)
        return Fit(
            layers, kv, flash, chosen.reason if gpu_layers is None else "set by --gpu-layers"
        )

    def engine_key(self, settings: EngineSettings) -> Hashable:
        return (
            self.identity.location,
            settings.n_ctx,
            llama_gpu_layers(self.info, settings.gpu_layers),
            settings.kv_type,
        )

    def load_engine(self, settings: EngineSettings) -> Engine:
        from lwz_cli.engine.llama import LlamaEngine

        type_kv = GGML_TYPE[settings.kv_type] if settings.kv_type != "f16" else None
        return LlamaEngine(
            self.identity.location,
            n_ctx=settings.n_ctx,
            n_threads=settings.threads,
            n_gpu_layers=llama_gpu_layers(self.info, settings.gpu_layers),
            flash_attn=settings.flash_attn,
            type_k=type_kv,
            type_v=type_kv,
            seed=settings.seed,
            verbose=settings.verbose,
        )

    def manifest_model(self) -> dict[str, Any]:
        return local_manifest_model(self.identity)

    def manifest_endpoint(self) -> dict[str, Any] | None:
        return None
