"""The engine seam without a model: both engines implement the whole `Engine`
protocol, both backends the whole `Backend` protocol, the writing code never
duck-types an engine, and one engine cache serves chat and batch."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest

from fake_engine import FakeEngine
from lwz_cli.engine.http import HttpEngine, estimate_tokens
from lwz_cli.engine.llama import LlamaEngine, VocabTokenizer
from lwz_cli.engine.protocol import Engine, GenerationStats
from lwz_cli.models.identity import ModelIdentity
from lwz_cli.writing.backend import Backend, EngineSettings, LocalBackend, Vocab
from lwz_cli.writing.endpoint import EndpointBackend, RemoteVocab
from lwz_cli.writing.engines import EngineCache

PACKAGE = Path(__file__).resolve().parent.parent / "lwz_cli"


def members(protocol: type) -> tuple[set[str], set[str]]:
    """(data attributes, methods and properties) a Protocol declares."""
    data = set(getattr(protocol, "__annotations__", {}))
    callables = {
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }
    return data, callables


def assigned_in_init(cls: type) -> set[str]:
    """Attributes the class sets on its instances (read from its source: the fast
    tier replaces LlamaEngine.__init__)."""
    return set(re.findall(r"self\.(\w+)\s*(?::[^=]+)?=", inspect.getsource(cls)))


def check_implements(protocol: type, cls: type) -> None:
    data, callables = members(protocol)
    fields = set(getattr(cls, "__dataclass_fields__", {}))
    attributes = {name for name in callables if isinstance(vars(protocol)[name], property)}
    for name in sorted(data | attributes):  # a read-only property may be a plain attribute
        assert hasattr(cls, name) or name in fields or name in assigned_in_init(cls), (
            f"{cls.__name__} lacks {protocol.__name__}.{name}"
        )
    for name in sorted(callables - attributes):
        wanted = vars(protocol)[name]
        assert hasattr(cls, name), f"{cls.__name__} lacks {protocol.__name__}.{name}()"
        have = inspect.getattr_static(cls, name)
        if callable(wanted):
            assert callable(have), f"{cls.__name__}.{name} is not a method"
            expected = list(inspect.signature(wanted).parameters)
            actual = list(inspect.signature(have).parameters)
            assert actual == expected, f"{cls.__name__}.{name}{actual} differs from {expected}"


@pytest.mark.parametrize("engine", [LlamaEngine, HttpEngine, FakeEngine])
def test_every_engine_implements_the_whole_protocol(engine):
    data, callables = members(Engine)
    # what the strategies call: one declaration each, so a missing one fails here
    assert {"n_ctx", "n_ctx_train", "last", "on_warning"} <= data
    assert {
        "tokenize",
        "count_tokens",
        "detokenizer",
        "stream",
        "snapshot_size",
        "save_snapshot",
        "load_snapshot",
        "supports_snapshots",
        "token_counts",
        "close",
    } <= callables
    check_implements(Engine, engine)


@pytest.mark.parametrize("backend", [LocalBackend, EndpointBackend])
def test_both_backends_implement_the_whole_protocol(backend):
    check_implements(Backend, backend)


@pytest.mark.parametrize("vocab", [VocabTokenizer, RemoteVocab])
def test_both_vocabularies_implement_the_protocol(vocab):
    check_implements(Vocab, vocab)


def test_http_engine_reports_its_capabilities():
    engine = HttpEngine("http://127.0.0.1:9", n_ctx=4096)
    assert engine.supports_snapshots is False and engine.token_counts is None
    assert engine.count_tokens([ord(c) for c in "hello world"]) == estimate_tokens(
        [ord(c) for c in "hello world"]
    )
    assert isinstance(engine.last, GenerationStats) and engine.on_warning is None


def test_writing_code_never_duck_types_an_engine():
    files = [*sorted((PACKAGE / "writing").glob("*.py")), PACKAGE / "batch.py"]
    found = [
        f"{path.name}:{number}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "getattr(" in line or "hasattr(" in line
    ]
    assert found == [], f"getattr/hasattr in the writing code: {found}"


def test_engines_and_model_identity_import_nothing_from_writing():
    """The backends live in writing/ and import the engines, never the reverse."""
    for path in [*sorted((PACKAGE / "engine").glob("*.py")), PACKAGE / "models" / "identity.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            assert not any(n.startswith("lwz_cli.writing") for n in names), (
                f"{path.parent.name}/{path.name} imports {names}"
            )


def served(url: str = "http://127.0.0.1:9", *, n_ctx: int | None = 8192) -> EndpointBackend:
    identity = ModelIdentity.served("org/some-model", context_length=32_768)
    return EndpointBackend(
        identity,
        url,
        (url, "http://127.0.0.1:10"),
        "some-model",
        n_ctx,
        "llama-server",
        ("http://127.0.0.1:8 is not reachable; skipped",),
        api_key="sk-secret",
    )


def test_endpoint_backend_journal_entries_never_hold_the_key():
    backend = served()
    assert backend.manifest_endpoint() == {
        "url": "http://127.0.0.1:9",
        "urls": ["http://127.0.0.1:9", "http://127.0.0.1:10"],
        "model": "some-model",
        "n_ctx": 8192,
        "server": "llama-server",
        "local_model": False,
    }
    assert backend.manifest_model() == {
        "spec": "org/some-model",
        "name": "org/some-model",
        "alias": None,
        "repo_id": None,
        "path": None,
        "size": 0,
        "fingerprint": None,
        "sha256": None,
    }
    assert "sk-secret" not in repr(backend)
    assert backend.endpoint_url == "http://127.0.0.1:9" and backend.warnings
    assert (
        backend.fit(n_ctx=4096, gpu_layers=None, kv_type=None).reason
        == "the endpoint http://127.0.0.1:9 runs the model"
    )
    assert backend.identity.location == "org/some-model" and not backend.identity.is_local
    assert backend.n_ctx_train == 8192  # the server's context, over the assumed one


def test_endpoint_backend_loads_an_http_engine_for_the_job():
    engine = served().load_engine(EngineSettings(n_ctx=4096, threads=2))
    assert isinstance(engine, HttpEngine)
    assert (
        engine.url,
        engine.model,
        engine.n_ctx,
        engine.n_ctx_train,
        engine.ctx_known,
        engine.fallbacks,
    ) == ("http://127.0.0.1:9", "some-model", 4096, 32_768, True, ["http://127.0.0.1:10"])
    unknown = served(n_ctx=None).load_engine(EngineSettings(n_ctx=4096, threads=2))
    assert isinstance(unknown, HttpEngine) and unknown.ctx_known is False


class CountingBackend:
    """Loads a recording engine; keys on the context size only."""

    def __init__(self) -> None:
        self.loaded: list[Any] = []

    def engine_key(self, settings: EngineSettings) -> Hashable:
        return settings.n_ctx

    def load_engine(self, settings: EngineSettings) -> Any:
        engine = ClosingEngine()
        self.loaded.append(engine)
        return engine


class ClosingEngine:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_engine_cache_reuses_an_engine_until_the_key_changes():
    backend = CountingBackend()
    cache = EngineCache()
    first = cache.get(backend, EngineSettings(n_ctx=2048, threads=2))  # type: ignore[arg-type]
    again = cache.get(backend, EngineSettings(n_ctx=2048, threads=4))  # type: ignore[arg-type]
    assert again is first and len(backend.loaded) == 1
    other = cache.get(backend, EngineSettings(n_ctx=4096, threads=2))  # type: ignore[arg-type]
    assert other is not first and first.closed and not other.closed
    cache.close()
    assert other.closed


def test_local_engine_key_counts_all_blocks_as_all_layers(tiny_path):  # reads the GGUF only
    """Chat and batch share one key: 30 of 30 blocks and -1 load the same engine."""
    backend = LocalBackend.resolve(str(tiny_path))
    every = EngineSettings(n_ctx=2048, threads=2, gpu_layers=30)
    assert backend.engine_key(every) == backend.engine_key(
        EngineSettings(n_ctx=2048, threads=2, gpu_layers=-1)
    )
    assert backend.engine_key(every) != backend.engine_key(
        EngineSettings(n_ctx=2048, threads=2, gpu_layers=12)
    )
