"""Which model writes a job: a local GGUF, or a model that lives only on a server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lwz_cli.models.gguf import GGUFInfo
from lwz_cli.models.registry import ResolvedModel


@dataclass(frozen=True)
class ModelIdentity:
    """`path` and `info` are None when only the server has the model; then `name`
    is the served name and `context_length` what the server, --ctx or the
    protocol's default says."""

    spec: str  # what --model said (or the served name)
    name: str  # the GGUF's general.name, or the served model's name
    path: Path | None = None
    alias: str | None = None
    repo_id: str | None = None
    info: GGUFInfo | None = None
    context_length: int | None = None

    @classmethod
    def local(cls, model: ResolvedModel, info: GGUFInfo) -> ModelIdentity:
        return cls(
            spec=model.spec,
            name=info.name,
            path=model.path,
            alias=model.alias,
            repo_id=model.repo_id,
            info=info,
            context_length=info.context_length,
        )

    @classmethod
    def served(
        cls, name: str, *, spec: str | None = None, context_length: int | None = None
    ) -> ModelIdentity:
        return cls(spec=spec or name, name=name, context_length=context_length)

    @property
    def is_local(self) -> bool:
        return self.path is not None

    @property
    def display_name(self) -> str:
        return self.alias or self.name

    @property
    def location(self) -> str:
        """The GGUF's path, or the served name (the start event's `model_path`)."""
        return str(self.path if self.path is not None else Path(self.name))

    @property
    def file_name(self) -> str:
        """The GGUF's file name (or the served name): names like LongWriter-Zero's."""
        return (self.path if self.path is not None else Path(self.name)).name

    @property
    def chat_template(self) -> str | None:
        return self.info.chat_template if self.info is not None else None
