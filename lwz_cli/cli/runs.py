"""`lwz runs`: unfinished and finished runs, and how to resume them."""

from __future__ import annotations

import json
import sys
import time

import typer
from rich.table import Table

from lwz_cli.errors import UsageError

runs_app = typer.Typer(
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
    from lwz_cli.view.tables import print_table

    rows = run_rows()
    if json_mode:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        sys.stderr.write("lwz: no runs yet\n")
        return

    table = Table(box=None, pad_edge=False)
    for column in ("status", "words", "model", "updated", "document", "resume with"):
        table.add_column(column, no_wrap=True)  # ids, paths and commands are copied whole
    for row in rows:
        target = f" / {row['target_words']:,}" if row["target_words"] else ""
        updated = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(row["updated"]))
            if row["updated"]
            else "?"
        )
        style = {"done": "green", "interrupted": "yellow", "running": "cyan"}.get(
            row["status"], "red"
        )
        table.add_row(
            f"[{style}]{row['status']}[/]",
            f"{row['words']:,}{target}",
            row["model"] or "?",
            updated,
            row["output"] or row["id"],
            row["resume"] or "",
        )
    print_table(table)


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
            f"lwz: removed the {journal.manifest.status} run of {what} ({readable_size(size)})\n"
        )
    if kept:
        runs = "run" if kept == 1 else "runs"
        sys.stderr.write(
            f"lwz: kept {kept} finished batch {runs}: a rerun of the recipe needs them to "
            "skip finished jobs (--batch removes them too)\n"
        )
    sys.stderr.write(
        f"lwz: removed {len(chosen)} run{'' if len(chosen) == 1 else 's'}, "
        f"freed {readable_size(freed)}\n"
    )


def readable_size(size: int) -> str:
    """Bytes as people read them: 812 bytes, 4.1 KB, 2.3 MB, 1.5 GB (decimal, like `du -h --si`)."""
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 999.95:  # what rounds to 1000.0 reads better as the next unit
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
