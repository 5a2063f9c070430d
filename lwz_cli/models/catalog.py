"""What lwz knows about LongWriter-Zero-32B before downloading anything: the quants
on the Hub with their sizes, and the architecture numbers the fit plan needs.

Sizes are the Hub's for Qwen2.5-32B GGUFs (LongWriter-Zero-32B is that
architecture; mradermacher's Q4_K_M and Q8_0 match field-notes.md exactly); a
pull takes the exact size and sha256 from the Hub itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str
    layers: int
    kv_heads: int
    head_dim: int
    context: int  # trained context
    params_b: float


@dataclass(frozen=True)
class Quant:
    name: str
    size: int  # bytes
    bits: float  # bits per weight, roughly


QWEN25_32B = Architecture(
    "qwen2", layers=64, kv_heads=8, head_dim=128, context=32_768, params_b=32.8
)

LWZ_QUANTS = (
    Quant("Q8_0", 34_820_885_792, 8.5),
    Quant("Q6_K", 26_886_154_752, 6.6),
    Quant("Q5_K_M", 23_262_157_312, 5.7),
    Quant("Q4_K_M", 19_851_336_992, 4.8),
    Quant("Q4_K_S", 18_784_410_112, 4.6),
    Quant("IQ4_XS", 17_690_789_888, 4.3),
    Quant("Q3_K_M", 15_935_047_680, 3.9),
)
DEFAULT_QUANT = "Q4_K_M"

LWZ_REPOS = (
    ("bartowski/THU-KEG_LongWriter-Zero-32B-GGUF", "THU-KEG_LongWriter-Zero-32B-{quant}.gguf"),
    ("mradermacher/LongWriter-Zero-32B-GGUF", "LongWriter-Zero-32B.{quant}.gguf"),
)


def quant(name: str) -> Quant | None:
    for q in LWZ_QUANTS:
        if q.name.lower() == name.lower():
            return q
    return None


def architecture_of(metadata: dict) -> Architecture | None:
    """The fit plan's numbers from GGUF metadata (None if they are missing)."""
    arch = metadata.get("general.architecture")
    if not arch:
        return None

    def value(key, default=None):
        found = metadata.get(f"{arch}.{key}", default)
        # a count from the header: a positive integer, or as if missing (a damaged file)
        return (
            found
            if isinstance(found, int) and not isinstance(found, bool) and found > 0
            else default
        )

    layers, heads = value("block_count"), value("attention.head_count")
    kv_heads = value("attention.head_count_kv", heads)
    embedding = value("embedding_length")
    head_dim = value("attention.key_length") or (
        embedding // heads if embedding and heads else None
    )
    if not (layers and kv_heads and head_dim):
        return None
    return Architecture(
        arch, int(layers), int(kv_heads), int(head_dim), int(value("context_length", 4096)), 0.0
    )
