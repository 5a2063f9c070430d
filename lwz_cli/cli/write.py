"""`lwz write`: one request in, one Markdown document out."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from lwz_cli.cli import options as opt
from lwz_cli.cli import terminal
from lwz_cli.cli.models import default_quant, pull_model
from lwz_cli.config import default, env_name
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import LwzError, UsageError
from lwz_cli.export import require as require_converter
from lwz_cli.interrupt import interrupt_sets
from lwz_cli.output import check_replace


def read_prompt(prompt: str) -> str:
    """The request: PROMPT itself, or UTF-8 text from stdin for '-'."""
    if prompt == "-":
        if sys.stdin is None:
            raise UsageError(
                "PROMPT is '-' but there is no standard input",
                hint="pipe the request in, or pass it as an argument",
            )
        return _utf8_text(sys.stdin)
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as exc:  # argv bytes that were not UTF-8 (surrogate-escaped)
        raise UsageError(
            f"PROMPT is not UTF-8 text (character {exc.start})",
            hint="pass the request as UTF-8, or pipe it in with '-' after converting it (iconv)",
        ) from None
    return prompt


def _utf8_text(stream) -> str:
    """All of `stream`, decoded strictly as UTF-8 (a leading BOM dropped, line endings
    made \n as text mode does); a text-only stream is read as it is."""
    raw = getattr(stream, "buffer", None)
    if raw is None:
        return stream.read()
    data = raw.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"standard input is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})",
            hint="convert it first, e.g. iconv -f LATIN1 -t UTF-8 FILE | lwz write -",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def make_view(json_mode: bool, quiet: bool):
    from lwz_cli.view import JsonLinesView, PlainView, QuietView  # lazy: lwz --help start-up

    if json_mode:
        return JsonLinesView(sys.stdout)
    if quiet:
        return QuietView(sys.stderr)
    if sys.stderr.isatty():
        from lwz_cli.view.live import LiveView  # lazy: lwz --help start-up

        return LiveView()
    return PlainView(sys.stderr)


def write(
    ctx_: typer.Context,
    prompt: Annotated[
        str,
        typer.Argument(
            metavar="PROMPT",
            help="What to write, e.g. \"a 3000-word guide to tea\"; '-' reads stdin (UTF-8).",
        ),
    ] = "",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="Write the document here (atomically; a symlink is written through to its target, which keeps its mode); PATH.partial holds the finished sections meanwhile (Markdown); a .docx, .odt, .epub, .pdf or .html PATH gets the finished Markdown converted (see `lwz export`). Default: stdout.",
        ),
    ] = None,
    model: opt.Model = None,
    words: Annotated[
        int | None,
        opt.words(
            "Target length in words (字 for Chinese); overrides the length stated in the request."
        ),
    ] = None,
    strategy: opt.StrategyName = default("strategy"),
    brief: opt.Brief = None,
    style: opt.Style = None,
    source: opt.Sources = None,
    citations: opt.Citations = default("citations"),
    excerpt_tokens: opt.ExcerptTokens = default("excerpt_tokens"),
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            envvar=env_name("max_tokens"),
            metavar="N",
            help="Stop after this many generated tokens (default: what the context allows).",
        ),
    ] = None,
    temperature: opt.Temperature = default("temperature"),
    top_p: opt.TopP = default("top_p"),
    seed: opt.Seed = None,
    ctx: Annotated[
        int | None,
        opt.ctx(
            "Context size in tokens (rounded up to a multiple of 256). Default: sized to prompt + target."
        ),
    ] = None,
    threads: opt.Threads = None,
    gpu_layers: Annotated[
        int | None,
        opt.gpu_layers(
            "Layers to offload to the GPU (-1: all). Default: the fit plan's (see `lwz fit`)."
        ),
    ] = None,
    kv_type: Annotated[
        str | None,
        opt.kv_type(
            "KV cache type (quantized types turn flash attention on). Default: the fit plan's."
        ),
    ] = None,
    no_pull: Annotated[
        bool,
        typer.Option(
            "--no-pull",
            help="Never download: if the model is not here, exit 2 naming the pull command.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace -o PATH if it exists (default: ask on a terminal, else refuse).",
        ),
    ] = False,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Discard an unfinished run for -o PATH and start again (default: resume it).",
        ),
    ] = False,
    kv_snapshot: Annotated[
        bool,
        opt.kv_snapshot(
            "Save llama.cpp KV-cache snapshots at checkpoints so a resume skips re-reading the text."
        ),
    ] = default("kv_snapshot"),
    snapshot_max_gb: opt.SnapshotMaxGb = default("snapshot_max_gb"),
    memory: Annotated[bool | None, opt.memory()] = default("memory"),
    outline: Annotated[Path | None, opt.outline()] = None,
    json_mode: opt.JsonMode = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    wait: opt.Wait = default("wait"),
    endpoint: Annotated[
        opt.Endpoints,
        opt.endpoint(
            "Generate on an OpenAI-compatible server (/v1/completions: llama-server, vLLM, ...) instead of in-process; repeatable: the first reachable one is used, the next ones take over if it keeps failing."
        ),
    ] = None,
    api_key: Annotated[
        str | None, opt.api_key("Bearer key for --endpoint (never stored in the run's journal).")
    ] = None,
    endpoint_model: Annotated[
        str | None,
        opt.endpoint_model(
            "The model name to ask --endpoint for (default: the first one its /v1/models lists)."
        ),
    ] = None,
) -> None:
    """Write a document from a request, watching the model think and write."""
    from lwz_cli.writing.brief import read_brief, read_style  # lazy: lwz --help start-up
    from lwz_cli.writing.session import WriteRequest

    if not prompt and outline is None:  # PROMPT is optional only with --outline
        missing_prompt(ctx_)

    def job():
        check_engine_flags(temperature=temperature, top_p=top_p, kv_type=kv_type)
        check_replace(
            output,
            force=force,
            ask=terminal.ask_replace if terminal.interactive(json_mode) else None,
        )
        require_converter(output)  # -o guide.docx without pandoc: refused before the model loads
        given = read_outline_option(outline)
        request = WriteRequest(
            prompt=read_prompt(prompt) if prompt else "",
            outline=given,
            model=model,
            output=output,
            words=words,
            max_tokens=max_tokens,
            ctx=ctx,
            threads=threads,
            gpu_layers=gpu_layers,
            kv_type=kv_type,
            verbose=verbose,
            kv_snapshot=kv_snapshot,
            snapshot_budget_gb=snapshot_max_gb,
            strategy=strategy,
            sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed),
            endpoints=tuple(endpoint or ()),
            endpoint_model=endpoint_model,
            api_key=api_key,
            brief=read_brief(brief) if brief is not None else None,
            style=read_style(style) if style is not None else None,
            memory=memory,
            sources=tuple(source or ()),
            citations=citations,
            excerpt_tokens=excerpt_tokens,
        )
        prepared = prepare_pulling(request, no_pull=no_pull, json_mode=json_mode, quiet=quiet)
        return open_run(prepared, restart=restart, interactive=terminal.interactive(json_mode))

    run_job(job, json_mode=json_mode, quiet=quiet, command="write", wait=wait)


def missing_prompt(ctx: typer.Context) -> None:
    """Click's own error for a missing PROMPT: one line, then the usage line."""
    from typer._click.exceptions import MissingParameter  # the one main() reports
    from typer.core import TyperArgument

    param = next(
        p for p in ctx.command.params if isinstance(p, TyperArgument) and p.name == "prompt"
    )
    raise MissingParameter(ctx=ctx, param=param)


