"""`lwz runs`: unfinished and finished runs, and how to resume them."""

from __future__ import annotations

import json
import sys
import time

import typer

from lwz_cli.cli.help import LwzTyper
from lwz_cli.errors import UsageError
from lwz_cli.view.format import human_size
from lwz_cli.view.table import Cell, CellValue, Column, print_table

runs_app = LwzTyper(
    help="List unfinished and finished runs; remove them.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@runs_app.callback()
def runs(
    ctx: typer.Context,
    json_mode: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
) -> None:
    """List unfinished and finished runs with status, words / target, model and the resume command."""
    if ctx.invoked_subcommand is not None:
        return
    from lwz_cli.run_listing import run_rows  # lazy: lwz --help start-up (the writing layer)

    rows = run_rows()
    if json_mode:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        sys.stderr.write("lwz: no runs yet\n")
        _say_engine_holder()
        return

    columns = (
        Column("status"),
        Column("words", right=True),
        Column("model"),
        Column("updated"),
        Column("document"),
        Column("resume with"),
    )
    cells: list[list[CellValue]] = []
    for row in rows:
        target = f" / {row['target_words']:,}" if row["target_words"] else ""
        try:
            updated = (
                time.strftime("%Y-%m-%d %H:%M", time.localtime(row["updated"]))
                if row["updated"]
                else "?"
            )
        except (OverflowError, OSError, ValueError):  # a hand-edited journal's time
            updated = "?"
        style = {
            "done": "green",
            "interrupted": "yellow",
            "unsaved": "yellow",
            "running": "cyan",
        }.get(row["status"], "red")
        cells.append(
            [
                Cell(row["status"], style),
                f"{row['words']:,}{target}",
                row["model"] or "?",
                updated,
                row["output"] or row["id"],
                row["resume"] or "",
            ]
        )
    print_table(columns, cells)
    _say_engine_holder()


def _say_engine_holder() -> None:
    """Which lwz runs a model on this machine now (the others wait for it)."""
    from lwz_cli.engine_slot import current_holder  # lazy: lwz --help start-up

    holder = current_holder()
    if holder is not None:
        since = (
            time.strftime(" since %H:%M", time.localtime(holder.started)) if holder.started else ""
        )
        sys.stderr.write(
            f"lwz: the engine is in use by {holder.describe()}{since}; other runs wait for it\n"
        )


@runs_app.command("rm")
def rm(
    targets: list[str] | None = typer.Argument(
        None, metavar="PATH|ID...", help="Runs to remove, by document path or run id."
    ),
    finished: bool = typer.Option(
        False,
        "--finished",
        help="Remove every finished run, except those `lwz batch` made (see --batch).",
    ),
    batch: bool = typer.Option(
        False,
        "--batch",
        help="With --finished, remove finished batch runs too: a rerun of their recipe "
        "then keeps their documents instead of knowing they are done.",
    ),
) -> None:
    """Remove runs (their journal and KV snapshots; documents are left alone)."""
    from lwz_cli.journal import Journal  # lazy: lwz --help start-up
    from lwz_cli.runstate import RunStatus  # lazy: lwz --help start-up

    if batch and not finished:
        raise UsageError("--batch goes with --finished", hint="`lwz runs rm --finished --batch`")
    if not targets and not finished:
        raise UsageError(
            "name the runs to remove, or pass --finished", hint="`lwz runs` lists them"
        )
    chosen = []
    for target in targets or []:
        journal = Journal.find(target)
        if journal is None:
            raise UsageError(f"there is no lwz run for {target}", hint="`lwz runs` lists them")
        chosen.append(journal)
    kept = 0
    if finished:
        named = {j.dir for j in chosen}
        for journal in Journal.all():
            if journal.manifest.status != RunStatus.DONE or journal.dir in named:
                continue
            # a finished batch job's journal is how a rerun of its recipe knows the
            # document is done (and its inputs unchanged): kept unless asked
            if journal.manifest.batch is not None and not batch:
                kept += 1
                continue
            chosen.append(journal)
    freed = 0
    for journal in chosen:
        if journal.is_live():
            raise UsageError(
                f"run {journal.dir.name} is being written right now", hint="stop that lwz first"
            )
    for journal in chosen:
        size = sum(p.stat().st_size for p in journal.dir.rglob("*") if p.is_file())
        freed += size
        journal.remove()
        what = journal.manifest.output or journal.dir.name
        sys.stderr.write(
            f"lwz: removed the {journal.manifest.status} run of {what} ({human_size(size)})\n"
        )
    if kept:
        runs = "run" if kept == 1 else "runs"
        sys.stderr.write(
            f"lwz: kept {kept} finished batch {runs}: a rerun of the recipe needs them to "
            "skip finished jobs (--batch removes them too)\n"
        )
    sys.stderr.write(
        f"lwz: removed {len(chosen)} run{'' if len(chosen) == 1 else 's'}, "
        f"freed {human_size(freed)}\n"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
