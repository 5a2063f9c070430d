"""The model names lwz knows: aliases, the LongWriter-Zero quants and the files in the
Hugging Face cache. Offered by shell completion and the REPL's /model."""

from __future__ import annotations

from contextlib import suppress

from lwz_cli.models.catalog import LWZ_QUANTS
from lwz_cli.models.hub import cached_files
from lwz_cli.models.registry import ALIASES, DEFAULT_MODEL


def model_names(prefix: str) -> list[str]:
    """The known model names starting with `prefix`; never raises (a broken cache only
    leaves its files out)."""
    names = list(ALIASES) + [f"{DEFAULT_MODEL}:{q.name}" for q in LWZ_QUANTS]
    with suppress(Exception):  # completion must never fail loudly
        names += [f"{repo}/{path.name}" for repo, path in cached_files()]
    return [n for n in names if n.startswith(prefix)]
