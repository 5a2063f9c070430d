"""The runs lwz has journals for, as `lwz runs`, `lwz doctor`, the REPL's /runs and
shell completion list them."""

from __future__ import annotations

from typing import Any

from lwz_cli.engine_slot import current_holder
from lwz_cli.errors import UsageError
from lwz_cli.journal import Journal
from lwz_cli.runstate import UNFINISHED, Checkpoint, RunStatus

UNSAVED = "unsaved"  # listed status of an interrupted draft whose every section is written


def _latest(journal: Journal) -> Checkpoint | None:
    """The run's last checkpoint; None when there is none or its slots are damaged
    (`lwz resume` reports them; the listing stays up)."""
    if journal.manifest.status == RunStatus.DAMAGED:
        return None
    try:
        return journal.latest_checkpoint()
    except UsageError:
        return None


def _all_written(checkpoint: Checkpoint | None) -> bool:
    """Every section of the run's outline is written (a chat draft not yet saved)."""
    planned = checkpoint.planned if checkpoint is not None else None
    return (
        planned is not None
        and planned.plan is not None
        and len(planned.done) >= len(planned.plan.sections)
    )


def words_written(journal: Journal, checkpoint: Checkpoint | None) -> int:
    """The words the run has saved. A run killed with -9 never updates its manifest
    (the status and words are written at exit), so the newer of the manifest's count
    and its last checkpoint's is the one a resume would start from."""
    m = journal.manifest
    if checkpoint is not None and (m.words is None or checkpoint.time >= (m.updated or 0)):
        return checkpoint.words
    return m.words or 0


def run_rows() -> list[dict[str, Any]]:
    """One row per run, newest first: status, words / target, model, document and the
    command that resumes it; `holds_engine` marks the run whose lwz holds the machine's
    engine slot (`lwz_cli.engine_slot`)."""
    holder = current_holder()
    rows = []
    for journal in Journal.all():
        m = journal.manifest
        status = m.status
        if status == RunStatus.RUNNING and not journal.is_live():
            status = RunStatus.INTERRUPTED  # its process is gone (crash, kill -9)
        damaged = status == RunStatus.DAMAGED  # only the id and the error are known
        output = m.output
        checkpoint = _latest(journal)
        # the model entry keeps its producer's shape: show its name only if it is one
        model: Any = name if isinstance(name := m.model.get("name"), str) else None
        rows.append(
            {
                "id": m.id or journal.dir.name,
                "status": UNSAVED
                if status == RunStatus.INTERRUPTED and _all_written(checkpoint)
                else status.value,
                "words": words_written(journal, checkpoint),
                "target_words": None if damaged else m.request.target_words,
                "model": model,
                "output": output,
                "updated": m.updated or None,
                "dir": str(journal.dir),
                "resume": (
                    f"lwz resume {output or journal.dir.name}" if status.resumable else None
                ),
                "holds_engine": holder is not None and holder.run == journal.dir.name,
            }
        )
    rows.sort(key=lambda r: r.get("updated") or 0, reverse=True)
    return rows


def unfinished_runs(prefix: str) -> list[str]:
    """Documents (or run ids) of the unfinished runs whose path or file name starts with
    `prefix`; never raises (completion must not fail loudly)."""
    try:
        found = []
        for journal in Journal.all():
            if journal.manifest.status in UNFINISHED:
                found.append(journal.manifest.output or journal.dir.name)
        return [f for f in found if f.startswith(prefix) or f.split("/")[-1].startswith(prefix)]
    except Exception:
        return []
