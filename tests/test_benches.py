"""Every bench in bench/ runs as a user would start it and prints its figures.

Each runs as a subprocess on a small setting (seconds, not minutes); the check is
that it exits 0 and prints the lines that carry its figures, so a bench broken
by a change elsewhere is noticed here rather than by the next person timing it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

import llama_server_bin
from conftest import ROOT

# bench file, small-setting arguments, patterns its output must match
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "decode.py": (
        ["--tokens", "120", "--rounds", "1"],
        [r"lwz engine\s+\d+\.\d", r"lwz engine / plain generate\(\), whole run: \d+\.\d+x"],
    ),
    "resume.py": (
        ["--tokens", "300", "--ctx", "1024"],
        [
            r"document: \d+ generated tokens",
            r"resume from KV snapshot: \d+\.\d+s",
            r"resume by re-prefill: +\d+\.\d+s",
            r"snapshot / re-prefill: +\d+\.\d+",
        ],
    ),
    "length.py": (
        ["--limit", "1", "--max-words", "500", "--strategy", "single"],
        [r"model tiny, 1 prompts", r"^single\s+\d+\.\d\s+\d+\.\d\s+1/1"],
    ),
    "batch.py": (
        ["--jobs-in-recipe", "2", "--words", "30"],
        [r"--jobs 1: 2 jobs in \d+\.\d s", r"--jobs 2: 2 jobs in \d+\.\d s", r"jobs/min ratio"],
    ),
    "slot.py": (
        ["--tokens", "40"],
        [
            r"^one after the other\s+\d+\.\d",
            r"^together, one slot\s+\d+\.\d",
            r"together / one after the other: \d+\.\d+x",
            r"[ab]\.md said: lwz: waiting for the lwz writing [ab]\.md \(pid \d+\) to finish",
        ],
    ),
    "scale.py": (
        ["--jobs-in-recipe", "4", "--words", "40", "--n", "1,2", "--no-build"],
        [r"^  N=1: 4 jobs in .* tok/s aggregate, 1\.00x N=1", r"^  N=2: 4 jobs .* \d+\.\d\dx N=1"],
    ),
    "sources.py": (
        ["--files", "20", "--mb", "1", "--queries", "20"],
        [
            r"^full index: +\d+\.\d+ s",
            r"^re-index, nothing changed: +\d+\.\d+ s",
            r"^re-index, 1% changed: +\d+\.\d+ s +\(1 files read\)",
            r"^query p50 / p99: +\d+\.\d+ / \d+\.\d+ ms",
            r"^index size on disk: +\d+\.\d MB",
            r"^peak memory \(RSS\): +\d+ MB",
        ],
    ),
    "view.py": (
        ["--words", "600", "--rounds", "1"],
        [r"^live\s+\d+\.\d", r"^plain\s+\d+\.\d", r"^json\s+\d+\.\d"],
    ),
}


def test_every_bench_is_covered():
    assert sorted(p.name for p in (ROOT / "bench").glob("*.py")) == sorted(BENCHES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BENCHES))
def test_bench_runs_and_prints_its_figures(name: str, tmp_path):
    args, patterns = BENCHES[name]
    extra = {}
    if name == "scale.py":  # the binary built in the user's cache, not in this LWZ_HOME
        binary = llama_server_bin.find()
        if binary is None:
            pytest.skip(llama_server_bin.missing_reason())
        extra["LWZ_LLAMA_SERVER"] = str(binary)
    env = {
        **os.environ,
        **extra,
        "LWZ_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for pattern in patterns:
        assert re.search(pattern, result.stdout, re.M), (pattern, result.stdout[-2000:])
