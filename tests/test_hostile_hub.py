"""`lwz models pull` against a Hub that lies (issue 14): traversal in file names, the
commit and the sha256, absolute paths, backslashes, control characters, bad sizes,
garbage and endless listings, symlinked cache folders. Each refusal is one line
naming the server and the field, exits 1 (2 for a bad name the user typed), and
leaves every path outside the repo's cache folder as it was. In-process and fast."""

from __future__ import annotations

import json
import os
import stat
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub_server import COMMIT, FakeHub

REPO = "acme/tiny-GGUF"
FILE = "tiny-135M.Q4_1.gguf"
DATA = b"GGUF" + bytes(range(256)) * 1200  # 307,204 bytes: a few reads, no model needed
UP = "../../../../"  # from snapshots/<commit>/ (or blobs/) up to tmp_path


@pytest.fixture()
def hub():
    server = FakeHub()
    server.add(REPO, FILE, DATA)
    yield server
    server.close()


@pytest.fixture()
def cache(tmp_path) -> Path:
    return tmp_path / "hf-cache"  # HF_HUB_CACHE of the `lwz` fixture


@pytest.fixture()
def pull(lwz, hub, monkeypatch) -> Callable:
    """`lwz models pull ARGS` in this process against the loopback Hub, online."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def run(*args: str):
        return lwz("models", "pull", *args, env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": ""})

    return run


def tree(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under `root` but `skip`'s subtree: kind, size, mtime of files,
    target of links. Folders count by existence (their mtime moves when the repo
    folder is created inside the cache, which is allowed)."""
    found: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in list(dirs) + files:
            path = Path(folder, name)
            if skip is not None and (path == skip or skip in path.parents):
                if name in dirs:
                    dirs.remove(name)
                continue
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            if stat.S_ISDIR(kind):
                found[str(path.relative_to(root))] = (kind,)
            elif stat.S_ISLNK(kind):
                found[str(path.relative_to(root))] = (kind, os.readlink(path))
            else:
                found[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns)
    return found


