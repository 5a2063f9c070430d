"""`lwz chat`: interactive drafting (a prompt-toolkit REPL)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lwz_cli.cli import complete
from lwz_cli.cli import options as opt
from lwz_cli.cli.write import check_engine_flags, make_view
from lwz_cli.config import default
from lwz_cli.engine.protocol import Sampling
from lwz_cli.errors import UsageError
from lwz_cli.paths import paths


def chat(
    path: Annotated[
        Path | None,
        typer.Argument(
            metavar="PATH",
            autocompletion=complete.runs,
            help="The document to draft: an unfinished run for it is opened; new drafts are checkpointed to PATH.partial. Default: runs only (see `lwz runs`).",
        ),
    ] = None,
    model: opt.Model = None,
    words: Annotated[
        int | None,
        opt.words("Default target length for new drafts (else the request's, else 1500)."),
    ] = None,
    temperature: opt.Temperature = default("temperature"),
    top_p: opt.TopP = default("top_p"),
    seed: opt.Seed = None,
    ctx: Annotated[
        int | None, opt.ctx("Context size in tokens. Default: the planned strategy's.")
    ] = None,
    threads: opt.Threads = None,
    gpu_layers: opt.GpuLayers = None,
    kv_type: Annotated[str | None, opt.kv_type("KV cache type. Default: the fit plan's.")] = None,
    verbose: opt.Verbose = False,
    wait: opt.Wait = default("wait"),
    memory: Annotated[bool | None, opt.memory()] = default("memory"),
) -> None:
    """Draft interactively: write, then redo, expand or continue sections, undo, save.

    Commands start with '/' (/help lists them). Enter sends, Alt-Enter adds a
    line, Tab completes, Ctrl-C stops a generation, Ctrl-D leaves. The draft is
    a run: `lwz resume PATH` or `lwz chat PATH` goes on with it later.
    """
    from lwz_cli.journal import Journal  # lazy: lwz --help start-up
    from lwz_cli.repl.app import ChatApp
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from lwz_cli.writing.session import check_output, check_words

    if not sys.stdin.isatty():
        raise UsageError(
            "lwz chat needs a terminal", hint="for scripts use `lwz write` or `lwz batch`"
        )
    check_words(words, "--words")
    check_engine_flags(temperature=temperature, top_p=top_p, kv_type=kv_type)
    check_output(path)
    settings = Settings(
        model=model,
        output=path,
        words=words,
        ctx=ctx,
        threads=threads,
        gpu_layers=gpu_layers,
        kv_type=kv_type,
        verbose=verbose,
        wait=wait,
        memory=memory,
        sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed),
    )
    session = DraftingSession(settings)
    app = ChatApp(session, view_factory=lambda: make_view(False, False), history=paths().history)
    try:
        if path is not None and Journal.find(path) is not None:
            session.open(str(path), _waits_only)
        app.run()
    finally:
        session.close()


def _waits_only(event) -> None:
    """Opening a run shows nothing of it but why it waits (another lwz runs a model)."""
    from lwz_cli.events import WaitingEvent  # lazy: lwz --help start-up

    if isinstance(event, WaitingEvent):
        sys.stderr.write(f"lwz: {event.message}\n")
        sys.stderr.flush()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
