"""Every path lwz uses, from XDG base directories; LWZ_HOME overrides all state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


@dataclass(frozen=True)
class Paths:
    config: Path
    data: Path
    state: Path
    cache: Path
    runtime: Path | None = None  # $XDG_RUNTIME_DIR/lwz: per-login, on tmpfs (None: unset)

    @property
    def config_file(self) -> Path:
        return self.config / "config.yaml"

    @property
    def runs(self) -> Path:
        return self.data / "runs"

    @property
    def history(self) -> Path:
        return self.state / "chat-history"

    @property
    def engine_slot(self) -> Path:
        """The lock every in-process model load holds (`lwz_cli.engine_slot`)."""
        return (self.runtime or self.state) / "engine.lock"


def paths() -> Paths:
    home = os.environ.get("LWZ_HOME")
    if home:
        base = Path(home).expanduser()
        return Paths(base / "config", base / "data", base / "state", base / "cache")
    return Paths(
        _xdg("XDG_CONFIG_HOME", ".config") / "lwz",
        _xdg("XDG_DATA_HOME", ".local/share") / "lwz",
        _xdg("XDG_STATE_HOME", ".local/state") / "lwz",
        _xdg("XDG_CACHE_HOME", ".cache") / "lwz",
        Path(os.environ["XDG_RUNTIME_DIR"]) / "lwz" if os.environ.get("XDG_RUNTIME_DIR") else None,
    )
