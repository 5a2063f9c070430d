"""`lwz write` end to end: the real CLI, the real tiny model, real files; and its
refusals of bad input, in-process (no model loads for those)."""

import json
import signal
import subprocess
import sys
import time

import pytest

TEA = "Write a 400-word blog post about green tea."
TAGS = ("<think>", "</think>", "<answer>", "</answer>", "<|im_start|>", "<|im_end|>")


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.mark.slow
def test_json_run_writes_the_file_and_reports_done(run_lwz, tmp_path):
    result = run_lwz("write", TEA, "--model", "tiny", "-o", "tea.md", "--json", "--seed", "3")
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    assert events[0]["event"] == "start" and events[0]["target_words"] == 400
    done = events[-1]
    assert done["event"] == "done"
    for key in (
        "output",
        "words",
        "target_words",
        "generated_tokens",
        "prompt_tokens_evaluated",
        "decode_seconds",
        "tokens_per_second",
        "seconds",
        "resumed",
    ):
        assert key in done, key
    assert done["target_words"] == 400 and done["resumed"] is False
    assert done["output"] == "tea.md"
    assert done["generated_tokens"] > 50 and done["tokens_per_second"] > 0
    assert done["prompt_tokens_evaluated"] == events[0]["prompt_tokens"]
    text = (tmp_path / "tea.md").read_text()
    assert not any(tag in text for tag in TAGS)
    assert done["words"] > 50
    # the text events are exactly the document
    streamed = "".join(e["text"] for e in events if e["event"] == "text")
    assert streamed.strip() == text.strip()
    assert not list(tmp_path.glob(".tea.md.*"))  # no temp file left behind


@pytest.mark.slow
def test_stdin_prompt_document_on_stdout_ui_on_stderr(run_lwz):
    result = run_lwz(
        "write",
        "-",
        "--model",
        "tiny",
        "--seed",
        "1",
        "--max-tokens",
        "200",
        input="Write a short note about rain.\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "\x1b" not in result.stdout  # no terminal escapes in the document
    assert "lwz:" not in result.stdout
    assert "lwz: done" in result.stderr  # plain progress lines when not a terminal


@pytest.mark.slow
def test_quiet_prints_no_progress(run_lwz):
    result = run_lwz("write", "A haiku about snow.", "-m", "tiny", "-q", "--max-tokens", "30")
    assert result.returncode == 0
    assert "lwz: done" not in result.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["write", "   ", "-m", "tiny"], "the prompt is empty"),
        (["write", "x", "-m", "no-such-model"], "unknown model 'no-such-model'"),
        (["write", "x", "-m", "missing.gguf"], "model file not found"),
        (["write", "x", "-m", "tiny", "-o", "no/such/dir/out.md"], "does not exist"),
        (["write", "x", "-m", "tiny", "-o", "."], "is a directory"),
        (["write", "x", "-m", "tiny", "--words", "0"], "positive number of words"),
        (["write", "x", "-m", "tiny", "--words", "-5"], "positive number of words"),
        (["write", "x", "-m", "tiny", "--words", "5000000"], "more than lwz writes"),
        (["write", "Write a 9,000,000-word saga", "-m", "tiny"], "more than lwz writes"),
        (
            ["write", "x", "-m", "tiny", "--words", "10000", "--strategy", "single"],
            "--strategy planned",
        ),
        (["write", "x", "-m", "tiny", "--strategy", "planned"], "needs a target length"),
        (["write", "x", "-m", "tiny", "--strategy", "wild"], "unknown --strategy"),
        (["write", "x", "-m", "tiny", "--temperature", "9"], "--temperature"),
        (["write", "x", "-m", "tiny", "--bogus"], "no such option --bogus\n"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(lwz, args, needle):
    result = lwz(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_the_real_entry_point_refuses_bad_input_the_same_way(run_lwz):
    """The in-process tests above call `lwz_cli.cli.main`; `python -m lwz_cli` is the
    same: one line on stderr, exit 2, and with --json an error event last."""
    result = run_lwz("write", "x", "-m", "tiny", "--words", "0")
    assert result.returncode == 2 and "positive number of words" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_lwz("write", "x", "-m", "no-such-model", "--json")
    assert result.returncode == 2
    last = events_of(result.stdout)[-1]
    assert last["event"] == "error" and last["exit_code"] == 2


def test_not_a_gguf_file(lwz, tmp_path):
    (tmp_path / "fake.gguf").write_text("not a model")
    result = lwz("write", "x", "-m", "fake.gguf")
    assert result.returncode == 2
    assert "not a GGUF" in result.stderr and "Traceback" not in result.stderr


def test_request_longer_than_the_context(lwz):
    result = lwz("write", "-", "-m", "tiny", input="word " * 9000)
    assert result.returncode == 2
    assert "longer than" in result.stderr and "8192" in result.stderr


def test_json_errors_end_with_an_error_event(lwz):
    result = lwz("write", "x", "-m", "no-such-model", "--json")
    assert result.returncode == 2
    last = events_of(result.stdout)[-1]
    assert last["event"] == "error" and "no-such-model" in last["message"]
    assert last["exit_code"] == 2


def test_incomplete_model_file_is_refused(lwz, tmp_path, tiny_path):
    data = tiny_path.read_bytes()
    (tmp_path / "half.gguf").write_bytes(data[: len(data) // 2])
    result = lwz("write", "x", "-m", "half.gguf")
    assert result.returncode == 2
    assert "incomplete" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_sigint_stops_with_130_and_writes_nothing(lwz_env, tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lwz_cli",
            "write",
            "Write a long story about a lighthouse.",
            "-m",
            "tiny",
            "-o",
            "story.md",
            "--json",
            "--max-tokens",
            "5000",
            "--ctx",
            "8192",
        ],
        cwd=tmp_path,
        env=lwz_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    texts = 0
    for line in proc.stdout:  # wait until the model is writing
        if '"event": "text"' in line or '"event": "think"' in line:
            texts += 1
            if texts >= 5:
                break
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "story.md").exists()
