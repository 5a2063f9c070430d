"""Engines stream tokens for a prompt; one protocol, two backends (llama.cpp
in process, an OpenAI-compatible endpoint over HTTP)."""

from lwz_cli.engine.protocol import (
    Detokenizer,
    Engine,
    GenerationStats,
    Piece,
    Sampling,
    WarningCallback,
)

__all__ = ["Detokenizer", "Engine", "GenerationStats", "Piece", "Sampling", "WarningCallback"]
