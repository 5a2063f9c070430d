"""Engines stream tokens for a prompt; one small protocol, several backends."""

from lwz_cli.engine.protocol import Engine, GenerationStats, Piece, Sampling

__all__ = ["Engine", "GenerationStats", "Piece", "Sampling"]
