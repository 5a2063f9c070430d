"""Pulls against a loopback server that speaks the Hub's protocol, serving a real GGUF."""

import os
import signal
import subprocess
import sys
import time

import pytest

from hub_server import FakeHub

pytestmark = pytest.mark.slow  # `lwz models pull` as a process against a local hub

REPO = "test-org/Tiny-GGUF"
FILE = "Tiny-Q4_1.gguf"


@pytest.fixture()
def hub(tiny_path):
    server = FakeHub()
    server.add(REPO, FILE, tiny_path.read_bytes())
    yield server
    server.close()


@pytest.fixture()
def env(lwz_env, hub, tmp_path):
    env = dict(lwz_env, HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(tmp_path / "hf"))
    env.pop("HF_HUB_OFFLINE", None)
    return env


def lwz(env, *args, timeout=120, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lwz_cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def blob_dir(tmp_path):
    return tmp_path / "hf" / ("models--" + REPO.replace("/", "--")) / "blobs"


def test_fresh_pull_lands_in_the_hf_cache_and_runs(env, hub, tmp_path, tiny_path):
    result = lwz(env, "models", "pull", f"{REPO}:Q4_1")
    assert result.returncode == 0, result.stderr
    snapshot = tmp_path / "hf" / ("models--" + REPO.replace("/", "--")) / "snapshots"
    placed = next(snapshot.glob(f"*/{FILE}"))
    assert placed.is_symlink() and placed.read_bytes() == tiny_path.read_bytes()
    assert (
        placed.resolve().name == hub.hashes[(REPO, FILE)]
    )  # blobs/<sha256>, as huggingface_hub does
    assert "ready:" in result.stderr
    # the pulled file is usable by its Hub name
    path = lwz(env, "models", "path", f"{REPO}:Q4_1")
    assert path.stdout.strip() == str(placed)
    write = lwz(
        env,
        "write",
        "A haiku about rain.",
        "-m",
        f"{REPO}:Q4_1",
        "--max-tokens",
        "20",
        "-q",
        cwd=tmp_path,
    )
    assert write.returncode == 0, write.stderr


def test_pull_killed_mid_file_resumes_with_a_range_request(env, hub, tmp_path, tiny_path):
    size = len(tiny_path.read_bytes())
    hub.stall_after = size // 3
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwz_cli", "models", "pull", f"{REPO}:Q4_1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    incomplete = blob_dir(tmp_path) / (hub.hashes[(REPO, FILE)] + ".incomplete")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if incomplete.exists() and incomplete.stat().st_size >= size // 3 - (1 << 16):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kept = incomplete.stat().st_size
    assert 0 < kept < size  # killed mid-file: the bytes so far are kept
    hub.stall_after = None
    result = lwz(env, "models", "pull", f"{REPO}:Q4_1")
    assert result.returncode == 0, result.stderr
    ranges = [r["range"] for r in hub.requests if r["range"]]
    assert ranges and int(ranges[-1].split("=")[1].rstrip("-")) == kept > 0
    blob = blob_dir(tmp_path) / hub.hashes[(REPO, FILE)]
    assert blob.read_bytes() == tiny_path.read_bytes()
    assert not incomplete.exists()


def test_corrupted_bytes_are_refused_and_deleted(env, hub, tmp_path):
    hub.corrupt = True
    result = lwz(env, "models", "pull", f"{REPO}:Q4_1")
    assert result.returncode == 1
    assert "sha256" in result.stderr and "deleted" in result.stderr
    assert not list(blob_dir(tmp_path).glob("*"))  # nothing half-placed
    hub.corrupt = False
    assert lwz(env, "models", "pull", f"{REPO}:Q4_1").returncode == 0


def test_sharded_files_are_pulled_together(env, hub, tmp_path):
    first, second = b"GGUF" + os.urandom(300_000), os.urandom(200_000)
    hub.add("test-org/Big-GGUF", "Big-Q8_0-00001-of-00002.gguf", first)
    hub.add("test-org/Big-GGUF", "Big-Q8_0-00002-of-00002.gguf", second)
    hub.add("test-org/Big-GGUF", "Big-Q4_0.gguf", b"GGUF" + os.urandom(1000))
    result = lwz(env, "models", "pull", "test-org/Big-GGUF:Q8_0", "--json")
    assert result.returncode == 0, result.stderr
    snapshots = tmp_path / "hf" / "models--test-org--Big-GGUF" / "snapshots"
    names = sorted(p.name for p in snapshots.glob("*/*.gguf"))
    assert names == ["Big-Q8_0-00001-of-00002.gguf", "Big-Q8_0-00002-of-00002.gguf"]
    assert '"event": "done"' in result.stdout


def test_not_enough_disk_is_refused_before_downloading(env, hub, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], capture_output=True
        ).returncode
    ):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        result = lwz(dict(env, HF_HUB_CACHE=str(small)), "models", "pull", f"{REPO}:Q4_1")
        assert result.returncode == 2
        assert "need 0.1 GB, have 0.0 GB at" in result.stderr
        assert not any(
            r["path"].startswith(f"/{REPO}/resolve") and r["method"] == "GET" for r in hub.requests
        )  # nothing downloaded
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_offline_mode_uses_the_cache_and_names_what_is_missing(env, hub, tmp_path):
    assert lwz(env, "models", "pull", f"{REPO}:Q4_1").returncode == 0
    offline = dict(env, HF_HUB_OFFLINE="1")
    hub.requests.clear()
    assert lwz(offline, "models", "path", f"{REPO}:Q4_1").returncode == 0
    missing = lwz(offline, "models", "pull", "test-org/Other-GGUF:Q4_0")
    assert missing.returncode == 2 and "HF_HUB_OFFLINE" in missing.stderr
    assert hub.requests == []  # offline means offline


def test_unknown_repo_and_quant(env, hub):
    repo = lwz(env, "models", "pull", "nobody/nothing:Q4_0")
    assert repo.returncode == 2 and "no model repository" in repo.stderr
    quant = lwz(env, "models", "pull", f"{REPO}:Q8_0")
    assert quant.returncode == 2 and "available: Q4_1" in quant.stderr


def test_rm_frees_the_space(env, hub, tmp_path, tiny_path):
    assert lwz(env, "models", "pull", f"{REPO}:Q4_1").returncode == 0
    result = lwz(env, "models", "rm", f"{REPO}:Q4_1")
    assert result.returncode == 0 and "freed 93.8 MiB" in result.stderr
    assert not list(blob_dir(tmp_path).glob("*"))


def test_write_pulls_a_missing_default_model_or_names_the_command(env, hub, tmp_path):
    no_pull = lwz(env, "write", "x", "--no-pull", cwd=tmp_path)
    assert no_pull.returncode == 2 and "lwz models pull" in no_pull.stderr


def test_write_pulls_a_hub_model_that_is_not_here_yet(env, hub, tmp_path):
    result = lwz(
        env,
        "write",
        "A haiku about rain.",
        "-m",
        f"{REPO}:Q4_1",
        "--max-tokens",
        "20",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "downloading Tiny-Q4_1.gguf" in result.stderr
    assert any(r["path"].startswith(f"/{REPO}/resolve") for r in hub.requests)