def read_outline_option(path: Path | None):
    """--outline FILE read and checked (FILE:LINE errors, exit 2) before anything loads."""
    if path is None:
        return None
    from lwz_cli.writing.outline_file import read_outline  # lazy: lwz --help start-up

    return read_outline(path)


def check_engine_flags(*, temperature: float, top_p: float, kv_type: str | None = None) -> None:
    """The sampling and KV flags `write`, `chat` and `batch` share."""
    if not 0 <= temperature <= 5:
        raise UsageError(
            f"--temperature {temperature} is out of range",
            hint=f"use 0 to 5 ({default('temperature'):g} is the model card's)",
        )
    if not 0 < top_p <= 1:
        raise UsageError(f"--top-p {top_p} is out of range", hint="use a value in (0, 1]")
    if kv_type is not None and kv_type not in opt.KV_TYPES:
        raise UsageError(
            f"--kv-type {kv_type} is not one of {', '.join(opt.KV_TYPES)}",
            hint="q8_0 halves the KV cache with little loss",
        )


def prepare_pulling(request, *, no_pull: bool, json_mode: bool, quiet: bool):
    """`prepare`, pulling a Hub model that is not here yet (after asking, on a terminal)."""
    from lwz_cli.models.registry import ModelNotDownloaded  # lazy: lwz --help start-up
    from lwz_cli.writing.session import prepare

    try:
        return prepare(request)
    except ModelNotDownloaded as missing:
        if no_pull:
            raise UsageError(
                missing.message,
                hint=f"run `lwz models pull {missing.spec}` first (or drop --no-pull)",
            ) from None
        from lwz_cli.models.pull import plan_files  # lazy: lwz --help start-up
        from lwz_cli.models.registry import DEFAULT_MODEL

        quant = default_quant() if missing.spec.lower() == DEFAULT_MODEL else None
        files = plan_files(missing.spec, quant=quant)
        size = sum(f.size for f in files)
        if terminal.interactive(json_mode) and not typer.confirm(
            f"lwz: {missing.message}. Download {files[0].filename} "
            f"({size / 1e9:.1f} GB) from {files[0].repo_id}?",
            default=True,
            err=True,
        ):
            raise UsageError(
                "no model to write with",
                hint=f"`lwz models pull {missing.spec}`, or --model PATH",
            ) from None
        pull_model(missing.spec, quant=quant, json_mode=False, quiet=quiet or json_mode)
        return prepare(request)


