import os

import pytest

from lwz_cli.errors import UsageError
from lwz_cli.models.gguf import read_gguf
from lwz_cli.models.registry import resolve_model


def test_reads_the_tiny_model_header(tiny_path):
    info = read_gguf(tiny_path)
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert info.block_count == 30
    assert "<|im_start|>" in info.chat_template


def test_not_a_gguf_is_refused(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>404</html>")
    with pytest.raises(UsageError, match="not a GGUF"):
        read_gguf(bad)


def test_truncated_gguf_is_refused(tmp_path, tiny_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_path.read_bytes()[:5000])
    with pytest.raises(UsageError, match="truncated"):
        read_gguf(cut)


def test_tiny_alias_and_paths(tiny_path, tmp_path):
    assert resolve_model("tiny").path == tiny_path
    assert resolve_model(str(tiny_path)).path == tiny_path
    with pytest.raises(UsageError, match="not found"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_unknown_alias_names_the_choices():
    with pytest.raises(UsageError) as err:
        resolve_model("gpt-5")
    assert "unknown model 'gpt-5'" in str(err.value) and "tiny" in str(err.value)


def _fake_cache(root, repo, filename, source):
    snapshot = root / ("models--" + repo.replace("/", "--")) / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    os.symlink(source, snapshot / filename)
    return snapshot / filename


def test_hub_specs_resolve_from_the_hf_cache(tmp_path, tiny_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    placed = _fake_cache(
        tmp_path,
        "bartowski/THU-KEG_LongWriter-Zero-32B-GGUF",
        "THU-KEG_LongWriter-Zero-32B-Q4_K_M.gguf",
        tiny_path,
    )
    assert resolve_model("bartowski/THU-KEG_LongWriter-Zero-32B-GGUF:Q4_K_M").path == placed
    assert (
        resolve_model(
            "bartowski/THU-KEG_LongWriter-Zero-32B-GGUF/THU-KEG_LongWriter-Zero-32B-Q4_K_M.gguf"
        ).path
        == placed
    )
    assert resolve_model("longwriter-zero-32b").path == placed
    with pytest.raises(UsageError, match="lwz models pull"):
        resolve_model("bartowski/THU-KEG_LongWriter-Zero-32B-GGUF:Q8_0")


def test_default_model_missing_says_how_to_get_it(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UsageError) as err:
        resolve_model(None)
    assert "lwz models pull longwriter-zero-32b" in str(err.value)
