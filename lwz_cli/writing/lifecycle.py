"""The life of one run, whatever the strategy: checkpoints, interrupts, failures
and the finish sequence.

A strategy (`SinglePass`, `PlannedRun`) subclasses `RunLifecycle` and says only
how its text is produced (`write`), what a checkpoint of it holds
(`checkpoint_state`), what the KV cache holds (`kv_sequence`) and how many
words are written (`words_so_far`). Everything a run does to the journal, to
`PATH` and `PATH.partial` (through `DocumentOutput`) and to the KV snapshot is
done here, in one order for every strategy:

- a checkpoint writes the sections finished since the last one, then the
  checkpoint slot, then `PATH.partial` (never ahead of the journal);
- Ctrl-C (the cancel event): a checkpoint, a forced snapshot, status
  interrupted, then `Interrupted` naming the resume command;
- an endpoint that gave up: saved like a Ctrl-C, then its `EndpointError` with
  the resume command in its hint;
- any other exception but an `LwzError` (a crash, a second Ctrl-C): the last
  checkpoint stands and the run is marked interrupted;
- the finish: `PATH` written, `PATH.partial` dropped, the snapshot dropped,
  status done, then the `done` event.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass
from typing import NoReturn

from lwz_cli.engine.http import EndpointError
from lwz_cli.engine.protocol import Engine
from lwz_cli.errors import Interrupted, LwzError
from lwz_cli.events import CheckpointEvent, DoneEvent, Emit, WarningEvent
from lwz_cli.journal import CHECKPOINT_INTERVAL, Journal, disk_error
from lwz_cli.output import DocumentOutput
from lwz_cli.runstate import Checkpoint, RunStatus
from lwz_cli.writing.draft import Draft
from lwz_cli.writing.grounding import Ledger
from lwz_cli.writing.kvsnap import Snapshots
from lwz_cli.writing.length import count_words, word_unit
from lwz_cli.writing.markdown import outline
from lwz_cli.writing.result import WriteResult, resume_command
from lwz_cli.writing.session import Prepared


@dataclass(frozen=True)
class CheckpointState:
    """What one checkpoint saves; the strategy says what, `RunLifecycle` writes it."""

    checkpoint: Checkpoint
    think: str | None = None  # think.md's new text; None: unchanged
    sections: tuple[tuple[int, str], ...] = ()  # (journal index, text) finished since the last
    partial: str | None = None  # PATH.partial's new text; None: unchanged


@dataclass(frozen=True)
class RunFigures:
    """How the text was produced: the strategy's part of the `done` event."""

    generated_tokens: int
    prompt_tokens_evaluated: int
    decode_seconds: float
    new_tokens: int
    prefill_seconds: float
    finish_reason: str
    repetition_rewinds: int
    continuations: int | None = None  # the single pass's
    think_chars: int | None = None  # the single pass's
    planned_sections: int | None = None  # the planned strategy's
    cut_words: int = 0  # repeated text dropped when the guard's rewinds ran out
    memory_tokens: int = 0  # the planned strategy's memory: notes generated and prefilled