def open_run(prepared, *, restart: bool, interactive: bool):
    """The journal and checkpoint for this job (see `lwz_cli.writing.resume.open_run`);
    on a terminal, an unfinished run is resumed only if the user says so."""
    from lwz_cli.writing.resume import open_run as open_or_resume  # lazy: lwz --help start-up

    def ask(words: int) -> bool:
        return typer.confirm(
            f"lwz: {prepared.request.output} has an unfinished run ({words} words). Resume it?",
            default=True,
            err=True,
        )

    return open_or_resume(prepared, restart=restart, confirm=ask if interactive else None)


def run_job(job, *, json_mode: bool, quiet: bool, command: str, wait: bool = True) -> None:
    """Prepare (through `job`), run with the right view, then print the document
    when it goes to stdout. Shared by `write` and `resume` (`command`); an
    in-process model waits for the machine's engine slot unless `wait` is false."""
    from lwz_cli.writing.run import write_document  # lazy: lwz --help start-up

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
                claim = _take_engine_slot(
                    prepared,
                    journal,
                    view,
                    cancel,
                    command=command,
                    wait=wait,
                    fresh=checkpoint is None,
                )
                try:
                    result = write_document(
                        prepared, view, cancel=cancel, journal=journal, checkpoint=checkpoint
                    )
                finally:
                    if claim is not None:
                        claim.release()
        finally:
            view.close()
    except LwzError as exc:
        if json_mode:
            sys.stdout.write(terminal.error_json(exc))
            sys.stdout.flush()
        raise
    finally:
        if journal is not None:
            journal.unlock()
    if prepared.request.output is None and not json_mode:
        sys.stdout.write(result.document)
        sys.stdout.flush()


def _take_engine_slot(prepared, journal, view, cancel, *, command: str, wait: bool, fresh: bool):
    """The machine's engine slot for a job whose model loads in this process (None for
    an endpoint's). A fresh run stopped while waiting, or refused by --no-wait, leaves
    nothing behind: its journal is removed."""
    from lwz_cli.engine_slot import Holder, SlotRequest, waiting_event  # lazy: --help start-up
    from lwz_cli.writing.backend import runs_in_process

    if not runs_in_process(prepared.backend):
        return None
    output = prepared.request.output
    # a resumed stdout run is known by its run id
    target = str(output) if output else (journal.dir.name if command == "resume" else None)
    request = SlotRequest(
        Holder.me(command, target, run=journal.dir.name),
        wait=wait,
        cancel=cancel,
    )
    try:
        return request.claim(on_wait=lambda holder: view(waiting_event(holder)))
    except BaseException:
        if fresh:
            journal.unlock()
            journal.remove()
        raise


def register(app: typer.Typer) -> None:
    app.command("write", no_args_is_help=True)(write)
