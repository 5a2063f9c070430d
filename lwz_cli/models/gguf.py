"""A small GGUF header reader: metadata without loading the model.

Used to refuse a file that is not a GGUF before llama.cpp touches it, and to
learn the architecture, trained context and chat template up front. Large
arrays (the vocabulary) are skipped, not kept.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lwz_cli.errors import UsageError

MAGIC = b"GGUF"
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_KEEP_ARRAY_MAX = 64  # keep small arrays; skip vocabularies
_MAX_DEPTH = 8  # arrays of arrays: GGUF files nest one level; deeper is damage (or an attack)


# `general.file_type`: llama.cpp's `llama_ftype` enum (llama.h), as quant names
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
    10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
    16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
    22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
    28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE",
}  # fmt: skip


def file_type_name(file_type: object) -> str | None:
    """`Q4_K_M` for 15; the number itself for a type this table does not know."""
    if not isinstance(file_type, int):
        return None
    return FILE_TYPES.get(file_type, f"type {file_type}")


class GGUFFormatError(ValueError):
    pass


# Below this a short read or a seek past the end costs nothing and is caught anyway (a
# short read here, the end check in read_gguf): an fstat per value made reading the
# tiny model's header (a million values) take 0.6 s instead of 0.1 s.
_CHECK_FROM = 1 << 16


def _check_left(handle: BinaryIO, size: int) -> None:
    """A declared size is believed only as far as the file goes: nothing is allocated
    or skipped for bytes that are not there (a length of 2**64 costs nothing)."""
    if size >= _CHECK_FROM and size > os.fstat(handle.fileno()).st_size - handle.tell():
        raise GGUFFormatError("file ends inside the GGUF header (truncated download?)")


def _read(handle: BinaryIO, size: int) -> bytes:
    _check_left(handle, size)
    data = handle.read(size)
    if len(data) != size:
        raise GGUFFormatError("file ends inside the GGUF header (truncated download?)")
    return data


def _skip(handle: BinaryIO, size: int) -> None:
    _check_left(handle, size)
    handle.seek(size, 1)


def _unpack(handle: BinaryIO, fmt: str):
    return struct.unpack(fmt, _read(handle, struct.calcsize(fmt)))[0]


def _string(handle: BinaryIO) -> str:
    length = _unpack(handle, "<Q")
    if length > 1 << 26:
        raise GGUFFormatError("implausible string length in GGUF header")
    return _read(handle, length).decode("utf-8", errors="replace")


def _value(handle: BinaryIO, kind: int, depth: int = 0) -> Any:
    if kind in _SCALARS:
        return _unpack(handle, _SCALARS[kind])
    if kind == _STRING:
        return _string(handle)
    if kind == _ARRAY:
        if depth >= _MAX_DEPTH:
            raise GGUFFormatError("arrays nested too deeply in GGUF header")
        item_kind = _unpack(handle, "<I")
        count = _unpack(handle, "<Q")
        if count <= _KEEP_ARRAY_MAX:
            return [_value(handle, item_kind, depth + 1) for _ in range(count)]
        if item_kind in _SCALARS:
            _skip(handle, struct.calcsize(_SCALARS[item_kind]) * count)
        elif item_kind == _STRING:
            for _ in range(count):
                _skip(handle, _unpack(handle, "<Q"))
        else:
            for _ in range(count):
                _value(handle, item_kind, depth + 1)
        return None  # skipped
    raise GGUFFormatError(f"unknown GGUF value type {kind}")


@dataclass
class GGUFInfo:
    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)

    def arch_value(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def context_length(self) -> int | None:
        return _count(self.arch_value("context_length"))

    @property
    def block_count(self) -> int | None:
        return _count(self.arch_value("block_count"))

    @property
    def chat_template(self) -> str | None:
        template = self.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) else None


def _count(value: Any) -> int | None:
    """A count the header gives (layers, context): a positive integer, else unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def read_gguf(path: Path | str) -> GGUFInfo:
    """Read a GGUF header. Raises UsageError naming the problem for bad files."""
    path = Path(path)
    try:
        with open(path, "rb", buffering=1 << 16) as handle:
            magic = handle.read(4)
            if magic != MAGIC:
                raise UsageError(
                    f"{path} is not a GGUF model file (it starts with {magic!r}, not b'GGUF')",
                    hint="pass a .gguf file, an alias such as 'tiny', or repo_id:QUANT",
                )
            version = _unpack(handle, "<I")
            if version < 2:
                raise UsageError(
                    f"{path} is GGUF version {version}, too old for llama.cpp",
                    hint="download a current GGUF conversion of the model",
                )
            tensor_count = _unpack(handle, "<Q")
            kv_count = _unpack(handle, "<Q")
            metadata: dict[str, Any] = {}
            for _ in range(kv_count):
                key = _string(handle)
                kind = _unpack(handle, "<I")
                value = _value(handle, kind)
                if value is not None:
                    metadata[key] = value
            if handle.tell() > os.fstat(handle.fileno()).st_size:  # a small skip went past it
                raise GGUFFormatError("file ends inside the GGUF header (truncated download?)")
    except GGUFFormatError as exc:
        raise UsageError(
            f"{path} is not a readable GGUF file: {exc}", hint="re-download the model"
        ) from exc
    except IsADirectoryError:
        raise UsageError(
            f"{path} is a directory, not a GGUF model file", hint="pass the .gguf file inside it"
        ) from None
    except FileNotFoundError:
        raise UsageError(
            f"model file not found: {path}", hint="check the path, or use an alias such as 'tiny'"
        ) from None
    except PermissionError:
        raise UsageError(
            f"cannot read model file {path}: permission denied", hint="fix its permissions"
        ) from None
    except OSError as exc:  # EIO, a vanished network mount...: still one line
        raise UsageError(
            f"cannot read model file {path}: {exc.strerror or exc}",
            hint="check the disk, or re-download the model",
        ) from None
    return GGUFInfo(path=path, version=version, tensor_count=tensor_count, metadata=metadata)