class RunLifecycle(ABC):
    """One run of a prepared job: its journal (None: nothing is saved), its output
    file, its KV snapshots and its checkpoint clock."""

    def __init__(
        self,
        prepared: Prepared,
        emit: Emit,
        *,
        engine: Engine,
        journal: Journal | None = None,
        cancel: threading.Event | None = None,
        resumed: bool = False,
    ):
        self.prepared = prepared
        self.emit = emit
        self.engine = engine
        self.journal = journal
        self.cancel = cancel
        self.resumed = resumed
        self.resumed_tokens = 0  # generated before this process: set by `restore`
        self.snapshots = self._snapshots()
        self.started = time.monotonic()  # `run()` starts the clock again
        self._last_checkpoint = time.monotonic()

    def _snapshots(self) -> Snapshots:
        request = self.prepared.request
        return Snapshots(
            self.journal,
            self.engine,
            enabled=request.kv_snapshot,
            budget_gb=request.snapshot_budget_gb,
            n_ctx=self.prepared.tokens.n_ctx,
            emit=lambda event: self.emit(event),
        )  # the view may change

    def use(self, prepared: Prepared, engine: Engine) -> None:
        """Go on with another job and engine (another model): snapshots follow the engine."""
        self.prepared = prepared
        self.engine = engine
        self.snapshots = self._snapshots()

    # -- what a strategy says --------------------------------------------------------------

    @abstractmethod
    def restore(self, checkpoint: Checkpoint) -> None:
        """Rebuild the state `checkpoint` holds (and show it again) before `run()`."""

    @abstractmethod
    def write(self) -> WriteResult:
        """Produce the document and end with `finish`; `interrupted()` when cancelled."""

    @abstractmethod
    def checkpoint_state(self, *, interrupting: bool) -> CheckpointState:
        """What a checkpoint saves now; `interrupting`: the run stops after it."""

    @abstractmethod
    def checkpoint_saved(self, state: CheckpointState) -> None:
        """`state` is in the journal (and PATH.partial): note what is saved."""

    @abstractmethod
    def kv_sequence(self) -> list[int] | None:
        """The tokens the engine's KV cache holds now (None: nothing worth a snapshot)."""

    @abstractmethod
    def words_so_far(self) -> int:
        """The document's words, a section stopped mid-way included."""

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> WriteResult:
        """Write the document to the end, saving like Ctrl-C when the endpoint gives up
        and marking the run interrupted on a crash."""
        self.started = time.monotonic()
        try:
            return self.write()
        except EndpointError as exc:  # saved like a Ctrl-C, then exit 1 naming `lwz resume`
            raise self.endpoint_failed(exc) from None
        except LwzError:
            raise
        except BaseException:
            # a crash or a second Ctrl-C: the last checkpoint stands; mark the run
            self.mark(RunStatus.INTERRUPTED, words=self.words_so_far())
            raise

    def resume_command(self) -> str:
        return resume_command(self.prepared, self.journal)

    @property
    def output(self) -> DocumentOutput | None:
        path = self.prepared.request.output
        return DocumentOutput(path) if path is not None else None

    def mark(self, status: RunStatus, *, words: int) -> None:
        """Record `status` if the journal can take it: the run is ending either way."""
        if self.journal is not None:
            with suppress(OSError):
                self.journal.set_status(status, words=words)

    # -- checkpoints ---------------------------------------------------------------------------

    def on_clean(self, draft: Draft) -> None:
        """A draft reached a clean boundary: checkpoint when the last one is old."""
        if self.checkpoint_due():
            self.checkpoint()

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= CHECKPOINT_INTERVAL

    def checkpoint(self, *, final: bool = False, interrupting: bool = False) -> None:
        """Save the strategy's state. `final`: the whole document is written next, so
        PATH.partial is left as it is."""
        journal = self.journal
        if journal is None:
            return
        state = self.checkpoint_state(interrupting=interrupting)
        grounding = self.prepared.grounding
        if grounding is not None:  # what each prompt was given, for a resume or a redo
            state.checkpoint.excerpts = grounding.ledger.to_json()
        output = self.output
        try:
            for index, text in state.sections:
                journal.write_section(index, text)
            journal.checkpoint(state.checkpoint, think=state.think)
        except OSError as exc:
            raise disk_error(
                exc,
                f"cannot save a checkpoint in {journal.dir}",
                "the previous checkpoint is intact",
                self.resume_command(),
            ) from exc
        if output is not None and state.partial is not None and not final:
            # after the checkpoint: PATH.partial never runs ahead of the journal
            try:
                output.write_partial(state.partial)
            except OSError as exc:  # the document's disk, which may not be the journal's
                raise disk_error(
                    exc,
                    f"cannot write {output.partial}",
                    "the checkpoint is saved in the journal",
                    self.resume_command(),
                ) from exc
        self.checkpoint_saved(state)
        self._last_checkpoint = time.monotonic()
        saved = state.checkpoint
        self.emit(CheckpointEvent(len(saved.generated), saved.words, saved.sections_done))

    def restore_excerpts(self, checkpoint: Checkpoint) -> None:
        """The excerpts handed out before the checkpoint, with their numbers (a run
        without sources, or from an older version, has none to restore)."""
        grounding = self.prepared.grounding
        if grounding is not None and checkpoint.excerpts is not None:
            grounding.ledger = Ledger.from_json(checkpoint.excerpts)

    def snapshot(self, *, force: bool = False) -> None:
        sequence = self.kv_sequence()
        if sequence is not None:
            self.snapshots.save(sequence, force=force)

    # -- endings -------------------------------------------------------------------------------

    def interrupted(self) -> NoReturn:
        """Ctrl-C: save everything written, then stop naming the resume command."""
        if self.journal is not None:
            self.checkpoint(interrupting=True)
            self.snapshot(force=True)
            # the checkpoint is saved: a status the disk cannot take is only a label
            # (`lwz runs` shows a dead RUNNING run as interrupted)
            self.mark(RunStatus.INTERRUPTED, words=self.words_so_far())
        raise Interrupted(
            f"interrupted; {self.words_so_far()} words are saved",
            hint=f"continue with: {self.resume_command()}",
        )

    def endpoint_failed(self, exc: EndpointError) -> EndpointError:
        """After the engine gave up: save what was written as for a Ctrl-C, and say
        how to continue."""
        if self.journal is not None:
            with suppress(Interrupted, OSError):
                self.interrupted()
        exc.hint = f"{exc.hint or 'check the server'}; then continue with: {self.resume_command()}"
        return exc

    def warn_if_short(self, words: int) -> None:
        target = self.prepared.target_words
        if target and words < 0.5 * target:
            self.emit(
                WarningEvent(
                    f"the document is short: {words} of {target} "
                    f"{word_unit(self.prepared.prompt.language)} ({100 * words // target}%)"
                )
            )

    def finish(self, text: str, figures: RunFigures, *, think: str = "") -> WriteResult:
        """The document is complete: write PATH (PATH.partial goes), drop the snapshot,
        record the run done, and send the `done` event."""
        prepared, output = self.prepared, self.output
        words = count_words(text)  # the text written: References are lwz's, not the model's
        text, citations = self.cite(text)
        if output is not None:
            try:
                output.finish(text)
            except OSError as exc:
                raise disk_error(
                    exc,
                    f"cannot write {output.target}",
                    "the journal holds the whole document",
                    self.resume_command(),
                ) from exc
        decode = figures.decode_seconds
        done = DoneEvent(
            output=str(output.path) if output else None,
            words=words,
            target_words=prepared.target_words,
            generated_tokens=figures.generated_tokens,
            prompt_tokens_evaluated=figures.prompt_tokens_evaluated,
            decode_seconds=round(decode, 3),
            tokens_per_second=round(figures.new_tokens / decode, 2) if decode > 0 else 0.0,
            prefill_seconds=round(figures.prefill_seconds, 3),
            seconds=round(time.monotonic() - self.started, 3),
            resumed=self.resumed,
            resumed_tokens=self.resumed_tokens,
            finish_reason=figures.finish_reason,
            repetition_rewinds=figures.repetition_rewinds,
            continuations=figures.continuations,
            sections=len(outline(text)),
            think_chars=figures.think_chars,
            planned_sections=figures.planned_sections,
            model=prepared.model_name,
            strategy=prepared.strategy,
            # an endpoint: "server usage" or "counted pieces"
            token_counts=self.engine.token_counts or None,
            cut_words=figures.cut_words,
            memory_tokens=figures.memory_tokens,
            citations=citations,
            sources=prepared.grounding.figures() if prepared.grounding is not None else None,
        )
        if self.journal is not None:
            try:
                self.journal.drop_snapshot()
                self.journal.set_status(RunStatus.DONE, words=words, finished=time.time())
            except OSError:
                pass  # the document itself is complete and written
        self.emit(done)
        return WriteResult(text, think, done)

    def cite(self, text: str) -> tuple[str, dict[str, int] | None]:
        """With sources: the document with its citations checked and renumbered and
        its References appended, and `done.citations`; a warning names the weakest
        citations. Without: the text as it is."""
        grounding = self.prepared.grounding
        if grounding is None:
            return text, None
        cited, report = grounding.check(text, self.prepared.prompt.language)
        if report.weakest:
            shown = "; ".join(
                f'[{w.number}] in "{w.section}": "{_clip(w.sentence)}"' for w in report.weakest
            )
            self.emit(WarningEvent(f"citations that look unsupported by their excerpt: {shown}"))
        return cited, report.to_json()


def _clip(sentence: str, limit: int = 80) -> str:
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
