"""Shared fixtures: the real tiny model, the real `lwz` CLI as a process, and the
same CLI in this process (fast: for tests that only need its exit code and output).

Tests that load the real model or start a process are marked `slow`;
`pytest -m "not slow"` runs the rest in well under a minute. A test that loads
the model without the mark fails and says so, so the fast tier stays fast.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hypothesis_profiles  # noqa: F401  (registers and loads the fuzz tests' profile)

ROOT = Path(__file__).resolve().parent.parent


def _needs_slow(request: pytest.FixtureRequest, what: str) -> None:
    if request.node.get_closest_marker("slow") is None:
        pytest.fail(f"{request.node.nodeid} {what}: mark it @pytest.mark.slow", pytrace=False)


@pytest.fixture(autouse=True)
def _fast_tests_load_no_model(request, monkeypatch):
    """Outside the slow tier, loading the real model's weights is an error."""
    if request.node.get_closest_marker("slow") is not None:
        return
    from lwz_cli.engine.llama import LlamaEngine

    def refuse(self, *args, **kwargs):
        _needs_slow(request, "loads the real model")

    monkeypatch.setattr(LlamaEngine, "__init__", refuse)


@pytest.fixture()
def fake_model(monkeypatch):
    """Wherever lwz would load the real model's weights (`lwz write`, `lwz chat`,
    a `DraftingSession`), it gets a scripted engine instead: `use(script)` returns
    the `FakeEngine` the next loads give."""
    from fake_engine import FakeEngine

    def use(script, **kwargs) -> FakeEngine:
        engine = FakeEngine(script, **kwargs)
        monkeypatch.setattr(
            "lwz_cli.engine.llama.LlamaEngine",
            lambda model_path, *, n_ctx, **settings: engine.load(n_ctx),
        )
        return engine

    return use


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    from lwz_cli.models.registry import tiny_model_path

    return tiny_model_path()


@pytest.fixture(scope="session")
def _tiny_engine(tiny_path):
    from lwz_cli.engine.llama import LlamaEngine

    engine = LlamaEngine(str(tiny_path), n_ctx=2048, n_threads=2, seed=1)
    yield engine
    engine.close()


@pytest.fixture()
def tiny_engine(request, _tiny_engine):
    """The real tiny model, loaded once per session (slow tests only)."""
    _needs_slow(request, "uses the real model")
    return _tiny_engine


@pytest.fixture()
def lwz_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["LWZ_HOME"] = str(tmp_path / "lwz-home")
    env["HF_HUB_CACHE"] = str(tmp_path / "hf-cache")
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("LWZ_MODEL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture()
def run_lwz(request, lwz_env, tmp_path):
    """Run `python -m lwz_cli ARGS` in tmp_path; returns CompletedProcess (slow tests only)."""
    _needs_slow(request, "starts lwz as a process")

    def run(*args: str, input: str | None = None, timeout: float = 240, env=None):
        return subprocess.run(
            [sys.executable, "-m", "lwz_cli", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env=env or lwz_env,
        )

    return run


@pytest.fixture()
def lwz(lwz_env, tmp_path, monkeypatch, capsys):
    """Run `lwz ARGS` in this process (`lwz_cli.cli.main`), in tmp_path with
    run_lwz's environment; returns a CompletedProcess like run_lwz. `env` adds
    variables for one call."""
    from huggingface_hub import constants

    from lwz_cli.cli import main

    for key in ("LWZ_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "PYTHONUNBUFFERED"):
        monkeypatch.setenv(key, lwz_env[key])
    monkeypatch.delenv("LWZ_MODEL", raising=False)
    # huggingface_hub reads these once, at import: set what a fresh process would see
    monkeypatch.setattr(constants, "HF_HUB_CACHE", lwz_env["HF_HUB_CACHE"])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        with monkeypatch.context() as scoped:
            for key, value in (env or {}).items():
                scoped.setenv(key, value)
            scoped.setattr(sys, "stdin", io.StringIO(input or ""))
            capsys.readouterr()
            with pytest.raises(SystemExit) as exited:
                main(list(args))
            out, err = capsys.readouterr()
        code = exited.value.code
        return subprocess.CompletedProcess(
            list(args), code if isinstance(code, int) else 1, out, err
        )

    return run
