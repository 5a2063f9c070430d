"""The runs lwz has journals for, as `lwz runs`, `lwz doctor`, the REPL's /runs and
shell completion list them."""

from __future__ import annotations

from lwz_cli.journal import Journal
from lwz_cli.writing.resume import UNFINISHED


def run_rows() -> list[dict]:
    """One row per run, newest first: status, words / target, model, document and the
    command that resumes it."""
    rows = []
    for journal in Journal.all():
        m = journal.manifest
        status = m.get("status", "damaged")
        if status == "running" and not journal.is_live():
            status = "interrupted"  # its process is gone (crash, kill -9)
        output = m.get("output")
        rows.append({
            "id": m.get("id", journal.dir.name), "status": status,
            "words": m.get("words", 0), "target_words": (m.get("request") or {}).get("target_words"),
            "model": (m.get("model") or {}).get("name"), "output": output,
            "updated": m.get("updated"), "dir": str(journal.dir),
            "resume": (f"lwz resume {output or journal.dir.name}"
                       if status in UNFINISHED else None),
        })
    rows.sort(key=lambda r: r.get("updated") or 0, reverse=True)
    return rows


def unfinished_runs(prefix: str) -> list[str]:
    """Documents (or run ids) of the unfinished runs whose path or file name starts with
    `prefix`; never raises (completion must not fail loudly)."""
    try:
        found = []
        for journal in Journal.all():
            if journal.manifest.get("status") in UNFINISHED:
                found.append(journal.manifest.get("output") or journal.dir.name)
        return [f for f in found if f.startswith(prefix) or
                f.split("/")[-1].startswith(prefix)]
    except Exception:
        return []