def refusal(result, *, code: int) -> str:
    """The one error line of a refused pull (progress lines may come before it)."""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("lwz: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    progress = ("lwz: downloading ", f"lwz: {FILE}: ")
    assert all(line.startswith(progress) for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.returncode == code
    return errors[0]


def listed(hub: FakeHub, **fields: object) -> None:
    hub.listed[FILE] = {"rfilename": FILE, **fields}


# (case id, how the Hub lies, the field the message names, what it says of the value)
LISTING_LIES = [
    (
        "traversal-in-file-name",
        lambda hub: listed(hub, rfilename=UP + "x/" + FILE),
        "file name",
        "it has a '..' part",
    ),
    (
        "issue-14-file-name",
        lambda hub: listed(hub, rfilename="../../../../../../tmp/x/" + FILE),
        "file name",
        "it has a '..' part",
    ),
    ("traversal-in-commit", lambda hub: setattr(hub, "commit", UP + "x-commit"), "commit id", ""),
    ("short-commit", lambda hub: setattr(hub, "commit", "abc123"), "commit id", ""),
    ("commit-and-a-newline", lambda hub: setattr(hub, "commit", COMMIT + "\n"), "commit id", ""),
    ("commit-as-a-number", lambda hub: setattr(hub, "commit", 12345), "commit id", "12345"),
    ("no-commit", lambda hub: setattr(hub, "commit", None), "commit id", ""),
    (
        "traversal-in-sha256",
        lambda hub: listed(hub, sha256=UP + "x-sha/" + "a" * 40),
        "sha256",
        "",
    ),
    ("sha256-of-63-hex", lambda hub: listed(hub, sha256="a" * 63), "sha256", ""),
    ("absolute-file-name", lambda hub: listed(hub, rfilename="/tmp/x/" + FILE), "file name", ""),
    (
        "backslash-file-name",
        lambda hub: listed(hub, rfilename="..\\..\\x\\" + FILE),
        "file name",
        "it holds a backslash",
    ),
    (
        "newline-in-file-name",
        lambda hub: listed(hub, rfilename="evil\nlwz: ready: fake." + FILE),
        "file name",
        "it holds a control character",
    ),
    (
        "nul-in-file-name",
        lambda hub: listed(hub, rfilename="a\x00." + FILE),
        "file name",
        "control character",
    ),
    (
        "bidi-override-in-file-name",
        lambda hub: listed(hub, rfilename="a\u202e." + FILE),
        "file name",
        "control character",
    ),
    (
        "empty-segment",
        lambda hub: listed(hub, rfilename="x//" + FILE),
        "file name",
        "it has an empty part",
    ),
    ("dot-segment", lambda hub: listed(hub, rfilename="./" + FILE), "file name", "'.' part"),
    ("negative-size", lambda hub: listed(hub, size=-1), "size", "-1"),
    ("oversized-size", lambda hub: listed(hub, size=10**15), "size", "1000000000000000"),
    ("huge-size", lambda hub: listed(hub, size=2**70), "size", ""),
    ("size-as-text", lambda hub: listed(hub, size="307204"), "size", "'307204'"),
    ("size-as-float", lambda hub: listed(hub, size=307204.5), "size", ""),
    ("size-as-bool", lambda hub: listed(hub, size=True), "size", ""),
    ("listing-not-json", lambda hub: setattr(hub, "info_body", b"<html>hi"), "listing", ""),
    ("listing-a-list", lambda hub: setattr(hub, "info_body", b"[1,2,3]"), "listing", ""),
    (
        "listing-nested-deep",
        lambda hub: setattr(hub, "info_body", b"[" * 200_000),
        "listing",
        "",
    ),
    (
        "siblings-not-a-list",
        lambda hub: setattr(hub, "info_body", json.dumps({"sha": COMMIT, "siblings": 5}).encode()),
        "file list",
        "",
    ),
    (
        "sibling-not-an-object",
        lambda hub: setattr(
            hub, "info_body", json.dumps({"sha": COMMIT, "siblings": ["x"]}).encode()
        ),
        "file entry",
        "",
    ),
    (
        "listing-of-too-many-values",
        lambda hub: setattr(
            hub, "info_body", b'{"sha": "%s", "x": [' % COMMIT.encode() + b"0," * 2_000_001 + b"0]}"
        ),
        "listing of over 2,000,000 values",
        "",
    ),
]


@pytest.mark.parametrize(
    "lie, field, detail", [c[1:] for c in LISTING_LIES], ids=[c[0] for c in LISTING_LIES]
)
def test_a_lying_listing_is_refused_before_any_path_is_made(
    pull, hub, tmp_path, lie, field, detail
):
    (tmp_path / "x").mkdir()  # where the traversal points: it must stay empty
    before = tree(tmp_path)
    lie(hub)
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert line.startswith(f"lwz: error: the Hub at {hub.url} sent ")
    assert field in line and detail in line and line.endswith("; check HF_ENDPOINT")
    assert f"for {REPO}" in line
    assert tree(tmp_path) == before  # nothing created, replaced or deleted, cache included
    assert not any(r["path"].startswith(f"/{REPO}/resolve") for r in hub.requests)


def test_the_refusal_under_json_is_an_error_event(pull, hub, cache):
    listed(hub, rfilename=UP + "x/" + FILE)
    result = pull(f"{REPO}:Q4_1", "--json")
    event = json.loads(result.stdout.splitlines()[-1])
    assert event["event"] == "error" and event["exit_code"] == 1 == result.returncode
    assert event["message"].startswith(f"the Hub at {hub.url} sent an invalid file name")
    assert not cache.exists()


@pytest.mark.parametrize("spec", ["../x:Q4_1", "acme/tiny--GGUF:Q4_1", "acme/x.git:Q4_1"])
def test_a_bad_repo_id_typed_by_the_user_is_a_usage_error(pull, hub, tmp_path, spec):
    before = tree(tmp_path)
    line = refusal(pull(spec), code=2)
    assert "is not a Hub repository name" in line
    assert tree(tmp_path) == before and hub.requests == []  # refused before asking the Hub


def test_more_bytes_than_listed_are_refused_and_deleted(pull, hub, tmp_path, cache):
    hub.extra_bytes = b"x" * 5000  # the sha256 would fail too: the size check comes first
    repo = cache / "models--acme--tiny-GGUF"
    before = tree(tmp_path, skip=repo)
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert line == (
        f"lwz: error: the Hub at {hub.url} sent more bytes than the size it listed (307,204) "
        f"for {REPO}/{FILE} (they were deleted); check HF_ENDPOINT"
    )
    assert tree(tmp_path, skip=repo) == before | {"hf-cache": (stat.S_IFDIR,)}
    assert not list((cache / "models--acme--tiny-GGUF" / "blobs").iterdir())


def test_a_body_without_a_length_is_cut_at_the_listed_size(pull, hub, cache):
    hub.no_length, hub.extra_bytes = True, b"x" * (10 << 20)  # no length to refuse up front
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert "sent more bytes than the size it listed (307,204) for" in line
    assert not list((cache / "models--acme--tiny-GGUF" / "blobs").iterdir())


def test_a_listed_size_smaller_than_the_file_is_refused(pull, hub, cache):
    listed(hub, size=1000)  # the body is longer than the listing says
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert "sent more bytes than the size it listed (1,000) for" in line


def test_a_complete_body_shorter_than_listed_is_refused(pull, hub, cache):
    hub.short_by = 4  # an honest Content-Length, a dishonest listing
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert f"the Hub at {hub.url} sent only 307,200 bytes of the size it listed (307,204)" in line
    assert not list((cache / "models--acme--tiny-GGUF" / "blobs").iterdir())


def test_a_206_from_the_wrong_offset_is_refused(pull, hub, cache):
    blobs = cache / "models--acme--tiny-GGUF" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / (hub.hashes[(REPO, FILE)] + ".incomplete")).write_bytes(DATA[:1000])
    hub.range_from_zero = True
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert f"the Hub at {hub.url} sent an invalid Content-Range 'bytes 0-" in line
    assert "(asked for bytes 1,000 on)" in line


def test_an_endless_listing_is_cut_off(pull, hub, tmp_path, monkeypatch):
    from lwz_cli.models import hub_listing

    monkeypatch.setattr(hub_listing, "MAX_LISTING_BYTES", 2 << 20)  # 32 MiB in use: faster here

    def endless():
        yield b'{"sha": "%s", "siblings": [' % COMMIT.encode()
        entry = b'{"rfilename": "a.gguf", "size": 1}, ' * 1000
        while True:
            yield entry

    hub.info_body = endless()
    before = tree(tmp_path)
    started = time.monotonic()
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert time.monotonic() - started < 5
    assert f"the Hub at {hub.url} sent a listing larger than 2 MiB for {REPO}" in line
    assert tree(tmp_path) == before


def test_a_stalled_listing_times_out(pull, hub, monkeypatch):
    from lwz_cli.models import hub_listing

    monkeypatch.setattr(hub_listing, "READ_TIMEOUT_S", 0.3)  # 60 s in use

    def stalled():
        yield b'{"sha": '
        time.sleep(30)  # the server thread only: the client gives up long before
        yield b"}"

    hub.info_body = stalled()
    started = time.monotonic()
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert time.monotonic() - started < 5
    assert f"the Hub at {hub.url} sent nothing for 0 s while listing {REPO}" in line


def test_a_trickled_listing_is_cut_off_at_the_deadline(pull, hub, monkeypatch):
    from lwz_cli.models import hub_listing

    monkeypatch.setattr(hub_listing, "LISTING_DEADLINE_S", 0.5)  # 5 minutes in use

    def trickle():
        while True:
            yield b" "
            time.sleep(0.02)  # each read comes in time; the whole never does

    hub.info_body = trickle()
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert f"the Hub at {hub.url} sent a listing that took over 0 s to arrive" in line


def test_a_listing_of_100000_files_is_read_and_the_pull_works(pull, hub, cache):
    hub.filler_files = 100_000
    started = time.monotonic()
    result = pull(f"{REPO}:Q4_1")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "lwz: ready:" in result.stderr
    assert took < 10  # typically about a second here, on two busy cores
    assert [r["method"] for r in hub.requests] == ["GET", "GET"]  # the listing, the file


def test_a_well_behaved_pull_says_ready_and_places_the_file(pull, hub, tmp_path, cache):
    (tmp_path / "x").mkdir()
    repo = cache / "models--acme--tiny-GGUF"
    before = tree(tmp_path, skip=repo)
    result = pull(f"{REPO}:Q4_1")
    assert result.returncode == 0, result.stderr
    placed = repo / "snapshots" / COMMIT / FILE
    assert result.stderr.splitlines()[-1] == f"lwz: ready: {placed}"
    assert placed.is_symlink() and placed.read_bytes() == DATA
    assert os.readlink(placed) == f"../../blobs/{hub.hashes[(REPO, FILE)]}"
    assert (repo / "refs" / "main").read_text() == COMMIT
    assert tree(tmp_path, skip=repo) == before | {"hf-cache": (stat.S_IFDIR,)}
    assert {p.name for p in repo.rglob("*")} == {  # no temporary names left behind
        "blobs",
        hub.hashes[(REPO, FILE)],
        "snapshots",
        COMMIT,
        FILE,
        "refs",
        "main",
    }
    again = pull(f"{REPO}:Q4_1")  # a second pull replaces the link and the ref by rename
    assert again.returncode == 0 and placed.read_bytes() == DATA


def test_an_empty_file_is_pulled(pull, hub, cache):
    hub.add(REPO, "empty.Q8_0.gguf", b"")  # nothing to fetch: it used to crash on the hash
    result = pull(f"{REPO}:Q8_0")
    assert result.returncode == 0, result.stderr
    assert (cache / "models--acme--tiny-GGUF" / "snapshots" / COMMIT / "empty.Q8_0.gguf").is_file()


def _link(path: Path, target: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


SYMLINKED = [
    ("repo-folder", ""),
    ("blobs", "blobs"),
    ("snapshots", "snapshots"),
    ("snapshot-commit", f"snapshots/{COMMIT}"),
    ("refs", "refs"),
]


@pytest.mark.parametrize("inside", [c[1] for c in SYMLINKED], ids=[c[0] for c in SYMLINKED])
def test_a_cache_folder_symlinked_out_of_the_repo_folder_is_refused(
    pull, hub, tmp_path, cache, inside
):
    elsewhere = tmp_path / "elsewhere"
    repo = cache / "models--acme--tiny-GGUF"
    _link(repo / inside if inside else repo, elsewhere)
    (elsewhere / "precious").write_text("keep me")
    before = tree(tmp_path, skip=repo if inside else None)
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    link = repo / inside if inside else repo
    assert line.startswith(f"lwz: error: {link} is a symlink to {elsewhere}, outside {repo}")
    assert "point HF_HUB_CACHE or HF_HOME there" in line
    assert tree(tmp_path, skip=repo if inside else None) == before
    assert (elsewhere / "precious").read_text() == "keep me"


def test_a_partial_file_symlinked_out_is_refused_not_written_through(pull, hub, tmp_path, cache):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    blobs = cache / "models--acme--tiny-GGUF" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / (hub.hashes[(REPO, FILE)] + ".incomplete")).symlink_to(target)
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert f"is a symlink to {target}" in line
    assert target.read_text() == "keep me"


def test_an_old_snapshot_link_to_elsewhere_is_refused_not_replaced(pull, hub, tmp_path, cache):
    own = tmp_path / "my-own.gguf"
    own.write_bytes(b"mine")
    snapshot = cache / "models--acme--tiny-GGUF" / "snapshots" / COMMIT / FILE
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(own)
    line = refusal(pull(f"{REPO}:Q4_1"), code=1)
    assert f"{snapshot} is a symlink to {own}" in line
    assert os.readlink(snapshot) == str(own) and own.read_bytes() == b"mine"


def test_a_symlinked_cache_root_is_legitimate(pull, hub, tmp_path, cache, monkeypatch):
    """HF_HOME or HF_HUB_CACHE on another disk through a symlink is a normal setup."""
    from huggingface_hub import constants

    disk = tmp_path / "other-disk" / "hub"
    disk.mkdir(parents=True)
    link = tmp_path / "linked-cache"
    link.symlink_to(disk)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(link))
    result = pull(f"{REPO}:Q4_1")
    assert result.returncode == 0, result.stderr
    placed = disk / "models--acme--tiny-GGUF" / "snapshots" / COMMIT / FILE
    assert placed.read_bytes() == DATA and "lwz: ready:" in result.stderr


def test_a_symlink_that_stays_inside_the_repo_folder_is_fine(pull, hub, cache):
    repo = cache / "models--acme--tiny-GGUF"
    (repo / "real-blobs").mkdir(parents=True)
    (repo / "blobs").symlink_to("real-blobs")
    result = pull(f"{REPO}:Q4_1")
    assert result.returncode == 0, result.stderr
    assert (repo / "real-blobs" / hub.hashes[(REPO, FILE)]).read_bytes() == DATA


# The rules themselves, fuzzed: any name they accept is a plain path under its
# snapshot folder, and any message quoting a value stays on one line.
TRICKY = st.sampled_from(
    ["a", "b", ".", "/", "\\", "\x00", "\n", "\r", " ", "é", "\u202e", "\u2028"]
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(TRICKY, max_size=12), st.text(max_size=12)))
def test_an_accepted_file_name_is_a_plain_path_under_its_snapshot(name):
    from lwz_cli.models.hub_rules import filename_problem, shown

    assert len(shown(name).splitlines()) == 1
    if filename_problem(name) is not None:
        return
    base = "/cache/models--a--b/snapshots/" + COMMIT
    assert os.path.normpath(os.path.join(base, name)) == f"{base}/{name}"  # relative, normalised
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in name)
