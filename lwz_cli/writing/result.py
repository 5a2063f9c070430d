"""What a finished run returns, and the command that resumes an unfinished one."""

from __future__ import annotations

from dataclasses import dataclass

from lwz_cli.events import DoneEvent
from lwz_cli.journal import Journal
from lwz_cli.writing.session import Prepared


@dataclass
class WriteResult:
    document: str
    think: str
    done: DoneEvent


def resume_command(prepared: Prepared, journal: Journal | None) -> str:
    output = prepared.request.output
    if output is not None:
        return f"lwz resume {output}"
    return f"lwz resume {journal.dir.name}" if journal else "lwz write ... again"
