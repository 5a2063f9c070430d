"""Shared fixtures: the real tiny model, and a way to run the real `lwz` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    from lwz_cli.models.registry import tiny_model_path

    return tiny_model_path()


@pytest.fixture(scope="session")
def tiny_engine(tiny_path):
    from lwz_cli.engine.llama import LlamaEngine

    engine = LlamaEngine(str(tiny_path), n_ctx=2048, n_threads=2, seed=1)
    yield engine
    engine.close()


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
def run_lwz(lwz_env, tmp_path):
    """Run `python -m lwz_cli ARGS` in tmp_path; returns CompletedProcess."""

    def run(*args: str, input: str | None = None, timeout: float = 240, env=None):
        return subprocess.run(
            [sys.executable, "-m", "lwz_cli", *args],
            input=input, capture_output=True, text=True, timeout=timeout,
            cwd=tmp_path, env=env or lwz_env,
        )

    return run
