"""`lwz plan`: the model's outline for a request, written as an outline file to edit
and give back to `lwz write --outline`."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from lwz_cli.cli import options as opt
from lwz_cli.cli import terminal
from lwz_cli.cli.write import (
    check_engine_flags,
    make_view,
    prepare_pulling,
    read_prompt,
)
from lwz_cli.config import default
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import Interrupted, LwzError, UsageError
from lwz_cli.interrupt import interrupt_sets
from lwz_cli.output import check_replace


def plan(
    prompt: Annotated[
        str,
        typer.Argument(
            metavar="PROMPT",
            help="What the document is, e.g. \"a 3000-word guide to bread\"; '-' reads stdin.",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="The document the outline is for: guide.md writes guide.outline.md (a path "
            "ending in .outline.md is used as it is). Default: the outline on stdout "
            "(with --json, the `plan` event only).",
        ),
    ] = None,
    model: opt.Model = None,
    brief: Annotated[
        str | None, opt.brief(opt.BRIEF_HELP.replace("every prompt", "the plan prompt"))
    ] = None,
    style: Annotated[Path | None, opt.style()] = None,
    words: Annotated[
        int | None,
        opt.words("Target length in words (字 for Chinese); default: the request's own."),
    ] = None,
    temperature: opt.Temperature = default("temperature"),
    top_p: opt.TopP = default("top_p"),
    seed: opt.Seed = None,
    ctx: Annotated[
        int | None, opt.ctx("Context size in tokens. Default: sized to the job.")
    ] = None,
    threads: opt.Threads = None,
    gpu_layers: opt.GpuLayers = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the outline file if it exists."),
    ] = False,
    no_pull: Annotated[
        bool, typer.Option("--no-pull", help="Never download: exit 2 if the model is not here.")
    ] = False,
    json_mode: opt.JsonMode = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    wait: opt.Wait = default("wait"),
    endpoint: Annotated[
        opt.Endpoints, opt.endpoint("Plan on an OpenAI-compatible server instead of in-process.")
    ] = None,
    api_key: Annotated[str | None, opt.api_key("Bearer key for --endpoint.")] = None,
    endpoint_model: Annotated[
        str | None, opt.endpoint_model("The model name to ask --endpoint for.")
    ] = None,
) -> None:
    """Write the model's outline for a request to an outline file you can edit, then
    `lwz write --outline FILE` writes exactly that outline."""
    from lwz_cli.strategy import Strategy  # lazy: lwz --help start-up
    from lwz_cli.writing.brief import read_brief, read_style
    from lwz_cli.writing.length import parse_target
    from lwz_cli.writing.outline_file import outline_path
    from lwz_cli.writing.session import WriteRequest, check_output

    view = make_view(True, quiet) if json_mode else None
    try:
        check_engine_flags(temperature=temperature, top_p=top_p)
        path = outline_path(output) if output is not None else None
        check_output(path)
        check_replace(
            path, force=force, ask=terminal.ask_replace if terminal.interactive(json_mode) else None
        )
        text = read_prompt(prompt)
        if words is None and parse_target(text) is None:  # an outline is sized by its target
            raise UsageError(
                "lwz plan needs a target length",
                hint='say it in the request ("a 3000-word ...") or pass --words',
            )
        request = WriteRequest(
            prompt=text,
            model=model,
            words=words,
            ctx=ctx,
            threads=threads,
            gpu_layers=gpu_layers,
            verbose=verbose,
            kv_snapshot=False,
            strategy=Strategy.PLANNED,
            sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed),
            endpoints=tuple(endpoint or ()),
            endpoint_model=endpoint_model,
            api_key=api_key,
            brief=read_brief(brief) if brief is not None else None,
            style=read_style(style) if style is not None else None,
        )
        prepared = prepare_pulling(request, no_pull=no_pull, json_mode=json_mode, quiet=quiet)
        view = view or make_view(False, quiet)
        try:
            text = _make_outline(prepared, view, wait=wait)
        finally:
            view.close()
    except LwzError as exc:
        if json_mode:
            sys.stdout.write(terminal.error_json(exc))
            sys.stdout.flush()
        raise
    if path is None:
        if json_mode:  # stdout is the event stream: the `plan` event is the outline
            return
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from lwz_cli.atomic import atomic_write_document  # lazy: lwz --help start-up

    atomic_write_document(path, text)
    if not json_mode and not quiet:
        sys.stderr.write(
            f"lwz: wrote {path}; edit it, then: lwz write --outline {path} -o {output}\n"
        )


def _make_outline(prepared, view, *, wait: bool) -> str:
    """Load the model (holding the engine slot when it runs here), ask it for the
    outline as the planned strategy does, and return the outline file's text."""
    from lwz_cli.engine_slot import Holder, SlotRequest, waiting_event  # lazy: --help start-up
    from lwz_cli.events import LoadingEvent
    from lwz_cli.writing.backend import runs_in_process
    from lwz_cli.writing.outline_file import format_outline
    from lwz_cli.writing.planned import PlannedRun
    from lwz_cli.writing.run import start_event

    cancel = threading.Event()
    with interrupt_sets(cancel):
        claim = None
        if runs_in_process(prepared.backend):
            slot = SlotRequest(Holder.me("plan"), wait=wait, cancel=cancel)
            claim = slot.claim(on_wait=lambda holder: view(waiting_event(holder)))
        try:
            view(start_event(prepared))
            view(LoadingEvent())
            engine = prepared.backend.load_engine(prepared.engine_settings)
            try:
                writer = PlannedRun(prepared, view, engine=engine, cancel=cancel)
                try:
                    writer.make_plan()
                except Interrupted:
                    raise Interrupted("interrupted; no outline was written") from None
                return format_outline(writer.need_plan(), prepared.prompt.language)
            finally:
                engine.close()
        finally:
            if claim is not None:
                claim.release()


def register(app: typer.Typer) -> None:
    app.command("plan", no_args_is_help=True)(plan)
