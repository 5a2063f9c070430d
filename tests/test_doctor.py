"""`lwz doctor` on a healthy and a broken setup (in-process: it loads no model)."""

import contextlib
import json
import os
import subprocess

import pytest


@pytest.fixture()
def doctor(lwz):
    """`lwz doctor --json`, in-process; `env` adds variables."""

    def run(env=None):
        result = lwz("doctor", "--json", env=env)
        return result, json.loads(result.stdout)

    return run


def by_name(report, prefix):
    return [c for c in report["checks"] if c["name"].startswith(prefix)]


def test_healthy_setup(doctor):
    result, report = doctor()
    assert result.returncode == 0 and report["ok"] is True
    assert by_name(report, "llama-cpp-python")[0]["status"] == "ok"
    assert by_name(report, "model tiny")[0]["status"] == "ok"
    assert all(c["status"] in ("ok", "warn", "fail") and c["detail"] for c in report["checks"])


def test_missing_and_damaged_models(doctor, tmp_path, tiny_path):
    snapshot = tmp_path / "hf-cache" / "models--org--Gone-GGUF" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    os.symlink("../../blobs/" + "0" * 64, snapshot / "Gone-Q4_K_M.gguf")  # blob deleted
    damaged = tmp_path / "hf-cache" / "models--org--Cut-GGUF" / "snapshots" / "abc"
    damaged.mkdir(parents=True)
    (damaged / "Cut-Q4_0.gguf").write_bytes(tiny_path.read_bytes()[:3000])
    result, report = doctor()
    assert result.returncode == 1 and report["ok"] is False
    gone = by_name(report, "model Gone-Q4_K_M.gguf")[0]
    assert gone["status"] == "fail" and "missing file" in gone["detail"] and gone["fix"]
    cut = by_name(report, "model org/Cut-GGUF/Cut-Q4_0.gguf")[0]
    assert cut["status"] == "fail" and "truncated" in cut["detail"]


def test_cpu_only_build_with_a_gpu_present(doctor, lwz_env, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    smi = fake / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA GeForce RTX 4090, 24564, 24000'\n")
    smi.chmod(0o755)
    result, report = doctor({"PATH": f"{fake}:{lwz_env['PATH']}"})
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python can offload")
    check = by_name(report, "GPU offload")[0]
    assert check["status"] == "fail" and "CPU-only" in check["detail"]
    assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in check["fix"]
    assert result.returncode == 1
    assert any("RTX 4090" in c["detail"] for c in by_name(report, "GPU"))


def test_no_space(doctor, tmp_path):
    small = tmp_path / "full"
    small.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], capture_output=True
        ).returncode
    ):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        with open(small / "filler", "wb") as handle, contextlib.suppress(OSError):
            handle.write(b"\0" * (2 << 20))
        result, report = doctor({"LWZ_HOME": str(small / "home")})
        disk = by_name(report, "disk (LWZ_HOME)")[0]
        assert disk["status"] == "fail" and result.returncode == 1
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_broken_config_is_a_failure(doctor, tmp_path):
    config = tmp_path / "lwz-home" / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("wordz: 5\n")
    result, report = doctor()
    assert result.returncode == 1
    assert by_name(report, "config")[0]["status"] == "fail"


def test_export_converters_are_reported_without_failing(doctor, monkeypatch):
    import lwz_cli.export as export

    monkeypatch.setattr(export, "pandoc_path", lambda: None)
    result, report = doctor()
    (check,) = by_name(report, "export")
    assert result.returncode == 0 and check["status"] == "warn"
    assert "docx" in check["detail"] and "lwz-cli[export]" in check["fix"]
    monkeypatch.setattr(export, "pandoc_path", lambda: "/opt/pandoc")
    monkeypatch.setattr(export, "pdf_engine", lambda: None)
    _, report = doctor()
    (check,) = by_name(report, "export")
    assert check["status"] == "warn" and "-o .pdf is refused" in check["detail"]
    monkeypatch.setattr(export, "pdf_engine", lambda: "typst")
    _, report = doctor()
    assert by_name(report, "export")[0] == {
        "name": "export",
        "status": "ok",
        "detail": "pandoc at /opt/pandoc, PDF through typst",
        "fix": None,
    }
