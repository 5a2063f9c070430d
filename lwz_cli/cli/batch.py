"""`lwz batch RECIPE...`: many documents from recipe YAMLs, unattended and rerunnable."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from lwz_cli.cli import options as opt
from lwz_cli.cli.write import check_engine_flags
from lwz_cli.config import default
from lwz_cli.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, UsageError
from lwz_cli.export import require as require_converter
from lwz_cli.interrupt import interrupt_sets
from lwz_cli.strategy import check_strategy

if TYPE_CHECKING:
    from lwz_cli.batch import Decision, Defaults
    from lwz_cli.recipes import Job, Recipe


def batch(
    context: typer.Context,
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
    model: Annotated[
        str | None,
        opt.model(
            "Model for every job, over the recipes' model: (from LWZ_MODEL or config.yaml: "
            "only for jobs whose recipe names none)."
        ),
    ] = None,
    words: Annotated[
        int | None,
        typer.Option(
            "--words",
            "-w",
            metavar="N",
            help="Target words for every job, over the recipes' words: (and in their {words}).",
        ),
    ] = None,
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
    wait: opt.Wait = default("wait"),
) -> None:
    """Write many documents from recipe YAMLs: rerunnable (finished jobs are skipped,
    unfinished ones resumed, changed ones regenerated)."""
    # lazy: lwz --help start-up
    from lwz_cli.batch import BatchRunner, Defaults, check_parallel
    from lwz_cli.events import BatchEvent, JobEvent
    from lwz_cli.recipes import Overrides, load_recipes, parse_vars, select
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
    if words is not None and words < 1:
        raise UsageError(f"--words must be at least 1, not {words}", hint="for example --words 200")
    # --model on the command line wins over the recipes; from LWZ_MODEL or config.yaml it
    # is only the default for recipes that name none, as every configured value is
    source = context.get_parameter_source("model")
    given = model is not None and source is not None and source.name == "COMMANDLINE"
    overrides = Overrides(model=model if given else None, words=words)
    loaded = load_recipes(
        recipes, variables=parse_vars(var or []), out_dir=out_dir, overrides=overrides
    )
    todo = [job for recipe in loaded for job in recipe.jobs]
    if only:
        todo = select(todo, only)
        if not todo:
            raise UsageError(f"--only {only!r} matches no job", hint="--dry-run lists the jobs")
    defaults = Defaults(
        model=None if given else model,
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
        wait=wait,
    )
    check_parallel(todo, defaults, jobs)
    firsts = {job.output.suffix.lower(): job.output for job in reversed(todo)}
    for output in firsts.values():  # format: docx without pandoc: refused before any model
        require_converter(output)
    refused = model_problems(todo, defaults, loaded, overridden=given)
    if dry_run:
        # the dry run checks what the run checks: a job the run would refuse says so
        plans = [
            (job, _planned(job, defaults, refused.get(job.id)), _model_shown(job, defaults))
            for job in todo
        ]
        if json_mode:
            for job, d, shown in plans:
                _print_json(
                    JobEvent(
                        job.id,
                        str(job.output),
                        d.action,
                        d.reason,
                        job.words,
                        job.prompt,
                        shown,
                    ).to_json()
                )
        else:
            _dry_table(plans)
    if refused:
        raise next(iter(refused.values())).error  # the first job's, in recipe order
    if dry_run:
        return

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


@dataclass(frozen=True)
class Refusal:
    """Why the run would refuse a job: the error it stops on, and a short reason for
    the dry run's table."""

    error: UsageError
    reason: str


def model_problems(
    jobs: list[Job], defaults: Defaults, recipes: list[Recipe], *, overridden: bool
) -> dict[str, Refusal]:
    """Each in-process job whose model is not here or not valid, by job id, with the
    error the run stops on before any job starts (exit 2), naming where the model was
    set: --model, the recipe's or the item's model: line, or the default."""
    from lwz_cli.batch import effective_model  # lazy: lwz --help start-up
    from lwz_cli.models.registry import ModelNotDownloaded, resolve_model

    by_name = {recipe.name: recipe for recipe in recipes}
    found: dict[str, Refusal | None] = {}
    problems: dict[str, Refusal] = {}
    for job in jobs:
        if defaults.endpoints or job.endpoint:
            continue  # the server has the model
        spec = effective_model(job, defaults)
        where, fix = _model_set_at(job, by_name[job.recipe], overridden=overridden)
        key = f"{spec}\0{where}"
        if key not in found:
            try:
                resolve_model(spec)
                found[key] = None
            except ModelNotDownloaded as exc:
                found[key] = Refusal(
                    UsageError(
                        f"{where}: model {spec!r}: {exc.message}",
                        hint=f"`lwz models pull {spec}` fetches it; or {fix}",
                    ),
                    "the model is not downloaded (see the error below)",
                )
            except UsageError as exc:
                found[key] = Refusal(
                    UsageError(
                        f"{where}: model {spec!r}: {exc.message}", hint=f"{fix}; {exc.hint}"
                    ),
                    exc.message,
                )
        problem = found[key]
        if problem is not None:
            problems[job.id] = problem
    return problems


def _model_set_at(job: Job, recipe: Recipe, *, overridden: bool) -> tuple[str, str]:
    """Where the job's model was named, and how to change it."""
    if overridden:
        return "--model", "pass another --model (tiny, or PATH.gguf)"
    item = recipe.items[job.item - 1] if job.item else {}
    if "model" in item:
        return job.where, "change model: in that item, or pass --model tiny"
    if "model" in recipe.positions:
        line, _ = recipe.positions["model"]
        return f"{job.source}:{line}", "change model: in the recipe, or pass --model tiny"
    return f"{job.source}", "pass --model tiny or --model PATH.gguf"


def _planned(job: Job, defaults: Defaults, problem: Refusal | None) -> Decision:
    from lwz_cli.batch import Decision, decide  # lazy: lwz --help start-up

    decision = decide(job, defaults)
    if problem is None or decision.action in ("skip", "keep"):
        return decision  # a job that loads no model is not refused for it
    return Decision("refused", problem.reason, decision.fingerprint)


def _model_shown(job: Job, defaults: Defaults) -> str | None:
    from lwz_cli.batch import effective_model  # lazy: lwz --help start-up

    if defaults.endpoints or job.endpoint:
        return defaults.endpoint_model  # the server's (None: the one it serves)
    return effective_model(job, defaults)


def _print_json(event: dict) -> None:
    sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _dry_table(plans: list[tuple[Job, Decision, str | None]]) -> None:
    """On stdout (a pager shows it); piped, one row per line, nothing cut."""
    from lwz_cli.view.table import Column, print_table  # lazy: lwz --help start-up

    columns = (
        Column("job"),
        Column("action"),
        Column("model"),
        Column("words", right=True),
        Column("output"),
        Column("why", wrap=True),
    )
    rows = [
        [
            job.id,
            decision.action,
            model or "(endpoint's)",
            f"{job.words:,}" if job.words else "-",
            str(job.output),
            decision.reason,
        ]
        for job, decision, model in plans
    ]
    print_table(columns, rows)


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
