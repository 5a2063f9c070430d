"""What a new user meets around models (issue 13): no network is a one-line
"cannot reach the Hub" error, not an internal error; `lwz models rm` of an
unknown name and `lwz fit` with impossible or too-small hardware say so plainly."""

from __future__ import annotations

import json
import os

import pytest

UNREACHABLE = ["http://127.0.0.1:9", "http://nonexistent.invalid", "nonexistent.invalid"]


@pytest.fixture()
def hub_at(monkeypatch):
    """Point huggingface_hub (read at import, so patched) and lwz at `url`, online."""
    from huggingface_hub import constants

    def use(url: str) -> dict[str, str]:
        monkeypatch.setattr(constants, "ENDPOINT", url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        return {"HF_ENDPOINT": url, "HF_HUB_OFFLINE": ""}

    return use


@pytest.mark.parametrize("url", UNREACHABLE)
def test_pull_without_a_hub_is_one_line_naming_the_endpoint(lwz, hub_at, url):
    result = lwz("models", "pull", "longwriter-zero-32b:Q3_K_M", env=hub_at(url))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"lwz: error: cannot reach the Hub at {url} (")
    assert f"check HF_ENDPOINT ({url})" in line and "internal error" not in line


@pytest.mark.parametrize("url", UNREACHABLE[:2])
def test_pull_json_ends_with_an_error_event(lwz, hub_at, url):
    result = lwz("models", "pull", "longwriter-zero-32b:Q3_K_M", "--json", env=hub_at(url))
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["event"] == "error" and last["exit_code"] == 1 == result.returncode
    assert last["message"].startswith(f"cannot reach the Hub at {url}")


def test_write_that_would_pull_reports_the_hub_unreachable(lwz, hub_at):
    env = hub_at("http://nonexistent.invalid")
    result = lwz("write", "a note on tea", "--model", "longwriter-zero-32b", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "lwz: error: cannot reach the Hub at http://nonexistent.invalid"
    )
    as_json = lwz("write", "a note on tea", "--model", "longwriter-zero-32b", "--json", env=env)
    error = json.loads(as_json.stdout.splitlines()[-1])
    assert error["event"] == "error" and "cannot reach the Hub" in error["message"]


def test_a_malformed_repo_name_is_a_usage_error(lwz, hub_at):
    result = lwz("models", "pull", "bad..repo/x:Q4_K_M", env=hub_at("http://127.0.0.1:9"))
    assert result.returncode == 2 and "is not a Hub repository name" in result.stderr


def test_rm_of_an_unknown_name_says_there_is_no_such_model(lwz):
    result = lwz("models", "rm", "nosuch")
    assert result.returncode == 2 and "cannot pull" not in result.stderr
    assert result.stderr.splitlines() == [
        "lwz: error: no model 'nosuch' in the HF cache; `lwz models list` shows the models "
        "there (rm takes repo_id, repo_id:QUANT, repo_id/file.gguf or a path)"
    ]


def test_rm_takes_a_path_in_the_hf_cache(lwz, tmp_path):
    repo = tmp_path / "hf-cache" / "models--org--Tiny-GGUF"
    blob = repo / "blobs" / ("a" * 64)
    snapshot = repo / "snapshots" / "c0ffee" / "Tiny-Q4_1.gguf"
    blob.parent.mkdir(parents=True)
    snapshot.parent.mkdir(parents=True)
    blob.write_bytes(b"x" * 1000)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    result = lwz("models", "rm", str(snapshot), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"removed": [str(snapshot)], "freed": 1000}
    assert not blob.exists() and not snapshot.is_symlink()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vram", "-5"], "--vram -5 is negative"),
        (["--ram", "-1"], "--ram -1 must be positive"),
        (["--vram", "0", "--ram", "0"], "--ram 0 must be positive"),
    ],
)
def test_fit_refuses_impossible_hardware(lwz, args, message):
    result = lwz("fit", *args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"lwz: error: {message}; ")


def test_fit_that_does_not_fit_gives_one_ram_figure_in_gib(lwz):
    result = lwz("fit", "--vram", "0", "--ram", "16")
    assert result.returncode == 2
    verdict, nearest = result.stdout.splitlines()[:2]
    assert verdict == (
        "DOES NOT FIT: even Q3_K_M (14.84 GiB) with a 20,992-token q8_0 KV cache needs "
        "22 GiB of RAM, and this machine has 16.0 GiB RAM and no usable GPU"
    )
    assert (
        nearest
        == "nearest plan that would fit: Q3_K_M on a GPU with 20 GiB of VRAM; or a smaller model"
    )
    assert " GB" not in result.stdout and "does not fit: " not in result.stdout


def test_a_model_file_that_cannot_be_read_is_one_line(lwz):
    # reading /proc/self/mem at offset 0 fails with EIO: an OSError that is not
    # one of the named cases (missing, a directory, permission)
    result = lwz("models", "info", "/proc/self/mem")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("lwz: error: cannot read model file /proc/")  # /proc/PID/mem
    assert line.endswith("/mem: Input/output error; check the disk, or re-download the model")


def test_rm_never_deletes_a_file_outside_the_cache(lwz, tmp_path):
    own = tmp_path / "mine" / "own.gguf"
    own.parent.mkdir()
    own.write_bytes(b"PRECIOUS")
    snapshot = tmp_path / "hf-cache" / "models--acme--tiny-GGUF" / "snapshots" / "c0"
    snapshot.mkdir(parents=True)
    (snapshot / "tiny-135M.Q4_1.gguf").symlink_to(own)
    result = lwz("models", "rm", "acme/tiny-GGUF:Q4_1")
    assert result.returncode == 0, result.stderr
    assert own.read_bytes() == b"PRECIOUS"
    assert not (snapshot / "tiny-135M.Q4_1.gguf").is_symlink()


def test_rm_of_a_symlinked_repo_folder_removes_only_the_link(lwz, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "blobs").mkdir(parents=True)
    (elsewhere / "blobs" / "b").write_bytes(b"KEEP")
    (tmp_path / "hf-cache").mkdir(exist_ok=True)
    (tmp_path / "hf-cache" / "models--acme--tiny-GGUF").symlink_to(elsewhere)
    result = lwz("models", "rm", "acme/tiny-GGUF")
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "blobs" / "b").read_bytes() == b"KEEP"
    assert not (tmp_path / "hf-cache" / "models--acme--tiny-GGUF").exists()
