"""Dynamic shell completion: model names and run paths."""

from __future__ import annotations


def models(incomplete: str) -> list[str]:
    from lwz_cli.models.names import model_names  # lazy: lwz --help start-up

    return model_names(incomplete)


def runs(incomplete: str) -> list[str]:
    try:
        from lwz_cli.run_listing import unfinished_runs  # lazy: lwz --help start-up
    except Exception:  # completion must never fail loudly
        return []
    return unfinished_runs(incomplete)
