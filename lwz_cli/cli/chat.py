"""`lwz chat`: interactive drafting (a prompt-toolkit REPL)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from lwz_cli.cli import complete
from lwz_cli.engine.protocol import DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Sampling
from lwz_cli.errors import UsageError


def chat(
    path: Optional[Path] = typer.Argument(None, metavar="PATH", autocompletion=complete.runs, help="The document to draft: an unfinished run for it is opened; new drafts are checkpointed to PATH.partial. Default: runs only (see `lwz runs`)."),
    model: Optional[str] = typer.Option(None, "-m", "--model", envvar="LWZ_MODEL", metavar="MODEL", autocompletion=complete.models, help="A .gguf path, an alias (tiny, longwriter-zero-32b), repo_id:QUANT or repo_id/file.gguf."),
    words: Optional[int] = typer.Option(None, "--words", "-w", envvar="LWZ_WORDS", metavar="N", help="Default target length for new drafts (else the request's, else 1500)."),
    temperature: float = typer.Option(DEFAULT_TEMPERATURE, "--temperature", "-t", envvar="LWZ_TEMPERATURE", metavar="T", help="Sampling temperature (model card: 0.6)."),
    top_p: float = typer.Option(DEFAULT_TOP_P, "--top-p", envvar="LWZ_TOP_P", metavar="P", help="Nucleus sampling (model card: 0.95)."),
    seed: Optional[int] = typer.Option(None, "--seed", envvar="LWZ_SEED", metavar="N", help="Random seed, for repeatable output."),
    ctx: Optional[int] = typer.Option(None, "--ctx", envvar="LWZ_CTX", metavar="TOKENS", help="Context size in tokens. Default: the planned strategy's."),
    threads: Optional[int] = typer.Option(None, "--threads", envvar="LWZ_THREADS", metavar="N", help="CPU threads (default: physical cores)."),
    gpu_layers: Optional[int] = typer.Option(None, "--gpu-layers", envvar="LWZ_GPU_LAYERS", metavar="N", help="Layers to offload to the GPU (-1: all). Default: the fit plan's."),
    kv_type: Optional[str] = typer.Option(None, "--kv-type", envvar="LWZ_KV_TYPE", metavar="f16|q8_0|q4_0", help="KV cache type. Default: the fit plan's."),
    verbose: bool = typer.Option(False, "--verbose", help="Show llama.cpp's own log."),
) -> None:
    """Draft interactively: write, then redo, expand or continue sections, undo, save.

    Commands start with '/' (/help lists them). Enter sends, Alt-Enter adds a
    line, Tab completes, Ctrl-C stops a generation, Ctrl-D leaves. The draft is
    a run: `lwz resume PATH` or `lwz chat PATH` goes on with it later.
    """
    from lwz_cli.cli.write import check_engine_flags, make_view
    from lwz_cli.journal import Journal
    from lwz_cli.paths import paths
    from lwz_cli.repl.app import ChatApp
    from lwz_cli.writing.drafting import DraftingSession, Settings
    from lwz_cli.writing.session import check_output, check_words

    if not sys.stdin.isatty():
        raise UsageError("lwz chat needs a terminal",
                         hint="for scripts use `lwz write` or `lwz batch`")
    check_words(words, "--words")
    check_engine_flags(temperature=temperature, top_p=top_p, kv_type=kv_type)
    check_output(path)
    settings = Settings(model=model, output=path, words=words, ctx=ctx, threads=threads,
                        gpu_layers=gpu_layers, kv_type=kv_type, verbose=verbose,
                        sampling=Sampling(temperature=temperature, top_p=top_p, seed=seed))
    session = DraftingSession(settings)
    app = ChatApp(session, view_factory=lambda: make_view(False, False), history=paths().history)
    try:
        if path is not None and Journal.find(path) is not None:
            session.open(str(path), lambda event: None)
        app.run()
    finally:
        session.close()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
