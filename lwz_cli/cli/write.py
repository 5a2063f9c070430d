"""`lwz write`: one request in, one Markdown document out."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from lwz_cli.cli import complete
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
    prompt: str = typer.Argument(..., metavar="PROMPT", help="What to write, e.g. \"a 3000-word guide to tea\"; '-' reads stdin."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", metavar="PATH", help="Write the document here (atomically); PATH.partial holds the finished sections meanwhile. Default: stdout."),
    model: Optional[str] = typer.Option(None, "-m", "--model", envvar="LWZ_MODEL", metavar="MODEL", autocompletion=complete.models, help="A .gguf path, an alias (tiny, longwriter-zero-32b), repo_id:QUANT or repo_id/file.gguf."),
    words: Optional[int] = typer.Option(None, "--words", "-w", envvar="LWZ_WORDS", metavar="N", help="Target length in words (字 for Chinese); overrides the length stated in the request."),
    strategy: str = typer.Option("auto", "--strategy", "-s", envvar="LWZ_STRATEGY", metavar="auto|single|planned", help="single: one pass; planned: an outline with word budgets, then section by section; auto: single within the model's one-pass reach (LongWriter-Zero ~10,000 words), planned beyond."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", envvar="LWZ_MAX_TOKENS", metavar="N", help="Stop after this many generated tokens (default: what the context allows)."),
    temperature: float = typer.Option(DEFAULT_TEMPERATURE, "--temperature", "-t", envvar="LWZ_TEMPERATURE", metavar="T", help="Sampling temperature (model card: 0.6)."),
    top_p: float = typer.Option(DEFAULT_TOP_P, "--top-p", envvar="LWZ_TOP_P", metavar="P", help="Nucleus sampling (model card: 0.95)."),
    seed: Optional[int] = typer.Option(None, "--seed", envvar="LWZ_SEED", metavar="N", help="Random seed, for repeatable output."),
    ctx: Optional[int] = typer.Option(None, "--ctx", envvar="LWZ_CTX", metavar="TOKENS", help="Context size in tokens (rounded up to a multiple of 256). Default: sized to prompt + target."),
    threads: Optional[int] = typer.Option(None, "--threads", envvar="LWZ_THREADS", metavar="N", help="CPU threads (default: physical cores)."),
    gpu_layers: Optional[int] = typer.Option(None, "--gpu-layers", envvar="LWZ_GPU_LAYERS", metavar="N", help="Layers to offload to the GPU (-1: all). Default: the fit plan's (see `lwz fit`)."),
    kv_type: Optional[str] = typer.Option(None, "--kv-type", envvar="LWZ_KV_TYPE", metavar="f16|q8_0|q4_0", help="KV cache type (quantized types turn flash attention on). Default: the fit plan's."),
    no_pull: bool = typer.Option(False, "--no-pull", help="Never download: if the model is not here, exit 2 naming the pull command."),
    restart: bool = typer.Option(False, "--restart", help="Discard an unfinished run for -o PATH and start again (default: resume it)."),
    kv_snapshot: bool = typer.Option(True, "--kv-snapshot/--no-kv-snapshot", envvar="LWZ_KV_SNAPSHOT", help="Save llama.cpp KV-cache snapshots at checkpoints so a resume skips re-reading the text."),
    snapshot_max_gb: float = typer.Option(4.0, "--snapshot-max-gb", envvar="LWZ_KV_SNAPSHOT_MAX_GB", metavar="GB", help="Skip KV snapshots larger than this."),
    json_mode: bool = typer.Option(False, "--json", help="JSON Lines events on stdout instead of the live view."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output; warnings and errors only."),
    verbose: bool = typer.Option(False, "--verbose", help="Show llama.cpp's own log."),
    endpoint: Optional[List[str]] = typer.Option(None, "--endpoint", envvar="LWZ_ENDPOINT", metavar="URL", help="Generate on an OpenAI-compatible server (/v1/completions: llama-server, vLLM, ...) instead of in-process; repeatable: the first reachable one is used, the next ones take over if it keeps failing."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="LWZ_API_KEY", metavar="KEY", show_default=False, help="Bearer key for --endpoint (never stored in the run's journal)."),
    endpoint_model: Optional[str] = typer.Option(None, "--endpoint-model", envvar="LWZ_ENDPOINT_MODEL", metavar="NAME", help="The model name to ask --endpoint for (default: the first one its /v1/models lists)."),
) -> None:
    """Write a document from a request, watching the model think and write."""
    from lwz_cli.writing.session import WriteRequest

    def job():
        check_engine_flags(temperature=temperature, top_p=top_p, kv_type=kv_type)
        request = WriteRequest(
            prompt=read_prompt(prompt), model=model, output=output, words=words,
            max_tokens=max_tokens, ctx=ctx, threads=threads, gpu_layers=gpu_layers, kv_type=kv_type,
            verbose=verbose, kv_snapshot=kv_snapshot, snapshot_budget_gb=snapshot_max_gb,
            strategy=strategy,
            sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed),
            endpoints=tuple(endpoint or ()), endpoint_model=endpoint_model, api_key=api_key,
        )
        prepared = prepare_pulling(request, no_pull=no_pull, json_mode=json_mode, quiet=quiet)
        return open_run(prepared, restart=restart, interactive=_interactive(json_mode))

    run_job(job, json_mode=json_mode, quiet=quiet)


def check_engine_flags(*, temperature: float, top_p: float, kv_type: str | None = None) -> None:
    """The sampling and KV flags `write`, `chat` and `batch` share."""
    if not 0 <= temperature <= 5:
        raise UsageError(f"--temperature {temperature} is out of range",
                         hint="use 0 to 5 (0.6 is the model card's)")
    if not 0 < top_p <= 1:
        raise UsageError(f"--top-p {top_p} is out of range", hint="use a value in (0, 1]")
    if kv_type is not None and kv_type not in ("f16", "q8_0", "q4_0"):
        raise UsageError(f"--kv-type {kv_type} is not one of f16, q8_0, q4_0",
                         hint="q8_0 halves the KV cache with little loss")


def prepare_pulling(request, *, no_pull: bool, json_mode: bool, quiet: bool):
    """`prepare`, pulling a Hub model that is not here yet (after asking, on a terminal)."""
    from lwz_cli.models.registry import ModelNotDownloaded
    from lwz_cli.writing.session import prepare

    try:
        return prepare(request)
    except ModelNotDownloaded as missing:
        if no_pull:
            raise UsageError(missing.message, hint=f"run `lwz models pull {missing.spec}` first "
                             "(or drop --no-pull)") from None
        from lwz_cli.cli.models import default_quant, pull_model
        from lwz_cli.models.pull import plan_files
        from lwz_cli.models.registry import DEFAULT_MODEL

        quant = default_quant() if missing.spec.lower() == DEFAULT_MODEL else None
        files = plan_files(missing.spec, quant=quant)
        size = sum(f.size for f in files)
        if _interactive(json_mode):
            if not typer.confirm(f"lwz: {missing.message}. Download {files[0].filename} "
                                 f"({size / 1e9:.1f} GB) from {files[0].repo_id}?",
                                 default=True, err=True):
                raise UsageError("no model to write with",
                                 hint=f"`lwz models pull {missing.spec}`, or --model PATH") from None
        pull_model(missing.spec, quant=quant, json_mode=False, quiet=quiet or json_mode)
        return prepare(request)


def _interactive(json_mode: bool) -> bool:
    return not json_mode and sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()


def open_run(prepared, *, restart: bool, interactive: bool):
    """The journal and checkpoint for this job (see `lwz_cli.writing.resume.open_run`);
    on a terminal, an unfinished run is resumed only if the user says so."""
    from lwz_cli.writing.resume import open_run as open_or_resume

    def ask(words: int) -> bool:
        return typer.confirm(f"lwz: {prepared.request.output} has an unfinished run ({words} words). "
                             "Resume it?", default=True, err=True)

    return open_or_resume(prepared, restart=restart, confirm=ask if interactive else None)


def run_job(job, *, json_mode: bool, quiet: bool) -> None:
    """Prepare (through `job`), run with the right view, then print the document
    when it goes to stdout. Shared by `write` and `resume`."""
    from lwz_cli.writing.run import write_document

    view = None
    journal = None
    try:
        if json_mode:
            view = make_view(True, quiet)
        prepared, journal, checkpoint = job()
        journal.lock()
        view = view or make_view(False, quiet)
        cancel = threading.Event()
        try:
            with interrupt_sets(cancel):
                result = write_document(prepared, view, cancel=cancel, journal=journal,
                                        checkpoint=checkpoint)
        finally:
            view.close()
    except LwzError as exc:
        if json_mode:
            sys.stdout.write(_error_json(exc))
            sys.stdout.flush()
        raise
    finally:
        if journal is not None:
            journal.unlock()
    if prepared.request.output is None and not json_mode:
        sys.stdout.write(result.document)
        sys.stdout.flush()


def _error_json(exc: LwzError) -> str:
    import json

    from lwz_cli.events import ErrorEvent

    return json.dumps(ErrorEvent(str(exc), exc.exit_code).to_json(), ensure_ascii=False) + "\n"


def register(app: typer.Typer) -> None:
    app.command("write", no_args_is_help=True)(write)
