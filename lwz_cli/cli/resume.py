"""`lwz resume PATH`: continue an unfinished document from its last checkpoint."""

from __future__ import annotations

from typing import List, Optional

import typer

from lwz_cli.cli import complete
from lwz_cli.cli.write import run_job


def resume(
    target: str = typer.Argument(..., metavar="PATH", autocompletion=complete.runs, help="The document's -o path (or a run id from `lwz runs`)."),
    model: Optional[str] = typer.Option(None, "-m", "--model", metavar="MODEL", autocompletion=complete.models, help="Use this copy of the run's model (default: the file the run used)."),
    force: bool = typer.Option(False, "--force", help="Continue even if --model is a different file than the run used."),
    threads: Optional[int] = typer.Option(None, "--threads", envvar="LWZ_THREADS", metavar="N", help="CPU threads (default: physical cores)."),
    gpu_layers: Optional[int] = typer.Option(None, "--gpu-layers", envvar="LWZ_GPU_LAYERS", metavar="N", help="Layers to offload to the GPU (default: as the run had it)."),
    kv_snapshot: bool = typer.Option(True, "--kv-snapshot/--no-kv-snapshot", help="Use and keep saving KV-cache snapshots."),
    snapshot_max_gb: float = typer.Option(4.0, "--snapshot-max-gb", envvar="LWZ_KV_SNAPSHOT_MAX_GB", metavar="GB", help="Skip KV snapshots larger than this."),
    json_mode: bool = typer.Option(False, "--json", help="JSON Lines events on stdout instead of the live view."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output; warnings and errors only."),
    verbose: bool = typer.Option(False, "--verbose", help="Show llama.cpp's own log."),
    endpoint: Optional[List[str]] = typer.Option(None, "--endpoint", metavar="URL", help="For a run written through an endpoint: continue on this server instead of the recorded one (repeatable)."),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="LWZ_API_KEY", metavar="KEY", show_default=False, help="Bearer key for the endpoint (never stored)."),
    endpoint_model: Optional[str] = typer.Option(None, "--endpoint-model", metavar="NAME", help="The model name to ask the endpoint for (default: the recorded one)."),
) -> None:
    """Continue an unfinished document where it stopped (Ctrl-C, a crash, kill -9)."""
    from lwz_cli.writing.resume import find_run, prepare_resume

    def job():
        journal = find_run(target)
        prepared, checkpoint = prepare_resume(
            journal, model=model, force=force, threads=threads, gpu_layers=gpu_layers,
            verbose=verbose, kv_snapshot=kv_snapshot, snapshot_budget_gb=snapshot_max_gb,
            endpoints=tuple(endpoint or ()), api_key=api_key, endpoint_model=endpoint_model)
        return prepared, journal, checkpoint

    run_job(job, json_mode=json_mode, quiet=quiet)


def register(app: typer.Typer) -> None:
    app.command("resume", no_args_is_help=True)(resume)
