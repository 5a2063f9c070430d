"""Incremental, UTF-8-safe detokenization: O(1) work per token.

`create_completion` re-detokenizes the whole completion each token; here each
token's bytes are looked up once (cached per id) and fed to an incremental
UTF-8 decoder, which holds back a multi-byte character split across tokens.
"""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Callable


class IncrementalDetokenizer:
    def __init__(self, token_bytes: Callable[[int], bytes]):
        self._token_bytes = token_bytes
        self._cache: dict[int, bytes] = {}
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token: int) -> str:
        piece = self._cache.get(token)
        if piece is None:
            piece = self._cache[token] = self._token_bytes(token)
        return self._decoder.decode(piece)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)

    @property
    def pending(self) -> bool:
        """Bytes of an incomplete UTF-8 character are waiting for the next token."""
        return bool(self._decoder.getstate()[0])

    def reset(self) -> None:
        self._decoder.reset()


def llama_token_bytes(vocab, *, special: bool = False) -> Callable[[int], bytes]:
    """A token -> bytes function for a llama.cpp vocab (no trailing NULs)."""
    import llama_cpp

    size = 64
    buffer = ctypes.create_string_buffer(size)

    def token_bytes(token: int) -> bytes:
        nonlocal buffer, size
        n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, special)
        if n < 0:  # piece longer than the buffer: grow and retry
            size = -n
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, size, 0, special)
        return buffer.raw[: max(n, 0)]

    return token_bytes
