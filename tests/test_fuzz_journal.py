"""Fuzz: the journal reader, on the real journals of tests/fixtures/journals with
their files truncated, their bytes flipped, or their JSON mutated and sealed again
(as a hand edit that recomputes the sha256 would be).

Reading the manifest, the newest checkpoint and the `lwz runs` rows gives a result
or lwz's own error, never another exception.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hypothesis_profiles import costly, outcome
from lwz_cli.cli import main
from lwz_cli.errors import LwzError
from lwz_cli.journal import MANIFEST, SLOTS, Journal
from lwz_cli.run_listing import run_rows

FIXTURES = Path(__file__).parent / "fixtures" / "journals"
FILES = (MANIFEST, *SLOTS)
RUNS = ("single", "planned")

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
# values a field may be mutated to, beside any JSON: the edges of each kind
EDGES = st.sampled_from(
    [None, "", "x", 0, -1, 2**63, 10**30, 1e308, float("inf"), float("nan"), True, [], {}, [1, "a"],
     {"x": 1}, "running", "done", "planned", "sections", "plan", "../../etc"]
)  # fmt: skip


def seal(data: Any) -> bytes:
    """A journal file as lwz writes it: the data and the sha256 of its canonical JSON."""
    body = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return json.dumps({"sha256": digest, "data": data}, ensure_ascii=False).encode()


def places(data: Any, path: tuple = ()) -> list[tuple]:
    """Every path into `data` (keys and indexes), the root first."""
    found = [path]
    if isinstance(data, dict):
        for key, value in data.items():
            found += places(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data[:4]):  # token lists are long: their heads will do
            found += places(value, (*path, index))
    return found


@st.composite
def mutated(draw, data: Any) -> Any:
    """`data` with one to three fields replaced, removed, or given a new key."""
    data = json.loads(json.dumps(data))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(places(data)))
        if not path:
            return copy.deepcopy(draw(st.one_of(EDGES, JSON)))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(JSON)
        else:
            parent[path[-1]] = copy.deepcopy(draw(st.one_of(EDGES, JSON)))  # EDGES' [] is shared
    return data


def original(run: str, name: str) -> bytes:
    return (FIXTURES / run / "run" / name).read_bytes()


@pytest.fixture(scope="module")
def home():
    """One LWZ_HOME for every example (each installs its run afresh)."""
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setenv("LWZ_HOME", folder)
        yield Path(folder)


def read_everything(home: Path, run: str, name: str, content: bytes) -> None:
    """Install the run with `name` replaced by `content`, then read it as lwz does."""
    runs = home / "data" / "runs"
    shutil.rmtree(runs, ignore_errors=True)  # the last example's run would be listed too
    folder = runs / run
    shutil.copytree(FIXTURES / run / "run", folder)
    (folder / name).write_bytes(content)
    try:  # the statistics (--hypothesis-show-statistics) count each outcome
        Journal(folder).load_manifest()
        outcome(f"{name}: manifest read")
    except LwzError:
        outcome(f"{name}: manifest refused")
    for read in (
        lambda: Journal(folder).load_manifest(),
        lambda: Journal(folder).latest_checkpoint(),
        lambda: Journal.find(run),
        run_rows,
    ):
        try:
            read()
        except LwzError as exc:
            assert "\n" not in str(exc), str(exc)
    for args in (["runs"], ["runs", "--json"]):  # the listing as a user sees it
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code in (0, None, 1, 2) and "internal error" not in err.getvalue()


@costly(25)
@given(st.sampled_from(RUNS), st.sampled_from(FILES), st.data())
def test_a_mutated_and_resealed_journal_reads_or_is_refused(home, run, name, data):
    file = json.loads(original(run, name))["data"]
    read_everything(home, run, name, seal(data.draw(mutated(file))))


@costly(25)
@given(st.sampled_from(RUNS), st.sampled_from(FILES), st.data())
def test_a_truncated_or_flipped_journal_reads_or_is_refused(home, run, name, data):
    raw = bytearray(original(run, name))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    read_everything(home, run, name, bytes(raw))


@given(
    st.sampled_from(RUNS),
    st.sampled_from(FILES),
    st.sampled_from([b"[" * 10_000, b'{"a":' * 10_000]),
)
def test_deeply_nested_json_is_refused(home, run, name, content):
    read_everything(home, run, name, content)  # fmt: skip


@pytest.mark.parametrize("value", [2**63, 10**30, 1e300, -1e300, "2026-01-01"])
def test_a_resealed_manifest_with_an_odd_time_lists(home, value):
    """Each of these made `lwz runs` fail with an internal error (time.localtime's
    OverflowError, or a string compared with a number)."""
    data = json.loads(original("single", MANIFEST))["data"]
    data["updated"] = value
    read_everything(home, "single", MANIFEST, seal(data))


def test_a_resealed_manifest_with_a_wrong_kind_of_value_is_damaged(home):
    data = json.loads(original("single", MANIFEST))["data"]
    data["request"]["target_words"] = "2000"
    read_everything(home, "single", MANIFEST, seal(data))
    with pytest.raises(LwzError, match=r"damaged \(target_words is '2000', not int \| None\)"):
        Journal(home / "data" / "runs" / "single").load_manifest()
    rows = run_rows()
    assert [row["status"] for row in rows] == ["damaged"]
