"""`lwz models pull`: from what the user named to verified files in the HF cache."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from lwz_cli.errors import UsageError
from lwz_cli.models import hub
from lwz_cli.models.catalog import DEFAULT_QUANT, LWZ_REPOS
from lwz_cli.models.hub_cache import RepoCache
from lwz_cli.models.hub_listing import RemoteFile, list_files
from lwz_cli.models.hub_rules import check_repo_id
from lwz_cli.models.registry import DEFAULT_MODEL


def parse_spec(spec: str) -> tuple[list[str], str | None, str | None]:
    """(candidate repos, quant, filename) for an alias, repo_id:QUANT or repo_id/file.gguf."""
    lowered = spec.lower()
    if lowered == DEFAULT_MODEL or lowered.startswith(DEFAULT_MODEL + ":"):
        quant = spec.partition(":")[2].upper() or None
        return [repo for repo, _ in LWZ_REPOS], quant, None
    hub_spec = re.fullmatch(r"([\w.-]+/[\w.-]+)(?::([\w.-]+)|/(.+\.gguf))?", spec)
    if not hub_spec:
        raise UsageError(
            f"cannot pull {spec!r}",
            hint=f"name {DEFAULT_MODEL}[:QUANT], repo_id:QUANT or repo_id/file.gguf",
        )
    return [check_repo_id(hub_spec.group(1))], hub_spec.group(2), hub_spec.group(3)


def plan_files(spec: str, *, quant: str | None = None) -> list[RemoteFile]:
    """The files a pull would fetch (one API call per repo tried)."""
    repos, spec_quant, filename = parse_spec(spec)
    quant = quant or spec_quant
    if not quant and not filename:
        if spec.lower() == DEFAULT_MODEL:
            quant = DEFAULT_QUANT
        else:
            raise UsageError(
                f"{spec} needs a quant or a file name",
                hint=f"for example {spec}:Q4_K_M or {spec}/FILE.gguf",
            )
    last_listing: list[RemoteFile] = []
    for repo in repos:
        files = list_files(repo)
        chosen = hub.select(files, quant=quant, filename=filename)
        if chosen:
            return chosen
        last_listing = files
    available = sorted(
        {
            m.group(1)
            for f in last_listing
            for m in [
                re.search(
                    r"[-_.]((?:I?Q\d|F16|BF16|F32)[\w]*?)(?:-\d{5}-of-\d{5})?\.gguf$", f.filename
                )
            ]
            if m
        }
    )
    what = filename or quant
    raise UsageError(
        f"{what} is not in {', '.join(repos)}",
        hint=("available: " + ", ".join(available)) if available else "check the name",
    )


def pull(
    spec: str,
    *,
    quant: str | None = None,
    progress: Callable[[list[RemoteFile]], Callable[[dict], None]] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    files = plan_files(spec, quant=quant)
    cache = RepoCache(files[0].repo_id)
    hub.check_paths(files, cache)
    hub.check_space(files, cache)
    reporter = progress(files) if progress else None
    offset = 0
    paths = []
    for file in files:

        def report(update, offset=offset):
            if reporter:
                reporter({**update, "offset": offset})

        paths.append(hub.download(file, progress=report, cancel=cancel))
        offset += file.size
    return paths[0]
