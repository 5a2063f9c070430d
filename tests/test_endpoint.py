"""The endpoint backend (`--endpoint URL`): the HTTP engine against a scripted
stdlib server (SSE parsing, units, retries, errors), then end to end against a
real OpenAI-compatible server, llama-cpp-python's own, running the tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llama_server import LlamaServer, free_port
from lwz_cli.engine.http import (
    CodePointDetokenizer,
    EndpointRejected,
    EndpointUnreachable,
    HttpEngine,
    estimate_tokens,
    normalize_url,
    probe,
)
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import UsageError

# -- a scripted /v1/completions server -----------------------------------------------


class FakeServer:
    """Answers POST /v1/completions from `script`, one entry per request:
    {"chunks": [...], "finish": "stop"|None, "usage": {...}|None, "drop": bool}
    or {"status": 400, "body": {...}}. Records every request."""

    def __init__(self, script=None, models=("fake-model",)):
        self.script = list(script or [])
        self.models = list(models)
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def _handler(fake):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _json(self, status, data):
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._json(
                        200,
                        {
                            "object": "list",
                            "data": [{"id": m, "object": "model"} for m in fake.models],
                        },
                    )
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self):
                try:
                    self._post()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client hung up (cancel, stop string)

            def _post(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                fake.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                step = fake.script.pop(0) if fake.script else {"chunks": [], "finish": "stop"}
                if "status" in step:
                    self._json(step["status"], step.get("body", {}))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b": ping - keep-alive\r\n\r\n")
                for text in step["chunks"]:
                    event = {
                        "object": "text_completion",
                        "choices": [{"text": text, "index": 0, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
                    self.wfile.flush()
                    time.sleep(step.get("delay", 0))
                if step.get("drop"):
                    self.close_connection = True
                    return  # no finish_reason, no [DONE]: the stream broke
                final = {"choices": [{"text": "", "index": 0, "finish_reason": step["finish"]}]}
                self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
                if step.get("usage"):
                    usage = {"choices": [], "usage": step["usage"]}
                    self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

        return Handler


@pytest.fixture()
def fake():
    server = FakeServer()
    yield server
    server.close()


def ids(text: str) -> list[int]:
    return [ord(c) for c in text]


def collect(engine, prompt="Say: ", **kw):
    kw.setdefault("max_tokens", 50)
    return list(engine.stream(ids(prompt), **kw))


# -- unit: the engine ------------------------------------------------------------------


def test_text_is_streamed_as_code_points_and_chunks_are_counted_as_tokens(fake):
    fake.script = [{"chunks": ["Hel", "lo", " wörld", "!"], "finish": "stop"}]
    engine = HttpEngine(fake.url, model="fake-model", retries=0)
    pieces = collect(engine, max_tokens=40, stop=("</answer>",), sampling=Sampling(seed=7))
    assert "".join(p.text for p in pieces) == "Hello wörld!"
    assert [p.token for p in pieces] == ids("Hello wörld!")
    assert sum(p.tokens for p in pieces) == 4  # one model token per SSE chunk
    assert engine.last.generated_tokens == 4 and engine.last.finish_reason == "stop"
    assert engine.token_counts == "counted pieces"
    body = fake.requests[0]["body"]
    assert body["prompt"] == "Say: " and body["max_tokens"] == 40 and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["stop"] == ["</answer>"] and body["seed"] == 7 and body["model"] == "fake-model"
    detok = engine.detokenizer()
    assert isinstance(detok, CodePointDetokenizer)
    assert "".join(detok.feed(t) for t in engine.tokenize("Grüß 世界")) == "Grüß 世界"


def test_server_usage_gives_the_token_counts_when_sent(fake):
    fake.script = [
        {
            "chunks": ["a", "b", "c"],
            "finish": "length",
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 3,
                "prompt_tokens_details": {"cached_tokens": 4},
            },
        }
    ]
    engine = HttpEngine(fake.url, retries=0)
    collect(engine, max_tokens=3)
    assert engine.last.generated_tokens == 3 and engine.last.prompt_tokens_evaluated == 6
    assert engine.last.finish_reason == "length"
    assert engine.token_counts == "server usage"


def test_a_broken_stream_continues_from_the_raw_text_it_had(fake):
    fake.script = [
        {"chunks": ["The quick", " brown"], "drop": True},
        {"chunks": [" fox", " jumps."], "finish": "stop"},
    ]
    warnings = []
    engine = HttpEngine(fake.url, retries=2, backoff=0.01, on_warning=warnings.append)
    pieces = collect(engine, prompt="Go: ", max_tokens=10)
    assert "".join(p.text for p in pieces) == "The quick brown fox jumps."
    first, second = (r["body"] for r in fake.requests)
    assert second["prompt"] == "Go: The quick brown"  # exactly what the model wrote
    assert second["max_tokens"] == first["max_tokens"] - 2
    assert engine.last.generated_tokens == 4 and engine.last.finish_reason == "stop"
    assert len(warnings) == 1 and "retrying" in warnings[0]


def test_5xx_is_retried_and_a_4xx_is_not(fake):
    fake.script = [
        {"status": 503, "body": {"error": {"message": "loading model"}}},
        {"chunks": ["ok"], "finish": "stop"},
    ]
    engine = HttpEngine(fake.url, retries=1, backoff=0.01)
    assert "".join(p.text for p in collect(engine)) == "ok"
    fake.requests.clear()
    fake.script = [
        {
            "status": 400,
            "body": {"error": {"message": "This model's maximum context length is 2048 tokens"}},
        }
    ]
    with pytest.raises(EndpointRejected) as info:
        collect(engine)
    assert "maximum context length is 2048" in str(info.value) and info.value.status == 400
    assert len(fake.requests) == 1


def test_an_unreachable_endpoint_fails_after_its_retries():
    url = f"http://127.0.0.1:{free_port()}"
    engine = HttpEngine(url, retries=2, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachable) as info:
        collect(engine)
    assert time.monotonic() - started < 5
    assert info.value.url == url and "3 times" in str(info.value)
    assert info.value.exit_code == 1
    with pytest.raises(EndpointUnreachable):
        probe(url)


def test_the_next_endpoint_takes_over_when_one_keeps_failing(fake):
    fake.script = [{"chunks": ["rest"], "finish": "stop"}]
    dead = f"http://127.0.0.1:{free_port()}"
    warnings = []
    engine = HttpEngine(
        dead, retries=0, backoff=0.01, fallbacks=[fake.url], on_warning=warnings.append
    )
    assert "".join(p.text for p in collect(engine)) == "rest"
    assert engine.url == fake.url and any("dropped" in w for w in warnings)


def test_stop_strings_are_matched_here_too(fake):
    fake.script = [{"chunks": ["abc</ans", "wer>more"], "finish": "stop"}]
    engine = HttpEngine(fake.url, retries=0)
    pieces = collect(engine, stop=("</answer>",))
    assert "".join(p.text for p in pieces) == "abc"
    assert engine.last.stop_string == "</answer>" and engine.last.finish_reason == "stop"
    assert not pieces[-1].clean


def test_cancel_stops_between_chunks(fake):
    fake.script = [{"chunks": ["one ", "two ", "three ", "four "], "finish": "stop", "delay": 0.05}]
    engine = HttpEngine(fake.url, retries=0)
    cancel = threading.Event()
    text = ""
    for piece in engine.stream(ids("x"), max_tokens=20, cancel=cancel):
        text += piece.text
        if text == "one ":
            cancel.set()
    assert text == "one " and engine.last.finish_reason == "cancelled"


def test_the_api_key_is_sent_and_never_shown(fake):
    fake.script = [{"chunks": ["hi"], "finish": "stop"}]
    engine = HttpEngine(fake.url, api_key="s3cret", retries=0)
    collect(engine)
    assert fake.requests[0]["auth"] == "Bearer s3cret"
    assert "s3cret" not in repr(engine)


def test_the_timeouts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("LWZ_ENDPOINT_STALL", "7.5")
    monkeypatch.setenv("LWZ_ENDPOINT_TIMEOUT", "30")
    engine = HttpEngine("http://127.0.0.1:1")
    assert engine.stall == 7.5 and engine.timeout == 30
    monkeypatch.setenv("LWZ_ENDPOINT_STALL", "soon")
    with pytest.raises(UsageError, match="LWZ_ENDPOINT_STALL must be a number"):
        HttpEngine("http://127.0.0.1:1")


def test_urls_and_estimates():
    assert normalize_url("127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert normalize_url("https://host/api/v1") == "https://host/api"
    assert estimate_tokens(ids("a" * 300)) == 100  # conservative: 3 chars a token
    assert estimate_tokens(ids("写" * 12)) == 10  # 1.2 CJK chars a token
    engine = HttpEngine("http://127.0.0.1:1")
    engine.calibrate(ids("word " * 400), 400)  # the server says: 5 chars a token
    assert engine.count_tokens(ids("a" * 500)) < estimate_tokens(ids("a" * 500))


def test_a_draft_keeps_model_tokens_not_code_points(fake):
    from lwz_cli.writing.draft import Draft

    chunks = [
        "Green tea is good. ",
        "Black tea is strong. ",
        "White tea is rare. ",
        "Oolong sits between. ",
        "Matcha is whisked. ",
    ]
    fake.script = [{"chunks": chunks, "finish": "length"}]
    engine = HttpEngine(fake.url, retries=0)
    draft = Draft(
        engine, lambda e: None, context=ids("Write: "), stop=(), sampling=Sampling(), mode="answer"
    )
    draft.run(5)
    assert len(draft.generated) == len("".join(chunks))
    assert draft.model_tokens == 5 and draft.new_tokens == 5
    draft.replay(list(draft.generated))  # a resume: counted by estimate
    assert draft.model_tokens == estimate_tokens(draft.generated, engine.scale)
    assert draft.text() == "".join(chunks)


# -- the CLI, in-process, against the scripted server (fast: no model runs) ----------------

ANSWER = [
    "<think>",
    "A short plan.",
    "</think>",
    "<answer>",
    "# Tea\n\n",
    "Tea is a drink. ",
    "Green tea is picked young. ",
    "Black tea is oxidised.",
    "</answer>",
]


def test_config_endpoints_the_first_reachable_is_used(fake, lwz, lwz_env, tmp_path):
    config = Path(lwz_env["LWZ_HOME"]) / "config" / "config.yaml"
    config.parent.mkdir(parents=True)
    dead = f"http://127.0.0.1:{free_port()}"
    config.write_text(f"model: tiny\nendpoint: {dead} {fake.url}/v1\napi_key: k-123\n")
    fake.script = [{"chunks": ANSWER, "finish": "stop"}]
    result = lwz("write", "Write a note about tea.", "--json", "-o", "tea.md")
    assert result.returncode == 0, result.stderr
    evs = events(result.stdout)
    assert evs[0]["endpoint"] == fake.url and evs[0]["protocol"] == "chat"
    assert any(e["event"] == "warning" and dead in e["message"] for e in evs)
    assert fake.requests[0]["auth"] == "Bearer k-123"
    body = fake.requests[0]["body"]
    assert body["model"] == "fake-model" and body["prompt"].startswith("<|im_start|>system")
    assert (tmp_path / "tea.md").read_text().startswith("# Tea")


@pytest.mark.parametrize(
    "served, protocol",
    [("THU-KEG/LongWriter-Zero-32B", "longwriter-zero"), ("qwen2.5-7b-instruct", "chat")],
)
def test_without_a_local_model_the_served_name_picks_the_prompt(
    served, protocol, lwz, lwz_env, tmp_path
):
    fake = FakeServer([{"chunks": ANSWER, "finish": "stop"}], models=[served])
    try:
        result = lwz(
            "write",
            "Write a note about tea.",
            "--endpoint",
            fake.url,
            "--json",
            "--strategy",
            "single",
            "-o",
            "tea.md",
        )
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    start, done = events(result.stdout)[0], events(result.stdout)[-1]
    assert start["protocol"] == protocol and start["model"] == served
    prompt = fake.requests[0]["body"]["prompt"]
    if protocol == "chat":  # ChatML, as Qwen models expect
        assert (
            prompt.startswith("<|im_start|>system\n")
            and "<|im_end|>" in fake.requests[0]["body"]["stop"]
        )
    else:
        assert "<|user|>" in prompt or "<think>" in prompt
    assert done["token_counts"] == "counted pieces"
    manifest = json.loads((run_dir(lwz_env) / "manifest.json").read_text())["data"]
    assert manifest["endpoint"]["model"] == served and manifest["model"]["path"] is None


# -- end to end: llama-cpp-python's server with the tiny model --------------------------

KEY = "test-key-4b1d"


@pytest.fixture(scope="module")
def server(tiny_path, tmp_path_factory):
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    srv = LlamaServer(tiny_path, api_key=KEY, log=log).start()
    yield srv
    srv.stop()


@pytest.fixture()
def live(server):
    """The server, running (a test may have killed it)."""
    if server.proc is None or server.proc.poll() is not None:
        server.start()
    return server


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def run_dir(env) -> Path:
    runs = Path(env["LWZ_HOME"]) / "data" / "runs"
    return next(p for p in runs.iterdir() if p.is_dir())


@pytest.mark.slow
def test_write_through_the_endpoint(live, run_lwz, lwz_env, tmp_path):
    env = {**lwz_env, "LWZ_API_KEY": KEY}
    result = run_lwz(
        "write",
        "Write a 150-word note about green tea.",
        "--endpoint",
        live.url,
        "--model",
        "tiny",
        "--seed",
        "1",
        "--max-tokens",
        "260",
        "--json",
        "-o",
        "tea.md",
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    evs = events(result.stdout)
    start, done = evs[0], evs[-1]
    assert start["endpoint"] == live.url and start["kv_snapshot"] is False
    assert done["event"] == "done" and done["token_counts"] == "counted pieces"
    assert 0 < done["generated_tokens"] <= 260 and done["tokens_per_second"] > 0
    assert (tmp_path / "tea.md").read_text().strip()
    manifest = (run_dir(env) / "manifest.json").read_text()
    assert f'"url":"{live.url}"' in manifest.replace(" ", "")
    for path in Path(env["LWZ_HOME"]).rglob("*"):  # the key is never stored
        assert not path.is_file() or KEY not in path.read_text(errors="replace")


@pytest.mark.slow
def test_a_planned_document_through_the_endpoint(live, run_lwz, lwz_env, tmp_path):
    result = run_lwz(
        "write",
        "Write a guide to brewing green tea.",
        "--endpoint",
        live.url,
        "--api-key",
        KEY,
        "--model",
        "tiny",
        "--strategy",
        "planned",
        "--words",
        "600",
        "--seed",
        "3",
        "--json",
        "-o",
        "guide.md",
        env=lwz_env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    evs = events(result.stdout)
    plan = next(e for e in evs if e["event"] == "plan")
    ends = [e for e in evs if e["event"] == "section_end"]
    assert len(plan["sections"]) >= 2 and len(ends) >= len(plan["sections"])
    done = evs[-1]
    assert done["event"] == "done" and done["strategy"] == "planned"
    assert done["token_counts"] == "counted pieces" and done["words"] >= 300
    document = (tmp_path / "guide.md").read_text()
    assert sum(line.startswith("## ") for line in document.splitlines()) >= 2


def _start(args, env, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "lwz_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def _read_until(proc, predicate, timeout=120) -> list[dict]:
    """JSON events from a running lwz until `predicate(event)` holds."""
    seen = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.startswith("{"):
            seen.append(json.loads(line))
            if predicate(seen[-1]):
                return seen
        assert time.monotonic() < deadline, "lwz did not get there in time"
    raise AssertionError(f"lwz ended first: {proc.wait()} {proc.stderr.read()[-500:]}")


@pytest.mark.slow
def test_a_server_killed_mid_job_is_waited_for_and_the_job_completes(live, lwz_env, tmp_path):
    env = {**lwz_env, "LWZ_API_KEY": KEY, "LWZ_ENDPOINT_BACKOFF": "0.5"}
    proc = _start(
        [
            "write",
            "Write a 200-word story about a lighthouse.",
            "--endpoint",
            live.url,
            "--model",
            "tiny",
            "--strategy",
            "single",
            "--seed",
            "2",
            "--max-tokens",
            "300",
            "--json",
            "-o",
            "story.md",
        ],
        env,
        tmp_path,
    )
    try:
        seen = _read_until(proc, lambda e: e["event"] == "text" and len(e["text"].strip()) > 0)
        live.kill()  # mid-stream
        time.sleep(0.5)
        live.start()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    evs = seen + events(out)
    assert any(e["event"] == "warning" and "retrying" in e["message"] for e in evs)
    done = evs[-1]
    assert done["event"] == "done" and not done["resumed"]
    document = (tmp_path / "story.md").read_text()
    assert document.strip()


@pytest.mark.slow
def test_the_engine_gives_up_then_lwz_resume_finishes_the_job(live, run_lwz, lwz_env, tmp_path):
    env = {**lwz_env, "LWZ_API_KEY": KEY, "LWZ_ENDPOINT_RETRIES": "0"}
    proc = _start(
        [
            "write",
            "Write a guide to growing tomatoes.",
            "--endpoint",
            live.url,
            "--model",
            "tiny",
            "--strategy",
            "planned",
            "--words",
            "450",
            "--seed",
            "5",
            "--json",
            "-o",
            "tomato.md",
        ],
        env,
        tmp_path,
    )
    try:
        _read_until(proc, lambda e: e["event"] == "section_start" and e["index"] == 2)
        live.kill()
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lwz: error: the endpoint ")
    assert "lwz resume tomato.md" in lines[0]
    partial = (tmp_path / "tomato.md.partial").read_text()
    assert partial.count("## ") >= 1 and not (tmp_path / "tomato.md").exists()
    live.start()
    result = run_lwz("resume", "tomato.md", "--json", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    done = events(result.stdout)[-1]
    assert done["event"] == "done" and done["resumed"] is True
    assert (tmp_path / "tomato.md").read_text().startswith(partial)


# -- batches over endpoints ---------------------------------------------------------------

BATCH_RECIPE = """\
name: notes
model: tiny
words: 80
params: {seed: 2, max_tokens: 220}
prompt: "Write an {words}-word note about {topic}."
output: "notes/{slug}.md"
items:
  - {topic: green tea, slug: tea}
  - {topic: rainwater tanks, slug: tanks}
  - {topic: bicycle chains, slug: chains}
