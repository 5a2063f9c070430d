"""`lwz write`: one request in, one Markdown document out."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

from lwz_cli.engine.protocol import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Sampling
from lwz_cli.errors import LwzError, UsageError


def read_prompt(prompt: str) -> str:
    if prompt == "-":
        if sys.stdin is None:
            raise UsageError("PROMPT is '-' but there is no standard input",
                             hint="pipe the request in, or pass it as an argument")
        return sys.stdin.read()
    return prompt


@contextmanager
def interrupt_sets(cancel: threading.Event):
    """First Ctrl-C / SIGTERM asks the run to stop at the next token; a second one
    stops at once."""

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def make_view(json_mode: bool, quiet: bool):
    from lwz_cli.view import JsonLinesView, PlainView, QuietView

    if json_mode:
        return JsonLinesView(sys.stdout)
    if quiet:
        return QuietView(sys.stderr)
    if sys.stderr.isatty():
        from lwz_cli.view.live import LiveView

        return LiveView()
    return PlainView(sys.stderr)


def write(
    prompt: str = typer.Argument(..., help="What to write, e.g. \"a 3000-word guide to tea\"; '-' reads stdin."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the document here (atomically). Default: stdout."),
    model: Optional[str] = typer.Option(None, "-m", "--model", envvar="LWZ_MODEL", help="A .gguf path, an alias (tiny, longwriter-zero-32b), repo_id:QUANT or repo_id/file.gguf."),
    words: Optional[int] = typer.Option(None, "--words", "-w", help="Target length in words (字 for Chinese); overrides the length stated in the request."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Stop after this many generated tokens (default: what the context allows)."),
    temperature: float = typer.Option(DEFAULT_TEMPERATURE, "--temperature", "-t", help="Sampling temperature (model card: 0.6)."),
    top_p: float = typer.Option(DEFAULT_TOP_P, "--top-p", help="Nucleus sampling (model card: 0.95)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed, for repeatable output."),
    ctx: Optional[int] = typer.Option(None, "--ctx", help="Context size in tokens (rounded up to a multiple of 256). Default: sized to prompt + target."),
    threads: Optional[int] = typer.Option(None, "--threads", envvar="LWZ_THREADS", help="CPU threads (default: physical cores)."),
    gpu_layers: int = typer.Option(0, "--gpu-layers", envvar="LWZ_GPU_LAYERS", help="Layers to offload to the GPU (-1: all)."),
    json_mode: bool = typer.Option(False, "--json", help="JSON Lines events on stdout instead of the live view."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output; warnings and errors only."),
    verbose: bool = typer.Option(False, "--verbose", help="Show llama.cpp's own log."),
) -> None:
    """Write a document from a request, watching the model think and write."""
    from lwz_cli.writing.session import WriteRequest, prepare, write_document

    emit = None
    try:
        if not 0 <= temperature <= 5:
            raise UsageError(f"--temperature {temperature} is out of range", hint="use 0 to 5 (0.6 is the model card's)")
        if not 0 < top_p <= 1:
            raise UsageError(f"--top-p {top_p} is out of range", hint="use a value in (0, 1]")
        request = WriteRequest(
            prompt=read_prompt(prompt), model=model, output=output, words=words,
            max_tokens=max_tokens, ctx=ctx, threads=threads, gpu_layers=gpu_layers,
            verbose=verbose,
            sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed),
        )
        if json_mode:
            emit = make_view(True, quiet)
        prepared = prepare(request)
        emit = emit or make_view(False, quiet)
        cancel = threading.Event()
        try:
            with interrupt_sets(cancel):
                result = write_document(prepared, emit, cancel=cancel)
        finally:
            emit.close()
    except LwzError as exc:
        if json_mode:
            sys.stdout.write(_error_json(exc))
            sys.stdout.flush()
        raise
    if output is None and not json_mode:
        sys.stdout.write(result.document)
        sys.stdout.flush()


def _error_json(exc: LwzError) -> str:
    import json

    return json.dumps({"event": "error", "message": str(exc), "exit_code": exc.exit_code},
                      ensure_ascii=False) + "\n"


def register(app: typer.Typer) -> None:
    app.command("write", no_args_is_help=True)(write)
