"""`lwz resume PATH`: continue an unfinished document from its last checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from lwz_cli.cli import complete
from lwz_cli.cli import options as opt
from lwz_cli.cli.write import run_job
from lwz_cli.config import default
from lwz_cli.export import require as require_converter


def resume(
    target: Annotated[
        str,
        typer.Argument(
            metavar="PATH",
            autocompletion=complete.runs,
            help="The document's -o path (or a run id from `lwz runs`).",
        ),
    ],
    model: Annotated[
        str | None,
        opt.model("Use this copy of the run's model (default: the file the run used).", env=False),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Continue even if --model is a different file than the run used."
        ),
    ] = False,
    threads: opt.Threads = None,
    gpu_layers: Annotated[
        int | None, opt.gpu_layers("Layers to offload to the GPU (default: as the run had it).")
    ] = None,
    kv_snapshot: Annotated[
        bool, opt.kv_snapshot("Use and keep saving KV-cache snapshots.", env=False)
    ] = default("kv_snapshot"),
    snapshot_max_gb: opt.SnapshotMaxGb = default("snapshot_max_gb"),
    json_mode: opt.JsonMode = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    wait: opt.Wait = default("wait"),
    endpoint: Annotated[
        opt.Endpoints,
        opt.endpoint(
            "For a run written through an endpoint: continue on this server instead of the recorded one (repeatable).",
            env=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None, opt.api_key("Bearer key for the endpoint (never stored).")
    ] = None,
    endpoint_model: Annotated[
        str | None,
        opt.endpoint_model(
            "The model name to ask the endpoint for (default: the recorded one).", env=False
        ),
    ] = None,
) -> None:
    """Continue an unfinished document where it stopped (Ctrl-C, a crash, kill -9)."""
    from lwz_cli.writing.resume import find_run, prepare_resume  # lazy: lwz --help start-up

    def job():
        journal = find_run(target)
        prepared, checkpoint = prepare_resume(
            journal,
            model=model,
            force=force,
            threads=threads,
            gpu_layers=gpu_layers,
            verbose=verbose,
            kv_snapshot=kv_snapshot,
            snapshot_budget_gb=snapshot_max_gb,
            endpoints=tuple(endpoint or ()),
            api_key=api_key,
            endpoint_model=endpoint_model,
        )
        require_converter(prepared.request.output)  # before the model loads
        return prepared, journal, checkpoint

    run_job(job, json_mode=json_mode, quiet=quiet, command="resume", wait=wait)


def register(app: typer.Typer) -> None:
    app.command("resume", no_args_is_help=True)(resume)
