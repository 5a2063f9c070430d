"""Dynamic shell completion: model names and run paths."""

from __future__ import annotations


def models(incomplete: str) -> list[str]:
    from lwz_cli.models.catalog import LWZ_QUANTS
    from lwz_cli.models.registry import ALIASES, DEFAULT_MODEL

    names = list(ALIASES) + [f"{DEFAULT_MODEL}:{q.name}" for q in LWZ_QUANTS]
    try:
        from lwz_cli.models.hub import cached_files

        names += [f"{repo}/{path.name}" for repo, path in cached_files()]
    except Exception:  # completion must never fail loudly
        pass
    return [n for n in names if n.startswith(incomplete)]


def runs(incomplete: str) -> list[str]:
    try:
        from lwz_cli.journal import Journal
        from lwz_cli.writing.resume import UNFINISHED

        found = []
        for journal in Journal.all():
            if journal.manifest.get("status") in UNFINISHED:
                found.append(journal.manifest.get("output") or journal.dir.name)
        return [f for f in found if f.startswith(incomplete) or
                f.split("/")[-1].startswith(incomplete)]
    except Exception:
        return []
