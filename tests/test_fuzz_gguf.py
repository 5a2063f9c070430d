"""Fuzz: the GGUF header reader, on the real tiny model's header (truncated, bytes
overwritten with edge values) and on synthetic headers whose declared lengths, counts
and types may lie.

Reading gives a GGUFInfo whose properties work, or lwz's UsageError naming the file;
never another exception, and never more memory than the declared sizes allow
(a string or array length of 2**64 allocates nothing). The file's bytes only: no
model is loaded.
"""

from __future__ import annotations

import struct
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hypothesis_profiles import costly, outcome
from lwz_cli.errors import UsageError
from lwz_cli.models.catalog import architecture_of
from lwz_cli.models.gguf import read_gguf

HEADER_BYTES = 1_769_507 + 64  # the tiny model's header and metadata end here (1.7 MB)
EDGES = [
    0,
    1,
    63,
    64,
    65,
    2**31 - 1,
    2**32 - 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    1 << 26,
    (1 << 26) + 1,
]


@pytest.fixture(scope="module")
def tiny_header() -> bytes:
    from lwz_cli.models.registry import tiny_model_path

    with open(tiny_model_path(), "rb") as handle:
        return handle.read(HEADER_BYTES)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def read(folder: Path, data: bytes) -> None:
    """Read `data` as a GGUF file as lwz does: the header, then what lwz asks of it."""
    path = folder / "model.gguf"
    path.write_bytes(data)
    try:
        info = read_gguf(path)
    except UsageError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        outcome("refused")  # the statistics (--hypothesis-show-statistics) count both kinds
        return
    outcome("read")
    for value in (info.architecture, info.name, info.context_length, info.block_count):
        assert value is None or isinstance(value, (str, int))
    assert info.chat_template is None or isinstance(info.chat_template, str)
    architecture_of(info.metadata)


# -- the real header ----------------------------------------------------------------


@costly(30)
@given(st.data())
def test_the_tiny_header_truncated_or_overwritten_reads_or_is_refused(tiny_header, folder, data):
    raw = bytearray(tiny_header)
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw)), label="length")]
    for _ in range(data.draw(st.integers(0 if len(raw) < len(tiny_header) else 1, 4))):
        if not raw:
            break
        # the first KiB holds the counts and the first keys' types and lengths
        at = data.draw(
            st.one_of(st.integers(0, min(1023, len(raw) - 1)), st.integers(0, len(raw) - 1))
        )
        if data.draw(st.booleans()):
            raw[at] = data.draw(st.integers(0, 255))
        else:
            value = data.draw(st.sampled_from(EDGES))
            raw[at : at + 8] = struct.pack("<Q", value)[: len(raw) - at]
    read(folder, bytes(raw))


# -- synthetic headers ----------------------------------------------------------------

SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}  # fmt: skip
KEYS = st.sampled_from(
    ["general.architecture", "general.name", "llama.context_length", "llama.block_count",
     "llama.attention.head_count", "llama.attention.head_count_kv", "llama.embedding_length",
     "llama.attention.key_length", "tokenizer.chat_template", "general.file_type", "x"]
)  # fmt: skip


def string(text: bytes, declared: int | None = None) -> bytes:
    return struct.pack("<Q", len(text) if declared is None else declared) + text


@st.composite
def values(draw, depth: int = 0) -> tuple[int, bytes]:
    """(GGUF type, its encoded value); lengths and counts may lie about what follows."""
    kind = draw(st.sampled_from([*SCALARS, 8, 9, 13, 2**32 - 1] if depth < 4 else [*SCALARS, 8]))
    if kind in SCALARS:
        size = struct.calcsize(SCALARS[kind])
        return kind, draw(st.binary(min_size=size, max_size=size))
    if kind == 8:
        text = draw(
            st.one_of(st.sampled_from([b"llama", b"", b"\xff\xfe"]), st.binary(max_size=12))
        )
        return kind, string(text, draw(st.one_of(st.none(), st.sampled_from(EDGES))))
    if kind == 9:
        items = draw(st.lists(values(depth + 1), max_size=3))
        item_kind = items[0][0] if items else draw(st.sampled_from([4, 8, 9, 99]))
        count = draw(st.one_of(st.just(len(items)), st.sampled_from(EDGES)))
        return kind, struct.pack("<IQ", item_kind, count) + b"".join(v for _, v in items)
    return kind, b""  # an unknown type


@st.composite
def headers(draw) -> bytes:
    entries = draw(st.lists(st.tuples(KEYS, values()), max_size=6))
    version = draw(st.sampled_from([3, 2, 1, 0, 2**32 - 1]))
    kv_count = draw(st.one_of(st.just(len(entries)), st.sampled_from(EDGES)))
    body = b"".join(string(k.encode()) + struct.pack("<I", t) + v for k, (t, v) in entries)
    magic = draw(st.sampled_from([b"GGUF", b"GGUF", b"GGUF", b"GGUE", b""]))
    return magic + struct.pack("<IQQ", version, draw(st.sampled_from(EDGES)), kv_count) + body


@given(headers())
@example(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + string(b"k") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 5000)  # arrays of arrays, 5,000 deep: RecursionError (found writing this)  # fmt: skip
@example(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + string(b"k") + struct.pack("<IIQ", 9, 4, 2**63))  # 2**63 skipped uint32s: seek() OverflowError (found by this test)  # fmt: skip
@example(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + string(b"k") + struct.pack("<IIQ", 9, 8, 65) + string(b"", 2**63) + b"\0" * 8)  # a skipped string's length of 2**63: seek() OverflowError  # fmt: skip
@example(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + string(b"general.architecture") + struct.pack("<I", 8) + string(b"llama") + string(b"llama.context_length") + struct.pack("<I", 8) + string(b"lots"))  # a text context length: ValueError in int() (found by this test)  # fmt: skip
def test_any_synthetic_header_reads_or_is_refused(folder, data):
    read(folder, data)


@pytest.mark.parametrize(
    "entry",
    [
        struct.pack("<I", 8) + string(b"", 2**64 - 1),  # a string declaring 16 EiB
        struct.pack("<I", 8) + string(b"", (1 << 26) - 1),  # the largest lwz takes, not there
        struct.pack("<IIQ", 9, 8, 2**64 - 1) + string(b"", 0) * 1000,  # 2**64 strings
        struct.pack("<IIQ", 9, 4, 2**64 - 1),  # an array of 2**64 uint32s
        struct.pack("<IIQ", 9, 9, 2**64 - 1) + struct.pack("<IQ", 4, 0) * 1000,  # of arrays
    ],
    ids=["string-16EiB", "string-64MiB", "strings-2**64", "uint32s-2**64", "arrays-2**64"],
)
def test_huge_declared_sizes_allocate_little_and_end_quickly(folder, entry):
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + string(b"k") + entry
    tracemalloc.start()
    start = time.perf_counter()
    try:
        read(folder, data)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 1 << 20  # a declared size is believed only as far as the file goes
