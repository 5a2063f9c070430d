"""`lwz batch RECIPE...`: many documents from recipe YAMLs, unattended and rerunnable."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lwz_cli.cli import options as opt
from lwz_cli.cli.write import check_engine_flags
from lwz_cli.config import default
from lwz_cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, UsageError
from lwz_cli.interrupt import interrupt_sets
from lwz_cli.strategy import check_strategy


def batch(
    recipes: Annotated[
        list[Path],
        typer.Argument(metavar="RECIPE...", help="Recipe YAML files (see `man lwz`, RECIPES)."),
    ],
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY=VALUE",
            help="Set a template variable (overrides the recipe's vars, items and matrix); repeatable.",
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="PATTERN",
            help="Run only the jobs whose id, output path or file name matches this shell pattern.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check the recipes and show what each job would do (write, resume, skip, regenerate); run nothing.",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            envvar="LWZ_JOBS",
            metavar="N",
            help="Run N jobs at once, spread over the endpoints (every job needs one: --endpoint, or endpoint: in its recipe).",
        ),
    ] = 1,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            metavar="DIR",
            help="Put outputs under DIR instead of each recipe's folder.",
        ),
    ] = None,
    continue_on_error: Annotated[
        bool,
        typer.Option(
            "--continue-on-error",
            help="Go on with the other jobs when one fails (exit 1 at the end).",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Regenerate outputs that exist but were not written by a recipe run."
        ),
    ] = False,
    model: Annotated[str | None, opt.model("Model for jobs whose recipe names none.")] = None,
    strategy: Annotated[str, opt.strategy("Strategy for jobs whose recipe names none.")] = default(
        "strategy"
    ),
    temperature: Annotated[
        float, opt.temperature("Default sampling temperature (recipe params win).")
    ] = default("temperature"),
    top_p: Annotated[float, opt.top_p("Default nucleus sampling (recipe params win).")] = default(
        "top_p"
    ),
    seed: Annotated[int | None, opt.seed("Default seed (recipe params win).")] = None,
    ctx: Annotated[int | None, opt.ctx("Context size in tokens.")] = None,
    threads: opt.Threads = None,
    gpu_layers: opt.GpuLayers = None,
    endpoint: Annotated[
        opt.Endpoints,
        opt.endpoint(
            "OpenAI-compatible server(s) to write on instead of in-process; repeatable (overrides the recipes' endpoint:)."
        ),
    ] = None,
    api_key: Annotated[
        str | None, opt.api_key("Bearer key for the endpoints (never stored).")
    ] = None,
    endpoint_model: Annotated[
        str | None, opt.endpoint_model("Model name to ask the endpoints for.")
    ] = None,
    json_mode: Annotated[
        bool,
        opt.json_mode(
            'JSON Lines on stdout: every job\'s events (with a "job" key) and a final "batch" summary.'
        ),
    ] = False,
    quiet: Annotated[bool, opt.quiet("Only the summary table, warnings and errors.")] = False,
) -> None:
    """Write many documents from recipe YAMLs: rerunnable (finished jobs are skipped,
    unfinished ones resumed, changed ones regenerated)."""
    # lazy: lwz --help start-up
    from lwz_cli.batch import BatchRunner, Defaults, check_parallel, decide
    from lwz_cli.events import BatchEvent, JobEvent
    from lwz_cli.recipes import load_recipes, parse_vars, select
    from lwz_cli.writing.endpoint import endpoint_list

    if jobs < 1:
        raise UsageError("--jobs must be at least 1", hint="for example --jobs 2")
    check_engine_flags(temperature=temperature, top_p=top_p)
    check_strategy(strategy)
    for path in recipes:
        if not path.is_file():
            raise UsageError(
                f"recipe {path} does not exist", hint="give the path of a .yaml recipe"
            )
    loaded = load_recipes(recipes, variables=parse_vars(var or []), out_dir=out_dir)
    todo = [job for recipe in loaded for job in recipe.jobs]
    if only:
        todo = select(todo, only)
        if not todo:
            raise UsageError(f"--only {only!r} matches no job", hint="--dry-run lists the jobs")
    defaults = Defaults(
        model=model,
        strategy=strategy,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        threads=threads,
        gpu_layers=gpu_layers,
        ctx=ctx,
        endpoints=tuple(endpoint_list(endpoint)) if endpoint else (),
        endpoint_model=endpoint_model,
        api_key=api_key,
        force=force,
    )
    check_parallel(todo, defaults, jobs)
    if dry_run:
        plans = [(job, decide(job, defaults)) for job in todo]
        if json_mode:
            for job, d in plans:
                _print_json(
                    JobEvent(
                        job.id, str(job.output), d.action, d.reason, job.words, job.prompt
                    ).to_json()
                )
        else:
            _dry_table(plans)
        return
    check_models(todo, defaults)

    from lwz_cli.view.batch import BatchView  # lazy: lwz --help start-up

    view = BatchView(len(todo), json_mode=json_mode, quiet=quiet)
    cancel = threading.Event()
    runner = BatchRunner(
        todo, defaults, view, parallel=jobs, continue_on_error=continue_on_error, cancel=cancel
    )
    try:
        with interrupt_sets(cancel):
            outcomes = runner.run()
    finally:
        view.close()
    failed = [o for o in outcomes if o.status == "failed"]
    summary = BatchEvent(
        jobs=len(outcomes),
        done=sum(o.status == "done" for o in outcomes),
        skipped=sum(o.status in ("skipped", "kept") for o in outcomes),
        failed=len(failed),
        interrupted=cancel.is_set(),
        results=tuple(o.event() for o in outcomes),
    )
    if json_mode:
        _print_json(summary.to_json())
    _summary_table(outcomes)
    if cancel.is_set():
        sys.stderr.write("lwz: interrupted; unfinished jobs resume when the batch is run again\n")
        raise typer.Exit(EXIT_INTERRUPTED)
    if failed:
        sys.stderr.write(
            f"lwz: error: {len(failed)} of {len(outcomes)} jobs failed; running the "
            "batch again resumes them\n"
        )
        raise typer.Exit(EXIT_RUNTIME)


def check_models(jobs, defaults) -> None:
    """Every in-process job's model must be here before any job starts (exit 2)."""
    from lwz_cli.batch import effective_model  # lazy: lwz --help start-up
    from lwz_cli.models.registry import ModelNotDownloaded, resolve_model

    seen: dict[str, str] = {}
    for job in jobs:
        if defaults.endpoints or job.endpoint:
            continue  # the server has the model
        spec = effective_model(job, defaults)
        if spec in seen:
            continue
        seen[spec] = job.where
        try:
            resolve_model(spec)
        except ModelNotDownloaded as exc:
            raise UsageError(
                f"{job.where}: model {spec!r}: {exc.message}",
                hint=f"`lwz models pull {spec}` fetches it"
                + (
                    "; or change model: in the recipe"
                    if job.model
                    else "; or pass --model tiny or --model PATH.gguf"
                ),
            ) from None
        except UsageError as exc:
            raise UsageError(
                f"{job.where}: model {spec!r}: {exc.message}",
                hint="fix model: in the recipe" if job.model else exc.hint,
            ) from None


def _print_json(event: dict) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _dry_table(plans) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("job", "action", "why", "words"):
        table.add_column(column)
    for job, decision in plans:
        table.add_row(
            job.id, decision.action, decision.reason, f"{job.words:,}" if job.words else "-"
        )
    Console(stderr=True).print(table)


def _summary_table(outcomes) -> None:
    from lwz_cli.view.format import duration  # lazy: lwz --help start-up

    table = Table(box=None, pad_edge=False, title="lwz batch")
    for column in ("job", "status", "words / target", "time", "note"):
        table.add_column(column)
    for o in outcomes:
        target = f" / {o.target:,}" if o.target else ""
        table.add_row(
            o.job.id, o.status, f"{o.words:,}{target}", duration(o.seconds), o.message[:80]
        )
    Console(stderr=True, width=max(100, Console(stderr=True).width)).print(table)


def register(app: typer.Typer) -> None:
    app.command("batch", no_args_is_help=True)(batch)
