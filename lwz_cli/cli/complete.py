"""Dynamic shell completion: model names, run paths and config keys."""

from __future__ import annotations

import typer


def models(incomplete: str) -> list[str]:
    from lwz_cli.models.names import model_names  # lazy: lwz --help start-up

    return model_names(incomplete)


def runs(incomplete: str) -> list[str]:
    try:
        from lwz_cli.run_listing import unfinished_runs  # lazy: lwz --help start-up
    except Exception:  # completion must never fail loudly
        return []
    return unfinished_runs(incomplete)


def config_keys(incomplete: str) -> list[str]:
    """The settings `lwz config get/set/unset` take."""
    from lwz_cli.config import SETTINGS  # lazy: lwz --help start-up

    return [key for key in SETTINGS if key.startswith(incomplete)]


def config_values(ctx: typer.Context, incomplete: str) -> list[str]:
    """Values for `lwz config set KEY`: the key's choices, true/false, or model names."""
    from lwz_cli.config import SETTINGS  # lazy: lwz --help start-up

    setting = SETTINGS.get(ctx.params.get("key") or "")
    if setting is None:
        return []
    if setting.key == "model":
        return models(incomplete)
    if setting.kind is bool:
        choices: tuple[str, ...] = ("true", "false")
    else:
        choices = setting.choices or ()
    return [c for c in choices if c.startswith(incomplete)]