"""


@pytest.fixture()
def second_server(tiny_path, tmp_path):
    srv = LlamaServer(tiny_path, api_key=KEY, log=tmp_path / "second.log").start()
    yield srv
    srv.stop()


@pytest.mark.slow
def test_a_three_job_batch_with_two_jobs_at_once(live, second_server, run_lwz, lwz_env, tmp_path):
    recipe = tmp_path / "notes.yaml"
    recipe.write_text(BATCH_RECIPE)
    env = {**lwz_env, "LWZ_API_KEY": KEY}
    args = (
        "batch",
        str(recipe),
        "--jobs",
        "2",
        "--endpoint",
        live.url,
        "--endpoint",
        second_server.url,
        "--json",
    )
    result = run_lwz(*args, env=env)
    assert result.returncode == 0, result.stderr
    found = events(result.stdout)
    ends = [e for e in found if e["event"] == "job_end"]
    assert [e["status"] for e in ends] == ["done"] * 3
    assert {e["endpoint"] for e in ends} == {live.url, second_server.url}  # both were used
    assert all(e["token_counts"] == "counted pieces" for e in found if e["event"] == "done")
    for slug in ("tea", "tanks", "chains"):
        assert (tmp_path / "notes" / f"{slug}.md").read_text().strip()
    again = run_lwz(*args, env=env)
    assert [e["status"] for e in events(again.stdout) if e["event"] == "job_end"] == ["skipped"] * 3


@pytest.mark.slow
def test_a_batch_survives_an_endpoint_killed_mid_job(live, second_server, lwz_env, tmp_path):
    """The server under a running job is killed: the job resumes from its journal on
    the other endpoint and the batch completes."""
    recipe = tmp_path / "notes.yaml"
    recipe.write_text(BATCH_RECIPE.replace("words: 80", "words: 150").replace("220", "400"))
    env = {
        **lwz_env,
        "LWZ_API_KEY": KEY,
        "LWZ_ENDPOINT_RETRIES": "2",
        "LWZ_ENDPOINT_BACKOFF": "0.2",
    }
    cmd = [
        sys.executable,
        "-m",
        "lwz_cli",
        "batch",
        str(recipe),
        "--jobs",
        "2",
        "--endpoint",
        live.url,
        "--endpoint",
        second_server.url,
        "--json",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    on_second, texts, killed = set(), {}, False
    lines = []
    for line in proc.stdout:
        lines.append(line)
        event = json.loads(line)
        if event["event"] == "start" and event.get("endpoint") == second_server.url:
            on_second.add(event["job"])
        if event["event"] == "text" and event["job"] in on_second and not killed:
            texts[event["job"]] = texts.get(event["job"], 0) + 1
            if texts[event["job"]] >= 30:
                second_server.kill()
                killed = True
    proc.wait(300)
    assert killed
    stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    found = events("".join(lines))
    assert [e["status"] for e in found if e["event"] == "job_end"] == ["done"] * 3
    assert any(
        "resuming from its journal" in e.get("message", "")
        for e in found
        if e["event"] == "warning"
    )
    resumed = [e for e in found if e["event"] == "job_start" and e["action"] == "resume"]
    assert resumed or any(e.get("resumed") for e in found if e["event"] == "start")


@pytest.mark.slow
def test_a_batch_job_resumes_when_its_server_comes_back(live, lwz_env, tmp_path):
    """The only server dies mid-job and is restarted a moment later: the batch
    resumes the job from its journal and finishes every job (exit 0)."""
    recipe = tmp_path / "notes.yaml"
    recipe.write_text(BATCH_RECIPE.replace("words: 80", "words: 150").replace("220", "400"))
    env = {
        **lwz_env,
        "LWZ_API_KEY": KEY,
        "LWZ_ENDPOINT_RETRIES": "1",
        "LWZ_ENDPOINT_BACKOFF": "0.2",
    }
    cmd = [sys.executable, "-m", "lwz_cli", "batch", str(recipe), "--endpoint", live.url, "--json"]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines, texts, restarter = [], 0, None
    for line in proc.stdout:
        lines.append(line)
        event = json.loads(line)
        if event["event"] == "text" and restarter is None:
            texts += 1
            if texts >= 30:
                live.kill()
                restarter = threading.Timer(1.0, live.start)
                restarter.start()
    proc.wait(300)
    restarter.join()
    assert proc.returncode == 0, proc.stderr.read()
    found = events("".join(lines))
    assert [e["status"] for e in found if e["event"] == "job_end"] == ["done"] * 3
    starts = [e for e in found if e["event"] == "start"]
    assert len(starts) == 4 and sum(e["resumed"] for e in starts) == 1  # one job went on
    assert any(
        "resuming from its journal" in e.get("message", "")
        for e in found
        if e["event"] == "warning"
    )
