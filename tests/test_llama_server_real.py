"""lwz over `--endpoint` against llama.cpp's own `llama-server` (continuous batching,
two parallel slots sharing a unified KV cache), with the tiny model.

The binary is the one tests/llama_server_bin.py builds from the llama.cpp vendored
in the installed llama-cpp-python (`python tests/llama_server_bin.py`, several
minutes) or names with LWZ_LLAMA_SERVER; without it these tests skip and say so.

The last test runs the same batch on vLLM when LWZ_VLLM_CMD holds the command that
starts it, with `{port}` (see bench/scale.py for serving the tiny model on vLLM's
CPU build); without it, it skips.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

import llama_server_bin
from llama_server import free_port

pytestmark = pytest.mark.slow

KEY = "real-server-key-7c2e"
CTX = 4096

RECIPE = """\
name: notes
model: tiny
words: 60
params: {seed: 2, max_tokens: 160}
prompt: "Write a {words}-word note about {topic}."
output: "notes/{slug}.md"
items:
  - {topic: green tea, slug: tea}
  - {topic: rainwater tanks, slug: tanks}
  - {topic: bicycle chains, slug: chains}
  - {topic: sourdough, slug: bread}
"""


@pytest.fixture(scope="module")
def server(tiny_path, tmp_path_factory):
    binary = llama_server_bin.find()
    if binary is None:
        pytest.skip(llama_server_bin.missing_reason())
    port = free_port()
    cmd = llama_server_bin.llama_server_command(
        binary, tiny_path, port=port, parallel=2, ctx=CTX, threads=1, api_key=KEY
    )
    log = tmp_path_factory.mktemp("llama-server-real") / "server.log"
    with llama_server_bin.ServerProcess(
        cmd, f"http://127.0.0.1:{port}", api_key=KEY, log=log
    ) as srv:
        yield srv


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_a_write_on_llama_server(server, run_lwz, lwz_env, tmp_path):
    env = {**lwz_env, "LWZ_API_KEY": KEY}
    result = run_lwz(
        "write",
        "Write a 100-word note about green tea.",
        "--endpoint",
        server.url,
        "--model",
        "tiny",
        "--seed",
        "1",
        "--max-tokens",
        "200",
        "--json",
        "-o",
        "tea.md",
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    evs = events(result.stdout)
    start, done = evs[0], evs[-1]
    assert start["endpoint"] == server.url
    # lwz ends the stream itself at the word budget, before the server's closing
    # usage chunk: then the streamed pieces are counted (one token each on llama-server)
    assert done["event"] == "done"
    assert done["token_counts"] in ("server usage", "counted pieces")
    assert 0 < done["generated_tokens"] <= 200
    assert (tmp_path / "tea.md").read_text().strip()
    # the server's context comes from llama-server's /props: with a unified KV cache
    # each slot may use all of it
    (run,) = (Path(env["LWZ_HOME"]) / "data" / "runs").iterdir()
    endpoint = json.loads((run / "manifest.json").read_text())["data"]["endpoint"]
    assert endpoint["url"] == server.url and endpoint["n_ctx"] == CTX
    for path in Path(env["LWZ_HOME"]).rglob("*"):  # the key is never stored
        assert not path.is_file() or KEY not in path.read_text(errors="replace")
    assert KEY not in result.stdout + result.stderr


def test_a_batch_two_jobs_at_once_on_two_slots(server, run_lwz, lwz_env, tmp_path):
    (tmp_path / "notes.yaml").write_text(RECIPE)
    env = {**lwz_env, "LWZ_API_KEY": KEY}
    args = ("batch", "notes.yaml", "--jobs", "2", "--endpoint", server.url, "--json")
    result = run_lwz(*args, env=env, timeout=240)
    assert result.returncode == 0, result.stderr
    found = events(result.stdout)
    assert [e["status"] for e in found if e["event"] == "job_end"] == ["done"] * 4
    dones = [e for e in found if e["event"] == "done"]
    assert len(dones) == 4 and all(d["generated_tokens"] > 0 for d in dones)
    # two jobs really ran at once: a second job started before the first ended
    kinds = [e["event"] for e in found if e["event"] in ("job_start", "job_end")]
    assert kinds[:2] == ["job_start", "job_start"]
    for slug in ("tea", "tanks", "chains", "bread"):
        assert (tmp_path / "notes" / f"{slug}.md").read_text().strip()


@pytest.fixture(scope="module")
def vllm(tmp_path_factory):
    template = os.environ.get("LWZ_VLLM_CMD")
    if not template:
        pytest.skip("LWZ_VLLM_CMD is not set: the command that starts vLLM, with {port}")
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    cmd = template.format(port=port)
    with llama_server_bin.ServerProcess(cmd, f"http://127.0.0.1:{port}", log=log) as srv:
        yield srv


def test_a_batch_two_jobs_at_once_on_vllm(vllm, run_lwz, lwz_env, tmp_path):
    (tmp_path / "notes.yaml").write_text(RECIPE)
    args = ("batch", "notes.yaml", "--jobs", "2", "--endpoint", vllm.url, "--json")
    result = run_lwz(*args, env=lwz_env, timeout=600)
    assert result.returncode == 0, result.stderr
    found = events(result.stdout)
    assert [e["status"] for e in found if e["event"] == "job_end"] == ["done"] * 4
    kinds = [e["event"] for e in found if e["event"] in ("job_start", "job_end")]
    assert kinds[:2] == ["job_start", "job_start"]
    for slug in ("tea", "tanks", "chains", "bread"):
        assert (tmp_path / "notes" / f"{slug}.md").read_text().strip()
    # the context lwz planned for is the one vLLM publishes in /v1/models
    with urllib.request.urlopen(vllm.url + "/v1/models", timeout=10) as resp:
        served = json.loads(resp.read())["data"][0]
    runs = Path(lwz_env["LWZ_HOME"]) / "data" / "runs"
    for run in runs.iterdir():
        endpoint = json.loads((run / "manifest.json").read_text())["data"]["endpoint"]
        assert endpoint["n_ctx"] == served["max_model_len"]
        assert endpoint["model"] == served["id"]
