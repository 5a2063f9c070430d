"""The model names lwz knows: aliases, the LongWriter-Zero quants and the files in the
Hugging Face cache. Offered by shell completion and the REPL's /model."""

from __future__ import annotations

from contextlib import suppress

from lwz_cli.errors import UsageError
from lwz_cli.models.catalog import LWZ_QUANTS, quant
from lwz_cli.models.hub import cached_files
from lwz_cli.models.registry import ALIASES, DEFAULT_MODEL, ModelNotDownloaded, resolve_model


def model_names(prefix: str) -> list[str]:
    """The known model names starting with `prefix`; never raises (a broken cache only
    leaves its files out)."""
    names = list(ALIASES) + [f"{DEFAULT_MODEL}:{q.name}" for q in LWZ_QUANTS]
    with suppress(Exception):  # completion must never fail loudly
        names += [f"{repo}/{path.name}" for repo, path in cached_files()]
    return [n for n in names if n.startswith(prefix)]


def check_model_name(spec: str) -> None:
    """Raise UsageError (with a did-you-mean) unless `spec` names a model lwz can use:
    an alias, a LongWriter-Zero quant, a .gguf file that exists, or a Hub model (one
    not downloaded yet is fine: `lwz models pull` fetches it)."""
    lowered = spec.strip().lower()
    if lowered in ALIASES:
        return
    if lowered.startswith(DEFAULT_MODEL + ":"):
        name = lowered.partition(":")[2]
        if quant(name) is None:
            known = ", ".join(q.name for q in LWZ_QUANTS)
            raise UsageError(
                f"unknown quant {name.upper()!r} of {DEFAULT_MODEL}", hint=f"use one of {known}"
            )
        return
    try:
        resolve_model(spec)  # an unknown name: a UsageError that says "did you mean"
    except ModelNotDownloaded:
        return
