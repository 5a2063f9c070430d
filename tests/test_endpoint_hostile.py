"""Hostile endpoint replies (issue 14, item 4): each ends in lwz's one-line error
(an `error` event under --json) or a retry, in bounded memory and time, and the
run stays resumable. Never "internal error". The API key never shows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hostile_server import (
    HostileServer,
    chunk,
    models_list,
    send,
    sse,
    stream,
)
from lwz_cli.engine.http import EndpointRejected, HttpEngine, probe
from lwz_cli.engine.sse import DONE, MAX_LINE, MalformedStream, SseParser

FAST = {
    "LWZ_ENDPOINT_RETRIES": "1",
    "LWZ_ENDPOINT_BACKOFF": "0.01",
    "LWZ_ENDPOINT_STALL": "0.2",
    "LWZ_ENDPOINT_TIMEOUT": "0.4",
}
KEY = "sk-hostile-5e1f"


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def write(lwz, url: str, *extra: str, env: dict[str, str] | None = None):
    return lwz(
        "write",
        "Write a note about tea.",
        "--endpoint",
        url,
        "--strategy",
        "single",
        "-o",
        "tea.md",
        *extra,
        env={**FAST, **(env or {})},
    )


def assert_one_line_error(result, *, json_mode: bool = False) -> str:
    """Exit 1, one `lwz: error:` line (after any warnings), never an internal error."""
    assert result.returncode == 1, (result.stdout[-500:], result.stderr[-500:])
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lwz: error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.splitlines()[-1] == errors[0]
    if json_mode:
        last = events(result.stdout)[-1]
        assert last["event"] == "error" and last["exit_code"] == 1
        assert last["message"] in errors[0]
    return errors[0]


# -- garbage model lists --------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        (b"[1,2,3]", "answered an array, not a model list"),
        (b'"hello"', "answered a string, not a model list"),
        (b'{"data":5}', "answered data as a number, not a model list"),
        (b"<html><body>Welcome</body></html>", "not JSON"),
        (b'{"data": [{"id": "\xff\xfe"}]}', "not JSON"),
        (b'{"data": [{"id": "' + b"m" * (50 << 20) + b'"}]}', "more than 8 MiB"),
    ],
    ids=["array", "string", "data-number", "html", "not-utf8", "50MB-id"],
)
def test_a_garbage_model_list_is_one_line_error(body, words, lwz):
    with HostileServer(models=lambda h: send(h, 200, body)) as server:
        result = write(lwz, server.url, "--json")
    line = assert_one_line_error(result, json_mode=True)
    assert words in line and server.url in line


def test_a_bad_max_model_len_is_ignored_and_the_run_finishes(lwz, tmp_path):
    listing = models_list("fake-model", max_model_len="abc")
    with HostileServer(models=lambda h: send(h, 200, listing)) as server:
        result = write(lwz, server.url, env={"LWZ_ENDPOINT_TIMEOUT": "10"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tea.md").read_text().startswith("# Tea")


def test_odd_entries_in_a_model_list_are_skipped():
    listing = json.dumps(
        {
            "data": [
                5,
                {"id": 7},
                {"id": "x" * 600},
                {"id": "ok\n"},
                {"id": "real", "max_model_len": 4096},
            ]
        }
    ).encode()
    with HostileServer(models=lambda h: send(h, 200, listing)) as server:
        info = probe(server.url)
    assert info.models == ["real"] and info.n_ctx == 4096


# -- garbage streams ------------------------------------------------------------------


def _endless_line(h):
    """`data: ` and then bytes with no newline, until the client hangs up."""
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.end_headers()
    h.wfile.write(b"data: ")
    block = b"x" * (1 << 20)
    for _ in range(MAX_LINE // len(block) + 64):
        h.wfile.write(block)


def _stalls_after_text(h):
    stream(h, sse(chunk("# Tea\n\nTea is "), done=False))
    h.server.stop.wait(30)


def _stalls_after_text_once(h):
    """Text, then a stall; every later request stalls before any text."""
    if sum(r[0] == "POST" for r in h.server.owner.requests) == 1:
        _stalls_after_text(h)
    else:
        _stalls_at_once(h)


def _stalls_at_once(h):
    stream(h, b": ping\n\n")
    h.server.stop.wait(30)


def _trickles(h):
    """One byte at a time, never a whole event: bytes arrive but nothing progresses."""
    stream(h, b"")
    for _ in range(300):
        if h.server.stop.wait(0.05):
            return
        h.wfile.write(b" ")
        h.wfile.flush()


HOSTILE_STREAMS = {
    "choices-of-strings": (lambda h: stream(h, sse({"choices": ["x"]})), "a choice is a string"),
    "text-a-number": (lambda h: stream(h, sse({"choices": [{"text": 5}]})), "text is a number"),
    "event-an-array": (lambda h: stream(h, sse([1, 2])), "an event that is an array"),
    "invalid-json": (lambda h: stream(h, sse(b"{nope")), "an event that is not JSON"),
    "invalid-utf8": (
        lambda h: stream(h, sse(b'{"choices": [{"text": "\xff\xfe"}]}')),
        "bytes that are not UTF-8",
    ),
    "html-200": (
        lambda h: stream(h, b"<html>Sign in to the Wi-Fi</html>", "text/html"),
        "an HTML page",
    ),
    "endless-line": (_endless_line, "a line longer than 64 MiB"),
    "stall-after-text": (_stalls_after_text_once, "the stream stalled for 0.2 s"),
    "stall-before-text": (_stalls_at_once, "no answer in 0.4 s"),
    "trickle": (_trickles, "no answer in 0.4 s"),
}


@pytest.mark.parametrize("name", list(HOSTILE_STREAMS))
def test_a_hostile_stream_is_retried_then_one_line_error_and_resumable(name, lwz, tmp_path):
    answer, words = HOSTILE_STREAMS[name]
    with HostileServer(completions=answer) as server:
        started = time.monotonic()
        result = write(lwz, server.url, "--json")
        took = time.monotonic() - started
    line = assert_one_line_error(result, json_mode=True)
    assert "failed 2 times in a row" in line
    assert "lwz resume tea.md" in line  # the run is saved and can go on
    assert took < 10
    warnings = [e["message"] for e in events(result.stdout) if e["event"] == "warning"]
    assert "retrying" in warnings[0] and words in warnings[0]
    assert [p.name for p in (Path(os.environ["LWZ_HOME"]) / "data" / "runs").iterdir()]


def test_a_retry_after_garbage_continues_from_the_text_received(tmp_path):
    answers = iter(
        [
            sse(chunk("The quick"), chunk(" brown"), {"choices": [{"text": 5}]}),
            sse(chunk(" fox."), chunk("", "stop")),
        ]
    )
    with HostileServer(completions=lambda h: stream(h, next(answers))) as server:
        engine = HttpEngine(server.url, retries=1, backoff=0.01)
        text = "".join(p.text for p in engine.stream([ord(c) for c in "Go: "], max_tokens=10))
        prompts = [r for r in server.requests if r[0] == "POST"]
    assert text == "The quick brown fox." and len(prompts) == 2
    assert engine.last.finish_reason == "stop"


def test_a_line_is_bounded_and_so_is_one_events_data():
    long_line = SseParser(max_line=1000)
    with pytest.raises(MalformedStream, match="longer than"):
        for _ in range(100):
            long_line.feed(b"data: " + b"x" * 100)
    many_lines = SseParser(max_line=1000)  # one event's data lines count together
    with pytest.raises(MalformedStream, match="longer than"):
        for _ in range(100):
            many_lines.feed(b"data: " + b"x" * 100 + b"\n")
    split = SseParser(max_line=1000)  # a line split anywhere is still one line
    event = b'data: {"choices": [{"text": "' + b"y" * 900 + b'"}]}\n\n'
    found = [e for i in range(len(event)) for e in split.feed(event[i : i + 1])]
    assert found == [json.loads(event[6:])] and split.feed(b"data: [DONE]\n\n") == [DONE]


def test_cancel_wakes_a_read_that_is_stalled(tmp_path):
    with HostileServer(completions=_stalls_after_text) as server:
        engine = HttpEngine(server.url, retries=0, stall=60, timeout=60)
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        text = "".join(p.text for p in engine.stream([65], max_tokens=50, cancel=cancel))
        took = time.monotonic() - started
    assert text == "# Tea\n\nTea is " and engine.last.finish_reason == "cancelled"
    assert took < 1.0


def test_cancel_wakes_a_wait_for_the_status_line():
    with HostileServer(completions=lambda h: h.server.stop.wait(30)) as server:
        engine = HttpEngine(server.url, retries=0, stall=60, timeout=60)
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        started = time.monotonic()
        assert list(engine.stream([65], max_tokens=5, cancel=cancel)) == []
        assert time.monotonic() - started < 1.0 and engine.last.finish_reason == "cancelled"


# -- redirects and the API key ----------------------------------------------------------


def test_a_redirect_is_not_followed_and_says_so(lwz):
    with HostileServer(host="127.0.0.2") as elsewhere:
        moved = lambda h: send(h, 302, b"", Location=elsewhere.url + "/v1/completions")  # noqa: E731
        with HostileServer(completions=moved) as server:
            result = write(lwz, server.url, "--api-key", KEY)
        line = assert_one_line_error(result)
        assert "redirects the request (302) to " + elsewhere.url in line
        assert "shorten" not in line and "--endpoint" in line
        assert elsewhere.requests == []  # the key went nowhere else
    with HostileServer(models=moved) as server, pytest.raises(EndpointRejected) as info:
        probe(server.url, api_key=KEY)
    assert info.value.status == 302 and "redirects /v1/models" in str(info.value)


def _echo_key(h):
    """A server that puts the Authorization header it got into everything it says."""
    auth = h.headers.get("Authorization", "")
    if h.path.endswith("/v1/models"):
        send(h, 200, models_list(f"model {auth}"))
    else:
        body = json.dumps({"error": {"message": f"bad key {auth}"}}).encode()
        send(h, 400, body, Location=f"http://elsewhere/{auth}")


def _echo_key_in_stream(h):
    auth = h.headers.get("Authorization", "")
    stream(h, sse(chunk("Hello. "), {"error": {"message": f"failed for {auth}"}}))


def _stall_after_key(h):
    _stalls_after_text_once(h)


@pytest.mark.parametrize(
    "completions, json_mode",
    [
        (None, True),
        (_echo_key, False),
        (_echo_key, True),
        (_echo_key_in_stream, True),
        (_stall_after_key, False),
        (_stall_after_key, True),
        ("redirect", True),
    ],
    ids=["ok", "echo-in-error", "echo-in-error-json", "echo-in-event", "failing", "failing-json",
         "redirect"],
)  # fmt: skip
def test_the_api_key_is_nowhere_after_a_run(completions, json_mode, lwz, lwz_env, tmp_path):
    if completions == "redirect":
        completions = lambda h: send(h, 302, b"", Location="http://127.0.0.2:9/")  # noqa: E731
    models = _echo_key if completions in (_echo_key, _echo_key_in_stream) else None
    with HostileServer(completions=completions, models=models) as server:
        result = write(
            lwz, server.url, *(["--json"] if json_mode else []), env={"LWZ_API_KEY": KEY}
        )
        assert all(r[2].get("Authorization") == f"Bearer {KEY}" for r in server.requests)
    assert result.returncode in (0, 1)
    assert "internal error" not in result.stderr
    assert KEY not in result.stdout and KEY not in result.stderr
    for root in (Path(lwz_env["LWZ_HOME"]), tmp_path):
        for path in root.rglob("*"):
            if path.is_file():
                assert KEY.encode() not in path.read_bytes(), path


# -- the slow proofs: a real process -----------------------------------------------------

MEASURE = textwrap.dedent(
    """
    import resource, subprocess, sys
    proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    print(proc.returncode, peak)
    sys.stderr.write(proc.stderr)
    """
)


def _lwz(*args: str) -> list[str]:
    return [sys.executable, "-m", "lwz_cli", *args]


@pytest.mark.slow
def test_an_endless_line_ends_in_an_error_under_1_gb(lwz_env, tmp_path):
    env = {**lwz_env, **FAST, "LWZ_ENDPOINT_RETRIES": "0"}
    with HostileServer(completions=_endless_line) as server:
        cmd = _lwz("write", "Write a note about tea.", "--endpoint", server.url, "-o", "tea.md")
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, *cmd],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
    code, peak_kib = map(int, done.stdout.split())
    assert code == 1, done.stderr
    assert "a line longer than 64 MiB" in done.stderr and "internal error" not in done.stderr
    assert peak_kib * 1024 < 1 << 30, f"peak {peak_kib / 1024:.0f} MiB"
    print(f"peak RSS of lwz fed an endless line: {peak_kib / 1024:.0f} MiB")


@pytest.mark.slow
def test_a_50_mb_chunk_is_written_under_1_gb(lwz_env, tmp_path):
    """Far past any honest chunk, but under the line bound: it is read and the run
    finishes (the repetition guard trims it: the document stays short)."""
    big = sse(
        *[chunk(t) for t in ("<think>", "A plan.", "</think>", "<answer>", "# Tea\n\n")],
        chunk("Tea is a drink. " * (50 << 16)),  # 50 MiB
        chunk("</answer>"),
        chunk("", "stop"),
    )
    with HostileServer(completions=lambda h: stream(h, big)) as server:
        cmd = _lwz("write", "Write a note about tea.", "--endpoint", server.url, "-o", "tea.md")
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, *cmd, "--strategy", "single", "--max-tokens", "100"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**lwz_env, **FAST},
            timeout=300,
        )
    code, peak_kib = map(int, done.stdout.split())
    assert code == 0, done.stderr
    assert (tmp_path / "tea.md").read_text().startswith("# Tea")
    assert peak_kib * 1024 < 1 << 30, f"peak {peak_kib / 1024:.0f} MiB"
    print(f"peak RSS of lwz fed a 50 MiB chunk: {peak_kib / 1024:.0f} MiB")


@pytest.mark.slow
def test_sigterm_during_a_stalled_stream_exits_within_a_second_and_resumes(lwz_env, tmp_path):
    env = {**lwz_env, "LWZ_ENDPOINT_STALL": "300", "LWZ_ENDPOINT_TIMEOUT": "300"}
    with HostileServer(completions=_stalls_after_text) as server:
        proc = subprocess.Popen(
            [
                *_lwz("write", "Write a note about tea.", "--endpoint", server.url, "--json"),
                *("--strategy", "single", "-o", "tea.md"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        try:
            for line in proc.stdout:  # the stream has started, then stalls
                if json.loads(line)["event"] == "section_start":  # the heading came
                    break
            time.sleep(0.3)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode in (130, 143), proc.stderr.read()
    assert took < 1.0, f"took {took:.2f} s"
    with HostileServer() as good:
        resumed = subprocess.run(
            _lwz("resume", "tea.md", "--endpoint", good.url, "--json"),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
    assert resumed.returncode == 0, resumed.stderr
    assert events(resumed.stdout)[-1]["event"] == "done"
    assert (tmp_path / "tea.md").read_text().startswith("# Tea\n\nTea is ")
